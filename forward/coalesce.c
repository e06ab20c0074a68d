/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The coalescer: consecutive durable log batches of one partition become one Kafka
 * RecordBatch v2, in one linear pass and without per-record allocation.
 *
 * A record's bytes are: varint length, int8 attributes, varlong timestampDelta, varint
 * offsetDelta, then key, value and headers as encoded. Coalescing rewrites only the two
 * deltas (and so the length); the rest is copied as is. Where the deltas do not change (the
 * records of the first source batch, when the Kafka batch starts with it) whole runs of
 * records are copied with one memcpy. The header fields, the producer id/epoch/base
 * sequence and the CRC32C are written at the end (coal_seal), optionally after compressing
 * the records with zstd or lz4 (Kafka's framing: a zstd frame; an LZ4 frame with
 * independent 64 KiB blocks, as librdkafka and the Java client write them).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>
#include <zstd.h>

#include "forward_internal.h"
#include "sluice_text.h"

/* Byte positions in a RecordBatch v2 (see sluice_record.h). */
#define OFF_LENGTH 8
#define OFF_LEADER_EPOCH 12
#define OFF_MAGIC 16
#define OFF_CRC 17
#define OFF_ATTRIBUTES 21
#define OFF_LAST_DELTA 23
#define OFF_BASE_TS 27
#define OFF_MAX_TS 35
#define OFF_PRODUCER_ID 43
#define OFF_EPOCH 51
#define OFF_BASE_SEQ 53
#define OFF_COUNT 57

/* Varints: records are mostly one-byte deltas, settled inline; the rest goes to the shared
 * codec in storage/record.c. */
static inline size_t vi_dec(const uint8_t *p, const uint8_t *end, int32_t *v)
{
	if (p < end && p[0] < 0x80) {
		*v = (int32_t)((p[0] >> 1) ^ -(p[0] & 1));
		return 1;
	}
	return sluice_varint_decode(p, (size_t)(end - p), v);
}

static inline size_t vl_dec(const uint8_t *p, const uint8_t *end, int64_t *v)
{
	if (p < end && p[0] < 0x80) {
		*v = (int64_t)((p[0] >> 1) ^ -(p[0] & 1));
		return 1;
	}
	return sluice_varlong_decode(p, (size_t)(end - p), v);
}

static inline uint8_t *vi_put(uint8_t *w, int32_t v)
{
	if (v >= 0 && v < 64) {
		*w = (uint8_t)(v << 1);
		return w + 1;
	}
	return w + sluice_varint_encode(v, w);
}

static inline uint8_t *vl_put(uint8_t *w, int64_t v)
{
	if (v >= 0 && v < 64) {
		*w = (uint8_t)(v << 1);
		return w + 1;
	}
	return w + sluice_varlong_encode(v, w);
}

void coal_src_init(struct coal_src *s, const uint8_t *batch, size_t len)
{
	s->rec = batch + SLUICE_RB_HEADER_BYTES;
	s->end = batch + len;
	s->base_offset = (int64_t)sluice_be64_get(batch);
	s->base_ts = (int64_t)sluice_be64_get(batch + OFF_BASE_TS);
	s->max_ts = (int64_t)sluice_be64_get(batch + OFF_MAX_TS);
	s->remaining = (int32_t)sluice_be32_get(batch + OFF_COUNT);
	s->next_offset = s->base_offset;
	s->log_append_time = (batch[OFF_ATTRIBUTES + 1] & SLUICE_RB_ATTR_TIMESTAMP_LOG_APPEND) != 0;
}

/* The framing of the record at s->rec. */
struct rec_frame {
	const uint8_t *next; /* first byte after the record */
	const uint8_t *rest; /* key length onwards */
	int64_t ts;
	uint8_t attributes;
};

static int frame_parse(const struct coal_src *s, struct rec_frame *f)
{
	const uint8_t *p = s->rec, *body, *end = s->end;
	int32_t len, od;
	int64_t tsd;
	size_t n;

	n = vi_dec(p, end, &len);
	if (n == 0 || len < 3 || (size_t)len > (size_t)(end - p - (ptrdiff_t)n))
		return -EBADMSG;
	body = p + n;
	f->next = body + len;
	f->attributes = body[0];
	n = vl_dec(body + 1, f->next, &tsd);
	if (n == 0)
		return -EBADMSG;
	p = body + 1 + n;
	n = vi_dec(p, f->next, &od);
	if (n == 0)
		return -EBADMSG;
	f->rest = p + n;
	f->ts = s->log_append_time ? s->max_ts : s->base_ts + tsd;
	return 0;
}

int coal_src_seek(struct coal_src *s, int64_t offset)
{
	while (s->remaining > 0 && s->next_offset < offset) {
		struct rec_frame f;

		if (frame_parse(s, &f))
			return -EBADMSG;
		s->rec = f.next;
		s->remaining--;
		s->next_offset++;
	}
	return 0;
}

void coal_begin(struct coal *c, uint8_t *buf, size_t cap, int64_t base_offset,
		const struct coal_hdrs *hdrs)
{
	c->buf = buf;
	c->cap = cap;
	c->len = SLUICE_RB_HEADER_BYTES;
	c->count = 0;
	c->base_offset = base_offset;
	c->base_ts = 0;
	c->max_ts = INT64_MIN;
	c->hdrs = hdrs;
}

/* Where the header count sits in a record's key/value/headers bytes. */
static int headers_split(const uint8_t *rest, const uint8_t *end, const uint8_t **count_at,
			 int32_t *count, const uint8_t **headers)
{
	const uint8_t *p = rest;
	int32_t len;
	size_t n;

	for (int i = 0; i < 2; i++) { /* key, value */
		n = vi_dec(p, end, &len);
		if (n == 0 || len < -1 ||
		    (len > 0 && (size_t)len > (size_t)(end - p - (ptrdiff_t)n)))
			return -EBADMSG;
		p += n + (len > 0 ? (size_t)len : 0);
	}
	*count_at = p;
	n = vi_dec(p, end, count);
	if (n == 0 || *count < 0 || *count > INT32_MAX - 4)
		return -EBADMSG;
	*headers = p + n;
	return 0;
}

static size_t kv_size(size_t klen, size_t vlen)
{
	return sluice_varint_size((int32_t)klen) + klen + sluice_varint_size((int32_t)vlen) + vlen;
}

static uint8_t *kv_put(uint8_t *w, const char *k, size_t klen, const char *v, size_t vlen)
{
	w = vi_put(w, (int32_t)klen);
	memcpy(w, k, klen);
	w += klen;
	w = vi_put(w, (int32_t)vlen);
	memcpy(w, v, vlen);
	return w + vlen;
}

/* One record with the four sluice.* headers appended (the slow, optional path). */
static int take_with_headers(struct coal *c, const struct coal_src *s, const struct rec_frame *f,
			     uint8_t **wp, uint8_t *wend)
{
	static const char *const names[4] = {SLUICE_FWD_HDR_TOPIC, SLUICE_FWD_HDR_PARTITION,
					     SLUICE_FWD_HDR_OFFSET, SLUICE_FWD_HDR_APPLIANCE};
	const uint8_t *count_at, *headers;
	const char *vals[4];
	size_t vlens[4], extra = 0, nlen;
	char off[24];
	int32_t count;
	int64_t ntsd = f->ts - c->base_ts;
	uint8_t *w = *wp;

	if (headers_split(f->rest, f->next, &count_at, &count, &headers))
		return -EBADMSG;
	vals[0] = c->hdrs->topic;
	vals[1] = c->hdrs->partition;
	vals[2] = off;
	vals[3] = c->hdrs->appliance;
	vlens[2] = sluice_u64_dec((uint64_t)s->next_offset, off);
	for (int i = 0; i < 4; i++) {
		if (i != 2)
			vlens[i] = strlen(vals[i]);
		extra += kv_size(strlen(names[i]), vlens[i]);
	}
	nlen = 1 + sluice_varlong_size(ntsd) + sluice_varint_size(c->count) +
		(size_t)(count_at - f->rest) + sluice_varint_size(count + 4) +
		(size_t)(f->next - headers) + extra;
	if (nlen > INT32_MAX || (size_t)(wend - w) < sluice_varint_size((int32_t)nlen) + nlen)
		return 0;
	w = vi_put(w, (int32_t)nlen);
	*w++ = f->attributes;
	w = vl_put(w, ntsd);
	w = vi_put(w, c->count);
	memcpy(w, f->rest, (size_t)(count_at - f->rest));
	w += count_at - f->rest;
	w = vi_put(w, count + 4);
	memcpy(w, headers, (size_t)(f->next - headers));
	w += f->next - headers;
	for (int i = 0; i < 4; i++)
		w = kv_put(w, names[i], strlen(names[i]), vals[i], vlens[i]);
	*wp = w;
	return 1;
}

int coal_take(struct coal *c, struct coal_src *s, uint32_t max_records)
{
	uint8_t *w = c->buf + c->len, *wend = c->buf + c->cap;
	int taken = 0;

	while (s->remaining > 0 && (uint32_t)c->count < max_records) {
		struct rec_frame f;
		int64_t ntsd;
		size_t rest_len, nlen;

		if (frame_parse(s, &f))
			return -EBADMSG;
		if (c->count == 0) {
			c->base_ts = f.ts;
			c->max_ts = f.ts;
		}
		/* Fast path: the deltas are already right, so are the bytes of every record
		 * up to where the batch is full: copy them in one run. */
		if (!c->hdrs && !s->log_append_time && c->base_ts == s->base_ts &&
		    (int64_t)c->count == s->next_offset - s->base_offset) {
			const uint8_t *from = s->rec, *p = s->rec;
			int64_t max_ts = c->max_ts;
			int32_t n = 0;

			while (s->remaining - n > 0 && (uint32_t)(c->count + n) < max_records) {
				struct coal_src at = *s;

				at.rec = p;
				if (frame_parse(&at, &f))
					return -EBADMSG;
				if (f.next - from > wend - w)
					break;
				if (f.ts > max_ts)
					max_ts = f.ts;
				p = f.next;
				n++;
			}
			if (n == 0) {
				if (c->count == 0)
					return -EMSGSIZE;
				break;
			}
			memcpy(w, from, (size_t)(p - from));
			w += p - from;
			c->count += n;
			c->max_ts = max_ts;
			s->rec = p;
			s->remaining -= n;
			s->next_offset += n;
			taken += n;
			continue;
		}
		ntsd = f.ts - c->base_ts;
		if (c->hdrs) {
			int rc = take_with_headers(c, s, &f, &w, wend);

			if (rc < 0)
				return rc;
			if (rc == 0) {
				if (c->count == 0)
					return -EMSGSIZE;
				break;
			}
		} else {
			rest_len = (size_t)(f.next - f.rest);
			nlen = 1 + sluice_varlong_size(ntsd) + sluice_varint_size(c->count) +
				rest_len;
			if (nlen > INT32_MAX ||
			    (size_t)(wend - w) < sluice_varint_size((int32_t)nlen) + nlen) {
				if (c->count == 0)
					return -EMSGSIZE;
				break;
			}
			w = vi_put(w, (int32_t)nlen);
			*w++ = f.attributes;
			w = vl_put(w, ntsd);
			w = vi_put(w, c->count);
			memcpy(w, f.rest, rest_len);
			w += rest_len;
		}
		if (f.ts > c->max_ts)
			c->max_ts = f.ts;
		c->count++;
		s->rec = f.next;
		s->remaining--;
		s->next_offset++;
		taken++;
	}
	c->len = (size_t)(w - c->buf);
	return taken;
}

/* ---------------------------------------------------------------------------------------- */
/* Sealing and compression                                                                    */

struct coal_codec {
	int codec;
	int level;
	ZSTD_CCtx *zstd;
	LZ4F_cctx *lz4;
	LZ4F_preferences_t lz4_prefs;
};

int coal_codec_create(int codec, int level, struct coal_codec **out)
{
	struct coal_codec *z;

	*out = NULL;
	if (codec != SLUICE_FWD_COMPRESS_NONE && codec != SLUICE_FWD_COMPRESS_LZ4 &&
	    codec != SLUICE_FWD_COMPRESS_ZSTD)
		return -EINVAL;
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	z->codec = codec;
	z->level = level;
	if (codec == SLUICE_FWD_COMPRESS_ZSTD) {
		z->zstd = ZSTD_createCCtx();
		if (!z->zstd)
			goto fail;
	} else if (codec == SLUICE_FWD_COMPRESS_LZ4) {
		if (LZ4F_isError(LZ4F_createCompressionContext(&z->lz4, LZ4F_VERSION)))
			goto fail;
		memset(&z->lz4_prefs, 0, sizeof(z->lz4_prefs));
		z->lz4_prefs.frameInfo.blockSizeID = LZ4F_max64KB;
		z->lz4_prefs.frameInfo.blockMode = LZ4F_blockIndependent;
		z->lz4_prefs.compressionLevel = level;
	}
	*out = z;
	return 0;
fail:
	coal_codec_destroy(z);
	return -ENOMEM;
}

void coal_codec_destroy(struct coal_codec *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->zstd);
	if (z->lz4)
		LZ4F_freeCompressionContext(z->lz4);
	free(z);
}

size_t coal_codec_bound(const struct coal_codec *z, size_t records_len)
{
	if (!z || z->codec == SLUICE_FWD_COMPRESS_NONE)
		return SLUICE_RB_HEADER_BYTES + records_len;
	if (z->codec == SLUICE_FWD_COMPRESS_ZSTD)
		return SLUICE_RB_HEADER_BYTES + ZSTD_compressBound(records_len);
	return SLUICE_RB_HEADER_BYTES + LZ4F_compressFrameBound(records_len, &z->lz4_prefs);
}

static size_t compress(struct coal_codec *z, const uint8_t *src, size_t len, uint8_t *dst,
		       size_t cap)
{
	size_t n;

	if (z->codec == SLUICE_FWD_COMPRESS_ZSTD) {
		n = ZSTD_compressCCtx(z->zstd, dst, cap, src, len,
				      z->level ? z->level : ZSTD_CLEVEL_DEFAULT);
		return ZSTD_isError(n) ? 0 : n;
	}
	{
		size_t pos;

		n = LZ4F_compressBegin(z->lz4, dst, cap, &z->lz4_prefs);
		if (LZ4F_isError(n))
			return 0;
		pos = n;
		n = LZ4F_compressUpdate(z->lz4, dst + pos, cap - pos, src, len, NULL);
		if (LZ4F_isError(n))
			return 0;
		pos += n;
		n = LZ4F_compressEnd(z->lz4, dst + pos, cap - pos, NULL);
		return LZ4F_isError(n) ? 0 : pos + n;
	}
}

static void header_put(uint8_t *h, const struct coal *c, size_t total, int16_t attributes,
		       int64_t producer_id, int16_t epoch, int32_t base_sequence)
{
	sluice_be64_put(h, 0); /* baseOffset: the broker assigns it */
	sluice_be32_put(h + OFF_LENGTH, (uint32_t)(total - SLUICE_RB_LOG_OVERHEAD));
	sluice_be32_put(h + OFF_LEADER_EPOCH, UINT32_MAX); /* -1: set by the broker */
	h[OFF_MAGIC] = SLUICE_RB_MAGIC;
	h[OFF_ATTRIBUTES] = (uint8_t)((uint16_t)attributes >> 8);
	h[OFF_ATTRIBUTES + 1] = (uint8_t)attributes;
	sluice_be32_put(h + OFF_LAST_DELTA, (uint32_t)(c->count - 1));
	sluice_be64_put(h + OFF_BASE_TS, (uint64_t)c->base_ts);
	sluice_be64_put(h + OFF_MAX_TS, (uint64_t)c->max_ts);
	sluice_be64_put(h + OFF_PRODUCER_ID, (uint64_t)producer_id);
	h[OFF_EPOCH] = (uint8_t)((uint16_t)epoch >> 8);
	h[OFF_EPOCH + 1] = (uint8_t)epoch;
	sluice_be32_put(h + OFF_BASE_SEQ, (uint32_t)base_sequence);
	sluice_be32_put(h + OFF_COUNT, (uint32_t)c->count);
	sluice_be32_put(h + OFF_CRC,
			sluice_crc32c(0, h + SLUICE_RB_CRC_START, total - SLUICE_RB_CRC_START));
}

size_t coal_seal(struct coal *c, int64_t producer_id, int16_t epoch, int32_t base_sequence,
		 struct coal_codec *z, uint8_t *out, size_t out_cap, bool *in_place)
{
	size_t records_len = c->len - SLUICE_RB_HEADER_BYTES;

	*in_place = true;
	if (c->count == 0)
		return 0;
	if (z && z->codec != SLUICE_FWD_COMPRESS_NONE && out && out_cap > SLUICE_RB_HEADER_BYTES) {
		size_t n = compress(z, c->buf + SLUICE_RB_HEADER_BYTES, records_len,
				    out + SLUICE_RB_HEADER_BYTES, out_cap - SLUICE_RB_HEADER_BYTES);

		if (n > 0 && n < records_len) {
			header_put(out, c, SLUICE_RB_HEADER_BYTES + n, (int16_t)z->codec,
				   producer_id, epoch, base_sequence);
			*in_place = false;
			return SLUICE_RB_HEADER_BYTES + n;
		}
	}
	header_put(c->buf, c, c->len, 0, producer_id, epoch, base_sequence);
	return c->len;
}
