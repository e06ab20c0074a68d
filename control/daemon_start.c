/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluiced's start order: EAL, pools, storage (recovery), ports, workers, forwarder, outputs.
 * Threading: see daemon.c.
 */
#include "daemon_internal.h"

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
uint32_t daemon_batch_capacity(const struct sluice_daemon *d)
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
		o.ack_window = cfg->dataplane.ack_window;
		o.ack_recovery_records = cfg->dataplane.ack_recovery_records;
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
	daemon_set_state(d, STATE_STARTING);
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
	daemon_set_state(d, STATE_RUNNING);
	daemon_supervise_start(d);
	DLOG(NOTICE,
	     "running: %u ports, %u workers (lcores %s), %u writers, %u partitions, forwarding "
	     "%s; started in %.1f ms",
	     d->nports, d->nworkers, d->cfg->eal.lcores_resolved, d->cfg->storage.writers,
	     sluice_log_partition_count(d->log), sluice_config_forwarding_name(d->forwarding),
	     d->startup_s * 1e3);
	return 0;
fail:
	daemon_set_state(d, STATE_FAILED);
	sluice_daemon_stop(d);
	daemon_set_state(d, STATE_FAILED);
	return rc;
}
