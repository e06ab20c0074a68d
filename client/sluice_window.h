/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The producer side of acknowledged mode, without sockets: a bounded buffer of sent,
 * unacknowledged datagrams of one (producer id, epoch, partition) stream, what the
 * appliance's acks free, and which datagrams are due for a retransmission (timeout with
 * exponential backoff, or at once when an ack names them "resend"). libsluice and
 * sluice-gen --ack share it. Not thread-safe: one owner.
 */
#ifndef SLUICE_WINDOW_H
#define SLUICE_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice_record.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sluice_window_opts {
	uint32_t slots; /**< datagrams held at most (bounded buffer) */
	uint32_t slot_bytes; /**< largest datagram */
	uint32_t window_records; /**< unacknowledged records at most (flow control) */
	uint32_t rto_min_us; /**< first retransmission timeout */
	uint32_t rto_max_us; /**< backoff ceiling */
};

#define SLUICE_WINDOW_HIST_BUCKETS 24

struct sluice_window_stats {
	uint64_t sent; /**< datagrams sent the first time */
	uint64_t retransmits;
	uint64_t acked_records; /**< records the appliance reported durable */
	uint64_t acked_batches;
	uint64_t acks; /**< acks applied */
	uint64_t acks_stale; /**< acks for another stream or that moved nothing */
	uint64_t resend_hints; /**< datagrams retransmitted at once on an ack's resend range */
	uint64_t srtt_us; /**< smoothed send -> durable-ack time (0: no sample yet) */
	uint64_t rto_us; /**< current retransmission timeout for new datagrams */
	/** send -> durable-ack time of datagrams acknowledged without a retransmission, log2
	 *  microsecond buckets as storage's (bucket i: up to 2^i us; the last: above) */
	uint64_t ack_latency_hist[SLUICE_WINDOW_HIST_BUCKETS];
};

struct sluice_window;

/** @return 0, -EINVAL, -ENOMEM. */
int sluice_window_create(const struct sluice_window_opts *o, struct sluice_window **out);
void sluice_window_destroy(struct sluice_window *w);

/** Whether a datagram of @p records more fits (buffer and window). */
bool sluice_window_has_room(const struct sluice_window *w, uint32_t records);

/**
 * Take a datagram (its bytes are copied) covering sequences [base, base + records), sent at
 * @p now_us. @return 0, -ENOBUFS when no room, -EMSGSIZE when above slot_bytes.
 */
int sluice_window_push(struct sluice_window *w, const uint8_t *dgram, size_t len, int32_t base,
		       uint32_t records, uint64_t now_us);

/**
 * Apply an ack (already decoded and checked to be this stream's). Frees every datagram below
 * durable_next or inside a durable range; makes those in a resend range due now.
 * @return records newly acknowledged.
 */
uint64_t sluice_window_ack(struct sluice_window *w, const struct sluice_ack *a, uint64_t now_us);

/** Send callback: @return 0 when sent, <0 to stop this round (try again later). */
typedef int (*sluice_window_send_fn)(void *arg, const uint8_t *dgram, size_t len);

/**
 * Retransmit every datagram whose timeout passed (doubling it, up to rto_max_us).
 * @return datagrams retransmitted.
 */
unsigned sluice_window_retransmit(struct sluice_window *w, uint64_t now_us,
				  sluice_window_send_fn send, void *arg);

/** Microseconds until the next timeout (0: one is due; UINT64_MAX: nothing in flight). */
uint64_t sluice_window_next_timeout_us(const struct sluice_window *w, uint64_t now_us);

/** Datagrams and records not yet acknowledged. */
uint32_t sluice_window_inflight(const struct sluice_window *w);
uint64_t sluice_window_inflight_records(const struct sluice_window *w);

/** Lowest unacknowledged sequence, or -1 when everything is acknowledged. */
int32_t sluice_window_low(const struct sluice_window *w);

void sluice_window_stats(const struct sluice_window *w, struct sluice_window_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_WINDOW_H */
