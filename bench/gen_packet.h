/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * sluice-gen's packet builder: Ethernet / IPv4 or IPv6 / UDP frames with correct checksums,
 * and the payloads of every sluice wire format. Pure functions over caller buffers: no EAL,
 * no allocation, so unit tests and the pcap checker use them directly.
 */
#ifndef SLUICE_GEN_PACKET_H
#define SLUICE_GEN_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GEN_ETH_BYTES 14
#define GEN_IPV4_BYTES 20
#define GEN_IPV6_BYTES 40
#define GEN_UDP_BYTES 8
/** Largest frame sluice-gen builds (jumbo MTU 9000 + Ethernet header). */
#define GEN_MAX_FRAME 9014

/** Addresses of one flow (a 5-tuple plus MACs). */
struct gen_flow {
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	bool ipv6;
	uint8_t src_ip[16]; /**< IPv4 in the first 4 bytes, network order */
	uint8_t dst_ip[16];
	uint16_t src_port; /**< host order */
	uint16_t dst_port;
};

/** Bytes of Ethernet + IP + UDP headers for this flow: the payload starts there. */
size_t gen_packet_header_bytes(const struct gen_flow *f);

/**
 * Write the Ethernet, IP and UDP headers in front of a payload already placed at
 * frame + gen_packet_header_bytes(f), with correct IPv4 header and UDP checksums.
 * @param ip_id IPv4 identification (ignored for IPv6).
 * @return the frame length, or 0 when the frame would exceed @p cap or 65535-byte IP limits.
 */
size_t gen_packet_finish(uint8_t *frame, size_t cap, const struct gen_flow *f, size_t payload_len,
			 uint16_t ip_id);

/** The Internet checksum (RFC 1071) folded to 16 bits, over @p len bytes, plus @p sum. */
uint16_t gen_inet_cksum(const void *buf, size_t len, uint32_t sum);

/** A parsed and checked frame (what gen_packet_parse found). */
struct gen_packet_view {
	bool ipv6;
	const uint8_t *src_ip; /**< 4 or 16 bytes inside the frame */
	const uint8_t *dst_ip;
	uint16_t src_port;
	uint16_t dst_port;
	const uint8_t *payload;
	size_t payload_len;
};

enum gen_parse_err {
	GEN_PARSE_OK = 0,
	GEN_PARSE_TRUNCATED,
	GEN_PARSE_NOT_IP,
	GEN_PARSE_NOT_UDP,
	GEN_PARSE_IP_LENGTH,
	GEN_PARSE_IP_CKSUM,
	GEN_PARSE_UDP_LENGTH,
	GEN_PARSE_UDP_CKSUM,
};

/**
 * Parse an untagged Ethernet/IPv4|IPv6/UDP frame as sluice-gen builds it, verifying lengths
 * and both checksums by recomputation. For tests and the pcap checker; the appliance has its own
 * parser in dataplane/.
 */
enum gen_parse_err gen_packet_parse(const uint8_t *frame, size_t len, struct gen_packet_view *v);

/**
 * Write the body of an event: "<producer>:<sequence>:" then filler up to @p size bytes (never
 * '\n'), so a checker can tell which producer sent it and which sequence it carried. When
 * @p size is shorter than the prefix the prefix is cut. @return size.
 */
size_t gen_event_body(uint8_t *out, size_t size, uint64_t producer, uint64_t seq);

/**
 * Like gen_event_body(), with the send time after the sequence:
 * "<producer>:<sequence>:<stamp_ns>:" (CLOCK_REALTIME nanoseconds), so that a receiver on the
 * same host can measure latency. gen_event_parse() still reads the first two fields.
 */
size_t gen_event_body_stamped(uint8_t *out, size_t size, uint64_t producer, uint64_t seq,
			      uint64_t stamp_ns);

/**
 * Parse "<producer>:<sequence>:" at the start of an event body.
 * @return 0, or -EINVAL when the event does not start that way.
 */
int gen_event_parse(const uint8_t *ev, size_t len, uint64_t *producer, uint64_t *seq);

/** One event handed to a payload writer. key_len -1 = null key. */
struct gen_event {
	const uint8_t *key;
	int32_t key_len;
	const uint8_t *value;
	uint32_t value_len;
	int64_t timestamp_ms;
};

/** Kafka-format batch fields for one packet. */
struct gen_kafka_meta {
	int32_t partition; /**< envelope partition, -1 = by key */
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	uint8_t flags; /**< envelope flags (SLUICE_ENVELOPE_F_ACK) */
};

/**
 * `kafka` payload: the 8-byte envelope then one RecordBatch v2 holding @p n events.
 * @return payload bytes, or 0 when it does not fit in @p cap (or an event is invalid).
 */
size_t gen_payload_kafka(uint8_t *out, size_t cap, const struct gen_kafka_meta *m,
			 const struct gen_event *ev, uint32_t n);

/** `lines` payload: events joined by '\n' (no trailing newline). @return bytes or 0. */
size_t gen_payload_lines(uint8_t *out, size_t cap, const struct gen_event *ev, uint32_t n);

/** `raw` payload: exactly one event. @return bytes or 0. */
size_t gen_payload_raw(uint8_t *out, size_t cap, const struct gen_event *ev);

#endif /* SLUICE_GEN_PACKET_H */
