/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: every Kafka response parser of the forwarder (forward/proto.c), in every
 * version it speaks, and the SCRAM client's handling of server messages (forward/sasl.c), on
 * arbitrary bytes: a broker is untrusted input. The input is copied to an exact-size heap
 * buffer so that ASan sees any read past it. Invariants checked: a parser either fails or
 * returns values that lie inside the input (pointers) and within their types' meaning.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static const uint8_t *lo, *hi;

static void inside(const void *p, int32_t len)
{
	if (!p)
		return;
	CHECK(len >= 0);
	CHECK((const uint8_t *)p >= lo && (const uint8_t *)p + len <= hi);
}

static void on_broker(void *ctx, int32_t id, const char *host, int32_t len, int32_t port)
{
	(void)ctx;
	(void)id;
	(void)port;
	inside(host, len);
}

static void on_topic(void *ctx, const char *name, int32_t len, int16_t err, int32_t np)
{
	(void)ctx;
	(void)err;
	CHECK(np >= 0);
	inside(name, len);
}

static void on_part(void *ctx, const char *topic, int32_t len, int32_t p, int16_t err,
		    int32_t leader)
{
	(void)ctx;
	(void)p;
	(void)err;
	(void)leader;
	inside(topic, len);
}

static void on_result(void *ctx, const struct kp_produce_result *r)
{
	(void)ctx;
	inside(r->topic, r->topic_len);
}

static void on_batch(void *ctx, const struct kp_batch_info *b)
{
	(void)ctx;
	(void)b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	struct kp_metadata_cb cb = {NULL, on_broker, on_topic, on_part};
	int16_t vmax[KAPI__MAX], vmin[KAPI__MAX], err, epoch;
	struct kp_coordinator co;
	struct kp_fetch_part fp;
	const uint8_t *body, *auth;
	const char *msg;
	int32_t mlen, alen;
	size_t blen;
	int64_t pid, off;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	lo = buf;
	hi = buf + size;
	(void)kp_api_versions_parse(buf, size, vmax, vmin);
	for (int i = 0; i < KAPI__MAX; i++)
		CHECK(vmax[i] < 0 || vmax[i] >= vmin[i]);
	for (int16_t v = 1; v <= 8; v++)
		(void)kp_metadata_parse(buf, size, v, &cb);
	for (int16_t v = 1; v <= 2; v++)
		if (kp_find_coordinator_parse(buf, size, v, &co) == 0)
			CHECK(strlen(co.host) < sizeof(co.host));
	for (int16_t v = 0; v <= 4; v++)
		(void)kp_init_producer_id_parse(buf, size, v, &err, &pid, &epoch);
	for (int16_t v = 1; v <= 3; v++)
		(void)kp_list_offsets_parse(buf, size, v, &err, &off);
	for (int16_t v = 4; v <= 11; v++) {
		if (kp_fetch_parse(buf, size, v, &fp) == 0 && fp.records) {
			inside(fp.records, fp.records_len);
			(void)kp_batches_walk(fp.records, (size_t)fp.records_len, on_batch, NULL);
		}
	}
	(void)kp_batches_walk(buf, size, on_batch, NULL);
	for (int16_t v = 3; v <= 8; v++)
		(void)kp_produce_parse(buf, size, v, on_result, NULL);
	(void)kp_sasl_handshake_parse(buf, size, &err);
	for (int16_t v = 0; v <= 1; v++) {
		if (kp_sasl_authenticate_parse(buf, size, v, &err, &msg, &mlen, &auth, &alen) ==
		    0) {
			inside(msg, mlen);
			inside(auth, alen);
		}
	}
	for (int flex = 0; flex <= 1; flex++)
		if (kp_response_header(buf, size, 7, flex, &body, &blen) == 0)
			CHECK(body >= lo && body + blen == hi);
	/* A SCRAM exchange whose server messages are the input, split at a NUL. */
	{
		struct ksasl s;
		struct kw w = {0};
		const uint8_t *nul = memchr(buf, 0, size);
		size_t first = nul ? (size_t)(nul - buf) : size;

		if (ksasl_init(&s, KSASL_SCRAM_SHA_256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO") ==
		    0) {
			(void)ksasl_step(&s, NULL, 0, &w);
			if (ksasl_step(&s, buf, first, &w) == 1 && nul)
				(void)ksasl_step(&s, nul + 1, size - first - 1, &w);
		}
		kw_free(&w);
	}
	free(buf);
	return 0;
}
