/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the log (storage/log.c, segment.c, writer.c, reader.c, retention.c) through
 * the synchronous API: append, durable watermark, reopen (clean and unclean), roll, offset
 * and time lookups against a brute-force scan, retention, atomic writes, bad input.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "storage_test_util.h"

struct expect {
	int64_t base, last, max_ts;
	size_t len;
	uint8_t *data;
};

struct fixture {
	char dir[256];
	struct sluice_topic_opts topic;
	struct expect *v;
	int n, cap;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	tu_mkdtemp(f->dir, sizeof(f->dir), "log");
	f->topic = (struct sluice_topic_opts){
		.name = "events",
		.partitions = 2,
		.segment_bytes = 1 << 20,
		.flush_interval_us = 1000,
		.flush_bytes = 1 << 20,
		.index_interval_bytes = 4096,
	};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < f->n; i++)
		free(f->v[i].data);
	free(f->v);
	tu_rm_rf(f->dir);
	free(f);
	return 0;
}

/* Append one random batch and remember it (with the offset the log assigned). */
static void append_one(struct fixture *f, struct sluice_partition *p, int64_t ts, int maxrec,
		       size_t maxval)
{
	uint8_t buf[65536];
	int nrec = 1 + (int)(tu_rnd() % (uint64_t)maxrec);
	size_t len = tu_make_batch(buf, sizeof(buf), nrec, ts, (uint32_t)tu_rnd(),
				   (size_t)(tu_rnd() % (maxval + 1)));
	int64_t base = -1;
	struct sluice_rb_header h;

	assert_true(len > 0);
	assert_int_equal(sluice_partition_append_sync(p, buf, len, &base), 0);
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 256;
		f->v = realloc(f->v, (size_t)f->cap * sizeof(*f->v));
	}
	sluice_rb_set_base_offset(buf, base);
	assert_int_equal(sluice_rb_header_decode(buf, len, &h), SLUICE_RB_OK);
	f->v[f->n] = (struct expect){.base = base,
				     .last = base + h.last_offset_delta,
				     .max_ts = h.max_timestamp,
				     .len = len,
				     .data = malloc(len)};
	memcpy(f->v[f->n].data, buf, len);
	if (f->n > 0)
		assert_int_equal(base, f->v[f->n - 1].last + 1);
	else
		assert_true(base >= 0);
	f->n++;
}

static void check_all(struct fixture *f, struct sluice_partition *p, int from_index)
{
	struct tu_batch *got = NULL;
	int n = tu_read_all(p, f->v[from_index].base, &got);

	assert_int_equal(n, f->n - from_index);
	for (int i = 0; i < n; i++) {
		const struct expect *e = &f->v[from_index + i];

		assert_int_equal(got[i].len, e->len);
		assert_memory_equal(got[i].data, e->data, e->len);
	}
	tu_free_batches(got, n);
}

static void test_append_read_reopen(void **state)
{
	struct fixture *f = *state;
	struct sluice_log *log = tu_open(f->dir, &f->topic, -1);
	struct sluice_partition *p;
	struct sluice_partition_stats st;
	char path[512];

	assert_non_null(log);
	assert_int_equal(sluice_log_partition_count(log), 2);
	assert_int_equal(sluice_log_partition_id(log, "events", 1), 1);
	assert_int_equal(sluice_log_partition_id(log, "events", 2), -ENOENT);
	assert_int_equal(sluice_log_partition_id(log, "nope", 0), -ENOENT);
	p = sluice_log_partition(log, 0);
	assert_non_null(p);
	assert_int_equal(sluice_partition_durable_offset(p), 0);
	for (int i = 0; i < 200; i++)
		append_one(f, p, 1000 + i, 10, 300);
	assert_int_equal(sluice_partition_durable_offset(p), f->v[f->n - 1].last + 1);
	check_all(f, p, 0);
	check_all(f, p, 137);
	sluice_partition_stats(p, &st);
	assert_int_equal(st.appended_batches, 200);
	assert_int_equal(st.log_end_offset, f->v[f->n - 1].last + 1);
	assert_int_equal(st.durable_records, (uint64_t)st.durable_offset);
	assert_true(st.fsyncs >= 200);
	uint64_t hsum = 0;
	for (int i = 0; i < SLUICE_HIST_BUCKETS; i++)
		hsum += st.fsync_hist[i];
	assert_int_equal(hsum, st.fsyncs);
	assert_false(st.failed);
	sluice_log_close(log);

	/* Clean close: marker present, segment trimmed to its logical size. */
	snprintf(path, sizeof(path), "%s/events-0", f->dir);
	assert_true(tu_exists(path, "clean-shutdown"));
	size_t total = 0;
	for (int i = 0; i < f->n; i++)
		total += f->v[i].len;
	snprintf(path, sizeof(path), "%s/events-0/%020d.log", f->dir, 0);
	assert_int_equal(tu_file_size(path), (long)total);

	log = tu_open(f->dir, &f->topic, -1);
	assert_non_null(log);
	p = sluice_log_partition(log, 0);
	snprintf(path, sizeof(path), "%s/events-0", f->dir);
	assert_false(tu_exists(path, "clean-shutdown"));
	assert_int_equal(sluice_partition_durable_offset(p), f->v[f->n - 1].last + 1);
	sluice_partition_stats(p, &st);
	assert_int_equal(st.oldest_timestamp_ms, 1000);
	check_all(f, p, 0);
	for (int i = 0; i < 50; i++)
		append_one(f, p, 5000 + i, 3, 4000);
	check_all(f, p, 0);
	sluice_log_close(log);

	/* Unclean reopen (no marker): recovery validates and keeps everything. */
	snprintf(path, sizeof(path), "%s/events-0/clean-shutdown", f->dir);
	assert_int_equal(unlink(path), 0);
	log = tu_open(f->dir, &f->topic, -1);
	assert_non_null(log);
	p = sluice_log_partition(log, 0);
	sluice_partition_stats(p, &st);
	assert_int_equal(st.recovery_truncated_bytes, 0);
	check_all(f, p, 0);
	assert_int_equal(
		sluice_reader_open(p, f->v[f->n - 1].last + 2, &(struct sluice_reader *){0}),
		-ERANGE);
	sluice_log_close(log);
}

/* First batch (offset order) containing offset, by scanning. */
static int brute_offset(const struct fixture *f, int64_t off)
{
	for (int i = 0; i < f->n; i++)
		if (f->v[i].last >= off)
			return i;
	return -1;
}

static int brute_time(const struct fixture *f, int64_t ts)
{
	for (int i = 0; i < f->n; i++)
		if (f->v[i].max_ts >= ts)
			return i;
	return -1;
}

static void check_lookups(struct fixture *f, struct sluice_partition *p, int64_t start)
{
	int64_t end = f->v[f->n - 1].last + 1;

	for (int k = 0; k < 300; k++) {
		int64_t off = start + (int64_t)(tu_rnd() % (uint64_t)(end - start));
		struct sluice_reader *r;
		const uint8_t *b;
		size_t len;
		int i = brute_offset(f, off);

		assert_int_equal(sluice_reader_open(p, off, &r), 0);
		assert_int_equal(sluice_reader_next(r, &b, &len), 1);
		assert_int_equal(len, f->v[i].len);
		assert_memory_equal(b, f->v[i].data, len);
		sluice_reader_close(r);
	}
	for (int k = 0; k < 300; k++) {
		int64_t ts = 900 + (int64_t)(tu_rnd() % 100200);
		struct sluice_reader *r;
		const uint8_t *b;
		size_t len;
		int i = brute_time(f, ts);

		assert_int_equal(sluice_reader_open_at_time(p, ts, &r), 0);
		if (i < 0 || f->v[i].base < start) {
			if (i < 0)
				assert_int_equal(sluice_reader_next(r, &b, &len), 0);
		} else {
			assert_int_equal(sluice_reader_next(r, &b, &len), 1);
			assert_int_equal(len, f->v[i].len);
			assert_memory_equal(b, f->v[i].data, len);
		}
		sluice_reader_close(r);
	}
}

static int count_files(const char *dir, const char *ext)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name), el = strlen(ext);

		if (l == 20 + el && strcmp(e->d_name + 20, ext) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void test_roll_and_lookups(void **state)
{
	struct fixture *f = *state;
	struct sluice_log *log;
	struct sluice_partition *p;
	struct sluice_partition_stats st;
	char pdir[512], path[600];

	f->topic.segment_bytes = 16 << 10;
	f->topic.index_interval_bytes = 512;
	log = tu_open(f->dir, &f->topic, -1);
	assert_non_null(log);
	p = sluice_log_partition(log, 1);
	/* Timestamps deliberately not monotonic. */
	for (int i = 0; i < 400; i++)
		append_one(f, p, 1000 + (int64_t)(tu_rnd() % 100000), 6, 200);
	sluice_partition_stats(p, &st);
	snprintf(pdir, sizeof(pdir), "%s/events-1", f->dir);
	assert_true(st.segments > 4);
	assert_int_equal(count_files(pdir, ".log"), (int)st.segments);
	/* Each segment is named after its first batch's offset and within segment_bytes. */
	for (int i = 0, seg = 0; i < f->n; i++) {
		snprintf(path, sizeof(path), "%s/%020" PRId64 ".log", pdir, f->v[i].base);
		if (tu_file_size(path) >= 0)
			seg++;
		(void)seg;
	}
	check_all(f, p, 0);
	check_lookups(f, p, 0);
	sluice_log_close(log);
	assert_int_equal(count_files(pdir, ".index"), (int)st.segments);
	assert_int_equal(count_files(pdir, ".timeindex"), (int)st.segments);

	/* Indexes loaded from disk. */
	log = tu_open(f->dir, &f->topic, -1);
	p = sluice_log_partition(log, 1);
	check_lookups(f, p, 0);
	sluice_log_close(log);

	/* Indexes rebuilt (unclean) and damaged index files. */
	snprintf(path, sizeof(path), "%s/clean-shutdown", pdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%020d.index", pdir, 0);
	FILE *fp = fopen(path, "r+b");
	assert_non_null(fp);
	fseek(fp, 5, SEEK_SET);
	fputc(0x7f, fp);
	fclose(fp);
	log = tu_open(f->dir, &f->topic, -1);
	p = sluice_log_partition(log, 1);
	check_all(f, p, 0);
	check_lookups(f, p, 0);
	sluice_log_close(log);
}

static void test_roll_by_age(void **state)
{
	struct fixture *f = *state;
	struct sluice_log *log;
	struct sluice_partition *p;
	struct sluice_partition_stats st;

	f->topic.segment_ms = 20;
	log = tu_open(f->dir, &f->topic, -1);
	p = sluice_log_partition(log, 0);
	append_one(f, p, 1, 1, 10);
	usleep(30000);
	append_one(f, p, 2, 1, 10);
	sluice_partition_stats(p, &st);
	assert_int_equal(st.segments, 2);
	check_all(f, p, 0);
	sluice_log_close(log);
}

static void test_retention(void **state)
{
	struct fixture *f = *state;
	struct sluice_log *log;
	struct sluice_partition *p;
	struct sluice_partition_stats st;
	struct sluice_reader *r;
	int64_t mid;

	f->topic.segment_bytes = 8 << 10;
	f->topic.retention_bytes = 32 << 10;
	log = tu_open(f->dir, &f->topic, -1);
	p = sluice_log_partition(log, 0);
	for (int i = 0; i < 300; i++)
		append_one(f, p, 1000 + i, 4, 100);
	sluice_partition_stats(p, &st);
	assert_true(st.bytes_on_disk > 64 << 10);
	/* Nothing forwarded: nothing deleted. */
	assert_int_equal(sluice_log_retention_run(log), 0);
	mid = f->v[f->n / 2].base;
	sluice_partition_set_forwarded(p, mid);
	assert_true(sluice_log_retention_run(log) > 0);
	sluice_partition_stats(p, &st);
	assert_true(st.log_start_offset > 0);
	assert_true(st.log_start_offset <= mid);
	assert_int_equal(st.retention_dropped_records, 0);
	assert_true(st.retention_deleted_segments > 0);
	assert_int_equal(sluice_reader_open(p, 0, &r), -ERANGE);
	check_all(f, p, brute_offset(f, st.log_start_offset));
	/* Forward everything: retention trims down to retention_bytes. */
	sluice_partition_set_forwarded(p, f->v[f->n - 1].last + 1);
	sluice_log_retention_run(log);
	sluice_partition_stats(p, &st);
	assert_true(st.bytes_on_disk < (32 << 10) + (8 << 10));
	assert_true(st.bytes_on_disk >= 32 << 10);
	mid = st.log_start_offset;
	sluice_log_close(log);

	/* Reopen keeps the new log start. */
	log = tu_open(f->dir, &f->topic, -1);
	p = sluice_log_partition(log, 0);
	sluice_partition_stats(p, &st);
	assert_int_equal(st.log_start_offset, mid);
	check_all(f, p, brute_offset(f, mid));
	sluice_log_close(log);
}

/* A reader keeps the segment it is in readable while retention deletes it; the files go
 * when the reader lets go. */
static void test_retention_pinned_reader(void **state)
{
	struct fixture *f = *state;
	struct sluice_log *log;
	struct sluice_partition *p;
	struct sluice_partition_stats st;
	struct sluice_reader *r;
	const uint8_t *b;
	size_t len;
	char path[600];
	int got = 0;

	f->topic.segment_bytes = 4 << 10;
	f->topic.retention_bytes = 1;
	log = tu_open(f->dir, &f->topic, -1);
	p = sluice_log_partition(log, 0);
	for (int i = 0; i < 100; i++)
		append_one(f, p, 1000 + i, 4, 100);
	assert_int_equal(sluice_reader_open(p, 0, &r), 0);
	assert_int_equal(sluice_reader_next(r, &b, &len), 1);
	got++;
	sluice_partition_set_forwarded(p, f->v[f->n - 1].last + 1);
	assert_true(sluice_log_retention_run(log) > 0);
	sluice_partition_stats(p, &st);
	assert_int_equal(st.segments, 1);
	snprintf(path, sizeof(path), "%s/events-0/%020d.log", f->dir, 0);
	assert_true(tu_file_size(path) > 0); /* pinned by the reader */
	/* the reader finishes its segment, then continues in the oldest one still there */
	while (sluice_reader_next(r, &b, &len) == 1)
		got++;
	sluice_reader_close(r);
	assert_int_equal(tu_file_size(path), -1);
	assert_true(got > 1 && got < f->n);
	sluice_log_close(log);
}

static void test_retention_drop_unforwarded(void **state)
{
	struct fixture *f = *state;
	struct sluice_log *log;
	struct sluice_partition *p;
	struct sluice_partition_stats st;
	int64_t start;

	f->topic.segment_bytes = 8 << 10;
	f->topic.retention_ms = 1000; /* timestamps below are from 1970 */
	f->topic.retention_drop_unforwarded = true;
	log = tu_open(f->dir, &f->topic, -1);
	p = sluice_log_partition(log, 0);
	for (int i = 0; i < 200; i++)
		append_one(f, p, 1000 + i, 4, 100);
	sluice_partition_set_forwarded(p, 10);
	assert_true(sluice_log_retention_run(log) > 0);
	sluice_partition_stats(p, &st);
	start = st.log_start_offset;
	/* Every segment but the active one went; everything from 10 up to start was dropped. */
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.retention_dropped_records, (uint64_t)(start - 10));
	assert_int_equal(
		st.oldest_timestamp_ms,
		f->v[brute_offset(f, start)].max_ts -
			(f->v[brute_offset(f, start)].last - f->v[brute_offset(f, start)].base));
	sluice_log_close(log);
}

/* A store-only topic (no forwarder) is trimmed by size and age although nothing was ever
 * forwarded, and nothing counts as dropped. */
static void test_retention_store_only(void **state)
{
	struct fixture *f = *state;
	struct sluice_log *log;
	struct sluice_partition *p;
	struct sluice_partition_stats st;

	f->topic.segment_bytes = 8 << 10;
	f->topic.retention_bytes = 32 << 10;
	f->topic.store_only = true;
	log = tu_open(f->dir, &f->topic, -1);
	p = sluice_log_partition(log, 0);
	for (int i = 0; i < 300; i++)
		append_one(f, p, 1000 + i, 4, 100);
	assert_true(sluice_log_retention_run(log) > 0);
	sluice_partition_stats(p, &st);
	assert_true(st.bytes_on_disk < (32 << 10) + (8 << 10));
	assert_true(st.bytes_on_disk >= 32 << 10);
	assert_true(st.log_start_offset > 0);
	assert_int_equal(st.forwarded_offset, 0);
	assert_int_equal(st.retention_dropped_records, 0);
	check_all(f, p, brute_offset(f, st.log_start_offset));
	sluice_log_close(log);

	/* By age as well: every closed segment is older than 1 s (timestamps from 1970). */
	f->topic.retention_bytes = 0;
	f->topic.retention_ms = 1000;
	log = tu_open(f->dir, &f->topic, -1);
	p = sluice_log_partition(log, 0);
	assert_true(sluice_log_retention_run(log) > 0);
	sluice_partition_stats(p, &st);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.retention_dropped_records, 0);
	sluice_log_close(log);
}

static void test_bad_input(void **state)
{
	struct fixture *f = *state;
	struct sluice_log *log;
	struct sluice_partition *p;
	struct sluice_partition_stats st;
	uint8_t buf[300000];
	size_t len;
	int64_t base;

	log = tu_open(f->dir, &f->topic, -1);
	p = sluice_log_partition(log, 0);
	memset(buf, 0xab, 100);
	assert_int_equal(sluice_partition_append_sync(p, buf, 100, &base), -EBADMSG);
	assert_int_equal(base, -1);
	len = tu_make_batch(buf, sizeof(buf), 3, 1, 1, 10);
	buf[len - 1] ^= 1; /* CRC mismatch */
	assert_int_equal(sluice_partition_append_sync(p, buf, len, NULL), -EBADMSG);
	/* Larger than the 256 KiB write buffer. */
	len = tu_make_batch(buf, sizeof(buf), 70, 1, 1, 4000);
	assert_true(len > 256 << 10);
	assert_int_equal(sluice_partition_append_sync(p, buf, len, NULL), -EMSGSIZE);
	sluice_partition_stats(p, &st);
	assert_int_equal(st.log_end_offset, 0);
	assert_false(st.failed);
	sluice_log_close(log);

	struct sluice_topic_opts bad = f->topic;
	struct sluice_log_opts o = {.data_dir = f->dir, .topics = &bad, .ntopics = 1};

	bad.name = "../x";
	assert_int_equal(sluice_log_open(&o, &log), -EINVAL);
	bad.name = "ok";
	bad.partitions = 0;
	assert_int_equal(sluice_log_open(&o, &log), -EINVAL);
	o.ntopics = 0;
	assert_int_equal(sluice_log_open(&o, &log), -EINVAL);
}

static void test_flush_none(void **state)
{
	struct fixture *f = *state;
	struct sluice_log *log;
	struct sluice_partition *p;
	struct sluice_partition_stats st;

	f->topic.flush_none = true;
	log = tu_open(f->dir, &f->topic, -1);
	p = sluice_log_partition(log, 0);
	for (int i = 0; i < 20; i++)
		append_one(f, p, i, 3, 30);
	sluice_partition_stats(p, &st);
	assert_int_equal(st.fsyncs, 0);
	assert_int_equal(st.durable_offset, f->v[f->n - 1].last + 1);
	check_all(f, p, 0);
	sluice_log_close(log);
}

/* O_DIRECT where the filesystem allows it: misaligned batches, tail-block rewrite across
 * flushes and reopen. SLUICE_TEST_DIR may point at tmpfs, so only auto mode is asserted. */
static void test_direct_tail_rewrite(void **state)
{
	struct fixture *f = *state;
	struct sluice_log *log;
	struct sluice_partition *p;

	for (int round = 0; round < 3; round++) {
		log = tu_open(f->dir, &f->topic, -1);
		assert_non_null(log);
		p = sluice_log_partition(log, 0);
		for (int i = 0; i < 37; i++)
			append_one(f, p, i, 2, 1 + (size_t)(tu_rnd() % 3000));
		check_all(f, p, 0);
		sluice_log_close(log);
	}
}

static void test_two_topics(void **state)
{
	struct fixture *f = *state;
	struct sluice_topic_opts t[2] = {f->topic, f->topic};
	struct sluice_log_opts o = {.data_dir = f->dir, .topics = t, .ntopics = 2, .writers = 3};
	struct sluice_log *log;
	char path[600];

	t[0].name = "alpha";
	t[0].partitions = 2;
	t[1].name = "beta";
	t[1].partitions = 3;
	assert_int_equal(sluice_log_open(&o, &log), 0);
	assert_int_equal(sluice_log_partition_count(log), 5);
	assert_int_equal(sluice_log_writer_count(log), 3);
	assert_int_equal(sluice_log_partition_id(log, "alpha", 1), 1);
	assert_int_equal(sluice_log_partition_id(log, "beta", 0), 2);
	assert_int_equal(sluice_log_partition_id(log, "beta", 2), 4);
	assert_int_equal(sluice_log_partition_id(log, "beta", 3), -ENOENT);
	assert_null(sluice_log_partition(log, 5));
	assert_null(sluice_log_ring(log, 0, 0)); /* no producers: no rings, no EAL */
	for (uint32_t id = 0; id < 5; id++) {
		struct sluice_partition_stats st;

		assert_true(sluice_log_writer_of(log, id) < 3);
		sluice_partition_stats(sluice_log_partition(log, id), &st);
		assert_string_equal(st.topic, id < 2 ? "alpha" : "beta");
		assert_int_equal(st.partition, id < 2 ? id : id - 2);
		{
			uint8_t buf[256];
			size_t len = tu_make_batch(buf, sizeof(buf), 2, 1, id, 10);
			int64_t base = -1;

			assert_int_equal(sluice_partition_append_sync(sluice_log_partition(log, id),
								      buf, len, &base),
					 0);
			assert_int_equal(base, 0);
		}
	}
	sluice_log_close(log);
	snprintf(path, sizeof(path), "%s/beta-2", f->dir);
	assert_true(tu_exists(path, "clean-shutdown"));
	snprintf(path, sizeof(path), "%s/alpha-1", f->dir);
	assert_true(tu_exists(path, "00000000000000000000.log"));
	/* the same topic twice is refused */
	t[1].name = "alpha";
	assert_int_equal(sluice_log_open(&o, &log), -EINVAL);
}

static void test_write_atomic(void **state)
{
	struct fixture *f = *state;
	char path[512], buf[64] = {0};
	FILE *fp;

	assert_int_equal(sluice_storage_write_atomic(f->dir, "cursor", "one", 3), 0);
	assert_int_equal(sluice_storage_write_atomic(f->dir, "cursor", "second", 6), 0);
	snprintf(path, sizeof(path), "%s/cursor", f->dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_int_equal(fread(buf, 1, sizeof(buf), fp), 6);
	fclose(fp);
	assert_string_equal(buf, "second");
	assert_false(tu_exists(f->dir, ".cursor.tmp"));
	assert_int_equal(sluice_storage_write_atomic("/nonexistent-dir", "x", "y", 1), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_read_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roll_and_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roll_by_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_store_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_drop_unforwarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_pinned_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_tail_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_topics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
