/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The partitioned log: Kafka's on-disk layout written by io_uring writer threads.
 *
 * Layout: <data_dir>/<topic>-<p>/<20-digit base offset>.log, .index, .timeindex.
 *
 * Threads:
 *  - the control thread opens, starts, stops and closes the log, and reads stats;
 *  - dataplane workers enqueue struct sluice_batch pointers on their SPSC ring towards the
 *    partition's writer (sluice_log_ring()), never anything else;
 *  - each writer thread owns a fixed set of partitions: only it appends to them;
 *  - readers (forwarder, tools) read up to the durable offset from any thread.
 */
#ifndef SLUICE_STORAGE_H
#define SLUICE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice_record.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rte_mempool;
struct rte_ring;
struct sluice_log;
struct sluice_partition;
struct sluice_reader;

#define SLUICE_TOPIC_NAME_MAX 64

/**
 * A sealed batch handed from a dataplane worker to a storage writer. It sits at the start of
 * a buffer taken from @p pool; the writer puts the buffer back once the bytes are copied
 * into its write buffer (or the batch is shed), so the dataplane never waits on the disk.
 */
struct sluice_batch {
	struct rte_mempool *pool; /**< owner of this buffer; NULL if not pooled (tests) */
	uint8_t *data; /**< sealed RecordBatch v2; baseOffset is rewritten by the writer */
	uint32_t len; /**< bytes at data */
	uint32_t records; /**< records in the batch (== recordCount) */
	uint32_t partition_id; /**< global id from sluice_log_partition_id() */
	/** Acknowledged mode: non-zero tags a batch whose durability producer @p producer
	 *  waits for (sluice_partition_ack_state()); tags of one (producer, partition) grow by
	 *  one per tagged batch, modulo 2^32, skipping 0. */
	uint32_t ack_tag;
	uint64_t ingest_tsc; /**< rte_rdtsc() when the batch's first record arrived */
	uint32_t producer; /**< the dataplane worker (ring producer) that enqueued it */
	uint32_t reserved;
};

/** Per-topic settings (one table row per key in control's config). */
struct sluice_topic_opts {
	const char *name;
	uint32_t partitions;
	uint64_t segment_bytes; /**< roll when the active segment reaches this size */
	uint64_t segment_ms; /**< roll when the active segment is this old (0 = never) */
	uint64_t retention_bytes; /**< per partition; 0 = unlimited */
	uint64_t retention_ms; /**< 0 = unlimited */
	bool retention_drop_unforwarded; /**< may retention delete segments not yet forwarded */
	/** Nothing forwards this topic (a recorder): retention deletes by size and age alone,
	 * without waiting for sluice_partition_set_forwarded(), and counts nothing as dropped.
	 * false (the default): a segment is deleted only once the forwarder has passed it. */
	bool store_only;
	bool flush_none; /**< never fdatasync: page-cache durability only */
	uint64_t flush_interval_us; /**< group commit deadline */
	uint64_t flush_bytes; /**< group commit size trigger */
	uint32_t index_interval_bytes;
};

/** How segments get their disk space ahead of the tail (see docs/storage.md). */
enum sluice_prealloc {
	SLUICE_PREALLOC_DEFAULT = 0, /**< adaptive: ZERO while group commits are small, else
					FALLOCATE (the measured best of both, docs/storage.md) */
	SLUICE_PREALLOC_NONE, /**< every group commit also commits the file growth */
	SLUICE_PREALLOC_FALLOCATE, /**< fallocate() prealloc_bytes ahead, asynchronously */
	SLUICE_PREALLOC_ZERO, /**< write zeros ahead: commits become true overwrites (2x writes) */
};

/** Preallocation ahead of a segment's tail when sluice_log_opts.prealloc_bytes is 0, in MiB
 *  (also storage.prealloc_bytes's default, storage/config_keys.c). */
#define SLUICE_STORAGE_PREALLOC_MB_DEFAULT 16
#define SLUICE_STORAGE_PREALLOC_BYTES_DEFAULT (SLUICE_STORAGE_PREALLOC_MB_DEFAULT * (1u << 20))
/** Ring entries when sluice_log_opts.ring_size is 0 (also storage.ring_size's default). */
#define SLUICE_LOG_RING_SIZE_DEFAULT 1024
/** storage.write_buffer's default, and what write_buffer_bytes = 0 means. */
#define SLUICE_LOG_WRITE_BUFFER_MB_DEFAULT 1

struct sluice_log_opts {
	const char *data_dir;
	const struct sluice_topic_opts *topics;
	uint32_t ntopics;
	uint32_t writers; /**< writer threads; partitions are spread round-robin */
	uint32_t producers; /**< dataplane workers: one SPSC ring per (producer, writer) */
	uint32_t ring_size; /**< entries per ring (power of two) */
	int direct_io; /**< 1 = require O_DIRECT, 0 = buffered, -1 = auto (fallback logged) */
	size_t write_buffer_bytes; /**< one aligned write-combining buffer (queue_depth + 1 each); 0 =
				     SLUICE_LOG_WRITE_BUFFER_MB_DEFAULT MiB */
	const int
		*writer_cpus; /**< writers entries: CPU to pin each writer to, or -1; may be NULL */
	/** writers entries: NUMA node whose memory holds each writer's buffers, or -1 (where
	 *  the opening thread runs); may be NULL */
	const int *writer_nodes;
	bool writer_idle_sleep; /**< writers sleep briefly when idle (shared cores) */
	enum sluice_prealloc prealloc;
	uint64_t prealloc_bytes; /**< preallocate this far ahead of the tail; 0 = the default */
	bool no_fixed_buffers; /**< do not register write buffers with io_uring (benchmarks) */
	/**
	 * Writes in flight per partition, 1..SLUICE_LOG_QUEUE_DEPTH_MAX; 0 =
	 * SLUICE_LOG_QUEUE_DEPTH_DEFAULT. Each partition holds queue_depth + 1 write buffers
	 * of write_buffer_bytes. The durable watermark still moves only over a contiguous,
	 * synced prefix (docs/storage.md).
	 */
	uint32_t queue_depth;
};

#define SLUICE_LOG_QUEUE_DEPTH_MAX 16
/** The default queue depth: the measured choice (docs/storage.md, bench/bench_writer.sh). */
#define SLUICE_LOG_QUEUE_DEPTH_DEFAULT 2

/**
 * Open (create if needed) every configured partition, running recovery where the
 * clean-shutdown marker is missing. Does not start writer threads.
 * When opts->producers > 0 the rings are rte_rings (SP enqueue, SC dequeue): the caller must
 * have initialised the DPDK EAL first. With producers == 0 no EAL is needed (tests, tools).
 * @return 0 or -errno (logged with the path).
 */
int sluice_log_open(const struct sluice_log_opts *opts, struct sluice_log **out);

/** Start writer threads. After this, only writers append. */
int sluice_log_start(struct sluice_log *log);

/**
 * Stop writers after draining every ring (producers must have stopped), sealing and
 * fdatasyncing every partition. Idempotent.
 */
int sluice_log_stop(struct sluice_log *log);

/**
 * Stop if needed, commit and seal every healthy partition, write its clean-shutdown marker
 * and free everything. Failed partitions get no marker (recovery runs at the next open).
 * Every reader must be closed first. Accepts NULL.
 */
void sluice_log_close(struct sluice_log *log);

/**
 * Run retention once over every partition now (the housekeeping thread started by
 * sluice_log_start does this every second). Thread-safe.
 * @return segments deleted, or -errno.
 */
int sluice_log_retention_run(struct sluice_log *log);

/** Request an immediate group commit of every partition (sluicectl flush). Thread-safe. */
void sluice_log_flush_request(struct sluice_log *log);

uint32_t sluice_log_partition_count(const struct sluice_log *log);
uint32_t sluice_log_writer_count(const struct sluice_log *log);

/** Global id of topic/partition, or -ENOENT. */
int sluice_log_partition_id(const struct sluice_log *log, const char *topic, uint32_t partition);

struct sluice_partition *sluice_log_partition(struct sluice_log *log, uint32_t partition_id);

/** Writer index that owns a partition. */
uint32_t sluice_log_writer_of(const struct sluice_log *log, uint32_t partition_id);

/** The SPSC ring from dataplane worker @p producer to writer @p writer. */
struct rte_ring *sluice_log_ring(struct sluice_log *log, uint32_t producer, uint32_t writer);

/**
 * Append one sealed batch and make it durable, synchronously, in the calling thread.
 * Only while writers are not started (tests, tools, recovery drills).
 * @param[out] base_offset offset assigned to the batch's first record (may be NULL)
 * @return 0 or -errno; after a write or sync error the partition is failed (sticky).
 *         -EBADMSG: not a valid batch; -EMSGSIZE: larger than write_buffer_bytes;
 *         -ENOSPC/-EDQUOT: the partition retries; if *base_offset was set (>= 0) the batch
 *         was taken and becomes durable when a later call finds space again (do not append
 *         it twice), if it is -1 the batch was refused; -EIO and others: failed until
 *         reopened.
 */
int sluice_partition_append_sync(struct sluice_partition *p, uint8_t *batch, size_t len,
				 int64_t *base_offset);

/** Next offset that is not yet durable: every offset below it survived an fdatasync. */
int64_t sluice_partition_durable_offset(const struct sluice_partition *p);

/**
 * Acknowledged mode: how far the batches that dataplane worker @p producer tagged for this
 * partition (struct sluice_batch ack_tag) have come. @p durable receives the tag of the
 * newest tagged batch that is durable (0: none yet); every batch of the same producer and
 * partition tagged before it went through the same ring in order and is durable too, unless
 * the writer refused it: @p refused receives how many tagged batches the writer refused so
 * far (disk full, failed partition), so a caller that sees it change knows that something
 * it enqueued since it last looked is not in the log. Any thread (acquire loads).
 */
void sluice_partition_ack_state(const struct sluice_partition *p, uint32_t producer,
				uint32_t *durable, uint32_t *refused);

/**
 * Tell retention how far the forwarder has come (next offset to forward). Thread-safe.
 * Until called, nothing counts as forwarded. Ignored by retention for a store_only topic.
 */
void sluice_partition_set_forwarded(struct sluice_partition *p, int64_t next_offset);

#define SLUICE_HIST_BUCKETS 24 /**< log2 microsecond buckets: <=1us, <=2us, ... */

/**
 * Why a partition's writer shed a batch (the per-reason breakdown of shed_records).
 * Stable numbering and names: metric label values.
 */
enum sluice_storage_shed {
	SLUICE_STORAGE_SHED_DISK_FULL =
		0, /**< ENOSPC/EDQUOT: the partition retries, new batches shed */
	SLUICE_STORAGE_SHED_FAILED, /**< failed until reopened (fdatasync or I/O error) */
	SLUICE_STORAGE_SHED_INVALID, /**< not a valid batch, or larger than write_buffer_bytes */
	SLUICE_STORAGE_SHED__COUNT
};

/** "disk_full", "failed", "invalid"; "unknown" out of range. */
const char *sluice_storage_shed_name(enum sluice_storage_shed r);

struct sluice_partition_stats {
	char topic[SLUICE_TOPIC_NAME_MAX];
	uint32_t partition;
	int64_t log_start_offset;
	int64_t log_end_offset; /**< next offset to assign */
	int64_t durable_offset; /**< next offset not yet durable */
	int64_t forwarded_offset; /**< as set by sluice_partition_set_forwarded() */
	uint64_t appended_batches;
	uint64_t appended_records;
	uint64_t appended_bytes;
	uint64_t durable_records; /**< "persisted" in the accounting chain */
	uint64_t shed_records; /**< records of batches the writer refused (sum of shed_reason) */
	uint64_t shed_reason[SLUICE_STORAGE_SHED__COUNT]; /**< the same, by reason */
	uint64_t rolls; /**< segment rolls */
	uint64_t segments;
	uint64_t bytes_on_disk;
	uint64_t fsyncs;
	uint64_t fsync_hist[SLUICE_HIST_BUCKETS];
	uint64_t write_errors;
	uint64_t fsync_errors;
	int last_errno;
	bool failed;
	uint64_t retention_deleted_segments;
	uint64_t retention_dropped_records; /**< unforwarded records deleted by policy */
	uint64_t recovery_truncated_bytes;
	uint64_t recovery_ns;
	int64_t oldest_timestamp_ms;
};

/** Snapshot a partition's counters. Thread-safe (relaxed reads of writer-owned counters). */
void sluice_partition_stats(const struct sluice_partition *p, struct sluice_partition_stats *out);

/**
 * Ingest → durable latency of a partition: for each batch that came through the writer rings
 * with a non-zero ingest_tsc, the time from ingest_tsc to the moment the durable offset
 * passed it (after its fdatasync; with flush = none, after its write). Same log2 microsecond
 * buckets as fsync_hist. Batches without ingest_tsc (append_sync, tests) are not observed.
 * When more batches wait for one group commit than the writer tracks, the newest are merged
 * and observed with the oldest ingest time among them: a batch may look older, never
 * younger, and the count stays exact.
 * @param hist receives the bucket counts; @param sum_us receives the sum of the latencies.
 * Thread-safe (relaxed reads of writer-owned counters; complete up to any durable offset
 * already read with sluice_partition_durable_offset()).
 */
void sluice_partition_ingest_durable_hist(const struct sluice_partition *p,
					  uint64_t hist[SLUICE_HIST_BUCKETS], uint64_t *sum_us);

/**
 * Why a writer is behind its rings: what it waited for the last time it could not take a
 * batch, until it has emptied its rings again. The dataplane attributes the events it sheds
 * because a ring is full or its batch pool is empty to this (docs/operations.md). Stable
 * numbering and names; a larger value is a more specific cause.
 */
enum sluice_writer_cause {
	SLUICE_WRITER_CAUSE_BUSY = 0, /**< never blocked: the writer thread itself is too slow */
	SLUICE_WRITER_CAUSE_DEVICE, /**< every write slot in flight: the device is slower */
	SLUICE_WRITER_CAUSE_SEGMENT_ROLL, /**< a roll waited for the next segment (a stall) */
	SLUICE_WRITER_CAUSE__COUNT
};

/** "writer_busy", "device", "segment_roll"; "unknown" out of range. */
const char *sluice_writer_cause_name(enum sluice_writer_cause c);

#define SLUICE_LOG_ANY_WRITER UINT32_MAX

/**
 * The cause writer @p writer is behind (SLUICE_WRITER_CAUSE_BUSY when it is not blocked),
 * or with SLUICE_LOG_ANY_WRITER the most specific cause over all writers. Any thread: one
 * relaxed load per writer, cheap enough for the dataplane's shed path.
 */
enum sluice_writer_cause sluice_log_writer_cause(const struct sluice_log *log, uint32_t writer);

/** Counters of one writer thread (busy/idle accounting as in an SPDK reactor). */
struct sluice_writer_stats {
	uint64_t passes; /**< poll passes */
	uint64_t busy_passes; /**< passes that did work (completions, batches, submissions) */
	uint64_t busy_ns; /**< time spent in busy passes */
	uint64_t idle_ns; /**< time spent in idle passes, back-off sleeps included */
	uint64_t batches; /**< batches taken from the rings */
	uint64_t misrouted; /**< batches for a partition the writer does not own (dropped) */
	/** Stalls: periods in which the writer could not take the next batch off its rings,
	 *  by what it waited for (DEVICE or SEGMENT_ROLL). */
	uint64_t stalls[SLUICE_WRITER_CAUSE__COUNT];
	uint64_t stall_ns; /**< total time stalled */
	uint64_t stall_hist[SLUICE_HIST_BUCKETS]; /**< stall durations, log2 microsecond buckets */
};

/** Snapshot writer @p writer's counters (zeros for an invalid index). Thread-safe. */
void sluice_log_writer_stats(const struct sluice_log *log, uint32_t writer,
			     struct sluice_writer_stats *out);

/**
 * Open a reader positioned at the batch that contains @p offset.
 * @return 0, -ERANGE when offset is below the log start, or -errno.
 */
int sluice_reader_open(struct sluice_partition *p, int64_t offset, struct sluice_reader **out);

/**
 * Open a reader at the first batch (in offset order) whose maxTimestamp >= ts_ms, found with
 * the time index. When no durable batch qualifies, the reader starts at the durable end.
 */
int sluice_reader_open_at_time(struct sluice_partition *p, int64_t ts_ms,
			       struct sluice_reader **out);

/**
 * Next durable batch. The pointer stays valid until the next call or close.
 * @return 1 with *batch and *len set, 0 when caught up with the durable offset, or -errno.
 */
int sluice_reader_next(struct sluice_reader *r, const uint8_t **batch, size_t *len);

void sluice_reader_close(struct sluice_reader *r);

/**
 * Crash-safe small-file write: temp file, fsync, rename, fsync the directory.
 * @return 0 or -errno.
 */
int sluice_storage_write_atomic(const char *dir, const char *name, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_STORAGE_H */
