/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Segment rolls off the writer's path (storage/roll.c, writer.c, segment.c):
 *  - a prepared next segment is removed at close and, after a crash, at open (its bytes go
 *    to quarantine/ if it holds any);
 *  - a named next segment whose predecessor lost its tail is dropped when empty;
 *  - while the roll helper has not named the next segment, nothing in it becomes durable
 *    (the watermark waits at the segment's base), and readers never miss a byte;
 *  - a slow preparation stalls the writer at the roll: the stall is counted and attributed
 *    (segment_roll), and the attribution clears once the writer has caught up;
 *  - slow seals queue up in order and the recovery checkpoint ends at the last roll.
 * Needs the EAL (--no-huge, --no-pci) for the writer rings.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "storage_internal.h"
#include "storage_test_util.h"

#define ELT_BYTES 4096

static struct rte_mempool *pool;
static char eal_prefix[64];

static int setup(void **state)
{
	(void)state;
	if (tu_eal_start("test_roll", "tr", eal_prefix, sizeof(eal_prefix)) < 0)
		return -1;
	pool = rte_mempool_create("tr_pool", 511, ELT_BYTES, 0, 0, NULL, NULL, NULL, NULL,
				  SOCKET_ID_ANY, 0);
	return pool ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rte_mempool_free(pool);
	tu_eal_stop(eal_prefix);
	return 0;
}

static struct sluice_topic_opts topic(uint64_t segment_bytes)
{
	return (struct sluice_topic_opts){
		.name = "r",
		.partitions = 1,
		.segment_bytes = segment_bytes,
		.flush_interval_us = 500,
		.flush_bytes = 16 << 10,
		.index_interval_bytes = 1024,
	};
}

/* queue depth of the logs opts() describes */
static uint32_t depth = 4;

static struct sluice_log_opts opts(const char *dir, struct sluice_topic_opts *t, uint32_t producers)
{
	return (struct sluice_log_opts){
		.data_dir = dir,
		.topics = t,
		.ntopics = 1,
		.writers = 1,
		.producers = producers,
		.ring_size = 512,
		.direct_io = -1,
		.write_buffer_bytes = 32 << 10,
		.writer_idle_sleep = true,
		.prealloc_bytes = 64 << 10,
		.queue_depth = depth,
	};
}

/* Batch k of the deterministic stream: 1..4 records, 100..500 byte values. */
static size_t batch_for(uint32_t k, uint8_t *buf, size_t cap, int *nrec)
{
	*nrec = 1 + (int)(k % 4);
	return tu_make_batch(buf, cap, *nrec, 1000 + k, k, 100 + (k * 53) % 400);
}

static int64_t push(struct sluice_log *log, uint32_t k)
{
	struct rte_ring *ring = sluice_log_ring(log, 0, 0);
	struct sluice_batch *b;
	void *obj;
	int nrec;

	while (rte_mempool_get(pool, &obj) != 0)
		sched_yield();
	b = obj;
	b->pool = pool;
	b->data = (uint8_t *)(b + 1);
	b->len = (uint32_t)batch_for(k, b->data, ELT_BYTES - sizeof(*b), &nrec);
	b->records = (uint32_t)nrec;
	b->partition_id = 0;
	b->ingest_tsc = 0;
	while (rte_ring_sp_enqueue(ring, b) != 0)
		sched_yield();
	return nrec;
}

/* The log holds exactly batches 0..n-1 of the stream, byte for byte. */
static void verify_stream(struct sluice_partition *p, uint32_t n)
{
	struct tu_batch *v = NULL;
	int got = tu_read_all(p, 0, &v);
	uint8_t exp[ELT_BYTES];
	int64_t off = 0;

	assert_int_equal(got, (int)n);
	for (uint32_t k = 0; k < n; k++) {
		int nrec;
		size_t len = batch_for(k, exp, sizeof(exp), &nrec);

		sluice_rb_set_base_offset(exp, off);
		assert_int_equal(v[k].len, len);
		assert_memory_equal(v[k].data, exp, len);
		off += nrec;
	}
	tu_free_batches(v, got);
}

static void part_dir(const char *dir, char *out, size_t len)
{
	snprintf(out, len, "%s/r-0", dir);
}

static bool wait_file(const char *dir, const char *name, int ms)
{
	for (int k = 0; k < ms; k++) {
		if (tu_exists(dir, name))
			return true;
		usleep(1000);
	}
	return tu_exists(dir, name);
}

static void write_file(const char *dir, const char *name, int byte, size_t n)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fputc(byte, f);
	fclose(f);
}

static void unlink_marker(const char *pdir)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/clean-shutdown", pdir);
	assert_int_equal(unlink(path), 0);
}

static int count_prefix(const char *dir, const char *prefix, long *bytes)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	*bytes = 0;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[1024];

		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		*bytes += tu_file_size(path);
		n++;
	}
	closedir(d);
	return n;
}

static void test_prepared_removed(void **state)
{
	char dir[256], pdir[300], qdir[320];
	struct sluice_topic_opts t = topic(1 << 20);
	struct sluice_log_opts o;
	struct sluice_partition_stats st;
	struct sluice_log *log;
	long bytes;

	(void)state;
	tu_mkdtemp(dir, sizeof(dir), "roll-prep");
	part_dir(dir, pdir, sizeof(pdir));
	snprintf(qdir, sizeof(qdir), "%s/quarantine", pdir);
	o = opts(dir, &t, 1);
	assert_int_equal(sluice_log_open(&o, &log), 0);
	assert_false(tu_exists(pdir, "prepared.log")); /* no helper before start */
	assert_int_equal(sluice_log_start(log), 0);
	/* the roll helper prepares the first next segment at start */
	assert_true(wait_file(pdir, "prepared.log", 5000));
	assert_true(tu_exists(pdir, "prepared.index"));
	assert_true(tu_exists(pdir, "prepared.timeindex"));
	for (uint32_t k = 0; k < 10; k++)
		push(log, k);
	sluice_log_close(log);
	/* a clean close removes it */
	assert_false(tu_exists(pdir, "prepared.log"));
	assert_false(tu_exists(pdir, "prepared.index"));
	assert_false(tu_exists(pdir, "prepared.timeindex"));
	assert_true(tu_exists(pdir, "clean-shutdown"));

	/* a crash leaves one (preallocated: zeros): removed at open, nothing quarantined */
	write_file(pdir, "prepared.log", 0, 8192);
	write_file(pdir, "prepared.index", 0, 0);
	write_file(pdir, "prepared.timeindex", 0, 0);
	unlink_marker(pdir);
	o.producers = 0;
	assert_int_equal(sluice_log_open(&o, &log), 0);
	assert_false(tu_exists(pdir, "prepared.log"));
	assert_false(tu_exists(pdir, "prepared.index"));
	assert_false(tu_exists(pdir, "prepared.timeindex"));
	sluice_partition_stats(sluice_log_partition(log, 0), &st);
	assert_int_equal(st.recovery_truncated_bytes, 0);
	assert_int_equal(st.durable_offset, 23); /* batches of 1,2,3,4,1,2,3,4,1,2 records */
	verify_stream(sluice_log_partition(log, 0), 10);
	sluice_log_close(log);
	assert_int_equal(count_prefix(qdir, "prepared", &bytes), 0);

	/* one with bytes in it (written before its name was durable): kept aside, counted */
	write_file(pdir, "prepared.log", 'x', 100);
	unlink_marker(pdir);
	assert_int_equal(sluice_log_open(&o, &log), 0);
	assert_false(tu_exists(pdir, "prepared.log"));
	sluice_partition_stats(sluice_log_partition(log, 0), &st);
	assert_int_equal(st.recovery_truncated_bytes, 100);
	assert_int_equal(st.durable_offset, 23);
	sluice_log_close(log);
	assert_int_equal(count_prefix(qdir, "prepared.log.unused-", &bytes), 1);
	assert_int_equal(bytes, 100);
	tu_rm_rf(dir);
}

/* Fill a log with append_sync until it has at least three segments; returns batches. */
static uint32_t fill_sync(struct sluice_log *log, uint32_t from, uint32_t n)
{
	struct sluice_partition *p = sluice_log_partition(log, 0);
	uint8_t buf[ELT_BYTES];

	for (uint32_t k = from; k < from + n; k++) {
		int nrec;
		size_t len = batch_for(k, buf, sizeof(buf), &nrec);

		assert_int_equal(sluice_partition_append_sync(p, buf, len, NULL), 0);
	}
	return from + n;
}

static void test_named_next_segment(void **state)
{
	char dir[256], pdir[300], name[64], path[400];
	struct sluice_topic_opts t = topic(8 << 10);
	struct sluice_log_opts o;
	struct sluice_partition_stats st;
	struct sluice_log *log;
	int64_t end;
	long size;

	(void)state;
	tu_mkdtemp(dir, sizeof(dir), "roll-named");
	part_dir(dir, pdir, sizeof(pdir));
	o = opts(dir, &t, 0);
	assert_int_equal(sluice_log_open(&o, &log), 0);
	fill_sync(log, 0, 40);
	sluice_partition_stats(sluice_log_partition(log, 0), &st);
	assert_true(st.segments >= 3);
	assert_true(st.rolls >= 2);
	end = st.log_end_offset;
	sluice_log_close(log);

	/* (a) a crash right after a roll named the next segment: it follows, it is empty */
	snprintf(name, sizeof(name), "%020" PRId64 ".log", end);
	write_file(pdir, name, 0, 4096); /* preallocated zeros */
	snprintf(path, sizeof(path), "%s/clean-shutdown", pdir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(sluice_log_open(&o, &log), 0);
	sluice_partition_stats(sluice_log_partition(log, 0), &st);
	assert_int_equal(st.durable_offset, end);
	assert_int_equal(st.recovery_truncated_bytes, 0);
	snprintf(path, sizeof(path), "%s/%s", pdir, name);
	assert_int_equal(tu_file_size(path), 0); /* the new active segment */
	fill_sync(log, 40, 10);
	verify_stream(sluice_log_partition(log, 0), 50);
	sluice_partition_stats(sluice_log_partition(log, 0), &st);
	end = st.log_end_offset;
	sluice_log_close(log);

	/* (b) ... whose predecessor lost its tail: it does not follow, and as it is empty it
	 * is dropped instead of quarantined */
	{
		struct tu_batch *v = NULL;
		int n;
		char last[64];
		int64_t base;

		assert_int_equal(sluice_log_open(&o, &log), 0);
		n = tu_read_all(sluice_log_partition(log, 0), 0, &v);
		assert_int_equal(n, 50);
		sluice_log_close(log);
		/* the last batch's segment: the last .log; cut its last batch off */
		base = v[n - 1].base;
		for (int i = n - 1; i >= 0; i--) {
			snprintf(last, sizeof(last), "%020" PRId64 ".log", v[i].base);
			if (tu_exists(pdir, last)) {
				base = v[i].base;
				break;
			}
		}
		snprintf(path, sizeof(path), "%s/%020" PRId64 ".log", pdir, base);
		size = tu_file_size(path);
		assert_int_equal(truncate(path, size - (long)v[n - 1].len), 0);
		tu_free_batches(v, n);
	}
	snprintf(name, sizeof(name), "%020" PRId64 ".log", end);
	write_file(pdir, name, 0, 4096);
	snprintf(path, sizeof(path), "%s/clean-shutdown", pdir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(sluice_log_open(&o, &log), 0);
	sluice_partition_stats(sluice_log_partition(log, 0), &st);
	assert_true(st.durable_offset < end);
	assert_int_equal(st.recovery_truncated_bytes, 0);
	assert_false(tu_exists(pdir, name));
	verify_stream(sluice_log_partition(log, 0), 49);
	sluice_log_close(log);
	tu_rm_rf(dir);
}

/* Roll points: slow down a step of the roll helper, and watch the watermark meanwhile. */
struct slow {
	const char *point; /* where to sleep */
	int sleep_ms;
	struct sluice_partition *p;
	_Atomic uint32_t hits;
	_Atomic uint32_t violations;
	_Atomic int64_t last_base;
};

static struct slow slow;

static void on_point(void *arg, struct sluice_partition *p, const char *point, int64_t base)
{
	struct slow *s = arg;

	if (strcmp(point, s->point) != 0)
		return;
	atomic_fetch_add(&s->hits, 1);
	atomic_store(&s->last_base, base);
	for (int i = 0; i < s->sleep_ms * 10; i++) {
		/* naming: nothing of the segment being named may be durable yet */
		if (strcmp(point, "naming") == 0 && sluice_partition_durable_offset(p) > base)
			atomic_fetch_add(&s->violations, 1);
		usleep(100);
	}
}

struct run_out {
	struct sluice_partition_stats st;
	struct sluice_writer_stats ws;
	int saw_roll_cause;
	enum sluice_writer_cause cause_after;
};

/* Stream n batches through the writer with the roll helper slowed at `point`. */
static void run_slow(const char *point, int sleep_ms, uint32_t n, uint64_t segment_bytes,
		     struct run_out *out)
{
	char dir[256];
	struct sluice_topic_opts t = topic(segment_bytes);
	struct sluice_log_opts o;
	struct sluice_log *log;
	struct sluice_partition *p;
	int64_t records = 0;

	memset(&slow, 0, sizeof(slow));
	memset(out, 0, sizeof(*out));
	slow.point = point;
	slow.sleep_ms = sleep_ms;
	storage_test_hooks.arg = &slow;
	storage_test_hooks.roll_point = on_point;
	tu_mkdtemp(dir, sizeof(dir), "roll-slow");
	o = opts(dir, &t, 1);
	assert_int_equal(sluice_log_open(&o, &log), 0);
	p = sluice_log_partition(log, 0);
	assert_int_equal(sluice_log_start(log), 0);
	for (uint32_t k = 0; k < n; k++) {
		records += push(log, k);
		if (sluice_log_writer_cause(log, 0) == SLUICE_WRITER_CAUSE_SEGMENT_ROLL ||
		    sluice_log_writer_cause(log, SLUICE_LOG_ANY_WRITER) ==
			    SLUICE_WRITER_CAUSE_SEGMENT_ROLL)
			out->saw_roll_cause = 1;
	}
	for (int k = 0; k < 20000 && sluice_partition_durable_offset(p) < records; k++) {
		if (sluice_log_writer_cause(log, 0) == SLUICE_WRITER_CAUSE_SEGMENT_ROLL)
			out->saw_roll_cause = 1;
		usleep(1000);
	}
	assert_int_equal(sluice_partition_durable_offset(p), records);
	/* the rings are empty now: once the writer has seen that, nothing is attributed */
	usleep(20000);
	out->cause_after = sluice_log_writer_cause(log, 0);
	verify_stream(p, n);
	sluice_log_stop(log);
	sluice_partition_stats(p, &out->st);
	sluice_log_writer_stats(log, 0, &out->ws);
	sluice_log_close(log);
	storage_test_hooks.roll_point = NULL;
	/* after close: everything recovers cleanly */
	o.producers = 0;
	assert_int_equal(sluice_log_open(&o, &log), 0);
	verify_stream(sluice_log_partition(log, 0), n);
	sluice_log_close(log);
	tu_rm_rf(dir);
}

static void test_slow_naming(void **state)
{
	struct run_out r;

	(void)state;
	depth = 1;
	run_slow("naming", 30, 300, 24 << 10, &r);
	depth = 4;
	assert_true(atomic_load(&slow.hits) >= 3);
	assert_int_equal(atomic_load(&slow.violations), 0);
	assert_true(r.st.rolls >= 3);
	assert_int_equal(r.st.shed_records, 0);
}

static void test_slow_prepare_stalls(void **state)
{
	struct run_out r;
	uint64_t stalls = 0, hist = 0;

	(void)state;
	run_slow("preparing", 40, 300, 24 << 10, &r);
	assert_true(r.st.rolls >= 3);
	/* the writer waited at rolls for the next segment, and said so */
	assert_true(r.ws.stalls[SLUICE_WRITER_CAUSE_SEGMENT_ROLL] >= 1);
	assert_true(r.saw_roll_cause);
	for (int i = 0; i < SLUICE_WRITER_CAUSE__COUNT; i++)
		stalls += r.ws.stalls[i];
	for (int i = 0; i < SLUICE_HIST_BUCKETS; i++)
		hist += r.ws.stall_hist[i];
	assert_int_equal(hist, stalls);
	assert_true(r.ws.stall_ns >= r.ws.stalls[SLUICE_WRITER_CAUSE_SEGMENT_ROLL] * 1000);
	assert_int_equal(r.cause_after, SLUICE_WRITER_CAUSE_BUSY);
	assert_int_equal(r.st.shed_records, 0);
	fprintf(stderr, "slow prepare: %" PRIu64 " rolls, %" PRIu64 " stalls at rolls, %.1f ms\n",
		r.st.rolls, r.ws.stalls[SLUICE_WRITER_CAUSE_SEGMENT_ROLL],
		(double)r.ws.stall_ns / 1e6);
}

static void test_slow_seal_checkpoint(void **state)
{
	char dir[256], pdir[300], path[400], buf[64] = {0};
	struct sluice_topic_opts t = topic(24 << 10);
	struct sluice_log_opts o;
	struct sluice_log *log;
	struct sluice_partition_stats st;
	struct sluice_partition *p;
	int64_t records = 0, last_base = 0;
	FILE *f;

	(void)state;
	depth = 2;
	memset(&slow, 0, sizeof(slow));
	slow.point = "sealing";
	slow.sleep_ms = 30;
	storage_test_hooks.arg = &slow;
	storage_test_hooks.roll_point = on_point;
	tu_mkdtemp(dir, sizeof(dir), "roll-seal");
	part_dir(dir, pdir, sizeof(pdir));
	o = opts(dir, &t, 1);
	assert_int_equal(sluice_log_open(&o, &log), 0);
	p = sluice_log_partition(log, 0);
	assert_int_equal(sluice_log_start(log), 0);
	for (uint32_t k = 0; k < 300; k++)
		records += push(log, k);
	for (int k = 0; k < 20000 && sluice_partition_durable_offset(p) < records; k++)
		usleep(1000);
	assert_int_equal(sluice_partition_durable_offset(p), records);
	/* stop finishes the queued seals */
	sluice_log_stop(log);
	storage_test_hooks.roll_point = NULL;
	sluice_partition_stats(p, &st);
	assert_true(st.rolls >= 3);
	assert_int_equal(atomic_load(&slow.hits), st.rolls);
	pthread_mutex_lock(&p->lock);
	last_base = p->segs[p->nsegs - 1]->base_offset;
	for (uint32_t i = 0; i + 1 < p->nsegs; i++) {
		/* every segment but the last is sealed: trimmed to its data, indexes written */
		char name[64];

		snprintf(path, sizeof(path), "%s/%020" PRId64 ".log", pdir,
			 p->segs[i]->base_offset);
		assert_int_equal(tu_file_size(path), (long)p->segs[i]->size);
		snprintf(name, sizeof(name), "%020" PRId64 ".index", p->segs[i]->base_offset);
		assert_true(tu_exists(pdir, name));
		assert_int_equal(p->segs[i]->fd, -1);
	}
	pthread_mutex_unlock(&p->lock);
	snprintf(path, sizeof(path), "%s/recovery-checkpoint", pdir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_true(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	fclose(f);
	assert_int_equal(strtoll(strchr(buf, '\n') + 1, NULL, 10), last_base);
	sluice_log_close(log);
	tu_rm_rf(dir);
	depth = 4;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prepared_removed),
		cmocka_unit_test(test_named_next_segment),
		cmocka_unit_test(test_slow_naming),
		cmocka_unit_test(test_slow_prepare_stalls),
		cmocka_unit_test(test_slow_seal_checkpoint),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
