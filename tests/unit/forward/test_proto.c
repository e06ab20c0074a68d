/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of forward/proto.c: request layouts byte by byte (as Kafka's message
 * definitions give them), responses built here and parsed back across versions, and
 * truncated or lying responses refused without reading outside them (fuzz_kafka_response
 * covers arbitrary bytes).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "forward_internal.h"

/* Run @p parse on every strict prefix of w: each must fail (never crash). */
#define ALL_PREFIXES_FAIL(w, expr_with_len)            \
	for (size_t cut = 0; cut < (w).len; cut++) {   \
		uint8_t *copy = malloc(cut ? cut : 1); \
		const uint8_t *buf = copy;             \
		size_t len = cut;                      \
		memcpy(copy, (w).p, cut);              \
		assert_true(expr_with_len);            \
		free(copy);                            \
	}

static void test_writer_reader(void **state)
{
	struct kw w = {0};
	struct kr r;
	const char *s;
	int32_t n;

	(void)state;
	kw_i8(&w, -2);
	kw_i16(&w, -300);
	kw_i32(&w, 0x12345678);
	kw_i64(&w, -5);
	kw_str(&w, "abc");
	kw_str(&w, NULL);
	kw_uvarint(&w, 300);
	kw_cstr(&w, "xy");
	kw_cstr(&w, NULL);
	kw_bytes(&w, "q", 1);
	assert_false(w.oom);
	kr_init(&r, w.p, w.len);
	assert_int_equal(kr_i8(&r), -2);
	assert_int_equal(kr_i16(&r), -300);
	assert_int_equal(kr_i32(&r), 0x12345678);
	assert_int_equal(kr_i64(&r), -5);
	kr_str(&r, &s, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(s, "abc", 3);
	kr_str(&r, &s, &n);
	assert_null(s);
	assert_int_equal(n, -1);
	assert_int_equal(kr_uvarint(&r), 300);
	kr_cstr(&r, &s, &n);
	assert_int_equal(n, 2);
	kr_cstr(&r, &s, &n);
	assert_int_equal(n, -1);
	{
		const uint8_t *b;

		kr_bytes(&r, &b, &n);
		assert_int_equal(n, 1);
	}
	assert_false(r.err);
	assert_int_equal(kr_left(&r), 0);
	(void)kr_i8(&r);
	assert_true(r.err);
	/* An array that claims more elements than bytes left: refused before any loop. */
	kw_reset(&w);
	kw_i32(&w, 1000000);
	kw_i32(&w, 1);
	kr_init(&r, w.p, w.len);
	assert_int_equal(kr_array(&r, 4), 0);
	assert_true(r.err);
	/* A string longer than what is left. */
	kw_reset(&w);
	kw_i16(&w, 50);
	kw_raw(&w, "ab", 2);
	kr_init(&r, w.p, w.len);
	kr_str(&r, &s, &n);
	assert_true(r.err);
	assert_null(s);
	kw_free(&w);
}

static void test_request_header(void **state)
{
	struct kw w = {0};
	size_t at;

	(void)state;
	at = kreq_begin(&w, KAPI_METADATA, 5, 77, "sluice", false);
	kw_i32(&w, 0);
	kreq_finish(&w, at, 0);
	/* size, api, version, correlation, client id */
	const uint8_t want[] = {0, 0, 0,   20,  0,   3,   0,   5,   0, 0, 0, 77,
				0, 6, 's', 'l', 'u', 'i', 'c', 'e', 0, 0, 0, 0};
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.p, want, sizeof(want));
	/* Flexible header v2: a tagged-field byte after the client id. */
	kw_reset(&w);
	at = kreq_begin(&w, KAPI_INIT_PRODUCER_ID, 3, 1, NULL, true);
	kreq_finish(&w, at, 0);
	const uint8_t want2[] = {0, 0, 0, 11, 0, 22, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0};
	assert_int_equal(w.len, sizeof(want2));
	assert_memory_equal(w.p, want2, sizeof(want2));
	kw_free(&w);
}

static void test_response_header(void **state)
{
	const uint8_t v0[] = {0, 0, 0, 9, 1, 2};
	const uint8_t v1[] = {0, 0, 0, 9, 1, 5, 0, 0, 1};
	const uint8_t *body;
	size_t len;

	(void)state;
	assert_int_equal(kp_response_header(v0, sizeof(v0), 9, false, &body, &len), 0);
	assert_int_equal(len, 2);
	assert_int_equal(kp_response_header(v0, sizeof(v0), 8, false, &body, &len), -EPROTO);
	assert_int_equal(kp_response_header(v0, 3, 9, false, &body, &len), -EBADMSG);
	/* one tagged field: tag 5, size 0 */
	assert_int_equal(kp_response_header(v1, sizeof(v1), 9, true, &body, &len), 0);
	assert_int_equal(len, 2);
}

static void test_api_versions(void **state)
{
	int16_t vmax[KAPI__MAX], vmin[KAPI__MAX];
	struct kw w = {0};

	(void)state;
	kw_i16(&w, 0);
	kw_i32(&w, 3);
	kw_i16(&w, KAPI_PRODUCE);
	kw_i16(&w, 0);
	kw_i16(&w, 9);
	kw_i16(&w, KAPI_METADATA);
	kw_i16(&w, 0);
	kw_i16(&w, 2);
	kw_i16(&w, 500); /* an API this client does not know: ignored */
	kw_i16(&w, 0);
	kw_i16(&w, 1);
	assert_int_equal(kp_api_versions_parse(w.p, w.len, vmax, vmin), 0);
	assert_int_equal(vmax[KAPI_PRODUCE], 9);
	assert_int_equal(vmax[KAPI_METADATA], 2);
	assert_int_equal(vmax[KAPI_FETCH], -1);
	ALL_PREFIXES_FAIL(w, kp_api_versions_parse(buf, len, vmax, vmin) == -1);
	kw_reset(&w);
	kw_i16(&w, KERR_UNSUPPORTED_VERSION);
	kw_i32(&w, 0);
	assert_int_equal(kp_api_versions_parse(w.p, w.len, vmax, vmin), KERR_UNSUPPORTED_VERSION);
	kw_free(&w);
}

/* A Metadata response of version @p ver: 2 brokers, topic "t" with 2 partitions (p1 has no
 * leader), topic "x" unknown. */
static void metadata_response(struct kw *w, int16_t ver)
{
	kw_reset(w);
	if (ver >= 3)
		kw_i32(w, 0);
	kw_i32(w, 2);
	for (int b = 1; b <= 2; b++) {
		kw_i32(w, b);
		kw_str(w, b == 1 ? "host-a" : "host-b");
		kw_i32(w, 9090 + b);
		if (ver >= 1)
			kw_str(w, NULL);
	}
	if (ver >= 2)
		kw_str(w, "cluster");
	if (ver >= 1)
		kw_i32(w, 1);
	kw_i32(w, 2);
	kw_i16(w, 0);
	kw_str(w, "t");
	if (ver >= 1)
		kw_i8(w, 0);
	kw_i32(w, 2);
	for (int p = 0; p < 2; p++) {
		kw_i16(w, p ? KERR_LEADER_NOT_AVAILABLE : 0);
		kw_i32(w, p);
		kw_i32(w, p ? -1 : 2);
		if (ver >= 7)
			kw_i32(w, 4);
		kw_i32(w, 1);
		kw_i32(w, 2);
		kw_i32(w, 1);
		kw_i32(w, 2);
		if (ver >= 5)
			kw_i32(w, 0);
	}
	if (ver >= 8)
		kw_i32(w, 0);
	kw_i16(w, KERR_UNKNOWN_TOPIC_OR_PARTITION);
	kw_str(w, "x");
	if (ver >= 1)
		kw_i8(w, 0);
	kw_i32(w, 0);
	if (ver >= 8)
		kw_i32(w, 0);
	if (ver >= 8)
		kw_i32(w, 0);
}

struct meta_seen {
	int brokers;
	int32_t port2;
	int topics;
	int16_t x_err;
	int32_t leader[2];
	int16_t perr[2];
};

static void on_broker(void *ctx, int32_t id, const char *host, int32_t hlen, int32_t port)
{
	struct meta_seen *m = ctx;

	m->brokers++;
	if (id == 2) {
		assert_int_equal(hlen, 6);
		assert_memory_equal(host, "host-b", 6);
		m->port2 = port;
	}
}

static void on_topic(void *ctx, const char *name, int32_t len, int16_t err, int32_t np)
{
	struct meta_seen *m = ctx;

	(void)np;
	m->topics++;
	if (len == 1 && name[0] == 'x')
		m->x_err = err;
}

static void on_part(void *ctx, const char *topic, int32_t tlen, int32_t p, int16_t err,
		    int32_t leader)
{
	struct meta_seen *m = ctx;

	assert_int_equal(tlen, 1);
	assert_int_equal(topic[0], 't');
	assert_true(p >= 0 && p < 2);
	m->leader[p] = leader;
	m->perr[p] = err;
}

static void test_metadata(void **state)
{
	const int16_t versions[] = {1, 2, 4, 5, 7, 8};
	const char *topics[] = {"t", "x"};
	struct kw w = {0};

	(void)state;
	for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++) {
		struct meta_seen m = {0};
		struct kp_metadata_cb cb = {&m, on_broker, on_topic, on_part};

		metadata_response(&w, versions[v]);
		assert_int_equal(kp_metadata_parse(w.p, w.len, versions[v], &cb), 0);
		assert_int_equal(m.brokers, 2);
		assert_int_equal(m.port2, 9092);
		assert_int_equal(m.topics, 2);
		assert_int_equal(m.x_err, KERR_UNKNOWN_TOPIC_OR_PARTITION);
		assert_int_equal(m.leader[0], 2);
		assert_int_equal(m.leader[1], -1);
		assert_int_equal(m.perr[1], KERR_LEADER_NOT_AVAILABLE);
		cb = (struct kp_metadata_cb){0};
		ALL_PREFIXES_FAIL(w, kp_metadata_parse(buf, len, versions[v], &cb) == -EBADMSG);
	}
	/* Request: topics, then allow_auto_topic_creation = false from v4. */
	kw_reset(&w);
	kp_metadata_req(&w, 4, topics, 2);
	const uint8_t want[] = {0, 0, 0, 2, 0, 1, 't', 0, 1, 'x', 0};
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.p, want, sizeof(want));
	kw_free(&w);
}

static void test_coordinator_and_pid(void **state)
{
	struct kp_coordinator co;
	struct kw w = {0};
	int16_t err, epoch;
	int64_t pid;

	(void)state;
	kw_i32(&w, 0);
	kw_i16(&w, 0);
	kw_str(&w, NULL);
	kw_i32(&w, 3);
	kw_str(&w, "coord");
	kw_i32(&w, 19092);
	assert_int_equal(kp_find_coordinator_parse(w.p, w.len, 1, &co), 0);
	assert_int_equal(co.node_id, 3);
	assert_string_equal(co.host, "coord");
	assert_int_equal(co.port, 19092);
	ALL_PREFIXES_FAIL(w, kp_find_coordinator_parse(buf, len, 1, &co) == -EBADMSG);
	kw_reset(&w);
	kp_find_coordinator_req(&w, 1, "tid", 1);
	const uint8_t fwant[] = {0, 3, 't', 'i', 'd', 1};
	assert_memory_equal(w.p, fwant, sizeof(fwant));

	/* InitProducerId v1 (classic) and v3 (flexible, with the current id for a bump). */
	kw_reset(&w);
	kp_init_producer_id_req(&w, 1, "tid", 60000, -1, -1);
	const uint8_t v1[] = {0, 3, 't', 'i', 'd', 0, 0, 0xea, 0x60};
	assert_int_equal(w.len, sizeof(v1));
	assert_memory_equal(w.p, v1, sizeof(v1));
	kw_reset(&w);
	kp_init_producer_id_req(&w, 3, "tid", 60000, 42, 7);
	const uint8_t v3[] = {4, 't', 'i', 'd', 0, 0, 0xea, 0x60, 0, 0, 0, 0, 0, 0, 0, 42, 0, 7, 0};
	assert_int_equal(w.len, sizeof(v3));
	assert_memory_equal(w.p, v3, sizeof(v3));
	kw_reset(&w);
	kw_i32(&w, 0);
	kw_i16(&w, 0);
	kw_i64(&w, 42);
	kw_i16(&w, 8);
	kw_uvarint(&w, 0);
	assert_int_equal(kp_init_producer_id_parse(w.p, w.len, 3, &err, &pid, &epoch), 0);
	assert_int_equal(pid, 42);
	assert_int_equal(epoch, 8);
	ALL_PREFIXES_FAIL(w,
			  kp_init_producer_id_parse(buf, len, 3, &err, &pid, &epoch) == -EBADMSG);
	kw_free(&w);
}

static void test_list_offsets(void **state)
{
	struct kw w = {0};
	int16_t err;
	int64_t off;

	(void)state;
	kw_i32(&w, 0); /* throttle (v2+) */
	kw_i32(&w, 1);
	kw_str(&w, "t");
	kw_i32(&w, 1);
	kw_i32(&w, 0);
	kw_i16(&w, 0);
	kw_i64(&w, -1);
	kw_i64(&w, 1234);
	assert_int_equal(kp_list_offsets_parse(w.p, w.len, 2, &err, &off), 0);
	assert_int_equal(err, 0);
	assert_int_equal(off, 1234);
	assert_int_equal(kp_list_offsets_parse(w.p + 4, w.len - 4, 1, &err, &off), 0);
	assert_int_equal(off, 1234);
	ALL_PREFIXES_FAIL(w, kp_list_offsets_parse(buf, len, 2, &err, &off) == -EBADMSG);
	kw_free(&w);
}

struct walk {
	int n;
	struct kp_batch_info last;
};

static void on_batch(void *ctx, const struct kp_batch_info *b)
{
	struct walk *wk = ctx;

	wk->n++;
	wk->last = *b;
}

static size_t one_batch(uint8_t *buf, size_t cap, int64_t base, int64_t pid, int16_t epoch,
			int32_t seq, int n)
{
	struct sluice_rb_batch_meta meta = {
		.producer_id = pid, .producer_epoch = epoch, .base_sequence = seq};
	struct sluice_rb_builder b;
	size_t len;

	sluice_rb_builder_init(&b, buf, cap, &meta);
	for (int i = 0; i < n; i++) {
		struct sluice_rb_record r = {.timestamp = 1,
					     .key_len = -1,
					     .value = (const uint8_t *)"v",
					     .value_len = 1};

		sluice_rb_builder_append(&b, &r);
	}
	len = sluice_rb_builder_seal(&b);
	sluice_rb_set_base_offset(buf, base);
	return len;
}

static void test_fetch_and_batches(void **state)
{
	const int16_t versions[] = {4, 5, 7, 11};
	uint8_t recs[1024];
	size_t l1, l2;
	struct kw w = {0};

	(void)state;
	l1 = one_batch(recs, sizeof(recs), 10, 77, 2, 100, 3);
	l2 = one_batch(recs + l1, sizeof(recs) - l1, 13, 78, 0, 0, 2);
	for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++) {
		int16_t ver = versions[v];
		struct kp_fetch_part fp;
		struct walk wk = {0};

		kw_reset(&w);
		kw_i32(&w, 0);
		if (ver >= 7) {
			kw_i16(&w, 0);
			kw_i32(&w, 0);
		}
		kw_i32(&w, 1);
		kw_str(&w, "t");
		kw_i32(&w, 1);
		kw_i32(&w, 0);
		kw_i16(&w, 0);
		kw_i64(&w, 15);
		kw_i64(&w, 15);
		if (ver >= 5)
			kw_i64(&w, 3);
		kw_i32(&w, 1); /* one aborted transaction */
		kw_i64(&w, 5);
		kw_i64(&w, 6);
		if (ver >= 11)
			kw_i32(&w, -1);
		/* the second batch cut short, as a broker cuts at max_bytes */
		kw_bytes(&w, recs, (int32_t)(l1 + l2 - 7));
		assert_int_equal(kp_fetch_parse(w.p, w.len, ver, &fp), 0);
		assert_int_equal(fp.err, 0);
		assert_int_equal(fp.high_watermark, 15);
		assert_int_equal(fp.log_start_offset, ver >= 5 ? 3 : -1);
		assert_int_equal(fp.records_len, (int32_t)(l1 + l2 - 7));
		assert_int_equal(kp_batches_walk(fp.records, (size_t)fp.records_len, on_batch, &wk),
				 1);
		assert_int_equal(wk.last.base_offset, 10);
		assert_int_equal(wk.last.last_offset_delta, 2);
		assert_int_equal(wk.last.producer_id, 77);
		assert_int_equal(wk.last.producer_epoch, 2);
		assert_int_equal(wk.last.base_sequence, 100);
		assert_int_equal(wk.last.record_count, 3);
		ALL_PREFIXES_FAIL(w, kp_fetch_parse(buf, len, ver, &fp) == -EBADMSG);
	}
	{
		struct walk wk = {0};

		assert_int_equal(kp_batches_walk(recs, l1 + l2, on_batch, &wk), 2);
		assert_int_equal(wk.last.producer_id, 78);
		/* An impossible length field is an error, not a loop. */
		sluice_be32_put(recs + 8, 2);
		assert_int_equal(kp_batches_walk(recs, l1 + l2, on_batch, &wk), -EBADMSG);
	}
	/* Request layout of v4: the fields a client sends. */
	kw_reset(&w);
	kp_fetch_req(&w, 4, "t", 2, 99, 1 << 20);
	assert_int_equal(w.len, 4 + 4 + 4 + 4 + 1 + 4 + 3 + 4 + 4 + 8 + 4);
	kw_free(&w);
}

struct prod_seen {
	int n;
	struct kp_produce_result r[4];
};

static void on_result(void *ctx, const struct kp_produce_result *r)
{
	struct prod_seen *s = ctx;

	s->r[s->n++] = *r;
}

static void test_produce(void **state)
{
	const uint8_t b0[] = "batch-zero", b1[] = "b1";
	struct kp_produce_part parts[2] = {{0, b0, 10}, {3, b1, 2}};
	struct kp_produce_topic t = {"topic", parts, 2};
	struct iovec iov[5];
	struct kw w = {0};
	uint8_t flat[256];
	size_t at, flen = 0;
	int n;

	(void)state;
	at = kreq_begin(&w, KAPI_PRODUCE, 7, 5, "c", false);
	n = kp_produce_req(&w, at, 7, "tid", -1, 30000, &t, 1, iov);
	assert_int_equal(n, 4); /* framing, records, framing, records */
	for (int i = 0; i < n; i++) {
		memcpy(flat + flen, iov[i].iov_base, iov[i].iov_len);
		flen += iov[i].iov_len;
	}
	/* The size prefix counts the records sent from the callers' buffers. */
	assert_int_equal(sluice_be32_get(flat), flen - 4);
	{
		struct kr r;
		const char *s;
		const uint8_t *b;
		int32_t len;

		kr_init(&r, flat + 4, flen - 4);
		assert_int_equal(kr_i16(&r), KAPI_PRODUCE);
		assert_int_equal(kr_i16(&r), 7);
		assert_int_equal(kr_i32(&r), 5);
		kr_str(&r, &s, &len);
		kr_str(&r, &s, &len);
		assert_int_equal(len, 3);
		assert_int_equal(kr_i16(&r), -1); /* acks=all */
		assert_int_equal(kr_i32(&r), 30000);
		assert_int_equal(kr_i32(&r), 1);
		kr_str(&r, &s, &len);
		assert_memory_equal(s, "topic", 5);
		assert_int_equal(kr_i32(&r), 2);
		assert_int_equal(kr_i32(&r), 0);
		kr_bytes(&r, &b, &len);
		assert_int_equal(len, 10);
		assert_memory_equal(b, "batch-zero", 10);
		assert_int_equal(kr_i32(&r), 3);
		kr_bytes(&r, &b, &len);
		assert_memory_equal(b, "b1", 2);
		assert_false(r.err);
		assert_int_equal(kr_left(&r), 0);
	}
	/* Responses, v3 .. v8. */
	for (int16_t ver = 3; ver <= 8; ver++) {
		struct prod_seen seen = {0};

		kw_reset(&w);
		kw_i32(&w, 1);
		kw_str(&w, "topic");
		kw_i32(&w, 2);
		for (int p = 0; p < 2; p++) {
			kw_i32(&w, p ? 3 : 0);
			kw_i16(&w, p ? KERR_NOT_LEADER_OR_FOLLOWER : 0);
			kw_i64(&w, p ? -1 : 500);
			kw_i64(&w, -1);
			if (ver >= 5)
				kw_i64(&w, 0);
			if (ver >= 8) {
				kw_i32(&w, 1);
				kw_i32(&w, 0);
				kw_str(&w, "bad record");
				kw_str(&w, NULL);
			}
		}
		kw_i32(&w, 0);
		assert_int_equal(kp_produce_parse(w.p, w.len, ver, on_result, &seen), 0);
		assert_int_equal(seen.n, 2);
		assert_int_equal(seen.r[0].base_offset, 500);
		assert_int_equal(seen.r[0].err, 0);
		assert_int_equal(seen.r[1].partition, 3);
		assert_int_equal(seen.r[1].err, KERR_NOT_LEADER_OR_FOLLOWER);
		ALL_PREFIXES_FAIL(w,
				  kp_produce_parse(buf, len, ver, on_result,
						   &(struct prod_seen){0}) == -EBADMSG);
	}
	kw_free(&w);
}

static void test_sasl_messages(void **state)
{
	struct kw w = {0};
	const uint8_t *auth;
	const char *msg;
	int32_t alen, mlen;
	int16_t err;

	(void)state;
	kp_sasl_handshake_req(&w, "PLAIN");
	assert_int_equal(w.len, 7);
	kw_reset(&w);
	kw_i16(&w, 0);
	kw_i32(&w, 2);
	kw_str(&w, "PLAIN");
	kw_str(&w, "SCRAM-SHA-256");
	assert_int_equal(kp_sasl_handshake_parse(w.p, w.len, &err), 0);
	ALL_PREFIXES_FAIL(w, kp_sasl_handshake_parse(buf, len, &err) == -EBADMSG);
	kw_reset(&w);
	kw_i16(&w, KERR_SASL_AUTHENTICATION_FAILED);
	kw_str(&w, "no");
	kw_bytes(&w, "", 0);
	kw_i64(&w, 0);
	assert_int_equal(kp_sasl_authenticate_parse(w.p, w.len, 1, &err, &msg, &mlen, &auth, &alen),
			 0);
	assert_int_equal(err, KERR_SASL_AUTHENTICATION_FAILED);
	assert_int_equal(mlen, 2);
	ALL_PREFIXES_FAIL(w,
			  kp_sasl_authenticate_parse(buf, len, 1, &err, &msg, &mlen, &auth,
						     &alen) == -EBADMSG);
	kw_free(&w);
}

static void test_error_classes(void **state)
{
	char buf[32];

	(void)state;
	assert_int_equal(kerr_classify(KERR_NONE), KERR_C_OK);
	assert_int_equal(kerr_classify(KERR_NOT_ENOUGH_REPLICAS), KERR_C_RETRY);
	assert_int_equal(kerr_classify(KERR_REQUEST_TIMED_OUT), KERR_C_RETRY);
	assert_int_equal(kerr_classify(12345), KERR_C_RETRY);
	assert_int_equal(kerr_classify(KERR_NOT_LEADER_OR_FOLLOWER), KERR_C_METADATA);
	assert_int_equal(kerr_classify(KERR_UNKNOWN_TOPIC_OR_PARTITION), KERR_C_METADATA);
	assert_int_equal(kerr_classify(KERR_OUT_OF_ORDER_SEQUENCE_NUMBER), KERR_C_SEQUENCE);
	assert_int_equal(kerr_classify(KERR_DUPLICATE_SEQUENCE_NUMBER), KERR_C_SEQUENCE);
	assert_int_equal(kerr_classify(KERR_UNKNOWN_PRODUCER_ID), KERR_C_SESSION);
	assert_int_equal(kerr_classify(KERR_PRODUCER_FENCED), KERR_C_FENCED);
	assert_int_equal(kerr_classify(KERR_INVALID_PRODUCER_EPOCH), KERR_C_FENCED);
	assert_int_equal(kerr_classify(KERR_MESSAGE_TOO_LARGE), KERR_C_TOO_LARGE);
	assert_int_equal(kerr_classify(KERR_TOPIC_AUTHORIZATION_FAILED), KERR_C_REFUSED);
	assert_string_equal(kerr_name(KERR_NOT_LEADER_OR_FOLLOWER, buf, sizeof(buf)),
			    "NOT_LEADER_OR_FOLLOWER");
	assert_string_equal(kerr_name(999, buf, sizeof(buf)), "ERROR_999");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_reader),   cmocka_unit_test(test_request_header),
		cmocka_unit_test(test_response_header), cmocka_unit_test(test_api_versions),
		cmocka_unit_test(test_metadata),        cmocka_unit_test(test_coordinator_and_pid),
		cmocka_unit_test(test_list_offsets),    cmocka_unit_test(test_fetch_and_batches),
		cmocka_unit_test(test_produce),         cmocka_unit_test(test_sasl_messages),
		cmocka_unit_test(test_error_classes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
