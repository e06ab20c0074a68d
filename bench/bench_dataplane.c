/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Worker throughput on one core against the receive limit of the same device.
 *
 * For each traffic shape (format x frame size x events per frame) the benchmark writes a pcap
 * of 1024 distinct frames, measures `dpdk-testpmd --forward-mode=rxonly` on
 * net_pcap(infinite_rx=1) over it (the device's receive limit on this machine), then runs one
 * sluice worker on the same device and file: worker on lcore 1 (CPU 1), a drain thread on the
 * main lcore (CPU 0) that takes sealed batches off the ring and returns the buffers, exactly
 * the storage writer's cost minus the disk. Reports packets/s, events/s, the ratio to testpmd,
 * and the worker's busy share. Both sides use the same statistic: the median of one-second
 * windows (testpmd: its per-second Rx-pps samples after the first; the worker: WINDOWS windows
 * of `seconds` each), and every window is kept in the JSON lines written to $SLUICE_BENCH_JSON
 * (one object per shape) when that is set. It reports; it never asserts on timings.
 *
 * usage: bench_dataplane [seconds per window (default 2)] [shape name | all] [no-baseline]
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "gen_packet.h"
#include "sluice_dataplane.h"
#include "sluice_nic.h"

#define FRAMES 1024
#define PARTITIONS 8
#define WINDOWS 5
#define MAX_SAMPLES 64

struct shape {
	const char *name;
	enum sluice_format format;
	int32_t kafka_partition; /* -2: explicit i % PARTITIONS; -1: by key */
	unsigned events; /* per frame */
	size_t event_bytes; /* value bytes per event (lines: including the newline) */
	double testpmd_mpps;
	size_t frame_bytes;
};

static struct shape shapes[] = {
	{"raw 60B", SLUICE_FORMAT_RAW, 0, 1, 18, 0, 0},
	{"lines 60B", SLUICE_FORMAT_LINES, 0, 1, 18, 0, 0},
	{"raw 508B", SLUICE_FORMAT_RAW, 0, 1, 466, 0, 0},
	{"lines 508B", SLUICE_FORMAT_LINES, 0, 1, 466, 0, 0},
	{"kafka 1x10B", SLUICE_FORMAT_KAFKA, -2, 1, 10, 0, 0},
	{"kafka 1x10B by key", SLUICE_FORMAT_KAFKA, -1, 1, 10, 0, 0},
	{"kafka 20x50B", SLUICE_FORMAT_KAFKA, -2, 20, 50, 0, 0},
	{"kafka 20x50B by key", SLUICE_FORMAT_KAFKA, -1, 20, 50, 0, 0},
	{"lines 20x50B", SLUICE_FORMAT_LINES, 0, 20, 50, 0, 0},
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))
/* testpmd's per-second Rx-pps samples after the first, in Mpps, per shape */
static double tp_samples[NSHAPES][MAX_SAMPLES];
static int tp_n[NSHAPES];

static const uint8_t our_ip[4] = {192, 0, 2, 1};

static size_t payload(const struct shape *s, unsigned i, uint8_t *out, size_t cap)
{
	if (s->format != SLUICE_FORMAT_KAFKA) {
		size_t n = 0;
		for (unsigned e = 0; e < s->events; e++) {
			memset(out + n, 'a' + (char)((i + e) % 26), s->event_bytes);
			n += s->event_bytes;
			if (s->format == SLUICE_FORMAT_LINES)
				out[n - 1] = '\n';
		}
		return n;
	}
	struct sluice_rb_builder b;
	struct sluice_rb_batch_meta meta = {.producer_id = -1, .base_sequence = -1};
	int32_t part = s->kafka_partition == -2 ? (int32_t)(i % PARTITIONS) : -1;
	sluice_envelope_encode(out, part);
	sluice_rb_builder_init(&b, out + 8, cap - 8, &meta);
	for (unsigned e = 0; e < s->events; e++) {
		char key[16], val[256];
		int kl = snprintf(key, sizeof(key), "k%u", i * 31 + e);
		memset(val, 'v', s->event_bytes);
		struct sluice_rb_record r = {.timestamp = 1700000000000 + e,
					     .key = (const uint8_t *)key,
					     .key_len = kl,
					     .value = (const uint8_t *)val,
					     .value_len = (int32_t)s->event_bytes};
		sluice_rb_builder_append(&b, &r);
	}
	return 8 + sluice_rb_builder_seal(&b);
}

static void put32(FILE *fp, uint32_t v)
{
	fwrite(&v, 4, 1, fp); /* host order: the pcap magic tells readers which */
}

static int write_pcap(struct shape *s, const char *path)
{
	uint8_t frame[2048], pl[2048];
	FILE *fp = fopen(path, "wb");
	if (!fp)
		return -errno;
	put32(fp, 0xa1b2c3d4);
	put32(fp, 0x00040002);
	put32(fp, 0);
	put32(fp, 0);
	put32(fp, 65535);
	put32(fp, 1);
	for (unsigned i = 0; i < FRAMES; i++) {
		struct gen_flow f = {.src_port = (uint16_t)(1024 + i),
				     .dst_port = (uint16_t)(7000 + s->format)};
		memset(f.dst_mac, 0xff, 6);
		memcpy(f.src_ip, (uint8_t[]){10, 0, (uint8_t)(i >> 8), (uint8_t)i}, 4);
		memcpy(f.dst_ip, our_ip, 4);
		size_t hdr = gen_packet_header_bytes(&f);
		size_t plen = payload(s, i, pl, sizeof(pl));
		memcpy(frame + hdr, pl, plen);
		size_t n = gen_packet_finish(frame, sizeof(frame), &f, plen, (uint16_t)i);
		s->frame_bytes = n;
		put32(fp, 1);
		put32(fp, i);
		put32(fp, (uint32_t)n);
		put32(fp, (uint32_t)n);
		fwrite(frame, 1, n, fp);
	}
	return fclose(fp) == 0 ? 0 : -errno;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
	double t[MAX_SAMPLES];

	if (n <= 0)
		return 0;
	memcpy(t, v, sizeof(double) * (size_t)n);
	qsort(t, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* dpdk-testpmd rxonly on the same file: its per-second Rx-pps samples. */
static double testpmd_mpps(struct shape *sh, const char *pcap, unsigned seconds)
{
	char cmd[1024], line[512];
	double v[MAX_SAMPLES];
	int n = 0;
	snprintf(cmd, sizeof(cmd),
		 "timeout -s INT %u dpdk-testpmd --no-pci --no-huge -m 512 --file-prefix "
		 "bdp-tp-%d --lcores 0@0,1@1 --vdev net_pcap0,rx_pcap=%s,infinite_rx=1 "
		 "--log-level '*:error' -- --forward-mode=rxonly --stats-period 1 "
		 "--total-num-mbufs 8192 2>&1; rm -rf /var/run/dpdk/bdp-tp-%d",
		 seconds + 8, (int)getpid(), pcap, (int)getpid());
	FILE *p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		char *s = strstr(line, "Rx-pps:");
		if (s && n < MAX_SAMPLES)
			v[n++] = strtod(s + 7, NULL);
	}
	pclose(p);
	/* The median per-second sample after the first (start-up), like the worker's windows. */
	size_t k = (size_t)(sh - shapes);

	tp_n[k] = 0;
	for (int i = 1; i < n; i++)
		tp_samples[k][tp_n[k]++] = v[i] / 1e6;
	return median(tp_samples[k], tp_n[k]);
}

static struct sluice_worker *the_worker;
static pthread_t worker_thread;

static int note_thread(void *arg)
{
	(void)arg;
	worker_thread = pthread_self();
	return 0;
}

/* CPU time of the worker's thread: on a shared machine, wall time includes other tenants. */
static double worker_cpu_s(void)
{
	clockid_t cid;
	struct timespec ts;
	if (pthread_getcpuclockid(worker_thread, &cid) != 0 || clock_gettime(cid, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int worker_main(void *arg)
{
	(void)arg;
	return sluice_worker_run(the_worker);
}

/* Return buffers without touching them: the drain must never be what limits the worker. */
static void drain_until(struct rte_ring *ring, struct rte_mempool *pool, uint64_t until_tsc)
{
	void *objs[256];
	while (rte_rdtsc() < until_tsc) {
		unsigned n = rte_ring_dequeue_burst(ring, objs, 256, NULL);
		if (n)
			rte_mempool_put_bulk(pool, objs, n);
	}
}

static void json_array(FILE *f, const char *key, const double *v, int n)
{
	fprintf(f, ", \"%s\": [", key);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s%.4f", i ? ", " : "", v[i]);
	fprintf(f, "]");
}

/* One JSON object per shape, appended to $SLUICE_BENCH_JSON: medians and every window. */
static void json_line(const struct shape *s, const double *mpps, const double *mev,
		      const double *ns, const double *busy, uint64_t rej, uint64_t shed)
{
	const char *path = getenv("SLUICE_BENCH_JSON");
	FILE *f;

	if (!path || !*path || !(f = fopen(path, "a")))
		return;
	fprintf(f,
		"{\"shape\": \"%s\", \"frame_bytes\": %zu, \"events_per_packet\": %u, "
		"\"statistic\": \"median\", \"testpmd_mpps\": %.4f, \"worker_mpps\": %.4f, "
		"\"worker_mev_s\": %.4f, \"cpu_ns_per_packet\": %.2f, \"busy_pct\": %.1f, "
		"\"rejected\": %" PRIu64 ", \"shed\": %" PRIu64,
		s->name, s->frame_bytes + 4, s->events, s->testpmd_mpps, median(mpps, WINDOWS),
		median(mev, WINDOWS), median(ns, WINDOWS), median(busy, WINDOWS), rej, shed);
	json_array(f, "testpmd_mpps_samples", tp_samples[s - shapes], tp_n[s - shapes]);
	json_array(f, "worker_mpps_windows", mpps, WINDOWS);
	json_array(f, "cpu_ns_windows", ns, WINDOWS);
	fprintf(f, "}\n");
	fclose(f);
}

static int run_shape(struct shape *s, unsigned idx, unsigned seconds)
{
	char name[32];
	struct rte_mempool *mbufs, *batches = NULL;
	struct sluice_nic_port *port = NULL;
	int rc;

	snprintf(name, sizeof(name), "bm%u", idx);
	/* infinite_rx keeps the whole file in mbufs of this pool. */
	mbufs = rte_pktmbuf_pool_create(name, 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					SOCKET_ID_ANY);
	snprintf(name, sizeof(name), "bb%u", idx);
	rc = sluice_dp_batch_pool_create(name, 8191, 16384, SOCKET_ID_ANY, &batches);
	snprintf(name, sizeof(name), "br%u", idx);
	struct rte_ring *ring =
		rte_ring_create(name, 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!mbufs || rc || !ring)
		return -ENOMEM;
	snprintf(name, sizeof(name), "net_pcap%u", idx);
	struct sluice_nic_port_opts po = {.name = name,
					  .device = name,
					  .rx_queues = 1,
					  .tx_queues = 1,
					  .rx_desc = 1024,
					  .tx_desc = 512,
					  .pool = mbufs};
	rc = sluice_nic_port_create(&po, &port);
	if (rc == 0)
		rc = sluice_nic_port_start(port, 1000);
	if (rc) {
		fprintf(stderr, "%s: port: %s\n", s->name, strerror(-rc));
		return rc;
	}
	struct sluice_listener l = {.udp_port = (uint16_t)(7000 + s->format),
				    .format = s->format,
				    .partitions = PARTITIONS,
				    .max_event_bytes = 4096};
	snprintf(l.topic, sizeof(l.topic), "bench");
	struct sluice_dp_port dp = {.port = port, .queue = 0, .promiscuous = true};
	memcpy(dp.ipv4, our_ip, 4);
	struct sluice_worker_opts wo = {.id = 0,
					.lcore = 1,
					.ports = &dp,
					.nports = 1,
					.listeners = &l,
					.nlisteners = 1,
					.rings = &ring,
					.nrings = 1,
					.batch_pool = batches,
					.batch_bytes = 16384,
					.linger_us = 1000,
					.backpressure = SLUICE_BACKPRESSURE_BLOCK};
	rc = sluice_worker_create(&wo, &the_worker);
	if (rc)
		return rc;
	rte_eal_remote_launch(note_thread, NULL, 1);
	rte_eal_wait_lcore(1);
	rte_eal_remote_launch(worker_main, NULL, 1);
	uint64_t hz = rte_get_tsc_hz();
	drain_until(ring, batches, rte_rdtsc() + hz / 2); /* warm-up */
	/* WINDOWS windows; the median of each figure is reported, every window is kept. */
	struct sluice_worker_stats a, b, first;
	double w_mpps_v[WINDOWS], w_mev_v[WINDOWS], w_ns_v[WINDOWS], busy_v[WINDOWS],
		block_v[WINDOWS];
	sluice_worker_stats(the_worker, &first);
	for (int win = 0; win < WINDOWS; win++) {
		sluice_worker_stats(the_worker, &a);
		double cpu0 = worker_cpu_s();
		uint64_t t0 = rte_rdtsc();
		drain_until(ring, batches, t0 + hz * seconds);
		sluice_worker_stats(the_worker, &b);
		double cpu = worker_cpu_s() - cpu0;
		double dt = (double)(rte_rdtsc() - t0) / (double)hz;
		uint64_t pkts = b.rx_packets - a.rx_packets;
		double w_mpps = (double)pkts / dt / 1e6;
		double w_ns = pkts ? cpu * 1e9 / (double)pkts : 0;
		uint64_t busy = b.busy_cycles - a.busy_cycles;
		uint64_t idle = b.idle_cycles - a.idle_cycles;
		uint64_t blocked = b.blocked_cycles - a.blocked_cycles;
		double all = (double)(busy + idle + blocked);

		w_mpps_v[win] = w_mpps;
		w_mev_v[win] = (double)(b.events_enqueued - a.events_enqueued) / dt / 1e6;
		w_ns_v[win] = w_ns;
		busy_v[win] = all > 0 ? 100.0 * (double)busy / all : 0;
		block_v[win] = all > 0 ? 100.0 * (double)blocked / all : 0;
	}
	double mpps = median(w_mpps_v, WINDOWS), mev = median(w_mev_v, WINDOWS);
	double cpu_ns = median(w_ns_v, WINDOWS), busy_pct = median(busy_v, WINDOWS);
	double block_pct = median(block_v, WINDOWS);
	sluice_worker_stop(the_worker);
	while (rte_eal_get_lcore_state(1) != WAIT)
		drain_until(ring, batches, rte_rdtsc() + hz / 1000);
	rte_eal_wait_lcore(1);
	drain_until(ring, batches, rte_rdtsc() + hz / 100);
	sluice_worker_stats(the_worker, &b);

	uint64_t rej = 0, shed = 0;
	for (int r = 1; r < SLUICE_DP_REJECT__COUNT; r++)
		rej += b.rejects[r] - first.rejects[r];
	for (int r = 0; r < SLUICE_DP_SHED__COUNT; r++)
		shed += b.shed[r];
	/* CPU-time rates: what one core would do if it had the CPU to itself. */
	double cpu_mpps = cpu_ns > 0 ? 1e3 / cpu_ns : 0;
	printf("| %-20s | %5zu | %3u | %7.2f | %7.2f | %7.2f | %5.2f | %6.1f | %7.2f | %7.2f "
	       "| %5.1f%% | %5.1f%% |\n",
	       s->name, s->frame_bytes + 4, s->events, s->testpmd_mpps, mpps, mev,
	       s->testpmd_mpps > 0 ? mpps / s->testpmd_mpps : 0, cpu_ns, cpu_mpps,
	       cpu_mpps * s->events, busy_pct, block_pct);
	if (rej || shed)
		printf("|   (%s: %" PRIu64 " rejected, %" PRIu64 " shed: the shape is wrong)\n",
		       s->name, rej, shed);
	fflush(stdout);
	json_line(s, w_mpps_v, w_mev_v, w_ns_v, busy_v, rej, shed);
	sluice_worker_destroy(the_worker);
	sluice_nic_port_destroy(port);
	rte_ring_free(ring);
	rte_mempool_free(batches);
	rte_mempool_free(mbufs);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned seconds = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
	const char *only = argc > 2 ? argv[2] : NULL;
	bool baseline = !(argc > 3 && strcmp(argv[3], "no-baseline") == 0);
	char dir[] = "/tmp/sluice-bdp-XXXXXX", path[256], prefix[64];
	static char vdevs_buf[NSHAPES][320];
	const char *vdevs[NSHAPES + 1] = {0};
	unsigned nv = 0;

	if (seconds == 0 || !mkdtemp(dir))
		return 1;
	for (unsigned i = 0; i < NSHAPES; i++) {
		snprintf(path, sizeof(path), "%s/s%u.pcap", dir, i);
		if (write_pcap(&shapes[i], path) != 0)
			return 1;
		snprintf(vdevs_buf[i], sizeof(vdevs_buf[i]), "net_pcap%u,rx_pcap=%s,infinite_rx=1",
			 i, path);
		if (!only || strcmp(only, "all") == 0 || strcmp(only, shapes[i].name) == 0)
			vdevs[nv++] = vdevs_buf[i];
	}
	/* Baselines first, before this process's workers compete for the CPUs. */
	for (unsigned i = 0; i < NSHAPES; i++) {
		if (only && strcmp(only, "all") != 0 && strcmp(only, shapes[i].name) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/s%u.pcap", dir, i);
		if (baseline)
			shapes[i].testpmd_mpps = testpmd_mpps(&shapes[i], path, seconds);
	}
	snprintf(prefix, sizeof(prefix), "bdp-%d", (int)getpid());
	struct sluice_nic_eal_opts eo = {.prog = "bench_dataplane",
					 .lcores = "0@0,1@1",
					 .mem_mode = SLUICE_NIC_MEM_NO_HUGE,
					 .mem_mb = 1024,
					 .file_prefix = prefix,
					 .vdevs = vdevs,
					 .log_level = "*:error"};
	if (sluice_nic_eal_init(&eo) != 0)
		return 1;
	printf("one worker core (net_pcap infinite_rx, %u s per run) vs dpdk-testpmd rxonly\n\n",
	       seconds);
	printf("wall: median of %d windows (testpmd: median second); cpu: worker thread CPU time "
	       "(median)\n\n",
	       WINDOWS);
	printf("| shape                | frame | ev  | testpmd | worker  | worker  | wall  | cpu   "
	       " "
	       "| cpu     | cpu     | busy   | block  |\n");
	printf("|                      | bytes | /pk | Mpps    | Mpps    | Mev/s   | ratio | "
	       "ns/pkt "
	       "| Mpps    | Mev/s   |        |        |\n");
	printf("|----------------------|-------|-----|---------|---------|---------|-------|-------"
	       "-"
	       "|---------|---------|--------|--------|\n");
	unsigned vi = 0;
	for (unsigned i = 0; i < NSHAPES; i++) {
		if (only && strcmp(only, "all") != 0 && strcmp(only, shapes[i].name) != 0)
			continue;
		/* Ports are named by their vdev; keep the probe index. */
		if (run_shape(&shapes[i], i, seconds) != 0)
			fprintf(stderr, "%s: failed\n", shapes[i].name);
		vi++;
	}
	(void)vi;
	sluice_nic_eal_cleanup();
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '/var/run/dpdk/%s'", dir, prefix);
	return system(cmd) == 0 ? 0 : 1;
}
