/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ENOSPC and O_DIRECT on a small ext4 (storage_enospc.sh mounts it). Usage:
 * storage_enospc_helper MOUNTPOINT
 *
 * direct_io = 1 (required): every append goes out with O_DIRECT, and ext4 rejects a
 * misaligned O_DIRECT write with EINVAL, so odd batch sizes prove the alignment of the
 * write-combining buffer and the tail-block rewrite.
 *
 * A: fill the disk until append_sync reports ENOSPC: the partition is failed, the durable
 *    offset stops, what is durable reads back intact; free space; appends resume with no
 *    restart and no torn batch, including the batch taken when the disk filled up.
 * B: fill again, close while failed (no clean marker), reopen: recovery keeps every durable
 *    batch, byte for byte, and nothing after it is corrupt.
 */
#include <inttypes.h>
#include <sys/statvfs.h>

#include <rte_eal.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "storage_test_util.h"

#define MAX_BATCHES 20000

static uint8_t *expect[MAX_BATCHES];
static size_t expect_len[MAX_BATCHES];
static int nexpect;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                                   \
			printf("\n");                                          \
			exit(1);                                               \
		}                                                              \
	} while (0)

static size_t make(uint8_t *buf, size_t cap, int k)
{
	/* 3..20 KiB, never a multiple of 4096 */
	return tu_make_batch(buf, cap, 1 + k % 5, k, (uint32_t)k, 600 + (size_t)(k * 37) % 3400);
}

static void remember(const uint8_t *b, size_t len, int64_t base)
{
	CHECK(nexpect < MAX_BATCHES, "too many batches");
	expect[nexpect] = malloc(len);
	memcpy(expect[nexpect], b, len);
	sluice_rb_set_base_offset(expect[nexpect], base);
	expect_len[nexpect++] = len;
}

static void verify(struct sluice_partition *p, int upto, const char *when)
{
	struct tu_batch *v = NULL;
	int n = tu_read_all(p, 0, &v);

	CHECK(n == upto, "%s: read %d batches, expected %d", when, n, upto);
	for (int i = 0; i < n; i++)
		CHECK(v[i].len == expect_len[i] && memcmp(v[i].data, expect[i], v[i].len) == 0,
		      "%s: batch %d differs", when, i);
	tu_free_batches(v, n);
}

/* Append until the disk is full; returns how many batches are in the log. */
static int fill(struct sluice_partition *p, int *k, int *durable_batches)
{
	uint8_t buf[65536];
	struct sluice_partition_stats st;

	for (;;) {
		size_t len = make(buf, sizeof(buf), *k);
		int64_t base = -1;
		int rc = sluice_partition_append_sync(p, buf, len, &base);

		(*k)++;
		if (rc == 0) {
			remember(buf, len, base);
			*durable_batches = nexpect;
			continue;
		}
		CHECK(rc == -ENOSPC, "append_sync: %s", strerror(-rc));
		if (base >= 0)
			remember(buf, len, base); /* taken: becomes durable when space returns */
		break;
	}
	sluice_partition_stats(p, &st);
	CHECK(st.failed, "partition not failed after ENOSPC");
	CHECK(st.last_errno == ENOSPC, "last_errno %d", st.last_errno);
	CHECK(st.write_errors > 0, "write error not counted");
	CHECK(st.fsync_errors == 0, "fsync error counted for a write error");
	return nexpect;
}

static void make_filler(const char *mnt, uint64_t leave)
{
	char path[512];
	struct statvfs vfs;
	uint64_t avail;
	int fd;

	CHECK(statvfs(mnt, &vfs) == 0, "statvfs: %s", strerror(errno));
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	snprintf(path, sizeof(path), "%s/filler", mnt);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0, "open filler: %s", strerror(errno));
	if (avail > leave)
		CHECK(fallocate(fd, 0, 0, (off_t)(avail - leave)) == 0, "fallocate: %s",
		      strerror(errno));
	fsync(fd);
	close(fd);
}

static void free_filler(const char *mnt)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/filler", mnt);
	CHECK(unlink(path) == 0, "unlink filler: %s", strerror(errno));
	fd = open(mnt, O_RDONLY | O_DIRECTORY);
	syncfs(fd);
	close(fd);
	sync(); /* ext4 reuses freed blocks once the transaction that freed them commits */
}

/*
 * C: the same with writer threads fed through the ring, two partitions: the one that hits
 * ENOSPC fails and sheds while batches keep arriving, the writer thread retries on its own,
 * and both partitions go on once space is back; everything readable after a reopen is valid.
 */
static char prefix[64];

/* A failed CHECK exits: the EAL runtime directory must not outlive it either. */
static void eal_dir_remove(void)
{
	char cmd[128];

	if (!prefix[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf /var/run/dpdk/%s", prefix);
	if (system(cmd) != 0)
		printf("could not remove /var/run/dpdk/%s\n", prefix);
	prefix[0] = 0;
}

static void phase_c(const char *mnt)
{
	char dir[512];
	char *eal_argv[] = {"enospc",        "--no-pci", "--no-huge", "-m",          "64",
			    "--no-shconf",   "-l",       "0",         "--log-level", "error",
			    "--file-prefix", prefix,     NULL};
	struct sluice_topic_opts t = {
		.name = "c",
		.partitions = 2,
		.segment_bytes = 1 << 20,
		.flush_interval_us = 500,
		.flush_bytes = 64 << 10,
		.index_interval_bytes = 4096,
	};
	struct sluice_log_opts o = {.topics = &t,
				    .ntopics = 1,
				    .writers = 1,
				    .producers = 1,
				    .ring_size = 256,
				    .direct_io = 1,
				    .write_buffer_bytes = 256 << 10,
				    .writer_idle_sleep = true};
	struct rte_mempool *mp;
	struct sluice_log *log;
	struct sluice_partition_stats st[2];
	int64_t frozen = -1, before[2] = {0, 0};
	int k = 0;
	bool full = false, resumed = false;

	snprintf(prefix, sizeof(prefix), "sluice_enospc_%d", (int)getpid());
	atexit(eal_dir_remove);
	snprintf(dir, sizeof(dir), "%s/logc", mnt);
	o.data_dir = dir;
	CHECK(rte_eal_init(12, eal_argv) >= 0, "EAL");
	mp = rte_mempool_create("enospc_pool", 255, 32768, 0, 0, NULL, NULL, NULL, NULL,
				SOCKET_ID_ANY, 0);
	CHECK(mp && sluice_log_open(&o, &log) == 0 && sluice_log_start(log) == 0, "setup C");
	make_filler(mnt, 2u << 20);
	/* 20 s bound: fill up, note the freeze, free, see both partitions move again */
	for (int iter = 0; iter < 40000 && !resumed; iter++) {
		struct sluice_batch *b;
		void *obj;

		if (rte_mempool_get(mp, &obj) != 0) {
			usleep(500);
			continue;
		}
		b = obj;
		b->pool = mp;
		b->data = (uint8_t *)(b + 1);
		b->len = (uint32_t)make(b->data, 32768 - sizeof(*b), k);
		b->records = (uint32_t)(1 + k % 5);
		b->partition_id = (uint32_t)(k % 2);
		k++;
		while (rte_ring_sp_enqueue(sluice_log_ring(log, 0, 0), b) != 0)
			usleep(100);
		usleep(500);
		for (int i = 0; i < 2; i++)
			sluice_partition_stats(sluice_log_partition(log, (uint32_t)i), &st[i]);
		if (!full && (st[0].failed || st[1].failed)) {
			int f = st[0].failed ? 0 : 1;

			full = true;
			CHECK(st[f].last_errno == ENOSPC, "C: errno %d", st[f].last_errno);
			/* Bytes written before the failed write may still get their fdatasync
			 * (writer.c, sync_complete): let that settle, then nothing moves. */
			usleep(50000);
			sluice_partition_stats(sluice_log_partition(log, (uint32_t)f), &st[f]);
			frozen = st[f].durable_offset;
			/* keep sending for a while: refused batches are counted, durable frozen */
			for (int j = 0; j < 200; j++) {
				if (rte_mempool_get(mp, &obj) != 0) {
					usleep(1000);
					continue;
				}
				b = obj;
				b->pool = mp;
				b->data = (uint8_t *)(b + 1);
				b->len = (uint32_t)make(b->data, 32768 - sizeof(*b), k);
				b->records = (uint32_t)(1 + k % 5);
				b->partition_id = (uint32_t)f;
				k++;
				while (rte_ring_sp_enqueue(sluice_log_ring(log, 0, 0), b) != 0)
					usleep(100);
			}
			usleep(200000);
			sluice_partition_stats(sluice_log_partition(log, (uint32_t)f), &st[f]);
			CHECK(st[f].shed_records > 0, "C: nothing shed while failed");
			/* ext4 sometimes finds blocks again on a retry (it commits the journal
			 * and drops preallocations before giving up): then it resumed, rightly */
			CHECK(!st[f].failed || st[f].durable_offset == frozen,
			      "C: durable moved while failed: %" PRId64 " -> %" PRId64, frozen,
			      st[f].durable_offset);
			before[0] = st[0].durable_offset;
			before[1] = st[1].durable_offset;
			free_filler(mnt);
		} else if (full && !st[0].failed && !st[1].failed &&
			   st[0].durable_offset > before[0] && st[1].durable_offset > before[1]) {
			resumed = true;
		}
	}
	CHECK(full, "C: the disk never filled");
	CHECK(resumed, "C: the partitions did not resume");
	sluice_log_close(log);
	/* reopen: every readable batch is valid and contiguous in both partitions */
	o.producers = 0;
	CHECK(sluice_log_open(&o, &log) == 0, "C: reopen");
	for (int i = 0; i < 2; i++) {
		struct tu_batch *v = NULL;
		int n = tu_read_all(sluice_log_partition(log, (uint32_t)i), 0, &v);

		CHECK(n > 0, "C: partition %d read %d", i, n);
		for (int j = 1; j < n; j++)
			CHECK(v[j].base == v[j - 1].last + 1, "C: gap in partition %d", i);
		tu_free_batches(v, n);
	}
	sluice_log_close(log);
	rte_mempool_free(mp);
	rte_eal_cleanup();
	eal_dir_remove();
	printf("phase C: writer thread: ENOSPC at durable %" PRId64 ", shed and frozen, resumed "
	       "after %d batches\n",
	       frozen, k);
}

int main(int argc, char **argv)
{
	char dir[512];
	struct sluice_topic_opts t = {
		.name = "full",
		.partitions = 1,
		.segment_bytes = 1 << 20,
		.flush_interval_us = 1000,
		.flush_bytes = 1 << 20,
		.index_interval_bytes = 4096,
	};
	struct sluice_log_opts o = {
		.topics = &t,
		.ntopics = 1,
		.writers = 1,
		.direct_io = 1,
		.write_buffer_bytes = 256 << 10,
	};
	struct sluice_log *log;
	struct sluice_partition *p;
	struct sluice_partition_stats st;
	int k = 0, durable_batches = 0, in_log, rc;
	int64_t durable;
	uint8_t buf[65536];
	size_t len;
	int64_t base;

	if (argc != 2)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(dir, sizeof(dir), "%s/log", argv[1]);
	o.data_dir = dir;
	CHECK(sluice_log_open(&o, &log) == 0, "open with O_DIRECT required");
	p = sluice_log_partition(log, 0);

	/* A */
	make_filler(argv[1], 3u << 20);
	in_log = fill(p, &k, &durable_batches);
	durable = sluice_partition_durable_offset(p);
	verify(p, durable_batches, "after ENOSPC");
	/* Still failed: a second attempt while full is refused and counted. */
	len = make(buf, sizeof(buf), k);
	rc = sluice_partition_append_sync(p, buf, len, &base);
	CHECK(rc == -ENOSPC && base == -1, "second append while full: rc %d base %" PRId64, rc,
	      base);
	CHECK(sluice_partition_durable_offset(p) == durable, "durable moved while failed");
	sluice_partition_stats(p, &st);
	CHECK(st.shed_records > 0, "refused batch not counted as shed");
	free_filler(argv[1]);
	for (int tries = 0;; tries++) {
		len = make(buf, sizeof(buf), k);
		rc = sluice_partition_append_sync(p, buf, len, &base);
		if (rc == 0)
			break;
		CHECK(rc == -ENOSPC && tries < 100, "resume: %s", strerror(-rc));
		usleep(100000);
	}
	k++;
	remember(buf, len, base);
	in_log = nexpect;
	sluice_partition_stats(p, &st);
	CHECK(!st.failed, "partition still failed after space came back");
	CHECK(st.durable_offset > durable, "durable did not advance");
	verify(p, in_log, "after resume");
	printf("phase A: ENOSPC after %d batches (%" PRId64 " records durable), resumed, %d "
	       "batches intact, write errors %" PRIu64 "\n",
	       durable_batches, durable, in_log, st.write_errors);
	sluice_log_close(log);

	/* Clean reopen keeps everything. */
	CHECK(sluice_log_open(&o, &log) == 0, "reopen");
	p = sluice_log_partition(log, 0);
	verify(p, in_log, "after clean reopen");

	/* B */
	make_filler(argv[1], 2u << 20);
	fill(p, &k, &durable_batches);
	durable = sluice_partition_durable_offset(p);
	sluice_log_close(log); /* failed: no clean marker */
	{
		char pdir[600];

		snprintf(pdir, sizeof(pdir), "%s/full-0", dir);
		CHECK(!tu_exists(pdir, "clean-shutdown"), "failed partition marked clean");
	}
	free_filler(argv[1]);
	CHECK(sluice_log_open(&o, &log) == 0, "reopen after failure");
	p = sluice_log_partition(log, 0);
	sluice_partition_stats(p, &st);
	CHECK(st.durable_offset >= durable, "lost durable data: %" PRId64 " < %" PRId64,
	      st.durable_offset, durable);
	/* What recovery kept is a prefix of what we appended, byte for byte. */
	{
		struct tu_batch *v = NULL;
		int n = tu_read_all(p, 0, &v);

		CHECK(n >= durable_batches && n <= nexpect, "recovered %d batches (durable %d)", n,
		      durable_batches);
		for (int i = 0; i < n; i++)
			CHECK(v[i].len == expect_len[i] &&
				      memcmp(v[i].data, expect[i], v[i].len) == 0,
			      "batch %d differs after recovery", i);
		tu_free_batches(v, n);
		printf("phase B: ENOSPC, closed failed, recovered %d batches (%d durable), cut "
		       "%" PRIu64 " bytes\n",
		       n, durable_batches, st.recovery_truncated_bytes);
	}
	len = make(buf, sizeof(buf), k);
	CHECK(sluice_partition_append_sync(p, buf, len, NULL) == 0, "append after recovery");
	sluice_log_close(log);
	for (int i = 0; i < nexpect; i++)
		free(expect[i]);
	phase_c(argv[1]);
	printf("ok\n");
	return 0;
}
