/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One connection to one broker: a non-blocking socket behind a transport (plain TCP here,
 * TLS in tls.c), the ApiVersions negotiation, SASL authentication, and a FIFO of requests.
 * Kafka answers the requests of one connection in order, so the FIFO's head is always the
 * request the next response belongs to; its correlation id is checked all the same, and a
 * mismatch closes the connection (a broker that answers out of order cannot be trusted).
 *
 * Every request's callback runs exactly once: with its response, or with the error that
 * closed the connection (-ECONNRESET, -ETIMEDOUT, -EPROTO, ...). Closing fails every queued
 * request, so the forwarder knows each batch's fate is unknown and sends it again (same
 * sequence: the broker recognises a duplicate).
 *
 * Runs on the forwarder thread only.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_log.h>

#include "forward_internal.h"
#include "sluice_time.h"

#define RBUF_MIN (64u << 10)
#define FRAME_MAX (128u << 20) /* a response larger than this is a broken broker */
#define WRITE_IOV_MAX 64

extern int sluice_forward_logtype;

static void conn_log(const struct kconn *c, uint32_t level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void conn_log(const struct kconn *c, uint32_t level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rte_log(level, sluice_forward_logtype, "forwarder: %s:%u: %s\n", c->host, c->port, line);
}

static void conn_flush(struct kconn *c);

/* ---------------------------------------------------------------------------------------- */
/* Plain transport                                                                            */

static int plain_attach(struct kconn *c)
{
	(void)c;
	return 0;
}

static int plain_handshake(struct kconn *c, bool *want_write)
{
	(void)c;
	*want_write = false;
	return 0;
}

static ssize_t plain_read(struct kconn *c, void *buf, size_t len)
{
	ssize_t n = recv(c->fd, buf, len, 0);

	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static ssize_t plain_writev(struct kconn *c, const struct iovec *iov, int iovcnt)
{
	struct msghdr m = {.msg_iov = (struct iovec *)(uintptr_t)iov, .msg_iovlen = (size_t)iovcnt};
	ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL);

	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static bool plain_pending(struct kconn *c)
{
	(void)c;
	return false;
}

static void plain_detach(struct kconn *c)
{
	(void)c;
}

const struct ktransport_ops ktransport_plain = {
	.name = "plaintext",
	.attach = plain_attach,
	.handshake = plain_handshake,
	.read = plain_read,
	.writev = plain_writev,
	.pending = plain_pending,
	.detach = plain_detach,
};

/* ---------------------------------------------------------------------------------------- */
/* Lifecycle                                                                                  */

void kconn_init(struct kconn *c, const struct kconn_env *env, const char *host, uint16_t port,
		int32_t node_id)
{
	memset(c, 0, sizeof(*c));
	c->env = env;
	snprintf(c->host, sizeof(c->host), "%s", host);
	c->port = port;
	c->node_id = node_id;
	c->fd = -1;
	c->state = KC_DOWN;
	c->tops = env->tls ? &ktransport_tls : &ktransport_plain;
	for (int i = 0; i < KAPI__MAX; i++)
		c->vmax[i] = -1;
}

void kconn_close(struct kconn *c, int err)
{
	struct kreq *list = c->head;
	const struct kclient_conf *conf = c->env->conf;
	bool was_ready = c->state == KC_READY;

	if (c->fd >= 0) {
		c->tops->detach(c);
		close(c->fd);
		c->fd = -1;
	}
	if (c->state != KC_DOWN) {
		c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : conf->reconnect_backoff_ms;
		if (c->backoff_ms > conf->reconnect_backoff_max_ms)
			c->backoff_ms = conf->reconnect_backoff_max_ms;
		c->retry_at_ms = sluice_mono_ms() + c->backoff_ms;
	}
	c->state = KC_DOWN;
	c->last_err = err;
	c->head = c->tail = c->unsent = NULL;
	c->inflight = 0;
	c->queued = 0;
	c->rlen = 0;
	/* The list is detached first: a callback may queue on another connection. */
	while (list) {
		struct kreq *q = list;

		list = q->next;
		q->next = NULL;
		q->cb(c, q, err, NULL, 0);
		c->env->req_put(c->env->ctx, q);
	}
	if (was_ready || err != -ECANCELED)
		c->env->state_changed(c->env->ctx, c, false, err);
}

void kconn_fini(struct kconn *c)
{
	kconn_close(c, -ECANCELED);
	free(c->rbuf);
	c->rbuf = NULL;
	c->rcap = 0;
}

int32_t kconn_next_corr(struct kconn *c)
{
	c->next_corr = c->next_corr == INT32_MAX ? 1 : c->next_corr + 1;
	return c->next_corr;
}

int16_t kconn_version(const struct kconn *c, int16_t api)
{
	if (api < 0 || api >= KAPI__MAX || c->state < KC_APIVERSIONS)
		return -1;
	return c->vmax[api];
}

bool kconn_can_send(const struct kconn *c)
{
	return c->state == KC_READY && c->queued < c->env->conf->max_inflight;
}

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                   */

static void enqueue(struct kconn *c, struct kreq *q, uint64_t now_ms)
{
	if (q->niov == 0) {
		q->iov[0].iov_base = q->w.p;
		q->iov[0].iov_len = q->w.len;
		q->niov = 1;
	}
	q->total = 0;
	for (int i = 0; i < q->niov; i++)
		q->total += q->iov[i].iov_len;
	q->sent = 0;
	q->deadline_ms = now_ms + c->env->conf->socket_timeout_ms;
	q->next = NULL;
	if (c->tail)
		c->tail->next = q;
	else
		c->head = q;
	c->tail = q;
	if (!c->unsent)
		c->unsent = q;
	c->queued++;
}

void kconn_send(struct kconn *c, struct kreq *q, uint64_t now_ms)
{
	bool internal = q->api == KAPI_API_VERSIONS || q->api == KAPI_SASL_HANDSHAKE ||
		q->api == KAPI_SASL_AUTHENTICATE;

	if (q->w.oom || (c->state != KC_READY && !internal)) {
		q->cb(c, q, q->w.oom ? -ENOMEM : -ENOTCONN, NULL, 0);
		c->env->req_put(c->env->ctx, q);
		return;
	}
	enqueue(c, q, now_ms);
	conn_flush(c);
}

/* Build an internal request: header into q->w, body by @p body. */
static struct kreq *internal_req(struct kconn *c, int16_t api, int16_t ver, kreq_cb cb)
{
	struct kreq *q = c->env->req_get(c->env->ctx);

	if (!q)
		return NULL;
	kw_reset(&q->w);
	q->api = api;
	q->ver = ver;
	q->flexible = kapi_flexible(api, ver);
	q->corr = kconn_next_corr(c);
	q->cb = cb;
	q->ctx = NULL;
	q->niov = 0;
	q->nparts = 0;
	return q;
}

/* ---------------------------------------------------------------------------------------- */
/* Connection set-up: ApiVersions, SASL                                                       */

static void become_ready(struct kconn *c)
{
	c->state = KC_READY;
	c->backoff_ms = 0;
	c->logged_down = false;
	c->connects++;
	c->env->state_changed(c->env->ctx, c, true, 0);
}

static void sasl_send(struct kconn *c, const uint8_t *in, size_t in_len);

static void on_sasl_auth(struct kconn *c, struct kreq *q, int err, const uint8_t *body, size_t len)
{
	const uint8_t *auth;
	const char *msg;
	int32_t alen, mlen;
	int16_t kerr;

	if (err)
		return; /* the connection is closing */
	if (kp_sasl_authenticate_parse(body, len, q->ver, &kerr, &msg, &mlen, &auth, &alen)) {
		kconn_close(c, -EPROTO);
		return;
	}
	if (kerr) {
		char name[32];

		conn_log(c, RTE_LOG_ERR, "SASL %s authentication failed: %s: %.*s",
			 ksasl_mech_name(c->sasl.mech), kerr_name(kerr, name, sizeof(name)),
			 mlen > 0 ? (int)mlen : 0, msg ? msg : "");
		kconn_close(c, -EACCES);
		return;
	}
	sasl_send(c, auth, alen > 0 ? (size_t)alen : 0);
}

static void sasl_send(struct kconn *c, const uint8_t *in, size_t in_len)
{
	int16_t ver = c->vmax[KAPI_SASL_AUTHENTICATE];
	struct kw msg = {0};
	struct kreq *q;
	size_t at;
	int rc;

	rc = ksasl_step(&c->sasl, in, in_len, &msg);
	if (rc <= 0) {
		kw_free(&msg);
		if (rc == 0) {
			become_ready(c);
			return;
		}
		conn_log(c, RTE_LOG_ERR, "SASL %s: %s", ksasl_mech_name(c->sasl.mech),
			 rc == -EACCES ? "the broker's proof does not match (wrong server or "
					 "password database)"
				       : "malformed server message");
		kconn_close(c, rc);
		return;
	}
	q = internal_req(c, KAPI_SASL_AUTHENTICATE, ver, on_sasl_auth);
	if (!q || msg.oom) {
		kw_free(&msg);
		if (q)
			c->env->req_put(c->env->ctx, q);
		kconn_close(c, -ENOMEM);
		return;
	}
	at = kreq_begin(&q->w, KAPI_SASL_AUTHENTICATE, ver, q->corr, c->env->conf->client_id,
			q->flexible);
	kp_sasl_authenticate_req(&q->w, msg.p, msg.len);
	kreq_finish(&q->w, at, 0);
	kw_free(&msg);
	enqueue(c, q, sluice_mono_ms());
	conn_flush(c);
}

static void on_sasl_handshake(struct kconn *c, struct kreq *q, int err, const uint8_t *body,
			      size_t len)
{
	const struct kclient_conf *conf = c->env->conf;
	int16_t kerr;

	(void)q;
	if (err)
		return;
	if (kp_sasl_handshake_parse(body, len, &kerr)) {
		kconn_close(c, -EPROTO);
		return;
	}
	if (kerr) {
		char name[32];

		conn_log(c, RTE_LOG_ERR, "SASL mechanism %s refused by the broker: %s",
			 ksasl_mech_name(conf->sasl_mech), kerr_name(kerr, name, sizeof(name)));
		kconn_close(c, -EACCES);
		return;
	}
	if (ksasl_init(&c->sasl, conf->sasl_mech, conf->sasl_username, conf->sasl_password, NULL)) {
		kconn_close(c, -EINVAL);
		return;
	}
	sasl_send(c, NULL, 0);
}

static void on_api_versions(struct kconn *c, struct kreq *q, int err, const uint8_t *body,
			    size_t len)
{
	const struct kclient_conf *conf = c->env->conf;
	int16_t vmax[KAPI__MAX], vmin[KAPI__MAX];
	int rc;

	(void)q;
	if (err)
		return;
	rc = kp_api_versions_parse(body, len, vmax, vmin);
	if (rc != 0) {
		conn_log(c, RTE_LOG_ERR, "ApiVersions: %s",
			 rc < 0 ? "malformed response" : "refused");
		kconn_close(c, -EPROTO);
		return;
	}
	for (int i = 0; i < KAPI__MAX; i++) {
		const struct kapi_range *r = &kapi_supported[i];
		int16_t hi = vmax[i] < r->max ? vmax[i] : r->max;

		c->vmax[i] = (r->max > 0 || i == KAPI_API_VERSIONS || i == KAPI_PRODUCE) &&
				vmax[i] >= 0 && hi >= r->min && hi >= vmin[i]
			? hi
			: -1;
	}
	if (c->vmax[KAPI_PRODUCE] < 0 || c->vmax[KAPI_METADATA] < 0) {
		conn_log(c, RTE_LOG_ERR, "the broker speaks no Produce v%d..%d or Metadata v%d..%d",
			 kapi_supported[KAPI_PRODUCE].min, kapi_supported[KAPI_PRODUCE].max,
			 kapi_supported[KAPI_METADATA].min, kapi_supported[KAPI_METADATA].max);
		kconn_close(c, -EPROTONOSUPPORT);
		return;
	}
	if (conf->security == KSEC_SASL_PLAINTEXT || conf->security == KSEC_SASL_SSL) {
		struct kreq *h;
		size_t at;

		if (c->vmax[KAPI_SASL_HANDSHAKE] < 1 || c->vmax[KAPI_SASL_AUTHENTICATE] < 0) {
			conn_log(c, RTE_LOG_ERR,
				 "the broker offers no SaslHandshake v1 / SaslAuthenticate");
			kconn_close(c, -EPROTONOSUPPORT);
			return;
		}
		c->state = KC_SASL;
		h = internal_req(c, KAPI_SASL_HANDSHAKE, 1, on_sasl_handshake);
		if (!h) {
			kconn_close(c, -ENOMEM);
			return;
		}
		at = kreq_begin(&h->w, KAPI_SASL_HANDSHAKE, 1, h->corr, conf->client_id, false);
		kp_sasl_handshake_req(&h->w, ksasl_mech_name(conf->sasl_mech));
		kreq_finish(&h->w, at, 0);
		enqueue(c, h, sluice_mono_ms());
		conn_flush(c);
		return;
	}
	become_ready(c);
}

static void send_api_versions(struct kconn *c)
{
	struct kreq *q = internal_req(c, KAPI_API_VERSIONS, 0, on_api_versions);
	size_t at;

	if (!q) {
		kconn_close(c, -ENOMEM);
		return;
	}
	c->state = KC_APIVERSIONS;
	at = kreq_begin(&q->w, KAPI_API_VERSIONS, 0, q->corr, c->env->conf->client_id, false);
	kreq_finish(&q->w, at, 0);
	enqueue(c, q, sluice_mono_ms());
	conn_flush(c);
}

static void handshake_step(struct kconn *c)
{
	int rc = c->tops->handshake(c, &c->hs_want_write);

	if (rc == -EAGAIN)
		return;
	if (rc) {
		kconn_close(c, rc);
		return;
	}
	send_api_versions(c);
}

static void connected(struct kconn *c)
{
	int rc = c->tops->attach(c);

	if (rc) {
		kconn_close(c, rc);
		return;
	}
	c->state = KC_HANDSHAKE;
	handshake_step(c);
}

static void set_sockopts(struct kconn *c)
{
	const struct kclient_conf *conf = c->env->conf;
	int one = 1;

	/* Requests are written whole: Nagle would only delay the last segment. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (conf->keepalive)
		setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	if (conf->sndbuf)
		setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &conf->sndbuf, sizeof(conf->sndbuf));
	if (conf->rcvbuf)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &conf->rcvbuf, sizeof(conf->rcvbuf));
}

/* Resolve and start a non-blocking connect. Name resolution blocks (getaddrinfo): brokers
 * are addressed by IP or by names the local resolver answers quickly. */
static void start_connect(struct kconn *c, uint64_t now_ms)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	char port[8];
	int rc;

	snprintf(port, sizeof(port), "%u", c->port);
	rc = getaddrinfo(c->host, port, &hints, &res);
	if (rc || !res) {
		if (!c->logged_down)
			conn_log(c, RTE_LOG_WARNING, "cannot resolve: %s", gai_strerror(rc));
		c->logged_down = true;
		c->state = KC_CONNECTING; /* so that close() backs off */
		kconn_close(c, -EHOSTUNREACH);
		if (res)
			freeaddrinfo(res);
		return;
	}
	c->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = -errno;
		freeaddrinfo(res);
		c->state = KC_CONNECTING;
		kconn_close(c, rc);
		return;
	}
	set_sockopts(c);
	c->state = KC_CONNECTING;
	c->connect_deadline_ms = now_ms + c->env->conf->connect_timeout_ms;
	c->rlen = 0;
	if (connect(c->fd, res->ai_addr, res->ai_addrlen) == 0) {
		freeaddrinfo(res);
		connected(c);
		return;
	}
	rc = -errno;
	freeaddrinfo(res);
	if (rc != -EINPROGRESS)
		kconn_close(c, rc);
}

/* ---------------------------------------------------------------------------------------- */
/* I/O                                                                                        */

static void conn_flush(struct kconn *c)
{
	while (c->unsent && c->state >= KC_APIVERSIONS) {
		struct iovec iov[WRITE_IOV_MAX];
		int n = 0;
		size_t skip = c->unsent->sent;
		ssize_t w;

		for (struct kreq *q = c->unsent; q && n < WRITE_IOV_MAX; q = q->next) {
			for (int i = 0; i < q->niov && n < WRITE_IOV_MAX; i++) {
				size_t len = q->iov[i].iov_len;

				if (skip >= len) {
					skip -= len;
					continue;
				}
				iov[n].iov_base = (uint8_t *)q->iov[i].iov_base + skip;
				iov[n].iov_len = len - skip;
				skip = 0;
				n++;
			}
		}
		w = c->tops->writev(c, iov, n);
		if (w == -EAGAIN)
			return;
		if (w < 0) {
			kconn_close(c, (int)w);
			return;
		}
		while (w > 0 && c->unsent) {
			struct kreq *q = c->unsent;
			size_t left = q->total - q->sent;

			if ((size_t)w < left) {
				q->sent += (size_t)w;
				w = 0;
			} else {
				w -= (ssize_t)left;
				q->sent = q->total;
				c->unsent = q->next;
				c->inflight++;
			}
		}
	}
}

/* Hand every complete frame in rbuf to its request. */
static void conn_dispatch(struct kconn *c)
{
	size_t pos = 0;

	while (c->rlen - pos >= 4) {
		uint32_t flen = sluice_be32_get(c->rbuf + pos);
		struct kreq *q = c->head;
		const uint8_t *body;
		size_t blen;
		int rc;

		if (flen > FRAME_MAX || flen < 4) {
			conn_log(c, RTE_LOG_ERR, "response of %u bytes: closing", flen);
			kconn_close(c, -EPROTO);
			return;
		}
		if (c->rlen - pos < 4 + (size_t)flen)
			break;
		if (!q || q == c->unsent) {
			conn_log(c, RTE_LOG_ERR, "a response nobody asked for: closing");
			kconn_close(c, -EPROTO);
			return;
		}
		rc = kp_response_header(c->rbuf + pos + 4, flen, q->corr, q->flexible, &body,
					&blen);
		if (rc) {
			conn_log(c, RTE_LOG_ERR,
				 "response correlation id does not match the request: closing");
			kconn_close(c, -EPROTO);
			return;
		}
		c->head = q->next;
		if (!c->head)
			c->tail = NULL;
		c->inflight--;
		c->queued--;
		q->next = NULL;
		pos += 4 + (size_t)flen;
		q->cb(c, q, 0, body, blen);
		c->env->req_put(c->env->ctx, q);
		if (c->state == KC_DOWN)
			return; /* the callback closed it: rbuf is gone */
	}
	if (pos) {
		memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
		c->rlen -= pos;
	}
}

static void conn_read(struct kconn *c)
{
	for (int rounds = 0; rounds < 64 && c->state != KC_DOWN; rounds++) {
		size_t want = RBUF_MIN;
		ssize_t n;

		if (c->rlen >= 4) {
			size_t frame = 4 + (size_t)sluice_be32_get(c->rbuf);

			if (frame > want && frame <= FRAME_MAX + 4)
				want = frame;
		}
		if (c->rcap < want || c->rcap - c->rlen < 4096) {
			size_t cap = c->rcap ? c->rcap : RBUF_MIN;
			uint8_t *p;

			while (cap < want || cap - c->rlen < 4096)
				cap *= 2;
			p = realloc(c->rbuf, cap);
			if (!p) {
				kconn_close(c, -ENOMEM);
				return;
			}
			c->rbuf = p;
			c->rcap = cap;
		}
		n = c->tops->read(c, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			kconn_close(c, n == 0 ? -ECONNRESET : (int)n);
			return;
		}
		c->rlen += (size_t)n;
		conn_dispatch(c);
	}
}

short kconn_events(const struct kconn *c)
{
	switch (c->state) {
	case KC_DOWN:
		return 0;
	case KC_CONNECTING:
		return POLLOUT;
	case KC_HANDSHAKE:
		return c->hs_want_write ? POLLOUT : POLLIN;
	default:
		return (short)(POLLIN | (c->unsent ? POLLOUT : 0));
	}
}

void kconn_io(struct kconn *c, short revents, uint64_t now_ms)
{
	(void)now_ms;
	if (c->state == KC_DOWN)
		return;
	if (c->state == KC_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			if (!c->logged_down)
				conn_log(c, RTE_LOG_WARNING, "connect: %s",
					 strerror(err ? err : errno));
			c->logged_down = true;
			kconn_close(c, err ? -err : -ECONNREFUSED);
			return;
		}
		connected(c);
		return;
	}
	if (c->state == KC_HANDSHAKE) {
		if (revents & (POLLIN | POLLOUT | POLLERR | POLLHUP))
			handshake_step(c);
		return;
	}
	if (revents & (POLLIN | POLLERR | POLLHUP) || c->tops->pending(c))
		conn_read(c);
	if (c->state != KC_DOWN && c->unsent && (revents & POLLOUT))
		conn_flush(c);
}

void kconn_tick(struct kconn *c, uint64_t now_ms)
{
	if (c->state == KC_DOWN) {
		if (c->want && now_ms >= c->retry_at_ms)
			start_connect(c, now_ms);
		return;
	}
	if (c->state != KC_READY && now_ms >= c->connect_deadline_ms) {
		if (!c->logged_down)
			conn_log(c, RTE_LOG_WARNING, "connection set-up timed out");
		c->logged_down = true;
		kconn_close(c, -ETIMEDOUT);
		return;
	}
	if (c->head && now_ms >= c->head->deadline_ms) {
		conn_log(c, RTE_LOG_WARNING, "no response within %u ms: closing",
			 c->env->conf->socket_timeout_ms);
		kconn_close(c, -ETIMEDOUT);
		return;
	}
	if (c->tops->pending(c))
		conn_read(c);
}

uint64_t kconn_next_deadline(const struct kconn *c)
{
	if (c->state == KC_DOWN)
		return c->want ? c->retry_at_ms : UINT64_MAX;
	if (c->state != KC_READY)
		return c->connect_deadline_ms;
	return c->head ? c->head->deadline_ms : UINT64_MAX;
}
