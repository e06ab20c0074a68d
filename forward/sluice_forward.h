/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The forwarder: ships the durable log's own RecordBatch v2 bytes to Kafka, exactly once,
 * speaking the Kafka protocol itself; and the embedded Kafka (librdkafka's mock cluster).
 *
 * Per partition the forwarder reads consecutive durable batches and coalesces them into one
 * RecordBatch per Produce request (offset and timestamp deltas rewritten in one pass,
 * producer id, epoch and base sequence set, CRC32C recomputed, optionally compressed). A
 * batch's base sequence names its log offsets: sequence = offset - (the partition's base
 * offset in the current producer session). Sessions are persisted before their first send,
 * so that after a crash the forwarder finds in Kafka's tail the last batch of its own and
 * resumes exactly after it, continuing the same producer session: the broker's idempotence
 * check then refuses anything a killed instance still had in flight unless it is exactly
 * the next records. Guarantees, errors and limits: docs/forwarding.md.
 *
 * Threads: sluice_fwd_create/start/stop/destroy are called by one control thread. Between
 * start and stop the forwarder runs in its own thread, which owns every connection and
 * reader. sluice_fwd_pause/resume/set_inflight/stats may be called from any thread at any
 * time between create and destroy. The embedded-cluster functions are independent of the
 * forwarder (see below).
 */
#ifndef SLUICE_FORWARD_H
#define SLUICE_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice_storage.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sluice_fwd;
struct sluice_kafka_embedded;

/** Header names added to every record when sluice_fwd_opts.headers is set. */
#define SLUICE_FWD_HDR_TOPIC "sluice.topic"
#define SLUICE_FWD_HDR_PARTITION "sluice.partition"
#define SLUICE_FWD_HDR_OFFSET "sluice.offset"
#define SLUICE_FWD_HDR_APPLIANCE "sluice.appliance"

/** One local topic to forward. Local partition p goes to Kafka partition p. */
struct sluice_fwd_topic {
	const char *name; /**< local topic (as in the log) */
	const char *kafka_topic; /**< Kafka topic name; NULL = same as name */
	/* Retention settings of the local topic, for the "time until retention drops
	 * unforwarded data" estimate (same meaning as in struct sluice_topic_opts). */
	uint64_t retention_bytes;
	uint64_t retention_ms;
	bool retention_drop_unforwarded;
};

/** A `kafka.*` client setting (prefix stripped), checked by sluice_fwd_conf_check(). */
struct sluice_fwd_kv {
	const char *key;
	const char *value;
};

/** Compression codec of produced batches (Kafka's attribute numbering). */
enum sluice_fwd_compression {
	SLUICE_FWD_COMPRESS_NONE = 0,
	SLUICE_FWD_COMPRESS_LZ4 = 3,
	SLUICE_FWD_COMPRESS_ZSTD = 4,
};

struct sluice_fwd_opts {
	struct sluice_log *log; /**< opened log; must outlive the forwarder */
	const struct sluice_fwd_topic *topics;
	uint32_t ntopics;
	const char *brokers; /**< bootstrap servers "host:port,..." */
	const char *appliance_id; /**< stable id of this appliance (sluice.appliance header) */
	/** Stable identity of this appliance's producer towards Kafka, used with InitProducerId
	 * (new sessions and epoch bumps). NULL = "sluice-<appliance_id>". Two appliances must
	 * never share one. */
	const char *transactional_id;
	const char *compression; /**< "none", "lz4", "zstd"; NULL = none */
	int compression_level; /**< codec level; 0 = the codec's default */
	uint32_t inflight_max_msgs; /**< unacknowledged records per partition; 0 =
					SLUICE_FWD_INFLIGHT_MAX_MSGS_DEFAULT */
	uint64_t
		inflight_max_bytes; /**< unacknowledged batch bytes per partition; 0 = SLUICE_FWD_INFLIGHT_MAX_MB_DEFAULT MiB */
	uint32_t batch_bytes; /**< largest batch sent (before compression); 0 = 1000000 */
	uint32_t idle_poll_ms; /**< longest wait for new durable data when idle; 0 = 5 */
	uint32_t resume_tail_records; /**< first tail window read when resuming; 0 = 100 */
	uint32_t resume_timeout_ms; /**< per resume request; 0 = 10000 */
	const char *checkpoint_dir; /**< where forwarder.ckpt and forwarder.sessions live;
				       NULL = none (no crash-safe resume: tests only) */
	uint32_t checkpoint_interval_ms; /**< 0 = 1000 */
	/**
	 * Never advance the log's forwarded mark (sluice_partition_set_forwarded): acks from
	 * this cluster do not make a record safe to delete (the embedded mock cluster keeps
	 * only 5 MiB per partition in memory).
	 */
	bool hold_retention;
	/** Add the four sluice.* headers to every record (off by default: they cost ~70 bytes
	 * per record and force a re-encode of each record). */
	bool headers;
	const struct sluice_fwd_kv *kafka_conf; /**< client settings: security, timeouts */
	uint32_t nkafka_conf;
};

/**
 * Check one `kafka.*` client setting (key without the prefix): a key of the native client
 * with a valid value. Keys whose value carries the exactly-once guarantee (acks,
 * enable.idempotence, transactional.id, ...) are refused with the reason; so are librdkafka
 * properties the native client does not implement. For the config validator, before
 * anything starts. No network, no allocation that outlives the call.
 * @return 0, or -EINVAL with the reason in @p errstr.
 */
int sluice_fwd_conf_check(const char *key, const char *value, char *errstr, size_t errstr_len);

/**
 * Check a whole set of client settings together (each one already passed
 * sluice_fwd_conf_check): the combinations (SASL needs a mechanism, a user and a password;
 * timeouts ordered).
 * @return 0, or -EINVAL with the reason in @p errstr and in *@p at the index of the setting
 *         the reason is about (for its file:line).
 */
int sluice_fwd_conf_check_all(const struct sluice_fwd_kv *kv, uint32_t n, char *errstr,
			      size_t errstr_len, uint32_t *at);

/**
 * Describe the @p i-th client setting (for --help-config and docs/configuration.md).
 * @return 0 with *key, *def and *help set, or -ENOENT past the last one.
 */
int sluice_fwd_conf_describe(uint32_t i, const char **key, const char **def, const char **help);

/**
 * Validate options and client settings, load the checkpoint and the producer sessions (no
 * network, no thread). Errors are logged once with context.
 * @return 0, -EINVAL (bad option or kafka.* setting), -ENOENT (topic not in the log),
 *         -ENOMEM, or -errno reading the session file.
 */
int sluice_fwd_create(const struct sluice_fwd_opts *opts, struct sluice_fwd **out);

/**
 * Start the forwarder thread: it connects, reads Kafka's tail per partition, resumes after
 * the last batch of its own and forwards. Unreachable brokers are not an error: it retries.
 * @return 0, -EALREADY, or -errno (thread creation).
 */
int sluice_fwd_start(struct sluice_fwd *f);

/**
 * Stop building new batches, wait up to @p drain_timeout_ms for in-flight ones to be
 * acknowledged, write the checkpoint and join the thread. Idempotent.
 */
void sluice_fwd_stop(struct sluice_fwd *f, uint32_t drain_timeout_ms);

/** Free everything (stops first if needed). Accepts NULL. */
void sluice_fwd_destroy(struct sluice_fwd *f);

/** Pause / resume forwarding of a local topic, or of every topic when @p topic is NULL
 * (in-flight batches still complete). @return 0 or -ENOENT. */
int sluice_fwd_pause(struct sluice_fwd *f, const char *topic);
int sluice_fwd_resume(struct sluice_fwd *f, const char *topic);

/** Change the per-partition in-flight limits at runtime (0 keeps the current value). */
void sluice_fwd_set_inflight(struct sluice_fwd *f, uint32_t max_msgs, uint64_t max_bytes);

struct sluice_config_kafka;
/**
 * Push every runtime-tunable [kafka] key of @p c (forward_config.h) to a running forwarder:
 * `sluicectl config set` and reloads call it after any change of such a key. A new runtime
 * key of the section is applied here. Any thread.
 */
void sluice_fwd_apply_config(struct sluice_fwd *f, const struct sluice_config_kafka *c);

enum sluice_fwd_state {
	SLUICE_FWD_STOPPED = 0,
	SLUICE_FWD_RESUMING, /**< connecting, (re)starting the producer session, reading tails */
	SLUICE_FWD_RUNNING,
	SLUICE_FWD_BROKER_DOWN, /**< no broker reachable: waiting, the log buffers */
	SLUICE_FWD_DRAINING, /**< stop requested, waiting for in-flight acks */
	SLUICE_FWD_FENCED, /**< another producer took this transactional id: nothing is sent
			      until restart (an operator must check for a duplicate appliance) */
	SLUICE_FWD__STATES
};

/** Short name of a state ("running"). */
const char *sluice_fwd_state_name(enum sluice_fwd_state s);

struct sluice_fwd_partition_stats {
	char topic[SLUICE_TOPIC_NAME_MAX];
	uint32_t partition;
	bool paused;
	int64_t forwarded_offset; /**< next local offset not yet acknowledged by Kafka */
	int64_t durable_offset; /**< next local offset not yet durable */
	uint64_t lag_records; /**< durable - forwarded */
	uint64_t lag_bytes; /**< estimate: lag_records x average stored bytes per record */
	int64_t oldest_unforwarded_age_ms; /**< age of the record at forwarded_offset; -1 none */
	int64_t retention_drop_eta_s; /**< seconds until retention would drop unforwarded
					data at current rates; -1 = never (policy or no rate) */
	uint32_t inflight_msgs; /**< records in unacknowledged batches */
	uint64_t inflight_bytes; /**< bytes of unacknowledged batches */
	uint64_t delivered_records;
	uint64_t delivered_bytes; /**< batch bytes acknowledged (as sent, compressed or not) */
	uint64_t delivered_batches;
	uint64_t delivery_errors; /**< error answers for this partition's batches */
	uint64_t rewinds; /**< resumes of this partition from Kafka's tail after start */
	uint64_t skipped_records; /**< dropped by retention policy before being forwarded */
	int64_t resume_offset; /**< where the last resume started (from Kafka's tail) */
	int32_t leader; /**< broker id leading the Kafka partition; -1 unknown */
	/** Durable → Kafka ack latency: from the forwarder reading a record's batch out of the
	 * durable log to the broker's acknowledgement of the Kafka batch holding it, in log2
	 * microsecond buckets like struct sluice_partition_stats.fsync_hist (bucket i counts
	 * latencies in (2^(i-1), 2^i] µs). One observation per delivered record, so the
	 * buckets add up to delivered_records. */
	uint64_t ack_hist[SLUICE_HIST_BUCKETS];
	uint64_t ack_sum_us; /**< sum of the observed latencies */
};

#define SLUICE_FWD_ERR_CODES 16

struct sluice_fwd_stats {
	enum sluice_fwd_state state;
	bool transactional; /**< always false: no Kafka transactions are written */
	uint64_t delivered_records;
	uint64_t delivered_bytes;
	uint64_t delivered_batches;
	uint64_t produce_requests; /**< Produce requests answered */
	uint64_t delivery_errors;
	uint64_t retries; /**< batches sent again (same sequence) */
	uint64_t queue_full; /**< passes where a partition's in-flight window was full */
	uint64_t fatal_resets; /**< producer sessions started after the first (epoch bumps) */
	uint64_t resumes; /**< tail reads done (start, after errors) */
	uint64_t broker_down_events; /**< transitions to "no broker reachable" */
	uint64_t metadata_refreshes;
	uint64_t reconnects; /**< connections (re)established after the first */
	uint64_t txn_commits; /**< always 0 (kept for the stats consumers) */
	uint64_t txn_aborts; /**< always 0 */
	int64_t producer_id; /**< current session's producer id; -1 none */
	int16_t producer_epoch;
	/** Errors by Kafka error code (negative: local, -errno), the first distinct codes. */
	struct {
		int code;
		uint64_t count;
	} errors[SLUICE_FWD_ERR_CODES];
	uint32_t nerrors;
	uint32_t npartitions; /**< partitions forwarded (may exceed what was copied out) */
};

/**
 * Snapshot counters. @p parts (may be NULL) receives up to @p max_parts partitions.
 * Thread-safe.
 */
void sluice_fwd_stats(struct sluice_fwd *f, struct sluice_fwd_stats *out,
		      struct sluice_fwd_partition_stats *parts, uint32_t max_parts);

/* ---------------------------------------------------------------------------------------- */
/* Embedded Kafka: librdkafka's mock cluster (real Kafka protocol over loopback TCP).        */
/* Threads: start/stop from one thread; the other calls from any thread (the mock cluster    */
/* serialises them onto its own thread).                                                      */

struct sluice_kafka_embedded_topic {
	const char *name;
	uint32_t partitions;
};

/**
 * Start a mock cluster of @p brokers brokers (0 = 1) with the given topics created.
 * Its threads live until sluice_kafka_embedded_stop.
 * @return 0, -EINVAL or -ENOMEM.
 */
int sluice_kafka_embedded_start(const struct sluice_kafka_embedded_topic *topics, uint32_t ntopics,
				uint32_t brokers, struct sluice_kafka_embedded **out);

/** Bootstrap servers string ("127.0.0.1:port,..."), valid until stop. */
const char *sluice_kafka_embedded_bootstrap(const struct sluice_kafka_embedded *e);

/** Create another topic. @return 0 or -EINVAL. */
int sluice_kafka_embedded_topic_create(struct sluice_kafka_embedded *e, const char *name,
				       uint32_t partitions);

/** Take a broker down (connections closed, new ones refused) or back up (ids from 1). */
int sluice_kafka_embedded_broker_down(struct sluice_kafka_embedded *e, int32_t broker_id);
int sluice_kafka_embedded_broker_up(struct sluice_kafka_embedded *e, int32_t broker_id);

/** Make broker @p broker_id the leader of @p topic / @p partition. @return 0 or -EINVAL. */
int sluice_kafka_embedded_set_leader(struct sluice_kafka_embedded *e, const char *topic,
				     int32_t partition, int32_t broker_id);

/** Delay every response of broker @p broker_id by @p rtt_ms (0: none). @return 0 or -EINVAL. */
int sluice_kafka_embedded_set_rtt(struct sluice_kafka_embedded *e, int32_t broker_id, int rtt_ms);

/** Make broker @p broker_id the transaction coordinator of @p transactional_id.
 * @return 0 or -EINVAL. */
int sluice_kafka_embedded_set_coordinator(struct sluice_kafka_embedded *e,
					  const char *transactional_id, int32_t broker_id);

/**
 * Make the next @p n requests of Kafka API @p api_key (0 = Produce) fail with the given
 * Kafka error codes, in order.
 */
void sluice_kafka_embedded_push_errors(struct sluice_kafka_embedded *e, int16_t api_key,
				       const int *errors, size_t n);

/** Destroy the cluster. Accepts NULL. */
void sluice_kafka_embedded_stop(struct sluice_kafka_embedded *e);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_FORWARD_H */
