/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Kafka RecordBatch v2 builder, validator and iterators (see sluice_record.h and
 * docs/record-format.md).
 *
 * Threading contract: every function here is pure over the memory it is given. A builder or
 * iterator belongs to the one thread that uses it; a sealed batch may be read (validated,
 * iterated) by any number of threads at once. Nothing here allocates, locks, logs or blocks,
 * so the dataplane calls it from its hot loop.
 *
 * Every read of untrusted bytes is bounds-checked against an explicit end pointer, and every
 * length is compared against what remains before it is used to advance, so that no input,
 * however crafted, makes the validator or the iterators read outside the range they were given.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <isa-l/crc.h>

#include "sluice_record.h"

/* Fixed header field offsets (Kafka's DefaultRecordBatch). */
#define OFF_BASE_OFFSET 0
#define OFF_BATCH_LENGTH 8
#define OFF_LEADER_EPOCH 12
#define OFF_MAGIC 16
#define OFF_CRC 17
#define OFF_ATTRIBUTES 21
#define OFF_LAST_OFFSET_DELTA 23
#define OFF_BASE_TIMESTAMP 27
#define OFF_MAX_TIMESTAMP 35
#define OFF_PRODUCER_ID 43
#define OFF_PRODUCER_EPOCH 51
#define OFF_BASE_SEQUENCE 53
#define OFF_RECORD_COUNT 57

/* Smallest record body: attributes, and one byte each for timestampDelta, offsetDelta,
 * keyLength, valueLength and headerCount. */
#define RECORD_MIN_BODY 6
/* Smallest header: one byte each for keyLength and valueLength. */
#define HEADER_MIN_BYTES 2

/* ---------------------------------------------------------------------------------------- */
/* Error names                                                                               */

static const char *const err_names[SLUICE_RB__COUNT] = {
	[SLUICE_RB_OK] = "ok",
	[SLUICE_RB_ETRUNCATED] = "truncated",
	[SLUICE_RB_ELENGTH] = "batch_length",
	[SLUICE_RB_EMAGIC] = "bad_magic",
	[SLUICE_RB_ECRC] = "crc_mismatch",
	[SLUICE_RB_ECOMPRESSED] = "compressed",
	[SLUICE_RB_ECOUNT] = "record_count",
	[SLUICE_RB_EVARINT] = "varint",
	[SLUICE_RB_ERECORD_LENGTH] = "record_length",
	[SLUICE_RB_EFIELD_LENGTH] = "field_length",
	[SLUICE_RB_EOFFSET_DELTA] = "offset_delta",
	[SLUICE_RB_ETIMESTAMP] = "timestamp",
	[SLUICE_RB_EOFFSET_ORDER] = "offset_order",
};

const char *sluice_rb_strerror(enum sluice_rb_err err)
{
	if ((unsigned)err >= SLUICE_RB__COUNT)
		return "unknown";
	return err_names[err];
}

/* ---------------------------------------------------------------------------------------- */
/* CRC32C and partitioner                                                                    */

uint32_t sluice_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* ISA-L's crc32_iscsi takes and returns the raw register: apply Kafka's (RFC 3720)
	 * initial value and final XOR around it, so that calls can be chained. Its length is an
	 * int: feed it in chunks so that any size_t length is correct. */
	const unsigned char *p = buf;
	uint32_t reg = ~crc;

	while (len > 0) {
		size_t n = len > (1u << 30) ? (1u << 30) : len;

		reg = crc32_iscsi((unsigned char *)(uintptr_t)p, (int)n, reg);
		p += n;
		len -= n;
	}
	return ~reg;
}

uint32_t sluice_murmur2(const void *key, size_t len)
{
	/* Java's int arithmetic wraps; uint32_t gives the same bits without UB. The length is
	 * an int in Java, so only its low 32 bits enter the seed. */
	const uint8_t *data = key;
	const uint32_t m = 0x5bd1e995;
	const uint32_t r = 24;
	uint32_t h = 0x9747b28cu ^ (uint32_t)len;
	size_t n4 = len / 4;

	for (size_t i = 0; i < n4; i++) {
		const uint8_t *q = data + 4 * i;
		uint32_t k = (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) |
			((uint32_t)q[3] << 24);

		k *= m;
		k ^= k >> r;
		k *= m;
		h *= m;
		h ^= k;
	}
	const uint8_t *tail = data + 4 * n4;

	switch (len & 3) {
	case 3:
		h ^= (uint32_t)tail[2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)tail[1] << 8;
		/* fall through */
	case 1:
		h ^= tail[0];
		h *= m;
		break;
	default:
		break;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}

uint32_t sluice_partition_for_key(const void *key, size_t len, uint32_t partitions)
{
	if (partitions == 0)
		return 0;
	/* Kafka's Utils.toPositive: clear the sign bit (not abs(), which breaks on INT_MIN). */
	return (sluice_murmur2(key, len) & 0x7fffffffu) % partitions;
}

/* ---------------------------------------------------------------------------------------- */
/* Varints                                                                                   */

/* Unsigned LEB128 body shared by the 32- and 64-bit zig-zag encoders. */
static inline size_t uvarint_put(uint64_t u, uint8_t *out)
{
	size_t n = 0;

	while (u >= 0x80) {
		out[n++] = (uint8_t)(u | 0x80);
		u >>= 7;
	}
	out[n++] = (uint8_t)u;
	return n;
}

static inline size_t varint_enc(int32_t v, uint8_t *out)
{
	/* Zig-zag in unsigned arithmetic: a left shift of a negative int is UB in C. */
	return uvarint_put(((uint32_t)v << 1) ^ (uint32_t) - (int32_t)((uint32_t)v >> 31), out);
}

static inline size_t varlong_enc(int64_t v, uint8_t *out)
{
	return uvarint_put(((uint64_t)v << 1) ^ (uint64_t) - (int64_t)((uint64_t)v >> 63), out);
}

size_t sluice_varint_encode(int32_t v, uint8_t *out)
{
	return varint_enc(v, out);
}

size_t sluice_varlong_encode(int64_t v, uint8_t *out)
{
	return varlong_enc(v, out);
}

/*
 * Decode an unsigned LEB128 of at most max_bytes, whose last byte may carry at most
 * last_bits significant bits. Kafka's readVarint stops after 5 bytes but silently drops the
 * bits above 32; we reject them instead, so that one value has one meaning. Non-minimal
 * encodings (0x80 0x00 for 0) are accepted, as Kafka does.
 */
static size_t uleb_decode(const uint8_t *p, size_t len, unsigned max_bytes, unsigned last_bits,
			  uint64_t *out)
{
	uint64_t u = 0;

	for (unsigned i = 0; i < max_bytes; i++) {
		if (i >= len)
			return 0;
		uint8_t b = p[i];

		if (i == max_bytes - 1) {
			if (b >> last_bits)
				return 0;
			u |= (uint64_t)b << (7 * i);
			*out = u;
			return i + 1;
		}
		u |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*out = u;
			return i + 1;
		}
	}
	return 0;
}

/*
 * The decoders the parser uses, inlined: the exported ones are interposable in a PIC build,
 * so the compiler would not inline them, and records are mostly one-byte varints (small
 * lengths and deltas), which the first test below settles without entering the loop.
 */
static inline size_t varint_dec(const uint8_t *p, size_t len, int32_t *v)
{
	uint64_t u;
	size_t n;

	if (len > 0 && p[0] < 0x80) {
		u = p[0];
		n = 1;
	} else {
		n = uleb_decode(p, len, 5, 4, &u);
		if (n == 0)
			return 0;
	}
	uint32_t z = (uint32_t)u;

	*v = (int32_t)((z >> 1) ^ (uint32_t) - (int32_t)(z & 1));
	return n;
}

static inline size_t varlong_dec(const uint8_t *p, size_t len, int64_t *v)
{
	uint64_t z;
	size_t n;

	if (len > 0 && p[0] < 0x80) {
		z = p[0];
		n = 1;
	} else {
		n = uleb_decode(p, len, 10, 1, &z);
		if (n == 0)
			return 0;
	}
	*v = (int64_t)((z >> 1) ^ (uint64_t) - (int64_t)(z & 1));
	return n;
}

size_t sluice_varint_decode(const uint8_t *p, size_t len, int32_t *v)
{
	return varint_dec(p, len, v);
}

size_t sluice_varlong_decode(const uint8_t *p, size_t len, int64_t *v)
{
	return varlong_dec(p, len, v);
}

/* ---------------------------------------------------------------------------------------- */
/* Builder                                                                                   */

static const struct sluice_rb_batch_meta default_meta = {
	.base_offset = 0,
	.attributes = 0,
	.producer_id = SLUICE_RB_NO_PRODUCER_ID,
	.producer_epoch = -1,
	.base_sequence = SLUICE_RB_NO_SEQUENCE,
	.partition_leader_epoch = -1,
};

int sluice_rb_builder_init(struct sluice_rb_builder *b, uint8_t *buf, size_t cap,
			   const struct sluice_rb_batch_meta *meta)
{
	if (meta == NULL)
		meta = &default_meta;
	if (meta->attributes & SLUICE_RB_ATTR_COMPRESSION_MASK)
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	b->meta = *meta;
	if (buf == NULL || cap < SLUICE_RB_HEADER_BYTES)
		return -ENOSPC;
	b->buf = buf;
	b->cap = cap;
	b->len = SLUICE_RB_HEADER_BYTES;
	return 0;
}

static bool field_ok(const uint8_t *data, int32_t len)
{
	return len >= -1 && (len <= 0 || data != NULL);
}

/* Body size (everything after the record's length varint), or 0 when the record is invalid. */
static size_t record_body_bytes(const struct sluice_rb_builder *b,
				const struct sluice_rb_record *rec)
{
	int64_t ts_delta = 0;

	if (!field_ok(rec->key, rec->key_len) || !field_ok(rec->value, rec->value_len))
		return 0;
	if (rec->header_count > 0 && rec->headers == NULL)
		return 0;
	if (rec->header_count > INT32_MAX || b->count == INT32_MAX)
		return 0;
	if (b->count > 0 && __builtin_sub_overflow(rec->timestamp, b->base_timestamp, &ts_delta))
		return 0;

	/* Sizes accumulate in 64 bits and are capped at INT32_MAX, the largest record length
	 * a varint can express; a smaller cap (the buffer) is the caller's business. */
	uint64_t n = 1 + sluice_varlong_size(ts_delta) + sluice_varint_size(b->count);

	n += sluice_varint_size(rec->key_len) + (rec->key_len > 0 ? (uint64_t)rec->key_len : 0);
	n += sluice_varint_size(rec->value_len) +
		(rec->value_len > 0 ? (uint64_t)rec->value_len : 0);
	n += sluice_varint_size((int32_t)rec->header_count);
	for (uint32_t i = 0; i < rec->header_count; i++) {
		const struct sluice_rb_kv *kv = &rec->headers[i];

		if (kv->key_len < 0 || !field_ok(kv->key, kv->key_len) ||
		    !field_ok(kv->value, kv->value_len))
			return 0;
		n += sluice_varint_size(kv->key_len) + (uint64_t)kv->key_len;
		n += sluice_varint_size(kv->value_len) +
			(kv->value_len > 0 ? (uint64_t)kv->value_len : 0);
		if (n > INT32_MAX)
			return 0;
	}
	if (n > INT32_MAX)
		return 0;
	return (size_t)n;
}

size_t sluice_rb_builder_record_bytes(const struct sluice_rb_builder *b,
				      const struct sluice_rb_record *rec)
{
	size_t body = record_body_bytes(b, rec);

	if (body == 0)
		return 0;
	return sluice_varint_size((int32_t)body) + body;
}

static uint8_t *put_bytes(uint8_t *w, const uint8_t *data, int32_t len)
{
	w += varint_enc(len, w);
	if (len > 0) {
		memcpy(w, data, (size_t)len);
		w += len;
	}
	return w;
}

static void note_timestamp(struct sluice_rb_builder *b, int64_t ts)
{
	if (b->count == 0) {
		b->base_timestamp = ts;
		b->max_timestamp = ts;
	} else if (ts > b->max_timestamp) {
		b->max_timestamp = ts;
	}
}

int sluice_rb_builder_append(struct sluice_rb_builder *b, const struct sluice_rb_record *rec)
{
	size_t body = record_body_bytes(b, rec);

	if (body == 0)
		return -EINVAL;
	size_t total = sluice_varint_size((int32_t)body) + body;

	/* An empty batch that cannot take the record never will: -EMSGSIZE tells the caller
	 * not to seal and retry. */
	if (b->buf == NULL || total > b->cap - b->len || b->len + total > SLUICE_RB_MAX_BATCH_BYTES)
		return b->count == 0 ? -EMSGSIZE : -ENOSPC;

	int64_t ts_delta = b->count > 0 ? rec->timestamp - b->base_timestamp : 0;
	uint8_t *w = b->buf + b->len;

	w += varint_enc((int32_t)body, w);
	*w++ = 0; /* record attributes: unused in v2 */
	w += varlong_enc(ts_delta, w);
	w += varint_enc(b->count, w);
	w = put_bytes(w, rec->key, rec->key_len);
	w = put_bytes(w, rec->value, rec->value_len);
	w += varint_enc((int32_t)rec->header_count, w);
	for (uint32_t i = 0; i < rec->header_count; i++) {
		w = put_bytes(w, rec->headers[i].key, rec->headers[i].key_len);
		w = put_bytes(w, rec->headers[i].value, rec->headers[i].value_len);
	}

	note_timestamp(b, rec->timestamp);
	b->len += total;
	b->count++;
	return 0;
}

/* Body size for append_raw (everything after the length varint), or 0 when invalid. */
static size_t raw_body_bytes(const struct sluice_rb_builder *b, const struct sluice_rb_record *rec)
{
	int64_t ts_delta = 0;

	if (rec->tail_raw == NULL || rec->tail_raw_len < 3 || b->count == INT32_MAX)
		return 0;
	if (b->count > 0 && __builtin_sub_overflow(rec->timestamp, b->base_timestamp, &ts_delta))
		return 0;
	uint64_t n = 1 + sluice_varlong_size(ts_delta) + sluice_varint_size(b->count) +
		(uint64_t)rec->tail_raw_len;

	return n > INT32_MAX ? 0 : (size_t)n;
}

size_t sluice_rb_builder_record_bytes_raw(const struct sluice_rb_builder *b,
					  const struct sluice_rb_record *rec)
{
	size_t body = raw_body_bytes(b, rec);

	return body ? sluice_varint_size((int32_t)body) + body : 0;
}

int sluice_rb_builder_append_raw(struct sluice_rb_builder *b, const struct sluice_rb_record *rec)
{
	size_t body = raw_body_bytes(b, rec);

	if (body == 0)
		return -EINVAL;
	size_t total = sluice_varint_size((int32_t)body) + body;

	if (b->buf == NULL || total > b->cap - b->len || b->len + total > SLUICE_RB_MAX_BATCH_BYTES)
		return b->count == 0 ? -EMSGSIZE : -ENOSPC;

	uint8_t *w = b->buf + b->len;

	w += varint_enc((int32_t)body, w);
	*w++ = 0;
	w += varlong_enc(b->count > 0 ? rec->timestamp - b->base_timestamp : 0, w);
	w += varint_enc(b->count, w);
	memcpy(w, rec->tail_raw, rec->tail_raw_len);
	note_timestamp(b, rec->timestamp);
	b->len += total;
	b->count++;
	return 0;
}

size_t sluice_rb_builder_seal(struct sluice_rb_builder *b)
{
	uint8_t *h = b->buf;

	if (b->count == 0 || h == NULL)
		return 0;
	sluice_be64_put(h + OFF_BASE_OFFSET, (uint64_t)b->meta.base_offset);
	sluice_be32_put(h + OFF_BATCH_LENGTH, (uint32_t)(b->len - SLUICE_RB_LOG_OVERHEAD));
	sluice_be32_put(h + OFF_LEADER_EPOCH, (uint32_t)b->meta.partition_leader_epoch);
	h[OFF_MAGIC] = SLUICE_RB_MAGIC;
	h[OFF_ATTRIBUTES] = (uint8_t)((uint16_t)b->meta.attributes >> 8);
	h[OFF_ATTRIBUTES + 1] = (uint8_t)b->meta.attributes;
	sluice_be32_put(h + OFF_LAST_OFFSET_DELTA, (uint32_t)(b->count - 1));
	sluice_be64_put(h + OFF_BASE_TIMESTAMP, (uint64_t)b->base_timestamp);
	sluice_be64_put(h + OFF_MAX_TIMESTAMP, (uint64_t)b->max_timestamp);
	sluice_be64_put(h + OFF_PRODUCER_ID, (uint64_t)b->meta.producer_id);
	h[OFF_PRODUCER_EPOCH] = (uint8_t)((uint16_t)b->meta.producer_epoch >> 8);
	h[OFF_PRODUCER_EPOCH + 1] = (uint8_t)b->meta.producer_epoch;
	sluice_be32_put(h + OFF_BASE_SEQUENCE, (uint32_t)b->meta.base_sequence);
	sluice_be32_put(h + OFF_RECORD_COUNT, (uint32_t)b->count);
	sluice_be32_put(h + OFF_CRC,
			sluice_crc32c(0, h + SLUICE_RB_CRC_START, b->len - SLUICE_RB_CRC_START));
	return b->len;
}

/* ---------------------------------------------------------------------------------------- */
/* Validator and iterators                                                                    */

static int16_t be16_get(const uint8_t *p)
{
	return (int16_t)(uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

enum sluice_rb_err sluice_rb_header_decode(const uint8_t *buf, size_t len,
					   struct sluice_rb_header *h)
{
	if (buf == NULL || len < SLUICE_RB_HEADER_BYTES)
		return SLUICE_RB_ETRUNCATED;
	h->base_offset = (int64_t)sluice_be64_get(buf + OFF_BASE_OFFSET);
	h->batch_length = (int32_t)sluice_be32_get(buf + OFF_BATCH_LENGTH);
	h->partition_leader_epoch = (int32_t)sluice_be32_get(buf + OFF_LEADER_EPOCH);
	h->magic = (int8_t)buf[OFF_MAGIC];
	h->crc = sluice_be32_get(buf + OFF_CRC);
	h->attributes = be16_get(buf + OFF_ATTRIBUTES);
	h->last_offset_delta = (int32_t)sluice_be32_get(buf + OFF_LAST_OFFSET_DELTA);
	h->base_timestamp = (int64_t)sluice_be64_get(buf + OFF_BASE_TIMESTAMP);
	h->max_timestamp = (int64_t)sluice_be64_get(buf + OFF_MAX_TIMESTAMP);
	h->producer_id = (int64_t)sluice_be64_get(buf + OFF_PRODUCER_ID);
	h->producer_epoch = be16_get(buf + OFF_PRODUCER_EPOCH);
	h->base_sequence = (int32_t)sluice_be32_get(buf + OFF_BASE_SEQUENCE);
	h->record_count = (int32_t)sluice_be32_get(buf + OFF_RECORD_COUNT);

	/* Length before magic: in a torn log tail the length is what tells garbage apart. */
	if (h->batch_length < SLUICE_RB_HEADER_BYTES - SLUICE_RB_LOG_OVERHEAD ||
	    (uint32_t)h->batch_length > SLUICE_RB_MAX_BATCH_BYTES - SLUICE_RB_LOG_OVERHEAD)
		return SLUICE_RB_ELENGTH;
	if (h->magic != SLUICE_RB_MAGIC)
		return SLUICE_RB_EMAGIC;
	return SLUICE_RB_OK;
}

/* Parse a length-prefixed field (-1 = null when nullable) inside [*pp, end). */
/* Inlined into record_parse: three or more calls per record on the dataplane's hot path. */
static inline __attribute__((always_inline)) enum sluice_rb_err field_parse(
	const uint8_t **pp, const uint8_t *end, bool nullable, const uint8_t **data, int32_t *len)
{
	const uint8_t *p = *pp;
	size_t n = varint_dec(p, (size_t)(end - p), len);

	if (n == 0)
		return SLUICE_RB_EVARINT;
	p += n;
	if (*len < (nullable ? -1 : 0) || (*len > 0 && (size_t)*len > (size_t)(end - p)))
		return SLUICE_RB_EFIELD_LENGTH;
	*data = *len >= 0 ? p : NULL;
	if (*len > 0)
		p += *len;
	*pp = p;
	return SLUICE_RB_OK;
}

/*
 * Parse one record at *pp, which must lie within [*pp, end). On success, advance *pp past
 * it and fill rec (timestamp and offset hold the raw deltas). Shared by the validator and
 * the iterator, so that what validates is exactly what iterates.
 */
static enum sluice_rb_err record_parse(const uint8_t **pp, const uint8_t *end,
				       struct sluice_rb_record *rec, int32_t *offset_delta)
{
	const uint8_t *p = *pp;
	int32_t body;
	size_t n = varint_dec(p, (size_t)(end - p), &body);
	enum sluice_rb_err e;

	if (n == 0)
		return SLUICE_RB_EVARINT;
	p += n;
	if (body < RECORD_MIN_BODY || (size_t)body > (size_t)(end - p))
		return SLUICE_RB_ERECORD_LENGTH;
	const uint8_t *rend = p + body;

	p++; /* record attributes: unused in v2 */
	n = varlong_dec(p, (size_t)(rend - p), &rec->timestamp);
	if (n == 0)
		return SLUICE_RB_EVARINT;
	p += n;
	n = varint_dec(p, (size_t)(rend - p), offset_delta);
	if (n == 0)
		return SLUICE_RB_EVARINT;
	p += n;
	rec->tail_raw = p;
	rec->tail_raw_len = (size_t)(rend - p);
	e = field_parse(&p, rend, true, &rec->key, &rec->key_len);
	if (e != SLUICE_RB_OK)
		return e;
	e = field_parse(&p, rend, true, &rec->value, &rec->value_len);
	if (e != SLUICE_RB_OK)
		return e;
	int32_t hcount;

	n = varint_dec(p, (size_t)(rend - p), &hcount);
	if (n == 0)
		return SLUICE_RB_EVARINT;
	p += n;
	/* Bound the count by the bytes left before walking, so a huge count costs nothing. */
	if (hcount < 0 || (size_t)hcount > (size_t)(rend - p) / HEADER_MIN_BYTES)
		return SLUICE_RB_EFIELD_LENGTH;
	rec->headers = NULL;
	rec->header_count = (uint32_t)hcount;
	rec->headers_raw = p;
	for (int32_t i = 0; i < hcount; i++) {
		const uint8_t *d;
		int32_t l;

		e = field_parse(&p, rend, false, &d, &l);
		if (e != SLUICE_RB_OK)
			return e;
		e = field_parse(&p, rend, true, &d, &l);
		if (e != SLUICE_RB_OK)
			return e;
	}
	rec->headers_raw_len = (size_t)(p - rec->headers_raw);
	if (p != rend)
		return SLUICE_RB_ERECORD_LENGTH;
	*pp = p;
	return SLUICE_RB_OK;
}

/*
 * The validator, and the single-pass decoder when recs is given: each record is parsed once,
 * into recs[i] while i < cap (with the iterator's absolute offset and timestamp), else into a
 * local. One body for both, so that the two cannot disagree on any input.
 */
static inline enum sluice_rb_err batch_check(const uint8_t *buf, size_t len,
					     struct sluice_rb_header *h, size_t *batch_bytes,
					     struct sluice_rb_record *recs, uint32_t cap)
{
	enum sluice_rb_err e;

	e = sluice_rb_header_decode(buf, len, h);
	if (e != SLUICE_RB_OK)
		return e;
	size_t total = SLUICE_RB_LOG_OVERHEAD + (size_t)h->batch_length;

	if (len < total)
		return SLUICE_RB_ETRUNCATED;
	/* CRC before anything it covers: a flipped bit reads as corruption, not as a field. */
	if (sluice_crc32c(0, buf + SLUICE_RB_CRC_START, total - SLUICE_RB_CRC_START) != h->crc)
		return SLUICE_RB_ECRC;
	if (h->attributes & SLUICE_RB_ATTR_COMPRESSION_MASK)
		return SLUICE_RB_ECOMPRESSED;
	/* sluice never writes an empty batch, and no producer sends one. */
	if (h->record_count <= 0)
		return SLUICE_RB_ECOUNT;

	const uint8_t *p = buf + SLUICE_RB_HEADER_BYTES;
	const uint8_t *end = buf + total;
	bool log_append = (h->attributes & SLUICE_RB_ATTR_TIMESTAMP_LOG_APPEND) != 0;

	if ((uint32_t)h->record_count > cap)
		recs = NULL; /* the caller iterates; validate only */
	for (int32_t i = 0; i < h->record_count; i++) {
		struct sluice_rb_record local;
		struct sluice_rb_record *rec = recs ? &recs[i] : &local;
		int32_t od;
		int64_t ts;

		if (p == end)
			return SLUICE_RB_ECOUNT;
		e = record_parse(&p, end, rec, &od);
		if (e != SLUICE_RB_OK)
			return e;
		if (od != i)
			return SLUICE_RB_EOFFSET_DELTA;
		if (__builtin_add_overflow(h->base_timestamp, rec->timestamp, &ts))
			return SLUICE_RB_ETIMESTAMP;
		if (!log_append && ts > h->max_timestamp)
			return SLUICE_RB_ETIMESTAMP;
		/* As sluice_rb_record_iter_next() reports them (no overflow: checked above and
		 * below, and od == i). */
		rec->timestamp = log_append ? h->max_timestamp : ts;
		rec->offset = (int64_t)((uint64_t)h->base_offset + (uint64_t)i);
	}
	if (p != end)
		return SLUICE_RB_ECOUNT;
	int64_t last;

	if (h->last_offset_delta != h->record_count - 1)
		return SLUICE_RB_EOFFSET_DELTA;
	if (__builtin_add_overflow(h->base_offset, (int64_t)h->last_offset_delta, &last))
		return SLUICE_RB_EOFFSET_DELTA;
	if (batch_bytes != NULL)
		*batch_bytes = total;
	return SLUICE_RB_OK;
}

enum sluice_rb_err sluice_rb_batch_validate(const uint8_t *buf, size_t len,
					    struct sluice_rb_header *h, size_t *batch_bytes)
{
	struct sluice_rb_header local;

	return batch_check(buf, len, h ? h : &local, batch_bytes, NULL, 0);
}

enum sluice_rb_err sluice_rb_batch_decode(const uint8_t *buf, size_t len,
					  struct sluice_rb_header *h, size_t *batch_bytes,
					  struct sluice_rb_record *recs, uint32_t cap,
					  uint32_t *nrecs)
{
	struct sluice_rb_header local;

	if (h == NULL)
		h = &local;
	enum sluice_rb_err e = batch_check(buf, len, h, batch_bytes, recs, recs ? cap : 0);

	if (nrecs != NULL)
		*nrecs = e == SLUICE_RB_OK && recs != NULL && (uint32_t)h->record_count <= cap
			? (uint32_t)h->record_count
			: 0;
	return e;
}

enum sluice_rb_err sluice_rb_range_validate(const uint8_t *buf, size_t len, int64_t expected_offset,
					    size_t *valid_bytes, int64_t *next_offset)
{
	size_t pos = 0;
	enum sluice_rb_err e = SLUICE_RB_OK;

	while (pos < len) {
		struct sluice_rb_header h;
		size_t n;

		e = sluice_rb_batch_validate(buf + pos, len - pos, &h, &n);
		if (e != SLUICE_RB_OK)
			break;
		if (expected_offset >= 0 && h.base_offset != expected_offset) {
			e = SLUICE_RB_EOFFSET_ORDER;
			break;
		}
		expected_offset = h.base_offset + h.last_offset_delta + 1;
		pos += n;
	}
	if (valid_bytes != NULL)
		*valid_bytes = pos;
	if (next_offset != NULL)
		*next_offset = expected_offset;
	return e;
}

void sluice_rb_set_base_offset(uint8_t *batch, int64_t base_offset)
{
	sluice_be64_put(batch + OFF_BASE_OFFSET, (uint64_t)base_offset);
}

void sluice_rb_record_iter_init(struct sluice_rb_record_iter *it, const uint8_t *batch,
				size_t batch_bytes)
{
	memset(it, 0, sizeof(*it));
	if (batch == NULL || batch_bytes < SLUICE_RB_HEADER_BYTES) {
		it->p = it->end = batch;
		return;
	}
	int16_t attributes = be16_get(batch + OFF_ATTRIBUTES);
	int32_t count = (int32_t)sluice_be32_get(batch + OFF_RECORD_COUNT);

	it->p = batch + SLUICE_RB_HEADER_BYTES;
	it->end = batch + batch_bytes;
	it->base_offset = (int64_t)sluice_be64_get(batch + OFF_BASE_OFFSET);
	it->base_timestamp = (int64_t)sluice_be64_get(batch + OFF_BASE_TIMESTAMP);
	it->remaining = count > 0 ? count : 0;
	/* With LogAppendTime, every record's timestamp is the batch's maxTimestamp (Kafka). */
	it->log_append_time = (attributes & SLUICE_RB_ATTR_TIMESTAMP_LOG_APPEND) != 0;
	it->max_timestamp = (int64_t)sluice_be64_get(batch + OFF_MAX_TIMESTAMP);
}

int sluice_rb_record_iter_next(struct sluice_rb_record_iter *it, struct sluice_rb_record *rec)
{
	int32_t od;
	enum sluice_rb_err e;

	if (it->remaining <= 0)
		return 0;
	if (it->p >= it->end) {
		it->remaining = 0;
		return -SLUICE_RB_ECOUNT;
	}
	e = record_parse(&it->p, it->end, rec, &od);
	if (e != SLUICE_RB_OK) {
		it->remaining = 0; /* a malformed batch ends iteration for good */
		return -(int)e;
	}
	/* Wrapping arithmetic: an unvalidated batch may hold any deltas. */
	rec->offset = (int64_t)((uint64_t)it->base_offset + (uint64_t)(int64_t)od);
	rec->timestamp = it->log_append_time
		? it->max_timestamp
		: (int64_t)((uint64_t)it->base_timestamp + (uint64_t)rec->timestamp);
	it->remaining--;
	return 1;
}

int sluice_rb_record_header(const struct sluice_rb_record *rec, uint32_t idx,
			    struct sluice_rb_kv *out)
{
	const uint8_t *p = rec->headers_raw;
	const uint8_t *end = p + rec->headers_raw_len;
	enum sluice_rb_err e;

	if (idx >= rec->header_count || p == NULL)
		return -SLUICE_RB_EFIELD_LENGTH;
	for (uint32_t i = 0; i <= idx; i++) {
		e = field_parse(&p, end, false, &out->key, &out->key_len);
		if (e != SLUICE_RB_OK)
			return -(int)e;
		e = field_parse(&p, end, true, &out->value, &out->value_len);
		if (e != SLUICE_RB_OK)
			return -(int)e;
	}
	return 0;
}

void sluice_rb_header_iter_init(struct sluice_rb_header_iter *it,
				const struct sluice_rb_record *rec)
{
	it->p = rec->headers_raw;
	it->end = rec->headers_raw ? rec->headers_raw + rec->headers_raw_len : NULL;
	it->remaining = rec->headers_raw ? rec->header_count : 0;
}

int sluice_rb_header_iter_next(struct sluice_rb_header_iter *it, struct sluice_rb_kv *out)
{
	enum sluice_rb_err e;

	if (it->remaining == 0)
		return 0;
	e = field_parse(&it->p, it->end, false, &out->key, &out->key_len);
	if (e == SLUICE_RB_OK)
		e = field_parse(&it->p, it->end, true, &out->value, &out->value_len);
	if (e != SLUICE_RB_OK) {
		it->remaining = 0;
		return -(int)e;
	}
	it->remaining--;
	return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* The `kafka` wire format envelope                                                           */

#define ENVELOPE_FLAG_ACK 0x01

void sluice_envelope_encode(uint8_t *out, int32_t partition)
{
	out[0] = (uint8_t)(SLUICE_ENVELOPE_MAGIC >> 8);
	out[1] = (uint8_t)SLUICE_ENVELOPE_MAGIC;
	out[2] = SLUICE_ENVELOPE_VERSION;
	out[3] = 0;
	sluice_be32_put(out + 4, (uint32_t)partition);
}

void sluice_envelope_encode_flags(uint8_t *out, int32_t partition, uint8_t flags)
{
	sluice_envelope_encode(out, partition);
	out[3] = flags;
}

static void be16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static bool ack_range_ok(const struct sluice_ack_range *r)
{
	return r->base >= 0 && r->end > r->base;
}

size_t sluice_ack_encode(const struct sluice_ack *a, uint8_t *out)
{
	uint8_t *p = out + SLUICE_ACK_HEADER_BYTES;

	if (a->producer_id < 0 || a->epoch < 0 || a->partition < 0 || a->durable_next < 0 ||
	    a->ndurable > SLUICE_ACK_MAX_RANGES || a->nresend > SLUICE_ACK_MAX_RANGES)
		return 0;
	be16_put(out, SLUICE_ACK_MAGIC);
	out[2] = SLUICE_ACK_VERSION;
	out[3] = 0;
	sluice_be64_put(out + 4, (uint64_t)a->producer_id);
	be16_put(out + 12, (uint16_t)a->epoch);
	out[14] = a->ndurable;
	out[15] = a->nresend;
	sluice_be32_put(out + 16, (uint32_t)a->partition);
	sluice_be32_put(out + 20, (uint32_t)a->durable_next);
	sluice_be32_put(out + 24, a->window);
	for (unsigned i = 0; i < a->ndurable + a->nresend; i++) {
		const struct sluice_ack_range *r =
			i < a->ndurable ? &a->durable[i] : &a->resend[i - a->ndurable];
		if (!ack_range_ok(r))
			return 0;
		sluice_be32_put(p, (uint32_t)r->base);
		sluice_be32_put(p + 4, (uint32_t)r->end);
		p += 8;
	}
	return (size_t)(p - out);
}

int sluice_ack_decode(const uint8_t *buf, size_t len, struct sluice_ack *out)
{
	if (buf == NULL || len < SLUICE_ACK_HEADER_BYTES)
		return -EMSGSIZE;
	if ((uint16_t)be16_get(buf) != SLUICE_ACK_MAGIC || buf[2] != SLUICE_ACK_VERSION ||
	    buf[3] != 0)
		return -EPROTO;
	memset(out, 0, sizeof(*out));
	out->ndurable = buf[14];
	out->nresend = buf[15];
	if (out->ndurable > SLUICE_ACK_MAX_RANGES || out->nresend > SLUICE_ACK_MAX_RANGES)
		return -EINVAL;
	if (len != SLUICE_ACK_HEADER_BYTES + 8u * (out->ndurable + out->nresend))
		return -EMSGSIZE;
	out->producer_id = (int64_t)sluice_be64_get(buf + 4);
	out->epoch = (int16_t)be16_get(buf + 12);
	out->partition = (int32_t)sluice_be32_get(buf + 16);
	out->durable_next = (int32_t)sluice_be32_get(buf + 20);
	out->window = sluice_be32_get(buf + 24);
	if (out->producer_id < 0 || out->epoch < 0 || out->partition < 0 || out->durable_next < 0)
		return -EINVAL;
	const uint8_t *p = buf + SLUICE_ACK_HEADER_BYTES;
	for (unsigned i = 0; i < (unsigned)out->ndurable + out->nresend; i++, p += 8) {
		struct sluice_ack_range *r =
			i < out->ndurable ? &out->durable[i] : &out->resend[i - out->ndurable];
		r->base = (int32_t)sluice_be32_get(p);
		r->end = (int32_t)sluice_be32_get(p + 4);
		if (!ack_range_ok(r) || (i < out->ndurable && r->base <= out->durable_next))
			return -EINVAL;
	}
	return 0;
}

int sluice_envelope_decode(const uint8_t *buf, size_t len, int32_t *partition)
{
	if (buf == NULL || len < SLUICE_ENVELOPE_BYTES)
		return -EMSGSIZE;
	if ((((unsigned)buf[0] << 8) | buf[1]) != SLUICE_ENVELOPE_MAGIC ||
	    buf[2] != SLUICE_ENVELOPE_VERSION)
		return -EPROTO;
	/* Unknown flags mean a newer producer whose semantics we would get wrong. */
	if (buf[3] & ~ENVELOPE_FLAG_ACK)
		return -EPROTO;
	int32_t p = (int32_t)sluice_be32_get(buf + 4);

	if (p < -1)
		return -EINVAL;
	*partition = p;
	return 0;
}
