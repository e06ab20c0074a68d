/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Kafka RecordBatch v2: sluice's on-disk log format and its fast wire format.
 *
 * Pure functions over caller-provided byte ranges: no allocation, no I/O, no EAL.
 * Used by the dataplane (decode, re-batch), storage (append, recovery, readers),
 * the forwarder (decode) and sluice-gen (encode). All functions are thread-safe
 * in the sense that they touch only the memory they are given.
 *
 * Byte layout of a batch (all integers big-endian), as in Kafka's DefaultRecordBatch:
 *
 *     off  size  field
 *       0     8  baseOffset             (not covered by the CRC; rewritten on append)
 *       8     4  batchLength            (bytes after this field)
 *      12     4  partitionLeaderEpoch   (not covered by the CRC)
 *      16     1  magic = 2
 *      17     4  crc (CRC32C of bytes 21..end)
 *      21     2  attributes
 *      23     4  lastOffsetDelta
 *      27     8  baseTimestamp
 *      35     8  maxTimestamp
 *      43     8  producerId
 *      51     2  producerEpoch
 *      53     4  baseSequence
 *      57     4  recordCount
 *      61     .. records
 *
 * Record: varint length, int8 attributes, varlong timestampDelta, varint offsetDelta,
 * varint keyLength (-1 = null), key, varint valueLength (-1 = null), value,
 * varint headerCount, then per header varint keyLength, key, varint valueLength, value.
 */
#ifndef SLUICE_RECORD_H
#define SLUICE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Size of the fixed batch header; records start at this offset. */
#define SLUICE_RB_HEADER_BYTES 61
/** Offset of the first byte covered by the CRC (attributes). */
#define SLUICE_RB_CRC_START 21
/** Bytes before batchLength's coverage starts (baseOffset + batchLength). */
#define SLUICE_RB_LOG_OVERHEAD 12
#define SLUICE_RB_MAGIC 2
/** Largest batch sluice accepts anywhere (matches Kafka's default message.max.bytes order). */
#define SLUICE_RB_MAX_BATCH_BYTES (16u * 1024 * 1024)
/** attributes bits */
#define SLUICE_RB_ATTR_COMPRESSION_MASK 0x07
#define SLUICE_RB_ATTR_TIMESTAMP_LOG_APPEND 0x08
#define SLUICE_RB_ATTR_TRANSACTIONAL 0x10
#define SLUICE_RB_ATTR_CONTROL 0x20
/** Value meaning "no producer id" / "no sequence", as in Kafka. */
#define SLUICE_RB_NO_PRODUCER_ID (-1)
#define SLUICE_RB_NO_SEQUENCE (-1)

/** Why a byte range is not a valid batch. Stable numbering: used as metric label index. */
enum sluice_rb_err {
	SLUICE_RB_OK = 0,
	SLUICE_RB_ETRUNCATED, /**< range ends inside a batch header or body */
	SLUICE_RB_ELENGTH, /**< batchLength below the header size or above the maximum */
	SLUICE_RB_EMAGIC, /**< magic is not 2 */
	SLUICE_RB_ECRC, /**< CRC32C mismatch */
	SLUICE_RB_ECOMPRESSED, /**< compressed batches are not accepted (sluice stores uncompressed) */
	SLUICE_RB_ECOUNT, /**< recordCount negative, or does not match the records present */
	SLUICE_RB_EVARINT, /**< varint longer than its type allows or running past the end */
	SLUICE_RB_ERECORD_LENGTH, /**< record length field disagrees with the record's contents */
	SLUICE_RB_EFIELD_LENGTH, /**< key, value or header length out of range */
	SLUICE_RB_EOFFSET_DELTA, /**< offset deltas not 0,1,2.. or lastOffsetDelta mismatch */
	SLUICE_RB_ETIMESTAMP, /**< maxTimestamp below a record's timestamp (when not log-append) */
	SLUICE_RB_EOFFSET_ORDER, /**< baseOffset out of sequence (sluice_rb_range_validate) */
	SLUICE_RB__COUNT
};

/** Short, stable, snake_case name of an error ("crc_mismatch"); used in logs and metric labels. */
const char *sluice_rb_strerror(enum sluice_rb_err err);

/** Decoded fixed header of one batch. */
struct sluice_rb_header {
	int64_t base_offset;
	int32_t batch_length;
	int32_t partition_leader_epoch;
	int8_t magic;
	uint32_t crc;
	int16_t attributes;
	int32_t last_offset_delta;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t record_count;
};

/** One record header (Kafka message header). A NULL value with value_len -1 is a null value. */
struct sluice_rb_kv {
	const uint8_t *key;
	int32_t key_len;
	const uint8_t *value;
	int32_t value_len;
};

/**
 * One record, for the builder (input) or the iterator (output, pointers into the batch).
 * key_len/value_len -1 means null. For the iterator, headers are not materialised:
 * use sluice_rb_record_header() to walk them.
 */
struct sluice_rb_record {
	int64_t timestamp;
	int64_t offset; /**< iterator only: baseOffset + offsetDelta */
	const uint8_t *key;
	int32_t key_len;
	const uint8_t *value;
	int32_t value_len;
	const struct sluice_rb_kv *headers; /**< builder only */
	uint32_t header_count;
	/* iterator only: raw header bytes, header_count entries */
	const uint8_t *headers_raw;
	size_t headers_raw_len;
	/**
	 * Iterator and sluice_rb_batch_decode() only: the record's bytes from keyLength to its
	 * end (key, value and headers as encoded), for sluice_rb_builder_append_raw().
	 */
	const uint8_t *tail_raw;
	size_t tail_raw_len;
};

/* ---------------------------------------------------------------------------------------- */
/* CRC32C and partitioner                                                                    */

/**
 * CRC32C (Castagnoli, iSCSI, RFC 3720) as Kafka computes it: standard init and final XOR.
 * @param crc 0 to start, or a previous result to continue over more bytes.
 */
uint32_t sluice_crc32c(uint32_t crc, const void *buf, size_t len);

/** Kafka's murmur2 (Java client Utils.murmur2, seed 0x9747b28c). */
uint32_t sluice_murmur2(const void *key, size_t len);

/** Kafka's default partitioner for a non-null key: toPositive(murmur2(key)) % partitions. */
uint32_t sluice_partition_for_key(const void *key, size_t len, uint32_t partitions);

/* ---------------------------------------------------------------------------------------- */
/* Builder                                                                                   */

/** Batch-level fields the builder writes. */
struct sluice_rb_batch_meta {
	int64_t base_offset; /**< usually 0: storage rewrites it */
	int16_t attributes; /**< compression must be 0 */
	int64_t producer_id; /**< SLUICE_RB_NO_PRODUCER_ID when not idempotent */
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t partition_leader_epoch;
};

/** An open batch being built in a caller-provided buffer. Fields are private to record.c. */
struct sluice_rb_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int32_t count;
	int64_t base_timestamp;
	int64_t max_timestamp;
	struct sluice_rb_batch_meta meta;
};

/** Start a batch in buf[0..cap). Returns 0, or -ENOSPC when cap cannot hold the header. */
int sluice_rb_builder_init(struct sluice_rb_builder *b, uint8_t *buf, size_t cap,
			   const struct sluice_rb_batch_meta *meta);

/**
 * Bytes that appending @p rec would add, given the batch's current state. Exact, so a caller
 * can decide to seal first. Returns 0 if the record is invalid (bad lengths).
 */
size_t sluice_rb_builder_record_bytes(const struct sluice_rb_builder *b,
				      const struct sluice_rb_record *rec);

/**
 * Append one record. The first record's timestamp becomes baseTimestamp.
 * @return 0; -ENOSPC when the record would not fit (the batch is unchanged: seal it and
 *         append to a new one); -EMSGSIZE when it does not fit even though the batch is
 *         empty (it never will in this buffer, or it is above SLUICE_RB_MAX_BATCH_BYTES);
 *         -EINVAL for a record with invalid lengths or a timestamp delta out of range.
 */
int sluice_rb_builder_append(struct sluice_rb_builder *b, const struct sluice_rb_record *rec);

/**
 * Append a record returned by the iterator or sluice_rb_batch_decode() by copying its key,
 * value and headers as they were encoded (tail_raw) rather than re-encoding each field; only
 * the timestamp and offset deltas are new. The result decodes to the same record as
 * sluice_rb_builder_append() would give (byte-identical when the source used minimal
 * varints, as every Kafka client does). key, value and headers of @p rec are not read.
 * @return as sluice_rb_builder_append(); -EINVAL also when rec->tail_raw is NULL.
 */
int sluice_rb_builder_append_raw(struct sluice_rb_builder *b, const struct sluice_rb_record *rec);

/** Exact bytes sluice_rb_builder_append_raw() would add, or 0 for an invalid record. */
size_t sluice_rb_builder_record_bytes_raw(const struct sluice_rb_builder *b,
					  const struct sluice_rb_record *rec);

/** Records appended so far. */
static inline int32_t sluice_rb_builder_count(const struct sluice_rb_builder *b)
{
	return b->count;
}

/**
 * Finish the batch: write batchLength, lastOffsetDelta, timestamps, count and the CRC.
 * @return total batch size in bytes (from baseOffset to the end), or 0 for an empty batch.
 */
size_t sluice_rb_builder_seal(struct sluice_rb_builder *b);

/* ---------------------------------------------------------------------------------------- */
/* Validator and iterators                                                                    */

/**
 * Decode the fixed header of the batch at buf without validating the records or CRC.
 * @return SLUICE_RB_OK, SLUICE_RB_ETRUNCATED (fewer than SLUICE_RB_HEADER_BYTES),
 *         SLUICE_RB_ELENGTH or SLUICE_RB_EMAGIC.
 */
enum sluice_rb_err sluice_rb_header_decode(const uint8_t *buf, size_t len,
					   struct sluice_rb_header *h);

/**
 * Fully validate the one batch that starts at buf: header, length bounds, magic, CRC32C,
 * every record's varints and lengths, offset deltas, record count, timestamps.
 * Never reads outside buf[0..len); bytes after the batch are ignored. Empty batches
 * (recordCount 0) and compressed ones are rejected. The reasons and the order they are
 * checked in are in docs/record-format.md.
 * @param[out] h          decoded header (may be NULL)
 * @param[out] batch_bytes total size of the batch (12 + batchLength) on success (may be NULL)
 */
enum sluice_rb_err sluice_rb_batch_validate(const uint8_t *buf, size_t len,
					    struct sluice_rb_header *h, size_t *batch_bytes);

/**
 * sluice_rb_batch_validate() and sluice_rb_record_iter_next() in one pass over the records:
 * validates the batch at buf with exactly the checks, order and reasons of
 * sluice_rb_batch_validate() and, while doing so, decodes its records into a table the caller
 * supplies, each as the iterator would return it (absolute offset and timestamp, pointers into
 * buf, headers in headers_raw). For callers that validate untrusted bytes and then use every
 * record (the dataplane's partition -1 path): each record is parsed once instead of twice.
 * Never reads outside buf[0..len). Pure; thread-safe as the rest of this file.
 * @param[out] h           decoded header (may be NULL)
 * @param[out] batch_bytes as sluice_rb_batch_validate() (may be NULL)
 * @param[out] recs        the table (may be NULL); recs[0..recordCount) are written only when
 *                         recordCount <= cap, and are meaningful only on SLUICE_RB_OK
 * @param      cap         entries in recs
 * @param[out] nrecs       records decoded into recs: recordCount on success when it is at most
 *                         cap, else 0 (a valid batch with more records than cap: iterate it
 *                         with sluice_rb_record_iter_*()) (may be NULL)
 */
enum sluice_rb_err sluice_rb_batch_decode(const uint8_t *buf, size_t len,
					  struct sluice_rb_header *h, size_t *batch_bytes,
					  struct sluice_rb_record *recs, uint32_t cap,
					  uint32_t *nrecs);

/**
 * Validate the consecutive batches of a byte range, as log recovery and readers need: each
 * batch fully (sluice_rb_batch_validate()), and each baseOffset equal to the previous batch's
 * baseOffset + lastOffsetDelta + 1 (the first one equal to @p expected_offset unless it is -1).
 * Never reads outside buf[0..len).
 * @param[out] valid_bytes length of the valid prefix: where a torn or corrupt log is cut (may
 *                         be NULL)
 * @param[out] next_offset the offset expected after the valid prefix (may be NULL)
 * @return SLUICE_RB_OK when the whole range is valid batches ending exactly at len, else the
 *         reason the batch at valid_bytes failed (SLUICE_RB_ETRUNCATED for a partial tail,
 *         SLUICE_RB_EOFFSET_ORDER for a baseOffset out of sequence).
 */
enum sluice_rb_err sluice_rb_range_validate(const uint8_t *buf, size_t len, int64_t expected_offset,
					    size_t *valid_bytes, int64_t *next_offset);

/** Rewrite baseOffset in place (not covered by the CRC). */
void sluice_rb_set_base_offset(uint8_t *batch, int64_t base_offset);

/** Iterates the records of one already-validated batch. */
struct sluice_rb_record_iter {
	const uint8_t *p;
	const uint8_t *end;
	int64_t base_offset;
	int64_t base_timestamp;
	int32_t remaining;
	bool log_append_time; /**< attributes say LogAppendTime: every record gets max_timestamp */
	int64_t max_timestamp;
};

/** Start iterating records of a batch that passed sluice_rb_batch_validate(). */
void sluice_rb_record_iter_init(struct sluice_rb_record_iter *it, const uint8_t *batch,
				size_t batch_bytes);

/**
 * Next record. @return 1 with *rec filled, 0 at the end, or -(enum sluice_rb_err) if the
 * records are malformed (only possible for batches that were not validated).
 */
int sluice_rb_record_iter_next(struct sluice_rb_record_iter *it, struct sluice_rb_record *rec);

/**
 * Decode header number idx of a record returned by the iterator (walks the raw headers).
 * @return 0 or -(enum sluice_rb_err).
 */
int sluice_rb_record_header(const struct sluice_rb_record *rec, uint32_t idx,
			    struct sluice_rb_kv *out);

/** Walks the headers of one record in a single pass (sluice_rb_record_header() is O(idx)). */
struct sluice_rb_header_iter {
	const uint8_t *p;
	const uint8_t *end;
	uint32_t remaining;
};

/** Start walking the headers of a record returned by the iterator. */
void sluice_rb_header_iter_init(struct sluice_rb_header_iter *it,
				const struct sluice_rb_record *rec);

/**
 * Next header. @return 1 with *out filled, 0 at the end, or -(enum sluice_rb_err) for
 * malformed headers (only possible for batches that were not validated).
 */
int sluice_rb_header_iter_next(struct sluice_rb_header_iter *it, struct sluice_rb_kv *out);

/* ---------------------------------------------------------------------------------------- */
/* Varints (zig-zag, as Kafka's ByteUtils). Exposed for tests and the forwarder.             */

/** Encode a zig-zag varint; returns bytes written (1..5); out must hold 5 bytes. */
size_t sluice_varint_encode(int32_t v, uint8_t *out);
/** Encode a zig-zag varlong; returns bytes written (1..10); out must hold 10 bytes. */
size_t sluice_varlong_encode(int64_t v, uint8_t *out);
/** Decode; returns bytes consumed, or 0 when truncated or too long. */
size_t sluice_varint_decode(const uint8_t *p, size_t len, int32_t *v);
size_t sluice_varlong_decode(const uint8_t *p, size_t len, int64_t *v);

/** Bytes the zig-zag varint of @p v takes (1..5), without writing it. */
static inline size_t sluice_varint_size(int32_t v)
{
	uint32_t u = ((uint32_t)v << 1) ^ (uint32_t) - (int32_t)((uint32_t)v >> 31);
	size_t n = 1;

	while (u >= 0x80) {
		u >>= 7;
		n++;
	}
	return n;
}

/** Bytes the zig-zag varlong of @p v takes (1..10), without writing it. */
static inline size_t sluice_varlong_size(int64_t v)
{
	uint64_t u = ((uint64_t)v << 1) ^ (uint64_t) - (int64_t)((uint64_t)v >> 63);
	size_t n = 1;

	while (u >= 0x80) {
		u >>= 7;
		n++;
	}
	return n;
}

/* ---------------------------------------------------------------------------------------- */
/* The `kafka` wire format envelope (see docs/record-format.md)                               */

/**
 * A `kafka`-format datagram is this 8-byte envelope followed by exactly one RecordBatch v2:
 *
 *     off size field
 *       0    2  magic   = 0x534B ("SK"), big-endian
 *       2    1  version = 1
 *       3    1  flags   bit 0 (SLUICE_ENVELOPE_F_ACK): acknowledged mode; others 0
 *       4    4  partition, int32 big-endian; -1 = partition each record by key
 */
#define SLUICE_ENVELOPE_BYTES 8
#define SLUICE_ENVELOPE_MAGIC 0x534B
#define SLUICE_ENVELOPE_VERSION 1
#define SLUICE_ENVELOPE_F_ACK 0x01u

/** Write an envelope into out[0..8). */
void sluice_envelope_encode(uint8_t *out, int32_t partition);

/**
 * Parse an envelope. @return 0 with *partition set, -EPROTO for a bad magic or version,
 * -EMSGSIZE when len < SLUICE_ENVELOPE_BYTES, -EINVAL for a partition below -1.
 */
int sluice_envelope_decode(const uint8_t *buf, size_t len, int32_t *partition);

/** Write an envelope with @p flags (SLUICE_ENVELOPE_F_*) into out[0..8). */
void sluice_envelope_encode_flags(uint8_t *out, int32_t partition, uint8_t flags);

/** The flags byte of an envelope that sluice_envelope_decode() accepted. */
static inline uint8_t sluice_envelope_flags(const uint8_t *buf)
{
	return buf[3];
}

/* ---------------------------------------------------------------------------------------- */
/* Acknowledged mode: the appliance's answer (see docs/wire-formats.md, "Acknowledgements")    */

/**
 * An ack datagram, sent by the appliance from the listener's UDP port to a producer's source
 * port, big-endian:
 *
 *     off size field
 *       0    2  magic     = 0x5341 ("SA")
 *       2    1  version   = 1
 *       3    1  flags     = 0
 *       4    8  producerId (>= 0)
 *      12    2  epoch     (>= 0)
 *      14    1  ndurable  ranges above durable_next that are durable (0..4)
 *      15    1  nresend   ranges received but not stored: resend them now (0..4)
 *      16    4  partition (>= 0, topic-local)
 *      20    4  durable_next: every sequence below it is durable (fdatasync'd)
 *      24    4  window: sequences the appliance accepts at and above durable_next
 *      28    8n ranges [base, end) as two int32, durable ones first
 */
#define SLUICE_ACK_MAGIC 0x5341
#define SLUICE_ACK_VERSION 1
#define SLUICE_ACK_HEADER_BYTES 28
#define SLUICE_ACK_MAX_RANGES 4
#define SLUICE_ACK_MAX_BYTES (SLUICE_ACK_HEADER_BYTES + 2 * SLUICE_ACK_MAX_RANGES * 8)

struct sluice_ack_range {
	int32_t base;
	int32_t end; /**< exclusive */
};

struct sluice_ack {
	int64_t producer_id;
	int16_t epoch;
	int32_t partition;
	int32_t durable_next;
	uint32_t window;
	uint8_t ndurable;
	uint8_t nresend;
	struct sluice_ack_range durable[SLUICE_ACK_MAX_RANGES];
	struct sluice_ack_range resend[SLUICE_ACK_MAX_RANGES];
};

/** Encode into out (SLUICE_ACK_MAX_BYTES). @return bytes written, 0 if @p a is invalid. */
size_t sluice_ack_encode(const struct sluice_ack *a, uint8_t *out);

/**
 * Decode and validate an ack datagram: exact length, magic, version, flags 0, counts at
 * most SLUICE_ACK_MAX_RANGES, non-negative ids and sequences, every range non-empty
 * (0 <= base < end) and every durable range above durable_next. Never reads outside
 * buf[0..len). @return 0, -EMSGSIZE (length), -EPROTO (magic, version, flags), -EINVAL.
 */
int sluice_ack_decode(const uint8_t *buf, size_t len, struct sluice_ack *out);

/* ---------------------------------------------------------------------------------------- */
/* Big-endian helpers shared by the format code                                               */

static inline void sluice_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t sluice_be32_get(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void sluice_be64_put(uint8_t *p, uint64_t v)
{
	sluice_be32_put(p, (uint32_t)(v >> 32));
	sluice_be32_put(p + 4, (uint32_t)v);
}

static inline uint64_t sluice_be64_get(const uint8_t *p)
{
	return ((uint64_t)sluice_be32_get(p) << 32) | sluice_be32_get(p + 4);
}

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_RECORD_H */
