/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to dataplane/: the EAL-free context's layout, shared by ctx.c (the packet ->
 * event core) and worker.c (the lcore loop that embeds a context and adds batching).
 */
#ifndef SLUICE_DATAPLANE_INTERNAL_H
#define SLUICE_DATAPLANE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
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
	X(producer_new)          \
	X(producer_untracked)    \
	X(source_overflow)       \
	X(ack_batches)           \
	X(ack_events)            \
	X(ack_duplicates)        \
	X(acks_sent)             \
	X(ack_tx_full)           \
	X(ack_recovered)         \
	X(ack_rollbacks)

/*
 * The owning thread's live counters: plain integers, written by that thread alone. Other
 * threads never read them; they read the seqlock-published copy (struct dp_counters_pub),
 * which the owner refreshes at points where every identity of sluice_dataplane.h holds.
 */
struct dp_counters {
#define X(name) uint64_t name;
	DP_SCALAR_COUNTERS(X)
#undef X
	uint64_t rejects[SLUICE_DP_REJECT__COUNT];
	uint64_t batch_errors[SLUICE_RB__COUNT];
	uint64_t shed[SLUICE_DP_SHED__COUNT];
	uint64_t shed_cause[SLUICE_WRITER_CAUSE__COUNT];
};

#define DP_COUNTER_WORDS (sizeof(struct dp_counters) / sizeof(uint64_t))
_Static_assert(sizeof(struct dp_counters) % sizeof(uint64_t) == 0, "counters are words");

static inline void ctr_add(uint64_t *c, uint64_t n)
{
	*c += n;
}

static inline void ctr_sub(uint64_t *c, uint64_t n)
{
	*c -= n;
}

/*
 * Sequence locks (Boehm, "Can seqlocks get along with programming language memory models?",
 * 2012) over arrays of 64-bit words, for data one thread writes and others read: the single
 * writer makes seq odd, fences, stores every word, then makes seq even with a release store;
 * a reader that saw the same even seq before (acquire) and after (behind an acquire fence)
 * its relaxed loads has read one publication whole, and otherwise reads again. The writer
 * never waits; a reader repeats only when a publication overlapped its own read.
 */
static inline void dp_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* Writer only. */
static inline void dp_seq_publish(_Atomic uint32_t *seq, _Atomic uint64_t *dst, const uint64_t *src,
				  size_t n)
{
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);

	atomic_store_explicit(seq, s + 1, memory_order_relaxed);
	/* Partner: the acquire fence in dp_seq_read(): no word may be seen before the odd seq. */
	atomic_thread_fence(memory_order_release);
#pragma GCC unroll 8
	for (size_t i = 0; i < n; i++)
		atomic_store_explicit(&dst[i], src[i], memory_order_relaxed);
	/* Partner: the acquire load of seq in dp_seq_read(). */
	atomic_store_explicit(seq, s + 2, memory_order_release);
}

/* Any thread. @return how many torn reads it repeated (tests). */
static inline unsigned dp_seq_read(const _Atomic uint32_t *seq, const _Atomic uint64_t *src,
				   uint64_t *dst, size_t n)
{
	for (unsigned retries = 0;; retries++) {
		/* Partner: the release store at the end of dp_seq_publish(). */
		uint32_t s1 = atomic_load_explicit(seq, memory_order_acquire);
		if (s1 & 1) {
			dp_cpu_relax();
			continue;
		}
		for (size_t i = 0; i < n; i++)
			dst[i] = atomic_load_explicit(&src[i], memory_order_relaxed);
		/* Partner: the release fence in dp_seq_publish(). */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(seq, memory_order_relaxed) == s1)
			return retries;
	}
}

/* The published copy of struct dp_counters (10 cache lines; tens of nanoseconds to write). */
struct dp_counters_pub {
	_Atomic uint32_t seq;
	_Atomic uint64_t w[DP_COUNTER_WORDS];
};

/* struct dp_counters -> the public stats layout. */
void dp_counters_to_stats(const struct dp_counters *c, struct sluice_worker_stats *out);

/*
 * Token bucket in thousandths of a token, refilled from the caller's millisecond clock, so
 * that `rate` tokens per second is exactly `rate` thousandths per millisecond. A new bucket
 * starts full (last_ms < 0).
 */
struct dp_bucket {
	uint64_t milli;
	int64_t last_ms;
};

static inline bool dp_bucket_take(struct dp_bucket *b, uint32_t rate, uint32_t burst,
				  int64_t now_ms, uint64_t n)
{
	uint64_t cap = (uint64_t)burst * 1000;

	if (b->last_ms < 0) {
		b->milli = cap;
		b->last_ms = now_ms;
	} else if (now_ms > b->last_ms) {
		uint64_t dt = (uint64_t)(now_ms - b->last_ms);
		/* Above cap / rate ms the bucket is full; below, dt * rate cannot overflow. */
		uint64_t add = dt > cap / rate ? cap : dt * rate;
		b->milli = cap - b->milli > add ? b->milli + add : cap;
		b->last_ms = now_ms;
	}
	if (b->milli < n * 1000)
		return false;
	b->milli -= n * 1000;
	return true;
}

#define PROD_PENDING_MAX 4
/* Ranges received but shed (ring full, pool empty) that a retransmission may still fill. */
#define PROD_SHED_MAX 4

/* Sequence ranges are [base, end) modulo 2^31, as Kafka wraps sequences at INT32_MAX. */
struct prod_range {
	int32_t base;
	int32_t end;
};

/*
 * What other threads may read of a producer entry: the first words of struct prod_entry,
 * published through the entry's own sequence lock (struct prod_pub) after every change, so
 * that `sluicectl producers` and the metrics read the live table without the worker copying
 * it (and without stopping it). producer_id < 0 marks a free slot.
 */
struct prod_view {
	int64_t producer_id;
	uint32_t pkey; /* global partition id, or PKEY_BY_KEY | listener index */
	int16_t epoch;
	uint8_t npending;
	uint8_t family; /* source address family: 4 or 6 (0: none given) */
	int32_t next_seq;
	uint16_t sport; /* source UDP port */
	uint16_t reserved;
	union {
		uint8_t addr[16]; /* source address (IPv4 in the first 4 bytes, then zeros) */
		uint64_t addr_w[2]; /* the same, compared as two words */
	};
	uint64_t batches;
	uint64_t events;
	uint64_t lost;
	uint64_t dups;
	uint64_t shed_events;
	int64_t last_seen_ms;
};

#define PROD_VIEW_WORDS (sizeof(struct prod_view) / sizeof(uint64_t))
_Static_assert(sizeof(struct prod_view) % sizeof(uint64_t) == 0, "the view is words");

/* The published copy of a prod_view (dp_seq_publish()). */
struct prod_pub {
	_Atomic uint32_t seq;
	_Atomic uint64_t w[PROD_VIEW_WORDS];
};

/*
 * One (source address, source port, producerId, partition key) stream; the key is in the
 * view (v.addr, v.family, v.sport, v.producer_id, v.pkey). The source is part of the key: a
 * datagram from another address or port, whatever producerId, epoch and sequence it claims,
 * is another stream and cannot move this one's sequence.
 */
struct prod_entry {
	union {
		struct prod_view v;
		uint64_t vw[PROD_VIEW_WORDS]; /* the same, as words: what prod_publish() copies */
	};
	uint32_t src; /* index of its source entry (which it pins), or SRC_NONE */
	uint8_t nshed;
	int32_t reserved;
	struct prod_range pending[PROD_PENDING_MAX];
	/* Oldest first. The sequence has moved past them: the producer sent them, so a hole they
	 * leave is not its loss; a resend of (part of) one is accepted, once. */
	struct prod_range shed[PROD_SHED_MAX];
	struct prod_pub pub;
};

/*
 * Acknowledged-mode state of a producer entry (ctx.c). The accepted state (next_seq and the
 * pending ranges of the entry) runs ahead of the durable state (dur_*), which is what acks
 * report. A snapshot of the accepted state is "armed" with the tag of the newest batch it
 * covers; once storage reports that tag durable (in ring order, everything before it is),
 * the snapshot becomes the durable state and the next one is armed.
 */
struct prod_ack {
	bool on;
	bool armed;
	bool due; /* send an ack at the next poll */
	bool listed; /* in ctx->ack_list */
	uint8_t port_idx;
	uint8_t family;
	uint8_t l2len;
	uint8_t ndur;
	uint8_t arm_n;
	uint8_t l2[22]; /* the request's Ethernet + VLAN header, addressed back */
	uint8_t local[16]; /* our address the producer sent to */
	uint16_t lport; /* listener UDP port */
	uint32_t pid; /* global partition id */
	int32_t partition; /* topic-local */
	int32_t dur_next;
	struct prod_range dur[PROD_PENDING_MAX];
	int32_t arm_next;
	struct prod_range arm[PROD_PENDING_MAX];
	uint32_t arm_tag;
	uint32_t last_tag; /* newest accepted batch's tag */
	uint32_t refused_seen;
	int64_t last_ack_ms;
};

#define SRC_NONE UINT32_MAX

/*
 * One (source address, listener): its rate-limit bucket and how many producer entries it
 * holds. A source that holds producer entries is never evicted, so a producer entry's src
 * index always names the same address; others are replaced least recently seen first.
 */
struct src_entry {
	uint8_t addr[16];
	bool used; /* false: free (entries are replaced, never freed) */
	uint8_t family; /* 4, 6, or 0 for a datagram handed over without its source */
	uint8_t listener;
	uint8_t reserved;
	uint32_t producers;
	int64_t last_seen_ms;
	struct dp_bucket bucket;
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
	uint32_t prod_per_source; /* entries one source may hold */
	int64_t prod_idle_ms; /* another source's entry idle this long may be taken */
	struct src_entry *src; /* source table, prod_mask + 1 entries */
	/* Control-plane replies (ARP, ICMP echo, ND): one bucket for the context. */
	uint32_t reply_rate; /* per second; 0: unlimited */
	uint32_t reply_burst;
	struct dp_bucket reply_bucket;
	/* Per datagram: the source's rate-limit bucket while its events are emitted (NULL when
	 * the listener has no limit) and the time. */
	struct dp_bucket *rl_bucket;
	int64_t now_ms;
	/* Shared by the sources of each listener that the source table cannot hold. */
	struct dp_bucket rl_overflow[SLUICE_DP_MAX_LISTENERS];
	uint16_t max_headers;
	struct sluice_rb_kv *hdr_scratch; /* max_headers */
	/* Records of the partition -1 batch being handled, decoded while validating. */
	struct sluice_rb_record recs[DP_RECS_MAX];
	/* Acknowledged mode. */
	struct prod_ack *ack; /* one per producer entry */
	uint32_t *ack_list; /* entries with ack work (armed or due) */
	uint32_t ack_nlist;
	uint32_t ack_window;
	const struct sluice_dp_ack_recovery *ack_rec;
	bool ack_want; /* the batch in the sink's hands is acknowledged */
	uint32_t ack_tag; /* its tag, set by the sink */
	const uint8_t *cur_frame; /* the frame of the datagram being decoded, or NULL */
	const struct sluice_pkt_info *cur_pi;
	uint32_t cur_port;
	/* Reply frames are built here; sized for a jumbo frame. */
	uint8_t reply[9216 + 64];
	/* Written by the owner at consistent points (dp_ctx_publish()), read by any thread. */
	_Alignas(64) struct dp_counters_pub pub;
};

/* Publish the live counters (owner thread): call only where every identity holds. */
static inline void dp_ctx_publish(struct sluice_dp_ctx *ctx)
{
	/* The counters are uint64_t members: read as the words they are. */
	dp_seq_publish(&ctx->pub.seq, ctx->pub.w, (const uint64_t *)&ctx->c, DP_COUNTER_WORDS);
}

/* The last published counters. Any thread. */
void dp_ctx_stats_published(const struct sluice_dp_ctx *ctx, struct sluice_worker_stats *out);

/* The log's view of (producer id, global partition, epoch): the sequence below which it holds
 * everything, and up to PROD_PENDING_MAX ranges above. @return false when unknown. */
bool dp_ack_recovery_find(const struct sluice_dp_ack_recovery *r, int64_t producer_id,
			  uint32_t partition_id, int16_t epoch, int32_t *next,
			  struct prod_range *pending, uint8_t *npending);

/* Workers of one log share one recovery table (ack_scan.c): the first scans, the last
 * frees. Control thread. @p scanned: this call did the scan. @return 0 or -errno. */
int dp_ack_recovery_get(struct sluice_log *log, uint64_t max_records,
			struct sluice_dp_ack_recovery **out, uint64_t *batches, bool *scanned);
void dp_ack_recovery_put(struct sluice_dp_ack_recovery *r);

#endif /* SLUICE_DATAPLANE_INTERNAL_H */
