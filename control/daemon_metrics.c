/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The metric families sluiced exports, written into a sluice_metric_sink (observe.h).
 * Threading: see daemon.c.
 */
#include "daemon_internal.h"
#include "metric_registry.h"

/* ---------------------------------------------------------------------------------------- */
/* Metrics                                                                                    */

struct emit {
	const struct sluice_metric_sink *s;
};

static void one(const struct sluice_metric_sink *s, enum sluice_metric_id id, double v)
{
	sluice_metric_begin(s, id);
	s->sample(s->ctx, SLUICE_METRIC_NAME(id), NULL, 0, v);
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
	smp(x->s, SLUICE_METRIC_NAME(SLUICE_M_NIC_XSTATS), l, 2, (double)value);
}

static void collect_nic(struct sluice_daemon *d, const struct sluice_metric_sink *s)
{
	static const struct {
		enum sluice_metric_id id;
		size_t off;
	} f[] = {
		{SLUICE_M_NIC_RX_PACKETS_TOTAL, offsetof(struct sluice_nic_stats, ipackets)},
		{SLUICE_M_NIC_RX_BYTES_TOTAL, offsetof(struct sluice_nic_stats, ibytes)},
		{SLUICE_M_NIC_RX_MISSED_PACKETS_TOTAL, offsetof(struct sluice_nic_stats, imissed)},
		{SLUICE_M_NIC_RX_ERRORS_TOTAL, offsetof(struct sluice_nic_stats, ierrors)},
		{SLUICE_M_NIC_RX_NOMBUF_TOTAL, offsetof(struct sluice_nic_stats, rx_nombuf)},
		{SLUICE_M_NIC_TX_PACKETS_TOTAL, offsetof(struct sluice_nic_stats, opackets)},
	};
	struct sluice_nic_stats st[SLUICE_CONFIG_MAX_PORTS];

	for (uint32_t p = 0; p < d->nports; p++)
		if (daemon_nic_stats(d, p, &st[p]) != 0)
			memset(&st[p], 0, sizeof(st[p]));
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		sluice_metric_begin(s, f[i].id);
		for (uint32_t p = 0; p < d->nports; p++) {
			struct sluice_label l = {"port", d->cfg->ports[p].name};
			smp(s, SLUICE_METRIC_NAME(f[i].id), &l, 1,
			    (double)*(const uint64_t *)((const char *)&st[p] + f[i].off));
		}
	}
	sluice_metric_begin(s, SLUICE_M_NIC_LINK_UP);
	for (uint32_t p = 0; p < d->nports; p++) {
		struct sluice_label l = {"port", d->cfg->ports[p].name};
		smp(s, SLUICE_METRIC_NAME(SLUICE_M_NIC_LINK_UP), &l, 1,
		    sluice_nic_port_link_up(d->ports[p]));
	}
	sluice_metric_begin(s, SLUICE_M_NIC_XSTATS);
	for (uint32_t p = 0; p < d->nports; p++) {
		struct xstat_ctx x = {s, d->cfg->ports[p].name};
		sluice_nic_port_xstats(d->ports[p], xstat_cb, &x);
	}
}

static void collect_workers(struct sluice_daemon *d, const struct sluice_metric_sink *s)
{
	static const struct {
		enum sluice_metric_id id;
		size_t off;
	} f[] = {
#define WF(id, field) {id, offsetof(struct sluice_worker_stats, field)}
		WF(SLUICE_M_WORKER_RX_PACKETS_TOTAL, rx_packets),
		WF(SLUICE_M_WORKER_RX_BYTES_TOTAL, rx_bytes),
		WF(SLUICE_M_WORKER_CONTROL_PACKETS_TOTAL, ctrl_packets),
		WF(SLUICE_M_WORKER_DATAGRAMS_TOTAL, datagrams),
		WF(SLUICE_M_WORKER_DATAGRAMS_ACCEPTED_TOTAL, datagrams_accepted),
		WF(SLUICE_M_WORKER_EVENTS_DECODED_TOTAL, events_decoded),
		WF(SLUICE_M_WORKER_EVENTS_PARSED_TOTAL, events_parsed),
		WF(SLUICE_M_WORKER_EVENTS_ENQUEUED_TOTAL, events_enqueued),
		WF(SLUICE_M_WORKER_EVENTS_OPEN, events_open),
		WF(SLUICE_M_WORKER_BATCHES_ENQUEUED_TOTAL, batches_enqueued),
		WF(SLUICE_M_WORKER_BUSY_CYCLES_TOTAL, busy_cycles),
		WF(SLUICE_M_WORKER_IDLE_CYCLES_TOTAL, idle_cycles),
		WF(SLUICE_M_WORKER_BLOCKED_CYCLES_TOTAL, blocked_cycles),
		WF(SLUICE_M_WORKER_IDLE_SLEEPS_TOTAL, idle_sleeps),
		WF(SLUICE_M_WORKER_PRODUCERS_ACTIVE, producers_active),
		WF(SLUICE_M_WORKER_PRODUCER_LOST_EVENTS_TOTAL, producer_lost),
		WF(SLUICE_M_WORKER_PRODUCER_DUPLICATE_EVENTS_TOTAL, producer_duplicates),
		WF(SLUICE_M_WORKER_PRODUCER_EVICTIONS_TOTAL, producer_evictions),
		WF(SLUICE_M_WORKER_PRODUCER_UNTRACKED_BATCHES_TOTAL, producer_untracked),
		WF(SLUICE_M_WORKER_SOURCE_OVERFLOW_DATAGRAMS_TOTAL, source_overflow),
		WF(SLUICE_M_WORKER_ACK_BATCHES_TOTAL, ack_batches),
		WF(SLUICE_M_WORKER_ACK_EVENTS_TOTAL, ack_events),
		WF(SLUICE_M_WORKER_ACK_DUPLICATE_EVENTS_TOTAL, ack_duplicates),
		WF(SLUICE_M_WORKER_ACKS_SENT_TOTAL, acks_sent),
		WF(SLUICE_M_WORKER_ACK_TX_FULL_TOTAL, ack_tx_full),
		WF(SLUICE_M_WORKER_ACK_RECOVERED_TOTAL, ack_recovered),
		WF(SLUICE_M_WORKER_ACK_ROLLBACKS_TOTAL, ack_rollbacks),
#undef WF
	};
	struct sluice_worker_stats st[MAX_WORKERS];
	char ids[MAX_WORKERS][12];

	for (uint32_t w = 0; w < d->nworkers; w++) {
		sluice_worker_stats(d->workers[w], &st[w]);
		snprintf(ids[w], sizeof(ids[w]), "%u", w);
	}
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		sluice_metric_begin(s, f[i].id);
		for (uint32_t w = 0; w < d->nworkers; w++) {
			struct sluice_label l = {"worker", ids[w]};
			smp(s, SLUICE_METRIC_NAME(f[i].id), &l, 1,
			    (double)*(const uint64_t *)((const char *)&st[w] + f[i].off));
		}
	}
	sluice_metric_begin(s, SLUICE_M_WORKER_REJECTED_TOTAL);
	for (uint32_t w = 0; w < d->nworkers; w++) {
		for (int r = 1; r < SLUICE_DP_REJECT__COUNT; r++) {
			struct sluice_label l[3] = {
				{"worker", ids[w]},
				{"reason", sluice_dp_reject_name((enum sluice_dp_reject)r)},
				{"level",
				 r < SLUICE_DP_REJECT__FIRST_DATAGRAM        ? "packet"
					 : r < SLUICE_DP_REJECT__FIRST_EVENT ? "datagram"
									     : "event"}};
			smp(s, SLUICE_METRIC_NAME(SLUICE_M_WORKER_REJECTED_TOTAL), l, 3,
			    (double)st[w].rejects[r]);
		}
	}
	sluice_metric_begin(s, SLUICE_M_WORKER_KAFKA_BATCH_ERRORS_TOTAL);
	for (uint32_t w = 0; w < d->nworkers; w++) {
		for (int e = 1; e < SLUICE_RB__COUNT; e++) {
			struct sluice_label l[2] = {{"worker", ids[w]},
						    {"error", sluice_rb_strerror(e)}};
			smp(s, SLUICE_METRIC_NAME(SLUICE_M_WORKER_KAFKA_BATCH_ERRORS_TOTAL), l, 2,
			    (double)st[w].batch_errors[e]);
		}
	}
	sluice_metric_begin(s, SLUICE_M_WORKER_SHED_EVENTS_TOTAL);
	for (uint32_t w = 0; w < d->nworkers; w++) {
		for (int r = 0; r < SLUICE_DP_SHED__COUNT; r++) {
			struct sluice_label l[2] = {
				{"worker", ids[w]},
				{"reason", sluice_dp_shed_name((enum sluice_dp_shed)r)}};
			smp(s, SLUICE_METRIC_NAME(SLUICE_M_WORKER_SHED_EVENTS_TOTAL), l, 2,
			    (double)st[w].shed[r]);
		}
	}
	sluice_metric_begin(s, SLUICE_M_WORKER_SHED_CAUSE_EVENTS_TOTAL);
	for (uint32_t w = 0; w < d->nworkers; w++) {
		for (int c = 0; c < SLUICE_WRITER_CAUSE__COUNT; c++) {
			struct sluice_label l[2] = {
				{"worker", ids[w]},
				{"cause", sluice_writer_cause_name((enum sluice_writer_cause)c)}};
			smp(s, SLUICE_METRIC_NAME(SLUICE_M_WORKER_SHED_CAUSE_EVENTS_TOTAL), l, 2,
			    (double)st[w].shed_cause[c]);
		}
	}
	if (d->log) {
		uint32_t nwriters = sluice_log_writer_count(d->log);

		/* A ring that stays near full means its writer cannot keep up: the worker will
		 * shed (drop) or stall (block) next. Reading the count is safe from any thread. */
		sluice_metric_begin(s, SLUICE_M_WORKER_RING_FILL_RATIO);
		for (uint32_t w = 0; w < d->nworkers; w++) {
			for (uint32_t wr = 0; wr < nwriters; wr++) {
				struct rte_ring *r = sluice_log_ring(d->log, w, wr);
				char wid[12];
				struct sluice_label l[2] = {{"worker", ids[w]}, {"writer", wid}};

				if (!r || rte_ring_get_capacity(r) == 0)
					continue;
				snprintf(wid, sizeof(wid), "%u", wr);
				smp(s, SLUICE_METRIC_NAME(SLUICE_M_WORKER_RING_FILL_RATIO), l, 2,
				    (double)rte_ring_count(r) / (double)rte_ring_get_capacity(r));
			}
		}
	}
	sluice_metric_begin(s, SLUICE_M_WORKER_BATCHES_SEALED_TOTAL);
	for (uint32_t w = 0; w < d->nworkers; w++) {
		const char *cause[] = {"size", "linger", "flush", "passthrough"};
		uint64_t v[] = {st[w].batches_sealed_size, st[w].batches_sealed_linger,
				st[w].batches_sealed_flush, st[w].batches_passthrough};
		for (int c = 0; c < 4; c++) {
			struct sluice_label l[2] = {{"worker", ids[w]}, {"cause", cause[c]}};
			smp(s, SLUICE_METRIC_NAME(SLUICE_M_WORKER_BATCHES_SEALED_TOTAL), l, 2,
			    (double)v[c]);
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
		enum sluice_metric_id id;
		size_t off;
		bool i64;
	} f[] = {
#define PF(id, field, i) {id, offsetof(struct sluice_partition_stats, field), i}
		PF(SLUICE_M_PARTITION_LOG_START_OFFSET, log_start_offset, true),
		PF(SLUICE_M_PARTITION_LOG_END_OFFSET, log_end_offset, true),
		PF(SLUICE_M_PARTITION_DURABLE_OFFSET, durable_offset, true),
		PF(SLUICE_M_PARTITION_FORWARDED_OFFSET, forwarded_offset, true),
		PF(SLUICE_M_PARTITION_APPENDED_RECORDS_TOTAL, appended_records, false),
		PF(SLUICE_M_PARTITION_APPENDED_BYTES_TOTAL, appended_bytes, false),
		PF(SLUICE_M_PARTITION_PERSISTED_RECORDS_TOTAL, durable_records, false),
		PF(SLUICE_M_PARTITION_SHED_RECORDS_TOTAL, shed_records, false),
		PF(SLUICE_M_PARTITION_ROLLS_TOTAL, rolls, false),
		PF(SLUICE_M_PARTITION_SEGMENTS, segments, false),
		PF(SLUICE_M_PARTITION_DISK_BYTES, bytes_on_disk, false),
		PF(SLUICE_M_PARTITION_FSYNCS_TOTAL, fsyncs, false),
		PF(SLUICE_M_PARTITION_WRITE_ERRORS_TOTAL, write_errors, false),
		PF(SLUICE_M_PARTITION_FSYNC_ERRORS_TOTAL, fsync_errors, false),
		PF(SLUICE_M_PARTITION_RETENTION_DELETED_SEGMENTS_TOTAL, retention_deleted_segments,
		   false),
		PF(SLUICE_M_PARTITION_RETENTION_DROPPED_RECORDS_TOTAL, retention_dropped_records,
		   false),
		PF(SLUICE_M_PARTITION_RECOVERY_TRUNCATED_BYTES_TOTAL, recovery_truncated_bytes,
		   false),
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
		sluice_metric_begin(s, f[k].id);
		for (uint32_t i = 0; i < n; i++) {
			struct sluice_label l[2] = {{"topic", st[i].topic}, {"partition", pn[i]}};
			const char *p = (const char *)&st[i] + f[k].off;
			double v = f[k].i64 ? (double)*(const int64_t *)p
					    : (double)*(const uint64_t *)p;
			smp(s, SLUICE_METRIC_NAME(f[k].id), l, 2, v);
		}
	}
	sluice_metric_begin(s, SLUICE_M_PARTITION_SHED_REASON_RECORDS_TOTAL);
	for (uint32_t i = 0; i < n; i++) {
		for (int r = 0; r < SLUICE_STORAGE_SHED__COUNT; r++) {
			struct sluice_label l[3] = {
				{"topic", st[i].topic},
				{"partition", pn[i]},
				{"reason", sluice_storage_shed_name((enum sluice_storage_shed)r)}};
			smp(s, SLUICE_METRIC_NAME(SLUICE_M_PARTITION_SHED_REASON_RECORDS_TOTAL), l,
			    3, (double)st[i].shed_reason[r]);
		}
	}
	sluice_metric_begin(s, SLUICE_M_PARTITION_FAILED);
	for (uint32_t i = 0; i < n; i++) {
		struct sluice_label l[2] = {{"topic", st[i].topic}, {"partition", pn[i]}};
		smp(s, SLUICE_METRIC_NAME(SLUICE_M_PARTITION_FAILED), l, 2, st[i].failed);
	}
	sluice_metric_begin(s, SLUICE_M_PARTITION_FSYNC_DURATION_SECONDS);
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
		s->histogram(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_PARTITION_FSYNC_DURATION_SECONDS),
			     l, 2, bounds, cum, SLUICE_HIST_BUCKETS, sum,
			     acc > st[i].fsyncs ? acc : st[i].fsyncs);
	}
	sluice_metric_begin(s, SLUICE_M_LOG_INGEST_TO_DURABLE_SECONDS);
	for (uint32_t i = 0; i < n; i++) {
		struct sluice_label l[2] = {{"topic", st[i].topic}, {"partition", pn[i]}};
		uint64_t hist[SLUICE_HIST_BUCKETS], sum_us;

		sluice_partition_ingest_durable_hist(sluice_log_partition(d->log, i), hist,
						     &sum_us);
		hist_log2_us(s, SLUICE_METRIC_NAME(SLUICE_M_LOG_INGEST_TO_DURABLE_SECONDS), l, 2,
			     hist, (double)sum_us / 1e6);
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
	sluice_metric_begin(s, SLUICE_M_WRITER_STALLS_TOTAL);
	for (uint32_t w = 0; w < n; w++) {
		struct sluice_writer_stats ws;
		char id[12];

		sluice_log_writer_stats(d->log, w, &ws);
		snprintf(id, sizeof(id), "%u", w);
		for (int c = SLUICE_WRITER_CAUSE_DEVICE; c < SLUICE_WRITER_CAUSE__COUNT; c++) {
			struct sluice_label l[2] = {
				{"writer", id},
				{"cause", sluice_writer_cause_name((enum sluice_writer_cause)c)}};
			smp(s, SLUICE_METRIC_NAME(SLUICE_M_WRITER_STALLS_TOTAL), l, 2,
			    (double)ws.stalls[c]);
		}
	}
	sluice_metric_begin(s, SLUICE_M_WRITER_STALL_SECONDS);
	for (uint32_t w = 0; w < n; w++) {
		struct sluice_writer_stats ws;
		char id[12];
		struct sluice_label l = {"writer", id};

		sluice_log_writer_stats(d->log, w, &ws);
		snprintf(id, sizeof(id), "%u", w);
		hist_log2_us(s, SLUICE_METRIC_NAME(SLUICE_M_WRITER_STALL_SECONDS), &l, 1,
			     ws.stall_hist, (double)ws.stall_ns / 1e9);
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

	sluice_metric_begin(s, SLUICE_M_FORWARDER_MODE);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct sluice_label l = {"mode", sluice_config_forwarding_name(modes[i])};
		smp(s, SLUICE_METRIC_NAME(SLUICE_M_FORWARDER_MODE), &l, 1,
		    d->forwarding == modes[i]);
	}
	ps = NULL;
	if (d->fwd) {
		ps = calloc(n ? n : 1, sizeof(*ps));
		sluice_fwd_stats(d->fwd, &fs, ps, ps ? n : 0);
	}
	sluice_metric_begin(s, SLUICE_M_FORWARDER_STATE);
	for (int i = 0; i <= SLUICE_FWD__STATES; i++) {
		struct sluice_label l = {"state", states[i]};
		smp(s, SLUICE_METRIC_NAME(SLUICE_M_FORWARDER_STATE), &l, 1,
		    d->fwd ? (int)fs.state == i : i == SLUICE_FWD__STATES);
	}
	if (!ps)
		return;
	if (fs.npartitions < n)
		n = fs.npartitions;
	one(s, SLUICE_M_FORWARDER_DELIVERED_RECORDS_TOTAL, (double)fs.delivered_records);
	one(s, SLUICE_M_FORWARDER_DELIVERED_BYTES_TOTAL, (double)fs.delivered_bytes);
	one(s, SLUICE_M_FORWARDER_DELIVERY_ERRORS_TOTAL, (double)fs.delivery_errors);
	one(s, SLUICE_M_FORWARDER_RETRIES_TOTAL, (double)fs.retries);
	one(s, SLUICE_M_FORWARDER_FATAL_RESETS_TOTAL, (double)fs.fatal_resets);
	one(s, SLUICE_M_FORWARDER_RESUMES_TOTAL, (double)fs.resumes);
	one(s, SLUICE_M_FORWARDER_BROKER_DOWN_EVENTS_TOTAL, (double)fs.broker_down_events);
	{
		static const struct {
			enum sluice_metric_id id;
			size_t off;
			bool i64;
		} f[] = {
			{SLUICE_M_FORWARDER_LAG_RECORDS,
			 offsetof(struct sluice_fwd_partition_stats, lag_records), false},
			{SLUICE_M_FORWARDER_LAG_BYTES,
			 offsetof(struct sluice_fwd_partition_stats, lag_bytes), false},
			{SLUICE_M_FORWARDER_OLDEST_UNFORWARDED_AGE_SECONDS,
			 offsetof(struct sluice_fwd_partition_stats, oldest_unforwarded_age_ms),
			 true},
			{SLUICE_M_FORWARDER_RETENTION_DROP_ETA_SECONDS,
			 offsetof(struct sluice_fwd_partition_stats, retention_drop_eta_s), true},
		};
		for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
			sluice_metric_begin(s, f[k].id);
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
				smp(s, SLUICE_METRIC_NAME(f[k].id), l, 2, v);
			}
		}
	}
	sluice_metric_begin(s, SLUICE_M_FORWARDER_ACK_LATENCY_SECONDS);
	for (uint32_t i = 0; i < n; i++) {
		char pn[12];
		struct sluice_label l[2] = {{"topic", ps[i].topic}, {"partition", pn}};

		snprintf(pn, sizeof(pn), "%u", ps[i].partition);
		hist_log2_us(s, SLUICE_METRIC_NAME(SLUICE_M_FORWARDER_ACK_LATENCY_SECONDS), l, 2,
			     ps[i].ack_hist, (double)ps[i].ack_sum_us / 1e6);
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
void daemon_gather_producers(struct sluice_daemon *d, struct producer_list *pl)
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

	daemon_gather_producers(d, &pl);
	/* The source is part of a stream's identity: two sources may use one producer id. */
	sluice_metric_begin(s, SLUICE_M_PRODUCER_LOST_EVENTS);
	for (size_t i = 0; i < pl.n && i < TOP_PRODUCERS_METRICS; i++) {
		char id[24], part[12];
		struct sluice_label l[4] = {{"producer_id", id},
					    {"source", pl.rows[i].source},
					    {"topic", pl.rows[i].topic},
					    {"partition", part}};
		snprintf(id, sizeof(id), "%" PRId64, pl.rows[i].producer_id);
		snprintf(part, sizeof(part), "%d", pl.rows[i].partition);
		smp(s, SLUICE_METRIC_NAME(SLUICE_M_PRODUCER_LOST_EVENTS), l, 4,
		    (double)pl.rows[i].lost);
	}
	sluice_metric_begin(s, SLUICE_M_PRODUCER_DUPLICATE_EVENTS);
	for (size_t i = 0; i < pl.n && i < TOP_PRODUCERS_METRICS; i++) {
		char id[24], part[12];
		struct sluice_label l[4] = {{"producer_id", id},
					    {"source", pl.rows[i].source},
					    {"topic", pl.rows[i].topic},
					    {"partition", part}};
		snprintf(id, sizeof(id), "%" PRId64, pl.rows[i].producer_id);
		snprintf(part, sizeof(part), "%d", pl.rows[i].partition);
		smp(s, SLUICE_METRIC_NAME(SLUICE_M_PRODUCER_DUPLICATE_EVENTS), l, 4,
		    (double)pl.rows[i].duplicates);
	}
	free(pl.rows);
}

/* Free and total bytes of storage.data_dir's file system. @return 0 or -errno. */
int daemon_disk_space(const struct sluice_daemon *d, uint64_t *free_bytes, uint64_t *size_bytes)
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
	sluice_metric_begin(sink, SLUICE_M_INFO);
	{
		struct sluice_label l[2] = {{"version", SLUICE_VERSION},
					    {"state", state_names[d->state]}};
		smp(sink, SLUICE_METRIC_NAME(SLUICE_M_INFO), l, 2, 1);
	}
	one(sink, SLUICE_M_START_TIME_SECONDS, d->start_time_s);
	one(sink, SLUICE_M_STARTUP_DURATION_SECONDS, d->startup_s);
	if (d->state == STATE_RUNNING || d->state == STATE_STOPPING) {
		daemon_gather(d, &t);
		sluice_metric_begin(sink, SLUICE_M_ACCOUNTING_EVENTS);
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
				smp(sink, SLUICE_METRIC_NAME(SLUICE_M_ACCOUNTING_EVENTS), &l, 1,
				    v[i]);
			}
		}
		one(sink, SLUICE_M_UNACCOUNTED_EVENTS, (double)t.unaccounted);
		{
			uint64_t free_b = 0, size_b = 0;

			if (daemon_disk_space(d, &free_b, &size_b) == 0) {
				one(sink, SLUICE_M_STORAGE_DISK_FREE_BYTES, (double)free_b);
				one(sink, SLUICE_M_STORAGE_DISK_SIZE_BYTES, (double)size_b);
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
