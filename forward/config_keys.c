/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The forwarder's keys: [kafka] (the Kafka client's own kafka.* settings are conf.c's).
 * Each row is the whole key: parsing, bounds, the default, config.get/set/list,
 * --help-config and docs/configuration.md come from it (control/config.c). A new key is one
 * row here (and its field in forward/forward_config.h).
 */
#include "sluice_config_rows.h"
#include "forward_config.h"

static const char *const compression_names[] = {"none", "lz4", "zstd", NULL};

static const struct sluice_config_key kafka_keys[] = {
	{"enabled", T_BOOL, "true", 0, 0, FIELD(sluice_config_kafka, enabled), NULL, 0, 0,
	 "forward the log to the Kafka cluster named by `brokers`; false: store only, even when "
	 "`brokers` is set"},
	{"brokers", T_STRING, "", 0, 0, FIELD(sluice_config_kafka, brokers), NULL, 0, 0,
	 "bootstrap servers (host:port,...) to forward to. Empty: forwarding is off, the log is "
	 "only stored (forwarder state `off`; retention by size and age alone). `embedded`: "
	 "DEMO MODE, librdkafka's mock cluster in-process, in memory, keeping only the newest "
	 "5 MiB per partition: warned about at start and in `sluicectl status`, and its "
	 "acknowledgements never let retention delete a record"},
	{"embedded_brokers", T_U32, "1", 1, 9, FIELD(sluice_config_kafka, embedded_brokers), NULL,
	 0, 0, "brokers in the embedded mock cluster"},
	{"transactional_id", T_STRING, "", 0, 0, FIELD(sluice_config_kafka, transactional_id), NULL,
	 0, 0,
	 "stable producer identity of this appliance towards Kafka (InitProducerId; no "
	 "transactions are written); two appliances must never share one; empty: "
	 "sluice-<appliance_id>"},
	{"shutdown_timeout", T_DURATION, "10s", 0, 600 * SEC_US,
	 FIELD(sluice_config_kafka, shutdown_timeout_us), NULL, 0, 0,
	 "how long shutdown waits for in-flight deliveries"},
	{"appliance_id", T_STRING, "", 0, 0, FIELD(sluice_config_kafka, appliance_id), NULL, 0,
	 K_NAME, "stable id of this appliance (header sluice.appliance); empty: the hostname"},
	{"compression", T_ENUM, "none", 0, 0, FIELD(sluice_config_kafka, compression),
	 compression_names, 0, 0,
	 "compression of the batches sent to Kafka (done by the forwarder while coalescing)"},
	{"headers", T_BOOL, "false", 0, 0, FIELD(sluice_config_kafka, headers), NULL, 0, 0,
	 "add the headers sluice.topic, sluice.partition, sluice.offset and sluice.appliance to "
	 "every record (about 70 bytes each, and each record is re-encoded)"},
	{"inflight_max_msgs", T_U32, SLUICE_CONFIG_STR(SLUICE_FWD_INFLIGHT_MAX_MSGS_DEFAULT), 1,
	 1u << 24, FIELD(sluice_config_kafka, inflight_max_msgs), NULL, 0, K_RUNTIME,
	 "unacknowledged records per partition (at most 5 batches are in flight)"},
	{"inflight_max_bytes", T_SIZE, SLUICE_CONFIG_STR(SLUICE_FWD_INFLIGHT_MAX_MB_DEFAULT) "M",
	 64 * KB, 1 * GB, FIELD(sluice_config_kafka, inflight_max_bytes), NULL, 0, K_RUNTIME,
	 "unacknowledged batch bytes per partition"},
};

const struct sluice_config_table sluice_forward_kafka_keys = {KEYS(kafka_keys)};
