/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The seam between what the daemon measures and the ways it is shown (private to control/).
 *
 * The daemon (daemon.c) owns every counter and implements the three functions at the bottom.
 * The outputs — Prometheus /metrics and /health (metrics_http.c), DPDK telemetry
 * (telemetry.c) and the control socket (ctl_server.c, used by sluicectl) — only call them.
 *
 * Threads: the functions below may be called from the HTTP, telemetry and control-socket
 * threads at any time after the daemon is running; the daemon serialises them internally.
 */
#ifndef SLUICE_OBSERVE_H
#define SLUICE_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct sluice_daemon;

enum sluice_metric_type {
	SLUICE_METRIC_COUNTER,
	SLUICE_METRIC_GAUGE,
	SLUICE_METRIC_HISTOGRAM,
};

struct sluice_label {
	const char *name;
	const char *value;
};

/**
 * A visitor that receives every metric. Names follow Prometheus conventions
 * (sluice_<subsystem>_<what>_<unit>[_total]).
 */
struct sluice_metric_sink {
	void *ctx;
	/** Start of a family; all its samples follow before the next family. */
	void (*family)(void *ctx, const char *name, enum sluice_metric_type type, const char *help);
	/** One counter or gauge sample of the current family. */
	void (*sample)(void *ctx, const char *name, const struct sluice_label *labels,
		       unsigned nlabels, double value);
	/**
	 * One histogram of the current family: @p cumulative[i] observations <= upper_bounds[i],
	 * for i < nbuckets (the +Inf bucket is @p count).
	 */
	void (*histogram)(void *ctx, const char *name, const struct sluice_label *labels,
			  unsigned nlabels, const double *upper_bounds, const uint64_t *cumulative,
			  unsigned nbuckets, double sum, uint64_t count);
};

/** Emit every metric the daemon has into @p sink. */
void sluice_daemon_collect(struct sluice_daemon *d, const struct sluice_metric_sink *sink);

/**
 * Is sluice doing its job? @return 0 when healthy; otherwise a non-zero value and a
 * human-readable reason (all failing checks, one per line) in @p reason.
 */
int sluice_daemon_health(struct sluice_daemon *d, char *reason, size_t reason_len);

/**
 * Handle one control request (see docs/control-protocol.md): @p cmd such as "status",
 * "stats", "producers", "partitions", "segments", "config.get", "config.set", "config.list",
 * "forwarder.pause", "forwarder.resume", "flush", "shutdown"; @p args a JSON object (may be
 * NULL). @return a new reference to the reply object: {"ok": true, ...} or
 * {"ok": false, "error": "<reason>"}; never NULL.
 */
json_t *sluice_daemon_request(struct sluice_daemon *d, const char *cmd, json_t *args);

/**
 * The requests sluice_daemon_request() answers, from the daemon's request table: the @p i-th
 * one's name, and whether it changes or stops the appliance (then only root or
 * control.admin_group may send it). The control socket lists them in `hello` and enforces
 * the admin tier from them. Any thread. @return false when @p i is past the last.
 */
bool sluice_daemon_request_info(size_t i, const char **cmd, bool *admin);

#endif /* SLUICE_OBSERVE_H */
