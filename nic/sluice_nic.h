/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Everything that speaks rte_ethdev: EAL start-up, port setup, RX/TX bursts, link, stats.
 * The only module that includes rte_ethdev.h.
 *
 * Threads: the control thread initialises EAL and creates/starts/stops ports and reads stats;
 * each RX queue is polled by exactly one worker lcore, which also owns TX queue of the same
 * index (for ARP/ICMP replies and sluice-gen's transmit).
 */
#ifndef SLUICE_NIC_H
#define SLUICE_NIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rte_mbuf;
struct rte_mempool;
struct sluice_nic_port;

enum sluice_nic_mem_mode {
	SLUICE_NIC_MEM_HUGE = 0, /**< hugepages, --huge-unlink */
	SLUICE_NIC_MEM_IN_MEMORY, /**< hugepages, --in-memory (no files at all) */
	SLUICE_NIC_MEM_NO_HUGE, /**< --no-huge -m <mem_mb> (tests, tiny machines) */
};

struct sluice_nic_eal_opts {
	const char *prog; /**< argv[0] */
	const char *lcores; /**< EAL --lcores string, e.g. "0@0,1@1,2@0" */
	enum sluice_nic_mem_mode mem_mode;
	uint32_t mem_mb; /**< for NO_HUGE (and -m otherwise when non-zero) */
	const char *file_prefix; /**< unique per process */
	const char *const *vdevs; /**< --vdev arguments (NULL-terminated list or NULL) */
	const char *const *pci_allow; /**< -a PCI addresses; when empty, --no-pci is passed */
	const char *log_level; /**< EAL --log-level value, or NULL */
	bool telemetry; /**< keep the telemetry socket (default on in EAL) */
	const char *const *extra_args; /**< appended verbatim (NULL-terminated), may be NULL */
};

/**
 * Build an EAL argument vector from @p opts and call rte_eal_init().
 * @return 0 or -errno (EAL's reason logged).
 */
int sluice_nic_eal_init(const struct sluice_nic_eal_opts *opts);

/** rte_eal_cleanup(). */
void sluice_nic_eal_cleanup(void);

/**
 * Remove EAL's runtime directory @p dir (rte_eal_get_runtime_dir(), /var/run/dpdk/<prefix> as
 * root) and the files in it: EAL leaves it behind even after rte_eal_cleanup(). Call it after
 * sluice_nic_eal_cleanup(), with a copy of the path taken before, and only for a prefix that is
 * this process's alone. Best effort: what cannot be removed stays.
 */
void sluice_nic_eal_remove_runtime_dir(const char *dir);

struct sluice_nic_port_opts {
	const char *name; /**< operator's name for the port (config section) */
	const char *device; /**< PCI address or vdev name (e.g. "net_memif0"), as probed */
	uint16_t rx_queues; /**< one per worker serving this port */
	uint16_t tx_queues; /**< usually == rx_queues */
	uint16_t rx_desc;
	uint16_t tx_desc;
	uint16_t mtu; /**< 0 = device default */
	bool rss; /**< RSS on IPv4/IPv6 + UDP where offered */
	bool promiscuous;
	struct rte_mempool *pool; /**< RX mbuf pool (one per socket is enough) */
};

/**
 * Find the probed device, configure queues, RSS/RETA, offloads, MTU.
 * @return 0; -ENODEV when the device did not probe (a vdev that failed); -errno otherwise.
 */
int sluice_nic_port_create(const struct sluice_nic_port_opts *opts, struct sluice_nic_port **out);

/**
 * Start the port (then spread the RETA over the RX queues where RSS is on) and wait up to
 * @p link_wait_ms for link up; 0 does not wait (a memif server whose peer connects later).
 * Calling it again on a started port only waits for the link.
 * @return 0, -ETIMEDOUT, -errno.
 */
int sluice_nic_port_start(struct sluice_nic_port *port, uint32_t link_wait_ms);

void sluice_nic_port_stop(struct sluice_nic_port *port);

/** Stop (if started), close and free. Accepts NULL. */
void sluice_nic_port_destroy(struct sluice_nic_port *port);

const char *sluice_nic_port_name(const struct sluice_nic_port *port);
uint16_t sluice_nic_port_id(const struct sluice_nic_port *port);
/** The port's MAC address (6 bytes). */
void sluice_nic_port_mac(const struct sluice_nic_port *port, uint8_t mac[6]);
bool sluice_nic_port_link_up(const struct sluice_nic_port *port);
/** RX checksum offload offered: the parser may trust mbuf ol_flags for IPv4/UDP. */
bool sluice_nic_port_rx_cksum_offload(const struct sluice_nic_port *port);
/** RSS over IP/UDP is on (the device offers it and the port has more than one RX queue). */
bool sluice_nic_port_rss(const struct sluice_nic_port *port);
uint16_t sluice_nic_port_rx_queues(const struct sluice_nic_port *port);
uint16_t sluice_nic_port_tx_queues(const struct sluice_nic_port *port);
/** NUMA socket of the device (the caller's socket when unknown): where to put its mempool. */
int sluice_nic_port_socket(const struct sluice_nic_port *port);
/**
 * NUMA socket of a probed device by name (PCI address or vdev name, as in
 * sluice_nic_port_opts.device), before its port is created: where its RX mbuf pool belongs.
 * The caller's socket when the device has none. @return the socket or -ENODEV (not probed).
 */
int sluice_nic_device_socket(const char *device);
/** Link speed in Mbit/s, 0 when unknown or down. */
uint32_t sluice_nic_port_link_speed_mbps(const struct sluice_nic_port *port);

/** Poll one RX queue. Burst function: returns the number of mbufs stored. */
uint16_t sluice_nic_rx_burst(struct sluice_nic_port *port, uint16_t queue, struct rte_mbuf **pkts,
			     uint16_t n);

/** Transmit on one TX queue; returns how many were taken (caller frees the rest). */
uint16_t sluice_nic_tx_burst(struct sluice_nic_port *port, uint16_t queue, struct rte_mbuf **pkts,
			     uint16_t n);

struct sluice_nic_stats {
	uint64_t ipackets;
	uint64_t ibytes;
	uint64_t imissed; /**< dropped by the NIC: no RX descriptor (we did not poll fast enough) */
	uint64_t ierrors;
	uint64_t rx_nombuf;
	uint64_t opackets;
	uint64_t obytes;
	uint64_t oerrors;
};

int sluice_nic_port_stats(const struct sluice_nic_port *port, struct sluice_nic_stats *out);

/**
 * Visit every extended statistic of the port: cb(name, value, arg) for each.
 * @return number visited or -errno.
 */
int sluice_nic_port_xstats(const struct sluice_nic_port *port,
			   void (*cb)(const char *name, uint64_t value, void *arg), void *arg);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_NIC_H */
