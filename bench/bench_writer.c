/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Storage writer benchmark (bench_writer.sh runs it next to fio on the same directory).
 *
 *   bench_writer throughput DIR MIB [auto|none|fallocate|zero] [fixed|plain] [BATCH_KIB]
 *                [sync|nosync] [qd=N] [partitions=N] [segment=BYTES]
 *       sustained writer throughput: a producer thread feeds pre-built batches through the
 *       SPSC ring to one writer (O_DIRECT, flush_bytes 1 MiB), round robin over the
 *       partitions, until MIB are durable; qd= sets storage's queue depth (writes in flight
 *       per partition), segment= the segment size (small: frequent rolls).
 *   bench_writer latency DIR N [auto|none|fallocate|zero] [ring|sync|ring-spin] [BYTES] [qd=N]
 *       durable latency of small group commits: one BYTES batch (default 4096), wait for
 *       the durable watermark to pass it, N times; through the writer thread (ring) or
 *       sluice_partition_append_sync (sync).
 *
 * Prints one "key value" line per figure. Reports, never asserts.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "sluice_record.h"
#include "sluice_storage.h"
#include "sluice_time.h"

/* A batch of exactly `bytes` bytes (>= 200): records with 1 KiB values, the last one sized to
 * land on the exact total. */
static size_t build_batch(uint8_t *buf, size_t bytes, int32_t *records)
{
	static uint8_t val[1 << 20];
	struct sluice_rb_builder b;
	struct sluice_rb_record rec = {.timestamp = 1700000000000, .key_len = -1, .value = val};

	if (!val[0])
		memset(val, 'x', sizeof(val));
	sluice_rb_builder_init(&b, buf, bytes, NULL);
	for (;;) {
		size_t left = bytes - b.len;

		rec.value_len = 1024;
		if (sluice_rb_builder_record_bytes(&b, &rec) + 64 > left) {
			/* the last record: shrink its value until the batch is exactly full */
			for (int32_t v = (int32_t)left; v >= 0; v--) {
				rec.value_len = v;
				if (sluice_rb_builder_record_bytes(&b, &rec) == left)
					break;
			}
			if (sluice_rb_builder_record_bytes(&b, &rec) != left)
				rec.value_len = 0;
			sluice_rb_builder_append(&b, &rec);
			break;
		}
		sluice_rb_builder_append(&b, &rec);
	}
	*records = sluice_rb_builder_count(&b);
	return sluice_rb_builder_seal(&b);
}

struct tmpl {
	size_t bytes;
	uint32_t len;
	int32_t records;
};

static void init_elt(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	struct tmpl *t = arg;
	struct sluice_batch *b = obj;
	int32_t records;

	(void)idx;
	b->pool = mp;
	b->data = (uint8_t *)(b + 1);
	b->len = (uint32_t)build_batch(b->data, t->bytes, &records);
	b->records = (uint32_t)records;
	b->partition_id = 0;
	t->len = b->len;
	t->records = records;
}

static char prefix[64];

/* EAL leaves /var/run/dpdk/<prefix> behind even after rte_eal_cleanup. */
static void eal_dir_remove(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf /var/run/dpdk/%s", prefix);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_writer: could not remove /var/run/dpdk/%s\n", prefix);
}

static int eal(const char *argv0)
{
	char *a[] = {(char *)argv0,   "--no-pci", "--no-huge", "-m",          "512",
		     "--no-shconf",   "-l",       "0",         "--log-level", "error",
		     "--file-prefix", prefix,     NULL};

	snprintf(prefix, sizeof(prefix), "sluice_bw_%d", (int)getpid());
	return rte_eal_init(12, a) < 0 ? -1 : 0;
}

/* A positive decimal argument, or exit with usage: benchmarks take numbers from scripts. */
static uint64_t arg_u64(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v == 0) {
		fprintf(stderr, "bench_writer: %s: '%s' is not a positive number\n", what, s);
		exit(2);
	}
	return v;
}

/* Named arguments (qd=N, partitions=N, segment=BYTES) anywhere after the mode; they are
 * taken out of argv so that the positional ones keep their places. */
static uint64_t named_qd, named_partitions = 1, named_segment = 1ull << 30;

static int take_named(int argc, char **argv)
{
	int out = 0;

	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "qd=", 3) == 0)
			named_qd = arg_u64(argv[i] + 3, "qd");
		else if (strncmp(argv[i], "partitions=", 11) == 0)
			named_partitions = arg_u64(argv[i] + 11, "partitions");
		else if (strncmp(argv[i], "segment=", 8) == 0)
			named_segment = arg_u64(argv[i] + 8, "segment bytes");
		else
			argv[out++] = argv[i];
	}
	argv[out] = NULL;
	return out;
}

static void print_writer(struct sluice_log *log)
{
	struct sluice_writer_stats ws;

	sluice_log_writer_stats(log, 0, &ws);
	printf("writer_busy_fraction %.2f\n",
	       (double)ws.busy_ns / (double)(ws.busy_ns + ws.idle_ns + 1));
	for (int c = 0; c < SLUICE_WRITER_CAUSE__COUNT; c++)
		if (ws.stalls[c])
			printf("writer_stalls_%s %" PRIu64 "\n",
			       sluice_writer_cause_name((enum sluice_writer_cause)c), ws.stalls[c]);
	printf("writer_stall_ms %.3f\n", (double)ws.stall_ns / 1e6);
}

static enum sluice_prealloc parse_prealloc(const char *s)
{
	if (s && strcmp(s, "none") == 0)
		return SLUICE_PREALLOC_NONE;
	if (s && strcmp(s, "zero") == 0)
		return SLUICE_PREALLOC_ZERO;
	if (s && strcmp(s, "auto") == 0)
		return SLUICE_PREALLOC_DEFAULT;
	return SLUICE_PREALLOC_FALLOCATE;
}

static int throughput(int argc, char **argv)
{
	struct sluice_topic_opts t = {
		.name = "bench",
		.partitions = (uint32_t)named_partitions,
		.segment_bytes = named_segment,
		.flush_interval_us = 5000,
		.flush_bytes = 1 << 20,
		.index_interval_bytes = 4096,
	};
	struct sluice_log_opts o = {
		.data_dir = argv[2],
		.topics = &t,
		.ntopics = 1,
		.writers = 1,
		.producers = 1,
		.ring_size = 1024,
		.direct_io = -1,
		.write_buffer_bytes = 2 << 20,
		.prealloc = parse_prealloc(argc > 4 ? argv[4] : NULL),
		.no_fixed_buffers = argc > 5 && strcmp(argv[5], "plain") == 0,
		.queue_depth = (uint32_t)named_qd,
	};
	struct tmpl tm = {.bytes = (size_t)(argc > 6 ? arg_u64(argv[6], "KiB per batch") : 64)
				  << 10};

	t.flush_none = argc > 7 && strcmp(argv[7], "nosync") == 0; /* the pipeline without fsync */
	uint64_t total = arg_u64(argv[3], "MiB to write") << 20, sent = 0, t0, t1;
	struct sluice_partition_stats st, sum = {0};
	uint32_t nparts = t.partitions, next_part = 0;
	struct rte_mempool *mp;
	struct sluice_log *log;
	struct rte_ring *ring;
	int64_t *want = calloc(nparts, sizeof(*want));

	mp = rte_mempool_create("bw_pool", 1023, sizeof(struct sluice_batch) + tm.bytes, 0, 0, NULL,
				NULL, init_elt, &tm, SOCKET_ID_ANY, 0);
	if (!want || !mp || sluice_log_open(&o, &log) || sluice_log_start(log)) {
		fprintf(stderr, "bench_writer: setup failed\n");
		return 1;
	}
	ring = sluice_log_ring(log, 0, 0);
	t0 = sluice_mono_ns();
	while (sent < total) {
		void *objs[32];
		unsigned n = 32;

		/* the writer is behind: yield the (shared) core to it rather than spin */
		while (rte_mempool_get_bulk(mp, objs, n) != 0) {
			if (n > 1)
				n /= 2;
			else
				sched_yield();
		}
		unsigned q = 0;

		for (unsigned i = 0; i < n; i++) {
			struct sluice_batch *b = objs[i];

			b->partition_id = next_part;
			want[next_part] += tm.records;
			next_part = next_part + 1 == nparts ? 0 : next_part + 1;
		}
		while (q < n) {
			q += rte_ring_sp_enqueue_burst(ring, objs + q, n - q, NULL);
			if (q < n)
				sched_yield();
		}
		sent += (uint64_t)n * tm.len;
	}
	for (uint32_t i = 0; i < nparts; i++)
		while (sluice_partition_durable_offset(sluice_log_partition(log, i)) < want[i])
			usleep(50);
	t1 = sluice_mono_ns();
	for (uint32_t i = 0; i < nparts; i++) {
		sluice_partition_stats(sluice_log_partition(log, i), &st);
		sum.appended_bytes += st.appended_bytes;
		sum.fsyncs += st.fsyncs;
		sum.rolls += st.rolls;
		for (int b = 0; b < SLUICE_HIST_BUCKETS; b++)
			sum.fsync_hist[b] += st.fsync_hist[b];
	}
	printf("throughput_mib_s %.1f\n", (double)sent / (1 << 20) / ((double)(t1 - t0) / 1e9));
	printf("bytes_per_fsync %.0f\n",
	       sum.fsyncs ? (double)sum.appended_bytes / (double)sum.fsyncs : 0.0);
	printf("fsyncs %" PRIu64 "\n", sum.fsyncs);
	printf("batch_bytes %u\n", tm.len);
	printf("queue_depth %u\n", o.queue_depth ? o.queue_depth : SLUICE_LOG_QUEUE_DEPTH_DEFAULT);
	printf("partitions %u\n", nparts);
	printf("rolls %" PRIu64 "\n", sum.rolls);
	print_writer(log);
	for (int i = 0; i < SLUICE_HIST_BUCKETS; i++)
		if (sum.fsync_hist[i])
			printf("commit_le_%lluus %" PRIu64 "\n", 1ull << i, sum.fsync_hist[i]);
	sluice_log_close(log);
	rte_mempool_free(mp);
	free(want);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int latency(int argc, char **argv)
{
	struct sluice_topic_opts t = {
		.name = "bench",
		.partitions = 1,
		.segment_bytes = 1ull << 30,
		.flush_interval_us = 1, /* commit as soon as anything is there */
		.flush_bytes = 1,
		.index_interval_bytes = 4096,
	};
	bool sync = argc > 5 && strcmp(argv[5], "sync") == 0;
	struct sluice_log_opts o = {
		.data_dir = argv[2],
		.topics = &t,
		.ntopics = 1,
		.writers = 1,
		.producers = sync ? 0 : 1,
		.ring_size = 64,
		.direct_io = -1,
		.write_buffer_bytes = 1 << 20,
		.prealloc = parse_prealloc(argc > 4 ? argv[4] : NULL),
		/* a 2-CPU host shares its cores: the writer backs off when idle, and this
		 * thread polls the watermark with short sleeps rather than spinning */
		.writer_idle_sleep = !(argc > 5 && strcmp(argv[5], "ring-spin") == 0),
		.queue_depth = (uint32_t)named_qd,
	};
	int n = (int)arg_u64(argv[3], "commits");
	struct tmpl tm = {.bytes = argc > 6 ? (size_t)arg_u64(argv[6], "bytes per commit") : 4096};
	uint64_t *lat = calloc((size_t)n, sizeof(*lat)), sum = 0;
	struct sluice_partition *p;
	struct rte_mempool *mp;
	struct sluice_log *log;
	struct rte_ring *ring = NULL;
	uint8_t *buf = malloc(tm.bytes);
	int32_t records;

	mp = rte_mempool_create("bl_pool", 63, sizeof(struct sluice_batch) + tm.bytes, 0, 0, NULL,
				NULL, init_elt, &tm, SOCKET_ID_ANY, 0);
	size_t blen = build_batch(buf, tm.bytes, &records);
	if (!mp || !lat || sluice_log_open(&o, &log) || (!sync && sluice_log_start(log))) {
		fprintf(stderr, "bench_writer: setup failed\n");
		return 1;
	}
	p = sluice_log_partition(log, 0);
	if (!sync)
		ring = sluice_log_ring(log, 0, 0);
	for (int i = 0; i < n; i++) {
		int64_t want = sluice_partition_durable_offset(p) + records;
		uint64_t t0 = sluice_mono_ns();

		if (sync) {
			sluice_partition_append_sync(p, buf, blen, NULL);
		} else {
			void *obj;

			while (rte_mempool_get(mp, &obj) != 0)
				;
			while (rte_ring_sp_enqueue(ring, obj) != 0)
				;
			while (sluice_partition_durable_offset(p) < want)
				nanosleep(&(struct timespec){.tv_nsec = 20000}, NULL);
		}
		lat[i] = sluice_mono_ns() - t0;
		sum += lat[i];
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	printf("latency_p50_us %.1f\n", (double)lat[n / 2] / 1000);
	printf("latency_p99_us %.1f\n", (double)lat[n * 99 / 100] / 1000);
	printf("latency_mean_us %.1f\n", (double)sum / n / 1000);
	printf("batch_bytes %zu\n", blen);
	printf("queue_depth %u\n", o.queue_depth ? o.queue_depth : SLUICE_LOG_QUEUE_DEPTH_DEFAULT);
	sluice_log_close(log);
	rte_mempool_free(mp);
	free(lat);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 4) {
		fprintf(stderr, "usage: see bench/bench_writer.c\n");
		return 2;
	}
	argc = take_named(argc, argv);
	if (argc < 4) {
		fprintf(stderr, "usage: see bench/bench_writer.c\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	if (eal(argv[0]))
		return 1;
	if (strcmp(argv[1], "throughput") == 0)
		rc = throughput(argc, argv);
	else
		rc = latency(argc, argv);
	rte_eal_cleanup();
	eal_dir_remove();
	return rc;
}
