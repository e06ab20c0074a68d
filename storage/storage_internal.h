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

#include "sluice_time.h"
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
/* The next segment, created ahead of its roll (docs/log-format.md): prepared.log,
 * prepared.index and prepared.timeindex until a roll renames them to <base>.*. */
#define PREPARED_NAME "prepared"
/* Zeros written ahead of the tail per operation (prealloc ZERO): measured p99 of 4 KiB
 * commits ~0.25 ms vs ~0.6-1 ms with 1 MiB and 256 KiB chunks, whose more frequent zero
 * writes (and the allocation their first overwrite commits) disturb more commits. */
#define ZERO_CHUNK (4u << 20)
/* Batches per partition whose ingest time waits for durability before entries merge. */
#define LAT_FIFO_CAP 64
#define ACK_FIFO_CAP 64

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
	/* Roll helper (log.c) -> writer: its <base> name is durable (release; acquire in the
	 * writer, which lists the segment for readers only then). */
	_Atomic bool named;
	struct segment *seal_next; /* roll helper's queue of segments to seal (roll lock) */
	int64_t seal_checkpoint; /* checkpoint to write once it is sealed */
};

/* A write slot's state; slots form a ring per partition, in log order from head to fill. */
enum slot_state {
	SLOT_FREE = 0,
	SLOT_FILL, /* batches are being copied in */
	SLOT_READY, /* flushed, waiting to be submitted (ordering, ring space, a requeue) */
	SLOT_INFLIGHT, /* its write was submitted */
	SLOT_PARKED, /* its write failed: ENOSPC waits for retry_ns, anything else forever */
	SLOT_DONE, /* written, but an earlier slot is not: the prefix stops before it */
};

/*
 * A write slot: an aligned write-combining buffer holding bytes of one segment from file
 * position file_pos on, and then the write of those bytes. queue_depth + 1 per partition:
 * one fills while up to queue_depth are written.
 */
struct wslot {
	uint8_t *mem;
	size_t cap;
	size_t map_len;
	bool huge;
	int buf_index; /* index among the ring's registered buffers, -1 if not registered */
	enum slot_state state;
	struct segment *seg;
	uint64_t file_pos; /* aligned to the I/O granule */
	size_t len; /* valid bytes at mem */
	int64_t end_offset; /* log offset after the last batch in the slot */
	/* The last batch end at or before the last whole block: what a write of whole blocks
	 * only (a "cut" flush, queue_depth > 1) completes. */
	uint64_t cut_pos;
	int64_t cut_offset;
	uint32_t batches; /* batches with bytes no flush has covered yet */
	size_t new_bytes; /* batch bytes appended since the slot started filling */
	uint64_t first_ns; /* when the oldest of those batches arrived */
	bool overlap_prev; /* its first block is the previous write's last: submit after it */
	/* the write */
	size_t op_start; /* bytes already written (short writes) */
	size_t op_end; /* bytes to write (aligned) */
	int64_t w_offset; /* once written (and every earlier slot too): log offset ... */
	uint64_t w_bytes; /* ... and segment bytes complete */
	bool linked; /* an fdatasync is linked behind it */
	bool requeued; /* short write: the rest is queued again */
	int err; /* PARKED: the write's error */
	uint64_t retry_ns; /* PARKED with ENOSPC: when to write it again */
};

enum op_kind { OP_WRITE = 0, OP_SYNC = 1, OP_PREALLOC = 2, OP__COUNT };

struct uop {
	struct sluice_partition *p;
	enum op_kind kind;
	uint32_t slot; /* OP_WRITE */
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

	/* writer-owned append state (writer.c) */
	int64_t log_end_offset;
	int64_t open_end_offset; /* log end at open: durable_records = durable - this */
	struct wslot *slots; /* ring of nslots = queue_depth + 1 */
	struct uop *slot_ops; /* io_uring user data of each slot's write */
	uint32_t nslots;
	uint32_t head; /* oldest slot not free; == fill when nothing is being written */
	uint32_t fill; /* the slot batches are copied into */
	uint32_t writes_in_flight; /* submitted writes whose CQE is not reaped yet */
	/* Every slot before head is written: the contiguous prefix of completed writes. */
	int64_t written_offset;
	uint64_t written_bytes;
	struct segment *written_seg;
	/* What completed fdatasyncs cover (with flush = none: what is written). */
	int64_t synced_offset;
	uint64_t synced_bytes;
	struct segment *synced_seg;
	bool sync_in_flight;
	bool sync_linked; /* the fdatasync in flight is linked behind slot sync_slot's write */
	uint32_t sync_slot;
	int64_t sync_target_offset; /* what the fdatasync in flight makes durable */
	uint64_t sync_target_bytes;
	struct segment *sync_seg;
	uint64_t sync_first_ns;
	uint64_t unsynced_write_ns; /* submit time of the oldest write no fdatasync covers yet */
	bool prealloc_in_flight;
	struct segment *prealloc_seg; /* ... on this segment */
	uint64_t prealloc_start; /* the preallocation in flight covers [start, target) */
	uint64_t prealloc_target;
	bool prealloc_zero; /* ... and it is a write of zeros */
	uint64_t ewma_write_bytes; /* recent group commit size (adaptive preallocation) */
	bool logged_prealloc;
	bool failed_permanent; /* fdatasync failed or an unrecoverable write error */
	/* While writes are parked after ENOSPC, nothing past this offset (the data before the
	 * first parked write) is synced: the retried writes become durable together, once
	 * none is left to retry. */
	int64_t park_floor;
	struct uop sync_op, prealloc_op;
	bool logged_oversize;
	bool flush_owed; /* a flush request covers the fill slot: flush as soon as possible */
	/* Roll (writer side). The active segment is listed (visible to readers) only once the
	 * previous one, `closing`, is durable to its last byte and the active one's name is. */
	struct segment *closing;
	bool active_listed;
	/* Roll helper -> writer: the next segment, prepared (release store; acquire load). */
	_Atomic(struct segment *) prepared;
	_Atomic int roll_err; /* first error of the roll helper for this partition (-errno) */
	/* Roll helper's work for this partition (log->roll_lock). */
	bool roll_want_prepare;
	bool roll_prepare_zero; /* zero-fill the prepared segment (adaptive preallocation) */
	bool roll_logged_prealloc; /* whoever prepares segments: roll helper, or append_sync */
	struct segment *roll_to_name;
	struct segment *roll_seal_head, *roll_seal_tail;

	_Atomic int64_t durable_offset; /* release store after the sync CQE; acquire in readers */
	_Atomic int64_t forwarded_offset;
	_Atomic int64_t log_start_offset; /* under lock too; atomic for stats */
	_Atomic int64_t log_end_pub; /* log_end_offset as published for stats */
	_Atomic bool failed;
	_Atomic int last_errno;

	_Atomic uint64_t appended_batches, appended_records, appended_bytes;
	_Atomic uint64_t shed_records, fsyncs, write_errors, fsync_errors, rolls;
	_Atomic uint64_t shed_reason[SLUICE_STORAGE_SHED__COUNT];
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
	/* Acknowledged mode (sluice_partition_ack_state()): per producer (dataplane worker), the
	 * newest tag appended (writer-owned) and the newest durable one and refused count (the
	 * writer stores, any thread loads). ack_fifo: appended tagged batches not yet durable,
	 * oldest first; an entry holds every producer's newest appended tag when its batch
	 * ended at end_offset (ack_tags[i * nproducers ..]), so a full FIFO can merge into its
	 * newest entry and stay exact. NULL without producers. */
	uint32_t *ack_last;
	_Atomic uint32_t *ack_durable;
	_Atomic uint32_t *ack_refused;
	int64_t *ack_end;
	uint32_t *ack_tags;
	uint32_t ack_head, ack_len, ack_nprod;
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
	int node; /* NUMA node of its partitions' write buffers, -1: first touch */
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
	bool threaded; /* its thread runs: rolls go through the roll helper */
	/* A stall: since stall_start_ns the next batch waited for stall_cause. */
	uint64_t stall_start_ns;
	enum sluice_writer_cause stall_cause;
	_Atomic uint32_t cause; /* published: enum sluice_writer_cause, see log.c */
	_Atomic uint64_t misrouted;
	_Atomic uint64_t passes, busy_passes, busy_ns, idle_ns, batches;
	_Atomic uint64_t stalls[SLUICE_WRITER_CAUSE__COUNT], stall_ns;
	_Atomic uint64_t stall_hist[SLUICE_HIST_BUCKETS];
	/* CQEs a test hook holds back (storage_test_hooks.cqe) */
	struct held_cqe {
		struct uop *op;
		int res;
	} held[64];
	uint32_t nheld;
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
	/* The roll helper thread: prepares, names and seals segments off the writers' path. */
	pthread_t roller;
	bool roller_started;
	bool roll_stop; /* roll_lock */
	pthread_mutex_t roll_lock;
	pthread_cond_t roll_cond;
};

/*
 * Seams for white-box tests (tests/unit/storage, tests/functional/storage); all NULL in
 * production, where each costs one predictable branch.
 */
struct storage_test_op {
	uint32_t slot;
	uint64_t file_pos; /* where the write starts */
	uint32_t len;
	int64_t end_offset; /* log offset complete once it (and every earlier write) is done */
	bool linked; /* OP_SYNC: linked behind a write */
};

struct storage_test_hooks {
	void *arg;
	/* A completion of partition p is about to be handled (writer thread): the hook may
	 * change *res. Returning true holds it back; a held completion is offered again (held
	 * = true) at every pass until the hook returns false. */
	bool (*cqe)(void *arg, struct sluice_partition *p, enum op_kind kind,
		    const struct storage_test_op *op, int *res, bool held);
	/* A roll of partition p reached a point: "preparing", "prepared", "naming", "named",
	 * "sealing", "sealed" (roll helper thread) or "swapped" (writer thread); base is the
	 * base offset of the segment concerned (-1 for a prepared one). */
	void (*roll_point)(void *arg, struct sluice_partition *p, const char *point, int64_t base);
};

extern struct storage_test_hooks storage_test_hooks;

/* log.c */
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
int seg_prepare(struct sluice_partition *p, bool zero, bool dir_sync, struct segment **out);
int seg_name(struct sluice_partition *p, struct segment *s);
int seg_seal(struct sluice_partition *p, struct segment *s);
void seg_prepared_remove(struct sluice_partition *p, struct segment *s);
const uint8_t *seg_zero_chunk(void);

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

/* roll.c: the roll helper thread */
int roller_start(struct sluice_log *log);
void roller_stop(struct sluice_log *log);
void roll_request_prepare(struct sluice_partition *p, bool zero);
void roll_request_name(struct sluice_partition *p, struct segment *s, bool zero_next);
void roll_request_seal(struct sluice_partition *p, struct segment *s);

/* retention.c */
int part_retention(struct sluice_partition *p, int64_t now_ms);
void part_update_oldest(struct sluice_partition *p, int64_t first_segment_base);

#endif /* SLUICE_STORAGE_INTERNAL_H */
