/* SPDX-License-Identifier: BSD-3-Clause */
/* control/notify.c: the sd_notify datagrams as a supervisor's socket receives them (path and
 * abstract names), WATCHDOG_USEC/WATCHDOG_PID, and a watchdog that pings only while every
 * watched counter moves. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "notify.h"

/* Bind a datagram socket like a supervisor's; @p name starting with '@' is abstract. */
static int listen_at(const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	else
		unlink(name);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)),
			 0);
	setenv("NOTIFY_SOCKET", name, 1);
	return fd;
}

/* The next datagram within @p ms, NUL-terminated in @p buf; false on timeout. */
static bool recv_msg(int fd, char *buf, size_t len, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return false;
	n = recv(fd, buf, len - 1, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
	return true;
}

static void test_notify_path_and_abstract(void **state)
{
	char path[64], buf[256];
	int fd;

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sluice_notify("READY=1"), -ENOENT);

	snprintf(path, sizeof(path), "/tmp/sluice-test-notify-%d.sock", getpid());
	fd = listen_at(path);
	assert_int_equal(sluice_notify("READY=1\nSTATUS=%d ports up", 2), 0);
	assert_true(recv_msg(fd, buf, sizeof(buf), 1000));
	assert_string_equal(buf, "READY=1\nSTATUS=2 ports up");
	close(fd);
	unlink(path);
	/* Nobody listening any more: an error, not a crash or a hang. */
	assert_true(sluice_notify("WATCHDOG=1") < 0);

	snprintf(path, sizeof(path), "@sluice-test-notify-%d", getpid());
	fd = listen_at(path);
	assert_int_equal(sluice_notify("STOPPING=1"), 0);
	assert_true(recv_msg(fd, buf, sizeof(buf), 1000));
	assert_string_equal(buf, "STOPPING=1");
	close(fd);

	setenv("NOTIFY_SOCKET", "relative.sock", 1);
	assert_int_equal(sluice_notify("READY=1"), -EINVAL);
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_usec(void **state)
{
	char pid[32];

	(void)state;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	assert_int_equal(sluice_notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "2000000", 1);
	assert_int_equal(sluice_notify_watchdog_usec(), 2000000);
	/* Meant for another process (inherited by a child): not ours. */
	setenv("WATCHDOG_PID", "1", 1);
	assert_int_equal(sluice_notify_watchdog_usec(), 0);
	snprintf(pid, sizeof(pid), "%d", getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(sluice_notify_watchdog_usec(), 2000000);
	setenv("WATCHDOG_USEC", "2s", 1);
	assert_int_equal(sluice_notify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

static void test_stalled(void **state)
{
	uint64_t a[3] = {1, 5, 9}, b[3] = {2, 6, 10};

	(void)state;
	assert_int_equal(sluice_watchdog_stalled(a, b, 3), -1);
	b[1] = 5;
	assert_int_equal(sluice_watchdog_stalled(a, b, 3), 1);
	assert_int_equal(sluice_watchdog_stalled(a, a, 0), -1);
}

/* Three watched "threads"; counter 2 can be frozen. */
struct fake {
	atomic_ullong tick;
	atomic_bool freeze;
	atomic_uint stalls;
	atomic_uint stalled_index;
};

static unsigned fake_sample(void *arg, uint64_t *c, unsigned max)
{
	struct fake *f = arg;
	uint64_t t = atomic_fetch_add(&f->tick, 1) + 1;

	assert_true(max >= 3);
	c[0] = t;
	c[1] = t * 2;
	c[2] = atomic_load(&f->freeze) ? 7 : t;
	return 3;
}

static void fake_stall(void *arg, unsigned index, uint64_t ms)
{
	struct fake *f = arg;

	(void)ms;
	atomic_store(&f->stalled_index, index);
	atomic_fetch_add(&f->stalls, 1);
}

/* WATCHDOG=1 datagrams received within @p ms. */
static unsigned count_pings(int fd, int ms)
{
	char buf[128];
	unsigned n = 0;

	int waited = 0;

	do {
		while (recv_msg(fd, buf, sizeof(buf), 0))
			if (strcmp(buf, "WATCHDOG=1") == 0)
				n++;
		if (waited < ms)
			usleep(10000);
		waited += 10;
	} while (waited <= ms);
	return n;
}

/* Did @p want pings arrive within @p ms? */
static bool pings_within(int fd, unsigned want, int ms)
{
	unsigned n = 0;

	for (int waited = 0; waited < ms && n < want; waited += 10)
		n += count_pings(fd, 10);
	return n >= want;
}

static void test_watchdog(void **state)
{
	struct fake f = {0};
	struct sluice_watchdog *w = NULL;
	char path[64];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/sluice-test-watchdog-%d.sock", getpid());
	fd = listen_at(path);
	assert_int_equal(sluice_watchdog_start(20000, fake_sample, fake_stall, &f, &w), 0);
	/* Everything moves: a ping at start and about one per 20 ms (bounded wait: the
	 * machine may be busy). */
	assert_true(pings_within(fd, 3, 5000));
	assert_int_equal(atomic_load(&f.stalls), 0);
	/* One thread stops moving: once the watchdog has seen it, the pings stop and the
	 * stall is named. */
	atomic_store(&f.freeze, true);
	for (int i = 0; i < 500 && atomic_load(&f.stalls) == 0; i++)
		usleep(10000);
	assert_true(atomic_load(&f.stalls) >= 1);
	count_pings(fd, 0); /* what was sent before it noticed */
	assert_int_equal(count_pings(fd, 300), 0);
	assert_true(atomic_load(&f.stalls) >= 2);
	assert_int_equal(atomic_load(&f.stalled_index), 2);
	/* It moves again: so do the pings. */
	atomic_store(&f.freeze, false);
	assert_true(pings_within(fd, 2, 5000));
	sluice_watchdog_stop(w);
	/* Stopped: nothing more. */
	assert_int_equal(count_pings(fd, 100), 0);
	sluice_watchdog_stop(NULL);
	close(fd);
	unlink(path);
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify_path_and_abstract),
		cmocka_unit_test(test_watchdog_usec),
		cmocka_unit_test(test_stalled),
		cmocka_unit_test(test_watchdog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
