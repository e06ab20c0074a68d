/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helper of record_kafkajs.sh, the cross-check of our RecordBatch v2 code against kafkajs.
 *
 *   record_kafkajs_tool write <batches.bin> <expected.json> [seed]
 *       build random batches with our builder, write them back to back, and write every
 *       field we put in them as JSON (64-bit numbers as decimal strings, bytes as hex,
 *       null as null) for kafkajs to compare against;
 *   record_kafkajs_tool check <batches.bin> <expected.json>
 *       validate and iterate batches that kafkajs encoded, and compare every field with
 *       the JSON kafkajs wrote. Exit 0 when equal, 1 otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice_record.h"

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static json_t *hex_or_null(const uint8_t *p, int32_t len)
{
	static const char digits[] = "0123456789abcdef";

	if (len < 0)
		return json_null();
	char *s = malloc(2 * (size_t)len + 1);

	if (!s)
		abort();
	for (int32_t i = 0; i < len; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * len] = 0;
	json_t *j = json_string(s);

	free(s);
	return j;
}

static json_t *i64(int64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%" PRId64, v);
	return json_string(s);
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(p, 1, n, f) != n) {
		perror(path);
		if (f)
			fclose(f);
		return -1;
	}
	return fclose(f) ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------- */

#define NBATCHES 60
#define MAX_RECORDS 40
#define MAX_HEADERS 12

static int cmd_write(const char *bin, const char *jpath)
{
	const size_t cap = 4u << 20;
	size_t out_cap = 64u << 20, out_len = 0;
	uint8_t *out = malloc(out_cap);
	uint8_t *pool = malloc(2u << 20);
	json_t *root = json_object(), *batches = json_array();
	int rc = 1;

	if (!out || !pool)
		abort();
	for (size_t i = 0; i < (2u << 20); i++)
		pool[i] = (uint8_t)rnd();
	json_object_set_new(root, "batches", batches);

	int64_t next_offset = (int64_t)(rnd() >> 30);

	for (int bi = 0; bi < NBATCHES; bi++) {
		struct sluice_rb_batch_meta meta = {
			.base_offset = next_offset,
			.attributes = 0,
			.producer_id = bi % 4 == 0 ? -1 : (int64_t)(rnd() >> 1),
			.producer_epoch = bi % 4 == 0 ? -1 : (int16_t)(rnd() & 0x7fff),
			.base_sequence = bi % 4 == 0 ? -1 : (int32_t)(rnd() & 0x7fffffff),
			.partition_leader_epoch = (int32_t)(rnd() & 0xffff),
		};
		if (bi % 5 == 1)
			meta.attributes |= SLUICE_RB_ATTR_TRANSACTIONAL;
		if (bi % 7 == 3)
			meta.attributes |= SLUICE_RB_ATTR_TIMESTAMP_LOG_APPEND;
		struct sluice_rb_builder b;
		json_t *records = json_array();
		int nrec = 1 + (int)(rnd() % MAX_RECORDS);
		int64_t base_ts = 1700000000000 + (int64_t)(rnd() % 100000000);

		if (sluice_rb_builder_init(&b, out + out_len,
					   out_cap - out_len < cap ? out_cap - out_len : cap,
					   &meta))
			goto out;
		for (int ri = 0; ri < nrec; ri++) {
			struct sluice_rb_kv hdr[MAX_HEADERS];
			char hkeys[MAX_HEADERS][16];
			struct sluice_rb_record rec = {0};
			uint64_t pick = rnd() % 10;

			rec.timestamp = base_ts + (int64_t)(rnd() % 20000) - 10000;
			rec.key_len = pick == 0 ? -1 : pick == 1 ? 0 : (int32_t)(rnd() % 64);
			rec.key = rec.key_len >= 0 ? pool + rnd() % 4096 : NULL;
			pick = rnd() % 40;
			rec.value_len = pick == 0 ? -1
				: pick == 1       ? 0
				: pick == 2       ? (int32_t)(rnd() % (1u << 20))
						  : (int32_t)(rnd() % 2000);
			if (bi == 0 && ri == 0)
				rec.value_len = 1 << 20;
			rec.value = rec.value_len >= 0 ? pool + rnd() % (1u << 20) : NULL;
			rec.header_count = (uint32_t)(rnd() % 3 == 0 ? rnd() % MAX_HEADERS : 0);
			rec.headers = hdr;
			for (uint32_t h = 0; h < rec.header_count; h++) {
				/* kafkajs decodes header keys as UTF-8 strings: keep them ASCII. Keys
				 * repeat on purpose (Kafka allows duplicate header keys). */
				int klen = snprintf(hkeys[h], sizeof(hkeys[h]), "h%c",
						    (char)('a' + rnd() % 6));

				hdr[h].key = (const uint8_t *)hkeys[h];
				hdr[h].key_len = klen;
				hdr[h].value_len = rnd() % 5 == 0 ? -1 : (int32_t)(rnd() % 40);
				hdr[h].value = hdr[h].value_len >= 0 ? pool + rnd() % 4096 : NULL;
			}
			int arc = sluice_rb_builder_append(&b, &rec);

			if (arc == -ENOSPC && ri > 0) {
				nrec = ri; /* full: this batch ends here */
				break;
			}
			if (arc) {
				fprintf(stderr, "append: %s\n", strerror(-arc));
				goto out;
			}
			json_t *jr = json_object(), *jh = json_array();

			json_object_set_new(jr, "offset", i64(meta.base_offset + ri));
			json_object_set_new(jr, "timestamp", i64(rec.timestamp));
			json_object_set_new(jr, "key", hex_or_null(rec.key, rec.key_len));
			json_object_set_new(jr, "value", hex_or_null(rec.value, rec.value_len));
			for (uint32_t h = 0; h < rec.header_count; h++)
				json_array_append_new(
					jh,
					json_pack("[s o]", hkeys[h],
						  hex_or_null(hdr[h].value, hdr[h].value_len)));
			json_object_set_new(jr, "headers", jh);
			json_array_append_new(records, jr);
		}
		size_t n = sluice_rb_builder_seal(&b);
		struct sluice_rb_header h;

		if (sluice_rb_batch_validate(out + out_len, n, &h, NULL) != SLUICE_RB_OK) {
			fprintf(stderr, "our own batch does not validate\n");
			goto out;
		}
		/* With LogAppendTime every record's timestamp is maxTimestamp (Kafka, kafkajs). */
		if (meta.attributes & SLUICE_RB_ATTR_TIMESTAMP_LOG_APPEND) {
			size_t k;
			json_t *jr;

			json_array_foreach(records, k, jr)
				json_object_set_new(jr, "timestamp", i64(h.max_timestamp));
		}
		json_t *jb = json_object();

		json_object_set_new(jb, "baseOffset", i64(h.base_offset));
		json_object_set_new(jb, "batchLength", json_integer(h.batch_length));
		json_object_set_new(jb, "partitionLeaderEpoch",
				    json_integer(h.partition_leader_epoch));
		json_object_set_new(jb, "crc", json_integer(h.crc));
		json_object_set_new(jb, "attributes", json_integer(h.attributes));
		json_object_set_new(jb, "lastOffsetDelta", json_integer(h.last_offset_delta));
		json_object_set_new(jb, "baseTimestamp", i64(h.base_timestamp));
		json_object_set_new(jb, "maxTimestamp", i64(h.max_timestamp));
		json_object_set_new(jb, "producerId", i64(h.producer_id));
		json_object_set_new(jb, "producerEpoch", json_integer(h.producer_epoch));
		json_object_set_new(jb, "baseSequence", json_integer(h.base_sequence));
		json_object_set_new(jb, "records", records);
		json_array_append_new(batches, jb);
		out_len += n;
		next_offset += nrec;
	}
	if (write_file(bin, out, out_len))
		goto out;
	if (json_dump_file(root, jpath, JSON_COMPACT)) {
		fprintf(stderr, "%s: cannot write\n", jpath);
		goto out;
	}
	printf("wrote %d batches, %zu bytes\n", NBATCHES, out_len);
	rc = 0;
out:
	json_decref(root);
	free(out);
	free(pool);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */

static int errors;

#define EXPECT(cond, ...)                                      \
	do {                                                   \
		if (!(cond)) {                                 \
			if (errors++ < 20) {                   \
				fprintf(stderr, "MISMATCH: "); \
				fprintf(stderr, __VA_ARGS__);  \
				fputc('\n', stderr);           \
			}                                      \
		}                                              \
	} while (0)

static int64_t jstr_i64(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? strtoll(s, NULL, 10) : INT64_MIN;
}

static bool same_hex(json_t *j, const uint8_t *p, int32_t len)
{
	if (json_is_null(j))
		return len == -1 && p == NULL;
	const char *s = json_string_value(j);

	if (!s || len < 0 || strlen(s) != 2 * (size_t)len)
		return false;
	for (int32_t i = 0; i < len; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1 || v != p[i])
			return false;
	}
	return true;
}

static int cmd_check(const char *bin, const char *jpath)
{
	FILE *f = fopen(bin, "rb");
	json_error_t jerr;
	json_t *root = json_load_file(jpath, 0, &jerr);
	uint8_t *buf = NULL;
	long size;

	if (!f || !root) {
		fprintf(stderr, "cannot open %s or %s (%s)\n", bin, jpath, root ? "" : jerr.text);
		goto out;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	buf = malloc(size > 0 ? (size_t)size : 1);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "%s: read failed\n", bin);
		goto out;
	}

	json_t *batches = json_object_get(root, "batches");
	size_t pos = 0, bi;
	json_t *jb;
	int total_records = 0;

	/* kafkajs's batches are consecutive, so the range validator must accept them all. */
	size_t valid;
	enum sluice_rb_err re = sluice_rb_range_validate(buf, (size_t)size, -1, &valid, NULL);

	EXPECT(re == SLUICE_RB_OK, "range validate: %s at byte %zu", sluice_rb_strerror(re), valid);
	json_array_foreach(batches, bi, jb)
	{
		struct sluice_rb_header h;
		size_t n = 0;
		enum sluice_rb_err e =
			sluice_rb_batch_validate(buf + pos, (size_t)size - pos, &h, &n);

		if (e != SLUICE_RB_OK) {
			EXPECT(0, "batch %zu: validate: %s", bi, sluice_rb_strerror(e));
			break;
		}
		EXPECT(h.base_offset == jstr_i64(jb, "baseOffset"), "batch %zu baseOffset", bi);
		EXPECT(h.base_timestamp == jstr_i64(jb, "baseTimestamp"), "batch %zu baseTimestamp",
		       bi);
		EXPECT(h.max_timestamp == jstr_i64(jb, "maxTimestamp"), "batch %zu maxTimestamp",
		       bi);
		EXPECT(h.producer_id == jstr_i64(jb, "producerId"), "batch %zu producerId", bi);
		EXPECT(h.producer_epoch == json_integer_value(json_object_get(jb, "producerEpoch")),
		       "batch %zu producerEpoch", bi);
		EXPECT(h.base_sequence == json_integer_value(json_object_get(jb, "baseSequence")),
		       "batch %zu baseSequence", bi);
		EXPECT(h.partition_leader_epoch ==
			       json_integer_value(json_object_get(jb, "partitionLeaderEpoch")),
		       "batch %zu partitionLeaderEpoch", bi);
		EXPECT(h.attributes == json_integer_value(json_object_get(jb, "attributes")),
		       "batch %zu attributes", bi);
		EXPECT(h.last_offset_delta ==
			       json_integer_value(json_object_get(jb, "lastOffsetDelta")),
		       "batch %zu lastOffsetDelta", bi);

		json_t *records = json_object_get(jb, "records");
		struct sluice_rb_record_iter it;
		struct sluice_rb_record r;
		size_t ri = 0;
		int rc;

		EXPECT((size_t)h.record_count == json_array_size(records), "batch %zu count", bi);
		sluice_rb_record_iter_init(&it, buf + pos, n);
		while ((rc = sluice_rb_record_iter_next(&it, &r)) == 1) {
			json_t *jr = json_array_get(records, ri);
			json_t *jh = json_object_get(jr, "headers");

			if (!jr) {
				EXPECT(0, "batch %zu: extra record %zu", bi, ri);
				break;
			}
			EXPECT(r.offset == jstr_i64(jr, "offset"), "batch %zu rec %zu offset", bi,
			       ri);
			EXPECT(r.timestamp == jstr_i64(jr, "timestamp"),
			       "batch %zu rec %zu timestamp", bi, ri);
			EXPECT(same_hex(json_object_get(jr, "key"), r.key, r.key_len),
			       "batch %zu rec %zu key", bi, ri);
			EXPECT(same_hex(json_object_get(jr, "value"), r.value, r.value_len),
			       "batch %zu rec %zu value", bi, ri);
			EXPECT(r.header_count == json_array_size(jh), "batch %zu rec %zu headers",
			       bi, ri);
			for (uint32_t k = 0; k < r.header_count && k < json_array_size(jh); k++) {
				struct sluice_rb_kv kv;
				json_t *pair = json_array_get(jh, k);
				const char *key = json_string_value(json_array_get(pair, 0));

				EXPECT(sluice_rb_record_header(&r, k, &kv) == 0, "header decode");
				EXPECT(key && strlen(key) == (size_t)kv.key_len &&
					       memcmp(key, kv.key, (size_t)kv.key_len) == 0,
				       "batch %zu rec %zu header %u key", bi, ri, k);
				EXPECT(same_hex(json_array_get(pair, 1), kv.value, kv.value_len),
				       "batch %zu rec %zu header %u value", bi, ri, k);
			}
			ri++;
			total_records++;
		}
		EXPECT(rc == 0, "batch %zu: iterator: %s", bi, sluice_rb_strerror(-rc));
		EXPECT(ri == json_array_size(records), "batch %zu: %zu records iterated", bi, ri);
		pos += n;
	}
	EXPECT(pos == (size_t)size, "%zu of %ld bytes consumed", pos, size);
	printf("checked %zu kafkajs batches, %d records, %d mismatches\n", json_array_size(batches),
	       total_records, errors);
out:
	if (f)
		fclose(f);
	free(buf);
	json_decref(root);
	return (root && buf && errors == 0) ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "write") == 0) {
		rng = argc >= 5 ? strtoull(argv[4], NULL, 0) : 42;
		if (rng == 0)
			rng = 1;
		return cmd_write(argv[2], argv[3]);
	}
	if (argc == 4 && strcmp(argv[1], "check") == 0)
		return cmd_check(argv[2], argv[3]);
	fprintf(stderr, "usage: %s write|check <batches.bin> <expected.json> [seed]\n", argv[0]);
	return 2;
}
