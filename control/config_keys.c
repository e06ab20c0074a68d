/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The section registry: one table per section, one row per key (name, type, default, bounds,
 * field, flags such as runtime-tunable, help). Parsing, bounds, defaults, config.get/set,
 * --help-config and docs/configuration.md all come from these rows. The key is added here.
 */
#include "config_internal.h"

static const char *const mem_names[] = {"huge", "in-memory", "no-huge", NULL};
const char *const format_names[] = {"kafka", "lines", "raw", NULL};
const char *const key_mode_names[] = {"none", "source_addr", NULL};
static const char *const backpressure_names[] = {"drop", "block", NULL};
static const char *const keyless_names[] = {"sticky", "round_robin", NULL};
static const char *const compression_names[] = {"none", "lz4", "zstd", NULL};
static const char *const direct_names[] = {"auto", "on", "off", NULL};
static const char *const log_names[] = {"stderr", "syslog", NULL};
static const char *const prealloc_names[] = {"auto", "none", "fallocate", NULL};
static const char *const level_names[] = {"emerg",  "alert", "crit",  "err", "warning",
					  "notice", "info",  "debug", NULL};

static const struct key eal_keys[] = {
	{"lcores", T_LCORES, "auto", 0, 0, FIELD(sluice_config_eal, lcores), NULL, 0, 0,
	 "EAL --lcores map (e.g. 0@0,1@1,2@0); the lowest lcore is the main lcore, the next "
	 "dataplane.workers lcores run workers. `auto`: main on CPU 0, workers round-robin on "
	 "the online CPUs"},
	{"memory", T_ENUM, "huge", 0, 0, FIELD(sluice_config_eal, memory), mem_names, 0, 0,
	 "huge: hugepages (--huge-unlink); in-memory: hugepages, no files (--in-memory); "
	 "no-huge: ordinary memory (--no-huge), for tests and small machines"},
	{"memory_mb", T_U32, "512", 64, 1u << 20, FIELD(sluice_config_eal, memory_mb), NULL, 0, 0,
	 "memory EAL reserves (-m); required with no-huge"},
	{"file_prefix", T_STRING, "", 0, 0, FIELD(sluice_config_eal, file_prefix), NULL, 0, K_NAME,
	 "EAL --file-prefix; empty: sluiced-<pid>, so that instances never collide"},
	{"log_level", T_STRING, "", 0, 0, FIELD(sluice_config_eal, log_level), NULL, 0, 0,
	 "EAL --log-level value, checked as EAL parses it: LEVEL, PATTERN:LEVEL or REGEX,LEVEL "
	 "(e.g. `lib.eal:debug`); empty: EAL default"},
	{"telemetry", T_BOOL, "true", 0, 0, FIELD(sluice_config_eal, telemetry), NULL, 0, 0,
	 "keep DPDK's telemetry socket (dpdk-telemetry.py -f <file_prefix>)"},
	{"args", T_STRING, "", 0, 0, FIELD(sluice_config_eal, args), NULL, 0, 0,
	 "extra EAL arguments, space-separated, appended verbatim (at most 62; options sluiced "
	 "derives from its own keys, such as --lcores, -m or --vdev, are refused)"},
};

static const struct key port_keys[] = {
	{"device", T_STRING, NULL, 0, 0, FIELD(sluice_config_port, device), NULL, 0, K_REQUIRED,
	 "PCI address (0000:03:00.0, bound to vfio-pci) or virtual device name (net_memif0, "
	 "net_pcap0, net_af_packet0, ...)"},
	{"args", T_STRING, "", 0, 0, FIELD(sluice_config_port, args), NULL, 0, 0,
	 "virtual device arguments, e.g. `socket=/run/sluice/memif.sock,socket-abstract=no`"},
	{"queues", T_U32, "0", 0, 1024, FIELD(sluice_config_port, queues), NULL, 0, 0,
	 "RX (and TX) queues; each worker polls one queue of every port. 0: one per worker"},
	{"rx_desc", T_U32, "1024", 64, 32768, FIELD(sluice_config_port, rx_desc), NULL, 0, K_POW2,
	 "RX descriptors per queue: the burst the NIC can absorb while a worker is busy"},
	{"tx_desc", T_U32, "512", 64, 32768, FIELD(sluice_config_port, tx_desc), NULL, 0, K_POW2,
	 "TX descriptors per queue (ARP/ICMP replies)"},
	{"mtu", T_U32, "0", 0, 9600, FIELD(sluice_config_port, mtu), NULL, 0, 0,
	 "MTU; 0: device default"},
	{"rss", T_BOOL, "true", 0, 0, FIELD(sluice_config_port, rss), NULL, 0, 0,
	 "spread flows over queues by RSS (IPv4/IPv6 + UDP) where the device offers it"},
	{"promiscuous", T_BOOL, "false", 0, 0, FIELD(sluice_config_port, promiscuous), NULL, 0, 0,
	 "accept frames for any destination MAC"},
	{"link_wait", T_DURATION, "5s", 0, 600 * SEC_US, FIELD(sluice_config_port, link_wait_us),
	 NULL, 0, 0, "how long start-up waits for link up (memif: until the peer connects)"},
	{"ipv4", T_IP, "0.0.0.0", 4, 4, FIELD(sluice_config_port, ipv4), NULL, 0, 0,
	 "the appliance's IPv4 address on this port: answers ARP and ICMP echo for it and "
	 "accepts only datagrams to it; 0.0.0.0: accept any destination, answer nothing"},
	{"ipv6", T_IP, "", 6, 6, FIELD(sluice_config_port, ipv6), NULL, 0, 0,
	 "the appliance's IPv6 address on this port (answers neighbour solicitation); empty: "
	 "none"},
};

static const struct key listener_keys[] = {
	{"port", T_STRING, "", 0, 0, FIELD(sluice_config_listener, port), NULL, 0, K_NAME,
	 "the [port.<name>] this listener receives on (traffic of other ports never reaches "
	 "it); may be omitted when there is one port"},
	{"address", T_IP, "0.0.0.0", 0, 0, FIELD(sluice_config_listener, address), NULL, 0, 0,
	 "destination IPv4 or IPv6 address to accept; 0.0.0.0 (the default) or :: accepts any "
	 "of the port's addresses"},
	{"udp_port", T_U32, NULL, 1, 65535, FIELD(sluice_config_listener, udp_port), NULL, 0,
	 K_REQUIRED, "destination UDP port"},
	{"format", T_ENUM, "kafka", 0, 0, FIELD(sluice_config_listener, format), format_names, 0, 0,
	 "kafka: envelope + RecordBatch v2; lines: newline-separated events; raw: one datagram, "
	 "one event (docs/wire-formats.md)"},
	{"topic", T_STRING, "", 0, 0, FIELD(sluice_config_listener, topic), NULL, 0, K_NAME,
	 "the [topic.<name>] events go to; may be omitted when there is one topic"},
	{"key", T_ENUM, "none", 0, 0, FIELD(sluice_config_listener, key), key_mode_names, 0, 0,
	 "lines/raw: record key. none: null key (see dataplane.keyless); source_addr: the "
	 "source address as text, so one producer's events stay ordered in one partition"},
	{"max_event_bytes", T_SIZE, "0", 0, 16 * MB, FIELD(sluice_config_listener, max_event_bytes),
	 NULL, 0, 0,
	 "largest event (line, raw payload, record key + value); larger ones are rejected. "
	 "0: the largest that fits a batch of dataplane.batch_bytes"},
	{"rate_limit", T_U32, "0", 0, 1u << 30, FIELD(sluice_config_listener, rate_limit), NULL, 0,
	 0,
	 "events per second one source address may send to this listener (token bucket per "
	 "worker and source); events over it are shed, counted as shed reason rate_limited. "
	 "0: no limit (the default: a limit sheds bursts sluice exists to absorb, and only the "
	 "operator knows a sender's normal rate)"},
	{"rate_limit_burst", T_U32, "0", 0, 1u << 30,
	 FIELD(sluice_config_listener, rate_limit_burst), NULL, 0, 0,
	 "events a source may send at once above rate_limit (the bucket size); 0: one "
	 "second's worth (rate_limit). A kafka batch for an explicit partition needs tokens "
	 "for all its records: make it at least the largest batch's record count"},
};

static const struct key topic_keys[] = {
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

#define QD_STR_(x) #x
#define QD_STR(x) QD_STR_(x)

static const struct key storage_keys[] = {
	{"data_dir", T_STRING, "/var/lib/sluice", 0, 0, FIELD(sluice_config_storage, data_dir),
	 NULL, 0, 0, "log directory: <data_dir>/<topic>-<partition>/"},
	{"writers", T_U32, "1", 1, 64, FIELD(sluice_config_storage, writers), NULL, 0, 0,
	 "io_uring writer threads; partitions are spread over them round-robin"},
	{"ring_size", T_U32, "1024", 64, 1u << 20, FIELD(sluice_config_storage, ring_size), NULL, 0,
	 K_POW2, "batch descriptors per (worker, writer) ring"},
	{"direct_io", T_ENUM, "auto", 0, 0, FIELD(sluice_config_storage, direct_io), direct_names,
	 0, 0, "O_DIRECT writes: auto (fall back to buffered where unsupported, logged), on, off"},
	{"write_buffer", T_SIZE, "1M", 64 * KB, 256 * MB,
	 FIELD(sluice_config_storage, write_buffer_bytes), NULL, 0, 0,
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
	{"prealloc_bytes", T_SIZE, "16M", 1 * MB, 1 * GB,
	 FIELD(sluice_config_storage, prealloc_bytes), NULL, 0, 0,
	 "how far ahead of the tail fallocate reserves"},
	{"queue_depth", T_U32, QD_STR(SLUICE_LOG_QUEUE_DEPTH_DEFAULT), 1,
	 SLUICE_LOG_QUEUE_DEPTH_MAX, FIELD(sluice_config_storage, queue_depth), NULL, 0, 0,
	 "writes in flight per partition; each partition holds queue_depth + 1 write buffers. "
	 "The durable offset still only covers a contiguous, synced prefix (docs/storage.md)"},
};

static const struct key kafka_keys[] = {
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
	{"inflight_max_msgs", T_U32, "200000", 1, 1u << 24,
	 FIELD(sluice_config_kafka, inflight_max_msgs), NULL, 0, K_RUNTIME,
	 "unacknowledged records per partition (at most 5 batches are in flight)"},
	{"inflight_max_bytes", T_SIZE, "64M", 64 * KB, 1 * GB,
	 FIELD(sluice_config_kafka, inflight_max_bytes), NULL, 0, K_RUNTIME,
	 "unacknowledged batch bytes per partition"},
};

static const struct key control_keys[] = {
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

static const struct key dataplane_keys[] = {
	{"workers", T_U32, "1", 1, SLUICE_CONFIG_MAX_LCORES - 1,
	 FIELD(sluice_config_dataplane, workers), NULL, 0, 0,
	 "worker lcores; each polls one RX queue of every port"},
	{"burst", T_U32, "32", 1, 64, FIELD(sluice_config_dataplane, burst), NULL, 0, 0,
	 "packets per RX burst"},
	{"batch_bytes", T_SIZE, "256K", 4 * KB, SLUICE_RB_MAX_BATCH_BYTES,
	 FIELD(sluice_config_dataplane, batch_bytes), NULL, 0, K_RUNTIME,
	 "seal a partition's open batch at this size (runtime changes are capped at the "
	 "start-up value, the size of the buffers)"},
	{"linger", T_DURATION, "1ms", 0, 1 * SEC_US, FIELD(sluice_config_dataplane, linger_us),
	 NULL, 0, K_RUNTIME, "seal a partition's open batch at this age"},
	{"idle_sleep", T_BOOL, "true", 0, 0, FIELD(sluice_config_dataplane, idle_sleep), NULL, 0,
	 K_RUNTIME,
	 "an idle worker backs off (pause, then sleep) so workers can share cores; false: "
	 "dedicated cores that never sleep"},
	{"idle_sleep_time", T_DURATION, "100us", 1, 100000,
	 FIELD(sluice_config_dataplane, idle_sleep_us), NULL, 0, K_RUNTIME,
	 "longest sleep of an idle worker"},
	{"mbufs", T_U32, "16383", 1023, 1u << 24, FIELD(sluice_config_dataplane, mbufs), NULL, 0, 0,
	 "packet buffers in the RX pools, split between the NUMA sockets of the ports in "
	 "proportion to their ports (a power of two minus one is best)"},
	{"mbuf_cache", T_U32, "256", 0, 512, FIELD(sluice_config_dataplane, mbuf_cache), NULL, 0, 0,
	 "per-lcore mempool cache"},
	{"batch_buffers", T_U32, "1024", 16, 1u << 20,
	 FIELD(sluice_config_dataplane, batch_buffers), NULL, 0, 0,
	 "batch buffers of batch_bytes each shared by workers and writers: the memory between "
	 "RX and disk; split between the NUMA sockets of the workers in proportion to them"},
	{"backpressure", T_ENUM, "drop", 0, 0, FIELD(sluice_config_dataplane, backpressure),
	 backpressure_names, 0, K_RUNTIME,
	 "when writers fall behind: drop (shed events, counted, keep polling) or block (stop "
	 "polling; the NIC counts what it misses)"},
	{"keyless", T_ENUM, "sticky", 0, 0, FIELD(sluice_config_dataplane, keyless), keyless_names,
	 0, 0,
	 "partition of events without a key: sticky (one partition until its batch seals) or "
	 "round_robin"},
	{"producer_table_size", T_U32, "4096", 16, 1u << 22,
	 FIELD(sluice_config_dataplane, producer_table_size), NULL, 0, 0,
	 "(source, producerId, partition) streams tracked per worker for loss and duplicate "
	 "counting; 468 bytes each per worker (the entry, its published view, a source entry, "
	 "its acknowledged-mode state)"},
	{"reorder_window", T_U32, "0", 0, 1u << 20, FIELD(sluice_config_dataplane, reorder_window),
	 NULL, 0, 0, "sequences ahead of the expected one accepted out of order (0: none)"},
	{"producers_per_source", T_U32, "1024", 1, 1u << 22,
	 FIELD(sluice_config_dataplane, producers_per_source), NULL, 0, 0,
	 "producer table entries one source address may hold per listener and worker; a "
	 "source at its share only replaces its own entries (capped at producer_table_size)"},
	{"producer_idle_timeout", T_DURATION, "60s", 1000, 7 * 86400 * SEC_US,
	 FIELD(sluice_config_dataplane, producer_idle_us), NULL, 0, 0,
	 "a producer entry unseen this long may be replaced by another source's producer; "
	 "an active one never is"},
	{"reply_rate", T_U32, "1000", 0, 1u << 24, FIELD(sluice_config_dataplane, reply_rate), NULL,
	 0, 0,
	 "ARP, ICMP echo and neighbour advertisement replies per second per worker (token "
	 "bucket); requests over it are rejected as reply_rate_limited. 0: unlimited"},
	{"reply_burst", T_U32, "50", 1, 1u << 24, FIELD(sluice_config_dataplane, reply_burst), NULL,
	 0, 0, "replies a worker may send at once above reply_rate (the bucket size)"},
	{"ack_window", T_U32, "4096", 1, 1u << 30, FIELD(sluice_config_dataplane, ack_window), NULL,
	 0, 0,
	 "acknowledged mode: sequences of a producer accepted above the one below which all is "
	 "stored; a batch beyond is refused (ack_window) and sent again"},
	{"ack_recovery_records", T_U64, "1000000", 0, UINT64_MAX,
	 FIELD(sluice_config_dataplane, ack_recovery_records), NULL, 0, 0,
	 "acknowledged mode: records at the end of each partition read at start to learn what "
	 "producers already stored, so that their resends after a restart are duplicates (0: "
	 "none)"},
};

const struct section sections[SEC__COUNT] = {
	[SEC_EAL] = {"eal", false, KEYS(eal_keys), "DPDK environment: cores and memory."},
	[SEC_STORAGE] = {"storage", false, KEYS(storage_keys), "The log on disk and its writers."},
	[SEC_KAFKA] = {"kafka", false, KEYS(kafka_keys),
		       "The forwarder. Any other key in this section is a setting of sluice's "
		       "Kafka client, with librdkafka's name and meaning (e.g. "
		       "`security.protocol = sasl_ssl`); the next table lists them. Keys that "
		       "carry the exactly-once guarantee (acks, enable.idempotence, ...) are "
		       "refused."},
	[SEC_CONTROL] = {"control", false, KEYS(control_keys),
			 "Control socket, metrics and logging."},
	[SEC_DATAPLANE] = {"dataplane", false, KEYS(dataplane_keys),
			   "Worker lcores: receive, parse, batch."},
	[SEC_PORT] = {"port", true, KEYS(port_keys),
		      "A NIC port (`[port.<name>]`); at least one is required."},
	[SEC_LISTENER] = {"listener", true, KEYS(listener_keys),
			  "A UDP port events arrive on (`[listener.<name>]`); at least one is "
			  "required. Two listeners on the same port and UDP port may not overlap "
			  "in address; on two different ports they may (each hears its own "
			  "port)."},
	[SEC_TOPIC] = {"topic", true, KEYS(topic_keys),
		       "A partitioned log (`[topic.<name>]`); at least one is required."},
};
