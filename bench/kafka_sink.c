/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kafka_sink: the smallest broker that Kafka producers accept, for benchmarks: it speaks
 * ApiVersions, Metadata, FindCoordinator, InitProducerId, Produce, ListOffsets and Fetch
 * (empty), acknowledges every Produce at once with the offsets it assigns from the batch
 * headers' record counts, and stores nothing. It measures a client's own capacity where a
 * real cluster of enough brokers would not be the limit (librdkafka's mock cluster copies
 * and keeps every batch on one thread and is the bottleneck above ~100 MB/s).
 *
 * One thread, poll() over non-blocking sockets, any topic name exists with the configured
 * partition count, one broker (node 0), acks=all answered immediately. Not a Kafka: no
 * validation beyond framing, no storage, no replication.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kafka_sink.h"

#define MAX_CONNS 64
#define MAX_TOPICS 64
#define NAME_MAX_LEN 128

struct sink_topic {
	char name[NAME_MAX_LEN];
	int64_t *end;
};

struct sink_conn {
	int fd;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_len, out_cap, out_off;
};

struct kafka_sink {
	int lfd;
	uint16_t port;
	uint32_t partitions;
	pthread_t thread;
	atomic_bool stop;
	struct sink_conn conns[MAX_CONNS];
	struct sink_topic topics[MAX_TOPICS];
	uint32_t ntopics;
	int64_t next_pid;
	_Atomic uint64_t produce_bytes;
	_Atomic uint64_t produce_requests;
};

/* ---- encoding ------------------------------------------------------------------------ */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
};

static void wput(struct wbuf *w, const void *d, size_t n)
{
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4096;
		uint8_t *p;

		while (cap < w->len + n)
			cap *= 2;
		p = realloc(w->p, cap);
		if (!p)
			abort(); /* a benchmark helper: out of memory ends it */
		w->p = p;
		w->cap = cap;
	}
	memcpy(w->p + w->len, d, n);
	w->len += n;
}

static void w8(struct wbuf *w, int8_t v)
{
	wput(w, &v, 1);
}

static void w16(struct wbuf *w, int16_t v)
{
	uint8_t b[2] = {(uint8_t)((uint16_t)v >> 8), (uint8_t)v};

	wput(w, b, 2);
}

static void w32(struct wbuf *w, int32_t v)
{
	uint8_t b[4] = {(uint8_t)((uint32_t)v >> 24), (uint8_t)((uint32_t)v >> 16),
			(uint8_t)((uint32_t)v >> 8), (uint8_t)v};

	wput(w, b, 4);
}

static void w64(struct wbuf *w, int64_t v)
{
	w32(w, (int32_t)((uint64_t)v >> 32));
	w32(w, (int32_t)(uint64_t)v);
}

static void wstr(struct wbuf *w, const char *s, int n)
{
	w16(w, (int16_t)n);
	if (n > 0)
		wput(w, s, (size_t)n);
}

/* ---- decoding ------------------------------------------------------------------------ */

struct rbuf {
	const uint8_t *p, *end;
	bool err;
};

static const uint8_t *rtake(struct rbuf *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->err || (size_t)(r->end - r->p) < n) {
		r->err = true;
		return NULL;
	}
	r->p += n;
	return p;
}

static int16_t r16(struct rbuf *r)
{
	const uint8_t *p = rtake(r, 2);

	return p ? (int16_t)((p[0] << 8) | p[1]) : 0;
}

static int32_t r32(struct rbuf *r)
{
	const uint8_t *p = rtake(r, 4);

	return p ? (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
			     ((uint32_t)p[2] << 8) | p[3])
		 : 0;
}

static const char *rstr(struct rbuf *r, int *n)
{
	int16_t len = r16(r);

	*n = len < 0 ? 0 : len;
	return len <= 0 ? "" : (const char *)rtake(r, (size_t)len);
}

static struct sink_topic *topic(struct kafka_sink *s, const char *name, int n)
{
	for (uint32_t i = 0; i < s->ntopics; i++)
		if ((int)strlen(s->topics[i].name) == n &&
		    memcmp(s->topics[i].name, name, (size_t)n) == 0)
			return &s->topics[i];
	if (s->ntopics == MAX_TOPICS || n >= NAME_MAX_LEN)
		return NULL;
	struct sink_topic *t = &s->topics[s->ntopics];

	t->end = calloc(s->partitions, sizeof(*t->end));
	if (!t->end)
		return NULL;
	memcpy(t->name, name, (size_t)n);
	t->name[n] = '\0';
	s->ntopics++;
	return t;
}

/* ---- handlers ------------------------------------------------------------------------ */

static void api_versions(struct kafka_sink *s, int16_t ver, struct wbuf *w)
{
	static const int16_t apis[][3] = {{0, 3, 7},  {1, 4, 4},  {2, 1, 1}, {3, 1, 4},
					  {10, 1, 1}, {18, 0, 2}, {22, 0, 1}};

	(void)s;
	if (ver > 2) {
		/* A version we do not speak: answer in v0 with our range, as Kafka does. */
		w16(w, 35);
		w32(w, 1);
		w16(w, 18);
		w16(w, 0);
		w16(w, 2);
		return;
	}
	w16(w, 0);
	w32(w, (int32_t)(sizeof(apis) / sizeof(apis[0])));
	for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
		w16(w, apis[i][0]);
		w16(w, apis[i][1]);
		w16(w, apis[i][2]);
	}
	if (ver >= 1)
		w32(w, 0);
}

static void metadata(struct kafka_sink *s, int16_t ver, struct rbuf *r, struct wbuf *w)
{
	int32_t n = r32(r);
	char names[MAX_TOPICS][NAME_MAX_LEN];
	int lens[MAX_TOPICS], nt = 0;

	for (int32_t i = 0; i < n && !r->err && nt < MAX_TOPICS; i++) {
		int len;
		const char *name = rstr(r, &len);

		if (name && len < NAME_MAX_LEN) {
			memcpy(names[nt], name, (size_t)len);
			lens[nt++] = len;
		}
	}
	for (uint32_t i = 0; n < 0 && i < s->ntopics && nt < MAX_TOPICS; i++, nt++) {
		/* null: every topic */
		lens[nt] = (int)strlen(s->topics[i].name);
		memcpy(names[nt], s->topics[i].name, (size_t)lens[nt]);
	}
	if (ver >= 3)
		w32(w, 0);
	w32(w, 1);
	w32(w, 0);
	wstr(w, "127.0.0.1", 9);
	w32(w, s->port);
	wstr(w, NULL, -1); /* rack */
	if (ver >= 2)
		wstr(w, NULL, -1); /* cluster id */
	w32(w, 0); /* controller */
	w32(w, nt);
	for (int i = 0; i < nt; i++) {
		topic(s, names[i], lens[i]);
		w16(w, 0);
		wstr(w, names[i], lens[i]);
		w8(w, 0); /* is_internal */
		w32(w, (int32_t)s->partitions);
		for (uint32_t p = 0; p < s->partitions; p++) {
			w16(w, 0);
			w32(w, (int32_t)p);
			w32(w, 0); /* leader */
			w32(w, 1);
			w32(w, 0); /* replicas */
			w32(w, 1);
			w32(w, 0); /* isr */
		}
	}
}

static void produce(struct kafka_sink *s, int16_t ver, struct rbuf *r, struct wbuf *w, size_t frame)
{
	int len, nt;

	(void)rstr(r, &len); /* transactional id */
	(void)r16(r); /* acks */
	(void)r32(r); /* timeout */
	nt = r32(r);
	w32(w, nt);
	for (int t = 0; t < nt && !r->err; t++) {
		const char *name = rstr(r, &len);
		struct sink_topic *tp = name ? topic(s, name, len) : NULL;
		int32_t np = r32(r);

		wstr(w, name ? name : "", len);
		w32(w, np);
		for (int32_t i = 0; i < np && !r->err; i++) {
			int32_t part = r32(r), blen = r32(r);
			const uint8_t *b = blen > 0 ? rtake(r, (size_t)blen) : NULL;
			int64_t base = -1;
			int16_t err = 3; /* UNKNOWN_TOPIC_OR_PARTITION */

			if (tp && b && part >= 0 && (uint32_t)part < s->partitions && blen >= 61) {
				/* every batch in the records: record counts at offset 57 */
				base = tp->end[part];
				for (int32_t pos = 0; pos + 61 <= blen;) {
					const uint8_t *h = b + pos;
					int32_t bl = (int32_t)(((uint32_t)h[8] << 24) |
							       (h[9] << 16) | (h[10] << 8) | h[11]);

					tp->end[part] +=
						(int32_t)(((uint32_t)h[57] << 24) | (h[58] << 16) |
							  (h[59] << 8) | h[60]);
					if (bl <= 0)
						break;
					pos += 12 + bl;
				}
				err = 0;
			}
			w32(w, part);
			w16(w, err);
			w64(w, base);
			w64(w, -1); /* log append time */
			if (ver >= 5)
				w64(w, 0); /* log start */
		}
	}
	w32(w, 0); /* throttle */
	atomic_fetch_add_explicit(&s->produce_bytes, frame, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->produce_requests, 1, memory_order_relaxed);
}

/* ListOffsets v1 and Fetch v4 share the shape: topics, partitions. */
static void offsets_or_fetch(struct kafka_sink *s, int16_t api, struct rbuf *r, struct wbuf *w)
{
	int len, nt;

	(void)r32(r); /* replica */
	if (api == 1) {
		(void)r32(r); /* max wait */
		(void)r32(r); /* min bytes */
		(void)r32(r); /* max bytes */
		(void)rtake(r, 1); /* isolation */
		w32(w, 0); /* throttle */
	}
	nt = r32(r);
	w32(w, nt);
	for (int t = 0; t < nt && !r->err; t++) {
		const char *name = rstr(r, &len);
		struct sink_topic *tp = name ? topic(s, name, len) : NULL;
		int32_t np = r32(r);

		wstr(w, name ? name : "", len);
		w32(w, np);
		for (int32_t i = 0; i < np && !r->err; i++) {
			int32_t part = r32(r);
			int64_t end = tp && part >= 0 && (uint32_t)part < s->partitions
				? tp->end[part]
				: 0;

			(void)rtake(r, api == 1 ? 12 : 8);
			w32(w, part);
			w16(w, 0);
			if (api == 1) {
				w64(w, end); /* high watermark */
				w64(w, end); /* last stable offset */
				w32(w, -1); /* aborted: null */
				w32(w, -1); /* records: null */
			} else {
				w64(w, -1); /* timestamp */
				w64(w, end);
			}
		}
	}
}

static void handle(struct kafka_sink *s, const uint8_t *frame, size_t len, struct wbuf *w)
{
	struct rbuf r = {frame, frame + len, false};
	int16_t api = r16(&r), ver = r16(&r);
	int32_t corr = r32(&r);
	int cl;
	size_t at = w->len;

	(void)rstr(&r, &cl);
	w32(w, 0); /* size, patched below */
	w32(w, corr);
	switch (api) {
	case 18:
		api_versions(s, ver, w);
		break;
	case 3:
		metadata(s, ver, &r, w);
		break;
	case 10: /* FindCoordinator v1: we are it */
		w32(w, 0);
		w16(w, 0);
		wstr(w, NULL, -1);
		w32(w, 0);
		wstr(w, "127.0.0.1", 9);
		w32(w, s->port);
		break;
	case 22: /* InitProducerId v0/v1 */
		w32(w, 0);
		w16(w, 0);
		w64(w, ++s->next_pid);
		w16(w, 0);
		break;
	case 0:
		produce(s, ver, &r, w, len);
		break;
	case 1:
	case 2:
		offsets_or_fetch(s, api, &r, w);
		break;
	default:
		w16(w, 35);
		break;
	}
	uint32_t size = (uint32_t)(w->len - at - 4);

	w->p[at] = (uint8_t)(size >> 24);
	w->p[at + 1] = (uint8_t)(size >> 16);
	w->p[at + 2] = (uint8_t)(size >> 8);
	w->p[at + 3] = (uint8_t)size;
}

static void conn_close(struct sink_conn *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void conn_read(struct kafka_sink *s, struct sink_conn *c)
{
	struct wbuf w = {c->out, c->out_len, c->out_cap};
	size_t pos = 0;
	ssize_t n;

	if (c->in_cap - c->in_len < (64u << 10)) {
		size_t cap = c->in_cap ? c->in_cap * 2 : 1u << 20;
		uint8_t *p = realloc(c->in, cap);

		if (!p) {
			conn_close(c);
			return;
		}
		c->in = p;
		c->in_cap = cap;
	}
	n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	while (c->in_len - pos >= 4) {
		uint32_t flen = ((uint32_t)c->in[pos] << 24) | (c->in[pos + 1] << 16) |
			(c->in[pos + 2] << 8) | c->in[pos + 3];

		if (c->in_len - pos < 4 + (size_t)flen) {
			if (4 + (size_t)flen > c->in_cap) {
				size_t cap = c->in_cap;
				uint8_t *p;

				while (cap < 4 + (size_t)flen + (64u << 10))
					cap *= 2;
				p = realloc(c->in, cap);
				if (!p) {
					conn_close(c);
					return;
				}
				c->in = p;
				c->in_cap = cap;
			}
			break;
		}
		handle(s, c->in + pos + 4, flen, &w);
		pos += 4 + (size_t)flen;
	}
	if (pos) {
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
	}
	c->out = w.p;
	c->out_len = w.len;
	c->out_cap = w.cap;
}

static void conn_write(struct sink_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
}

static void *sink_main(void *arg)
{
	struct kafka_sink *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd[MAX_CONNS + 1];
		int map[MAX_CONNS + 1], n = 0;

		pfd[n] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
		map[n++] = -1;
		for (int i = 0; i < MAX_CONNS; i++) {
			if (s->conns[i].fd < 0)
				continue;
			pfd[n] = (struct pollfd){
				.fd = s->conns[i].fd,
				.events = (short)(POLLIN | (s->conns[i].out_len ? POLLOUT : 0))};
			map[n++] = i;
		}
		if (poll(pfd, (nfds_t)n, 50) <= 0)
			continue;
		for (int k = 0; k < n; k++) {
			if (!pfd[k].revents)
				continue;
			if (map[k] < 0) {
				int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK);
				int one = 1;

				for (int i = 0; fd >= 0 && i < MAX_CONNS; i++) {
					if (s->conns[i].fd < 0) {
						setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
							   sizeof(one));
						s->conns[i].fd = fd;
						fd = -1;
					}
				}
				if (fd >= 0)
					close(fd);
				continue;
			}
			struct sink_conn *c = &s->conns[map[k]];

			if (pfd[k].revents & (POLLIN | POLLERR | POLLHUP))
				conn_read(s, c);
			if (c->fd >= 0 && c->out_len)
				conn_write(c);
		}
	}
	return NULL;
}

int kafka_sink_start(uint32_t partitions, struct kafka_sink **out)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	struct kafka_sink *s = calloc(1, sizeof(*s));
	int one = 1;

	if (!s)
		return -ENOMEM;
	s->partitions = partitions;
	for (int i = 0; i < MAX_CONNS; i++)
		s->conns[i].fd = -1;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s->lfd < 0 || setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(s->lfd, 16) ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &alen) ||
	    pthread_create(&s->thread, NULL, sink_main, s)) {
		if (s->lfd >= 0)
			close(s->lfd);
		free(s);
		return -errno;
	}
	s->port = ntohs(a.sin_port);
	*out = s;
	return 0;
}

uint16_t kafka_sink_port(const struct kafka_sink *s)
{
	return s->port;
}

uint64_t kafka_sink_produce_bytes(const struct kafka_sink *s)
{
	return atomic_load_explicit(&s->produce_bytes, memory_order_relaxed);
}

void kafka_sink_stop(struct kafka_sink *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	for (int i = 0; i < MAX_CONNS; i++)
		if (s->conns[i].fd >= 0)
			conn_close(&s->conns[i]);
	for (uint32_t i = 0; i < s->ntopics; i++)
		free(s->topics[i].end);
	close(s->lfd);
	free(s);
}
