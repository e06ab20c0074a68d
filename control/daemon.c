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

RTE_LOG_REGISTER(daemon_logtype, sluice.daemon, INFO)

__attribute__((format(printf, 2, 3))) static void daemon_log(uint32_t level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rte_log(level, daemon_logtype, "sluiced: %s\n", msg);
}

#define DLOG(level, ...) daemon_log(RTE_LOG_##level, __VA_ARGS__)

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

static const char *const state_names[] = {"created",  "starting", "running",
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
	/* Last raw NIC counters and what earlier resets took away (see nic_stats()). */
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

static void supervise_start(struct sluice_daemon *d);

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

static FILE *log_setup(const struct sluice_config *cfg)
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

static void set_state(struct sluice_daemon *d, enum daemon_state s)
{
	pthread_mutex_lock(&d->lock);
	d->state = s;
	pthread_mutex_unlock(&d->lock);
}

/* ---------------------------------------------------------------------------------------- */
/* Start                                                                                      */

static int start_eal(struct sluice_daemon *d)
{
	const struct sluice_config *cfg = d->cfg;
	const char *vdevs[SLUICE_CONFIG_MAX_PORTS + 1] = {0};
	const char *pci[SLUICE_CONFIG_MAX_PORTS + 1] = {0};
	char vdev_buf[SLUICE_CONFIG_MAX_PORTS][SLUICE_CONFIG_STR_MAX + 80];
	char *extra[SLUICE_CONFIG_MAX_EAL_ARGS + 2] = {0}; /* --main-lcore, eal.args, NULL */
	char args_copy[SLUICE_CONFIG_STR_MAX];
	char main_lcore[32];
	uint32_t nv = 0, np = 0, ne = 0;
	struct sluice_nic_eal_opts o = {0};
	int rc;

	if (cfg->eal.file_prefix[0])
		snprintf(d->file_prefix, sizeof(d->file_prefix), "%s", cfg->eal.file_prefix);
	else
		snprintf(d->file_prefix, sizeof(d->file_prefix), "sluiced-%ld", (long)getpid());
	for (uint32_t i = 0; i < cfg->nports; i++) {
		const struct sluice_config_port *p = &cfg->ports[i];
		if (p->pci) {
			pci[np++] = p->device;
			continue;
		}
		snprintf(vdev_buf[nv], sizeof(vdev_buf[nv]), "%s%s%s", p->device,
			 p->args[0] ? "," : "", p->args);
		vdevs[nv] = vdev_buf[nv];
		nv++;
	}
	/* The lowest lcore is the main lcore (validated); say so explicitly to EAL. */
	snprintf(main_lcore, sizeof(main_lcore), "--main-lcore=%u", cfg->eal.main_lcore);
	extra[ne++] = main_lcore;
	snprintf(args_copy, sizeof(args_copy), "%s", cfg->eal.args);
	/* At most SLUICE_CONFIG_MAX_EAL_ARGS tokens: validation refused more. */
	for (char *save = NULL, *tok = strtok_r(args_copy, " \t", &save);
	     tok && ne < 1 + SLUICE_CONFIG_MAX_EAL_ARGS; tok = strtok_r(NULL, " \t", &save))
		extra[ne++] = tok;
	extra[ne] = NULL;

	o.prog = d->prog;
	o.lcores = cfg->eal.lcores_resolved;
	o.mem_mode = cfg->eal.memory == SLUICE_CONFIG_MEM_HUGE   ? SLUICE_NIC_MEM_HUGE
		: cfg->eal.memory == SLUICE_CONFIG_MEM_IN_MEMORY ? SLUICE_NIC_MEM_IN_MEMORY
								 : SLUICE_NIC_MEM_NO_HUGE;
	o.mem_mb = cfg->eal.memory_mb;
	o.file_prefix = d->file_prefix;
	o.vdevs = vdevs;
	o.pci_allow = pci;
	o.log_level = cfg->eal.log_level[0] ? cfg->eal.log_level : NULL;
	o.telemetry = cfg->eal.telemetry;
	o.extra_args = (const char *const *)extra;
	rc = sluice_nic_eal_init(&o);
	if (rc) {
		DLOG(ERR, "EAL start-up failed (lcores %s, file prefix %s): %s", o.lcores,
		     d->file_prefix, strerror(-rc));
		return rc;
	}
	d->eal_up = true;
	/* nic/ points DPDK's log at stderr for EAL's start-up; take it back (syslog). */
	rte_openlog_stream(d->log_stream);
	if (cfg->eal.telemetry) {
		rc = sluice_telemetry_restrict(rte_eal_get_runtime_dir());
		if (rc) {
			DLOG(ERR,
			     "DPDK telemetry would be open to more than the control socket "
			     "(set eal.telemetry = false to run without it)");
			return rc;
		}
	}
	/* EAL may have reset the levels of types registered before it parsed --log-level. */
	rte_log_set_level_pattern("sluice.*", cfg->control.log_level);
	return 0;
}

/* Create a pool on @p socket, or anywhere when that socket has no memory left (logged). */
static struct rte_mempool *pool_on(const char *what, int socket,
				   struct rte_mempool *(*create)(int socket, void *arg), void *arg)
{
	struct rte_mempool *mp = create(socket, arg);

	if (!mp && socket != SOCKET_ID_ANY && rte_errno == ENOMEM) {
		DLOG(WARNING,
		     "NUMA: no memory left on socket %d for %s: taking it from another socket "
		     "(every access crosses the interconnect; reserve hugepages on node %d, see "
		     "sluicectl doctor)",
		     socket, what, socket);
		mp = create(SOCKET_ID_ANY, arg);
	}
	return mp;
}

struct mbuf_args {
	char name[RTE_MEMPOOL_NAMESIZE];
	uint32_t n, cache;
};

static struct rte_mempool *mbuf_create(int socket, void *arg)
{
	struct mbuf_args *a = arg;

	return rte_pktmbuf_pool_create(a->name, a->n, a->cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       socket);
}

struct batch_args {
	char name[RTE_MEMPOOL_NAMESIZE];
	uint32_t n, bytes;
	int rc;
};

static struct rte_mempool *batch_create(int socket, void *arg)
{
	struct batch_args *a = arg;
	struct rte_mempool *mp = NULL;

	a->rc = sluice_dp_batch_pool_create(a->name, a->n, a->bytes, socket, &mp);
	rte_errno = -a->rc;
	return a->rc ? NULL : mp;
}

/*
 * Packet buffers on the socket of the NIC that writes them, batch buffers on the socket of
 * the worker that fills them. The configured totals (dataplane.mbufs, .batch_buffers) are
 * split between the sockets in proportion to their ports and workers, so one socket
 * behaves as before and memory does not grow with the socket count.
 */
static int start_pools(struct sluice_daemon *d)
{
	const struct sluice_config *cfg = d->cfg;
	uint32_t ports_on[RTE_MAX_NUMA_NODES] = {0}, workers_on[RTE_MAX_NUMA_NODES] = {0};
	uint32_t need[RTE_MAX_NUMA_NODES] = {0};
	uint32_t workers = cfg->dataplane.workers;
	bool any_socket = cfg->eal.memory == SLUICE_CONFIG_MEM_NO_HUGE;
	int main_socket = (int)rte_socket_id();

	for (uint32_t i = 0; i < cfg->nports; i++) {
		const struct sluice_config_port *p = &cfg->ports[i];
		/* A device that did not probe is reported when its port is created. */
		int s = any_socket ? 0 : sluice_nic_device_socket(p->device);
		uint32_t q = p->queues ? p->queues : workers;

		if (s < 0 || s >= RTE_MAX_NUMA_NODES)
			s = main_socket;
		d->port_slot[i] = (uint8_t)s;
		ports_on[s]++;
		need[s] += p->rx_desc * q;
	}
	for (uint32_t w = 0; w < workers; w++) {
		unsigned s = any_socket ? 0 : rte_lcore_to_socket_id(cfg->eal.worker_lcore[w]);

		if (s >= RTE_MAX_NUMA_NODES)
			s = (unsigned)main_socket;
		d->worker_slot[w] = (uint8_t)s;
		workers_on[s]++;
	}
	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		struct mbuf_args ma = {.cache = cfg->dataplane.mbuf_cache};
		struct batch_args ba = {.bytes = (uint32_t)cfg->dataplane.batch_bytes};
		int socket = any_socket ? SOCKET_ID_ANY : s;

		if (ports_on[s]) {
			ma.n = (uint32_t)((uint64_t)cfg->dataplane.mbufs * ports_on[s] /
					  cfg->nports);
			need[s] += cfg->dataplane.mbuf_cache * (workers + 1) + 2 * 64;
			if (ma.n < need[s]) {
				DLOG(ERR,
				     "dataplane.mbufs = %u gives socket %d's pool %u mbufs for its "
				     "%u "
				     "port%s, which cannot fill their RX rings: ports x workers x "
				     "rx_desc + caches need %u",
				     cfg->dataplane.mbufs, s, ma.n, ports_on[s],
				     ports_on[s] == 1 ? "" : "s", need[s]);
				return -EINVAL;
			}
			snprintf(ma.name, sizeof(ma.name), "sluiced_mbuf_s%d", s);
			d->mbuf_pools[s] =
				pool_on("the ports' packet buffers", socket, mbuf_create, &ma);
			if (!d->mbuf_pools[s]) {
				DLOG(ERR,
				     "mbuf pool (%u mbufs, socket %d): %s (raise eal.memory_mb or "
				     "lower dataplane.mbufs)",
				     ma.n, s, rte_strerror(rte_errno));
				return -ENOMEM;
			}
		}
		if (workers_on[s]) {
			ba.n = (uint32_t)((uint64_t)cfg->dataplane.batch_buffers * workers_on[s] /
					  workers);
			if (ba.n < 16)
				ba.n = 16;
			snprintf(ba.name, sizeof(ba.name), "sluiced_batch_s%d", s);
			d->batch_pools[s] =
				pool_on("the workers' batch buffers", socket, batch_create, &ba);
			if (!d->batch_pools[s]) {
				DLOG(ERR, "batch pool (%u x %" PRIu64 " bytes, socket %d): %s",
				     ba.n, cfg->dataplane.batch_bytes, s, strerror(-ba.rc));
				return ba.rc ? ba.rc : -ENOMEM;
			}
		}
		if (ports_on[s] || workers_on[s])
			DLOG(INFO,
			     "socket %d: %u port%s (%u mbufs), %u worker%s (%u batch buffers)%s", s,
			     ports_on[s], ports_on[s] == 1 ? "" : "s", ma.n, workers_on[s],
			     workers_on[s] == 1 ? "" : "s", ba.n,
			     any_socket ? " (no-huge: memory on any socket)" : "");
	}
	return 0;
}

/* Largest batch the batch buffers hold (the same on every socket). */
static uint32_t batch_capacity(const struct sluice_daemon *d)
{
	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++)
		if (d->batch_pools[s])
			return sluice_dp_batch_pool_capacity(d->batch_pools[s]);
	return 0;
}

/* sluiced's NUMA placement judged against the host before anything is allocated. */
static void numa_warn(void *arg, uint32_t port, const char *msg)
{
	(void)arg;
	(void)port;
	DLOG(WARNING, "%s", msg);
}

static int start_storage(struct sluice_daemon *d)
{
	const struct sluice_config *cfg = d->cfg;
	struct sluice_topic_opts topics[SLUICE_CONFIG_MAX_TOPICS];
	int writer_cpus[64], writer_nodes[64];
	struct sluice_log_opts o = {0};
	double t0 = sluice_mono_s();
	int rc;

	for (uint32_t i = 0; i < cfg->ntopics; i++) {
		const struct sluice_config_topic *t = &cfg->topics[i];
		topics[i] = (struct sluice_topic_opts){
			.name = t->name,
			.partitions = t->partitions,
			.segment_bytes = t->segment_bytes,
			.segment_ms = t->segment_us / 1000,
			.retention_bytes = t->retention_bytes,
			.retention_ms = t->retention_us / 1000,
			.retention_drop_unforwarded = t->retention_drop_unforwarded,
			/* Without forwarding nothing moves the forwarded mark: size and age
			 * alone decide, or the disk fills. */
			.store_only = d->forwarding == SLUICE_CONFIG_FORWARD_OFF,
			.flush_none = !t->fsync,
			.flush_interval_us = t->flush_interval_us,
			.flush_bytes = t->flush_bytes,
			.index_interval_bytes = (uint32_t)t->index_interval_bytes,
		};
	}
	for (uint32_t i = 0; i < cfg->storage.writer_cpus.n && i < 64; i++) {
		writer_cpus[i] = cfg->storage.writer_cpus.id[i];
		/* A pinned writer's buffers go to its CPU's node. */
		writer_nodes[i] =
			sluice_host_cpu_node(sluice_host_root(), (unsigned)writer_cpus[i]);
		if (writer_nodes[i] < 0)
			writer_nodes[i] = -1;
	}
	o.data_dir = cfg->storage.data_dir;
	o.topics = topics;
	o.ntopics = cfg->ntopics;
	o.writers = cfg->storage.writers;
	o.producers = cfg->dataplane.workers;
	o.ring_size = cfg->storage.ring_size;
	o.direct_io = cfg->storage.direct_io == SLUICE_CONFIG_DIRECT_ON ? 1
		: cfg->storage.direct_io == SLUICE_CONFIG_DIRECT_OFF    ? 0
									: -1;
	o.write_buffer_bytes = cfg->storage.write_buffer_bytes;
	o.writer_cpus = cfg->storage.writer_cpus.n ? writer_cpus : NULL;
	o.writer_nodes = cfg->storage.writer_cpus.n ? writer_nodes : NULL;
	o.writer_idle_sleep = cfg->storage.idle_sleep;
	o.prealloc = cfg->storage.prealloc == 1 ? SLUICE_PREALLOC_NONE
		: cfg->storage.prealloc == 2    ? SLUICE_PREALLOC_FALLOCATE
						: SLUICE_PREALLOC_DEFAULT;
	o.prealloc_bytes = cfg->storage.prealloc_bytes;
	o.queue_depth = cfg->storage.queue_depth;
	if (mkdir(cfg->storage.data_dir, 0750) != 0 && errno != EEXIST) {
		rc = -errno;
		DLOG(ERR, "cannot create data directory %s: %s", cfg->storage.data_dir,
		     strerror(-rc));
		return rc;
	}
	rc = sluice_log_open(&o, &d->log);
	if (rc) {
		DLOG(ERR, "opening the log in %s failed: %s", cfg->storage.data_dir, strerror(-rc));
		return rc;
	}
	DLOG(INFO, "log open: %u partitions in %s, recovery checked in %.1f ms",
	     sluice_log_partition_count(d->log), cfg->storage.data_dir,
	     (sluice_mono_s() - t0) * 1e3);
	return 0;
}

static int start_ports(struct sluice_daemon *d)
{
	const struct sluice_config *cfg = d->cfg;

	for (uint32_t i = 0; i < cfg->nports; i++) {
		const struct sluice_config_port *p = &cfg->ports[i];
		uint16_t q = (uint16_t)(p->queues ? p->queues : cfg->dataplane.workers);
		struct sluice_nic_port_opts o = {
			.name = p->name,
			.device = p->device,
			.rx_queues = q,
			.tx_queues = q,
			.rx_desc = (uint16_t)p->rx_desc,
			.tx_desc = (uint16_t)p->tx_desc,
			.mtu = (uint16_t)p->mtu,
			.rss = p->rss,
			.promiscuous = p->promiscuous,
			.pool = d->mbuf_pools[d->port_slot[i]],
		};
		int rc = sluice_nic_port_create(&o, &d->ports[i]);
		if (rc) {
			DLOG(ERR, "port %s (%s): %s%s", p->name, p->device, strerror(-rc),
			     rc == -ENODEV ? " (the device did not probe: check its arguments)"
					   : "");
			return rc;
		}
		DLOG(INFO,
		     "port %s: NUMA socket %d (its queues' rings), mbufs from socket %d's pool",
		     p->name, sluice_nic_port_socket(d->ports[i]), d->port_slot[i]);
		d->nports = i + 1;
	}
	for (uint32_t i = 0; i < d->nports; i++) {
		const struct sluice_config_port *p = &cfg->ports[i];
		int rc = sluice_nic_port_start(d->ports[i], (uint32_t)(p->link_wait_us / 1000));
		if (rc == -ETIMEDOUT && p->link_wait_us == 0) {
			DLOG(INFO, "port %s: link down; receiving as soon as it comes up", p->name);
		} else if (rc == -ETIMEDOUT) {
			/* A memif peer may connect later: receive as soon as it does. */
			DLOG(WARNING, "port %s: link still down after %" PRIu64 " ms; continuing",
			     p->name, p->link_wait_us / 1000);
		} else if (rc) {
			DLOG(ERR, "port %s: start failed: %s", p->name, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int start_workers(struct sluice_daemon *d)
{
	const struct sluice_config *cfg = d->cfg;

	for (uint32_t i = 0; i < cfg->nlisteners; i++) {
		const struct sluice_config_listener *cl = &cfg->listeners[i];
		const struct sluice_config_topic *t = &cfg->topics[cl->topic_index];
		struct sluice_listener *l = &d->listeners[i];
		int first = sluice_log_partition_id(d->log, t->name, 0);

		if (first < 0) {
			DLOG(ERR, "listener %s: topic %s is not in the log", cl->name, t->name);
			return -ENOENT;
		}
		memset(l, 0, sizeof(*l));
		l->family = cl->family == 4 ? SLUICE_ADDR_V4
			: cl->family == 6   ? SLUICE_ADDR_V6
					    : SLUICE_ADDR_ANY;
		memcpy(l->addr, cl->addr, 16);
		l->udp_port = (uint16_t)cl->udp_port;
		/* Workers poll every port in config order: a listener hears only its own. */
		l->port_mask = 1u << cl->port_index;
		l->format = cl->format == SLUICE_CONFIG_FORMAT_LINES ? SLUICE_FORMAT_LINES
			: cl->format == SLUICE_CONFIG_FORMAT_RAW     ? SLUICE_FORMAT_RAW
								     : SLUICE_FORMAT_KAFKA;
		l->key_mode = cl->key == SLUICE_CONFIG_KEY_SOURCE ? SLUICE_KEY_SOURCE_ADDR
								  : SLUICE_KEY_NONE;
		l->first_partition_id = (uint32_t)first;
		l->partitions = t->partitions;
		l->max_event_bytes = cl->max_event_bytes;
		l->rate_limit = cl->rate_limit;
		l->rate_limit_burst = cl->rate_limit_burst;
		snprintf(l->topic, sizeof(l->topic), "%s", t->name);
	}
	d->nlisteners = cfg->nlisteners;

	for (uint32_t w = 0; w < cfg->dataplane.workers; w++) {
		struct sluice_worker_opts o = {0};
		int rc;

		for (uint32_t p = 0; p < d->nports; p++) {
			const struct sluice_config_port *cp = &cfg->ports[p];
			struct sluice_dp_port *dp = &d->dp_ports[w][p];
			memset(dp, 0, sizeof(*dp));
			dp->port = d->ports[p];
			dp->queue = (uint16_t)w;
			memcpy(dp->ipv4, cp->ipv4_addr, 4);
			dp->has_ipv6 = cp->has_ipv6;
			memcpy(dp->ipv6, cp->ipv6_addr, 16);
			dp->answer_nd = cp->has_ipv6;
			dp->promiscuous = cp->promiscuous;
		}
		o.id = w;
		o.lcore = cfg->eal.worker_lcore[w];
		o.ports = d->dp_ports[w];
		o.nports = d->nports;
		o.listeners = d->listeners;
		o.nlisteners = d->nlisteners;
		o.log = d->log;
		o.batch_pool = d->batch_pools[d->worker_slot[w]];
		o.batch_bytes = (uint32_t)cfg->dataplane.batch_bytes;
		o.linger_us = (uint32_t)cfg->dataplane.linger_us;
		o.backpressure = cfg->dataplane.backpressure ? SLUICE_BACKPRESSURE_BLOCK
							     : SLUICE_BACKPRESSURE_DROP;
		o.keyless =
			cfg->dataplane.keyless ? SLUICE_KEYLESS_ROUND_ROBIN : SLUICE_KEYLESS_STICKY;
		o.producer_table_size = cfg->dataplane.producer_table_size;
		o.reorder_window = cfg->dataplane.reorder_window;
		o.producers_per_source = cfg->dataplane.producers_per_source;
		o.producer_idle_ms = (uint32_t)(cfg->dataplane.producer_idle_us / 1000);
		o.reply_rate = cfg->dataplane.reply_rate;
		o.reply_burst = cfg->dataplane.reply_burst;
		o.idle_backoff = cfg->dataplane.idle_sleep;
		o.idle_sleep_us = (uint32_t)cfg->dataplane.idle_sleep_us;
		o.burst = (uint16_t)cfg->dataplane.burst;
		rc = sluice_worker_create(&o, &d->workers[w]);
		if (rc) {
			DLOG(ERR, "worker %u: %s", w, strerror(-rc));
			return rc;
		}
		d->worker_lcore[w] = o.lcore;
		d->nworkers = w + 1;
	}
	for (uint32_t w = 0; w < d->nworkers; w++) {
		int rc =
			rte_eal_remote_launch(sluice_worker_run, d->workers[w], d->worker_lcore[w]);
		if (rc) {
			DLOG(ERR, "worker %u: launch on lcore %u failed: %s", w, d->worker_lcore[w],
			     strerror(-rc));
			return rc;
		}
		d->launched[w] = true;
	}
	return 0;
}

static int start_forwarder(struct sluice_daemon *d)
{
	const struct sluice_config *cfg = d->cfg;
	const struct sluice_config_kafka *k = &cfg->kafka;
	struct sluice_fwd_topic topics[SLUICE_CONFIG_MAX_TOPICS];
	struct sluice_fwd_kv kv[SLUICE_CONFIG_MAX_KAFKA_PROPS];
	struct sluice_fwd_opts o = {0};
	static const char *const compression[] = {"none", "lz4", "zstd"};
	int rc;

	if (k->appliance_id[0]) {
		snprintf(d->appliance_id, sizeof(d->appliance_id), "%s", k->appliance_id);
	} else if (gethostname(d->appliance_id, sizeof(d->appliance_id)) != 0) {
		snprintf(d->appliance_id, sizeof(d->appliance_id), "sluice");
	}
	d->appliance_id[sizeof(d->appliance_id) - 1] = '\0';
	if (d->forwarding == SLUICE_CONFIG_FORWARD_OFF) {
		DLOG(NOTICE,
		     "forwarding: off (%s): the log is stored, nothing is forwarded; "
		     "retention by size and age alone",
		     k->enabled ? "no kafka.brokers configured" : "kafka.enabled = false");
		return 0;
	}
	if (d->forwarding == SLUICE_CONFIG_FORWARD_EMBEDDED) {
		struct sluice_kafka_embedded_topic et[SLUICE_CONFIG_MAX_TOPICS];
		for (uint32_t i = 0; i < cfg->ntopics; i++) {
			const struct sluice_config_topic *t = &cfg->topics[i];
			et[i].name = t->kafka_topic[0] ? t->kafka_topic : t->name;
			et[i].partitions = t->partitions;
		}
		rc = sluice_kafka_embedded_start(et, cfg->ntopics, k->embedded_brokers,
						 &d->embedded);
		if (rc) {
			DLOG(ERR, "embedded Kafka: %s", strerror(-rc));
			return rc;
		}
		snprintf(d->bootstrap, sizeof(d->bootstrap), "%s",
			 sluice_kafka_embedded_bootstrap(d->embedded));
		DLOG(WARNING,
		     "forwarding: DEMO MODE, kafka.brokers = embedded: librdkafka's mock cluster "
		     "at %s keeps records in memory, only the newest 5 MiB per partition, and "
		     "loses them at exit; retention keeps the whole log (its acks never make a "
		     "record safe to delete)",
		     d->bootstrap);
	} else {
		snprintf(d->bootstrap, sizeof(d->bootstrap), "%s", k->brokers);
	}
	for (uint32_t i = 0; i < cfg->ntopics; i++) {
		const struct sluice_config_topic *t = &cfg->topics[i];
		topics[i] = (struct sluice_fwd_topic){
			.name = t->name,
			.kafka_topic = t->kafka_topic[0] ? t->kafka_topic : NULL,
			.retention_bytes = t->retention_bytes,
			.retention_ms = t->retention_us / 1000,
			.retention_drop_unforwarded = t->retention_drop_unforwarded,
		};
	}
	for (uint32_t i = 0; i < k->nprops; i++) {
		kv[i].key = k->props[i].key;
		kv[i].value = k->props[i].value;
	}
	o.log = d->log;
	o.topics = topics;
	o.ntopics = cfg->ntopics;
	o.brokers = d->bootstrap;
	o.appliance_id = d->appliance_id;
	o.transactional_id = k->transactional_id[0] ? k->transactional_id : NULL;
	o.compression = compression[k->compression < 3 ? k->compression : 0];
	o.headers = k->headers;
	o.inflight_max_msgs = k->inflight_max_msgs;
	o.inflight_max_bytes = k->inflight_max_bytes;
	o.checkpoint_dir = cfg->storage.data_dir;
	o.kafka_conf = kv;
	o.nkafka_conf = k->nprops;
	o.hold_retention = d->forwarding == SLUICE_CONFIG_FORWARD_EMBEDDED;
	rc = sluice_fwd_create(&o, &d->fwd);
	if (rc) {
		DLOG(ERR, "forwarder: %s", strerror(-rc));
		return rc;
	}
	rc = sluice_fwd_start(d->fwd);
	if (rc) {
		DLOG(ERR, "forwarder: start failed: %s", strerror(-rc));
		return rc;
	}
	if (d->forwarding == SLUICE_CONFIG_FORWARD_KAFKA)
		DLOG(NOTICE, "forwarding: to Kafka at %s", d->bootstrap);
	return 0;
}

/* mkdir -p of the directory that holds @p path. */
static void make_parent_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(dir, 0755);
		*p = '/';
	}
	mkdir(dir, 0755);
}

static int start_outputs(struct sluice_daemon *d)
{
	const struct sluice_config *cfg = d->cfg;
	int rc;

	if (cfg->control.socket[0]) {
		struct sluice_ctl_server_opts o = {
			.socket_path = cfg->control.socket,
			/* Resolved at validation; without groups only root may connect. Readers
			 * (socket_group) and admins (admin_group): see ctl.h. */
			.gid = cfg->control.socket_group[0] ? cfg->control.socket_gid : (gid_t)-1,
			.admin_gid_set = cfg->control.admin_group[0] != '\0',
			.admin_gid = cfg->control.admin_gid,
			.daemon = d,
		};
		make_parent_dir(cfg->control.socket);
		rc = sluice_ctl_server_start(&o, &d->ctl);
		if (rc) {
			DLOG(ERR, "control socket %s: %s", cfg->control.socket, strerror(-rc));
			return rc;
		}
	}
	if (cfg->control.metrics) {
		struct sluice_metrics_http_opts o = {
			.bind_addr = cfg->control.metrics_addr,
			.port = cfg->control.metrics_port,
			.daemon = d,
		};
		rc = sluice_metrics_http_start(&o, &d->http);
		if (rc) {
			DLOG(ERR, "metrics endpoint %s: %s", cfg->control.metrics_listen,
			     strerror(-rc));
			return rc;
		}
		DLOG(INFO, "metrics at http://%s:%u/metrics", cfg->control.metrics_addr,
		     sluice_metrics_http_port(d->http));
	}
	if (cfg->eal.telemetry) {
		rc = sluice_telemetry_register(d);
		if (rc)
			DLOG(WARNING, "DPDK telemetry commands not registered: %s", strerror(-rc));
		else
			d->telemetry = true;
	}
	return 0;
}

int sluice_daemon_start(struct sluice_daemon *d)
{
	struct timespec t0, wall;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_REALTIME, &wall);
	d->start_time_s = sluice_ts_s(&wall);
	d->forwarding = sluice_config_forwarding(d->cfg);
	set_state(d, STATE_STARTING);
	d->log_stream = log_setup(d->cfg);
	d->notify = getenv("NOTIFY_SOCKET") != NULL;
	sluice_host_numa_check(sluice_host_root(), d->cfg, numa_warn, NULL);
	sluice_notify("STATUS=starting: EAL, memory pools");
	if ((rc = start_eal(d)) || (rc = start_pools(d)))
		goto fail;
	sluice_notify("STATUS=starting: opening the log (recovery where it was not closed "
		      "cleanly)");
	if ((rc = start_storage(d)))
		goto fail;
	sluice_notify("STATUS=starting: ports (waiting up to port.*.link_wait for links)");
	if ((rc = start_ports(d)))
		goto fail;
	rc = sluice_log_start(d->log);
	if (rc) {
		DLOG(ERR, "storage writers: %s", strerror(-rc));
		goto fail;
	}
	d->log_started = true;
	if ((rc = start_workers(d)) || (rc = start_forwarder(d)) || (rc = start_outputs(d)))
		goto fail;
	clock_gettime(CLOCK_MONOTONIC, &d->started_mono);
	d->startup_s = sluice_ts_s(&d->started_mono) - sluice_ts_s(&t0);
	set_state(d, STATE_RUNNING);
	supervise_start(d);
	DLOG(NOTICE,
	     "running: %u ports, %u workers (lcores %s), %u writers, %u partitions, forwarding "
	     "%s; started in %.1f ms",
	     d->nports, d->nworkers, d->cfg->eal.lcores_resolved, d->cfg->storage.writers,
	     sluice_log_partition_count(d->log), sluice_config_forwarding_name(d->forwarding),
	     d->startup_s * 1e3);
	return 0;
fail:
	set_state(d, STATE_FAILED);
	sluice_daemon_stop(d);
	set_state(d, STATE_FAILED);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Totals and the accounting chain                                                            */

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
	/* Residues of each identity: exactly zero unless events leaked (see gather()). */
	struct sluice_daemon_residues res;
	int64_t in_flight; /* enqueued, not yet durable or shed by storage */
	uint64_t unaccounted;
};

static uint64_t iabs(int64_t v)
{
	return v < 0 ? (uint64_t)-v : (uint64_t)v;
}

/*
 * NIC counters that never go backwards. Some PMDs reset theirs when the link renews (memif
 * re-creates its queues, and their counters, each time a peer connects), which would break
 * the accounting chain; a drop is taken as a reset and the old value kept as a base.
 * Caller holds d->lock.
 */
static int nic_stats(struct sluice_daemon *d, uint32_t port, struct sluice_nic_stats *out)
{
	struct sluice_nic_stats raw;
	uint64_t *r = (uint64_t *)&raw, *last = (uint64_t *)&d->nic_last[port];
	uint64_t *base = (uint64_t *)&d->nic_base[port], *o = (uint64_t *)out;
	int rc = sluice_nic_port_stats(d->ports[port], &raw);

	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(raw) / sizeof(uint64_t); i++) {
		/* memif reads 0 while no peer is connected and then shows the old counters
		 * again until a new peer connects: a 0 is "unknown", not a reset. */
		if (r[i] == 0 && last[i] > 0) {
			o[i] = base[i] + last[i];
			continue;
		}
		if (r[i] < last[i])
			base[i] += last[i];
		last[i] = r[i];
		o[i] = base[i] + r[i];
	}
	return 0;
}

/*
 * Durable records Kafka has not acknowledged yet, from the forwarder's own view (storage's
 * forwarded watermark is only refreshed periodically, for retention).
 */
static uint64_t fwd_pending(struct sluice_daemon *d, struct sluice_fwd_stats *fs)
{
	uint32_t n = d->log ? sluice_log_partition_count(d->log) : 0;
	struct sluice_fwd_partition_stats *ps = calloc(n ? n : 1, sizeof(*ps));
	uint64_t pending = 0;

	if (!ps) {
		sluice_fwd_stats(d->fwd, fs, NULL, 0);
		return UINT64_MAX;
	}
	sluice_fwd_stats(d->fwd, fs, ps, n);
	for (uint32_t i = 0; i < n && i < fs->npartitions; i++)
		if (ps[i].durable_offset > ps[i].forwarded_offset)
			pending += (uint64_t)(ps[i].durable_offset - ps[i].forwarded_offset);
	free(ps);
	return pending;
}

void sluice_daemon_residues(const struct sluice_worker_stats *w, uint64_t persisted,
			    uint64_t storage_shed, struct sluice_daemon_residues *out)
{
	uint64_t pkt = 0, dgram = 0, ev = 0, shed = 0;

	for (int r = 1; r < SLUICE_DP_REJECT__COUNT; r++) {
		if (r < SLUICE_DP_REJECT__FIRST_DATAGRAM)
			pkt += w->rejects[r];
		else if (r < SLUICE_DP_REJECT__FIRST_EVENT)
			dgram += w->rejects[r];
		else
			ev += w->rejects[r];
	}
	for (int s = 0; s < SLUICE_DP_SHED__COUNT; s++)
		shed += w->shed[s];
	/* The dataplane's identities (sluice_dataplane.h), then storage's. Packets, datagrams
	 * and events are different units: a `lines` datagram carries many events. */
	out->packets = (int64_t)(w->rx_packets - w->ctrl_packets - w->datagrams - pkt);
	out->datagrams = (int64_t)(w->datagrams - w->datagrams_accepted - dgram);
	out->events = (int64_t)(w->events_decoded - w->events_parsed - ev);
	out->parsed = (int64_t)(w->events_parsed - w->events_enqueued - shed - w->events_open);
	out->in_flight = (int64_t)(w->events_enqueued - persisted - storage_shed);
	out->unaccounted = iabs(out->packets) + iabs(out->datagrams) + iabs(out->events) +
		iabs(out->parsed) + (out->in_flight < 0 ? iabs(out->in_flight) : 0);
}

/*
 * One consistent reading of the chain, downstream stages first. Each worker's counters are a
 * snapshot it published where its identities hold (sluice_worker_stats()), so the
 * dataplane's residues are exactly 0 whatever the load. Storage's counters are read before
 * the workers': a batch is counted enqueued in the counters a worker publishes before it puts
 * the batch on a ring, the writer takes it off the ring (acquire) before it counts it durable
 * or shed (release stores), and the fence below orders those reads before the workers' — so
 * persisted + shed never exceeds enqueued, and what is between them is in flight, never loss.
 * The NIC's counters are read last and only shown: drivers keep them their own way (some
 * refresh them from hardware periodically), so they are not part of a checked identity.
 * Caller holds d->lock.
 */
static void gather(struct sluice_daemon *d, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	if (d->fwd) {
		t->pending = fwd_pending(d, &t->fwd);
		t->have_fwd = true;
		t->forwarded = t->fwd.delivered_records;
	}
	if (d->log) {
		uint32_t n = sluice_log_partition_count(d->log);
		for (uint32_t i = 0; i < n; i++) {
			struct sluice_partition_stats ps;
			sluice_partition_stats(sluice_log_partition(d->log, i), &ps);
			t->appended += ps.appended_records;
			t->persisted += ps.durable_records;
			t->storage_shed += ps.shed_records;
			for (int r = 0; r < SLUICE_STORAGE_SHED__COUNT; r++)
				t->storage_shed_reason[r] += ps.shed_reason[r];
			t->failed_partitions += ps.failed;
			t->bytes_on_disk += ps.bytes_on_disk;
			t->retention_dropped += ps.retention_dropped_records;
		}
	}
	/* Partner: the writers' release stores of durable_offset and shed_records. */
	atomic_thread_fence(memory_order_acquire);
	for (uint32_t i = 0; i < d->nworkers; i++) {
		struct sluice_worker_stats s;
		sluice_worker_stats(d->workers[i], &s);
		sluice_worker_stats_add(&t->w, &s);
	}
	for (uint32_t i = 0; i < d->nports; i++) {
		struct sluice_nic_stats s;
		if (nic_stats(d, i, &s) != 0)
			continue;
		t->nic.ipackets += s.ipackets;
		t->nic.ibytes += s.ibytes;
		t->nic.imissed += s.imissed;
		t->nic.ierrors += s.ierrors;
		t->nic.rx_nombuf += s.rx_nombuf;
		t->nic.opackets += s.opackets;
	}
	for (int r = 1; r < SLUICE_DP_REJECT__COUNT; r++) {
		if (r < SLUICE_DP_REJECT__FIRST_DATAGRAM)
			t->pkt_rejects += t->w.rejects[r];
		else if (r < SLUICE_DP_REJECT__FIRST_EVENT)
			t->dgram_rejects += t->w.rejects[r];
		else
			t->event_rejects += t->w.rejects[r];
	}
	for (int s = 0; s < SLUICE_DP_SHED__COUNT; s++)
		t->shed += t->w.shed[s];
	sluice_daemon_residues(&t->w, t->persisted, t->storage_shed, &t->res);
	t->in_flight = t->res.in_flight;
	t->unaccounted = t->res.unaccounted;
}

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
static void gather_producers(struct sluice_daemon *d, struct producer_list *pl)
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
static int disk_space(const struct sluice_daemon *d, uint64_t *free_bytes, uint64_t *size_bytes)
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
static int health_locked(struct sluice_daemon *d, char *reason, size_t len)
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

		gather(d, &t); /* one consistent reading: a residue is a leak, not timing */
		f.unaccounted = t.unaccounted;
	}
	f.have_disk = disk_space(d, &f.disk_free_bytes, &f.disk_size_bytes) == 0;
	bad += sluice_daemon_health_judge(&d->cfg->control, &f, reason, len);
	free(lag);
	free(ps);
	return bad;
}

int sluice_daemon_health(struct sluice_daemon *d, char *reason, size_t reason_len)
{
	int bad;

	pthread_mutex_lock(&d->lock);
	bad = health_locked(d, reason, reason_len);
	pthread_mutex_unlock(&d->lock);
	return bad;
}

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

	*healthy = health_locked(d, reason, sizeof(reason)) == 0;
	if (!*healthy)
		for (char *tok = strtok_r(reason, "\n", &save); tok;
		     tok = strtok_r(NULL, "\n", &save))
			json_array_append_new(a, json_string(tok));
	return a;
}

static json_t *req_status(struct sluice_daemon *d)
{
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
		nic_stats(d, i, &st);
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

static json_t *req_stats(struct sluice_daemon *d)
{
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
	gather(d, &t);
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
	json_object_set_new(r, "bytes_on_disk", json_integer((json_int_t)t.bytes_on_disk));
	json_object_set_new(r, "unaccounted", json_integer((json_int_t)t.unaccounted));
	return r;
}

static json_t *req_producers(struct sluice_daemon *d, json_t *args)
{
	struct producer_list pl;
	json_t *limit_j = args ? json_object_get(args, "limit") : NULL;
	json_int_t limit = 20;
	json_t *r, *a;

	if (limit_j) {
		if (!json_is_integer(limit_j) || json_integer_value(limit_j) < 1)
			return reply_err("limit must be a positive integer");
		limit = json_integer_value(limit_j);
	}
	gather_producers(d, &pl);
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

static json_t *req_partitions(struct sluice_daemon *d)
{
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
static json_t *req_segments(struct sluice_daemon *d, json_t *args)
{
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

	if (strncmp(key, "dataplane.", 10) == 0) {
		for (uint32_t w = 0; w < d->nworkers; w++) {
			struct sluice_worker *wk = d->workers[w];
			sluice_worker_set_linger_us(wk, (uint32_t)cfg->dataplane.linger_us);
			sluice_worker_set_batch_bytes(wk, (uint32_t)cfg->dataplane.batch_bytes);
			sluice_worker_set_backpressure(wk,
						       cfg->dataplane.backpressure
							       ? SLUICE_BACKPRESSURE_BLOCK
							       : SLUICE_BACKPRESSURE_DROP);
			sluice_worker_set_idle_backoff(wk, cfg->dataplane.idle_sleep,
						       (uint32_t)cfg->dataplane.idle_sleep_us);
		}
	} else if (strcmp(key, "control.log_level") == 0) {
		rte_log_set_level_pattern("sluice.*", cfg->control.log_level);
	} else if (strncmp(key, "kafka.inflight_", 15) == 0 && d->fwd) {
		sluice_fwd_set_inflight(d->fwd, cfg->kafka.inflight_max_msgs,
					cfg->kafka.inflight_max_bytes);
	}
	/* control.stats_interval is read by run() each pass. */
}

/*
 * Change one runtime-tunable key of the running configuration and push it to the modules:
 * `sluicectl config set` and a reload (SIGHUP) both come here. Nothing changes on error
 * (reason in @p err). Caller holds d->lock. @return 0, -ENOENT, -EPERM or -EINVAL.
 */
static int config_set_apply(struct sluice_daemon *d, const char *key, const char *value, char *err,
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
	if (strcmp(key, "dataplane.batch_bytes") == 0 && batch_capacity(d) &&
	    d->cfg->dataplane.batch_bytes > batch_capacity(d)) {
		uint64_t cap = batch_capacity(d);
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
		rc = config_set_apply(d, json_string_value(kj), json_string_value(vj), err,
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
static json_t *req_flush(struct sluice_daemon *d)
{
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
		gather(d, &t);
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

json_t *sluice_daemon_request(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	json_t *r;

	if (args && !json_is_object(args) && !json_is_null(args))
		return reply_err("args must be an object");
	if (args && json_is_null(args))
		args = NULL;
	{
		static const char *const known[] = {
			"status",      "shutdown",        "config.get",       "config.set",
			"config.list", "stats",           "producers",        "partitions",
			"segments",    "forwarder.pause", "forwarder.resume", "flush"};
		bool found = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			found = found || strcmp(cmd, known[i]) == 0;
		if (!found)
			return reply_err("unknown command \"%s\"", cmd);
	}
	pthread_mutex_lock(&d->lock);
	if (strcmp(cmd, "status") == 0) {
		r = req_status(d);
	} else if (strcmp(cmd, "shutdown") == 0) {
		sluice_daemon_request_stop(d);
		r = reply_ok();
		json_object_set_new(r, "state", json_string("stopping"));
	} else if (strncmp(cmd, "config.", 7) == 0 &&
		   (strcmp(cmd + 7, "get") == 0 || strcmp(cmd + 7, "set") == 0 ||
		    strcmp(cmd + 7, "list") == 0)) {
		r = req_config(d, cmd, args);
	} else if (d->state != STATE_RUNNING && d->state != STATE_STOPPING) {
		r = reply_err("sluiced is %s", state_names[d->state]);
	} else if (strcmp(cmd, "stats") == 0) {
		r = req_stats(d);
	} else if (strcmp(cmd, "producers") == 0) {
		r = req_producers(d, args);
	} else if (strcmp(cmd, "partitions") == 0) {
		r = req_partitions(d);
	} else if (strcmp(cmd, "segments") == 0) {
		r = req_segments(d, args);
	} else if (strcmp(cmd, "forwarder.pause") == 0 || strcmp(cmd, "forwarder.resume") == 0) {
		r = req_forwarder(d, cmd, args);
	} else if (strcmp(cmd, "flush") == 0) {
		r = req_flush(d);
	} else {
		r = reply_err("unknown command \"%s\"", cmd);
	}
	pthread_mutex_unlock(&d->lock);
	return r ? r : reply_err("out of memory");
}

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
static void supervise(struct sluice_daemon *d, double now)
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
	gather(d, &t);
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
static void supervise_start(struct sluice_daemon *d)
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
		    config_set_apply(d, f->key, f->value, err, sizeof(err)) == 0) {
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
		supervise(d, sluice_mono_s());
		/* Sample the NIC often, so a PMD that resets its counters on reconnect (memif)
		 * loses at most one interval of them (see nic_stats()). */
		for (uint32_t i = 0; i < d->nports; i++) {
			struct sluice_nic_stats st;
			nic_stats(d, i, &st);
		}
		interval_us = d->cfg->control.stats_interval_us;
		now = sluice_mono_s();
		if (interval_us && now >= next_stats) {
			struct totals t;
			double dt = now - last_t;
			gather(d, &t);
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
		gather(d, &t);
		pthread_mutex_unlock(&d->lock);
		/* Quiescent now: every identity must hold exactly, in-flight included. */
		t.unaccounted += iabs(t.in_flight + (int64_t)t.w.events_open);
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
