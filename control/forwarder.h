/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The Kafka forwarder (private to control/): durable log → librdkafka producer → Kafka,
 * exactly once per local offset, plus the embedded Kafka (librdkafka's mock cluster).
 *
 * Guarantees and modes are described in docs/forwarding.md.
 *
 * Every produced message carries the original key, value, timestamp and headers of the
 * local record, and four more headers, all values in decimal/plain ASCII so that kcat and
 * any consumer can read them:
 *   sluice.topic      local topic name
 *   sluice.partition  local partition, decimal ("3")
 *   sluice.offset     local offset, decimal ("12345")
 *   sluice.appliance  appliance id
 *
 * Threads: sluice_fwd_create/start/stop/destroy are called by the control thread.
 * The forwarder runs in its own thread between start and stop and owns the producer.
 * sluice_fwd_pause/resume/set_inflight/stats may be called from any thread at any time
 * between create and destroy.
 */
#ifndef SLUICE_FORWARDER_H
#define SLUICE_FORWARDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice_storage.h"

struct sluice_fwd;
struct sluice_kafka_embedded;

/** Header names added to every forwarded message. */
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

/** A `kafka.*` configuration pair passed through to rd_kafka_conf_set (prefix stripped). */
struct sluice_fwd_kv {
	const char *key;
	const char *value;
};

struct sluice_fwd_opts {
	struct sluice_log *log; /**< opened log; must outlive the forwarder */
	const struct sluice_fwd_topic *topics;
	uint32_t ntopics;
	const char
		*brokers; /**< bootstrap.servers (for embedded: sluice_kafka_embedded_bootstrap) */
	const char *appliance_id; /**< stable id of this appliance (header sluice.appliance) */
	bool transactional; /**< use transactions (commit per batch) */
	const char *transactional_id; /**< NULL = "sluice-<appliance_id>" */
	const char *compression; /**< none, gzip, snappy, lz4, zstd; NULL = none */
	uint32_t inflight_max_msgs; /**< per partition; 0 = 10000 */
	uint64_t inflight_max_bytes; /**< per partition; 0 = 16 MiB */
	uint32_t linger_ms; /**< librdkafka linger.ms; 0 = 5 */
	uint32_t batch_records; /**< records produced per partition per pass (fairness); 0 = 1000 */
	uint32_t idle_poll_ms; /**< wait for events when nothing to do; 0 = 5 */
	uint32_t resume_tail_records; /**< N: tail read starts at high watermark - N; 0 = 100 */
	uint32_t resume_timeout_ms; /**< per tail read attempt; 0 = 10000 */
	const char *checkpoint_dir; /**< where forwarder.ckpt is kept; NULL = no checkpoint */
	uint32_t checkpoint_interval_ms; /**< 0 = 1000 */
	const struct sluice_fwd_kv *kafka_conf; /**< passthrough, applied last (may override) */
	uint32_t nkafka_conf;
	/** Never advance the log's forwarded mark via sluice_partition_set_forwarded: acks from
	 * this cluster do not make a record safe to delete (the embedded, in-memory cluster).
	 * Forwarding, stats and the checkpoint are unchanged; retention keeps every record
	 * unless the topic's retention_drop_unforwarded says otherwise. */
	bool hold_retention;
};

/**
 * Check one `kafka.*` passthrough pair (key without the prefix) as sluice_fwd_create will:
 * refused when sluice owns the property (exactly-once settings), else as rd_kafka_conf_set
 * would. The config validator calls it, so that --check-config refuses what start would.
 * @return 0; -ENOENT not a librdkafka property; -EINVAL owned or bad value (the reason in
 *         @p errstr, which may quote the value); -ENOMEM.
 */
int sluice_fwd_kafka_conf_check(const char *key, const char *value, char *errstr,
				size_t errstr_len);

/**
 * Check the whole producer configuration that sluice_fwd_create() will build from @p o: the
 * owned exactly-once settings, compression, linger, transactional.id and every kafka.* pair,
 * finalised by rd_kafka_new(), which refuses combinations that no single property shows
 * (`max.in.flight.requests.per.connection` above 5 with idempotence). No broker is contacted;
 * only transactional, transactional_id, appliance_id, compression, linger_ms and kafka_conf
 * are read (each pair should have passed sluice_fwd_kafka_conf_check() first).
 * @return 0, -EINVAL with librdkafka's reason in @p errstr, or -ENOMEM.
 */
int sluice_fwd_conf_check(const struct sluice_fwd_opts *o, char *errstr, size_t errstr_len);

/**
 * Validate options and build the producer configuration (no network, no thread).
 * Errors are logged once to stderr with context.
 * @return 0, -EINVAL (bad option or kafka.* pair), -ENOENT (topic not in the log), -ENOMEM.
 */
int sluice_fwd_create(const struct sluice_fwd_opts *opts, struct sluice_fwd **out);

/**
 * Start the forwarder thread. It runs the resume protocol (recreate producer, read Kafka's
 * tail per partition, resume after the highest local offset found) and then forwards.
 * A broker that is unreachable is not an error: the thread keeps retrying.
 * @return 0 or -errno (thread creation).
 */
int sluice_fwd_start(struct sluice_fwd *f);

/**
 * Stop forwarding new records, wait up to @p drain_timeout_ms for in-flight ones to be
 * acknowledged, write the checkpoint and join the thread. Idempotent.
 */
void sluice_fwd_stop(struct sluice_fwd *f, uint32_t drain_timeout_ms);

/** Free everything (stops first if needed). Accepts NULL. */
void sluice_fwd_destroy(struct sluice_fwd *f);

/** Pause / resume forwarding of a local topic, or of every topic when @p topic is NULL
 * (in-flight messages still complete). @return 0 or -ENOENT. */
int sluice_fwd_pause(struct sluice_fwd *f, const char *topic);
int sluice_fwd_resume(struct sluice_fwd *f, const char *topic);

/** Change the per-partition in-flight limits at runtime (0 keeps the current value). */
void sluice_fwd_set_inflight(struct sluice_fwd *f, uint32_t max_msgs, uint64_t max_bytes);

enum sluice_fwd_state {
	SLUICE_FWD_STOPPED = 0,
	SLUICE_FWD_RESUMING, /**< (re)creating the producer and reading Kafka's tail */
	SLUICE_FWD_RUNNING,
	SLUICE_FWD_BROKER_DOWN, /**< all brokers down: waiting, the log buffers */
	SLUICE_FWD_DRAINING, /**< stop requested, waiting for in-flight acks */
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
	uint32_t inflight_msgs;
	uint64_t inflight_bytes;
	uint64_t delivered_records;
	uint64_t delivered_bytes;
	uint64_t delivery_errors; /**< failed delivery reports (each triggers a rewind) */
	uint64_t rewinds; /**< per-partition resume after a delivery error */
	uint64_t skipped_records; /**< dropped by retention policy before being forwarded */
	int64_t resume_offset; /**< where the last resume started (from Kafka's tail) */
	/** Durable → Kafka ack latency: from the moment the forwarder read the record's batch
	 * out of the durable log to its successful delivery report, in log2 microsecond
	 * buckets like struct sluice_partition_stats.fsync_hist (bucket i counts latencies
	 * in (2^(i-1), 2^i] µs; the last one holds everything longer). One observation per
	 * delivered record, so the buckets add up to delivered_records. */
	uint64_t ack_hist[SLUICE_HIST_BUCKETS];
	uint64_t ack_sum_us; /**< sum of the observed latencies */
};

#define SLUICE_FWD_ERR_CODES 16

struct sluice_fwd_stats {
	enum sluice_fwd_state state;
	bool transactional;
	uint64_t delivered_records;
	uint64_t delivered_bytes;
	uint64_t delivery_errors;
	uint64_t retries; /**< QUEUE_FULL retries and per-partition rewinds */
	uint64_t queue_full;
	uint64_t fatal_resets; /**< producer recreated after rd_kafka_fatal_error */
	uint64_t resumes; /**< tail reads done (start + resets + rewinds) */
	uint64_t broker_down_events; /**< _ALL_BROKERS_DOWN reported by librdkafka */
	uint64_t txn_commits;
	uint64_t txn_aborts;
	/** Errors by librdkafka code (rd_kafka_resp_err_t), the first distinct codes seen. */
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

/**
 * Make the next @p n requests of Kafka API @p api_key (0 = Produce) fail with the given
 * rd_kafka_resp_err_t codes, in order.
 */
void sluice_kafka_embedded_push_errors(struct sluice_kafka_embedded *e, int16_t api_key,
				       const int *errors, size_t n);

/** Destroy the cluster. Accepts NULL. */
void sluice_kafka_embedded_stop(struct sluice_kafka_embedded *e);

#endif /* SLUICE_FORWARDER_H */
