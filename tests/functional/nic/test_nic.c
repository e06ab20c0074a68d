/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nic/ against real DPDK virtual devices in one process (EAL --no-huge, --no-pci):
 * - a vdev that fails to probe is -ENODEV at port create;
 * - net_ring (loopback rings, 4 queues): queue counts, every packet sent on queue q comes back
 *   on queue q, stats and xstats agree;
 * - a memif server/client pair over a unix socket: link comes up, packets in = packets out.
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

static int setup(void **state)
{
	static char vd_memif_s[256], vd_memif_c[256];
	(void)state;

	snprintf(prefix, sizeof(prefix), "sluice-nic-test-%d", (int)getpid());
	snprintf(memif_sock, sizeof(memif_sock), "/tmp/sluice-nic-test-%d.sock", (int)getpid());
	snprintf(vd_memif_s, sizeof(vd_memif_s),
		 "net_memif0,role=server,id=0,socket=%s,socket-abstract=no", memif_sock);
	snprintf(vd_memif_c, sizeof(vd_memif_c),
		 "net_memif1,role=client,id=0,socket=%s,socket-abstract=no", memif_sock);
	/* net_memif9 has an invalid role: the PMD refuses it, EAL still comes up. */
	const char *vdevs[] = {"net_ring0", vd_memif_s, vd_memif_c, "net_memif9,role=bogus",
			       "net_null0", NULL};
	struct sluice_nic_eal_opts o = {
		.prog = "test_nic",
		.lcores = "0@0",
		.mem_mode = SLUICE_NIC_MEM_NO_HUGE,
		.mem_mb = 256,
		.file_prefix = prefix,
		.vdevs = vdevs,
		.log_level = "*:warning",
		.telemetry = false,
	};
	int rc = sluice_nic_eal_init(&o);
	if (rc != 0) {
		fprintf(stderr, "eal init: %s\n", strerror(-rc));
		return -1;
	}
	pool = rte_pktmbuf_pool_create("nic_test", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	return pool ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[256];
	(void)state;

	rte_mempool_free(pool);
	sluice_nic_eal_cleanup();
	unlink(memif_sock);
	snprintf(cmd, sizeof(cmd), "/var/run/dpdk/%s", prefix);
	/* EAL leaves its runtime directory behind (FACTS.md); remove our own. */
	char rm[300];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", cmd);
	if (system(rm) != 0)
		fprintf(stderr, "could not remove %s\n", cmd);
	return 0;
}

static struct rte_mbuf *make_pkt(uint16_t len, uint32_t tag)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *d;

	if (m == NULL)
		return NULL;
	d = (uint8_t *)rte_pktmbuf_append(m, len);
	assert_non_null(d);
	memset(d, 0xab, len);
	memcpy(d + 14, &tag, sizeof(tag));
	return m;
}

static uint32_t pkt_tag(struct rte_mbuf *m)
{
	uint32_t tag;

	memcpy(&tag, rte_pktmbuf_mtod_offset(m, uint8_t *, 14), sizeof(tag));
	return tag;
}

static void test_probe_failure_is_enodev(void **state)
{
	struct sluice_nic_port *p = (struct sluice_nic_port *)0x1;
	struct sluice_nic_port_opts o = {.name = "bad",
					 .device = "net_memif9",
					 .rx_queues = 1,
					 .tx_queues = 1,
					 .pool = pool};
	(void)state;

	assert_int_equal(sluice_nic_port_create(&o, &p), -ENODEV);
	assert_null(p);
	o.device = "net_never_configured0";
	assert_int_equal(sluice_nic_port_create(&o, &p), -ENODEV);
	/* Arguments the driver cannot honour are -EINVAL, not a crash. */
	o.device = "net_null0";
	o.rx_queues = 4096;
	assert_int_equal(sluice_nic_port_create(&o, &p), -EINVAL);
	o.rx_queues = 1;
	o.mtu = 9;
	assert_int_equal(sluice_nic_port_create(&o, &p), -EINVAL);
	o.mtu = 0;
	o.pool = NULL;
	assert_int_equal(sluice_nic_port_create(&o, &p), -EINVAL);
	sluice_nic_port_destroy(NULL);
}

struct xstat_seen {
	int n;
	uint64_t rx_good;
};

static void xstat_cb(const char *name, uint64_t value, void *arg)
{
	struct xstat_seen *s = arg;

	s->n++;
	if (strcmp(name, "rx_good_packets") == 0)
		s->rx_good = value;
}

enum { RING_QUEUES = 4, PER_QUEUE = 1000 };

static void test_ring_queues_loopback(void **state)
{
	struct sluice_nic_port_opts o = {.name = "ring",
					 .device = "net_ring0",
					 .rx_queues = RING_QUEUES,
					 .tx_queues = RING_QUEUES,
					 .rx_desc = 512,
					 .tx_desc = 512,
					 .rss = true,
					 .promiscuous = true,
					 .pool = pool};
	struct sluice_nic_port *p = NULL;
	struct rte_eth_dev_info info;
	struct sluice_nic_stats st;
	struct xstat_seen xs = {0};
	uint64_t got[RING_QUEUES] = {0};
	(void)state;

	assert_int_equal(sluice_nic_port_create(&o, &p), 0);
	assert_string_equal(sluice_nic_port_name(p), "ring");
	assert_int_equal(rte_eth_dev_info_get(sluice_nic_port_id(p), &info), 0);
	assert_int_equal(sluice_nic_port_rx_queues(p), RING_QUEUES);
	assert_int_equal(sluice_nic_port_tx_queues(p), RING_QUEUES);
	/* net_ring offers no RSS hash: the request degrades instead of failing. */
	assert_false(sluice_nic_port_rss(p));
	assert_int_equal(sluice_nic_port_start(p, 1000), 0);
	assert_true(sluice_nic_port_link_up(p));
	uint8_t mac[6];
	sluice_nic_port_mac(p, mac);

	for (uint32_t q = 0; q < RING_QUEUES; q++) {
		for (uint32_t i = 0; i < PER_QUEUE; i += 32) {
			struct rte_mbuf *b[32];
			uint16_t n = 32, sent;

			for (uint16_t k = 0; k < n; k++) {
				b[k] = make_pkt(64, q);
				assert_non_null(b[k]);
			}
			sent = sluice_nic_tx_burst(p, (uint16_t)q, b, n);
			assert_int_equal(sent, n);
			/* Drain as we go: the loopback ring is only 512 deep. */
			struct rte_mbuf *r[32];
			uint16_t k = sluice_nic_rx_burst(p, (uint16_t)q, r, 32);
			for (uint16_t j = 0; j < k; j++) {
				assert_int_equal(pkt_tag(r[j]), q);
				rte_pktmbuf_free(r[j]);
			}
			got[q] += k;
		}
		for (int spin = 0; spin < 1000; spin++) {
			struct rte_mbuf *r[32];
			uint16_t k = sluice_nic_rx_burst(p, (uint16_t)q, r, 32);
			if (k == 0)
				break;
			for (uint16_t j = 0; j < k; j++) {
				assert_int_equal(pkt_tag(r[j]), q);
				rte_pktmbuf_free(r[j]);
			}
			got[q] += k;
		}
	}
	uint64_t sent_total = 0;
	for (uint32_t q = 0; q < RING_QUEUES; q++) {
		/* PER_QUEUE rounded up to whole bursts of 32 */
		assert_int_equal(got[q], (PER_QUEUE + 31) / 32 * 32);
		sent_total += got[q];
	}
	assert_int_equal(sluice_nic_port_stats(p, &st), 0);
	assert_int_equal(st.opackets, sent_total);
	assert_int_equal(st.ipackets, sent_total);
	assert_int_equal(st.imissed, 0);
	assert_true(sluice_nic_port_xstats(p, xstat_cb, &xs) > 0);
	assert_true(xs.n > 0);
	assert_int_equal(xs.rx_good, sent_total);
	sluice_nic_port_destroy(p);
}

static void sleep_us(long us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};

	nanosleep(&ts, NULL);
}

enum { MEMIF_PKTS = 5000 };

static void test_memif_pair(void **state)
{
	struct sluice_nic_port_opts so = {.name = "srv",
					  .device = "net_memif0",
					  .rx_queues = 1,
					  .tx_queues = 1,
					  .rx_desc = 1024,
					  .tx_desc = 1024,
					  .pool = pool};
	struct sluice_nic_port_opts co = so;
	struct sluice_nic_port *srv = NULL, *cli = NULL;
	struct sluice_nic_stats ss, cs;
	uint64_t tx = 0, rx = 0, bad = 0, tx_drop = 0;
	(void)state;

	co.name = "cli";
	co.device = "net_memif1";
	assert_int_equal(sluice_nic_port_create(&so, &srv), 0);
	assert_int_equal(sluice_nic_port_create(&co, &cli), 0);
	assert_int_equal(sluice_nic_port_start(srv, 0), 0);
	assert_int_equal(sluice_nic_port_start(cli, 3000), 0);
	assert_int_equal(sluice_nic_port_start(srv, 3000), 0);

	/* Bounded in iterations and time: 20 s worth of 100 us sleeps at most. */
	for (int it = 0; it < 200000 && rx < MEMIF_PKTS; it++) {
		if (tx < MEMIF_PKTS) {
			struct rte_mbuf *b[32];
			uint16_t n = (uint16_t)(MEMIF_PKTS - tx < 32 ? MEMIF_PKTS - tx : 32);

			for (uint16_t k = 0; k < n; k++)
				b[k] = make_pkt(128, (uint32_t)(tx + k));
			uint16_t sent = sluice_nic_tx_burst(cli, 0, b, n);
			for (uint16_t k = sent; k < n; k++)
				rte_pktmbuf_free(b[k]);
			/* memif's ring may be full: retry the same sequence numbers */
			tx += sent;
			tx_drop += (uint64_t)(n - sent);
		}
		struct rte_mbuf *r[32];
		uint16_t k = sluice_nic_rx_burst(srv, 0, r, 32);
		for (uint16_t j = 0; j < k; j++) {
			if (pkt_tag(r[j]) != rx + j || rte_pktmbuf_pkt_len(r[j]) != 128)
				bad++;
			rte_pktmbuf_free(r[j]);
		}
		rx += k;
		if (k == 0 && tx == MEMIF_PKTS)
			sleep_us(100);
	}
	assert_int_equal(tx, MEMIF_PKTS);
	assert_int_equal(rx, MEMIF_PKTS);
	assert_int_equal(bad, 0);
	assert_int_equal(sluice_nic_port_stats(cli, &cs), 0);
	assert_int_equal(sluice_nic_port_stats(srv, &ss), 0);
	assert_int_equal(cs.opackets, MEMIF_PKTS);
	assert_int_equal(ss.ipackets, MEMIF_PKTS);
	assert_int_equal(ss.ibytes, (uint64_t)MEMIF_PKTS * 128);
	(void)tx_drop;
	sluice_nic_port_destroy(cli);
	sluice_nic_port_destroy(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_failure_is_enodev),
		cmocka_unit_test(test_ring_queues_loopback),
		cmocka_unit_test(test_memif_pair),
	};

	return cmocka_run_group_tests_name("nic", tests, setup, teardown);
}
