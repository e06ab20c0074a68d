/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The configuration of the forwarder: section [kafka] (its own keys; the Kafka client's
 * kafka.* settings are forward/conf.c's table).
 * control/ fills the values from the rows of forward/config_keys.c (one row per key: name,
 * type, default, bounds, help); a new key is a field here and a row there.
 */
#ifndef SLUICE_FORWARD_CONFIG_H
#define SLUICE_FORWARD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice_config_key.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_CONFIG_MAX_KAFKA_PROPS 64

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

/** Unacknowledged batch MiB per partition: kafka.inflight_max_bytes's default, and the
 *  forwarder's when sluice_fwd_opts.inflight_max_bytes is 0. */
#define SLUICE_FWD_INFLIGHT_MAX_MB_DEFAULT 64
/** kafka.inflight_max_msgs' default, and what inflight_max_msgs = 0 means. */
#define SLUICE_FWD_INFLIGHT_MAX_MSGS_DEFAULT 200000

/** The key table of [kafka]. */
extern const struct sluice_config_table sluice_forward_kafka_keys;

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_FORWARD_CONFIG_H */
