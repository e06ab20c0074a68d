/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Control-socket requests: one handler per command, dispatched by sluice_daemon_request().
 * Threading: see daemon.c.
 */
#include "daemon_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                   */

static json_t *reply_ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static json_t *reply_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *reply_err(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b,s:s}", "ok", 0, "error", msg);
}

static json_t *reasons_array(struct sluice_daemon *d, bool *healthy)
{
	char reason[4096];
	json_t *a = json_array();
	char *save = NULL;

	*healthy = daemon_health_locked(d, reason, sizeof(reason)) == 0;
	if (!*healthy)
		for (char *tok = strtok_r(reason, "\n", &save); tok;
		     tok = strtok_r(NULL, "\n", &save))
			json_array_append_new(a, json_string(tok));
	return a;
}

static json_t *req_status(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	(void)cmd;
	(void)args;
	json_t *r = reply_ok();
	json_t *ports = json_array(), *workers = json_array();
	struct timespec now;
	bool healthy;

	clock_gettime(CLOCK_MONOTONIC, &now);
	json_object_set_new(r, "state", json_string(state_names[d->state]));
	json_object_set_new(r, "version", json_string(SLUICE_VERSION));
	json_object_set_new(r, "pid", json_integer(getpid()));
	json_object_set_new(r, "uptime_s",
			    json_real(d->state == STATE_RUNNING
					      ? sluice_ts_s(&now) - sluice_ts_s(&d->started_mono)
					      : 0));
	json_object_set_new(r, "startup_ms", json_real(d->startup_s * 1e3));
	json_object_set_new(r, "alarms", reasons_array(d, &healthy));
	json_object_set_new(r, "healthy", json_boolean(healthy));
	json_object_set_new(r, "file_prefix", json_string(d->file_prefix));
	json_object_set_new(r, "data_dir", json_string(d->cfg->storage.data_dir));
	if (d->config_path)
		json_object_set_new(r, "config_file", json_string(d->config_path));
	if (d->last_reload)
		json_object_set_new(r, "last_reload", json_deep_copy(d->last_reload));
	json_object_set_new(r, "appliance_id", json_string(d->appliance_id));
	json_object_set_new(r, "forwarding",
			    json_string(sluice_config_forwarding_name(d->forwarding)));
	if (d->bootstrap[0])
		json_object_set_new(r, "kafka_bootstrap", json_string(d->bootstrap));
	json_object_set_new(r, "kafka_embedded", json_boolean(d->embedded != NULL));
	{
		json_t *w = json_array();

		if (d->forwarding == SLUICE_CONFIG_FORWARD_EMBEDDED)
			json_array_append_new(
				w,
				json_string("kafka.brokers = embedded: demo mode, the Kafka "
					    "cluster is in memory and keeps only the newest 5 MiB "
					    "per partition; retention keeps the whole log"));
		json_object_set_new(r, "warnings", w);
	}
	if (d->http)
		json_object_set_new(r, "metrics_port",
				    json_integer(sluice_metrics_http_port(d->http)));
	for (uint32_t i = 0; i < d->nports; i++) {
		struct sluice_nic_stats st = {0};
		daemon_nic_stats(d, i, &st);
		json_array_append_new(
			ports,
			json_pack("{s:s,s:s,s:b,s:I,s:I,s:I}", "name", d->cfg->ports[i].name,
				  "device", d->cfg->ports[i].device, "link",
				  sluice_nic_port_link_up(d->ports[i]), "rx_packets",
				  (json_int_t)st.ipackets, "rx_missed", (json_int_t)st.imissed,
				  "rx_bytes", (json_int_t)st.ibytes));
	}
	for (uint32_t w = 0; w < d->nworkers; w++) {
		struct sluice_worker_stats st;
		uint64_t total;
		sluice_worker_stats(d->workers[w], &st);
		total = st.busy_cycles + st.idle_cycles + st.blocked_cycles;
		json_array_append_new(
			workers,
			json_pack("{s:i,s:i,s:I,s:I,s:I,s:f}", "worker", (int)w, "lcore",
				  (int)d->worker_lcore[w], "rx_packets", (json_int_t)st.rx_packets,
				  "events", (json_int_t)st.events_parsed, "idle_sleeps",
				  (json_int_t)st.idle_sleeps, "busy_pct",
				  total ? 100.0 * (double)st.busy_cycles / (double)total : 0.0));
	}
	json_object_set_new(r, "ports", ports);
	json_object_set_new(r, "workers", workers);
	json_object_set_new(r, "writers", json_integer(d->cfg->storage.writers));
	if (d->fwd) {
		struct sluice_fwd_stats fs;
		sluice_fwd_stats(d->fwd, &fs, NULL, 0);
		json_object_set_new(r, "forwarder",
				    json_pack("{s:s,s:I,s:b}", "state",
					      sluice_fwd_state_name(fs.state), "delivered",
					      (json_int_t)fs.delivered_records, "transactional",
					      fs.transactional));
	} else {
		json_object_set_new(r, "forwarder", json_pack("{s:s}", "state", "off"));
	}
	return r;
}

static json_t *req_stats(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	(void)cmd;
	(void)args;
	struct totals t;
	json_t *r, *rej = json_object(), *shed = json_object(), *batch = json_object();
	json_t *cause = json_object(), *sreason = json_object();

	if (d->state != STATE_RUNNING && d->state != STATE_STOPPING) {
		json_decref(rej);
		json_decref(shed);
		json_decref(batch);
		json_decref(cause);
		json_decref(sreason);
		return reply_err("sluiced is %s", state_names[d->state]);
	}
	daemon_gather(d, &t);
	for (int i = 1; i < SLUICE_DP_REJECT__COUNT; i++)
		if (t.w.rejects[i])
			json_object_set_new(rej, sluice_dp_reject_name((enum sluice_dp_reject)i),
					    json_integer((json_int_t)t.w.rejects[i]));
	for (int i = 0; i < SLUICE_DP_SHED__COUNT; i++)
		if (t.w.shed[i])
			json_object_set_new(shed, sluice_dp_shed_name((enum sluice_dp_shed)i),
					    json_integer((json_int_t)t.w.shed[i]));
	if (t.storage_shed)
		json_object_set_new(shed, "partition_failed",
				    json_integer((json_int_t)t.storage_shed));
	for (int i = 0; i < SLUICE_WRITER_CAUSE__COUNT; i++)
		if (t.w.shed_cause[i])
			json_object_set_new(cause,
					    sluice_writer_cause_name((enum sluice_writer_cause)i),
					    json_integer((json_int_t)t.w.shed_cause[i]));
	for (int i = 0; i < SLUICE_STORAGE_SHED__COUNT; i++)
		if (t.storage_shed_reason[i])
			json_object_set_new(sreason,
					    sluice_storage_shed_name((enum sluice_storage_shed)i),
					    json_integer((json_int_t)t.storage_shed_reason[i]));
	for (int i = 1; i < SLUICE_RB__COUNT; i++)
		if (t.w.batch_errors[i])
			json_object_set_new(batch, sluice_rb_strerror(i),
					    json_integer((json_int_t)t.w.batch_errors[i]));
	r = reply_ok();
	json_object_set_new(r, "nic_received", json_integer((json_int_t)t.nic.ipackets));
	json_object_set_new(r, "nic_missed", json_integer((json_int_t)t.nic.imissed));
	json_object_set_new(r, "nic_rx_bytes", json_integer((json_int_t)t.nic.ibytes));
	json_object_set_new(r, "rx_packets", json_integer((json_int_t)t.w.rx_packets));
	json_object_set_new(r, "control_packets", json_integer((json_int_t)t.w.ctrl_packets));
	json_object_set_new(r, "datagrams", json_integer((json_int_t)t.w.datagrams));
	json_object_set_new(r, "events_decoded", json_integer((json_int_t)t.w.events_decoded));
	json_object_set_new(r, "parsed", json_integer((json_int_t)t.w.events_parsed));
	json_object_set_new(r, "rejected", rej);
	json_object_set_new(r, "kafka_batch_errors", batch);
	json_object_set_new(r, "enqueued", json_integer((json_int_t)t.w.events_enqueued));
	json_object_set_new(r, "open", json_integer((json_int_t)t.w.events_open));
	json_object_set_new(r, "in_flight",
			    json_integer((json_int_t)(t.in_flight > 0 ? t.in_flight : 0)));
	json_object_set_new(r, "persisted", json_integer((json_int_t)t.persisted));
	json_object_set_new(r, "shed", shed);
	json_object_set_new(r, "shed_cause", cause);
	json_object_set_new(r, "shed_storage", sreason);
	json_object_set_new(r, "forwarded", json_integer((json_int_t)t.forwarded));
	json_object_set_new(r, "pending", json_integer((json_int_t)t.pending));
	json_object_set_new(r, "producer_lost", json_integer((json_int_t)t.w.producer_lost));
	json_object_set_new(r, "producer_duplicates",
			    json_integer((json_int_t)t.w.producer_duplicates));
	json_object_set_new(r, "producer_evictions",
			    json_integer((json_int_t)t.w.producer_evictions));
	json_object_set_new(r, "producer_untracked_batches",
			    json_integer((json_int_t)t.w.producer_untracked));
	json_object_set_new(r, "source_overflow_datagrams",
			    json_integer((json_int_t)t.w.source_overflow));
	json_object_set_new(r, "ack_batches", json_integer((json_int_t)t.w.ack_batches));
	json_object_set_new(r, "ack_events", json_integer((json_int_t)t.w.ack_events));
	json_object_set_new(r, "ack_duplicates", json_integer((json_int_t)t.w.ack_duplicates));
	json_object_set_new(r, "acks_sent", json_integer((json_int_t)t.w.acks_sent));
	json_object_set_new(r, "ack_tx_full", json_integer((json_int_t)t.w.ack_tx_full));
	json_object_set_new(r, "ack_recovered", json_integer((json_int_t)t.w.ack_recovered));
	json_object_set_new(r, "ack_rollbacks", json_integer((json_int_t)t.w.ack_rollbacks));
	json_object_set_new(r, "bytes_on_disk", json_integer((json_int_t)t.bytes_on_disk));
	json_object_set_new(r, "unaccounted", json_integer((json_int_t)t.unaccounted));
	return r;
}

static json_t *req_producers(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	(void)cmd;
	struct producer_list pl;
	json_t *limit_j = args ? json_object_get(args, "limit") : NULL;
	json_int_t limit = 20;
	json_t *r, *a;

	if (limit_j) {
		if (!json_is_integer(limit_j) || json_integer_value(limit_j) < 1)
			return reply_err("limit must be a positive integer");
		limit = json_integer_value(limit_j);
	}
	daemon_gather_producers(d, &pl);
	a = json_array();
	for (size_t i = 0; i < pl.n && (json_int_t)i < limit; i++) {
		const struct producer_row *p = &pl.rows[i];
		json_array_append_new(a,
				      json_pack("{s:I,s:s,s:i,s:s,s:i,s:I,s:I,s:I,s:I}", "producer",
						(json_int_t)p->producer_id, "source", p->source,
						"epoch", (int)p->epoch, "topic", p->topic,
						"partition", (int)p->partition, "events",
						(json_int_t)p->events, "lost", (json_int_t)p->lost,
						"duplicates", (json_int_t)p->duplicates,
						"last_seen", (json_int_t)p->last_seen_ms));
	}
	r = reply_ok();
	json_object_set_new(r, "producers", a);
	json_object_set_new(r, "total", json_integer((json_int_t)pl.n));
	{
		struct sluice_worker_stats sum = {0};

		for (uint32_t w = 0; w < d->nworkers; w++) {
			struct sluice_worker_stats st;
			sluice_worker_stats(d->workers[w], &st);
			sluice_worker_stats_add(&sum, &st);
		}
		json_object_set_new(r, "evictions",
				    json_integer((json_int_t)sum.producer_evictions));
		json_object_set_new(r, "untracked_batches",
				    json_integer((json_int_t)sum.producer_untracked));
	}
	free(pl.rows);
	return r;
}

static json_t *req_partitions(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	(void)cmd;
	(void)args;
	uint32_t n = d->log ? sluice_log_partition_count(d->log) : 0;
	json_t *a = json_array(), *r;
	struct sluice_fwd_partition_stats *fp = NULL;
	struct sluice_fwd_stats fs = {0};

	if (d->fwd && (fp = calloc(n ? n : 1, sizeof(*fp))) != NULL)
		sluice_fwd_stats(d->fwd, &fs, fp, n);
	for (uint32_t i = 0; i < n; i++) {
		struct sluice_partition_stats ps;
		sluice_partition_stats(sluice_log_partition(d->log, i), &ps);
		/* The forwarder's acknowledged offset is fresher than storage's copy. */
		for (uint32_t j = 0; fp && j < n && j < fs.npartitions; j++)
			if (fp[j].partition == ps.partition && strcmp(fp[j].topic, ps.topic) == 0)
				ps.forwarded_offset = fp[j].forwarded_offset;
		json_array_append_new(a,
				      json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}",
						"topic", ps.topic, "partition", (int)ps.partition,
						"appended", (json_int_t)ps.appended_records,
						"log_start_offset", (json_int_t)ps.log_start_offset,
						"log_end_offset", (json_int_t)ps.log_end_offset,
						"durable_offset", (json_int_t)ps.durable_offset,
						"forwarded_offset", (json_int_t)ps.forwarded_offset,
						"bytes", (json_int_t)ps.bytes_on_disk, "segments",
						(json_int_t)ps.segments, "fsyncs",
						(json_int_t)ps.fsyncs, "state",
						ps.failed ? "failed" : "ok"));
	}
	free(fp);
	r = reply_ok();
	json_object_set_new(r, "partitions", a);
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Segments from the directory listing: the storage API has no segment enumeration. */
static json_t *req_segments(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	(void)cmd;
	json_t *tj = args ? json_object_get(args, "topic") : NULL;
	json_t *pj = args ? json_object_get(args, "partition") : NULL;
	char dir[PATH_MAX];
	uint64_t bases[4096];
	size_t n = 0;
	DIR *dh;
	struct dirent *e;
	json_t *a, *r;

	if (!json_is_string(tj) || !json_is_integer(pj))
		return reply_err("segments needs args topic (string) and partition (integer)");
	if (sluice_log_partition_id(d->log, json_string_value(tj),
				    (uint32_t)json_integer_value(pj)) < 0)
		return reply_err("no partition %s-%" JSON_INTEGER_FORMAT, json_string_value(tj),
				 json_integer_value(pj));
	snprintf(dir, sizeof(dir), "%s/%s-%" JSON_INTEGER_FORMAT, d->cfg->storage.data_dir,
		 json_string_value(tj), json_integer_value(pj));
	dh = opendir(dir);
	if (!dh)
		return reply_err("%s: %s", dir, strerror(errno));
	while ((e = readdir(dh)) && n < sizeof(bases) / sizeof(bases[0])) {
		char *end;
		unsigned long long b;
		if (strlen(e->d_name) != 24 || strcmp(e->d_name + 20, ".log") != 0)
			continue;
		errno = 0;
		b = strtoull(e->d_name, &end, 10);
		if (errno || end != e->d_name + 20)
			continue;
		bases[n++] = b;
	}
	closedir(dh);
	qsort(bases, n, sizeof(bases[0]), cmp_u64);
	a = json_array();
	{
		/* The active segment is preallocated ahead of its tail: its size on disk says
		 * nothing. Its logical size is what the partition holds beyond the others. */
		struct sluice_partition_stats ps;
		uint64_t others = 0;
		int id = sluice_log_partition_id(d->log, json_string_value(tj),
						 (uint32_t)json_integer_value(pj));
		sluice_partition_stats(sluice_log_partition(d->log, (uint32_t)id), &ps);
		for (size_t i = 0; i < n; i++) {
			char path[PATH_MAX + 32];
			struct stat st;
			uint64_t bytes;
			snprintf(path, sizeof(path), "%s/%020" PRIu64 ".log", dir, bases[i]);
			if (stat(path, &st) != 0)
				continue;
			bytes = (uint64_t)st.st_size;
			if (i + 1 == n)
				bytes = ps.bytes_on_disk > others ? ps.bytes_on_disk - others : 0;
			else
				others += bytes;
			json_array_append_new(a,
					      json_pack("{s:I,s:I,s:b,s:s}", "base_offset",
							(json_int_t)bases[i], "bytes",
							(json_int_t)bytes, "active", i + 1 == n,
							"file", path));
		}
	}
	r = reply_ok();
	json_object_set_new(r, "segments", a);
	return r;
}

static void list_cb(const struct sluice_config_item *item, void *arg)
{
	json_t *a = arg;
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:b,s:b,s:s}", "key", item->key, "section",
			      item->section, "value", item->value, "type", item->type, "runtime",
			      item->runtime, "secret", item->secret, "help",
			      item->help ? item->help : "");
	if (item->default_value)
		json_object_set_new(o, "default", json_string(item->default_value));
	else
		json_object_set_new(o, "default", json_null());
	json_array_append_new(a, o);
}

/* Push a runtime-tunable key's new value to the modules that read it. */
static void apply_runtime(struct sluice_daemon *d, const char *key)
{
	const struct sluice_config *cfg = d->cfg;

	/* Each module applies its own section (only runtime-tunable keys get here). */
	if (strncmp(key, "dataplane.", 10) == 0) {
		for (uint32_t w = 0; w < d->nworkers; w++)
			sluice_worker_apply_config(d->workers[w], &cfg->dataplane);
	} else if (strcmp(key, "control.log_level") == 0) {
		rte_log_set_level_pattern("sluice.*", cfg->control.log_level);
	} else if (strncmp(key, "kafka.", 6) == 0 && d->fwd) {
		sluice_fwd_apply_config(d->fwd, &cfg->kafka);
	}
	/* control.stats_interval is read by run() each pass. */
}

/*
 * Change one runtime-tunable key of the running configuration and push it to the modules:
 * `sluicectl config set` and a reload (SIGHUP) both come here. Nothing changes on error
 * (reason in @p err). Caller holds d->lock. @return 0, -ENOENT, -EPERM or -EINVAL.
 */
int daemon_config_set_apply(struct sluice_daemon *d, const char *key, const char *value, char *err,
			    size_t errlen)
{
	char previous[SLUICE_CONFIG_STR_MAX + 64];
	int rc;

	if (sluice_config_get(d->cfg, key, previous, sizeof(previous)) != 0) {
		snprintf(err, errlen, "unknown config key \"%s\"", key);
		return -ENOENT;
	}
	rc = sluice_config_set(d->cfg, key, value, err, errlen);
	if (rc)
		return rc;
	/* Batch buffers were sized at start: a larger batch cannot fit them. */
	if (strcmp(key, "dataplane.batch_bytes") == 0 && daemon_batch_capacity(d) &&
	    d->cfg->dataplane.batch_bytes > daemon_batch_capacity(d)) {
		uint64_t cap = daemon_batch_capacity(d);
		char ignored[64];

		sluice_config_set(d->cfg, key, previous, ignored, sizeof(ignored));
		snprintf(err, errlen,
			 "dataplane.batch_bytes: at most %" PRIu64
			 " bytes while running (the batch buffers' size, fixed at start)",
			 cap);
		return -EINVAL;
	}
	apply_runtime(d, key);
	return 0;
}

static json_t *req_config(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	json_t *kj = args ? json_object_get(args, "key") : NULL;
	char value[SLUICE_CONFIG_STR_MAX + 64], previous[SLUICE_CONFIG_STR_MAX + 64];
	char err[512];
	json_t *r;
	int rc;

	if (strcmp(cmd, "config.list") == 0) {
		json_t *a = json_array();
		sluice_config_foreach(d->cfg, list_cb, a);
		r = reply_ok();
		json_object_set_new(r, "keys", a);
		return r;
	}
	if (!json_is_string(kj))
		return reply_err("%s needs args key (string)", cmd);
	if (sluice_config_get(d->cfg, json_string_value(kj), previous, sizeof(previous)) != 0)
		return reply_err("unknown config key \"%s\"", json_string_value(kj));
	if (strcmp(cmd, "config.get") == 0) {
		r = reply_ok();
		json_object_set_new(r, "key", json_incref(kj));
		json_object_set_new(r, "value", json_string(previous));
		json_object_set_new(
			r, "runtime",
			json_boolean(sluice_config_is_runtime(json_string_value(kj)) == 1));
		return r;
	}
	{
		json_t *vj = json_object_get(args, "value");
		if (!json_is_string(vj))
			return reply_err("config.set needs args value (string, as in the file)");
		rc = daemon_config_set_apply(d, json_string_value(kj), json_string_value(vj), err,
					     sizeof(err));
		if (rc)
			return reply_err("%s", err);
	}
	sluice_config_get(d->cfg, json_string_value(kj), value, sizeof(value));
	DLOG(NOTICE, "config.set %s = %s (was %s)", json_string_value(kj), value, previous);
	r = reply_ok();
	json_object_set_new(r, "key", json_incref(kj));
	json_object_set_new(r, "value", json_string(value));
	json_object_set_new(r, "previous", json_string(previous));
	return r;
}

static json_t *req_forwarder(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	json_t *tj = args ? json_object_get(args, "topic") : NULL;
	bool pause = strcmp(cmd, "forwarder.pause") == 0;
	struct sluice_fwd_stats fs;
	json_t *r;

	if (!d->fwd)
		return reply_err("forwarding is off (no kafka.brokers, or kafka.enabled = false)");
	if (tj && !json_is_string(tj))
		return reply_err("topic must be a string");
	for (uint32_t i = 0; i < d->cfg->ntopics; i++) {
		const char *name = d->cfg->topics[i].name;
		int rc;
		if (tj && strcmp(json_string_value(tj), name) != 0)
			continue;
		rc = pause ? sluice_fwd_pause(d->fwd, name) : sluice_fwd_resume(d->fwd, name);
		if (rc)
			return reply_err("%s %s: %s", cmd, name, strerror(-rc));
		if (tj)
			break;
	}
	if (tj && sluice_log_partition_id(d->log, json_string_value(tj), 0) < 0)
		return reply_err("unknown topic \"%s\"", json_string_value(tj));
	sluice_fwd_stats(d->fwd, &fs, NULL, 0);
	r = reply_ok();
	json_object_set_new(r, "state", json_string(pause ? "paused" : "forwarding"));
	json_object_set_new(r, "forwarder", json_string(sluice_fwd_state_name(fs.state)));
	return r;
}

/* Wait (bounded) until every partition is durable up to its end offset. Caller holds lock. */
static json_t *req_flush(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	(void)cmd;
	(void)args;
	uint32_t n = sluice_log_partition_count(d->log);
	int64_t *target = calloc(n ? n : 1, sizeof(*target));
	double deadline = sluice_mono_s() + 5.0;
	bool done = false;
	json_t *r;

	if (!target)
		return reply_err("out of memory");
	/* First the workers seal their open batches and the writers take them off the rings;
	 * only then is every received event in the log and the end offsets final. */
	for (uint32_t w = 0; w < d->nworkers; w++)
		sluice_worker_flush_request(d->workers[w]);
	for (;;) {
		struct totals t;
		daemon_gather(d, &t);
		if (t.w.events_open == 0 && t.w.events_enqueued <= t.appended + t.storage_shed)
			break;
		if (sluice_mono_s() > deadline || d->state != STATE_RUNNING) {
			free(target);
			return reply_err("flush: %" PRIu64 " events still in open batches or rings "
					 "after 5 s",
					 t.w.events_open + t.w.events_enqueued - t.appended -
						 t.storage_shed);
		}
		pthread_mutex_unlock(&d->lock);
		nanosleep(&(struct timespec){0, 1000000}, NULL);
		pthread_mutex_lock(&d->lock);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct sluice_partition_stats ps;
		sluice_partition_stats(sluice_log_partition(d->log, i), &ps);
		target[i] = ps.log_end_offset;
	}
	sluice_log_flush_request(d->log);
	/* Wait without the lock, so /metrics and other requests are served meanwhile. The log
	 * stays valid: stop frees it only after the control socket's requests have finished. */
	struct sluice_log *log = d->log;
	pthread_mutex_unlock(&d->lock);
	while (!done && sluice_mono_s() < deadline) {
		done = true;
		for (uint32_t i = 0; i < n; i++)
			if (sluice_partition_durable_offset(sluice_log_partition(log, i)) <
			    target[i])
				done = false;
		if (!done) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	pthread_mutex_lock(&d->lock);
	free(target);
	if (!done)
		return reply_err("flush: not every partition became durable within 5 s");
	r = reply_ok();
	json_object_set_new(r, "flushed", json_integer(n));
	return r;
}

static json_t *req_shutdown(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	json_t *r = reply_ok();

	(void)cmd;
	(void)args;
	sluice_daemon_request_stop(d);
	json_object_set_new(r, "state", json_string("stopping"));
	return r;
}

/*
 * The request table: one row per command (docs/control-protocol.md), in the order `hello`
 * lists them. Handlers run with d->lock held; `running` ones are refused unless sluiced is
 * running or stopping; `admin` ones change or stop the appliance, and the control socket
 * refuses them to read-only peers.
 */
static const struct request {
	const char *cmd;
	bool running;
	bool admin;
	json_t *(*handler)(struct sluice_daemon *d, const char *cmd, json_t *args);
} requests[] = {
	{"status", false, false, req_status},
	{"stats", true, false, req_stats},
	{"producers", true, false, req_producers},
	{"partitions", true, false, req_partitions},
	{"segments", true, false, req_segments},
	{"config.get", false, false, req_config},
	{"config.set", false, true, req_config},
	{"config.list", false, false, req_config},
	{"forwarder.pause", true, true, req_forwarder},
	{"forwarder.resume", true, true, req_forwarder},
	{"flush", true, true, req_flush},
	{"shutdown", false, true, req_shutdown},
};

bool sluice_daemon_request_info(size_t i, const char **cmd, bool *admin)
{
	if (i >= sizeof(requests) / sizeof(requests[0]))
		return false;
	*cmd = requests[i].cmd;
	*admin = requests[i].admin;
	return true;
}

json_t *sluice_daemon_request(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	const struct request *q = NULL;
	json_t *r;

	if (args && !json_is_object(args) && !json_is_null(args))
		return reply_err("args must be an object");
	if (args && json_is_null(args))
		args = NULL;
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]) && !q; i++)
		if (strcmp(cmd, requests[i].cmd) == 0)
			q = &requests[i];
	if (!q)
		return reply_err("unknown command \"%s\"", cmd);
	pthread_mutex_lock(&d->lock);
	if (q->running && d->state != STATE_RUNNING && d->state != STATE_STOPPING)
		r = reply_err("sluiced is %s", state_names[d->state]);
	else
		r = q->handler(d, cmd, args);
	pthread_mutex_unlock(&d->lock);
	return r ? r : reply_err("out of memory");
}
