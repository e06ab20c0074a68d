/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Health: the judge (pure, unit-tested) and the facts it is given under d->lock.
 * Threading: see daemon.c.
 */
#include "daemon_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Health                                                                                     */

static void reason_add(char *buf, size_t len, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void reason_add(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= len)
		return;
	if (*used) {
		n = snprintf(buf + *used, len - *used, "\n");
		*used += n > 0 ? (size_t)n : 0;
		if (*used >= len)
			return;
	}
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	*used += n > 0 ? (size_t)n : 0;
}

int sluice_daemon_health_judge(const struct sluice_config_control *c,
			       const struct sluice_daemon_health_facts *f, char *reason, size_t len)
{
	size_t used = len ? strnlen(reason, len) : 0;
	int bad = 0;

	if (f->unaccounted) {
		reason_add(reason, len, &used,
			   "%" PRIu64 " events unaccounted for in the accounting chain (a bug: "
			   "see docs/lifecycle.md)",
			   f->unaccounted);
		bad++;
	}
	for (uint32_t i = 0; f->lag && i < f->nlag; i++) {
		const struct sluice_daemon_health_lag *l = &f->lag[i];
		uint64_t max_ms = c->health_max_forward_lag_us / 1000;

		if (c->health_max_forward_lag_events &&
		    l->lag_records > c->health_max_forward_lag_events) {
			reason_add(reason, len, &used,
				   "partition %s-%u: forward lag %" PRIu64
				   " records > control.health_max_forward_lag_events = %" PRIu64,
				   l->topic, l->partition, l->lag_records,
				   c->health_max_forward_lag_events);
			bad++;
		}
		if (c->health_max_forward_lag_us && l->oldest_unforwarded_age_ms >= 0 &&
		    (uint64_t)l->oldest_unforwarded_age_ms > max_ms) {
			reason_add(reason, len, &used,
				   "partition %s-%u: oldest unforwarded record is %.1f s old > "
				   "control.health_max_forward_lag = %.1f s",
				   l->topic, l->partition,
				   (double)l->oldest_unforwarded_age_ms / 1e3,
				   (double)c->health_max_forward_lag_us / 1e6);
			bad++;
		}
	}
	if (f->have_disk && f->disk_size_bytes) {
		double pct = 100.0 * (double)f->disk_free_bytes / (double)f->disk_size_bytes;

		if (c->health_min_free_percent && pct < (double)c->health_min_free_percent) {
			reason_add(
				reason, len, &used,
				"disk nearly full: %.1f%% free < control.health_min_free_percent "
				"= %u%%",
				pct, c->health_min_free_percent);
			bad++;
		}
		if (c->health_min_free_bytes && f->disk_free_bytes < c->health_min_free_bytes) {
			reason_add(reason, len, &used,
				   "disk nearly full: %" PRIu64
				   " bytes free < control.health_min_free_bytes = %" PRIu64,
				   f->disk_free_bytes, c->health_min_free_bytes);
			bad++;
		}
	}
	return bad;
}

/* Caller holds d->lock. Returns the number of failing checks. */
int daemon_health_locked(struct sluice_daemon *d, char *reason, size_t len)
{
	struct sluice_daemon_health_facts f = {0};
	struct sluice_daemon_health_lag *lag = NULL;
	struct sluice_fwd_partition_stats *ps = NULL;
	size_t used = 0;
	int bad = 0;

	if (len)
		reason[0] = '\0';
	if (d->state != STATE_RUNNING) {
		reason_add(reason, len, &used, "sluiced is %s", state_names[d->state]);
		return 1;
	}
	for (uint32_t i = 0; i < d->nports; i++) {
		if (!sluice_nic_port_link_up(d->ports[i])) {
			reason_add(reason, len, &used, "port %s: link down", d->cfg->ports[i].name);
			bad++;
		}
	}
	if (d->log) {
		uint32_t n = sluice_log_partition_count(d->log);
		for (uint32_t i = 0; i < n; i++) {
			struct sluice_partition_stats pst;
			sluice_partition_stats(sluice_log_partition(d->log, i), &pst);
			if (pst.failed) {
				reason_add(reason, len, &used,
					   "partition %s-%u failed: %s (refuses writes until "
					   "restart)",
					   pst.topic, pst.partition, strerror(pst.last_errno));
				bad++;
			}
			if (pst.retention_dropped_records) {
				reason_add(reason, len, &used,
					   "partition %s-%u: retention deleted %" PRIu64
					   " unforwarded records",
					   pst.topic, pst.partition, pst.retention_dropped_records);
				bad++;
			}
		}
	}
	if (d->fwd) {
		struct sluice_fwd_stats fs;
		uint32_t n = d->log ? sluice_log_partition_count(d->log) : 0;

		ps = calloc(n ? n : 1, sizeof(*ps));
		lag = calloc(n ? n : 1, sizeof(*lag));
		if (ps && lag) {
			sluice_fwd_stats(d->fwd, &fs, ps, n);
			f.nlag = fs.npartitions < n ? fs.npartitions : n;
			for (uint32_t i = 0; i < f.nlag; i++)
				lag[i] = (struct sluice_daemon_health_lag){
					ps[i].topic, ps[i].partition, ps[i].lag_records,
					ps[i].oldest_unforwarded_age_ms};
			f.lag = lag;
		} else {
			sluice_fwd_stats(d->fwd, &fs, NULL, 0);
		}
		if (fs.state == SLUICE_FWD_BROKER_DOWN) {
			reason_add(reason, len, &used,
				   "forwarder: all Kafka brokers down (the log buffers)");
			bad++;
		}
		if (fs.state == SLUICE_FWD_FENCED) {
			reason_add(reason, len, &used,
				   "forwarder: fenced by another producer with the same "
				   "kafka.transactional_id (nothing is forwarded until restart)");
			bad++;
		}
	}
	{
		struct totals t;

		daemon_gather(d, &t); /* one consistent reading: a residue is a leak, not timing */
		f.unaccounted = t.unaccounted;
	}
	f.have_disk = daemon_disk_space(d, &f.disk_free_bytes, &f.disk_size_bytes) == 0;
	bad += sluice_daemon_health_judge(&d->cfg->control, &f, reason, len);
	free(lag);
	free(ps);
	return bad;
}

int sluice_daemon_health(struct sluice_daemon *d, char *reason, size_t reason_len)
{
	int bad;

	pthread_mutex_lock(&d->lock);
	bad = daemon_health_locked(d, reason, reason_len);
	pthread_mutex_unlock(&d->lock);
	return bad;
}
