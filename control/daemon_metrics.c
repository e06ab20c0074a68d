/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The metric families sluiced exports, written into a sluice_metric_sink (observe.h).
 * Threading: see daemon.c.
 */
#include "daemon_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Metrics                                                                                    */

struct emit {
	const struct sluice_metric_sink *s;
};

static void fam(const struct sluice_metric_sink *s, const char *name, enum sluice_metric_type t,
		const char *help)
{
	s->family(s->ctx, name, t, help);
}

static void one(const struct sluice_metric_sink *s, const char *name, enum sluice_metric_type t,
		const char *help, double v)
{
	fam(s, name, t, help);
	s->sample(s->ctx, name, NULL, 0, v);
}

static void smp(const struct sluice_metric_sink *s, const char *name, const struct sluice_label *l,
		unsigned n, double v)
{
	s->sample(s->ctx, name, l, n, v);
}

struct xstat_ctx {
	const struct sluice_metric_sink *s;
	const char *port;
};

static void xstat_cb(const char *name, uint64_t value, void *arg)
{
	struct xstat_ctx *x = arg;
	struct sluice_label l[2] = {{"port", x->port}, {"name", name}};
	smp(x->s, "sluice_nic_xstats", l, 2, (double)value);
}

static void collect_nic(struct sluice_daemon *d, const struct sluice_metric_sink *s)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} f[] = {
		{"sluice_nic_rx_packets_total", "Packets received by the NIC",
		 offsetof(struct sluice_nic_stats, ipackets)},
		{"sluice_nic_rx_bytes_total", "Bytes received by the NIC",
		 offsetof(struct sluice_nic_stats, ibytes)},
		{"sluice_nic_rx_missed_packets_total",
		 "Packets the NIC dropped because no RX descriptor was free",
		 offsetof(struct sluice_nic_stats, imissed)},
		{"sluice_nic_rx_errors_total", "Erroneous packets received",
		 offsetof(struct sluice_nic_stats, ierrors)},
		{"sluice_nic_rx_nombuf_total", "RX mbuf allocation failures",
		 offsetof(struct sluice_nic_stats, rx_nombuf)},
		{"sluice_nic_tx_packets_total", "Packets sent (ARP/ICMP replies)",
		 offsetof(struct sluice_nic_stats, opackets)},
	};
	struct sluice_nic_stats st[SLUICE_CONFIG_MAX_PORTS];

	for (uint32_t p = 0; p < d->nports; p++)
		if (nic_stats(d, p, &st[p]) != 0)
			memset(&st[p], 0, sizeof(st[p]));
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		fam(s, f[i].name, SLUICE_METRIC_COUNTER, f[i].help);
		for (uint32_t p = 0; p < d->nports; p++) {
			struct sluice_label l = {"port", d->cfg->ports[p].name};
			smp(s, f[i].name, &l, 1,
			    (double)*(const uint64_t *)((const char *)&st[p] + f[i].off));
		}
	}
	fam(s, "sluice_nic_link_up", SLUICE_METRIC_GAUGE, "1 when the port's link is up");
	for (uint32_t p = 0; p < d->nports; p++) {
		struct sluice_label l = {"port", d->cfg->ports[p].name};
		smp(s, "sluice_nic_link_up", &l, 1, sluice_nic_port_link_up(d->ports[p]));
	}
	fam(s, "sluice_nic_xstats", SLUICE_METRIC_GAUGE,
	    "Every extended statistic of every port, as the driver names it");
	for (uint32_t p = 0; p < d->nports; p++) {
		struct xstat_ctx x = {s, d->cfg->ports[p].name};
		sluice_nic_port_xstats(d->ports[p], xstat_cb, &x);
	}
}

static void collect_workers(struct sluice_daemon *d, const struct sluice_metric_sink *s)
{
	static const struct {
		const char *name, *help;
		size_t off;
		enum sluice_metric_type type;
	} f[] = {
#define WF(n, field, h, t) {n, h, offsetof(struct sluice_worker_stats, field), t}
		WF("sluice_worker_rx_packets_total", rx_packets, "Frames taken from the NIC",
		   SLUICE_METRIC_COUNTER),
		WF("sluice_worker_rx_bytes_total", rx_bytes, "Bytes taken from the NIC",
		   SLUICE_METRIC_COUNTER),
		WF("sluice_worker_control_packets_total", ctrl_packets,
		   "ARP, ICMP echo and neighbour solicitations answered", SLUICE_METRIC_COUNTER),
		WF("sluice_worker_datagrams_total", datagrams,
		   "UDP payloads delivered to a listener", SLUICE_METRIC_COUNTER),
		WF("sluice_worker_datagrams_accepted_total", datagrams_accepted,
		   "Datagrams whose format decoded", SLUICE_METRIC_COUNTER),
		WF("sluice_worker_events_decoded_total", events_decoded,
		   "Events found in accepted datagrams", SLUICE_METRIC_COUNTER),
		WF("sluice_worker_events_parsed_total", events_parsed, "Events handed to batching",
		   SLUICE_METRIC_COUNTER),
		WF("sluice_worker_events_enqueued_total", events_enqueued,
		   "Events in batches handed to storage writers", SLUICE_METRIC_COUNTER),
		WF("sluice_worker_events_open", events_open, "Events in open (unsealed) batches",
		   SLUICE_METRIC_GAUGE),
		WF("sluice_worker_batches_enqueued_total", batches_enqueued,
		   "Batches handed to storage writers", SLUICE_METRIC_COUNTER),
		WF("sluice_worker_busy_cycles_total", busy_cycles, "TSC cycles in passes with work",
		   SLUICE_METRIC_COUNTER),
		WF("sluice_worker_idle_cycles_total", idle_cycles, "TSC cycles in empty passes",
		   SLUICE_METRIC_COUNTER),
		WF("sluice_worker_blocked_cycles_total", blocked_cycles,
		   "TSC cycles waiting for ring or pool room (backpressure block)",
		   SLUICE_METRIC_COUNTER),
		WF("sluice_worker_idle_sleeps_total", idle_sleeps, "Idle back-off sleeps",
		   SLUICE_METRIC_COUNTER),
		WF("sluice_worker_producers_active", producers_active,
		   "Producers in the worker's table", SLUICE_METRIC_GAUGE),
		WF("sluice_worker_producer_lost_events_total", producer_lost,
		   "Events producers sent that never arrived (sequence gaps)",
		   SLUICE_METRIC_COUNTER),
		WF("sluice_worker_producer_duplicate_events_total", producer_duplicates,
		   "Events dropped as duplicates", SLUICE_METRIC_COUNTER),
		WF("sluice_worker_producer_evictions_total", producer_evictions,
		   "Producer entries replaced by another stream (its own source's, or one idle "
		   "for dataplane.producer_idle_timeout)",
		   SLUICE_METRIC_COUNTER),
		WF("sluice_worker_producer_untracked_batches_total", producer_untracked,
		   "Kafka batches with a producer id stored without sequence tracking: no table "
		   "entry could be taken for their source",
		   SLUICE_METRIC_COUNTER),
		WF("sluice_worker_source_overflow_datagrams_total", source_overflow,
		   "Datagrams from sources the source table could not hold (they share one rate "
		   "limit per listener; their producers go untracked)",
		   SLUICE_METRIC_COUNTER),
#undef WF
	};
	struct sluice_worker_stats st[MAX_WORKERS];
	char ids[MAX_WORKERS][12];

	for (uint32_t w = 0; w < d->nworkers; w++) {
		sluice_worker_stats(d->workers[w], &st[w]);
		snprintf(ids[w], sizeof(ids[w]), "%u", w);
	}
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		fam(s, f[i].name, f[i].type, f[i].help);
		for (uint32_t w = 0; w < d->nworkers; w++) {
			struct sluice_label l = {"worker", ids[w]};
			smp(s, f[i].name, &l, 1,
			    (double)*(const uint64_t *)((const char *)&st[w] + f[i].off));
		}
	}
	fam(s, "sluice_worker_rejected_total", SLUICE_METRIC_COUNTER,
	    "Input rejected, by reason and level (packet: frames, datagram: payloads, event: "
	    "events)");
	for (uint32_t w = 0; w < d->nworkers; w++) {
		for (int r = 1; r < SLUICE_DP_REJECT__COUNT; r++) {
			struct sluice_label l[3] = {
				{"worker", ids[w]},
				{"reason", sluice_dp_reject_name((enum sluice_dp_reject)r)},
				{"level",
				 r < SLUICE_DP_REJECT__FIRST_DATAGRAM        ? "packet"
					 : r < SLUICE_DP_REJECT__FIRST_EVENT ? "datagram"
									     : "event"}};
			smp(s, "sluice_worker_rejected_total", l, 3, (double)st[w].rejects[r]);
		}
	}
	fam(s, "sluice_worker_kafka_batch_errors_total", SLUICE_METRIC_COUNTER,
	    "Kafka batches that failed validation, by error");
	for (uint32_t w = 0; w < d->nworkers; w++) {
		for (int e = 1; e < SLUICE_RB__COUNT; e++) {
			struct sluice_label l[2] = {{"worker", ids[w]},
						    {"error", sluice_rb_strerror(e)}};
			smp(s, "sluice_worker_kafka_batch_errors_total", l, 2,
			    (double)st[w].batch_errors[e]);
		}
	}
	fam(s, "sluice_worker_shed_events_total", SLUICE_METRIC_COUNTER,
	    "Parsed events not handed to storage, by reason");
	for (uint32_t w = 0; w < d->nworkers; w++) {
		for (int r = 0; r < SLUICE_DP_SHED__COUNT; r++) {
			struct sluice_label l[2] = {
				{"worker", ids[w]},
				{"reason", sluice_dp_shed_name((enum sluice_dp_shed)r)}};
			smp(s, "sluice_worker_shed_events_total", l, 2, (double)st[w].shed[r]);
		}
	}
	fam(s, "sluice_worker_shed_cause_events_total", SLUICE_METRIC_COUNTER,
	    "Events shed because storage was behind (ring_full, pool_empty), by what the "
	    "storage writer was waiting for: segment_roll, device, writer_busy");
	for (uint32_t w = 0; w < d->nworkers; w++) {
		for (int c = 0; c < SLUICE_WRITER_CAUSE__COUNT; c++) {
			struct sluice_label l[2] = {
				{"worker", ids[w]},
				{"cause", sluice_writer_cause_name((enum sluice_writer_cause)c)}};
			smp(s, "sluice_worker_shed_cause_events_total", l, 2,
			    (double)st[w].shed_cause[c]);
		}
	}
	if (d->log) {
		uint32_t nwriters = sluice_log_writer_count(d->log);

		/* A ring that stays near full means its writer cannot keep up: the worker will
		 * shed (drop) or stall (block) next. Reading the count is safe from any thread. */
		fam(s, "sluice_worker_ring_fill_ratio", SLUICE_METRIC_GAUGE,
		    "Fill of the ring from the worker to each storage writer (entries / capacity)");
		for (uint32_t w = 0; w < d->nworkers; w++) {
			for (uint32_t wr = 0; wr < nwriters; wr++) {
				struct rte_ring *r = sluice_log_ring(d->log, w, wr);
				char wid[12];
				struct sluice_label l[2] = {{"worker", ids[w]}, {"writer", wid}};

				if (!r || rte_ring_get_capacity(r) == 0)
					continue;
				snprintf(wid, sizeof(wid), "%u", wr);
				smp(s, "sluice_worker_ring_fill_ratio", l, 2,
				    (double)rte_ring_count(r) / (double)rte_ring_get_capacity(r));
			}
		}
	}
	fam(s, "sluice_worker_batches_sealed_total", SLUICE_METRIC_COUNTER,
	    "Batches sealed, by cause");
	for (uint32_t w = 0; w < d->nworkers; w++) {
		const char *cause[] = {"size", "linger", "flush", "passthrough"};
		uint64_t v[] = {st[w].batches_sealed_size, st[w].batches_sealed_linger,
				st[w].batches_sealed_flush, st[w].batches_passthrough};
		for (int c = 0; c < 4; c++) {
			struct sluice_label l[2] = {{"worker", ids[w]}, {"cause", cause[c]}};
			smp(s, "sluice_worker_batches_sealed_total", l, 2, (double)v[c]);
		}
	}
}

/* One log2-µs histogram (the storage and forwarder bucket layout) in seconds. */
static void hist_log2_us(const struct sluice_metric_sink *s, const char *name,
			 const struct sluice_label *l, unsigned nl,
			 const uint64_t hist[SLUICE_HIST_BUCKETS], double sum_s)
{
	double bounds[SLUICE_HIST_BUCKETS];
	uint64_t cum[SLUICE_HIST_BUCKETS], acc = 0;

	for (int b = 0; b < SLUICE_HIST_BUCKETS; b++) {
		bounds[b] = (double)(1ull << b) / 1e6;
		acc += hist[b];
		cum[b] = acc;
	}
	/* The last bucket also holds everything longer than its bound: it is left to +Inf
	 * (the total) rather than exported as a "<=" that it is not. */
	s->histogram(s->ctx, name, l, nl, bounds, cum, SLUICE_HIST_BUCKETS - 1, sum_s, acc);
}

static void collect_partitions(struct sluice_daemon *d, const struct sluice_metric_sink *s)
{
	static const struct {
		const char *name, *help;
		size_t off;
		enum sluice_metric_type type;
		bool i64;
	} f[] = {
#define PF(n, field, h, t, i) {n, h, offsetof(struct sluice_partition_stats, field), t, i}
		PF("sluice_partition_log_start_offset", log_start_offset, "First offset kept",
		   SLUICE_METRIC_GAUGE, true),
		PF("sluice_partition_log_end_offset", log_end_offset, "Next offset to assign",
		   SLUICE_METRIC_GAUGE, true),
		PF("sluice_partition_durable_offset", durable_offset,
		   "Every offset below this survived an fdatasync", SLUICE_METRIC_GAUGE, true),
		PF("sluice_partition_forwarded_offset", forwarded_offset,
		   "The log's forwarded mark, which retention obeys: every offset below is "
		   "acknowledged by Kafka (still with forwarding off or embedded)",
		   SLUICE_METRIC_GAUGE, true),
		PF("sluice_partition_appended_records_total", appended_records,
		   "Records written (durable or not)", SLUICE_METRIC_COUNTER, false),
		PF("sluice_partition_appended_bytes_total", appended_bytes, "Bytes written",
		   SLUICE_METRIC_COUNTER, false),
		PF("sluice_partition_persisted_records_total", durable_records,
		   "Records made durable", SLUICE_METRIC_COUNTER, false),
		PF("sluice_partition_shed_records_total", shed_records,
		   "Records the writer refused (failed partition, full disk, invalid batch)",
		   SLUICE_METRIC_COUNTER, false),
		PF("sluice_partition_rolls_total", rolls, "Segment rolls", SLUICE_METRIC_COUNTER,
		   false),
		PF("sluice_partition_segments", segments, "Segments on disk", SLUICE_METRIC_GAUGE,
		   false),
		PF("sluice_partition_disk_bytes", bytes_on_disk, "Bytes on disk",
		   SLUICE_METRIC_GAUGE, false),
		PF("sluice_partition_fsyncs_total", fsyncs, "Group commits", SLUICE_METRIC_COUNTER,
		   false),
		PF("sluice_partition_write_errors_total", write_errors, "Failed writes",
		   SLUICE_METRIC_COUNTER, false),
		PF("sluice_partition_fsync_errors_total", fsync_errors, "Failed fdatasyncs",
		   SLUICE_METRIC_COUNTER, false),
		PF("sluice_partition_retention_deleted_segments_total", retention_deleted_segments,
		   "Segments deleted by retention", SLUICE_METRIC_COUNTER, false),
		PF("sluice_partition_retention_dropped_records_total", retention_dropped_records,
		   "Unforwarded records deleted by retention policy", SLUICE_METRIC_COUNTER, false),
		PF("sluice_partition_recovery_truncated_bytes_total", recovery_truncated_bytes,
		   "Bytes cut from a damaged tail at open", SLUICE_METRIC_COUNTER, false),
#undef PF
	};
	uint32_t n = d->log ? sluice_log_partition_count(d->log) : 0;
	struct sluice_partition_stats *st = calloc(n ? n : 1, sizeof(*st));
	char(*pn)[12] = calloc(n ? n : 1, sizeof(*pn));

	if (!st || !pn)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		sluice_partition_stats(sluice_log_partition(d->log, i), &st[i]);
		snprintf(pn[i], sizeof(pn[i]), "%u", st[i].partition);
	}
	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
		fam(s, f[k].name, f[k].type, f[k].help);
		for (uint32_t i = 0; i < n; i++) {
			struct sluice_label l[2] = {{"topic", st[i].topic}, {"partition", pn[i]}};
			const char *p = (const char *)&st[i] + f[k].off;
			double v = f[k].i64 ? (double)*(const int64_t *)p
					    : (double)*(const uint64_t *)p;
			smp(s, f[k].name, l, 2, v);
		}
	}
	fam(s, "sluice_partition_shed_reason_records_total", SLUICE_METRIC_COUNTER,
	    "Records the writer refused, by reason: disk_full, failed, invalid");
	for (uint32_t i = 0; i < n; i++) {
		for (int r = 0; r < SLUICE_STORAGE_SHED__COUNT; r++) {
			struct sluice_label l[3] = {
				{"topic", st[i].topic},
				{"partition", pn[i]},
				{"reason", sluice_storage_shed_name((enum sluice_storage_shed)r)}};
			smp(s, "sluice_partition_shed_reason_records_total", l, 3,
			    (double)st[i].shed_reason[r]);
		}
	}
	fam(s, "sluice_partition_failed", SLUICE_METRIC_GAUGE,
	    "1 when the partition refuses writes after an I/O error (until recovery)");
	for (uint32_t i = 0; i < n; i++) {
		struct sluice_label l[2] = {{"topic", st[i].topic}, {"partition", pn[i]}};
		smp(s, "sluice_partition_failed", l, 2, st[i].failed);
	}
	fam(s, "sluice_partition_fsync_duration_seconds", SLUICE_METRIC_HISTOGRAM,
	    "Group commit (fdatasync) latency");
	for (uint32_t i = 0; i < n; i++) {
		struct sluice_label l[2] = {{"topic", st[i].topic}, {"partition", pn[i]}};
		double bounds[SLUICE_HIST_BUCKETS];
		uint64_t cum[SLUICE_HIST_BUCKETS], acc = 0;
		double sum = 0;
		for (int b = 0; b < SLUICE_HIST_BUCKETS; b++) {
			bounds[b] = (double)(1ull << b) / 1e6;
			acc += st[i].fsync_hist[b];
			cum[b] = acc;
			/* Midpoint estimate: the storage histogram keeps counts, not sums. */
			sum += (double)st[i].fsync_hist[b] * bounds[b] * 0.75;
		}
		s->histogram(s->ctx, "sluice_partition_fsync_duration_seconds", l, 2, bounds, cum,
			     SLUICE_HIST_BUCKETS, sum, acc > st[i].fsyncs ? acc : st[i].fsyncs);
	}
	fam(s, "sluice_log_ingest_to_durable_seconds", SLUICE_METRIC_HISTOGRAM,
	    "Ingest to durable latency: from a batch's first record arriving at a worker to the "
	    "durable offset passing the batch");
	for (uint32_t i = 0; i < n; i++) {
		struct sluice_label l[2] = {{"topic", st[i].topic}, {"partition", pn[i]}};
		uint64_t hist[SLUICE_HIST_BUCKETS], sum_us;

		sluice_partition_ingest_durable_hist(sluice_log_partition(d->log, i), hist,
						     &sum_us);
		hist_log2_us(s, "sluice_log_ingest_to_durable_seconds", l, 2, hist,
			     (double)sum_us / 1e6);
	}
out:
	free(st);
	free(pn);
}

/* Storage writer threads: stalls (the writer could not take the next batch) by cause. */
static void collect_writers(struct sluice_daemon *d, const struct sluice_metric_sink *s)
{
	uint32_t n = d->log ? sluice_log_writer_count(d->log) : 0;

	if (!n)
		return;
	fam(s, "sluice_writer_stalls_total", SLUICE_METRIC_COUNTER,
	    "Times a storage writer could not take the next batch, by what it waited for");
	for (uint32_t w = 0; w < n; w++) {
		struct sluice_writer_stats ws;
		char id[12];

		sluice_log_writer_stats(d->log, w, &ws);
		snprintf(id, sizeof(id), "%u", w);
		for (int c = SLUICE_WRITER_CAUSE_DEVICE; c < SLUICE_WRITER_CAUSE__COUNT; c++) {
			struct sluice_label l[2] = {
				{"writer", id},
				{"cause", sluice_writer_cause_name((enum sluice_writer_cause)c)}};
			smp(s, "sluice_writer_stalls_total", l, 2, (double)ws.stalls[c]);
		}
	}
	fam(s, "sluice_writer_stall_seconds", SLUICE_METRIC_HISTOGRAM,
	    "How long each storage writer stall lasted");
	for (uint32_t w = 0; w < n; w++) {
		struct sluice_writer_stats ws;
		char id[12];
		struct sluice_label l = {"writer", id};

		sluice_log_writer_stats(d->log, w, &ws);
		snprintf(id, sizeof(id), "%u", w);
		hist_log2_us(s, "sluice_writer_stall_seconds", &l, 1, ws.stall_hist,
			     (double)ws.stall_ns / 1e9);
	}
}

static void collect_forwarder(struct sluice_daemon *d, const struct sluice_metric_sink *s)
{
	struct sluice_fwd_stats fs;
	struct sluice_fwd_partition_stats *ps;
	uint32_t n = d->log ? sluice_log_partition_count(d->log) : 0;
	/* enum sluice_fwd_state order, then "off": no forwarder at all. */
	static const char *const states[SLUICE_FWD__STATES + 1] = {
		"stopped", "resuming", "running", "broker_down", "draining", "fenced", "off"};
	static const enum sluice_config_forwarding modes[] = {SLUICE_CONFIG_FORWARD_OFF,
							      SLUICE_CONFIG_FORWARD_KAFKA,
							      SLUICE_CONFIG_FORWARD_EMBEDDED};

	fam(s, "sluice_forwarder_mode", SLUICE_METRIC_GAUGE,
	    "1 for where the log is forwarded: off (store only), kafka, or embedded (the "
	    "in-memory demo cluster)");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct sluice_label l = {"mode", sluice_config_forwarding_name(modes[i])};
		smp(s, "sluice_forwarder_mode", &l, 1, d->forwarding == modes[i]);
	}
	ps = NULL;
	if (d->fwd) {
		ps = calloc(n ? n : 1, sizeof(*ps));
		sluice_fwd_stats(d->fwd, &fs, ps, ps ? n : 0);
	}
	fam(s, "sluice_forwarder_state", SLUICE_METRIC_GAUGE, "1 for the forwarder's state");
	for (int i = 0; i <= SLUICE_FWD__STATES; i++) {
		struct sluice_label l = {"state", states[i]};
		smp(s, "sluice_forwarder_state", &l, 1,
		    d->fwd ? (int)fs.state == i : i == SLUICE_FWD__STATES);
	}
	if (!ps)
		return;
	if (fs.npartitions < n)
		n = fs.npartitions;
	one(s, "sluice_forwarder_delivered_records_total", SLUICE_METRIC_COUNTER,
	    "Records acknowledged by Kafka", (double)fs.delivered_records);
	one(s, "sluice_forwarder_delivered_bytes_total", SLUICE_METRIC_COUNTER,
	    "Bytes acknowledged by Kafka", (double)fs.delivered_bytes);
	one(s, "sluice_forwarder_delivery_errors_total", SLUICE_METRIC_COUNTER,
	    "Error answers to batches (each retried, or resumed from Kafka's tail)",
	    (double)fs.delivery_errors);
	one(s, "sluice_forwarder_retries_total", SLUICE_METRIC_COUNTER,
	    "Batches sent again with the same sequence", (double)fs.retries);
	one(s, "sluice_forwarder_fatal_resets_total", SLUICE_METRIC_COUNTER,
	    "Producer sessions started after the first (epoch bumps)", (double)fs.fatal_resets);
	one(s, "sluice_forwarder_resumes_total", SLUICE_METRIC_COUNTER,
	    "Resume protocol runs (tail reads)", (double)fs.resumes);
	one(s, "sluice_forwarder_broker_down_events_total", SLUICE_METRIC_COUNTER,
	    "All brokers down reports", (double)fs.broker_down_events);
	{
		static const struct {
			const char *name, *help;
			size_t off;
			bool i64;
		} f[] = {
			{"sluice_forwarder_lag_records", "Durable records not yet acknowledged",
			 offsetof(struct sluice_fwd_partition_stats, lag_records), false},
			{"sluice_forwarder_lag_bytes", "Estimated bytes not yet acknowledged",
			 offsetof(struct sluice_fwd_partition_stats, lag_bytes), false},
			{"sluice_forwarder_oldest_unforwarded_age_seconds",
			 "Age of the oldest unforwarded record (-1: none)",
			 offsetof(struct sluice_fwd_partition_stats, oldest_unforwarded_age_ms),
			 true},
			{"sluice_forwarder_retention_drop_eta_seconds",
			 "Seconds until retention would delete unforwarded data (-1: never)",
			 offsetof(struct sluice_fwd_partition_stats, retention_drop_eta_s), true},
		};
		for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
			fam(s, f[k].name, SLUICE_METRIC_GAUGE, f[k].help);
			for (uint32_t i = 0; i < n; i++) {
				char pn[12];
				const char *p = (const char *)&ps[i] + f[k].off;
				struct sluice_label l[2] = {{"topic", ps[i].topic},
							    {"partition", pn}};
				snprintf(pn, sizeof(pn), "%u", ps[i].partition);
				double v = f[k].i64 ? (double)*(const int64_t *)p
						    : (double)*(const uint64_t *)p;
				/* The forwarder keeps milliseconds; Prometheus wants seconds. */
				if (f[k].off ==
					    offsetof(struct sluice_fwd_partition_stats,
						     oldest_unforwarded_age_ms) &&
				    v >= 0)
					v /= 1000.0;
				smp(s, f[k].name, l, 2, v);
			}
		}
	}
	fam(s, "sluice_forwarder_ack_latency_seconds", SLUICE_METRIC_HISTOGRAM,
	    "Durable to Kafka ack latency: from the forwarder reading a durable batch to the "
	    "delivery report of each of its records");
	for (uint32_t i = 0; i < n; i++) {
		char pn[12];
		struct sluice_label l[2] = {{"topic", ps[i].topic}, {"partition", pn}};

		snprintf(pn, sizeof(pn), "%u", ps[i].partition);
		hist_log2_us(s, "sluice_forwarder_ack_latency_seconds", l, 2, ps[i].ack_hist,
			     (double)ps[i].ack_sum_us / 1e6);
	}
	free(ps);
}

static void format_source(const struct sluice_producer_info *info, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (info->family == 4 || info->family == 6)
		inet_ntop(info->family == 4 ? AF_INET : AF_INET6, info->addr, a, sizeof(a));
	snprintf(out, len, info->family == 6 ? "[%s]:%u" : "%s:%u", a, info->port);
}

static void producer_cb(const struct sluice_producer_info *info, void *arg)
{
	struct producer_list *pl = arg;
	struct producer_row *r;

	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 64;
		struct producer_row *g = realloc(pl->rows, cap * sizeof(*g));
		if (!g)
			return;
		pl->rows = g;
		pl->cap = cap;
	}
	r = &pl->rows[pl->n++];
	format_source(info, r->source, sizeof(r->source));
	r->producer_id = info->producer_id;
	r->epoch = info->producer_epoch;
	snprintf(r->topic, sizeof(r->topic), "%s", info->topic ? info->topic : "");
	r->partition = info->partition;
	r->events = info->events;
	r->lost = info->lost;
	r->duplicates = info->duplicates;
	r->last_seen_ms = info->last_seen_ms;
}

static int by_loss(const void *a, const void *b)
{
	const struct producer_row *x = a, *y = b;
	if (x->lost != y->lost)
		return x->lost < y->lost ? 1 : -1;
	if (x->duplicates != y->duplicates)
		return x->duplicates < y->duplicates ? 1 : -1;
	return x->events < y->events ? 1 : x->events > y->events ? -1 : 0;
}

/*
 * Every tracked producer of every worker, most lost first. Reads each worker's live table
 * through the entries' sequence locks: the workers copy nothing and never wait for it.
 * Caller holds d->lock.
 */
void gather_producers(struct sluice_daemon *d, struct producer_list *pl)
{
	memset(pl, 0, sizeof(*pl));
	for (uint32_t w = 0; w < d->nworkers; w++)
		sluice_worker_producers(d->workers[w], producer_cb, pl);
	if (pl->n)
		qsort(pl->rows, pl->n, sizeof(*pl->rows), by_loss);
}

static void collect_producers(struct sluice_daemon *d, const struct sluice_metric_sink *s)
{
	struct producer_list pl;

	gather_producers(d, &pl);
	/* The source is part of a stream's identity: two sources may use one producer id. */
	fam(s, "sluice_producer_lost_events", SLUICE_METRIC_GAUGE,
	    "Events lost by the producers that lost the most (top 10)");
	for (size_t i = 0; i < pl.n && i < TOP_PRODUCERS_METRICS; i++) {
		char id[24], part[12];
		struct sluice_label l[4] = {{"producer_id", id},
					    {"source", pl.rows[i].source},
					    {"topic", pl.rows[i].topic},
					    {"partition", part}};
		snprintf(id, sizeof(id), "%" PRId64, pl.rows[i].producer_id);
		snprintf(part, sizeof(part), "%d", pl.rows[i].partition);
		smp(s, "sluice_producer_lost_events", l, 4, (double)pl.rows[i].lost);
	}
	fam(s, "sluice_producer_duplicate_events", SLUICE_METRIC_GAUGE,
	    "Duplicates dropped for the producers that lost the most (top 10)");
	for (size_t i = 0; i < pl.n && i < TOP_PRODUCERS_METRICS; i++) {
		char id[24], part[12];
		struct sluice_label l[4] = {{"producer_id", id},
					    {"source", pl.rows[i].source},
					    {"topic", pl.rows[i].topic},
					    {"partition", part}};
		snprintf(id, sizeof(id), "%" PRId64, pl.rows[i].producer_id);
		snprintf(part, sizeof(part), "%d", pl.rows[i].partition);
		smp(s, "sluice_producer_duplicate_events", l, 4, (double)pl.rows[i].duplicates);
	}
	free(pl.rows);
}

/* Free and total bytes of storage.data_dir's file system. @return 0 or -errno. */
int disk_space(const struct sluice_daemon *d, uint64_t *free_bytes, uint64_t *size_bytes)
{
	struct statvfs v;

	if (statvfs(d->cfg->storage.data_dir, &v) != 0)
		return -errno;
	*free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
	*size_bytes = (uint64_t)v.f_blocks * v.f_frsize;
	return 0;
}

void sluice_daemon_collect(struct sluice_daemon *d, const struct sluice_metric_sink *sink)
{
	struct totals t;

	pthread_mutex_lock(&d->lock);
	fam(sink, "sluice_info", SLUICE_METRIC_GAUGE, "Build and state of this appliance");
	{
		struct sluice_label l[2] = {{"version", SLUICE_VERSION},
					    {"state", state_names[d->state]}};
		smp(sink, "sluice_info", l, 2, 1);
	}
	one(sink, "sluice_start_time_seconds", SLUICE_METRIC_GAUGE, "Unix time sluiced started",
	    d->start_time_s);
	one(sink, "sluice_startup_duration_seconds", SLUICE_METRIC_GAUGE,
	    "Time from start to running", d->startup_s);
	if (d->state == STATE_RUNNING || d->state == STATE_STOPPING) {
		gather(d, &t);
		fam(sink, "sluice_accounting_events", SLUICE_METRIC_GAUGE,
		    "The accounting chain, stage by stage (see docs/lifecycle.md)");
		{
			static const char *const stage[] = {"nic_received",
							    "nic_missed",
							    "parsed",
							    "rejected_packets",
							    "rejected_datagrams",
							    "rejected_events",
							    "shed",
							    "in_flight",
							    "persisted",
							    "forwarded",
							    "pending"};
			double v[] = {(double)t.nic.ipackets,
				      (double)t.nic.imissed,
				      (double)t.w.events_parsed,
				      (double)t.pkt_rejects,
				      (double)t.dgram_rejects,
				      (double)t.event_rejects,
				      (double)(t.shed + t.storage_shed),
				      (double)(t.in_flight > 0 ? t.in_flight : 0) +
					      (double)t.w.events_open,
				      (double)t.persisted,
				      (double)t.forwarded,
				      (double)t.pending};
			for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
				struct sluice_label l = {"stage", stage[i]};
				smp(sink, "sluice_accounting_events", &l, 1, v[i]);
			}
		}
		one(sink, "sluice_unaccounted_events", SLUICE_METRIC_GAUGE,
		    "Sum of the accounting identities' residues, from one consistent reading: "
		    "0 unless events leaked (a bug)",
		    (double)t.unaccounted);
		{
			uint64_t free_b = 0, size_b = 0;

			if (disk_space(d, &free_b, &size_b) == 0) {
				one(sink, "sluice_storage_disk_free_bytes", SLUICE_METRIC_GAUGE,
				    "Bytes available to sluiced on storage.data_dir's file system",
				    (double)free_b);
				one(sink, "sluice_storage_disk_size_bytes", SLUICE_METRIC_GAUGE,
				    "Size of storage.data_dir's file system", (double)size_b);
			}
		}
		collect_nic(d, sink);
		collect_workers(d, sink);
		collect_partitions(d, sink);
		collect_writers(d, sink);
		collect_forwarder(d, sink);
		collect_producers(d, sink);
		sluice_ctl_server_collect(d->ctl, sink);
	}
	pthread_mutex_unlock(&d->lock);
}
