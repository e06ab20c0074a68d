/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bounded buffer of unacknowledged datagrams (sluice_window.h). Slots form a ring in
 * sequence order (a stream sends in sequence order); acked slots are freed from the head,
 * so a slot acknowledged out of order (a durable range above durable_next) waits for the
 * slots before it, as its records count as acknowledged at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_window.h"

struct slot {
	int32_t base;
	uint32_t records;
	uint32_t len;
	bool acked;
	uint32_t tries;
	uint64_t deadline_us;
	uint64_t rto_us;
	uint64_t sent_us; /* first transmission */
	uint8_t *data;
};

struct sluice_window {
	struct sluice_window_opts o;
	struct slot *s;
	uint8_t *mem;
	uint32_t head, n;
	uint64_t inflight_records; /* unacked records */
	/* Retransmission timeout from the measured send -> durable ack time (RFC 6298: srtt,
	 * rttvar; samples only from datagrams sent once, Karn's rule). 0: no sample yet. */
	uint64_t srtt_us, rttvar_us, rto_us;
	struct sluice_window_stats st;
};

int sluice_window_create(const struct sluice_window_opts *o, struct sluice_window **out)
{
	struct sluice_window *w;

	if (!o || o->slots == 0 || o->slot_bytes == 0 || o->window_records == 0 ||
	    o->rto_min_us == 0 || o->rto_max_us < o->rto_min_us)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->o = *o;
	w->rto_us = o->rto_min_us;
	w->s = calloc(o->slots, sizeof(*w->s));
	w->mem = malloc((size_t)o->slots * o->slot_bytes);
	if (!w->s || !w->mem) {
		sluice_window_destroy(w);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < o->slots; i++)
		w->s[i].data = w->mem + (size_t)i * o->slot_bytes;
	*out = w;
	return 0;
}

void sluice_window_destroy(struct sluice_window *w)
{
	if (!w)
		return;
	free(w->s);
	free(w->mem);
	free(w);
}

static struct slot *at(const struct sluice_window *w, uint32_t i)
{
	return &w->s[(w->head + i) % w->o.slots];
}

bool sluice_window_has_room(const struct sluice_window *w, uint32_t records)
{
	/* An empty window takes any one datagram, so a batch above the window still goes. */
	if (w->n == 0)
		return true;
	return w->n < w->o.slots && w->inflight_records + records <= w->o.window_records;
}

int sluice_window_push(struct sluice_window *w, const uint8_t *dgram, size_t len, int32_t base,
		       uint32_t records, uint64_t now_us)
{
	if (len > w->o.slot_bytes)
		return -EMSGSIZE;
	if (w->n == w->o.slots)
		return -ENOBUFS;
	struct slot *s = at(w, w->n);
	memcpy(s->data, dgram, len);
	s->len = (uint32_t)len;
	s->base = base;
	s->records = records;
	s->acked = false;
	s->tries = 1;
	s->rto_us = w->rto_us;
	s->sent_us = now_us;
	s->deadline_us = now_us + s->rto_us;
	w->n++;
	w->inflight_records += records;
	w->st.sent++;
	return 0;
}

static bool inside(const struct slot *s, int32_t base, int32_t end)
{
	return s->base >= base && (int64_t)s->base + s->records <= end;
}

static bool overlaps(const struct slot *s, int32_t base, int32_t end)
{
	return s->base < end && (int64_t)s->base + s->records > base;
}

static void rtt_sample(struct sluice_window *w, uint64_t r)
{
	unsigned b = 0;
	while (b < SLUICE_WINDOW_HIST_BUCKETS - 1 && r > (1ull << b))
		b++;
	w->st.ack_latency_hist[b]++;
	if (w->srtt_us == 0) {
		w->srtt_us = r;
		w->rttvar_us = r / 2;
	} else {
		uint64_t d = r > w->srtt_us ? r - w->srtt_us : w->srtt_us - r;
		w->rttvar_us = (3 * w->rttvar_us + d) / 4;
		w->srtt_us = (7 * w->srtt_us + r) / 8;
	}
	uint64_t rto = w->srtt_us + 4 * w->rttvar_us;
	if (rto < w->o.rto_min_us)
		rto = w->o.rto_min_us;
	if (rto > w->o.rto_max_us)
		rto = w->o.rto_max_us;
	w->rto_us = rto;
	w->st.srtt_us = w->srtt_us;
	w->st.rto_us = rto;
}

uint64_t sluice_window_ack(struct sluice_window *w, const struct sluice_ack *a, uint64_t now_us)
{
	uint64_t done = 0;

	for (uint32_t i = 0; i < w->n; i++) {
		struct slot *s = at(w, i);
		if (s->acked)
			continue;
		bool ok = (int64_t)s->base + s->records <= a->durable_next;
		for (unsigned k = 0; !ok && k < a->ndurable; k++)
			ok = inside(s, a->durable[k].base, a->durable[k].end);
		if (ok) {
			if (s->tries == 1 && now_us >= s->sent_us)
				rtt_sample(w, now_us - s->sent_us);
			s->acked = true;
			done += s->records;
			w->inflight_records -= s->records;
			w->st.acked_batches++;
			continue;
		}
		for (unsigned k = 0; k < a->nresend; k++) {
			if (overlaps(s, a->resend[k].base, a->resend[k].end) &&
			    s->deadline_us > now_us) {
				s->deadline_us = now_us;
				w->st.resend_hints++;
				break;
			}
		}
	}
	while (w->n && at(w, 0)->acked) {
		w->head = (w->head + 1) % w->o.slots;
		w->n--;
	}
	w->st.acked_records += done;
	if (done)
		w->st.acks++;
	else
		w->st.acks_stale++;
	return done;
}

unsigned sluice_window_retransmit(struct sluice_window *w, uint64_t now_us,
				  sluice_window_send_fn send, void *arg)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < w->n; i++) {
		struct slot *s = at(w, i);
		if (s->acked || s->deadline_us > now_us)
			continue;
		if (send(arg, s->data, s->len) < 0)
			break;
		s->tries++;
		s->rto_us = s->rto_us * 2 > w->o.rto_max_us ? w->o.rto_max_us : s->rto_us * 2;
		s->deadline_us = now_us + s->rto_us;
		w->st.retransmits++;
		n++;
	}
	return n;
}

uint64_t sluice_window_next_timeout_us(const struct sluice_window *w, uint64_t now_us)
{
	uint64_t best = UINT64_MAX;

	for (uint32_t i = 0; i < w->n; i++) {
		const struct slot *s = at(w, i);
		if (s->acked)
			continue;
		if (s->deadline_us <= now_us)
			return 0;
		if (s->deadline_us - now_us < best)
			best = s->deadline_us - now_us;
	}
	return best;
}

uint32_t sluice_window_inflight(const struct sluice_window *w)
{
	return w->n;
}

uint64_t sluice_window_inflight_records(const struct sluice_window *w)
{
	return w->inflight_records;
}

int32_t sluice_window_low(const struct sluice_window *w)
{
	for (uint32_t i = 0; i < w->n; i++)
		if (!at(w, i)->acked)
			return at(w, i)->base;
	return -1;
}

void sluice_window_stats(const struct sluice_window *w, struct sluice_window_stats *out)
{
	*out = w->st;
}
