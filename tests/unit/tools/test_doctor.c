/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tools/doctor.c: every check passes on a machine set up for the configuration and does not
 * on one that is not. Host facts come from a fake sysfs/procfs tree (two NUMA nodes, see
 * fake_host.h); the data directory is real (this machine's file systems, a ramfs mounted in
 * a private mount namespace where root may), and Kafka is librdkafka's mock cluster.
 */
#include <sched.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#include "fake_host.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "doctor.h"

static char root[] = "/tmp/sluice-test-doctor-XXXXXX";
static char cfgfile[PATH_MAX], datadir[PATH_MAX];
static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;

/* The configuration, as (section, key, value) lines; cfg_set() changes or adds one. */
struct line {
	char sec[64], key[64], value[256];
};
static struct line lines[64];
static unsigned nlines;

static void cfg_set(const char *sec, const char *key, const char *value)
{
	unsigned i;

	for (i = 0; i < nlines; i++)
		if (strcmp(lines[i].sec, sec) == 0 && strcmp(lines[i].key, key) == 0)
			break;
	if (i == nlines) {
		assert_true(nlines < 64);
		nlines++;
	}
	snprintf(lines[i].sec, sizeof(lines[i].sec), "%s", sec);
	snprintf(lines[i].key, sizeof(lines[i].key), "%s", key);
	snprintf(lines[i].value, sizeof(lines[i].value), "%s", value);
}

/* Write the lines grouped by section, in the order sections first appear. */
static void write_config(void)
{
	bool done[64] = {false};
	FILE *f = fopen(cfgfile, "w");

	assert_non_null(f);
	for (unsigned i = 0; i < nlines; i++) {
		if (done[i])
			continue;
		fprintf(f, "[%s]\n", lines[i].sec);
		for (unsigned j = i; j < nlines; j++)
			if (!done[j] && strcmp(lines[j].sec, lines[i].sec) == 0) {
				if (lines[j].key[0])
					fprintf(f, "%s = %s\n", lines[j].key, lines[j].value);
				done[j] = true;
			}
	}
	fclose(f);
}

static void base_config(void)
{
	nlines = 0;
	cfg_set("eal", "lcores", "0@0,1@1");
	cfg_set("eal", "memory", "huge");
	cfg_set("storage", "data_dir", datadir);
	cfg_set("storage", "writer_cpus", "0");
	cfg_set("port.p0", "device", "0000:03:00.0");
	cfg_set("topic.events", "partitions", "2");
	cfg_set("topic.events", "retention_bytes", "64M");
	cfg_set("topic.events", "segment_bytes", "16M");
	cfg_set("topic.events", "flush_bytes", "1M");
	cfg_set("listener.in", "udp_port", "9000");
	cfg_set("kafka", "brokers", "embedded");
	cfg_set("dataplane", "mbufs", "4095");
	cfg_set("dataplane", "batch_buffers", "64");
	cfg_set("dataplane", "batch_bytes", "64K");
}

static int setup(void **state)
{
	(void)state;
	fake_rm(root, "");
	fake_mkdirs(root, 1);
	fake_host(root);
	snprintf(cfgfile, sizeof(cfgfile), "%s/sluiced.ini", root);
	snprintf(datadir, sizeof(datadir), "%s/data", root);
	fake_mkdirs(datadir, 1);
	base_config();
	write_config();
	return 0;
}

/* Run the checks named @p only...; the result named @p name must exist. */
static struct sluice_doctor_report *run(const char *only)
{
	struct sluice_doctor_opts o = {
		.config_file = cfgfile,
		.root = root,
		.only = only,
		.kafka_timeout_ms = 3000,
		.fsync_samples = 8,
	};
	struct sluice_doctor_report *r = NULL;

	assert_int_equal(sluice_doctor_run(&o, &r), 0);
	return r;
}

/* Status of check @p name (run alone); its detail and fix are copied for inspection. */
static char detail[1024], fixes[1024];

static enum sluice_doctor_status check(const char *name)
{
	struct sluice_doctor_report *r = run(name);
	const struct sluice_doctor_result *x = sluice_doctor_find(r, name);
	enum sluice_doctor_status st;

	if (!x) {
		sluice_doctor_print(r, stderr, false);
		fail_msg("no result named %s", name);
	}
	st = x->status;
	snprintf(detail, sizeof(detail), "%s", x->detail);
	snprintf(fixes, sizeof(fixes), "%s", x->fix);
	if (st != SLUICE_DOCTOR_PASS)
		assert_true(fixes[0] != '\0'); /* every non-pass says how to fix it */
	else
		assert_string_equal(fixes, "");
	sluice_doctor_report_free(r);
	return st;
}

#define assert_has(s, sub)                                        \
	do {                                                      \
		if (!strstr((s), (sub)))                          \
			fail_msg("'%s' not in '%s'", (sub), (s)); \
	} while (0)

static void test_config(void **state)
{
	(void)state;
	assert_int_equal(check("config"), SLUICE_DOCTOR_PASS);
	cfg_set("storage.bad", "", "");
	write_config();
	assert_int_equal(check("config"), SLUICE_DOCTOR_FAIL);
	assert_has(detail, "sluiced.ini:22: storage.bad: unknown section");
	assert_has(fixes, "sluiced --check-config");
	/* An invalid configuration stops every check that needs one. */
	{
		struct sluice_doctor_report *r = run(NULL);
		assert_null(sluice_doctor_find(r, "hugepages.node0"));
		assert_non_null(sluice_doctor_find(r, "cpu.features"));
		assert_int_equal(r->count[SLUICE_DOCTOR_FAIL], 1);
		sluice_doctor_report_free(r);
	}
}

static void test_cpu_features(void **state)
{
	char info[2048];

	(void)state;
	assert_int_equal(check("cpu.features"), SLUICE_DOCTOR_PASS);
	assert_has(detail, "sse4_2");
	/* A CPU from before SSE4.2 (the build's -march=corei7 needs it). */
	snprintf(info, sizeof(info),
		 "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse sse2 pni ssse3 "
		 "constant_tsc nonstop_tsc\n");
	fake_file(root, "/proc/cpuinfo", info);
	assert_int_equal(check("cpu.features"), SLUICE_DOCTOR_FAIL);
	assert_has(detail, "sse4_1 sse4_2 popcnt");
}

static void test_hugepages(void **state)
{
	(void)state;
	assert_int_equal(check("hugepages.node0"), SLUICE_DOCTOR_PASS);
	assert_int_equal(check("hugepages.mount"), SLUICE_DOCTOR_PASS);
	/* 4095 mbufs + 64 x 64K batches + 2 partitions x 3 x 2M write buffers + 64M EAL: 90 MiB. */
	fake_hugepages(root, 0, 40, 30);
	assert_int_equal(check("hugepages.node0"), SLUICE_DOCTOR_FAIL);
	assert_has(detail, "node 0: 60 MiB of hugepages free, the configuration needs 90 MiB");
	assert_has(fixes,
		   "echo 55 > /sys/devices/system/node/node0/hugepages/hugepages-2048kB/"
		   "nr_hugepages");
	assert_has(fixes, "echo 'node0 = 55' >> /etc/sluice/hugepages.conf");
	/* Node 1 holds nothing of sluice's: its empty pool is no problem... */
	fake_hugepages(root, 1, 0, 0);
	assert_int_equal(check("hugepages.node1"), SLUICE_DOCTOR_PASS);
	/* ...until the NIC sits there: its mbufs go to node 1. */
	fake_file(root, "/sys/bus/pci/devices/0000:03:00.0/numa_node", "1\n");
	assert_int_equal(check("hugepages.node1"), SLUICE_DOCTOR_FAIL);
	assert_has(detail, "mbufs 10 MiB");
	fake_file(root, "/proc/mounts", "sysfs /sys sysfs rw 0 0\n");
	assert_int_equal(check("hugepages.mount"), SLUICE_DOCTOR_FAIL);
}

static void test_hugepages_no_huge(void **state)
{
	(void)state;
	/* No hugepages at all: a choice for virtual devices, a failure with a PCI port. */
	cfg_set("eal", "memory", "no-huge");
	write_config();
	assert_int_equal(check("hugepages"), SLUICE_DOCTOR_FAIL);
	assert_has(detail, "a PCI port needs hugepages");
	cfg_set("port.p0", "device", "net_memif0");
	write_config();
	assert_int_equal(check("hugepages"), SLUICE_DOCTOR_WARN);
}

static void test_iommu(void **state)
{
	(void)state;
	assert_int_equal(check("iommu"), SLUICE_DOCTOR_PASS);
	fake_rm(root, "/sys/kernel/iommu_groups/7");
	assert_int_equal(check("iommu"), SLUICE_DOCTOR_FAIL);
	assert_has(fixes, "intel_iommu=on iommu=pt");
	fake_file(root, "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n");
	assert_int_equal(check("iommu"), SLUICE_DOCTOR_WARN);
	/* An mlx5 NIC stays on its kernel driver: no IOMMU needed for it. */
	fake_pci_nic(root, "0000:03:00.0", 0, "0x15b3", "mlx5_core");
	assert_int_equal(check("iommu"), SLUICE_DOCTOR_PASS);
}

static void test_kernel_modules(void **state)
{
	(void)state;
	assert_int_equal(check("kernel.modules"), SLUICE_DOCTOR_PASS);
	fake_rm(root, "/sys/module/vfio_pci");
	fake_rm(root, "/sys/bus/pci/drivers/vfio-pci");
	assert_int_equal(check("kernel.modules"), SLUICE_DOCTOR_FAIL);
	assert_has(fixes, "modprobe -a vfio-pci");
	assert_has(fixes, "/etc/modules-load.d/");
}

static void test_port_driver(void **state)
{
	(void)state;
	assert_int_equal(check("port.p0.driver"), SLUICE_DOCTOR_PASS);
	/* Bound by hand (dpdk-devbind.py): gone at the next boot. */
	fake_rm(root, "/etc/driverctl.d");
	assert_int_equal(check("port.p0.driver"), SLUICE_DOCTOR_WARN);
	assert_has(fixes, "driverctl set-override 0000:03:00.0 vfio-pci");
	/* Still on the kernel driver, as interface ens5f0. */
	fake_pci_nic(root, "0000:03:00.0", 0, "0x8086", "ixgbe");
	fake_dir(root, "/sys/bus/pci/devices/0000:03:00.0/net/ens5f0");
	assert_int_equal(check("port.p0.driver"), SLUICE_DOCTOR_FAIL);
	assert_has(detail, "bound to the kernel driver ixgbe as interface ens5f0");
	assert_has(fixes, "ip link set dev ens5f0 down");
	assert_has(fixes, "driverctl set-override 0000:03:00.0 vfio-pci");
	/* A group mate on a kernel driver keeps vfio from taking the group. */
	fake_pci_nic(root, "0000:03:00.0", 0, "0x8086", "vfio-pci");
	fake_file(root, "/etc/driverctl.d/pci-0000:03:00.0", "vfio-pci\n");
	fake_pci_nic(root, "0000:03:00.1", 0, "0x8086", "ixgbe");
	fake_dir(root, "/sys/kernel/iommu_groups/7/devices/0000:03:00.0");
	fake_dir(root, "/sys/kernel/iommu_groups/7/devices/0000:03:00.1");
	fake_link(root, "/sys/bus/pci/devices/0000:03:00.0/iommu_group",
		  "../../../../kernel/iommu_groups/7");
	assert_int_equal(check("port.p0.driver"), SLUICE_DOCTOR_FAIL);
	assert_has(detail, "0000:03:00.1 (ixgbe)");
	/* A device that is not there at all. */
	fake_rm(root, "/sys/bus/pci/devices/0000:03:00.0");
	assert_int_equal(check("port.p0.driver"), SLUICE_DOCTOR_FAIL);
	assert_has(detail, "no PCI device 0000:03:00.0");
}

static void test_port_numa(void **state)
{
	(void)state;
	assert_int_equal(check("port.p0.numa"), SLUICE_DOCTOR_PASS);
	/* The NIC on node 1, the worker on CPU 1 of node 0. */
	fake_file(root, "/sys/bus/pci/devices/0000:03:00.0/numa_node", "1\n");
	assert_int_equal(check("port.p0.numa"), SLUICE_DOCTOR_WARN);
	assert_has(detail,
		   "port p0 (0000:03:00.0) is on node 1 but worker 0 (lcore 1, CPU 1, "
		   "node 0) polls it");
	assert_has(fixes, "set eal.lcores = 0@0,1@2 in");
}

static void test_cpu_isolation(void **state)
{
	(void)state;
	assert_int_equal(check("cpu.isolation"), SLUICE_DOCTOR_WARN);
	assert_has(fixes,
		   "isolcpus=managed_irq,domain,1 nohz_full=1 rcu_nocbs=1 "
		   "irqaffinity=0,2-3");
	fake_file(root, "/sys/devices/system/cpu/isolated", "1\n");
	fake_file(root, "/sys/devices/system/cpu/nohz_full", "1\n");
	assert_int_equal(check("cpu.isolation"), SLUICE_DOCTOR_PASS);
	/* isolcpus alone leaves the tick and RCU callbacks on the CPU. */
	fake_file(root, "/sys/devices/system/cpu/nohz_full", "(null)\n");
	assert_int_equal(check("cpu.isolation"), SLUICE_DOCTOR_WARN);
	fake_file(root, "/proc/cmdline", "quiet isolcpus=1 rcu_nocbs=1\n");
	assert_int_equal(check("cpu.isolation"), SLUICE_DOCTOR_WARN);
}

static void test_cpu_sharing(void **state)
{
	(void)state;
	/* Worker on CPU 1, main lcore and the writer on CPU 0. */
	assert_int_equal(check("cpu.sharing"), SLUICE_DOCTOR_PASS);
	/* Unpinned writers run on the main lcore's CPU. */
	cfg_set("storage", "writer_cpus", "");
	write_config();
	assert_int_equal(check("cpu.sharing"), SLUICE_DOCTOR_WARN);
	assert_has(detail, "storage.writer_cpus is empty");
	/* A dedicated (never sleeping) worker on the main lcore's CPU starves it. */
	cfg_set("storage", "writer_cpus", "0");
	cfg_set("eal", "lcores", "0@0,1@0");
	cfg_set("dataplane", "idle_sleep", "false");
	write_config();
	assert_int_equal(check("cpu.sharing"), SLUICE_DOCTOR_FAIL);
	assert_has(detail, "worker 0 shares CPU 0 with the main lcore");
	assert_has(detail, "worker 0 shares CPU 0 with a storage writer");
	/* The same with workers that back off when idle: a warning. */
	cfg_set("dataplane", "idle_sleep", "true");
	write_config();
	assert_int_equal(check("cpu.sharing"), SLUICE_DOCTOR_WARN);
}

static void test_cpu_governor(void **state)
{
	(void)state;
	assert_int_equal(check("cpu.governor"), SLUICE_DOCTOR_PASS);
	assert_has(detail, "no cpufreq");
	fake_file(root, "/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor", "performance\n");
	fake_file(root, "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "performance\n");
	assert_int_equal(check("cpu.governor"), SLUICE_DOCTOR_PASS);
	fake_file(root, "/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor", "powersave\n");
	assert_int_equal(check("cpu.governor"), SLUICE_DOCTOR_WARN);
	assert_has(fixes, "cpupower -c 1 frequency-set -g performance");
}

static bool on_disk_fs(const char *dir)
{
	struct statfs sf;

	return statfs(dir, &sf) == 0 && (sf.f_type == 0xEF53 || sf.f_type == 0x58465342);
}

static void test_data_dir_fs(void **state)
{
	char text[PATH_MAX + 16];

	(void)state;
	/* /tmp is ext4 or xfs on the machines this runs on; say so when it is not. */
	if (on_disk_fs(datadir))
		assert_int_equal(check("data_dir.fs"), SLUICE_DOCTOR_PASS);
	else
		print_message("data_dir.fs: %s is not ext4/xfs here, pass case not run\n", datadir);
	/* tmpfs: the log would not survive a reboot. */
	snprintf(datadir, sizeof(datadir), "/dev/shm/sluice-test-doctor-%d", getpid());
	cfg_set("storage", "data_dir", datadir);
	write_config();
	assert_int_equal(check("data_dir.fs"), SLUICE_DOCTOR_FAIL);
	assert_has(detail, "is on tmpfs");
	snprintf(text, sizeof(text), "rm -rf %s", datadir);
	assert_int_equal(system(text), 0);
}

/* A ramfs (no O_DIRECT) in a private mount namespace; false where that is not allowed. */
static bool mount_ramfs(const char *dir)
{
	if (unshare(CLONE_NEWNS) != 0)
		return false;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return false;
	fake_mkdirs(dir, 1);
	return mount("none", dir, "ramfs", 0, NULL) == 0;
}

static void test_data_dir_direct_io(void **state)
{
	char ram[PATH_MAX];

	(void)state;
	if (on_disk_fs(datadir))
		assert_int_equal(check("data_dir.direct_io"), SLUICE_DOCTOR_PASS);
	else
		print_message("data_dir.direct_io: %s is not ext4/xfs here, pass case not run\n",
			      datadir);
	snprintf(ram, sizeof(ram), "%s/ram", root);
	if (!mount_ramfs(ram)) {
		print_message("data_dir.direct_io: cannot mount a ramfs (not root?), skipped\n");
		skip();
	}
	cfg_set("storage", "data_dir", ram);
	write_config();
	assert_int_equal(check("data_dir.direct_io"), SLUICE_DOCTOR_WARN);
	assert_has(detail, "does not take O_DIRECT writes");
	cfg_set("storage", "direct_io", "on");
	write_config();
	assert_int_equal(check("data_dir.direct_io"), SLUICE_DOCTOR_FAIL);
	assert_has(detail, "storage.direct_io = on");
	cfg_set("storage", "direct_io", "off");
	write_config();
	assert_int_equal(check("data_dir.direct_io"), SLUICE_DOCTOR_PASS);
	assert_int_equal(umount(ram), 0);
}

static void test_data_dir_space(void **state)
{
	(void)state;
	assert_int_equal(check("data_dir.space"), SLUICE_DOCTOR_PASS);
	/* 2 partitions x (1000 TB + a segment) fit on no disk here. */
	cfg_set("topic.events", "retention_bytes", "1000T");
	write_config();
	assert_int_equal(check("data_dir.space"), SLUICE_DOCTOR_FAIL);
	assert_has(fixes, "lower topic.<name>.retention_bytes");
	/* Unbounded by size: a warning, not a failure. */
	cfg_set("topic.events", "retention_bytes", "0");
	write_config();
	assert_int_equal(check("data_dir.space"), SLUICE_DOCTOR_WARN);
	assert_has(detail, "topics events have retention_bytes = 0");
}

static void test_data_dir_fdatasync(void **state)
{
	(void)state;
	cfg_set("topic.events", "flush_interval", "10s");
	write_config();
	assert_int_equal(check("data_dir.fdatasync"), SLUICE_DOCTOR_PASS);
	assert_has(detail, "8 samples");
	if (!on_disk_fs(datadir)) {
		print_message("data_dir.fdatasync: %s is not on a disk file system, skipped\n",
			      datadir);
		skip();
	}
	/* No disk syncs an append in a microsecond. */
	cfg_set("topic.events", "flush_interval", "1us");
	write_config();
	assert_int_equal(check("data_dir.fdatasync"), SLUICE_DOCTOR_WARN);
	assert_has(detail, "longer than topic.events.flush_interval = 1 us");
	assert_has(fixes, "set topic.events.flush_interval = ");
}

static void test_memlock(void **state)
{
	(void)state;
	assert_int_equal(check("memlock"), SLUICE_DOCTOR_PASS);
	fake_file(root, "/proc/self/limits",
		  "Max locked memory         65536                65536                bytes\n");
	assert_int_equal(check("memlock"), SLUICE_DOCTOR_FAIL);
	assert_has(detail, "is 1 MiB, without CAP_IPC_LOCK");
	assert_has(fixes, "LimitMEMLOCK=infinity");
	fake_file(root, "/proc/self/status", "Name:\tsluicectl\nCapEff:\t0000000000004000\n");
	assert_int_equal(check("memlock"), SLUICE_DOCTOR_PASS);
	assert_has(detail, "CAP_IPC_LOCK");
}

static void mock_start(void)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	assert_int_equal(rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err)), 0);
	mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	assert_non_null(mock_rk);
	mock = rd_kafka_mock_cluster_new(mock_rk, 1);
	assert_non_null(mock);
}

static void mock_stop(void)
{
	rd_kafka_mock_cluster_destroy(mock);
	rd_kafka_destroy(mock_rk);
	mock = NULL;
	mock_rk = NULL;
}

static void test_kafka(void **state)
{
	(void)state;
	/* The embedded demo cluster forwards nowhere. */
	assert_int_equal(check("kafka.reachable"), SLUICE_DOCTOR_WARN);
	/* Store only: nothing to reach. */
	cfg_set("kafka", "enabled", "false");
	write_config();
	assert_int_equal(check("kafka.reachable"), SLUICE_DOCTOR_PASS);
	cfg_set("kafka", "enabled", "true");
	/* Nothing listens on port 1. */
	cfg_set("kafka", "brokers", "127.0.0.1:1");
	write_config();
	assert_int_equal(check("kafka.reachable"), SLUICE_DOCTOR_FAIL);
	assert_has(fixes, "nc -vz 127.0.0.1 1");

	mock_start();
	cfg_set("kafka", "brokers", rd_kafka_mock_cluster_bootstraps(mock));
	write_config();
	assert_int_equal(check("kafka.reachable"), SLUICE_DOCTOR_PASS);
	assert_int_equal(check("kafka.topic.events"), SLUICE_DOCTOR_FAIL);
	assert_has(detail, "Kafka has no topic events");
	assert_has(fixes, "--create --topic events --partitions 2");
	assert_int_equal(rd_kafka_mock_topic_create(mock, "events", 1, 1), 0);
	assert_int_equal(check("kafka.topic.events"), SLUICE_DOCTOR_FAIL);
	assert_has(fixes, "--alter --topic events --partitions 2");
	assert_int_equal(rd_kafka_mock_topic_create(mock, "ev2", 2, 1), 0);
	cfg_set("topic.events", "kafka_topic", "ev2");
	write_config();
	assert_int_equal(check("kafka.topic.events"), SLUICE_DOCTOR_PASS);
	assert_int_equal(rd_kafka_mock_topic_create(mock, "ev4", 4, 1), 0);
	cfg_set("topic.events", "kafka_topic", "ev4");
	write_config();
	assert_int_equal(check("kafka.topic.events"), SLUICE_DOCTOR_WARN);
	assert_has(detail, "Kafka partitions 2..3 get nothing");
	mock_stop();
}

static void test_output(void **state)
{
	struct sluice_doctor_report *r;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	r = run(NULL);
	/* One line per check, then a summary; the fix under its check. */
	assert_true(r->n >= 15);
	f = open_memstream(&buf, &len);
	sluice_doctor_print(r, f, false);
	fclose(f);
	assert_has(buf, "WARN  cpu.isolation");
	assert_has(buf, "      fix: sed -i");
	assert_has(buf, "warnings, 0 failed");
	free(buf);
	f = open_memstream(&buf, &len);
	sluice_doctor_print(r, f, true);
	fclose(f);
	{
		json_error_t je;
		json_t *j = json_loads(buf, 0, &je);
		assert_non_null(j);
		assert_int_equal(json_array_size(json_object_get(j, "checks")), r->n);
		assert_int_equal(json_integer_value(json_object_get(j, "fail")), 0);
		json_decref(j);
	}
	free(buf);
	sluice_doctor_report_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_config, setup),
		cmocka_unit_test_setup(test_cpu_features, setup),
		cmocka_unit_test_setup(test_hugepages, setup),
		cmocka_unit_test_setup(test_hugepages_no_huge, setup),
		cmocka_unit_test_setup(test_iommu, setup),
		cmocka_unit_test_setup(test_kernel_modules, setup),
		cmocka_unit_test_setup(test_port_driver, setup),
		cmocka_unit_test_setup(test_port_numa, setup),
		cmocka_unit_test_setup(test_cpu_isolation, setup),
		cmocka_unit_test_setup(test_cpu_sharing, setup),
		cmocka_unit_test_setup(test_cpu_governor, setup),
		cmocka_unit_test_setup(test_data_dir_fs, setup),
		cmocka_unit_test_setup(test_data_dir_space, setup),
		cmocka_unit_test_setup(test_data_dir_fdatasync, setup),
		cmocka_unit_test_setup(test_memlock, setup),
		cmocka_unit_test_setup(test_kafka, setup),
		cmocka_unit_test_setup(test_output, setup),
		/* Last: it may leave this process in its own mount namespace. */
		cmocka_unit_test_setup(test_data_dir_direct_io, setup),
	};
	int rc;

	assert_non_null(mkdtemp(root));
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fake_rm(root, "");
	return rc;
}
