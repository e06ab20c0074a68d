/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the control-socket server (control/ctl_server.c) against a scripted daemon:
 * framing, pipelining, ids, refusals, the connection limit, stale and live sockets, and stop
 * with clients still connected. Runs under ASan/UBSan in CI.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl.h"
#include "ctl_proto.h"

struct sluice_daemon {
	int requests;
	bool unhealthy;
};

void sluice_daemon_collect(struct sluice_daemon *d, const struct sluice_metric_sink *s)
{
	struct sluice_label l = {"worker", "0"};
	double ub[1] = {0.5};
	uint64_t cum[1] = {1};

	(void)d;
	s->family(s->ctx, "sluice_test_total", SLUICE_METRIC_COUNTER, "test");
	s->sample(s->ctx, "sluice_test_total", &l, 1, 42);
	s->family(s->ctx, "sluice_test_seconds", SLUICE_METRIC_HISTOGRAM, "test");
	s->histogram(s->ctx, "sluice_test_seconds", NULL, 0, ub, cum, 1, 0.25, 2);
}

int sluice_daemon_health(struct sluice_daemon *d, char *reason, size_t len)
{
	if (!d->unhealthy)
		return 0;
	snprintf(reason, len, "first reason\nsecond reason\n");
	return 2;
}

/* This double answers no daemon commands of its own: none is admin. */
bool sluice_daemon_request_info(size_t i, const char **cmd, bool *admin)
{
	(void)i;
	(void)cmd;
	(void)admin;
	return false;
}

json_t *sluice_daemon_request(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	d->requests++;
	if (strcmp(cmd, "echo") == 0)
		return json_pack("{sbsO?}", "ok", 1, "args", args);
	if (strcmp(cmd, "noreply") == 0)
		return NULL; /* a buggy handler: the server must still answer */
	if (strcmp(cmd, "nook") == 0)
		return json_pack("{si}", "x", 1);
	return sluice_ctl_proto_error("unknown command \"%s\"", cmd);
}

struct fixture {
	char dir[64];
	char path[128];
	struct sluice_daemon d;
	struct sluice_ctl_server *srv;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sluice_ctl_server_opts o = {.gid = (gid_t)-1, .max_clients = 4};

	snprintf(f->dir, sizeof(f->dir), "/tmp/ctl-unit.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/ctl.sock", f->dir);
	o.socket_path = f->path;
	o.daemon = &f->d;
	o.max_line_bytes = 1024;
	if (sluice_ctl_server_start(&o, &f->srv) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	sluice_ctl_server_stop(f->srv);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int conn(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* One reply line as a JSON object (checked for v == 1 and a boolean ok). */
static json_t *recv_reply(int fd)
{
	static char buf[1 << 20];
	size_t n = 0;
	char err[128];
	json_t *r;

	for (;;) {
		ssize_t got = recv(fd, buf + n, 1, 0);

		assert_true(got == 1);
		if (buf[n] == '\n')
			break;
		n++;
		assert_true(n < sizeof(buf));
	}
	r = sluice_ctl_proto_parse_reply(buf, n, err, sizeof(err));
	if (r == NULL)
		fail_msg("bad reply: %s: %.*s", err, (int)n, buf);
	return r;
}

static void expect_error(int fd, const char *part)
{
	json_t *r = recv_reply(fd);
	const char *e = json_string_value(json_object_get(r, "error"));

	assert_true(json_is_false(json_object_get(r, "ok")));
	if (e == NULL || strstr(e, part) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", e ? e : "(none)", part);
	json_decref(r);
}

static void test_requests(void **state)
{
	struct fixture *f = *state;
	struct sluice_ctl_server_stats st;
	struct stat sb;
	int fd = conn(f->path);
	json_t *r;

	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0660);

	/* Pipelined, split across writes, with ids. */
	send_str(fd, "{\"v\":1,\"cmd\":\"echo\",\"args\":{\"a\":1},\"id\":1}\n{\"v\":1,");
	send_str(fd, "\"cmd\":\"hello\",\"id\":\"b\"}\n");
	r = recv_reply(fd);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "args"), "a")), 1);
	json_decref(r);
	r = recv_reply(fd);
	assert_string_equal(json_string_value(json_object_get(r, "id")), "b");
	assert_int_equal(json_integer_value(json_object_get(r, "protocol")), 1);
	json_decref(r);

	/* Built-in health and metrics. */
	f->d.unhealthy = true;
	send_str(fd, "{\"v\":1,\"cmd\":\"health\"}\n");
	r = recv_reply(fd);
	assert_true(json_is_false(json_object_get(r, "healthy")));
	assert_int_equal(json_array_size(json_object_get(r, "reasons")), 2);
	json_decref(r);
	send_str(fd, "{\"v\":1,\"cmd\":\"metrics\"}\n");
	r = recv_reply(fd);
	{
		json_t *fams = json_object_get(r, "families");
		json_t *h = json_array_get(json_object_get(json_array_get(fams, 1), "samples"), 0);

		assert_int_equal(json_array_size(fams), 2);
		assert_int_equal(json_integer_value(json_object_get(h, "count")), 2);
	}
	json_decref(r);

	/* Handler misbehaviour and errors. */
	send_str(fd, "{\"v\":1,\"cmd\":\"noreply\"}\n");
	expect_error(fd, "internal error");
	send_str(fd, "{\"v\":1,\"cmd\":\"nook\"}\n");
	expect_error(fd, "without \"ok\"");
	send_str(fd, "{\"v\":1,\"cmd\":\"zzz\"}\n");
	expect_error(fd, "unknown command");

	/* Garbage, then an oversized line (1 KiB limit here), then still usable. */
	send_str(fd, "\x01\x02garbage\n\n");
	expect_error(fd, "invalid JSON");
	expect_error(fd, "empty");
	{
		char big[3000];

		memset(big, 'x', sizeof(big));
		big[sizeof(big) - 1] = '\n';
		send_all(fd, big, sizeof(big));
	}
	expect_error(fd, "longer than 1024");
	send_str(fd, "{\"v\":1,\"cmd\":\"hello\"}\n");
	r = recv_reply(fd);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	close(fd);

	sluice_ctl_server_get_stats(f->srv, &st);
	assert_int_equal(st.requests, 8);
	assert_int_equal(st.bad_requests, 2);
	assert_int_equal(st.oversized, 1);
	assert_int_equal(st.error_replies, 6);
	assert_int_equal(f->d.requests, 4);
}

static void test_connection_limit(void **state)
{
	struct fixture *f = *state;
	struct sluice_ctl_server_stats st;
	int fds[4];
	int extra;
	json_t *r;

	for (int i = 0; i < 4; i++) {
		fds[i] = conn(f->path);
		send_str(fds[i], "{\"v\":1,\"cmd\":\"hello\"}\n");
		json_decref(recv_reply(fds[i]));
	}
	extra = conn(f->path);
	expect_error(extra, "busy: 4");
	close(extra);
	close(fds[0]);
	/* The server notices the close asynchronously: retry until the slot is free. */
	for (int tries = 0;; tries++) {
		static const char hello[] = "{\"v\":1,\"cmd\":\"hello\"}\n";

		extra = conn(f->path);
		/* While still full, the server answers "busy" unasked and closes: the send may
		 * then fail with EPIPE/ECONNRESET, and the reply read is that busy line. */
		if (send(extra, hello, strlen(hello), MSG_NOSIGNAL) == (ssize_t)strlen(hello)) {
			r = recv_reply(extra);
			if (json_is_true(json_object_get(r, "ok")))
				break;
			json_decref(r);
		}
		close(extra);
		assert_true(tries < 200);
		usleep(10000);
	}
	json_decref(r);
	close(extra);
	for (int i = 1; i < 4; i++)
		close(fds[i]);
	sluice_ctl_server_get_stats(f->srv, &st);
	assert_true(st.rejected_busy >= 1);
}

static void test_sockets(void **state)
{
	struct fixture *f = *state;
	struct sluice_ctl_server_opts o = {.gid = (gid_t)-1, .daemon = &f->d};
	struct sluice_ctl_server *srv2 = NULL;
	char path[256];
	int fd;

	/* A live socket is never stolen. */
	o.socket_path = f->path;
	assert_int_equal(sluice_ctl_server_start(&o, &srv2), -EADDRINUSE);
	assert_null(srv2);
	/* A stale socket (nobody listening) is replaced; a regular file is not. */
	snprintf(path, sizeof(path), "%s/stale.sock", f->dir);
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		assert_true(strlen(path) < sizeof(sa.sun_path));
		memcpy(sa.sun_path, path, strlen(path) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	o.socket_path = path;
	o.mode = 0600;
	assert_int_equal(sluice_ctl_server_start(&o, &srv2), 0);
	/* Stop with a client connected and a request half sent. */
	fd = conn(path);
	send_str(fd, "{\"v\":1,");
	sluice_ctl_server_stop(srv2);
	assert_int_equal(access(path, F_OK), -1);
	close(fd);

	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(sluice_ctl_server_start(&o, &srv2), -EEXIST);
	unlink(path);
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	o.socket_path = path;
	assert_int_equal(sluice_ctl_server_start(&o, &srv2), -ENAMETOOLONG);
	o.socket_path = NULL;
	assert_int_equal(sluice_ctl_server_start(&o, &srv2), -EINVAL);
	sluice_ctl_server_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sockets, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
