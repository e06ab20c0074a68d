/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The service manager (readiness, status, watchdog) and configuration reloads (SIGHUP).
 * Threading: see daemon.c.
 */
#include "daemon_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* The service manager: readiness, status, watchdog; reloads                                 */

/* The first port whose link start-up waits for (link_wait > 0) and that is still down. */
static const char *port_waited_down(struct sluice_daemon *d)
{
	for (uint32_t i = 0; i < d->nports; i++)
		if (d->cfg->ports[i].link_wait_us && !sluice_nic_port_link_up(d->ports[i]))
			return d->cfg->ports[i].name;
	return NULL;
}

/*
 * READY=1 once the log is recovered (start did that) and every port start-up waits for
 * has its link; then STATUS= with the live rates once a second. Caller holds d->lock.
 */
void daemon_supervise(struct sluice_daemon *d, double now)
{
	const char *down = port_waited_down(d);
	uint32_t up = 0;
	struct totals t;
	double dt;

	if (!d->ready && !down) {
		d->ready = true;
		DLOG(INFO, "ready: log recovered, %u port%s up", d->nports,
		     d->nports == 1 ? "" : "s");
		sluice_notify("READY=1\nSTATUS=ready: log recovered, ports up");
	}
	if (!d->notify || now < d->status_t + 1.0)
		return;
	dt = d->status_t > 0 ? now - d->status_t : 0;
	daemon_gather(d, &t);
	for (uint32_t i = 0; i < d->nports; i++)
		up += sluice_nic_port_link_up(d->ports[i]) ? 1 : 0;
	if (!d->ready)
		sluice_notify("STATUS=waiting for the link of port %s (log recovered, workers "
			      "running)",
			      down);
	else if (dt > 0)
		sluice_notify("STATUS=%.0f events/s parsed, %.0f persisted/s, %.0f forwarded/s; "
			      "%u/%u ports up; %" PRIu64 " pending, %" PRIu64 " shed",
			      (double)(t.w.events_parsed - d->status_parsed) / dt,
			      (double)(t.persisted - d->status_persisted) / dt,
			      (double)(t.forwarded - d->status_forwarded) / dt, up, d->nports,
			      t.pending, t.shed + t.storage_shed);
	d->status_t = now;
	d->status_parsed = t.w.events_parsed;
	d->status_persisted = t.persisted;
	d->status_forwarded = t.forwarded;
}

/* One progress counter per watched thread: run()'s loop, each worker, each writer. */
static unsigned watch_sample(void *arg, uint64_t *c, unsigned max)
{
	struct sluice_daemon *d = arg;
	unsigned n = 0;

	c[n++] = atomic_load_explicit(&d->heartbeat, memory_order_relaxed);
	for (uint32_t w = 0; w < d->nworkers && n < max; w++) {
		struct sluice_worker_stats st;
		/* Every pass of the loop adds to one of these, blocked or not. */
		sluice_worker_stats(d->workers[w], &st);
		c[n++] = st.busy_cycles + st.idle_cycles + st.blocked_cycles;
	}
	for (uint32_t w = 0; d->log && w < sluice_log_writer_count(d->log) && n < max; w++) {
		struct sluice_writer_stats ws;
		sluice_log_writer_stats(d->log, w, &ws);
		c[n++] = ws.passes;
	}
	return n;
}

static void watch_stall(void *arg, unsigned index, uint64_t stalled_ms)
{
	struct sluice_daemon *d = arg;

	if (index == 0)
		DLOG(ERR,
		     "watchdog: the control loop made no progress for %" PRIu64
		     " ms: WATCHDOG=1 withheld",
		     stalled_ms);
	else if (index <= d->nworkers)
		DLOG(ERR,
		     "watchdog: worker %u (lcore %u) made no progress for %" PRIu64
		     " ms: WATCHDOG=1 withheld",
		     index - 1, d->worker_lcore[index - 1], stalled_ms);
	else
		DLOG(ERR,
		     "watchdog: writer %u made no progress for %" PRIu64 " ms: WATCHDOG=1 withheld",
		     index - 1 - d->nworkers, stalled_ms);
}

/* After a successful start: the watchdog, when the service manager asks for one. */
void daemon_supervise_start(struct sluice_daemon *d)
{
	uint64_t usec = sluice_notify_watchdog_usec();
	int rc;

	if (!usec)
		return;
	/* Half the interval, as sd_watchdog_enabled(3) advises. */
	rc = sluice_watchdog_start(usec / 2, watch_sample, watch_stall, d, &d->watchdog);
	if (rc)
		DLOG(ERR, "watchdog thread: %s (the service manager will stop sluiced)",
		     strerror(-rc));
	else
		DLOG(INFO,
		     "watchdog: WATCHDOG=1 every %" PRIu64 " ms while every worker, writer "
		     "and the control loop make progress",
		     usec / 2000);
}

void sluice_daemon_set_source(struct sluice_daemon *d, const char *file, const char *const *sets,
			      unsigned nsets)
{
	d->config_path = file;
	d->config_sets = sets;
	d->config_nsets = nsets;
}

void sluice_daemon_request_reload(struct sluice_daemon *d)
{
	/* Async-signal-safe: one lock-free atomic, read by run(). */
	atomic_fetch_add_explicit(&d->reload_requests, 1, memory_order_relaxed);
}

struct key_value {
	char key[192];
	char value[SLUICE_CONFIG_STR_MAX + 64]; /* as shown: a secret is redacted */
	char raw[SLUICE_CONFIG_STR_MAX + 64]; /* as compared */
	bool runtime;
};

struct key_list {
	const struct sluice_config *cfg;
	struct key_value *kv;
	unsigned n, cap;
	bool oom;
};

static void collect_key(const struct sluice_config_item *item, void *arg)
{
	struct key_list *l = arg;

	if (l->n == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 128;
		struct key_value *grown = realloc(l->kv, cap * sizeof(*grown));
		if (!grown) {
			l->oom = true;
			return;
		}
		l->kv = grown;
		l->cap = cap;
	}
	snprintf(l->kv[l->n].key, sizeof(l->kv[l->n].key), "%s", item->key);
	snprintf(l->kv[l->n].value, sizeof(l->kv[l->n].value), "%s", item->value);
	snprintf(l->kv[l->n].raw, sizeof(l->kv[l->n].raw), "%s", item->value);
	/* A changed secret (a librdkafka property) must still be seen as changed. */
	if (item->secret && strncmp(item->key, "kafka.", 6) == 0)
		for (uint32_t i = 0; i < l->cfg->kafka.nprops; i++)
			if (strcmp(l->cfg->kafka.props[i].key, item->key + 6) == 0)
				snprintf(l->kv[l->n].raw, sizeof(l->kv[l->n].raw), "%s",
					 l->cfg->kafka.props[i].value);
	l->kv[l->n].runtime = item->runtime;
	l->n++;
}

static const struct key_value *find_key(const struct key_list *l, const char *key)
{
	for (unsigned i = 0; i < l->n; i++)
		if (strcmp(l->kv[i].key, key) == 0)
			return &l->kv[i];
	return NULL;
}

/* "topic.extra.partitions" -> "topic.extra"; false for keys of unnamed sections. */
static bool named_section(const char *key, char *out, size_t len)
{
	static const char *const named[] = {"port.", "listener.", "topic."};
	const char *last = strrchr(key, '.');

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		size_t n = strlen(named[i]);
		if (strncmp(key, named[i], n) == 0 && last && last > key + n &&
		    (size_t)(last - key) < len) {
			memcpy(out, key, (size_t)(last - key));
			out[last - key] = '\0';
			return true;
		}
	}
	return false;
}

static bool has_section(const struct key_list *l, const char *sec)
{
	size_t n = strlen(sec);

	for (unsigned i = 0; i < l->n; i++)
		if (strncmp(l->kv[i].key, sec, n) == 0 && l->kv[i].key[n] == '.')
			return true;
	return false;
}

/*
 * Re-read the configuration file (and the command line's --set overrides), validate it
 * whole, and apply every runtime-tunable key that changed through the same path as
 * `sluicectl config set`. Keys that need a restart are reported and keep their running
 * value. A file with any error is refused whole. Main thread (run()).
 * @return 0 when the file was valid (even if some keys need a restart), -EINVAL refused.
 */
int sluice_daemon_reload(struct sluice_daemon *d)
{
	struct sluice_config *next;
	struct key_list now = {0}, file = {0};
	json_t *rep = json_object(), *applied = json_array(), *restart = json_array(),
	       *errors = json_array();
	struct timespec wall, mono;
	unsigned unchanged = 0;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &wall);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	sluice_notify("RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=reloading %s",
		      (uint64_t)mono.tv_sec * 1000000 + (uint64_t)mono.tv_nsec / 1000,
		      d->config_path ? d->config_path : "(no file)");
	json_object_set_new(rep, "time", json_real(sluice_ts_s(&wall)));
	json_object_set_new(rep, "file", json_string(d->config_path ? d->config_path : ""));
	next = sluice_config_new();
	if (!next || !d->config_path) {
		json_array_append_new(
			errors,
			json_string(next ? "no configuration file to re-read" : "out of memory"));
		rc = next ? -EINVAL : -ENOMEM;
		goto report;
	}
	next->online_cpus = d->cfg->online_cpus;
	sluice_config_load(next, d->config_path);
	for (unsigned i = 0; i < d->config_nsets; i++)
		sluice_config_override(next, d->config_sets[i], i + 1);
	if (sluice_config_error_count(next) == 0)
		sluice_config_validate(next);
	if (sluice_config_error_count(next)) {
		for (uint32_t i = 0; i < sluice_config_error_count(next); i++) {
			DLOG(ERR, "reload: %s", sluice_config_error(next, i));
			json_array_append_new(errors, json_string(sluice_config_error(next, i)));
		}
		DLOG(ERR, "reload of %s refused: %u error%s; the running configuration stays",
		     d->config_path, sluice_config_error_count(next),
		     sluice_config_error_count(next) == 1 ? "" : "s");
		rc = -EINVAL;
		goto report;
	}
	pthread_mutex_lock(&d->lock);
	now.cfg = d->cfg;
	file.cfg = next;
	sluice_config_foreach(d->cfg, collect_key, &now);
	sluice_config_foreach(next, collect_key, &file);
	if (now.oom || file.oom) {
		pthread_mutex_unlock(&d->lock);
		json_array_append_new(errors, json_string("out of memory"));
		rc = -ENOMEM;
		goto report;
	}
	for (unsigned i = 0; i < file.n; i++) {
		const struct key_value *f = &file.kv[i], *r = find_key(&now, f->key);
		char err[512], sec[192];

		if (r && strcmp(r->raw, f->raw) == 0) {
			unchanged++;
			continue;
		}
		if (!r && named_section(f->key, sec, sizeof(sec)) && !has_section(&now, sec)) {
			/* A whole new [port|listener|topic.<name>]: one line, not one per key. */
			if (i == 0 || !named_section(file.kv[i - 1].key, err, sizeof(err)) ||
			    strcmp(err, sec) != 0) {
				DLOG(WARNING,
				     "reload: [%s] is new in the file; adding it needs a "
				     "restart",
				     sec);
				json_array_append_new(restart,
						      json_pack("{s:s,s:s,s:n}", "key", sec,
								"value", "(new section)",
								"running"));
			}
			continue;
		}
		if (r && f->runtime &&
		    daemon_config_set_apply(d, f->key, f->value, err, sizeof(err)) == 0) {
			DLOG(NOTICE, "reload: %s = %s (was %s)", f->key, f->value, r->value);
			json_array_append_new(applied,
					      json_pack("{s:s,s:s,s:s}", "key", f->key, "value",
							f->value, "previous", r->value));
			continue;
		}
		DLOG(WARNING, "reload: %s = %s needs a restart%s%s; running with %s", f->key,
		     f->value, r && f->runtime ? ": " : "", r && f->runtime ? err : "",
		     r ? r->value : "(new key)");
		json_array_append_new(restart,
				      json_pack("{s:s,s:s,s:s?}", "key", f->key, "value", f->value,
						"running", r ? r->value : NULL));
	}
	for (unsigned i = 0; i < now.n; i++) {
		char sec[192], prev[192];

		if (find_key(&file, now.kv[i].key))
			continue;
		if (named_section(now.kv[i].key, sec, sizeof(sec)) && !has_section(&file, sec)) {
			if (i > 0 && named_section(now.kv[i - 1].key, prev, sizeof(prev)) &&
			    strcmp(prev, sec) == 0)
				continue;
			DLOG(WARNING,
			     "reload: [%s] is gone from the file; removing it needs a "
			     "restart",
			     sec);
			json_array_append_new(restart,
					      json_pack("{s:s,s:s,s:s}", "key", sec, "value",
							"(removed)", "running", "(section)"));
			continue;
		}
		DLOG(WARNING, "reload: %s is gone from the file; it needs a restart to go",
		     now.kv[i].key);
		json_array_append_new(restart,
				      json_pack("{s:s,s:n,s:s}", "key", now.kv[i].key, "value",
						"running", now.kv[i].value));
	}
	pthread_mutex_unlock(&d->lock);
	DLOG(NOTICE, "reload of %s: %zu applied, %zu need a restart, %u unchanged", d->config_path,
	     json_array_size(applied), json_array_size(restart), unchanged);
report:
	json_object_set_new(rep, "ok", json_boolean(rc == 0));
	json_object_set_new(rep, "applied", applied);
	json_object_set_new(rep, "restart", restart);
	json_object_set_new(rep, "errors", errors);
	pthread_mutex_lock(&d->lock);
	json_decref(d->last_reload);
	d->last_reload = rep;
	pthread_mutex_unlock(&d->lock);
	if (rc == 0)
		sluice_notify("READY=1\nSTATUS=reloaded %s: %zu applied, %zu need a restart",
			      d->config_path, json_array_size(applied), json_array_size(restart));
	else
		sluice_notify("READY=1\nSTATUS=reload refused (%zu error%s), running "
			      "configuration unchanged",
			      json_array_size(errors), json_array_size(errors) == 1 ? "" : "s");
	free(now.kv);
	free(file.kv);
	sluice_config_free(next);
	return rc;
}
