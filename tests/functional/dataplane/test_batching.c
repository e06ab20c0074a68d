/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Batching and backpressure of one worker, driven pass by pass (sluice_worker_poll) from the
 * test thread: frames go in through a net_ring port (TX queue q loops back to RX queue q),
 * batches come out on rte_rings the test drains (the worker's rings override), so every
 * seal, shed and wait is observed exactly. EAL --no-huge --no-pci.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "../../unit/dataplane/dp_craft.h"
#include "sluice_dataplane.h"
#include "sluice_nic.h"

static struct rte_mempool *mbufs;
static struct sluice_nic_port *port;
static char prefix[64];
static int seq;

static const uint8_t our_ip[4] = {192, 0, 2, 1};

struct rig {
	struct sluice_worker *w;
	struct rte_mempool *pool;
	struct rte_ring *ring;
	uint32_t pool_n;
};

static void rig_up(struct rig *r, uint32_t pool_n, uint32_t pool_bytes, uint32_t ring_n,
		   struct sluice_worker_opts *wo, struct sluice_listener *ls, uint32_t nls)
{
	char name[32];
	snprintf(name, sizeof(name), "bp%d", seq);
	assert_int_equal(
		sluice_dp_batch_pool_create(name, pool_n, pool_bytes, SOCKET_ID_ANY, &r->pool), 0);
	r->pool_n = pool_n;
	snprintf(name, sizeof(name), "br%d", seq++);
	r->ring = rte_ring_create(name, ring_n, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	assert_non_null(r->ring);
	static struct sluice_dp_port dp;
	dp = (struct sluice_dp_port){.port = port, .queue = 0, .promiscuous = true};
	memcpy(dp.ipv4, our_ip, 4);
	wo->ports = &dp;
	wo->nports = 1;
	wo->listeners = ls;
	wo->nlisteners = nls;
	wo->rings = &r->ring;
	wo->nrings = 1;
	wo->batch_pool = r->pool;
	assert_int_equal(sluice_worker_create(wo, &r->w), 0);
}

/* Drain the ring: validate every batch, return records; partition counts optional. */
static uint64_t drain(struct rig *r, uint64_t *per_part, unsigned nparts, unsigned *batches)
{
	void *obj;
	uint64_t records = 0;
	while (rte_ring_dequeue(r->ring, &obj) == 0) {
		struct sluice_batch *b = obj;
		struct sluice_rb_header h;
		size_t bb;
		assert_int_equal(sluice_rb_batch_validate(b->data, b->len, &h, &bb), SLUICE_RB_OK);
		assert_int_equal(bb, b->len);
		assert_int_equal((uint32_t)h.record_count, b->records);
		assert_ptr_equal(b->pool, r->pool);
		records += b->records;
		if (per_part && b->partition_id < nparts)
			per_part[b->partition_id] += b->records;
		if (batches)
			(*batches)++;
		rte_mempool_put(b->pool, b);
	}
	return records;
}

static void rig_down(struct rig *r)
{
	drain(r, NULL, 0, NULL);
	sluice_worker_destroy(r->w);
	assert_int_equal(rte_mempool_avail_count(r->pool), r->pool_n);
	rte_mempool_free(r->pool);
	rte_ring_free(r->ring);
}

static void inject(const void *frame, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mbufs);
	assert_non_null(m);
	memcpy(rte_pktmbuf_append(m, (uint16_t)len), frame, len);
	assert_int_equal(sluice_nic_tx_burst(port, 0, &m, 1), 1);
}

static void inject_raw(uint16_t dport, const char *payload, size_t n)
{
	uint8_t f[2048];
	struct craft_opts o = {.family = 4, .sport = 1, .dport = dport};
	memset(o.dst_mac, 0xff, 6);
	memcpy(o.src, (uint8_t[]){10, 0, 0, 2}, 4);
	memcpy(o.dst, our_ip, 4);
	inject(f, craft_udp(f, &o, payload, n));
}

static void inject_events(uint16_t dport, int n, size_t bytes)
{
	char p[1024];
	for (int i = 0; i < n; i++) {
		memset(p, 'a' + i % 26, bytes);
		inject_raw(dport, p, bytes);
	}
}

/* Poll until the worker has seen @p rx frames (bounded). */
static void poll_until(struct sluice_worker *w, uint64_t rx)
{
	struct sluice_worker_stats s;
	for (int i = 0; i < 100000; i++) {
		sluice_worker_poll(w);
		sluice_worker_stats(w, &s);
		if (s.rx_packets >= rx)
			return;
	}
	fail_msg("worker saw %lu of %lu frames", (unsigned long)s.rx_packets, (unsigned long)rx);
}

static struct sluice_worker_stats stats_of(struct sluice_worker *w)
{
	struct sluice_worker_stats s;
	sluice_worker_stats(w, &s);
	return s;
}

static void check_balance(const struct sluice_worker_stats *s)
{
	uint64_t shed = 0;
	for (int i = 0; i < SLUICE_DP_SHED__COUNT; i++)
		shed += s->shed[i];
	assert_int_equal(s->events_parsed, s->events_enqueued + shed + s->events_open);
}

static struct sluice_listener raw_listener(uint16_t port_no, uint32_t first, uint32_t parts)
{
	struct sluice_listener l = {.udp_port = port_no,
				    .format = SLUICE_FORMAT_RAW,
				    .first_partition_id = first,
				    .partitions = parts};
	snprintf(l.topic, sizeof(l.topic), "raw%u", port_no);
	return l;
}

static void test_seal_on_size(void **state)
{
	(void)state;
	struct rig r;
	struct sluice_listener l = raw_listener(7000, 0, 1);
	struct sluice_worker_opts wo = {.batch_bytes = 600, .linger_us = 1000000};
	rig_up(&r, 64, 4096, 64, &wo, &l, 1);
	inject_events(7000, 20, 100);
	poll_until(r.w, 20);
	struct sluice_worker_stats s = stats_of(r.w);
	/* 61-byte header + records of ~108 bytes: 4 fit under 600, the 5th seals. */
	assert_int_equal(s.batches_sealed_size, 4);
	assert_int_equal(s.events_open, 4);
	unsigned batches = 0;
	assert_int_equal(drain(&r, NULL, 0, &batches), 16);
	assert_int_equal(batches, 4);
	/* A runtime change applies on the next pass. */
	sluice_worker_set_batch_bytes(r.w, 300);
	inject_events(7000, 4, 100);
	poll_until(r.w, 24);
	s = stats_of(r.w);
	assert_true(s.batches_sealed_size >= 6);
	sluice_worker_flush(r.w);
	s = stats_of(r.w);
	assert_int_equal(s.events_open, 0);
	assert_int_equal(s.events_enqueued, 24);
	check_balance(&s);
	rig_down(&r);
}

static void test_seal_on_linger(void **state)
{
	(void)state;
	struct rig r;
	struct sluice_listener l = raw_listener(7000, 0, 1);
	struct sluice_worker_opts wo = {.batch_bytes = 65536, .linger_us = 2000};
	rig_up(&r, 16, 65536, 16, &wo, &l, 1);
	inject_events(7000, 3, 10);
	poll_until(r.w, 3);
	assert_int_equal(stats_of(r.w).events_open, 3);
	assert_int_equal(rte_ring_count(r.ring), 0);
	usleep(5000);
	sluice_worker_poll(r.w);
	struct sluice_worker_stats s = stats_of(r.w);
	assert_int_equal(s.batches_sealed_linger, 1);
	assert_int_equal(s.events_open, 0);
	assert_int_equal(drain(&r, NULL, 0, NULL), 3);
	/* A flush request seals at the next pass, whatever the linger. */
	sluice_worker_set_linger_us(r.w, 1000000);
	sluice_worker_poll(r.w);
	inject_events(7000, 2, 10);
	poll_until(r.w, 5);
	assert_int_equal(stats_of(r.w).events_open, 2);
	sluice_worker_flush_request(r.w);
	sluice_worker_poll(r.w);
	assert_int_equal(stats_of(r.w).events_open, 0);
	assert_int_equal(stats_of(r.w).batches_sealed_flush, 1);
	assert_int_equal(drain(&r, NULL, 0, NULL), 2);
	/* linger 0: sealed in the pass that received them. */
	sluice_worker_set_linger_us(r.w, 0);
	sluice_worker_poll(r.w);
	inject_events(7000, 2, 10);
	poll_until(r.w, 7);
	assert_int_equal(stats_of(r.w).events_open, 0);
	assert_int_equal(drain(&r, NULL, 0, NULL), 2);
	check_balance((struct sluice_worker_stats[]){stats_of(r.w)});
	rig_down(&r);
}

static void test_drop_ring_full(void **state)
{
	(void)state;
	struct rig r;
	struct sluice_listener l = raw_listener(7000, 0, 1);
	/* Every event fills a batch; the ring holds 3. */
	struct sluice_worker_opts wo = {.batch_bytes = 100,
					.backpressure = SLUICE_BACKPRESSURE_DROP};
	rig_up(&r, 64, 4096, 4, &wo, &l, 1);
	inject_events(7000, 10, 80);
	poll_until(r.w, 10);
	struct sluice_worker_stats s = stats_of(r.w);
	assert_int_equal(s.events_enqueued, 3);
	assert_int_equal(s.shed[SLUICE_DP_SHED_RING_FULL], 7);
	assert_int_equal(s.shed[SLUICE_DP_SHED_POOL_EMPTY], 0);
	check_balance(&s);
	uint64_t ps[SLUICE_DP_SHED__COUNT];
	assert_int_equal(sluice_worker_partition_shed(r.w, 0, ps), 0);
	assert_int_equal(ps[SLUICE_DP_SHED_RING_FULL], 7);
	assert_int_equal(sluice_worker_partition_shed(r.w, 1, ps), -ERANGE);
	assert_int_equal(drain(&r, NULL, 0, NULL), 3);
	rig_down(&r);
}

static void shed_cb(const struct sluice_producer_info *info, void *arg)
{
	uint64_t *v = arg;
	v[0] += info->lost;
	v[1] += info->shed;
	v[2] += info->events;
}

/*
 * A sequenced producer whose explicit-partition batches meet a full ring: the appliance sheds
 * them and says so in shed[ring_full]; the producer lost nothing, and its next batches, which
 * leave holes at the shed ranges, must not be counted as its loss as well.
 */
static void test_drop_ring_full_sequenced(void **state)
{
	(void)state;
	struct rig r;
	struct sluice_listener l = {
		.udp_port = 9092, .format = SLUICE_FORMAT_KAFKA, .partitions = 2};
	snprintf(l.topic, sizeof(l.topic), "events");
	struct sluice_worker_opts wo = {
		.batch_bytes = 4096, .backpressure = SLUICE_BACKPRESSURE_DROP, .reorder_window = 8};
	rig_up(&r, 64, 4096, 4, &wo, &l, 1); /* the ring holds 3 batches */
	uint8_t kp[2048];
	for (int i = 0; i < 40; i++) {
		size_t n = craft_kafka(kp, sizeof(kp), 1, 5, true, 501, 0, i * 5);
		inject_raw(9092, (const char *)kp, n);
	}
	poll_until(r.w, 40);
	struct sluice_worker_stats s = stats_of(r.w);
	assert_int_equal(s.events_enqueued, 3 * 5);
	assert_int_equal(s.shed[SLUICE_DP_SHED_RING_FULL], 37 * 5);
	assert_int_equal(s.producer_lost, 0);
	check_balance(&s);
	uint64_t v[3] = {0};
	assert_int_equal(sluice_worker_producers(r.w, shed_cb, v), 1);
	assert_int_equal(v[0], 0);
	assert_int_equal(v[1], 37 * 5);
	assert_int_equal(v[2], 3 * 5);
	/* Room again: the last batch resent is stored once; the producer carries on. */
	assert_int_equal(drain(&r, NULL, 0, NULL), 3 * 5);
	for (int i = 39; i < 42; i++) {
		size_t n = craft_kafka(kp, sizeof(kp), 1, 5, true, 501, 0, i * 5);
		inject_raw(9092, (const char *)kp, n);
	}
	poll_until(r.w, 43);
	s = stats_of(r.w);
	assert_int_equal(s.events_enqueued, 6 * 5);
	assert_int_equal(s.producer_lost, 0);
	check_balance(&s);
	rig_down(&r);
}

static void test_drop_pool_empty(void **state)
{
	(void)state;
	struct rig r;
	struct sluice_listener l = raw_listener(7000, 0, 1);
	struct sluice_worker_opts wo = {.batch_bytes = 100,
					.backpressure = SLUICE_BACKPRESSURE_DROP};
	rig_up(&r, 4, 4096, 64, &wo, &l, 1);
	inject_events(7000, 10, 80);
	poll_until(r.w, 10);
	struct sluice_worker_stats s = stats_of(r.w);
	assert_int_equal(s.events_enqueued, 4);
	assert_int_equal(s.shed[SLUICE_DP_SHED_POOL_EMPTY], 6);
	check_balance(&s);
	uint64_t ps[SLUICE_DP_SHED__COUNT];
	assert_int_equal(sluice_worker_partition_shed(r.w, 0, ps), 0);
	assert_int_equal(ps[SLUICE_DP_SHED_POOL_EMPTY], 6);
	rig_down(&r);
}

/*
 * With a log (no plain rings), sheds caused by storage are attributed to what the partition's
 * writer was waiting for: here its thread is not running at all, so nothing in storage blocks
 * it and the cause is writer_busy. Every ring_full and pool_empty shed gets a cause.
 */
static void test_shed_cause_with_log(void **state)
{
	(void)state;
	char dir[] = "/tmp/sluice-dpb-XXXXXX";
	struct sluice_topic_opts t = {.name = "raw7000", .partitions = 1};
	struct sluice_log_opts lo = {.topics = &t,
				     .ntopics = 1,
				     .writers = 1,
				     .producers = 1,
				     .ring_size = 4,
				     .direct_io = 0,
				     .write_buffer_bytes = 64 << 10};
	struct sluice_listener l = raw_listener(7000, 0, 1);
	struct sluice_worker_opts wo = {.batch_bytes = 100,
					.backpressure = SLUICE_BACKPRESSURE_DROP};
	static struct sluice_dp_port dp;
	struct sluice_worker *w;
	struct sluice_log *log;
	struct rte_mempool *pool;
	char name[32];

	assert_non_null(mkdtemp(dir));
	lo.data_dir = dir;
	assert_int_equal(sluice_log_open(&lo, &log), 0);
	snprintf(name, sizeof(name), "bp%d", seq++);
	assert_int_equal(sluice_dp_batch_pool_create(name, 64, 4096, SOCKET_ID_ANY, &pool), 0);
	dp = (struct sluice_dp_port){.port = port, .queue = 0, .promiscuous = true};
	memcpy(dp.ipv4, our_ip, 4);
	wo.ports = &dp;
	wo.nports = 1;
	wo.listeners = &l;
	wo.nlisteners = 1;
	wo.log = log;
	wo.batch_pool = pool;
	assert_int_equal(sluice_worker_create(&wo, &w), 0);
	inject_events(7000, 10, 80);
	poll_until(w, 10);
	struct sluice_worker_stats s = stats_of(w);
	assert_int_equal(s.events_enqueued, 3); /* a ring of 4 holds 3 */
	assert_int_equal(s.shed[SLUICE_DP_SHED_RING_FULL], 7);
	assert_int_equal(s.shed_cause[SLUICE_WRITER_CAUSE_BUSY], 7);
	assert_int_equal(s.shed_cause[SLUICE_WRITER_CAUSE_DEVICE] +
				 s.shed_cause[SLUICE_WRITER_CAUSE_SEGMENT_ROLL],
			 0);
	check_balance(&s);
	sluice_worker_destroy(w);
	/* a writer started now takes the three batches and puts their buffers back */
	assert_int_equal(sluice_log_start(log), 0);
	sluice_log_close(log);
	assert_int_equal(rte_mempool_avail_count(pool), 64);
	rte_mempool_free(pool);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

struct slow_drain {
	struct rig *r;
	uint64_t records;
	_Atomic int stop;
};

static void *slow_drain_main(void *arg)
{
	struct slow_drain *d = arg;
	usleep(20000); /* let the worker hit the full ring first */
	while (!d->stop) {
		void *obj;
		if (rte_ring_dequeue(d->r->ring, &obj) == 0) {
			struct sluice_batch *b = obj;
			d->records += b->records;
			rte_mempool_put(b->pool, b);
		} else {
			usleep(100);
		}
	}
	return NULL;
}

static void test_block(void **state)
{
	(void)state;
	struct rig r;
	struct sluice_listener l = raw_listener(7000, 0, 1);
	struct sluice_worker_opts wo = {.batch_bytes = 100,
					.backpressure = SLUICE_BACKPRESSURE_BLOCK};
	rig_up(&r, 8, 4096, 4, &wo, &l, 1);
	struct slow_drain d = {.r = &r};
	pthread_t th;
	pthread_create(&th, NULL, slow_drain_main, &d);
	inject_events(7000, 50, 80);
	poll_until(r.w, 50);
	sluice_worker_flush(r.w);
	for (int i = 0; i < 2000 && rte_ring_count(r.ring); i++)
		usleep(1000);
	d.stop = 1;
	pthread_join(th, NULL);
	struct sluice_worker_stats s = stats_of(r.w);
	assert_int_equal(d.records + drain(&r, NULL, 0, NULL), 50);
	assert_int_equal(s.events_enqueued, 50);
	assert_int_equal(s.shed[0] + s.shed[1] + s.shed[2], 0);
	assert_true(s.blocked_cycles > 0);
	check_balance(&s);
	rig_down(&r);
}

static void test_block_stopped(void **state)
{
	(void)state;
	struct rig r;
	struct sluice_listener l = raw_listener(7000, 0, 1);
	struct sluice_worker_opts wo = {.batch_bytes = 4096,
					.linger_us = 1000000,
					.backpressure = SLUICE_BACKPRESSURE_BLOCK};
	rig_up(&r, 8, 4096, 2, &wo, &l, 1);
	struct sluice_listener l2 = raw_listener(7001, 1, 1);
	(void)l2;
	inject_events(7000, 5, 10);
	poll_until(r.w, 5);
	/* Fill the ring (capacity 1) behind the worker's back, then stop: the flush waits for
	 * the bounded drain time, then counts the open events as shed "stopped". */
	void *obj;
	assert_int_equal(rte_mempool_get(r.pool, &obj), 0);
	struct sluice_batch *fake = obj;
	fake->pool = r.pool;
	fake->data = (uint8_t *)obj + SLUICE_DP_BATCH_HEADROOM;
	struct sluice_rb_builder b;
	struct sluice_rb_batch_meta meta = {.producer_id = -1, .base_sequence = -1};
	sluice_rb_builder_init(&b, fake->data, 4096, &meta);
	struct sluice_rb_record rec = {
		.key_len = -1, .value = (const uint8_t *)"x", .value_len = 1};
	sluice_rb_builder_append(&b, &rec);
	fake->len = (uint32_t)sluice_rb_builder_seal(&b);
	fake->records = 1;
	assert_int_equal(rte_ring_enqueue(r.ring, fake), 0);
	sluice_worker_stop(r.w);
	sluice_worker_flush(r.w);
	struct sluice_worker_stats s = stats_of(r.w);
	assert_int_equal(s.shed[SLUICE_DP_SHED_STOPPED], 5);
	uint64_t ps[SLUICE_DP_SHED__COUNT];
	assert_int_equal(sluice_worker_partition_shed(r.w, 0, ps), 0);
	assert_int_equal(ps[SLUICE_DP_SHED_STOPPED], 5);
	assert_int_equal(s.events_open, 0);
	check_balance(&s);
	rig_down(&r);
}

static void test_keyless(void **state)
{
	(void)state;
	for (int mode = 0; mode < 2; mode++) {
		struct rig r;
		struct sluice_listener l = raw_listener(7000, 0, 4);
		struct sluice_worker_opts wo = {.batch_bytes = 61 + 5 * 20,
						.linger_us = 1000000,
						.keyless = (enum sluice_keyless_mode)mode,
						.id = 1};
		rig_up(&r, 64, 4096, 64, &wo, &l, 1);
		inject_events(7000, 12, 10);
		poll_until(r.w, 12);
		sluice_worker_flush(r.w);
		uint64_t per[4] = {0};
		unsigned batches = 0;
		assert_int_equal(drain(&r, per, 4, &batches), 12);
		if (mode == SLUICE_KEYLESS_ROUND_ROBIN) {
			for (int p = 0; p < 4; p++)
				assert_int_equal(per[p], 3);
			assert_int_equal(batches, 4);
		} else {
			/* Sticky: whole batches of 5, 5, 2 on consecutive partitions from id % 4. */
			assert_int_equal(per[1], 5);
			assert_int_equal(per[2], 5);
			assert_int_equal(per[3], 2);
			assert_int_equal(batches, 3);
		}
		rig_down(&r);
	}
}

static void test_kafka_too_large(void **state)
{
	(void)state;
	struct rig r;
	struct sluice_listener l = {
		.udp_port = 9092, .format = SLUICE_FORMAT_KAFKA, .partitions = 2};
	struct sluice_worker_opts wo = {.batch_bytes = 300};
	rig_up(&r, 8, 300, 8, &wo, &l, 1);
	uint8_t kp[2048];
	size_t n = craft_kafka(kp, sizeof(kp), 1, 30, true, -1, 0, -1); /* > 300 bytes */
	inject_raw(9092, (const char *)kp, n);
	n = craft_kafka(kp, sizeof(kp), 1, 2, true, -1, 0, -1);
	inject_raw(9092, (const char *)kp, n);
	poll_until(r.w, 2);
	struct sluice_worker_stats s = stats_of(r.w);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_KAFKA_TOO_LARGE], 1);
	assert_int_equal(s.batches_passthrough, 1);
	assert_int_equal(s.events_enqueued, 2);
	uint64_t per[2] = {0};
	assert_int_equal(drain(&r, per, 2, NULL), 2);
	assert_int_equal(per[1], 2);
	rig_down(&r);
}

/*
 * Partition -1 records are re-batched by copying their encoded key, value and headers: what
 * the worker stores decodes to exactly the records sent (null and empty keys and values,
 * headers with null values, timestamps).
 */
static void test_kafka_by_key_records_intact(void **state)
{
	(void)state;
	struct rig r;
	struct sluice_listener l = {
		.udp_port = 9092, .format = SLUICE_FORMAT_KAFKA, .partitions = 1};
	struct sluice_worker_opts wo = {.batch_bytes = 4096};
	rig_up(&r, 8, 4096, 8, &wo, &l, 1);

	uint8_t kp[2048], val[64];
	struct sluice_rb_kv hv[3] = {
		{(const uint8_t *)"h1", 2, (const uint8_t *)"v1", 2},
		{(const uint8_t *)"h2", 2, NULL, -1},
		{(const uint8_t *)"", 0, (const uint8_t *)"", 0},
	};
	struct sluice_rb_record in[6];
	for (int i = 0; i < 6; i++) {
		memset(val, 'A' + i, sizeof(val));
		in[i] = (struct sluice_rb_record){
			.timestamp = 1700000000000 + i * 7,
			.key = i == 0 ? NULL : (const uint8_t *)"key",
			.key_len = i == 0 ? -1
				: i == 1  ? 0
					  : 3,
			.value = i == 2 ? NULL : val,
			.value_len = i == 2 ? -1
				: i == 3    ? 0
					    : 10 + i,
			.headers = hv,
			.header_count = (uint32_t)(i % 4),
		};
	}
	struct sluice_rb_builder b;
	struct sluice_rb_batch_meta meta = {.producer_id = -1, .base_sequence = -1};
	sluice_envelope_encode(kp, -1);
	assert_int_equal(sluice_rb_builder_init(&b, kp + 8, sizeof(kp) - 8, &meta), 0);
	for (int i = 0; i < 6; i++) {
		memset(val, 'A' + i, sizeof(val));
		assert_int_equal(sluice_rb_builder_append(&b, &in[i]), 0);
	}
	size_t n = sluice_rb_builder_seal(&b);
	inject_raw(9092, (const char *)kp, 8 + n);
	poll_until(r.w, 1);
	sluice_worker_flush(r.w);

	void *obj = NULL;
	assert_int_equal(rte_ring_dequeue(r.ring, &obj), 0);
	struct sluice_batch *sb = obj;
	assert_int_equal(sb->records, 6);
	assert_int_equal(sluice_rb_batch_validate(sb->data, sb->len, NULL, NULL), SLUICE_RB_OK);
	struct sluice_rb_record_iter it;
	struct sluice_rb_record o;
	sluice_rb_record_iter_init(&it, sb->data, sb->len);
	for (int i = 0; i < 6; i++) {
		memset(val, 'A' + i, sizeof(val));
		assert_int_equal(sluice_rb_record_iter_next(&it, &o), 1);
		assert_true(o.timestamp == in[i].timestamp);
		assert_int_equal(o.key_len, in[i].key_len);
		if (o.key_len > 0)
			assert_memory_equal(o.key, in[i].key, (size_t)o.key_len);
		assert_int_equal(o.key == NULL, in[i].key == NULL);
		assert_int_equal(o.value_len, in[i].value_len);
		assert_int_equal(o.value == NULL, in[i].value_len < 0);
		if (o.value_len > 0)
			assert_memory_equal(o.value, val, (size_t)o.value_len);
		assert_int_equal(o.header_count, in[i].header_count);
		for (uint32_t j = 0; j < o.header_count; j++) {
			struct sluice_rb_kv kv;
			assert_int_equal(sluice_rb_record_header(&o, j, &kv), 0);
			assert_int_equal(kv.key_len, hv[j].key_len);
			assert_memory_equal(kv.key, hv[j].key, (size_t)kv.key_len);
			assert_int_equal(kv.value_len, hv[j].value_len);
			if (kv.value_len > 0)
				assert_memory_equal(kv.value, hv[j].value, (size_t)kv.value_len);
		}
	}
	assert_int_equal(sluice_rb_record_iter_next(&it, &o), 0);
	rte_mempool_put(sb->pool, sb);
	rig_down(&r);
}

static struct sluice_worker *running;

static int run_on_lcore(void *arg)
{
	(void)arg;
	return sluice_worker_run(running);
}

static void count_cb(const struct sluice_producer_info *info, void *arg)
{
	(*(int *)arg)++;
	assert_int_equal(info->producer_id, 77);
}

static void test_producers_while_running(void **state)
{
	(void)state;
	struct rig r;
	struct sluice_listener l = {
		.udp_port = 9092, .format = SLUICE_FORMAT_KAFKA, .partitions = 2};
	snprintf(l.topic, sizeof(l.topic), "events");
	struct sluice_worker_opts wo = {
		.batch_bytes = 4096, .idle_backoff = true, .idle_sleep_us = 50};
	rig_up(&r, 64, 4096, 64, &wo, &l, 1);
	uint8_t kp[2048];
	for (int i = 0; i < 3; i++) {
		size_t n = craft_kafka(kp, sizeof(kp), 0, 2, true, 77, 0, i * 2);
		inject_raw(9092, (const char *)kp, n);
	}
	running = r.w;
	unsigned lcore = rte_get_next_lcore(-1, 1, 0);
	assert_true(lcore < RTE_MAX_LCORE);
	assert_int_equal(rte_eal_remote_launch(run_on_lcore, NULL, lcore), 0);
	for (int i = 0; i < 2000 && stats_of(r.w).rx_packets < 3; i++)
		usleep(1000);
	int seen = 0;
	assert_int_equal(sluice_worker_producers(r.w, count_cb, &seen), 1);
	assert_int_equal(seen, 1);
	/* An idle worker with back-off on ends up sleeping (bounded wait, not a timing). */
	for (int i = 0; i < 5000 && stats_of(r.w).idle_sleeps == 0; i++)
		usleep(1000);
	sluice_worker_stop(r.w);
	assert_int_equal(rte_eal_wait_lcore(lcore), 0);
	struct sluice_worker_stats s = stats_of(r.w);
	assert_int_equal(s.events_enqueued, 6);
	assert_true(s.idle_sleeps > 0);
	rig_down(&r);
}

static void test_create_rejects(void **state)
{
	(void)state;
	struct sluice_worker *w = NULL;
	struct rte_mempool *pool = NULL;
	assert_int_equal(sluice_dp_batch_pool_create("bp_bad", 8, 10, SOCKET_ID_ANY, &pool),
			 -EINVAL);
	assert_int_equal(sluice_dp_batch_pool_create("bp_ok", 8, 4096, SOCKET_ID_ANY, &pool), 0);
	assert_int_equal(sluice_dp_batch_pool_capacity(pool), 4096);
	struct rte_ring *ring = rte_ring_create("br_bad", 8, SOCKET_ID_ANY, 0);
	struct sluice_dp_port dp = {.port = port};
	struct sluice_listener l = raw_listener(7000, 0, 1);
	struct sluice_worker_opts ok = {.ports = &dp,
					.nports = 1,
					.listeners = &l,
					.nlisteners = 1,
					.rings = &ring,
					.nrings = 1,
					.batch_pool = pool};
	struct sluice_worker_opts o = ok;
	o.batch_pool = NULL; /* no buffers */
	assert_int_equal(sluice_worker_create(&o, &w), -EINVAL);
	o = ok;
	o.rings = NULL; /* nowhere to send batches */
	assert_int_equal(sluice_worker_create(&o, &w), -EINVAL);
	o = ok;
	o.burst = 65;
	assert_int_equal(sluice_worker_create(&o, &w), -EINVAL);
	o = ok;
	struct sluice_listener two[2] = {l, l}; /* same address and port twice */
	o.listeners = two;
	o.nlisteners = 2;
	assert_int_equal(sluice_worker_create(&o, &w), -EINVAL);
	o = ok;
	l.partitions = 0;
	assert_int_equal(sluice_worker_create(&o, &w), -EINVAL);
	l.partitions = 1;
	o = ok;
	dp.port = NULL;
	assert_int_equal(sluice_worker_create(&o, &w), -EINVAL);
	dp.port = port;
	assert_int_equal(sluice_worker_create(&ok, &w), 0);
	/* batch_bytes is clamped to the buffers. */
	sluice_worker_set_batch_bytes(w, 1 << 20);
	sluice_worker_destroy(w);
	sluice_worker_destroy(NULL);
	rte_ring_free(ring);
	rte_mempool_free(pool);
}

static int setup(void **state)
{
	(void)state;
	snprintf(prefix, sizeof(prefix), "sluice-dpb-%d", (int)getpid());
	const char *vdevs[] = {"net_ring0", NULL};
	struct sluice_nic_eal_opts o = {.prog = "test_batching",
					.lcores = "0@0,1@1",
					.mem_mode = SLUICE_NIC_MEM_NO_HUGE,
					.mem_mb = 256,
					.file_prefix = prefix,
					.vdevs = vdevs,
					.log_level = "*:warning"};
	if (sluice_nic_eal_init(&o) != 0)
		return -1;
	mbufs = rte_pktmbuf_pool_create("dpb_mbufs", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					SOCKET_ID_ANY);
	if (!mbufs)
		return -1;
	struct sluice_nic_port_opts po = {.name = "r0",
					  .device = "net_ring0",
					  .rx_queues = 1,
					  .tx_queues = 1,
					  .rx_desc = 1024,
					  .tx_desc = 1024,
					  .pool = mbufs};
	if (sluice_nic_port_create(&po, &port) != 0 || sluice_nic_port_start(port, 1000) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sluice_nic_port_destroy(port);
	rte_mempool_free(mbufs);
	sluice_nic_eal_cleanup();
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '/var/run/dpdk/%s'", prefix);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_rejects),
		cmocka_unit_test(test_shed_cause_with_log),
		cmocka_unit_test(test_seal_on_size),
		cmocka_unit_test(test_seal_on_linger),
		cmocka_unit_test(test_drop_ring_full),
		cmocka_unit_test(test_drop_pool_empty),
		cmocka_unit_test(test_block),
		cmocka_unit_test(test_block_stopped),
		cmocka_unit_test(test_keyless),
		cmocka_unit_test(test_drop_ring_full_sequenced),
		cmocka_unit_test(test_kafka_too_large),
		cmocka_unit_test(test_kafka_by_key_records_intact),
		cmocka_unit_test(test_producers_while_running),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
