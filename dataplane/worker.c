/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker: one lcore loop per RX queue set. Polls its queues through nic/, runs each frame
 * through the EAL-free context (ctx.c), appends events to per-partition open batches built in
 * place in batch-pool buffers, seals them on size or linger and enqueues them on the SPSC ring
 * towards the partition's storage writer.
 *
 * Threading contract:
 *  - the control thread creates and destroys the worker, and may at any time: read the
 *    counters the worker last published and the producer entries' published views (sequence
 *    locks, dataplane_internal.h: the reader never makes the worker wait or copy), set
 *    tunables (relaxed atomic stores, read once per pass) and request a stop (release store
 *    of quit, acquire load here);
 *  - the worker lcore alone touches open batches, the producer table and the mbufs it
 *    receives; it is the single producer of each of its rings (rte_ring SP enqueue), so the
 *    free space it last read in a ring can only have grown since (see struct ring_q);
 *  - it publishes its counters before every hand-off of batches to the rings (handoff()),
 *    and at the end of every pass that did work: published, every identity holds, and a
 *    batch a writer can see is already counted enqueued (docs/dataplane.md, "Counters");
 *  - storage writers consume the rings and put batch buffers back to the pool.
 * Nothing in the loop allocates, locks or makes a syscall, except the optional idle back-off
 * sleep, which only happens after many empty passes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include "dataplane_config.h"
#include "dataplane_internal.h"
#include "sluice_log.h"
#include "sluice_nic.h"

#define MAX_BURST 64
#define DEFAULT_BURST 32
/* How long a stopping worker waits for ring or pool room before shedding what it holds. */
#define STOP_DRAIN_MS 2000
/* At most one ack per producer this often (and one per durable advance). */
#define ACK_INTERVAL_MS 1
#define ACK_POLL_US 50

_Static_assert(sizeof(struct sluice_batch) <= SLUICE_DP_BATCH_HEADROOM,
	       "batch header must fit the headroom");

static bool is_zero_mac(const uint8_t *m)
{
	return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0;
}

RTE_LOG_REGISTER(dataplane_logtype, sluice.dataplane, INFO)

SLUICE_LOG_FUNCTION(static, dp_log, dataplane_logtype, "dataplane: ", 256)

enum seal_cause { SEAL_SIZE, SEAL_LINGER, SEAL_FLUSH };

#define NO_PID UINT32_MAX

#define RQ_MAX 64

/*
 * Batches for one ring, enqueued in bulk at the end of each pass. Every rte_ring_enqueue()
 * reads the consumer's tail, a cache line the writer on another core keeps taking back: one
 * miss per batch, the largest single cost of small explicit-partition datagrams. As this
 * worker is the ring's only producer, the free space it read (room) is a lower bound until it
 * enqueues, so a batch admitted while n < room is sure to fit at the flush: the drop/block
 * decision stays exact and immediate, and the ring's order is the order of admission.
 */
struct ring_q {
	struct rte_ring *ring;
	uint32_t writer; /* the storage writer consuming it */
	uint32_t room; /* free slots at the last read, minus what was flushed since */
	uint32_t n;
	void *pend[RQ_MAX];
};

struct open_batch {
	struct sluice_batch *b; /* NULL when no batch is open */
	struct sluice_rb_builder rb;
	uint64_t deadline_tsc;
	uint32_t records;
	uint32_t gen; /* batches sealed so far: the sticky partitioner's "batch done" signal */
	uint32_t list_idx; /* position in open_list while open */
	struct ring_q *rq;
};

struct sticky {
	uint32_t partition;
	uint32_t gen;
};

struct sluice_worker {
	struct sluice_dp_ctx *ctx;
	struct sluice_dp_sink sink;
	struct sluice_log *log; /* NULL with plain rings (tests) */
	uint32_t id;
	unsigned lcore;
	uint32_t nports;
	struct rte_mempool *pool;
	uint32_t capacity;
	uint32_t npart;
	struct open_batch *open;
	struct ring_q *rqs;
	uint32_t nrq;
	_Atomic uint64_t (*pshed)[SLUICE_DP_SHED__COUNT]; /* per global partition */
	uint32_t *open_list;
	uint32_t nopen;
	uint32_t full_pid; /* a batch filled by the last event, sealed at the next safe point */
	uint64_t next_deadline;
	struct sticky sticky[SLUICE_DP_MAX_LISTENERS];
	enum sluice_keyless_mode keyless;
	uint16_t burst;

	/* per pass */
	uint64_t now_tsc;
	int64_t now_ms;
	uint64_t tsc_per_ms;
	uint64_t base_tsc;
	int64_t base_ms;
	uint32_t batch_bytes;
	uint64_t linger_tsc;
	enum sluice_backpressure bp;
	struct rte_mempool *rx_pool;
	uint32_t rx_port;
	uint64_t prev_tsc;
	bool prev_busy;
	uint64_t blocked_in_pass;
	uint32_t idle_passes;
	bool draining;

	/* control thread -> worker; partners named at each use */
	_Atomic uint32_t t_linger_us;
	_Atomic uint32_t t_batch_bytes;
	_Atomic uint32_t t_backpressure;
	_Atomic uint32_t t_idle_backoff;
	_Atomic uint32_t t_idle_sleep_us;
	_Atomic bool quit;
	_Atomic uint32_t flush_req;
	uint32_t flush_seen;
	uint64_t pub_tsc; /* when the counters were last published */
	uint32_t *ack_tags; /* per global partition: the last acknowledged batch's tag */
	uint64_t ack_poll_tsc, ack_poll_gap_tsc;
	struct sluice_dp_ack_recovery *own_rec; /* shared table (dp_ack_recovery_get()) */
	void *spare; /* next batch buffer, prefetched */

	uint8_t scratch[16384]; /* multi-segment frames are linearised here */
};

/* ---------------------------------------------------------------------------------------- */
/* Batch pool                                                                                */

int sluice_dp_batch_pool_create(const char *name, uint32_t n, uint32_t max_batch_bytes, int socket,
				struct rte_mempool **out)
{
	if (n == 0 || max_batch_bytes < SLUICE_RB_HEADER_BYTES + 64 ||
	    max_batch_bytes > SLUICE_RB_MAX_BATCH_BYTES)
		return -EINVAL;
	unsigned cache = n / 8;
	if (cache > 64)
		cache = 64;
	struct rte_mempool *mp =
		rte_mempool_create(name, n, SLUICE_DP_BATCH_HEADROOM + max_batch_bytes, cache, 0,
				   NULL, NULL, NULL, NULL, socket, 0);
	if (mp == NULL) {
		int rc = -rte_errno;
		dp_log(RTE_LOG_ERR, "batch pool %s (%u x %u bytes): %s", name, n, max_batch_bytes,
		       rte_strerror(rte_errno));
		return rc ? rc : -ENOMEM;
	}
	*out = mp;
	return 0;
}

uint32_t sluice_dp_batch_pool_capacity(const struct rte_mempool *pool)
{
	return pool->elt_size > SLUICE_DP_BATCH_HEADROOM ? pool->elt_size - SLUICE_DP_BATCH_HEADROOM
							 : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Waiting for room (block mode, and draining at stop)                                       */

/* One spin of a wait loop; returns false when the wait must give up (stop requested and the
 * drain time is over). Accounts blocked cycles so that busy/idle stay honest. */
static bool wait_spin(struct sluice_worker *w, uint64_t *start, uint64_t *giveup)
{
	uint64_t now = rte_rdtsc();
	if (*start == 0) {
		*start = now;
		*giveup = UINT64_MAX;
	}
	/* Partner: the release store in sluice_worker_stop(). */
	if (*giveup == UINT64_MAX &&
	    (w->draining || atomic_load_explicit(&w->quit, memory_order_acquire)))
		*giveup = now + STOP_DRAIN_MS * w->tsc_per_ms;
	if (now >= *giveup)
		return false;
	rte_pause();
	return true;
}

static void wait_done(struct sluice_worker *w, uint64_t start)
{
	if (start) {
		uint64_t d = rte_rdtsc() - start;
		w->blocked_in_pass += d;
		ctr_add(&w->ctx->c.blocked_cycles, d);
	}
}

/* Per-partition shed counters: the worker adds (relaxed load + store), any thread reads a
 * counter on its own (sluice_worker_partition_shed()). */
static inline void pshed_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Count @p n shed events of partition @p pid when @p rc is 1 + a shed reason; returns rc.
 * Storage back-pressure (a full ring, an empty pool) is also attributed to its cause: what
 * the partition's writer (any writer, for the shared pool) was waiting for. */
static inline int part_shed(struct sluice_worker *w, uint32_t pid, int rc, uint64_t n)
{
	if (rc > 0 && rc <= SLUICE_DP_SHED__COUNT) {
		pshed_add(&w->pshed[pid][rc - 1], n);
		if (w->log &&
		    (rc - 1 == SLUICE_DP_SHED_RING_FULL || rc - 1 == SLUICE_DP_SHED_POOL_EMPTY))
			ctr_add(&w->ctx->c.shed_cause[sluice_log_writer_cause(
					w->log,
					rc - 1 == SLUICE_DP_SHED_RING_FULL
						? w->open[pid].rq->writer
						: SLUICE_LOG_ANY_WRITER)],
				n);
	}
	return rc;
}

/* Publish the counters (see the threading contract). */
static void publish(struct sluice_worker *w)
{
	dp_ctx_publish(w->ctx);
	w->pub_tsc = w->now_tsc;
}

/* Hand a ring's admitted batches to its writer; the caller published the counters. */
static void rq_flush(struct ring_q *q)
{
	if (q->n == 0)
		return;
	/* Cannot fail: n <= room, and only the consumer moves, freeing slots. */
	unsigned done = rte_ring_enqueue_bulk(q->ring, q->pend, q->n, NULL);
	RTE_VERIFY(done == q->n);
	q->room -= q->n;
	q->n = 0;
}

/*
 * Hand every admitted batch to the writers, publishing the counters first: a writer may make
 * a batch durable at once, and a reader that then sees it persisted must find it enqueued in
 * the counters it reads next. Called only between events, where every identity holds.
 */
static void handoff(struct sluice_worker *w)
{
	uint32_t i = 0;

	while (i < w->nrq && w->rqs[i].n == 0)
		i++;
	if (i == w->nrq)
		return;
	publish(w);
	for (; i < w->nrq; i++)
		rq_flush(&w->rqs[i]);
}

/* Enqueue a sealed batch (admitted to the ring's queue, flushed at the end of the pass).
 * @return 0, or 1 + shed reason (the buffer is back in the pool and nothing is counted as shed
 * here: the caller knows in which account the events sit). */
static int enqueue(struct sluice_worker *w, struct ring_q *q, struct sluice_batch *b)
{
	if (unlikely(q->n >= q->room || q->n == RQ_MAX)) {
		if (q->n) {
			/* seal() and w_batch() run only at points where no event is half
			 * counted (see seal_full()), so the counters may be published. */
			publish(w);
			rq_flush(q);
		}
		q->room = rte_ring_free_count(q->ring);
	}
	if (unlikely(q->room == 0)) {
		if (w->bp != SLUICE_BACKPRESSURE_BLOCK && !w->draining) {
			rte_mempool_put(w->pool, b);
			return 1 + SLUICE_DP_SHED_RING_FULL;
		}
		/* Full, and nothing of ours is pending: wait for the writer to make room. As the
		 * only producer, room we see stays ours; the batch is admitted like any other,
		 * so it is counted enqueued before the ring shows it to the writer. */
		uint64_t start = 0, giveup = 0;
		while (q->room == 0 && wait_spin(w, &start, &giveup))
			q->room = rte_ring_free_count(q->ring);
		wait_done(w, start);
		if (q->room == 0) {
			rte_mempool_put(w->pool, b);
			return 1 + SLUICE_DP_SHED_STOPPED;
		}
	}
	q->pend[q->n++] = b;
	ctr_add(&w->ctx->c.events_enqueued, b->records);
	ctr_add(&w->ctx->c.bytes_enqueued, b->len);
	ctr_add(&w->ctx->c.batches_enqueued, 1);
	return 0;
}

static void seal(struct sluice_worker *w, uint32_t pid, enum seal_cause cause)
{
	struct open_batch *ob = &w->open[pid];
	struct sluice_batch *b = ob->b;
	uint32_t records = ob->records;

	if (pid == w->full_pid)
		w->full_pid = NO_PID;
	b->len = (uint32_t)sluice_rb_builder_seal(&ob->rb);
	b->records = records;
	ob->b = NULL;
	ob->records = 0;
	ob->gen++;
	uint32_t last = w->open_list[--w->nopen];
	w->open_list[ob->list_idx] = last;
	w->open[last].list_idx = ob->list_idx;

	struct dp_counters *c = &w->ctx->c;
	ctr_add(cause == SEAL_SIZE             ? &c->batches_sealed_size
			: cause == SEAL_LINGER ? &c->batches_sealed_linger
					       : &c->batches_sealed_flush,
		1);
	int rc = enqueue(w, ob->rq, b);
	ctr_sub(&c->events_open, records);
	if (rc) {
		ctr_add(&c->shed[rc - 1], records);
		part_shed(w, pid, rc, records);
	}
}

/*
 * Seal the batch the previous event filled. Sealing can hand batches to a ring, which
 * publishes the counters, so it must not happen while an event is half counted: the event
 * that fills a batch is in events_open but not yet parsed until w_event() returns. Hence
 * "seal when full" waits for the next safe point: the next event or batch, or the end of the
 * pass.
 */
static inline void seal_full(struct sluice_worker *w)
{
	if (unlikely(w->full_pid != NO_PID))
		seal(w, w->full_pid, SEAL_SIZE);
}

static void flush_all(struct sluice_worker *w, enum seal_cause cause)
{
	while (w->nopen)
		seal(w, w->open_list[w->nopen - 1], cause);
}

/* A buffer for a new batch. @return the buffer, or NULL with *why = 1 + shed reason. */
/*
 * Buffers come back from the writers cold in this core's cache. Keep the next one in hand and
 * prefetch it for writing, so its misses overlap the work on the current packets.
 */
static void take_spare(struct sluice_worker *w)
{
	if (w->spare == NULL && rte_mempool_get(w->pool, &w->spare) == 0) {
		uint8_t *p = w->spare;
		__builtin_prefetch(p, 1, 3);
		__builtin_prefetch(p + SLUICE_DP_BATCH_HEADROOM, 1, 3);
		__builtin_prefetch(p + SLUICE_DP_BATCH_HEADROOM + 64, 1, 3);
	}
}

static void return_spare(struct sluice_worker *w)
{
	if (w->spare) {
		rte_mempool_put(w->pool, w->spare);
		w->spare = NULL;
	}
}

static struct sluice_batch *get_buffer(struct sluice_worker *w, uint32_t pid, int *why)
{
	void *obj = w->spare;
	w->spare = NULL;
	if (obj == NULL && unlikely(rte_mempool_get(w->pool, &obj) != 0)) {
		if (w->bp != SLUICE_BACKPRESSURE_BLOCK && !w->draining) {
			*why = 1 + SLUICE_DP_SHED_POOL_EMPTY;
			return NULL;
		}
		/* Our own open batches may hold the buffers the writers would give back: send them
		 * first, or a small pool deadlocks. */
		flush_all(w, SEAL_FLUSH);
		handoff(w);
		uint64_t start = 0, giveup = 0;
		bool ok = false;
		while (wait_spin(w, &start, &giveup))
			if (rte_mempool_get(w->pool, &obj) == 0) {
				ok = true;
				break;
			}
		wait_done(w, start);
		if (!ok) {
			*why = 1 + SLUICE_DP_SHED_STOPPED;
			return NULL;
		}
	}
	struct sluice_batch *b = obj;
	b->pool = w->pool;
	b->data = (uint8_t *)obj + SLUICE_DP_BATCH_HEADROOM;
	take_spare(w);
	b->len = 0;
	b->records = 0;
	b->partition_id = pid;
	b->reserved = 0;
	b->ack_tag = 0;
	b->producer = w->id;
	b->ingest_tsc = w->now_tsc;
	return b;
}

static int open_batch(struct sluice_worker *w, uint32_t pid)
{
	static const struct sluice_rb_batch_meta meta = {
		.producer_id = SLUICE_RB_NO_PRODUCER_ID,
		.producer_epoch = -1,
		.base_sequence = SLUICE_RB_NO_SEQUENCE,
	};
	struct open_batch *ob = &w->open[pid];
	int why = 0;
	struct sluice_batch *b = get_buffer(w, pid, &why);
	if (b == NULL)
		return why;
	sluice_rb_builder_init(&ob->rb, b->data, w->capacity, &meta);
	ob->b = b;
	ob->records = 0;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Sink: the context's output                                                                */

static uint32_t keyless_pick(struct sluice_worker *w, const struct sluice_listener *l)
{
	struct sticky *s = &w->sticky[l - w->ctx->listeners];
	uint32_t p = s->partition;
	if (w->keyless == SLUICE_KEYLESS_ROUND_ROBIN) {
		s->partition = p + 1 == l->partitions ? 0 : p + 1;
		return p;
	}
	/* Sticky: stay until the batch we joined has been sealed, then move on (Kafka KIP-480),
	 * so keyless events fill whole batches instead of trickling into every partition. */
	if (w->open[l->first_partition_id + p].gen != s->gen) {
		p = p + 1 == l->partitions ? 0 : p + 1;
		s->partition = p;
		s->gen = w->open[l->first_partition_id + p].gen;
	}
	return p;
}

/* An upper bound of what a record adds to a batch (the varints at their widest), so that the
 * exact sluice_rb_builder_record_bytes() runs only when a batch is nearly full. */
static inline size_t record_bytes_max(const struct sluice_rb_record *rec)
{
	size_t n = 5 + 1 + 10 + 5 + 5 + 5 + 5; /* length, attrs, ts, offset, key/value lens, hdrs */
	n += rec->key_len > 0 ? (size_t)rec->key_len : 0;
	n += rec->value_len > 0 ? (size_t)rec->value_len : 0;
	for (uint32_t i = 0; i < rec->header_count; i++)
		n += 10 + (rec->headers[i].key_len > 0 ? (size_t)rec->headers[i].key_len : 0) +
			(rec->headers[i].value_len > 0 ? (size_t)rec->headers[i].value_len : 0);
	return n;
}

/*
 * Re-partitioned `kafka` records carry their encoded key, value and headers (tail_raw): copy
 * them as they are instead of sizing and re-encoding every field (a quarter of the by-key
 * path's time). Text events are built field by field.
 */
static inline size_t rec_bytes_max(const struct sluice_rb_record *rec)
{
	return rec->tail_raw ? 5 + 1 + 10 + 5 + rec->tail_raw_len : record_bytes_max(rec);
}

static inline size_t rec_bytes(const struct sluice_rb_builder *b,
			       const struct sluice_rb_record *rec)
{
	return rec->tail_raw ? sluice_rb_builder_record_bytes_raw(b, rec)
			     : sluice_rb_builder_record_bytes(b, rec);
}

static inline int rec_append(struct sluice_rb_builder *b, const struct sluice_rb_record *rec)
{
	return rec->tail_raw ? sluice_rb_builder_append_raw(b, rec)
			     : sluice_rb_builder_append(b, rec);
}

static int w_event(void *arg, const struct sluice_listener *l, int32_t partition,
		   const struct sluice_rb_record *rec)
{
	struct sluice_worker *w = arg;
	bool keyless = partition < 0;
	struct open_batch *ob;
	uint32_t pid;
	int rc;

	seal_full(w);
	for (uint32_t tries = 0;; tries++) {
		if (keyless)
			partition = (int32_t)keyless_pick(w, l);
		pid = l->first_partition_id + (uint32_t)partition;
		ob = &w->open[pid];
		if (ob->b == NULL && (rc = open_batch(w, pid)) != 0)
			return part_shed(w, pid, rc, 1);
		if (ob->records == 0 || ob->rb.len + rec_bytes_max(rec) <= w->batch_bytes ||
		    ob->rb.len + rec_bytes(&ob->rb, rec) <= w->batch_bytes)
			break;
		seal(w, pid, SEAL_SIZE);
		/* A sticky keyless event moves on with the sealed batch (bounded: each seal
		 * advances the sticky partition). */
		if (!keyless || w->keyless != SLUICE_KEYLESS_STICKY || tries >= l->partitions) {
			if ((rc = open_batch(w, pid)) != 0)
				return part_shed(w, pid, rc, 1);
			break;
		}
	}
	rc = rec_append(&ob->rb, rec);
	if (unlikely(rc != 0) && ob->records) {
		/* A timestamp delta out of range: the record starts a batch of its own. */
		seal(w, pid, SEAL_SIZE);
		if ((rc = open_batch(w, pid)) != 0)
			return part_shed(w, pid, rc, 1);
		rc = rec_append(&ob->rb, rec);
	}
	if (unlikely(rc != 0)) {
		/* Unreachable: ctx.c only passes records that fit an empty batch. Keep the
		 * accounting whole anyway. */
		if (ob->records == 0) {
			rte_mempool_put(w->pool, ob->b);
			ob->b = NULL;
		}
		return part_shed(w, pid, 1 + SLUICE_DP_SHED_POOL_EMPTY, 1);
	}
	if (ob->records++ == 0) {
		ob->deadline_tsc = w->now_tsc + w->linger_tsc;
		if (ob->deadline_tsc < w->next_deadline)
			w->next_deadline = ob->deadline_tsc;
		ob->list_idx = w->nopen;
		w->open_list[w->nopen++] = pid;
	}
	ctr_add(&w->ctx->c.events_open, 1);
	if (ob->rb.len >= w->batch_bytes)
		w->full_pid = pid; /* sealed by seal_full() */
	return 0;
}

static int w_batch(void *arg, const struct sluice_listener *l, uint32_t partition,
		   const uint8_t *batch, size_t len, uint32_t records)
{
	struct sluice_worker *w = arg;
	uint32_t pid = l->first_partition_id + partition;
	int why = 0;

	seal_full(w);
	struct sluice_batch *b = get_buffer(w, pid, &why);
	if (b == NULL)
		return part_shed(w, pid, why, records);
	/* ctx.c rejected batches above batch_capacity, so len fits. */
	memcpy(b->data, batch, len);
	b->len = (uint32_t)len;
	b->records = records;
	if (sluice_dp_ctx_ack_wanted(w->ctx)) {
		/* Tags of a (worker, partition) grow in ring order; storage reports the newest
		 * durable one (sluice_partition_ack_state()). 0 means "untagged". */
		uint32_t tag = ++w->ack_tags[pid];
		if (tag == 0)
			tag = ++w->ack_tags[pid];
		b->ack_tag = tag;
		sluice_dp_ctx_set_ack_tag(w->ctx, tag);
	}
	ctr_add(&w->ctx->c.batches_passthrough, 1);
	return part_shed(w, pid, enqueue(w, w->open[pid].rq, b), records);
}

static void w_ack_state(void *arg, uint32_t pid, uint32_t *durable, uint32_t *refused)
{
	struct sluice_worker *w = arg;

	*durable = 0;
	*refused = 0;
	if (pid >= w->npart)
		return;
	if (w->log == NULL) { /* plain rings (tests): nothing behind them to wait for */
		*durable = w->ack_tags[pid];
		return;
	}
	sluice_partition_ack_state(sluice_log_partition(w->log, pid), w->id, durable, refused);
}

static int w_reply(void *arg, uint32_t port_idx, const uint8_t *frame, size_t len)
{
	struct sluice_worker *w = arg;
	const struct sluice_dp_port *port = &w->ctx->ports[port_idx];
	if (w->rx_pool == NULL)
		return -ENOBUFS;
	struct rte_mbuf *m = rte_pktmbuf_alloc(w->rx_pool);
	if (m == NULL)
		return -ENOBUFS;
	char *p = rte_pktmbuf_append(m, (uint16_t)len);
	if (p == NULL || port->port == NULL) {
		rte_pktmbuf_free(m);
		return -EMSGSIZE;
	}
	memcpy(p, frame, len);
	if (sluice_nic_tx_burst(port->port, port->queue, &m, 1) != 1) {
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The loop                                                                                   */

static unsigned seal_expired(struct sluice_worker *w)
{
	unsigned n = 0;
	uint64_t next = UINT64_MAX;
	for (uint32_t i = 0; i < w->nopen;) {
		uint32_t pid = w->open_list[i];
		uint64_t d = w->open[pid].deadline_tsc;
		if (d <= w->now_tsc) {
			seal(w, pid, SEAL_LINGER); /* moves the last entry to i */
			n++;
		} else {
			if (d < next)
				next = d;
			i++;
		}
	}
	w->next_deadline = next;
	return n;
}

static unsigned ol_to_flags(uint64_t ol)
{
	unsigned f = 0;
	uint64_t ip = ol & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	uint64_t l4 = ol & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
		f |= SLUICE_PKT_F_IP_CKSUM_GOOD;
	else if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		f |= SLUICE_PKT_F_IP_CKSUM_BAD;
	if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		f |= SLUICE_PKT_F_L4_CKSUM_GOOD;
	else if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		f |= SLUICE_PKT_F_L4_CKSUM_BAD;
	return f;
}

static void process_burst(struct sluice_worker *w, uint32_t port_idx, struct rte_mbuf **pkts,
			  uint16_t n)
{
	rte_prefetch0(rte_pktmbuf_mtod(pkts[0], void *));
	for (uint16_t j = 0; j < n; j++) {
		struct rte_mbuf *m = pkts[j];
		if (j + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[j + 1], void *));
		const uint8_t *data = rte_pktmbuf_mtod(m, const uint8_t *);
		size_t len = m->data_len;
		if (unlikely(m->nb_segs > 1)) {
			/* Longer frames are cut: the IP length check then rejects them. */
			len = m->pkt_len < sizeof(w->scratch) ? m->pkt_len : sizeof(w->scratch);
			data = rte_pktmbuf_read(m, 0, (uint32_t)len, w->scratch);
		}
		w->rx_pool = m->pool;
		sluice_dp_ctx_packet(w->ctx, port_idx, data, len, ol_to_flags(m->ol_flags),
				     w->now_ms, &w->sink);
	}
	rte_pktmbuf_free_bulk(pkts, n);
}

static void load_tunables(struct sluice_worker *w)
{
	/* Partners: the relaxed stores in sluice_worker_set_*(); each value stands alone. */
	w->batch_bytes = atomic_load_explicit(&w->t_batch_bytes, memory_order_relaxed);
	w->linger_tsc =
		atomic_load_explicit(&w->t_linger_us, memory_order_relaxed) * w->tsc_per_ms / 1000;
	w->bp = (enum sluice_backpressure)atomic_load_explicit(&w->t_backpressure,
							       memory_order_relaxed);
}

unsigned sluice_worker_poll(struct sluice_worker *w)
{
	struct rte_mbuf *pkts[MAX_BURST];
	unsigned work = 0;
	bool flushed = false;
	uint64_t now = rte_rdtsc();

	/* The previous pass ends where this one starts: one TSC read per pass. */
	if (w->prev_tsc) {
		uint64_t d = now - w->prev_tsc;
		d = d > w->blocked_in_pass ? d - w->blocked_in_pass : 0;
		ctr_add(w->prev_busy ? &w->ctx->c.busy_cycles : &w->ctx->c.idle_cycles, d);
	}
	w->blocked_in_pass = 0;
	w->now_tsc = now;
	w->now_ms = w->base_ms + (int64_t)((now - w->base_tsc) / w->tsc_per_ms);
	load_tunables(w);
	/* Partner: the relaxed increment in sluice_worker_flush_request(); the batches it seals
	 * are published through the rings, which carry their own ordering. */
	uint32_t fr = atomic_load_explicit(&w->flush_req, memory_order_relaxed);
	if (unlikely(fr != w->flush_seen)) {
		w->flush_seen = fr;
		flush_all(w, SEAL_FLUSH);
		handoff(w);
		flushed = true;
	}

	for (uint32_t i = 0; i < w->nports; i++) {
		const struct sluice_dp_port *p = &w->ctx->ports[i];
		uint16_t n = sluice_nic_rx_burst(p->port, p->queue, pkts, w->burst);
		if (n == 0)
			continue;
		ctr_add(&w->ctx->c.rx_bursts, 1);
		w->rx_port = i;
		process_burst(w, i, pkts, n);
		work += n;
	}
	seal_full(w);
	if (w->nopen && w->now_tsc >= w->next_deadline)
		work += seal_expired(w);
	/* Between passes every identity holds. An idle pass only moves idle_cycles: publish
	 * those at most once a millisecond, so that a reader's lines stay cold. */
	if (work || flushed || now - w->pub_tsc >= w->tsc_per_ms) {
		publish(w);
		for (uint32_t i = 0; i < w->nrq; i++)
			rq_flush(&w->rqs[i]);
	} else {
		handoff(w); /* nothing is pending after an idle pass; cheap to make sure */
	}
	/* Acks after the hand-off: what they wait for is in the rings by now. At most every
	 * ACK_POLL_US: each listed producer costs two loads of the writer's lines. */
	if (w->ctx->ack_nlist && now - w->ack_poll_tsc >= w->ack_poll_gap_tsc) {
		w->ack_poll_tsc = now;
		work += sluice_dp_ctx_ack_poll(w->ctx, w->now_ms, ACK_INTERVAL_MS, &w->sink);
	}
	w->prev_busy = work != 0;
	w->prev_tsc = now;
	return work;
}

static void idle_backoff(struct sluice_worker *w)
{
	/* Partner: the relaxed store in sluice_worker_set_idle_backoff(). */
	if (!atomic_load_explicit(&w->t_idle_backoff, memory_order_relaxed))
		return;
	uint32_t n = ++w->idle_passes;
	if (n < 64)
		return;
	if (n < 1024) {
		rte_pause();
		return;
	}
	uint32_t max_us = atomic_load_explicit(&w->t_idle_sleep_us, memory_order_relaxed);
	uint32_t us = 1u << ((n - 1024) / 256 < 16 ? (n - 1024) / 256 : 16);
	if (us > max_us)
		us = max_us;
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
	nanosleep(&ts, NULL);
	ctr_add(&w->ctx->c.idle_sleeps, 1);
}

int sluice_worker_run(void *worker)
{
	struct sluice_worker *w = worker;
	/* Partner: the release store in sluice_worker_stop(). */
	while (!atomic_load_explicit(&w->quit, memory_order_acquire)) {
		if (sluice_worker_poll(w))
			w->idle_passes = 0;
		else
			idle_backoff(w);
	}
	sluice_worker_flush(w);
	return 0;
}

void sluice_worker_flush(struct sluice_worker *w)
{
	w->now_tsc = rte_rdtsc();
	load_tunables(w);
	w->draining = true;
	flush_all(w, SEAL_FLUSH);
	handoff(w);
	w->draining = false;
	return_spare(w);
	publish(w);
}

void sluice_worker_flush_request(struct sluice_worker *w)
{
	atomic_fetch_add_explicit(&w->flush_req, 1, memory_order_relaxed);
}

void sluice_worker_stop(struct sluice_worker *w)
{
	/* Partner: the acquire loads in sluice_worker_run() and wait_spin(). */
	atomic_store_explicit(&w->quit, true, memory_order_release);
}

/* ---------------------------------------------------------------------------------------- */
/* Control thread                                                                            */

void sluice_worker_stats(const struct sluice_worker *w, struct sluice_worker_stats *out)
{
	dp_ctx_stats_published(w->ctx, out);
}

unsigned sluice_worker_producers(const struct sluice_worker *w, sluice_producer_visit_fn cb,
				 void *arg)
{
	return sluice_dp_ctx_producers(w->ctx, cb, arg);
}

void sluice_worker_set_linger_us(struct sluice_worker *w, uint32_t linger_us)
{
	atomic_store_explicit(&w->t_linger_us, linger_us, memory_order_relaxed);
}

void sluice_worker_set_batch_bytes(struct sluice_worker *w, uint32_t batch_bytes)
{
	if (batch_bytes > w->capacity)
		batch_bytes = w->capacity;
	if (batch_bytes < SLUICE_RB_HEADER_BYTES + 1)
		batch_bytes = SLUICE_RB_HEADER_BYTES + 1;
	atomic_store_explicit(&w->t_batch_bytes, batch_bytes, memory_order_relaxed);
}

void sluice_worker_set_backpressure(struct sluice_worker *w, enum sluice_backpressure b)
{
	if (b < SLUICE_BACKPRESSURE__COUNT)
		atomic_store_explicit(&w->t_backpressure, (uint32_t)b, memory_order_relaxed);
}

void sluice_worker_set_idle_backoff(struct sluice_worker *w, bool on, uint32_t idle_sleep_us)
{
	atomic_store_explicit(&w->t_idle_sleep_us, idle_sleep_us ? idle_sleep_us : 100,
			      memory_order_relaxed);
	atomic_store_explicit(&w->t_idle_backoff, on, memory_order_relaxed);
}

void sluice_worker_apply_config(struct sluice_worker *w, const struct sluice_config_dataplane *c)
{
	sluice_worker_set_linger_us(w, (uint32_t)c->linger_us);
	sluice_worker_set_batch_bytes(w, (uint32_t)c->batch_bytes);
	sluice_worker_set_backpressure(
		w, c->backpressure ? SLUICE_BACKPRESSURE_BLOCK : SLUICE_BACKPRESSURE_DROP);
	sluice_worker_set_idle_backoff(w, c->idle_sleep, (uint32_t)c->idle_sleep_us);
}

int sluice_worker_partition_shed(const struct sluice_worker *w, uint32_t partition_id,
				 uint64_t shed[SLUICE_DP_SHED__COUNT])
{
	if (partition_id >= w->npart)
		return -ERANGE;
	for (unsigned i = 0; i < SLUICE_DP_SHED__COUNT; i++)
		shed[i] = atomic_load_explicit(&w->pshed[partition_id][i], memory_order_relaxed);
	return 0;
}

uint32_t sluice_worker_id(const struct sluice_worker *w)
{
	return w->id;
}

/* ---------------------------------------------------------------------------------------- */
/* Lifetime                                                                                  */

int sluice_worker_create(const struct sluice_worker_opts *o, struct sluice_worker **out)
{
	char why[160];
	struct sluice_worker *w = NULL;
	struct sluice_dp_port ports[SLUICE_DP_MAX_PORTS];
	int rc = -EINVAL;

	struct sluice_dp_ctx_opts co = {
		.ports = o->ports,
		.nports = o->nports,
		.listeners = o->listeners,
		.nlisteners = o->nlisteners,
		.producer_table_size = o->producer_table_size,
		.reorder_window = o->reorder_window,
		.producers_per_source = o->producers_per_source,
		.producer_idle_ms = o->producer_idle_ms,
		.reply_rate = o->reply_rate,
		.reply_burst = o->reply_burst,
		.ack_window = o->ack_window,
		.ack_recovery = o->ack_recovery,
	};
	if (sluice_dp_ctx_opts_check(&co, why, sizeof(why)) != 0)
		goto bad;
	snprintf(why, sizeof(why), "need a batch pool, a log or rings, and a burst <= %d",
		 MAX_BURST);
	if (o->batch_pool == NULL || (o->log == NULL && (o->rings == NULL || o->nrings == 0)) ||
	    o->burst > MAX_BURST || o->backpressure >= SLUICE_BACKPRESSURE__COUNT ||
	    o->keyless >= SLUICE_KEYLESS__COUNT)
		goto bad;
	for (uint32_t i = 0; i < o->nports; i++) {
		ports[i] = o->ports[i];
		snprintf(why, sizeof(why), "port %u has no nic port", i);
		if (ports[i].port == NULL)
			goto bad;
		if (is_zero_mac(ports[i].mac))
			sluice_nic_port_mac(ports[i].port, ports[i].mac);
	}
	co.ports = ports;

	w = aligned_alloc(64, (sizeof(*w) + 63) & ~(size_t)63);
	if (w == NULL)
		return -ENOMEM;
	memset(w, 0, sizeof(*w));
	if (!o->ack_recovery && o->log && o->ack_recovery_records) {
		uint64_t nb = 0;
		bool scanned = false;
		rc = dp_ack_recovery_get(o->log, o->ack_recovery_records, &w->own_rec, &nb,
					 &scanned);
		if (rc) {
			dp_log(RTE_LOG_ERR, "worker %u: acknowledged-mode recovery: %s", o->id,
			       strerror(-rc));
			goto fail;
		}
		if (scanned && sluice_dp_ack_recovery_count(w->own_rec))
			dp_log(RTE_LOG_INFO,
			       "acknowledged mode: %u producer streams in the log's tail "
			       "(%lu batches in the last %lu records of each partition)",
			       sluice_dp_ack_recovery_count(w->own_rec), (unsigned long)nb,
			       (unsigned long)o->ack_recovery_records);
		co.ack_recovery = w->own_rec;
	}
	rc = sluice_dp_ctx_create(&co, &w->ctx);
	if (rc)
		goto fail;
	w->id = o->id;
	w->log = o->log;
	w->lcore = o->lcore;
	w->nports = o->nports;
	w->pool = o->batch_pool;
	w->capacity = sluice_dp_batch_pool_capacity(o->batch_pool);
	w->ctx->batch_capacity = w->capacity;
	w->keyless = o->keyless;
	w->burst = o->burst ? o->burst : DEFAULT_BURST;
	rc = -EINVAL;
	snprintf(why, sizeof(why), "batch pool elements hold %u bytes, need > %u", w->capacity,
		 SLUICE_RB_HEADER_BYTES + 64);
	if (w->capacity <= SLUICE_RB_HEADER_BYTES + 64)
		goto bad;

	w->npart = 0;
	if (o->log)
		w->npart = sluice_log_partition_count(o->log);
	for (uint32_t i = 0; i < o->nlisteners; i++) {
		uint32_t end = o->listeners[i].first_partition_id + o->listeners[i].partitions;
		if (o->log && end > w->npart) {
			snprintf(why, sizeof(why),
				 "listener %u (topic %s): partitions %u..%u not in the log (%u)", i,
				 o->listeners[i].topic, o->listeners[i].first_partition_id, end - 1,
				 w->npart);
			goto bad;
		}
		if (!o->log && end > w->npart)
			w->npart = end;
	}
	rc = -ENOMEM;
	w->open = calloc(w->npart ? w->npart : 1, sizeof(*w->open));
	w->open_list = calloc(w->npart ? w->npart : 1, sizeof(*w->open_list));
	w->pshed = calloc(w->npart ? w->npart : 1, sizeof(*w->pshed));
	w->ack_tags = calloc(w->npart ? w->npart : 1, sizeof(*w->ack_tags));
	/* At most one queue per partition; usually one per writer. */
	w->rqs = calloc(w->npart ? w->npart : 1, sizeof(*w->rqs));
	if (w->open == NULL || w->open_list == NULL || w->pshed == NULL || w->rqs == NULL ||
	    w->ack_tags == NULL)
		goto fail;
	for (uint32_t p = 0; p < w->npart; p++) {
		struct rte_ring *ring = o->log
			? sluice_log_ring(o->log, o->id, sluice_log_writer_of(o->log, p))
			: o->rings[p % o->nrings];
		rc = -EINVAL;
		snprintf(why, sizeof(why), "no ring for partition %u (worker %u)", p, o->id);
		if (ring == NULL)
			goto bad;
		uint32_t q = 0;
		while (q < w->nrq && w->rqs[q].ring != ring)
			q++;
		if (q == w->nrq) {
			w->rqs[q].writer = o->log ? sluice_log_writer_of(o->log, p) : 0;
			w->rqs[w->nrq++].ring = ring;
		}
		w->open[p].rq = &w->rqs[q];
	}
	for (uint32_t i = 0; i < o->nlisteners; i++)
		w->sticky[i].partition = o->id % o->listeners[i].partitions;

	w->sink = (struct sluice_dp_sink){.arg = w,
					  .event = w_event,
					  .batch = w_batch,
					  .reply = w_reply,
					  .ack_state = w_ack_state};
	w->tsc_per_ms = rte_get_tsc_hz() / 1000;
	if (w->tsc_per_ms == 0)
		w->tsc_per_ms = 1;
	w->ack_poll_gap_tsc = w->tsc_per_ms * ACK_POLL_US / 1000;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	w->base_tsc = rte_rdtsc();
	w->base_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	w->next_deadline = UINT64_MAX;
	w->full_pid = NO_PID;
	sluice_worker_set_linger_us(w, o->linger_us);
	sluice_worker_set_batch_bytes(w, o->batch_bytes ? o->batch_bytes : w->capacity);
	sluice_worker_set_backpressure(w, o->backpressure);
	sluice_worker_set_idle_backoff(w, o->idle_backoff, o->idle_sleep_us);
	load_tunables(w);
	*out = w;
	return 0;
bad:
	dp_log(RTE_LOG_ERR, "worker %u: %s", o->id, why);
	rc = -EINVAL;
fail:
	sluice_worker_destroy(w);
	return rc;
}

void sluice_worker_destroy(struct sluice_worker *w)
{
	if (w == NULL)
		return;
	if (w->open) {
		/* Open batches of a worker that never ran to its end go back unsent. */
		for (uint32_t i = 0; i < w->nopen; i++) {
			struct open_batch *ob = &w->open[w->open_list[i]];
			ctr_sub(&w->ctx->c.events_open, ob->records);
			ctr_add(&w->ctx->c.shed[SLUICE_DP_SHED_STOPPED], ob->records);
			pshed_add(&w->pshed[w->open_list[i]][SLUICE_DP_SHED_STOPPED], ob->records);
			rte_mempool_put(w->pool, ob->b);
		}
	}
	if (w->rqs) /* a worker destroyed without its final flush; the batches fit */
		handoff(w);
	if (w->ctx)
		publish(w);
	if (w->pool)
		return_spare(w);
	free(w->rqs);
	free(w->open);
	free(w->pshed);
	free(w->open_list);
	free(w->ack_tags);
	sluice_dp_ctx_destroy(w->ctx);
	dp_ack_recovery_put(w->own_rec);
	free(w);
}
