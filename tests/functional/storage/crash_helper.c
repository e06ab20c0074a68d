/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kill -9 helper for storage_kill9.sh. Usage: storage_crash_helper append|verify DIR MIN
 *
 * Opens the log in DIR (recovering it), checks that it holds exactly the deterministic
 * batches 0..K-1 that earlier runs appended (byte for byte) and that its end is at least
 * MIN (the last durable offset a killed predecessor printed), then prints
 * "verified K END CUT". In append mode it then starts the writer threads, feeds batch K, K+1,
 * ... through the dataplane's SPSC ring from a producer thread, and prints "durable N" each
 * time the durable watermark moves, until it is killed (or 30 s pass).
 *
 * With SLUICE_KILL_AT=<point> (a roll point of storage_test_hooks: preparing, prepared,
 * swapped, naming, named, sealing, sealed) and SLUICE_KILL_AT_N=<n>, the thread that reaches
 * that point for the n-th time prints "at <point> <base>" and stops there, so that the
 * script kills the process between two steps of a roll (storage_kill_roll.sh). Recovery must
 * leave no prepared segment behind: verify checks that too.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "storage_internal.h"
#include "storage_test_util.h"

#define ELT_BYTES 4096

static struct rte_mempool *pool;
static char prefix[64];

/* EAL leaves /var/run/dpdk/<prefix> behind; a killed run's is removed by the script. */
static void eal_dir_remove(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf /var/run/dpdk/%s", prefix);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove /var/run/dpdk/%s\n", prefix);
}
/*
 * Tell the script that recovery is verified, through the FIFO named by SLUICE_KILL9_READY
 * (it holds it open): the script blocks on it instead of polling the output file with a
 * process per poll, which cost as much CPU as the test itself on a loaded host.
 */
static void ready_signal(void)
{
	const char *path = getenv("SLUICE_KILL9_READY");
	int fd;

	if (!path)
		return;
	fd = open(path, O_WRONLY | O_NONBLOCK);
	if (fd < 0)
		return;
	if (write(fd, "r\n", 2) != 2)
		fprintf(stderr, "ready fifo: %s\n", strerror(errno));
	close(fd);
}

static const char *kill_at;
static atomic_int kill_at_n;

static void on_roll_point(void *arg, struct sluice_partition *p, const char *point, int64_t base)
{
	(void)arg;
	(void)p;
	if (strcmp(point, kill_at) != 0 || atomic_fetch_sub(&kill_at_n, 1) != 1)
		return;
	printf("at %s %" PRId64 "\n", point, base);
	for (;;) /* wait here for the kill */
		sleep(1);
}

/* Recovery removes prepared segments (or quarantines their bytes). */
static int no_prepared(const char *dir)
{
	static const char *const names[] = {"prepared.log", "prepared.index", "prepared.timeindex"};
	char pdir[1024];

	snprintf(pdir, sizeof(pdir), "%s/crash-0", dir);
	for (size_t i = 0; i < 3; i++) {
		if (tu_exists(pdir, names[i])) {
			printf("FAIL %s left after recovery\n", names[i]);
			return 1;
		}
	}
	return 0;
}

static struct sluice_log *log_;
static atomic_bool stop;
static uint64_t next_seq;

static size_t batch_for(uint64_t k, uint8_t *buf, size_t cap)
{
	return tu_make_batch(buf, cap, 1 + (int)(k % 5), (int64_t)k, (uint32_t)k, k % 300);
}

static void *producer(void *arg)
{
	struct rte_ring *ring = sluice_log_ring(log_, 0, 0);

	(void)arg;
	while (!atomic_load(&stop)) {
		struct sluice_batch *b;
		void *obj;

		if (rte_mempool_get(pool, &obj) != 0) {
			usleep(50);
			continue;
		}
		b = obj;
		b->pool = pool;
		b->data = (uint8_t *)(b + 1);
		b->len = (uint32_t)batch_for(next_seq, b->data, ELT_BYTES - sizeof(*b));
		b->records = (uint32_t)(1 + next_seq % 5);
		b->partition_id = 0;
		while (rte_ring_sp_enqueue(ring, b) != 0 && !atomic_load(&stop))
			usleep(20);
		next_seq++;
		/* ~20k batches/s: enough to have group commits in flight at any kill instant */
		if (next_seq % 20 == 0)
			usleep(1000);
	}
	return NULL;
}

static int verify(struct sluice_partition *p, int64_t min, uint64_t *count)
{
	struct sluice_reader *r;
	const uint8_t *b;
	size_t len;
	int64_t off = 0;
	uint64_t k = 0;
	uint8_t exp[ELT_BYTES];
	int rc;

	rc = sluice_reader_open(p, 0, &r);
	if (rc) {
		printf("FAIL reader_open %d\n", rc);
		return 1;
	}
	while ((rc = sluice_reader_next(r, &b, &len)) == 1) {
		size_t elen = batch_for(k, exp, sizeof(exp));

		sluice_rb_set_base_offset(exp, off);
		if (elen != len || memcmp(exp, b, len) != 0) {
			printf("FAIL batch %" PRIu64 " at offset %" PRId64 " differs\n", k, off);
			sluice_reader_close(r);
			return 1;
		}
		off += 1 + (int64_t)(k % 5);
		k++;
	}
	sluice_reader_close(r);
	if (rc < 0) {
		printf("FAIL reader_next %d after batch %" PRIu64 "\n", rc, k);
		return 1;
	}
	if (off < min || off != sluice_partition_durable_offset(p)) {
		printf("FAIL end %" PRId64 " durable %" PRId64 " min %" PRId64 "\n", off,
		       sluice_partition_durable_offset(p), min);
		return 1;
	}
	*count = k;
	return 0;
}

int main(int argc, char **argv)
{
	char *eal_argv[16];
	int eal_argc = 0;
	struct sluice_topic_opts t = {
		.name = "crash",
		.partitions = 1,
		.segment_bytes = 512 << 10,
		.flush_interval_us = 2000,
		.flush_bytes = 32 << 10,
		.index_interval_bytes = 4096,
	};
	struct sluice_log_opts o = {
		.topics = &t,
		.ntopics = 1,
		.writers = 1,
		.producers = 1,
		.ring_size = 256,
		.direct_io = -1,
		.write_buffer_bytes = 256 << 10,
		.writer_idle_sleep = true,
	};
	struct sluice_partition_stats st;
	struct sluice_partition *p;
	pthread_t th;
	int64_t min, last = -1;
	uint64_t k = 0;
	bool append;

	if (argc != 4)
		return 2;
	/* each cycle runs one of the preallocation modes: their tails differ after a crash; and
	 * one of the queue depths: with several writes in flight, a kill leaves holes */
	o.prealloc = (enum sluice_prealloc)(1 + getpid() % 3);
	o.queue_depth = 1 + (uint32_t)(getpid() / 3 % 4);
	o.prealloc_bytes = 256 << 10;
	append = strcmp(argv[1], "append") == 0;
	o.data_dir = argv[2];
	min = strtoll(argv[3], NULL, 10);
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(prefix, sizeof(prefix), "sluice_crash_%d", (int)getpid());
	eal_argv[eal_argc++] = argv[0];
	eal_argv[eal_argc++] = "--no-pci";
	eal_argv[eal_argc++] = "--no-huge";
	eal_argv[eal_argc++] = "-m";
	eal_argv[eal_argc++] = "64";
	eal_argv[eal_argc++] = "--no-shconf";
	eal_argv[eal_argc++] = "-l";
	eal_argv[eal_argc++] = "0";
	eal_argv[eal_argc++] = "--log-level";
	eal_argv[eal_argc++] = "error";
	eal_argv[eal_argc++] = "--file-prefix";
	eal_argv[eal_argc++] = prefix;
	eal_argv[eal_argc] = NULL;
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		printf("FAIL eal\n");
		return 1;
	}
	pool = rte_mempool_create("crash_pool", 255, ELT_BYTES, 0, 0, NULL, NULL, NULL, NULL,
				  SOCKET_ID_ANY, 0);
	if (!pool || sluice_log_open(&o, &log_) != 0) {
		printf("FAIL open\n");
		return 1;
	}
	p = sluice_log_partition(log_, 0);
	if (verify(p, min, &k) || no_prepared(o.data_dir)) {
		eal_dir_remove();
		return 1;
	}
	sluice_partition_stats(p, &st);
	printf("verified %" PRIu64 " %" PRId64 " %" PRIu64 "\n", k, st.durable_offset,
	       st.recovery_truncated_bytes);
	ready_signal();
	if (!append) {
		sluice_log_close(log_);
		rte_eal_cleanup();
		eal_dir_remove();
		return 0;
	}
	next_seq = k;
	kill_at = getenv("SLUICE_KILL_AT");
	if (kill_at) {
		const char *n = getenv("SLUICE_KILL_AT_N");

		atomic_store(&kill_at_n, n ? (int)strtol(n, NULL, 10) : 1);
		storage_test_hooks.roll_point = on_roll_point;
	}
	if (sluice_log_start(log_) != 0 || pthread_create(&th, NULL, producer, NULL) != 0) {
		printf("FAIL start\n");
		return 1;
	}
	for (int i = 0; i < 300000; i++) { /* 30 s bound */
		int64_t d = sluice_partition_durable_offset(p);

		if (d != last) {
			printf("durable %" PRId64 "\n", d);
			last = d;
		}
		usleep(100);
	}
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	sluice_log_close(log_);
	rte_eal_cleanup();
	eal_dir_remove();
	return 0;
}
