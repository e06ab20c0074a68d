/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Writer threads (storage/writer.c) fed through the SPSC rte_rings, as the dataplane feeds
 * them: producers take buffers from an rte_mempool, enqueue struct sluice_batch pointers, the
 * writers copy, group-commit and return the buffers. Needs the EAL (--no-huge, --no-pci).
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "storage_test_util.h"

#define PRODUCERS 2
#define PARTITIONS 4
#define BATCHES_PER_PRODUCER 3000
#define ELT_BYTES 4096

static struct rte_mempool *pool;
static char eal_prefix[64];

struct prod {
	struct sluice_log *log;
	uint32_t index;
	uint64_t records[PARTITIONS];
	uint64_t full_spins;
};

static void *producer_main(void *arg)
{
	struct prod *pr = arg;

	for (uint32_t i = 0; i < BATCHES_PER_PRODUCER; i++) {
		uint32_t part = (i + pr->index) % PARTITIONS;
		struct rte_ring *ring =
			sluice_log_ring(pr->log, pr->index, sluice_log_writer_of(pr->log, part));
		struct sluice_batch *b;
		void *obj;
		int nrec = 1 + (int)(i % 7);

		while (rte_mempool_get(pool, &obj) != 0)
			sched_yield();
		b = obj;
		b->pool = pool;
		b->data = (uint8_t *)(b + 1);
		/* seed encodes (producer, sequence) so the reader can check per-producer order */
		b->len = (uint32_t)tu_make_batch(b->data, ELT_BYTES - sizeof(*b), nrec, 1000 + i,
						 pr->index << 24 | i, 1 + i % 200);
		b->records = (uint32_t)nrec;
		b->partition_id = part;
		b->ingest_tsc = 0;
		pr->records[part] += (uint64_t)nrec;
		while (rte_ring_sp_enqueue(ring, b) != 0) {
			pr->full_spins++;
			sched_yield();
		}
	}
	return NULL;
}

/* Tails partition 0 while the producers run: every batch it gets is whole, valid and
 * contiguous, and it never sees past the durable watermark. */
struct tail {
	struct sluice_log *log;
	atomic_bool stop;
	int64_t seen; /* next offset expected */
	int errors;
	uint64_t polls;
};

static void *tail_main(void *arg)
{
	struct tail *t = arg;
	struct sluice_partition *p = sluice_log_partition(t->log, 0);
	struct sluice_reader *r;

	if (sluice_reader_open(p, 0, &r) != 0) {
		t->errors++;
		return NULL;
	}
	for (int idle = 0; idle < 2;) {
		const uint8_t *b;
		size_t len;
		struct sluice_rb_header h;
		int64_t durable = sluice_partition_durable_offset(p);
		int rc = sluice_reader_next(r, &b, &len);

		t->polls++;
		if (rc < 0) {
			t->errors++;
			break;
		}
		if (rc == 0) {
			/* caught up: finish after one more empty poll once told to stop */
			if (atomic_load(&t->stop))
				idle++;
			usleep(200);
			continue;
		}
		if (sluice_rb_batch_validate(b, len, &h, NULL) != SLUICE_RB_OK ||
		    h.base_offset != t->seen)
			t->errors++;
		t->seen = h.base_offset + h.last_offset_delta + 1;
		if (t->seen > sluice_partition_durable_offset(p) && t->seen > durable)
			t->errors++;
	}
	sluice_reader_close(r);
	return NULL;
}

static int eal_setup(void **state)
{
	(void)state;
	if (tu_eal_start("test_writer", "tw", eal_prefix, sizeof(eal_prefix)) < 0)
		return -1;
	pool = rte_mempool_create("tw_pool", 511, ELT_BYTES, 0, 0, NULL, NULL, NULL, NULL,
				  SOCKET_ID_ANY, 0);
	return pool ? 0 : -1;
}

static int eal_teardown(void **state)
{
	(void)state;
	rte_mempool_free(pool);
	tu_eal_stop(eal_prefix);
	return 0;
}

/* Key "k<seed>-0" of the first record: the producer and its sequence number. */
static uint32_t batch_seed(const uint8_t *b, size_t len)
{
	struct sluice_rb_record_iter it;
	struct sluice_rb_record rec;
	char key[32] = {0};

	sluice_rb_record_iter_init(&it, b, len);
	assert_int_equal(sluice_rb_record_iter_next(&it, &rec), 1);
	assert_true(rec.key_len > 0 && rec.key_len < (int32_t)sizeof(key));
	memcpy(key, rec.key, (size_t)rec.key_len);
	return (uint32_t)strtoul(key + 1, NULL, 10);
}

static void run_writers(bool idle_sleep, uint32_t writers, enum sluice_prealloc prealloc,
			const char *tag)
{
	char dir[256];
	struct sluice_topic_opts t = {
		.name = "ev",
		.partitions = PARTITIONS,
		.segment_bytes = 256 << 10, /* several rolls under load */
		.flush_interval_us = 500,
		.flush_bytes = 64 << 10,
		.index_interval_bytes = 4096,
	};
	struct sluice_log_opts o = {
		.topics = &t,
		.ntopics = 1,
		.writers = writers,
		.producers = PRODUCERS,
		.ring_size = 64,
		.direct_io = -1,
		.write_buffer_bytes = 128 << 10,
		.writer_idle_sleep = idle_sleep,
		.prealloc = prealloc,
		.prealloc_bytes = 64 << 10, /* several preallocations per 256 KiB segment */
	};
	struct sluice_log *log;
	pthread_t th[PRODUCERS];
	struct prod pr[PRODUCERS] = {0};
	uint64_t expect[PARTITIONS] = {0};

	tu_mkdtemp(dir, sizeof(dir), tag);
	o.data_dir = dir;
	assert_int_equal(sluice_log_open(&o, &log), 0);
	assert_int_equal(sluice_log_writer_count(log), writers);
	assert_non_null(sluice_log_ring(log, PRODUCERS - 1, writers - 1));
	assert_null(sluice_log_ring(log, PRODUCERS, 0));
	assert_int_equal(sluice_log_start(log), 0);
	assert_int_equal(sluice_partition_append_sync(sluice_log_partition(log, 0), NULL, 0, NULL),
			 -EBUSY);
	struct tail tl = {.log = log};
	pthread_t tail_th;

	assert_int_equal(pthread_create(&tail_th, NULL, tail_main, &tl), 0);
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		pr[i].log = log;
		pr[i].index = i;
		assert_int_equal(pthread_create(&th[i], NULL, producer_main, &pr[i]), 0);
	}
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		pthread_join(th[i], NULL);
		for (int p = 0; p < PARTITIONS; p++)
			expect[p] += pr[i].records[p];
	}
	/* Durable without stop: group commit by deadline (bounded wait, 20 s). */
	for (int p = 0; p < PARTITIONS; p++) {
		struct sluice_partition *part = sluice_log_partition(log, (uint32_t)p);

		for (int k = 0;
		     k < 20000 && sluice_partition_durable_offset(part) < (int64_t)expect[p]; k++)
			usleep(1000);
		assert_int_equal(sluice_partition_durable_offset(part), (int64_t)expect[p]);
	}
	atomic_store(&tl.stop, true);
	pthread_join(tail_th, NULL);
	assert_int_equal(tl.errors, 0);
	assert_int_equal(tl.seen, (int64_t)expect[0]);
	/* Readers run while the writers are live. */
	for (int p = 0; p < PARTITIONS; p++) {
		struct sluice_partition *part = sluice_log_partition(log, (uint32_t)p);
		struct sluice_partition_stats st;
		struct tu_batch *v = NULL;
		int64_t last_seq[PRODUCERS] = {-1, -1};
		int n = tu_read_all(part, 0, &v);
		int64_t next = 0;

		assert_true(n > 0);
		for (int i = 0; i < n; i++) {
			uint32_t seed = batch_seed(v[i].data, v[i].len);
			uint32_t prod = seed >> 24, seq = seed & 0xffffff;

			if (v[i].base != next) {
				struct tu_batch *v2 = NULL;
				int n2 = tu_read_all(part, 0, &v2);

				fprintf(stderr,
					"gap p%d i=%d prev [%lld,%lld] len %zu got %lld; reread "
					"n=%d vs %d\n",
					p, i, (long long)v[i - 1].base, (long long)v[i - 1].last,
					v[i - 1].len, (long long)v[i].base, n2, n);
			}
			assert_int_equal(v[i].base, next);
			next = v[i].last + 1;
			assert_true(prod < PRODUCERS);
			assert_true((int64_t)seq > last_seq[prod]);
			last_seq[prod] = seq;
		}
		assert_int_equal(next, (int64_t)expect[p]);
		tu_free_batches(v, n);
		sluice_partition_stats(part, &st);
		assert_int_equal(st.appended_records, expect[p]);
		assert_int_equal(st.durable_records, expect[p]);
		assert_int_equal(st.shed_records, 0);
		assert_false(st.failed);
		assert_true(st.segments > 1);
		assert_true(st.fsyncs > 0);
	}
	{
		struct sluice_writer_stats ws;
		uint64_t batches = 0;

		for (uint32_t w = 0; w < writers; w++) {
			sluice_log_writer_stats(log, w, &ws);
			batches += ws.batches;
			assert_int_equal(ws.misrouted, 0);
			assert_true(ws.busy_passes > 0 && ws.busy_passes <= ws.passes);
		}
		assert_int_equal(batches, PRODUCERS * BATCHES_PER_PRODUCER);
	}
	sluice_log_flush_request(log);
	assert_int_equal(sluice_log_stop(log), 0);
	assert_int_equal(sluice_log_stop(log), 0);
	/* Every buffer went back to the pool. */
	assert_int_equal(rte_mempool_avail_count(pool), 511);
	sluice_log_close(log);

	/* Reopen: everything is there after the clean shutdown. */
	o.producers = 0;
	assert_int_equal(sluice_log_open(&o, &log), 0);
	for (int p = 0; p < PARTITIONS; p++)
		assert_int_equal(
			sluice_partition_durable_offset(sluice_log_partition(log, (uint32_t)p)),
			(int64_t)expect[p]);
	sluice_log_close(log);
	tu_rm_rf(dir);
}

static void test_writers_busy_poll(void **state)
{
	(void)state;
	run_writers(false, 2, SLUICE_PREALLOC_FALLOCATE, "wr-poll");
}

static void test_writers_idle_sleep(void **state)
{
	(void)state;
	run_writers(true, 1, SLUICE_PREALLOC_ZERO, "wr-sleep");
}

static void test_writers_three(void **state)
{
	(void)state;
	run_writers(true, 3, SLUICE_PREALLOC_NONE, "wr-three");
}

/*
 * Group-commit liveness: written bytes are always covered by a later fdatasync without more
 * input. Rounds of a few batches enqueued at random instants (back to back, after a yield, or
 * after a delay of the order of one fdatasync, so that batches land while a sync is in
 * flight, while a write is in flight, across rolls and with the fill buffer full), then no
 * input at all: every partition must become durable up to its end within 2 s. Every few
 * rounds the log is stopped right after a burst instead, and must then be durable at once.
 */
#define STRESS_PARTS 3
#define STRESS_ROUNDS 150

static struct sluice_batch *stress_batch(uint32_t part, uint32_t seq, int nrec, size_t vlen)
{
	struct sluice_batch *b;
	void *obj;

	while (rte_mempool_get(pool, &obj) != 0)
		sched_yield();
	b = obj;
	b->pool = pool;
	b->data = (uint8_t *)(b + 1);
	b->len = (uint32_t)tu_make_batch(b->data, ELT_BYTES - sizeof(*b), nrec, 1000 + seq, seq,
					 vlen);
	b->records = (uint32_t)nrec;
	b->partition_id = part;
	b->ingest_tsc = 0;
	return b;
}

static void stress_pause(void)
{
	switch (tu_rnd() % 4) {
	case 0:
		break; /* back to back: same group */
	case 1:
		sched_yield();
		break;
	default: {
		/* 0-300 us: around one fdatasync on this disk (FACTS.md), so that the next batch
		 * often arrives while the previous group's write or sync is in flight */
		struct timespec ts = {0, (long)(tu_rnd() % 300000)};

		nanosleep(&ts, NULL);
	}
	}
}

/* Wait (bounded) until every partition is durable up to its end; report the laggards. */
static bool stress_all_durable(struct sluice_log *log, int64_t *expect, int wait_ms,
			       const char *when, int round)
{
	bool ok = true;

	for (uint32_t p = 0; p < STRESS_PARTS; p++) {
		struct sluice_partition *part = sluice_log_partition(log, p);
		struct sluice_partition_stats st;

		for (int k = 0;
		     k < wait_ms * 10 && sluice_partition_durable_offset(part) < expect[p]; k++)
			usleep(100);
		sluice_partition_stats(part, &st);
		if (st.durable_offset != expect[p] || st.log_end_offset != expect[p]) {
			fprintf(stderr,
				"%s round %d partition %u: durable %" PRId64 " log end %" PRId64
				" expected %" PRId64 " fsyncs %" PRIu64 " failed %d\n",
				when, round, p, st.durable_offset, st.log_end_offset, expect[p],
				st.fsyncs, (int)st.failed);
			ok = false;
		}
	}
	return ok;
}

/*
 * by_request: the group-commit deadline is far away (10 s), so within the 2 s wait only
 * sluice_log_flush_request(), sent once after each burst, can make the last groups durable.
 */
static void run_stress(bool idle_sleep, int direct, enum sluice_prealloc prealloc, uint64_t seed,
		       bool by_request, const char *tag)
{
	char dir[256];
	struct sluice_topic_opts t = {
		.name = "st",
		.partitions = STRESS_PARTS,
		.segment_bytes = 96 << 10, /* rolls every few rounds */
		.flush_interval_us = by_request ? 10000000 : 300,
		.flush_bytes = 2 << 10, /* most batches flush at once: overlap syncs */
		.index_interval_bytes = 4096,
	};
	struct sluice_log_opts o = {
		.topics = &t,
		.ntopics = 1,
		.writers = 2, /* partitions 0 and 2 share a writer */
		.producers = 1,
		.ring_size = 64,
		.direct_io = direct,
		.write_buffer_bytes = 16 << 10, /* fills while the previous flush is in flight */
		.writer_idle_sleep = idle_sleep,
		.prealloc = prealloc,
		.prealloc_bytes = 32 << 10,
	};
	struct sluice_log *log;
	int64_t expect[STRESS_PARTS] = {0};
	uint32_t seq = 0;
	int failures = 0, rounds = STRESS_ROUNDS;
	const char *env = getenv("SLUICE_STRESS_ROUNDS"); /* longer hunts by hand */
	uint64_t fsyncs = 0;

	if (env && strtoul(env, NULL, 10) > 0)
		rounds = (int)strtoul(env, NULL, 10);
	env = getenv("SLUICE_STRESS_SEED");
	if (env)
		seed ^= strtoull(env, NULL, 0) * 0x9e3779b97f4a7c15ull;
	tu_rng = seed ? seed : 1;
	tu_mkdtemp(dir, sizeof(dir), tag);
	o.data_dir = dir;
	assert_int_equal(sluice_log_open(&o, &log), 0);
	assert_int_equal(sluice_log_start(log), 0);
	for (int round = 0; round < rounds && failures < 3; round++) {
		int n = 1 + (int)(tu_rnd() % 6);
		bool stop_after = round % 25 == 24;
		/* mostly one partition per round, so that its groups follow each other closely */
		uint32_t main_part = (uint32_t)(tu_rnd() % STRESS_PARTS);

		for (int i = 0; i < n; i++) {
			uint32_t part =
				tu_rnd() % 4 ? main_part : (uint32_t)(tu_rnd() % STRESS_PARTS);
			int nrec = 1 + (int)(tu_rnd() % 5);
			struct sluice_batch *b =
				stress_batch(part, seq++, nrec, 1 + (size_t)(tu_rnd() % 700));
			struct rte_ring *r =
				sluice_log_ring(log, 0, sluice_log_writer_of(log, part));

			while (rte_ring_sp_enqueue(r, b) != 0)
				sched_yield();
			expect[part] += nrec;
			stress_pause();
		}
		if (stop_after) {
			/* stop drains the rings, commits and syncs: durable at once */
			assert_int_equal(sluice_log_stop(log), 0);
			if (!stress_all_durable(log, expect, 0, "after stop", round))
				failures++;
			for (uint32_t p = 0; p < STRESS_PARTS; p++) {
				struct sluice_partition_stats st;

				sluice_partition_stats(sluice_log_partition(log, p), &st);
				fsyncs += st.fsyncs;
			}
			sluice_log_close(log);
			assert_int_equal(sluice_log_open(&o, &log), 0);
			assert_int_equal(sluice_log_start(log), 0);
			if (!stress_all_durable(log, expect, 0, "after reopen", round))
				failures++;
			continue;
		}
		if (by_request)
			sluice_log_flush_request(log);
		if (!stress_all_durable(log, expect, 2000, "idle", round))
			failures++;
	}
	assert_int_equal(sluice_log_stop(log), 0);
	assert_int_equal(rte_mempool_avail_count(pool), 511);
	for (uint32_t p = 0; p < STRESS_PARTS; p++) {
		struct sluice_partition_stats st;

		sluice_partition_stats(sluice_log_partition(log, p), &st);
		assert_int_equal(st.shed_records, 0);
		assert_false(st.failed);
		fsyncs += st.fsyncs;
	}
	sluice_log_close(log);
	tu_rm_rf(dir);
	fprintf(stderr, "%s: %d rounds, %u batches, %" PRIu64 " fsyncs\n", tag, rounds, seq,
		fsyncs);
	assert_int_equal(failures, 0);
}

static void test_stress_durable_sleep(void **state)
{
	(void)state;
	run_stress(true, -1, SLUICE_PREALLOC_DEFAULT, 0x5eed0001, false, "st-sleep");
}

static void test_stress_durable_poll(void **state)
{
	(void)state;
	run_stress(false, -1, SLUICE_PREALLOC_ZERO, 0x5eed0002, false, "st-poll");
}

static void test_stress_durable_buffered(void **state)
{
	(void)state;
	run_stress(true, 0, SLUICE_PREALLOC_FALLOCATE, 0x5eed0003, false, "st-buf");
}

static void test_stress_durable_flush_request(void **state)
{
	(void)state;
	run_stress(true, -1, SLUICE_PREALLOC_DEFAULT, 0x5eed0004, true, "st-req");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writers_idle_sleep),
		cmocka_unit_test(test_writers_busy_poll),
		cmocka_unit_test(test_writers_three),
		cmocka_unit_test(test_stress_durable_sleep),
		cmocka_unit_test(test_stress_durable_poll),
		cmocka_unit_test(test_stress_durable_buffered),
		cmocka_unit_test(test_stress_durable_flush_request),
	};

	return cmocka_run_group_tests(tests, eal_setup, eal_teardown);
}
