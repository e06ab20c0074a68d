/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tools/sluice_dump.c, its main() run in a child process (tool_run.h) on partitions this test
 * writes byte by byte (the record builder for batches, indexes by hand), so that every
 * damage is placed exactly:
 * - an intact partition of two segments with indexes verifies; -q prints nothing;
 * - text, hex and JSON output show each record (null key, non-printable bytes, headers);
 *   --from starts at the batch holding the offset;
 * - damage is reported as "DAMAGE <file> at byte <n>: <why>", exit 1: a flipped byte, a cut
 *   batch, a segment whose base does not follow, index entries that point elsewhere, a
 *   partial index entry, a time index entry that is not the largest timestamp before it;
 *   an all-zero tail (preallocation) is not damage;
 * - bad command lines and paths exit 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "sluice_record.h"
#include "tool_run.h"

int sluice_dump_main(int argc, char **argv);

#define DUMP(...) tool_run(sluice_dump_main, &o, "sluice-dump", __VA_ARGS__, NULL)

static struct tool_out o;
static char dir[256]; /* a partition directory: <dir>/events-0 */
static char pdir[300];

/* What the test wrote: per batch, its file, position, offsets and max timestamp. */
struct wbatch {
	int seg;
	size_t pos, len;
	int64_t base, last, max_ts;
};
static struct wbatch batches[16];
static int nbatches;
static int64_t seg_base[2];

static void path_of(char *out, size_t cap, int seg, const char *ext)
{
	snprintf(out, cap, "%s/%020lld%s", pdir, (long long)seg_base[seg], ext);
}

/* One batch of n records at @p base: record i has key "k<base+i>" (null for i == 1), a value
 * with a quote, a backslash, a control byte and 0xff, one header h=<i>; timestamps ts0+i. */
static size_t make_batch(uint8_t *buf, size_t cap, int64_t base, int n, int64_t ts0)
{
	struct sluice_rb_builder b;
	struct sluice_rb_batch_meta meta = {
		.base_offset = base,
		.producer_id = -1,
		.producer_epoch = -1,
		.base_sequence = -1,
		.partition_leader_epoch = -1,
	};

	assert_int_equal(sluice_rb_builder_init(&b, buf, cap, &meta), 0);
	for (int i = 0; i < n; i++) {
		char key[32], hv[16];
		uint8_t value[32];
		struct sluice_rb_kv h;
		struct sluice_rb_record r = {0};
		int vl = snprintf((char *)value, sizeof(value), "v%lld \"q\" \\",
				  (long long)base + i);

		value[vl++] = 0x01;
		value[vl++] = 0xff;
		snprintf(key, sizeof(key), "k%lld", (long long)base + i);
		snprintf(hv, sizeof(hv), "%d", i);
		h.key = (const uint8_t *)"h";
		h.key_len = 1;
		h.value = (const uint8_t *)hv;
		h.value_len = (int32_t)strlen(hv);
		r.timestamp = ts0 + i;
		r.key = i == 1 ? NULL : (const uint8_t *)key;
		r.key_len = i == 1 ? -1 : (int32_t)strlen(key);
		r.value = value;
		r.value_len = vl;
		r.headers = &h;
		r.header_count = 1;
		assert_int_equal(sluice_rb_builder_append(&b, &r), 0);
	}
	return sluice_rb_builder_seal(&b);
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void patch_file(const char *path, size_t pos, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, (off_t)pos), (ssize_t)n);
	close(fd);
}

/* Segment 0: batches of 2, 3, 1 records (offsets 0..5); segment 1: 2, 2 (6..9). Each
 * segment gets an .index entry and a .timeindex entry per batch, as sluice writes them. */
static void write_partition(void)
{
	static const int counts[2][3] = {{2, 3, 1}, {2, 2, 0}};
	int64_t off = 0, ts = 1700000000000, run_max = INT64_MIN;

	nbatches = 0;
	for (int s = 0; s < 2; s++) {
		uint8_t seg[8192], idx[256], tidx[256];
		size_t len = 0, ilen = 0, tlen = 0;
		char path[400];

		seg_base[s] = off;
		for (int k = 0; k < 3 && counts[s][k]; k++) {
			struct wbatch *w = &batches[nbatches++];
			/* timestamps go backwards once, so that max and running max differ */
			int64_t t0 = ts + (k == 1 ? -50 : 0);

			w->seg = s;
			w->pos = len;
			w->base = off;
			w->len = make_batch(seg + len, sizeof(seg) - len, off, counts[s][k], t0);
			assert_true(w->len > 0);
			w->last = off + counts[s][k] - 1;
			w->max_ts = t0 + counts[s][k] - 1;
			/* sluice's index rule: offset -> position; time: the largest maxTimestamp
			 * of the batches before it -> offset (the first batch has none before) */
			sluice_be32_put(idx + ilen, (uint32_t)(off - seg_base[s]));
			sluice_be32_put(idx + ilen + 4, (uint32_t)len);
			ilen += 8;
			if (run_max != INT64_MIN && k > 0) {
				sluice_be64_put(tidx + tlen, (uint64_t)run_max);
				sluice_be32_put(tidx + tlen + 8, (uint32_t)(off - seg_base[s]));
				tlen += 12;
			}
			if (k == 0)
				run_max = INT64_MIN;
			if (w->max_ts > run_max)
				run_max = w->max_ts;
			len += w->len;
			off += counts[s][k];
			ts += 100;
		}
		path_of(path, sizeof(path), s, ".log");
		write_file(path, seg, len);
		path_of(path, sizeof(path), s, ".index");
		write_file(path, idx, ilen);
		path_of(path, sizeof(path), s, ".timeindex");
		write_file(path, tidx, tlen);
	}
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sluice-dump-unit-%d", (int)getpid());
	nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	if (mkdir(dir, 0700) != 0)
		return -1;
	snprintf(pdir, sizeof(pdir), "%s/events-0", dir);
	if (mkdir(pdir, 0700) != 0)
		return -1;
	write_partition();
	return 0;
}

/* Before each test: the intact partition, whatever the previous test left. */
static int fresh(void **state)
{
	(void)state;
	nftw(pdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	if (mkdir(pdir, 0700) != 0)
		return -1;
	write_partition();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void test_verify_intact(void **state)
{
	char p[400];
	(void)state;

	assert_int_equal(DUMP("--verify", pdir), 0);
	assert_non_null(strstr(o.out, "verify: ok\n"));
	assert_null(strstr(o.out, "DAMAGE"));
	assert_int_equal(DUMP("-v", "-q", pdir), 0);
	assert_string_equal(o.out, "");
	/* one segment, or one index (checked against its segment), alone */
	path_of(p, sizeof(p), 1, ".log");
	assert_int_equal(DUMP("-v", p), 0);
	path_of(p, sizeof(p), 0, ".timeindex");
	assert_int_equal(DUMP("-v", p), 0);
	assert_null(strstr(o.out, "DAMAGE"));
}

static int count_lines(const char *s, const char *prefix)
{
	int n = 0;

	for (const char *l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		n += strncmp(l, prefix, strlen(prefix)) == 0;
	return n;
}

static void test_text_and_hex(void **state)
{
	(void)state;
	assert_int_equal(DUMP(pdir), 0);
	assert_int_equal(count_lines(o.out, "baseOffset: "), 5);
	assert_int_equal(count_lines(o.out, "| offset: "), 0); /* records only with -d */
	assert_non_null(strstr(o.out,
			       "baseOffset: 2 lastOffset: 4 count: 3 baseSequence: -1 "
			       "lastSequence: -1 producerId: -1 producerEpoch: -1 "));
	assert_int_equal(DUMP("-d", pdir), 0);
	assert_int_equal(count_lines(o.out, "| offset: "), 10);
	/* non-printable bytes as '.', a null key as null, headers as key=value */
	assert_non_null(strstr(o.out,
			       "| offset: 3 CreateTime: 1700000000051 keySize: -1 "
			       "valueSize: 10 headerCount: 1 key: null payload: v3 \"q\" "
			       "\\.. header: h=1\n"));
	assert_non_null(strstr(o.out,
			       "| offset: 6 CreateTime: 1700000000300 keySize: 2 "
			       "valueSize: 10 headerCount: 1 key: k6 payload: v6 \"q\" "
			       "\\.. header: h=0\n"));
	assert_int_equal(DUMP("-d", "-f", "hex", pdir), 0);
	/* "k6" = 6b36, "h" = 68, "0" = 30; the value's 0x01 0xff show as 01ff */
	assert_non_null(strstr(o.out, "key: 6b36 payload: 763620227122205c01ff header: 68=30\n"));
}

static void test_json(void **state)
{
	json_error_t e;
	int lines = 0, records = 0;
	int64_t next = 0;
	(void)state;

	assert_int_equal(DUMP("-d", "-f", "json", pdir), 0);
	for (char *l = o.out, *nl; *l; l = nl + 1) {
		json_t *b, *r;
		size_t i;

		nl = strchr(l, '\n');
		assert_non_null(nl);
		*nl = '\0';
		b = json_loads(l, 0, &e);
		if (b == NULL) {
			fprintf(stderr, "not JSON: %s (%s)\n", l, e.text);
			fail();
		}
		lines++;
		assert_int_equal(json_integer_value(json_object_get(b, "baseOffset")), next);
		assert_true(json_is_true(json_object_get(b, "isValid")));
		json_array_foreach(json_object_get(b, "records"), i, r)
		{
			const char *v = json_string_value(json_object_get(r, "value"));
			char want[32];
			int wl = snprintf(
				want, sizeof(want), "v%lld \"q\" \\\x01",
				(long long)json_integer_value(json_object_get(r, "offset")));

			assert_int_equal(json_integer_value(json_object_get(r, "offset")), next);
			/* quotes, backslashes and control bytes round-trip; 0xff is \u00ff */
			assert_memory_equal(v, want, (size_t)wl);
			assert_string_equal(v + wl, "\xc3\xbf");
			/* the second record of each batch has a null key */
			if (next == 1 || next == 3 || next == 7 || next == 9)
				assert_true(json_is_null(json_object_get(r, "key")));
			else
				assert_non_null(json_string_value(json_object_get(r, "key")));
			next++;
			records++;
		}
		json_decref(b);
	}
	assert_int_equal(lines, 5);
	assert_int_equal(records, 10);
	assert_non_null(strstr(o.out, "\"key\":null"));
	assert_non_null(strstr(o.out, "\\u00ff"));
}

static void test_from(void **state)
{
	(void)state;
	/* offset 4 is in the batch 2..4: it and every later batch */
	assert_int_equal(DUMP("--from", "4", pdir), 0);
	assert_int_equal(count_lines(o.out, "baseOffset: "), 4);
	assert_non_null(strstr(o.out, "baseOffset: 2 lastOffset: 4"));
	assert_null(strstr(o.out, "baseOffset: 0 lastOffset: 1"));
	assert_int_equal(DUMP("-o", "100", pdir), 0);
	assert_int_equal(count_lines(o.out, "baseOffset: "), 0);
}

static void expect_damage(const char *path, size_t pos, const char *why)
{
	char want[600];

	snprintf(want, sizeof(want), "DAMAGE %s at byte %zu: %s", path, pos, why);
	if (o.status != 1 || strstr(o.out, want) == NULL) {
		fprintf(stderr, "exit %d, expected 1 and '%s' in:\n%s%s", o.status, want, o.out,
			o.err);
		fail();
	}
	assert_null(strstr(o.out, "verify: ok"));
}

static void test_damage_flip(void **state)
{
	const struct wbatch *w = &batches[1];
	char seg[400], next[400];
	uint8_t c;
	(void)state;

	path_of(seg, sizeof(seg), 0, ".log");
	path_of(next, sizeof(next), 1, ".log");
	/* a byte of the second batch's records: its CRC no longer matches */
	c = 0x5a;
	patch_file(seg, w->pos + w->len - 3, &c, 1);
	assert_int_equal(DUMP("-v", pdir), 1);
	expect_damage(seg, w->pos, "crc_mismatch (batch expected at offset 2)");
	/* the next segment no longer follows what could be read */
	expect_damage(next, 0, "segment base offset does not follow the previous segment");
	/* without --verify: the valid batches, then where it stopped */
	assert_int_equal(DUMP(seg), 0);
	assert_non_null(strstr(o.out, "isvalid: false"));
	assert_non_null(strstr(o.out, "invalid batch at byte"));
	write_partition();
}

static void test_damage_cut_and_zero_tail(void **state)
{
	char seg[400];
	uint8_t zeros[4096] = {0};
	const struct wbatch *last = &batches[nbatches - 1];
	(void)state;

	path_of(seg, sizeof(seg), 1, ".log");
	/* preallocated space after the last batch is not damage */
	patch_file(seg, last->pos + last->len, zeros, sizeof(zeros));
	assert_int_equal(DUMP("-v", pdir), 0);
	assert_int_equal(DUMP(seg), 0);
	assert_non_null(strstr(o.out, "(zero tail: 4096 bytes"));
	/* the last batch cut short */
	assert_int_equal(truncate(seg, (off_t)(last->pos + last->len - 1)), 0);
	assert_int_equal(DUMP("-v", pdir), 1);
	expect_damage(seg, last->pos, "truncated");
	write_partition();
}

static void test_damage_segment_gap(void **state)
{
	char from[400], to[400];
	(void)state;

	/* segment 1 renamed as if it started at 7: offset 6 is missing */
	path_of(from, sizeof(from), 1, ".log");
	snprintf(to, sizeof(to), "%s/%020d.log", pdir, 7);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(DUMP("-v", pdir), 1);
	expect_damage(to, 0, "segment base offset does not follow the previous segment");
	unlink(to);
	write_partition();
}

static void test_damage_index(void **state)
{
	char idx[400], tidx[400];
	uint8_t b[8];
	(void)state;

	path_of(idx, sizeof(idx), 0, ".index");
	path_of(tidx, sizeof(tidx), 0, ".timeindex");
	/* entry 1 points a byte past its batch */
	sluice_be32_put(b, (uint32_t)(batches[1].pos + 1));
	patch_file(idx, 8 + 4, b, 4);
	assert_int_equal(DUMP("-v", pdir), 1);
	expect_damage(idx, 8, "position is not where that batch starts");
	write_partition();
	/* entry 1 names an offset inside a batch */
	sluice_be32_put(b, 3);
	patch_file(idx, 8, b, 4);
	assert_int_equal(DUMP("-v", pdir), 1);
	expect_damage(idx, 8, "entry names no batch");
	write_partition();
	/* a partial entry at the end */
	{
		FILE *f = fopen(idx, "ab");

		assert_non_null(f);
		fputs("xyz", f);
		fclose(f);
	}
	assert_int_equal(DUMP("-v", pdir), 1);
	expect_damage(idx, 24, "partial entry at the end");
	write_partition();
	/* a time index entry that is not the largest timestamp before its offset */
	sluice_be64_put(b, 1);
	patch_file(tidx, 0, b, 8);
	assert_int_equal(DUMP("-v", pdir), 1);
	expect_damage(tidx, 0, "timestamp is not the largest before its offset");
	write_partition();
	/* an index printed without --verify */
	assert_int_equal(DUMP(idx), 0);
	assert_non_null(strstr(o.out, "offset: 2 position: "));
	assert_int_equal(DUMP("-f", "json", tidx), 0);
	assert_non_null(strstr(o.out, "{\"timestamp\":"));
}

static void test_bad_usage(void **state)
{
	char p[400];
	(void)state;

	assert_int_equal(tool_run(sluice_dump_main, &o, "sluice-dump", NULL), 2);
	assert_non_null(strstr(o.err, "usage: sluice-dump"));
	assert_int_equal(DUMP("-f", "xml", pdir), 2);
	assert_int_equal(DUMP("--from", "-1", pdir), 2);
	assert_int_equal(DUMP("--from", "4x", pdir), 2);
	assert_int_equal(DUMP("--bogus", pdir), 2);
	assert_int_equal(DUMP("--help"), 0);
	assert_non_null(strstr(o.out, "usage: sluice-dump"));
	/* a missing path, a badly named segment and another file: 2, the good path still done */
	snprintf(p, sizeof(p), "%s/nothing", dir);
	assert_int_equal(DUMP(p, pdir), 2);
	assert_non_null(strstr(o.err, "No such file or directory"));
	assert_int_equal(count_lines(o.out, "baseOffset: "), 5);
	snprintf(p, sizeof(p), "%s/1.log", dir);
	write_file(p, (const uint8_t *)"x", 1);
	assert_int_equal(DUMP("-v", p), 2);
	assert_non_null(strstr(o.err, "not a <20-digit offset>.log segment"));
	snprintf(p, sizeof(p), "%s/notes.txt", dir);
	write_file(p, (const uint8_t *)"x", 1);
	assert_int_equal(DUMP(p), 2);
	assert_non_null(strstr(o.err, "not a directory, .log, .index or .timeindex"));
	/* an empty partition has nothing to check, and says so */
	assert_int_equal(DUMP("-v", dir), 0);
	assert_non_null(strstr(o.err, "no segments"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_verify_intact, fresh),
		cmocka_unit_test_setup(test_text_and_hex, fresh),
		cmocka_unit_test_setup(test_json, fresh),
		cmocka_unit_test_setup(test_from, fresh),
		cmocka_unit_test_setup(test_damage_flip, fresh),
		cmocka_unit_test_setup(test_damage_cut_and_zero_tail, fresh),
		cmocka_unit_test_setup(test_damage_segment_gap, fresh),
		cmocka_unit_test_setup(test_damage_index, fresh),
		cmocka_unit_test_setup(test_bad_usage, fresh),
	};

	return cmocka_run_group_tests_name("sluice-dump", tests, setup, teardown);
}
