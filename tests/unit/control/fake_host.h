/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fake sysfs/procfs tree for control/host.c and tools/doctor.c tests: a machine with two
 * NUMA nodes (CPUs 0-1 on node 0, 2-3 on node 1), hugepages, a PCI NIC and the procfs files
 * doctor reads. Tests change single files to make one check pass or fail.
 */
#ifndef SLUICE_TEST_FAKE_HOST_H
#define SLUICE_TEST_FAKE_HOST_H

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* mkdir -p of @p path's parent directories (and of @p path itself when @p self). */
static inline void fake_mkdirs(const char *path, int self)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0755);
		*p = '/';
	}
	if (self)
		mkdir(buf, 0755);
}

/* Write @p content to root/rel (parents created). */
static inline void fake_file(const char *root, const char *rel, const char *content)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	fake_mkdirs(path, 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static inline void fake_dir(const char *root, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s%s", root, rel);
	fake_mkdirs(path, 1);
}

static inline void fake_rm(const char *root, const char *rel)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s%s'", root, rel);
	assert_int_equal(system(cmd), 0);
}

/* root/rel -> target (a symlink, like sysfs's driver and iommu_group links). */
static inline void fake_link(const char *root, const char *rel, const char *target)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s%s", root, rel);
	fake_mkdirs(path, 0);
	unlink(path);
	assert_int_equal(symlink(target, path), 0);
}

static inline void fake_hugepages(const char *root, int node, long nr, long free_pages)
{
	char rel[256], v[32];

	snprintf(v, sizeof(v), "%ld\n", nr);
	snprintf(rel, sizeof(rel),
		 "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages", node);
	fake_file(root, rel, v);
	snprintf(v, sizeof(v), "%ld\n", free_pages);
	snprintf(rel, sizeof(rel),
		 "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/free_hugepages", node);
	fake_file(root, rel, v);
}

/* A PCI NIC at @p addr on @p node, bound to @p driver ("" for none). */
static inline void fake_pci_nic(const char *root, const char *addr, int node, const char *vendor,
				const char *driver)
{
	char rel[256], v[32];

	snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/numa_node", addr);
	snprintf(v, sizeof(v), "%d\n", node);
	fake_file(root, rel, v);
	snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/vendor", addr);
	snprintf(v, sizeof(v), "%s\n", vendor);
	fake_file(root, rel, v);
	snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/class", addr);
	fake_file(root, rel, "0x020000\n");
	snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/driver", addr);
	if (driver[0]) {
		char target[128];
		snprintf(target, sizeof(target), "../../../bus/pci/drivers/%s", driver);
		fake_link(root, rel, target);
	} else {
		fake_rm(root, rel);
	}
}

/* The whole machine; @p root is an empty directory. */
static inline void fake_host(const char *root)
{
	static const char *const flags =
		"fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 "
		"clflush mmx fxsr sse sse2 ht syscall nx rdtscp lm constant_tsc nonstop_tsc pni "
		"pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 popcnt aes xsave avx f16c rdrand "
		"hypervisor lahf_lm abm bmi1 avx2 bmi2 erms";
	char buf[1024];

	for (int cpu = 0; cpu < 4; cpu++) {
		char rel[128];
		snprintf(rel, sizeof(rel), "/sys/devices/system/cpu/cpu%d/node%d", cpu, cpu / 2);
		fake_dir(root, rel);
	}
	fake_file(root, "/sys/devices/system/cpu/online", "0-3\n");
	fake_file(root, "/sys/devices/system/cpu/isolated", "\n");
	fake_file(root, "/sys/devices/system/cpu/nohz_full", "(null)\n");
	fake_file(root, "/sys/devices/system/node/online", "0-1\n");
	fake_file(root, "/sys/devices/system/node/node0/cpulist", "0-1\n");
	fake_file(root, "/sys/devices/system/node/node1/cpulist", "2-3\n");
	fake_hugepages(root, 0, 1024, 1024);
	fake_hugepages(root, 1, 1024, 1024);
	fake_dir(root, "/sys/kernel/iommu_groups/7/devices");
	fake_dir(root, "/sys/module/vfio_pci");
	fake_dir(root, "/sys/bus/pci/drivers/vfio-pci");
	fake_pci_nic(root, "0000:03:00.0", 0, "0x8086", "vfio-pci");
	fake_file(root, "/etc/driverctl.d/pci-0000:03:00.0", "vfio-pci\n");
	snprintf(buf, sizeof(buf),
		 "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: %s\n\n"
		 "processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: %s\n",
		 flags, flags);
	fake_file(root, "/proc/cpuinfo", buf);
	fake_file(
		root, "/proc/mounts",
		"sysfs /sys sysfs rw 0 0\nhugetlbfs /dev/hugepages hugetlbfs rw,pagesize=2M 0 0\n");
	fake_file(root, "/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 quiet\n");
	fake_file(root, "/proc/self/limits",
		  "Limit                     Soft Limit           Hard Limit           Units\n"
		  "Max locked memory         unlimited            unlimited            bytes\n");
	fake_file(root, "/proc/self/status", "Name:\tsluicectl\nCapEff:\t0000000000000000\n");
}

#endif /* SLUICE_TEST_FAKE_HOST_H */
