/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The section registry: each section names the table of the module that owns its keys
 * (nic/, dataplane/, storage/, forward/ config_keys.c), and control's own keys below. A key is
 * added as one row in its module's table; a section, as one line here.
 */
#include "config_internal.h"

static const char *const log_names[] = {"stderr", "syslog", NULL};
static const char *const level_names[] = {"emerg",  "alert", "crit",  "err", "warning",
					  "notice", "info",  "debug", NULL};

static const struct sluice_config_key control_key_rows[] = {
	{"socket", T_STRING, "/run/sluice/sluiced.sock", 0, 0, FIELD(sluice_config_control, socket),
	 NULL, 0, 0, "control socket for sluicectl; empty: none"},
	{"metrics", T_BOOL, "true", 0, 0, FIELD(sluice_config_control, metrics), NULL, 0, 0,
	 "serve Prometheus /metrics and /health over HTTP"},
	{"metrics_listen", T_ADDRESS, "127.0.0.1:9464", 0, 0,
	 FIELD(sluice_config_control, metrics_listen), NULL, 0, 0,
	 "IPv4:port of the metrics endpoint; port 0: any free port (logged)"},
	{"log", T_ENUM, "stderr", 0, 0, FIELD(sluice_config_control, log), log_names, 0, 0,
	 "where logs go"},
	{"log_level", T_ENUM, "info", 0, 0, FIELD(sluice_config_control, log_level), level_names, 1,
	 K_RUNTIME, "sluice log level (every module's rte_log type)"},
	{"shutdown_timeout", T_DURATION, "30s", 1 * SEC_US, 3600 * SEC_US,
	 FIELD(sluice_config_control, shutdown_timeout_us), NULL, 0, 0,
	 "after this long a graceful shutdown gives up and exits with status 1"},
	{"stats_interval", T_DURATION, "10s", 0, 3600 * SEC_US,
	 FIELD(sluice_config_control, stats_interval_us), NULL, 0, K_RUNTIME,
	 "log a one-line rate summary this often; 0: never"},
	{"socket_group", T_STRING, "", 0, 0, FIELD(sluice_config_control, socket_group), NULL, 0, 0,
	 "group whose members may read through the control socket (status, stats, health, "
	 "metrics, partitions, producers, segments, config list/get); the socket is chowned to "
	 "it, mode 0660. Empty: only root and admin_group"},
	{"admin_group", T_STRING, "", 0, 0, FIELD(sluice_config_control, admin_group), NULL, 0, 0,
	 "group whose members may also change the appliance through the control socket (config "
	 "set, forwarder pause/resume, flush, shutdown); root always may. Empty: root only. "
	 "When both groups are set and differ, the socket is mode 0666 and its peer-credential "
	 "check alone decides (docs/operations.md)"},
	{"health_max_forward_lag_events", T_U64, "0", 0, UINT64_MAX,
	 FIELD(sluice_config_control, health_max_forward_lag_events), NULL, 0, K_RUNTIME,
	 "/health fails when a partition has more durable records than this not yet "
	 "acknowledged by Kafka; 0: no check"},
	{"health_max_forward_lag", T_DURATION, "300s", 0, 30 * 24 * 3600 * SEC_US,
	 FIELD(sluice_config_control, health_max_forward_lag_us), NULL, 0, K_RUNTIME,
	 "/health fails when a partition's oldest unforwarded record is older than this; 0: no "
	 "check"},
	{"health_min_free_percent", T_U32, "5", 0, 100,
	 FIELD(sluice_config_control, health_min_free_percent), NULL, 0, K_RUNTIME,
	 "/health fails when storage.data_dir's file system has less free space than this "
	 "percentage; 0: no check"},
	{"health_min_free_bytes", T_SIZE, "0", 0, UINT64_MAX,
	 FIELD(sluice_config_control, health_min_free_bytes), NULL, 0, K_RUNTIME,
	 "/health fails when storage.data_dir's file system has less free space than this; 0: "
	 "no check"},
};

static const struct sluice_config_table control_keys = {KEYS(control_key_rows)};

const struct section sections[SEC__COUNT] = {
	[SEC_EAL] = {"eal", false, &sluice_nic_eal_keys, "DPDK environment: cores and memory."},
	[SEC_STORAGE] = {"storage", false, &sluice_storage_keys,
			 "The log on disk and its writers."},
	[SEC_KAFKA] = {"kafka", false, &sluice_forward_kafka_keys,
		       "The forwarder. Any other key in this section is a setting of sluice's "
		       "Kafka client, with librdkafka's name and meaning (e.g. "
		       "`security.protocol = sasl_ssl`); the next table lists them. Keys that "
		       "carry the exactly-once guarantee (acks, enable.idempotence, ...) are "
		       "refused."},
	[SEC_CONTROL] = {"control", false, &control_keys, "Control socket, metrics and logging."},
	[SEC_DATAPLANE] = {"dataplane", false, &sluice_dataplane_keys,
			   "Worker lcores: receive, parse, batch."},
	[SEC_PORT] = {"port", true, &sluice_nic_port_keys,
		      "A NIC port (`[port.<name>]`); at least one is required."},
	[SEC_LISTENER] = {"listener", true, &sluice_dataplane_listener_keys,
			  "A UDP port events arrive on (`[listener.<name>]`); at least one is "
			  "required. Two listeners on the same port and UDP port may not overlap "
			  "in address; on two different ports they may (each hears its own "
			  "port)."},
	[SEC_TOPIC] = {"topic", true, &sluice_storage_topic_keys,
		       "A partitioned log (`[topic.<name>]`); at least one is required."},
};
