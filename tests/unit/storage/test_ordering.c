/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ordered completion with queue_depth > 1 (storage/writer.c): several writes of a partition
 * are in flight and may complete in any order; the durable offset must only ever cover the
 * contiguous prefix of completed writes that an fdatasync covered.
 *
 * A test seam (storage_test_hooks.cqe) sees every completion in the writer thread. It picks
 * one write H in the middle of a stream (not the first, whole blocks) and holds its
 * completion back until later writes have completed, then hands it over
 *  - as it was (out-of-order completion: the watermark must not pass the gap meanwhile, and
 *    must cover everything after);
 *  - as -EIO (a failed write in the middle: the partition fails for good, the later writes
 *    never count, new batches are shed as "failed");
 *  - as -ENOSPC (parked: the watermark waits for the retry 100 ms later);
 *  - as a short write (the rest is written again, nothing is lost).
 * The segments are small, so rolls happen while H is outstanding. The hook checks at every
 * completion that the durable offset stays below H's end while H is outstanding. Real
 * completions are never earlier than the kernel's: a faked failure also cancels an
 * fdatasync linked behind H, as the kernel would have. Needs the EAL (--no-huge, --no-pci).
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "storage_internal.h"
#include "storage_test_util.h"

#define ELT_BYTES 4096
#define BATCHES 600
#define DEPTH 4

static struct rte_mempool *pool;
static char eal_prefix[64];

enum mode { M_HOLD, M_EIO, M_ENOSPC, M_SHORT };

struct hook {
	enum mode mode;
	_Atomic int phase; /* 0: looking for H; 1: H outstanding; 2: H done */
	uint64_t h_pos; /* H's file position and length */
	uint32_t h_len;
	uint32_t h_slot;
	int64_t h_end; /* log offset complete once H (and every earlier write) is */
	const struct segment *h_seg;
	bool cancel_sync; /* an fdatasync is linked behind H */
	bool released; /* H's completion was handed to the writer */
	uint64_t held_ns;
	_Atomic uint32_t later; /* other writes completed while H was outstanding */
	_Atomic uint32_t later_next_seg; /* ... of which in a later segment */
	uint64_t later_ns; /* when the second of those completed */
	_Atomic uint32_t later_synced; /* fdatasyncs completed meanwhile */
	_Atomic uint32_t violations;
	_Atomic int64_t worst; /* largest durable offset seen while H was outstanding */
};

static struct hook hk;

static int setup(void **state)
{
	(void)state;
	if (tu_eal_start("test_ordering", "to", eal_prefix, sizeof(eal_prefix)) < 0)
		return -1;
	pool = rte_mempool_create("to_pool", 1023, ELT_BYTES, 0, 0, NULL, NULL, NULL, NULL,
				  SOCKET_ID_ANY, 0);
	return pool ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rte_mempool_free(pool);
	tu_eal_stop(eal_prefix);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void check(struct sluice_partition *p)
{
	int64_t d = sluice_partition_durable_offset(p);

	if (atomic_load(&hk.phase) != 1)
		return;
	if (d > atomic_load(&hk.worst))
		atomic_store(&hk.worst, d);
	if (d >= hk.h_end)
		atomic_fetch_add(&hk.violations, 1);
}

static bool on_cqe(void *arg, struct sluice_partition *p, enum op_kind kind,
		   const struct storage_test_op *op, int *res, bool held)
{
	(void)arg;
	check(p);
	if (kind == OP_SYNC) {
		if (hk.cancel_sync && op->linked && op->slot == hk.h_slot) {
			/* never before its write; canceled when the write "failed" */
			if (!hk.released)
				return true;
			hk.cancel_sync = false;
			if (hk.mode != M_HOLD)
				*res = -ECANCELED;
			return false;
		}
		if (!held && *res == 0 && atomic_load(&hk.phase) == 1)
			atomic_fetch_add(&hk.later_synced, 1);
		return false;
	}
	if (kind != OP_WRITE)
		return false;
	if (held) {
		/* H: released 20 ms after two later writes completed (time enough for the
		 * writer to sync and publish them, were it to ignore the gap), or after 3 s;
		 * then it completes as the mode says */
		if ((atomic_load(&hk.later) < 2 || now_ns() - hk.later_ns < 20000000ull) &&
		    now_ns() - hk.held_ns < 3000000000ull)
			return true;
		hk.released = true;
		switch (hk.mode) {
		case M_HOLD:
			atomic_store(&hk.phase, 2);
			break;
		case M_EIO:
			*res = -EIO;
			break;
		case M_ENOSPC:
			*res = -ENOSPC;
			break;
		case M_SHORT:
			*res = (int)((hk.h_len / 2) & ~4095u);
			break;
		}
		return false;
	}
	switch (atomic_load(&hk.phase)) {
	case 0:
		if (op->file_pos == 0 || op->len < 8192 || *res != (int)op->len)
			return false;
		hk.h_pos = op->file_pos;
		hk.h_len = op->len;
		hk.h_slot = op->slot;
		hk.h_end = op->end_offset;
		hk.h_seg = p->slots[op->slot].seg;
		hk.cancel_sync = op->linked;
		hk.held_ns = now_ns();
		atomic_store(&hk.phase, 1);
		return true;
	case 1:
		if (hk.released && p->slots[op->slot].seg == hk.h_seg && op->file_pos >= hk.h_pos &&
		    op->file_pos < hk.h_pos + hk.h_len) {
			/* H written again: the ENOSPC retry, or the rest of the short write */
			if (*res == (int)op->len)
				atomic_store(&hk.phase, 2);
			return false;
		}
		if (!hk.released && atomic_fetch_add(&hk.later, 1) == 1)
			hk.later_ns = now_ns();
		if (!hk.released && p->slots[op->slot].seg != hk.h_seg)
			atomic_fetch_add(&hk.later_next_seg, 1);
		return false;
	default:
		return false;
	}
}

struct feed {
	struct sluice_log *log;
	int64_t records;
	uint32_t sent;
};

static void push(struct feed *f, uint32_t seq)
{
	struct rte_ring *ring = sluice_log_ring(f->log, 0, 0);
	struct sluice_batch *b;
	void *obj;
	int nrec = 1 + (int)(seq % 4);

	while (rte_mempool_get(pool, &obj) != 0)
		sched_yield();
	b = obj;
	b->pool = pool;
	b->data = (uint8_t *)(b + 1);
	/* 500..2000 byte batches: several per 4 KiB block, writes end mid-batch */
	b->len = (uint32_t)tu_make_batch(b->data, ELT_BYTES - sizeof(*b), nrec, 1000 + seq, seq,
					 100 + (seq * 37) % 400);
	b->records = (uint32_t)nrec;
	b->partition_id = 0;
	b->ingest_tsc = 0;
	f->records += nrec;
	f->sent++;
	while (rte_ring_sp_enqueue(ring, b) != 0)
		sched_yield();
}

/* Every durable batch is whole, valid and in offset order; returns the end offset. */
static int64_t read_back(struct sluice_partition *p)
{
	struct tu_batch *v = NULL;
	int n = tu_read_all(p, 0, &v);
	int64_t next = 0;

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		assert_int_equal(sluice_rb_batch_validate(v[i].data, v[i].len, NULL, NULL),
				 SLUICE_RB_OK);
		assert_int_equal(v[i].base, next);
		next = v[i].last + 1;
	}
	tu_free_batches(v, n);
	return next;
}

static void run(enum mode mode, int direct, const char *tag)
{
	char dir[256];
	struct sluice_topic_opts t = {
		.name = "o",
		.partitions = 1,
		.segment_bytes = 40 << 10, /* rolls while H is outstanding */
		/* far enough that the writes of the burst are all size-triggered: whole blocks
		 * only, so that none of them has to wait for H (a deadline flush ends with a
		 * partial block that the next write rewrites, after H) */
		.flush_interval_us = 100000,
		.flush_bytes = 8 << 10,
		.index_interval_bytes = 4096,
	};
	struct sluice_log_opts o = {
		.topics = &t,
		.ntopics = 1,
		.writers = 1,
		.producers = 1,
		.ring_size = 1024,
		.direct_io = direct,
		.write_buffer_bytes = 24 << 10,
		.prealloc = SLUICE_PREALLOC_NONE,
		.queue_depth = DEPTH,
	};
	struct sluice_partition_stats st;
	struct sluice_partition *p;
	struct feed f = {0};
	int64_t durable;

	memset(&hk, 0, sizeof(hk));
	hk.mode = mode;
	storage_test_hooks.arg = &hk;
	storage_test_hooks.cqe = on_cqe;
	tu_mkdtemp(dir, sizeof(dir), tag);
	o.data_dir = dir;
	assert_int_equal(sluice_log_open(&o, &f.log), 0);
	p = sluice_log_partition(f.log, 0);
	assert_int_equal(sluice_log_start(f.log), 0);
	for (uint32_t i = 0; i < BATCHES; i++) {
		push(&f, i);
		check(p);
		if (i % 50 == 49)
			usleep(2000); /* let the writer turn batches into writes as they come */
	}
	if (mode == M_EIO) {
		/* the failure is sticky: wait for it, then more batches are shed */
		for (int k = 0; k < 5000 && atomic_load(&hk.later) == 0; k++)
			usleep(1000);
		usleep(100000);
		sluice_partition_stats(p, &st);
		assert_true(st.failed);
		durable = st.durable_offset;
		for (uint32_t i = 0; i < 20; i++)
			push(&f, BATCHES + i);
		for (int k = 0; k < 5000; k++) {
			sluice_partition_stats(p, &st);
			if (st.appended_records + st.shed_records == (uint64_t)f.records)
				break;
			usleep(1000);
		}
		check(p);
		assert_int_equal(st.appended_records + st.shed_records, (uint64_t)f.records);
		assert_true(st.shed_reason[SLUICE_STORAGE_SHED_FAILED] > 0);
		assert_int_equal(st.shed_reason[SLUICE_STORAGE_SHED_FAILED], st.shed_records);
		assert_true(st.write_errors >= 1);
		assert_int_equal(st.durable_offset, durable); /* nothing moved after the failure */
		assert_true(st.durable_offset < hk.h_end);
		assert_int_equal(atomic_load(&hk.phase), 1); /* H never counted */
		assert_int_equal(read_back(p), st.durable_offset);
	} else {
		for (int k = 0; k < 10000; k++) {
			sluice_partition_stats(p, &st);
			check(p);
			if (atomic_load(&hk.phase) == 2 && !st.failed &&
			    st.appended_records + st.shed_records == (uint64_t)f.records &&
			    st.durable_offset == st.log_end_offset)
				break;
			usleep(1000);
		}
		assert_int_equal(atomic_load(&hk.phase), 2);
		assert_false(st.failed);
		assert_int_equal(st.appended_records + st.shed_records, (uint64_t)f.records);
		assert_int_equal(st.durable_offset, st.log_end_offset);
		assert_int_equal(st.durable_offset, (int64_t)st.appended_records);
		assert_int_equal(read_back(p), st.durable_offset);
		if (mode != M_ENOSPC)
			assert_true(st.rolls > 0); /* (ENOSPC sheds most batches for 100 ms) */
		if (mode == M_ENOSPC) {
			assert_true(st.write_errors >= 1);
			assert_int_equal(st.shed_reason[SLUICE_STORAGE_SHED_DISK_FULL],
					 st.shed_records);
		} else {
			assert_int_equal(st.shed_records, 0);
		}
	}
	/* the gap really was there: later writes completed meanwhile, past a roll */
	assert_true(atomic_load(&hk.later) >= 2);
	assert_true(atomic_load(&hk.later_next_seg) >= 1);
	assert_int_equal(atomic_load(&hk.violations), 0);
	fprintf(stderr,
		"%s: H at %" PRIu64 "+%u ends at offset %" PRId64 ", %u later writes (%u in the "
		"next segment, %u syncs) while outstanding, durable offset at most %" PRId64
		" meanwhile, final %" PRId64 "\n",
		tag, hk.h_pos, hk.h_len, hk.h_end, atomic_load(&hk.later),
		atomic_load(&hk.later_next_seg), atomic_load(&hk.later_synced),
		atomic_load(&hk.worst), st.durable_offset);
	assert_int_equal(sluice_log_stop(f.log), 0);
	storage_test_hooks.cqe = NULL;
	sluice_log_close(f.log);
	/* reopen: recovery accepts what is on disk, at least what was durable */
	durable = st.durable_offset;
	o.producers = 0;
	assert_int_equal(sluice_log_open(&o, &f.log), 0);
	p = sluice_log_partition(f.log, 0);
	assert_true(sluice_partition_durable_offset(p) >= durable);
	assert_int_equal(read_back(p), sluice_partition_durable_offset(p));
	sluice_log_close(f.log);
	tu_rm_rf(dir);
}

static void test_hold_gap(void **state)
{
	(void)state;
	run(M_HOLD, -1, "ord-hold");
}

static void test_hold_gap_buffered(void **state)
{
	(void)state;
	run(M_HOLD, 0, "ord-hold-buf");
}

static void test_failed_write_in_the_middle(void **state)
{
	(void)state;
	run(M_EIO, -1, "ord-eio");
}

static void test_enospc_in_the_middle(void **state)
{
	(void)state;
	run(M_ENOSPC, -1, "ord-enospc");
}

static void test_short_write_in_the_middle(void **state)
{
	(void)state;
	run(M_SHORT, -1, "ord-short");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hold_gap),
		cmocka_unit_test(test_hold_gap_buffered),
		cmocka_unit_test(test_failed_write_in_the_middle),
		cmocka_unit_test(test_enospc_in_the_middle),
		cmocka_unit_test(test_short_write_in_the_middle),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
