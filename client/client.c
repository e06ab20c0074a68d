/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libsluice (sluice_client.h). One UDP socket per client, connected to the listener; events
 * are packed with storage's record builder into one open batch, sealed when the next event
 * does not fit or linger passes, queued and sent with sendmmsg. In acknowledged mode each
 * sealed datagram also goes into the window (window.c) until an ack frees it.
 *
 * Threading contract: none inside; the caller's one thread does everything, in send, poll
 * and flush.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sluice_client.h"
#include "sluice_record.h"
#include "sluice_window.h"
#include "sluice_time.h"

_Static_assert(sizeof(((struct sluice_client_stats *)0)->ack_latency_hist) ==
		       sizeof(((struct sluice_window_stats *)0)->ack_latency_hist),
	       "the same buckets");

#define TXQ_MAX 32
#define RX_BURST 32

struct sluice_client {
	struct sluice_client_opts o;
	int fd;
	int64_t pid;
	int16_t epoch;
	int32_t next_seq; /* first sequence of the open batch */
	struct sluice_window *win; /* NULL with no_ack */
	uint8_t *buf; /* the open datagram: envelope + batch */
	struct sluice_rb_builder rb;
	bool open;
	uint64_t open_us;
	uint8_t *txq; /* sealed datagrams not yet sent, TXQ_MAX x max_datagram_bytes */
	uint32_t txlen[TXQ_MAX];
	uint32_t ntx;
	struct sluice_client_stats st;
};

int sluice_client_create(const struct sluice_client_opts *opts, struct sluice_client **out)
{
	struct sluice_client *c;
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai = NULL;
	char port[8];
	int rc;

	if (!opts || !opts->host || !opts->port || opts->partition < 0 || opts->epoch < 0)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	c->o = *opts;
	if (!c->o.max_datagram_bytes)
		c->o.max_datagram_bytes = 1472;
	if (!c->o.linger_us)
		c->o.linger_us = 1000;
	if (!c->o.window_records)
		c->o.window_records = 2048;
	if (!c->o.buffer_datagrams)
		c->o.buffer_datagrams = 1024;
	if (!c->o.rto_min_us)
		c->o.rto_min_us = 20000;
	if (!c->o.rto_max_us)
		c->o.rto_max_us = 1000000;
	rc = -EINVAL;
	if (c->o.max_datagram_bytes < SLUICE_ENVELOPE_BYTES + SLUICE_RB_HEADER_BYTES + 16 ||
	    c->o.max_datagram_bytes > 65507 || c->o.rto_max_us < c->o.rto_min_us)
		goto fail;
	c->pid = opts->producer_id;
	if (c->pid < 0) {
		uint64_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint64_t)sluice_mono_us() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
		c->pid = (int64_t)(r & INT64_MAX);
	}
	c->epoch = opts->epoch;
	rc = -ENOMEM;
	c->buf = malloc(c->o.max_datagram_bytes);
	c->txq = malloc((size_t)TXQ_MAX * c->o.max_datagram_bytes);
	if (!c->buf || !c->txq)
		goto fail;
	if (!c->o.no_ack) {
		struct sluice_window_opts wo = {
			.slots = c->o.buffer_datagrams,
			.slot_bytes = c->o.max_datagram_bytes,
			.window_records = c->o.window_records,
			.rto_min_us = c->o.rto_min_us,
			.rto_max_us = c->o.rto_max_us,
		};
		rc = sluice_window_create(&wo, &c->win);
		if (rc)
			goto fail;
	}
	snprintf(port, sizeof(port), "%u", opts->port);
	if (getaddrinfo(opts->host, port, &hints, &ai) != 0 || !ai) {
		rc = -ENOENT;
		goto fail;
	}
	c->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		rc = -errno;
		goto fail;
	}
	int sz = 4 << 20;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	freeaddrinfo(ai);
	*out = c;
	return 0;
fail:
	if (ai)
		freeaddrinfo(ai);
	sluice_client_destroy(c);
	return rc;
}

void sluice_client_destroy(struct sluice_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	sluice_window_destroy(c->win);
	free(c->buf);
	free(c->txq);
	free(c);
}

int sluice_client_fd(const struct sluice_client *c)
{
	return c->fd;
}

void sluice_client_stream(const struct sluice_client *c, int64_t *producer_id, int16_t *epoch,
			  int32_t *next_sequence)
{
	*producer_id = c->pid;
	*epoch = c->epoch;
	*next_sequence = c->next_seq + (c->open ? sluice_rb_builder_count(&c->rb) : 0);
}

void sluice_client_stats(const struct sluice_client *c, struct sluice_client_stats *out)
{
	struct sluice_window_stats ws = {0};

	*out = c->st;
	if (c->win) {
		sluice_window_stats(c->win, &ws);
		out->retransmits = ws.retransmits;
		out->resend_hints = ws.resend_hints;
		out->srtt_us = ws.srtt_us;
		out->rto_us = ws.rto_us;
		memcpy(out->ack_latency_hist, ws.ack_latency_hist, sizeof(out->ack_latency_hist));
		out->inflight_datagrams = sluice_window_inflight(c->win);
		out->inflight_events = sluice_window_inflight_records(c->win);
	}
}

/* Send the queued datagrams; what the socket does not take stays queued. */
static int tx_flush(struct sluice_client *c)
{
	struct mmsghdr mm[TXQ_MAX];
	struct iovec iov[TXQ_MAX];
	uint32_t done = 0;

	while (done < c->ntx) {
		uint32_t n = c->ntx - done;
		for (uint32_t i = 0; i < n; i++) {
			iov[i].iov_base = c->txq + (size_t)(done + i) * c->o.max_datagram_bytes;
			iov[i].iov_len = c->txlen[done + i];
			memset(&mm[i], 0, sizeof(mm[i]));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		int r = sendmmsg(c->fd, mm, n, 0);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
				break;
			if (errno == EINTR)
				continue;
			/* ECONNREFUSED and the like (an ICMP error for an earlier datagram): the
			 * datagram counts as sent and lost; acknowledged mode resends it. */
			c->st.send_errors++;
			r = 1;
		}
		done += (uint32_t)r;
	}
	if (done && done < c->ntx) {
		memmove(c->txq, c->txq + (size_t)done * c->o.max_datagram_bytes,
			(size_t)(c->ntx - done) * c->o.max_datagram_bytes);
		memmove(c->txlen, c->txlen + done, (c->ntx - done) * sizeof(c->txlen[0]));
	}
	c->ntx -= done;
	return (int)done;
}

static int send_one(void *arg, const uint8_t *dgram, size_t len)
{
	struct sluice_client *c = arg;

	for (;;) {
		ssize_t r = send(c->fd, dgram, len, 0);
		if (r >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return -EAGAIN;
		c->st.send_errors++;
		return 0;
	}
}

static int open_batch(struct sluice_client *c)
{
	struct sluice_rb_batch_meta meta = {
		.producer_id = c->pid,
		.producer_epoch = c->epoch,
		.base_sequence = c->next_seq,
		.partition_leader_epoch = -1,
	};

	sluice_envelope_encode_flags(c->buf, c->o.partition,
				     c->o.no_ack ? 0 : SLUICE_ENVELOPE_F_ACK);
	int rc = sluice_rb_builder_init(&c->rb, c->buf + SLUICE_ENVELOPE_BYTES,
					c->o.max_datagram_bytes - SLUICE_ENVELOPE_BYTES, &meta);
	if (rc)
		return rc;
	c->open = true;
	c->open_us = sluice_mono_us();
	return 0;
}

static bool room_for(const struct sluice_client *c, uint32_t records)
{
	return c->ntx < TXQ_MAX && (!c->win || sluice_window_has_room(c->win, records));
}

/* Seal the open batch into the queue (the caller made sure there is room). */
static void seal(struct sluice_client *c)
{
	uint32_t n = (uint32_t)sluice_rb_builder_count(&c->rb);
	size_t len = sluice_rb_builder_seal(&c->rb) + SLUICE_ENVELOPE_BYTES;

	c->open = false;
	if (n == 0)
		return;
	if (c->win)
		sluice_window_push(c->win, c->buf, len, c->next_seq, n, sluice_mono_us());
	memcpy(c->txq + (size_t)c->ntx * c->o.max_datagram_bytes, c->buf, len);
	c->txlen[c->ntx++] = (uint32_t)len;
	c->st.datagrams++;
	c->next_seq += (int32_t)n;
	if (c->ntx == TXQ_MAX)
		tx_flush(c);
}

/* Read every ack waiting on the socket. @return events newly acknowledged. */
static uint64_t rx_acks(struct sluice_client *c)
{
	uint8_t bufs[RX_BURST][SLUICE_ACK_MAX_BYTES + 1];
	struct mmsghdr mm[RX_BURST];
	struct iovec iov[RX_BURST];
	uint64_t done = 0;

	for (;;) {
		for (unsigned i = 0; i < RX_BURST; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			memset(&mm[i], 0, sizeof(mm[i]));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		int r = recvmmsg(c->fd, mm, RX_BURST, MSG_DONTWAIT, NULL);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
				continue; /* ICMP errors surface here once; read on */
			break;
		}
		for (int i = 0; i < r; i++) {
			struct sluice_ack a;
			if ((mm[i].msg_hdr.msg_flags & MSG_TRUNC) ||
			    sluice_ack_decode(bufs[i], mm[i].msg_len, &a) != 0) {
				c->st.acks_malformed++;
				continue;
			}
			if (!c->win || a.producer_id != c->pid || a.epoch != c->epoch ||
			    a.partition != c->o.partition) {
				c->st.acks_ignored++;
				continue;
			}
			uint64_t n = sluice_window_ack(c->win, &a, sluice_mono_us());
			if (n) {
				c->st.acks++;
				done += n;
			} else {
				c->st.acks_ignored++;
			}
		}
		if (r < RX_BURST)
			break;
	}
	c->st.events_acked += done;
	return done;
}

/* One round of work without waiting. @return events newly acknowledged. */
static uint64_t work(struct sluice_client *c)
{
	uint64_t t = sluice_mono_us();
	uint64_t acked;

	if (c->open && t - c->open_us >= c->o.linger_us &&
	    room_for(c, (uint32_t)sluice_rb_builder_count(&c->rb)))
		seal(c);
	tx_flush(c);
	acked = rx_acks(c);
	if (c->win)
		sluice_window_retransmit(c->win, sluice_mono_us(), send_one, c);
	return acked;
}

static void wait_fd(struct sluice_client *c, int timeout_ms)
{
	uint64_t t = sluice_mono_us(), next = UINT64_MAX;
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};

	if (c->win)
		next = sluice_window_next_timeout_us(c->win, t);
	if (c->open) {
		uint64_t l = c->open_us + c->o.linger_us;
		next = l > t ? (l - t < next ? l - t : next) : 0;
	}
	if (c->ntx)
		next = 1000; /* the socket was full: try again soon */
	int ms = next == UINT64_MAX ? timeout_ms : (int)((next + 999) / 1000);
	if (timeout_ms >= 0 && ms > timeout_ms)
		ms = timeout_ms;
	if (ms < 0)
		ms = 1000;
	if (ms > 0)
		poll(&pfd, 1, ms);
}

int sluice_client_poll(struct sluice_client *c, int timeout_ms)
{
	uint64_t n = work(c);

	if (n == 0 && timeout_ms > 0) {
		wait_fd(c, timeout_ms);
		n = work(c);
	}
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

/* Room for a batch of @p records: wait (polling acks) unless non-blocking. */
static int wait_room(struct sluice_client *c, uint32_t records, int flags)
{
	while (!room_for(c, records)) {
		work(c);
		if (room_for(c, records))
			break;
		if (flags & SLUICE_CLIENT_NONBLOCK)
			return -EAGAIN;
		wait_fd(c, 100);
	}
	return 0;
}

int sluice_client_send(struct sluice_client *c, const void *key, size_t key_len, const void *value,
		       size_t value_len, int64_t timestamp_ms, int flags)
{
	struct sluice_rb_record rec = {
		.timestamp = timestamp_ms ? timestamp_ms : sluice_wall_ms(),
		.key = key,
		.key_len = key ? (int32_t)key_len : -1,
		.value = value,
		.value_len = value ? (int32_t)value_len : -1,
	};
	int rc;

	if (key_len > INT32_MAX || value_len > INT32_MAX)
		return -EMSGSIZE;
	/* Acknowledged mode does not wrap sequences: a new epoch restarts at 0 once all of the
	 * old one is acknowledged (the appliance treats a newer epoch as a new stream). */
	if (c->next_seq > INT32_MAX - 65536 && !c->open) {
		rc = sluice_client_flush(c, -1);
		if (rc)
			return rc;
		c->epoch = (int16_t)(c->epoch == INT16_MAX ? 0 : c->epoch + 1);
		c->next_seq = 0;
	}
	if (!c->open && (rc = open_batch(c)) != 0)
		return rc;
	rc = sluice_rb_builder_append(&c->rb, &rec);
	if (rc == -ENOSPC) {
		rc = wait_room(c, (uint32_t)sluice_rb_builder_count(&c->rb), flags);
		if (rc)
			return rc;
		seal(c);
		if ((rc = open_batch(c)) != 0)
			return rc;
		rc = sluice_rb_builder_append(&c->rb, &rec);
	}
	if (rc)
		return rc == -ENOSPC ? -EMSGSIZE : rc;
	c->st.events++;
	if (c->st.events % 64 == 0)
		work(c);
	return 0;
}

int sluice_client_flush(struct sluice_client *c, int timeout_ms)
{
	uint64_t deadline =
		timeout_ms < 0 ? UINT64_MAX : sluice_mono_us() + (uint64_t)timeout_ms * 1000;

	if (c->open) {
		int rc = wait_room(c, (uint32_t)sluice_rb_builder_count(&c->rb), 0);
		if (rc)
			return rc;
		seal(c);
	}
	for (;;) {
		work(c);
		if (c->ntx == 0 && (!c->win || sluice_window_inflight(c->win) == 0))
			return 0;
		uint64_t t = sluice_mono_us();
		if (t >= deadline)
			return -ETIMEDOUT;
		uint64_t left_ms = (deadline - t) / 1000;
		wait_fd(c, left_ms > 100 ? 100 : (int)left_ms);
	}
}
