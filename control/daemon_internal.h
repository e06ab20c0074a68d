/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon's private state, shared by its files (one job each):
 *   daemon.c          create, run, stop, destroy; logging
 *   daemon_start.c    the start order (EAL, pools, storage, ports, workers, forwarder, outputs)
 *   daemon_account.c  totals and the accounting chain
 *   daemon_metrics.c  the metric families (observe.h's collect)
 *   daemon_health.c   health (observe.h's health)
 *   daemon_requests.c control-socket requests (observe.h's request), one handler per command
 *   daemon_reload.c   the service manager (notify.h) and reloads
 * Every field of struct sluice_daemon is guarded by its lock (see daemon.c's threading contract).
 */
#ifndef SLUICE_DAEMON_INTERNAL_H
#define SLUICE_DAEMON_INTERNAL_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "ctl.h"
#include "daemon.h"
#include "host.h"
#include "notify.h"
#include "sluice_forward.h"
#include "sluice_dataplane.h"
#include "sluice_nic.h"
#include "sluice_storage.h"
#include "sluice_time.h"

/* sluiced's own log lines (rte_log type sluice.daemon). */
__attribute__((format(printf, 2, 3))) void sluice_daemon_log(uint32_t level, const char *fmt, ...);

#define DLOG(level, ...) sluice_daemon_log(RTE_LOG_##level, __VA_ARGS__)

#define SLUICE_VERSION "0.1.0"
#define MAX_WORKERS SLUICE_CONFIG_MAX_LCORES
#define TOP_PRODUCERS_METRICS 10

enum daemon_state {
	STATE_CREATED,
	STATE_STARTING,
	STATE_RUNNING,
	STATE_STOPPING,
	STATE_STOPPED,
	STATE_FAILED,
};

static const char *const state_names[] __attribute__((unused)) = {"created",  "starting", "running",
								  "stopping", "stopped",  "failed"};

struct sluice_daemon {
	pthread_mutex_t lock;
	struct sluice_config *cfg;
	const char *prog;
	FILE *log_stream; /* stderr, or a syslog cookie stream */
	enum daemon_state state;
	atomic_uint stop_requests;

	char file_prefix[64];
	bool eal_up;
	/* One RX mbuf pool per NUMA socket that has ports and one batch pool per socket that
	 * has workers (slot 0 alone with eal.memory = no-huge, which has no sockets). */
	struct rte_mempool *mbuf_pools[RTE_MAX_NUMA_NODES];
	struct rte_mempool *batch_pools[RTE_MAX_NUMA_NODES];
	uint8_t port_slot[SLUICE_CONFIG_MAX_PORTS];
	uint8_t worker_slot[MAX_WORKERS];
	struct sluice_log *log;
	bool log_started;
	uint32_t nports;
	struct sluice_nic_port *ports[SLUICE_CONFIG_MAX_PORTS];
	/* Last raw NIC counters and what earlier resets took away (see daemon_nic_stats()). */
	struct sluice_nic_stats nic_last[SLUICE_CONFIG_MAX_PORTS];
	struct sluice_nic_stats nic_base[SLUICE_CONFIG_MAX_PORTS];
	uint32_t nlisteners;
	struct sluice_listener listeners[SLUICE_CONFIG_MAX_LISTENERS];
	uint32_t nworkers;
	struct sluice_dp_port (*dp_ports)[SLUICE_CONFIG_MAX_PORTS];
	struct sluice_worker *workers[MAX_WORKERS];
	unsigned worker_lcore[MAX_WORKERS];
	bool launched[MAX_WORKERS];
	enum sluice_config_forwarding forwarding;
	struct sluice_kafka_embedded *embedded;
	char bootstrap[SLUICE_CONFIG_STR_MAX];
	struct sluice_fwd *fwd;
	char appliance_id[128];
	struct sluice_ctl_server *ctl;
	struct sluice_metrics_http *http;
	bool telemetry;

	/* The service manager (notify.h) and reloads (SIGHUP). */
	bool notify; /* $NOTIFY_SOCKET was set at start */
	bool ready; /* READY=1 sent: the log recovered, every waited-for link up */
	atomic_uint reload_requests;
	unsigned reloads_done;
	atomic_ullong heartbeat; /* run() passes, watched by the watchdog */
	struct sluice_watchdog *watchdog;
	const char *config_path; /* re-read on reload; NULL: reload refused */
	const char *const *config_sets;
	unsigned config_nsets;
	json_t *last_reload; /* outcome of the last reload, for status */
	double status_t;
	uint64_t status_parsed, status_persisted, status_forwarded;

	struct timespec started_mono;
	double start_time_s; /* wall clock, for sluice_start_time_seconds */
	double startup_s;
	int stop_rc;
};

/* Shared between the daemon's files. */

/* daemon.c: rte_log's stream (stderr or syslog) for control.log. */
FILE *log_setup(const struct sluice_config *cfg);

struct totals {
	struct sluice_nic_stats nic;
	struct sluice_worker_stats w;
	uint64_t pkt_rejects, dgram_rejects, event_rejects, shed;
	uint64_t appended, persisted, storage_shed, failed_partitions, bytes_on_disk;
	uint64_t storage_shed_reason[SLUICE_STORAGE_SHED__COUNT];
	uint64_t retention_dropped;
	uint64_t forwarded, pending;
	bool have_fwd;
	struct sluice_fwd_stats fwd;
	/* Residues of each identity: exactly zero unless events leaked (see daemon_gather()). */
	struct sluice_daemon_residues res;
	int64_t in_flight; /* enqueued, not yet durable or shed by storage */
	uint64_t unaccounted;
};

struct producer_row {
	char source[64]; /* address:port, [v6]:port */
	int64_t producer_id;
	int16_t epoch;
	char topic[SLUICE_TOPIC_NAME_MAX];
	int32_t partition;
	uint64_t events, lost, duplicates;
	int64_t last_seen_ms;
};

struct producer_list {
	struct producer_row *rows;
	size_t n, cap;
};

/* daemon.c */
void daemon_set_state(struct sluice_daemon *d, enum daemon_state s);

/* daemon_account.c: all called with d->lock held. */
uint64_t daemon_iabs(int64_t v);
int daemon_nic_stats(struct sluice_daemon *d, uint32_t port, struct sluice_nic_stats *out);
uint64_t fwd_pending(struct sluice_daemon *d, struct sluice_fwd_stats *fs);
void daemon_gather(struct sluice_daemon *d, struct totals *t);

/* daemon_health.c (d->lock held) */
int daemon_health_locked(struct sluice_daemon *d, char *reason, size_t len);

/* daemon_metrics.c (d->lock held) */
void daemon_gather_producers(struct sluice_daemon *d, struct producer_list *pl);
int daemon_disk_space(const struct sluice_daemon *d, uint64_t *free_bytes, uint64_t *size_bytes);

/* daemon_reload.c */
void daemon_supervise(struct sluice_daemon *d, double now);
void daemon_supervise_start(struct sluice_daemon *d);

/* daemon_requests.c */
int daemon_config_set_apply(struct sluice_daemon *d, const char *key, const char *value, char *err,
			    size_t errlen);

/* daemon_start.c */
uint32_t daemon_batch_capacity(const struct sluice_daemon *d);

#endif /* SLUICE_DAEMON_INTERNAL_H */
