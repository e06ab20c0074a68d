/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane's keys: [dataplane] and [listener.<name>].
 * Each row is the whole key: parsing, bounds, the default, config.get/set/list,
 * --help-config and docs/configuration.md come from it (control/config.c). A new key is one
 * row here (and its field in dataplane/dataplane_config.h).
 */
#include "sluice_config_rows.h"
#include "dataplane_config.h"
#include "sluice_record.h"

const char *const sluice_dataplane_format_names[] = {"kafka", "lines", "raw", NULL};
const char *const sluice_dataplane_key_mode_names[] = {"none", "source_addr", NULL};
static const char *const backpressure_names[] = {"drop", "block", NULL};
static const char *const keyless_names[] = {"sticky", "round_robin", NULL};

static const struct sluice_config_key listener_keys[] = {
	{"port", T_STRING, "", 0, 0, FIELD(sluice_config_listener, port), NULL, 0, K_NAME,
	 "the [port.<name>] this listener receives on (traffic of other ports never reaches "
	 "it); may be omitted when there is one port"},
	{"address", T_IP, "0.0.0.0", 0, 0, FIELD(sluice_config_listener, address), NULL, 0, 0,
	 "destination IPv4 or IPv6 address to accept; 0.0.0.0 (the default) or :: accepts any "
	 "of the port's addresses"},
	{"udp_port", T_U32, NULL, 1, 65535, FIELD(sluice_config_listener, udp_port), NULL, 0,
	 K_REQUIRED, "destination UDP port"},
	{"format", T_ENUM, "kafka", 0, 0, FIELD(sluice_config_listener, format),
	 sluice_dataplane_format_names, 0, 0,
	 "kafka: envelope + RecordBatch v2; lines: newline-separated events; raw: one datagram, "
	 "one event (docs/wire-formats.md)"},
	{"topic", T_STRING, "", 0, 0, FIELD(sluice_config_listener, topic), NULL, 0, K_NAME,
	 "the [topic.<name>] events go to; may be omitted when there is one topic"},
	{"key", T_ENUM, "none", 0, 0, FIELD(sluice_config_listener, key),
	 sluice_dataplane_key_mode_names, 0, 0,
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

static const struct sluice_config_key dataplane_keys[] = {
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
	{"producer_table_size", T_U32, SLUICE_CONFIG_STR(SLUICE_DP_PRODUCER_TABLE_SIZE_DEFAULT), 16,
	 1u << 22, FIELD(sluice_config_dataplane, producer_table_size), NULL, 0, 0,
	 "(source, producerId, partition) streams tracked per worker for loss and duplicate "
	 "counting; 468 bytes each per worker (the entry, its published view, a source entry, "
	 "its acknowledged-mode state)"},
	{"reorder_window", T_U32, "0", 0, 1u << 20, FIELD(sluice_config_dataplane, reorder_window),
	 NULL, 0, 0, "sequences ahead of the expected one accepted out of order (0: none)"},
	{"producers_per_source", T_U32, "1024", 1, 1u << 22,
	 FIELD(sluice_config_dataplane, producers_per_source), NULL, 0, 0,
	 "producer table entries one source address may hold per listener and worker; a "
	 "source at its share only replaces its own entries (capped at producer_table_size)"},
	{"producer_idle_timeout", T_DURATION,
	 SLUICE_CONFIG_STR(SLUICE_DP_PRODUCER_IDLE_S_DEFAULT) "s", 1000, 7 * 86400 * SEC_US,
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

const struct sluice_config_table sluice_dataplane_keys = {KEYS(dataplane_keys)};
const struct sluice_config_table sluice_dataplane_listener_keys = {KEYS(listener_keys)};
