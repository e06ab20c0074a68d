/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tools/sluicectl.c, its main() run in a child process against a scripted control socket
 * served by a thread of this test:
 * - usage errors exit 2 and send nothing;
 * - each command sends the documented request (docs/control-protocol.md);
 * - replies are printed as documented (config get/set, tables, --json unchanged);
 * - every exit code of docs/operations.md: 1 daemon error, 3 cannot connect, 4 permission
 *   denied, 5 protocol error or timeout, 6 unhealthy; --wait and $SLUICE_SOCKET.
 * One test per behaviour, so that new commands or tiers add tests without touching these.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "tool_run.h"

int sluicectl_main(int argc, char **argv);

/* ---- the scripted daemon ---- */

enum fake_mode {
	FAKE_REPLY, /* answer every request line with fake.reply */
	FAKE_CLOSE, /* read the request, close without a reply */
	FAKE_SILENT, /* read the request, never answer (until the client gives up) */
};

static struct {
	char path[108];
	int lfd;
	pthread_t th;
	bool running;
	pthread_mutex_t mu;
	enum fake_mode mode;
	char reply[8192];
	char request[8192]; /* the last request line, without its newline */
	int requests;
	int connections;
	volatile bool stop;
} fake = {.lfd = -1, .mu = PTHREAD_MUTEX_INITIALIZER};

static void serve_conn(int fd)
{
	char buf[8192];
	size_t len = 0;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char *nl;
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			break;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		while ((nl = memchr(buf, '\n', len)) != NULL) {
			size_t l = (size_t)(nl - buf);
			enum fake_mode mode;

			pthread_mutex_lock(&fake.mu);
			memcpy(fake.request, buf, l);
			fake.request[l] = '\0';
			fake.requests++;
			mode = fake.mode;
			pthread_mutex_unlock(&fake.mu);
			memmove(buf, nl + 1, len - l - 1);
			len -= l + 1;
			if (mode == FAKE_CLOSE)
				return;
			if (mode == FAKE_SILENT) {
				/* until the client hangs up */
				while (recv(fd, buf, sizeof(buf), 0) > 0)
					;
				return;
			}
			if (send(fd, fake.reply, strlen(fake.reply), MSG_NOSIGNAL) < 0)
				return;
		}
	}
}

static void *fake_thread(void *arg)
{
	(void)arg;
	while (!fake.stop) {
		struct pollfd p = {.fd = fake.lfd, .events = POLLIN};
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(fake.lfd, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&fake.mu);
		fake.connections++;
		pthread_mutex_unlock(&fake.mu);
		serve_conn(fd);
		close(fd);
	}
	return NULL;
}

static void fake_listen(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	fake.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fake.lfd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fake.path);
	unlink(fake.path);
	assert_int_equal(bind(fake.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fake.lfd, 8), 0);
	fake.stop = false;
	assert_int_equal(pthread_create(&fake.th, NULL, fake_thread, NULL), 0);
	fake.running = true;
}

static void fake_close(void)
{
	if (fake.running) {
		fake.stop = true;
		pthread_join(fake.th, NULL);
		fake.running = false;
	}
	if (fake.lfd >= 0)
		close(fake.lfd);
	fake.lfd = -1;
	unlink(fake.path);
}

/* Script the next replies: a JSON object (the newline is added) in mode FAKE_REPLY. */
static void fake_script(enum fake_mode mode, const char *reply)
{
	pthread_mutex_lock(&fake.mu);
	fake.mode = mode;
	snprintf(fake.reply, sizeof(fake.reply), "%s\n", reply ? reply : "");
	fake.request[0] = '\0';
	fake.requests = 0;
	fake.connections = 0;
	pthread_mutex_unlock(&fake.mu);
}

static int setup(void **state)
{
	(void)state;
	snprintf(fake.path, sizeof(fake.path), "/tmp/sluicectl-unit-%d.sock", (int)getpid());
	unsetenv("SLUICE_SOCKET");
	fake_listen();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fake_close();
	return 0;
}

static struct tool_out o;

#define CTL(...) tool_run(sluicectl_main, &o, "sluicectl", "-s", fake.path, __VA_ARGS__, NULL)

/* The last request the daemon saw, parsed; its "cmd" must be @p cmd and "args" @p args
 * (a JSON text, or NULL for none). */
static void assert_request(const char *cmd, const char *args)
{
	json_error_t e;
	json_t *r = json_loads(fake.request, 0, &e);

	assert_non_null(r);
	assert_int_equal(json_integer_value(json_object_get(r, "v")), 1);
	assert_string_equal(json_string_value(json_object_get(r, "cmd")), cmd);
	if (args == NULL) {
		assert_null(json_object_get(r, "args"));
	} else {
		json_t *want = json_loads(args, 0, &e);

		assert_non_null(want);
		if (!json_equal(want, json_object_get(r, "args"))) {
			fprintf(stderr, "request %s, expected args %s\n", fake.request, args);
			fail();
		}
		json_decref(want);
	}
	json_decref(r);
}

/* ---- usage ---- */

static void test_usage_errors(void **state)
{
	static const char *const cases[][5] = {
		{NULL},
		{"bogus"},
		{"status", "extra"},
		{"health", "x"},
		{"segments"},
		{"segments", "events"},
		{"segments", "events-x"},
		{"segments", "-3"},
		{"segments", "events-99999999999"},
		{"producers", "--limit", "0"},
		{"producers", "-l", "ten"},
		{"producers", "extra"},
		{"config"},
		{"config", "get"},
		{"config", "set", "k"},
		{"config", "list", "x"},
		{"forwarder"},
		{"forwarder", "stop"},
		{"top", "-i", "0.01"},
		{"top", "-n", "0"},
		{"top", "--bogus"},
		{"raw"},
		{"raw", "status", "{not json"},
		{"raw", "a", "{}", "b"},
	};
	(void)state;

	fake_script(FAKE_REPLY, "{\"v\":1,\"ok\":true}");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[8] = {"sluicectl", "-s", fake.path};
		int n = 3;

		for (int j = 0; j < 5 && cases[i][j]; j++)
			argv[n++] = (char *)cases[i][j];
		argv[n] = NULL;
		tool_run(sluicectl_main, &o, argv[0], argv[1], argv[2], argv[3], argv[4], argv[5],
			 argv[6], argv[7], NULL);
		if (o.status != 2 || strstr(o.err, "Try 'sluicectl --help'.") == NULL) {
			fprintf(stderr, "case %zu (%s): exit %d: %s\n", i,
				cases[i][0] ? cases[i][0] : "-", o.status, o.err);
			fail();
		}
	}
	assert_int_equal(fake.connections, 0); /* nothing was sent */

	/* bad options */
	assert_int_equal(tool_run(sluicectl_main, &o, "sluicectl", "-t", "abc", "status", NULL), 2);
	assert_non_null(strstr(o.err, "--timeout: expected seconds, got 'abc'"));
	assert_int_equal(tool_run(sluicectl_main, &o, "sluicectl", "-t", "0", "status", NULL), 2);
	assert_int_equal(tool_run(sluicectl_main, &o, "sluicectl", "-w", "-1", "status", NULL), 2);
	assert_int_equal(tool_run(sluicectl_main, &o, "sluicectl", "--nope", "status", NULL), 2);
	assert_int_equal(fake.connections, 0);

	assert_int_equal(tool_run(sluicectl_main, &o, "sluicectl", "--help", NULL), 0);
	assert_non_null(strstr(o.out, "usage: sluicectl"));
	assert_non_null(strstr(o.out, "6 unhealthy"));
	assert_string_equal(o.err, "");
}

/* ---- requests ---- */

static void test_requests(void **state)
{
	(void)state;
	fake_script(FAKE_REPLY, "{\"v\":1,\"ok\":true}");

	assert_int_equal(CTL("status"), 0);
	assert_request("status", NULL);
	assert_int_equal(CTL("stats"), 0);
	assert_request("stats", NULL);
	assert_int_equal(CTL("partitions"), 0);
	assert_request("partitions", NULL);
	assert_int_equal(CTL("flush"), 0);
	assert_request("flush", NULL);
	assert_int_equal(CTL("shutdown"), 0);
	assert_request("shutdown", NULL);
	assert_int_equal(CTL("metrics"), 0);
	assert_request("metrics", NULL);
	assert_int_equal(CTL("producers"), 0);
	assert_request("producers", NULL);
	assert_int_equal(CTL("producers", "--limit", "5"), 0);
	assert_request("producers", "{\"limit\":5}");
	/* topics may contain '-': the partition is after the last one */
	assert_int_equal(CTL("segments", "my-topic-12"), 0);
	assert_request("segments", "{\"topic\":\"my-topic\",\"partition\":12}");
	assert_int_equal(CTL("config", "list"), 0);
	assert_request("config.list", NULL);
	assert_int_equal(CTL("config", "get", "dataplane.linger"), 0);
	assert_request("config.get", "{\"key\":\"dataplane.linger\"}");
	/* options stop at the command: "-1" is a value, not an option */
	assert_int_equal(CTL("config", "set", "control.health_max_forward_lag", "-1"), 0);
	assert_request("config.set",
		       "{\"key\":\"control.health_max_forward_lag\",\"value\":\"-1\"}");
	assert_int_equal(CTL("forwarder", "pause"), 0);
	assert_request("forwarder.pause", NULL);
	assert_int_equal(CTL("forwarder", "resume"), 0);
	assert_request("forwarder.resume", NULL);
	assert_int_equal(CTL("raw", "anything", "{\"a\":[1,\"x\"]}"), 0);
	assert_request("anything", "{\"a\":[1,\"x\"]}");
	assert_int_equal(CTL("raw", "bare"), 0);
	assert_request("bare", NULL);
	/* non-ASCII arguments travel escaped, and arrive intact */
	assert_int_equal(CTL("config", "get", "k\xc3\xa9y"), 0);
	assert_request("config.get", "{\"key\":\"k\xc3\xa9y\"}");
	assert_null(strchr(fake.request, '\xc3')); /* sent as \u00e9 */
}

/* ---- output ---- */

static void test_config_output(void **state)
{
	(void)state;
	fake_script(FAKE_REPLY,
		    "{\"v\":1,\"ok\":true,\"key\":\"dataplane.linger\",\"value\":\"200us\"}");
	assert_int_equal(CTL("config", "get", "dataplane.linger"), 0);
	assert_string_equal(o.out, "200us\n");

	fake_script(FAKE_REPLY,
		    "{\"v\":1,\"ok\":true,\"key\":\"dataplane.batch_bytes\","
		    "\"value\":\"4K\",\"previous\":\"1M\"}");
	assert_int_equal(CTL("config", "set", "dataplane.batch_bytes", "4K"), 0);
	assert_string_equal(o.out, "dataplane.batch_bytes = 4K (was 1M)\n");

	/* no previous value: no "(was ...)" */
	fake_script(FAKE_REPLY, "{\"v\":1,\"ok\":true,\"key\":\"k\",\"value\":\"1\"}");
	assert_int_equal(CTL("config", "set", "k", "1"), 0);
	assert_string_equal(o.out, "k = 1\n");
}

static void test_table_output(void **state)
{
	(void)state;
	fake_script(FAKE_REPLY,
		    "{\"v\":1,\"ok\":true,\"id\":7,\"state\":\"running\",\"uptime_s\":12.5,"
		    "\"events\":3000,\"big\":1e20,\"paused\":false,\"healthy\":true,"
		    "\"bootstrap\":null,\"alarms\":[],\"tags\":[\"a\",\"b\"],\"empty\":{},"
		    "\"ports\":[{\"name\":\"p0\",\"rx\":10,\"link\":\"up\"},"
		    "{\"name\":\"long-port\",\"rx\":2000000,\"link\":\"down\"}],"
		    "\"forwarder\":{\"state\":\"paused\",\"lag\":\"-3\"}}");
	assert_int_equal(CTL("status"), 0);
	/* Scalars first (ok, v and id hidden), aligned; then arrays, objects and tables of
	 * objects (numbers right-aligned under a left-aligned header). */
	assert_string_equal(o.out,
			    "state       running\n"
			    "uptime_s    12.5\n"
			    "events      3000\n"
			    "big         1e+20\n"
			    "paused      no\n"
			    "healthy     yes\n"
			    "bootstrap   -\n"
			    "alarms: (none)\n"
			    "tags: a, b\n"
			    "empty:\n"
			    "  (none)\n"
			    "ports:\n"
			    "  name       rx       link\n"
			    "  p0              10  up\n"
			    "  long-port  2000000  down\n"
			    "forwarder:\n"
			    "  state   paused\n"
			    "  lag     -3\n");
	assert_string_equal(o.err, "");
}

static void test_json_output(void **state)
{
	const char *reply = "{\"v\":1,\"ok\":true,\"state\":\"running\",\"n\":[1,2,{\"x\":null}]}";
	json_error_t e;
	json_t *want, *got;
	(void)state;

	fake_script(FAKE_REPLY, reply);
	assert_int_equal(CTL("--json", "status"), 0);
	want = json_loads(reply, 0, &e);
	got = json_loads(o.out, 0, &e);
	assert_non_null(got);
	assert_true(json_equal(want, got));
	json_decref(got);
	/* -j before -s works too (options in any order before the command) */
	assert_int_equal(
		tool_run(sluicectl_main, &o, "sluicectl", "-j", "-s", fake.path, "stats", NULL), 0);
	got = json_loads(o.out, 0, &e);
	assert_true(json_equal(want, got));
	json_decref(got);
	json_decref(want);
}

/* ---- exit codes ---- */

static void test_daemon_errors(void **state)
{
	(void)state;
	fake_script(FAKE_REPLY, "{\"v\":1,\"ok\":false,\"error\":\"unknown config key 'x'\"}");
	assert_int_equal(CTL("config", "get", "x"), 1);
	assert_string_equal(o.err, "sluicectl: unknown config key 'x'\n");
	assert_string_equal(o.out, "");
	/* --json: the error reply is printed too, for scripts */
	assert_int_equal(CTL("--json", "config", "get", "x"), 1);
	assert_non_null(strstr(o.out, "\"unknown config key 'x'\""));

	fake_script(FAKE_REPLY, "{\"v\":1,\"ok\":false}");
	assert_int_equal(CTL("flush"), 1);
	assert_string_equal(o.err, "sluicectl: unspecified error\n");

	fake_script(FAKE_REPLY,
		    "{\"v\":1,\"ok\":false,\"error\":\"permission denied: uid 5 is "
		    "not root (control socket /x)\"}");
	assert_int_equal(CTL("status"), 4);
	assert_non_null(strstr(o.err, "permission denied: uid 5"));
}

static void test_protocol_errors(void **state)
{
	(void)state;
	/* not JSON */
	fake_script(FAKE_REPLY, "hello");
	assert_int_equal(CTL("status"), 5);
	assert_true(strlen(o.err) > 0);
	/* JSON, not a reply object */
	fake_script(FAKE_REPLY, "[1,2]");
	assert_int_equal(CTL("status"), 5);
	/* closed before replying */
	fake_script(FAKE_CLOSE, NULL);
	assert_int_equal(CTL("status"), 5);
	assert_non_null(strstr(o.err, "closed the connection before replying"));
	assert_int_equal(fake.requests, 1);
	/* no reply within --timeout */
	fake_script(FAKE_SILENT, NULL);
	assert_int_equal(CTL("-t", "0.2", "status"), 5);
	assert_non_null(strstr(o.err, "no reply from"));
	assert_non_null(strstr(o.err, "within 200 ms"));
}

static void test_health(void **state)
{
	json_error_t e;
	json_t *j;
	(void)state;

	fake_script(FAKE_REPLY, "{\"v\":1,\"ok\":true,\"healthy\":true,\"reasons\":[]}");
	assert_int_equal(CTL("health"), 0);
	assert_string_equal(o.out, "healthy\n");
	assert_request("health", NULL);

	fake_script(FAKE_REPLY,
		    "{\"v\":1,\"ok\":true,\"healthy\":false,\"reasons\":["
		    "\"port p0: link down\",\"disk nearly full: 1.0% free\"]}");
	assert_int_equal(CTL("health"), 6);
	assert_string_equal(o.out,
			    "UNHEALTHY\n  port p0: link down\n  disk nearly full: 1.0% free\n");
	assert_int_equal(CTL("--json", "health"), 6);
	j = json_loads(o.out, 0, &e);
	assert_non_null(j);
	assert_true(json_is_false(json_object_get(j, "healthy")));
	json_decref(j);
	/* a reply without "healthy" is not a healthy daemon */
	fake_script(FAKE_REPLY, "{\"v\":1,\"ok\":true}");
	assert_int_equal(CTL("health"), 6);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *listen_later(void *arg)
{
	(void)arg;
	usleep(300 * 1000);
	fake_listen();
	return NULL;
}

static void test_connect(void **state)
{
	char longpath[200];
	pthread_t th;
	double t0;
	(void)state;

	fake_close();
	/* nobody listening */
	assert_int_equal(CTL("status"), 3);
	assert_non_null(strstr(o.err, "cannot connect to"));
	assert_non_null(strstr(o.err, "(is sluiced running? see --socket)"));
	/* --wait gives up after its time, still exit 3 */
	t0 = now_s();
	assert_int_equal(CTL("-w", "0.2", "status"), 3);
	assert_true(now_s() - t0 >= 0.2);
	/* a path that does not fit sockaddr_un */
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(tool_run(sluicectl_main, &o, "sluicectl", "-s", longpath, "status", NULL),
			 2);
	assert_non_null(strstr(o.err, "socket path too long"));

	/* --wait: the daemon comes up while sluicectl retries */
	assert_int_equal(pthread_create(&th, NULL, listen_later, NULL), 0);
	fake_script(FAKE_REPLY, "{\"v\":1,\"ok\":true,\"healthy\":true}");
	assert_int_equal(CTL("-w", "10", "health"), 0);
	pthread_join(th, NULL);

	/* $SLUICE_SOCKET when no --socket */
	setenv("SLUICE_SOCKET", fake.path, 1);
	assert_int_equal(tool_run(sluicectl_main, &o, "sluicectl", "health", NULL), 0);
	unsetenv("SLUICE_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_errors),    cmocka_unit_test(test_requests),
		cmocka_unit_test(test_config_output),   cmocka_unit_test(test_table_output),
		cmocka_unit_test(test_json_output),     cmocka_unit_test(test_daemon_errors),
		cmocka_unit_test(test_protocol_errors), cmocka_unit_test(test_health),
		cmocka_unit_test(test_connect),
	};

	return cmocka_run_group_tests_name("sluicectl", tests, setup, teardown);
}
