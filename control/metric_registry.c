/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The metrics registry (see metric_registry.h): one row per family. The row is the only place
 * a family's name, type, labels, help and documented meaning are written.
 */
#include "metric_registry.h"

const struct sluice_metric_group_info sluice_metric_groups[SLUICE_MG__COUNT] = {
	[SLUICE_MG_APPLIANCE] = {"Appliance", NULL},
	[SLUICE_MG_NIC] =
		{"NIC (per port)",
		 "Note: memif resets its counters when the peer disconnects; worker counters "
		 "do not."},
	[SLUICE_MG_WORKERS] = {"Workers (per worker lcore)", NULL},
	[SLUICE_MG_LOG] = {"Log (per partition: topic, partition)", NULL},
	[SLUICE_MG_STORAGE_WRITERS] = {"Storage writers (per writer thread)", NULL},
	[SLUICE_MG_FORWARDER] = {"Forwarder", NULL},
	[SLUICE_MG_PRODUCERS] = {"Producers (top 10 by loss)", NULL},
	[SLUICE_MG_OUTPUTS] = {"The outputs themselves", NULL},
};

const struct sluice_metric_family sluice_metric_families[SLUICE_M__COUNT] = {
	[SLUICE_M_INFO] = {"sluice_info", SLUICE_METRIC_GAUGE, SLUICE_MG_APPLIANCE,
			   "version, state", "Build and state of this appliance",
			   "always 1; the build and the lifecycle state"},
	[SLUICE_M_START_TIME_SECONDS] = {"sluice_start_time_seconds", SLUICE_METRIC_GAUGE,
					 SLUICE_MG_APPLIANCE, "", "Unix time sluiced started",
					 "Unix time sluiced started (uptime = `time() - this`)"},
	[SLUICE_M_STARTUP_DURATION_SECONDS] = {"sluice_startup_duration_seconds",
					       SLUICE_METRIC_GAUGE, SLUICE_MG_APPLIANCE, "",
					       "Time from start to running",
					       "start to running: EAL, recovery, ports, workers"},
	[SLUICE_M_HEALTHY] = {"sluice_healthy", SLUICE_METRIC_GAUGE, SLUICE_MG_APPLIANCE, "",
			      "1 when every health check passes (the reasons are in /health).",
			      "1 when every `/health` check passes"},
	[SLUICE_M_ACCOUNTING_EVENTS] =
		{"sluice_accounting_events", SLUICE_METRIC_GAUGE, SLUICE_MG_APPLIANCE, "stage",
		 "The accounting chain, stage by stage (see docs/lifecycle.md)",
		 "the accounting chain, stage by stage"},
	[SLUICE_M_UNACCOUNTED_EVENTS] =
		{"sluice_unaccounted_events", SLUICE_METRIC_GAUGE, SLUICE_MG_APPLIANCE, "",
		 "Sum of the accounting identities' residues, from one consistent reading: 0 "
		 "unless events leaked (a bug)",
		 "residue of the accounting identities; must stay 0"},
	[SLUICE_M_STORAGE_DISK_FREE_BYTES] =
		{"sluice_storage_disk_free_bytes", SLUICE_METRIC_GAUGE, SLUICE_MG_APPLIANCE, "",
		 "Bytes available to sluiced on storage.data_dir's file system",
		 "bytes available to sluiced on `storage.data_dir`'s file system (`statvfs` "
		 "`f_bavail`)"},
	[SLUICE_M_STORAGE_DISK_SIZE_BYTES] = {"sluice_storage_disk_size_bytes", SLUICE_METRIC_GAUGE,
					      SLUICE_MG_APPLIANCE, "",
					      "Size of storage.data_dir's file system",
					      "size of that file system; free % = free / size"},
	[SLUICE_M_NIC_RX_PACKETS_TOTAL] = {"sluice_nic_rx_packets_total", SLUICE_METRIC_COUNTER,
					   SLUICE_MG_NIC, "port", "Packets received by the NIC",
					   "packets received by the NIC"},
	[SLUICE_M_NIC_RX_BYTES_TOTAL] = {"sluice_nic_rx_bytes_total", SLUICE_METRIC_COUNTER,
					 SLUICE_MG_NIC, "port", "Bytes received by the NIC",
					 "bytes received by the NIC"},
	[SLUICE_M_NIC_RX_MISSED_PACKETS_TOTAL] =
		{"sluice_nic_rx_missed_packets_total", SLUICE_METRIC_COUNTER, SLUICE_MG_NIC, "port",
		 "Packets the NIC dropped because no RX descriptor was free",
		 "dropped by the NIC: no free RX descriptor (`imissed`) — workers too slow or "
		 "too few queues"},
	[SLUICE_M_NIC_RX_ERRORS_TOTAL] = {"sluice_nic_rx_errors_total", SLUICE_METRIC_COUNTER,
					  SLUICE_MG_NIC, "port", "Erroneous packets received",
					  "erroneous frames (`ierrors`)"},
	[SLUICE_M_NIC_RX_NOMBUF_TOTAL] =
		{"sluice_nic_rx_nombuf_total", SLUICE_METRIC_COUNTER, SLUICE_MG_NIC, "port",
		 "RX mbuf allocation failures",
		 "RX mbuf allocation failures (`rx_nombuf`) — raise `dataplane.mbufs`"},
	[SLUICE_M_NIC_TX_PACKETS_TOTAL] = {"sluice_nic_tx_packets_total", SLUICE_METRIC_COUNTER,
					   SLUICE_MG_NIC, "port", "Packets sent (ARP/ICMP replies)",
					   "ARP/ICMP/ND replies sent"},
	[SLUICE_M_NIC_LINK_UP] = {"sluice_nic_link_up", SLUICE_METRIC_GAUGE, SLUICE_MG_NIC, "port",
				  "1 when the port's link is up", "1 when the link is up"},
	[SLUICE_M_NIC_XSTATS] =
		{"sluice_nic_xstats", SLUICE_METRIC_GAUGE, SLUICE_MG_NIC, "port, name",
		 "Every extended statistic of every port, as the driver names it",
		 "every extended statistic of the driver, under its own name (per queue "
		 "counters included)"},
	[SLUICE_M_WORKER_RX_PACKETS_TOTAL] = {"sluice_worker_rx_packets_total",
					      SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS, "worker",
					      "Frames taken from the NIC",
					      "frames/bytes taken from the NIC queues"},
	[SLUICE_M_WORKER_RX_BYTES_TOTAL] = {"sluice_worker_rx_bytes_total", SLUICE_METRIC_COUNTER,
					    SLUICE_MG_WORKERS, "worker", "Bytes taken from the NIC",
					    "frames/bytes taken from the NIC queues"},
	[SLUICE_M_WORKER_CONTROL_PACKETS_TOTAL] =
		{"sluice_worker_control_packets_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker", "ARP, ICMP echo and neighbour solicitations answered",
		 "ARP, ICMP echo, neighbour solicitations answered"},
	[SLUICE_M_WORKER_DATAGRAMS_TOTAL] = {"sluice_worker_datagrams_total", SLUICE_METRIC_COUNTER,
					     SLUICE_MG_WORKERS, "worker",
					     "UDP payloads delivered to a listener",
					     "UDP payloads delivered to a listener"},
	[SLUICE_M_WORKER_DATAGRAMS_ACCEPTED_TOTAL] = {"sluice_worker_datagrams_accepted_total",
						      SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
						      "worker", "Datagrams whose format decoded",
						      "datagrams whose format decoded"},
	[SLUICE_M_WORKER_EVENTS_DECODED_TOTAL] = {"sluice_worker_events_decoded_total",
						  SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
						  "worker", "Events found in accepted datagrams",
						  "events found in accepted datagrams"},
	[SLUICE_M_WORKER_EVENTS_PARSED_TOTAL] =
		{"sluice_worker_events_parsed_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker", "Events handed to batching",
		 "events handed to batching (\"parsed\" in the chain)"},
	[SLUICE_M_WORKER_EVENTS_ENQUEUED_TOTAL] =
		{"sluice_worker_events_enqueued_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker", "Events in batches handed to storage writers",
		 "events in batches handed to the storage writers"},
	[SLUICE_M_WORKER_EVENTS_OPEN] = {"sluice_worker_events_open", SLUICE_METRIC_GAUGE,
					 SLUICE_MG_WORKERS, "worker",
					 "Events in open (unsealed) batches",
					 "events in open (unsealed) batches"},
	[SLUICE_M_WORKER_BATCHES_ENQUEUED_TOTAL] = {"sluice_worker_batches_enqueued_total",
						    SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
						    "worker", "Batches handed to storage writers",
						    "batches handed to writers"},
	[SLUICE_M_WORKER_BATCHES_SEALED_TOTAL] =
		{"sluice_worker_batches_sealed_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker, cause", "Batches sealed, by cause",
		 "batches sealed by `size`, `linger`, `flush`, `passthrough` (kafka batches "
		 "stored as they came)"},
	[SLUICE_M_WORKER_BUSY_CYCLES_TOTAL] = {"sluice_worker_busy_cycles_total",
					       SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS, "worker",
					       "TSC cycles in passes with work",
					       "TSC cycles in loop passes that found work"},
	[SLUICE_M_WORKER_IDLE_CYCLES_TOTAL] =
		{"sluice_worker_idle_cycles_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker", "TSC cycles in empty passes",
		 "TSC cycles in empty passes; busy % = busy / (busy + idle)"},
	[SLUICE_M_WORKER_BLOCKED_CYCLES_TOTAL] =
		{"sluice_worker_blocked_cycles_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker", "TSC cycles waiting for ring or pool room (backpressure block)",
		 "cycles waiting for ring or buffer room (`backpressure = block`)"},
	[SLUICE_M_WORKER_IDLE_SLEEPS_TOTAL] = {"sluice_worker_idle_sleeps_total",
					       SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS, "worker",
					       "Idle back-off sleeps", "idle back-off sleeps"},
	[SLUICE_M_WORKER_RING_FILL_RATIO] =
		{"sluice_worker_ring_fill_ratio", SLUICE_METRIC_GAUGE, SLUICE_MG_WORKERS,
		 "worker, writer",
		 "Fill of the ring from the worker to each storage writer (entries / capacity)",
		 "fill (entries / capacity) of the ring from the worker to a storage writer; "
		 "near 1 means that writer cannot keep up and the worker sheds or blocks next "
		 "(`sluicectl top` shows each worker's fullest ring)"},
	[SLUICE_M_WORKER_REJECTED_TOTAL] =
		{"sluice_worker_rejected_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker, reason, level",
		 "Input rejected, by reason and level (packet: frames, datagram: payloads, "
		 "event: events)",
		 "input rejected, by reason, at `packet`, `datagram` or `event` level "
		 "(malformed, no listener, CRC, too large, `reply_rate_limited` ARP/ICMP/ND "
		 "requests over `dataplane.reply_rate`, ...)"},
	[SLUICE_M_WORKER_KAFKA_BATCH_ERRORS_TOTAL] =
		{"sluice_worker_kafka_batch_errors_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker, error", "Kafka batches that failed validation, by error",
		 "kafka-format batches that failed validation, by error"},
	[SLUICE_M_WORKER_SHED_EVENTS_TOTAL] =
		{"sluice_worker_shed_events_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker, reason", "Parsed events not handed to storage, by reason",
		 "parsed events not handed to storage: `ring_full`, `pool_empty`, `stopped` "
		 "(backpressure), `rate_limited` (per-source `rate_limit`)"},
	[SLUICE_M_WORKER_SHED_CAUSE_EVENTS_TOTAL] =
		{"sluice_worker_shed_cause_events_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker, cause",
		 "Events shed because storage was behind (ring_full, pool_empty), by what the "
		 "storage writer was waiting for: segment_roll, device, writer_busy",
		 "the `ring_full` and `pool_empty` sheds again, by why storage was behind when"
		 " they happened: `segment_roll` (the partition's writer stalled at a segment "
		 "roll: the next segment was not prepared yet, or the previous roll had not "
		 "settled), `device` (every write slot of a partition was in flight: the "
		 "device is slower than the input), `writer_busy` (the writer was not waiting "
		 "for storage: its own thread is the bottleneck). The cause of a writer stays "
		 "set until it has emptied its rings again, so the backlog a stall leaves is "
		 "charged to the stall. An empty pool is charged to the most specific cause of"
		 " any writer. Sums to `ring_full` + `pool_empty`"},
	[SLUICE_M_WORKER_PRODUCERS_ACTIVE] = {"sluice_worker_producers_active", SLUICE_METRIC_GAUGE,
					      SLUICE_MG_WORKERS, "worker",
					      "Producers in the worker's table",
					      "producers in the worker's sequence table"},
	[SLUICE_M_WORKER_PRODUCER_LOST_EVENTS_TOTAL] =
		{"sluice_worker_producer_lost_events_total", SLUICE_METRIC_COUNTER,
		 SLUICE_MG_WORKERS, "worker",
		 "Events producers sent that never arrived (sequence gaps)",
		 "events producers sent that never arrived (sequence gaps)"},
	[SLUICE_M_WORKER_PRODUCER_DUPLICATE_EVENTS_TOTAL] =
		{"sluice_worker_producer_duplicate_events_total", SLUICE_METRIC_COUNTER,
		 SLUICE_MG_WORKERS, "worker", "Events dropped as duplicates",
		 "events dropped as duplicates (repeated sequence numbers)"},
	[SLUICE_M_WORKER_PRODUCER_EVICTIONS_TOTAL] =
		{"sluice_worker_producer_evictions_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker",
		 "Producer entries replaced by another stream (its own source's, or one idle "
		 "for dataplane.producer_idle_timeout)",
		 "producer entries replaced by another stream: its own source's (at "
		 "`producers_per_source`), or one idle for `producer_idle_timeout` — never an "
		 "active entry of another source"},
	[SLUICE_M_WORKER_PRODUCER_UNTRACKED_BATCHES_TOTAL] =
		{"sluice_worker_producer_untracked_batches_total", SLUICE_METRIC_COUNTER,
		 SLUICE_MG_WORKERS, "worker",
		 "Kafka batches with a producer id stored without sequence tracking: no table "
		 "entry could be taken for their source",
		 "kafka batches with a producer id stored without sequence tracking: no entry "
		 "could be taken for their source (its share full of active entries, or every "
		 "candidate another source's active one)"},
	[SLUICE_M_WORKER_SOURCE_OVERFLOW_DATAGRAMS_TOTAL] =
		{"sluice_worker_source_overflow_datagrams_total", SLUICE_METRIC_COUNTER,
		 SLUICE_MG_WORKERS, "worker",
		 "Datagrams from sources the source table could not hold (they share one rate "
		 "limit per listener; their producers go untracked)",
		 "datagrams from sources the source table could not hold (every candidate "
		 "holds producers): their producers go untracked and they share their "
		 "listener's overflow rate bucket"},
	[SLUICE_M_WORKER_ACK_BATCHES_TOTAL] =
		{"sluice_worker_ack_batches_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker", "Acknowledged-mode batches accepted",
		 "acknowledged-mode batches accepted "
		 "([wire-formats.md](wire-formats.md#acknowledged-mode))"},
	[SLUICE_M_WORKER_ACK_EVENTS_TOTAL] = {"sluice_worker_ack_events_total",
					      SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS, "worker",
					      "Events of acknowledged-mode batches accepted",
					      "their events"},
	[SLUICE_M_WORKER_ACK_DUPLICATE_EVENTS_TOTAL] =
		{"sluice_worker_ack_duplicate_events_total", SLUICE_METRIC_COUNTER,
		 SLUICE_MG_WORKERS, "worker",
		 "Events of acknowledged-mode resends dropped as duplicates (never stored twice)",
		 "events of acknowledged resends dropped as duplicates: never stored twice (also "
		 "in `duplicate` rejects)"},
	[SLUICE_M_WORKER_ACKS_SENT_TOTAL] = {"sluice_worker_acks_sent_total", SLUICE_METRIC_COUNTER,
					     SLUICE_MG_WORKERS, "worker",
					     "Ack datagrams sent to producers",
					     "ack datagrams sent to producers"},
	[SLUICE_M_WORKER_ACK_TX_FULL_TOTAL] =
		{"sluice_worker_ack_tx_full_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker", "Acks that could not be sent (no mbuf, TX queue full)",
		 "acks that could not be sent (no mbuf, TX queue full); the producer's "
		 "retransmission asks again"},
	[SLUICE_M_WORKER_ACK_RECOVERED_TOTAL] =
		{"sluice_worker_ack_recovered_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker", "Acknowledged producer streams resumed from the log's tail",
		 "acknowledged producer streams resumed from the log's tail after a restart"},
	[SLUICE_M_WORKER_ACK_ROLLBACKS_TOTAL] =
		{"sluice_worker_ack_rollbacks_total", SLUICE_METRIC_COUNTER, SLUICE_MG_WORKERS,
		 "worker",
		 "Times storage refused an acknowledged batch and the producer's accepted state "
		 "went back to its durable one",
		 "storage refused an acknowledged batch (disk full, failed partition) and the "
		 "producer's accepted state went back to its durable one"},
	[SLUICE_M_PARTITION_LOG_START_OFFSET] = {"sluice_partition_log_start_offset",
						 SLUICE_METRIC_GAUGE, SLUICE_MG_LOG,
						 "topic, partition", "First offset kept",
						 "first offset kept (retention moves it)"},
	[SLUICE_M_PARTITION_LOG_END_OFFSET] = {"sluice_partition_log_end_offset",
					       SLUICE_METRIC_GAUGE, SLUICE_MG_LOG,
					       "topic, partition", "Next offset to assign",
					       "next offset to assign"},
	[SLUICE_M_PARTITION_DURABLE_OFFSET] = {"sluice_partition_durable_offset",
					       SLUICE_METRIC_GAUGE, SLUICE_MG_LOG,
					       "topic, partition",
					       "Every offset below this survived an fdatasync",
					       "every offset below survived an fdatasync"},
	[SLUICE_M_PARTITION_FORWARDED_OFFSET] =
		{"sluice_partition_forwarded_offset", SLUICE_METRIC_GAUGE, SLUICE_MG_LOG,
		 "topic, partition",
		 "The log's forwarded mark, which retention obeys: every offset below is "
		 "acknowledged by Kafka (still with forwarding off or embedded)",
		 "the log's forwarded mark, which retention obeys: every offset below is "
		 "acknowledged by Kafka. It does not move with forwarding `off` (retention "
		 "then ignores it) nor on the embedded cluster's acks (see "
		 "`sluice_forwarder_lag_records` for those)"},
	[SLUICE_M_PARTITION_APPENDED_RECORDS_TOTAL] = {"sluice_partition_appended_records_total",
						       SLUICE_METRIC_COUNTER, SLUICE_MG_LOG,
						       "topic, partition",
						       "Records written (durable or not)",
						       "written (durable or not)"},
	[SLUICE_M_PARTITION_APPENDED_BYTES_TOTAL] = {"sluice_partition_appended_bytes_total",
						     SLUICE_METRIC_COUNTER, SLUICE_MG_LOG,
						     "topic, partition",
						     "Bytes written", "written (durable or not)"},
	[SLUICE_M_PARTITION_PERSISTED_RECORDS_TOTAL] =
		{"sluice_partition_persisted_records_total", SLUICE_METRIC_COUNTER, SLUICE_MG_LOG,
		 "topic, partition", "Records made durable",
		 "made durable (\"persisted\" in the chain)"},
	[SLUICE_M_PARTITION_SHED_RECORDS_TOTAL] =
		{"sluice_partition_shed_records_total", SLUICE_METRIC_COUNTER, SLUICE_MG_LOG,
		 "topic, partition",
		 "Records the writer refused (failed partition, full disk, invalid batch)",
		 "records the writer refused (sum of the next)"},
	[SLUICE_M_PARTITION_SHED_REASON_RECORDS_TOTAL] =
		{"sluice_partition_shed_reason_records_total", SLUICE_METRIC_COUNTER, SLUICE_MG_LOG,
		 "topic, partition, reason",
		 "Records the writer refused, by reason: disk_full, failed, invalid",
		 "the same by `reason`: `disk_full` (ENOSPC/EDQUOT: the partition retries "
		 "every 100 ms and sheds meanwhile), `failed` (failed until reopened after an "
		 "fdatasync or I/O error), `invalid` (not a valid batch, or larger than "
		 "`storage.write_buffer`)"},
	[SLUICE_M_PARTITION_ROLLS_TOTAL] = {"sluice_partition_rolls_total", SLUICE_METRIC_COUNTER,
					    SLUICE_MG_LOG, "topic, partition", "Segment rolls",
					    "segment rolls"},
	[SLUICE_M_PARTITION_SEGMENTS] = {"sluice_partition_segments", SLUICE_METRIC_GAUGE,
					 SLUICE_MG_LOG, "topic, partition", "Segments on disk",
					 "segments and bytes on disk"},
	[SLUICE_M_PARTITION_DISK_BYTES] = {"sluice_partition_disk_bytes", SLUICE_METRIC_GAUGE,
					   SLUICE_MG_LOG, "topic, partition", "Bytes on disk",
					   "segments and bytes on disk"},
	[SLUICE_M_PARTITION_FSYNCS_TOTAL] = {"sluice_partition_fsyncs_total", SLUICE_METRIC_COUNTER,
					     SLUICE_MG_LOG, "topic, partition", "Group commits",
					     "group commits"},
	[SLUICE_M_PARTITION_FSYNC_DURATION_SECONDS] =
		{"sluice_partition_fsync_duration_seconds", SLUICE_METRIC_HISTOGRAM, SLUICE_MG_LOG,
		 "topic, partition", "Group commit (fdatasync) latency",
		 "histogram of group-commit (fdatasync) latency"},
	[SLUICE_M_LOG_INGEST_TO_DURABLE_SECONDS] =
		{"sluice_log_ingest_to_durable_seconds", SLUICE_METRIC_HISTOGRAM, SLUICE_MG_LOG,
		 "topic, partition",
		 "Ingest to durable latency: from a batch's first record arriving at a worker "
		 "to the durable offset passing the batch",
		 "histogram of ingest → durable latency, one observation per batch: from the "
		 "arrival of the batch's first record at its worker (the dataplane's TSC) to "
		 "the durable offset passing the batch (after its fdatasync; with `flush = "
		 "none`, after its write). Same power-of-two microsecond buckets as the "
		 "forwarder's; when more batches wait for one group commit than the writer "
		 "tracks (64), the newest are merged and observed with their oldest ingest "
		 "time, so a batch may look older, never younger"},
	[SLUICE_M_PARTITION_WRITE_ERRORS_TOTAL] =
		{"sluice_partition_write_errors_total", SLUICE_METRIC_COUNTER, SLUICE_MG_LOG,
		 "topic, partition", "Failed writes",
		 "failed writes / fdatasyncs (the partition fails)"},
	[SLUICE_M_PARTITION_FSYNC_ERRORS_TOTAL] =
		{"sluice_partition_fsync_errors_total", SLUICE_METRIC_COUNTER, SLUICE_MG_LOG,
		 "topic, partition", "Failed fdatasyncs",
		 "failed writes / fdatasyncs (the partition fails)"},
	[SLUICE_M_PARTITION_FAILED] =
		{"sluice_partition_failed", SLUICE_METRIC_GAUGE, SLUICE_MG_LOG, "topic, partition",
		 "1 when the partition refuses writes after an I/O error (until recovery)",
		 "1 while the partition refuses writes after an I/O error"},
	[SLUICE_M_PARTITION_RETENTION_DELETED_SEGMENTS_TOTAL] =
		{"sluice_partition_retention_deleted_segments_total", SLUICE_METRIC_COUNTER,
		 SLUICE_MG_LOG, "topic, partition", "Segments deleted by retention",
		 "segments deleted by retention"},
	[SLUICE_M_PARTITION_RETENTION_DROPPED_RECORDS_TOTAL] =
		{"sluice_partition_retention_dropped_records_total", SLUICE_METRIC_COUNTER,
		 SLUICE_MG_LOG, "topic, partition",
		 "Unforwarded records deleted by retention policy",
		 "unforwarded records deleted by retention (policy allowed it; alarmed)"},
	[SLUICE_M_PARTITION_RECOVERY_TRUNCATED_BYTES_TOTAL] =
		{"sluice_partition_recovery_truncated_bytes_total", SLUICE_METRIC_COUNTER,
		 SLUICE_MG_LOG, "topic, partition", "Bytes cut from a damaged tail at open",
		 "bytes cut from a damaged tail at open (kept aside)"},
	[SLUICE_M_WRITER_STALLS_TOTAL] =
		{"sluice_writer_stalls_total", SLUICE_METRIC_COUNTER, SLUICE_MG_STORAGE_WRITERS,
		 "writer, cause",
		 "Times a storage writer could not take the next batch, by what it waited for",
		 "times the writer could not take the next batch off its rings, by what it "
		 "waited for: `segment_roll` (a roll needed the next segment, which the roll "
		 "helper had not prepared yet, or the previous roll had not settled) or "
		 "`device` (every write slot of the partition in flight). While stalled, the "
		 "rings fill and the workers shed (`sluice_worker_shed_cause_events_total`) or"
		 " block"},
	[SLUICE_M_WRITER_STALL_SECONDS] =
		{"sluice_writer_stall_seconds", SLUICE_METRIC_HISTOGRAM, SLUICE_MG_STORAGE_WRITERS,
		 "writer", "How long each storage writer stall lasted",
		 "histogram of stall durations (power-of-two microsecond buckets); `_sum` is "
		 "the total time stalled"},
	[SLUICE_M_FORWARDER_MODE] =
		{"sluice_forwarder_mode", SLUICE_METRIC_GAUGE, SLUICE_MG_FORWARDER, "mode",
		 "1 for where the log is forwarded: off (store only), kafka, or embedded (the "
		 "in-memory demo cluster)",
		 "1 for where the log goes: `off` (no `kafka.brokers`: store only), `kafka`, "
		 "`embedded` (the in-memory demo cluster)"},
	[SLUICE_M_FORWARDER_STATE] =
		{"sluice_forwarder_state", SLUICE_METRIC_GAUGE, SLUICE_MG_FORWARDER, "state",
		 "1 for the forwarder's state",
		 "1 for the current state: stopped, resuming, running, broker_down, draining, "
		 "fenced, or `off` when forwarding is off (the other series below are then "
		 "absent)"},
	[SLUICE_M_FORWARDER_DELIVERED_RECORDS_TOTAL] = {"sluice_forwarder_delivered_records_total",
							SLUICE_METRIC_COUNTER, SLUICE_MG_FORWARDER,
							"", "Records acknowledged by Kafka",
							"acknowledged by Kafka (\"forwarded\")"},
	[SLUICE_M_FORWARDER_DELIVERED_BYTES_TOTAL] = {"sluice_forwarder_delivered_bytes_total",
						      SLUICE_METRIC_COUNTER, SLUICE_MG_FORWARDER,
						      "", "Bytes acknowledged by Kafka",
						      "acknowledged by Kafka (\"forwarded\")"},
	[SLUICE_M_FORWARDER_DELIVERY_ERRORS_TOTAL] =
		{"sluice_forwarder_delivery_errors_total", SLUICE_METRIC_COUNTER,
		 SLUICE_MG_FORWARDER, "",
		 "Error answers to batches (each retried, or resumed from Kafka's tail)",
		 "error answers to batches (each retried, or resumed from Kafka's tail)"},
	[SLUICE_M_FORWARDER_RETRIES_TOTAL] = {"sluice_forwarder_retries_total",
					      SLUICE_METRIC_COUNTER, SLUICE_MG_FORWARDER, "",
					      "Batches sent again with the same sequence",
					      "batches sent again with the same sequence"},
	[SLUICE_M_FORWARDER_FATAL_RESETS_TOTAL] =
		{"sluice_forwarder_fatal_resets_total", SLUICE_METRIC_COUNTER, SLUICE_MG_FORWARDER,
		 "", "Producer sessions started after the first (epoch bumps)",
		 "producer sessions started after the first (epoch bumps)"},
	[SLUICE_M_FORWARDER_RESUMES_TOTAL] = {"sluice_forwarder_resumes_total",
					      SLUICE_METRIC_COUNTER, SLUICE_MG_FORWARDER, "",
					      "Resume protocol runs (tail reads)",
					      "resume-protocol runs (tail reads of Kafka)"},
	[SLUICE_M_FORWARDER_BROKER_DOWN_EVENTS_TOTAL] =
		{"sluice_forwarder_broker_down_events_total", SLUICE_METRIC_COUNTER,
		 SLUICE_MG_FORWARDER, "", "All brokers down reports",
		 "transitions to \"no broker reachable\""},
	[SLUICE_M_FORWARDER_LAG_RECORDS] = {"sluice_forwarder_lag_records", SLUICE_METRIC_GAUGE,
					    SLUICE_MG_FORWARDER, "topic, partition",
					    "Durable records not yet acknowledged",
					    "durable but not yet acknowledged (\"pending\")"},
	[SLUICE_M_FORWARDER_LAG_BYTES] = {"sluice_forwarder_lag_bytes", SLUICE_METRIC_GAUGE,
					  SLUICE_MG_FORWARDER, "topic, partition",
					  "Estimated bytes not yet acknowledged",
					  "durable but not yet acknowledged (\"pending\")"},
	[SLUICE_M_FORWARDER_OLDEST_UNFORWARDED_AGE_SECONDS] =
		{"sluice_forwarder_oldest_unforwarded_age_seconds", SLUICE_METRIC_GAUGE,
		 SLUICE_MG_FORWARDER, "topic, partition",
		 "Age of the oldest unforwarded record (-1: none)",
		 "age of the oldest unforwarded record (-1: none)"},
	[SLUICE_M_FORWARDER_RETENTION_DROP_ETA_SECONDS] =
		{"sluice_forwarder_retention_drop_eta_seconds", SLUICE_METRIC_GAUGE,
		 SLUICE_MG_FORWARDER, "topic, partition",
		 "Seconds until retention would delete unforwarded data (-1: never)",
		 "seconds until retention would delete unforwarded data (-1: never)"},
	[SLUICE_M_FORWARDER_ACK_LATENCY_SECONDS] =
		{"sluice_forwarder_ack_latency_seconds", SLUICE_METRIC_HISTOGRAM,
		 SLUICE_MG_FORWARDER, "topic, partition",
		 "Durable to Kafka ack latency: from the forwarder reading a durable batch to "
		 "the delivery report of each of its records",
		 "histogram of durable → Kafka ack latency, one observation per delivered "
		 "record: from the forwarder reading the record's batch out of the durable log"
		 " (right after the durable offset passed it) to the broker's acknowledgement "
		 "of the Kafka batch holding it. Buckets are powers of two in microseconds (1 "
		 "µs … 4.2 s, then +Inf). It includes time the topic spent paused or waiting "
		 "for in-flight room; a resume re-reads the batch, so a resent record counts "
		 "from its re-read"},
	[SLUICE_M_PRODUCER_LOST_EVENTS] =
		{"sluice_producer_lost_events", SLUICE_METRIC_GAUGE, SLUICE_MG_PRODUCERS,
		 "producer_id, source, topic, partition",
		 "Events lost by the producers that lost the most (top 10)",
		 "events lost by the producers that lost the most (`source` is `address:port`:"
		 " a stream is bound to its source)"},
	[SLUICE_M_PRODUCER_DUPLICATE_EVENTS] =
		{"sluice_producer_duplicate_events", SLUICE_METRIC_GAUGE, SLUICE_MG_PRODUCERS,
		 "producer_id, source, topic, partition",
		 "Duplicates dropped for the producers that lost the most (top 10)",
		 "duplicates dropped for those producers"},
	[SLUICE_M_CTL_CONNECTIONS_TOTAL] = {"sluice_ctl_connections_total", SLUICE_METRIC_COUNTER,
					    SLUICE_MG_OUTPUTS, "",
					    "Control-socket connections accepted.",
					    "control-socket connections accepted"},
	[SLUICE_M_CTL_REJECTED_CONNECTIONS_TOTAL] =
		{"sluice_ctl_rejected_connections_total", SLUICE_METRIC_COUNTER, SLUICE_MG_OUTPUTS,
		 "reason", "Control-socket connections refused, by reason.",
		 "refused: `peer_credentials`, `too_many_clients` (16 open)"},
	[SLUICE_M_CTL_REQUESTS_TOTAL] = {"sluice_ctl_requests_total", SLUICE_METRIC_COUNTER,
					 SLUICE_MG_OUTPUTS, "",
					 "Well-formed control requests handled.",
					 "well-formed requests handled"},
	[SLUICE_M_CTL_BAD_REQUESTS_TOTAL] =
		{"sluice_ctl_bad_requests_total", SLUICE_METRIC_COUNTER, SLUICE_MG_OUTPUTS,
		 "reason", "Control request lines refused, by reason.",
		 "refused lines: `empty`, `json`, `not_object`, `version`, `cmd`, `args`, "
		 "`id`, `unknown_field`, `oversized` (> 64 KiB)"},
	[SLUICE_M_CTL_DENIED_REQUESTS_TOTAL] =
		{"sluice_ctl_denied_requests_total", SLUICE_METRIC_COUNTER, SLUICE_MG_OUTPUTS, "",
		 "Admin commands refused to a read-only (control.socket_group) peer.",
		 "commands that change the appliance refused to a read-only "
		 "(`control.socket_group`) peer"},
	[SLUICE_M_CTL_ERROR_REPLIES_TOTAL] =
		{"sluice_ctl_error_replies_total", SLUICE_METRIC_COUNTER, SLUICE_MG_OUTPUTS, "",
		 "Control replies with ok=false (bad requests included).",
		 "replies with `ok: false`"},
	[SLUICE_M_METRICS_SCRAPES_TOTAL] = {"sluice_metrics_scrapes_total", SLUICE_METRIC_COUNTER,
					    SLUICE_MG_OUTPUTS, "", "Scrapes of /metrics served.",
					    "`/metrics` requests served"},
	[SLUICE_M_METRICS_INVALID_SAMPLES_TOTAL] =
		{"sluice_metrics_invalid_samples_total", SLUICE_METRIC_COUNTER, SLUICE_MG_OUTPUTS,
		 "", "Samples dropped from /metrics because their names or labels were invalid.",
		 "samples dropped from `/metrics` for invalid names or labels (a bug; should "
		 "stay 0)"},
	[SLUICE_M_HEALTH_CHECKS_TOTAL] = {"sluice_health_checks_total", SLUICE_METRIC_COUNTER,
					  SLUICE_MG_OUTPUTS, "result",
					  "Requests of /health, by result.",
					  "`/health` requests by `healthy`/`unhealthy`"},
};

void sluice_metric_begin(const struct sluice_metric_sink *sink, enum sluice_metric_id id)
{
	const struct sluice_metric_family *f = &sluice_metric_families[id];

	sink->family(sink->ctx, f->name, f->type, f->help);
}

void sluice_metric_docs_markdown(FILE *out)
{
	for (int g = 0; g < SLUICE_MG__COUNT; g++) {
		fprintf(out, "### %s\n\n| metric | labels | meaning |\n|---|---|---|\n",
			sluice_metric_groups[g].title);
		for (int i = 0; i < SLUICE_M__COUNT; i++) {
			const struct sluice_metric_family *f = &sluice_metric_families[i];

			if ((int)f->group == g)
				fprintf(out, "| `%s` | %s | %s |\n", f->name, f->labels, f->doc);
		}
		if (sluice_metric_groups[g].note)
			fprintf(out, "\n%s\n", sluice_metric_groups[g].note);
		if (g + 1 < SLUICE_MG__COUNT)
			fputc('\n', out);
	}
}
