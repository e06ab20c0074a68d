/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Acknowledged mode: what the log already holds of each producer stream, recovered from the
 * tail of every partition at start, so that a producer's resend after a restart of sluiced
 * is recognised as a duplicate and not stored twice (docs/wire-formats.md).
 *
 * Threading contract: built by one thread (the control thread, before the workers start),
 * then only read, by any number of workers, without locks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane_internal.h"

/* Ranges kept per stream while scanning; more are merged (the gap between the two closest
 * is taken as stored: a resend of it would be dropped, so keep this above what reordering
 * and the producer's window can leave behind). */
#define REC_RANGES 16

struct rec_entry {
	int64_t producer_id; /* -1: free */
	uint32_t partition_id;
	int16_t epoch;
	uint8_t n;
	struct prod_range r[REC_RANGES]; /* sorted, disjoint, not adjacent */
};

struct sluice_dp_ack_recovery {
	struct rec_entry *t;
	uint32_t mask;
	uint32_t used;
};

static uint32_t rec_hash(int64_t pid, uint32_t part)
{
	uint64_t h = ((uint64_t)pid ^ ((uint64_t)part << 40)) * 0x9E3779B97F4A7C15ull;
	return (uint32_t)(h >> 32);
}

static struct rec_entry *rec_slot(struct rec_entry *t, uint32_t mask, int64_t pid, uint32_t part)
{
	for (uint32_t i = rec_hash(pid, part);; i++) {
		struct rec_entry *e = &t[i & mask];
		if (e->producer_id < 0 || (e->producer_id == pid && e->partition_id == part))
			return e;
	}
}

int sluice_dp_ack_recovery_create(struct sluice_dp_ack_recovery **out)
{
	struct sluice_dp_ack_recovery *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->mask = 63;
	r->t = malloc((r->mask + 1) * sizeof(*r->t));
	if (!r->t) {
		free(r);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i <= r->mask; i++)
		r->t[i].producer_id = -1;
	*out = r;
	return 0;
}

void sluice_dp_ack_recovery_destroy(struct sluice_dp_ack_recovery *r)
{
	if (!r)
		return;
	free(r->t);
	free(r);
}

uint32_t sluice_dp_ack_recovery_count(const struct sluice_dp_ack_recovery *r)
{
	return r ? r->used : 0;
}

static int grow(struct sluice_dp_ack_recovery *r)
{
	uint32_t nmask = r->mask * 2 + 1;
	struct rec_entry *nt = malloc(((size_t)nmask + 1) * sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	for (uint32_t i = 0; i <= nmask; i++)
		nt[i].producer_id = -1;
	for (uint32_t i = 0; i <= r->mask; i++)
		if (r->t[i].producer_id >= 0)
			*rec_slot(nt, nmask, r->t[i].producer_id, r->t[i].partition_id) = r->t[i];
	free(r->t);
	r->t = nt;
	r->mask = nmask;
	return 0;
}

/* Insert [base, end) into the sorted set, merging what touches it. */
static void range_add(struct rec_entry *e, int32_t base, int32_t end)
{
	unsigned i = 0;

	while (i < e->n && e->r[i].end < base)
		i++;
	if (i < e->n && e->r[i].base <= end) {
		/* overlaps or touches r[i]: widen it, then swallow the following ones it reaches */
		if (base < e->r[i].base)
			e->r[i].base = base;
		if (end > e->r[i].end)
			e->r[i].end = end;
		while (i + 1 < e->n && e->r[i + 1].base <= e->r[i].end) {
			if (e->r[i + 1].end > e->r[i].end)
				e->r[i].end = e->r[i + 1].end;
			memmove(&e->r[i + 1], &e->r[i + 2], (e->n - i - 2) * sizeof(e->r[0]));
			e->n--;
		}
		return;
	}
	if (e->n == REC_RANGES) {
		/* Full: close the smallest gap. */
		unsigned g = 0;
		for (unsigned k = 1; k + 1 < e->n; k++)
			if (e->r[k + 1].base - e->r[k].end < e->r[g + 1].base - e->r[g].end)
				g = k;
		e->r[g].end = e->r[g + 1].end;
		memmove(&e->r[g + 1], &e->r[g + 2], (e->n - g - 2) * sizeof(e->r[0]));
		e->n--;
		range_add(e, base, end);
		return;
	}
	memmove(&e->r[i + 1], &e->r[i], (e->n - i) * sizeof(e->r[0]));
	e->r[i].base = base;
	e->r[i].end = end;
	e->n++;
}

int sluice_dp_ack_recovery_add(struct sluice_dp_ack_recovery *r, uint32_t partition_id,
			       int64_t producer_id, int16_t epoch, int32_t base, int32_t count)
{
	if (producer_id < 0 || base < 0 || count <= 0 || epoch < 0 ||
	    (int64_t)base + count > INT32_MAX)
		return 0; /* not a stream acknowledged mode tracks (no wrap in this mode) */
	if ((r->used + 1) * 2 > r->mask + 1 && grow(r) != 0)
		return -ENOMEM;
	struct rec_entry *e = rec_slot(r->t, r->mask, producer_id, partition_id);
	if (e->producer_id < 0) {
		e->producer_id = producer_id;
		e->partition_id = partition_id;
		e->epoch = epoch;
		e->n = 0;
		r->used++;
	} else if (epoch > e->epoch) {
		e->epoch = epoch;
		e->n = 0;
	} else if (epoch < e->epoch) {
		return 0;
	}
	range_add(e, base, base + count);
	return 0;
}

bool dp_ack_recovery_find(const struct sluice_dp_ack_recovery *r, int64_t producer_id,
			  uint32_t partition_id, int16_t epoch, int32_t *next,
			  struct prod_range *pending, uint8_t *npending)
{
	if (!r || !r->used)
		return false;
	const struct rec_entry *e = rec_slot(r->t, r->mask, producer_id, partition_id);
	if (e->producer_id < 0 || e->epoch != epoch || e->n == 0)
		return false;
	/* Below the oldest range the window saw, everything was stored long ago. */
	*next = e->r[0].end;
	*npending = 0;
	for (unsigned i = 1; i < e->n && *npending < PROD_PENDING_MAX; i++)
		pending[(*npending)++] = e->r[i];
	return true;
}
