/* SPDX-License-Identifier: BSD-3-Clause */
/* control/host.c: cpulists, CPU and device NUMA nodes, and the NUMA placement warning, on a
 * fake sysfs tree (two nodes) and on this machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "fake_host.h"

#include "config.h"
#include "host.h"

static char root[] = "/tmp/sluice-test-host-XXXXXX";

static int setup(void **state)
{
	(void)state;
	fake_rm(root, "");
	fake_mkdirs(root, 1);
	fake_host(root);
	return 0;
}

static void test_cpuset(void **state)
{
	struct sluice_host_cpuset s;
	char out[64];

	(void)state;
	assert_int_equal(sluice_host_cpuset_parse("0-3,8,10-11", &s), 0);
	assert_int_equal(sluice_host_cpuset_count(&s), 7);
	assert_true(sluice_host_cpuset_has(&s, 8));
	assert_false(sluice_host_cpuset_has(&s, 9));
	sluice_host_cpuset_format(&s, out, sizeof(out));
	assert_string_equal(out, "0-3,8,10-11");
	assert_int_equal(sluice_host_cpuset_parse("", &s), 0);
	assert_int_equal(sluice_host_cpuset_count(&s), 0);
	sluice_host_cpuset_format(&s, out, sizeof(out));
	assert_string_equal(out, "");
	assert_int_equal(sluice_host_cpuset_parse("3-1", &s), -EINVAL);
	assert_int_equal(sluice_host_cpuset_parse("1,x", &s), -EINVAL);
	assert_int_equal(sluice_host_cpuset_parse("5000", &s), -EINVAL);
}

static void test_nodes(void **state)
{
	struct sluice_host_cpuset s;
	char out[64];

	(void)state;
	assert_int_equal(sluice_host_cpu_node(root, 1), 0);
	assert_int_equal(sluice_host_cpu_node(root, 3), 1);
	assert_int_equal(sluice_host_cpu_node(root, 9), -ENOENT);
	assert_int_equal(sluice_host_node_cpus(root, 1, &s), 0);
	sluice_host_cpuset_format(&s, out, sizeof(out));
	assert_string_equal(out, "2-3");
	assert_int_equal(sluice_host_nodes(root, &s), 0);
	assert_int_equal(sluice_host_cpuset_count(&s), 2);
	/* A kernel without NUMA: every CPU on node 0. */
	fake_rm(root, "/sys/devices/system/node");
	assert_int_equal(sluice_host_cpu_node(root, 3), 0);
	assert_int_equal(sluice_host_node_cpus(root, 0, &s), 0);
	assert_int_equal(sluice_host_cpuset_count(&s), 4);
	/* And this machine: CPU 0 exists and has a node. */
	assert_true(sluice_host_cpu_node("", 0) >= 0);
}

static void test_port_node(void **state)
{
	struct sluice_config_port p;
	char what[128], iface[32];

	(void)state;
	memset(&p, 0, sizeof(p));
	snprintf(p.device, sizeof(p.device), "03:00.0");
	p.pci = true;
	assert_int_equal(sluice_host_port_node(root, &p, what, sizeof(what)), 0);
	assert_string_equal(what, "0000:03:00.0");
	fake_file(root, "/sys/bus/pci/devices/0000:03:00.0/numa_node", "1\n");
	assert_int_equal(sluice_host_port_node(root, &p, NULL, 0), 1);
	/* numa_node -1: the machine does not say. */
	fake_file(root, "/sys/bus/pci/devices/0000:03:00.0/numa_node", "-1\n");
	assert_int_equal(sluice_host_port_node(root, &p, NULL, 0), -1);
	snprintf(p.device, sizeof(p.device), "0000:81:00.0");
	assert_int_equal(sluice_host_port_node(root, &p, NULL, 0), -ENODEV);

	/* A virtual device on a kernel interface takes that interface's device node. */
	memset(&p, 0, sizeof(p));
	snprintf(p.device, sizeof(p.device), "net_af_packet0");
	snprintf(p.args, sizeof(p.args), "qpairs=2,iface=ens5f1,blocksz=4096");
	assert_int_equal(sluice_host_vdev_iface(&p, iface, sizeof(iface)), 0);
	assert_string_equal(iface, "ens5f1");
	assert_int_equal(sluice_host_port_node(root, &p, NULL, 0), -ENODEV);
	fake_file(root, "/sys/class/net/ens5f1/device/numa_node", "1\n");
	assert_int_equal(sluice_host_port_node(root, &p, what, sizeof(what)), 1);
	assert_string_equal(what, "net_af_packet0 on ens5f1");
	/* memif has no interface and no node. */
	snprintf(p.device, sizeof(p.device), "net_memif0");
	snprintf(p.args, sizeof(p.args), "role=server");
	assert_int_equal(sluice_host_vdev_iface(&p, iface, sizeof(iface)), -ENOENT);
	assert_int_equal(sluice_host_port_node(root, &p, NULL, 0), -1);
}

struct warnings {
	unsigned n;
	uint32_t port;
	char msg[1024];
};

static void on_warn(void *arg, uint32_t port, const char *msg)
{
	struct warnings *w = arg;

	w->n++;
	w->port = port;
	snprintf(w->msg, sizeof(w->msg), "%s", msg);
}

static struct sluice_config *config(const char *lcores, uint32_t workers)
{
	struct sluice_config *cfg = sluice_config_new();
	char text[1024];

	assert_non_null(cfg);
	cfg->online_cpus = 4;
	snprintf(text, sizeof(text),
		 "[eal]\nlcores = %s\n[dataplane]\nworkers = %u\n[storage]\ndata_dir = %s/data\n"
		 "[port.lo]\ndevice = net_memif0\n[port.p1]\ndevice = 0000:03:00.0\n"
		 "[topic.t]\n[listener.l]\nport = p1\nudp_port = 9000\n",
		 lcores, workers, root);
	assert_int_equal(sluice_config_parse(cfg, "t.ini", text, strlen(text)), 0);
	assert_int_equal(sluice_config_validate(cfg), 0);
	return cfg;
}

static void test_numa_check(void **state)
{
	struct warnings w = {0};
	struct sluice_config *cfg;
	struct sluice_host_cpuset cpus;

	(void)state;
	/* Port p1 on node 0, workers on CPUs 1 (node 0) and (2,3) (node 1, floating). */
	cfg = config("0@0,1@1,2@(2-3)", 2);
	assert_int_equal(sluice_host_worker_cpus(cfg, 1, &cpus), 0);
	assert_int_equal(sluice_host_cpuset_count(&cpus), 2);
	assert_int_equal(sluice_host_numa_check(root, cfg, on_warn, &w), 1);
	assert_int_equal(w.port, 1);
	assert_non_null(strstr(w.msg, "port p1 (0000:03:00.0) is on node 0"));
	assert_non_null(strstr(w.msg, "worker 1 (lcore 2, CPU 2, node 1)"));
	assert_null(strstr(w.msg, "worker 0"));
	assert_non_null(strstr(w.msg, "CPUs of node 0 (0-1)"));
	sluice_config_free(cfg);

	/* Every worker on the port's node: silent. */
	memset(&w, 0, sizeof(w));
	cfg = config("0@0,1@1", 1);
	assert_int_equal(sluice_host_numa_check(root, cfg, on_warn, &w), 0);
	/* Move the NIC to node 1: the worker on CPU 1 is remote now. */
	fake_file(root, "/sys/bus/pci/devices/0000:03:00.0/numa_node", "1\n");
	assert_int_equal(sluice_host_numa_check(root, cfg, on_warn, &w), 1);
	assert_non_null(strstr(w.msg,
			       "is on node 1 but worker 0 (lcore 1, CPU 1, node 0) "
			       "polls it"));
	sluice_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpuset),
		cmocka_unit_test_setup(test_nodes, setup),
		cmocka_unit_test_setup(test_port_node, setup),
		cmocka_unit_test_setup(test_numa_check, setup),
	};
	int rc;

	assert_non_null(mkdtemp(root));
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fake_rm(root, "");
	return rc;
}
