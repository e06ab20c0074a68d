/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * sluiced's configuration: a strict INI parser, the registry of sections, and the validation
 * that runs before anything is touched (private to control/). Each section's struct and key
 * table belong to the module that uses the values (nic/, dataplane/, storage/, forward/
 * `<module>_config.h` and `config_keys.c`); [control]'s are here and in config_keys.c.
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

#include "dataplane_config.h"
#include "forward_config.h"
#include "nic_config.h"
#include "sluice_config_key.h"
#include "storage_config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_CONFIG_MAX_PORTS 8
#define SLUICE_CONFIG_MAX_LISTENERS 32
#define SLUICE_CONFIG_MAX_TOPICS 32
#define SLUICE_CONFIG_LINE_MAX 4096
#define SLUICE_CONFIG_MAX_EAL_ARGS 62 /**< tokens in eal.args */

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
