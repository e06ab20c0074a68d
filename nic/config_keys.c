/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NIC module's keys: [eal] and [port.<name>].
 * Each row is the whole key: parsing, bounds, the default, config.get/set/list,
 * --help-config and docs/configuration.md come from it (control/config.c). A new key is one
 * row here (and its field in nic/nic_config.h).
 */
#include "sluice_config_rows.h"
#include "nic_config.h"

static const char *const mem_names[] = {"huge", "in-memory", "no-huge", NULL};

static const struct sluice_config_key eal_keys[] = {
	{"lcores", T_LCORES, "auto", 0, 0, FIELD(sluice_config_eal, lcores), NULL, 0, 0,
	 "EAL --lcores map (e.g. 0@0,1@1,2@0); the lowest lcore is the main lcore, the next "
	 "dataplane.workers lcores run workers. `auto`: main on CPU 0, workers round-robin on "
	 "the online CPUs"},
	{"memory", T_ENUM, "huge", 0, 0, FIELD(sluice_config_eal, memory), mem_names, 0, 0,
	 "huge: hugepages (--huge-unlink); in-memory: hugepages, no files (--in-memory); "
	 "no-huge: ordinary memory (--no-huge), for tests and small machines"},
	{"memory_mb", T_U32, "512", 64, 1u << 20, FIELD(sluice_config_eal, memory_mb), NULL, 0, 0,
	 "memory EAL reserves (-m); required with no-huge"},
	{"file_prefix", T_STRING, "", 0, 0, FIELD(sluice_config_eal, file_prefix), NULL, 0, K_NAME,
	 "EAL --file-prefix; empty: sluiced-<pid>, so that instances never collide"},
	{"log_level", T_STRING, "", 0, 0, FIELD(sluice_config_eal, log_level), NULL, 0, 0,
	 "EAL --log-level value, checked as EAL parses it: LEVEL, PATTERN:LEVEL or REGEX,LEVEL "
	 "(e.g. `lib.eal:debug`); empty: EAL default"},
	{"telemetry", T_BOOL, "true", 0, 0, FIELD(sluice_config_eal, telemetry), NULL, 0, 0,
	 "keep DPDK's telemetry socket (dpdk-telemetry.py -f <file_prefix>)"},
	{"args", T_STRING, "", 0, 0, FIELD(sluice_config_eal, args), NULL, 0, 0,
	 "extra EAL arguments, space-separated, appended verbatim (at most 62; options sluiced "
	 "derives from its own keys, such as --lcores, -m or --vdev, are refused)"},
};

static const struct sluice_config_key port_keys[] = {
	{"device", T_STRING, NULL, 0, 0, FIELD(sluice_config_port, device), NULL, 0, K_REQUIRED,
	 "PCI address (0000:03:00.0, bound to vfio-pci) or virtual device name (net_memif0, "
	 "net_pcap0, net_af_packet0, ...)"},
	{"args", T_STRING, "", 0, 0, FIELD(sluice_config_port, args), NULL, 0, 0,
	 "virtual device arguments, e.g. `socket=/run/sluice/memif.sock,socket-abstract=no`"},
	{"queues", T_U32, "0", 0, 1024, FIELD(sluice_config_port, queues), NULL, 0, 0,
	 "RX (and TX) queues; each worker polls one queue of every port. 0: one per worker"},
	{"rx_desc", T_U32, SLUICE_CONFIG_STR(SLUICE_NIC_RX_DESC_DEFAULT), 64, 32768,
	 FIELD(sluice_config_port, rx_desc), NULL, 0, K_POW2,
	 "RX descriptors per queue: the burst the NIC can absorb while a worker is busy"},
	{"tx_desc", T_U32, SLUICE_CONFIG_STR(SLUICE_NIC_TX_DESC_DEFAULT), 64, 32768,
	 FIELD(sluice_config_port, tx_desc), NULL, 0, K_POW2,
	 "TX descriptors per queue (ARP/ICMP replies)"},
	{"mtu", T_U32, "0", 0, 9600, FIELD(sluice_config_port, mtu), NULL, 0, 0,
	 "MTU; 0: device default"},
	{"rss", T_BOOL, "true", 0, 0, FIELD(sluice_config_port, rss), NULL, 0, 0,
	 "spread flows over queues by RSS (IPv4/IPv6 + UDP) where the device offers it"},
	{"promiscuous", T_BOOL, "false", 0, 0, FIELD(sluice_config_port, promiscuous), NULL, 0, 0,
	 "accept frames for any destination MAC"},
	{"link_wait", T_DURATION, "5s", 0, 600 * SEC_US, FIELD(sluice_config_port, link_wait_us),
	 NULL, 0, 0, "how long start-up waits for link up (memif: until the peer connects)"},
	{"ipv4", T_IP, "0.0.0.0", 4, 4, FIELD(sluice_config_port, ipv4), NULL, 0, 0,
	 "the appliance's IPv4 address on this port: answers ARP and ICMP echo for it and "
	 "accepts only datagrams to it; 0.0.0.0: accept any destination, answer nothing"},
	{"ipv6", T_IP, "", 6, 6, FIELD(sluice_config_port, ipv6), NULL, 0, 0,
	 "the appliance's IPv6 address on this port (answers neighbour solicitation); empty: "
	 "none"},
};

const struct sluice_config_table sluice_nic_eal_keys = {KEYS(eal_keys)};
const struct sluice_config_table sluice_nic_port_keys = {KEYS(port_keys)};
