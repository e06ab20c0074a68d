/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * control/telemetry.c through DPDK's own telemetry socket (EAL --no-huge in this process, a
 * client of /var/run/dpdk/<prefix>/dpdk_telemetry.v2 in the test), against a scripted
 * observe.h (sluice_daemon_collect/health/request):
 * - /sluice/stats: counters summed over labels, a family emitted in parts summed once,
 *   labelled gauges left out, histograms as _count and _sum, non-integers as strings;
 * - /sluice/metric,<family>: one entry per series (labels in the key, le_ for buckets);
 *   an unknown or missing family is an error;
 * - /sluice/families in first-seen order; /sluice/health with its reasons;
 * - /sluice/status etc.: the control reply flattened with sanitised keys and values, cut at
 *   DPDK's limits with "truncated": 1;
 * - after unregister, every command answers null (no daemon behind it).
 * One test per command, so that new commands and redaction add tests beside these.
 */
#include <errno.h>
#include <math.h>
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
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <rte_eal.h>

#include "ctl.h"

/* ---- the scripted daemon ---- */

struct sluice_daemon {
	int unused;
};

static struct sluice_daemon the_daemon;
static json_t *next_reply; /* what sluice_daemon_request answers (a new reference each time) */
static char last_cmd[64];
static int health_rc;
static const char *health_reason;

void sluice_daemon_collect(struct sluice_daemon *d, const struct sluice_metric_sink *s)
{
	struct sluice_label l2[2] = {{"port", "p0"}, {"queue", "0"}};
	struct sluice_label w = {"worker", "1"};
	double ub[3] = {0.001, 0.5, INFINITY};
	uint64_t cum[3] = {2, 5, 6};

	(void)d;
	s->family(s->ctx, "sluice_rx_packets_total", SLUICE_METRIC_COUNTER, "Packets.");
	s->sample(s->ctx, "sluice_rx_packets_total", l2, 2, 1000);
	l2[1].value = "1";
	s->sample(s->ctx, "sluice_rx_packets_total", l2, 2, 24);
	s->family(s->ctx, "sluice_ring_fill_ratio", SLUICE_METRIC_GAUGE, "Ring fill.");
	s->sample(s->ctx, "sluice_ring_fill_ratio", &w, 1, 0.25);
	s->family(s->ctx, "sluice_lag_seconds", SLUICE_METRIC_GAUGE, "Lag.");
	s->sample(s->ctx, "sluice_lag_seconds", NULL, 0, 0.5);
	s->family(s->ctx, "sluice_offset_delta", SLUICE_METRIC_GAUGE, "Negative.");
	s->sample(s->ctx, "sluice_offset_delta", NULL, 0, -2);
	s->family(s->ctx, "sluice_sync_seconds", SLUICE_METRIC_HISTOGRAM, "fdatasync.");
	s->histogram(s->ctx, "sluice_sync_seconds", &w, 1, ub, cum, 3, 0.25, 6);
	s->histogram(s->ctx, "sluice_sync_seconds", NULL, 0, ub, cum, 3, 1.75, 4);
	/* the first family again: the daemon emits some families in parts */
	s->family(s->ctx, "sluice_rx_packets_total", SLUICE_METRIC_COUNTER, "Packets.");
	s->sample(s->ctx, "sluice_rx_packets_total", &w, 1, 6);
	s->family(s->ctx, "sluice_empty_total", SLUICE_METRIC_COUNTER, "No samples.");
}

int sluice_daemon_health(struct sluice_daemon *d, char *reason, size_t len)
{
	(void)d;
	snprintf(reason, len, "%s", health_reason ? health_reason : "");
	return health_rc;
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
	(void)d;
	(void)args;
	snprintf(last_cmd, sizeof(last_cmd), "%s", cmd);
	return next_reply ? json_incref(next_reply) : NULL;
}

/* ---- a telemetry client ---- */

static char prefix[64];

static json_t *tel(const char *cmd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	static char buf[64 * 1024];
	json_error_t e;
	json_t *all, *v;
	ssize_t n;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/dpdk_telemetry.v2",
		 rte_eal_get_runtime_dir());
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	n = recv(fd, buf, sizeof(buf) - 1, 0); /* the greeting: version, pid, max length */
	assert_true(n > 0);
	assert_int_equal(send(fd, cmd, strlen(cmd), 0), (ssize_t)strlen(cmd));
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	close(fd);
	all = json_loads(buf, 0, &e);
	if (all == NULL) {
		fprintf(stderr, "%s: not JSON: %s\n", cmd, buf);
		fail();
	}
	/* {"<command without params>": value} */
	v = json_object_iter_value(json_object_iter(all));
	assert_non_null(v);
	json_incref(v);
	json_decref(all);
	return v;
}

static int setup(void **state)
{
	char *argv[] = {"test_telemetry", "--no-huge",   "-m",      "128",
			"--no-pci",       "--lcores",    "0@0",     "--file-prefix",
			prefix,           "--log-level", "*:error", NULL};
	(void)state;

	snprintf(prefix, sizeof(prefix), "sluice-tel-unit-%d", (int)getpid());
	if (rte_eal_init(11, argv) < 0)
		return -1;
	return sluice_telemetry_register(&the_daemon);
}

static int teardown(void **state)
{
	char rm[300];
	(void)state;

	sluice_telemetry_unregister();
	rte_eal_cleanup();
	snprintf(rm, sizeof(rm), "rm -rf '/var/run/dpdk/%s'", prefix);
	if (system(rm) != 0)
		fprintf(stderr, "could not remove /var/run/dpdk/%s\n", prefix);
	json_decref(next_reply);
	return 0;
}

static void assert_json(json_t *got, const char *want_text)
{
	json_error_t e;
	json_t *want = json_loads(want_text, 0, &e);

	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *s = json_dumps(got, JSON_SORT_KEYS);

		fprintf(stderr, "got      %s\nexpected %s\n", s, want_text);
		free(s);
		fail();
	}
	json_decref(want);
}

static void test_stats(void **state)
{
	json_t *v = tel("/sluice/stats");
	(void)state;

	/* 1000 + 24 + 6; the labelled gauge is not a total; 0.5 and -2 are not u64 */
	assert_json(v,
		    "{\"sluice_rx_packets_total\":1030,\"sluice_lag_seconds\":\"0.5\","
		    "\"sluice_offset_delta\":\"-2\",\"sluice_sync_seconds_count\":10,"
		    "\"sluice_sync_seconds_sum\":2}");
	json_decref(v);
}

static void test_metric(void **state)
{
	json_t *v;
	(void)state;

	v = tel("/sluice/metric,sluice_rx_packets_total");
	assert_json(v, "{\"port_p0/queue_0\":1000,\"port_p0/queue_1\":24,\"worker_1\":6}");
	json_decref(v);
	v = tel("/sluice/metric,sluice_ring_fill_ratio");
	assert_json(v, "{\"worker_1\":\"0.25\"}");
	json_decref(v);
	v = tel("/sluice/metric,sluice_sync_seconds");
	/* DPDK keys allow no '.': bounds read le_0_001; an unlabelled series is "value" */
	assert_json(v,
		    "{\"worker_1/le_0_001\":2,\"worker_1/le_0_5\":5,\"worker_1/le_inf\":6,"
		    "\"worker_1/count\":6,\"worker_1/sum\":\"0.25\",\"value/le_0_001\":2,"
		    "\"value/le_0_5\":5,\"value/le_inf\":6,\"value/count\":4,"
		    "\"value/sum\":\"1.75\"}");
	json_decref(v);
	v = tel("/sluice/metric,sluice_lag_seconds");
	assert_json(v, "{\"value\":\"0.5\"}");
	json_decref(v);
	/* a family with no samples yet: found, empty */
	v = tel("/sluice/metric,sluice_empty_total");
	assert_json(v, "{}");
	json_decref(v);
	/* unknown family, no family */
	v = tel("/sluice/metric,sluice_nope");
	assert_true(json_is_null(v));
	json_decref(v);
	v = tel("/sluice/metric");
	assert_true(json_is_null(v));
	json_decref(v);
}

static void test_families(void **state)
{
	json_t *v = tel("/sluice/families");
	(void)state;

	assert_json(v,
		    "[\"sluice_rx_packets_total\",\"sluice_ring_fill_ratio\","
		    "\"sluice_lag_seconds\",\"sluice_offset_delta\",\"sluice_sync_seconds\","
		    "\"sluice_empty_total\"]");
	json_decref(v);
}

static void test_health(void **state)
{
	json_t *v;
	(void)state;

	health_rc = 0;
	health_reason = NULL;
	v = tel("/sluice/health");
	assert_json(v, "{\"healthy\":1}");
	json_decref(v);
	health_rc = 1;
	health_reason = "port p0: link down\npartition events-0 failed: \"x\"\n";
	v = tel("/sluice/health");
	/* quotes are not passed through DPDK's string values */
	assert_json(v,
		    "{\"healthy\":0,\"reasons/0\":\"port p0: link down\","
		    "\"reasons/1\":\"partition events-0 failed: _x_\"}");
	json_decref(v);
	health_rc = 0;
}

static void set_reply(const char *text)
{
	json_error_t e;

	json_decref(next_reply);
	next_reply = text ? json_loads(text, 0, &e) : NULL;
	assert_true(text == NULL || next_reply != NULL);
}

static void test_request_flattened(void **state)
{
	json_t *v;
	(void)state;

	set_reply("{\"v\":1,\"ok\":true,\"state\":\"running\",\"uptime_s\":1.5,\"n\":-3,"
		  "\"big\":12,\"on\":true,\"off\":false,\"none\":null,"
		  "\"odd.key-name\":\"a\\\"b\\\\c\\u0001d\\u00e9\","
		  "\"ports\":[{\"name\":\"p0\",\"rx\":10},{\"name\":\"p1\",\"rx\":0}],"
		  "\"fwd\":{\"state\":\"up\",\"lag\":{\"events-0\":4}}}");
	v = tel("/sluice/status");
	assert_string_equal(last_cmd, "status");
	assert_json(v,
		    "{\"state\":\"running\",\"uptime_s\":\"1.5\",\"n\":\"-3\",\"big\":12,"
		    "\"on\":1,\"off\":0,\"none\":\"null\",\"odd_key_name\":\"a_b_c_d__\","
		    "\"ports/0/name\":\"p0\",\"ports/0/rx\":10,\"ports/1/name\":\"p1\","
		    "\"ports/1/rx\":0,\"fwd/state\":\"up\",\"fwd/lag/events_0\":4}");
	json_decref(v);

	/* each command maps to its control request */
	set_reply("{\"v\":1,\"ok\":true}");
	json_decref(tel("/sluice/partitions"));
	assert_string_equal(last_cmd, "partitions");
	json_decref(tel("/sluice/producers"));
	assert_string_equal(last_cmd, "producers");
	json_decref(tel("/sluice/config"));
	assert_string_equal(last_cmd, "config.list");

	/* no reply from the daemon: said so */
	set_reply(NULL);
	v = tel("/sluice/status");
	assert_json(v, "{\"error\":\"no reply\"}");
	json_decref(v);
}

static void test_request_limits(void **state)
{
	json_t *big = json_object(), *deep = json_object(), *cur, *v;
	char k[32];
	(void)state;

	/* more keys than a DPDK dict holds */
	for (int i = 0; i < 400; i++) {
		snprintf(k, sizeof(k), "k%03d", i);
		json_object_set_new(big, k, json_integer(i));
	}
	json_decref(next_reply);
	next_reply = big;
	v = tel("/sluice/status");
	assert_true(json_object_size(v) <= 256);
	assert_true(json_object_size(v) > 100);
	assert_int_equal(json_integer_value(json_object_get(v, "truncated")), 1);
	assert_int_equal(json_integer_value(json_object_get(v, "k000")), 0);
	json_decref(v);

	/* long values: cut by bytes before the 16 KiB reply limit, still valid JSON */
	big = json_object();
	for (int i = 0; i < 100; i++) {
		char val[200];

		memset(val, 'x', sizeof(val) - 1);
		val[sizeof(val) - 1] = '\0';
		snprintf(k, sizeof(k), "s%03d", i);
		json_object_set_new(big, k, json_string(val));
	}
	json_decref(next_reply);
	next_reply = big;
	v = tel("/sluice/status");
	assert_int_equal(json_integer_value(json_object_get(v, "truncated")), 1);
	assert_true(json_object_size(v) < 100);
	json_decref(v);

	/* nesting deeper than 8 levels ends in "..." */
	cur = deep;
	for (int i = 0; i < 12; i++) {
		json_t *n = json_object();

		json_object_set_new(cur, "a", n);
		cur = n;
	}
	json_object_set_new(cur, "leaf", json_integer(1));
	json_decref(next_reply);
	next_reply = deep;
	v = tel("/sluice/status");
	assert_json(v, "{\"a/a/a/a/a/a/a/a/a\":\"...\"}");
	json_decref(v);
}

/* Last: after unregister no callback reaches the daemon. */
static void test_detached(void **state)
{
	static const char *const cmds[] = {"/sluice/stats",    "/sluice/metric,sluice_lag_seconds",
					   "/sluice/families", "/sluice/health",
					   "/sluice/status",   "/sluice/config"};
	(void)state;

	sluice_telemetry_unregister();
	last_cmd[0] = '\0';
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		json_t *v = tel(cmds[i]);

		if (!json_is_null(v)) {
			fprintf(stderr, "%s answered while detached\n", cmds[i]);
			fail();
		}
		json_decref(v);
	}
	assert_string_equal(last_cmd, "");
	/* registering again attaches the daemon again */
	assert_int_equal(sluice_telemetry_register(&the_daemon), 0);
	json_decref(tel("/sluice/health"));
	health_rc = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_metric),
		cmocka_unit_test(test_families),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_request_flattened),
		cmocka_unit_test(test_request_limits),
		cmocka_unit_test(test_detached),
	};

	return cmocka_run_group_tests_name("telemetry", tests, setup, teardown);
}
