/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sd_notify protocol and a progress-checking watchdog (see notify.h).
 *
 * Threading contract: sluice_notify() opens, sends on and closes its own socket, so any
 * thread may call it. A watchdog thread owns its sample buffers; stop() sets w->quit under
 * w->lock and signals w->cond, and joins.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"
#include "sluice_time.h"

#define MAX_WATCHED 256

int sluice_notify(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t salen;
	char msg[2048];
	size_t plen;
	va_list ap;
	int fd, n, rc = 0;

	if (!path || !path[0])
		return -ENOENT;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, plen);
	/* '@' names a socket in the abstract namespace. */
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) != n)
		rc = -errno;
	close(fd);
	return rc;
}

uint64_t sluice_notify_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (!usec || !usec[0])
		return 0;
	if (pid && pid[0] && strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	errno = 0;
	v = strtoull(usec, &end, 10);
	return errno || *end ? 0 : (uint64_t)v;
}

int sluice_watchdog_stalled(const uint64_t *prev, const uint64_t *cur, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (cur[i] == prev[i])
			return (int)i;
	return -1;
}

struct sluice_watchdog {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool quit;
	uint64_t period_us;
	sluice_watchdog_sample_fn sample;
	sluice_watchdog_stall_fn stall;
	void *arg;
	uint64_t prev[MAX_WATCHED], cur[MAX_WATCHED];
	uint64_t moved_ms[MAX_WATCHED]; /* when each counter last advanced */
};

static void *watchdog_main(void *arg)
{
	struct sluice_watchdog *w = arg;
	unsigned n = w->sample(w->arg, w->prev, MAX_WATCHED);
	uint64_t start = sluice_mono_ms();

	for (unsigned i = 0; i < n; i++)
		w->moved_ms[i] = start;
	/* The first ping: everything was just started. */
	sluice_notify("WATCHDOG=1");
	pthread_mutex_lock(&w->lock);
	while (!w->quit) {
		struct timespec until;
		unsigned m;
		int s;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)(w->period_us / 1000000);
		until.tv_nsec += (long)(w->period_us % 1000000) * 1000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (!w->quit && pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
			;
		if (w->quit)
			break;
		pthread_mutex_unlock(&w->lock);
		m = w->sample(w->arg, w->cur, MAX_WATCHED);
		if (m != n) {
			/* The set of watched threads changed: start over from this sample. */
			n = m;
			for (unsigned i = 0; i < n; i++)
				w->moved_ms[i] = sluice_mono_ms();
			s = -1;
		} else {
			uint64_t now = sluice_mono_ms();
			s = sluice_watchdog_stalled(w->prev, w->cur, n);
			for (unsigned i = 0; i < n; i++)
				if (w->cur[i] != w->prev[i])
					w->moved_ms[i] = now;
		}
		if (s < 0)
			sluice_notify("WATCHDOG=1");
		else if (w->stall)
			w->stall(w->arg, (unsigned)s, sluice_mono_ms() - w->moved_ms[s]);
		memcpy(w->prev, w->cur, n * sizeof(w->cur[0]));
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int sluice_watchdog_start(uint64_t period_us, sluice_watchdog_sample_fn sample,
			  sluice_watchdog_stall_fn stall, void *arg, struct sluice_watchdog **out)
{
	struct sluice_watchdog *w;
	pthread_condattr_t ca;
	int rc;

	if (!period_us || !sample)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->period_us = period_us;
	w->sample = sample;
	w->stall = stall;
	w->arg = arg;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&w->thread, NULL, watchdog_main, w);
	if (rc) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return -rc;
	}
	pthread_setname_np(w->thread, "sluice-watchdog");
	*out = w;
	return 0;
}

void sluice_watchdog_stop(struct sluice_watchdog *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->quit = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
