/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * udp_sink: the well-written kernel-path peer for the benchmark. recvmmsg() batches of
 * datagrams, write() each as a line to an append-only file, and group-commit with fdatasync()
 * every --flush-ms or --flush-bytes, like sluice's writers do. It answers "what would a careful
 * engineer get from the kernel UDP stack on this machine" so that sluice's figures have a fair
 * peer next to rsyslog.
 *
 * Durable latency: when a datagram starts "<producer>:<seq>:<send ns>:" (sluice-gen --stamp,
 * CLOCK_REALTIME on the same host), its latency is the time from that send to the completion of
 * the fdatasync that made it durable. The summary gives p50/p99/p99.9 and a CDF.
 *
 * Threading contract: one thread; a signal handler only sets `quit`.
 *
 * usage: udp_sink --bind ADDR:PORT --out FILE [--flush-ms N] [--flush-bytes N]
 *                 [--duration S] [--idle-exit-ms N] [--rcvbuf BYTES] [--summary FILE]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "sluice_time.h"

#define BATCH 64
#define DGRAM_MAX 65536
#define MAX_SYNC_SAMPLES 200000
#define MAX_LAT_SAMPLES (4u << 20)

static atomic_bool quit;

static void on_signal(int sig)
{
	(void)sig;
	/* partner: atomic_load in the receive loop */
	atomic_store_explicit(&quit, true, memory_order_relaxed);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The send stamp of a "<producer>:<seq>:<ns>:" datagram, or 0. */
static uint64_t stamp_of(const uint8_t *p, size_t len)
{
	uint64_t v = 0;
	size_t i = 0;
	int field = 0;

	for (; i < len && field < 2; i++) {
		if (p[i] == ':')
			field++;
		else if (p[i] < '0' || p[i] > '9')
			return 0;
	}
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	return i < len && p[i] == ':' ? v : 0;
}

/* Stamps of datagrams written since the last fdatasync. */
static uint64_t *pending;
static size_t npending, cap_pending;
static uint64_t *lat_ns;
static size_t nlat;

static void pending_add(uint64_t stamp)
{
	if (npending == cap_pending) {
		size_t cap = cap_pending ? cap_pending * 2 : 65536;
		uint64_t *p = realloc(pending, cap * sizeof(*p));
		if (p == NULL)
			return; /* latency is a report, not the data: skip the sample */
		pending = p;
		cap_pending = cap;
	}
	pending[npending++] = stamp;
}

static void pending_durable(void)
{
	uint64_t now = real_ns();

	for (size_t i = 0; i < npending && nlat < MAX_LAT_SAMPLES; i++)
		lat_ns[nlat++] = now > pending[i] ? now - pending[i] : 0;
	npending = 0;
}

static int parse_bind(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port == 0 || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	char *h = host;
	if (h[0] == '[') {
		h++;
		h[strlen(h) - 1] = '\0';
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*sl = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*a6);
		return 0;
	}
	return -EINVAL;
}

static int num_arg(const char *opt, const char *v, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(v, &end);
	if (errno || end == v || *end || *out < 0) {
		fprintf(stderr, "udp_sink: %s: '%s' is not a non-negative number\n", opt, v);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *bind_s = NULL, *out_path = NULL, *summary = NULL;
	double flush_ms = 10, flush_bytes = 4 << 20, duration = 0, idle_ms = 0, rcvbuf = 32 << 20;
	struct sockaddr_storage ss;
	socklen_t sl;
	static uint8_t bufs[BATCH][DGRAM_MAX];
	static struct iovec riov[BATCH], wiov[BATCH * 2];
	static struct mmsghdr msgs[BATCH];
	static uint64_t sync_ns[MAX_SYNC_SAMPLES];
	uint64_t dgrams = 0, bytes = 0, syncs = 0, nsync = 0, unsynced = 0, write_errors = 0;
	int fd = -1, out = -1, rc = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0) {
			puts("usage: udp_sink --bind ADDR:PORT --out FILE [--flush-ms N] "
			     "[--flush-bytes N] [--duration S] [--idle-exit-ms N] [--rcvbuf BYTES] "
			     "[--summary FILE]");
			return 0;
		}
		if (v == NULL) {
			fprintf(stderr, "udp_sink: %s: needs a value\n", a);
			return 2;
		}
		i++;
		if (strcmp(a, "--bind") == 0)
			bind_s = v;
		else if (strcmp(a, "--out") == 0)
			out_path = v;
		else if (strcmp(a, "--summary") == 0)
			summary = v;
		else {
			double *dst = strcmp(a, "--flush-ms") == 0 ? &flush_ms
				: strcmp(a, "--flush-bytes") == 0  ? &flush_bytes
				: strcmp(a, "--duration") == 0     ? &duration
				: strcmp(a, "--idle-exit-ms") == 0 ? &idle_ms
				: strcmp(a, "--rcvbuf") == 0       ? &rcvbuf
								   : NULL;
			if (dst == NULL) {
				fprintf(stderr, "udp_sink: %s: unknown option\n", a);
				return 2;
			}
			if (num_arg(a, v, dst) != 0)
				return 2;
		}
	}
	if (bind_s == NULL || out_path == NULL || parse_bind(bind_s, &ss, &sl) != 0) {
		fprintf(stderr, "udp_sink: --bind ADDR:PORT and --out FILE are required\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("udp_sink: socket");
		goto out;
	}
	int rb = (int)rcvbuf;
	/* FORCE (root) goes past net.core.rmem_max: a fair peer gets a big buffer. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof(rb)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
		fprintf(stderr, "udp_sink: bind %s: %s\n", bind_s, strerror(errno));
		goto out;
	}
	out = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (out < 0) {
		fprintf(stderr, "udp_sink: %s: %s\n", out_path, strerror(errno));
		goto out;
	}
	lat_ns = malloc(MAX_LAT_SAMPLES * sizeof(*lat_ns));
	if (lat_ns == NULL)
		goto out;
	for (int i = 0; i < BATCH; i++) {
		riov[i].iov_base = bufs[i];
		riov[i].iov_len = DGRAM_MAX;
		msgs[i].msg_hdr.msg_iov = &riov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	fprintf(stderr, "udp_sink: listening on %s\n", bind_s);
	uint64_t start = sluice_mono_ns(), first = 0, last_rx = start, last_sync = start;
	uint64_t end = duration > 0 ? start + (uint64_t)(duration * 1e9) : 0;
	uint64_t flush_ns = (uint64_t)(flush_ms * 1e6);
	static const char nl = '\n';
	while (!atomic_load_explicit(&quit, memory_order_relaxed)) {
		uint64_t t = sluice_mono_ns();
		if (end && t >= end)
			break;
		if (idle_ms > 0 && first && t - last_rx > (uint64_t)(idle_ms * 1e6))
			break;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, 5);
		int n = 0;
		if (pr > 0) {
			n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				perror("udp_sink: recvmmsg");
				goto out;
			}
		}
		if (n > 0) {
			t = sluice_mono_ns();
			if (!first)
				first = t;
			last_rx = t;
			int w = 0;
			size_t wb = 0;
			for (int i = 0; i < n; i++) {
				wiov[w].iov_base = bufs[i];
				wiov[w++].iov_len = msgs[i].msg_len;
				wiov[w].iov_base = (void *)&nl;
				wiov[w++].iov_len = 1;
				wb += msgs[i].msg_len + 1;
				bytes += msgs[i].msg_len;
				uint64_t st = stamp_of(bufs[i], msgs[i].msg_len);
				if (st)
					pending_add(st);
			}
			dgrams += (uint64_t)n;
			ssize_t k = writev(out, wiov, w);
			if (k != (ssize_t)wb)
				write_errors++;
			unsynced += wb;
		}
		t = sluice_mono_ns();
		if (unsynced && (unsynced >= (uint64_t)flush_bytes || t - last_sync >= flush_ns)) {
			uint64_t s0 = sluice_mono_ns();
			if (fdatasync(out) != 0) {
				/* the PostgreSQL lesson: never retry a failed fsync and call it good */
				perror("udp_sink: fdatasync");
				goto out;
			}
			uint64_t s1 = sluice_mono_ns();
			pending_durable();
			if (nsync < MAX_SYNC_SAMPLES)
				sync_ns[nsync++] = s1 - s0;
			syncs++;
			unsynced = 0;
			last_sync = s1;
		}
	}
	if (unsynced) {
		if (fdatasync(out) != 0) {
			perror("udp_sink: fdatasync");
			goto out;
		}
		syncs++;
		pending_durable();
	}
	uint64_t stop = last_rx > first ? last_rx : sluice_mono_ns();
	double secs = first ? (double)(stop - first) / 1e9 : 0;
	qsort(sync_ns, nsync, sizeof(sync_ns[0]), cmp_u64);
	double p50 = nsync ? (double)sync_ns[nsync / 2] / 1e3 : 0;
	double p99 = nsync ? (double)sync_ns[(nsync * 99) / 100] / 1e3 : 0;
	FILE *sf = summary ? fopen(summary, "w") : stdout;
	if (sf == NULL) {
		fprintf(stderr, "udp_sink: --summary %s: %s\n", summary, strerror(errno));
		goto out;
	}
	qsort(lat_ns, nlat, sizeof(lat_ns[0]), cmp_u64);
	fprintf(sf, "{\"durable_latency_samples\": %zu", nlat);
	if (nlat) {
		fprintf(sf,
			", \"durable_latency_p50_us\": %.1f, \"durable_latency_p99_us\": %.1f, "
			"\"durable_latency_p999_us\": %.1f, \"durable_latency_cdf\": [",
			(double)lat_ns[nlat / 2] / 1e3, (double)lat_ns[nlat * 99 / 100] / 1e3,
			(double)lat_ns[nlat * 999 / 1000] / 1e3);
		/* 200 points: enough for a plot, small enough for a summary */
		for (int q = 0; q <= 200; q++) {
			size_t k = (size_t)((double)(nlat - 1) * q / 200.0);
			fprintf(sf, "%s[%.1f, %.4f]", q ? ", " : "", (double)lat_ns[k] / 1e3,
				(double)(k + 1) / (double)nlat);
		}
		fputc(']', sf);
	}
	fprintf(sf,
		", \"tool\": \"udp_sink\", \"datagrams\": %" PRIu64 ", \"bytes\": %" PRIu64
		", \"seconds\": %.6f, \"pps\": %.1f, \"fdatasyncs\": %" PRIu64
		", \"fdatasync_p50_us\": %.1f, \"fdatasync_p99_us\": %.1f, \"write_errors\": "
		"%" PRIu64 "}\n",
		dgrams, bytes, secs, secs > 0 ? (double)dgrams / secs : 0, syncs, p50, p99,
		write_errors);
	if (summary)
		fclose(sf);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (out >= 0)
		close(out);
	free(pending);
	free(lat_ns);
	return rc;
}
