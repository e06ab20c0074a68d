/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The host as sysfs and procfs describe it: CPUs and their NUMA nodes, PCI devices (node,
 * driver, vendor), kernel interfaces behind virtual devices, and the NUMA placement of a
 * configuration (private to control/; `sluicectl doctor` uses it too).
 *
 * Every function reads files under a root directory: "" (or NULL) for the real host, or a
 * directory that holds a fake `sys/` and `proc/` tree, so that tests can describe a machine
 * this one is not (two NUMA nodes, a bound NIC, isolated CPUs). sluiced and sluicectl take
 * the root from the environment variable SLUICE_HOST_ROOT (sluice_host_root()).
 *
 * Threads: every function is reentrant; nothing is cached.
 */
#ifndef SLUICE_HOST_H
#define SLUICE_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_HOST_MAX_CPUS 1024
#define SLUICE_HOST_MAX_NODES 64

/** A set of CPU (or node) ids, as the kernel's cpulist files hold them ("0-3,8"). */
struct sluice_host_cpuset {
	uint64_t bits[SLUICE_HOST_MAX_CPUS / 64];
};

/** SLUICE_HOST_ROOT from the environment, or "" (the real host). Never NULL. */
const char *sluice_host_root(void);

/**
 * Read the first line of @p root + @p path (e.g. "/sys/devices/system/cpu/isolated") into
 * @p buf, without its newline and trailing blanks. @return its length or -errno.
 */
int sluice_host_read(const char *root, const char *path, char *buf, size_t len);

/** Does @p root + @p path exist? */
bool sluice_host_exists(const char *root, const char *path);

/** Parse a kernel cpulist ("0-3,8", "" is empty). @return 0 or -EINVAL. */
int sluice_host_cpuset_parse(const char *list, struct sluice_host_cpuset *out);

/** Format as a cpulist ("0-3,8"; "" when empty). */
void sluice_host_cpuset_format(const struct sluice_host_cpuset *set, char *out, size_t len);

bool sluice_host_cpuset_has(const struct sluice_host_cpuset *set, unsigned id);
void sluice_host_cpuset_add(struct sluice_host_cpuset *set, unsigned id);
unsigned sluice_host_cpuset_count(const struct sluice_host_cpuset *set);

/**
 * NUMA node of @p cpu. A kernel without NUMA (no sys/devices/system/node) has node 0.
 * @return the node, or -ENOENT when the CPU does not exist.
 */
int sluice_host_cpu_node(const char *root, unsigned cpu);

/** CPUs of NUMA node @p node. @return 0 or -errno (-ENOENT: no such node). */
int sluice_host_node_cpus(const char *root, int node, struct sluice_host_cpuset *out);

/** The online NUMA nodes ({0} on a kernel without NUMA). @return 0 or -errno. */
int sluice_host_nodes(const char *root, struct sluice_host_cpuset *out);

/** "03:00.0" → "0000:03:00.0"; a full address is copied as it is. */
void sluice_host_pci_normalize(const char *addr, char *out, size_t len);

/**
 * The kernel interface a virtual device reads from, for the PMDs that sit on one
 * (net_af_packet, net_af_xdp, net_pcap with `iface=`). @return 0 with @p out set, or -ENOENT.
 */
int sluice_host_vdev_iface(const struct sluice_config_port *port, char *out, size_t len);

/**
 * NUMA node of a configured port: a PCI device's numa_node, or that of the device behind a
 * virtual device's kernel interface. @p what (may be NULL) receives how the port was found
 * ("0000:03:00.0", "net_af_packet0 on eth1").
 * @return the node (>= 0); -1 when the port has no node (a purely virtual device, or a
 *         machine that reports none); -ENODEV when the PCI device or interface is absent.
 */
int sluice_host_port_node(const char *root, const struct sluice_config_port *port, char *what,
			  size_t what_len);

/** CPUs worker @p worker of a validated configuration may run on (from eal.lcores). */
int sluice_host_worker_cpus(const struct sluice_config *cfg, uint32_t worker,
			    struct sluice_host_cpuset *out);

/**
 * Warn about every port whose NUMA node differs from that of a worker polling it (every
 * worker polls every port): @p warn gets one message per such port (its index in
 * cfg->ports) naming the port, the workers, their CPUs and the nodes, and what to change.
 * @p cfg must be validated. @return the number of warnings.
 */
unsigned sluice_host_numa_check(const char *root, const struct sluice_config *cfg,
				void (*warn)(void *arg, uint32_t port, const char *msg), void *arg);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_HOST_H */
