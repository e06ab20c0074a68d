/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ingest → durable latency (storage/writer.c): batches pushed through the writer rings with
 * ingest_tsc set are observed once each when the durable offset passes them, whether an
 * fdatasync or (flush = none) the write itself made them durable; batches without
 * ingest_tsc are not observed. A burst larger than the per-partition pending FIFO makes the
 * writer fold entries: the count must still be exact and no batch may look younger than
 * it is. Needs the EAL (--no-huge, --no-pci).
 *
 * Acknowledged mode (sluice_partition_ack_state()): per producer, the durable tag never runs
 * ahead of the durable offset, reaches the last tag, and a refused tagged batch is counted.
 */
#include <inttypes.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "storage_test_util.h"

#define ELT_BYTES 2048
#define BURSTS 20
#define BURST_BATCHES 200 /* well above the writer's pending FIFO */
#define OLD_MS 20 /* some batches claim to have arrived this long ago */

static struct rte_mempool *pool;
static char eal_prefix[64];

static int eal_setup(void **state)
{
	(void)state;
	if (tu_eal_start("test_latency", "tl", eal_prefix, sizeof(eal_prefix)) < 0)
		return -1;
	pool = rte_mempool_create("tl_pool", 1023, ELT_BYTES, 0, 0, NULL, NULL, NULL, NULL,
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

struct expect {
	int64_t records;
	uint64_t observed; /* batches with ingest_tsc */
	uint64_t old; /* ... of which claim to be OLD_MS old */
};

static void push(struct sluice_log *log, uint32_t part, uint32_t seq, uint64_t tsc,
		 struct expect *e)
{
	struct rte_ring *ring = sluice_log_ring(log, 0, sluice_log_writer_of(log, part));
	struct sluice_batch *b;
	void *obj;
	int nrec = 1 + (int)(seq % 3);

	for (int k = 0; rte_mempool_get(pool, &obj) != 0; k++) {
		assert_true(k < 1000000);
		sched_yield();
	}
	b = obj;
	b->pool = pool;
	b->data = (uint8_t *)(b + 1);
	b->len =
		(uint32_t)tu_make_batch(b->data, ELT_BYTES - sizeof(*b), nrec, 1000 + seq, seq, 16);
	assert_true(b->len > 0);
	b->records = (uint32_t)nrec;
	b->partition_id = part;
	b->ingest_tsc = tsc;
	e->records += nrec;
	for (int k = 0; rte_ring_sp_enqueue(ring, b) != 0; k++) {
		assert_true(k < 1000000);
		sched_yield();
	}
}

static void test_ingest_to_durable(void **state)
{
	char dir[256];
	struct sluice_topic_opts t[2] = {
		{
			.name = "ev",
			.partitions = 1,
			.segment_bytes = 1 << 20,
			.flush_interval_us = 2000,
			.flush_bytes = 256 << 10,
			.index_interval_bytes = 4096,
		},
		{
			.name = "nf",
			.partitions = 1,
			.segment_bytes = 1 << 20,
			.flush_interval_us = 2000,
			.flush_bytes = 256 << 10,
			.index_interval_bytes = 4096,
			.flush_none = true,
		},
	};
	struct sluice_log_opts o = {
		.topics = t,
		.ntopics = 2,
		.writers = 1,
		.producers = 1,
		.ring_size = 1024,
		.direct_io = -1,
		.write_buffer_bytes = 1 << 20,
		.writer_idle_sleep = true,
	};
	struct expect e[2] = {{0}};
	uint64_t hz = rte_get_tsc_hz(), seq = 0;
	struct sluice_log *log;

	(void)state;
	assert_true(hz > 0);
	tu_mkdtemp(dir, sizeof(dir), "latency");
	o.data_dir = dir;
	assert_int_equal(sluice_log_open(&o, &log), 0);
	assert_int_equal(sluice_log_start(log), 0);
	for (int r = 0; r < BURSTS; r++) {
		/* Back to back, so that one group commit covers far more batches than the
		 * FIFO holds; every third batch has no ingest time, every fifth is old. */
		for (int i = 0; i < BURST_BATCHES; i++, seq++) {
			uint32_t part = (uint32_t)(seq % 2);
			uint64_t tsc = rte_rdtsc();

			if (seq % 3 == 0) {
				tsc = 0;
			} else {
				if (seq % 5 == 0) {
					tsc -= hz / 1000 * OLD_MS;
					e[part].old++;
				}
				e[part].observed++;
			}
			push(log, part, (uint32_t)seq, tsc, &e[part]);
		}
		nanosleep(&(struct timespec){0, 3 * 1000 * 1000}, NULL);
	}
	for (uint32_t p = 0; p < 2; p++) {
		struct sluice_partition *part = sluice_log_partition(log, p);
		uint64_t hist[SLUICE_HIST_BUCKETS], sum_us, n = 0, n_old = 0;
		uint64_t old_us = OLD_MS * 1000;

		for (int k = 0; k < 20000 && sluice_partition_durable_offset(part) < e[p].records;
		     k++)
			usleep(1000);
		assert_int_equal(sluice_partition_durable_offset(part), e[p].records);
		sluice_partition_ingest_durable_hist(part, hist, &sum_us);
		for (int b = 0; b < SLUICE_HIST_BUCKETS; b++) {
			n += hist[b];
			/* bucket b holds (2^(b-1), 2^b] µs: wholly above OLD_MS's bucket floor */
			if (b > 0 && (1ull << (b - 1)) >= old_us / 2)
				n_old += hist[b];
		}
		assert_int_equal(n, e[p].observed);
		/* Folding may make a batch look older, never younger. */
		assert_true(n_old >= e[p].old);
		assert_true(sum_us >= e[p].old * old_us);
		assert_true(sum_us > 0);
	}
	assert_int_equal(sluice_log_stop(log), 0);
	sluice_log_close(log);
	tu_rm_rf(dir);
}

/* A tagged batch from producer @p prod; @p bad: not a valid batch (the writer refuses it). */
static void push_tagged(struct sluice_log *log, uint32_t prod, uint32_t tag, bool bad)
{
	struct rte_ring *ring = sluice_log_ring(log, prod, sluice_log_writer_of(log, 0));
	struct sluice_batch *b;
	void *obj;

	for (int k = 0; rte_mempool_get(pool, &obj) != 0; k++) {
		assert_true(k < 1000000);
		sched_yield();
	}
	b = obj;
	memset(b, 0, sizeof(*b));
	b->pool = pool;
	b->data = (uint8_t *)(b + 1);
	b->len = (uint32_t)tu_make_batch(b->data, ELT_BYTES - sizeof(*b), 2, tag, 0, 16);
	assert_true(b->len > 0);
	if (bad)
		b->data[16] = 7; /* magic */
	b->records = 2;
	b->ack_tag = tag;
	b->producer = prod;
	for (int k = 0; rte_ring_sp_enqueue(ring, b) != 0; k++) {
		assert_true(k < 1000000);
		sched_yield();
	}
}

static void test_ack_tags(void **state)
{
	char dir[256];
	struct sluice_topic_opts t = {
		.name = "ack",
		.partitions = 1,
		.segment_bytes = 1 << 20,
		.flush_interval_us = 1000,
		.flush_bytes = 64 << 10,
		.index_interval_bytes = 4096,
	};
	struct sluice_log_opts o = {
		.topics = &t,
		.ntopics = 1,
		.writers = 1,
		.producers = 2,
		.ring_size = 1024,
		.direct_io = -1,
		.write_buffer_bytes = 1 << 20,
		.writer_idle_sleep = true,
	};
	enum { N = 600 }; /* tags per producer, well above the writer's FIFO */
	struct sluice_log *log;
	struct sluice_partition *p;
	uint32_t d, refused;

	(void)state;
	tu_mkdtemp(dir, sizeof(dir), "acktags");
	o.data_dir = dir;
	assert_int_equal(sluice_log_open(&o, &log), 0);
	p = sluice_log_partition(log, 0);
	sluice_partition_ack_state(p, 0, &d, &refused);
	assert_int_equal(d, 0);
	assert_int_equal(refused, 0);
	assert_int_equal(sluice_log_start(log), 0);
	/* Producer 0 tags 1..N, producer 1 the same; batch 300 of producer 1 is invalid. Every
	 * batch holds 2 records; a tag seen durable means all earlier batches of every producer
	 * enqueued before it are (the writer interleaves rings, so only the count below is
	 * exact per producer: at least 2 * tag records of that producer are durable). */
	for (uint32_t tag = 1; tag <= N; tag++) {
		push_tagged(log, 0, tag, false);
		push_tagged(log, 1, tag, tag == 300);
		if (tag % 50 == 0) {
			for (uint32_t pr = 0; pr < 2; pr++) {
				sluice_partition_ack_state(p, pr, &d, &refused);
				int64_t dur = sluice_partition_durable_offset(p);
				assert_true(dur >= 2 * (int64_t)d - (pr == 1 && d >= 300 ? 2 : 0));
			}
		}
	}
	for (int k = 0; k < 20000; k++) {
		sluice_partition_ack_state(p, 0, &d, &refused);
		uint32_t d1, r1;
		sluice_partition_ack_state(p, 1, &d1, &r1);
		if (d == N && d1 == N)
			break;
		usleep(1000);
	}
	sluice_partition_ack_state(p, 0, &d, &refused);
	assert_int_equal(d, N);
	assert_int_equal(refused, 0);
	sluice_partition_ack_state(p, 1, &d, &refused);
	assert_int_equal(d, N);
	assert_int_equal(refused, 1);
	assert_int_equal(sluice_partition_durable_offset(p), 2 * (2 * N - 1));
	sluice_partition_ack_state(p, 2, &d, &refused); /* no such producer */
	assert_int_equal(d, 0);
	assert_int_equal(sluice_log_stop(log), 0);
	sluice_log_close(log);
	tu_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ingest_to_durable),
		cmocka_unit_test(test_ack_tags),
	};

	return cmocka_run_group_tests(tests, eal_setup, eal_teardown);
}
