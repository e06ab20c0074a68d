/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * sluice-gen's configuration and traffic model: which producer sends which events in which
 * packet, with which sequence numbers, and which impairment each packet gets. Pure (no EAL):
 * the pcap and UDP outputs and the unit tests use it without DPDK; sluice_gen.c adds ports.
 *
 * Threads: one gen_traffic is used by one thread.
 */
#ifndef SLUICE_GEN_TRAFFIC_H
#define SLUICE_GEN_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "gen_packet.h"

#define GEN_MAX_LIST 16

enum gen_format { GEN_FMT_KAFKA, GEN_FMT_LINES, GEN_FMT_RAW };
enum gen_rate_unit { GEN_RATE_NONE, GEN_RATE_PPS, GEN_RATE_EPS, GEN_RATE_BPS };
enum gen_output { GEN_OUT_PORT, GEN_OUT_PCAP, GEN_OUT_UDP };

struct gen_config {
	/* where packets go */
	enum gen_output output;
	const char *pcap_path;
	const char *udp_host; /**< numeric IPv4/IPv6 address */
	uint16_t udp_port;
	const char *port_device; /**< ethdev name; defaults to the first --vdev's name */
	const char *vdevs[GEN_MAX_LIST + 1];
	const char *pci[GEN_MAX_LIST + 1];
	const char *eal_args[GEN_MAX_LIST + 1];
	const char *lcores;
	int mem_mode; /**< enum sluice_nic_mem_mode */
	uint32_t mem_mb;
	const char *file_prefix;
	uint16_t queues;
	uint16_t tx_desc;
	uint32_t link_wait_ms;
	uint32_t linger_ms;
	bool tx_drop_when_full; /**< count and drop instead of retrying a full TX ring */
	/* what packets look like */
	struct gen_flow flow; /**< base addresses; flows count up from here */
	uint32_t flows;
	uint16_t mtu;
	enum gen_format format;
	int32_t partition; /**< -1 = by key */
	uint32_t partitions; /**< > 0: rotate explicit partitions 0..partitions-1 */
	uint32_t event_min;
	uint32_t event_max;
	const char *events_file;
	uint32_t events_per_packet;
	uint32_t producers;
	int64_t producer_id_base;
	int16_t producer_epoch;
	int32_t first_sequence;
	uint32_t keys; /**< key space size; 0 = null keys */
	uint64_t seed;
	/* how fast and how long */
	enum gen_rate_unit rate_unit;
	double rate; /**< in rate_unit per second (bits for GEN_RATE_BPS) */
	uint32_t burst;
	double duration_s; /**< 0 = no limit */
	uint64_t count; /**< packets to generate; 0 = no limit */
	/* impairments: fractions of generated packets, at most one per packet */
	double drop;
	double dup;
	double reorder;
	double corrupt;
	bool corrupt_keep_cksum; /**< recompute the UDP checksum so only the batch CRC can tell */
	bool stamp; /**< events carry their send time (CLOCK_REALTIME ns) after the sequence */
	/** acknowledged mode: batches carry the ack flag; sluice-gen keeps each until the
	 *  appliance acknowledges it and retransmits (client/window.c). --drop and --dup then
	 *  apply after the window (at the output), so that a dropped batch is resent */
	bool ack;
	double ack_drop, ack_dup;
	uint32_t ack_timeout_ms; /**< wait this long for the last acks (0: 30000) */
	/* reporting */
	bool quiet;
	const char *summary_path;
};

/** Fill @p cfg with defaults. */
void gen_config_defaults(struct gen_config *cfg);

/**
 * Parse sluice-gen's command line into @p cfg (defaults first). Strings point into argv.
 * @return 0; 1 when --help was asked (usage already written to stdout);
 *         -EINVAL with "sluice-gen: --opt: reason" in @p err.
 */
int gen_config_parse(int argc, char **argv, struct gen_config *cfg, char *err, size_t errlen);

void gen_config_usage(FILE *f);

const char *gen_format_name(enum gen_format f);

/** One frame to put on the wire; valid until the next gen_traffic_next/flush call. */
struct gen_frame {
	const uint8_t *data;
	uint32_t len;
	uint32_t events;
	uint32_t flow;
};

/** Totals over the whole run. Every generated packet is counted in exactly one fate. */
struct gen_totals {
	uint64_t packets; /**< logical packets generated */
	uint64_t events;
	uint64_t frames_out; /**< frames handed to the output (duplicates count twice) */
	uint64_t events_out;
	uint64_t bytes_out; /**< frame bytes handed to the output */
	uint64_t payload_bytes_out;
	uint64_t dropped_packets, dropped_events;
	uint64_t duplicated_packets, duplicated_events; /**< extra copies sent */
	uint64_t reordered_packets, reordered_events;
	uint64_t corrupted_packets, corrupted_events;
};

struct gen_traffic;

/**
 * Validate the packet-shaping parts of @p cfg (sizes against the MTU, sample file) and build
 * the model. @return 0 or -errno with a one-line reason in @p err.
 */
int gen_traffic_create(const struct gen_config *cfg, struct gen_traffic **out, char *err,
		       size_t errlen);

void gen_traffic_destroy(struct gen_traffic *t);

/**
 * Generate the next packet and apply its impairment. Writes 0 (dropped), 1, 2 (duplicated)
 * or, when a held (reordered) packet is released after it, one more frame into @p out.
 * @return the number of frames written (0..3).
 */
unsigned gen_traffic_next(struct gen_traffic *t, int64_t now_ms, struct gen_frame out[3]);

/** At the end of a run: release a packet still held back for reordering. @return 0 or 1. */
unsigned gen_traffic_flush(struct gen_traffic *t, struct gen_frame out[1]);

void gen_traffic_totals(const struct gen_traffic *t, struct gen_totals *out);

/** Largest frame this configuration can produce (for mbuf sizing). */
uint32_t gen_traffic_max_frame(const struct gen_traffic *t);

/**
 * The summary's "totals", "impairments" and "producers" members, added to @p root.
 * Per producer and partition: first and last sequence, events, packets, bytes and what the
 * impairments did to them. @return 0 or -ENOMEM.
 */
int gen_traffic_summary(const struct gen_traffic *t, json_t *root);

#endif /* SLUICE_GEN_TRAFFIC_H */
