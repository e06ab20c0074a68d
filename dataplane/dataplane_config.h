/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The configuration of the dataplane: sections [dataplane] and [listener.<name>].
 * control/ fills the values from the rows of dataplane/config_keys.c (one row per key: name,
 * type, default, bounds, help); a new key is a field here and a row there.
 */
#ifndef SLUICE_DATAPLANE_CONFIG_H
#define SLUICE_DATAPLANE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice_config_key.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sluice_config_format {
	SLUICE_CONFIG_FORMAT_KAFKA,
	SLUICE_CONFIG_FORMAT_LINES,
	SLUICE_CONFIG_FORMAT_RAW,
};

enum sluice_config_key_mode {
	SLUICE_CONFIG_KEY_NONE, /**< null key: round-robin/sticky partitioning */
	SLUICE_CONFIG_KEY_SOURCE, /**< key = source address: one producer, one partition */
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

/** Defaults shared by the rows and the dataplane's own options (0 = default). */
#define SLUICE_DP_PRODUCER_TABLE_SIZE_DEFAULT 4096
#define SLUICE_DP_PRODUCER_IDLE_S_DEFAULT 60

/** The key tables of [dataplane] and [listener.<name>]. */
extern const struct sluice_config_table sluice_dataplane_keys;
extern const struct sluice_config_table sluice_dataplane_listener_keys;
/** listener.format and listener.key names, by value (NULL-terminated). */
extern const char *const sluice_dataplane_format_names[];
extern const char *const sluice_dataplane_key_mode_names[];

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_DATAPLANE_CONFIG_H */
