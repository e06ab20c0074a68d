/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * EAL start-up and ethdev ports (see sluice_nic.h).
 *
 * Threading contract:
 * - sluice_nic_eal_init/cleanup run once, on the main thread, before/after every other call.
 * - Port create/start/stop/destroy run on the control thread only, never while a worker polls
 *   the port (the caller stops its workers first).
 * - sluice_nic_rx_burst/tx_burst on queue q are called by the one lcore that owns q; the
 *   port struct is read-only after start, so the hot path takes no lock.
 * - Stats and xstats may be read by the control thread while workers poll: the PMD's counters
 *   are per-queue and read without locks, as every DPDK application does.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mbuf.h>

#include "nic_config.h"
#include "sluice_nic.h"
#include "sluice_log.h"

RTE_LOG_REGISTER(nic_logtype, sluice.nic, INFO)

SLUICE_LOG_FUNCTION(static, nic_log, nic_logtype, "sluice.nic: ", 512)

/* EAL keeps pointers into argv for its whole life, so the vector outlives eal_init. */
#define EAL_MAX_ARGS 256
static char *eal_argv[EAL_MAX_ARGS];
static int eal_argc;
static bool eal_up;

struct sluice_nic_port {
	char name[64];
	char device[RTE_ETH_NAME_MAX_LEN];
	uint16_t port_id;
	uint16_t rx_queues;
	uint16_t tx_queues;
	bool rss;
	bool rx_cksum;
	bool started;
	bool configured;
};

static void eal_args_free(void)
{
	for (int i = 0; i < eal_argc; i++)
		free(eal_argv[i]);
	eal_argc = 0;
}

static int eal_arg(const char *a, const char *b)
{
	size_t la, lb;
	char *s;

	if (eal_argc >= EAL_MAX_ARGS - 1)
		return -E2BIG;
	la = strlen(a);
	lb = b ? strlen(b) : 0;
	s = malloc(la + lb + 1);
	if (s == NULL)
		return -ENOMEM;
	memcpy(s, a, la);
	if (b)
		memcpy(s + la, b, lb);
	s[la + lb] = '\0';
	eal_argv[eal_argc++] = s;
	eal_argv[eal_argc] = NULL;
	return 0;
}

static int eal_build_argv(const struct sluice_nic_eal_opts *o)
{
	char num[24];
	int rc = 0;

	rc |= eal_arg(o->prog ? o->prog : "sluice", NULL);
	if (o->lcores && o->lcores[0]) {
		rc |= eal_arg("--lcores", NULL);
		rc |= eal_arg(o->lcores, NULL);
	}
	switch (o->mem_mode) {
	case SLUICE_NIC_MEM_HUGE:
		rc |= eal_arg("--huge-unlink", NULL);
		break;
	case SLUICE_NIC_MEM_IN_MEMORY:
		rc |= eal_arg("--in-memory", NULL);
		break;
	case SLUICE_NIC_MEM_NO_HUGE:
		rc |= eal_arg("--no-huge", NULL);
		break;
	default:
		return -EINVAL;
	}
	if (o->mem_mb || o->mem_mode == SLUICE_NIC_MEM_NO_HUGE) {
		snprintf(num, sizeof(num), "%u", o->mem_mb ? o->mem_mb : 256u);
		rc |= eal_arg("-m", NULL);
		rc |= eal_arg(num, NULL);
	}
	if (o->file_prefix && o->file_prefix[0])
		rc |= eal_arg("--file-prefix=", o->file_prefix);
	for (const char *const *v = o->vdevs; v && *v; v++)
		rc |= eal_arg("--vdev=", *v);
	if (o->pci_allow && o->pci_allow[0]) {
		for (const char *const *a = o->pci_allow; *a; a++)
			rc |= eal_arg("-a", *a);
	} else {
		/* Never touch a NIC nobody named: the host's own interface may be on the bus. */
		rc |= eal_arg("--no-pci", NULL);
	}
	if (o->log_level && o->log_level[0])
		rc |= eal_arg("--log-level=", o->log_level);
	if (!o->telemetry)
		rc |= eal_arg("--no-telemetry", NULL);
	for (const char *const *x = o->extra_args; x && *x; x++)
		rc |= eal_arg(*x, NULL);
	/* The OR of -E2BIG / -ENOMEM is still negative; report the common one. */
	return rc ? -ENOMEM : 0;
}

int sluice_nic_eal_init(const struct sluice_nic_eal_opts *opts)
{
	int rc;

	if (opts == NULL)
		return -EINVAL;
	if (eal_up)
		return -EALREADY;
	/* On Linux EAL logs to stdout by default; our programs keep stdout for their output
	 * (sluice-gen's JSON summary, sluicectl --json), so every DPDK log goes to stderr. */
	rte_openlog_stream(stderr);
	eal_args_free();
	rc = eal_build_argv(opts);
	if (rc < 0) {
		nic_log(RTE_LOG_ERR, "EAL argument vector: %s", strerror(-rc));
		eal_args_free();
		return rc;
	}
	/* rte_eal_init permutes argv: hand it a copy of the pointer array. */
	static char *argv_copy[EAL_MAX_ARGS];
	memcpy(argv_copy, eal_argv, sizeof(argv_copy));
	rc = rte_eal_init(eal_argc, argv_copy);
	if (rc < 0) {
		rc = rte_errno ? -rte_errno : -EINVAL;
		nic_log(RTE_LOG_ERR, "rte_eal_init failed: %s", rte_strerror(-rc));
		return rc;
	}
	eal_up = true;
	return 0;
}

void sluice_nic_eal_cleanup(void)
{
	if (!eal_up)
		return;
	rte_eal_cleanup();
	eal_up = false;
	eal_args_free();
}

void sluice_nic_eal_remove_runtime_dir(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *e;

	if (!dh)
		return;
	while ((e = readdir(dh))) {
		char path[PATH_MAX + 256];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(dh);
	rmdir(dir);
}

static void port_copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int sluice_nic_port_create(const struct sluice_nic_port_opts *opts, struct sluice_nic_port **out)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	struct sluice_nic_port *p = NULL;
	uint16_t port_id, nb_rxd, nb_txd;
	int socket, rc;

	*out = NULL;
	if (opts == NULL || opts->device == NULL || opts->pool == NULL || opts->rx_queues == 0)
		return -EINVAL;
	/* A vdev that fails to probe does not fail rte_eal_init: this is where it shows. */
	if (rte_eth_dev_get_port_by_name(opts->device, &port_id) != 0) {
		nic_log(RTE_LOG_ERR,
			"port %s: device %s did not probe (check its EAL arguments and log)",
			opts->name ? opts->name : "?", opts->device);
		return -ENODEV;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	port_copy_str(p->name, sizeof(p->name), opts->name ? opts->name : opts->device);
	port_copy_str(p->device, sizeof(p->device), opts->device);
	p->port_id = port_id;
	p->rx_queues = opts->rx_queues;
	p->tx_queues = opts->tx_queues;

	rc = rte_eth_dev_info_get(port_id, &info);
	if (rc != 0) {
		nic_log(RTE_LOG_ERR, "port %s: dev_info: %s", p->name, rte_strerror(-rc));
		goto fail;
	}
	if (p->rx_queues > info.max_rx_queues || p->tx_queues > info.max_tx_queues) {
		nic_log(RTE_LOG_ERR, "port %s: %u rx / %u tx queues requested, %s offers %u / %u",
			p->name, p->rx_queues, p->tx_queues, info.driver_name, info.max_rx_queues,
			info.max_tx_queues);
		rc = -EINVAL;
		goto fail;
	}

	memset(&conf, 0, sizeof(conf));
	/* RSS only spreads load when there is more than one queue; virtual PMDs offer no hash
	 * functions at all (flow_type_rss_offloads == 0), so the request degrades to none. */
	uint64_t rss_hf = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
	if (opts->rss && p->rx_queues > 1 && rss_hf != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = NULL; /* the driver's default key */
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
		p->rss = true;
	} else if (opts->rss && p->rx_queues > 1) {
		nic_log(RTE_LOG_INFO,
			"port %s: %s offers no IP/UDP RSS; queues are filled by the driver",
			p->name, info.driver_name);
	}
	const uint64_t cksum = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
	if ((info.rx_offload_capa & cksum) == cksum) {
		conf.rxmode.offloads |= cksum;
		p->rx_cksum = true;
	}
	if (opts->mtu) {
		if (opts->mtu < info.min_mtu || opts->mtu > info.max_mtu) {
			nic_log(RTE_LOG_ERR, "port %s: MTU %u outside %s's range %u..%u", p->name,
				opts->mtu, info.driver_name, info.min_mtu, info.max_mtu);
			rc = -EINVAL;
			goto fail;
		}
		conf.rxmode.mtu = opts->mtu;
		if (opts->mtu > RTE_ETHER_MTU &&
		    (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0)
			conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	}
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;

	rc = rte_eth_dev_configure(port_id, p->rx_queues, p->tx_queues, &conf);
	if (rc != 0) {
		nic_log(RTE_LOG_ERR, "port %s: configure %u/%u queues: %s", p->name, p->rx_queues,
			p->tx_queues, rte_strerror(-rc));
		goto fail;
	}
	p->configured = true;

	nb_rxd = opts->rx_desc ? opts->rx_desc : SLUICE_NIC_RX_DESC_DEFAULT;
	nb_txd = opts->tx_desc ? opts->tx_desc : SLUICE_NIC_TX_DESC_DEFAULT;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nb_rxd, &nb_txd);
	if (rc != 0) {
		nic_log(RTE_LOG_ERR, "port %s: descriptors: %s", p->name, rte_strerror(-rc));
		goto fail;
	}
	socket = rte_eth_dev_socket_id(port_id);
	if (socket < 0)
		socket = (int)rte_socket_id();
	for (uint16_t q = 0; q < p->rx_queues; q++) {
		struct rte_eth_rxconf rxc = info.default_rxconf;

		rxc.offloads = conf.rxmode.offloads;
		rc = rte_eth_rx_queue_setup(port_id, q, nb_rxd, (unsigned)socket, &rxc, opts->pool);
		if (rc != 0) {
			nic_log(RTE_LOG_ERR, "port %s: rx queue %u (%u descriptors): %s", p->name,
				q, nb_rxd, rte_strerror(-rc));
			goto fail;
		}
	}
	for (uint16_t q = 0; q < p->tx_queues; q++) {
		struct rte_eth_txconf txc = info.default_txconf;

		txc.offloads = conf.txmode.offloads;
		rc = rte_eth_tx_queue_setup(port_id, q, nb_txd, (unsigned)socket, &txc);
		if (rc != 0) {
			nic_log(RTE_LOG_ERR, "port %s: tx queue %u (%u descriptors): %s", p->name,
				q, nb_txd, rte_strerror(-rc));
			goto fail;
		}
	}
	if (opts->promiscuous) {
		rc = rte_eth_promiscuous_enable(port_id);
		/* Virtual devices without a MAC filter cannot change it: they see everything. */
		if (rc != 0 && rc != -ENOTSUP)
			nic_log(RTE_LOG_WARNING, "port %s: promiscuous: %s", p->name,
				rte_strerror(-rc));
	}
	*out = p;
	return 0;
fail:
	sluice_nic_port_destroy(p);
	return rc < 0 ? rc : -EIO;
}

/* Spread the RETA round-robin over the queues. Done after start: several drivers only accept
 * the table on a started port. */
static void port_reta_spread(struct sluice_nic_port *p)
{
	struct rte_eth_dev_info info;
	int rc;

	if (!p->rss || rte_eth_dev_info_get(p->port_id, &info) != 0 || info.reta_size == 0)
		return;
	uint16_t groups = (uint16_t)((info.reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) /
				     RTE_ETH_RETA_GROUP_SIZE);
	struct rte_eth_rss_reta_entry64 *reta = calloc(groups, sizeof(*reta));
	if (reta == NULL)
		return;
	for (uint16_t i = 0; i < info.reta_size; i++) {
		reta[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ULL << (i % RTE_ETH_RETA_GROUP_SIZE);
		reta[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] =
			(uint16_t)(i % p->rx_queues);
	}
	rc = rte_eth_dev_rss_reta_update(p->port_id, reta, info.reta_size);
	if (rc != 0)
		nic_log(RTE_LOG_WARNING,
			"port %s: RETA update (%u entries): %s; driver default kept", p->name,
			info.reta_size, rte_strerror(-rc));
	free(reta);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int sluice_nic_port_start(struct sluice_nic_port *port, uint32_t link_wait_ms)
{
	struct rte_eth_link link;
	uint32_t waited = 0;
	int rc;

	if (port == NULL)
		return -EINVAL;
	if (!port->started) {
		rc = rte_eth_dev_start(port->port_id);
		if (rc != 0) {
			nic_log(RTE_LOG_ERR, "port %s: start: %s", port->name, rte_strerror(-rc));
			return rc < 0 ? rc : -EIO;
		}
		port->started = true;
		port_reta_spread(port);
	}
	if (link_wait_ms == 0)
		return 0;
	for (;;) {
		memset(&link, 0, sizeof(link));
		rc = rte_eth_link_get_nowait(port->port_id, &link);
		if (rc == 0 && link.link_status == RTE_ETH_LINK_UP)
			return 0;
		if (waited >= link_wait_ms)
			break;
		sleep_ms(10);
		waited += 10;
	}
	nic_log(RTE_LOG_ERR, "port %s: link still down after %u ms", port->name, link_wait_ms);
	return -ETIMEDOUT;
}

void sluice_nic_port_stop(struct sluice_nic_port *port)
{
	if (port == NULL || !port->started)
		return;
	int rc = rte_eth_dev_stop(port->port_id);
	if (rc != 0)
		nic_log(RTE_LOG_WARNING, "port %s: stop: %s", port->name, rte_strerror(-rc));
	port->started = false;
}

void sluice_nic_port_destroy(struct sluice_nic_port *port)
{
	if (port == NULL)
		return;
	sluice_nic_port_stop(port);
	if (port->configured) {
		int rc = rte_eth_dev_close(port->port_id);
		if (rc != 0)
			nic_log(RTE_LOG_WARNING, "port %s: close: %s", port->name,
				rte_strerror(-rc));
	}
	free(port);
}

const char *sluice_nic_port_name(const struct sluice_nic_port *port)
{
	return port->name;
}

uint16_t sluice_nic_port_id(const struct sluice_nic_port *port)
{
	return port->port_id;
}

void sluice_nic_port_mac(const struct sluice_nic_port *port, uint8_t mac[6])
{
	struct rte_ether_addr a;

	if (rte_eth_macaddr_get(port->port_id, &a) != 0)
		memset(&a, 0, sizeof(a));
	memcpy(mac, a.addr_bytes, 6);
}

bool sluice_nic_port_link_up(const struct sluice_nic_port *port)
{
	struct rte_eth_link link;

	memset(&link, 0, sizeof(link));
	if (rte_eth_link_get_nowait(port->port_id, &link) != 0)
		return false;
	return link.link_status == RTE_ETH_LINK_UP;
}

uint32_t sluice_nic_port_link_speed_mbps(const struct sluice_nic_port *port)
{
	struct rte_eth_link link;

	memset(&link, 0, sizeof(link));
	/* Some PMDs (memif) report their nominal speed while the link is down. */
	if (rte_eth_link_get_nowait(port->port_id, &link) != 0 ||
	    link.link_status != RTE_ETH_LINK_UP || link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN)
		return 0;
	return link.link_speed;
}

bool sluice_nic_port_rx_cksum_offload(const struct sluice_nic_port *port)
{
	return port->rx_cksum;
}

bool sluice_nic_port_rss(const struct sluice_nic_port *port)
{
	return port->rss;
}

uint16_t sluice_nic_port_rx_queues(const struct sluice_nic_port *port)
{
	return port->rx_queues;
}

uint16_t sluice_nic_port_tx_queues(const struct sluice_nic_port *port)
{
	return port->tx_queues;
}

int sluice_nic_port_socket(const struct sluice_nic_port *port)
{
	int s = rte_eth_dev_socket_id(port->port_id);

	return s < 0 ? (int)rte_socket_id() : s;
}

int sluice_nic_device_socket(const char *device)
{
	uint16_t port_id;
	int s;

	if (rte_eth_dev_get_port_by_name(device, &port_id) != 0)
		return -ENODEV;
	s = rte_eth_dev_socket_id(port_id);
	return s < 0 ? (int)rte_socket_id() : s;
}

uint16_t sluice_nic_rx_burst(struct sluice_nic_port *port, uint16_t queue, struct rte_mbuf **pkts,
			     uint16_t n)
{
	return rte_eth_rx_burst(port->port_id, queue, pkts, n);
}

uint16_t sluice_nic_tx_burst(struct sluice_nic_port *port, uint16_t queue, struct rte_mbuf **pkts,
			     uint16_t n)
{
	return rte_eth_tx_burst(port->port_id, queue, pkts, n);
}

int sluice_nic_port_stats(const struct sluice_nic_port *port, struct sluice_nic_stats *out)
{
	struct rte_eth_stats s;
	int rc;

	rc = rte_eth_stats_get(port->port_id, &s);
	if (rc != 0)
		return rc < 0 ? rc : -EIO;
	out->ipackets = s.ipackets;
	out->ibytes = s.ibytes;
	out->imissed = s.imissed;
	out->ierrors = s.ierrors;
	out->rx_nombuf = s.rx_nombuf;
	out->opackets = s.opackets;
	out->obytes = s.obytes;
	out->oerrors = s.oerrors;
	return 0;
}

int sluice_nic_port_xstats(const struct sluice_nic_port *port,
			   void (*cb)(const char *name, uint64_t value, void *arg), void *arg)
{
	struct rte_eth_xstat_name *names = NULL;
	struct rte_eth_xstat *vals = NULL;
	int n, got, rc;

	n = rte_eth_xstats_get_names(port->port_id, NULL, 0);
	if (n < 0)
		return n;
	if (n == 0)
		return 0;
	names = calloc((size_t)n, sizeof(*names));
	vals = calloc((size_t)n, sizeof(*vals));
	if (names == NULL || vals == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (rte_eth_xstats_get_names(port->port_id, names, (unsigned)n) != n) {
		rc = -EAGAIN;
		goto out;
	}
	got = rte_eth_xstats_get(port->port_id, vals, (unsigned)n);
	if (got < 0 || got > n) {
		rc = got < 0 ? got : -EAGAIN;
		goto out;
	}
	for (int i = 0; i < got; i++) {
		if (vals[i].id < (uint64_t)n)
			cb(names[vals[i].id].name, vals[i].value, arg);
	}
	rc = got;
out:
	free(names);
	free(vals);
	return rc;
}
