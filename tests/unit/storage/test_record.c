/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the Kafka RecordBatch v2 format (storage/record.c). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice_record.h"

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                   */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* A byte writer for crafting records by hand. */
struct wr {
	uint8_t *p;
	size_t n;
};

static void wr_byte(struct wr *w, uint8_t b)
{
	w->p[w->n++] = b;
}

static void wr_varint(struct wr *w, int32_t v)
{
	w->n += sluice_varint_encode(v, w->p + w->n);
}

static void wr_varlong(struct wr *w, int64_t v)
{
	w->n += sluice_varlong_encode(v, w->p + w->n);
}

static void wr_raw(struct wr *w, const void *d, size_t n)
{
	memcpy(w->p + w->n, d, n);
	w->n += n;
}

/* A record body without its length prefix: timestamp delta, offset delta, key, value, headers
 * as given; key/value lengths written as-is (so that tests can lie about them). */
static size_t body_simple(uint8_t *out, int64_t ts_delta, int32_t od, int32_t klen, const char *key,
			  int32_t vlen, const char *value, int32_t hcount)
{
	struct wr w = {out, 0};

	wr_byte(&w, 0);
	wr_varlong(&w, ts_delta);
	wr_varint(&w, od);
	wr_varint(&w, klen);
	if (key)
		wr_raw(&w, key, strlen(key));
	wr_varint(&w, vlen);
	if (value)
		wr_raw(&w, value, strlen(value));
	wr_varint(&w, hcount);
	return w.n;
}

/* Prefix a body with its length (or with a lying length). */
static size_t record_wrap(uint8_t *out, const uint8_t *body, size_t n, int32_t len_field)
{
	struct wr w = {out, 0};

	wr_varint(&w, len_field);
	wr_raw(&w, body, n);
	return w.n;
}

/* Write a batch header around raw record bytes at buf+61 and compute its CRC. */
static size_t raw_batch(uint8_t *buf, size_t records_len, int32_t count, int32_t last_delta,
			int64_t base_ts, int64_t max_ts, int16_t attributes)
{
	size_t total = SLUICE_RB_HEADER_BYTES + records_len;

	memset(buf, 0, SLUICE_RB_HEADER_BYTES);
	sluice_be64_put(buf, 0);
	sluice_be32_put(buf + 8, (uint32_t)(total - 12));
	sluice_be32_put(buf + 12, 0);
	buf[16] = 2;
	buf[21] = (uint8_t)((uint16_t)attributes >> 8);
	buf[22] = (uint8_t)attributes;
	sluice_be32_put(buf + 23, (uint32_t)last_delta);
	sluice_be64_put(buf + 27, (uint64_t)base_ts);
	sluice_be64_put(buf + 35, (uint64_t)max_ts);
	sluice_be64_put(buf + 43, UINT64_MAX);
	buf[51] = 0xff;
	buf[52] = 0xff;
	sluice_be32_put(buf + 53, UINT32_MAX);
	sluice_be32_put(buf + 57, (uint32_t)count);
	sluice_be32_put(buf + 17, sluice_crc32c(0, buf + 21, total - 21));
	return total;
}

static void recrc(uint8_t *buf, size_t total)
{
	sluice_be32_put(buf + 17, sluice_crc32c(0, buf + 21, total - 21));
}

/* A valid three-record batch from the builder. */
static size_t build_three(uint8_t *buf, size_t cap)
{
	struct sluice_rb_builder b;
	struct sluice_rb_kv hdr = {(const uint8_t *)"h", 1, (const uint8_t *)"v", 1};
	struct sluice_rb_record rec = {0};

	assert_int_equal(sluice_rb_builder_init(&b, buf, cap, NULL), 0);
	for (int i = 0; i < 3; i++) {
		rec.timestamp = 1000 + i;
		rec.key = (const uint8_t *)"key";
		rec.key_len = 3;
		rec.value = (const uint8_t *)"value";
		rec.value_len = 5;
		rec.headers = &hdr;
		rec.header_count = 1;
		assert_int_equal(sluice_rb_builder_append(&b, &rec), 0);
	}
	return sluice_rb_builder_seal(&b);
}

/* Reasons sluice_rb_batch_decode() was seen to agree on (bit per enum value). */
static unsigned decode_reasons_seen;

static bool same_bytes(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
	return alen == blen && (alen <= 0 ? a == b : memcmp(a, b, (size_t)alen) == 0);
}

/*
 * The single-pass decoder must say exactly what the validator says on every input, and on a
 * valid batch hand out exactly the iterator's records; with a table too small it decodes
 * nothing but still validates. Called on every batch the validator sees in this file.
 */
static enum sluice_rb_err decode_agrees(const uint8_t *buf, size_t len)
{
	static struct sluice_rb_record recs[600];
	struct sluice_rb_header h1, h2;
	size_t b1 = 0, b2 = 0;
	uint32_t n = 99;
	enum sluice_rb_err e1 = sluice_rb_batch_validate(buf, len, &h1, &b1);
	enum sluice_rb_err e2 = sluice_rb_batch_decode(buf, len, &h2, &b2, recs, 600, &n);

	assert_int_equal(e2, e1);
	decode_reasons_seen |= 1u << e1;
	if (e1 != SLUICE_RB_OK) {
		assert_int_equal(n, 0);
		return e1;
	}
	assert_int_equal(b2, b1);
	assert_int_equal(h1.base_offset, h2.base_offset);
	assert_int_equal(h1.batch_length, h2.batch_length);
	assert_int_equal(h1.partition_leader_epoch, h2.partition_leader_epoch);
	assert_int_equal(h1.crc, h2.crc);
	assert_int_equal(h1.attributes, h2.attributes);
	assert_int_equal(h1.last_offset_delta, h2.last_offset_delta);
	assert_int_equal(h1.base_timestamp, h2.base_timestamp);
	assert_int_equal(h1.max_timestamp, h2.max_timestamp);
	assert_int_equal(h1.producer_id, h2.producer_id);
	assert_int_equal(h1.producer_epoch, h2.producer_epoch);
	assert_int_equal(h1.base_sequence, h2.base_sequence);
	assert_int_equal(h1.record_count, h2.record_count);
	if (h1.record_count <= 600) {
		assert_int_equal(n, (uint32_t)h1.record_count);
		struct sluice_rb_record_iter it;
		struct sluice_rb_record r;
		sluice_rb_record_iter_init(&it, buf, b1);
		for (uint32_t i = 0; i < n; i++) {
			assert_int_equal(sluice_rb_record_iter_next(&it, &r), 1);
			assert_int_equal(recs[i].offset, r.offset);
			assert_int_equal(recs[i].timestamp, r.timestamp);
			assert_true(same_bytes(recs[i].key, recs[i].key_len, r.key, r.key_len));
			assert_true(
				same_bytes(recs[i].value, recs[i].value_len, r.value, r.value_len));
			assert_int_equal(recs[i].header_count, r.header_count);
			assert_ptr_equal(recs[i].headers_raw, r.headers_raw);
			assert_int_equal(recs[i].headers_raw_len, r.headers_raw_len);
			assert_null(recs[i].headers);
		}
		assert_int_equal(sluice_rb_record_iter_next(&it, &r), 0);
	} else {
		assert_int_equal(n, 0);
	}
	/* Too small a table, or none: validated, nothing decoded. */
	if (h1.record_count > 1) {
		n = 99;
		assert_int_equal(sluice_rb_batch_decode(buf, len, NULL, NULL, recs,
							(uint32_t)h1.record_count - 1, &n),
				 SLUICE_RB_OK);
		assert_int_equal(n, 0);
	}
	assert_int_equal(sluice_rb_batch_decode(buf, len, NULL, NULL, NULL, 600, &n), SLUICE_RB_OK);
	assert_int_equal(n, 0);
	return e1;
}

/*
 * Rebuild a valid batch from its decoded records with sluice_rb_builder_append_raw(): the
 * builder writes minimal varints, so the copy must be byte-identical to the original; sizes
 * are exact, and a full buffer leaves the batch unchanged.
 */
static void raw_rebuild_identical(const uint8_t *batch, size_t total,
				  const struct sluice_rb_batch_meta *meta)
{
	uint8_t *out = malloc(total);
	struct sluice_rb_builder b;
	struct sluice_rb_record_iter it;
	struct sluice_rb_record r;

	assert_non_null(out);
	assert_int_equal(sluice_rb_builder_init(&b, out, total, meta), 0);
	sluice_rb_record_iter_init(&it, batch, total);
	while (sluice_rb_record_iter_next(&it, &r) == 1) {
		size_t before = b.len;
		size_t want = sluice_rb_builder_record_bytes_raw(&b, &r);

		assert_true(want > 0);
		assert_int_equal(sluice_rb_builder_append_raw(&b, &r), 0);
		assert_int_equal(b.len - before, want);
	}
	assert_int_equal(sluice_rb_builder_seal(&b), total);
	assert_memory_equal(out, batch, total);
	/* Full: -ENOSPC and nothing written. */
	size_t len = b.len;
	sluice_rb_record_iter_init(&it, batch, total);
	assert_int_equal(sluice_rb_record_iter_next(&it, &r), 1);
	assert_int_equal(sluice_rb_builder_append_raw(&b, &r), -ENOSPC);
	assert_int_equal(b.len, len);
	/* Not from the iterator: refused. */
	r.tail_raw = NULL;
	assert_int_equal(sluice_rb_builder_append_raw(&b, &r), -EINVAL);
	assert_int_equal(sluice_rb_builder_record_bytes_raw(&b, &r), 0);
	free(out);
}

static enum sluice_rb_err validate(const uint8_t *buf, size_t len)
{
	return decode_agrees(buf, len);
}

/* ---------------------------------------------------------------------------------------- */
/* CRC32C, murmur2                                                                           */

static void test_crc32c_rfc3720(void **state)
{
	uint8_t buf[32];
	(void)state;

	memset(buf, 0, sizeof(buf));
	assert_int_equal(sluice_crc32c(0, buf, 32), 0x8A9136AA);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(sluice_crc32c(0, buf, 32), 0x62A8AB43);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(sluice_crc32c(0, buf, 32), 0x46DD794E);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(sluice_crc32c(0, buf, 32), 0x113FDB5C);
	assert_int_equal(sluice_crc32c(0, "123456789", 9), 0xE3069283);
	assert_int_equal(sluice_crc32c(0, NULL, 0), 0);
}

static void test_crc32c_chaining(void **state)
{
	static uint8_t buf[100000];
	(void)state;

	fill_random(buf, sizeof(buf));
	uint32_t whole = sluice_crc32c(0, buf, sizeof(buf));

	for (size_t cut = 0; cut < sizeof(buf); cut += 7919) {
		uint32_t c = sluice_crc32c(0, buf, cut);

		assert_int_equal(sluice_crc32c(c, buf + cut, sizeof(buf) - cut), whole);
	}
}

static void test_murmur2_kafka_vectors(void **state)
{
	/* org.apache.kafka.common.utils.UtilsTest.testMurmur2 */
	static const struct {
		const char *key;
		int32_t hash;
	} v[] = {
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
		{"", 275646681},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_int_equal((int32_t)sluice_murmur2(v[i].key, strlen(v[i].key)), v[i].hash);
	/* toPositive(-790332482) = 1357151166 */
	assert_int_equal(sluice_partition_for_key("foobar", 6, 50), 1357151166u % 50);
	assert_int_equal(sluice_partition_for_key("foobar", 6, 10), 6);
	assert_int_equal(sluice_partition_for_key("foobar", 6, 1), 0);
	assert_int_equal(sluice_partition_for_key("foobar", 6, 0), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Varints                                                                                   */

static void test_varint_edges(void **state)
{
	static const int32_t v32[] = {0,          -1,         1,         63,      64,
				      -64,        -65,        8191,      8192,    -8192,
				      -8193,      INT32_MAX,  INT32_MIN, 1 << 20, -(1 << 20),
				      0x3fffffff, -0x40000000};
	static const int64_t v64[] = {0,         -1,        1,           63,        64,
				      -64,       -65,       INT32_MAX,   INT32_MIN, INT64_MAX,
				      INT64_MIN, 1ll << 62, -(1ll << 62)};
	uint8_t b[16];
	(void)state;

	for (size_t i = 0; i < sizeof(v32) / sizeof(v32[0]); i++) {
		int32_t out = 12345;
		size_t n = sluice_varint_encode(v32[i], b);

		assert_in_range(n, 1, 5);
		assert_int_equal(sluice_varint_decode(b, n, &out), n);
		assert_int_equal(out, v32[i]);
		/* one byte short is truncated */
		assert_int_equal(sluice_varint_decode(b, n - 1, &out), 0);
		/* varlong decodes a varint's bytes to the same value */
		int64_t out64;

		assert_int_equal(sluice_varlong_decode(b, n, &out64), n);
		assert_int_equal(out64, v32[i]);
	}
	for (size_t i = 0; i < sizeof(v64) / sizeof(v64[0]); i++) {
		int64_t out = 12345;
		size_t n = sluice_varlong_encode(v64[i], b);

		assert_in_range(n, 1, 10);
		assert_int_equal(sluice_varlong_decode(b, n, &out), n);
		assert_true(out == v64[i]);
		assert_int_equal(sluice_varlong_decode(b, n - 1, &out), 0);
	}

	/* Exact encodings (zig-zag): Kafka ByteUtils. */
	assert_int_equal(sluice_varint_encode(0, b), 1);
	assert_int_equal(b[0], 0x00);
	assert_int_equal(sluice_varint_encode(-1, b), 1);
	assert_int_equal(b[0], 0x01);
	assert_int_equal(sluice_varint_encode(63, b), 1);
	assert_int_equal(b[0], 0x7e);
	assert_int_equal(sluice_varint_encode(-64, b), 1);
	assert_int_equal(b[0], 0x7f);
	assert_int_equal(sluice_varint_encode(64, b), 2);
	assert_memory_equal(b, "\x80\x01", 2);
	assert_int_equal(sluice_varint_encode(-65, b), 2);
	assert_memory_equal(b, "\x81\x01", 2);
	assert_int_equal(sluice_varint_encode(INT32_MAX, b), 5);
	assert_memory_equal(b, "\xfe\xff\xff\xff\x0f", 5);
	assert_int_equal(sluice_varint_encode(INT32_MIN, b), 5);
	assert_memory_equal(b, "\xff\xff\xff\xff\x0f", 5);
	assert_int_equal(sluice_varlong_encode(INT64_MAX, b), 10);
	assert_memory_equal(b, "\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
	assert_int_equal(sluice_varlong_encode(INT64_MIN, b), 10);
	assert_memory_equal(b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);

	int32_t v;
	int64_t l;

	/* Non-minimal but in range: accepted, as Kafka does. */
	assert_int_equal(sluice_varint_decode((const uint8_t *)"\x80\x00", 2, &v), 2);
	assert_int_equal(v, 0);
	/* Overlong: a sixth byte, or bits above 32 in the fifth. */
	assert_int_equal(sluice_varint_decode((const uint8_t *)"\x80\x80\x80\x80\x80\x00", 6, &v),
			 0);
	assert_int_equal(sluice_varint_decode((const uint8_t *)"\xff\xff\xff\xff\x1f", 5, &v), 0);
	assert_int_equal(sluice_varint_decode((const uint8_t *)"\xff\xff\xff\xff\x8f\x00", 6, &v),
			 0);
	/* Overlong varlong: an eleventh byte, or bits above 64 in the tenth. */
	assert_int_equal(
		sluice_varlong_decode(
			(const uint8_t *)"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 11, &l),
		0);
	assert_int_equal(
		sluice_varlong_decode((const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x03",
				      10, &l),
		0);
	/* Truncated */
	assert_int_equal(sluice_varint_decode((const uint8_t *)"\x80", 1, &v), 0);
	assert_int_equal(sluice_varint_decode((const uint8_t *)"", 0, &v), 0);
	assert_int_equal(sluice_varlong_decode((const uint8_t *)"", 0, &l), 0);

	/* Exhaustive-ish: every 32-bit boundary 2^k-1, 2^k, and negatives, both ways. */
	for (int k = 0; k < 31; k++) {
		int32_t cands[] = {(int32_t)((1u << k) - 1), (int32_t)(1u << k),
				   -(int32_t)(1u << k), -(int32_t)(1u << k) - 1};

		for (size_t i = 0; i < 4; i++) {
			size_t n = sluice_varint_encode(cands[i], b);

			assert_int_equal(sluice_varint_decode(b, n, &v), n);
			assert_int_equal(v, cands[i]);
		}
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Builder round trips                                                                       */

#define MAX_RECS 24
#define MAX_HDRS 300

struct spec {
	int64_t ts;
	int32_t klen, vlen;
	uint8_t *key, *value;
	uint32_t nh;
	struct sluice_rb_kv *h;
};

static void test_roundtrip_random(void **state)
{
	const size_t cap = 8u << 20;
	uint8_t *buf = malloc(cap);
	uint8_t *pool = malloc(4u << 20);
	static struct sluice_rb_kv hdrs[MAX_RECS][MAX_HDRS];
	struct spec sp[MAX_RECS];
	(void)state;

	/* What the random draw covered: asserted at the end so the cases cannot silently vanish. */
	int seen_null_key = 0, seen_empty_key = 0, seen_null_value = 0, seen_mib = 0, seen_many = 0;

	assert_non_null(buf);
	assert_non_null(pool);
	fill_random(pool, 4u << 20);

	for (int iter = 0; iter < 40; iter++) {
		struct sluice_rb_builder b;
		struct sluice_rb_batch_meta meta = {
			.base_offset = (int64_t)(rnd() >> 20),
			.attributes = (iter % 5 == 0) ? SLUICE_RB_ATTR_TRANSACTIONAL : 0,
			.producer_id = (iter % 3 == 0) ? -1 : (int64_t)(rnd() >> 2),
			.producer_epoch = (int16_t)(rnd() & 0x7fff),
			.base_sequence = (int32_t)(rnd() & 0x7fffffff),
			.partition_leader_epoch = (int32_t)(rnd() & 0xffff),
		};
		int nrec = 1 + (int)(rnd() % MAX_RECS);
		int64_t base_ts = (int64_t)(rnd() >> 24);
		int64_t max_ts = INT64_MIN;

		assert_int_equal(sluice_rb_builder_init(&b, buf, cap, &meta), 0);
		for (int i = 0; i < nrec; i++) {
			struct spec *s = &sp[i];
			uint64_t pick = rnd() % 10;

			s->ts = base_ts + (int64_t)(rnd() % 200000) - 100000;
			if (i == 0 && iter == 1)
				s->ts = INT64_MIN / 2;
			/* key: null, empty or random up to 100 bytes */
			s->klen = (pick == 0) ? -1 : (pick == 1) ? 0 : (int32_t)(rnd() % 100);
			s->key = s->klen >= 0 ? pool + rnd() % 1000 : NULL;
			/* value: null, empty, small, or large up to exactly 1 MiB */
			pick = rnd() % 20;
			if (pick == 0)
				s->vlen = -1;
			else if (pick == 1)
				s->vlen = 0;
			else if (pick == 2)
				s->vlen = 1 << 20;
			else if (pick < 5)
				s->vlen = (int32_t)(rnd() % (1u << 20));
			else
				s->vlen = (int32_t)(rnd() % 300);
			s->value = s->vlen >= 0 ? pool + rnd() % (2u << 20) : NULL;
			/* headers: none, a few, or many */
			pick = rnd() % 6;
			s->nh = pick < 2 ? 0 : pick < 5 ? (uint32_t)(rnd() % 5) : MAX_HDRS;
			s->h = hdrs[i];
			for (uint32_t j = 0; j < s->nh; j++) {
				struct sluice_rb_kv *kv = &s->h[j];

				kv->key_len = (int32_t)(rnd() % 20);
				kv->key = pool + rnd() % 1000;
				kv->value_len = (rnd() % 4 == 0) ? -1 : (int32_t)(rnd() % 40);
				kv->value = kv->value_len >= 0 ? pool + rnd() % 1000 : NULL;
			}
			struct sluice_rb_record rec = {
				.timestamp = s->ts,
				.key = s->key,
				.key_len = s->klen,
				.value = s->value,
				.value_len = s->vlen,
				.headers = s->h,
				.header_count = s->nh,
			};
			size_t before = b.len;
			size_t want = sluice_rb_builder_record_bytes(&b, &rec);

			assert_true(want > 0);
			if (b.len + want > cap) {
				/* Full: the builder says so and the batch ends here. */
				assert_int_equal(sluice_rb_builder_append(&b, &rec), -ENOSPC);
				assert_int_equal(b.len, before);
				nrec = i;
				break;
			}
			assert_int_equal(sluice_rb_builder_append(&b, &rec), 0);
			/* record_bytes is exact */
			assert_int_equal(b.len - before, want);
			if (s->ts > max_ts)
				max_ts = s->ts;
			seen_null_key += s->klen < 0;
			seen_empty_key += s->klen == 0;
			seen_null_value += s->vlen < 0;
			seen_mib += s->vlen == 1 << 20;
			seen_many += s->nh == MAX_HDRS;
		}
		assert_int_equal(sluice_rb_builder_count(&b), nrec);
		size_t total = sluice_rb_builder_seal(&b);

		assert_int_equal(total, b.len);

		struct sluice_rb_header h;
		size_t bytes = 0;

		assert_int_equal(sluice_rb_batch_validate(buf, total, &h, &bytes), SLUICE_RB_OK);
		assert_int_equal(decode_agrees(buf, total), SLUICE_RB_OK);
		raw_rebuild_identical(buf, total, &meta);
		assert_int_equal(bytes, total);
		/* trailing bytes after the batch are not part of it */
		assert_int_equal(sluice_rb_batch_validate(buf, cap, &h, &bytes), SLUICE_RB_OK);
		assert_int_equal(bytes, total);
		assert_true(h.base_offset == meta.base_offset);
		assert_int_equal(h.batch_length, total - 12);
		assert_int_equal(h.partition_leader_epoch, meta.partition_leader_epoch);
		assert_int_equal(h.magic, 2);
		assert_int_equal(h.attributes, meta.attributes);
		assert_int_equal(h.last_offset_delta, nrec - 1);
		assert_true(h.base_timestamp == sp[0].ts);
		assert_true(h.max_timestamp == max_ts);
		assert_true(h.producer_id == meta.producer_id);
		assert_int_equal(h.producer_epoch, meta.producer_epoch);
		assert_int_equal(h.base_sequence, meta.base_sequence);
		assert_int_equal(h.record_count, nrec);

		struct sluice_rb_record_iter it;
		struct sluice_rb_record r;
		int i = 0;

		sluice_rb_record_iter_init(&it, buf, total);
		while (sluice_rb_record_iter_next(&it, &r) == 1) {
			struct spec *s = &sp[i];

			assert_true(i < nrec);
			assert_true(r.offset == meta.base_offset + i);
			assert_true(r.timestamp == s->ts);
			assert_int_equal(r.key_len, s->klen);
			if (s->klen < 0)
				assert_null(r.key);
			else
				assert_memory_equal(r.key, s->key, (size_t)s->klen);
			assert_int_equal(r.value_len, s->vlen);
			if (s->vlen < 0)
				assert_null(r.value);
			else
				assert_memory_equal(r.value, s->value, (size_t)s->vlen);
			assert_int_equal(r.header_count, s->nh);
			for (uint32_t j = 0; j < s->nh; j++) {
				struct sluice_rb_kv kv;

				assert_int_equal(sluice_rb_record_header(&r, j, &kv), 0);
				assert_int_equal(kv.key_len, s->h[j].key_len);
				assert_memory_equal(kv.key, s->h[j].key, (size_t)kv.key_len);
				assert_int_equal(kv.value_len, s->h[j].value_len);
				if (kv.value_len < 0)
					assert_null(kv.value);
				else
					assert_memory_equal(kv.value, s->h[j].value,
							    (size_t)kv.value_len);
			}
			struct sluice_rb_kv kv;
			struct sluice_rb_header_iter hit;
			uint32_t j = 0;

			assert_int_equal(sluice_rb_record_header(&r, s->nh, &kv),
					 -SLUICE_RB_EFIELD_LENGTH);
			/* The single-pass walker sees the same headers. */
			sluice_rb_header_iter_init(&hit, &r);
			while (sluice_rb_header_iter_next(&hit, &kv) == 1) {
				assert_true(j < s->nh);
				assert_int_equal(kv.key_len, s->h[j].key_len);
				assert_memory_equal(kv.key, s->h[j].key, (size_t)kv.key_len);
				assert_int_equal(kv.value_len, s->h[j].value_len);
				if (kv.value_len > 0)
					assert_memory_equal(kv.value, s->h[j].value,
							    (size_t)kv.value_len);
				j++;
			}
			assert_int_equal(j, s->nh);
			i++;
		}
		assert_int_equal(i, nrec);
		assert_int_equal(sluice_rb_record_iter_next(&it, &r), 0);

		/* baseOffset is outside the CRC: rewriting it keeps the batch valid. */
		sluice_rb_set_base_offset(buf, 777);
		assert_int_equal(validate(buf, total), SLUICE_RB_OK);
		sluice_rb_record_iter_init(&it, buf, total);
		assert_int_equal(sluice_rb_record_iter_next(&it, &r), 1);
		assert_true(r.offset == 777);
	}
	assert_true(seen_null_key > 0 && seen_empty_key > 0 && seen_null_value > 0);
	assert_true(seen_mib > 0 && seen_many > 0);
	free(buf);
	free(pool);
}

static void test_builder_enospc_unchanged(void **state)
{
	uint8_t buf[512], copy[512];
	struct sluice_rb_builder b, bcopy;
	struct sluice_rb_record rec = {.timestamp = 5,
				       .key = (const uint8_t *)"k",
				       .key_len = 1,
				       .value = (const uint8_t *)"0123456789",
				       .value_len = 10};
	(void)state;

	/* A capacity below the header cannot hold a batch. */
	assert_int_equal(sluice_rb_builder_init(&b, buf, SLUICE_RB_HEADER_BYTES - 1, NULL),
			 -ENOSPC);

	/* Find the exact size of 5 records, then build into exactly that capacity. */
	assert_int_equal(sluice_rb_builder_init(&b, buf, sizeof(buf), NULL), 0);
	size_t need = SLUICE_RB_HEADER_BYTES;

	for (int i = 0; i < 5; i++) {
		need += sluice_rb_builder_record_bytes(&b, &rec);
		assert_int_equal(sluice_rb_builder_append(&b, &rec), 0);
	}
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(sluice_rb_builder_init(&b, buf, need, NULL), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(sluice_rb_builder_append(&b, &rec), 0);
	assert_int_equal(b.len, need);
	memcpy(copy, buf, sizeof(buf));
	bcopy = b;
	assert_int_equal(sluice_rb_builder_append(&b, &rec), -ENOSPC);
	assert_memory_equal(buf, copy, sizeof(buf));
	assert_memory_equal(&b, &bcopy, sizeof(b));
	/* A smaller record that fits in the remaining 0 bytes: none does. */
	struct sluice_rb_record tiny = {.timestamp = 5, .key_len = -1, .value_len = -1};

	assert_int_equal(sluice_rb_builder_append(&b, &tiny), -ENOSPC);
	assert_memory_equal(&b, &bcopy, sizeof(b));
	assert_int_equal(sluice_rb_builder_seal(&b), need);
	assert_int_equal(validate(buf, need), SLUICE_RB_OK);
	/* The bytes after the batch were never written. */
	assert_int_equal(buf[need], 0xa5);

	/* One byte short of fitting a record: -ENOSPC, not a partial write. */
	assert_int_equal(sluice_rb_builder_init(&b, buf, need - 1, NULL), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(sluice_rb_builder_append(&b, &rec), 0);
	assert_int_equal(sluice_rb_builder_append(&b, &rec), -ENOSPC);
	assert_int_equal(sluice_rb_builder_count(&b), 4);

	/* A record that does not fit an empty batch is -EMSGSIZE: sealing would not help. */
	assert_int_equal(sluice_rb_builder_init(&b, buf, SLUICE_RB_HEADER_BYTES + 10, NULL), 0);
	bcopy = b;
	assert_int_equal(sluice_rb_builder_append(&b, &rec), -EMSGSIZE);
	assert_memory_equal(&b, &bcopy, sizeof(b));
	assert_int_equal(sluice_rb_builder_append(&b, &tiny), 0);
	assert_int_equal(sluice_rb_builder_append(&b, &rec), -ENOSPC);
}

static void test_builder_invalid(void **state)
{
	uint8_t buf[256];
	struct sluice_rb_builder b;
	struct sluice_rb_kv bad_hdr = {NULL, -1, NULL, -1};
	struct sluice_rb_kv bad_hdr2 = {(const uint8_t *)"k", 1, NULL, -2};
	struct sluice_rb_batch_meta gz = {.attributes = 1, .producer_id = -1};
	(void)state;

	assert_int_equal(sluice_rb_builder_init(&b, buf, sizeof(buf), &gz), -EINVAL);
	assert_int_equal(sluice_rb_builder_init(&b, buf, sizeof(buf), NULL), 0);
	struct sluice_rb_record cases[] = {
		{.key_len = -2, .value_len = -1},
		{.key_len = 3, .key = NULL, .value_len = -1},
		{.key_len = -1, .value_len = -7},
		{.key_len = -1, .value_len = 4, .value = NULL},
		{.key_len = -1, .value_len = -1, .header_count = 1, .headers = NULL},
		{.key_len = -1, .value_len = -1, .header_count = 1, .headers = &bad_hdr},
		{.key_len = -1, .value_len = -1, .header_count = 1, .headers = &bad_hdr2},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(sluice_rb_builder_record_bytes(&b, &cases[i]), 0);
		assert_int_equal(sluice_rb_builder_append(&b, &cases[i]), -EINVAL);
	}
	/* Timestamp delta that overflows int64 */
	struct sluice_rb_record r1 = {.timestamp = INT64_MIN, .key_len = -1, .value_len = -1};
	struct sluice_rb_record r2 = {.timestamp = INT64_MAX, .key_len = -1, .value_len = -1};

	assert_int_equal(sluice_rb_builder_append(&b, &r1), 0);
	assert_int_equal(sluice_rb_builder_append(&b, &r2), -EINVAL);
	assert_int_equal(sluice_rb_builder_count(&b), 1);

	/* An empty batch seals to nothing. */
	assert_int_equal(sluice_rb_builder_init(&b, buf, sizeof(buf), NULL), 0);
	assert_int_equal(sluice_rb_builder_seal(&b), 0);
}

static void test_builder_defaults(void **state)
{
	uint8_t buf[256];
	struct sluice_rb_header h;
	(void)state;

	size_t n = build_three(buf, sizeof(buf));

	assert_int_equal(sluice_rb_batch_validate(buf, n, &h, NULL), SLUICE_RB_OK);
	assert_true(h.producer_id == -1);
	assert_int_equal(h.producer_epoch, -1);
	assert_int_equal(h.base_sequence, -1);
	assert_int_equal(h.partition_leader_epoch, -1);
	assert_true(h.base_timestamp == 1000);
	assert_true(h.max_timestamp == 1002);
	/* Kafka's CRC field covers attributes..end: recompute independently. */
	assert_int_equal(h.crc, sluice_crc32c(0, buf + 21, n - 21));
}

/* ---------------------------------------------------------------------------------------- */
/* Every invalid-input reason                                                                 */

static void test_err_truncated_length_magic(void **state)
{
	uint8_t buf[256];
	struct sluice_rb_header h;
	size_t n = build_three(buf, sizeof(buf));
	(void)state;

	assert_int_equal(validate(buf, n), SLUICE_RB_OK);
	for (size_t l = 0; l < n; l++)
		assert_int_equal(validate(buf, l), SLUICE_RB_ETRUNCATED);
	assert_int_equal(sluice_rb_header_decode(buf, 60, &h), SLUICE_RB_ETRUNCATED);
	assert_int_equal(sluice_rb_header_decode(buf, 61, &h), SLUICE_RB_OK);
	assert_int_equal(validate(NULL, 0), SLUICE_RB_ETRUNCATED);

	uint8_t c[256];

	memcpy(c, buf, n);
	sluice_be32_put(c + 8, 48); /* one below the header */
	assert_int_equal(validate(c, n), SLUICE_RB_ELENGTH);
	assert_int_equal(sluice_rb_header_decode(c, n, &h), SLUICE_RB_ELENGTH);
	sluice_be32_put(c + 8, 0xffffffffu); /* negative */
	assert_int_equal(validate(c, n), SLUICE_RB_ELENGTH);
	sluice_be32_put(c + 8, SLUICE_RB_MAX_BATCH_BYTES - 11); /* one above the maximum */
	assert_int_equal(validate(c, n), SLUICE_RB_ELENGTH);
	sluice_be32_put(c + 8, SLUICE_RB_MAX_BATCH_BYTES - 12); /* the maximum: just truncated */
	assert_int_equal(validate(c, n), SLUICE_RB_ETRUNCATED);

	memcpy(c, buf, n);
	c[16] = 1;
	assert_int_equal(validate(c, n), SLUICE_RB_EMAGIC);
	assert_int_equal(sluice_rb_header_decode(c, n, &h), SLUICE_RB_EMAGIC);
}

static void test_err_crc(void **state)
{
	uint8_t buf[256], c[256];
	size_t n = build_three(buf, sizeof(buf));
	(void)state;

	/* Every single-bit flip in the CRC-covered range is caught (CRC32C detects all). */
	for (size_t i = 17; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(c, buf, n);
			c[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(validate(c, n), SLUICE_RB_ECRC);
		}
	}
	/* baseOffset and partitionLeaderEpoch are outside it */
	memcpy(c, buf, n);
	c[3] ^= 0x10;
	c[13] ^= 0x10;
	assert_int_equal(validate(c, n), SLUICE_RB_OK);
}

static void test_err_compressed(void **state)
{
	uint8_t buf[256];
	size_t n = build_three(buf, sizeof(buf));
	(void)state;

	for (int codec = 1; codec <= 4; codec++) {
		buf[22] = (uint8_t)codec;
		recrc(buf, n);
		assert_int_equal(validate(buf, n), SLUICE_RB_ECOMPRESSED);
	}
}

static void test_err_count(void **state)
{
	uint8_t buf[256];
	size_t n = build_three(buf, sizeof(buf));
	(void)state;

	const int32_t counts[] = {0, -1, INT32_MIN, 2, 4, INT32_MAX};

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		sluice_be32_put(buf + 57, (uint32_t)counts[i]);
		recrc(buf, n);
		assert_int_equal(validate(buf, n), SLUICE_RB_ECOUNT);
	}
}

static void test_err_varint(void **state)
{
	uint8_t rec[64], body[64], buf[256];
	(void)state;

	/* Record length varint runs past the batch end. */
	size_t n = raw_batch(buf, 0, 1, 0, 0, 0, 0);

	buf[n] = 0x80;
	n = raw_batch(buf, 1, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EVARINT);

	/* Record length varint of six bytes. */
	memcpy(buf + 61, "\x80\x80\x80\x80\x80\x00", 6);
	n = raw_batch(buf, 6, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EVARINT);

	/* Timestamp varlong of eleven bytes inside a record. */
	struct wr w = {body, 0};

	wr_byte(&w, 0);
	wr_raw(&w, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 11);
	wr_varint(&w, 0);
	wr_varint(&w, -1);
	wr_varint(&w, -1);
	wr_varint(&w, 0);
	n = record_wrap(rec, body, w.n, (int32_t)w.n);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EVARINT);

	/* Offset delta varint with bits above 32. */
	w.n = 0;
	wr_byte(&w, 0);
	wr_varlong(&w, 0);
	wr_raw(&w, "\xff\xff\xff\xff\x7f", 5);
	wr_varint(&w, -1);
	wr_varint(&w, -1);
	wr_varint(&w, 0);
	n = record_wrap(rec, body, w.n, (int32_t)w.n);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EVARINT);

	/* Header count varint cut by the record's end. */
	w.n = 0;
	wr_byte(&w, 0);
	wr_varlong(&w, 0);
	wr_varint(&w, 0);
	wr_varint(&w, -1);
	wr_varint(&w, -1);
	wr_byte(&w, 0x80);
	n = record_wrap(rec, body, w.n, (int32_t)w.n);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EVARINT);
}

static void test_err_record_length(void **state)
{
	uint8_t rec[64], body[64], buf[256];
	size_t bn, n;
	(void)state;

	bn = body_simple(body, 0, 0, -1, NULL, 2, "hi", 0);
	/* The honest length validates. */
	n = record_wrap(rec, body, bn, (int32_t)bn);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_OK);

	/* A length below the smallest record. */
	n = record_wrap(rec, body, bn, 5);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_ERECORD_LENGTH);
	/* Negative. */
	n = record_wrap(rec, body, bn, -3);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_ERECORD_LENGTH);
	/* Longer than what is left of the batch. */
	n = record_wrap(rec, body, bn, (int32_t)bn + 1);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_ERECORD_LENGTH);
	/* Longer than the fields inside it (a stray byte after the headers). */
	body[bn] = 0;
	n = record_wrap(rec, body, bn + 1, (int32_t)bn + 1);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_ERECORD_LENGTH);
}

static void test_err_field_length(void **state)
{
	uint8_t rec[64], body[64], buf[256];
	size_t bn, n;
	struct wr w;
	(void)state;

	/* key length -2 */
	bn = body_simple(body, 0, 0, -2, NULL, -1, NULL, 0);
	n = record_wrap(rec, body, bn, (int32_t)bn);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EFIELD_LENGTH);
	/* value longer than the record */
	bn = body_simple(body, 0, 0, -1, NULL, 9, "abc", 0);
	n = record_wrap(rec, body, bn, (int32_t)bn);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EFIELD_LENGTH);
	/* negative header count */
	bn = body_simple(body, 0, 0, -1, NULL, -1, NULL, -1);
	n = record_wrap(rec, body, bn, (int32_t)bn);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EFIELD_LENGTH);
	/* huge header count */
	bn = body_simple(body, 0, 0, -1, NULL, -1, NULL, INT32_MAX);
	n = record_wrap(rec, body, bn, (int32_t)bn);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EFIELD_LENGTH);
	/* header with a null key (keys may not be null) */
	w = (struct wr){body, 0};
	wr_byte(&w, 0);
	wr_varlong(&w, 0);
	wr_varint(&w, 0);
	wr_varint(&w, -1);
	wr_varint(&w, -1);
	wr_varint(&w, 1);
	wr_varint(&w, -1);
	wr_varint(&w, -1);
	n = record_wrap(rec, body, w.n, (int32_t)w.n);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EFIELD_LENGTH);
	/* header value -2 */
	w.n = 0;
	wr_byte(&w, 0);
	wr_varlong(&w, 0);
	wr_varint(&w, 0);
	wr_varint(&w, -1);
	wr_varint(&w, -1);
	wr_varint(&w, 1);
	wr_varint(&w, 1);
	wr_byte(&w, 'k');
	wr_varint(&w, -2);
	n = record_wrap(rec, body, w.n, (int32_t)w.n);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EFIELD_LENGTH);
}

static void test_err_offset_delta(void **state)
{
	uint8_t rec[64], body[64], buf[256];
	size_t bn, n, off = 0;
	(void)state;

	/* deltas 0, 2 */
	bn = body_simple(body, 0, 0, -1, NULL, -1, NULL, 0);
	off += record_wrap(buf + 61 + off, body, bn, (int32_t)bn);
	bn = body_simple(body, 0, 2, -1, NULL, -1, NULL, 0);
	off += record_wrap(buf + 61 + off, body, bn, (int32_t)bn);
	n = raw_batch(buf, off, 2, 1, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EOFFSET_DELTA);

	/* deltas 0, 1 but lastOffsetDelta 2 */
	off = 0;
	bn = body_simple(body, 0, 0, -1, NULL, -1, NULL, 0);
	off += record_wrap(buf + 61 + off, body, bn, (int32_t)bn);
	bn = body_simple(body, 0, 1, -1, NULL, -1, NULL, 0);
	off += record_wrap(buf + 61 + off, body, bn, (int32_t)bn);
	n = raw_batch(buf, off, 2, 1, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_OK);
	n = raw_batch(buf, off, 2, 2, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EOFFSET_DELTA);
	n = raw_batch(buf, off, 2, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EOFFSET_DELTA);

	/* first record's delta not zero */
	bn = body_simple(body, 0, 1, -1, NULL, -1, NULL, 0);
	n = record_wrap(rec, body, bn, (int32_t)bn);
	memcpy(buf + 61, rec, n);
	n = raw_batch(buf, n, 1, 0, 0, 0, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_EOFFSET_DELTA);

	/* baseOffset + lastOffsetDelta overflows int64 */
	off = 0;
	bn = body_simple(body, 0, 0, -1, NULL, -1, NULL, 0);
	off += record_wrap(buf + 61 + off, body, bn, (int32_t)bn);
	bn = body_simple(body, 0, 1, -1, NULL, -1, NULL, 0);
	off += record_wrap(buf + 61 + off, body, bn, (int32_t)bn);
	n = raw_batch(buf, off, 2, 1, 0, 0, 0);
	sluice_rb_set_base_offset(buf, INT64_MAX);
	assert_int_equal(validate(buf, n), SLUICE_RB_EOFFSET_DELTA);
}

static void test_err_timestamp(void **state)
{
	uint8_t body[64], buf[256];
	size_t bn, n, off = 0;
	(void)state;

	bn = body_simple(body, 0, 0, -1, NULL, -1, NULL, 0);
	off += record_wrap(buf + 61 + off, body, bn, (int32_t)bn);
	bn = body_simple(body, 50, 1, -1, NULL, -1, NULL, 0);
	off += record_wrap(buf + 61 + off, body, bn, (int32_t)bn);
	n = raw_batch(buf, off, 2, 1, 1000, 1050, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_OK);
	n = raw_batch(buf, off, 2, 1, 1000, 1049, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_ETIMESTAMP);
	/* LogAppendTime: the broker's maxTimestamp stands for every record. */
	n = raw_batch(buf, off, 2, 1, 1000, 5, SLUICE_RB_ATTR_TIMESTAMP_LOG_APPEND);
	assert_int_equal(validate(buf, n), SLUICE_RB_OK);
	struct sluice_rb_record_iter it;
	struct sluice_rb_record r;

	sluice_rb_record_iter_init(&it, buf, n);
	assert_int_equal(sluice_rb_record_iter_next(&it, &r), 1);
	assert_true(r.timestamp == 5);
	assert_int_equal(sluice_rb_record_iter_next(&it, &r), 1);
	assert_true(r.timestamp == 5);
	/* baseTimestamp + delta overflows */
	n = raw_batch(buf, off, 2, 1, INT64_MAX - 10, INT64_MAX, 0);
	assert_int_equal(validate(buf, n), SLUICE_RB_ETIMESTAMP);
}

static void test_range_offset_order(void **state)
{
	uint8_t buf[1024];
	size_t a, b, valid;
	int64_t next;
	(void)state;

	a = build_three(buf, sizeof(buf));
	b = build_three(buf + a, sizeof(buf) - a);
	sluice_rb_set_base_offset(buf, 10);
	sluice_rb_set_base_offset(buf + a, 13);
	assert_int_equal(sluice_rb_range_validate(buf, a + b, 10, &valid, &next), SLUICE_RB_OK);
	assert_int_equal(valid, a + b);
	assert_true(next == 16);
	/* -1: the first batch may start anywhere */
	assert_int_equal(sluice_rb_range_validate(buf, a + b, -1, &valid, &next), SLUICE_RB_OK);
	/* wrong first offset */
	assert_int_equal(sluice_rb_range_validate(buf, a + b, 11, &valid, &next),
			 SLUICE_RB_EOFFSET_ORDER);
	assert_int_equal(valid, 0);
	/* gap, then overlap */
	sluice_rb_set_base_offset(buf + a, 14);
	assert_int_equal(sluice_rb_range_validate(buf, a + b, 10, &valid, &next),
			 SLUICE_RB_EOFFSET_ORDER);
	assert_int_equal(valid, a);
	assert_true(next == 13);
	sluice_rb_set_base_offset(buf + a, 12);
	assert_int_equal(sluice_rb_range_validate(buf, a + b, 10, &valid, &next),
			 SLUICE_RB_EOFFSET_ORDER);
	/* torn tail: every cut inside the second batch is ETRUNCATED at the first's end */
	sluice_rb_set_base_offset(buf + a, 13);
	for (size_t cut = a + 1; cut < a + b; cut++) {
		assert_int_equal(sluice_rb_range_validate(buf, cut, 10, &valid, &next),
				 SLUICE_RB_ETRUNCATED);
		assert_int_equal(valid, a);
	}
	/* corrupt second batch */
	buf[a + 70] ^= 1;
	assert_int_equal(sluice_rb_range_validate(buf, a + b, 10, &valid, NULL), SLUICE_RB_ECRC);
	assert_int_equal(valid, a);
	assert_int_equal(sluice_rb_range_validate(buf, 0, 10, &valid, &next), SLUICE_RB_OK);
	assert_int_equal(valid, 0);
}

/* Runs after the error tests: the decoder agreed with the validator on every batch reason. */
static void test_decode_every_reason(void **state)
{
	(void)state;
	for (unsigned e = 0; e < SLUICE_RB__COUNT; e++) {
		if (e == SLUICE_RB_EOFFSET_ORDER) /* a range reason, not a batch one */
			continue;
		if (!(decode_reasons_seen & (1u << e)))
			fail_msg("sluice_rb_batch_decode never compared on %s",
				 sluice_rb_strerror(e));
	}
}

static void test_strerror(void **state)
{
	(void)state;
	for (int i = 0; i < SLUICE_RB__COUNT; i++) {
		const char *s = sluice_rb_strerror((enum sluice_rb_err)i);

		assert_non_null(s);
		assert_string_not_equal(s, "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(s, sluice_rb_strerror((enum sluice_rb_err)j));
	}
	assert_string_equal(sluice_rb_strerror(SLUICE_RB_ECRC), "crc_mismatch");
	assert_string_equal(sluice_rb_strerror(SLUICE_RB__COUNT), "unknown");
	assert_string_equal(sluice_rb_strerror((enum sluice_rb_err) - 1), "unknown");
}

static void test_iter_malformed(void **state)
{
	uint8_t buf[256];
	size_t n = build_three(buf, sizeof(buf));
	struct sluice_rb_record_iter it;
	struct sluice_rb_record r;
	(void)state;

	/* Claims 4 records, holds 3: the iterator reports it instead of reading on. */
	sluice_be32_put(buf + 57, 4);
	sluice_rb_record_iter_init(&it, buf, n);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sluice_rb_record_iter_next(&it, &r), 1);
	assert_int_equal(sluice_rb_record_iter_next(&it, &r), -SLUICE_RB_ECOUNT);
	assert_int_equal(sluice_rb_record_iter_next(&it, &r), 0);
	/* Cut inside the first record */
	sluice_rb_record_iter_init(&it, buf, 66);
	assert_true(sluice_rb_record_iter_next(&it, &r) < 0);
	/* Too short for a header: no records */
	sluice_rb_record_iter_init(&it, buf, 10);
	assert_int_equal(sluice_rb_record_iter_next(&it, &r), 0);
}

static void test_envelope(void **state)
{
	uint8_t e[SLUICE_ENVELOPE_BYTES];
	int32_t p = 99;
	(void)state;

	sluice_envelope_encode(e, 7);
	assert_memory_equal(e, "SK\x01\x00\x00\x00\x00\x07", 8);
	assert_int_equal(sluice_envelope_decode(e, 8, &p), 0);
	assert_int_equal(p, 7);
	sluice_envelope_encode(e, -1);
	assert_int_equal(sluice_envelope_decode(e, 8, &p), 0);
	assert_int_equal(p, -1);
	sluice_envelope_encode(e, INT32_MAX);
	assert_int_equal(sluice_envelope_decode(e, 100, &p), 0);
	assert_int_equal(p, INT32_MAX);
	assert_int_equal(sluice_envelope_decode(e, 7, &p), -EMSGSIZE);
	assert_int_equal(sluice_envelope_decode(NULL, 0, &p), -EMSGSIZE);
	sluice_envelope_encode(e, -2);
	assert_int_equal(sluice_envelope_decode(e, 8, &p), -EINVAL);
	sluice_envelope_encode(e, 0);
	e[0] = 'X';
	assert_int_equal(sluice_envelope_decode(e, 8, &p), -EPROTO);
	sluice_envelope_encode(e, 0);
	e[2] = 2;
	assert_int_equal(sluice_envelope_decode(e, 8, &p), -EPROTO);
	sluice_envelope_encode(e, 0);
	e[3] = 0x02;
	assert_int_equal(sluice_envelope_decode(e, 8, &p), -EPROTO);
	e[3] = 0x01; /* reserved for the acknowledged mode: accepted */
	assert_int_equal(sluice_envelope_decode(e, 8, &p), 0);
}

/* Random mutations of valid batches: the validator must never crash (ASan watches) and the
 * iterator must agree with it. */
static void test_mutations(void **state)
{
	uint8_t buf[256], c[256];
	size_t n = build_three(buf, sizeof(buf));
	(void)state;

	for (int i = 0; i < 20000; i++) {
		size_t len = n;

		memcpy(c, buf, n);
		int flips = 1 + (int)(rnd() % 4);

		for (int f = 0; f < flips; f++)
			c[61 + rnd() % (n - 61)] = (uint8_t)rnd();
		if (rnd() % 2)
			recrc(c, n);
		if (rnd() % 8 == 0)
			len = rnd() % (n + 1);
		uint8_t *heap = malloc(len ? len : 1);

		memcpy(heap, c, len);
		size_t bytes = 0;
		struct sluice_rb_header h;
		enum sluice_rb_err e = sluice_rb_batch_validate(heap, len, &h, &bytes);

		assert_int_equal(decode_agrees(heap, len), e);

		if (e == SLUICE_RB_OK) {
			struct sluice_rb_record_iter it;
			struct sluice_rb_record r;
			int k = 0, rc;

			sluice_rb_record_iter_init(&it, heap, bytes);
			while ((rc = sluice_rb_record_iter_next(&it, &r)) == 1)
				k++;
			assert_int_equal(rc, 0);
			assert_int_equal(k, h.record_count);
		}
		free(heap);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_rfc3720),
		cmocka_unit_test(test_crc32c_chaining),
		cmocka_unit_test(test_murmur2_kafka_vectors),
		cmocka_unit_test(test_varint_edges),
		cmocka_unit_test(test_roundtrip_random),
		cmocka_unit_test(test_builder_enospc_unchanged),
		cmocka_unit_test(test_builder_invalid),
		cmocka_unit_test(test_builder_defaults),
		cmocka_unit_test(test_err_truncated_length_magic),
		cmocka_unit_test(test_err_crc),
		cmocka_unit_test(test_err_compressed),
		cmocka_unit_test(test_err_count),
		cmocka_unit_test(test_err_varint),
		cmocka_unit_test(test_err_record_length),
		cmocka_unit_test(test_err_field_length),
		cmocka_unit_test(test_err_offset_delta),
		cmocka_unit_test(test_err_timestamp),
		cmocka_unit_test(test_range_offset_order),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_iter_malformed),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_decode_every_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
