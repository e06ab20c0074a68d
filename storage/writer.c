/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Writers: the io_uring append path, group commit and the durable watermark.
 *
 * Threading contract: everything here runs in the partition's writer thread, or, before
 * sluice_log_start / after sluice_log_stop, in the thread calling append_sync or close (which
 * hold the writer's sync_lock). The only values other threads read are the atomics in
 * struct sluice_partition and segment->durable_bytes, and the segment list / index arrays,
 * which are changed under the partition lock.
 *
 * Per partition there are two aligned write-combining buffers. Batches are copied into the
 * fill buffer; a flush writes the whole fill buffer (with O_DIRECT rounded up to the block
 * size, zero padded) linked to an IORING_FSYNC_DATASYNC fsync, and switches to the other
 * buffer, carrying over the partial tail block so that the next flush rewrites it. One flush
 * per partition is in flight at a time, so the tail block is never written twice at once;
 * while it is in flight the next group collects in the other buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "storage_internal.h"

#define RING_ENTRIES 256
#define BURST 32
#define ENOSPC_RETRY_NS (100ull * 1000 * 1000)
#define HUGE_2M (2ull << 20)

/* ---------------------------------------------------------------------------------------- */
/* Buffers                                                                                    */

static int buf_alloc(struct wbuf *b, size_t cap)
{
	size_t huge_len = (cap + HUGE_2M - 1) & ~(HUGE_2M - 1);
	void *m;

	/* Hugepages save TLB misses on the copy and pin cheaply when registered; most hosts
	 * reserve none for us, so fall back to ordinary (page-aligned) memory. */
	m = mmap(NULL, huge_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
		 -1, 0);
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
	for (int i = 0; i < 2; i++) {
		int rc = buf_alloc(&p->bufs[i], p->log->opts.write_buffer_bytes);

		if (rc) {
			sluice_storage_log("%s: write buffer of %zu bytes: %s", p->dir,
					   p->log->opts.write_buffer_bytes, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

void part_buffers_fini(struct sluice_partition *p)
{
	for (int i = 0; i < 2; i++) {
		if (p->bufs[i].mem)
			munmap(p->bufs[i].mem, p->bufs[i].map_len);
		p->bufs[i].mem = NULL;
	}
}

/* The fill buffer starts at the block that holds the log end; with O_DIRECT its partial
 * head is read back so that the first flush rewrites that block whole. */
int part_tail_load(struct sluice_partition *p)
{
	struct segment *s = p->active;
	struct wbuf *b = &p->bufs[0];

	p->fill = 0;
	b->file_pos = s->size / p->align * p->align;
	b->len = (size_t)(s->size - b->file_pos);
	b->new_bytes = 0;
	b->batches = 0;
	b->end_offset = p->log_end_offset;
	if (b->len) {
		ssize_t n = pread(s->fd, b->mem, p->align, (off_t)b->file_pos);

		if (n < (ssize_t)b->len) {
			int rc = n < 0 ? -errno : -EIO;

			sluice_storage_log("%s: reading tail block of segment %" PRId64 ": %s",
					   p->dir, s->base_offset, strerror(-rc));
			return rc;
		}
	}
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

static enum sluice_prealloc prealloc_mode(const struct sluice_log *log)
{
	return log->opts.prealloc;
}

/* DEFAULT adapts: small group commits (latency-bound) get zero-filled blocks ahead, whose
 * extra write is cheap at their rate; large ones (throughput-bound) get fallocate, where the
 * extent conversion is amortised over megabytes and a second write of every byte is not. */
#define ADAPTIVE_ZERO_BELOW (256u << 10)

/* Keep preallocated space ahead of the tail, asynchronously (IORING_OP_FALLOCATE runs in an
 * io-wq worker), so that a group commit rarely also commits an allocation. Not fatal: a
 * failed fallocate leaves the write to allocate (and to report ENOSPC). */
/*
 * ZERO: keep blocks ahead of the tail written with zeros, so that the next group commits are
 * true overwrites: ext4 then takes the O_DIRECT write inline (no io-wq hop) and the fdatasync
 * has no extent or size change to journal. It costs a second write of the log's bytes.
 */
/* 4 MiB per zero write: measured p99 of 4 KiB commits ~0.25 ms vs ~0.6-1 ms with 1 MiB and
 * 256 KiB chunks, whose more frequent zero writes (and the allocation their first overwrite
 * commits) disturb more commits. */
#define ZERO_CHUNK (4u << 20)
static uint8_t *zero_buf;
static pthread_once_t zero_once = PTHREAD_ONCE_INIT;

static void zero_init(void)
{
	void *m =
		mmap(NULL, ZERO_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return;
	memset(m, 0, ZERO_CHUNK); /* real pages, not the shared zero page, for O_DIRECT */
	zero_buf = m;
}

/* A data write ending past the start of a zero write in flight must wait for it. */
static bool zero_conflict(const struct sluice_partition *p, uint64_t end_pos)
{
	return p->prealloc_in_flight && p->prealloc_zero && end_pos > p->prealloc_start;
}

/*
 * Keep space prepared ahead of the tail, asynchronously, one operation at a time: fallocate
 * (runs in an io-wq worker) or a write of zeros. Not fatal: when it fails the segment goes on
 * without (the data write then allocates, and reports ENOSPC itself).
 */
static void maybe_prealloc(struct sluice_writer *w, struct sluice_partition *p, uint64_t upto,
			   uint64_t data_end)
{
	struct segment *s = p->active;
	enum sluice_prealloc mode = prealloc_mode(p->log);
	uint64_t ahead = p->log->opts.prealloc_bytes ? p->log->opts.prealloc_bytes : 16u << 20;
	uint64_t limit =
		(p->topt->segment_bytes + SLUICE_DIO_ALIGN - 1) & ~(uint64_t)(SLUICE_DIO_ALIGN - 1);
	struct io_uring_sqe *sqe;
	uint64_t start, len;
	bool zero = mode == SLUICE_PREALLOC_ZERO ||
		(mode == SLUICE_PREALLOC_DEFAULT && p->ewma_write_bytes < ADAPTIVE_ZERO_BELOW);

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
		pthread_once(&zero_once, zero_init);
		if (!zero_buf)
			return;
		len = ZERO_CHUNK;
	}
	if (start + len > limit)
		len = limit - start;
	sqe = get_sqe(w);
	if (!sqe)
		return;
	if (zero)
		io_uring_prep_write(sqe, s->fd, zero_buf, (unsigned)len, start);
	else
		io_uring_prep_fallocate(sqe, s->fd, 0, (off_t)start, (off_t)len);
	io_uring_sqe_set_data(sqe, &p->ops[OP_PREALLOC]);
	p->prealloc_in_flight = true;
	p->prealloc_zero = zero;
	p->prealloc_start = start;
	p->prealloc_target = start + len;
	w->to_submit++;
}

/* An fdatasync for everything written so far, linked behind the write just queued or alone. */
static int prep_sync(struct sluice_writer *w, struct sluice_partition *p, bool linked,
		     int64_t target_offset, uint64_t target_bytes, uint64_t now)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_fsync(sqe, p->active->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(sqe, &p->ops[OP_SYNC]);
	p->sync_in_flight = true;
	p->sync_linked = linked;
	p->sync_target_offset = target_offset;
	p->sync_target_bytes = target_bytes;
	p->sync_first_ns = p->unsynced_write_ns ? p->unsynced_write_ns : now;
	p->unsynced_write_ns = 0;
	p->sync_wanted = false;
	w->to_submit++;
	return 0;
}

/*
 * Queue the write of the flight buffer from op_start. When no fdatasync is in flight it is
 * linked behind the write (one submit, one round trip: the small-commit latency case);
 * otherwise the write goes alone and overlaps the running fdatasync, and a new one covers it
 * when that completes (the throughput case). Rewriting the tail block of a write whose
 * fdatasync is still running is safe: the bytes it already holds are rewritten unchanged.
 */
static int prep_write(struct sluice_writer *w, struct sluice_partition *p, uint64_t now)
{
	struct wbuf *fb = &p->bufs[!p->fill];
	struct segment *s = p->active;
	struct io_uring_sqe *sqe;
	unsigned len = (unsigned)(p->op_end - p->op_start);
	bool link = p->op_sync && !p->sync_in_flight;

	if (io_uring_sq_space_left(&w->ring) < 2) {
		io_uring_submit(&w->ring);
		w->to_submit = 0;
	}
	sqe = get_sqe(w);
	if (!sqe)
		return -EBUSY;
	if (fb->buf_index >= 0)
		io_uring_prep_write_fixed(sqe, s->fd, fb->mem + p->op_start, len,
					  fb->file_pos + p->op_start, fb->buf_index);
	else
		io_uring_prep_write(sqe, s->fd, fb->mem + p->op_start, len,
				    fb->file_pos + p->op_start);
	io_uring_sqe_set_data(sqe, &p->ops[OP_WRITE]);
	w->to_submit++;
	p->op_write_err = 0;
	p->op_short = false;
	if (!p->unsynced_write_ns)
		p->unsynced_write_ns = now;
	if (link) {
		/* A short or failed write breaks the link: the fsync then completes with
		 * -ECANCELED and is queued again with the rest of the write. */
		sqe->flags |= IOSQE_IO_LINK;
		return prep_sync(w, p, true, fb->end_offset, fb->file_pos + fb->len, now);
	}
	return 0;
}

/* Start a group commit of the fill buffer and switch to the other buffer. */
static int submit_flush(struct sluice_writer *w, struct sluice_partition *p, uint64_t now)
{
	struct wbuf *b = &p->bufs[p->fill], *next = &p->bufs[!p->fill];
	size_t end = (b->len + p->align - 1) / p->align * p->align;
	size_t tail = b->len % p->align;

	if (end > b->len)
		memset(b->mem + b->len, 0, end - b->len);
	next->file_pos = b->file_pos + (b->len - tail);
	memcpy(next->mem, b->mem + b->len - tail, tail);
	next->len = tail;
	next->new_bytes = 0;
	next->batches = 0;
	next->end_offset = b->end_offset;
	p->fill = !p->fill;
	p->in_flight = true;
	p->flush_owed = false;
	p->op_start = 0;
	p->op_end = end;
	p->op_sync = !p->topt->flush_none;
	p->first_unsynced_ns = 0;
	p->ewma_write_bytes = p->ewma_write_bytes - p->ewma_write_bytes / 8 + b->new_bytes / 8;
	maybe_prealloc(w, p, b->file_pos + end + b->cap, b->file_pos + end);
	return prep_write(w, p, now);
}

static void hist_add(struct sluice_partition *p, uint64_t ns)
{
	uint64_t us = (ns + 999) / 1000;
	int i = 0;

	while (i < SLUICE_HIST_BUCKETS - 1 && (1ull << i) < us)
		i++;
	CNT_ADD(p->fsync_hist[i], 1);
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

static void hist_bucket_add(_Atomic uint64_t *hist, uint64_t us, uint64_t n)
{
	int i = 0;

	while (i < SLUICE_HIST_BUCKETS - 1 && (1ull << i) < us)
		i++;
	CNT_ADD(hist[i], n);
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

static void publish(struct sluice_partition *p, int64_t offset, uint64_t bytes)
{
	lat_durable(p, offset);
	/* Partner of these release stores: acquire loads in reader.c and
	 * sluice_partition_durable_offset(). Bytes first, so that a reader that sees the
	 * offset also finds the bytes. */
	atomic_store_explicit(&p->active->durable_bytes, bytes, memory_order_release);
	atomic_store_explicit(&p->durable_offset, offset, memory_order_release);
}

static void write_complete(struct sluice_partition *p, int res, uint64_t now)
{
	struct wbuf *fb = &p->bufs[!p->fill];
	size_t expected = p->op_end - p->op_start;

	if (res < 0) {
		CNT_ADD(p->write_errors, 1);
		if (res == -ENOSPC || res == -EDQUOT) {
			/* Nothing was synced past the durable watermark: rewrite the same bytes
			 * from the same position once space is back. */
			set_failed(p, res, false, "write");
			p->op_parked = true;
			p->retry_ns = now + ENOSPC_RETRY_NS;
		} else {
			set_failed(p, res, true, "write");
		}
		p->op_write_err = res;
		return; /* in_flight stays set: the buffer is kept for the retry */
	}
	if ((size_t)res < expected) {
		p->op_start += (size_t)res;
		p->op_short = true;
		p->op_requeue = true;
		return;
	}
	p->op_start = p->op_end;
	p->written_offset = fb->end_offset;
	p->written_bytes = fb->file_pos + fb->len;
	p->in_flight = false;
	if (!p->op_sync)
		publish(p, p->written_offset, p->written_bytes); /* flush = none */
	else if (p->sync_in_flight && p->sync_linked)
		p->sync_linked = false; /* the fdatasync linked behind this write covers it */
	else
		p->sync_wanted = true;
	if (atomic_load_explicit(&p->failed, memory_order_relaxed) && !p->failed_permanent) {
		sluice_storage_log("%s: write succeeded again, partition resumed", p->dir);
		atomic_store_explicit(&p->failed, false, memory_order_release);
	}
}

static void sync_complete(struct sluice_partition *p, int res, uint64_t now)
{
	bool linked = p->sync_linked;

	p->sync_in_flight = false;
	p->sync_linked = false;
	if (res == -ECANCELED && linked && (p->op_write_err || p->op_short)) {
		/* The write before it failed or was short: it never ran. It may have taken over
		 * the sync request of an earlier write that completed (prep_sync clears
		 * sync_wanted): ask again, or after ENOSPC those written bytes would wait for
		 * the parked write to succeed, i.e. for free space, to become durable. */
		if (!p->op_write_err)
			p->unsynced_write_ns = p->sync_first_ns;
		if (p->written_offset >
		    atomic_load_explicit(&p->durable_offset, memory_order_relaxed))
			p->sync_wanted = true;
		return;
	}
	if (res < 0) {
		/* Never retried: after a failed fdatasync the kernel may have dropped the dirty
		 * pages and a second fdatasync could report success for data that is gone. */
		CNT_ADD(p->fsync_errors, 1);
		set_failed(p, res, true, "fdatasync");
		return;
	}
	publish(p, p->sync_target_offset, p->sync_target_bytes);
	CNT_ADD(p->fsyncs, 1);
	hist_add(p, now - p->sync_first_ns);
}

static void on_cqe(struct sluice_partition *p, enum op_kind kind, int res, uint64_t now)
{
	switch (kind) {
	case OP_WRITE:
		write_complete(p, res, now);
		break;
	case OP_SYNC:
		sync_complete(p, res, now);
		break;
	case OP_PREALLOC:
		p->prealloc_in_flight = false;
		if (res < 0) {
			if (!p->logged_prealloc)
				sluice_storage_log(
					"%s: preallocation: %s (writes allocate instead)", p->dir,
					strerror(-res));
			p->logged_prealloc = true;
			/* give up for this segment rather than retry at every flush */
			p->active->prealloc_end = UINT64_MAX / 2;
		} else if (p->prealloc_zero) {
			p->active->prealloc_end = p->prealloc_start + (uint64_t)res;
		} else {
			p->active->prealloc_end = p->prealloc_target;
		}
		break;
	default:
		break;
	}
}

static unsigned reap(struct sluice_writer *w, uint64_t now)
{
	struct io_uring_cqe *cqes[BURST];
	unsigned total = 0, n;

	while ((n = io_uring_peek_batch_cqe(&w->ring, cqes, BURST)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			struct uop *op = io_uring_cqe_get_data(cqes[i]);

			on_cqe(op->p, op->kind, cqes[i]->res, now);
		}
		io_uring_cq_advance(&w->ring, n);
		total += n;
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
	rc = io_uring_wait_cqe(&w->ring, &cqe);
	return rc == -EINTR ? 0 : rc;
}

/*
 * Requeue short writes; retry a parked (ENOSPC) write when its time has come; start the
 * fdatasync that covers completed writes once the previous one is done.
 */
static unsigned part_service(struct sluice_writer *w, struct sluice_partition *p, uint64_t now,
			     bool retry_now)
{
	unsigned n = 0;

	if (p->failed_permanent)
		return 0;
	/* a canceled linked fsync must be reaped before the write goes out again */
	if (p->sync_in_flight && p->sync_linked && (p->op_requeue || p->op_parked))
		return 0;
	if (p->sync_wanted && !p->sync_in_flight) {
		prep_sync(w, p, false, p->written_offset, p->written_bytes, now);
		n++;
	}
	if (p->op_requeue) {
		p->op_requeue = false;
		prep_write(w, p, now);
		n++;
	} else if (p->op_parked && (retry_now || now >= p->retry_ns)) {
		p->op_parked = false;
		p->op_start = p->op_start / p->align * p->align;
		prep_write(w, p, now);
		n++;
	}
	return n;
}

static bool part_busy(const struct sluice_partition *p)
{
	return (p->in_flight && !p->op_parked) || p->sync_in_flight || p->sync_wanted;
}

static bool flush_due(const struct sluice_partition *p, uint64_t now, bool force)
{
	const struct wbuf *b = &p->bufs[p->fill];

	if (p->in_flight || !b->batches || p->failed_permanent ||
	    zero_conflict(p, b->file_pos + b->len + p->align))
		return false;
	return force || b->new_bytes >= p->topt->flush_bytes ||
		now - p->first_unsynced_ns >= p->topt->flush_interval_us * 1000 ||
		b->len >= b->cap - b->cap / 4;
}

/* Bring the partition to "nothing unsynced, nothing in flight" (roll, append_sync, close).
 * Completions of the writer's other partitions are handled on the way. */
static int part_drain(struct sluice_writer *w, struct sluice_partition *p)
{
	for (;;) {
		uint64_t now = sluice_now_ns();
		int rc;

		reap(w, now);
		if (p->failed_permanent)
			return -atomic_load(&p->last_errno);
		part_service(w, p, now, false);
		if (p->op_parked) {
			/* the sync of what was written before the ENOSPC still goes out */
			if (w->to_submit) {
				io_uring_submit(&w->ring);
				w->to_submit = 0;
			}
			return -atomic_load(&p->last_errno);
		}
		if (!p->in_flight && p->bufs[p->fill].batches &&
		    !zero_conflict(p,
				   p->bufs[p->fill].file_pos + p->bufs[p->fill].len + p->align)) {
			rc = submit_flush(w, p, now);
			if (rc)
				return rc;
		}
		/* a preallocation still running could extend a segment after it is sealed */
		if (!p->in_flight && !p->sync_in_flight && !p->sync_wanted &&
		    !p->prealloc_in_flight && !p->bufs[p->fill].batches)
			return 0;
		if (!p->sync_in_flight && !p->in_flight && !p->prealloc_in_flight)
			continue; /* part_service starts the fdatasync */
		rc = wait_some(w);
		if (rc)
			return rc;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Append and roll                                                                            */

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
	struct segment *s = p->active;
	int rc = 0;

	if (ftruncate(s->fd, (off_t)s->size) != 0 || fdatasync(s->fd) != 0)
		return fail_io(p, -errno, "truncating the segment tail");
	pthread_mutex_lock(&p->lock);
	rc = seg_write_indexes(p, s);
	pthread_mutex_unlock(&p->lock);
	/* Not fatal (e.g. ENOSPC): an index is a hint that a later open sanity-checks and
	 * rebuilds from the batches when it is missing or short. */
	(void)rc;
	return 0;
}

static int part_roll(struct sluice_writer *w, struct sluice_partition *p)
{
	struct segment *old = p->active, *s;
	int rc;

	rc = part_drain(w, p);
	if (rc)
		return rc;
	rc = part_seal_active(p);
	if (rc)
		return rc;
	rc = seg_create_file(p, p->log_end_offset, &s);
	if (rc)
		return fail_io(p, rc, "creating a segment");
	pthread_mutex_lock(&p->lock);
	rc = part_list_add(p, s);
	if (!rc) {
		old->sealed = true;
		p->active = s;
	}
	pthread_mutex_unlock(&p->lock);
	if (rc) {
		close(s->fd);
		free(s);
		return rc;
	}
	close(old->fd);
	old->fd = -1;
	atomic_fetch_add(&p->nsegments, 1);
	/* Everything below the new base is sealed and synced: recovery may start here. */
	rc = part_write_checkpoint(p, s->base_offset);
	if (rc)
		sluice_storage_log("%s: checkpoint not advanced (recovery will scan more): %s",
				   p->dir, strerror(-rc));
	p->bufs[p->fill].file_pos = 0;
	p->bufs[p->fill].len = 0;
	p->bufs[p->fill].new_bytes = 0;
	p->bufs[p->fill].batches = 0;
	s->prealloc_end = 0;
	return 0;
}

/*
 * Copy one batch into the fill buffer, assigning its offsets.
 * @return 0; -EAGAIN when the fill buffer has no room (flush first); -EBADMSG, -EMSGSIZE,
 *         or the partition's error when it is failed (the caller sheds the batch).
 */
static int part_append(struct sluice_writer *w, struct sluice_partition *p, const uint8_t *data,
		       size_t len, uint64_t now, int64_t *base_out)
{
	struct segment *s = p->active;
	struct sluice_rb_header h;
	struct wbuf *b;
	uint64_t pos;
	int rc;

	if (sluice_rb_header_decode(data, len, &h) != SLUICE_RB_OK ||
	    (size_t)h.batch_length + SLUICE_RB_LOG_OVERHEAD != len || h.last_offset_delta < 0)
		return -EBADMSG;
	if (atomic_load_explicit(&p->failed, memory_order_relaxed))
		return p->failed_permanent ? -EIO : -atomic_load(&p->last_errno);
	if (len + p->align > p->bufs[0].cap) {
		if (!p->logged_oversize)
			sluice_storage_log("%s: batch of %zu bytes exceeds write_buffer_bytes %zu",
					   p->dir, len, p->bufs[0].cap);
		p->logged_oversize = true;
		return -EMSGSIZE;
	}
	if (s->size > 0 &&
	    (s->size + len > p->topt->segment_bytes || s->size + len > INT32_MAX ||
	     (p->topt->segment_ms &&
	      sluice_wall_ms() - s->created_ms >= (int64_t)p->topt->segment_ms))) {
		rc = part_roll(w, p);
		if (rc)
			return rc;
		s = p->active;
	}
	b = &p->bufs[p->fill];
	if (b->len + len > b->cap)
		return -EAGAIN;
	pos = b->file_pos + b->len;
	memcpy(b->mem + b->len, data, len);
	h.base_offset = p->log_end_offset;
	sluice_rb_set_base_offset(b->mem + b->len, h.base_offset);
	if (s->size == 0)
		s->created_ms = sluice_wall_ms();
	pthread_mutex_lock(&p->lock);
	rc = seg_note_batch(s, p->topt->index_interval_bytes, &h, pos, len);
	pthread_mutex_unlock(&p->lock);
	if (rc)
		return rc;
	b->len += len;
	b->new_bytes += len;
	b->batches++;
	p->log_end_offset = h.base_offset + h.last_offset_delta + 1;
	b->end_offset = p->log_end_offset;
	if (!p->first_unsynced_ns)
		p->first_unsynced_ns = now;
	CNT_ADD(p->appended_batches, 1);
	CNT_ADD(p->appended_records, (uint64_t)h.last_offset_delta + 1);
	CNT_ADD(p->appended_bytes, len);
	atomic_fetch_add(&p->bytes_on_disk, len);
	atomic_store_explicit(&p->log_end_pub, p->log_end_offset, memory_order_relaxed);
	if (base_out)
		*base_out = h.base_offset;
	return 0;
}

/* One batch from a ring: append, or shed and count; the buffer goes back to its pool. */
static int deliver(struct sluice_writer *w, struct sluice_batch *bt, uint64_t now)
{
	struct sluice_log *log = w->log;
	struct sluice_partition *p =
		bt->partition_id < log->nparts ? log->parts[bt->partition_id] : NULL;
	int rc;

	if (!p || p->writer != w) {
		if (!w->logged_misrouted)
			sluice_storage_log("writer %u: batch for partition id %u it does not own",
					   w->index, bt->partition_id);
		w->logged_misrouted = true;
		CNT_ADD(w->misrouted, 1);
		goto put;
	}
	rc = part_append(w, p, bt->data, bt->len, now, NULL);
	if (rc == -EAGAIN && !p->in_flight && !p->failed_permanent &&
	    !zero_conflict(p, p->bufs[p->fill].file_pos + p->bufs[p->fill].len + p->align)) {
		submit_flush(w, p, now);
		rc = part_append(w, p, bt->data, bt->len, now, NULL);
	}
	if (rc == -EAGAIN)
		return rc;
	if (rc) /* Partner: the acquire fence after the daemon reads storage's counters. */
		CNT_ADD_RELEASE(p->shed_records, bt->records);
	else if (bt->ingest_tsc)
		lat_push(p, p->log_end_offset, bt->ingest_tsc);
put:
	if (bt->pool)
		rte_mempool_put(bt->pool, bt);
	return 0;
}

static unsigned drain_rings(struct sluice_writer *w, uint64_t now)
{
	unsigned n = 0;
	uint32_t nr = w->log->nproducers;

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
	return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Synchronous API (no writer threads)                                                         */

int sluice_partition_append_sync(struct sluice_partition *p, uint8_t *batch, size_t len,
				 int64_t *base_offset)
{
	struct sluice_writer *w = p->writer;
	enum sluice_rb_err e;
	int64_t base = -1;
	int rc;

	if (base_offset)
		*base_offset = -1;
	if (p->log->started)
		return -EBUSY;
	e = sluice_rb_batch_validate(batch, len, NULL, NULL);
	if (e != SLUICE_RB_OK)
		return -EBADMSG;
	pthread_mutex_lock(&w->sync_lock);
	if (p->op_parked) {
		/* A previous ENOSPC: try the parked write now, then the new batch. */
		rc = part_service(w, p, sluice_now_ns(), true) ? part_drain(w, p) : 0;
		if (rc) {
			CNT_ADD(p->shed_records, (uint64_t)sluice_be32_get(batch + 57));
			goto out;
		}
	}
	rc = part_append(w, p, batch, len, sluice_now_ns(), &base);
	if (rc == -EAGAIN) {
		rc = part_drain(w, p);
		if (!rc)
			rc = part_append(w, p, batch, len, sluice_now_ns(), &base);
	}
	if (rc) {
		if (rc != -EBADMSG && rc != -EMSGSIZE)
			CNT_ADD(p->shed_records, (uint64_t)sluice_be32_get(batch + 57));
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
 * and the clean-shutdown marker. */
int part_finish(struct sluice_partition *p)
{
	struct sluice_writer *w = p->writer;
	int rc;

	pthread_mutex_lock(&w->sync_lock);
	rc = part_drain(w, p);
	if (!rc && !atomic_load(&p->failed) && !p->in_flight)
		rc = part_seal_active(p);
	if (!rc && !atomic_load(&p->failed))
		rc = sluice_storage_write_atomic(p->dir, CLEAN_MARKER_NAME, "", 0);
	pthread_mutex_unlock(&w->sync_lock);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Writer threads                                                                             */

int writer_init(struct sluice_writer *w, struct sluice_log *log, uint32_t index)
{
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
	rc = io_uring_queue_init(RING_ENTRIES, &w->ring, 0);
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
	struct iovec *iov;
	int rc;

	if (!w->nparts || w->log->opts.no_fixed_buffers)
		return 0;
	iov = calloc((size_t)w->nparts * 2, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	for (uint32_t i = 0; i < w->nparts; i++) {
		for (int b = 0; b < 2; b++) {
			iov[i * 2 + b].iov_base = w->parts[i]->bufs[b].mem;
			iov[i * 2 + b].iov_len = w->parts[i]->bufs[b].cap;
		}
	}
	rc = io_uring_register_buffers(&w->ring, iov, w->nparts * 2);
	free(iov);
	if (rc) {
		sluice_storage_log("writer %u: io_uring_register_buffers: %s (using plain buffers)",
				   w->index, strerror(-rc));
		return 0;
	}
	w->registered = true;
	for (uint32_t i = 0; i < w->nparts; i++)
		for (int b = 0; b < 2; b++)
			w->parts[i]->bufs[b].buf_index = (int)(i * 2 + (uint32_t)b);
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
	if (w->npending)
		return false;
	for (uint32_t i = 0; i < w->log->nproducers; i++)
		if (!rte_ring_empty(w->rings[i]))
			return false;
	for (uint32_t i = 0; i < w->nparts; i++) {
		struct sluice_partition *p = w->parts[i];

		if (p->failed_permanent)
			continue;
		/* A parked ENOSPC write is abandoned at stop: recovery handles the tail. */
		if (part_busy(p))
			return false;
		if (!p->in_flight && p->bufs[p->fill].batches)
			return false;
		if (p->prealloc_in_flight)
			return false;
	}
	return true;
}

static void idle_wait(struct sluice_writer *w, uint64_t *sleep_ns)
{
	bool busy = false;

	for (uint32_t i = 0; i < w->nparts && !busy; i++)
		busy = part_busy(w->parts[i]);
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
 * enough: a partition whose previous flush is still in flight cannot flush in that pass, and
 * a pass takes at most a burst per ring. So the writer notes how many batches each ring holds
 * now, forces flushes until it has dequeued and appended them all, and then owes a flush to
 * every partition still holding appended batches, paid as soon as its write in flight is done.
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
		if (w->parts[i]->bufs[w->parts[i]->fill].batches)
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
		uint64_t now = sluice_now_ns();
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

			work += part_service(w, p, now, false);
			if (flush_due(p, now, stopping || w->flush_active || p->flush_owed)) {
				submit_flush(w, p, now);
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
			CNT_ADD(w->busy_ns, sluice_now_ns() - now);
			continue;
		}
		idle_wait(w, &sleep_ns);
		CNT_ADD(w->idle_ns, sluice_now_ns() - now);
	}
	return NULL;
}

int writer_start(struct sluice_writer *w)
{
	int rc = pthread_create(&w->thread, NULL, writer_main, w);

	if (rc) {
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
}
