/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * sluiced's configuration: a strict INI parser, one declarative key table per section, and
 * the validation that runs before anything is touched (private to control/).
 *
 * Every key is described once (name, type, default, bounds, help, runtime-tunable); parsing,
 * `--set section.key=value` overrides, `sluiced --help-config`, docs/configuration.md and the
 * control socket's config.get/set/list all come from those tables.
 *
 * Errors are collected, never printed: each reads `file:line: key: reason`; the caller prints
 * them (sluiced exits with status 2).
 *
 * Threads: a struct sluice_config is not thread-safe. The daemon serialises access.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_CONFIG_MAX_PORTS 8
#define SLUICE_CONFIG_MAX_LISTENERS 32
#define SLUICE_CONFIG_MAX_TOPICS 32
#define SLUICE_CONFIG_MAX_CPUS 128
#define SLUICE_CONFIG_MAX_LCORES 128
#define SLUICE_CONFIG_MAX_KAFKA_PROPS 64
#define SLUICE_CONFIG_NAME_MAX 32
#define SLUICE_CONFIG_TOPIC_MAX 64
#define SLUICE_CONFIG_PATH_MAX 256
#define SLUICE_CONFIG_STR_MAX 512
#define SLUICE_CONFIG_LINE_MAX 4096
#define SLUICE_CONFIG_MAX_EAL_ARGS 62 /**< tokens in eal.args */

/** A set of CPU (or lcore) ids, in the order given. */
struct sluice_cpu_list {
	uint32_t n;
	uint16_t id[SLUICE_CONFIG_MAX_CPUS];
};

enum sluice_config_mem {
	SLUICE_CONFIG_MEM_HUGE,
	SLUICE_CONFIG_MEM_IN_MEMORY,
	SLUICE_CONFIG_MEM_NO_HUGE,
};

enum sluice_config_format {
	SLUICE_CONFIG_FORMAT_KAFKA,
	SLUICE_CONFIG_FORMAT_LINES,
	SLUICE_CONFIG_FORMAT_RAW,
};

enum sluice_config_key_mode {
	SLUICE_CONFIG_KEY_NONE, /**< null key: round-robin/sticky partitioning */
	SLUICE_CONFIG_KEY_SOURCE, /**< key = source address: one producer, one partition */
};

enum sluice_config_direct_io {
	SLUICE_CONFIG_DIRECT_AUTO,
	SLUICE_CONFIG_DIRECT_ON,
	SLUICE_CONFIG_DIRECT_OFF,
};

enum sluice_config_log_target {
	SLUICE_CONFIG_LOG_STDERR,
	SLUICE_CONFIG_LOG_SYSLOG,
};

/** rte_log levels, in RTE_LOG_* order starting at 1 (emerg). */
enum sluice_config_log_level {
	SLUICE_CONFIG_LOG_EMERG = 1,
	SLUICE_CONFIG_LOG_ALERT,
	SLUICE_CONFIG_LOG_CRIT,
	SLUICE_CONFIG_LOG_ERR,
	SLUICE_CONFIG_LOG_WARNING,
	SLUICE_CONFIG_LOG_NOTICE,
	SLUICE_CONFIG_LOG_INFO,
	SLUICE_CONFIG_LOG_DEBUG,
};

struct sluice_config_eal {
	char lcores[SLUICE_CONFIG_STR_MAX]; /**< EAL --lcores map, or "auto" */
	uint32_t memory; /**< enum sluice_config_mem */
	uint32_t memory_mb;
	char file_prefix[64]; /**< "" = sluiced-<pid> */
	char log_level[64]; /**< EAL --log-level, "" = EAL default */
	bool telemetry;
	char args[SLUICE_CONFIG_STR_MAX]; /**< extra EAL arguments, space-separated */
	/* Resolved by validation. */
	char lcores_resolved[SLUICE_CONFIG_STR_MAX]; /**< what is passed as --lcores */
	uint32_t main_lcore;
	uint32_t nworker_lcores; /**< == dataplane.workers */
	uint16_t worker_lcore[SLUICE_CONFIG_MAX_LCORES];
};

struct sluice_config_port {
	char name[SLUICE_CONFIG_NAME_MAX];
	unsigned line;
	char device[64]; /**< vdev name (net_memif0) or PCI address (0000:03:00.0) */
	char args[SLUICE_CONFIG_STR_MAX]; /**< vdev arguments appended after a comma */
	uint32_t queues; /**< 0 = one per worker */
	uint32_t rx_desc;
	uint32_t tx_desc;
	uint32_t mtu;
	bool rss;
	bool promiscuous;
	uint64_t link_wait_us;
	char ipv4[64]; /**< the appliance's address on this port (ARP, ICMP); 0.0.0.0 = any */
	char ipv6[64]; /**< "" = none */
	/* Resolved by validation. */
	bool pci;
	uint8_t ipv4_addr[4];
	bool has_ipv6;
	uint8_t ipv6_addr[16];
};

struct sluice_config_listener {
	char name[SLUICE_CONFIG_NAME_MAX];
	unsigned line;
	char port[SLUICE_CONFIG_NAME_MAX]; /**< port section name; "" = the only port */
	char address[64]; /**< IPv4 or IPv6 destination address; 0.0.0.0 or :: = any */
	uint32_t udp_port;
	uint32_t format; /**< enum sluice_config_format */
	char topic[SLUICE_CONFIG_TOPIC_MAX]; /**< "" = the only topic */
	uint32_t key; /**< enum sluice_config_key_mode */
	uint32_t max_event_bytes;
	uint32_t rate_limit; /**< events/s per source address; 0 = none */
	uint32_t rate_limit_burst; /**< events; 0 = rate_limit */
	/* Resolved by validation. */
	uint32_t port_index;
	uint32_t topic_index;
	uint8_t family; /**< 0 any, 4, 6 */
	uint8_t addr[16]; /**< network order; IPv4 in the first 4 bytes */
};

struct sluice_config_topic {
	char name[SLUICE_CONFIG_TOPIC_MAX];
	unsigned line;
	uint32_t partitions;
	uint64_t segment_bytes;
	uint64_t segment_us;
	uint64_t retention_bytes;
	uint64_t retention_us;
	bool retention_drop_unforwarded;
	bool fsync;
	uint64_t flush_interval_us;
	uint64_t flush_bytes;
	uint64_t index_interval_bytes;
	char kafka_topic[SLUICE_CONFIG_TOPIC_MAX]; /**< "" = same name */
};

struct sluice_config_storage {
	char data_dir[SLUICE_CONFIG_PATH_MAX];
	uint32_t writers;
	uint32_t ring_size;
	uint32_t direct_io; /**< enum sluice_config_direct_io */
	uint64_t write_buffer_bytes;
	struct sluice_cpu_list writer_cpus;
	bool idle_sleep;
	uint32_t prealloc; /**< 0 auto, 1 none, 2 fallocate (enum sluice_prealloc order) */
	uint64_t prealloc_bytes;
	uint32_t queue_depth; /**< writes in flight per partition */
};

struct sluice_config_kafka_prop {
	char key[128];
	char value[SLUICE_CONFIG_STR_MAX];
	char file[SLUICE_CONFIG_PATH_MAX];
	unsigned line;
};

struct sluice_config_kafka {
	bool enabled;
	char brokers[SLUICE_CONFIG_STR_MAX]; /**< bootstrap servers, or "embedded" */
	uint32_t embedded_brokers;
	char transactional_id[128]; /**< "" = sluice-<appliance_id> */
	uint64_t shutdown_timeout_us;
	char appliance_id[128]; /**< "" = hostname */
	uint32_t compression; /**< none, lz4, zstd */
	bool headers; /**< add the sluice.* headers to every record */
	uint32_t inflight_max_msgs;
	uint64_t inflight_max_bytes;
	uint32_t nprops;
	struct sluice_config_kafka_prop props[SLUICE_CONFIG_MAX_KAFKA_PROPS];
};

struct sluice_config_control {
	char socket[108];
	bool metrics;
	char metrics_listen[64]; /**< IPv4:port */
	uint32_t log; /**< enum sluice_config_log_target */
	uint32_t log_level; /**< enum sluice_config_log_level */
	uint64_t shutdown_timeout_us;
	uint64_t stats_interval_us;
	char socket_group[64]; /**< group that may read through the control socket; "" none */
	char admin_group[64]; /**< group that may also change/stop the appliance; "" root only */
	/* /health thresholds; 0 turns a check off. */
	uint64_t health_max_forward_lag_events; /**< per partition */
	uint64_t health_max_forward_lag_us; /**< age of the oldest unforwarded record */
	uint32_t health_min_free_percent; /**< of storage.data_dir's file system */
	uint64_t health_min_free_bytes;
	/* Resolved by validation. */
	char metrics_addr[32];
	uint16_t metrics_port;
	gid_t socket_gid; /**< (gid_t)-1 when socket_group is empty */
	gid_t admin_gid; /**< (gid_t)-1 when admin_group is empty */
};

struct sluice_config_dataplane {
	uint32_t workers;
	uint32_t burst;
	uint64_t batch_bytes;
	uint64_t linger_us;
	bool idle_sleep;
	uint64_t idle_sleep_us;
	uint32_t mbufs;
	uint32_t mbuf_cache;
	uint32_t batch_buffers;
	uint32_t backpressure; /**< 0 drop, 1 block */
	uint32_t keyless; /**< 0 sticky, 1 round_robin */
	uint32_t producer_table_size;
	uint32_t reorder_window;
	uint32_t producers_per_source;
	uint64_t producer_idle_us;
	uint32_t reply_rate; /**< replies/s per worker; 0 = unlimited */
	uint32_t reply_burst;
	uint32_t ack_window; /**< acknowledged mode: sequences accepted above the durable one */
	uint64_t ack_recovery_records; /**< records per partition scanned at start for acks */
};

/** The whole configuration. Create with sluice_config_new(). */
struct sluice_config {
	struct sluice_config_eal eal;
	struct sluice_config_storage storage;
	struct sluice_config_kafka kafka;
	struct sluice_config_control control;
	struct sluice_config_dataplane dataplane;
	uint32_t nports, nlisteners, ntopics;
	struct sluice_config_port ports[SLUICE_CONFIG_MAX_PORTS];
	struct sluice_config_listener listeners[SLUICE_CONFIG_MAX_LISTENERS];
	struct sluice_config_topic topics[SLUICE_CONFIG_MAX_TOPICS];
	char file[SLUICE_CONFIG_PATH_MAX]; /**< last file parsed, for messages */
	void *priv; /**< origins of values, for messages (config.c) */
	/* Errors, "file:line: key: reason" each. */
	char **errors;
	uint32_t nerrors;
	/* Environment facts used by validation; tests may override before validating. */
	long online_cpus; /**< 0 = sysconf(_SC_NPROCESSORS_ONLN) */
	bool skip_env_checks; /**< skip data-dir probe (fuzzing) */
};

/** Allocate a configuration holding every default. NULL on ENOMEM. */
struct sluice_config *sluice_config_new(void);

void sluice_config_free(struct sluice_config *cfg);

/**
 * Parse INI text. Sections: [eal] [storage] [kafka] [control] [dataplane] and named
 * [port.<name>] [listener.<name>] [topic.<name>]. Lines: `key = value`, `# comment`, `; comment`.
 * @param file name used in messages
 * @return 0 when no error was found, -EINVAL otherwise (errors recorded).
 */
int sluice_config_parse(struct sluice_config *cfg, const char *file, const char *buf, size_t len);

/** Read and parse a file. @return 0, -EINVAL (errors recorded) or -errno reading the file. */
int sluice_config_load(struct sluice_config *cfg, const char *path);

/**
 * Apply one `section.key=value` override (`--set`); @p index numbers overrides in messages
 * ("--set:3: ..."). Named sections are addressed as `topic.<name>.<key>`.
 * @return 0 or -EINVAL (error recorded).
 */
int sluice_config_override(struct sluice_config *cfg, const char *assignment, unsigned index);

/**
 * Cross-check everything: references, overlaps, bounds that span keys, lcores against the
 * machine's CPUs, the data directory (probed without creating anything), kafka.* client
 * settings against the forwarder's table. Fills the resolved fields.
 * @return 0 or -EINVAL (errors recorded).
 */
int sluice_config_validate(struct sluice_config *cfg);

/**
 * The CPUs lcore @p lcore may run on, from the resolved `eal.lcores` map (call after a
 * successful sluice_config_validate()). @return 0; -ENOENT when the map has no such lcore.
 */
int sluice_config_lcore_cpus(const struct sluice_config *cfg, unsigned lcore,
			     struct sluice_cpu_list *out);

uint32_t sluice_config_error_count(const struct sluice_config *cfg);
const char *sluice_config_error(const struct sluice_config *cfg, uint32_t i);
/** Print every error, one per line. */
void sluice_config_print_errors(const struct sluice_config *cfg, FILE *out);

/**
 * Current value of @p key ("dataplane.linger", "topic.events.flush_interval", or a kafka.*
 * librdkafka property that is set) as the parser would accept it; a secret
 * (sluice_config_key_is_secret) reads SLUICE_CONFIG_REDACTED.
 * @return 0, -ENOENT unknown key, -ENOSPC buffer too small.
 */
int sluice_config_get(const struct sluice_config *cfg, const char *key, char *out, size_t len);

/** Is @p key tunable at runtime? -ENOENT for unknown keys, else 0/1. */
int sluice_config_is_runtime(const char *key);

/**
 * Change a runtime-tunable key in @p cfg. The value is parsed and bounds-checked like the
 * file; nothing changes on error. The caller applies the new value to the running modules.
 * @return 0; -ENOENT unknown key; -EPERM not runtime-tunable; -EINVAL bad value
 *         (reason in @p err).
 */
int sluice_config_set(struct sluice_config *cfg, const char *key, const char *value, char *err,
		      size_t errlen);

/** What sluice_config_get() and sluice_config_foreach() show instead of a secret value. */
#define SLUICE_CONFIG_REDACTED "***"

/**
 * Is @p key (full dotted name, e.g. "kafka.sasl.password") a secret? The one rule, used
 * wherever configuration is shown (config list/get, telemetry, logs): a key whose name
 * contains "password", "passwd", "secret", "credential", "jaas" or "private", or that holds
 * a private key or a credential blob (ssl.key.pem, ssl_key, sasl.oauthbearer.config,
 * sasl.oauthbearer.extensions), case-insensitively. Its value is shown as
 * SLUICE_CONFIG_REDACTED.
 */
bool sluice_config_key_is_secret(const char *key);

/** Where the log goes besides the disk: sluice_config_forwarding() decides, once. */
enum sluice_config_forwarding {
	SLUICE_CONFIG_FORWARD_OFF, /**< no kafka.brokers, or kafka.enabled = false: store only */
	SLUICE_CONFIG_FORWARD_KAFKA, /**< a Kafka cluster (kafka.brokers) */
	SLUICE_CONFIG_FORWARD_EMBEDDED, /**< demo: the in-memory mock cluster, asked for */
};

enum sluice_config_forwarding sluice_config_forwarding(const struct sluice_config *cfg);

/** "off", "kafka" or "embedded". */
const char *sluice_config_forwarding_name(enum sluice_config_forwarding f);

/** One key of the live configuration, for config.list. */
struct sluice_config_item {
	const char *key; /**< full dotted name */
	const char *section; /**< "eal", "kafka" (properties included), "topic.events", ... */
	const char *value; /**< SLUICE_CONFIG_REDACTED for a secret */
	const char *default_value;
	const char *type;
	const char *help;
	bool runtime;
	bool secret; /**< sluice_config_key_is_secret(key): value is redacted */
};

/** Visit every key of @p cfg (named sections expanded). @return number of keys visited. */
unsigned sluice_config_foreach(const struct sluice_config *cfg,
			       void (*cb)(const struct sluice_config_item *item, void *arg),
			       void *arg);

enum sluice_config_help_format {
	SLUICE_CONFIG_HELP_TEXT,
	SLUICE_CONFIG_HELP_MARKDOWN,
};

/** Print the key tables (`sluiced --help-config[=markdown]`). */
void sluice_config_help(FILE *out, enum sluice_config_help_format fmt);

/** Names used in the tables, for logs and JSON. */
const char *sluice_config_format_name(uint32_t format);
const char *sluice_config_key_mode_name(uint32_t key_mode);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_CONFIG_H */
