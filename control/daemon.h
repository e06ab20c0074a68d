/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * sluiced's lifecycle (private to control/): wires nic → dataplane → storage → forwarder →
 * control outputs from one validated struct sluice_config, and tears them down in the order
 * that loses nothing. Implements control/observe.h.
 *
 * Start order (sluice_daemon_start): logging → EAL (with the ports' vdevs) → mempools →
 * storage open (recovery) → ports → writers → workers on their lcores → embedded Kafka and
 * forwarder → control socket, /metrics, telemetry.
 *
 * Service manager: $NOTIFY_SOCKET gets STATUS= lines during start, READY=1 once the log is
 * recovered and every port with a link_wait has its link, STATUS= with live rates every
 * second, RELOADING=1/READY=1 around a reload and STOPPING=1; with $WATCHDOG_USEC a thread
 * sends WATCHDOG=1 while the control loop, every worker and every writer make progress.
 *
 * Stop order (sluice_daemon_stop): stop RX (workers flush their open batches) → drain the
 * rings, seal and fdatasync (sluice_log_stop) → let the forwarder catch up with a bounded
 * wait → outputs → clean-shutdown markers (sluice_log_close) → EAL cleanup.
 *
 * Threads: create/start/run/stop/destroy are called by the main thread. observe.h functions
 * and sluice_daemon_request_stop may be called from any thread; the latter is also
 * async-signal-safe.
 */
#ifndef SLUICE_DAEMON_H
#define SLUICE_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "observe.h"
#include "sluice_dataplane.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sluice_daemon;

/**
 * Take ownership of a validated configuration. Touches nothing outside memory.
 * @param prog argv[0], for EAL. @return 0 or -ENOMEM.
 */
int sluice_daemon_create(struct sluice_config *cfg, const char *prog, struct sluice_daemon **out);

/**
 * Start every module in order. On failure, what was started is stopped again (call
 * sluice_daemon_destroy next). @return 0 or -errno (logged with context).
 */
int sluice_daemon_start(struct sluice_daemon *d);

/**
 * Serve until sluice_daemon_request_stop() (a signal or the shutdown command); logs a rate
 * line every control.stats_interval. @return 0.
 */
int sluice_daemon_run(struct sluice_daemon *d);

/** Ask run() to return. Async-signal-safe. */
void sluice_daemon_request_stop(struct sluice_daemon *d);

/**
 * Where the configuration came from, for reloads: the file and the command line's
 * `--set` overrides, applied after it in order. Both must outlive the daemon.
 */
void sluice_daemon_set_source(struct sluice_daemon *d, const char *file, const char *const *sets,
			      unsigned nsets);

/** Ask run() to reload the configuration (SIGHUP). Async-signal-safe. */
void sluice_daemon_request_reload(struct sluice_daemon *d);

/**
 * Re-read the file and overrides, validate them whole and apply every runtime-tunable key
 * that changed (as `sluicectl config set` does); log each change and each key that needs a
 * restart (those keep their running value). Any error refuses the whole file, logged as
 * `file:line: key: reason`. The outcome is in the status reply (`last_reload`). Tells the
 * service manager RELOADING=1, then READY=1 with a STATUS= summary. Main thread (run()
 * calls it on request). @return 0 (file valid), -EINVAL (refused), -ENOMEM.
 */
int sluice_daemon_reload(struct sluice_daemon *d);

/** How many stops have been requested (a second signal forces exit in sluiced). */
unsigned sluice_daemon_stop_requests(const struct sluice_daemon *d);

/**
 * Graceful stop (see the file comment). Idempotent.
 * @return 0 when every partition was sealed and synced and the accounting chain balances,
 *         -EIO when a partition failed, -EBADMSG when events are unaccounted.
 */
int sluice_daemon_stop(struct sluice_daemon *d);

/** Stop if needed and free everything, the configuration included. Accepts NULL. */
void sluice_daemon_destroy(struct sluice_daemon *d);

/** Bootstrap servers of the embedded Kafka, or NULL when not embedded / not started. */
const char *sluice_daemon_kafka_bootstrap(const struct sluice_daemon *d);

/** One partition's forward lag, as /health judges it. */
struct sluice_daemon_health_lag {
	const char *topic;
	uint32_t partition;
	uint64_t lag_records; /**< durable, not acknowledged by Kafka */
	int64_t oldest_unforwarded_age_ms; /**< -1: nothing unforwarded */
};

/** The residue of each identity of the accounting chain (docs/lifecycle.md). */
struct sluice_daemon_residues {
	int64_t packets; /**< rx_packets - control - datagrams - packet rejects */
	int64_t datagrams; /**< datagrams - accepted - datagram rejects */
	int64_t events; /**< decoded - parsed - event rejects */
	int64_t parsed; /**< parsed - enqueued - shed - open */
	int64_t in_flight; /**< enqueued - persisted - storage shed: >= 0, events on their way */
	/** |packets| + |datagrams| + |events| + |parsed| + (in_flight < 0 ? -in_flight : 0) */
	uint64_t unaccounted;
};

/**
 * The accounting chain from one consistent reading: @p w summed over workers' snapshots
 * (sluice_worker_stats()), @p persisted and @p storage_shed summed over partitions and read
 * before @p w. Every residue but in_flight is then exactly 0 unless events leaked, and
 * in_flight is never negative: any non-zero unaccounted is a bug, reported at once.
 * Pure; exposed for unit tests.
 */
void sluice_daemon_residues(const struct sluice_worker_stats *w, uint64_t persisted,
			    uint64_t storage_shed, struct sluice_daemon_residues *out);

/** What /health judges besides module states, measured by the daemon. */
struct sluice_daemon_health_facts {
	uint64_t unaccounted; /**< of one consistent reading of the accounting chain */
	bool have_disk; /**< statvfs of storage.data_dir succeeded */
	uint64_t disk_free_bytes; /**< available to sluiced (f_bavail) */
	uint64_t disk_size_bytes;
	uint32_t nlag;
	const struct sluice_daemon_health_lag *lag; /**< nlag entries; NULL when no forwarder */
};

/**
 * Judge @p f against the control.health_* thresholds of @p c (0 turns a check off), appending
 * one line per failing check to @p reason (NUL-terminated, @p len bytes in all).
 * Pure: sluice_daemon_health() calls it; exposed for unit tests. @return failing checks.
 */
int sluice_daemon_health_judge(const struct sluice_config_control *c,
			       const struct sluice_daemon_health_facts *f, char *reason,
			       size_t len);

/** The TCP port /metrics is served on, or 0. */
uint16_t sluice_daemon_metrics_port(const struct sluice_daemon *d);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_DAEMON_H */
