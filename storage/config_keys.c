/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The log's keys: [storage] and [topic.<name>].
 * Each row is the whole key: parsing, bounds, the default, config.get/set/list,
 * --help-config and docs/configuration.md come from it (control/config.c). A new key is one
 * row here (and its field in storage/storage_config.h).
 */
#include "sluice_config_rows.h"
#include "sluice_storage.h"
#include "storage_config.h"

static const char *const direct_names[] = {"auto", "on", "off", NULL};
static const char *const prealloc_names[] = {"auto", "none", "fallocate", NULL};

static const struct sluice_config_key topic_keys[] = {
	{"partitions", T_U32, "1", 1, 4096, FIELD(sluice_config_topic, partitions), NULL, 0, 0,
	 "partitions; local partition p is forwarded to Kafka partition p"},
	{"segment_bytes", T_SIZE, "1G", 1 * MB, 16 * GB, FIELD(sluice_config_topic, segment_bytes),
	 NULL, 0, 0, "roll the active segment at this size"},
	{"segment_age", T_DURATION, "0", 0, 365 * 86400 * SEC_US,
	 FIELD(sluice_config_topic, segment_us), NULL, 0, 0,
	 "roll the active segment at this age; 0: never"},
	{"retention_bytes", T_SIZE, "0", 0, 1024 * TB, FIELD(sluice_config_topic, retention_bytes),
	 NULL, 0, 0, "delete the oldest segments above this size per partition; 0: unlimited"},
	{"retention_age", T_DURATION, "604800s", 0, 3650 * 86400 * SEC_US,
	 FIELD(sluice_config_topic, retention_us), NULL, 0, 0,
	 "delete segments older than this (default 7 days, as Kafka); 0: unlimited"},
	{"retention_drop_unforwarded", T_BOOL, "false", 0, 0,
	 FIELD(sluice_config_topic, retention_drop_unforwarded), NULL, 0, 0,
	 "may retention delete segments the forwarder has not sent yet (counted and alarmed)"},
	{"fsync", T_BOOL, "true", 0, 0, FIELD(sluice_config_topic, fsync), NULL, 0, 0,
	 "group-commit with fdatasync; false: page-cache durability only"},
	{"flush_interval", T_DURATION, "2ms", 0, 10 * SEC_US,
	 FIELD(sluice_config_topic, flush_interval_us), NULL, 0, 0,
	 "group commit deadline: data is durable (and forwarded) at most this long after it is "
	 "written"},
	{"flush_bytes", T_SIZE, "4M", 4 * KB, 1 * GB, FIELD(sluice_config_topic, flush_bytes), NULL,
	 0, 0, "group commit size trigger"},
	{"index_interval_bytes", T_SIZE, "4K", 512, 16 * MB,
	 FIELD(sluice_config_topic, index_interval_bytes), NULL, 0, 0,
	 "bytes between sparse offset index entries"},
	{"kafka_topic", T_STRING, "", 0, 0, FIELD(sluice_config_topic, kafka_topic), NULL, 0,
	 K_NAME, "name of the Kafka topic this log is forwarded to; empty: the same name"},
};

static const struct sluice_config_key storage_keys[] = {
	{"data_dir", T_STRING, "/var/lib/sluice", 0, 0, FIELD(sluice_config_storage, data_dir),
	 NULL, 0, 0, "log directory: <data_dir>/<topic>-<partition>/"},
	{"writers", T_U32, "1", 1, 64, FIELD(sluice_config_storage, writers), NULL, 0, 0,
	 "io_uring writer threads; partitions are spread over them round-robin"},
	{"ring_size", T_U32, SLUICE_CONFIG_STR(SLUICE_LOG_RING_SIZE_DEFAULT), 64, 1u << 20,
	 FIELD(sluice_config_storage, ring_size), NULL, 0, K_POW2,
	 "batch descriptors per (worker, writer) ring"},
	{"direct_io", T_ENUM, "auto", 0, 0, FIELD(sluice_config_storage, direct_io), direct_names,
	 0, 0, "O_DIRECT writes: auto (fall back to buffered where unsupported, logged), on, off"},
	{"write_buffer", T_SIZE, SLUICE_CONFIG_STR(SLUICE_LOG_WRITE_BUFFER_MB_DEFAULT) "M", 64 * KB,
	 256 * MB, FIELD(sluice_config_storage, write_buffer_bytes), NULL, 0, 0,
	 "aligned write-combining buffer; a partition has queue_depth + 1 of them, and a batch "
	 "must fit one"},
	{"writer_cpus", T_CPUS, "", 0, 0, FIELD(sluice_config_storage, writer_cpus), NULL, 0, 0,
	 "CPU to pin each writer to (one per writer); empty: not pinned"},
	{"idle_sleep", T_BOOL, "true", 0, 0, FIELD(sluice_config_storage, idle_sleep), NULL, 0, 0,
	 "writers sleep briefly when idle (shared cores); false: busy-poll"},
	{"prealloc", T_ENUM, "auto", 0, 0, FIELD(sluice_config_storage, prealloc), prealloc_names,
	 0, 0,
	 "how segments get disk space ahead of the tail: auto (the measured best, see "
	 "docs/storage.md), none (each group commit also commits the file growth), fallocate"},
	{"prealloc_bytes", T_SIZE, SLUICE_CONFIG_STR(SLUICE_STORAGE_PREALLOC_MB_DEFAULT) "M",
	 1 * MB, 1 * GB, FIELD(sluice_config_storage, prealloc_bytes), NULL, 0, 0,
	 "how far ahead of the tail fallocate reserves"},
	{"queue_depth", T_U32, SLUICE_CONFIG_STR(SLUICE_LOG_QUEUE_DEPTH_DEFAULT), 1,
	 SLUICE_LOG_QUEUE_DEPTH_MAX, FIELD(sluice_config_storage, queue_depth), NULL, 0, 0,
	 "writes in flight per partition; each partition holds queue_depth + 1 write buffers. "
	 "The durable offset still only covers a contiguous, synced prefix (docs/storage.md)"},
};

const struct sluice_config_table sluice_storage_keys = {KEYS(storage_keys)};
const struct sluice_config_table sluice_storage_topic_keys = {KEYS(topic_keys)};
