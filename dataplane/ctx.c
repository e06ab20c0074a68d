/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The EAL-free packet -> event core: addresses, ARP/ICMP/ND replies, listener lookup, the
 * three wire formats and per-producer sequence tracking.
 *
 * Threading contract: a context is owned by one thread (a worker lcore, a test, a fuzzer),
 * which alone calls sluice_dp_ctx_*() and alone writes the counters, the source table and the
 * producer table. Other threads read two things, each through a sequence lock written by the
 * owner (dataplane_internal.h): the counters as last published with dp_ctx_publish() (the
 * worker decides when: where every identity holds), and each producer entry's view, which
 * the owner republishes whenever it changes the entry (prod_publish()).
 *
 * Counting order: an event is counted decoded, parsed and shed (or rejected) together, after
 * the sink returned. The sink may hand batches to storage, and publish the counters first,
 * in the middle of a datagram; at that point the event in hand is in no account yet, so every
 * identity holds in what it publishes (docs/dataplane.md, "Counters").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane_config.h"
#include "dataplane_internal.h"
#include "parse_internal.h"

#define DEFAULT_MAX_HEADERS 32
#define DEFAULT_ACK_WINDOW 4096
/* Upper bound of a record's framing (length, attributes, timestamp and offset deltas, key and
 * value lengths, header count varints) used to reject records that could never fit a batch. */
#define RECORD_OVERHEAD_MAX 40

#define C(ctx, name) (&(ctx)->c.name)

static void reject(struct sluice_dp_ctx *ctx, enum sluice_dp_reject r, uint64_t n)
{
	ctr_add(&ctx->c.rejects[r], n);
}

/* An event-level reject: the events were decoded and are accounted for here. */
static void reject_events(struct sluice_dp_ctx *ctx, enum sluice_dp_reject r, uint64_t n)
{
	ctr_add(&ctx->c.rejects[r], n);
	ctr_add(C(ctx, events_decoded), n);
}

static inline void prod_publish(struct prod_entry *e);

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* ---------------------------------------------------------------------------------------- */
/* Options and lifetime                                                                      */

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int sluice_dp_ctx_opts_check(const struct sluice_dp_ctx_opts *o, char *why, size_t why_len)
{
	char dummy[8];
	if (why == NULL) {
		why = dummy;
		why_len = sizeof(dummy);
	}
	if (o->nports == 0 || o->nports > SLUICE_DP_MAX_PORTS || o->ports == NULL) {
		snprintf(why, why_len, "ports: need 1..%u, got %u", SLUICE_DP_MAX_PORTS, o->nports);
		return -EINVAL;
	}
	if (o->nlisteners > SLUICE_DP_MAX_LISTENERS || (o->nlisteners && o->listeners == NULL)) {
		snprintf(why, why_len, "listeners: at most %u", SLUICE_DP_MAX_LISTENERS);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < o->nlisteners; i++) {
		const struct sluice_listener *l = &o->listeners[i];
		if (l->format >= SLUICE_FORMAT__COUNT || l->key_mode >= SLUICE_KEY__COUNT ||
		    l->family > SLUICE_ADDR_V6) {
			snprintf(why, why_len, "listener %u (port %u): bad format, key or family",
				 i, l->udp_port);
			return -EINVAL;
		}
		if (o->nports < 32 && (l->port_mask >> o->nports) != 0) {
			snprintf(why, why_len,
				 "listener %u (port %u): port mask 0x%x beyond %u ports", i,
				 l->udp_port, l->port_mask, o->nports);
			return -EINVAL;
		}
		if (l->partitions == 0 || l->partitions > (1u << 20) ||
		    l->first_partition_id > (1u << 24)) {
			snprintf(why, why_len, "listener %u (port %u): partitions %u out of range",
				 i, l->udp_port, l->partitions);
			return -EINVAL;
		}
		for (uint32_t j = 0; j < i; j++) {
			const struct sluice_listener *m = &o->listeners[j];
			bool share_port = m->port_mask == 0 || l->port_mask == 0 ||
				(m->port_mask & l->port_mask) != 0;
			if (share_port && m->udp_port == l->udp_port && m->family == l->family &&
			    memcmp(m->addr, l->addr, sizeof(l->addr)) == 0) {
				snprintf(why, why_len,
					 "listeners %u and %u: same address and port %u", j, i,
					 l->udp_port);
				return -EINVAL;
			}
		}
	}
	if (o->producer_table_size > (1u << 24)) {
		snprintf(why, why_len, "producer_table_size %u above %u", o->producer_table_size,
			 1u << 24);
		return -EINVAL;
	}
	if (o->reorder_window > (1u << 30)) {
		snprintf(why, why_len, "reorder_window %u above 2^30", o->reorder_window);
		return -EINVAL;
	}
	return 0;
}

int sluice_dp_ctx_create(const struct sluice_dp_ctx_opts *o, struct sluice_dp_ctx **out)
{
	struct sluice_dp_ctx *ctx;
	int rc = sluice_dp_ctx_opts_check(o, NULL, 0);
	if (rc)
		return rc;
	ctx = aligned_alloc(64, (sizeof(*ctx) + 63) & ~(size_t)63);
	if (ctx == NULL)
		return -ENOMEM;
	memset(ctx, 0, sizeof(*ctx));
	memcpy(ctx->ports, o->ports, o->nports * sizeof(*o->ports));
	ctx->nports = o->nports;
	if (o->nlisteners)
		memcpy(ctx->listeners, o->listeners, o->nlisteners * sizeof(*o->listeners));
	ctx->nlisteners = o->nlisteners;
	for (uint32_t i = 0; i < ctx->nlisteners; i++)
		ctx->listeners[i].topic[SLUICE_TOPIC_NAME_MAX - 1] = '\0';
	ctx->batch_capacity = SLUICE_RB_MAX_BATCH_BYTES;
	ctx->reorder_window = o->reorder_window;
	uint32_t n = 16;
	while (n < o->producer_table_size)
		n <<= 1;
	if (o->producer_table_size == 0)
		n = SLUICE_DP_PRODUCER_TABLE_SIZE_DEFAULT;
	ctx->prod_mask = n - 1;
	ctx->prod_per_source = o->producers_per_source && o->producers_per_source < n
		? o->producers_per_source
		: n;
	ctx->prod_idle_ms = o->producer_idle_ms ? o->producer_idle_ms
						: SLUICE_DP_PRODUCER_IDLE_S_DEFAULT * 1000u;
	ctx->reply_rate = o->reply_rate;
	ctx->reply_burst =
		o->reply_burst ? o->reply_burst : (o->reply_rate / 20 ? o->reply_rate / 20 : 1);
	ctx->reply_bucket.last_ms = -1;
	for (uint32_t i = 0; i < SLUICE_DP_MAX_LISTENERS; i++)
		ctx->rl_overflow[i].last_ms = -1;
	/* One source entry per producer entry: sources pinned by producers can never fill it
	 * before the producer table is full. */
	ctx->prod = calloc(n, sizeof(*ctx->prod));
	ctx->src = calloc(n, sizeof(*ctx->src));
	ctx->max_headers = o->max_record_headers ? o->max_record_headers : DEFAULT_MAX_HEADERS;
	ctx->hdr_scratch = calloc(ctx->max_headers, sizeof(*ctx->hdr_scratch));
	ctx->ack = calloc(n, sizeof(*ctx->ack));
	ctx->ack_list = calloc(n, sizeof(*ctx->ack_list));
	ctx->ack_window = o->ack_window ? o->ack_window : DEFAULT_ACK_WINDOW;
	ctx->ack_rec = o->ack_recovery;
	if (ctx->prod == NULL || ctx->src == NULL || ctx->hdr_scratch == NULL || ctx->ack == NULL ||
	    ctx->ack_list == NULL) {
		sluice_dp_ctx_destroy(ctx);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		ctx->prod[i].v.producer_id = -1;
		ctx->prod[i].src = SRC_NONE;
		prod_publish(&ctx->prod[i]);
	}
	dp_ctx_publish(ctx);
	*out = ctx;
	return 0;
}

void sluice_dp_ctx_destroy(struct sluice_dp_ctx *ctx)
{
	if (ctx == NULL)
		return;
	free(ctx->prod);
	free(ctx->src);
	free(ctx->hdr_scratch);
	free(ctx->ack);
	free(ctx->ack_list);
	free(ctx);
}

const struct sluice_listener *sluice_dp_ctx_listener(const struct sluice_dp_ctx *ctx, uint32_t i)
{
	return i < ctx->nlisteners ? &ctx->listeners[i] : NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Sequence numbers                                                                          */

enum seq_verdict { SEQ_ACCEPT, SEQ_RESEND, SEQ_DUPLICATE, SEQ_OVERLAP, SEQ_STALE };

/* Kafka sequences are non-negative int32 and wrap from INT32_MAX to 0: arithmetic mod 2^31. */
static int32_t seq_add(int32_t a, int64_t n)
{
	return (int32_t)(((uint64_t)(uint32_t)a + (uint64_t)n) & 0x7fffffff);
}

/* a - b mod 2^31 as a signed distance in [-2^30, 2^30). */
static int64_t seq_diff(int32_t a, int32_t b)
{
	uint32_t d = ((uint32_t)a - (uint32_t)b) & 0x7fffffff;
	return d >= 0x40000000u ? (int64_t)d - 0x80000000LL : (int64_t)d;
}

/* Range r as [*b, *end) in sequence distance from the producer's next expected sequence. */
static void range_from_next(const struct prod_entry *e, const struct prod_range *r, int64_t *b,
			    int64_t *end)
{
	*b = seq_diff(r->base, e->v.next_seq);
	*end = *b + seq_diff(r->end, r->base);
}

#define PROBES 8

/* ---------------------------------------------------------------------------------------- */
/* Sources                                                                                   */

/*
 * Find or claim the entry of (source address, listener @p li). Entries are replaced, never
 * freed, so a lookup may stop at the first free slot. A new source takes a free slot of its
 * probe window, or the least recently seen entry there that holds no producer entries.
 * @return its index, or SRC_NONE when every candidate holds producers (counted).
 */
static uint32_t src_get(struct sluice_dp_ctx *ctx, uint32_t li, uint8_t family, const uint8_t *addr,
			int64_t now_ms)
{
	uint8_t a[16] = {0};
	uint64_t lo, hi;
	struct src_entry *victim = NULL;

	if (addr && (family == 4 || family == 6))
		memcpy(a, addr, family == 6 ? 16 : 4);
	else
		family = 0;
	memcpy(&lo, a, 8);
	memcpy(&hi, a + 8, 8);
	uint64_t h = lo * 0x9E3779B97F4A7C15ull ^ hi * 0xC2B2AE3D27D4EB4Full ^
		((uint64_t)li << 8 | family) * 0x165667B19E3779F9ull;
	uint32_t i = (uint32_t)(h >> 32) ^ (uint32_t)h;
	for (unsigned k = 0; k < PROBES; k++) {
		struct src_entry *e = &ctx->src[(i + k) & ctx->prod_mask];
		if (!e->used) {
			victim = e;
			break;
		}
		if (e->listener == li && e->family == family && memcmp(e->addr, a, 16) == 0) {
			e->last_seen_ms = now_ms;
			return (uint32_t)(e - ctx->src);
		}
		if (e->producers == 0 && (victim == NULL || e->last_seen_ms < victim->last_seen_ms))
			victim = e;
	}
	if (victim == NULL) {
		ctr_add(C(ctx, source_overflow), 1);
		return SRC_NONE;
	}
	memcpy(victim->addr, a, 16);
	victim->used = true;
	victim->family = family;
	victim->listener = (uint8_t)li;
	victim->producers = 0;
	victim->last_seen_ms = now_ms;
	victim->bucket.last_ms = -1; /* starts full */
	return (uint32_t)(victim - ctx->src);
}

/* ---------------------------------------------------------------------------------------- */
/* Producer sequence tracking                                                                */

/* Once per tracked batch: the same protocol as dp_seq_publish(), unrolled for the view's
 * eleven words. */
static inline void prod_publish(struct prod_entry *e)
{
	uint32_t s = atomic_load_explicit(&e->pub.seq, memory_order_relaxed);

	atomic_store_explicit(&e->pub.seq, s + 1, memory_order_relaxed);
	/* Partner: the acquire fence in dp_seq_read(). */
	atomic_thread_fence(memory_order_release);
#pragma GCC unroll 16
	for (size_t i = 0; i < PROD_VIEW_WORDS; i++)
		atomic_store_explicit(&e->pub.w[i], e->vw[i], memory_order_relaxed);
	/* Partner: the acquire load of seq in dp_seq_read(). */
	atomic_store_explicit(&e->pub.seq, s + 2, memory_order_release);
}

static struct prod_entry *older(struct prod_entry *a, struct prod_entry *b)
{
	if (a == NULL)
		return b;
	if (b == NULL)
		return a;
	return b->v.last_seen_ms < a->v.last_seen_ms ? b : a;
}

/* Where a datagram came from: the rate limit and the producer table key on it. */
struct dgram_src {
	uint8_t family;
	const uint8_t *addr;
	uint16_t port;
	uint32_t src; /* source entry, SRC_NONE, or SRC_UNKNOWN until looked up */
};

#define SRC_UNKNOWN (SRC_NONE - 1)

static uint32_t dgram_src_entry(struct sluice_dp_ctx *ctx, const struct sluice_listener *l,
				struct dgram_src *ds)
{
	if (ds->src == SRC_UNKNOWN)
		ds->src = src_get(ctx, (uint32_t)(l - ctx->listeners), ds->family, ds->addr,
				  ctx->now_ms);
	return ds->src;
}

/*
 * Find or claim the entry of (source address and port, producerId, partition key). Entries
 * are replaced, never freed, so a lookup may stop at the first free slot; a hit needs no
 * source lookup. A new stream takes a free slot of its probe window, or else the least
 * recently seen entry there that its own source holds or that another source left unseen for
 * prod_idle_ms; a source that holds its share (prod_per_source) may only replace one of its
 * own. An active entry of another source is never replaced: made-up producer ids from one
 * source cannot push out the producers of others. The caller publishes the entry once it is
 * done with it. @return the entry, or NULL when none may be taken (the batch goes untracked,
 * counted).
 */
static struct prod_entry *prod_get(struct sluice_dp_ctx *ctx, int64_t pid, uint32_t pkey,
				   const struct sluice_listener *l, struct dgram_src *ds)
{
	struct prod_entry *free_e = NULL, *own = NULL, *idle = NULL, *victim;
	int64_t now_ms = ctx->now_ms;
	uint8_t fam = ds->addr && (ds->family == 4 || ds->family == 6) ? ds->family : 0;
	uint64_t a[2] = {0, 0};
	unsigned k;

	if (fam == 4)
		memcpy(a, ds->addr, 4);
	else if (fam == 6)
		memcpy(a, ds->addr, 16);
	uint64_t id = (uint64_t)pid ^ ((uint64_t)pkey << 32 | (uint32_t)ds->port << 8 | fam);
	uint64_t h = id * 0x9E3779B97F4A7C15ull ^
		(a[0] ^ (a[1] << 17 | a[1] >> 47)) * 0xC2B2AE3D27D4EB4Full;
	uint32_t i = (uint32_t)(h >> 32) ^ (uint32_t)h;
	for (k = 0; k < PROBES; k++) {
		struct prod_entry *e = &ctx->prod[(i + k) & ctx->prod_mask];
		if (e->v.producer_id < 0) {
			free_e = e;
			break;
		}
		if (e->v.producer_id == pid && e->v.pkey == pkey && e->v.sport == ds->port &&
		    e->v.family == fam && e->v.addr_w[0] == a[0] && e->v.addr_w[1] == a[1])
			return e;
	}
	/* A new stream: now its source matters. */
	uint32_t src = dgram_src_entry(ctx, l, ds);
	if (src == SRC_NONE)
		goto untracked;
	for (unsigned j = 0; j < k; j++) {
		struct prod_entry *e = &ctx->prod[(i + j) & ctx->prod_mask];
		if (e->src == src)
			own = older(own, e);
		else if (now_ms - e->v.last_seen_ms >= ctx->prod_idle_ms)
			idle = older(idle, e);
	}
	struct src_entry *se = &ctx->src[src];
	if (se->producers >= ctx->prod_per_source)
		victim = own;
	else
		victim = free_e ? free_e : older(own, idle);
	if (victim == NULL)
		goto untracked;
	if (victim->v.producer_id >= 0) {
		ctr_add(C(ctx, producer_evictions), 1);
		ctx->src[victim->src].producers--;
	} else {
		ctr_add(C(ctx, producers_active), 1);
	}
	se->producers++;
	ctr_add(C(ctx, producer_new), 1);
	memset(&victim->v, 0, sizeof(victim->v));
	ctx->ack[victim - ctx->prod].on = false;
	victim->v.producer_id = pid;
	victim->v.pkey = pkey;
	victim->v.family = fam;
	victim->v.addr_w[0] = a[0];
	victim->v.addr_w[1] = a[1];
	victim->v.sport = ds->port;
	victim->v.next_seq = -1; /* no history: the first batch is accepted as it is */
	victim->v.last_seen_ms = now_ms;
	victim->src = src;
	victim->nshed = 0;
	return victim;
untracked:
	ctr_add(C(ctx, producer_untracked), 1);
	return NULL;
}

static enum seq_verdict prod_check(const struct sluice_dp_ctx *ctx, const struct prod_entry *e,
				   const struct sluice_rb_header *h)
{
	if (e->v.next_seq < 0)
		return SEQ_ACCEPT;
	if (h->producer_epoch < e->v.epoch)
		return SEQ_STALE;
	if (h->producer_epoch > e->v.epoch)
		return SEQ_ACCEPT;
	int64_t ob = seq_diff(h->base_sequence, e->v.next_seq);
	int64_t oe = ob + h->record_count;
	for (unsigned i = 0; i < e->nshed; i++) {
		int64_t sb, se;

		range_from_next(e, &e->shed[i], &sb, &se);
		if (ob >= sb && oe <= se)
			return SEQ_RESEND;
	}
	if (ob < 0)
		return oe <= 0 ? SEQ_DUPLICATE : SEQ_OVERLAP;
	for (unsigned i = 0; i < e->v.npending; i++) {
		int64_t pb, pe;

		range_from_next(e, &e->pending[i], &pb, &pe);
		if (ob >= pb && oe <= pe)
			return SEQ_DUPLICATE;
		if (ob < pe && pb < oe)
			return SEQ_OVERLAP;
	}
	(void)ctx;
	return SEQ_ACCEPT;
}

static void prod_lost(struct sluice_dp_ctx *ctx, struct prod_entry *e, uint64_t n)
{
	e->v.lost += n;
	ctr_add(C(ctx, producer_lost), n);
}

static void prod_merge(struct prod_entry *e)
{
	for (unsigned i = 0; i < e->v.npending;) {
		if (e->pending[i].base == e->v.next_seq) {
			e->v.next_seq = e->pending[i].end;
			e->pending[i] = e->pending[--e->v.npending];
			i = 0;
		} else {
			i++;
		}
	}
}

/* Give up on every hole below @p target: holes count as lost, ranges below it are dropped. */
static void prod_advance_to(struct sluice_dp_ctx *ctx, struct prod_entry *e, int32_t target)
{
	int64_t holes = seq_diff(target, e->v.next_seq);
	for (unsigned i = 0; i < e->v.npending;) {
		if (seq_diff(e->pending[i].base, target) < 0) {
			holes -= seq_diff(e->pending[i].end, e->pending[i].base);
			e->pending[i] = e->pending[--e->v.npending];
		} else {
			i++;
		}
	}
	if (holes > 0)
		prod_lost(ctx, e, (uint64_t)holes);
	e->v.next_seq = target;
}

static void prod_commit(struct sluice_dp_ctx *ctx, struct prod_entry *e,
			const struct sluice_rb_header *h, int64_t now_ms)
{
	int32_t base = h->base_sequence;
	int32_t end = seq_add(base, h->record_count);

	e->v.batches++;
	e->v.events += (uint64_t)h->record_count;
	e->v.last_seen_ms = now_ms;
	if (e->v.next_seq < 0 || h->producer_epoch != e->v.epoch) {
		/* A new epoch restarts its sequence at 0 (Kafka): anything before base is lost. */
		if (e->v.next_seq >= 0 && base > 0)
			prod_lost(ctx, e, (uint64_t)base);
		e->v.epoch = h->producer_epoch;
		e->v.next_seq = end;
		e->v.npending = 0;
		e->nshed = 0;
		return;
	}
	int64_t d = seq_diff(base, e->v.next_seq);
	if (d > 0 && (uint64_t)d <= ctx->reorder_window) {
		while (e->v.npending == PROD_PENDING_MAX) {
			int32_t low = base;
			for (unsigned i = 0; i < e->v.npending; i++)
				if (seq_diff(e->pending[i].base, low) < 0)
					low = e->pending[i].base;
			prod_advance_to(ctx, e, low);
			prod_merge(e);
		}
		d = seq_diff(base, e->v.next_seq);
		if (d > 0) {
			e->pending[e->v.npending].base = base;
			e->pending[e->v.npending].end = end;
			e->v.npending++;
			return;
		}
	} else if (d > 0) {
		prod_advance_to(ctx, e, base);
	}
	e->v.next_seq = end;
	prod_merge(e);
}

/*
 * A batch the sink shed: the producer sent it and will not know to resend it, so the sequence
 * moves past it as if stored (its events are counted as shed; a hole there would count them a
 * second time, as the producer's loss). The range is remembered so that a resend is stored.
 */
static void prod_shed(struct sluice_dp_ctx *ctx, struct prod_entry *e,
		      const struct sluice_rb_header *h, int64_t now_ms)
{
	int32_t base = h->base_sequence;
	int32_t end = seq_add(base, h->record_count);

	prod_commit(ctx, e, h, now_ms);
	e->v.batches--;
	e->v.events -= (uint64_t)h->record_count;
	e->v.shed_events += (uint64_t)h->record_count;
	if (e->nshed && e->shed[e->nshed - 1].end == base) {
		e->shed[e->nshed - 1].end = end;
		return;
	}
	if (e->nshed == PROD_SHED_MAX) {
		/* The oldest range is no longer resendable: its resend becomes a duplicate. */
		memmove(&e->shed[0], &e->shed[1], (PROD_SHED_MAX - 1) * sizeof(e->shed[0]));
		e->nshed--;
	}
	e->shed[e->nshed].base = base;
	e->shed[e->nshed].end = end;
	e->nshed++;
}

/* A resend of (part of) a shed range was stored: that part is no longer resendable. */
static void prod_unshed(struct prod_entry *e, const struct sluice_rb_header *h, int64_t now_ms)
{
	int32_t base = h->base_sequence;
	int32_t end = seq_add(base, h->record_count);

	e->v.batches++;
	e->v.events += (uint64_t)h->record_count;
	e->v.last_seen_ms = now_ms;
	for (unsigned i = 0; i < e->nshed; i++) {
		struct prod_range *r = &e->shed[i];
		int64_t ob = seq_diff(base, r->base);
		int64_t oe = ob + h->record_count;
		if (ob < 0 || oe > seq_diff(r->end, r->base))
			continue;
		if (ob > 0 && r->end != end) {
			/* The middle of a range: keep both sides, or the newer one if full. */
			struct prod_range hi = {end, r->end};
			r->end = base;
			if (e->nshed < PROD_SHED_MAX)
				e->shed[e->nshed++] = hi;
			else
				*r = hi;
		} else if (ob > 0) {
			r->end = base;
		} else if (r->end != end) {
			r->base = end;
		} else {
			memmove(r, r + 1, (size_t)(e->nshed - i - 1) * sizeof(*r));
			e->nshed--;
		}
		return;
	}
}

unsigned sluice_dp_ctx_producers(const struct sluice_dp_ctx *ctx, sluice_producer_visit_fn cb,
				 void *arg)
{
	unsigned count = 0;

	for (uint32_t i = 0; i <= ctx->prod_mask; i++) {
		uint64_t w[PROD_VIEW_WORDS];
		struct prod_view v;

		dp_seq_read(&ctx->prod[i].pub.seq, ctx->prod[i].pub.w, w, PROD_VIEW_WORDS);
		memcpy(&v, w, sizeof(v));
		if (v.producer_id < 0)
			continue;
		struct sluice_producer_info info = {
			.family = v.family,
			.port = v.sport,
			.producer_id = v.producer_id,
			.producer_epoch = v.epoch,
			.topic = "",
			.partition = -1,
			.next_sequence = v.next_seq,
			.pending_ranges = v.npending,
			.batches = v.batches,
			.events = v.events,
			.lost = v.lost,
			.duplicates = v.dups,
			.last_seen_ms = v.last_seen_ms,
			.shed = v.shed_events,
		};
		memcpy(info.addr, v.addr, sizeof(info.addr));
		/* Listeners are fixed at creation: safe to read from any thread. */
		if (v.pkey & PKEY_BY_KEY) {
			uint32_t li = v.pkey & ~PKEY_BY_KEY;
			if (li < ctx->nlisteners)
				info.topic = ctx->listeners[li].topic;
		} else {
			for (uint32_t li = 0; li < ctx->nlisteners; li++) {
				const struct sluice_listener *l = &ctx->listeners[li];
				if (v.pkey >= l->first_partition_id &&
				    v.pkey - l->first_partition_id < l->partitions) {
					info.topic = l->topic;
					info.partition = (int32_t)(v.pkey - l->first_partition_id);
					break;
				}
			}
		}
		if (cb)
			cb(&info, arg);
		count++;
	}
	return count;
}

/* ---------------------------------------------------------------------------------------- */
/* Acknowledged mode                                                                         */

/*
 * A producer that sets the envelope's ack flag is told, per (producer id, epoch, partition),
 * the highest sequence below which everything is durable. Its stream differs from a plain
 * one in three ways, all so that nothing it sends is ever given up or stored twice: a batch
 * the appliance cannot take (shed, beyond ack_window, more holes than tracked) leaves the
 * sequence alone and is answered "resend"; holes are never counted lost; and a new stream
 * starts at sequence 0, or where the log's tail says it stood (struct
 * sluice_dp_ack_recovery), so that a resend after a restart is a duplicate.
 */

static inline struct prod_ack *ack_of(struct sluice_dp_ctx *ctx, const struct prod_entry *e)
{
	return &ctx->ack[e - ctx->prod];
}

static void ack_list_add(struct sluice_dp_ctx *ctx, struct prod_ack *a)
{
	if (a->listed)
		return;
	a->listed = true;
	ctx->ack_list[ctx->ack_nlist++] = (uint32_t)(a - ctx->ack);
}

/* Where acks go: the request's L2 header addressed back, our address, the listener's port. */
static void ack_address(struct sluice_dp_ctx *ctx, struct prod_ack *a,
			const struct sluice_listener *l, uint8_t family)
{
	const struct sluice_pkt_info *pi = ctx->cur_pi;

	a->lport = l->udp_port;
	a->family = family;
	if (pi && pi->l3_off <= sizeof(a->l2)) {
		const struct sluice_dp_port *port = &ctx->ports[ctx->cur_port];
		a->port_idx = (uint8_t)ctx->cur_port;
		a->l2len = (uint8_t)pi->l3_off;
		memcpy(a->l2, ctx->cur_frame, pi->l3_off);
		memcpy(a->l2, pi->src_mac, 6);
		memcpy(a->l2 + 6, port->mac, 6);
		memcpy(a->local, pi->dst_addr, 16);
	} else {
		/* Handed over without a frame (tests): a bare Ethernet header. */
		memset(a->l2, 0, sizeof(a->l2));
		a->l2[12] = family == 6 ? 0x86 : 0x08;
		a->l2[13] = family == 6 ? 0xDD : 0x00;
		a->l2len = 14;
		a->port_idx = 0;
		memset(a->local, 0, sizeof(a->local));
	}
}

/* A stream (re)starts: from the log's tail if it knows it, else at 0. */
static void ack_start(struct sluice_dp_ctx *ctx, struct prod_entry *e,
		      const struct sluice_rb_header *h, uint32_t pid, int32_t partition,
		      const struct sluice_dp_sink *sink)
{
	struct prod_ack *a = ack_of(ctx, e);
	int32_t next = 0;
	struct prod_range pend[PROD_PENDING_MAX];
	uint8_t np = 0;

	if (ctx->ack_rec &&
	    dp_ack_recovery_find(ctx->ack_rec, h->producer_id, pid, h->producer_epoch, &next, pend,
				 &np)) {
		ctr_add(C(ctx, ack_recovered), 1);
	} else if (h->base_sequence > (int32_t)ctx->ack_window) {
		/* Far from 0 and nothing known: an entry this worker evicted or never had; the
		 * producer's own unacknowledged data starts about here. */
		next = h->base_sequence;
	}
	e->v.epoch = h->producer_epoch;
	e->v.next_seq = next;
	e->v.npending = np;
	memcpy(e->pending, pend, np * sizeof(pend[0]));
	e->nshed = 0;
	a->on = true;
	a->armed = false;
	a->due = false;
	a->pid = pid;
	a->partition = partition;
	a->dur_next = next;
	a->ndur = np;
	memcpy(a->dur, pend, np * sizeof(pend[0]));
	a->last_tag = 0;
	a->refused_seen = 0;
	a->last_ack_ms = INT64_MIN / 2;
	if (sink && sink->ack_state) {
		uint32_t d;
		sink->ack_state(sink->arg, pid, &d, &a->refused_seen);
	}
}

enum ack_verdict { ACK_ACCEPT, ACK_DUPLICATE, ACK_OVERLAP, ACK_STALE, ACK_WINDOW };

static enum ack_verdict ack_check(const struct sluice_dp_ctx *ctx, const struct prod_entry *e,
				  const struct sluice_rb_header *h)
{
	int32_t end = seq_add(h->base_sequence, h->record_count);
	int64_t ob = seq_diff(h->base_sequence, e->v.next_seq);
	int64_t oe = ob + h->record_count;
	bool adjacent = ob == 0;

	if (h->producer_epoch < e->v.epoch)
		return ACK_STALE;
	if (ob < 0)
		return oe <= 0 ? ACK_DUPLICATE : ACK_OVERLAP;
	for (unsigned i = 0; i < e->v.npending; i++) {
		int64_t pb, pe;

		range_from_next(e, &e->pending[i], &pb, &pe);
		if (ob >= pb && oe <= pe)
			return ACK_DUPLICATE;
		if (ob < pe && pb < oe)
			return ACK_OVERLAP;
		if (e->pending[i].end == h->base_sequence || e->pending[i].base == end)
			adjacent = true;
	}
	if (oe > (int64_t)ctx->ack_window)
		return ACK_WINDOW;
	if (!adjacent && e->v.npending == PROD_PENDING_MAX)
		return ACK_WINDOW;
	return ACK_ACCEPT;
}

/* Drop resend hints that [base, end) covers (it was stored). */
static void ack_hint_clear(struct prod_entry *e, int32_t base, int32_t end)
{
	for (unsigned i = 0; i < e->nshed;) {
		if (seq_diff(e->shed[i].base, end) < 0 && seq_diff(base, e->shed[i].end) < 0) {
			memmove(&e->shed[i], &e->shed[i + 1],
				(size_t)(e->nshed - i - 1) * sizeof(e->shed[0]));
			e->nshed--;
		} else {
			i++;
		}
	}
}

/* A range the producer must send again (shed, refused): tell it in the next ack. */
static void ack_hint_add(struct sluice_dp_ctx *ctx, struct prod_entry *e,
			 const struct sluice_rb_header *h)
{
	int32_t base = h->base_sequence, end = seq_add(base, h->record_count);
	struct prod_ack *a = ack_of(ctx, e);

	ack_hint_clear(e, base, end);
	if (e->nshed && e->shed[e->nshed - 1].end == base) {
		e->shed[e->nshed - 1].end = end;
	} else {
		if (e->nshed == PROD_SHED_MAX) {
			memmove(&e->shed[0], &e->shed[1], (PROD_SHED_MAX - 1) * sizeof(e->shed[0]));
			e->nshed--;
		}
		e->shed[e->nshed].base = base;
		e->shed[e->nshed].end = end;
		e->nshed++;
	}
	a->due = true;
	ack_list_add(ctx, a);
}

static void ack_arm(struct prod_entry *e, struct prod_ack *a)
{
	a->arm_next = e->v.next_seq;
	a->arm_n = e->v.npending;
	memcpy(a->arm, e->pending, e->v.npending * sizeof(e->pending[0]));
	a->arm_tag = a->last_tag;
	a->armed = true;
}

/* An acknowledged batch was handed to storage with tag @p tag. */
static void ack_commit(struct sluice_dp_ctx *ctx, struct prod_entry *e,
		       const struct sluice_rb_header *h, uint32_t tag, int64_t now_ms)
{
	struct prod_ack *a = ack_of(ctx, e);
	int32_t base = h->base_sequence, end = seq_add(base, h->record_count);
	bool joined = false;

	e->v.batches++;
	e->v.events += (uint64_t)h->record_count;
	e->v.last_seen_ms = now_ms;
	ack_hint_clear(e, base, end);
	if (base == e->v.next_seq) {
		e->v.next_seq = end;
	} else {
		for (unsigned i = 0; i < e->v.npending && !joined; i++) {
			if (e->pending[i].end == base) {
				e->pending[i].end = end;
				joined = true;
			} else if (e->pending[i].base == end) {
				e->pending[i].base = base;
				joined = true;
			}
		}
		if (!joined) {
			e->pending[e->v.npending].base = base;
			e->pending[e->v.npending].end = end;
			e->v.npending++;
		}
		/* Two pending ranges the batch filled the gap between become one. */
		for (unsigned i = 0; i < e->v.npending; i++)
			for (unsigned j = 0; j < e->v.npending; j++)
				if (i != j && e->pending[i].end == e->pending[j].base) {
					e->pending[i].end = e->pending[j].end;
					e->pending[j] = e->pending[--e->v.npending];
					i = 0;
					j = (unsigned)-1;
				}
	}
	prod_merge(e);
	ctr_add(C(ctx, ack_batches), 1);
	ctr_add(C(ctx, ack_events), (uint64_t)h->record_count);
	a->last_tag = tag;
	if (!a->armed)
		ack_arm(e, a);
	ack_list_add(ctx, a);
}

void sluice_dp_ctx_set_ack_tag(struct sluice_dp_ctx *ctx, uint32_t tag)
{
	ctx->ack_tag = tag;
}

bool sluice_dp_ctx_ack_wanted(const struct sluice_dp_ctx *ctx)
{
	return ctx->ack_want;
}

/* Build and send one ack frame. @return true when sent. */
static bool ack_send(struct sluice_dp_ctx *ctx, const struct prod_entry *e, struct prod_ack *a,
		     const struct sluice_dp_sink *sink)
{
	struct sluice_ack k = {
		.producer_id = e->v.producer_id,
		.epoch = e->v.epoch,
		.partition = a->partition,
		.durable_next = a->dur_next,
		.window = ctx->ack_window,
		.ndurable = a->ndur,
		.nresend = e->nshed,
	};
	const struct sluice_dp_port *port =
		&ctx->ports[a->port_idx < ctx->nports ? a->port_idx : 0];
	uint8_t *f = ctx->reply;
	size_t ipl = a->family == 6 ? 40 : 20;
	uint8_t *ip = f + a->l2len, *udp = ip + ipl, *pl = udp + 8;

	memcpy(k.durable, a->dur, a->ndur * sizeof(a->dur[0]));
	for (unsigned i = 0; i < e->nshed; i++) {
		k.resend[i].base = e->shed[i].base;
		k.resend[i].end = e->shed[i].end;
	}
	size_t n = sluice_ack_encode(&k, pl);
	if (n == 0)
		return false;
	memcpy(f, a->l2, a->l2len);
	const uint8_t *src = a->local;
	if (is_zero(src, a->family == 6 ? 16 : 4))
		src = a->family == 6 ? port->ipv6 : port->ipv4;
	uint16_t ulen = (uint16_t)(8 + n);
	put16(udp, a->lport);
	put16(udp + 2, e->v.sport);
	put16(udp + 4, ulen);
	put16(udp + 6, 0);
	if (a->family == 6) {
		memset(ip, 0, 8);
		ip[0] = 0x60;
		put16(ip + 4, ulen);
		ip[6] = 17;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, e->v.addr, 16);
	} else {
		ip[0] = 0x45;
		ip[1] = 0;
		put16(ip + 2, (uint16_t)(20 + ulen));
		put16(ip + 4, 0);
		put16(ip + 6, 0x4000);
		ip[8] = 64;
		ip[9] = 17;
		put16(ip + 10, 0);
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, e->v.addr, 4);
		put16(ip + 10, dp_csum_fold(dp_csum_partial(ip, 20, 0)));
	}
	uint16_t cs = dp_csum_fold(dp_csum_partial(
		udp, ulen,
		dp_pseudo_sum(a->family == 6 ? 6 : 4, ip + (a->family == 6 ? 8 : 12),
			      ip + (a->family == 6 ? 24 : 16), 17, ulen)));
	put16(udp + 6, cs ? cs : 0xffff);
	size_t len = a->l2len + ipl + ulen;
	if (len < 60) {
		memset(f + len, 0, 60 - len);
		len = 60;
	}
	if (sink && sink->reply && sink->reply(sink->arg, a->port_idx, f, len) != 0) {
		ctr_add(C(ctx, ack_tx_full), 1);
		return false;
	}
	ctr_add(C(ctx, acks_sent), 1);
	return true;
}

unsigned sluice_dp_ctx_ack_poll(struct sluice_dp_ctx *ctx, int64_t now_ms, uint32_t min_interval_ms,
				const struct sluice_dp_sink *sink)
{
	unsigned sent = 0;

	for (uint32_t i = 0; i < ctx->ack_nlist;) {
		uint32_t idx = ctx->ack_list[i];
		struct prod_entry *e = &ctx->prod[idx];
		struct prod_ack *a = &ctx->ack[idx];

		/* A snapshot that became durable makes room for the next, which may be durable
		 * already (everything before the newest durable tag is): take both at once. */
		while (a->on && a->armed) {
			uint32_t d = a->arm_tag, refused = a->refused_seen;
			bool durable = true;
			if (sink && sink->ack_state) {
				sink->ack_state(sink->arg, a->pid, &d, &refused);
				durable = d != 0 && (int32_t)(d - a->arm_tag) >= 0;
			}
			if (refused != a->refused_seen) {
				/* Storage refused a tagged batch of this worker and partition since
				 * the durable state: what was accepted since must come again. */
				a->refused_seen = refused;
				e->v.next_seq = a->dur_next;
				e->v.npending = a->ndur;
				memcpy(e->pending, a->dur, a->ndur * sizeof(a->dur[0]));
				a->armed = false;
				a->due = true;
				ctr_add(C(ctx, ack_rollbacks), 1);
				prod_publish(e);
			} else if (durable) {
				a->dur_next = a->arm_next;
				a->ndur = a->arm_n;
				memcpy(a->dur, a->arm, a->arm_n * sizeof(a->arm[0]));
				a->armed = false;
				a->due = true;
				if (a->last_tag != a->arm_tag) {
					ack_arm(e, a);
					continue;
				}
			}
			break;
		}
		if (a->on && a->due && now_ms - a->last_ack_ms >= (int64_t)min_interval_ms) {
			if (ack_send(ctx, e, a, sink))
				sent++;
			a->due = false;
			a->last_ack_ms = now_ms;
		}
		if (!a->on || (!a->armed && !a->due)) {
			a->listed = false;
			ctx->ack_list[i] = ctx->ack_list[--ctx->ack_nlist];
		} else {
			i++;
		}
	}
	return sent;
}

/* ---------------------------------------------------------------------------------------- */
/* Formats                                                                                   */

static uint32_t rl_burst(const struct sluice_listener *l)
{
	return l->rate_limit_burst ? l->rate_limit_burst : l->rate_limit;
}

/* Does the datagram's source have @p n events left under the listener's rate limit? */
static inline __attribute__((always_inline)) bool rl_take(struct sluice_dp_ctx *ctx,
							  const struct sluice_listener *l,
							  uint64_t n)
{
	return ctx->rl_bucket == NULL ||
		dp_bucket_take(ctx->rl_bucket, l->rate_limit, rl_burst(l), ctx->now_ms, n);
}

/* Count @p n events decoded and parsed, and shed when @p rc is 1 + a shed reason. */
static inline __attribute__((always_inline)) void count_parsed(struct sluice_dp_ctx *ctx, int rc,
							       uint64_t n)
{
	ctr_add(C(ctx, events_decoded), n);
	ctr_add(C(ctx, events_parsed), n);
	if (rc > 0 && rc <= SLUICE_DP_SHED__COUNT)
		ctr_add(&ctx->c.shed[rc - 1], n);
}

/* One event to the sink (unless over the rate limit), counted once the sink returned. Inlined:
 * once per event on every text path. */
static inline __attribute__((always_inline)) unsigned emit(struct sluice_dp_ctx *ctx,
							   const struct sluice_listener *l,
							   int32_t partition,
							   const struct sluice_rb_record *rec,
							   const struct sluice_dp_sink *sink)
{
	int rc = 0;

	if (!rl_take(ctx, l, 1))
		rc = 1 + SLUICE_DP_SHED_RATE_LIMITED;
	else if (sink && sink->event)
		rc = sink->event(sink->arg, l, partition, rec);
	count_parsed(ctx, rc, 1);
	return 1;
}

/* Would a record with this much key, value and header data fit a batch at all? */
static bool record_fits(const struct sluice_dp_ctx *ctx, const struct sluice_listener *l,
			size_t kv_bytes, size_t hdr_bytes)
{
	if (l->max_event_bytes && kv_bytes > l->max_event_bytes)
		return false;
	return kv_bytes + hdr_bytes + RECORD_OVERHEAD_MAX + SLUICE_RB_HEADER_BYTES <=
		ctx->batch_capacity;
}

static size_t format_addr(uint8_t family, const uint8_t *src, char *out, size_t cap)
{
	if (family == 6) {
		if (inet_ntop(AF_INET6, src, out, (socklen_t)cap) == NULL)
			return 0;
		return strlen(out);
	}
	/* Hand-rolled: snprintf per datagram would cost more than parsing it. */
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		unsigned v = src[i];
		if (v >= 100)
			out[n++] = (char)('0' + v / 100);
		if (v >= 10)
			out[n++] = (char)('0' + v / 10 % 10);
		out[n++] = (char)('0' + v % 10);
		if (i < 3)
			out[n++] = '.';
	}
	out[n] = '\0';
	return n;
}

static unsigned decode_text(struct sluice_dp_ctx *ctx, const struct sluice_listener *l,
			    const uint8_t *p, size_t len, uint8_t family, const uint8_t *src,
			    int64_t now_ms, const struct sluice_dp_sink *sink)
{
	char key[64];
	struct sluice_rb_record rec = {.timestamp = now_ms, .key_len = -1};
	int32_t partition = -1;
	unsigned events = 0;

	if (l->key_mode == SLUICE_KEY_SOURCE_ADDR && src != NULL) {
		size_t klen = format_addr(family, src, key, sizeof(key));
		rec.key = (const uint8_t *)key;
		rec.key_len = (int32_t)klen;
		partition = (int32_t)sluice_partition_for_key(key, klen, l->partitions);
	}
	size_t klen = rec.key_len > 0 ? (size_t)rec.key_len : 0;

	if (l->format == SLUICE_FORMAT_RAW) {
		if (!record_fits(ctx, l, len + klen, 0)) {
			reject_events(ctx, SLUICE_DP_REJECT_EVENT_TOO_LARGE, 1);
			return 0;
		}
		rec.value = p;
		rec.value_len = (int32_t)len;
		return emit(ctx, l, partition, &rec, sink);
	}

	const uint8_t *end = p + len;
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *stop = nl ? nl : end;
		size_t n = (size_t)(stop - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n == 0) {
			reject_events(ctx, SLUICE_DP_REJECT_EMPTY_LINE, 1);
		} else if (!record_fits(ctx, l, n + klen, 0)) {
			reject_events(ctx, SLUICE_DP_REJECT_EVENT_TOO_LARGE, 1);
		} else {
			rec.value = p;
			rec.value_len = (int32_t)n;
			events += emit(ctx, l, partition, &rec, sink);
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return events;
}

/* One record of a partition -1 batch (validated) to its partition's sink. */
static unsigned repartition_one(struct sluice_dp_ctx *ctx, const struct sluice_listener *l,
				struct sluice_rb_record *rec, const struct sluice_dp_sink *sink)
{
	size_t kv = (rec->key_len > 0 ? (size_t)rec->key_len : 0) +
		(rec->value_len > 0 ? (size_t)rec->value_len : 0);
	if (rec->header_count > ctx->max_headers) {
		reject_events(ctx, SLUICE_DP_REJECT_TOO_MANY_HEADERS, 1);
		return 0;
	}
	if (!record_fits(ctx, l, kv, rec->headers_raw_len)) {
		reject_events(ctx, SLUICE_DP_REJECT_EVENT_TOO_LARGE, 1);
		return 0;
	}
	rec->headers = NULL;
	if (rec->header_count) {
		struct sluice_rb_header_iter hit;
		uint32_t n = 0;
		sluice_rb_header_iter_init(&hit, rec);
		while (n < rec->header_count &&
		       sluice_rb_header_iter_next(&hit, &ctx->hdr_scratch[n]) == 1)
			n++;
		if (n != rec->header_count) {
			/* Cannot happen for a validated batch; count rather than trust it. */
			reject_events(ctx, SLUICE_DP_REJECT_TOO_MANY_HEADERS, 1);
			return 0;
		}
		rec->headers = ctx->hdr_scratch;
	}
	int32_t partition = -1;
	if (rec->key_len >= 0)
		partition = (int32_t)sluice_partition_for_key(rec->key, (size_t)rec->key_len,
							      l->partitions);
	return emit(ctx, l, partition, rec, sink);
}

/* The records were decoded into ctx->recs[0..nrecs) while validating, unless there were more
 * than the table holds (nrecs 0): then the batch is iterated. */
static unsigned repartition(struct sluice_dp_ctx *ctx, const struct sluice_listener *l,
			    const uint8_t *batch, size_t blen, uint32_t nrecs,
			    const struct sluice_dp_sink *sink)
{
	unsigned events = 0;

	if (nrecs) {
		for (uint32_t i = 0; i < nrecs; i++)
			events += repartition_one(ctx, l, &ctx->recs[i], sink);
		return events;
	}
	struct sluice_rb_record_iter it;
	struct sluice_rb_record rec;
	sluice_rb_record_iter_init(&it, batch, blen);
	while (sluice_rb_record_iter_next(&it, &rec) == 1)
		events += repartition_one(ctx, l, &rec, sink);
	return events;
}

/* An acknowledged `kafka` batch for an explicit partition, validated. */
static unsigned decode_ack(struct sluice_dp_ctx *ctx, const struct sluice_listener *l,
			   uint32_t partition, const uint8_t *batch, size_t blen,
			   const struct sluice_rb_header *h, struct dgram_src *ds,
			   const struct sluice_dp_sink *sink)
{
	uint64_t n = (uint64_t)h->record_count;
	uint32_t pid = l->first_partition_id + partition;
	int64_t now_ms = ctx->now_ms;
	struct prod_entry *e = NULL;

	if (h->producer_id >= 0 && h->base_sequence >= 0 && h->producer_epoch >= 0 &&
	    (ds->family == 4 || ds->family == 6) && ds->addr)
		e = prod_get(ctx, h->producer_id, pid, l, ds);
	if (e == NULL) {
		/* Untracked, it could be stored twice: refuse it, the producer sends again. */
		reject_events(ctx, SLUICE_DP_REJECT_ACK_WINDOW, n);
		return 0;
	}
	struct prod_ack *a = ack_of(ctx, e);
	if (!a->on || e->v.next_seq < 0 || h->producer_epoch > e->v.epoch)
		ack_start(ctx, e, h, pid, (int32_t)partition, sink);
	ack_address(ctx, a, l, ds->family);
	switch (ack_check(ctx, e, h)) {
	case ACK_ACCEPT:
		break;
	case ACK_DUPLICATE:
		/* Its ack was lost, or is on its way: answer again. */
		e->v.dups += n;
		e->v.last_seen_ms = now_ms;
		ctr_add(C(ctx, producer_duplicates), n);
		ctr_add(C(ctx, ack_duplicates), n);
		reject_events(ctx, SLUICE_DP_REJECT_DUPLICATE, n);
		a->due = true;
		ack_list_add(ctx, a);
		prod_publish(e);
		return 0;
	case ACK_OVERLAP:
		reject_events(ctx, SLUICE_DP_REJECT_SEQUENCE_OVERLAP, n);
		prod_publish(e); /* ack_start() may have changed it */
		return 0;
	case ACK_STALE:
		reject_events(ctx, SLUICE_DP_REJECT_STALE_EPOCH, n);
		return 0;
	case ACK_WINDOW:
		reject_events(ctx, SLUICE_DP_REJECT_ACK_WINDOW, n);
		ack_hint_add(ctx, e, h);
		prod_publish(e);
		return 0;
	}

	int rc = 0;
	ctx->ack_want = true;
	ctx->ack_tag = 0;
	if (!rl_take(ctx, l, n))
		rc = 1 + SLUICE_DP_SHED_RATE_LIMITED;
	else if (sink && sink->batch)
		rc = sink->batch(sink->arg, l, partition, batch, blen, (uint32_t)n);
	ctx->ack_want = false;
	count_parsed(ctx, rc, n);
	if (rc > 0 && rc <= SLUICE_DP_SHED__COUNT) {
		/* Not stored: the sequence stays, the producer is told to send it again. */
		e->v.shed_events += n;
		ack_hint_add(ctx, e, h);
	} else {
		ack_commit(ctx, e, h, ctx->ack_tag, now_ms);
	}
	prod_publish(e);
	return (unsigned)n;
}

static unsigned decode_kafka(struct sluice_dp_ctx *ctx, const struct sluice_listener *l,
			     const uint8_t *p, size_t len, struct dgram_src *ds,
			     const struct sluice_dp_sink *sink)
{
	int32_t partition;
	struct sluice_rb_header h;
	size_t bb = 0;
	int64_t now_ms = ctx->now_ms;

	if (sluice_envelope_decode(p, len, &partition) != 0) {
		reject(ctx, SLUICE_DP_REJECT_KAFKA_ENVELOPE, 1);
		return 0;
	}
	/* Acknowledged batches are stored as they came: an explicit partition only. */
	bool ackm = sluice_envelope_flags(p) & SLUICE_ENVELOPE_F_ACK;
	if (ackm && partition < 0) {
		reject(ctx, SLUICE_DP_REJECT_KAFKA_ENVELOPE, 1);
		return 0;
	}
	if (partition >= 0 && (uint32_t)partition >= l->partitions) {
		reject(ctx, SLUICE_DP_REJECT_KAFKA_PARTITION, 1);
		return 0;
	}
	const uint8_t *batch = p + SLUICE_ENVELOPE_BYTES;
	size_t blen = len - SLUICE_ENVELOPE_BYTES;
	uint32_t nrecs = 0;
	/* Partition -1 uses every record: validate and decode them in one pass. */
	enum sluice_rb_err err = partition < 0
		? sluice_rb_batch_decode(batch, blen, &h, &bb, ctx->recs, DP_RECS_MAX, &nrecs)
		: sluice_rb_batch_validate(batch, blen, &h, &bb);
	if (err == SLUICE_RB_OK && h.record_count <= 0)
		err = SLUICE_RB_ECOUNT;
	if (err != SLUICE_RB_OK) {
		reject(ctx, SLUICE_DP_REJECT_KAFKA_BATCH, 1);
		ctr_add(&ctx->c.batch_errors[err < SLUICE_RB__COUNT ? err : SLUICE_RB_ETRUNCATED],
			1);
		return 0;
	}
	if (bb != blen) {
		reject(ctx, SLUICE_DP_REJECT_KAFKA_TRAILING, 1);
		return 0;
	}
	if (h.attributes & (SLUICE_RB_ATTR_TRANSACTIONAL | SLUICE_RB_ATTR_CONTROL)) {
		reject(ctx, SLUICE_DP_REJECT_KAFKA_ATTRIBUTES, 1);
		return 0;
	}
	if (partition >= 0 && blen > ctx->batch_capacity) {
		reject(ctx, SLUICE_DP_REJECT_KAFKA_TOO_LARGE, 1);
		return 0;
	}
	ctr_add(C(ctx, datagrams_accepted), 1);
	uint64_t n = (uint64_t)h.record_count;

	if (ackm)
		return decode_ack(ctx, l, (uint32_t)partition, batch, blen, &h, ds, sink);

	struct prod_entry *e = NULL;
	enum seq_verdict verdict = SEQ_ACCEPT;
	if (h.producer_id >= 0 && h.base_sequence >= 0) {
		uint32_t pkey = partition >= 0 ? l->first_partition_id + (uint32_t)partition
					       : PKEY_BY_KEY | (uint32_t)(l - ctx->listeners);
		e = prod_get(ctx, h.producer_id, pkey, l, ds);
		verdict = e ? prod_check(ctx, e, &h) : SEQ_ACCEPT;
		switch (verdict) {
		case SEQ_ACCEPT:
		case SEQ_RESEND:
			break;
		case SEQ_DUPLICATE:
			e->v.dups += n;
			e->v.last_seen_ms = now_ms;
			prod_publish(e);
			ctr_add(C(ctx, producer_duplicates), n);
			reject_events(ctx, SLUICE_DP_REJECT_DUPLICATE, n);
			return 0;
		case SEQ_OVERLAP:
			reject_events(ctx, SLUICE_DP_REJECT_SEQUENCE_OVERLAP, n);
			return 0;
		case SEQ_STALE:
			reject_events(ctx, SLUICE_DP_REJECT_STALE_EPOCH, n);
			return 0;
		}
	}

	if (partition < 0) {
		/* Re-batched records lose their producer identity, so the sequence is committed
		 * as soon as they are decoded; shedding later (rate limit included, per record)
		 * is counted as shed, not retried. */
		if (e && verdict == SEQ_RESEND)
			prod_unshed(e, &h, now_ms);
		else if (e)
			prod_commit(ctx, e, &h, now_ms);
		if (e)
			prod_publish(e);
		return repartition(ctx, l, batch, blen, nrecs, sink);
	}

	/* A stored batch cannot be split: it needs tokens for all its records. */
	int rc = 0;
	if (!rl_take(ctx, l, n))
		rc = 1 + SLUICE_DP_SHED_RATE_LIMITED;
	else if (sink && sink->batch)
		rc = sink->batch(sink->arg, l, (uint32_t)partition, batch, blen, (uint32_t)n);
	count_parsed(ctx, rc, n);
	if (rc > 0 && rc <= SLUICE_DP_SHED__COUNT) {
		if (e && verdict == SEQ_ACCEPT)
			prod_shed(ctx, e, &h, now_ms);
		else if (e) /* a resend shed again: still resendable */
			e->v.shed_events += n;
	} else if (e && verdict == SEQ_RESEND) {
		prod_unshed(e, &h, now_ms);
	} else if (e) {
		prod_commit(ctx, e, &h, now_ms);
	}
	if (e)
		prod_publish(e);
	return (unsigned)n;
}

unsigned sluice_dp_ctx_datagram(struct sluice_dp_ctx *ctx, const struct sluice_listener *l,
				const uint8_t *payload, size_t len, uint8_t family,
				const uint8_t *src, uint16_t src_port, int64_t now_ms,
				const struct sluice_dp_sink *sink)
{
	struct dgram_src ds = {.family = family, .addr = src, .port = src_port, .src = SRC_UNKNOWN};

	ctr_add(C(ctx, datagrams), 1);
	if (len == 0) {
		reject(ctx, SLUICE_DP_REJECT_EMPTY_PAYLOAD, 1);
		return 0;
	}
	ctx->now_ms = now_ms;
	ctx->rl_bucket = NULL;
	if (l->rate_limit != 0) {
		uint32_t si = dgram_src_entry(ctx, l, &ds);
		ctx->rl_bucket = si != SRC_NONE ? &ctx->src[si].bucket
						: &ctx->rl_overflow[l - ctx->listeners];
	}
	switch (l->format) {
	case SLUICE_FORMAT_KAFKA:
		return decode_kafka(ctx, l, payload, len, &ds, sink);
	case SLUICE_FORMAT_LINES:
	case SLUICE_FORMAT_RAW:
	default:
		ctr_add(C(ctx, datagrams_accepted), 1);
		return decode_text(ctx, l, payload, len, family, src, now_ms, sink);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Addresses and control-plane replies                                                       */

static bool port_any(const struct sluice_dp_port *port)
{
	return !port->has_ipv6 && is_zero(port->ipv4, 4);
}

static bool dst_is_ours(const struct sluice_dp_port *port, const struct sluice_pkt_info *pi)
{
	if (port_any(port))
		return true;
	if (pi->family == 4)
		return !is_zero(port->ipv4, 4) && memcmp(pi->dst_addr, port->ipv4, 4) == 0;
	return port->has_ipv6 && memcmp(pi->dst_addr, port->ipv6, 16) == 0;
}

static const struct sluice_listener *listener_find(const struct sluice_dp_ctx *ctx,
						   uint32_t port_idx, bool ours,
						   const struct sluice_pkt_info *pi)
{
	for (uint32_t i = 0; i < ctx->nlisteners; i++) {
		const struct sluice_listener *l = &ctx->listeners[i];
		if (l->udp_port != pi->dst_port)
			continue;
		if (l->port_mask != 0 && !((l->port_mask >> port_idx) & 1))
			continue;
		if (l->family == SLUICE_ADDR_ANY) {
			if (ours)
				return l;
		} else if ((l->family == SLUICE_ADDR_V4 && pi->family == 4 &&
			    memcmp(l->addr, pi->dst_addr, 4) == 0) ||
			   (l->family == SLUICE_ADDR_V6 && pi->family == 6 &&
			    memcmp(l->addr, pi->dst_addr, 16) == 0)) {
			return l;
		}
	}
	return NULL;
}

/* Copy the request's L2 header (VLAN tags included) into the reply, addressed back. */
static size_t reply_l2(struct sluice_dp_ctx *ctx, const struct sluice_dp_port *port,
		       const uint8_t *frame, const struct sluice_pkt_info *pi, const uint8_t *dst)
{
	memcpy(ctx->reply, frame, pi->l3_off);
	memcpy(ctx->reply, dst, 6);
	memcpy(ctx->reply + 6, port->mac, 6);
	return pi->l3_off;
}

static bool send_reply(struct sluice_dp_ctx *ctx, uint32_t port_idx, size_t len,
		       const struct sluice_dp_sink *sink)
{
	/* A request flood must not turn the appliance into a reflector, nor eat the worker's
	 * TX queue and mbufs: replies have their own budget (Linux: icmp_msgs_per_sec). */
	if (ctx->reply_rate &&
	    !dp_bucket_take(&ctx->reply_bucket, ctx->reply_rate, ctx->reply_burst, ctx->now_ms,
			    1)) {
		reject(ctx, SLUICE_DP_REJECT_REPLY_LIMITED, 1);
		return false;
	}
	if (len < 60) { /* Ethernet minimum without FCS */
		memset(ctx->reply + len, 0, 60 - len);
		len = 60;
	}
	if (sink && sink->reply && sink->reply(sink->arg, port_idx, ctx->reply, len) != 0) {
		reject(ctx, SLUICE_DP_REJECT_TX_FULL, 1);
		return false;
	}
	ctr_add(C(ctx, ctrl_packets), 1);
	return true;
}

static void handle_arp(struct sluice_dp_ctx *ctx, uint32_t port_idx, const uint8_t *frame,
		       const struct sluice_pkt_info *pi, const struct sluice_dp_sink *sink)
{
	const struct sluice_dp_port *port = &ctx->ports[port_idx];
	const uint8_t *a = frame + pi->l3_off;
	if (a[6] != 0 || a[7] != 1 || is_zero(port->ipv4, 4) ||
	    memcmp(pi->dst_addr, port->ipv4, 4) != 0) {
		reject(ctx, SLUICE_DP_REJECT_ARP_IGNORED, 1);
		return;
	}
	size_t off = reply_l2(ctx, port, frame, pi, a + 8);
	uint8_t *r = ctx->reply + off;
	memcpy(r, a, 6); /* htype, ptype, hlen, plen */
	put16(r + 6, 2);
	memcpy(r + 8, port->mac, 6);
	memcpy(r + 14, port->ipv4, 4);
	memcpy(r + 18, a + 8, 6);
	memcpy(r + 24, a + 14, 4);
	if (send_reply(ctx, port_idx, off + 28, sink))
		ctr_add(C(ctx, arp_replies), 1);
}

static void handle_icmp4(struct sluice_dp_ctx *ctx, uint32_t port_idx, const uint8_t *frame,
			 const struct sluice_pkt_info *pi, const struct sluice_dp_sink *sink)
{
	const struct sluice_dp_port *port = &ctx->ports[port_idx];
	const uint8_t *icmp = frame + pi->l4_off;
	if (is_zero(port->ipv4, 4) || memcmp(pi->dst_addr, port->ipv4, 4) != 0) {
		reject(ctx,
		       port_any(port) ? SLUICE_DP_REJECT_ICMP_IGNORED : SLUICE_DP_REJECT_IP_DST, 1);
		return;
	}
	if (icmp[0] != 8 || icmp[1] != 0) {
		reject(ctx, SLUICE_DP_REJECT_ICMP_IGNORED, 1);
		return;
	}
	size_t ihl = (size_t)(pi->l4_off - pi->l3_off);
	size_t total = pi->l4_off + (size_t)pi->l4_len;
	if (total > sizeof(ctx->reply)) {
		reject(ctx, SLUICE_DP_REJECT_ICMP_BAD, 1);
		return;
	}
	size_t off = reply_l2(ctx, port, frame, pi, pi->src_mac);
	uint8_t *ip = ctx->reply + off;
	memcpy(ip, frame + pi->l3_off, ihl + pi->l4_len);
	memcpy(ip + 12, port->ipv4, 4);
	memcpy(ip + 16, pi->src_addr, 4);
	ip[8] = 64;
	put16(ip + 10, 0);
	put16(ip + 10, dp_csum_fold(dp_csum_partial(ip, ihl, 0)));
	uint8_t *ri = ip + ihl;
	ri[0] = 0;
	put16(ri + 2, 0);
	put16(ri + 2, dp_csum_fold(dp_csum_partial(ri, pi->l4_len, 0)));
	if (send_reply(ctx, port_idx, total, sink))
		ctr_add(C(ctx, icmp_replies), 1);
}

static const uint8_t all_nodes[16] = {0xff, 0x02, [15] = 1};

static void handle_icmp6(struct sluice_dp_ctx *ctx, uint32_t port_idx, const uint8_t *frame,
			 const struct sluice_pkt_info *pi, const struct sluice_dp_sink *sink)
{
	const struct sluice_dp_port *port = &ctx->ports[port_idx];
	const uint8_t *icmp = frame + pi->l4_off;
	uint8_t type = icmp[0];
	bool ns = type == 135;
	const uint8_t *eth_dst = pi->src_mac;
	const uint8_t *ip_dst = pi->src_addr;
	size_t body;

	if (!port->answer_nd || !port->has_ipv6 || (type != 128 && type != 135) || icmp[1] != 0) {
		reject(ctx, SLUICE_DP_REJECT_ICMP_IGNORED, 1);
		return;
	}
	if (ns) {
		/* RFC 4861 7.1.1: hop limit 255 proves the sender is on-link. */
		if (pi->hop_limit != 255 || pi->l4_len < 24 || memcmp(icmp + 8, port->ipv6, 16)) {
			reject(ctx, SLUICE_DP_REJECT_ICMP_IGNORED, 1);
			return;
		}
		if (is_zero(pi->src_addr, 16)) { /* duplicate address detection: tell everyone */
			static const uint8_t mc[6] = {0x33, 0x33, 0, 0, 0, 1};
			eth_dst = mc;
			ip_dst = all_nodes;
		}
		body = 32;
	} else {
		if (memcmp(pi->dst_addr, port->ipv6, 16) != 0) {
			reject(ctx, SLUICE_DP_REJECT_IP_DST, 1);
			return;
		}
		body = pi->l4_len;
	}
	size_t off = reply_l2(ctx, port, frame, pi, eth_dst);
	if (off + 40 + body > sizeof(ctx->reply)) {
		reject(ctx, SLUICE_DP_REJECT_ICMP_BAD, 1);
		return;
	}
	/* A fresh IPv6 header: the request's extension headers are not echoed. */
	put16(ctx->reply + off - 2, 0x86DD);
	uint8_t *ip = ctx->reply + off;
	memset(ip, 0, 8);
	ip[0] = 0x60;
	put16(ip + 4, (uint16_t)body);
	ip[6] = 58;
	ip[7] = ns ? 255 : 64;
	memcpy(ip + 8, port->ipv6, 16);
	memcpy(ip + 24, ip_dst, 16);
	uint8_t *r = ip + 40;
	if (ns) {
		memset(r, 0, 32);
		r[0] = 136;
		/* Solicited (unless DAD), override. */
		r[4] = is_zero(pi->src_addr, 16) ? 0x20 : 0x60;
		memcpy(r + 8, port->ipv6, 16);
		r[24] = 2; /* target link-layer address option */
		r[25] = 1;
		memcpy(r + 26, port->mac, 6);
	} else {
		memcpy(r, icmp, body);
		r[0] = 129;
	}
	put16(r + 2, 0);
	put16(r + 2,
	      dp_csum_fold(dp_csum_partial(r, body,
					   dp_pseudo_sum(6, ip + 8, ip + 24, 58, (uint32_t)body))));
	if (send_reply(ctx, port_idx, off + 40 + body, sink)) {
		if (ns)
			ctr_add(C(ctx, nd_replies), 1);
		else
			ctr_add(C(ctx, icmp_replies), 1);
	}
}

unsigned sluice_dp_ctx_packet(struct sluice_dp_ctx *ctx, uint32_t port_idx, const uint8_t *frame,
			      size_t len, unsigned flags, int64_t now_ms,
			      const struct sluice_dp_sink *sink)
{
	struct sluice_pkt_info pi;
	const struct sluice_dp_port *port = &ctx->ports[port_idx < ctx->nports ? port_idx : 0];

	ctr_add(C(ctx, rx_packets), 1);
	ctr_add(C(ctx, rx_bytes), len);
	ctx->now_ms = now_ms;
	enum sluice_dp_reject r = sluice_pkt_parse(frame, len, flags, &pi);
	if (r != SLUICE_DP_REJECT_NONE) {
		reject(ctx, r, 1);
		return 0;
	}
	if (!port->promiscuous && !(pi.dst_mac[0] & 1) && !is_zero(port->mac, 6) &&
	    memcmp(pi.dst_mac, port->mac, 6) != 0) {
		reject(ctx, SLUICE_DP_REJECT_ETH_DST, 1);
		return 0;
	}
	port_idx = (uint32_t)(port - ctx->ports);
	switch (pi.kind) {
	case SLUICE_PKT_ARP:
		handle_arp(ctx, port_idx, frame, &pi, sink);
		return 0;
	case SLUICE_PKT_ICMP4:
		handle_icmp4(ctx, port_idx, frame, &pi, sink);
		return 0;
	case SLUICE_PKT_ICMP6:
		handle_icmp6(ctx, port_idx, frame, &pi, sink);
		return 0;
	case SLUICE_PKT_UDP:
	default:
		break;
	}
	bool ours = dst_is_ours(port, &pi);
	const struct sluice_listener *l = listener_find(ctx, port_idx, ours, &pi);
	if (l == NULL) {
		reject(ctx, ours ? SLUICE_DP_REJECT_NO_LISTENER : SLUICE_DP_REJECT_IP_DST, 1);
		return 0;
	}
	ctx->cur_frame = frame;
	ctx->cur_pi = &pi;
	ctx->cur_port = port_idx;
	unsigned n = sluice_dp_ctx_datagram(ctx, l, frame + pi.payload_off, pi.payload_len,
					    pi.family, pi.src_addr, pi.src_port, now_ms, sink);
	ctx->cur_frame = NULL;
	ctx->cur_pi = NULL;
	return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Counters                                                                                  */

void dp_counters_to_stats(const struct dp_counters *c, struct sluice_worker_stats *out)
{
	memset(out, 0, sizeof(*out));
#define X(name) out->name = c->name;
	DP_SCALAR_COUNTERS(X)
#undef X
	memcpy(out->rejects, c->rejects, sizeof(out->rejects));
	memcpy(out->batch_errors, c->batch_errors, sizeof(out->batch_errors));
	memcpy(out->shed, c->shed, sizeof(out->shed));
	memcpy(out->shed_cause, c->shed_cause, sizeof(out->shed_cause));
}

void sluice_dp_ctx_stats(const struct sluice_dp_ctx *ctx, struct sluice_worker_stats *out)
{
	dp_counters_to_stats(&ctx->c, out);
}

void dp_ctx_stats_published(const struct sluice_dp_ctx *ctx, struct sluice_worker_stats *out)
{
	struct dp_counters c;

	dp_seq_read(&ctx->pub.seq, ctx->pub.w, (uint64_t *)&c, DP_COUNTER_WORDS);
	dp_counters_to_stats(&c, out);
}

void sluice_worker_stats_add(struct sluice_worker_stats *a, const struct sluice_worker_stats *b)
{
#define X(name) a->name += b->name;
	DP_SCALAR_COUNTERS(X)
#undef X
	for (unsigned i = 0; i < SLUICE_DP_REJECT__COUNT; i++)
		a->rejects[i] += b->rejects[i];
	for (unsigned i = 0; i < SLUICE_RB__COUNT; i++)
		a->batch_errors[i] += b->batch_errors[i];
	for (unsigned i = 0; i < SLUICE_DP_SHED__COUNT; i++)
		a->shed[i] += b->shed[i];
	for (unsigned i = 0; i < SLUICE_WRITER_CAUSE__COUNT; i++)
		a->shed_cause[i] += b->shed_cause[i];
}
