/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of forward/coalesce.c: source batches built with sluice's record builder are
 * coalesced; every result must pass sluice's full validator (CRC, deltas, counts) and hand
 * back exactly the source records (offset order, timestamps, keys, values, headers), split
 * wherever the size limit falls, with the sluice.* headers when asked, and compressed with
 * zstd and lz4 such that the libraries' own decoders give back the uncompressed records.
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
#include <lz4frame.h>
#include <zstd.h>

#include "forward_internal.h"

#define NSRC 4
#define TS0 1700000000000LL

struct src {
	uint8_t buf[8192];
	size_t len;
};

/* Record i (global index) of the test stream: varied lengths, nulls, headers, a negative
 * timestamp delta now and then. */
static void rec_fill(int i, struct sluice_rb_record *r, char *key, char *val,
		     struct sluice_rb_kv *h)
{
	memset(r, 0, sizeof(*r));
	snprintf(key, 32, "key-%d", i);
	snprintf(val, 256, "value-%d-%.*s", i, i % 97,
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxxxxx");
	r->timestamp = TS0 + i * 7 - (i % 5 == 4 ? 30 : 0);
	r->key = (const uint8_t *)key;
	r->key_len = i % 11 == 3 ? -1 : (int32_t)strlen(key);
	r->value = (const uint8_t *)val;
	r->value_len = i % 13 == 5 ? -1 : (int32_t)strlen(val);
	h[0] = (struct sluice_rb_kv){(const uint8_t *)"h", 1, (const uint8_t *)key,
				     (int32_t)strlen(key)};
	h[1] = (struct sluice_rb_kv){(const uint8_t *)"n", 1, NULL, -1};
	r->headers = h;
	r->header_count = (uint32_t)(i % 3);
}

/* NSRC batches of 1..20 records at consecutive offsets from 0. Returns records total. */
static int make_sources(struct src *s, int *counts)
{
	int total = 0;

	for (int b = 0; b < NSRC; b++) {
		struct sluice_rb_batch_meta meta = {.producer_id = SLUICE_RB_NO_PRODUCER_ID,
						    .producer_epoch = -1,
						    .base_sequence = SLUICE_RB_NO_SEQUENCE,
						    .partition_leader_epoch = -1};
		struct sluice_rb_builder bld;

		counts[b] = 3 + b * 5;
		assert_int_equal(sluice_rb_builder_init(&bld, s[b].buf, sizeof(s[b].buf), &meta),
				 0);
		for (int i = 0; i < counts[b]; i++) {
			struct sluice_rb_record r;
			struct sluice_rb_kv h[2];
			char key[32], val[256];

			rec_fill(total + i, &r, key, val, h);
			assert_int_equal(sluice_rb_builder_append(&bld, &r), 0);
		}
		s[b].len = sluice_rb_builder_seal(&bld);
		sluice_rb_set_base_offset(s[b].buf, total);
		total += counts[b];
	}
	return total;
}

static bool same_field(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
	return alen == blen && (alen <= 0 || memcmp(a, b, (size_t)alen) == 0);
}

/* Check one Kafka batch against the test stream from global record @p first; @p extra: the
 * sluice.* headers expected after the record's own. Returns its record count. */
static int check_batch(const uint8_t *b, size_t len, int first, int64_t pid, int16_t epoch,
		       int32_t seq, bool extra)
{
	struct sluice_rb_header h;
	struct sluice_rb_record_iter it;
	struct sluice_rb_record got;
	size_t bytes;
	int n = 0;

	assert_int_equal(sluice_rb_batch_validate(b, len, &h, &bytes), SLUICE_RB_OK);
	assert_int_equal(bytes, len);
	assert_int_equal(h.base_offset, 0);
	assert_int_equal(h.producer_id, pid);
	assert_int_equal(h.producer_epoch, epoch);
	assert_int_equal(h.base_sequence, seq);
	assert_int_equal(h.partition_leader_epoch, -1);
	assert_int_equal(h.attributes, 0);
	sluice_rb_record_iter_init(&it, b, bytes);
	while (sluice_rb_record_iter_next(&it, &got) == 1) {
		struct sluice_rb_record want;
		struct sluice_rb_kv wh[2], gh;
		char key[32], val[256], off[24];

		rec_fill(first + n, &want, key, val, wh);
		assert_int_equal(got.offset, n);
		assert_int_equal(got.timestamp, want.timestamp);
		assert_true(same_field(got.key, got.key_len, want.key, want.key_len));
		assert_true(same_field(got.value, got.value_len, want.value, want.value_len));
		assert_int_equal(got.header_count, want.header_count + (extra ? 4 : 0));
		for (uint32_t i = 0; i < want.header_count; i++) {
			assert_int_equal(sluice_rb_record_header(&got, i, &gh), 0);
			assert_true(same_field(gh.key, gh.key_len, wh[i].key, wh[i].key_len));
			assert_true(
				same_field(gh.value, gh.value_len, wh[i].value, wh[i].value_len));
		}
		if (extra) {
			static const char *const names[] = {"sluice.topic", "sluice.partition",
							    "sluice.offset", "sluice.appliance"};
			const char *vals[] = {"events", "3", off, "box-1"};

			snprintf(off, sizeof(off), "%d", first + n);
			for (uint32_t i = 0; i < 4; i++) {
				assert_int_equal(
					sluice_rb_record_header(&got, want.header_count + i, &gh),
					0);
				assert_true(same_field(gh.key, gh.key_len,
						       (const uint8_t *)names[i],
						       (int32_t)strlen(names[i])));
				assert_true(same_field(gh.value, gh.value_len,
						       (const uint8_t *)vals[i],
						       (int32_t)strlen(vals[i])));
			}
		}
		n++;
	}
	assert_int_equal(n, h.record_count);
	return n;
}

/* Coalesce the whole stream from @p start into batches of at most @p cap bytes; check each;
 * return how many batches it took. */
static int coalesce_all(struct src *s, const int *counts, int total, int start, size_t cap,
			const struct coal_hdrs *hdrs)
{
	uint8_t *buf = malloc(cap);
	struct coal_src cs;
	int b = 0, done = start, batches = 0, skip = start;
	bool have = false;

	assert_non_null(buf);
	/* the source batch that holds start */
	while (skip >= counts[b]) {
		skip -= counts[b];
		b++;
	}
	while (done < total) {
		struct coal c;
		bool in_place;
		size_t len;
		int first = done;

		coal_begin(&c, buf, cap, done, hdrs);
		for (;;) {
			int n;

			if (!have) {
				if (b == NSRC)
					break;
				coal_src_init(&cs, s[b].buf, s[b].len);
				assert_int_equal(coal_src_seek(&cs, done), 0);
				assert_int_equal(cs.next_offset, done);
				have = true;
				b++;
			}
			n = coal_take(&c, &cs, UINT32_MAX);
			assert_true(n >= 0);
			done += n;
			if (cs.remaining > 0)
				break; /* full */
			have = false;
		}
		assert_true(c.count > 0);
		len = coal_seal(&c, 4242, 3, first * 2, NULL, NULL, 0, &in_place);
		assert_true(in_place);
		assert_true(len <= cap);
		assert_int_equal(check_batch(buf, len, first, 4242, 3, first * 2, hdrs != NULL),
				 done - first);
		batches++;
	}
	free(buf);
	return batches;
}

static void test_coalesce_whole_and_split(void **state)
{
	struct src *s = calloc(NSRC, sizeof(*s));
	int counts[NSRC], total;

	(void)state;
	total = make_sources(s, counts);
	/* Everything into one batch: four sources, one Kafka batch. */
	assert_int_equal(coalesce_all(s, counts, total, 0, 1 << 16, NULL), 1);
	/* Small batches: source batches are cut at record boundaries. */
	assert_true(coalesce_all(s, counts, total, 0, 400, NULL) > NSRC);
	/* Starting in the middle of a source batch (a resume). */
	assert_int_equal(coalesce_all(s, counts, total, 5, 1 << 16, NULL), 1);
	assert_true(coalesce_all(s, counts, total, counts[0] + 2, 500, NULL) > 1);
	free(s);
}

static void test_headers_option(void **state)
{
	struct src *s = calloc(NSRC, sizeof(*s));
	struct coal_hdrs h = {"events", "3", "box-1"};
	int counts[NSRC], total;

	(void)state;
	total = make_sources(s, counts);
	assert_int_equal(coalesce_all(s, counts, total, 0, 1 << 16, &h), 1);
	assert_true(coalesce_all(s, counts, total, 4, 900, &h) > 1);
	free(s);
}

static void test_too_large(void **state)
{
	struct src *s = calloc(NSRC, sizeof(*s));
	uint8_t buf[100];
	struct coal_src cs;
	struct coal c;
	int counts[NSRC];

	(void)state;
	make_sources(s, counts);
	coal_src_init(&cs, s[3].buf, s[3].len);
	/* skip to a long record: even an empty batch cannot hold it */
	assert_int_equal(coal_src_seek(&cs, cs.base_offset + 10), 0);
	coal_begin(&c, buf, sizeof(buf), cs.next_offset, NULL);
	assert_int_equal(coal_take(&c, &cs, UINT32_MAX), -EMSGSIZE);
	/* max_records bounds a batch */
	coal_src_init(&cs, s[2].buf, s[2].len);
	{
		uint8_t big[8192];

		coal_begin(&c, big, sizeof(big), cs.base_offset, NULL);
		assert_int_equal(coal_take(&c, &cs, 4), 4);
		assert_int_equal(coal_take(&c, &cs, 4), 0);
	}
	free(s);
}

static void test_malformed_source(void **state)
{
	struct src *s = calloc(NSRC, sizeof(*s));
	uint8_t out[8192];
	struct coal_src cs;
	struct coal c;
	int counts[NSRC];

	(void)state;
	make_sources(s, counts);
	coal_src_init(&cs, s[1].buf, s[1].len);
	/* A record length past the end: refused, nothing read outside the batch. */
	cs.end = cs.rec + 3;
	coal_begin(&c, out, sizeof(out), 0, NULL);
	assert_int_equal(coal_take(&c, &cs, UINT32_MAX), -EBADMSG);
	free(s);
}

static void test_compression(void **state)
{
	static const int codecs[] = {SLUICE_FWD_COMPRESS_ZSTD, SLUICE_FWD_COMPRESS_LZ4};
	struct src *s = calloc(NSRC, sizeof(*s));
	uint8_t *plain = malloc(1 << 16), *packed = malloc(1 << 17), *back = malloc(1 << 16);
	int counts[NSRC], total;

	(void)state;
	total = make_sources(s, counts);
	for (size_t k = 0; k < 2; k++) {
		struct coal_codec *z;
		struct coal_src cs;
		struct coal c;
		struct sluice_rb_header h;
		bool in_place;
		size_t len, rlen, n;
		int done = 0;

		assert_int_equal(coal_codec_create(codecs[k], 0, &z), 0);
		coal_begin(&c, plain, 1 << 16, 0, NULL);
		for (int b = 0; b < NSRC; b++) {
			coal_src_init(&cs, s[b].buf, s[b].len);
			done += coal_take(&c, &cs, UINT32_MAX);
		}
		assert_int_equal(done, total);
		rlen = c.len - SLUICE_RB_HEADER_BYTES;
		assert_true(coal_codec_bound(z, rlen) <= (size_t)(1 << 17));
		len = coal_seal(&c, 9, 0, 0, z, packed, 1 << 17, &in_place);
		assert_false(in_place);
		assert_true(len < c.len);
		/* The header is the same but for the codec bits; the CRC covers the packed
		 * bytes. sluice's validator refuses compressed batches: check by hand. */
		assert_int_equal(sluice_rb_header_decode(packed, len, &h), SLUICE_RB_OK);
		assert_int_equal(h.attributes & SLUICE_RB_ATTR_COMPRESSION_MASK, codecs[k]);
		assert_int_equal(h.record_count, total);
		assert_int_equal(h.last_offset_delta, total - 1);
		assert_int_equal(h.batch_length + SLUICE_RB_LOG_OVERHEAD, (int32_t)len);
		assert_int_equal(
			h.crc,
			sluice_crc32c(0, packed + SLUICE_RB_CRC_START, len - SLUICE_RB_CRC_START));
		if (codecs[k] == SLUICE_FWD_COMPRESS_ZSTD) {
			n = ZSTD_decompress(back, 1 << 16, packed + SLUICE_RB_HEADER_BYTES,
					    len - SLUICE_RB_HEADER_BYTES);
			assert_false(ZSTD_isError(n));
		} else {
			LZ4F_dctx *d;
			size_t out = 1 << 16, in = len - SLUICE_RB_HEADER_BYTES;

			assert_false(
				LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)));
			n = LZ4F_decompress(d, back, &out, packed + SLUICE_RB_HEADER_BYTES, &in,
					    NULL);
			assert_int_equal(n, 0); /* the whole frame */
			n = out;
			LZ4F_freeDecompressionContext(d);
		}
		assert_int_equal(n, rlen);
		assert_memory_equal(back, plain + SLUICE_RB_HEADER_BYTES, rlen);
		/* Header and decompressed records make the uncompressed batch: valid. */
		memcpy(plain, packed, SLUICE_RB_HEADER_BYTES);
		plain[SLUICE_RB_CRC_START + 1] = 0; /* attributes low byte: no codec */
		sluice_be32_put(plain + 8, (uint32_t)(SLUICE_RB_HEADER_BYTES + rlen - 12));
		sluice_be32_put(plain + 17,
				sluice_crc32c(0, plain + SLUICE_RB_CRC_START,
					      SLUICE_RB_HEADER_BYTES + rlen - SLUICE_RB_CRC_START));
		assert_int_equal(
			check_batch(plain, SLUICE_RB_HEADER_BYTES + rlen, 0, 9, 0, 0, false),
			total);
		coal_codec_destroy(z);
	}
	/* Incompressible records go uncompressed. */
	{
		struct coal_codec *z;
		struct coal c;
		uint8_t raw[4096];
		struct sluice_rb_builder bld;
		struct sluice_rb_batch_meta meta = {
			.producer_id = -1, .producer_epoch = -1, .base_sequence = -1};
		struct sluice_rb_record r = {
			.timestamp = TS0, .key_len = -1, .value = raw, .value_len = 3000};
		struct coal_src cs;
		bool in_place;
		size_t len;

		uint64_t x = 88172645463325252ull;

		for (size_t i = 0; i < sizeof(raw); i++) { /* xorshift64: incompressible */
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			raw[i] = (uint8_t)(x >> 24);
		}
		sluice_rb_builder_init(&bld, back, 1 << 16, &meta);
		assert_int_equal(sluice_rb_builder_append(&bld, &r), 0);
		len = sluice_rb_builder_seal(&bld);
		assert_int_equal(coal_codec_create(SLUICE_FWD_COMPRESS_LZ4, 0, &z), 0);
		coal_src_init(&cs, back, len);
		coal_begin(&c, plain, 1 << 16, 0, NULL);
		assert_int_equal(coal_take(&c, &cs, UINT32_MAX), 1);
		len = coal_seal(&c, 1, 0, 0, z, packed, 1 << 17, &in_place);
		assert_true(in_place);
		assert_int_equal(sluice_rb_batch_validate(plain, len, NULL, NULL), SLUICE_RB_OK);
		coal_codec_destroy(z);
	}
	assert_int_equal(coal_codec_create(2, 0, &(struct coal_codec *){NULL}), -EINVAL);
	free(plain);
	free(packed);
	free(back);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_coalesce_whole_and_split),
		cmocka_unit_test(test_headers_option),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_malformed_source),
		cmocka_unit_test(test_compression),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
