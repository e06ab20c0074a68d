/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluiced's lifecycle and the observe.h seam (see daemon.h).
 *
 * Threading contract:
 *  - the main thread runs create/start/run/stop/destroy; it alone creates and frees modules;
 *  - worker lcores run sluice_worker_run() between start and stop; writers and the forwarder
 *    run their own threads (owned by storage and the forwarder);
 *  - the control socket, HTTP and telemetry threads call sluice_daemon_collect/health/request
 *    at any time; each takes d->lock, which also guards the configuration and every module
 *    pointer. The main thread takes it whenever it changes a module pointer or the state, so
 *    an output never sees a module half torn down;
 *  - signal handlers only touch d->stop_requests (an atomic) through
 *    sluice_daemon_request_stop().
 */
#include "daemon_internal.h"
#include "sluice_log.h"

RTE_LOG_REGISTER(daemon_logtype, sluice.daemon, INFO)

SLUICE_LOG_FUNCTION(, sluice_daemon_log, daemon_logtype, "sluiced: ", 1024)

/* ---------------------------------------------------------------------------------------- */
/* Logging: every module logs through rte_log with its own sluice.<module> type.            */

static ssize_t syslog_write(void *cookie, const char *buf, size_t len)
{
	static const int prio[] = {LOG_DEBUG,   LOG_EMERG,  LOG_ALERT, LOG_CRIT, LOG_ERR,
				   LOG_WARNING, LOG_NOTICE, LOG_INFO,  LOG_DEBUG};
	uint32_t level = (uint32_t)rte_log_cur_msg_loglevel();

	(void)cookie;
	syslog(level < 9 ? prio[level] : LOG_INFO, "%.*s", (int)len, buf);
	return (ssize_t)len;
}

FILE *log_setup(const struct sluice_config *cfg)
{
	FILE *stream = stderr;

	/* Set before rte_eal_init, so EAL's own stdout+syslog default stream is never used:
	 * sluiced keeps stdout for its few lines of user-facing output. */
	if (cfg->control.log == SLUICE_CONFIG_LOG_SYSLOG) {
		static cookie_io_functions_t fns = {.write = syslog_write};
		FILE *f;

		openlog("sluiced", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		f = fopencookie(NULL, "w", fns);
		if (f) {
			setvbuf(f, NULL, _IOLBF, 0);
			stream = f;
		}
	}
	rte_openlog_stream(stream);
	rte_log_set_level_pattern("sluice.*", cfg->control.log_level);
	return stream;
}

/* ---------------------------------------------------------------------------------------- */
/* Create                                                                                     */

int sluice_daemon_create(struct sluice_config *cfg, const char *prog, struct sluice_daemon **out)
{
	struct sluice_daemon *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->dp_ports =
		calloc(cfg->dataplane.workers ? cfg->dataplane.workers : 1, sizeof(*d->dp_ports));
	if (!d->dp_ports) {
		free(d);
		return -ENOMEM;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->cfg = cfg;
	d->prog = prog;
	d->state = STATE_CREATED;
	atomic_init(&d->stop_requests, 0);
	atomic_init(&d->reload_requests, 0);
	atomic_init(&d->heartbeat, 0);
	*out = d;
	return 0;
}

void sluice_daemon_request_stop(struct sluice_daemon *d)
{
	/* Async-signal-safe: one lock-free atomic, read by run(). */
	atomic_fetch_add_explicit(&d->stop_requests, 1, memory_order_relaxed);
}

unsigned sluice_daemon_stop_requests(const struct sluice_daemon *d)
{
	return atomic_load_explicit(&d->stop_requests, memory_order_relaxed);
}

const char *sluice_daemon_kafka_bootstrap(const struct sluice_daemon *d)
{
	return d->embedded ? d->bootstrap : NULL;
}

uint16_t sluice_daemon_metrics_port(const struct sluice_daemon *d)
{
	return d->http ? sluice_metrics_http_port(d->http) : 0;
}

void daemon_set_state(struct sluice_daemon *d, enum daemon_state s)
{
	pthread_mutex_lock(&d->lock);
	d->state = s;
	pthread_mutex_unlock(&d->lock);
}

/* ---------------------------------------------------------------------------------------- */
/* Run and stop                                                                               */

int sluice_daemon_run(struct sluice_daemon *d)
{
	double next_stats = sluice_mono_s();
	uint64_t last_events = 0, last_persisted = 0, last_fwd = 0;
	double last_t = sluice_mono_s();

	while (sluice_daemon_stop_requests(d) == 0) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		uint64_t interval_us;
		double now;

		nanosleep(&ts, NULL);
		atomic_fetch_add_explicit(&d->heartbeat, 1, memory_order_relaxed);
		if (atomic_load_explicit(&d->reload_requests, memory_order_relaxed) !=
		    d->reloads_done) {
			d->reloads_done =
				atomic_load_explicit(&d->reload_requests, memory_order_relaxed);
			sluice_daemon_reload(d);
		}
		pthread_mutex_lock(&d->lock);
		daemon_supervise(d, sluice_mono_s());
		/* Sample the NIC often, so a PMD that resets its counters on reconnect (memif)
		 * loses at most one interval of them (see daemon_nic_stats()). */
		for (uint32_t i = 0; i < d->nports; i++) {
			struct sluice_nic_stats st;
			daemon_nic_stats(d, i, &st);
		}
		interval_us = d->cfg->control.stats_interval_us;
		now = sluice_mono_s();
		if (interval_us && now >= next_stats) {
			struct totals t;
			double dt = now - last_t;
			daemon_gather(d, &t);
			if (dt > 0 && last_t != now)
				DLOG(INFO,
				     "rates: %.0f events/s parsed, %.0f persisted/s, %.0f "
				     "forwarded/s; totals: %" PRIu64 " parsed, %" PRIu64
				     " persisted, %" PRIu64 " forwarded, %" PRIu64 " pending",
				     (double)(t.w.events_parsed - last_events) / dt,
				     (double)(t.persisted - last_persisted) / dt,
				     (double)(t.forwarded - last_fwd) / dt, t.w.events_parsed,
				     t.persisted, t.forwarded, t.pending);
			last_events = t.w.events_parsed;
			last_persisted = t.persisted;
			last_fwd = t.forwarded;
			last_t = now;
			next_stats = now + (double)interval_us / 1e6;
		}
		pthread_mutex_unlock(&d->lock);
	}
	DLOG(NOTICE, "stop requested");
	return 0;
}

/* Forwarder catch-up: wait until every durable record is acknowledged, bounded. */
static void wait_forwarded(struct sluice_daemon *d, double timeout_s)
{
	uint32_t n = sluice_log_partition_count(d->log);
	double deadline = sluice_mono_s() + timeout_s;

	(void)n;
	while (sluice_mono_s() < deadline) {
		struct sluice_fwd_stats fs;
		if (fwd_pending(d, &fs) == 0)
			return;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	DLOG(WARNING,
	     "forwarder did not catch up within %.1f s; the rest is forwarded at the "
	     "next start",
	     timeout_s);
}

static void log_accounting(const struct totals *t)
{
	DLOG(NOTICE,
	     "accounting: nic received %" PRIu64 " + missed %" PRIu64 "; frames %" PRIu64
	     " = control %" PRIu64 " + datagrams %" PRIu64 " + rejected %" PRIu64
	     "; datagrams = accepted %" PRIu64 " + rejected %" PRIu64 "; events decoded %" PRIu64
	     " = parsed %" PRIu64 " + rejected %" PRIu64 "; parsed = persisted %" PRIu64
	     " + shed %" PRIu64 " + in flight %" PRId64
	     "; persisted + backlog -> forwarded %" PRIu64 ", pending %" PRIu64
	     "; unaccounted %" PRIu64,
	     t->nic.ipackets, t->nic.imissed, t->w.rx_packets, t->w.ctrl_packets, t->w.datagrams,
	     t->pkt_rejects, t->w.datagrams_accepted, t->dgram_rejects, t->w.events_decoded,
	     t->w.events_parsed, t->event_rejects, t->persisted, t->shed + t->storage_shed,
	     t->in_flight + (int64_t)t->w.events_open, t->forwarded, t->pending, t->unaccounted);
}

int sluice_daemon_stop(struct sluice_daemon *d)
{
	const struct sluice_config *cfg = d->cfg;
	bool was_running;
	double t0 = sluice_mono_s(), t_workers, t_rx, t_log, t_fwd;
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	if (d->state == STATE_STOPPED) {
		pthread_mutex_unlock(&d->lock);
		return d->stop_rc;
	}
	was_running = d->state == STATE_RUNNING;
	if (d->state != STATE_FAILED)
		d->state = STATE_STOPPING;
	pthread_mutex_unlock(&d->lock);
	/* The watchdog samples workers and writers: it goes before they do. */
	sluice_watchdog_stop(d->watchdog);
	d->watchdog = NULL;
	if (was_running)
		sluice_notify("STOPPING=1\nSTATUS=stopping: RX first, then drain, sync, forward");
	if (was_running)
		DLOG(NOTICE, "stopping: RX first, then drain, sync, forward");

	/* 1. Stop RX: each worker seals and enqueues its open batches before returning. */
	for (uint32_t w = 0; w < d->nworkers; w++)
		if (d->launched[w])
			sluice_worker_stop(d->workers[w]);
	for (uint32_t w = 0; w < d->nworkers; w++) {
		if (d->launched[w]) {
			rte_eal_wait_lcore(d->worker_lcore[w]);
			d->launched[w] = false;
		}
	}
	t_workers = sluice_mono_s();
	for (uint32_t i = 0; i < d->nports; i++)
		sluice_nic_port_stop(d->ports[i]);

	t_rx = sluice_mono_s();
	/* 2. Drain every ring, seal and fdatasync. */
	if (d->log && d->log_started) {
		int src = sluice_log_stop(d->log);
		if (src) {
			DLOG(ERR, "storage stop: %s", strerror(-src));
			rc = src;
		}
	}

	t_log = sluice_mono_s();
	/* 3. The forwarder gets a bounded time to send what is now durable. */
	if (d->fwd) {
		double t = (double)cfg->kafka.shutdown_timeout_us / 1e6;
		wait_forwarded(d, t);
		sluice_fwd_stop(d->fwd, (uint32_t)(cfg->kafka.shutdown_timeout_us / 1000));
	}

	t_fwd = sluice_mono_s();
	if (d->log && d->nworkers) {
		struct totals t;
		pthread_mutex_lock(&d->lock);
		daemon_gather(d, &t);
		pthread_mutex_unlock(&d->lock);
		/* Quiescent now: every identity must hold exactly, in-flight included. */
		t.unaccounted += daemon_iabs(t.in_flight + (int64_t)t.w.events_open);
		log_accounting(&t);
		if (t.failed_partitions) {
			DLOG(ERR,
			     "%" PRIu64 " partitions failed; they get no clean-shutdown marker",
			     t.failed_partitions);
			rc = rc ? rc : -EIO;
		}
		if (t.unaccounted) {
			DLOG(ERR, "%" PRIu64 " events unaccounted for: this is a bug",
			     t.unaccounted);
			rc = rc ? rc : -EBADMSG;
		}
	}

	/* 4. Outputs stop before the modules they read are freed. */
	if (d->telemetry) {
		sluice_telemetry_unregister();
		d->telemetry = false;
	}
	sluice_metrics_http_stop(d->http);
	sluice_ctl_server_stop(d->ctl);

	pthread_mutex_lock(&d->lock);
	d->http = NULL;
	d->ctl = NULL;
	/* 5. Readers (the forwarder's) close before the log writes its markers. */
	sluice_fwd_destroy(d->fwd);
	d->fwd = NULL;
	sluice_log_close(d->log);
	d->log = NULL;
	sluice_kafka_embedded_stop(d->embedded);
	d->embedded = NULL;
	for (uint32_t w = 0; w < d->nworkers; w++) {
		sluice_worker_destroy(d->workers[w]);
		d->workers[w] = NULL;
	}
	d->nworkers = 0;
	for (uint32_t i = 0; i < d->nports; i++) {
		sluice_nic_port_destroy(d->ports[i]);
		d->ports[i] = NULL;
	}
	d->nports = 0;
	for (int sk = 0; sk < RTE_MAX_NUMA_NODES; sk++) {
		rte_mempool_free(d->batch_pools[sk]);
		d->batch_pools[sk] = NULL;
		rte_mempool_free(d->mbuf_pools[sk]);
		d->mbuf_pools[sk] = NULL;
	}
	if (d->eal_up) {
		char runtime_dir[PATH_MAX];
		snprintf(runtime_dir, sizeof(runtime_dir), "%s", rte_eal_get_runtime_dir());
		sluice_nic_eal_cleanup();
		d->eal_up = false;
		/* EAL leaves /var/run/dpdk/<prefix> behind; the prefix is ours alone. */
		sluice_nic_eal_remove_runtime_dir(runtime_dir);
	}
	if (d->state != STATE_FAILED)
		d->state = STATE_STOPPED;
	d->stop_rc = rc;
	pthread_mutex_unlock(&d->lock);
	if (was_running)
		DLOG(NOTICE,
		     "stopped%s in %.0f ms (workers %.0f ms, ports %.0f ms, drain and sync %.0f "
		     "ms, "
		     "forwarder %.0f ms, close %.0f ms)",
		     rc ? " with errors" : " cleanly", (sluice_mono_s() - t0) * 1e3,
		     (t_workers - t0) * 1e3, (t_rx - t_workers) * 1e3, (t_log - t_rx) * 1e3,
		     (t_fwd - t_log) * 1e3, (sluice_mono_s() - t_fwd) * 1e3);
	return rc;
}

void sluice_daemon_destroy(struct sluice_daemon *d)
{
	if (!d)
		return;
	if (d->state != STATE_CREATED && d->state != STATE_STOPPED)
		sluice_daemon_stop(d);
	pthread_mutex_destroy(&d->lock);
	json_decref(d->last_reload);
	sluice_config_free(d->cfg);
	free(d->dp_ports);
	free(d);
}
