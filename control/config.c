/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration: a strict INI parser that keeps line numbers, one declarative table per
 * section, and whole-config validation (see config.h).
 *
 * Threading contract: none. A struct sluice_config belongs to one thread at a time; the daemon
 * holds its lock around config.get/set/list.
 *
 * Why our own parser: rte_cfgfile and libinih drop line numbers, and an operator fixing a
 * config wants `file:line: key: reason` for every mistake at once, not the first one.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <regex.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "config.h"
#include "sluice_forward.h"
#include "sluice_record.h"
#include "sluice_storage.h"

enum key_type {
	T_BOOL,
	T_U32,
	T_U64,
	T_SIZE,
	T_DURATION,
	T_STRING,
	T_ENUM,
	T_IP,
	T_ADDRESS,
	T_CPUS,
	T_LCORES,
};

static int parse_ip(const char *s, uint8_t a[16]);

static const char *const type_names[] = {
	[T_BOOL] = "bool",         [T_U32] = "u32",
	[T_U64] = "u64",           [T_SIZE] = "size",
	[T_DURATION] = "duration", [T_STRING] = "string",
	[T_ENUM] = "enum",         [T_IP] = "ip",
	[T_ADDRESS] = "address",   [T_CPUS] = "cpu list",
	[T_LCORES] = "lcore map",
};

#define K_RUNTIME 0x1u /* can change while running (config.set) */
#define K_REQUIRED 0x2u /* no default: must be given */
#define K_POW2 0x4u /* numeric value must be a power of two */
#define K_NAME 0x8u /* string restricted to [A-Za-z0-9._-] (Kafka topic-safe) */

struct key {
	const char *name;
	enum key_type type;
	const char *def; /* parsed like file input; "" for empty strings */
	uint64_t min, max; /* numeric bounds; for strings max is unused (size bounds it) */
	size_t off;
	size_t size;
	const char *const *enums; /* T_ENUM: NULL-terminated names, value = index + enum_base */
	uint32_t enum_base;
	unsigned flags;
	const char *help;
};

#define FIELD(st, f) offsetof(struct st, f), sizeof(((struct st *)0)->f)

static const char *const mem_names[] = {"huge", "in-memory", "no-huge", NULL};
static const char *const format_names[] = {"kafka", "lines", "raw", NULL};
static const char *const key_mode_names[] = {"none", "source_addr", NULL};
static const char *const backpressure_names[] = {"drop", "block", NULL};
static const char *const keyless_names[] = {"sticky", "round_robin", NULL};
static const char *const compression_names[] = {"none", "lz4", "zstd", NULL};
static const char *const direct_names[] = {"auto", "on", "off", NULL};
static const char *const log_names[] = {"stderr", "syslog", NULL};
static const char *const prealloc_names[] = {"auto", "none", "fallocate", NULL};
static const char *const level_names[] = {"emerg",  "alert", "crit",  "err", "warning",
					  "notice", "info",  "debug", NULL};

#define KB 1024ull
#define MB (1024ull * KB)
#define GB (1024ull * MB)
#define TB (1024ull * GB)
#define SEC_US 1000000ull

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

enum sec_id {
	SEC_EAL,
	SEC_STORAGE,
	SEC_KAFKA,
	SEC_CONTROL,
	SEC_DATAPLANE,
	SEC_PORT,
	SEC_LISTENER,
	SEC_TOPIC,
	SEC__COUNT
};

struct section {
	const char *name;
	bool named;
	const struct key *keys;
	size_t nkeys;
	const char *help;
};

#define KEYS(a) a, sizeof(a) / sizeof((a)[0])

static const struct section sections[SEC__COUNT] = {
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

/* Where each value came from, for messages. key == ORIGIN_HEADER: the section line. */
#define ORIGIN_HEADER 0xffffu
struct origin {
	uint16_t sec;
	uint16_t idx;
	uint16_t key;
	uint16_t file;
	unsigned line;
};

/* Kept beside the public struct so that config.h need not expose it. */
struct config_priv {
	struct origin *origins;
	uint32_t norigins, cap;
	char **files;
	uint32_t nfiles;
};

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                     */

static struct config_priv *priv(const struct sluice_config *cfg)
{
	return (struct config_priv *)(uintptr_t)cfg->priv;
}

__attribute__((format(printf, 5, 6))) static void add_error(struct sluice_config *cfg,
							    const char *file, unsigned line,
							    const char *key, const char *fmt, ...)
{
	char reason[512];
	char msg[1024];
	va_list ap;
	char **grown;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (line)
		snprintf(msg, sizeof(msg), "%s:%u: %s: %s", file, line, key, reason);
	else
		snprintf(msg, sizeof(msg), "%s: %s: %s", file, key, reason);
	/* Fuzzed inputs can produce one error per line: cap them so memory stays bounded. */
	if (cfg->nerrors >= 1000)
		return;
	grown = realloc(cfg->errors, (cfg->nerrors + 1) * sizeof(*grown));
	if (!grown)
		return;
	cfg->errors = grown;
	cfg->errors[cfg->nerrors] = strdup(msg);
	if (cfg->errors[cfg->nerrors])
		cfg->nerrors++;
}

uint32_t sluice_config_error_count(const struct sluice_config *cfg)
{
	return cfg->nerrors;
}

const char *sluice_config_error(const struct sluice_config *cfg, uint32_t i)
{
	return i < cfg->nerrors ? cfg->errors[i] : NULL;
}

void sluice_config_print_errors(const struct sluice_config *cfg, FILE *out)
{
	for (uint32_t i = 0; i < cfg->nerrors; i++)
		fprintf(out, "%s\n", cfg->errors[i]);
}

static uint16_t intern_file(struct sluice_config *cfg, const char *file)
{
	struct config_priv *p = priv(cfg);
	char **grown;

	for (uint32_t i = 0; i < p->nfiles; i++)
		if (strcmp(p->files[i], file) == 0)
			return (uint16_t)i;
	if (p->nfiles >= UINT16_MAX)
		return 0;
	grown = realloc(p->files, (p->nfiles + 1) * sizeof(*grown));
	if (!grown)
		return 0;
	p->files = grown;
	p->files[p->nfiles] = strdup(file);
	if (!p->files[p->nfiles])
		return 0;
	return (uint16_t)p->nfiles++;
}

static void set_origin(struct sluice_config *cfg, unsigned sec, unsigned idx, unsigned key,
		       const char *file, unsigned line)
{
	struct config_priv *p = priv(cfg);
	struct origin *o = NULL;

	for (uint32_t i = 0; i < p->norigins; i++) {
		struct origin *c = &p->origins[i];
		if (c->sec == sec && c->idx == idx && c->key == key) {
			o = c;
			break;
		}
	}
	if (!o) {
		if (p->norigins == p->cap) {
			uint32_t cap = p->cap ? p->cap * 2 : 64;
			struct origin *grown = realloc(p->origins, cap * sizeof(*grown));
			if (!grown)
				return;
			p->origins = grown;
			p->cap = cap;
		}
		o = &p->origins[p->norigins++];
		o->sec = (uint16_t)sec;
		o->idx = (uint16_t)idx;
		o->key = (uint16_t)key;
	}
	o->file = intern_file(cfg, file);
	o->line = line;
}

/* The file and line where a key was set, else its section header, else the config file. */
static void origin_of(const struct sluice_config *cfg, unsigned sec, unsigned idx, unsigned key,
		      const char **file, unsigned *line)
{
	const struct config_priv *p = priv(cfg);
	const struct origin *hdr = NULL;

	*file = cfg->file[0] ? cfg->file : "<config>";
	*line = 0;
	for (uint32_t i = 0; i < p->norigins; i++) {
		const struct origin *o = &p->origins[i];
		if (o->sec != sec || o->idx != idx)
			continue;
		if (o->key == key) {
			*file = p->files[o->file];
			*line = o->line;
			return;
		}
		if (o->key == ORIGIN_HEADER)
			hdr = o;
	}
	if (hdr) {
		*file = p->files[hdr->file];
		*line = hdr->line;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Values                                                                                     */

/* Strict unsigned decimal: digits only, no sign, no spaces, no overflow. */
static int parse_u64(const char *s, uint64_t *out, const char **end)
{
	char *e;
	unsigned long long v;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (e == s)
		return -EINVAL;
	*out = v;
	*end = e;
	return 0;
}

static int mul_overflows(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}

static int parse_size(const char *s, uint64_t *out, char *why, size_t wl)
{
	const char *e;
	uint64_t v, mult = 1;
	int rc = parse_u64(s, &v, &e);

	if (rc) {
		snprintf(why, wl,
			 "'%s' is not a size (digits with an optional K, M, G or T suffix)", s);
		return -EINVAL;
	}
	if (*e) {
		if (strcmp(e, "K") == 0 || strcmp(e, "k") == 0)
			mult = KB;
		else if (strcmp(e, "M") == 0)
			mult = MB;
		else if (strcmp(e, "G") == 0)
			mult = GB;
		else if (strcmp(e, "T") == 0)
			mult = TB;
		else {
			snprintf(why, wl, "unknown size suffix '%s' (K, M, G or T)", e);
			return -EINVAL;
		}
	}
	if (mul_overflows(v, mult, out)) {
		snprintf(why, wl, "'%s' is too large", s);
		return -EINVAL;
	}
	return 0;
}

static int parse_duration(const char *s, uint64_t *out, char *why, size_t wl)
{
	const char *e;
	uint64_t v, mult;
	int rc = parse_u64(s, &v, &e);

	if (rc) {
		snprintf(why, wl, "'%s' is not a duration (digits with a us, ms or s suffix)", s);
		return -EINVAL;
	}
	if (strcmp(e, "us") == 0)
		mult = 1;
	else if (strcmp(e, "ms") == 0)
		mult = 1000;
	else if (strcmp(e, "s") == 0)
		mult = SEC_US;
	else if (*e == '\0' && v == 0)
		mult = 1;
	else {
		snprintf(why, wl, "'%s' needs a unit: us, ms or s", s);
		return -EINVAL;
	}
	if (mul_overflows(v, mult, out)) {
		snprintf(why, wl, "'%s' is too large", s);
		return -EINVAL;
	}
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_ipv4(const char *s, uint32_t *be)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*be = a.s_addr;
	return 0;
}

/* 4 or 6 with the address in network order in @p a (IPv4 in the first 4 bytes), or -1. */
static int parse_ip(const char *s, uint8_t a[16])
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET, s, a) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, a) == 1)
		return 6;
	return -1;
}

/* "a.b.c.d:port" */
static int parse_address(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	const char *e;
	uint64_t p;
	uint32_t be;
	size_t n;

	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - s);
	if (n == 0 || n >= hostlen)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (parse_ipv4(host, &be))
		return -EINVAL;
	if (parse_u64(colon + 1, &p, &e) || *e || p > 65535)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

/* A number, a range a-b, or (only when groups are allowed) a parenthesised list of those. */
static int parse_id_item(const char **pp, uint64_t set[2], char *why, size_t wl)
{
	const char *e;
	uint64_t a, b;

	if (parse_u64(*pp, &a, &e)) {
		snprintf(why, wl, "expected a number at '%s'", *pp);
		return -EINVAL;
	}
	b = a;
	if (*e == '-') {
		if (parse_u64(e + 1, &b, &e)) {
			snprintf(why, wl, "expected a number after '-' in '%s'", *pp);
			return -EINVAL;
		}
	}
	if (a > b || b >= SLUICE_CONFIG_MAX_CPUS) {
		snprintf(why, wl, "bad id range %llu-%llu (ids go from 0 to %d)",
			 (unsigned long long)a, (unsigned long long)b, SLUICE_CONFIG_MAX_CPUS - 1);
		return -EINVAL;
	}
	for (uint64_t i = a; i <= b; i++)
		set[i / 64] |= 1ull << (i % 64);
	*pp = e;
	return 0;
}

static int parse_id_set(const char **pp, uint64_t set[2], bool *group, char *why, size_t wl)
{
	const char *p = *pp;

	set[0] = set[1] = 0;
	*group = false;
	if (*p != '(')
		return parse_id_item(pp, set, why, wl);
	*group = true;
	p++;
	for (;;) {
		if (parse_id_item(&p, set, why, wl))
			return -EINVAL;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == ')')
			break;
		snprintf(why, wl, "expected ',' or ')' at '%s'", p);
		return -EINVAL;
	}
	*pp = p + 1;
	return 0;
}

static bool set_has(const uint64_t set[2], unsigned i)
{
	return (set[i / 64] >> (i % 64)) & 1;
}

/* EAL --lcores syntax: lcores[@cpus] elements, where either side may be a (group). */
struct lcore_map {
	uint64_t lcores[2];
	uint64_t cpus_of[SLUICE_CONFIG_MAX_LCORES][2];
};

static int parse_lcore_map(const char *s, struct lcore_map *m, char *why, size_t wl)
{
	const char *p = s;

	memset(m, 0, sizeof(*m));
	if (*p == '\0') {
		snprintf(why, wl, "empty lcore map");
		return -EINVAL;
	}
	for (;;) {
		uint64_t ls[2], cs[2];
		bool lgroup, cgroup;

		bool at = false;

		if (parse_id_set(&p, ls, &lgroup, why, wl))
			return -EINVAL;
		if (*p == '@') {
			p++;
			at = true;
			if (parse_id_set(&p, cs, &cgroup, why, wl))
				return -EINVAL;
		} else {
			/* EAL: a (group) without '@' runs every lcore of it on the whole group. */
			cs[0] = ls[0];
			cs[1] = ls[1];
		}
		for (unsigned i = 0; i < SLUICE_CONFIG_MAX_LCORES; i++) {
			if (!set_has(ls, i))
				continue;
			if (set_has(m->lcores, i)) {
				snprintf(why, wl, "lcore %u appears twice", i);
				return -EINVAL;
			}
			m->lcores[i / 64] |= 1ull << (i % 64);
			if (!at && !lgroup) {
				/* A plain number or range without '@': each lcore on its own CPU. */
				m->cpus_of[i][i / 64] = 1ull << (i % 64);
			} else {
				m->cpus_of[i][0] = cs[0];
				m->cpus_of[i][1] = cs[1];
			}
		}
		if (*p == '\0')
			break;
		if (*p != ',') {
			snprintf(why, wl, "unexpected '%c' in lcore map", *p);
			return -EINVAL;
		}
		p++;
	}
	return 0;
}

static int parse_cpu_list(const char *s, struct sluice_cpu_list *out, char *why, size_t wl)
{
	const char *p = s;

	memset(out, 0, sizeof(*out));
	if (*p == '\0')
		return 0;
	for (;;) {
		uint64_t set[2] = {0, 0};
		const char *start = p;
		uint64_t a;
		const char *e;

		if (parse_id_item(&p, set, why, wl))
			return -EINVAL;
		/* Keep the order given: "3,1" pins writer 0 to CPU 3. */
		parse_u64(start, &a, &e);
		for (unsigned i = (unsigned)a; i < SLUICE_CONFIG_MAX_CPUS && set_has(set, i); i++) {
			if (out->n >= SLUICE_CONFIG_MAX_CPUS) {
				snprintf(why, wl, "more than %d CPUs", SLUICE_CONFIG_MAX_CPUS);
				return -EINVAL;
			}
			out->id[out->n++] = (uint16_t)i;
		}
		if (*p == '\0')
			return 0;
		if (*p != ',') {
			snprintf(why, wl, "unexpected '%c' in CPU list", *p);
			return -EINVAL;
		}
		p++;
	}
}

static bool is_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Parse @p v for key @p k into @p out (k->size bytes). 0 or -EINVAL with a reason. */
static int parse_value(const struct key *k, const char *v, void *out, char *why, size_t wl)
{
	uint64_t n = 0;
	int rc;

	switch (k->type) {
	case T_BOOL: {
		bool b;
		if (parse_bool(v, &b)) {
			snprintf(why, wl, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)",
				 v);
			return -EINVAL;
		}
		*(bool *)out = b;
		return 0;
	}
	case T_U32:
	case T_U64: {
		const char *e;
		rc = parse_u64(v, &n, &e);
		if (rc || *e) {
			snprintf(why, wl, "'%s' is not an unsigned integer", v);
			return -EINVAL;
		}
		break;
	}
	case T_SIZE:
		if (parse_size(v, &n, why, wl))
			return -EINVAL;
		break;
	case T_DURATION:
		if (parse_duration(v, &n, why, wl))
			return -EINVAL;
		break;
	case T_ENUM:
		for (uint32_t i = 0; k->enums[i]; i++) {
			if (strcmp(v, k->enums[i]) == 0) {
				*(uint32_t *)out = i + k->enum_base;
				return 0;
			}
		}
		{
			char list[256] = "";
			size_t used = 0;
			for (uint32_t i = 0; k->enums[i] && used < sizeof(list); i++)
				used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
							 i ? ", " : "", k->enums[i]);
			snprintf(why, wl, "'%s' is not one of: %s", v, list);
		}
		return -EINVAL;
	case T_IP: {
		uint8_t a[16];
		int fam = parse_ip(v, a);
		/* min/max 4 or 6 restrict the family; 0 allows both. Empty only if default. */
		if (*v == '\0' && k->def && *k->def == '\0')
			goto string;
		if (fam < 0 || (k->min && (uint64_t)fam != k->min)) {
			snprintf(why, wl, "'%s' is not an %s address", v,
				 k->min == 4           ? "IPv4"
					 : k->min == 6 ? "IPv6"
						       : "IPv4 or IPv6");
			return -EINVAL;
		}
		goto string;
	}
	case T_ADDRESS: {
		char host[64];
		uint16_t port;
		if (parse_address(v, host, sizeof(host), &port)) {
			snprintf(why, wl, "'%s' is not an IPv4:port address", v);
			return -EINVAL;
		}
		goto string;
	}
	case T_LCORES: {
		struct lcore_map *m;
		if (strcmp(v, "auto") == 0)
			goto string;
		m = malloc(sizeof(*m));
		if (!m) {
			snprintf(why, wl, "out of memory");
			return -EINVAL;
		}
		rc = parse_lcore_map(v, m, why, wl);
		free(m);
		if (rc)
			return -EINVAL;
		goto string;
	}
	case T_CPUS:
		return parse_cpu_list(v, out, why, wl) ? -EINVAL : 0;
	case T_STRING:
string:
		if (strlen(v) >= k->size) {
			snprintf(why, wl, "value longer than %zu bytes", k->size - 1);
			return -EINVAL;
		}
		if ((k->flags & K_NAME) && *v && !is_name(v)) {
			snprintf(why, wl, "'%s' may only contain letters, digits, '.', '_' and '-'",
				 v);
			return -EINVAL;
		}
		memcpy(out, v, strlen(v) + 1);
		return 0;
	}
	if (n < k->min || n > k->max) {
		char lo[32], hi[32];
		if (k->type == T_SIZE || k->type == T_DURATION) {
			snprintf(why, wl, "'%s' is out of range [%llu, %llu]%s", v,
				 (unsigned long long)k->min, (unsigned long long)k->max,
				 k->type == T_SIZE ? " bytes" : " us");
		} else {
			snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
			snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
			snprintf(why, wl, "%s is out of range [%s, %s]", v, lo, hi);
		}
		return -EINVAL;
	}
	if ((k->flags & K_POW2) && !is_pow2(n)) {
		snprintf(why, wl, "%s is not a power of two", v);
		return -EINVAL;
	}
	if (k->type == T_U32 || k->size == sizeof(uint32_t))
		*(uint32_t *)out = (uint32_t)n;
	else
		*(uint64_t *)out = n;
	return 0;
}

static void format_scaled(char *out, size_t len, uint64_t v, const uint64_t *units,
			  const char *const *suffix, size_t nunits)
{
	if (v == 0) {
		snprintf(out, len, "0");
		return;
	}
	for (size_t i = 0; i < nunits; i++) {
		if (v % units[i] == 0) {
			snprintf(out, len, "%llu%s", (unsigned long long)(v / units[i]), suffix[i]);
			return;
		}
	}
}

static void format_value(const struct key *k, const void *p, char *out, size_t len)
{
	static const uint64_t size_units[] = {TB, GB, MB, KB, 1};
	static const char *const size_suffix[] = {"T", "G", "M", "K", ""};
	static const uint64_t dur_units[] = {SEC_US, 1000, 1};
	static const char *const dur_suffix[] = {"s", "ms", "us"};
	uint64_t v;

	switch (k->type) {
	case T_BOOL:
		snprintf(out, len, "%s", *(const bool *)p ? "true" : "false");
		return;
	case T_U32:
		snprintf(out, len, "%u", *(const uint32_t *)p);
		return;
	case T_U64:
		snprintf(out, len, "%llu", (unsigned long long)*(const uint64_t *)p);
		return;
	case T_SIZE:
	case T_DURATION:
		v = k->size == sizeof(uint32_t) ? *(const uint32_t *)p : *(const uint64_t *)p;
		if (k->type == T_SIZE)
			format_scaled(out, len, v, size_units, size_suffix, 5);
		else
			format_scaled(out, len, v, dur_units, dur_suffix, 3);
		return;
	case T_ENUM:
		snprintf(out, len, "%s", k->enums[*(const uint32_t *)p - k->enum_base]);
		return;
	case T_CPUS: {
		const struct sluice_cpu_list *l = p;
		size_t used = 0;
		out[0] = '\0';
		for (uint32_t i = 0; i < l->n && used < len; i++)
			used += (size_t)snprintf(out + used, len - used, "%s%u", i ? "," : "",
						 l->id[i]);
		return;
	}
	case T_STRING:
	case T_IP:
	case T_ADDRESS:
	case T_LCORES:
		snprintf(out, len, "%s", (const char *)p);
		return;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Sections                                                                                   */

static void *section_base(struct sluice_config *cfg, unsigned sec, unsigned idx)
{
	switch (sec) {
	case SEC_EAL:
		return &cfg->eal;
	case SEC_STORAGE:
		return &cfg->storage;
	case SEC_KAFKA:
		return &cfg->kafka;
	case SEC_CONTROL:
		return &cfg->control;
	case SEC_DATAPLANE:
		return &cfg->dataplane;
	case SEC_PORT:
		return &cfg->ports[idx];
	case SEC_LISTENER:
		return &cfg->listeners[idx];
	case SEC_TOPIC:
		return &cfg->topics[idx];
	}
	return NULL;
}

static const void *section_cbase(const struct sluice_config *cfg, unsigned sec, unsigned idx)
{
	return section_base((struct sluice_config *)(uintptr_t)cfg, sec, idx);
}

static uint32_t instance_count(const struct sluice_config *cfg, unsigned sec)
{
	switch (sec) {
	case SEC_PORT:
		return cfg->nports;
	case SEC_LISTENER:
		return cfg->nlisteners;
	case SEC_TOPIC:
		return cfg->ntopics;
	}
	return 1;
}

static const char *instance_name(const struct sluice_config *cfg, unsigned sec, unsigned idx)
{
	switch (sec) {
	case SEC_PORT:
		return cfg->ports[idx].name;
	case SEC_LISTENER:
		return cfg->listeners[idx].name;
	case SEC_TOPIC:
		return cfg->topics[idx].name;
	}
	return NULL;
}

static void apply_defaults(struct sluice_config *cfg, unsigned sec, unsigned idx)
{
	const struct section *s = &sections[sec];
	char *base = section_base(cfg, sec, idx);
	char why[256];

	for (size_t i = 0; i < s->nkeys; i++) {
		const struct key *k = &s->keys[i];
		if (!k->def)
			continue;
		/* Defaults are in the table as text; a unit test checks that each parses. */
		(void)parse_value(k, k->def, base + k->off, why, sizeof(why));
	}
}

static const size_t name_sizes[SEC__COUNT] = {
	[SEC_PORT] = SLUICE_CONFIG_NAME_MAX,
	[SEC_LISTENER] = SLUICE_CONFIG_NAME_MAX,
	[SEC_TOPIC] = SLUICE_CONFIG_TOPIC_MAX,
};

static const uint32_t max_instances[SEC__COUNT] = {
	[SEC_PORT] = SLUICE_CONFIG_MAX_PORTS,
	[SEC_LISTENER] = SLUICE_CONFIG_MAX_LISTENERS,
	[SEC_TOPIC] = SLUICE_CONFIG_MAX_TOPICS,
};

/*
 * Find or create the instance @p name of a named section. @p create_dup: an existing instance
 * is an error (a duplicate section header in a file); overrides reuse it.
 * Returns the index or -1 (error recorded).
 */
static int named_instance(struct sluice_config *cfg, unsigned sec, const char *name,
			  bool dup_is_error, const char *file, unsigned line, const char *what)
{
	uint32_t n = instance_count(cfg, sec);
	uint32_t *count;

	for (uint32_t i = 0; i < n; i++) {
		if (strcmp(instance_name(cfg, sec, i), name) == 0) {
			if (dup_is_error) {
				add_error(cfg, file, line, what, "duplicate section");
				return -1;
			}
			return (int)i;
		}
	}
	if (!is_name(name)) {
		add_error(cfg, file, line, what,
			  "section name may only contain letters, digits, '.', '_' and '-'");
		return -1;
	}
	if (strlen(name) >= name_sizes[sec]) {
		add_error(cfg, file, line, what, "name longer than %zu bytes", name_sizes[sec] - 1);
		return -1;
	}
	if (n >= max_instances[sec]) {
		add_error(cfg, file, line, what, "more than %u [%s.*] sections", max_instances[sec],
			  sections[sec].name);
		return -1;
	}
	count = sec == SEC_PORT       ? &cfg->nports
		: sec == SEC_LISTENER ? &cfg->nlisteners
				      : &cfg->ntopics;
	apply_defaults(cfg, sec, n);
	switch (sec) {
	case SEC_PORT:
		memcpy(cfg->ports[n].name, name, strlen(name) + 1);
		cfg->ports[n].line = line;
		break;
	case SEC_LISTENER:
		memcpy(cfg->listeners[n].name, name, strlen(name) + 1);
		cfg->listeners[n].line = line;
		break;
	case SEC_TOPIC:
		memcpy(cfg->topics[n].name, name, strlen(name) + 1);
		cfg->topics[n].line = line;
		break;
	}
	set_origin(cfg, sec, n, ORIGIN_HEADER, file, line);
	(*count)++;
	return (int)n;
}

/* Split "port.mem0" into section id and instance name. -1 when unknown. */
static int lookup_section(const char *name, const char **instance)
{
	for (unsigned s = 0; s < SEC__COUNT; s++) {
		size_t n = strlen(sections[s].name);
		if (strncmp(name, sections[s].name, n) != 0)
			continue;
		if (sections[s].named) {
			if (name[n] != '.')
				continue;
			*instance = name + n + 1;
			return (int)s;
		}
		if (name[n] != '\0')
			continue;
		*instance = NULL;
		return (int)s;
	}
	return -1;
}

static int find_key(unsigned sec, const char *key)
{
	for (size_t i = 0; i < sections[sec].nkeys; i++)
		if (strcmp(sections[sec].keys[i].name, key) == 0)
			return (int)i;
	return -1;
}

static int add_kafka_prop(struct sluice_config *cfg, const char *key, const char *value,
			  const char *file, unsigned line, const char *what)
{
	struct sluice_config_kafka *k = &cfg->kafka;
	struct sluice_config_kafka_prop *p = NULL;

	for (uint32_t i = 0; i < k->nprops; i++)
		if (strcmp(k->props[i].key, key) == 0)
			p = &k->props[i];
	if (!p) {
		if (k->nprops >= SLUICE_CONFIG_MAX_KAFKA_PROPS) {
			add_error(cfg, file, line, what, "more than %d Kafka client settings",
				  SLUICE_CONFIG_MAX_KAFKA_PROPS);
			return -EINVAL;
		}
		p = &k->props[k->nprops];
		if (strlen(key) >= sizeof(p->key)) {
			add_error(cfg, file, line, what, "property name too long");
			return -EINVAL;
		}
		memcpy(p->key, key, strlen(key) + 1);
		k->nprops++;
	}
	if (strlen(value) >= sizeof(p->value)) {
		add_error(cfg, file, line, what, "value longer than %zu bytes",
			  sizeof(p->value) - 1);
		return -EINVAL;
	}
	memcpy(p->value, value, strlen(value) + 1);
	snprintf(p->file, sizeof(p->file), "%s", file);
	p->line = line;
	return 0;
}

/* Assign key = value in section instance (sec, idx). */
static int assign(struct sluice_config *cfg, unsigned sec, unsigned idx, const char *key,
		  const char *value, const char *file, unsigned line)
{
	const char *iname = instance_name(cfg, sec, idx);
	char what[256];
	char why[512];
	union {
		struct sluice_cpu_list cpus;
		char str[SLUICE_CONFIG_STR_MAX];
		uint64_t u64;
	} tmp;
	int ki;
	const struct key *k;

	if (iname)
		snprintf(what, sizeof(what), "%s.%s.%s", sections[sec].name, iname, key);
	else
		snprintf(what, sizeof(what), "%s.%s", sections[sec].name, key);
	ki = find_key(sec, key);
	if (ki < 0) {
		/* Other keys under [kafka] are Kafka client settings, checked in validate. */
		if (sec == SEC_KAFKA && is_name(key))
			return add_kafka_prop(cfg, key, value, file, line, what);
		add_error(cfg, file, line, what, "unknown key");
		return -EINVAL;
	}
	k = &sections[sec].keys[ki];
	memset(&tmp, 0, sizeof(tmp));
	if (parse_value(k, value, &tmp, why, sizeof(why))) {
		add_error(cfg, file, line, what, "%s", why);
		return -EINVAL;
	}
	memcpy((char *)section_base(cfg, sec, idx) + k->off, &tmp, k->size);
	set_origin(cfg, sec, idx, (unsigned)ki, file, line);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Parser                                                                                     */

struct sluice_config *sluice_config_new(void)
{
	struct sluice_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->priv = calloc(1, sizeof(struct config_priv));
	if (!cfg->priv) {
		free(cfg);
		return NULL;
	}
	for (unsigned s = 0; s < SEC__COUNT; s++)
		if (!sections[s].named)
			apply_defaults(cfg, s, 0);
	return cfg;
}

void sluice_config_free(struct sluice_config *cfg)
{
	struct config_priv *p;

	if (!cfg)
		return;
	p = priv(cfg);
	if (p) {
		for (uint32_t i = 0; i < p->nfiles; i++)
			free(p->files[i]);
		free(p->files);
		free(p->origins);
		free(p);
	}
	for (uint32_t i = 0; i < cfg->nerrors; i++)
		free(cfg->errors[i]);
	free(cfg->errors);
	free(cfg);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int sluice_config_parse(struct sluice_config *cfg, const char *file, const char *buf, size_t len)
{
	uint32_t errors_before = cfg->nerrors;
	char line[SLUICE_CONFIG_LINE_MAX + 2];
	int cur_sec = -1;
	unsigned cur_idx = 0;
	bool seen_single[SEC__COUNT] = {false};
	unsigned lineno = 0;
	size_t pos = 0;

	snprintf(cfg->file, sizeof(cfg->file), "%s", file);
	while (pos < len) {
		size_t n = 0;
		bool too_long = false, nul = false;
		char *s, *eq, *key, *value;

		lineno++;
		while (pos < len && buf[pos] != '\n') {
			if (buf[pos] == '\0')
				nul = true;
			if (n < SLUICE_CONFIG_LINE_MAX)
				line[n++] = buf[pos];
			else
				too_long = true;
			pos++;
		}
		pos++; /* the newline */
		line[n] = '\0';
		if (too_long) {
			add_error(cfg, file, lineno, "line", "longer than %d bytes",
				  SLUICE_CONFIG_LINE_MAX);
			continue;
		}
		if (nul) {
			add_error(cfg, file, lineno, "line", "contains a NUL byte");
			continue;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			const char *inst;
			int sec;

			cur_sec = -1;
			if (!close || trim(close + 1)[0] != '\0') {
				add_error(cfg, file, lineno, "section",
					  "malformed section header (expected [name])");
				continue;
			}
			*close = '\0';
			s = trim(s + 1);
			sec = lookup_section(s, &inst);
			if (sec < 0) {
				add_error(
					cfg, file, lineno, *s ? s : "section",
					"unknown section (expected eal, storage, kafka, control, "
					"dataplane, port.<name>, listener.<name> or topic.<name>)");
				continue;
			}
			if (sections[sec].named) {
				int idx = named_instance(cfg, (unsigned)sec, inst, true, file,
							 lineno, s);
				if (idx < 0)
					continue;
				cur_idx = (unsigned)idx;
			} else {
				if (seen_single[sec]) {
					add_error(cfg, file, lineno, s, "duplicate section");
					continue;
				}
				seen_single[sec] = true;
				cur_idx = 0;
				set_origin(cfg, (unsigned)sec, 0, ORIGIN_HEADER, file, lineno);
			}
			cur_sec = sec;
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			add_error(cfg, file, lineno, "line", "expected 'key = value'");
			continue;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		if (*key == '\0') {
			add_error(cfg, file, lineno, "line", "missing key before '='");
			continue;
		}
		/* "quoted" values keep their leading and trailing blanks. */
		if (value[0] == '"') {
			size_t vl = strlen(value);
			if (vl < 2 || value[vl - 1] != '"') {
				add_error(cfg, file, lineno, key, "unterminated quoted value");
				continue;
			}
			value[vl - 1] = '\0';
			value++;
		}
		if (cur_sec < 0) {
			/* After a bad section header its keys are skipped silently (one error). */
			if (cfg->nerrors == errors_before)
				add_error(cfg, file, lineno, key, "key outside of any section");
			continue;
		}
		{
			/* A key given twice in one section is almost always a copy-paste mistake. */
			const struct config_priv *p = priv(cfg);
			int ki = find_key((unsigned)cur_sec, key);
			bool dup = false;
			for (uint32_t i = 0; ki >= 0 && i < p->norigins; i++) {
				const struct origin *o = &p->origins[i];
				if (o->sec == cur_sec && o->idx == cur_idx && o->key == ki &&
				    strcmp(p->files[o->file], file) == 0)
					dup = true;
			}
			if (dup) {
				const char *in = instance_name(cfg, (unsigned)cur_sec, cur_idx);
				add_error(cfg, file, lineno, key, "set twice in [%s%s%s]",
					  sections[cur_sec].name, in ? "." : "", in ? in : "");
				continue;
			}
		}
		assign(cfg, (unsigned)cur_sec, cur_idx, key, value, file, lineno);
	}
	return cfg->nerrors == errors_before ? 0 : -EINVAL;
}

int sluice_config_load(struct sluice_config *cfg, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	if (!f) {
		rc = -errno;
		add_error(cfg, path, 0, "file", "cannot open: %s", strerror(-rc));
		return rc;
	}
	for (;;) {
		size_t got;
		if (len == cap) {
			char *grown;
			if (cap >= 16 * MB) {
				add_error(cfg, path, 0, "file", "larger than 16 MiB");
				rc = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			grown = realloc(buf, cap);
			if (!grown) {
				rc = -ENOMEM;
				goto out;
			}
			buf = grown;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		rc = -EIO;
		add_error(cfg, path, 0, "file", "read error");
		goto out;
	}
	rc = sluice_config_parse(cfg, path, buf, len);
out:
	free(buf);
	fclose(f);
	return rc;
}

int sluice_config_override(struct sluice_config *cfg, const char *assignment, unsigned index)
{
	char buf[SLUICE_CONFIG_LINE_MAX];
	char file[32];
	char *eq, *name, *value, *dot;
	const char *inst;
	int sec, idx = 0;

	snprintf(file, sizeof(file), "--set");
	if (strlen(assignment) >= sizeof(buf)) {
		add_error(cfg, file, index, "--set", "longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	memcpy(buf, assignment, strlen(assignment) + 1);
	eq = strchr(buf, '=');
	if (!eq) {
		add_error(cfg, file, index, buf, "expected section.key=value");
		return -EINVAL;
	}
	*eq = '\0';
	name = trim(buf);
	value = trim(eq + 1);
	/* The section is everything before the last dot, except that [kafka] property names
	 * contain dots themselves and named sections have one dot of their own. */
	if (strncmp(name, "kafka.", 6) == 0) {
		name[5] = '\0';
		dot = name + 5;
	} else {
		dot = strrchr(name, '.');
		if (!dot) {
			add_error(cfg, file, index, name, "expected section.key=value");
			return -EINVAL;
		}
		*dot = '\0';
	}
	sec = lookup_section(name, &inst);
	if (sec < 0) {
		add_error(cfg, file, index, name, "unknown section");
		return -EINVAL;
	}
	if (sections[sec].named) {
		char what[128];
		snprintf(what, sizeof(what), "%s", name);
		idx = named_instance(cfg, (unsigned)sec, inst, false, file, index, what);
		if (idx < 0)
			return -EINVAL;
	}
	return assign(cfg, (unsigned)sec, (unsigned)idx, dot + 1, value, file, index);
}

/* ---------------------------------------------------------------------------------------- */
/* Validation                                                                                 */

/* Error about key @p key of instance (sec, idx), located where that key was set. */
__attribute__((format(printf, 5, 6))) static void key_error(struct sluice_config *cfg, unsigned sec,
							    unsigned idx, const char *key,
							    const char *fmt, ...)
{
	const char *file, *iname = instance_name(cfg, sec, idx);
	unsigned line;
	char what[256], reason[512];
	int ki = key ? find_key(sec, key) : -1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	origin_of(cfg, sec, idx, ki >= 0 ? (unsigned)ki : ORIGIN_HEADER, &file, &line);
	snprintf(what, sizeof(what), "%s%s%s%s%s", sections[sec].name, iname ? "." : "",
		 iname ? iname : "", key ? "." : "", key ? key : "");
	add_error(cfg, file, line, what, "%s", reason);
}

static bool is_pci_address(const char *s)
{
	unsigned a, b, c, d;
	char tail;

	return sscanf(s, "%x:%x:%x.%x%c", &a, &b, &c, &d, &tail) == 4 ||
		sscanf(s, "%x:%x.%x%c", &a, &b, &c, &tail) == 3;
}

static long online_cpus(const struct sluice_config *cfg)
{
	long n = cfg->online_cpus ? cfg->online_cpus : sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

static void validate_lcores(struct sluice_config *cfg)
{
	struct sluice_config_eal *e = &cfg->eal;
	uint32_t workers = cfg->dataplane.workers;
	long ncpu = online_cpus(cfg);
	struct lcore_map *m;
	char why[256];
	bool first = true;

	e->nworker_lcores = 0;
	if (strcmp(e->lcores, "auto") == 0) {
		size_t used;
		/* Main lcore on CPU 0, workers on 1, 2, ... wrapping over the online CPUs, so a
		 * two-CPU machine gets "0@0,1@1,2@0" for two workers. */
		e->main_lcore = 0;
		used = (size_t)snprintf(e->lcores_resolved, sizeof(e->lcores_resolved), "0@0");
		for (uint32_t w = 1; w <= workers && used < sizeof(e->lcores_resolved); w++) {
			used += (size_t)snprintf(e->lcores_resolved + used,
						 sizeof(e->lcores_resolved) - used, ",%u@%ld", w,
						 (long)w % ncpu);
			e->worker_lcore[e->nworker_lcores++] = (uint16_t)w;
		}
		return;
	}
	m = malloc(sizeof(*m));
	if (!m)
		return;
	if (parse_lcore_map(e->lcores, m, why, sizeof(why))) {
		key_error(cfg, SEC_EAL, 0, "lcores", "%s", why);
		goto out;
	}
	snprintf(e->lcores_resolved, sizeof(e->lcores_resolved), "%s", e->lcores);
	for (unsigned l = 0; l < SLUICE_CONFIG_MAX_LCORES; l++) {
		if (!set_has(m->lcores, l))
			continue;
		for (unsigned c = 0; c < SLUICE_CONFIG_MAX_CPUS; c++) {
			if (set_has(m->cpus_of[l], c) && (long)c >= ncpu)
				key_error(cfg, SEC_EAL, 0, "lcores",
					  "lcore %u: CPU %u does not exist (this machine has %ld "
					  "online CPUs)",
					  l, c, ncpu);
		}
		if (first) {
			e->main_lcore = l;
			first = false;
		} else if (e->nworker_lcores < workers) {
			e->worker_lcore[e->nworker_lcores++] = (uint16_t)l;
		}
	}
	if (e->nworker_lcores < workers)
		key_error(
			cfg, SEC_DATAPLANE, 0, "workers",
			"%u workers need %u lcores besides the main lcore %u, eal.lcores '%s' has "
			"%u",
			workers, workers, e->main_lcore, e->lcores, e->nworker_lcores);
out:
	free(m);
}

/*
 * Can files be created in @p dir? An unnamed O_TMPFILE proves it (read-only mounts and
 * immutable directories refuse it even for root, whom access() mostly waves through) and
 * leaves nothing behind. Filesystems without O_TMPFILE fall back to statvfs + access().
 * @return 0 or -errno.
 */
static int probe_writable(const char *dir)
{
	struct statvfs vfs;
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
		return -EROFS;
	return access(dir, W_OK | X_OK) == 0 ? 0 : -errno;
}

/* Probe that the data directory can be used, without creating anything in it. */
static void validate_data_dir(struct sluice_config *cfg)
{
	const char *dir = cfg->storage.data_dir;
	char path[SLUICE_CONFIG_PATH_MAX];
	struct stat st;
	int rc;

	if (dir[0] == '\0') {
		key_error(cfg, SEC_STORAGE, 0, "data_dir", "must not be empty");
		return;
	}
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			key_error(cfg, SEC_STORAGE, 0, "data_dir", "'%s' is not a directory", dir);
			return;
		}
		rc = probe_writable(dir);
		if (rc)
			key_error(cfg, SEC_STORAGE, 0, "data_dir", "'%s' is not writable: %s", dir,
				  strerror(-rc));
		return;
	}
	if (errno == ENOTDIR) {
		key_error(cfg, SEC_STORAGE, 0, "data_dir",
			  "cannot create '%s': a component of the path is not a directory", dir);
		return;
	}
	if (errno != ENOENT) {
		key_error(cfg, SEC_STORAGE, 0, "data_dir", "'%s': %s", dir, strerror(errno));
		return;
	}
	/* It will be created: the nearest existing ancestor must be a writable directory. */
	snprintf(path, sizeof(path), "%s", dir);
	for (;;) {
		char *slash = strrchr(path, '/');
		if (!slash) {
			snprintf(path, sizeof(path), ".");
		} else if (slash == path) {
			path[1] = '\0';
		} else {
			*slash = '\0';
		}
		if (stat(path, &st) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				key_error(cfg, SEC_STORAGE, 0, "data_dir",
					  "cannot create '%s': '%s' is not a directory", dir, path);
			} else if ((rc = probe_writable(path)) != 0) {
				key_error(cfg, SEC_STORAGE, 0, "data_dir",
					  "cannot create '%s': %s: %s", dir, path, strerror(-rc));
			}
			return;
		}
		if (errno != ENOENT) {
			key_error(cfg, SEC_STORAGE, 0, "data_dir", "cannot create '%s': %s: %s",
				  dir, path, strerror(errno));
			return;
		}
		if (strcmp(path, "/") == 0 || strcmp(path, ".") == 0)
			return;
	}
}

/* librdkafka's reason may quote the value: never let it show a secret. */
static void redact_in(char *text, size_t len, const char *value)
{
	size_t vl = strlen(value), rl = strlen(SLUICE_CONFIG_REDACTED);
	char *hit;

	if (vl == 0)
		return;
	while ((hit = strstr(text, value)) != NULL) {
		size_t tail = strlen(hit + vl);

		if ((size_t)(hit - text) + rl + tail >= len)
			tail = len - 1 - (size_t)(hit - text) - rl;
		memmove(hit + rl, hit + vl, tail);
		hit[rl + tail] = '\0';
		memcpy(hit, SLUICE_CONFIG_REDACTED, rl);
	}
}

static void validate_kafka(struct sluice_config *cfg)
{
	struct sluice_config_kafka *k = &cfg->kafka;
	struct sluice_fwd_kv kv[SLUICE_CONFIG_MAX_KAFKA_PROPS];
	uint32_t errors_before = cfg->nerrors;
	char errstr[512];
	uint32_t at;

	/* The forwarder's own table, the one its create applies at start, is the authority on
	 * its client settings; the keys that carry the exactly-once guarantee (acks,
	 * enable.idempotence, ...) are refused. Checked whether or not forwarding is on: the
	 * file is wrong either way. */
	for (uint32_t i = 0; i < k->nprops; i++) {
		const struct sluice_config_kafka_prop *p = &k->props[i];
		char what[160];

		snprintf(what, sizeof(what), "kafka.%s", p->key);
		errstr[0] = '\0';
		if (sluice_fwd_conf_check(p->key, p->value, errstr, sizeof(errstr))) {
			if (sluice_config_key_is_secret(what))
				redact_in(errstr, sizeof(errstr), p->value);
			add_error(cfg, p->file, p->line, what, "%s", errstr);
		}
		kv[i] = (struct sluice_fwd_kv){p->key, p->value};
	}
	/* Then the combinations (SASL needs a mechanism, a user and a password, ...). */
	if (k->nprops && cfg->nerrors == errors_before &&
	    sluice_fwd_conf_check_all(kv, k->nprops, errstr, sizeof(errstr), &at)) {
		for (uint32_t i = 0; i < k->nprops; i++) {
			char what[160];

			snprintf(what, sizeof(what), "kafka.%s", k->props[i].key);
			if (sluice_config_key_is_secret(what))
				redact_in(errstr, sizeof(errstr), k->props[i].value);
		}
		add_error(cfg, k->props[at].file, k->props[at].line, "kafka", "%s", errstr);
	}
	if (sluice_config_forwarding(cfg) == SLUICE_CONFIG_FORWARD_EMBEDDED) {
		/* The mock cluster gets one Kafka topic per local topic. */
		for (uint32_t i = 0; i < cfg->ntopics; i++) {
			const struct sluice_config_topic *t = &cfg->topics[i];
			const char *kt = t->kafka_topic[0] ? t->kafka_topic : t->name;

			for (uint32_t j = 0; j < i; j++) {
				const struct sluice_config_topic *u = &cfg->topics[j];
				if (strcmp(kt, u->kafka_topic[0] ? u->kafka_topic : u->name) == 0)
					key_error(cfg, SEC_TOPIC, i, "kafka_topic",
						  "Kafka topic '%s' is also [topic.%s]'s: the "
						  "embedded cluster holds one local topic per "
						  "Kafka topic",
						  kt, u->name);
			}
		}
	}
}

/* One level name or number as EAL's --log-level takes it (eal_parse_log_priority in DPDK
 * 22.11: a non-empty prefix of a level name, or a number). */
static bool eal_level_ok(const char *s)
{
	static const char *const names[] = {"emergency", "alert",  "critical", "error",
					    "warning",   "notice", "info",     "debug"};
	size_t n = strlen(s);
	unsigned long long v;
	char *end;

	if (n == 0)
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(names[i], s, n) == 0)
			return true;
	errno = 0;
	v = strtoull(s, &end, 0);
	return errno == 0 && *end == '\0' && isdigit((unsigned char)s[0]) && v >= 1 &&
		v < UINT32_MAX;
}

/*
 * What EAL would refuse at start, before any core runs: the --log-level value, and eal.args
 * options that sluiced derives from its own keys (a second, contradicting copy). EAL parses
 * the rest of eal.args itself.
 */
static void validate_eal(struct sluice_config *cfg)
{
	static const struct {
		const char *opt, *key;
	} owned[] = {
		{"-l", "eal.lcores"},
		{"-c", "eal.lcores"},
		{"--lcores", "eal.lcores"},
		{"--main-lcore", "eal.lcores"},
		{"--file-prefix", "eal.file_prefix"},
		{"--in-memory", "eal.memory"},
		{"--no-huge", "eal.memory"},
		{"--huge-unlink", "eal.memory"},
		{"-m", "eal.memory_mb"},
		{"--vdev", "[port.*] device and args"},
		{"-a", "[port.*] device"},
		{"--allow", "[port.*] device"},
		{"--no-pci", "[port.*] device"},
		{"--log-level", "eal.log_level"},
		{"--no-telemetry", "eal.telemetry"},
		{"--telemetry", "eal.telemetry"},
	};
	struct sluice_config_eal *e = &cfg->eal;
	char copy[SLUICE_CONFIG_STR_MAX];
	unsigned ntok = 0;

	if (e->log_level[0]) {
		const char *level = e->log_level;
		const char *sep = strpbrk(e->log_level, ",:");

		if (sep) {
			level = sep + 1;
			if (*sep == ',') {
				/* EAL compiles the type part as a POSIX basic regex. */
				char re_text[sizeof(e->log_level)];
				regex_t re;

				snprintf(re_text, sizeof(re_text), "%.*s",
					 (int)(sep - e->log_level), e->log_level);
				if (regcomp(&re, re_text, 0) != 0)
					key_error(cfg, SEC_EAL, 0, "log_level",
						  "'%s' is not a regular expression", re_text);
				else
					regfree(&re);
			}
		}
		if (!eal_level_ok(level))
			key_error(cfg, SEC_EAL, 0, "log_level",
				  "'%s' is not a level (emergency, alert, critical, error, "
				  "warning, notice, info, debug or 1..8), as in `lib.eal:debug`",
				  level);
	}
	snprintf(copy, sizeof(copy), "%s", e->args);
	for (char *save = NULL, *tok = strtok_r(copy, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		size_t n = strcspn(tok, "=");

		ntok++;
		for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
			size_t on = strlen(owned[i].opt);
			/* "-m 512", "-m512", "--vdev=x", "--vdev x" */
			bool hit = owned[i].opt[1] == '-'
				? n == on && strncmp(tok, owned[i].opt, on) == 0
				: strncmp(tok, owned[i].opt, on) == 0;
			if (hit)
				key_error(cfg, SEC_EAL, 0, "args",
					  "'%s' is set by sluiced from %s: use that key", tok,
					  owned[i].key);
		}
	}
	if (ntok > SLUICE_CONFIG_MAX_EAL_ARGS)
		key_error(cfg, SEC_EAL, 0, "args", "%u arguments, at most %d", ntok,
			  SLUICE_CONFIG_MAX_EAL_ARGS);
}

/* Where the control socket and the metrics endpoint will be made: refused now what start
 * would refuse (a path that is not a socket, a directory that cannot be made, an address
 * this host does not have). Nothing is created. */
static void validate_control_env(struct sluice_config *cfg)
{
	struct sluice_config_control *c = &cfg->control;
	struct stat st;

	if (c->socket[0]) {
		char dir[sizeof(c->socket)];
		char *slash;

		if (lstat(c->socket, &st) == 0 && !S_ISSOCK(st.st_mode))
			key_error(cfg, SEC_CONTROL, 0, "socket", "'%s' exists and is not a socket",
				  c->socket);
		snprintf(dir, sizeof(dir), "%s", c->socket);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			/* The nearest existing ancestor must be a directory we can write in. */
			while (stat(dir, &st) != 0 && errno == ENOENT &&
			       (slash = strrchr(dir, '/')) != NULL && slash != dir)
				*slash = '\0';
			if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
				key_error(cfg, SEC_CONTROL, 0, "socket",
					  "cannot create '%s': '%s' is not a directory", c->socket,
					  dir);
			else if (stat(dir, &st) == 0 && access(dir, W_OK | X_OK) != 0)
				key_error(cfg, SEC_CONTROL, 0, "socket",
					  "cannot create '%s': %s: %s", c->socket, dir,
					  strerror(errno));
		}
	}
	if (c->metrics && c->metrics_addr[0]) {
		/* Port 0: only whether the address is this host's (the port may be taken
		 * later by anyone; that remains a start-up failure). */
		struct sockaddr_in sa = {.sin_family = AF_INET};
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd >= 0 && inet_pton(AF_INET, c->metrics_addr, &sa.sin_addr) == 1 &&
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno == EADDRNOTAVAIL)
			key_error(cfg, SEC_CONTROL, 0, "metrics_listen",
				  "%s is not an address of this host", c->metrics_addr);
		if (fd >= 0)
			close(fd);
	}
}

static void resolve_group(struct sluice_config *cfg, const char *key, const char *name, gid_t *gid)
{
	struct group *g;

	*gid = (gid_t)-1;
	if (!name[0])
		return;
	/* Resolved now so that a typo is a config error, not a start-up failure. */
	g = getgrnam(name);
	if (g)
		*gid = g->gr_gid;
	else
		key_error(cfg, SEC_CONTROL, 0, key, "no such group '%s'", name);
}

static bool listeners_overlap(const struct sluice_config_listener *a,
			      const struct sluice_config_listener *b)
{
	if (a->port_index != b->port_index || a->udp_port != b->udp_port)
		return false;
	if (a->family == 0 || b->family == 0)
		return true;
	return a->family == b->family && memcmp(a->addr, b->addr, 16) == 0;
}

int sluice_config_validate(struct sluice_config *cfg)
{
	uint32_t errors_before = cfg->nerrors;
	const char *file = cfg->file[0] ? cfg->file : "<config>";
	uint32_t workers = cfg->dataplane.workers;
	long ncpu = online_cpus(cfg);

	if (cfg->nports == 0)
		add_error(cfg, file, 0, "port",
			  "no [port.<name>] section: at least one is required");
	if (cfg->ntopics == 0)
		add_error(cfg, file, 0, "topic",
			  "no [topic.<name>] section: at least one is required");
	if (cfg->nlisteners == 0)
		add_error(cfg, file, 0, "listener",
			  "no [listener.<name>] section: at least one is required");

	/* Required keys of named sections. */
	for (unsigned s = SEC_PORT; s <= SEC_TOPIC; s++) {
		for (uint32_t i = 0; i < instance_count(cfg, s); i++) {
			for (size_t k = 0; k < sections[s].nkeys; k++) {
				const struct key *key = &sections[s].keys[k];
				const char *f;
				unsigned line;
				if (!(key->flags & K_REQUIRED))
					continue;
				origin_of(cfg, s, i, (unsigned)k, &f, &line);
				/* origin_of falls back to the header: compare to know if set. */
				{
					const struct config_priv *p = priv(cfg);
					bool set = false;
					for (uint32_t o = 0; o < p->norigins; o++)
						if (p->origins[o].sec == s &&
						    p->origins[o].idx == i &&
						    p->origins[o].key == k)
							set = true;
					if (!set)
						key_error(cfg, s, i, NULL,
							  "missing required key '%s'", key->name);
				}
			}
		}
	}

	for (uint32_t i = 0; i < cfg->nports; i++) {
		struct sluice_config_port *p = &cfg->ports[i];
		if (p->device[0] == '\0')
			continue; /* reported as missing above */
		p->pci = is_pci_address(p->device);
		if (!p->pci && strncmp(p->device, "net_", 4) != 0)
			key_error(cfg, SEC_PORT, i, "device",
				  "'%s' is neither a PCI address nor a net_* virtual device",
				  p->device);
		if (p->pci && p->args[0])
			key_error(cfg, SEC_PORT, i, "args",
				  "arguments are for virtual devices only");
		{
			uint8_t a[16];
			parse_ip(p->ipv4, a);
			memcpy(p->ipv4_addr, a, 4);
			p->has_ipv6 = p->ipv6[0] && parse_ip(p->ipv6, a) == 6;
			memcpy(p->ipv6_addr, a, 16);
		}
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(cfg->ports[j].device, p->device) == 0)
				key_error(cfg, SEC_PORT, i, "device",
					  "'%s' is already used by [port.%s]", p->device,
					  cfg->ports[j].name);
		if (p->queues && p->queues < workers)
			key_error(cfg, SEC_PORT, i, "queues",
				  "more workers (dataplane.workers = %u) than queues (%u): each "
				  "worker polls one queue of every port",
				  workers, p->queues);
		else if (p->queues > workers)
			key_error(cfg, SEC_PORT, i, "queues",
				  "%u queues but only %u workers: the extra queues would never be "
				  "polled",
				  p->queues, workers);
	}

	for (uint32_t i = 0; i < cfg->ntopics; i++) {
		struct sluice_config_topic *t = &cfg->topics[i];
		/* Directory <topic>-<p> and Kafka topic names: "." and ".." are not names. */
		if (strcmp(t->name, ".") == 0 || strcmp(t->name, "..") == 0)
			key_error(cfg, SEC_TOPIC, i, NULL, "'%s' is not a usable topic name",
				  t->name);
		if (strcmp(t->kafka_topic, ".") == 0 || strcmp(t->kafka_topic, "..") == 0)
			key_error(cfg, SEC_TOPIC, i, "kafka_topic",
				  "'%s' is not a valid Kafka topic name", t->kafka_topic);
		if (t->flush_bytes > t->segment_bytes)
			key_error(cfg, SEC_TOPIC, i, "flush_bytes",
				  "larger than segment_bytes: a segment would roll before a group "
				  "commit");
		if (t->retention_bytes && t->retention_bytes < t->segment_bytes)
			key_error(cfg, SEC_TOPIC, i, "retention_bytes",
				  "smaller than segment_bytes: retention deletes whole segments");
		if (t->index_interval_bytes > t->segment_bytes)
			key_error(cfg, SEC_TOPIC, i, "index_interval_bytes",
				  "larger than segment_bytes");
	}

	for (uint32_t i = 0; i < cfg->nlisteners; i++) {
		struct sluice_config_listener *l = &cfg->listeners[i];
		bool ok = true;

		l->port_index = l->topic_index = UINT32_MAX;
		if (l->port[0] == '\0') {
			if (cfg->nports == 1)
				l->port_index = 0;
			else if (cfg->nports > 1)
				key_error(cfg, SEC_LISTENER, i, "port",
					  "required: there are %u ports", cfg->nports);
		} else {
			for (uint32_t j = 0; j < cfg->nports; j++)
				if (strcmp(cfg->ports[j].name, l->port) == 0)
					l->port_index = j;
			if (l->port_index == UINT32_MAX)
				key_error(cfg, SEC_LISTENER, i, "port",
					  "unknown port '%s' (no [port.%s] section)", l->port,
					  l->port);
		}
		if (l->topic[0] == '\0') {
			if (cfg->ntopics == 1)
				l->topic_index = 0;
			else if (cfg->ntopics > 1)
				key_error(cfg, SEC_LISTENER, i, "topic",
					  "required: there are %u topics", cfg->ntopics);
		} else {
			for (uint32_t j = 0; j < cfg->ntopics; j++)
				if (strcmp(cfg->topics[j].name, l->topic) == 0)
					l->topic_index = j;
			if (l->topic_index == UINT32_MAX)
				key_error(cfg, SEC_LISTENER, i, "topic",
					  "unknown topic '%s' (no [topic.%s] section)", l->topic,
					  l->topic);
		}
		{
			static const uint8_t zero[16];
			int fam = parse_ip(l->address, l->addr);
			if (fam < 0)
				ok = false;
			l->family = fam < 0 || memcmp(l->addr, zero, 16) == 0 ? 0 : (uint8_t)fam;
		}
		if (l->key != SLUICE_CONFIG_KEY_NONE && l->format == SLUICE_CONFIG_FORMAT_KAFKA)
			key_error(
				cfg, SEC_LISTENER, i, "key",
				"kafka batches carry their own keys; key applies to lines and raw");
		if (l->max_event_bytes == 0)
			l->max_event_bytes =
				(uint32_t)cfg->dataplane.batch_bytes - SLUICE_RB_HEADER_BYTES - 32;
		else if (l->max_event_bytes >
			 cfg->dataplane.batch_bytes - SLUICE_RB_HEADER_BYTES - 32)
			key_error(cfg, SEC_LISTENER, i, "max_event_bytes",
				  "an event of %u bytes would not fit in a batch of "
				  "dataplane.batch_bytes = %llu",
				  l->max_event_bytes,
				  (unsigned long long)cfg->dataplane.batch_bytes);
		if (l->rate_limit_burst && !l->rate_limit)
			key_error(cfg, SEC_LISTENER, i, "rate_limit_burst",
				  "has no effect without rate_limit");
		if (!ok || l->port_index == UINT32_MAX || l->udp_port == 0)
			continue;
		for (uint32_t j = 0; j < i; j++) {
			if (listeners_overlap(&cfg->listeners[j], l))
				key_error(cfg, SEC_LISTENER, i, "udp_port",
					  "overlaps [listener.%s]: same port '%s', UDP port %u and "
					  "address %s vs %s",
					  cfg->listeners[j].name, cfg->ports[l->port_index].name,
					  l->udp_port, l->address, cfg->listeners[j].address);
		}
	}

	validate_lcores(cfg);
	{
		const struct sluice_cpu_list *wc = &cfg->storage.writer_cpus;
		for (uint32_t i = 0; i < wc->n; i++)
			if ((long)wc->id[i] >= ncpu)
				key_error(
					cfg, SEC_STORAGE, 0, "writer_cpus",
					"CPU %u does not exist (this machine has %ld online CPUs)",
					wc->id[i], ncpu);
		if (wc->n && wc->n != cfg->storage.writers)
			key_error(cfg, SEC_STORAGE, 0, "writer_cpus",
				  "%u CPUs for %u writers: give one CPU per writer", wc->n,
				  cfg->storage.writers);
	}
	if (cfg->eal.memory == SLUICE_CONFIG_MEM_NO_HUGE && cfg->eal.memory_mb < 128)
		key_error(cfg, SEC_EAL, 0, "memory_mb", "no-huge needs at least 128 MB");
	{
		/* Batch buffers and mbufs live in EAL memory: catch a config that cannot fit. */
		uint64_t need = cfg->dataplane.batch_buffers * cfg->dataplane.batch_bytes +
			(uint64_t)cfg->dataplane.mbufs * 2304;
		uint64_t have = (uint64_t)cfg->eal.memory_mb * MB;
		if (cfg->eal.memory == SLUICE_CONFIG_MEM_NO_HUGE && need > have)
			key_error(cfg, SEC_DATAPLANE, 0, "batch_buffers",
				  "batch_buffers x batch_bytes + mbufs x 2304 = %llu MB exceeds "
				  "eal.memory_mb = %u",
				  (unsigned long long)(need / MB), cfg->eal.memory_mb);
	}
	{
		struct sluice_config_control *c = &cfg->control;
		if (parse_address(c->metrics_listen, c->metrics_addr, sizeof(c->metrics_addr),
				  &c->metrics_port))
			key_error(cfg, SEC_CONTROL, 0, "metrics_listen",
				  "not an IPv4:port address");
		resolve_group(cfg, "socket_group", c->socket_group, &c->socket_gid);
		resolve_group(cfg, "admin_group", c->admin_group, &c->admin_gid);
	}
	{
		/* What the mbuf pool must hold so that every RX ring can be filled (the RX
		 * descriptors of every queue of every port, plus the per-lcore caches). */
		uint64_t need = 0;

		for (uint32_t i = 0; i < cfg->nports; i++) {
			const struct sluice_config_port *p = &cfg->ports[i];
			need += (uint64_t)p->rx_desc * (p->queues ? p->queues : workers);
		}
		need += (uint64_t)cfg->dataplane.mbuf_cache * (workers + 1) + 2 * 64;
		if (cfg->dataplane.mbufs < need)
			key_error(cfg, SEC_DATAPLANE, 0, "mbufs",
				  "%u cannot fill the RX rings: ports x queues x rx_desc + caches "
				  "need %llu",
				  cfg->dataplane.mbufs, (unsigned long long)need);
	}
	/* A sealed batch must fit a writer's aligned buffer beside a partial tail block;
	 * a larger one would be refused by storage at run time. */
	if (cfg->dataplane.batch_bytes + 4096 > cfg->storage.write_buffer_bytes)
		key_error(cfg, SEC_STORAGE, 0, "write_buffer",
			  "%llu bytes cannot hold a batch of dataplane.batch_bytes = %llu plus a "
			  "4K tail block",
			  (unsigned long long)cfg->storage.write_buffer_bytes,
			  (unsigned long long)cfg->dataplane.batch_bytes);
	validate_eal(cfg);
	validate_kafka(cfg);
	if (!cfg->skip_env_checks) {
		validate_data_dir(cfg);
		validate_control_env(cfg);
	}
	return cfg->nerrors == errors_before ? 0 : -EINVAL;
}

int sluice_config_lcore_cpus(const struct sluice_config *cfg, unsigned lcore,
			     struct sluice_cpu_list *out)
{
	struct lcore_map *m;
	char why[256];
	int rc = -ENOENT;

	memset(out, 0, sizeof(*out));
	if (lcore >= SLUICE_CONFIG_MAX_LCORES)
		return -ENOENT;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (parse_lcore_map(cfg->eal.lcores_resolved, m, why, sizeof(why)) == 0 &&
	    set_has(m->lcores, lcore)) {
		for (unsigned c = 0; c < SLUICE_CONFIG_MAX_CPUS; c++)
			if (set_has(m->cpus_of[lcore], c))
				out->id[out->n++] = (uint16_t)c;
		rc = 0;
	}
	free(m);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* get / set / list / help                                                                    */

/* Split "section[.instance].key" into its table section and key; *inst points into buf. */
static int split_key(const char *full, char *buf, size_t len, int *sec, const struct key **key,
		     const char **inst)
{
	char *dot;
	int s, ki;

	if (strlen(full) >= len)
		return -ENOENT;
	memcpy(buf, full, strlen(full) + 1);
	dot = strrchr(buf, '.');
	if (!dot)
		return -ENOENT;
	*dot = '\0';
	s = lookup_section(buf, inst);
	if (s < 0)
		return -ENOENT;
	ki = find_key((unsigned)s, dot + 1);
	if (ki < 0)
		return -ENOENT;
	*sec = s;
	*key = &sections[s].keys[ki];
	return 0;
}

/* Resolve "topic.events.flush_interval" to (sec, idx, key). */
static int resolve_key(const struct sluice_config *cfg, const char *full, unsigned *sec,
		       unsigned *idx, const struct key **key)
{
	char buf[256];
	const char *inst;
	int s;

	if (split_key(full, buf, sizeof(buf), &s, key, &inst))
		return -ENOENT;
	*sec = (unsigned)s;
	*idx = 0;
	if (sections[s].named) {
		uint32_t i, n;
		if (!cfg)
			return -ENOENT;
		n = instance_count(cfg, (unsigned)s);
		for (i = 0; i < n; i++)
			if (strcmp(instance_name(cfg, (unsigned)s, i), inst) == 0)
				break;
		if (i == n)
			return -ENOENT;
		*idx = i;
	}
	return 0;
}

bool sluice_config_key_is_secret(const char *key)
{
	/* Over-redacting costs an operator one look at the file; under-redacting leaks. */
	static const char *const words[] = {"password",   "passwd", "secret",
					    "credential", "jaas",   "private"};
	static const char *const names[] = {"ssl.key.pem", "ssl_key", "sasl.oauthbearer.config",
					    "sasl.oauthbearer.extensions"};
	char lower[256];
	const char *name;
	size_t n = strlen(key);

	if (n >= sizeof(lower))
		n = sizeof(lower) - 1;
	for (size_t i = 0; i < n; i++)
		lower[i] = (char)tolower((unsigned char)key[i]);
	lower[n] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(lower, words[i]))
			return true;
	/* Property names are matched without their "kafka." prefix, and as given. */
	name = strncmp(lower, "kafka.", 6) == 0 ? lower + 6 : lower;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

enum sluice_config_forwarding sluice_config_forwarding(const struct sluice_config *cfg)
{
	if (!cfg->kafka.enabled || cfg->kafka.brokers[0] == '\0')
		return SLUICE_CONFIG_FORWARD_OFF;
	if (strcmp(cfg->kafka.brokers, "embedded") == 0)
		return SLUICE_CONFIG_FORWARD_EMBEDDED;
	return SLUICE_CONFIG_FORWARD_KAFKA;
}

const char *sluice_config_forwarding_name(enum sluice_config_forwarding f)
{
	return f == SLUICE_CONFIG_FORWARD_KAFKA       ? "kafka"
		: f == SLUICE_CONFIG_FORWARD_EMBEDDED ? "embedded"
						      : "off";
}

/* The librdkafka property "kafka.<name>" that is set, or NULL. */
static const struct sluice_config_kafka_prop *find_prop(const struct sluice_config *cfg,
							const char *full)
{
	if (!cfg || strncmp(full, "kafka.", 6) != 0)
		return NULL;
	for (uint32_t i = 0; i < cfg->kafka.nprops; i++)
		if (strcmp(cfg->kafka.props[i].key, full + 6) == 0)
			return &cfg->kafka.props[i];
	return NULL;
}

int sluice_config_get(const struct sluice_config *cfg, const char *key, char *out, size_t len)
{
	unsigned sec, idx;
	const struct key *k;
	const struct sluice_config_kafka_prop *prop;
	char buf[SLUICE_CONFIG_STR_MAX + 64];

	if (resolve_key(cfg, key, &sec, &idx, &k) == 0)
		format_value(k, (const char *)section_cbase(cfg, sec, idx) + k->off, buf,
			     sizeof(buf));
	else if ((prop = find_prop(cfg, key)) != NULL)
		snprintf(buf, sizeof(buf), "%s", prop->value);
	else
		return -ENOENT;
	if (sluice_config_key_is_secret(key))
		snprintf(buf, sizeof(buf), "%s", SLUICE_CONFIG_REDACTED);
	if (strlen(buf) >= len)
		return -ENOSPC;
	memcpy(out, buf, strlen(buf) + 1);
	return 0;
}

int sluice_config_is_runtime(const char *key)
{
	char buf[256];
	const char *inst;
	const struct key *k;
	int s;

	if (split_key(key, buf, sizeof(buf), &s, &k, &inst))
		return -ENOENT;
	return (k->flags & K_RUNTIME) ? 1 : 0;
}

int sluice_config_set(struct sluice_config *cfg, const char *key, const char *value, char *err,
		      size_t errlen)
{
	unsigned sec, idx;
	const struct key *k;
	union {
		struct sluice_cpu_list cpus;
		char str[SLUICE_CONFIG_STR_MAX];
		uint64_t u64;
	} tmp;

	if (resolve_key(cfg, key, &sec, &idx, &k)) {
		if (find_prop(cfg, key)) {
			snprintf(err, errlen,
				 "%s: librdkafka properties cannot change at runtime (restart "
				 "with the new value)",
				 key);
			return -EPERM;
		}
		snprintf(err, errlen, "%s: unknown key", key);
		return -ENOENT;
	}
	if (!(k->flags & K_RUNTIME)) {
		snprintf(err, errlen, "%s: cannot change at runtime (restart with the new value)",
			 key);
		return -EPERM;
	}
	memset(&tmp, 0, sizeof(tmp));
	if (parse_value(k, value, &tmp, err, errlen))
		return -EINVAL;
	memcpy((char *)section_base(cfg, sec, idx) + k->off, &tmp, k->size);
	return 0;
}

unsigned sluice_config_foreach(const struct sluice_config *cfg,
			       void (*cb)(const struct sluice_config_item *item, void *arg),
			       void *arg)
{
	unsigned count = 0;

	for (unsigned s = 0; s < SEC__COUNT; s++) {
		for (uint32_t i = 0; i < instance_count(cfg, s); i++) {
			const char *iname = instance_name(cfg, s, i);
			for (size_t k = 0; k < sections[s].nkeys; k++) {
				const struct key *key = &sections[s].keys[k];
				char full[256], sec[128], value[SLUICE_CONFIG_STR_MAX + 64];
				struct sluice_config_item item;

				snprintf(sec, sizeof(sec), "%s%s%s", sections[s].name,
					 iname ? "." : "", iname ? iname : "");
				snprintf(full, sizeof(full), "%s.%s", sec, key->name);
				item.section = sec;
				format_value(key, (const char *)section_cbase(cfg, s, i) + key->off,
					     value, sizeof(value));
				item.key = full;
				item.secret = sluice_config_key_is_secret(full);
				item.value = item.secret ? SLUICE_CONFIG_REDACTED : value;
				item.default_value = key->def;
				item.type = type_names[key->type];
				item.help = key->help;
				item.runtime = key->flags & K_RUNTIME;
				cb(&item, arg);
				count++;
			}
		}
	}
	for (uint32_t i = 0; i < cfg->kafka.nprops; i++) {
		char full[160];
		struct sluice_config_item item = {
			.key = full,
			.section = "kafka",
			.value = cfg->kafka.props[i].value,
			.default_value = NULL,
			.type = "kafka client",
			.help = "Kafka client setting",
			.runtime = false,
		};
		snprintf(full, sizeof(full), "kafka.%s", cfg->kafka.props[i].key);
		item.secret = sluice_config_key_is_secret(full);
		if (item.secret)
			item.value = SLUICE_CONFIG_REDACTED;
		cb(&item, arg);
		count++;
	}
	return count;
}

static void describe_range(const struct key *k, char *out, size_t len)
{
	char lo[32], hi[32];
	struct key tmp = *k;

	out[0] = '\0';
	switch (k->type) {
	case T_U32:
	case T_U64:
	case T_SIZE:
	case T_DURATION:
		tmp.size = sizeof(uint64_t);
		format_value(&tmp, &k->min, lo, sizeof(lo));
		format_value(&tmp, &k->max, hi, sizeof(hi));
		snprintf(out, len, "%s .. %s%s", lo, hi,
			 (k->flags & K_POW2) ? ", power of two" : "");
		return;
	case T_ENUM: {
		size_t used = 0;
		for (uint32_t i = 0; k->enums[i] && used < len; i++)
			used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "",
						 k->enums[i]);
		return;
	}
	default:
		return;
	}
}

/* The Kafka client settings of [kafka], from the forwarder's own table. */
static void help_kafka_client(FILE *out, enum sluice_config_help_format fmt)
{
	const char *key, *def, *help;

	if (fmt == SLUICE_CONFIG_HELP_MARKDOWN)
		fprintf(out,
			"\nKafka client settings (also in [kafka]; librdkafka's names and "
			"meanings):\n\n"
			"| key | default | description |\n"
			"|-----|---------|-------------|\n");
	else
		fprintf(out, "\n  Kafka client settings (librdkafka's names):\n");
	for (uint32_t i = 0; sluice_fwd_conf_describe(i, &key, &def, &help) == 0; i++) {
		if (fmt == SLUICE_CONFIG_HELP_MARKDOWN)
			fprintf(out, "| `%s` | `%s` | %s |\n", key, def[0] ? def : "(empty)", help);
		else
			fprintf(out, "  %-38s %-10s\n      %s\n", key, def[0] ? def : "(empty)",
				help);
	}
}

void sluice_config_help(FILE *out, enum sluice_config_help_format fmt)
{
	if (fmt == SLUICE_CONFIG_HELP_MARKDOWN) {
		fprintf(out,
			"<!-- SPDX-License-Identifier: BSD-3-Clause -->\n"
			"<!-- Generated by `sluiced --help-config=markdown`; do not edit. -->\n"
			"# sluiced configuration reference\n\n"
			"One INI file (`sluiced -c FILE`), validated completely before anything "
			"starts: every mistake is reported as `file:line: key: reason` and "
			"sluiced exits with status 2. `sluiced --check-config FILE` only "
			"validates. Any key can be overridden on the command line with "
			"`--set section.key=value` (named sections: "
			"`--set topic.events.partitions=8`).\n\n"
			"Syntax: `[section]` headers, `key = value` lines, full-line comments "
			"starting with `#` or `;`; a value in double quotes keeps its blanks. "
			"A key may appear once per section.\n\n"
			"Types: **size** is bytes with an optional K, M, G or T suffix (powers of "
			"1024); **duration** is a number with a us, ms or s suffix (0 needs "
			"none); **bool** is true/false, yes/no, on/off or 1/0; **cpu list** is "
			"`0,2-3`; **lcore map** is EAL's `--lcores` syntax. Keys marked runtime "
			"can be changed while running with `sluicectl config set KEY VALUE`.\n");
	} else {
		fprintf(out, "sluiced configuration keys (type, default, range; * = runtime)\n");
	}
	for (unsigned s = 0; s < SEC__COUNT; s++) {
		const struct section *sec = &sections[s];
		if (fmt == SLUICE_CONFIG_HELP_MARKDOWN) {
			fprintf(out, "\n## [%s%s]\n\n%s\n\n", sec->name,
				sec->named ? ".<name>" : "", sec->help);
			fprintf(out,
				"| key | type | default | range | runtime | description |\n"
				"|-----|------|---------|-------|---------|-------------|\n");
		} else {
			fprintf(out, "\n[%s%s]  %s\n", sec->name, sec->named ? ".<name>" : "",
				sec->help);
		}
		for (size_t i = 0; i < sec->nkeys; i++) {
			const struct key *k = &sec->keys[i];
			char range[256];
			const char *def = k->def ? (k->def[0] ? k->def : "(empty)") : "(required)";

			describe_range(k, range, sizeof(range));
			if (fmt == SLUICE_CONFIG_HELP_MARKDOWN)
				fprintf(out, "| `%s` | %s | `%s` | %s | %s | %s |\n", k->name,
					type_names[k->type], def, range,
					(k->flags & K_RUNTIME) ? "yes" : "no", k->help);
			else
				fprintf(out, "  %-28s %-9s %-16s %s%s\n      %s\n", k->name,
					type_names[k->type], def, range,
					(k->flags & K_RUNTIME) ? " *" : "", k->help);
		}
		if (s == SEC_KAFKA)
			help_kafka_client(out, fmt);
	}
}

const char *sluice_config_format_name(uint32_t format)
{
	return format < 3 ? format_names[format] : "?";
}

const char *sluice_config_key_mode_name(uint32_t key_mode)
{
	return key_mode < 2 ? key_mode_names[key_mode] : "?";
}
