/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to dataplane/: the EAL-free context's layout, shared by ctx.c (the packet ->
 * event core) and worker.c (the lcore loop that embeds a context and adds batching).
 */
#ifndef SLUICE_DATAPLANE_INTERNAL_H
#define SLUICE_DATAPLANE_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "sluice_dataplane.h"

/* Every scalar counter of struct sluice_worker_stats, in one list so that the atomic mirror,
 * the snapshot and the summing function cannot drift apart. */
#define DP_SCALAR_COUNTERS(X)    \
	X(rx_packets)            \
	X(rx_bytes)              \
	X(rx_bursts)             \
	X(ctrl_packets)          \
	X(arp_replies)           \
	X(icmp_replies)          \
	X(nd_replies)            \
	X(datagrams)             \
	X(datagrams_accepted)    \
	X(events_decoded)        \
	X(events_parsed)         \
	X(events_enqueued)       \
	X(events_open)           \
	X(bytes_enqueued)        \
	X(batches_sealed_size)   \
	X(batches_sealed_linger) \
	X(batches_sealed_flush)  \
	X(batches_passthrough)   \
	X(batches_enqueued)      \
	X(busy_cycles)           \
	X(idle_cycles)           \
	X(blocked_cycles)        \
	X(idle_sleeps)           \
	X(producers_active)      \
	X(producer_lost)         \
	X(producer_duplicates)   \
	X(producer_evictions)    \
	X(producer_new)

/*
 * Written only by the context's owning thread (relaxed load + store, which compiles to a
 * plain add on x86 and arm64); read by any thread with relaxed loads in sluice_dp_ctx_stats().
 * Partner: none needed beyond atomicity: counters are monotonic and read independently.
 */
struct dp_counters {
#define X(name) _Atomic uint64_t name;
	DP_SCALAR_COUNTERS(X)
#undef X
	_Atomic uint64_t rejects[SLUICE_DP_REJECT__COUNT];
	_Atomic uint64_t batch_errors[SLUICE_RB__COUNT];
	_Atomic uint64_t shed[SLUICE_DP_SHED__COUNT];
	_Atomic uint64_t shed_cause[SLUICE_WRITER_CAUSE__COUNT];
};

static inline void ctr_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline void ctr_sub(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
			      memory_order_relaxed);
}

#define PROD_PENDING_MAX 4
/* Ranges received but shed (ring full, pool empty) that a retransmission may still fill. */
#define PROD_SHED_MAX 4

/* Sequence ranges are [base, end) modulo 2^31, as Kafka wraps sequences at INT32_MAX. */
struct prod_range {
	int32_t base;
	int32_t end;
};

/* One (producerId, partition key) stream. producer_id < 0 marks a free slot. */
struct prod_entry {
	int64_t producer_id;
	uint32_t pkey; /* global partition id, or PKEY_BY_KEY | listener index */
	int16_t epoch;
	uint8_t npending;
	uint8_t nshed;
	int32_t next_seq;
	struct prod_range pending[PROD_PENDING_MAX];
	/* Oldest first. The sequence has moved past them: the producer sent them, so a hole they
	 * leave is not its loss; a resend of (part of) one is accepted, once. */
	struct prod_range shed[PROD_SHED_MAX];
	uint64_t batches;
	uint64_t events;
	uint64_t lost;
	uint64_t dups;
	uint64_t shed_events;
	int64_t last_seen_ms;
};

#define PKEY_BY_KEY 0x80000000u

/* A 1472-byte datagram holds at most 200 records (7 bytes each at the least); a batch with
 * more (jumbo frames) is iterated after validation instead. */
#define DP_RECS_MAX 256

struct sluice_dp_ctx {
	struct dp_counters c;
	struct sluice_dp_port ports[SLUICE_DP_MAX_PORTS];
	uint32_t nports;
	struct sluice_listener listeners[SLUICE_DP_MAX_LISTENERS];
	uint32_t nlisteners;
	/* Largest batch the sink can hold (the worker's pool element); records and passthrough
	 * batches above it are rejected as too large rather than shed. */
	uint32_t batch_capacity;
	uint32_t reorder_window;
	struct prod_entry *prod; /* producer table, prod_mask + 1 entries */
	uint32_t prod_mask;
	uint16_t max_headers;
	struct sluice_rb_kv *hdr_scratch; /* max_headers */
	/* Records of the partition -1 batch being handled, decoded while validating. */
	struct sluice_rb_record recs[DP_RECS_MAX];
	/* Reply frames are built here; sized for a jumbo frame. */
	uint8_t reply[9216 + 64];
};

/* Copy the producer table entries (worker snapshot). */
unsigned dp_ctx_producers_from(const struct sluice_dp_ctx *ctx, const struct prod_entry *tab,
			       uint32_t n, sluice_producer_visit_fn cb, void *arg);

#endif /* SLUICE_DATAPLANE_INTERNAL_H */
