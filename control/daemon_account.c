/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The accounting chain: totals gathered from every module under d->lock.
 * Threading: see daemon.c.
 */
#include "daemon_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Totals and the accounting chain                                                            */

uint64_t daemon_iabs(int64_t v)
{
	return v < 0 ? (uint64_t)-v : (uint64_t)v;
}

/*
 * NIC counters that never go backwards. Some PMDs reset theirs when the link renews (memif
 * re-creates its queues, and their counters, each time a peer connects), which would break
 * the accounting chain; a drop is taken as a reset and the old value kept as a base.
 * Caller holds d->lock.
 */
int daemon_nic_stats(struct sluice_daemon *d, uint32_t port, struct sluice_nic_stats *out)
{
	struct sluice_nic_stats raw;
	uint64_t *r = (uint64_t *)&raw, *last = (uint64_t *)&d->nic_last[port];
	uint64_t *base = (uint64_t *)&d->nic_base[port], *o = (uint64_t *)out;
	int rc = sluice_nic_port_stats(d->ports[port], &raw);

	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(raw) / sizeof(uint64_t); i++) {
		/* memif reads 0 while no peer is connected and then shows the old counters
		 * again until a new peer connects: a 0 is "unknown", not a reset. */
		if (r[i] == 0 && last[i] > 0) {
			o[i] = base[i] + last[i];
			continue;
		}
		if (r[i] < last[i])
			base[i] += last[i];
		last[i] = r[i];
		o[i] = base[i] + r[i];
	}
	return 0;
}

/*
 * Durable records Kafka has not acknowledged yet, from the forwarder's own view (storage's
 * forwarded watermark is only refreshed periodically, for retention).
 */
uint64_t fwd_pending(struct sluice_daemon *d, struct sluice_fwd_stats *fs)
{
	uint32_t n = d->log ? sluice_log_partition_count(d->log) : 0;
	struct sluice_fwd_partition_stats *ps = calloc(n ? n : 1, sizeof(*ps));
	uint64_t pending = 0;

	if (!ps) {
		sluice_fwd_stats(d->fwd, fs, NULL, 0);
		return UINT64_MAX;
	}
	sluice_fwd_stats(d->fwd, fs, ps, n);
	for (uint32_t i = 0; i < n && i < fs->npartitions; i++)
		if (ps[i].durable_offset > ps[i].forwarded_offset)
			pending += (uint64_t)(ps[i].durable_offset - ps[i].forwarded_offset);
	free(ps);
	return pending;
}

void sluice_daemon_residues(const struct sluice_worker_stats *w, uint64_t persisted,
			    uint64_t storage_shed, struct sluice_daemon_residues *out)
{
	uint64_t pkt = 0, dgram = 0, ev = 0, shed = 0;

	for (int r = 1; r < SLUICE_DP_REJECT__COUNT; r++) {
		if (r < SLUICE_DP_REJECT__FIRST_DATAGRAM)
			pkt += w->rejects[r];
		else if (r < SLUICE_DP_REJECT__FIRST_EVENT)
			dgram += w->rejects[r];
		else
			ev += w->rejects[r];
	}
	for (int s = 0; s < SLUICE_DP_SHED__COUNT; s++)
		shed += w->shed[s];
	/* The dataplane's identities (sluice_dataplane.h), then storage's. Packets, datagrams
	 * and events are different units: a `lines` datagram carries many events. */
	out->packets = (int64_t)(w->rx_packets - w->ctrl_packets - w->datagrams - pkt);
	out->datagrams = (int64_t)(w->datagrams - w->datagrams_accepted - dgram);
	out->events = (int64_t)(w->events_decoded - w->events_parsed - ev);
	out->parsed = (int64_t)(w->events_parsed - w->events_enqueued - shed - w->events_open);
	out->in_flight = (int64_t)(w->events_enqueued - persisted - storage_shed);
	out->unaccounted = daemon_iabs(out->packets) + daemon_iabs(out->datagrams) +
		daemon_iabs(out->events) + daemon_iabs(out->parsed) +
		(out->in_flight < 0 ? daemon_iabs(out->in_flight) : 0);
}

/*
 * One consistent reading of the chain, downstream stages first. Each worker's counters are a
 * snapshot it published where its identities hold (sluice_worker_stats()), so the
 * dataplane's residues are exactly 0 whatever the load. Storage's counters are read before
 * the workers': a batch is counted enqueued in the counters a worker publishes before it puts
 * the batch on a ring, the writer takes it off the ring (acquire) before it counts it durable
 * or shed (release stores), and the fence below orders those reads before the workers' — so
 * persisted + shed never exceeds enqueued, and what is between them is in flight, never loss.
 * The NIC's counters are read last and only shown: drivers keep them their own way (some
 * refresh them from hardware periodically), so they are not part of a checked identity.
 * Caller holds d->lock.
 */
void daemon_gather(struct sluice_daemon *d, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	if (d->fwd) {
		t->pending = fwd_pending(d, &t->fwd);
		t->have_fwd = true;
		t->forwarded = t->fwd.delivered_records;
	}
	if (d->log) {
		uint32_t n = sluice_log_partition_count(d->log);
		for (uint32_t i = 0; i < n; i++) {
			struct sluice_partition_stats ps;
			sluice_partition_stats(sluice_log_partition(d->log, i), &ps);
			t->appended += ps.appended_records;
			t->persisted += ps.durable_records;
			t->storage_shed += ps.shed_records;
			for (int r = 0; r < SLUICE_STORAGE_SHED__COUNT; r++)
				t->storage_shed_reason[r] += ps.shed_reason[r];
			t->failed_partitions += ps.failed;
			t->bytes_on_disk += ps.bytes_on_disk;
			t->retention_dropped += ps.retention_dropped_records;
		}
	}
	/* Partner: the writers' release stores of durable_offset and shed_records. */
	atomic_thread_fence(memory_order_acquire);
	for (uint32_t i = 0; i < d->nworkers; i++) {
		struct sluice_worker_stats s;
		sluice_worker_stats(d->workers[i], &s);
		sluice_worker_stats_add(&t->w, &s);
	}
	for (uint32_t i = 0; i < d->nports; i++) {
		struct sluice_nic_stats s;
		if (daemon_nic_stats(d, i, &s) != 0)
			continue;
		t->nic.ipackets += s.ipackets;
		t->nic.ibytes += s.ibytes;
		t->nic.imissed += s.imissed;
		t->nic.ierrors += s.ierrors;
		t->nic.rx_nombuf += s.rx_nombuf;
		t->nic.opackets += s.opackets;
	}
	for (int r = 1; r < SLUICE_DP_REJECT__COUNT; r++) {
		if (r < SLUICE_DP_REJECT__FIRST_DATAGRAM)
			t->pkt_rejects += t->w.rejects[r];
		else if (r < SLUICE_DP_REJECT__FIRST_EVENT)
			t->dgram_rejects += t->w.rejects[r];
		else
			t->event_rejects += t->w.rejects[r];
	}
	for (int s = 0; s < SLUICE_DP_SHED__COUNT; s++)
		t->shed += t->w.shed[s];
	sluice_daemon_residues(&t->w, t->persisted, t->storage_shed, &t->res);
	t->in_flight = t->res.in_flight;
	t->unaccounted = t->res.unaccounted;
}
