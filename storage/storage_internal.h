/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to storage/: the structures behind sluice_storage.h, shared by log.c (open, close,
 * ids, stats), segment.c (files, indexes, recovery), writer.c (io_uring, group commit,
 * threads), reader.c and retention.c. See log.c for the threading contract.
 */
#ifndef SLUICE_STORAGE_INTERNAL_H
#define SLUICE_STORAGE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <liburing.h>

#include "sluice_storage.h"

#define SEG_NAME_DIGITS 20
/* Partition directories are kept well below PATH_MAX so that every file name built from them
 * fits (and the compiler can prove it). */
#define SLUICE_DIR_MAX 3072
/* O_DIRECT granule. 4 KiB satisfies every block size we meet (512 B and 4 KiB devices). */
#define SLUICE_DIO_ALIGN 4096u
#define CLEAN_MARKER_NAME "clean-shutdown"
#define CHECKPOINT_NAME "recovery-checkpoint"
#define QUARANTINE_DIR "quarantine"
/* Batches per partition whose ingest time waits for durability before entries merge. */
#define LAT_FIFO_CAP 64

/* Relaxed single-writer counter helpers: the owner adds, any thread reads a snapshot. */
#define CNT_ADD(field, n)                                                                 \
	atomic_store_explicit(&(field),                                                   \
			      atomic_load_explicit(&(field), memory_order_relaxed) + (n), \
			      memory_order_relaxed)
#define CNT_GET(field) atomic_load_explicit(&(field), memory_order_relaxed)
/* The same add as a release store: for counts of batches taken off a worker's ring, so that a
 * reader that sees the count (and then fences) also sees the worker's counters of that batch. */
#define CNT_ADD_RELEASE(field, n)                                                         \
	atomic_store_explicit(&(field),                                                   \
			      atomic_load_explicit(&(field), memory_order_relaxed) + (n), \
			      memory_order_release)

struct seg_index_entry {
	uint32_t rel_offset;
	uint32_t pos;
};

struct seg_time_entry {
	int64_t ts;
	uint32_t rel_offset;
};

/*
 * One segment: <base>.log with its sparse indexes kept in memory (written to .index and
 * .timeindex when the segment is sealed or the log is closed cleanly).
 * Fields marked (lock) are changed by the writer under the partition lock and read by
 * readers under it; durable_bytes is the one field readers may read without it.
 */
struct segment {
	int64_t base_offset;
	int fd; /* write fd (O_DIRECT when enabled); -1 once sealed */
	uint64_t size; /* (lock) logical bytes appended, including not yet durable */
	_Atomic uint64_t durable_bytes; /* bytes that survived an fdatasync */
	int64_t next_offset; /* (lock) offset after the last batch */
	int64_t max_ts; /* (lock) largest maxTimestamp, INT64_MIN when empty */
	struct seg_index_entry *idx; /* (lock) */
	uint32_t nidx, idx_cap;
	struct seg_time_entry *tidx; /* (lock) */
	uint32_t ntidx, tidx_cap;
	uint64_t bytes_since_index; /* writer only */
	int64_t created_ms; /* wall clock of the first append in this process, or open time */
	uint64_t prealloc_end; /* writer only: file bytes preallocated so far */
	int refs; /* (lock) the partition's list holds one; each reader one */
	bool sealed;
	bool deleted; /* (lock) removed by retention: files unlinked once refs drop */
};

/* The write-combining buffer: bytes of the active segment from file offset file_pos on. */
struct wbuf {
	uint8_t *mem;
	size_t cap;
	uint64_t file_pos; /* aligned to the I/O granule */
	size_t len; /* valid bytes at mem */
	int64_t end_offset; /* log offset after the last batch in the buffer */
	uint32_t batches; /* batches appended since the buffer was started */
	size_t new_bytes; /* batch bytes appended since the buffer was started */
	size_t map_len;
	bool huge;
	int buf_index; /* index among the ring's registered buffers, -1 if not registered */
};

enum op_kind { OP_WRITE = 0, OP_SYNC = 1, OP_PREALLOC = 2, OP__COUNT };

struct uop {
	struct sluice_partition *p;
	enum op_kind kind;
};

struct sluice_writer;

struct sluice_partition {
	struct sluice_log *log;
	struct sluice_writer *writer;
	uint32_t id;
	uint32_t number; /* partition number within its topic */
	const struct sluice_topic_opts *topt; /* points into log->topics */
	char dir[SLUICE_DIR_MAX];
	int dirfd;
	bool direct; /* segment fds are O_DIRECT */
	size_t align; /* SLUICE_DIO_ALIGN with O_DIRECT, 1 buffered */

	pthread_mutex_t lock; /* guards the segment list and (lock) fields */
	struct segment **segs;
	uint32_t nsegs, segs_cap;
	struct segment *active;

	/* writer-owned append state */
	int64_t log_end_offset;
	int64_t open_end_offset; /* log end at open: durable_records = durable - this */
	struct wbuf bufs[2];
	int fill; /* index of the buffer being filled */
	bool in_flight; /* bufs[!fill] is being written (or parked after ENOSPC) */
	size_t op_start; /* bytes of the flight buffer already written (short writes) */
	size_t op_end; /* bytes to write in the flight buffer (aligned) */
	bool op_sync; /* the write needs an fdatasync (not flush = none) */
	int op_write_err;
	bool op_short;
	uint64_t unsynced_write_ns; /* submit time of the oldest write no fsync covers yet */
	int64_t written_offset; /* log offset after the last completed write */
	uint64_t written_bytes; /* segment bytes after the last completed write */
	bool sync_wanted; /* completed writes that no fdatasync covers yet */
	bool sync_in_flight;
	bool sync_linked; /* the fdatasync in flight is linked behind the write in flight */
	int64_t sync_target_offset; /* what the fdatasync in flight makes durable */
	uint64_t sync_target_bytes;
	uint64_t sync_first_ns;
	uint64_t first_unsynced_ns; /* when the oldest bytes in the fill buffer arrived */
	bool prealloc_in_flight;
	uint64_t prealloc_start; /* the preallocation in flight covers [start, target) */
	bool prealloc_zero; /* ... and it is a write of zeros */
	uint64_t ewma_write_bytes; /* recent group commit size (adaptive preallocation) */
	uint64_t prealloc_target;
	bool logged_prealloc;
	bool op_parked; /* a write failed with ENOSPC and waits for retry_ns */
	bool op_requeue; /* a short write: the remainder goes out on the next pass */
	uint64_t retry_ns; /* ENOSPC: when to try the failed write again */
	bool failed_permanent; /* fdatasync failed or an unrecoverable write error */
	struct uop ops[OP__COUNT];
	bool logged_oversize;
	bool flush_owed; /* a flush request covers the fill buffer: flush as soon as possible */

	_Atomic int64_t durable_offset; /* release store after the sync CQE; acquire in readers */
	_Atomic int64_t forwarded_offset;
	_Atomic int64_t log_start_offset; /* under lock too; atomic for stats */
	_Atomic int64_t log_end_pub; /* log_end_offset as published for stats */
	_Atomic bool failed;
	_Atomic int last_errno;

	_Atomic uint64_t appended_batches, appended_records, appended_bytes;
	_Atomic uint64_t shed_records, fsyncs, write_errors, fsync_errors;
	_Atomic uint64_t fsync_hist[SLUICE_HIST_BUCKETS];
	/* Ingest → durable: writer-owned FIFO of appended batches not yet durable, oldest
	 * first; an entry stands for `batches` batches ending before end_offset, the oldest
	 * of which arrived at ingest_tsc. */
	struct lat_pending {
		int64_t end_offset;
		uint64_t ingest_tsc;
		uint64_t batches;
	} lat_fifo[LAT_FIFO_CAP];
	uint32_t lat_head, lat_len;
	_Atomic uint64_t ingest_durable_hist[SLUICE_HIST_BUCKETS];
	_Atomic uint64_t ingest_durable_sum_us;
	_Atomic uint64_t retention_deleted_segments, retention_dropped_records;
	_Atomic uint64_t bytes_on_disk, nsegments; /* writer and housekeeper: fetch_add */
	_Atomic int64_t oldest_timestamp_ms;
	uint64_t recovery_truncated_bytes;
	uint64_t recovery_ns;
};

struct sluice_writer {
	struct sluice_log *log;
	uint32_t index;
	struct io_uring ring;
	bool ring_ready;
	pthread_t thread;
	bool thread_started;
	int cpu;
	struct sluice_partition **parts; /* partitions owned */
	uint32_t nparts;
	struct rte_ring **rings; /* one per producer */
	/* batches dequeued but not yet appended (the fill buffer was full) */
	struct sluice_batch *pending[64];
	uint32_t npending, pending_head;
	uint64_t flush_seen;
	/* A flush request covers what was in the rings when the writer saw it: per ring, batches
	 * dequeued so far and the count to reach before the request is complete. */
	uint64_t *ring_deq, *flush_target;
	bool flush_active; /* a request's batches are still in the rings or pending */
	pthread_mutex_t sync_lock; /* serialises append_sync callers sharing this ring */
	bool registered; /* buffers registered with the ring */
	unsigned to_submit; /* SQEs prepared since the last io_uring_submit */
	uint32_t ring_rr;
	bool logged_misrouted;
	_Atomic uint64_t misrouted;
	_Atomic uint64_t passes, busy_passes, busy_ns, idle_ns, batches;
};

struct sluice_log {
	char data_dir[SLUICE_DIR_MAX - 128];
	struct sluice_topic_opts *topics;
	char (*topic_names)[SLUICE_TOPIC_NAME_MAX];
	uint32_t ntopics;
	struct sluice_log_opts opts;
	struct sluice_partition **parts;
	uint32_t nparts;
	uint32_t nparts_cap;
	atomic_bool logged_no_direct;
	struct sluice_writer *writers;
	uint32_t nwriters;
	struct rte_ring **rings; /* producers x writers */
	uint32_t nproducers;
	_Atomic bool stop;
	_Atomic uint64_t flush_requests;
	bool started;
	bool stopped;
	pthread_t housekeeper;
	bool housekeeper_started;
	pthread_mutex_t hk_lock;
	pthread_cond_t hk_cond;
};

/* log.c */
uint64_t sluice_now_ns(void);
int64_t sluice_wall_ms(void);
void sluice_storage_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int sluice_fsync_dir(int dirfd);

/* segment.c */
void seg_path(const struct sluice_partition *p, int64_t base, const char *ext, char *out,
	      size_t len);
struct segment *seg_new(int64_t base);
void seg_unref_locked(struct sluice_partition *p, struct segment *s);
int seg_index_add(struct segment *s, int64_t offset, uint32_t pos, int64_t max_ts);
int seg_write_indexes(struct sluice_partition *p, struct segment *s);
int seg_create_file(struct sluice_partition *p, int64_t base, struct segment **out);
int seg_open_fd(struct sluice_partition *p, struct segment *s, bool for_write);
int part_list_add(struct sluice_partition *p, struct segment *s);
int part_load(struct sluice_partition *p);
int seg_note_batch(struct segment *s, uint32_t interval, const struct sluice_rb_header *h,
		   uint64_t pos, size_t bytes);
int64_t seg_lookup_pos(const struct segment *s, int64_t offset, int64_t *entry_offset);
int64_t seg_lookup_time_pos(const struct segment *s, int64_t ts, int64_t *entry_offset);
int part_write_checkpoint(struct sluice_partition *p, int64_t offset);

/* writer.c */
int writer_init(struct sluice_writer *w, struct sluice_log *log, uint32_t index);
void writer_fini(struct sluice_writer *w);
int writer_register(struct sluice_writer *w);
int part_buffers_init(struct sluice_partition *p);
void part_buffers_fini(struct sluice_partition *p);
int part_tail_load(struct sluice_partition *p);
int part_seal_active(struct sluice_partition *p);
int writer_start(struct sluice_writer *w);
void writer_join(struct sluice_writer *w);
int part_finish(struct sluice_partition *p);

/* retention.c */
int part_retention(struct sluice_partition *p, int64_t now_ms);
void part_update_oldest(struct sluice_partition *p, int64_t first_segment_base);

#endif /* SLUICE_STORAGE_INTERNAL_H */
