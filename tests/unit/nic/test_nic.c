/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nic/nic.c: its own rules and error paths, with EAL up once (--no-huge, --no-pci) and the
 * deterministic net_null and net_ring devices; the multi-queue and memif data paths are
 * covered by tests/functional/nic.
 * - eal_init: NULL and bad options are refused before EAL runs (it can still start after),
 *   a second init is -EALREADY;
 * - port_create: every invalid option is -EINVAL, an unknown device -ENODEV, queue counts and
 *   MTU beyond the driver's range -EINVAL; a refused create leaves the device usable.
 *   Closing a vdev releases it (DPDK), so each test creates its ports on its own net_nullN;
 * - RSS only with more than one queue on a device that offers an IP/UDP hash; names;
 * - start is idempotent, a link that never comes up is -ETIMEDOUT within the wait;
 * - stats and xstats agree with what was sent and received.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "sluice_nic.h"

static struct rte_mempool *pool;
static char prefix[64];
static char memif_sock[128];

static const struct sluice_nic_eal_opts *eal_opts(void)
{
	static char vd_memif[256];
	static const char *vdevs[10];
	static struct sluice_nic_eal_opts o;

	snprintf(prefix, sizeof(prefix), "sluice-nic-unit-%d", (int)getpid());
	snprintf(memif_sock, sizeof(memif_sock), "/tmp/sluice-nic-unit-%d.sock", (int)getpid());
	/* A memif server nobody connects to: its link stays down. */
	snprintf(vd_memif, sizeof(vd_memif), "net_memif0,role=server,socket=%s,socket-abstract=no",
		 memif_sock);
	for (int i = 0; i < 8; i++) {
		static char names[8][16];

		snprintf(names[i], sizeof(names[i]), "net_null%d", i);
		vdevs[i] = names[i];
	}
	vdevs[8] = vd_memif;
	vdevs[9] = NULL;
	memset(&o, 0, sizeof(o));
	o.prog = "test_nic_unit";
	o.lcores = "0@0";
	o.mem_mode = SLUICE_NIC_MEM_NO_HUGE;
	o.mem_mb = 256;
	o.file_prefix = prefix;
	o.vdevs = vdevs;
	o.log_level = "*:error";
	o.telemetry = false;
	return &o;
}

/* Refused before EAL runs: these must leave EAL startable, so they come first. */
static void test_eal_bad_options(void **state)
{
	struct sluice_nic_eal_opts o = *eal_opts();
	const char *many[300];
	(void)state;

	assert_int_equal(sluice_nic_eal_init(NULL), -EINVAL);
	o.mem_mode = (enum sluice_nic_mem_mode)7;
	assert_int_equal(sluice_nic_eal_init(&o), -EINVAL);
	/* More arguments than the vector holds: an error, not an overflow. */
	o = *eal_opts();
	for (size_t i = 0; i < 299; i++)
		many[i] = "--no-shconf";
	many[299] = NULL;
	o.extra_args = many;
	assert_true(sluice_nic_eal_init(&o) < 0);
}

static int setup(void **state)
{
	(void)state;
	if (sluice_nic_eal_init(eal_opts()) != 0)
		return -1;
	pool = rte_pktmbuf_pool_create("nic_unit", 4095, 128, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	return pool ? 0 : -1;
}

static int teardown(void **state)
{
	char rm[300];
	(void)state;

	rte_mempool_free(pool);
	sluice_nic_eal_cleanup();
	unlink(memif_sock);
	snprintf(rm, sizeof(rm), "rm -rf '/var/run/dpdk/%s'", prefix);
	if (system(rm) != 0)
		fprintf(stderr, "could not remove /var/run/dpdk/%s\n", prefix);
	return 0;
}

static void test_eal_twice(void **state)
{
	(void)state;
	assert_int_equal(sluice_nic_eal_init(eal_opts()), -EALREADY);
}

static struct sluice_nic_port_opts null_opts(const char *dev, uint16_t queues)
{
	struct sluice_nic_port_opts o = {
		.name = "p0",
		.device = dev,
		.rx_queues = queues,
		.tx_queues = queues,
		.rx_desc = 256,
		.tx_desc = 256,
		.pool = pool,
	};
	return o;
}

static void test_create_invalid(void **state)
{
	struct sluice_nic_port *p = (struct sluice_nic_port *)0x1;
	struct sluice_nic_port_opts o;
	struct rte_eth_dev_info info;
	uint16_t id;
	(void)state;

	assert_int_equal(sluice_nic_port_create(NULL, &p), -EINVAL);
	assert_null(p);
	o = null_opts(NULL, 1);
	assert_int_equal(sluice_nic_port_create(&o, &p), -EINVAL);
	o = null_opts("net_null0", 1);
	o.pool = NULL;
	assert_int_equal(sluice_nic_port_create(&o, &p), -EINVAL);
	o = null_opts("net_null0", 0);
	assert_int_equal(sluice_nic_port_create(&o, &p), -EINVAL);
	o = null_opts("net_null9", 1); /* never probed */
	assert_int_equal(sluice_nic_port_create(&o, &p), -ENODEV);
	assert_null(p);

	assert_int_equal(rte_eth_dev_get_port_by_name("net_null0", &id), 0);
	assert_int_equal(rte_eth_dev_info_get(id, &info), 0);
	o = null_opts("net_null0", 1);
	o.rx_queues = (uint16_t)(info.max_rx_queues + 1);
	assert_int_equal(sluice_nic_port_create(&o, &p), -EINVAL);
	o = null_opts("net_null0", 1);
	o.tx_queues = (uint16_t)(info.max_tx_queues + 1);
	assert_int_equal(sluice_nic_port_create(&o, &p), -EINVAL);
	if (info.min_mtu > 1) {
		o = null_opts("net_null0", 1);
		o.mtu = (uint16_t)(info.min_mtu - 1);
		assert_int_equal(sluice_nic_port_create(&o, &p), -EINVAL);
	}
	if (info.max_mtu < UINT16_MAX) {
		o = null_opts("net_null0", 1);
		o.mtu = (uint16_t)(info.max_mtu + 1);
		assert_int_equal(sluice_nic_port_create(&o, &p), -EINVAL);
	}
	assert_null(p);

	/* Nothing of the refused attempts sticks: the device is created, started and closed. */
	o = null_opts("net_null0", 1);
	assert_int_equal(sluice_nic_port_create(&o, &p), 0);
	assert_non_null(p);
	assert_int_equal(sluice_nic_port_start(p, 1000), 0);
	sluice_nic_port_destroy(p);
	sluice_nic_port_destroy(NULL);
	sluice_nic_port_stop(NULL);
	assert_int_equal(sluice_nic_port_start(NULL, 0), -EINVAL);
}

static void test_names_and_queues(void **state)
{
	char longname[200];
	struct sluice_nic_port *p;
	struct sluice_nic_port_opts o = null_opts("net_null1", 2);
	uint16_t id;
	uint8_t mac[6] = {0};
	struct rte_ether_addr want;
	(void)state;

	o.name = NULL; /* the device name stands in */
	assert_int_equal(sluice_nic_port_create(&o, &p), 0);
	assert_string_equal(sluice_nic_port_name(p), "net_null1");
	assert_int_equal(rte_eth_dev_get_port_by_name("net_null1", &id), 0);
	assert_int_equal(sluice_nic_port_id(p), id);
	assert_int_equal(sluice_nic_port_rx_queues(p), 2);
	assert_int_equal(sluice_nic_port_tx_queues(p), 2);
	assert_true(sluice_nic_port_socket(p) >= 0);
	sluice_nic_port_mac(p, mac);
	assert_int_equal(rte_eth_macaddr_get(id, &want), 0);
	assert_memory_equal(mac, want.addr_bytes, 6);
	sluice_nic_port_destroy(p);

	/* A name longer than the port keeps is cut, not overflowed. */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	o.name = longname;
	o.device = "net_null2";
	assert_int_equal(sluice_nic_port_create(&o, &p), 0);
	assert_true(strlen(sluice_nic_port_name(p)) < sizeof(longname) - 1);
	assert_memory_equal(sluice_nic_port_name(p), longname, strlen(sluice_nic_port_name(p)));
	sluice_nic_port_destroy(p);
}

/* RSS is on only where it can spread anything: asked for, more than one RX queue, and an
 * IP/UDP hash offered by the device. */
static void test_rss_rule(void **state)
{
	struct sluice_nic_port *p;
	struct sluice_nic_port_opts o;
	struct rte_eth_dev_info info;
	uint16_t id;
	bool offers;
	(void)state;

	assert_int_equal(rte_eth_dev_get_port_by_name("net_null3", &id), 0);
	assert_int_equal(rte_eth_dev_info_get(id, &info), 0);
	offers = (info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP)) != 0;

	o = null_opts("net_null3", 1);
	o.rss = true;
	assert_int_equal(sluice_nic_port_create(&o, &p), 0);
	assert_false(sluice_nic_port_rss(p));
	/* the checksum offload flag says what the device offers, nothing more */
	assert_int_equal(sluice_nic_port_rx_cksum_offload(p),
			 (info.rx_offload_capa &
			  (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM)) ==
				 (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM));
	sluice_nic_port_destroy(p);

	o = null_opts("net_null4", 2);
	o.rss = false;
	assert_int_equal(sluice_nic_port_create(&o, &p), 0);
	assert_false(sluice_nic_port_rss(p));
	sluice_nic_port_destroy(p);

	o = null_opts("net_null5", 2);
	o.rss = true;
	assert_int_equal(sluice_nic_port_create(&o, &p), 0);
	assert_int_equal(sluice_nic_port_rss(p), offers);
	/* start spreads the RETA (or keeps the driver's): the port runs either way */
	assert_int_equal(sluice_nic_port_start(p, 1000), 0);
	sluice_nic_port_destroy(p);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_link_wait(void **state)
{
	struct sluice_nic_port *p;
	struct sluice_nic_port_opts o = null_opts("net_memif0", 1);
	double t0;
	(void)state;

	assert_int_equal(sluice_nic_port_create(&o, &p), 0);
	/* link_wait 0 starts and returns at once, the link down */
	assert_int_equal(sluice_nic_port_start(p, 0), 0);
	assert_false(sluice_nic_port_link_up(p));
	assert_int_equal(sluice_nic_port_link_speed_mbps(p), 0);
	/* again on a started port: only waits, and gives up */
	t0 = now_s();
	assert_int_equal(sluice_nic_port_start(p, 50), -ETIMEDOUT);
	assert_true(now_s() - t0 >= 0.04);
	sluice_nic_port_stop(p);
	sluice_nic_port_stop(p); /* twice is harmless */
	sluice_nic_port_destroy(p);

	o = null_opts("net_null6", 1);
	assert_int_equal(sluice_nic_port_create(&o, &p), 0);
	assert_int_equal(sluice_nic_port_start(p, 1000), 0);
	assert_true(sluice_nic_port_link_up(p));
	assert_true(sluice_nic_port_link_speed_mbps(p) > 0); /* net_null: 10G */
	assert_int_equal(sluice_nic_port_start(p, 1000), 0);
	sluice_nic_port_destroy(p);
}

struct xs {
	int n;
	uint64_t rx_good, tx_good;
};

static void xs_cb(const char *name, uint64_t value, void *arg)
{
	struct xs *x = arg;

	x->n++;
	if (strcmp(name, "rx_good_packets") == 0)
		x->rx_good = value;
	else if (strcmp(name, "tx_good_packets") == 0)
		x->tx_good = value;
}

static void test_stats(void **state)
{
	struct sluice_nic_port *p;
	struct sluice_nic_port_opts o = null_opts("net_null7", 1);
	struct sluice_nic_stats st;
	struct rte_mbuf *m[32];
	unsigned rx = 0, tx = 0;
	struct xs x = {0};
	int n;
	(void)state;

	assert_int_equal(sluice_nic_port_create(&o, &p), 0);
	assert_int_equal(sluice_nic_port_start(p, 1000), 0);
	/* net_null makes up packets on RX and swallows them on TX */
	for (int i = 0; i < 4; i++) {
		uint16_t got = sluice_nic_rx_burst(p, 0, m, 32);
		uint16_t sent;

		rx += got;
		sent = sluice_nic_tx_burst(p, 0, m, got);
		tx += sent;
		for (uint16_t j = sent; j < got; j++)
			rte_pktmbuf_free(m[j]);
	}
	assert_true(rx > 0);
	assert_int_equal(sluice_nic_port_stats(p, &st), 0);
	assert_int_equal(st.ipackets, rx);
	assert_int_equal(st.opackets, tx);
	assert_int_equal(st.imissed, 0);
	n = sluice_nic_port_xstats(p, xs_cb, &x);
	assert_true(n > 0);
	assert_int_equal(x.n, n);
	assert_int_equal(x.rx_good, rx);
	assert_int_equal(x.tx_good, tx);
	sluice_nic_port_destroy(p);
}

int main(void)
{
	const struct CMUnitTest pre[] = {
		cmocka_unit_test(test_eal_bad_options),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eal_twice),        cmocka_unit_test(test_create_invalid),
		cmocka_unit_test(test_names_and_queues), cmocka_unit_test(test_rss_rule),
		cmocka_unit_test(test_link_wait),        cmocka_unit_test(test_stats),
	};
	int rc = cmocka_run_group_tests_name("nic before EAL", pre, NULL, NULL);

	return rc + cmocka_run_group_tests_name("nic", tests, setup, teardown);
}
