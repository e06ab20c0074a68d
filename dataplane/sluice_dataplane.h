/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The dataplane: per-core workers that turn received frames into sealed record batches.
 *
 * Two layers:
 *  - an EAL-free core (sluice_pkt_parse(), struct sluice_dp_ctx): parse a frame over a plain
 *    byte range, answer ARP/ICMP/ND, find the listener, decode the listener's format, track
 *    producer sequences, and hand events or whole batches to a caller-supplied sink. Unit
 *    tests and fuzzers drive it directly;
 *  - the worker (struct sluice_worker): an lcore loop that polls RX queues through nic/,
 *    feeds the core, appends events to per-partition open batches in buffers from a mempool,
 *    seals them on size or linger and enqueues them on the storage writers' SPSC rings.
 *
 * Threads: a worker is created and destroyed by the control thread, runs on exactly one
 * lcore (sluice_worker_run()), and is the only writer of its counters and producer table.
 * The control thread may at any time read stats (sluice_worker_stats()), visit producers
 * (sluice_worker_producers()), change runtime tunables (sluice_worker_set_*()) and request a
 * stop (sluice_worker_stop()); none of these makes the worker copy or wait for anything.
 * A struct sluice_dp_ctx is single-threaded: its owner alone calls every sluice_dp_ctx_*()
 * function.
 *
 * Accounting identities (see docs/wire-formats.md). They hold exactly in every snapshot
 * sluice_worker_stats() returns, running or not (the worker publishes its counters as one
 * consistent block, only where they hold), and in sluice_dp_ctx_stats() between calls:
 *   rx_packets      = ctrl_packets + datagrams + sum(rejects[packet-level reasons])
 *   datagrams       = datagrams_accepted + sum(rejects[datagram-level reasons])
 *   events_decoded  = events_parsed + sum(rejects[event-level reasons])
 *   events_parsed   = events_enqueued + sum(shed[]) + events_open
 */
#ifndef SLUICE_DATAPLANE_H
#define SLUICE_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice_record.h"
#include "sluice_storage.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rte_mempool;
struct rte_ring;
struct sluice_log;
struct sluice_nic_port;
struct sluice_worker;
struct sluice_dp_ctx;

/* ---------------------------------------------------------------------------------------- */
/* Configuration enums                                                                       */

enum sluice_format {
	SLUICE_FORMAT_KAFKA = 0, /**< envelope + one RecordBatch v2 */
	SLUICE_FORMAT_LINES, /**< newline-separated events */
	SLUICE_FORMAT_RAW, /**< the whole payload is one event */
	SLUICE_FORMAT__COUNT
};

enum sluice_key_mode {
	SLUICE_KEY_NONE = 0, /**< events have no key (keyless partitioning) */
	SLUICE_KEY_SOURCE_ADDR, /**< key = source address as text ("192.0.2.1", "2001:db8::1") */
	SLUICE_KEY__COUNT
};

enum sluice_keyless_mode {
	SLUICE_KEYLESS_STICKY = 0, /**< stay on one partition until its batch seals */
	SLUICE_KEYLESS_ROUND_ROBIN, /**< next partition for every event */
	SLUICE_KEYLESS__COUNT
};

enum sluice_backpressure {
	SLUICE_BACKPRESSURE_DROP = 0, /**< shed events, counted by reason; keep polling */
	SLUICE_BACKPRESSURE_BLOCK, /**< stop polling until room frees; the NIC counts imissed */
	SLUICE_BACKPRESSURE__COUNT
};

/** Stable lower-case names ("kafka", "source_addr", "round_robin", "block"). */
const char *sluice_format_name(enum sluice_format f);
const char *sluice_key_mode_name(enum sluice_key_mode m);
const char *sluice_keyless_mode_name(enum sluice_keyless_mode m);
const char *sluice_backpressure_name(enum sluice_backpressure b);
/** Parse a name as printed by the functions above. @return the value, or -EINVAL. */
int sluice_format_from_name(const char *name);
int sluice_key_mode_from_name(const char *name);
int sluice_keyless_mode_from_name(const char *name);
int sluice_backpressure_from_name(const char *name);

/* ---------------------------------------------------------------------------------------- */
/* Reasons. Stable numbering and names: metric label values.                                 */

/**
 * Why input was rejected. Three levels, each counted in its own unit:
 * packet-level reasons count frames, datagram-level reasons count UDP payloads delivered to
 * a listener, event-level reasons count events (a duplicate kafka batch counts its records).
 */
enum sluice_dp_reject {
	SLUICE_DP_REJECT_NONE = 0,
	/* packet level: frames */
	SLUICE_DP_REJECT_ETH_TRUNCATED, /**< shorter than its Ethernet/VLAN headers */
	SLUICE_DP_REJECT_ETH_DST, /**< unicast destination MAC not ours */
	SLUICE_DP_REJECT_VLAN_DEPTH, /**< more than two VLAN tags */
	SLUICE_DP_REJECT_ETHERTYPE, /**< neither IPv4, IPv6 nor ARP */
	SLUICE_DP_REJECT_ARP_BAD, /**< malformed ARP */
	SLUICE_DP_REJECT_ARP_IGNORED, /**< ARP not asking for our address (or a reply) */
	SLUICE_DP_REJECT_IP_HEADER, /**< bad version, header or total length */
	SLUICE_DP_REJECT_IP_OPTIONS, /**< IPv4 header length (options) runs past the packet */
	SLUICE_DP_REJECT_IP_CHECKSUM, /**< IPv4 header checksum */
	SLUICE_DP_REJECT_IP_FRAGMENT, /**< IPv4 or IPv6 fragment (not reassembled) */
	SLUICE_DP_REJECT_IP_EXT_LIMIT, /**< IPv6 extension header chain too long or truncated */
	SLUICE_DP_REJECT_IP_DST, /**< destination address not ours */
	SLUICE_DP_REJECT_ICMP_BAD, /**< truncated or bad checksum */
	SLUICE_DP_REJECT_ICMP_IGNORED, /**< ICMP other than echo request / NS for us */
	SLUICE_DP_REJECT_NOT_UDP, /**< other L4 protocol */
	SLUICE_DP_REJECT_UDP_LENGTH, /**< UDP length disagrees with the IP length */
	SLUICE_DP_REJECT_UDP_CHECKSUM,
	SLUICE_DP_REJECT_NO_LISTENER, /**< no listener on the destination address and port */
	SLUICE_DP_REJECT_TX_FULL, /**< ARP/ICMP/ND reply could not be sent (no mbuf, TX full) */
	SLUICE_DP_REJECT_REPLY_LIMITED, /**< ARP/ICMP/ND request over the reply rate limit */
	/* datagram level: UDP payloads */
	SLUICE_DP_REJECT_EMPTY_PAYLOAD, /**< zero-length UDP payload */
	SLUICE_DP_REJECT_KAFKA_ENVELOPE, /**< short, bad magic/version, partition below -1 */
	SLUICE_DP_REJECT_KAFKA_PARTITION, /**< explicit partition >= the topic's partitions */
	SLUICE_DP_REJECT_KAFKA_BATCH, /**< sluice_rb_batch_validate failed: see batch_errors[] */
	SLUICE_DP_REJECT_KAFKA_TRAILING, /**< bytes after the batch */
	SLUICE_DP_REJECT_KAFKA_ATTRIBUTES, /**< transactional or control batch */
	SLUICE_DP_REJECT_KAFKA_TOO_LARGE, /**< batch larger than a batch buffer or max_event_bytes */
	/* event level: events */
	SLUICE_DP_REJECT_EMPTY_LINE, /**< `lines`: empty line (skipped) */
	SLUICE_DP_REJECT_EVENT_TOO_LARGE, /**< above max_event_bytes or a batch buffer */
	SLUICE_DP_REJECT_DUPLICATE, /**< sequence range already accepted */
	SLUICE_DP_REJECT_SEQUENCE_OVERLAP, /**< batch straddles the accepted sequence */
	SLUICE_DP_REJECT_STALE_EPOCH, /**< producer epoch older than the one tracked */
	SLUICE_DP_REJECT_TOO_MANY_HEADERS, /**< partition -1 record with more headers than fit */
	/** acknowledged batch refused so that it is sent again: beyond ack_window above the
	 *  durable sequence, more holes than tracked, or no producer entry to track it */
	SLUICE_DP_REJECT_ACK_WINDOW,
	SLUICE_DP_REJECT__COUNT
};

#define SLUICE_DP_REJECT__FIRST_DATAGRAM SLUICE_DP_REJECT_EMPTY_PAYLOAD
#define SLUICE_DP_REJECT__FIRST_EVENT SLUICE_DP_REJECT_EMPTY_LINE

/**
 * Events accepted by the decoder but not enqueued to storage. Counted in events. One table:
 * add a reason here (at the end) and its name in names.c; every counter, metric and reply
 * iterates up to SLUICE_DP_SHED__COUNT.
 */
enum sluice_dp_shed {
	SLUICE_DP_SHED_RING_FULL = 0, /**< writer ring full (backpressure drop) */
	SLUICE_DP_SHED_POOL_EMPTY, /**< no batch buffer (backpressure drop) */
	SLUICE_DP_SHED_STOPPED, /**< blocked on a full ring or pool when the worker was stopped */
	SLUICE_DP_SHED_RATE_LIMITED, /**< over the listener's per-source rate limit */
	SLUICE_DP_SHED__COUNT
};

/** Stable snake_case names ("udp_checksum", "ring_full"); NULL-safe: "unknown" if out of range. */
const char *sluice_dp_reject_name(enum sluice_dp_reject r);
const char *sluice_dp_shed_name(enum sluice_dp_shed s);

/* ---------------------------------------------------------------------------------------- */
/* Listeners and ports                                                                       */

enum sluice_addr_family {
	SLUICE_ADDR_ANY = 0, /**< any of the receiving port's addresses */
	SLUICE_ADDR_V4,
	SLUICE_ADDR_V6,
};

/** One UDP port on the appliance and where its events go. */
struct sluice_listener {
	enum sluice_addr_family family;
	uint8_t addr[16]; /**< V4: first 4 bytes, network order; V6: 16 bytes */
	uint16_t udp_port; /**< host order */
	enum sluice_format format;
	enum sluice_key_mode key_mode; /**< lines/raw only; kafka records carry their own keys */
	uint32_t first_partition_id; /**< global id (sluice_log_partition_id) of partition 0 */
	uint32_t partitions; /**< partitions of the topic */
	uint32_t max_event_bytes; /**< largest event (line, raw payload, record key+value) */
	/** Ports the listener receives on: bit i is the worker's port i (struct sluice_dp_port
	 * index); 0 = every port. Two listeners may share an address and UDP port when they
	 * share no port. */
	uint32_t port_mask;
	/**
	 * Events per second one source address may send to this listener (token bucket per
	 * worker and source); events over it are shed as SLUICE_DP_SHED_RATE_LIMITED. 0: no
	 * limit. A `kafka` batch for an explicit partition needs tokens for all its records.
	 */
	uint32_t rate_limit;
	uint32_t rate_limit_burst; /**< bucket size in events; 0: rate_limit (one second) */
	char topic[SLUICE_TOPIC_NAME_MAX];
};

/**
 * One RX queue (and the TX queue of the same index) a worker serves, with the addresses the
 * appliance owns on that port. A port whose ipv4 is 0.0.0.0 and has no IPv6 address accepts
 * any destination address (benchmarks, captured traffic).
 */
struct sluice_dp_port {
	struct sluice_nic_port *port; /**< NULL for the EAL-free core */
	uint16_t queue;
	uint8_t mac[6]; /**< all zero: taken from sluice_nic_port_mac() */
	uint8_t ipv4[4]; /**< network order */
	bool has_ipv6;
	uint8_t ipv6[16];
	bool answer_nd; /**< answer IPv6 neighbour solicitation (and ICMPv6 echo) */
	bool promiscuous; /**< accept unicast frames for other MACs (otherwise ETH_DST) */
};

/* ---------------------------------------------------------------------------------------- */
/* Packet parser (pure)                                                                      */

/** Flags in from the receive path (the NIC's checksum offload verdicts). */
#define SLUICE_PKT_F_IP_CKSUM_GOOD 0x1u
#define SLUICE_PKT_F_IP_CKSUM_BAD 0x2u
#define SLUICE_PKT_F_L4_CKSUM_GOOD 0x4u
#define SLUICE_PKT_F_L4_CKSUM_BAD 0x8u

enum sluice_pkt_kind {
	SLUICE_PKT_UDP = 1,
	SLUICE_PKT_ARP,
	SLUICE_PKT_ICMP4,
	SLUICE_PKT_ICMP6,
};

#define SLUICE_PKT_MAX_VLANS 2
#define SLUICE_PKT_MAX_IPV6_EXT 4

/** What sluice_pkt_parse() found. Offsets are from the start of the frame. */
struct sluice_pkt_info {
	enum sluice_pkt_kind kind;
	uint16_t ethertype; /**< after VLAN tags */
	uint8_t vlans;
	uint16_t vlan_tci[SLUICE_PKT_MAX_VLANS];
	uint8_t dst_mac[6];
	uint8_t src_mac[6];
	uint8_t family; /**< 4 or 6 for IP packets, 0 for ARP */
	uint8_t l4_proto;
	uint8_t hop_limit;
	uint16_t l3_off;
	uint16_t l4_off;
	uint16_t l4_len; /**< bytes of L4 header + payload (from IP lengths, not the frame) */
	uint8_t src_addr[16]; /**< IPv4: first 4 bytes */
	uint8_t dst_addr[16];
	uint16_t src_port; /**< host order (UDP) */
	uint16_t dst_port;
	uint16_t payload_off; /**< UDP payload */
	uint16_t payload_len;
};

/**
 * Parse Ethernet (+ up to two VLAN/QinQ tags), IPv4 (with options) or IPv6 (with up to
 * SLUICE_PKT_MAX_IPV6_EXT extension headers), UDP, ICMP, ICMPv6 and ARP.
 * Checks lengths and the IPv4 header and UDP checksums unless @p flags says the NIC checked
 * them. Does not check addresses (see sluice_dp_ctx_packet()). Never reads outside
 * frame[0..len).
 * @return SLUICE_DP_REJECT_NONE with @p info filled, or a packet-level reject reason.
 */
enum sluice_dp_reject sluice_pkt_parse(const uint8_t *frame, size_t len, unsigned flags,
				       struct sluice_pkt_info *info);

/* ---------------------------------------------------------------------------------------- */
/* The EAL-free packet -> events core                                                        */

/**
 * Where a context delivers its output. Every callback may be NULL (output discarded,
 * counted as accepted).
 */
struct sluice_dp_sink {
	void *arg;
	/**
	 * One event for listener @p l. @p partition is the topic-local partition, or -1 when the
	 * event has no key and the sink picks one (keyless mode). @p rec's pointers are valid
	 * only during the call; headers are decoded into rec->headers. For a re-partitioned
	 * `kafka` record rec->tail_raw is set (sluice_rb_builder_append_raw() copies it), for
	 * other events it is NULL. @return 0 when accepted, or 1 + enum sluice_dp_shed.
	 */
	int (*event)(void *arg, const struct sluice_listener *l, int32_t partition,
		     const struct sluice_rb_record *rec);
	/**
	 * One validated `kafka` batch for an explicit partition, to be stored as received.
	 * @return 0 when accepted, or 1 + enum sluice_dp_shed (all @p records are shed).
	 */
	int (*batch)(void *arg, const struct sluice_listener *l, uint32_t partition,
		     const uint8_t *batch, size_t len, uint32_t records);
	/** A reply frame (ARP, ICMP echo, ND, ack) for port @p port_idx. @return 0 sent, <0 not. */
	int (*reply)(void *arg, uint32_t port_idx, const uint8_t *frame, size_t len);
	/**
	 * Acknowledged mode: how far the tagged batches of global partition @p partition_id have
	 * come (sluice_partition_ack_state()). NULL: every accepted batch counts as durable at
	 * once (no storage behind the sink). The tag of an accepted acknowledged batch is what
	 * the batch callback stored with sluice_dp_ctx_set_ack_tag().
	 */
	void (*ack_state)(void *arg, uint32_t partition_id, uint32_t *durable_tag,
			  uint32_t *refused);
};

/* ---------------------------------------------------------------------------------------- */
/* Acknowledged mode: what the log already holds (recovered at start)                       */

/** Producer streams found in the log's tail; built once, then shared read-only. */
struct sluice_dp_ack_recovery;

/** @return 0 or -ENOMEM. An empty table. */
int sluice_dp_ack_recovery_create(struct sluice_dp_ack_recovery **out);
void sluice_dp_ack_recovery_destroy(struct sluice_dp_ack_recovery *r);

/**
 * Note that the log holds sequences [base, base + count) of (producer id, epoch) in global
 * partition @p partition_id. A newer epoch replaces an older one. @return 0 or -ENOMEM.
 */
int sluice_dp_ack_recovery_add(struct sluice_dp_ack_recovery *r, uint32_t partition_id,
			       int64_t producer_id, int16_t epoch, int32_t base, int32_t count);

/**
 * Scan the last @p max_records records of every partition of @p log (durable batches, any
 * thread, while nothing writes or after sluice_log_open()) and add every idempotent batch.
 * @return 0 or -errno; @p batches receives the batches noted.
 */
int sluice_dp_ack_recovery_scan(struct sluice_dp_ack_recovery *r, struct sluice_log *log,
				uint64_t max_records, uint64_t *batches);

/** Streams noted (tests, logs). */
uint32_t sluice_dp_ack_recovery_count(const struct sluice_dp_ack_recovery *r);

/** Called by a sink's batch callback: the tag of the batch it just accepted. */
void sluice_dp_ctx_set_ack_tag(struct sluice_dp_ctx *ctx, uint32_t tag);

/** Whether the batch being handed to the sink is an acknowledged one (tag it). */
bool sluice_dp_ctx_ack_wanted(const struct sluice_dp_ctx *ctx);

/**
 * Send the acks that are due: for each acknowledged producer whose durable sequence moved
 * (sink->ack_state) or that sent a duplicate or a refused batch, one ack frame through
 * sink->reply, at most one per producer per @p min_interval_ms. The owner calls it
 * regularly (the worker: every pass that finds time for it). @return acks sent.
 */
unsigned sluice_dp_ctx_ack_poll(struct sluice_dp_ctx *ctx, int64_t now_ms, uint32_t min_interval_ms,
				const struct sluice_dp_sink *sink);

struct sluice_dp_ctx_opts {
	const struct sluice_dp_port *ports; /**< copied; index = port_idx */
	uint32_t nports;
	const struct sluice_listener *listeners; /**< copied */
	uint32_t nlisteners;
	uint32_t producer_table_size; /**< (producerId, partition) entries; rounded up to 2^n */
	uint32_t reorder_window; /**< sequences ahead of the expected one accepted out of order */
	uint16_t max_record_headers; /**< partition -1 re-batching: headers per record (0: 32) */
	/** Producer entries one (source address, listener) may hold; 0: the whole table. */
	uint32_t producers_per_source;
	/** Another source's producer entry unseen this long may be replaced; 0: 60 s. */
	uint32_t producer_idle_ms;
	/** ARP/ICMP/ND replies per second (token bucket per context); 0: unlimited. */
	uint32_t reply_rate;
	uint32_t reply_burst; /**< 0: reply_rate / 20, at least 1 */
	/** Acknowledged mode: sequences accepted above a producer's durable one (0: 4096). */
	uint32_t ack_window;
	/** What the log held at start (may be NULL); must outlive the context. */
	const struct sluice_dp_ack_recovery *ack_recovery;
};

#define SLUICE_DP_MAX_LISTENERS 64
#define SLUICE_DP_MAX_PORTS 16

/** Validate options (ports, listeners, ranges). @return 0 or -EINVAL; no logging. */
int sluice_dp_ctx_opts_check(const struct sluice_dp_ctx_opts *opts, char *why, size_t why_len);

/** @return 0, -EINVAL (bad options), -ENOMEM. */
int sluice_dp_ctx_create(const struct sluice_dp_ctx_opts *opts, struct sluice_dp_ctx **out);
void sluice_dp_ctx_destroy(struct sluice_dp_ctx *ctx);

/**
 * Process one frame received on port @p port_idx: parse, answer ARP/ICMP/ND through
 * sink->reply, decode the listener's format, track producer sequences, deliver to the sink.
 * @param flags   SLUICE_PKT_F_* from the NIC
 * @param now_ms  wall-clock time for events without their own timestamp (lines, raw)
 * @return events delivered to the sink (accepted or shed), 0 for control or rejected frames.
 */
unsigned sluice_dp_ctx_packet(struct sluice_dp_ctx *ctx, uint32_t port_idx, const uint8_t *frame,
			      size_t len, unsigned flags, int64_t now_ms,
			      const struct sluice_dp_sink *sink);

/**
 * Decode one UDP payload for listener @p l, one of the context's own listeners
 * (sluice_dp_ctx_listener()) (format decoders, rate limit and sequence tracking, no packet
 * parsing). @p src is the source address (4 or 16 bytes per @p family, or NULL) and
 * @p src_port the source UDP port: key_mode source_addr, the rate limit and the producer
 * table key on them. Counts as one datagram. @return events delivered to the sink.
 */
unsigned sluice_dp_ctx_datagram(struct sluice_dp_ctx *ctx, const struct sluice_listener *l,
				const uint8_t *payload, size_t len, uint8_t family,
				const uint8_t *src, uint16_t src_port, int64_t now_ms,
				const struct sluice_dp_sink *sink);

/** Listener @p i as copied into the context (NULL if out of range). */
const struct sluice_listener *sluice_dp_ctx_listener(const struct sluice_dp_ctx *ctx, uint32_t i);

/* ---------------------------------------------------------------------------------------- */
/* Counters                                                                                  */

struct sluice_worker_stats {
	uint64_t rx_packets;
	uint64_t rx_bytes;
	uint64_t rx_bursts; /**< non-empty RX bursts */
	uint64_t ctrl_packets; /**< ARP requests, ICMP echo requests, NS answered */
	uint64_t arp_replies;
	uint64_t icmp_replies;
	uint64_t nd_replies;
	uint64_t datagrams; /**< UDP payloads delivered to a listener */
	uint64_t datagrams_accepted;
	uint64_t events_decoded; /**< events found in accepted datagrams */
	uint64_t events_parsed; /**< events handed to batching ("parsed" in DESIGN.md) */
	uint64_t events_enqueued; /**< events in batches enqueued to writer rings */
	uint64_t events_open; /**< events in open (unsealed) batches: a gauge */
	uint64_t bytes_enqueued; /**< batch bytes enqueued to writer rings */
	uint64_t rejects[SLUICE_DP_REJECT__COUNT];
	uint64_t batch_errors[SLUICE_RB__COUNT]; /**< breakdown of REJECT_KAFKA_BATCH */
	uint64_t shed[SLUICE_DP_SHED__COUNT];
	/** shed[RING_FULL] + shed[POOL_EMPTY] again, by why storage was behind at the time
	 *  (sluice_log_writer_cause() of the partition's writer; of any writer for an empty
	 *  pool). Only for a worker that feeds a log. */
	uint64_t shed_cause[SLUICE_WRITER_CAUSE__COUNT];
	uint64_t batches_sealed_size; /**< sealed because the next event did not fit */
	uint64_t batches_sealed_linger; /**< sealed on the linger deadline */
	uint64_t batches_sealed_flush; /**< sealed at stop or on request */
	uint64_t batches_passthrough; /**< explicit-partition kafka batches stored as received */
	uint64_t batches_enqueued;
	uint64_t busy_cycles; /**< TSC cycles in passes that did work */
	uint64_t idle_cycles; /**< TSC cycles in passes that found nothing */
	uint64_t blocked_cycles; /**< TSC cycles waiting for ring or pool room (block mode) */
	uint64_t idle_sleeps; /**< back-off sleeps taken */
	uint64_t producers_active; /**< entries in the producer table: a gauge */
	uint64_t producer_lost; /**< events never received (sequence gaps) */
	uint64_t producer_duplicates; /**< == rejects[DUPLICATE] */
	uint64_t producer_evictions; /**< entries replaced by another stream */
	uint64_t producer_new;
	/** tracked `kafka` batches stored without sequence tracking: no table entry could be
	 *  taken for their source (at its share, or every candidate busy with another source) */
	uint64_t producer_untracked;
	/** datagrams from sources the source table could not hold (they share one bucket) */
	uint64_t source_overflow;
	uint64_t ack_batches; /**< acknowledged-mode batches accepted */
	uint64_t ack_events; /**< their events */
	uint64_t ack_duplicates; /**< events of acknowledged duplicates dropped (also in rejects) */
	uint64_t acks_sent; /**< ack datagrams sent */
	uint64_t ack_tx_full; /**< acks that could not be sent (no mbuf, TX full) */
	uint64_t ack_recovered; /**< producer entries seeded from the log's tail */
	/** times storage refused a tagged batch and a producer's accepted state went back to
	 *  its durable one (the resend may then be stored twice: docs/wire-formats.md) */
	uint64_t ack_rollbacks;
};

/** A context's counters (worker-level fields stay zero). Owning thread only. */
void sluice_dp_ctx_stats(const struct sluice_dp_ctx *ctx, struct sluice_worker_stats *out);

/** Add @p b into @p a field by field (summing per-core stats; gauges add too). */
void sluice_worker_stats_add(struct sluice_worker_stats *a, const struct sluice_worker_stats *b);

/* ---------------------------------------------------------------------------------------- */
/* Producer table                                                                            */

struct sluice_producer_info {
	uint8_t family; /**< source address family (4 or 6; 0 when unknown) */
	uint8_t addr[16]; /**< source address (IPv4 in the first 4 bytes) */
	uint16_t port; /**< source UDP port */
	int64_t producer_id;
	int16_t producer_epoch;
	const char *topic; /**< listener's topic; valid during the callback */
	int32_t partition; /**< topic-local partition, or -1 (partitioned by key) */
	int32_t next_sequence; /**< next expected baseSequence */
	uint32_t pending_ranges; /**< accepted out-of-order ranges waiting for a hole to fill */
	uint64_t batches;
	uint64_t events;
	uint64_t lost;
	uint64_t duplicates;
	int64_t last_seen_ms;
	/** events of this producer's explicit-partition batches the appliance shed (counted in
	 *  shed[], never in lost) */
	uint64_t shed;
};

typedef void (*sluice_producer_visit_fn)(const struct sluice_producer_info *info, void *arg);

/**
 * Visit every tracked producer of a context. Reads the entries' published views (see
 * sluice_worker_producers()), so any thread may call it while the owner runs. @return count.
 */
unsigned sluice_dp_ctx_producers(const struct sluice_dp_ctx *ctx, sluice_producer_visit_fn cb,
				 void *arg);

/* ---------------------------------------------------------------------------------------- */
/* Worker                                                                                     */

struct sluice_worker_opts {
	uint32_t id; /**< producer index for sluice_log_ring() (0..log producers-1) */
	unsigned lcore; /**< lcore it will run on (informational, logs) */
	const struct sluice_dp_port *ports; /**< RX queue per port served by this worker */
	uint32_t nports;
	const struct sluice_listener *listeners;
	uint32_t nlisteners;
	struct sluice_log *log; /**< batches go to sluice_log_ring(log, id, writer_of(p)) */
	/**
	 * Tests and benchmarks without a log: when non-NULL (and log is NULL), batches for global
	 * partition p go to rings[p % nrings].
	 */
	struct rte_ring *const *rings;
	uint32_t nrings;
	/**
	 * Batch buffers: struct sluice_batch at the start, data after it (see
	 * sluice_dp_batch_pool_create()). Element size fixes the largest batch.
	 */
	struct rte_mempool *batch_pool;
	uint32_t batch_bytes; /**< seal when the next record would exceed this; runtime-tunable */
	uint32_t linger_us; /**< seal this long after a batch's first record; runtime-tunable */
	enum sluice_backpressure backpressure; /**< runtime-tunable */
	enum sluice_keyless_mode keyless;
	uint32_t producer_table_size; /**< 0: SLUICE_DP_PRODUCER_TABLE_SIZE_DEFAULT */
	uint32_t reorder_window; /**< 0: no reordering accepted */
	uint32_t producers_per_source; /**< see struct sluice_dp_ctx_opts */
	uint32_t producer_idle_ms;
	uint32_t reply_rate;
	uint32_t reply_burst;
	bool idle_backoff; /**< pause, then sleep when idle (shared cores); runtime-tunable */
	uint32_t idle_sleep_us; /**< longest back-off sleep (0: 100) */
	uint16_t burst; /**< RX burst (0: 32, max 64) */
	uint32_t ack_window; /**< see struct sluice_dp_ctx_opts */
	/** With a log: records per partition scanned at creation for acknowledged producers'
	 *  stored sequences (0: none); ignored when ack_recovery is given. */
	uint64_t ack_recovery_records;
	const struct sluice_dp_ack_recovery *ack_recovery; /**< shared table (may be NULL) */
};

/** Bytes of buffer header before the batch data in a batch-pool element. */
#define SLUICE_DP_BATCH_HEADROOM 64

/**
 * Create a mempool of @p n batch buffers holding batches up to @p max_batch_bytes, on
 * @p socket (SOCKET_ID_ANY = -1), with a per-lcore cache. Needs EAL.
 * @return 0 or -errno (rte_errno).
 */
int sluice_dp_batch_pool_create(const char *name, uint32_t n, uint32_t max_batch_bytes, int socket,
				struct rte_mempool **out);

/** Largest batch a buffer of @p pool holds. */
uint32_t sluice_dp_batch_pool_capacity(const struct rte_mempool *pool);

/** @return 0, -EINVAL (options; logged), -ENOMEM. Needs EAL. */
int sluice_worker_create(const struct sluice_worker_opts *opts, struct sluice_worker **out);

/** Free a worker that is not running. Accepts NULL. */
void sluice_worker_destroy(struct sluice_worker *w);

/**
 * The lcore function (rte_eal_remote_launch(sluice_worker_run, w, lcore)). Polls until
 * sluice_worker_stop(), then seals and enqueues every open batch and returns 0.
 */
int sluice_worker_run(void *worker);

/** One pass of the loop (tests): RX burst per port, linger check. @return work done. */
unsigned sluice_worker_poll(struct sluice_worker *w);

/** Seal and enqueue every open batch now, in the calling thread: only while not running. */
void sluice_worker_flush(struct sluice_worker *w);

/**
 * Ask a running worker to seal and enqueue every open batch at its next pass (sluicectl
 * flush), without waiting for linger. Any thread; returns at once.
 */
void sluice_worker_flush_request(struct sluice_worker *w);

/** Ask the worker to stop; it returns from sluice_worker_run() after flushing. Any thread. */
void sluice_worker_stop(struct sluice_worker *w);

/**
 * The worker's counters as last published: a consistent snapshot in which every identity
 * of this header holds exactly. A running worker publishes once per loop pass and before it
 * hands batches to a ring, so a reader that reads storage's counters first and this second
 * never sees more persisted than enqueued. Any thread; wait-free for the worker (a reader
 * that overlaps a publication reads again).
 */
void sluice_worker_stats(const struct sluice_worker *w, struct sluice_worker_stats *out);

/**
 * Events of global partition @p partition_id this worker shed, by reason (the per-partition
 * breakdown of stats.shed[]). Any thread (relaxed loads). @return 0 or -ERANGE.
 */
int sluice_worker_partition_shed(const struct sluice_worker *w, uint32_t partition_id,
				 uint64_t shed[SLUICE_DP_SHED__COUNT]);

/**
 * Visit the producer table. Each entry is read through its own sequence lock, which the
 * worker updates with the entry (a few stores per tracked batch): the worker never copies
 * the table or waits for a reader. Each entry is consistent in itself; entries are read one
 * after another. Any thread. @return entries visited.
 */
unsigned sluice_worker_producers(const struct sluice_worker *w, sluice_producer_visit_fn cb,
				 void *arg);

/* Runtime tunables: relaxed atomic stores, read by the worker once per pass. Any thread. */
void sluice_worker_set_linger_us(struct sluice_worker *w, uint32_t linger_us);
/** Clamped to the pool's capacity. */
void sluice_worker_set_batch_bytes(struct sluice_worker *w, uint32_t batch_bytes);
void sluice_worker_set_backpressure(struct sluice_worker *w, enum sluice_backpressure b);
void sluice_worker_set_idle_backoff(struct sluice_worker *w, bool on, uint32_t idle_sleep_us);

struct sluice_config_dataplane;
/**
 * Push every runtime-tunable [dataplane] key of @p c (dataplane_config.h) to a running
 * worker, through the setters above: `sluicectl config set` and reloads call it after any
 * change of such a key. A new runtime key of the section is applied here. Any thread.
 */
void sluice_worker_apply_config(struct sluice_worker *w, const struct sluice_config_dataplane *c);

uint32_t sluice_worker_id(const struct sluice_worker *w);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_DATAPLANE_H */
