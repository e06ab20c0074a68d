/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Writers: the io_uring append path, group commit, segment rolls and the durable watermark.
 *
 * Threading contract: everything here runs in the partition's writer thread, or, before
 * sluice_log_start / after sluice_log_stop, in the thread calling append_sync or close (which
 * hold the writer's sync_lock). The only values other threads read are the atomics in
 * struct sluice_partition / sluice_writer and segment->durable_bytes, and the segment list /
 * index arrays, which are changed under the partition lock. The roll helper (roll.c) hands
 * over prepared segments and names through atomics (partners named at each use).
 *
 * Write slots. Per partition there are queue_depth + 1 aligned write-combining buffers
 * ("slots") in a ring. Batches are copied into the fill slot; a flush turns it into a write
 * and the next slot becomes the fill slot. Up to queue_depth writes are in flight, and they
 * may complete in any order: a slot's write only counts once every earlier slot's has
 * completed (the contiguous written prefix, head..), and the durable watermark moves only
 * over what an fdatasync issued after that prefix completed covers. A failed write stops the
 * prefix for good (sticky); ENOSPC parks it and writes the same bytes again later.
 *
 * O_DIRECT writes whole blocks, so the last block of a flush is written zero padded and
 * carried over into the next slot, whose write rewrites it whole. Two writes in flight must
 * never share a block (their order on the device is not the order of submission), so a slot
 * whose first block is its predecessor's last is submitted only after that one completed.
 * With queue_depth > 1, flushes triggered by size ("cut" flushes) write whole blocks only
 * and carry the partial block over unwritten, so that consecutive writes share nothing and
 * really overlap; flushes by deadline, request, roll and stop write everything.
 *
 * Rolls never block the writer thread: the next segment was created and preallocated by the
 * roll helper beforehand; a roll flushes the fill slot into the old segment, swaps in the
 * prepared one and asks the helper to name it (rename + directory fsync). The new segment is
 * listed for readers, and its bytes become durable, only once the old segment is durable to
 * its last byte and the new name is durable; the helper then seals the old segment (trim,
 * indexes, checkpoint). Without writer threads (append_sync, close) a roll does all of this
 * inline.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/mempolicy.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "storage_internal.h"

#define RING_ENTRIES_MIN 256
#define RING_ENTRIES_MAX 32768
#define BURST 32
#define ENOSPC_RETRY_NS (100ull * 1000 * 1000)
#define HUGE_2M (2ull << 20)

struct storage_test_hooks storage_test_hooks;

static inline uint32_t slot_next(const struct sluice_partition *p, uint32_t i)
{
	return i + 1 == p->nslots ? 0 : i + 1;
}

static inline uint32_t slot_prev(const struct sluice_partition *p, uint32_t i)
{
	return i ? i - 1 : p->nslots - 1;
}

static inline uint64_t align_down(const struct sluice_partition *p, uint64_t v)
{
	return v / p->align * p->align;
}

static inline uint64_t align_up(const struct sluice_partition *p, uint64_t v)
{
	return (v + p->align - 1) / p->align * p->align;
}

/* ---------------------------------------------------------------------------------------- */
/* Buffers                                                                                    */

/*
 * Prefer @p node's memory for [m, m + len) before it is first touched: the buffer is filled
 * and written by its writer, pinned near its node (docs/deployment.md, NUMA). A failure only
 * costs locality, so it is not an error.
 */
static void buf_bind(void *m, size_t len, int node)
{
	unsigned long mask[4] = {0};

	if (node < 0 || node >= (int)(sizeof(mask) * 8))
		return;
	mask[node / 64] = 1ul << (node % 64);
	if (syscall(SYS_mbind, m, len, MPOL_PREFERRED, mask, sizeof(mask) * 8, 0) != 0)
		sluice_storage_log("mbind write buffer to node %d: %s", node, strerror(errno));
}

static int buf_alloc(struct wslot *b, size_t cap, int node)
{
	size_t huge_len = (cap + HUGE_2M - 1) & ~(HUGE_2M - 1);
	void *m;

	/* Hugepages save TLB misses on the copy and pin cheaply when registered; most hosts
	 * reserve none for us, so fall back to ordinary (page-aligned) memory. */
	m = mmap(NULL, huge_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
		 -1, 0);
	if (m != MAP_FAILED)
		buf_bind(m, huge_len, node);
	/* Fault the pages in now: on a host whose hugepage pool other processes (DPDK) drain,
	 * a later first touch would be SIGBUS; madvise reports the shortage as an error. */
	if (m != MAP_FAILED && madvise(m, huge_len, MADV_POPULATE_WRITE) != 0) {
		munmap(m, huge_len);
		m = MAP_FAILED;
	}
	if (m != MAP_FAILED) {
		b->map_len = huge_len;
		b->huge = true;
	} else {
		m = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return -errno;
		buf_bind(m, cap, node);
		b->map_len = cap;
		b->huge = false;
	}
	b->mem = m;
	b->cap = cap;
	b->buf_index = -1;
	return 0;
}

int part_buffers_init(struct sluice_partition *p)
{
	uint32_t n = p->log->opts.queue_depth + 1;

	p->slots = calloc(n, sizeof(*p->slots));
	p->slot_ops = calloc(n, sizeof(*p->slot_ops));
	if (!p->slots || !p->slot_ops)
		return -ENOMEM;
	p->nslots = n;
	for (uint32_t i = 0; i < n; i++) {
		int rc = buf_alloc(&p->slots[i], p->log->opts.write_buffer_bytes,
				   p->writer ? p->writer->node : -1);

		if (rc) {
			sluice_storage_log("%s: write buffer of %zu bytes: %s", p->dir,
					   p->log->opts.write_buffer_bytes, strerror(-rc));
			return rc;
		}
		p->slot_ops[i] = (struct uop){.p = p, .kind = OP_WRITE, .slot = i};
	}
	return 0;
}

void part_buffers_fini(struct sluice_partition *p)
{
	for (uint32_t i = 0; p->slots && i < p->nslots; i++)
		if (p->slots[i].mem)
			munmap(p->slots[i].mem, p->slots[i].map_len);
	free(p->slots);
	free(p->slot_ops);
	p->slots = NULL;
	p->slot_ops = NULL;
	p->nslots = 0;
}

/* Start filling slot b with bytes of segment s from file_pos on; the first carry bytes
 * (already copied to b->mem) end at a batch boundary at log offset end_offset. */
static void slot_start(struct wslot *b, struct segment *s, uint64_t file_pos, size_t carry,
		       int64_t end_offset)
{
	b->state = SLOT_FILL;
	b->seg = s;
	b->file_pos = file_pos;
	b->len = carry;
	b->end_offset = end_offset;
	b->cut_pos = file_pos + carry;
	b->cut_offset = end_offset;
	b->batches = 0;
	b->new_bytes = 0;
	b->first_ns = 0;
	b->overlap_prev = false;
	b->linked = false;
	b->requeued = false;
	b->err = 0;
}

/* The fill slot starts at the block that holds the log end; with O_DIRECT its partial
 * head is read back so that the first flush rewrites that block whole. */
int part_tail_load(struct sluice_partition *p)
{
	struct segment *s = p->active;
	uint64_t pos = align_down(p, s->size);
	struct wslot *b;

	p->head = p->fill = 0;
	b = &p->slots[0];
	slot_start(b, s, pos, (size_t)(s->size - pos), p->log_end_offset);
	if (b->len) {
		ssize_t n = pread(s->fd, b->mem, p->align, (off_t)pos);

		if (n < (ssize_t)b->len) {
			int rc = n < 0 ? -errno : -EIO;

			sluice_storage_log("%s: reading tail block of segment %" PRId64 ": %s",
					   p->dir, s->base_offset, strerror(-rc));
			return rc;
		}
	}
	p->written_offset = p->synced_offset = p->log_end_offset;
	p->written_bytes = p->synced_bytes = s->size;
	p->written_seg = p->synced_seg = s;
	p->active_listed = true;
	s->prealloc_end = s->size;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Submission                                                                                 */

static struct io_uring_sqe *get_sqe(struct sluice_writer *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	if (!sqe) {
		/* SQ full: push what we have (the CQ ring is larger than the SQ ring). */
		io_uring_submit(&w->ring);
		w->to_submit = 0;
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

/* DEFAULT adapts: small group commits (latency-bound) get zero-filled blocks ahead, whose
 * extra write is cheap at their rate; large ones (throughput-bound) get fallocate, where the
 * extent conversion is amortised over megabytes and a second write of every byte is not. */
#define ADAPTIVE_ZERO_BELOW (256u << 10)

static bool prealloc_zero_now(const struct sluice_partition *p)
{
	enum sluice_prealloc mode = p->log->opts.prealloc;

	return mode == SLUICE_PREALLOC_ZERO ||
		(mode == SLUICE_PREALLOC_DEFAULT && p->ewma_write_bytes < ADAPTIVE_ZERO_BELOW);
}

/* A data write of segment s ending past the start of a zero write in flight must wait. */
static bool zero_conflict(const struct sluice_partition *p, const struct segment *s,
			  uint64_t end_pos)
{
	return p->prealloc_in_flight && p->prealloc_zero && p->prealloc_seg == s &&
		end_pos > p->prealloc_start;
}

/*
 * Keep space prepared ahead of the tail of the active segment, asynchronously, one operation
 * at a time: fallocate (runs in an io-wq worker) or a write of zeros. ZERO makes the next
 * group commits true overwrites: ext4 then takes the O_DIRECT write inline (no io-wq hop)
 * and the fdatasync has no extent or size change to journal, at the cost of a second write
 * of the log's bytes. Not fatal: when it fails the segment goes on without (the data write
 * then allocates, and reports ENOSPC itself).
 */
static void maybe_prealloc(struct sluice_writer *w, struct sluice_partition *p, uint64_t upto,
			   uint64_t data_end)
{
	struct segment *s = p->active;
	enum sluice_prealloc mode = p->log->opts.prealloc;
	uint64_t ahead = p->log->opts.prealloc_bytes ? p->log->opts.prealloc_bytes
						     : SLUICE_STORAGE_PREALLOC_BYTES_DEFAULT;
	uint64_t limit =
		(p->topt->segment_bytes + SLUICE_DIO_ALIGN - 1) & ~(uint64_t)(SLUICE_DIO_ALIGN - 1);
	struct io_uring_sqe *sqe;
	uint64_t start, len;
	bool zero = prealloc_zero_now(p);
	const uint8_t *zbuf = NULL;

	if (mode == SLUICE_PREALLOC_NONE || p->prealloc_in_flight)
		return;
	/* never behind the data: zeros must not land on anything written */
	data_end = (data_end + SLUICE_DIO_ALIGN - 1) & ~(uint64_t)(SLUICE_DIO_ALIGN - 1);
	if (s->prealloc_end < data_end)
		s->prealloc_end = data_end;
	start = (s->prealloc_end + SLUICE_DIO_ALIGN - 1) & ~(uint64_t)(SLUICE_DIO_ALIGN - 1);
	if (start >= limit || upto + ahead / 2 < start)
		return;
	len = ahead;
	if (zero) {
		zbuf = seg_zero_chunk();
		if (!zbuf)
			return;
		len = ZERO_CHUNK;
	}
	if (start + len > limit)
		len = limit - start;
	sqe = get_sqe(w);
	if (!sqe)
		return;
	if (zero)
		io_uring_prep_write(sqe, s->fd, zbuf, (unsigned)len, start);
	else
		io_uring_prep_fallocate(sqe, s->fd, 0, (off_t)start, (off_t)len);
	io_uring_sqe_set_data(sqe, &p->prealloc_op);
	p->prealloc_in_flight = true;
	p->prealloc_seg = s;
	p->prealloc_zero = zero;
	p->prealloc_start = start;
	p->prealloc_target = start + len;
	w->to_submit++;
}

/* An fdatasync of segment s that makes [.., target) durable, linked behind the write of
 * slot `slot` just queued, or alone. */
static int prep_sync(struct sluice_writer *w, struct sluice_partition *p, bool linked,
		     uint32_t slot, struct segment *s, int64_t target_offset, uint64_t target_bytes,
		     uint64_t now)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_fsync(sqe, s->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(sqe, &p->sync_op);
	p->sync_in_flight = true;
	p->sync_linked = linked;
	p->sync_slot = slot;
	p->sync_seg = s;
	p->sync_target_offset = target_offset;
	p->sync_target_bytes = target_bytes;
	p->sync_first_ns = p->unsynced_write_ns ? p->unsynced_write_ns : now;
	p->unsynced_write_ns = 0;
	w->to_submit++;
	return 0;
}

/*
 * Queue the write of slot i from op_start. When it is the only write of the partition and no
 * fdatasync is running, the fdatasync goes out linked behind it (one submit, one round
 * trip: the small-commit latency case); otherwise writes go alone and an fdatasync covers
 * what completed as soon as the running one is done (the throughput case).
 */
static int submit_write(struct sluice_writer *w, struct sluice_partition *p, uint32_t i,
			uint64_t now)
{
	struct wslot *b = &p->slots[i];
	struct io_uring_sqe *sqe;
	unsigned len = (unsigned)(b->op_end - b->op_start);
	bool link = !p->topt->flush_none && !p->sync_in_flight && i == p->head && !p->closing &&
		b->seg == p->active;

	if (io_uring_sq_space_left(&w->ring) < 2) {
		io_uring_submit(&w->ring);
		w->to_submit = 0;
	}
	sqe = get_sqe(w);
	if (!sqe)
		return -EBUSY;
	if (b->buf_index >= 0)
		io_uring_prep_write_fixed(sqe, b->seg->fd, b->mem + b->op_start, len,
					  b->file_pos + b->op_start, b->buf_index);
	else
		io_uring_prep_write(sqe, b->seg->fd, b->mem + b->op_start, len,
				    b->file_pos + b->op_start);
	io_uring_sqe_set_data(sqe, &p->slot_ops[i]);
	w->to_submit++;
	b->state = SLOT_INFLIGHT;
	b->requeued = false;
	b->err = 0;
	b->linked = link;
	p->writes_in_flight++;
	if (!p->unsynced_write_ns)
		p->unsynced_write_ns = now;
	if (link) {
		/* A short or failed write breaks the link: the fsync then completes with
		 * -ECANCELED, and a new one covers the write once it is complete. */
		sqe->flags |= IOSQE_IO_LINK;
		return prep_sync(w, p, true, i, b->seg, b->w_offset, b->w_bytes, now);
	}
	return 0;
}

/* Submit the flushed slots, in log order, as far as ordering allows. */
static unsigned submit_ready(struct sluice_writer *w, struct sluice_partition *p, uint64_t now)
{
	unsigned n = 0;

	for (uint32_t i = p->head; i != p->fill; i = slot_next(p, i)) {
		struct wslot *b = &p->slots[i];

		if (b->state != SLOT_READY)
			continue;
		/* its first block is the previous write's last: that write must be done */
		if (b->overlap_prev && i != p->head && p->slots[slot_prev(p, i)].state != SLOT_DONE)
			break;
		if (zero_conflict(p, b->seg, b->file_pos + b->op_end))
			break;
		/* a canceled linked fsync must be reaped before the write goes out again */
		if (p->sync_in_flight && p->sync_linked && p->sync_slot == i)
			break;
		if (submit_write(w, p, i, now))
			break;
		n++;
	}
	return n;
}

enum flush_kind { FLUSH_NONE = 0, FLUSH_CUT, FLUSH_FULL };

/*
 * Flush the fill slot: it becomes a write, the next (free) slot the fill slot. FLUSH_CUT
 * (queue_depth > 1 and at least one whole block) writes whole blocks only and carries the
 * rest over unwritten; FLUSH_FULL writes everything, zero padded, and carries the partial
 * last block over written. With next_seg the fill slot was the last of its segment (roll):
 * the next slot starts empty at the beginning of next_seg.
 */
static void flush_fill(struct sluice_writer *w, struct sluice_partition *p, uint64_t now,
		       enum flush_kind kind, struct segment *next_seg)
{
	struct wslot *b = &p->slots[p->fill];
	uint32_t ni = slot_next(p, p->fill);
	struct wslot *nx = &p->slots[ni];
	size_t whole = (size_t)align_down(p, b->len);
	size_t end, carry;

	if (kind == FLUSH_CUT && p->nslots > 2 && whole > 0 && !next_seg) {
		end = whole;
		carry = b->len - whole;
		b->w_offset = b->cut_offset;
		b->w_bytes = b->cut_pos;
		slot_start(nx, b->seg, b->file_pos + whole, carry, b->end_offset);
		memcpy(nx->mem, b->mem + whole, carry);
		nx->cut_pos = b->cut_pos;
		nx->cut_offset = b->cut_offset;
		if (carry) {
			/* the tail of a batch (and maybe more batches) still to be written */
			nx->batches = 1;
			nx->new_bytes = carry;
			nx->first_ns = b->first_ns;
		}
	} else {
		size_t tail = b->len % p->align;

		end = (size_t)align_up(p, b->len);
		if (end > b->len)
			memset(b->mem + b->len, 0, end - b->len);
		b->w_offset = b->end_offset;
		b->w_bytes = b->file_pos + b->len;
		if (next_seg) {
			slot_start(nx, next_seg, 0, 0, b->end_offset);
		} else {
			slot_start(nx, b->seg, b->file_pos + (b->len - tail), tail, b->end_offset);
			memcpy(nx->mem, b->mem + b->len - tail, tail);
			nx->overlap_prev = tail > 0;
		}
	}
	b->state = SLOT_READY;
	b->op_start = 0;
	b->op_end = end;
	b->err = 0;
	p->fill = ni;
	p->flush_owed = false;
	p->ewma_write_bytes = p->ewma_write_bytes - p->ewma_write_bytes / 8 + b->new_bytes / 8;
	if (!next_seg && b->seg == p->active)
		maybe_prealloc(w, p, b->file_pos + end + b->cap, b->file_pos + end);
	submit_ready(w, p, now);
}

/* ---------------------------------------------------------------------------------------- */
/* Completions and the durable watermark                                                      */

static void hist_bucket_add(_Atomic uint64_t *hist, uint64_t us, uint64_t n)
{
	int i = 0;

	while (i < SLUICE_HIST_BUCKETS - 1 && (1ull << i) < us)
		i++;
	CNT_ADD(hist[i], n);
}

static void set_failed(struct sluice_partition *p, int err, bool permanent, const char *what)
{
	atomic_store_explicit(&p->last_errno, -err, memory_order_relaxed);
	if (!atomic_load_explicit(&p->failed, memory_order_relaxed) ||
	    (permanent && !p->failed_permanent))
		sluice_storage_log("%s: %s failed: %s; partition %s", p->dir, what, strerror(-err),
				   permanent ? "failed until reopened (recovery)"
					     : "failed, retrying while shedding new batches");
	p->failed_permanent |= permanent;
	atomic_store_explicit(&p->failed, true, memory_order_release);
}

/* A batch with an ingest time was appended: it waits in the FIFO for its durability. Never
 * allocates: when the FIFO is full the batch joins the newest entry, which keeps the older
 * of the two ingest times. */
static void lat_push(struct sluice_partition *p, int64_t end_offset, uint64_t tsc)
{
	struct lat_pending *e;

	if (p->lat_len == LAT_FIFO_CAP) {
		e = &p->lat_fifo[(p->lat_head + p->lat_len - 1) % LAT_FIFO_CAP];
		e->end_offset = end_offset;
		e->batches++;
		if (tsc < e->ingest_tsc)
			e->ingest_tsc = tsc;
		return;
	}
	e = &p->lat_fifo[(p->lat_head + p->lat_len) % LAT_FIFO_CAP];
	e->end_offset = end_offset;
	e->ingest_tsc = tsc;
	e->batches = 1;
	p->lat_len++;
}

/* The durable offset is about to reach @p offset: observe every batch it covers. */
static void lat_durable(struct sluice_partition *p, int64_t offset)
{
	uint64_t now, hz;

	if (!p->lat_len)
		return;
	now = rte_rdtsc();
	hz = rte_get_tsc_hz();
	while (p->lat_len) {
		struct lat_pending *e = &p->lat_fifo[p->lat_head];
		uint64_t us = 0;

		if (e->end_offset > offset)
			break;
		/* TSCs are synchronised across cores on the hosts we run on; a small skew
		 * must not wrap into a huge latency. */
		if (hz && now > e->ingest_tsc)
			us = (now - e->ingest_tsc) / (hz / 1000000 ? hz / 1000000 : 1);
		hist_bucket_add(p->ingest_durable_hist, us, e->batches);
		CNT_ADD(p->ingest_durable_sum_us, us * e->batches);
		p->lat_head = (p->lat_head + 1) % LAT_FIFO_CAP;
		p->lat_len--;
	}
}

void sluice_partition_ingest_durable_hist(const struct sluice_partition *p,
					  uint64_t hist[SLUICE_HIST_BUCKETS], uint64_t *sum_us)
{
	/* No fence of its own: the counters are stored before the release store of
	 * durable_offset in publish(), so a caller that read an offset durable (acquire)
	 * finds its batches counted here. */
	for (int i = 0; i < SLUICE_HIST_BUCKETS; i++)
		hist[i] = CNT_GET(p->ingest_durable_hist[i]);
	*sum_us = CNT_GET(p->ingest_durable_sum_us);
}

/* A tagged batch of @p producer was appended and ends at @p end_offset. Never allocates. */
static void ack_push(struct sluice_partition *p, int64_t end_offset, uint32_t producer,
		     uint32_t tag)
{
	uint32_t n = p->ack_nprod, i;

	if (!p->ack_last || producer >= n)
		return;
	p->ack_last[producer] = tag;
	if (p->ack_len == ACK_FIFO_CAP)
		i = (p->ack_head + p->ack_len - 1) % ACK_FIFO_CAP; /* merge into the newest */
	else
		i = (p->ack_head + p->ack_len++) % ACK_FIFO_CAP;
	p->ack_end[i] = end_offset;
	memcpy(&p->ack_tags[(size_t)i * n], p->ack_last, n * sizeof(uint32_t));
}

/* The durable offset is about to reach @p offset: publish the tags of what it covers. */
static void ack_durable(struct sluice_partition *p, int64_t offset)
{
	uint32_t n = p->ack_nprod, last = UINT32_MAX;

	while (p->ack_len && p->ack_end[p->ack_head] <= offset) {
		last = p->ack_head;
		p->ack_head = (p->ack_head + 1) % ACK_FIFO_CAP;
		p->ack_len--;
	}
	if (last == UINT32_MAX)
		return;
	/* Partner: the acquire loads in sluice_partition_ack_state(); the store of
	 * durable_offset that follows in publish() is ordered after these too. */
	for (uint32_t r = 0; r < n; r++)
		atomic_store_explicit(&p->ack_durable[r], p->ack_tags[(size_t)last * n + r],
				      memory_order_release);
}

void sluice_partition_ack_state(const struct sluice_partition *p, uint32_t producer,
				uint32_t *durable, uint32_t *refused)
{
	*durable = 0;
	*refused = 0;
	if (!p->ack_durable || producer >= p->ack_nprod)
		return;
	/* Partners: the release stores in ack_durable() and deliver(). */
	*refused = atomic_load_explicit(&p->ack_refused[producer], memory_order_acquire);
	*durable = atomic_load_explicit(&p->ack_durable[producer], memory_order_acquire);
}

static void publish(struct sluice_partition *p, struct segment *s, int64_t offset, uint64_t bytes)
{
	lat_durable(p, offset);
	if (p->ack_len)
		ack_durable(p, offset);
	/* Partner of these release stores: acquire loads in reader.c and
	 * sluice_partition_durable_offset(). Bytes first, so that a reader that sees the
	 * offset also finds the bytes. */
	atomic_store_explicit(&s->durable_bytes, bytes, memory_order_release);
	atomic_store_explicit(&p->durable_offset, offset, memory_order_release);
}

/*
 * Publish what the fdatasyncs cover. The closing segment is published to its last byte
 * before anything of the active one, and the active one only once it is listed (readers
 * find a segment by its name, which is durable by then).
 */
static void try_publish(struct sluice_partition *p)
{
	int64_t durable = atomic_load_explicit(&p->durable_offset, memory_order_relaxed);
	struct segment *c = p->closing;

	/* A failed partition's durable offset stands still (what an fdatasync covered while it
	 * retried after ENOSPC is published when it resumes). */
	if (p->synced_offset <= durable || atomic_load_explicit(&p->failed, memory_order_relaxed))
		return;
	if (c && p->synced_seg != c &&
	    atomic_load_explicit(&c->durable_bytes, memory_order_relaxed) < c->size) {
		publish(p, c, c->next_offset, c->size);
		durable = c->next_offset;
	}
	if (p->synced_seg == p->active && !p->active_listed)
		return;
	if (p->synced_offset > durable && (p->synced_seg == p->active || p->synced_seg == c))
		publish(p, p->synced_seg, p->synced_offset, p->synced_bytes);
}

static bool part_parked(const struct sluice_partition *p)
{
	for (uint32_t i = p->head; i != p->fill; i = slot_next(p, i))
		if (p->slots[i].state == SLOT_PARKED)
			return true;
	return false;
}

/* Move head over completed slots: the contiguous written prefix grows. */
static void advance(struct sluice_partition *p)
{
	while (p->head != p->fill && p->slots[p->head].state == SLOT_DONE) {
		struct wslot *b = &p->slots[p->head];

		p->written_offset = b->w_offset;
		p->written_bytes = b->w_bytes;
		p->written_seg = b->seg;
		b->state = SLOT_FREE;
		p->head = slot_next(p, p->head);
	}
	if (p->topt->flush_none && p->written_offset > p->synced_offset) {
		p->synced_offset = p->written_offset;
		p->synced_bytes = p->written_bytes;
		p->synced_seg = p->written_seg;
		try_publish(p);
	}
}

static void write_complete(struct sluice_partition *p, uint32_t i, int res, uint64_t now)
{
	struct wslot *b = &p->slots[i];
	size_t expected = b->op_end - b->op_start;

	p->writes_in_flight--;
	if (res < 0) {
		bool first = !part_parked(p);

		CNT_ADD(p->write_errors, 1);
		b->state = SLOT_PARKED;
		b->err = res;
		if (res == -ENOSPC || res == -EDQUOT) {
			/* Nothing past the durable watermark was synced from it: write the same
			 * bytes at the same position again once space is back. Meanwhile only the
			 * data before the first parked write may still become durable. */
			int64_t floor = i == p->head ? p->written_offset
						     : p->slots[slot_prev(p, i)].w_offset;

			if (first || floor < p->park_floor)
				p->park_floor = floor;
			set_failed(p, res, false, "write");
			b->retry_ns = now + ENOSPC_RETRY_NS;
		} else {
			/* The prefix stops before this slot for good: later writes that
			 * complete never count (sticky). */
			set_failed(p, res, true, "write");
		}
		return;
	}
	if ((size_t)res < expected) {
		b->op_start += (size_t)res;
		b->state = SLOT_READY;
		b->requeued = true;
		return;
	}
	b->op_start = b->op_end;
	b->state = SLOT_DONE;
	advance(p);
	if (atomic_load_explicit(&p->failed, memory_order_relaxed) && !p->failed_permanent &&
	    !part_parked(p)) {
		sluice_storage_log("%s: write succeeded again, partition resumed", p->dir);
		atomic_store_explicit(&p->failed, false, memory_order_release);
		try_publish(p);
	}
}

static void sync_complete(struct sluice_partition *p, int res, uint64_t now)
{
	bool linked = p->sync_linked;

	p->sync_in_flight = false;
	p->sync_linked = false;
	if (res == -ECANCELED && linked) {
		/* The write before it failed or was short, so it never ran: a new fdatasync
		 * covers that write once it is complete (part_service). */
		if (!p->unsynced_write_ns)
			p->unsynced_write_ns = p->sync_first_ns;
		return;
	}
	if (res < 0) {
		/* Never retried: after a failed fdatasync the kernel may have dropped the dirty
		 * pages and a second fdatasync could report success for data that is gone. */
		CNT_ADD(p->fsync_errors, 1);
		set_failed(p, res, true, "fdatasync");
		return;
	}
	if (p->sync_target_offset > p->synced_offset) {
		p->synced_offset = p->sync_target_offset;
		p->synced_bytes = p->sync_target_bytes;
		p->synced_seg = p->sync_seg;
	}
	CNT_ADD(p->fsyncs, 1);
	hist_bucket_add(p->fsync_hist, (now - p->sync_first_ns + 999) / 1000, 1);
	try_publish(p);
}

static void prealloc_complete(struct sluice_partition *p, int res)
{
	struct segment *s = p->prealloc_seg;

	p->prealloc_in_flight = false;
	p->prealloc_seg = NULL;
	if (res < 0) {
		if (!p->logged_prealloc)
			sluice_storage_log("%s: preallocation: %s (writes allocate instead)",
					   p->dir, strerror(-res));
		p->logged_prealloc = true;
		/* give up for this segment rather than retry at every flush */
		s->prealloc_end = UINT64_MAX / 2;
	} else if (p->prealloc_zero) {
		s->prealloc_end = p->prealloc_start + (uint64_t)res;
	} else {
		s->prealloc_end = p->prealloc_target;
	}
}

static void on_cqe(struct uop *op, int res, uint64_t now)
{
	switch (op->kind) {
	case OP_WRITE:
		write_complete(op->p, op->slot, res, now);
		break;
	case OP_SYNC:
		sync_complete(op->p, res, now);
		break;
	case OP_PREALLOC:
		prealloc_complete(op->p, res);
		break;
	default:
		break;
	}
}

/* Test seam: let storage_test_hooks.cqe see (and change, or hold back) a completion. */
static bool test_hold(struct sluice_writer *w, struct uop *op, int *res, bool held)
{
	struct sluice_partition *p = op->p;
	struct storage_test_op info = {.slot = op->slot};

	if (op->kind == OP_WRITE) {
		const struct wslot *b = &p->slots[op->slot];

		info.file_pos = b->file_pos + b->op_start;
		info.len = (uint32_t)(b->op_end - b->op_start);
		info.end_offset = b->w_offset;
		info.linked = b->linked;
	} else if (op->kind == OP_SYNC) {
		info.slot = p->sync_slot;
		info.end_offset = p->sync_target_offset;
		info.linked = p->sync_linked;
	}
	if (!storage_test_hooks.cqe(storage_test_hooks.arg, p, op->kind, &info, res, held))
		return false;
	if (held)
		return true;
	if (w->nheld == sizeof(w->held) / sizeof(w->held[0]))
		return false;
	w->held[w->nheld++] = (struct held_cqe){.op = op, .res = *res};
	return true;
}

static unsigned reap(struct sluice_writer *w, uint64_t now)
{
	struct io_uring_cqe *cqes[BURST];
	unsigned total = 0, n;

	while ((n = io_uring_peek_batch_cqe(&w->ring, cqes, BURST)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			struct uop *op = io_uring_cqe_get_data(cqes[i]);
			int res = cqes[i]->res;

			if (unlikely(storage_test_hooks.cqe != NULL) &&
			    test_hold(w, op, &res, false))
				continue;
			on_cqe(op, res, now);
		}
		io_uring_cq_advance(&w->ring, n);
		total += n;
	}
	for (uint32_t i = 0; i < w->nheld;) {
		struct held_cqe h = w->held[i];

		if (test_hold(w, h.op, &h.res, true)) {
			i++;
			continue;
		}
		w->held[i] = w->held[--w->nheld];
		on_cqe(h.op, h.res, now);
		total++;
	}
	return total;
}

/* Submit what is queued and wait for at least one completion. */
static int wait_some(struct sluice_writer *w)
{
	struct io_uring_cqe *cqe;
	int rc;

	if (w->to_submit) {
		io_uring_submit(&w->ring);
		w->to_submit = 0;
	}
	if (w->nheld) {
		/* a test holds completions back: come back to offer them again */
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};

		rc = io_uring_wait_cqe_timeout(&w->ring, &cqe, &ts);
		return rc == -ETIME || rc == -EINTR ? 0 : rc;
	}
	rc = io_uring_wait_cqe(&w->ring, &cqe);
	return rc == -EINTR ? 0 : rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Roll                                                                                       */

static void roll_point(struct sluice_partition *p, const char *point, int64_t base)
{
	if (unlikely(storage_test_hooks.roll_point != NULL))
		storage_test_hooks.roll_point(storage_test_hooks.arg, p, point, base);
}

static int fail_io(struct sluice_partition *p, int rc, const char *what)
{
	sluice_storage_log("%s: %s: %s", p->dir, what, strerror(-rc));
	CNT_ADD(p->write_errors, 1);
	set_failed(p, rc, true, what);
	return rc;
}

/* Seal the active segment: drop O_DIRECT padding and preallocation, sync, write indexes. */
int part_seal_active(struct sluice_partition *p)
{
	int rc = seg_seal(p, p->active);

	return rc ? fail_io(p, rc, "truncating the segment tail") : 0;
}

/*
 * The roll settles: the closing segment is durable to its last byte (and nothing runs on
 * it), the active segment's name is durable. List the active segment for readers, let the
 * roll helper seal the closing one, and publish what waited for the listing.
 */
static unsigned roll_settle(struct sluice_partition *p)
{
	struct segment *c = p->closing, *s = p->active;
	int rc;

	if (!c || atomic_load_explicit(&c->durable_bytes, memory_order_relaxed) != c->size ||
	    (p->prealloc_in_flight && p->prealloc_seg == c) ||
	    /* Partner: the release store in roll.c after the rename and directory fsync. */
	    !atomic_load_explicit(&s->named, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&p->lock);
	rc = part_list_add(p, s);
	if (!rc) {
		c->sealed = true;
		c->refs++; /* the roll helper's, until it has sealed it */
	}
	pthread_mutex_unlock(&p->lock);
	if (rc) {
		set_failed(p, rc, true, "listing a segment");
		return 0;
	}
	atomic_fetch_add(&p->nsegments, 1);
	p->active_listed = true;
	p->closing = NULL;
	c->seal_checkpoint = s->base_offset;
	roll_request_seal(p, c);
	try_publish(p);
	return 1;
}

/*
 * Roll with writer threads: swap in the prepared segment. -EAGAIN (the caller stalls, *why
 * says on what) when it is not prepared yet, the previous roll has not settled, or the fill
 * slot cannot be flushed into the old segment now.
 */
static int roll_begin(struct sluice_writer *w, struct sluice_partition *p, uint64_t now,
		      enum sluice_writer_cause *why)
{
	struct wslot *b = &p->slots[p->fill];
	struct segment *old = p->active, *next;

	*why = SLUICE_WRITER_CAUSE_SEGMENT_ROLL;
	if (p->closing)
		return -EAGAIN;
	/* Partner: the release store in roll.c once the segment is created and preallocated. */
	next = atomic_load_explicit(&p->prepared, memory_order_acquire);
	if (!next) {
		roll_request_prepare(p, prealloc_zero_now(p));
		return -EAGAIN;
	}
	if (b->batches &&
	    (p->slots[slot_next(p, p->fill)].state != SLOT_FREE ||
	     zero_conflict(p, old, b->file_pos + b->len + p->align))) {
		*why = SLUICE_WRITER_CAUSE_DEVICE;
		return -EAGAIN;
	}
	atomic_store_explicit(&p->prepared, NULL, memory_order_relaxed);
	next->base_offset = p->log_end_offset;
	next->next_offset = p->log_end_offset;
	if (b->batches)
		flush_fill(w, p, now, FLUSH_FULL, next);
	else
		slot_start(b, next, 0, 0, p->log_end_offset);
	p->closing = old;
	p->active = next;
	p->active_listed = false;
	CNT_ADD(p->rolls, 1);
	roll_request_name(p, next, prealloc_zero_now(p));
	roll_point(p, "swapped", next->base_offset);
	/* A segment the old one's writes already made durable to its end settles at once. */
	try_publish(p);
	return 0;
}

static int part_drain(struct sluice_writer *w, struct sluice_partition *p);

/* Roll without writer threads (append_sync): everything inline, as one step. */
static int roll_sync(struct sluice_writer *w, struct sluice_partition *p)
{
	struct segment *old = p->active, *s;
	int rc;

	rc = part_drain(w, p);
	if (rc)
		return rc;
	rc = part_seal_active(p);
	if (rc)
		return rc;
	s = atomic_exchange_explicit(&p->prepared, NULL, memory_order_acquire);
	if (!s) {
		rc = seg_prepare(p, prealloc_zero_now(p), false, &s);
		if (rc)
			return fail_io(p, rc, "creating a segment");
	}
	s->base_offset = p->log_end_offset;
	s->next_offset = p->log_end_offset;
	rc = seg_name(p, s);
	if (rc) {
		seg_prepared_remove(p, s);
		return fail_io(p, rc, "naming a segment");
	}
	atomic_store_explicit(&s->named, true, memory_order_relaxed);
	pthread_mutex_lock(&p->lock);
	rc = part_list_add(p, s);
	if (!rc)
		old->sealed = true;
	pthread_mutex_unlock(&p->lock);
	if (rc) {
		close(s->fd);
		free(s);
		return fail_io(p, rc, "listing a segment");
	}
	close(old->fd);
	old->fd = -1;
	p->active = s;
	atomic_fetch_add(&p->nsegments, 1);
	CNT_ADD(p->rolls, 1);
	/* Everything below the new base is sealed and synced: recovery may start here. */
	rc = part_write_checkpoint(p, s->base_offset);
	if (rc)
		sluice_storage_log("%s: checkpoint not advanced (recovery will scan more): %s",
				   p->dir, strerror(-rc));
	slot_start(&p->slots[p->fill], s, 0, 0, p->log_end_offset);
	p->written_offset = p->synced_offset = p->log_end_offset;
	p->written_bytes = p->synced_bytes = 0;
	p->written_seg = p->synced_seg = s;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Service, drain, flush decisions                                                            */

/*
 * Retry parked (ENOSPC) writes when their time has come, submit what ordering allows, start
 * the fdatasync that covers completed writes once the previous one is done, settle a roll.
 */
static unsigned part_service(struct sluice_writer *w, struct sluice_partition *p, uint64_t now,
			     bool retry_now)
{
	int err = atomic_load_explicit(&p->roll_err, memory_order_relaxed);
	unsigned n = 0;

	if (p->failed_permanent)
		return 0;
	if (err) {
		set_failed(p, err, true, "segment roll");
		return 0;
	}
	for (uint32_t i = p->head; i != p->fill; i = slot_next(p, i)) {
		struct wslot *b = &p->slots[i];

		if (b->state != SLOT_PARKED || (!retry_now && now < b->retry_ns) ||
		    (p->sync_in_flight && p->sync_linked && p->sync_slot == i))
			continue;
		b->op_start = (size_t)align_down(p, b->op_start);
		b->state = SLOT_READY;
	}
	n += submit_ready(w, p, now);
	if (!p->topt->flush_none && !p->sync_in_flight && p->written_offset > p->synced_offset &&
	    (p->written_offset <= p->park_floor || !part_parked(p))) {
		struct segment *c = p->closing;

		/* The closing segment first: its fd, up to its end at most. */
		if (c && p->synced_offset < c->next_offset) {
			if (p->written_seg == c)
				prep_sync(w, p, false, 0, c, p->written_offset, p->written_bytes,
					  now);
			else
				prep_sync(w, p, false, 0, c, c->next_offset, c->size, now);
		} else {
			prep_sync(w, p, false, 0, p->active, p->written_offset, p->written_bytes,
				  now);
		}
		n++;
	}
	if (p->closing)
		n += roll_settle(p);
	return n;
}

static bool part_busy(const struct sluice_partition *p)
{
	return p->writes_in_flight || p->sync_in_flight || p->prealloc_in_flight;
}

/* Nothing of the partition is unwritten, unsynced or in flight. */
static bool part_idle(const struct sluice_partition *p)
{
	return p->head == p->fill && !p->slots[p->fill].batches && !part_busy(p) &&
		(p->topt->flush_none || p->written_offset <= p->synced_offset) && !p->closing;
}

static bool can_flush(const struct sluice_partition *p)
{
	const struct wslot *b = &p->slots[p->fill];

	return b->batches && !p->failed_permanent &&
		p->slots[slot_next(p, p->fill)].state == SLOT_FREE &&
		!zero_conflict(p, b->seg, b->file_pos + b->len + p->align);
}

static enum flush_kind flush_due(const struct sluice_partition *p, uint64_t now, bool force)
{
	const struct wslot *b = &p->slots[p->fill];

	if (!can_flush(p))
		return FLUSH_NONE;
	if (force || now - b->first_ns >= p->topt->flush_interval_us * 1000)
		return FLUSH_FULL;
	if (b->new_bytes >= p->topt->flush_bytes || b->len >= b->cap - b->cap / 4)
		return FLUSH_CUT;
	return FLUSH_NONE;
}

/* Bring the partition to "nothing unsynced, nothing in flight" (roll, append_sync, close).
 * Completions of the writer's other partitions are handled on the way. */
static int part_drain(struct sluice_writer *w, struct sluice_partition *p)
{
	for (;;) {
		uint64_t now = sluice_mono_ns();
		int rc;

		reap(w, now);
		if (p->failed_permanent)
			return -atomic_load(&p->last_errno);
		part_service(w, p, now, false);
		if (part_parked(p)) {
			/* the sync of what was written before the ENOSPC still goes out */
			if (w->to_submit) {
				io_uring_submit(&w->ring);
				w->to_submit = 0;
			}
			return -atomic_load(&p->last_errno);
		}
		if (can_flush(p))
			flush_fill(w, p, now, FLUSH_FULL, NULL);
		/* a preallocation still running could extend a segment after it is sealed */
		if (part_idle(p))
			return 0;
		if (!part_busy(p) && !w->nheld)
			continue; /* part_service starts the fdatasync */
		rc = wait_some(w);
		if (rc)
			return rc;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Append                                                                                     */

static void shed_count(struct sluice_partition *p, enum sluice_storage_shed why, uint64_t n)
{
	CNT_ADD(p->shed_reason[why], n);
	/* Partner: the acquire fence after the daemon reads storage's counters (a batch taken
	 * off a worker's ring: whoever sees it counted also sees the worker's counters of it). */
	CNT_ADD_RELEASE(p->shed_records, n);
}

static enum sluice_storage_shed shed_reason_of(int rc)
{
	if (rc == -EBADMSG || rc == -EMSGSIZE)
		return SLUICE_STORAGE_SHED_INVALID;
	if (rc == -ENOSPC || rc == -EDQUOT)
		return SLUICE_STORAGE_SHED_DISK_FULL;
	return SLUICE_STORAGE_SHED_FAILED;
}

/*
 * Copy one batch into the fill slot, assigning its offsets.
 * @return 0; -EAGAIN when it cannot be taken now (*why: SLUICE_WRITER_CAUSE_DEVICE when the
 *         fill slot is full, so that a flush may make room, else what a roll waits for);
 *         -EBADMSG, -EMSGSIZE, or the partition's error when it is failed (the caller sheds
 *         the batch).
 */
static int part_append(struct sluice_writer *w, struct sluice_partition *p, const uint8_t *data,
		       size_t len, uint64_t now, int64_t *base_out, enum sluice_writer_cause *why)
{
	struct segment *s = p->active;
	struct sluice_rb_header h;
	struct wslot *b;
	uint64_t start, end, whole;
	int64_t start_offset;
	int rc;

	*why = SLUICE_WRITER_CAUSE_DEVICE;
	if (sluice_rb_header_decode(data, len, &h) != SLUICE_RB_OK ||
	    (size_t)h.batch_length + SLUICE_RB_LOG_OVERHEAD != len || h.last_offset_delta < 0)
		return -EBADMSG;
	if (atomic_load_explicit(&p->failed, memory_order_relaxed))
		return p->failed_permanent ? -EIO : -atomic_load(&p->last_errno);
	if (len + p->align > p->slots[0].cap) {
		if (!p->logged_oversize)
			sluice_storage_log("%s: batch of %zu bytes exceeds write_buffer_bytes %zu",
					   p->dir, len, p->slots[0].cap);
		p->logged_oversize = true;
		return -EMSGSIZE;
	}
	if (s->size > 0 &&
	    (s->size + len > p->topt->segment_bytes || s->size + len > INT32_MAX ||
	     (p->topt->segment_ms &&
	      sluice_wall_ms() - s->created_ms >= (int64_t)p->topt->segment_ms))) {
		rc = w->threaded ? roll_begin(w, p, now, why) : roll_sync(w, p);
		if (rc)
			return rc;
		s = p->active;
	}
	b = &p->slots[p->fill];
	if (b->len + len > b->cap) {
		*why = SLUICE_WRITER_CAUSE_DEVICE;
		return -EAGAIN;
	}
	start = b->file_pos + b->len;
	start_offset = b->end_offset;
	memcpy(b->mem + b->len, data, len);
	h.base_offset = p->log_end_offset;
	sluice_rb_set_base_offset(b->mem + b->len, h.base_offset);
	if (s->size == 0)
		s->created_ms = sluice_wall_ms();
	pthread_mutex_lock(&p->lock);
	rc = seg_note_batch(s, p->topt->index_interval_bytes, &h, start, len);
	pthread_mutex_unlock(&p->lock);
	if (rc)
		return rc;
	b->len += len;
	b->new_bytes += len;
	if (!b->batches++)
		b->first_ns = now;
	p->log_end_offset = h.base_offset + h.last_offset_delta + 1;
	b->end_offset = p->log_end_offset;
	/* the last batch end a write of whole blocks only would complete */
	end = b->file_pos + b->len;
	whole = b->file_pos + align_down(p, b->len);
	if (end <= whole) {
		b->cut_pos = end;
		b->cut_offset = b->end_offset;
	} else if (start <= whole && start > b->cut_pos) {
		b->cut_pos = start;
		b->cut_offset = start_offset;
	}
	CNT_ADD(p->appended_batches, 1);
	CNT_ADD(p->appended_records, (uint64_t)h.last_offset_delta + 1);
	CNT_ADD(p->appended_bytes, len);
	atomic_fetch_add(&p->bytes_on_disk, len);
	atomic_store_explicit(&p->log_end_pub, p->log_end_offset, memory_order_relaxed);
	if (base_out)
		*base_out = h.base_offset;
	return 0;
}

/* A stall ended: observe it. */
static void stall_end(struct sluice_writer *w, uint64_t now)
{
	uint64_t ns;

	if (!w->stall_start_ns)
		return;
	ns = now > w->stall_start_ns ? now - w->stall_start_ns : 0;
	CNT_ADD(w->stall_ns, ns);
	CNT_ADD(w->stalls[w->stall_cause], 1);
	hist_bucket_add(w->stall_hist, (ns + 999) / 1000, 1);
	w->stall_start_ns = 0;
}

/* Publish why the writer is behind (only on change: the dataplane reads it). */
static void cause_set(struct sluice_writer *w, enum sluice_writer_cause c)
{
	/* Partner: the relaxed load in sluice_log_writer_cause(); a hint, no ordering. */
	if (atomic_load_explicit(&w->cause, memory_order_relaxed) != (uint32_t)c)
		atomic_store_explicit(&w->cause, (uint32_t)c, memory_order_relaxed);
}

/* One batch from a ring: append, or shed and count; the buffer goes back to its pool. */
static int deliver(struct sluice_writer *w, struct sluice_batch *bt, uint64_t now)
{
	struct sluice_log *log = w->log;
	struct sluice_partition *p =
		bt->partition_id < log->nparts ? log->parts[bt->partition_id] : NULL;
	enum sluice_writer_cause why;
	int rc;

	if (!p || p->writer != w) {
		if (!w->logged_misrouted)
			sluice_storage_log("writer %u: batch for partition id %u it does not own",
					   w->index, bt->partition_id);
		w->logged_misrouted = true;
		CNT_ADD(w->misrouted, 1);
		goto put;
	}
	rc = part_append(w, p, bt->data, bt->len, now, NULL, &why);
	if (rc == -EAGAIN && why == SLUICE_WRITER_CAUSE_DEVICE && can_flush(p)) {
		flush_fill(w, p, now, FLUSH_CUT, NULL);
		rc = part_append(w, p, bt->data, bt->len, now, NULL, &why);
	}
	if (rc == -EAGAIN) {
		if (!w->stall_start_ns) {
			w->stall_start_ns = now;
			w->stall_cause = why;
		} else if (why > w->stall_cause) {
			w->stall_cause = why;
		}
		cause_set(w, w->stall_cause);
		return rc;
	}
	stall_end(w, now);
	if (rc && bt->ack_tag && p->ack_refused && bt->producer < p->ack_nprod)
		/* Partner: the acquire load in sluice_partition_ack_state(). */
		atomic_fetch_add_explicit(&p->ack_refused[bt->producer], 1, memory_order_release);
	if (rc)
		shed_count(p, shed_reason_of(rc), bt->records);
	else if (bt->ingest_tsc)
		lat_push(p, p->log_end_offset, bt->ingest_tsc);
	if (!rc && bt->ack_tag)
		ack_push(p, p->log_end_offset, bt->producer, bt->ack_tag);
put:
	if (bt->pool)
		rte_mempool_put(bt->pool, bt);
	return 0;
}

static unsigned drain_rings(struct sluice_writer *w, uint64_t now)
{
	unsigned n = 0;
	uint32_t nr = w->log->nproducers;
	bool emptied = true;

	while (w->npending) {
		if (deliver(w, w->pending[w->pending_head], now) == -EAGAIN)
			return n;
		w->pending_head++;
		w->npending--;
		n++;
		CNT_ADD(w->batches, 1);
	}
	for (uint32_t i = 0; i < nr; i++) {
		struct rte_ring *r = w->rings[(w->ring_rr + i) % nr];

		w->npending = rte_ring_sc_dequeue_burst(r, (void **)w->pending, BURST, NULL);
		w->pending_head = 0;
		w->ring_deq[(w->ring_rr + i) % nr] += w->npending;
		if (w->npending == BURST)
			emptied = false;
		while (w->npending) {
			if (deliver(w, w->pending[w->pending_head], now) == -EAGAIN) {
				w->ring_rr = (w->ring_rr + i) % nr;
				return n;
			}
			w->pending_head++;
			w->npending--;
			n++;
			CNT_ADD(w->batches, 1);
		}
	}
	if (nr)
		w->ring_rr = (w->ring_rr + 1) % nr;
	/* Caught up since the last stall: what sheds now is not the stall's doing. */
	if (emptied)
		cause_set(w, SLUICE_WRITER_CAUSE_BUSY);
	return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Synchronous API (no writer threads)                                                         */

int sluice_partition_append_sync(struct sluice_partition *p, uint8_t *batch, size_t len,
				 int64_t *base_offset)
{
	struct sluice_writer *w = p->writer;
	enum sluice_writer_cause why;
	enum sluice_rb_err e;
	int64_t base = -1;
	uint64_t records;
	int rc;

	if (base_offset)
		*base_offset = -1;
	if (p->log->started)
		return -EBUSY;
	e = sluice_rb_batch_validate(batch, len, NULL, NULL);
	if (e != SLUICE_RB_OK)
		return -EBADMSG;
	records = (uint64_t)sluice_be32_get(batch + 57);
	pthread_mutex_lock(&w->sync_lock);
	if (part_parked(p)) {
		/* A previous ENOSPC: try the parked write now, then the new batch. */
		rc = part_service(w, p, sluice_mono_ns(), true) ? part_drain(w, p) : 0;
		if (rc) {
			shed_count(p, shed_reason_of(rc), records);
			goto out;
		}
	}
	rc = part_append(w, p, batch, len, sluice_mono_ns(), &base, &why);
	if (rc == -EAGAIN) {
		rc = part_drain(w, p);
		if (!rc)
			rc = part_append(w, p, batch, len, sluice_mono_ns(), &base, &why);
	}
	if (rc) {
		if (rc != -EBADMSG && rc != -EMSGSIZE)
			shed_count(p, shed_reason_of(rc), records);
		goto out;
	}
	if (base_offset)
		*base_offset = base;
	rc = part_drain(w, p);
out:
	pthread_mutex_unlock(&w->sync_lock);
	return rc;
}

/* At close, with writers stopped: commit what is left, trim the tail, write the indexes
 * and the clean-shutdown marker; an unused prepared segment is removed. */
int part_finish(struct sluice_partition *p)
{
	struct sluice_writer *w = p->writer;
	struct segment *prep;
	int rc;

	pthread_mutex_lock(&w->sync_lock);
	rc = part_drain(w, p);
	if (!rc && !atomic_load(&p->failed) && part_idle(p))
		rc = part_seal_active(p);
	prep = atomic_exchange(&p->prepared, NULL);
	if (prep)
		seg_prepared_remove(p, prep);
	if (!rc && !atomic_load(&p->failed))
		rc = sluice_storage_write_atomic(p->dir, CLEAN_MARKER_NAME, "", 0);
	pthread_mutex_unlock(&w->sync_lock);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Writer threads                                                                             */

int writer_init(struct sluice_writer *w, struct sluice_log *log, uint32_t index)
{
	uint32_t per = log->nparts_cap / log->nwriters + 1;
	uint32_t entries = per * (log->opts.queue_depth + 3);
	int rc;

	w->log = log;
	w->index = index;
	w->cpu = -1;
	pthread_mutex_init(&w->sync_lock, NULL);
	w->parts = calloc(log->nparts_cap ? log->nparts_cap : 1, sizeof(*w->parts));
	w->rings = calloc(log->opts.producers ? log->opts.producers : 1, sizeof(*w->rings));
	w->ring_deq = calloc(log->opts.producers ? log->opts.producers : 1, sizeof(uint64_t));
	w->flush_target = calloc(log->opts.producers ? log->opts.producers : 1, sizeof(uint64_t));
	if (!w->parts || !w->rings || !w->ring_deq || !w->flush_target)
		return -ENOMEM;
	/* Room for every partition's writes, fdatasync and preallocation at once. */
	if (entries < RING_ENTRIES_MIN)
		entries = RING_ENTRIES_MIN;
	if (entries > RING_ENTRIES_MAX)
		entries = RING_ENTRIES_MAX;
	rc = io_uring_queue_init(entries, &w->ring, 0);
	if (rc) {
		sluice_storage_log("writer %u: io_uring_queue_init: %s", index, strerror(-rc));
		return rc;
	}
	w->ring_ready = true;
	return 0;
}

/* Fixed buffers spare the kernel a page walk and pin per write. Optional: without them
 * (RLIMIT_MEMLOCK, old kernels) writes use ordinary buffers. */
int writer_register(struct sluice_writer *w)
{
	uint32_t total = 0, k = 0;
	struct iovec *iov;
	int rc;

	if (!w->nparts || w->log->opts.no_fixed_buffers)
		return 0;
	for (uint32_t i = 0; i < w->nparts; i++)
		total += w->parts[i]->nslots;
	iov = calloc(total, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	for (uint32_t i = 0; i < w->nparts; i++) {
		for (uint32_t b = 0; b < w->parts[i]->nslots; b++, k++) {
			iov[k].iov_base = w->parts[i]->slots[b].mem;
			iov[k].iov_len = w->parts[i]->slots[b].cap;
		}
	}
	rc = io_uring_register_buffers(&w->ring, iov, total);
	free(iov);
	if (rc) {
		sluice_storage_log("writer %u: io_uring_register_buffers: %s (using plain buffers)",
				   w->index, strerror(-rc));
		return 0;
	}
	w->registered = true;
	k = 0;
	for (uint32_t i = 0; i < w->nparts; i++)
		for (uint32_t b = 0; b < w->parts[i]->nslots; b++)
			w->parts[i]->slots[b].buf_index = (int)k++;
	return 0;
}

void writer_fini(struct sluice_writer *w)
{
	if (w->ring_ready)
		io_uring_queue_exit(&w->ring);
	w->ring_ready = false;
	free(w->parts);
	free(w->rings);
	free(w->ring_deq);
	free(w->flush_target);
	pthread_mutex_destroy(&w->sync_lock);
}

static bool writer_idle_done(struct sluice_writer *w)
{
	if (w->npending || w->nheld)
		return false;
	for (uint32_t i = 0; i < w->log->nproducers; i++)
		if (!rte_ring_empty(w->rings[i]))
			return false;
	for (uint32_t i = 0; i < w->nparts; i++) {
		struct sluice_partition *p = w->parts[i];

		/* A parked ENOSPC write is abandoned at stop: recovery handles the tail. */
		if (p->failed_permanent || part_parked(p))
			continue;
		if (!part_idle(p))
			return false;
	}
	return true;
}

static void idle_wait(struct sluice_writer *w, uint64_t *sleep_ns)
{
	bool busy = false;

	for (uint32_t i = 0; i < w->nparts && !busy; i++)
		busy = part_busy(w->parts[i]) || w->parts[i]->closing;
	if (!w->log->opts.writer_idle_sleep) {
		sched_yield();
		return;
	}
	/* Back off from 10 us to 500 us while idle; wake early on a completion. */
	*sleep_ns = *sleep_ns ? *sleep_ns * 2 : 10000;
	if (*sleep_ns > 500000)
		*sleep_ns = 500000;
	if (busy) {
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = (long long)*sleep_ns};
		struct io_uring_cqe *cqe;

		io_uring_wait_cqe_timeout(&w->ring, &cqe, &ts);
	} else {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)*sleep_ns};

		nanosleep(&ts, NULL);
	}
}

/*
 * sluice_log_flush_request() covers every batch enqueued before it. Forcing one pass is not
 * enough: a partition without a free slot cannot flush in that pass, and a pass takes at
 * most a burst per ring. So the writer notes how many batches each ring holds now, forces
 * flushes until it has dequeued and appended them all, and then owes a flush to every
 * partition still holding appended batches, paid as soon as a slot is free.
 */
static void flush_request_begin(struct sluice_writer *w)
{
	for (uint32_t i = 0; i < w->log->nproducers; i++)
		w->flush_target[i] = w->ring_deq[i] + rte_ring_count(w->rings[i]);
	w->flush_active = true;
}

static void flush_request_check(struct sluice_writer *w)
{
	if (!w->flush_active || w->npending)
		return;
	for (uint32_t i = 0; i < w->log->nproducers; i++)
		if (w->ring_deq[i] < w->flush_target[i])
			return;
	for (uint32_t i = 0; i < w->nparts; i++)
		if (w->parts[i]->slots[w->parts[i]->fill].batches)
			w->parts[i]->flush_owed = true;
	w->flush_active = false;
}

static void *writer_main(void *arg)
{
	struct sluice_writer *w = arg;
	struct sluice_log *log = w->log;
	uint64_t sleep_ns = 0;
	char name[16];

	snprintf(name, sizeof(name), "sluice-wr%u", w->index);
	pthread_setname_np(pthread_self(), name);
	/* Idle back-off sleeps are 10-500 us: the default 50 us timer slack would dominate. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	if (w->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			sluice_storage_log("writer %u: cannot pin to CPU %d", w->index, w->cpu);
	}
	for (;;) {
		uint64_t now = sluice_mono_ns();
		/* Partner: the release store in sluice_log_stop(). */
		bool stopping = atomic_load_explicit(&log->stop, memory_order_acquire);
		/* Partner: the release increment in sluice_log_flush_request(). */
		uint64_t fr = atomic_load_explicit(&log->flush_requests, memory_order_acquire);
		unsigned work;

		if (fr != w->flush_seen) {
			w->flush_seen = fr;
			flush_request_begin(w);
		}
		work = reap(w, now);
		work += drain_rings(w, now);
		flush_request_check(w);
		for (uint32_t i = 0; i < w->nparts; i++) {
			struct sluice_partition *p = w->parts[i];
			enum flush_kind k;

			work += part_service(w, p, now, false);
			k = flush_due(p, now, stopping || w->flush_active || p->flush_owed);
			if (k != FLUSH_NONE) {
				flush_fill(w, p, now, k, NULL);
				work++;
			}
		}
		if (w->to_submit) {
			io_uring_submit(&w->ring);
			w->to_submit = 0;
		}
		if (stopping && writer_idle_done(w))
			break;
		CNT_ADD(w->passes, 1);
		if (work) {
			sleep_ns = 0;
			CNT_ADD(w->busy_passes, 1);
			CNT_ADD(w->busy_ns, sluice_mono_ns() - now);
			continue;
		}
		idle_wait(w, &sleep_ns);
		CNT_ADD(w->idle_ns, sluice_mono_ns() - now);
	}
	stall_end(w, sluice_mono_ns());
	return NULL;
}

int writer_start(struct sluice_writer *w)
{
	int rc;

	w->threaded = true;
	rc = pthread_create(&w->thread, NULL, writer_main, w);
	if (rc) {
		w->threaded = false;
		sluice_storage_log("writer %u: pthread_create: %s", w->index, strerror(rc));
		return -rc;
	}
	w->thread_started = true;
	return 0;
}

void writer_join(struct sluice_writer *w)
{
	if (!w->thread_started)
		return;
	pthread_join(w->thread, NULL);
	w->thread_started = false;
	w->threaded = false;
}
