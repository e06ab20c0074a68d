/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the RecordBatch v2 validator and iterators on arbitrary bytes.
 *
 * Invariants checked (abort on violation, ASan/UBSan watch memory and arithmetic):
 *  - nothing reads outside the input (the input is copied to an exact-size heap buffer);
 *  - when the validator accepts a batch, the iterator yields exactly recordCount records and
 *    every header of every record decodes;
 *  - re-building the accepted records with the builder gives a batch the validator accepts
 *    and the iterator returns the same keys, values, headers, offsets and timestamps;
 *  - the range validator's valid prefix is made of batches the single-batch validator accepts;
 *  - the single-pass decoder (sluice_rb_batch_decode) returns the validator's reason, header
 *    and size on every input, writes nothing past the table it is given (an exact-size heap
 *    table), and on a valid batch hands out exactly the iterator's records.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static bool same_field(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
	if (alen != blen)
		return false;
	if (alen <= 0)
		return (alen < 0) == (a == NULL) && (blen < 0) == (b == NULL);
	return memcmp(a, b, (size_t)alen) == 0;
}

static void rebuild_and_compare(const uint8_t *batch, size_t bytes,
				const struct sluice_rb_header *h)
{
	size_t cap = 3 * bytes + 64;
	uint8_t *out = malloc(cap);
	struct sluice_rb_batch_meta meta = {
		.base_offset = h->base_offset,
		.attributes = h->attributes,
		.producer_id = h->producer_id,
		.producer_epoch = h->producer_epoch,
		.base_sequence = h->base_sequence,
		.partition_leader_epoch = h->partition_leader_epoch,
	};
	struct sluice_rb_builder b;
	struct sluice_rb_record_iter it;
	struct sluice_rb_record r;
	int rc;

	CHECK(out != NULL);
	CHECK(sluice_rb_builder_init(&b, out, cap, &meta) == 0);
	sluice_rb_record_iter_init(&it, batch, bytes);
	while ((rc = sluice_rb_record_iter_next(&it, &r)) == 1) {
		struct sluice_rb_kv *kv = calloc(r.header_count + 1, sizeof(*kv));

		CHECK(kv != NULL);
		for (uint32_t i = 0; i < r.header_count; i++)
			CHECK(sluice_rb_record_header(&r, i, &kv[i]) == 0);
		r.headers = kv;
		size_t want = sluice_rb_builder_record_bytes(&b, &r);
		size_t before = b.len;

		rc = sluice_rb_builder_append(&b, &r);
		free(kv);
		if (rc == -EINVAL) /* a timestamp delta the builder cannot express */
			goto out;
		CHECK(rc == 0);
		CHECK(b.len - before == want);
	}
	CHECK(rc == 0);
	size_t n = sluice_rb_builder_seal(&b);
	struct sluice_rb_header h2;
	size_t bytes2;

	CHECK(sluice_rb_batch_validate(out, n, &h2, &bytes2) == SLUICE_RB_OK);
	CHECK(bytes2 == n && h2.record_count == h->record_count);

	struct sluice_rb_record_iter a, c;
	struct sluice_rb_record ra, rb;

	sluice_rb_record_iter_init(&a, batch, bytes);
	sluice_rb_record_iter_init(&c, out, n);
	for (int32_t i = 0; i < h->record_count; i++) {
		CHECK(sluice_rb_record_iter_next(&a, &ra) == 1);
		CHECK(sluice_rb_record_iter_next(&c, &rb) == 1);
		CHECK(ra.offset == rb.offset && ra.timestamp == rb.timestamp);
		CHECK(same_field(ra.key, ra.key_len, rb.key, rb.key_len));
		CHECK(same_field(ra.value, ra.value_len, rb.value, rb.value_len));
		CHECK(ra.header_count == rb.header_count);
		for (uint32_t j = 0; j < ra.header_count; j++) {
			struct sluice_rb_kv ka, kb;

			CHECK(sluice_rb_record_header(&ra, j, &ka) == 0);
			CHECK(sluice_rb_record_header(&rb, j, &kb) == 0);
			CHECK(same_field(ka.key, ka.key_len, kb.key, kb.key_len));
			CHECK(same_field(ka.value, ka.value_len, kb.value, kb.value_len));
		}
	}
	CHECK(sluice_rb_record_iter_next(&a, &ra) == 0);
	CHECK(sluice_rb_record_iter_next(&c, &rb) == 0);

	/* Copying the encoded tails (append_raw) gives the same records again; the source may
	 * use non-minimal varints, so compare records, not bytes. */
	size_t n3;
	uint8_t *raw = malloc(cap);
	CHECK(raw != NULL);
	CHECK(sluice_rb_builder_init(&b, raw, cap, &meta) == 0);
	sluice_rb_record_iter_init(&a, batch, bytes);
	while (sluice_rb_record_iter_next(&a, &ra) == 1) {
		size_t want = sluice_rb_builder_record_bytes_raw(&b, &ra);
		size_t before = b.len;

		CHECK(sluice_rb_builder_append_raw(&b, &ra) == 0);
		CHECK(b.len - before == want);
	}
	n3 = sluice_rb_builder_seal(&b);
	CHECK(sluice_rb_batch_validate(raw, n3, &h2, &bytes2) == SLUICE_RB_OK);
	CHECK(bytes2 == n3 && h2.record_count == h->record_count);
	sluice_rb_record_iter_init(&a, batch, bytes);
	sluice_rb_record_iter_init(&c, raw, n3);
	for (int32_t i = 0; i < h->record_count; i++) {
		CHECK(sluice_rb_record_iter_next(&a, &ra) == 1);
		CHECK(sluice_rb_record_iter_next(&c, &rb) == 1);
		CHECK(ra.offset == rb.offset && ra.timestamp == rb.timestamp);
		CHECK(same_field(ra.key, ra.key_len, rb.key, rb.key_len));
		CHECK(same_field(ra.value, ra.value_len, rb.value, rb.value_len));
		CHECK(ra.header_count == rb.header_count);
		CHECK(ra.tail_raw_len == rb.tail_raw_len);
		CHECK(memcmp(ra.tail_raw, rb.tail_raw, ra.tail_raw_len) == 0);
	}
	free(raw);
out:
	free(out);
}

/* Records per decode table: small, so that batches above it (nothing decoded) occur too. */
#define DECODE_CAP 16

static void decode_compare(const uint8_t *buf, size_t size, enum sluice_rb_err want,
			   const struct sluice_rb_header *hw, size_t bytes_w)
{
	struct sluice_rb_record *recs = malloc(DECODE_CAP * sizeof(*recs));
	struct sluice_rb_header h;
	size_t bytes = 0;
	uint32_t n = 12345;

	CHECK(recs != NULL);
	enum sluice_rb_err e = sluice_rb_batch_decode(buf, size, &h, &bytes, recs, DECODE_CAP, &n);

	CHECK(e == want);
	if (e != SLUICE_RB_OK) {
		CHECK(n == 0);
		goto out;
	}
	CHECK(bytes == bytes_w && h.record_count == hw->record_count &&
	      h.base_offset == hw->base_offset && h.crc == hw->crc &&
	      h.attributes == hw->attributes && h.max_timestamp == hw->max_timestamp &&
	      h.producer_id == hw->producer_id && h.base_sequence == hw->base_sequence);
	if (h.record_count > DECODE_CAP) {
		CHECK(n == 0);
		goto out;
	}
	CHECK(n == (uint32_t)h.record_count);

	struct sluice_rb_record_iter it;
	struct sluice_rb_record r;

	sluice_rb_record_iter_init(&it, buf, bytes);
	for (uint32_t i = 0; i < n; i++) {
		CHECK(sluice_rb_record_iter_next(&it, &r) == 1);
		CHECK(recs[i].offset == r.offset && recs[i].timestamp == r.timestamp);
		CHECK(recs[i].key == r.key && recs[i].key_len == r.key_len);
		CHECK(recs[i].value == r.value && recs[i].value_len == r.value_len);
		CHECK(recs[i].header_count == r.header_count);
		CHECK(recs[i].headers_raw == r.headers_raw &&
		      recs[i].headers_raw_len == r.headers_raw_len);
	}
	CHECK(sluice_rb_record_iter_next(&it, &r) == 0);
out:
	free(recs);
}

static void one_input(uint8_t *buf, size_t size)
{
	struct sluice_rb_header h;
	size_t bytes = 0;

	enum sluice_rb_err e = sluice_rb_batch_validate(buf, size, &h, &bytes);

	CHECK((unsigned)e < SLUICE_RB__COUNT);
	CHECK(sluice_rb_strerror(e) != NULL);
	decode_compare(buf, size, e, &h, bytes);
	if (e == SLUICE_RB_OK) {
		struct sluice_rb_record_iter it;
		struct sluice_rb_record r;
		int32_t n = 0;
		int rc;

		CHECK(bytes >= SLUICE_RB_HEADER_BYTES && bytes <= size);
		sluice_rb_record_iter_init(&it, buf, bytes);
		while ((rc = sluice_rb_record_iter_next(&it, &r)) == 1) {
			struct sluice_rb_kv kv;

			struct sluice_rb_header_iter hit;
			uint32_t nh = 0;

			CHECK(r.offset == h.base_offset + n);
			for (uint32_t i = 0; i < r.header_count; i++)
				CHECK(sluice_rb_record_header(&r, i, &kv) == 0);
			sluice_rb_header_iter_init(&hit, &r);
			while (sluice_rb_header_iter_next(&hit, &kv) == 1)
				nh++;
			CHECK(nh == r.header_count);
			n++;
		}
		CHECK(rc == 0);
		CHECK(n == h.record_count);
		rebuild_and_compare(buf, bytes, &h);
	} else {
		/* The iterator on unvalidated bytes must stay in bounds and terminate. */
		struct sluice_rb_record_iter it;
		struct sluice_rb_record r;
		int rc;

		sluice_rb_record_iter_init(&it, buf, size);
		while ((rc = sluice_rb_record_iter_next(&it, &r)) == 1) {
			struct sluice_rb_kv kv;

			struct sluice_rb_header_iter hit;

			for (uint32_t i = 0; i < r.header_count; i++)
				if (sluice_rb_record_header(&r, i, &kv) != 0)
					break;
			sluice_rb_header_iter_init(&hit, &r);
			while (sluice_rb_header_iter_next(&hit, &kv) == 1)
				;
		}
		CHECK(rc <= 0);
	}

	size_t valid = 0;
	int64_t next;
	enum sluice_rb_err re = sluice_rb_range_validate(buf, size, -1, &valid, &next);

	CHECK(valid <= size);
	CHECK((re == SLUICE_RB_OK) == (valid == size));
	for (size_t pos = 0; pos < valid;) {
		size_t n = 0;

		CHECK(sluice_rb_batch_validate(buf + pos, valid - pos, NULL, &n) == SLUICE_RB_OK);
		pos += n;
	}

	int32_t partition;

	if (sluice_envelope_decode(buf, size, &partition) == 0)
		CHECK(partition >= -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so that ASan flags a read one byte past the end. */
	uint8_t *buf = malloc(size ? size : 1);

	CHECK(buf != NULL);
	memcpy(buf, data, size);
	one_input(buf, size);

	/* Again with the CRC made right: a fuzzer rarely guesses a CRC32C, and without this
	 * pass it would never get past the checksum into the record parser. */
	if (size >= SLUICE_RB_HEADER_BYTES) {
		uint32_t blen = sluice_be32_get(buf + 8);
		size_t end = size;

		if (blen >= SLUICE_RB_HEADER_BYTES - SLUICE_RB_LOG_OVERHEAD &&
		    (size_t)blen + SLUICE_RB_LOG_OVERHEAD < size)
			end = (size_t)blen + SLUICE_RB_LOG_OVERHEAD;
		memcpy(buf, data, size);
		sluice_be32_put(
			buf + 17,
			sluice_crc32c(0, buf + SLUICE_RB_CRC_START, end - SLUICE_RB_CRC_START));
		one_input(buf, size);
	}
	free(buf);
	return 0;
}
