/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The configuration of the NIC module: sections [eal] and [port.<name>].
 * control/ fills the values from the rows of nic/config_keys.c (one row per key: name,
 * type, default, bounds, help); a new key is a field here and a row there.
 */
#ifndef SLUICE_NIC_CONFIG_H
#define SLUICE_NIC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice_config_key.h"

/** port.rx_desc and port.tx_desc defaults, and what rx_desc/tx_desc = 0 mean to nic/. */
#define SLUICE_NIC_RX_DESC_DEFAULT 1024
#define SLUICE_NIC_TX_DESC_DEFAULT 512

#ifdef __cplusplus
extern "C" {
#endif

enum sluice_config_mem {
	SLUICE_CONFIG_MEM_HUGE,
	SLUICE_CONFIG_MEM_IN_MEMORY,
	SLUICE_CONFIG_MEM_NO_HUGE,
};

struct sluice_config_eal {
	char lcores[SLUICE_CONFIG_STR_MAX]; /**< EAL --lcores map, or "auto" */
	uint32_t memory; /**< enum sluice_config_mem */
	uint32_t memory_mb;
	char file_prefix[64]; /**< "" = sluiced-<pid> */
	char log_level[64]; /**< EAL --log-level, "" = EAL default */
	bool telemetry;
	char args[SLUICE_CONFIG_STR_MAX]; /**< extra EAL arguments, space-separated */
	/* Resolved by validation. */
	char lcores_resolved[SLUICE_CONFIG_STR_MAX]; /**< what is passed as --lcores */
	uint32_t main_lcore;
	uint32_t nworker_lcores; /**< == dataplane.workers */
	uint16_t worker_lcore[SLUICE_CONFIG_MAX_LCORES];
};

struct sluice_config_port {
	char name[SLUICE_CONFIG_NAME_MAX];
	unsigned line;
	char device[64]; /**< vdev name (net_memif0) or PCI address (0000:03:00.0) */
	char args[SLUICE_CONFIG_STR_MAX]; /**< vdev arguments appended after a comma */
	uint32_t queues; /**< 0 = one per worker */
	uint32_t rx_desc;
	uint32_t tx_desc;
	uint32_t mtu;
	bool rss;
	bool promiscuous;
	uint64_t link_wait_us;
	char ipv4[64]; /**< the appliance's address on this port (ARP, ICMP); 0.0.0.0 = any */
	char ipv6[64]; /**< "" = none */
	/* Resolved by validation. */
	bool pci;
	uint8_t ipv4_addr[4];
	bool has_ipv6;
	uint8_t ipv6_addr[16];
};

/** The key tables of [eal] and [port.<name>]. */
extern const struct sluice_config_table sluice_nic_eal_keys;
extern const struct sluice_config_table sluice_nic_port_keys;

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_NIC_CONFIG_H */
