/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Workers end to end on real components: frames replayed by net_pcap (one rx_pcap per queue),
 * workers on lcores, a real sluice_log with its io_uring writer thread, replies captured by
 * tx_pcap. A known mix of good and bad frames per queue; the test asserts the exact events per
 * partition (read back from the log), the exact counters by reason, that the accounting
 * identities balance, and that ARP, ICMP echo and IPv6 ND replies were transmitted. While the
 * workers run, a monitor thread reads storage's counters and then the workers' snapshots
 * back to back: every identity must hold exactly in every reading, and in flight (enqueued -
 * durable) never be negative; it also visits the live producer tables.
 *
 * usage: test_worker <queues> <lcores>     e.g. 1 "0@0,1@1" or 4 "0@0,1@1,2@0,3@1"
 * Worker q runs on lcore q (the main lcore runs worker 0); a control thread stops them.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <stdatomic.h>

#include "../../unit/dataplane/dp_craft.h"
#include "sluice_dataplane.h"
#include "sluice_nic.h"
#include "sluice_storage.h"

#define MAXQ 4
#define MAXFRAMES 128
#define NPART 7 /* events 0..3, logs 4..5, raw 6 */

static int failures;
#define CHECK(cond, ...)                                                                \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                   \
			fprintf(stderr, "\n");                                          \
			failures++;                                                     \
		}                                                                       \
	} while (0)

static const uint8_t our_ip[4] = {192, 0, 2, 1};
static const uint8_t our_ip6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

struct expect {
	uint64_t frames;
	uint64_t records[NPART];
	uint32_t value_sum[NPART]; /* order-independent: sum of crc32c(value) */
	uint64_t rejects[SLUICE_DP_REJECT__COUNT];
	uint64_t arp, icmp, nd;
};

static struct expect exp_total;

struct frames {
	uint8_t data[MAXFRAMES][1600];
	size_t len[MAXFRAMES];
	unsigned n;
};

static void add_value(struct expect *e, uint32_t pid, const char *v, size_t n)
{
	e->records[pid]++;
	e->value_sum[pid] += sluice_crc32c(0, v, n);
}

static struct craft_opts to_us(unsigned q, unsigned host, uint16_t port)
{
	struct craft_opts o = {.family = 4, .sport = (uint16_t)(40000 + host), .dport = port};
	memset(o.dst_mac, 0xff, 6);
	uint8_t src_mac[6] = {0x02, 0, 0, 0, (uint8_t)q, (uint8_t)host};
	memcpy(o.src_mac, src_mac, 6);
	uint8_t src[4] = {10, 0, (uint8_t)q, (uint8_t)host};
	memcpy(o.src, src, 4);
	memcpy(o.dst, our_ip, 4);
	return o;
}

static void push(struct frames *f, size_t len)
{
	f->len[f->n++] = len;
}

static uint8_t *next(struct frames *f)
{
	if (f->n >= MAXFRAMES) {
		fprintf(stderr, "too many frames\n");
		exit(1);
	}
	return f->data[f->n];
}

static void src_key(const struct craft_opts *o, char *key, size_t cap)
{
	snprintf(key, cap, "%u.%u.%u.%u", o->src[0], o->src[1], o->src[2], o->src[3]);
}

/* The mix for queue q; the expected outcome goes to e. */
static void build_mix(unsigned q, struct frames *f, struct expect *e)
{
	char buf[2048], key[64];
	uint8_t kp[2048];
	struct craft_opts o;
	size_t n;

	/* lines, keyed by source address: 10 datagrams of 2 lines from 3 hosts */
	for (unsigned i = 0; i < 10; i++) {
		o = to_us(q, 1 + i % 3, 5140);
		int len = snprintf(buf, sizeof(buf), "line-%u-%u-a\r\nline-%u-%u-b\n", q, i, q, i);
		push(f, craft_udp(next(f), &o, buf, (size_t)len));
		src_key(&o, key, sizeof(key));
		uint32_t pid = 4 + sluice_partition_for_key(key, strlen(key), 2);
		char v[64];
		int vl = snprintf(v, sizeof(v), "line-%u-%u-a", q, i);
		add_value(e, pid, v, (size_t)vl);
		vl = snprintf(v, sizeof(v), "line-%u-%u-b", q, i);
		add_value(e, pid, v, (size_t)vl);
	}
	/* one over IPv6 */
	o = to_us(q, 9, 5140);
	o.family = 6;
	memcpy(o.dst, our_ip6, 16);
	uint8_t s6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, (uint8_t)q, [15] = 9};
	memcpy(o.src, s6, 16);
	n = (size_t)snprintf(buf, sizeof(buf), "v6-line-%u", q);
	push(f, craft_udp(next(f), &o, buf, n));
	{
		char k6[64];
		snprintf(k6, sizeof(k6), "2001:db8:%x::9", q);
		if (q == 0)
			snprintf(k6, sizeof(k6), "2001:db8::9");
		add_value(e, 4 + sluice_partition_for_key(k6, strlen(k6), 2), buf, n);
	}
	/* raw */
	for (unsigned i = 0; i < 5; i++) {
		o = to_us(q, 4, 7000);
		n = (size_t)snprintf(buf, sizeof(buf), "raw-%u-%u", q, i);
		push(f, craft_udp(next(f), &o, buf, n));
		add_value(e, 6, buf, n);
	}
	/* kafka, explicit partitions: 4 batches of 3 records, producer 1000+q */
	for (int p = 0; p < 4; p++) {
		o = to_us(q, 5, 9092);
		n = craft_kafka(kp, sizeof(kp), p, 3, true, 1000 + q, 0, 0);
		push(f, craft_udp(next(f), &o, kp, n));
		for (int i = 0; i < 3; i++) {
			char v[32];
			int vl = snprintf(v, sizeof(v), "value-%d", i);
			add_value(e, (uint32_t)p, v, (size_t)vl);
		}
	}
	/* kafka, partition -1: 2 batches of 10 keyed records, producer 2000+q */
	for (int b = 0; b < 2; b++) {
		o = to_us(q, 6, 9092);
		n = craft_kafka(kp, sizeof(kp), -1, 10, true, 2000 + q, 0, b * 10);
		push(f, craft_udp(next(f), &o, kp, n));
		for (int i = 0; i < 10; i++) {
			char k[16], v[32];
			int kl = snprintf(k, sizeof(k), "k%d", i);
			int vl = snprintf(v, sizeof(v), "value-%d", i);
			add_value(e, sluice_partition_for_key(k, (size_t)kl, 4), v, (size_t)vl);
		}
	}
	/* ARP request and ICMP echo for our address */
	o = to_us(q, 7, 0);
	push(f, craft_arp(next(f), &o, 1, our_ip));
	e->arp++;
	o = to_us(q, 7, 0);
	push(f, craft_icmp(next(f), &o, 8, NULL, 32));
	e->icmp++;

	/* IPv6 neighbour solicitation for our address (to its solicited-node group) */
	o = to_us(q, 7, 0);
	o.family = 6;
	memcpy(o.src, s6, 16);
	o.src[15] = 7;
	uint8_t sol[16] = {0xff, 0x02, [11] = 1, [12] = 0xff, [15] = 1};
	memcpy(o.dst, sol, 16);
	push(f, craft_icmp(next(f), &o, 135, our_ip6, 0));
	e->nd++;

	/* bad ones, one per reason */
	o = to_us(q, 8, 5140);
	o.bad_udp_csum = true;
	push(f, craft_udp(next(f), &o, "bad udp", 7));
	e->rejects[SLUICE_DP_REJECT_UDP_CHECKSUM]++;
	o = to_us(q, 8, 5140);
	o.bad_ip_csum = true;
	push(f, craft_udp(next(f), &o, "bad ip", 6));
	e->rejects[SLUICE_DP_REJECT_IP_CHECKSUM]++;
	o = to_us(q, 8, 5140);
	o.frag = true;
	push(f, craft_udp(next(f), &o, "fragment", 8));
	e->rejects[SLUICE_DP_REJECT_IP_FRAGMENT]++;
	o = to_us(q, 8, 9999);
	push(f, craft_udp(next(f), &o, "nobody", 6));
	e->rejects[SLUICE_DP_REJECT_NO_LISTENER]++;
	o = to_us(q, 8, 5140);
	o.proto = 6;
	push(f, craft_udp(next(f), &o, "tcp", 3));
	e->rejects[SLUICE_DP_REJECT_NOT_UDP]++;
	o = to_us(q, 8, 5140);
	craft_udp(next(f), &o, "truncated", 9);
	push(f, 30);
	e->rejects[SLUICE_DP_REJECT_IP_HEADER]++;
	o = to_us(q, 8, 5140);
	o.vlans = 3;
	push(f, craft_udp(next(f), &o, "deep", 4));
	e->rejects[SLUICE_DP_REJECT_VLAN_DEPTH]++;
	o = to_us(q, 8, 5140);
	o.dst[3] = 200;
	push(f, craft_udp(next(f), &o, "not ours", 8));
	e->rejects[SLUICE_DP_REJECT_IP_DST]++;
	o = to_us(q, 8, 0);
	push(f, craft_arp(next(f), &o, 1, (const uint8_t[]){192, 0, 2, 77}));
	e->rejects[SLUICE_DP_REJECT_ARP_IGNORED]++;
	o = to_us(q, 8, 9092);
	n = craft_kafka(kp, sizeof(kp), 1, 2, false, -1, 0, -1);
	kp[n - 1] ^= 0x40;
	push(f, craft_udp(next(f), &o, kp, n));
	e->rejects[SLUICE_DP_REJECT_KAFKA_BATCH]++;
	o = to_us(q, 5, 9092); /* the first explicit batch again */
	n = craft_kafka(kp, sizeof(kp), 0, 3, true, 1000 + q, 0, 0);
	push(f, craft_udp(next(f), &o, kp, n));
	e->rejects[SLUICE_DP_REJECT_DUPLICATE] += 3;
	o = to_us(q, 8, 5140);
	push(f, craft_udp(next(f), &o, "\n\r\n", 3));
	e->rejects[SLUICE_DP_REJECT_EMPTY_LINE] += 2;
	o = to_us(q, 8, 7000);
	memset(buf, 'x', 100);
	push(f, craft_udp(next(f), &o, buf, 100));
	e->rejects[SLUICE_DP_REJECT_EVENT_TOO_LARGE]++;
	o = to_us(q, 8, 7000);
	push(f, craft_udp(next(f), &o, "", 0));
	e->rejects[SLUICE_DP_REJECT_EMPTY_PAYLOAD]++;
	e->frames += f->n;
}

static void put32le(FILE *fp, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	fwrite(b, 1, 4, fp);
}

static int write_pcap(const char *path, const struct frames *f)
{
	FILE *fp = fopen(path, "wb");
	if (!fp)
		return -errno;
	put32le(fp, 0xa1b2c3d4);
	put32le(fp, 0x00040002);
	put32le(fp, 0);
	put32le(fp, 0);
	put32le(fp, 65535);
	put32le(fp, 1);
	for (unsigned i = 0; i < f->n; i++) {
		put32le(fp, 1700000000);
		put32le(fp, i);
		put32le(fp, (uint32_t)f->len[i]);
		put32le(fp, (uint32_t)f->len[i]);
		fwrite(f->data[i], 1, f->len[i], fp);
	}
	return fclose(fp) == 0 ? 0 : -errno;
}

static uint32_t get32le(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Count ARP replies and ICMP echo replies in a tx_pcap file. */
static void read_tx(const char *path, uint64_t *arp, uint64_t *icmp, uint64_t *nd)
{
	static uint8_t buf[1 << 20];
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		CHECK(fp != NULL, "open %s: %s", path, strerror(errno));
		return;
	}
	size_t n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	uint32_t magic = n >= 24 ? get32le(buf) : 0;
	CHECK(magic == 0xa1b2c3d4 || magic == 0xa1b23c4d, "%s: magic %08x", path, magic);
	for (size_t off = 24; off + 16 <= n;) {
		uint32_t cap = get32le(buf + off + 8);
		if (off + 16 + cap > n)
			break;
		const uint8_t *fr = buf + off + 16;
		struct sluice_pkt_info pi;
		enum sluice_dp_reject r = sluice_pkt_parse(fr, cap, 0, &pi);
		CHECK(r == SLUICE_DP_REJECT_NONE, "tx frame does not parse: %s",
		      sluice_dp_reject_name(r));
		if (r == SLUICE_DP_REJECT_NONE && pi.kind == SLUICE_PKT_ARP) {
			CHECK(fr[pi.l3_off + 7] == 2, "ARP oper %u", fr[pi.l3_off + 7]);
			CHECK(memcmp(fr + pi.l3_off + 14, our_ip, 4) == 0, "ARP sender ip");
			CHECK(pi.dst_mac[0] == 0x02 && pi.dst_mac[5] == 7, "ARP reply dst mac");
			(*arp)++;
		} else if (r == SLUICE_DP_REJECT_NONE && pi.kind == SLUICE_PKT_ICMP4) {
			CHECK(fr[pi.l4_off] == 0, "ICMP type %u", fr[pi.l4_off]);
			CHECK(memcmp(pi.src_addr, our_ip, 4) == 0, "ICMP src");
			CHECK(pi.dst_addr[3] == 7, "ICMP dst");
			(*icmp)++;
		} else if (r == SLUICE_DP_REJECT_NONE && pi.kind == SLUICE_PKT_ICMP6) {
			const uint8_t *na = fr + pi.l4_off;
			CHECK(na[0] == 136, "ICMPv6 type %u", na[0]);
			CHECK(memcmp(na + 8, our_ip6, 16) == 0, "NA target");
			CHECK(memcmp(pi.src_addr, our_ip6, 16) == 0, "NA source");
			CHECK(pi.hop_limit == 255, "NA hop limit %u", pi.hop_limit);
			(*nd)++;
		}
		off += 16 + cap;
	}
}

static struct sluice_worker *workers[MAXQ];
static unsigned nq;

static int lcore_main(void *arg)
{
	(void)arg;
	unsigned id = rte_lcore_id();
	if (id < nq)
		return sluice_worker_run(workers[id]);
	return 0;
}

struct monitor {
	uint64_t frames;
	struct sluice_log *log;
	int timed_out;
	struct sluice_worker_stats total;
	uint64_t readings, inconsistent, producer_visits;
};

static void sum_stats(struct sluice_worker_stats *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned q = 0; q < nq; q++) {
		struct sluice_worker_stats s;
		sluice_worker_stats(workers[q], &s);
		sluice_worker_stats_add(t, &s);
	}
}

/* One reading the way the daemon takes it: storage first, then the workers. */
static void check_reading(struct monitor *m)
{
	uint64_t durable = 0, shed_storage = 0, pkt = 0, dgram = 0, ev = 0, shed = 0;
	for (uint32_t p = 0; p < NPART; p++) {
		struct sluice_partition_stats ps;
		sluice_partition_stats(sluice_log_partition(m->log, p), &ps);
		durable += ps.durable_records;
		shed_storage += ps.shed_records;
	}
	atomic_thread_fence(memory_order_acquire);
	sum_stats(&m->total);
	const struct sluice_worker_stats *s = &m->total;
	for (int r = 1; r < SLUICE_DP_REJECT__COUNT; r++) {
		if (r < SLUICE_DP_REJECT__FIRST_DATAGRAM)
			pkt += s->rejects[r];
		else if (r < SLUICE_DP_REJECT__FIRST_EVENT)
			dgram += s->rejects[r];
		else
			ev += s->rejects[r];
	}
	for (int r = 0; r < SLUICE_DP_SHED__COUNT; r++)
		shed += s->shed[r];
	bool ok = s->rx_packets == s->ctrl_packets + s->datagrams + pkt &&
		s->datagrams == s->datagrams_accepted + dgram &&
		s->events_decoded == s->events_parsed + ev &&
		s->events_parsed == s->events_enqueued + shed + s->events_open &&
		s->events_enqueued >= durable + shed_storage;
	if (!ok && m->inconsistent++ == 0)
		fprintf(stderr,
			"inconsistent reading: rx %" PRIu64 " ctrl %" PRIu64 " dgrams %" PRIu64
			" decoded %" PRIu64 " parsed %" PRIu64 " enqueued %" PRIu64 " open %" PRIu64
			" durable %" PRIu64 "\n",
			s->rx_packets, s->ctrl_packets, s->datagrams, s->events_decoded,
			s->events_parsed, s->events_enqueued, s->events_open, durable);
	m->readings++;
}

static void *monitor_main(void *arg)
{
	struct monitor *m = arg;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Bounded: 30 s for a few hundred frames. */
	for (;;) {
		check_reading(m);
		if (m->readings % 64 == 0)
			for (unsigned q = 0; q < nq; q++)
				m->producer_visits +=
					sluice_worker_producers(workers[q], NULL, NULL);
		if (m->total.rx_packets >= m->frames)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 30)
			break;
		usleep(20);
	}
	m->timed_out = m->total.rx_packets < m->frames;
	for (unsigned q = 0; q < nq; q++)
		sluice_worker_stop(workers[q]);
	return NULL;
}

static void read_partition(struct sluice_log *log, uint32_t pid, uint64_t *records, uint32_t *sum)
{
	struct sluice_reader *r;
	const uint8_t *b;
	size_t len;
	int rc = sluice_reader_open(sluice_log_partition(log, pid), 0, &r);
	*records = 0;
	*sum = 0;
	CHECK(rc == 0, "reader %u: %d", pid, rc);
	if (rc)
		return;
	while ((rc = sluice_reader_next(r, &b, &len)) == 1) {
		CHECK(sluice_rb_batch_validate(b, len, NULL, NULL) == SLUICE_RB_OK,
		      "stored batch invalid in %u", pid);
		struct sluice_rb_record_iter it;
		struct sluice_rb_record rec;
		sluice_rb_record_iter_init(&it, b, len);
		while (sluice_rb_record_iter_next(&it, &rec) == 1) {
			(*records)++;
			*sum += sluice_crc32c(0, rec.value, (size_t)rec.value_len);
		}
	}
	CHECK(rc == 0, "reader_next %u: %d", pid, rc);
	sluice_reader_close(r);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/sluice-dp-XXXXXX";
	char prefix[64], vdev[2048], path[512], datadir[600];
	static struct frames fr[MAXQ];
	int rc;

	nq = argc > 1 ? (unsigned)atoi(argv[1]) : 1;
	const char *lcores = argc > 2 ? argv[2] : "0@0";
	if (nq == 0 || nq > MAXQ)
		return 1;
	if (!mkdtemp(dir))
		return 1;
	size_t vl = (size_t)snprintf(vdev, sizeof(vdev), "net_pcap0");
	for (unsigned q = 0; q < nq; q++) {
		build_mix(q, &fr[q], &exp_total);
		snprintf(path, sizeof(path), "%s/rx%u.pcap", dir, q);
		if (write_pcap(path, &fr[q]) != 0)
			return 1;
		vl += (size_t)snprintf(vdev + vl, sizeof(vdev) - vl, ",rx_pcap=%s", path);
	}
	for (unsigned q = 0; q < nq; q++)
		vl += (size_t)snprintf(vdev + vl, sizeof(vdev) - vl, ",tx_pcap=%s/tx%u.pcap", dir,
				       q);

	snprintf(prefix, sizeof(prefix), "sluice-dp-%d", (int)getpid());
	const char *vdevs[] = {vdev, NULL};
	struct sluice_nic_eal_opts eo = {
		.prog = "test_worker",
		.lcores = lcores,
		.mem_mode = SLUICE_NIC_MEM_NO_HUGE,
		.mem_mb = 256,
		.file_prefix = prefix,
		.vdevs = vdevs,
		.log_level = "*:warning",
	};
	rc = sluice_nic_eal_init(&eo);
	if (rc) {
		fprintf(stderr, "eal: %s\n", strerror(-rc));
		return 1;
	}
	struct rte_mempool *mbufs = rte_pktmbuf_pool_create(
		"dp_mbufs", 4095, 128, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	struct rte_mempool *batches = NULL;
	CHECK(mbufs != NULL, "mbuf pool");
	rc = sluice_dp_batch_pool_create("dp_batches", 511, 16384, SOCKET_ID_ANY, &batches);
	CHECK(rc == 0, "batch pool %d", rc);
	struct sluice_nic_port *port = NULL;
	struct sluice_nic_port_opts po = {.name = "p0",
					  .device = "net_pcap0",
					  .rx_queues = (uint16_t)nq,
					  .tx_queues = (uint16_t)nq,
					  .rx_desc = 512,
					  .tx_desc = 512,
					  .pool = mbufs};
	rc = sluice_nic_port_create(&po, &port);
	CHECK(rc == 0, "port create %d", rc);
	if (rc == 0)
		rc = sluice_nic_port_start(port, 2000);
	CHECK(rc == 0, "port start %d", rc);

	struct sluice_topic_opts topics[3] = {
		{.name = "events", .partitions = 4},
		{.name = "logs", .partitions = 2},
		{.name = "raw", .partitions = 1},
	};
	for (int t = 0; t < 3; t++) {
		topics[t].segment_bytes = 1 << 20;
		topics[t].flush_interval_us = 1000;
		topics[t].flush_bytes = 1 << 20;
		topics[t].index_interval_bytes = 4096;
	}
	snprintf(datadir, sizeof(datadir), "%s/data", dir);
	struct sluice_log_opts lo = {.data_dir = datadir,
				     .topics = topics,
				     .ntopics = 3,
				     .writers = 1,
				     .producers = nq,
				     .ring_size = 64,
				     .direct_io = -1,
				     .write_buffer_bytes = 256 << 10,
				     .writer_idle_sleep = true};
	struct sluice_log *log = NULL;
	if (failures == 0) {
		rc = sluice_log_open(&lo, &log);
		CHECK(rc == 0, "log open %d", rc);
	}
	if (failures) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	CHECK(sluice_log_partition_id(log, "logs", 0) == 4, "partition ids");
	CHECK(sluice_log_partition_id(log, "raw", 0) == 6, "partition ids");

	struct sluice_listener ls[3] = {
		{.udp_port = 9092,
		 .format = SLUICE_FORMAT_KAFKA,
		 .first_partition_id = 0,
		 .partitions = 4,
		 .max_event_bytes = 4096},
		{.udp_port = 5140,
		 .format = SLUICE_FORMAT_LINES,
		 .key_mode = SLUICE_KEY_SOURCE_ADDR,
		 .first_partition_id = 4,
		 .partitions = 2,
		 .max_event_bytes = 64},
		{.udp_port = 7000,
		 .format = SLUICE_FORMAT_RAW,
		 .first_partition_id = 6,
		 .partitions = 1,
		 .max_event_bytes = 64},
	};
	snprintf(ls[0].topic, sizeof(ls[0].topic), "events");
	snprintf(ls[1].topic, sizeof(ls[1].topic), "logs");
	snprintf(ls[2].topic, sizeof(ls[2].topic), "raw");
	for (unsigned q = 0; q < nq; q++) {
		struct sluice_dp_port dp = {.port = port,
					    .queue = (uint16_t)q,
					    .has_ipv6 = true,
					    .answer_nd = true,
					    .promiscuous = true};
		memcpy(dp.ipv4, our_ip, 4);
		memcpy(dp.ipv6, our_ip6, 16);
		struct sluice_worker_opts wo = {.id = q,
						.lcore = q,
						.ports = &dp,
						.nports = 1,
						.listeners = ls,
						.nlisteners = 3,
						.log = log,
						.batch_pool = batches,
						.batch_bytes = 4096,
						.linger_us = 2000,
						.backpressure = SLUICE_BACKPRESSURE_BLOCK,
						.keyless = SLUICE_KEYLESS_STICKY,
						.producer_table_size = 256,
						.reorder_window = 8,
						.idle_backoff = true,
						.idle_sleep_us = 200};
		rc = sluice_worker_create(&wo, &workers[q]);
		CHECK(rc == 0, "worker %u: %d", q, rc);
		if (rc)
			return 1;
	}
	rc = sluice_log_start(log);
	CHECK(rc == 0, "log start %d", rc);

	struct monitor mon = {.frames = exp_total.frames, .log = log};
	pthread_t th;
	pthread_create(&th, NULL, monitor_main, &mon);
	rte_eal_mp_remote_launch(lcore_main, NULL, CALL_MAIN);
	rte_eal_mp_wait_lcore();
	pthread_join(th, NULL);
	CHECK(!mon.timed_out, "received %" PRIu64 " of %" PRIu64 " frames", mon.total.rx_packets,
	      exp_total.frames);
	CHECK(mon.inconsistent == 0, "%" PRIu64 " of %" PRIu64 " readings broke an identity",
	      mon.inconsistent, mon.readings);
	printf("monitor: %" PRIu64 " readings while running, all consistent: %s\n", mon.readings,
	       mon.inconsistent ? "no" : "yes");

	rc = sluice_log_stop(log);
	CHECK(rc == 0, "log stop %d", rc);

	struct sluice_worker_stats s;
	sum_stats(&s);
	/* Exact counters by reason. */
	CHECK(s.rx_packets == exp_total.frames, "rx %" PRIu64, s.rx_packets);
	for (int r = 1; r < SLUICE_DP_REJECT__COUNT; r++)
		CHECK(s.rejects[r] == exp_total.rejects[r], "reject %s: %" PRIu64 " != %" PRIu64,
		      sluice_dp_reject_name((enum sluice_dp_reject)r), s.rejects[r],
		      exp_total.rejects[r]);
	CHECK(s.batch_errors[SLUICE_RB_ECRC] == nq, "crc errors %" PRIu64,
	      s.batch_errors[SLUICE_RB_ECRC]);
	CHECK(s.arp_replies == exp_total.arp, "arp replies %" PRIu64, s.arp_replies);
	CHECK(s.icmp_replies == exp_total.icmp, "icmp replies %" PRIu64, s.icmp_replies);
	CHECK(s.nd_replies == exp_total.nd, "nd replies %" PRIu64, s.nd_replies);
	CHECK(s.ctrl_packets == exp_total.arp + exp_total.icmp + exp_total.nd, "ctrl %" PRIu64,
	      s.ctrl_packets);
	for (int r = 0; r < SLUICE_DP_SHED__COUNT; r++)
		CHECK(s.shed[r] == 0, "shed %s %" PRIu64, sluice_dp_shed_name(r), s.shed[r]);
	/* The identities. */
	uint64_t pkt = 0, dgram = 0, ev = 0;
	for (int r = 1; r < SLUICE_DP_REJECT__COUNT; r++) {
		if (r < SLUICE_DP_REJECT__FIRST_DATAGRAM)
			pkt += s.rejects[r];
		else if (r < SLUICE_DP_REJECT__FIRST_EVENT)
			dgram += s.rejects[r];
		else
			ev += s.rejects[r];
	}
	CHECK(s.rx_packets == s.ctrl_packets + s.datagrams + pkt, "packet identity");
	CHECK(s.datagrams == s.datagrams_accepted + dgram, "datagram identity");
	CHECK(s.events_decoded == s.events_parsed + ev, "event identity");
	CHECK(s.events_open == 0, "open %" PRIu64, s.events_open);
	CHECK(s.events_parsed == s.events_enqueued, "parsed %" PRIu64 " enqueued %" PRIu64,
	      s.events_parsed, s.events_enqueued);
	CHECK(s.busy_cycles > 0 && s.idle_cycles > 0, "cycles");

	/* Exact events per partition, read back from the log. */
	uint64_t durable = 0;
	for (uint32_t p = 0; p < NPART; p++) {
		uint64_t n;
		uint32_t sum;
		read_partition(log, p, &n, &sum);
		CHECK(n == exp_total.records[p], "partition %u: %" PRIu64 " records, want %" PRIu64,
		      p, n, exp_total.records[p]);
		CHECK(sum == exp_total.value_sum[p], "partition %u: values differ", p);
		struct sluice_partition_stats ps;
		sluice_partition_stats(sluice_log_partition(log, p), &ps);
		durable += ps.durable_records;
	}
	CHECK(durable == s.events_enqueued, "durable %" PRIu64 " enqueued %" PRIu64, durable,
	      s.events_enqueued);

	/* Producers seen: per queue 4 explicit streams + 1 by-key stream. */
	int np = 0;
	for (unsigned q = 0; q < nq; q++)
		np += sluice_worker_producers(workers[q], NULL, NULL);
	CHECK(np == (int)(5 * nq), "producers %d", np);
	CHECK(rte_mempool_avail_count(batches) == 511, "batch buffers leaked: %u",
	      rte_mempool_avail_count(batches));

	for (unsigned q = 0; q < nq; q++)
		sluice_worker_destroy(workers[q]);
	sluice_log_close(log);
	sluice_nic_port_destroy(port); /* closes the tx_pcap files */
	uint64_t arp = 0, icmp = 0, nd = 0;
	for (unsigned q = 0; q < nq; q++) {
		snprintf(path, sizeof(path), "%s/tx%u.pcap", dir, q);
		read_tx(path, &arp, &icmp, &nd);
	}
	CHECK(arp == exp_total.arp, "arp replies on the wire %" PRIu64, arp);
	CHECK(icmp == exp_total.icmp, "icmp replies on the wire %" PRIu64, icmp);
	CHECK(nd == exp_total.nd, "neighbour advertisements on the wire %" PRIu64, nd);

	rte_mempool_free(batches);
	rte_mempool_free(mbufs);
	sluice_nic_eal_cleanup();
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '/var/run/dpdk/%s'", dir, prefix);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	printf("%s: %u queues, %" PRIu64 " frames, %" PRIu64 " events stored, %d failures\n",
	       argv[0], nq, s.rx_packets, s.events_enqueued, failures);
	return failures ? 1 : 0;
}
