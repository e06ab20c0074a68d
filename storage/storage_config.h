/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The configuration of the log: sections [storage] and [topic.<name>].
 * control/ fills the values from the rows of storage/config_keys.c (one row per key: name,
 * type, default, bounds, help); a new key is a field here and a row there.
 */
#ifndef SLUICE_STORAGE_CONFIG_H
#define SLUICE_STORAGE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice_config_key.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sluice_config_direct_io {
	SLUICE_CONFIG_DIRECT_AUTO,
	SLUICE_CONFIG_DIRECT_ON,
	SLUICE_CONFIG_DIRECT_OFF,
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

/** The key tables of [storage] and [topic.<name>]. */
extern const struct sluice_config_table sluice_storage_keys;
extern const struct sluice_config_table sluice_storage_topic_keys;

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_STORAGE_CONFIG_H */
