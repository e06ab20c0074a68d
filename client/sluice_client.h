/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * libsluice: a producer library for sluice's `kafka` listeners (docs/libsluice.md).
 *
 * Events (key, value) are packed into Kafka RecordBatch v2 datagrams with this producer's id,
 * epoch and sequence and sent over plain UDP (sendmmsg). In acknowledged mode (the default)
 * each datagram stays in a bounded buffer until the appliance reports it durable
 * (fdatasync'd); it is retransmitted on timeout with exponential backoff, or at once when an
 * ack names it "resend". A window of unacknowledged records bounds what is in flight, so
 * acks drive the flow. The appliance drops resends it already holds, so every event is
 * stored exactly once (docs/wire-formats.md, "Acknowledged mode").
 *
 * Threads: a client is not thread-safe; one thread calls every function of a client.
 * Nothing runs in the background: the library does its work inside send, poll and flush.
 */
#ifndef SLUICE_CLIENT_H
#define SLUICE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sluice_client;

struct sluice_client_opts {
	const char *host; /**< appliance address (IPv4/IPv6 literal or name) */
	uint16_t port; /**< the listener's UDP port */
	int32_t partition; /**< topic-local partition every event of this client goes to */
	/** Producer id; < 0: a random one (a new stream per client, the usual choice). */
	int64_t producer_id;
	int16_t epoch; /**< producer epoch (>= 0) */
	bool no_ack; /**< fire and forget: no buffer, no retransmission */
	uint32_t max_datagram_bytes; /**< UDP payload per datagram; 0: 1472 */
	uint32_t linger_us; /**< seal a partly filled batch this long after its first event;
				 0: 1000 */
	uint32_t window_records; /**< unacknowledged events at most; 0: 2048 (keep it at or
				      below the appliance's dataplane.ack_window) */
	uint32_t buffer_datagrams; /**< unacknowledged datagrams at most; 0: 1024 */
	uint32_t rto_min_us; /**< first retransmission timeout; 0: 20000 */
	uint32_t rto_max_us; /**< backoff ceiling; 0: 1000000 */
};

/** Counters, cumulative since create. */
struct sluice_client_stats {
	uint64_t events; /**< events accepted by send */
	uint64_t events_acked; /**< events the appliance reported durable */
	uint64_t datagrams; /**< datagrams sent the first time */
	uint64_t retransmits;
	uint64_t acks; /**< acks received and applied */
	uint64_t acks_ignored; /**< well-formed acks for another stream, or that freed nothing */
	uint64_t acks_malformed; /**< datagrams on the socket that are not valid acks */
	uint64_t resend_hints; /**< datagrams resent early because an ack asked */
	uint64_t send_errors; /**< sendmmsg failures other than EAGAIN */
	uint64_t srtt_us; /**< smoothed send -> durable-ack time (acknowledged mode) */
	uint64_t rto_us; /**< current retransmission timeout */
	/** send -> durable-ack time of datagrams acknowledged without a retransmission:
	 *  bucket i counts samples up to 2^i microseconds (the last one: above 2^22) */
	uint64_t ack_latency_hist[24];
	uint32_t inflight_datagrams; /**< a gauge */
	uint64_t inflight_events; /**< a gauge */
};

/** sluice_client_send() flag: return -EAGAIN instead of waiting for window room. */
#define SLUICE_CLIENT_NONBLOCK 0x1

/**
 * Create a client and its UDP socket (connected to host:port).
 * @return 0, -EINVAL (options), -ENOENT (host not resolved), -ENOMEM or -errno.
 */
int sluice_client_create(const struct sluice_client_opts *opts, struct sluice_client **out);

/** Close the socket and free everything; unacknowledged events are dropped. Accepts NULL. */
void sluice_client_destroy(struct sluice_client *c);

/**
 * Queue one event (copied). Without SLUICE_CLIENT_NONBLOCK, waits (polling acks) while the
 * window is full. @p timestamp_ms: 0 = now.
 * @return 0; -EAGAIN (non-blocking, window full); -EMSGSIZE (the event alone does not fit a
 *         datagram); -errno.
 */
int sluice_client_send(struct sluice_client *c, const void *key, size_t key_len, const void *value,
		       size_t value_len, int64_t timestamp_ms, int flags);

/**
 * Do pending work: send a batch whose linger passed, read acks, retransmit what timed out.
 * Waits up to @p timeout_ms (0: not at all) for an ack when there is nothing to do.
 * @return events newly acknowledged, or -errno.
 */
int sluice_client_poll(struct sluice_client *c, int timeout_ms);

/**
 * Send the open batch and wait until every event sent so far is durable on the appliance
 * (no_ack: until it is sent). @p timeout_ms < 0: no limit.
 * @return 0, -ETIMEDOUT, or -errno.
 */
int sluice_client_flush(struct sluice_client *c, int timeout_ms);

/** The socket, for the caller's own poll loop (readable: call sluice_client_poll()). */
int sluice_client_fd(const struct sluice_client *c);

/** The stream's identity: producer id, epoch and the next sequence. */
void sluice_client_stream(const struct sluice_client *c, int64_t *producer_id, int16_t *epoch,
			  int32_t *next_sequence);

void sluice_client_stats(const struct sluice_client *c, struct sluice_client_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_CLIENT_H */
