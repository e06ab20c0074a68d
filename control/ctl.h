/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The operator-facing outputs of sluiced (private to control/): the control socket used by
 * sluicectl, Prometheus /metrics and /health over HTTP, and DPDK telemetry commands.
 *
 * All three only call the observe.h seam (sluice_daemon_collect, sluice_daemon_health,
 * sluice_daemon_request); they never reach into the daemon's state.
 *
 * Threads: the control socket and the HTTP server each run their own thread(s) and never block
 * the caller; telemetry callbacks run on DPDK's telemetry thread. The start/stop/register
 * functions are called by the daemon's main thread only. Stop functions wait for their threads,
 * so after they return no observe.h function is called on behalf of that output any more.
 * sluice_daemon_request() runs on the control-socket thread: it must not call
 * sluice_ctl_server_stop() itself ("shutdown" should only ask the main thread to stop).
 */
#ifndef SLUICE_CTL_H
#define SLUICE_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "observe.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of the JSON-lines control protocol (docs/control-protocol.md). */
#define SLUICE_CTL_PROTO_VERSION 1
/** Default longest request line accepted, newline included. */
#define SLUICE_CTL_MAX_LINE_DEFAULT (64u * 1024u)

/**
 * Send the ctl outputs' log lines (one line each, no newline) to @p fn, e.g. the daemon's
 * rte_log type, instead of stderr. Call before starting any output; NULL restores stderr.
 */
void sluice_ctl_set_log(void (*fn)(const char *line, void *arg), void *arg);

struct sluice_ctl_server;

/**
 * Two tiers of peers, decided once per connection from SO_PEERCRED (and the peer's
 * supplementary groups): root, the daemon's own user and members of admin_gid may run every
 * command; members of gid only the read commands (sluice_ctl_command_is_admin() is false);
 * anyone else is refused at connect.
 */
struct sluice_ctl_server_opts {
	const char *socket_path; /**< Unix socket path; an existing stale socket is replaced */
	mode_t mode; /**< socket file mode; 0 means 0660, or 0666 when gid and admin_gid are two
			different groups (file modes name one group: peer credentials decide) */
	gid_t gid; /**< group that may read besides root; (gid_t)-1 = none */
	bool admin_gid_set; /**< admin_gid is meaningful (0 is root's group, not "none") */
	gid_t admin_gid; /**< group that may also run admin commands */
	size_t max_line_bytes; /**< longest request line; 0 = SLUICE_CTL_MAX_LINE_DEFAULT */
	unsigned max_clients; /**< simultaneous connections; 0 = 16 */
	struct sluice_daemon *daemon; /**< passed to observe.h functions */
};

/** What the control socket itself has seen; also exported as sluice_ctl_* metrics. */
struct sluice_ctl_server_stats {
	uint64_t connections; /**< accepted connections */
	uint64_t rejected_peers; /**< peers refused by SO_PEERCRED (not root nor the group) */
	uint64_t rejected_busy; /**< connections refused because max_clients were open */
	uint64_t requests; /**< well-formed requests handed to a handler */
	uint64_t bad_requests; /**< lines that were not a valid request (invalid JSON, schema) */
	uint64_t oversized; /**< lines longer than max_line_bytes */
	uint64_t error_replies; /**< replies with "ok": false, bad requests included */
	uint64_t denied_requests; /**< admin commands refused to a read-only peer */
};

/**
 * Does @p cmd change or stop the appliance (config.set, forwarder.pause/resume, flush,
 * shutdown)? Those need root or control.admin_group; every other command only reads. The
 * answer comes from the daemon's request table (observe.h, sluice_daemon_request_info()).
 */
bool sluice_ctl_command_is_admin(const char *cmd);

/**
 * Create the socket (mode, group ownership when gid is set), listen, and start the server
 * thread. @return 0, or -errno (path too long, bind/chmod failures; logged with the path).
 */
int sluice_ctl_server_start(const struct sluice_ctl_server_opts *opts,
			    struct sluice_ctl_server **out);

/** Stop the thread, close every connection, unlink the socket, free. Accepts NULL. */
void sluice_ctl_server_stop(struct sluice_ctl_server *srv);

/** Snapshot of the server's counters (thread-safe, relaxed reads). */
void sluice_ctl_server_get_stats(const struct sluice_ctl_server *srv,
				 struct sluice_ctl_server_stats *st);

/**
 * Emit the control socket's own counters (sluice_ctl_*) into @p sink, so that the daemon can
 * include them from its sluice_daemon_collect(). Accepts NULL @p srv (emits nothing).
 * Do either this or set sluice_metrics_http_opts.ctl, not both (the series would repeat).
 */
void sluice_ctl_server_collect(const struct sluice_ctl_server *srv,
			       const struct sluice_metric_sink *sink);

struct sluice_metrics_http;

struct sluice_metrics_http_opts {
	const char *bind_addr; /**< IPv4 address; NULL = "127.0.0.1" */
	uint16_t port; /**< 0 = let the kernel choose (see sluice_metrics_http_port) */
	struct sluice_daemon *daemon;
	/** When set, its sluice_ctl_* counters are appended to /metrics (may be NULL). */
	const struct sluice_ctl_server *ctl;
};

/**
 * Serve GET /metrics (Prometheus text exposition 0.0.4 of sluice_daemon_collect, plus
 * sluice_healthy and the server's own sluice_metrics_* counters) and GET /health (200 "ok" or
 * 503 with the reasons of sluice_daemon_health) from libmicrohttpd's own thread.
 * @return 0, or -errno (-EINVAL bad address, -EADDRINUSE, ...).
 */
int sluice_metrics_http_start(const struct sluice_metrics_http_opts *opts,
			      struct sluice_metrics_http **out);

/** The TCP port actually bound (useful with port 0). */
uint16_t sluice_metrics_http_port(const struct sluice_metrics_http *mh);

/** Stop the server (waits for requests in progress) and free. Accepts NULL. */
void sluice_metrics_http_stop(struct sluice_metrics_http *mh);

/**
 * Render the Prometheus text exposition (0.0.4) of sluice_daemon_collect(@p d) (skipped when
 * @p d is NULL), plus the sluice_ctl_* counters of @p ctl and the HTTP server's own counters of
 * @p mh (each may be NULL). Samples with invalid metric/label names are dropped and counted in
 * @p invalid_samples (may be NULL). @return a malloc'ed NUL-terminated text (length in
 * @p len), or NULL when out of memory.
 */
char *sluice_metrics_render(struct sluice_daemon *d, const struct sluice_ctl_server *ctl,
			    const struct sluice_metrics_http *mh, size_t *len,
			    uint64_t *invalid_samples);

/**
 * Register the /sluice/... DPDK telemetry commands (/sluice/stats, /sluice/health,
 * /sluice/partitions, /sluice/producers, /sluice/status, /sluice/metric, /sluice/families,
 * /sluice/config[,<section>]). Call after
 * rte_eal_init() in a process that keeps the telemetry socket. DPDK cannot unregister commands
 * and calls them without a context pointer, so one daemon per process is served; calling it
 * again replaces the daemon. @return 0 or -errno from rte_telemetry_register_cmd.
 */
int sluice_telemetry_register(struct sluice_daemon *d);

/**
 * Make EAL's runtime directory @p runtime_dir (rte_eal_get_runtime_dir()) and everything in it
 * accessible to the daemon's user only (directory 0700, sockets and files without group or
 * other bits), whatever the umask or an earlier owner left: DPDK's telemetry socket checks no
 * peer credentials, so it must be no wider than the control socket. Call right after
 * rte_eal_init(). @return 0, -EPERM when the directory belongs to another user, or -errno.
 */
int sluice_telemetry_restrict(const char *runtime_dir);

/**
 * Detach the daemon from the telemetry commands: waits for a callback in progress, and later
 * calls answer with an error. Call before the daemon is destroyed.
 */
void sluice_telemetry_unregister(void);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_CTL_H */
