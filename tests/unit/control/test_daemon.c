/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * control/daemon.c without EAL: the request handlers that need no running modules
 * (config.get/set/list, status, shutdown, errors), health and collect before start.
 * The running daemon is covered by tests/functional/control/sluiced_e2e.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon.h"

static const char base[] = "[storage]\n"
			   "data_dir = /tmp/sluice-test-daemon-never-created\n"
			   "[port.p0]\n"
			   "device = net_null0\n"
			   "[topic.events]\n"
			   "partitions = 2\n"
			   "[listener.in]\n"
			   "udp_port = 9000\n";

static struct sluice_daemon *make(void)
{
	struct sluice_config *cfg = sluice_config_new();
	struct sluice_daemon *d;

	assert_non_null(cfg);
	cfg->online_cpus = 2;
	cfg->skip_env_checks = true;
	assert_int_equal(sluice_config_parse(cfg, "t.ini", base, sizeof(base) - 1), 0);
	assert_int_equal(sluice_config_validate(cfg), 0);
	assert_int_equal(sluice_daemon_create(cfg, "test", &d), 0);
	return d;
}

/* Send a request; args as JSON text or NULL. */
static json_t *req(struct sluice_daemon *d, const char *cmd, const char *args)
{
	json_t *a = args ? json_loads(args, 0, NULL) : NULL;
	json_t *r;

	if (args)
		assert_non_null(a);
	r = sluice_daemon_request(d, cmd, a);
	json_decref(a);
	assert_non_null(r);
	assert_true(json_is_boolean(json_object_get(r, "ok")));
	return r;
}

static void expect_error(struct sluice_daemon *d, const char *cmd, const char *args,
			 const char *fragment)
{
	json_t *r = req(d, cmd, args);
	const char *err = json_string_value(json_object_get(r, "error"));

	if (json_is_true(json_object_get(r, "ok")) || !err || !strstr(err, fragment))
		fail_msg("%s %s: expected an error with '%s', got %s", cmd, args ? args : "",
			 fragment, json_dumps(r, 0));
	json_decref(r);
}

static void test_config_requests(void **state)
{
	struct sluice_daemon *d = make();
	json_t *r;

	(void)state;
	r = req(d, "config.get", "{\"key\":\"dataplane.linger\"}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "value")), "1ms");
	assert_true(json_is_true(json_object_get(r, "runtime")));
	json_decref(r);

	r = req(d, "config.set", "{\"key\":\"dataplane.linger\",\"value\":\"200us\"}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "value")), "200us");
	assert_string_equal(json_string_value(json_object_get(r, "previous")), "1ms");
	json_decref(r);
	r = req(d, "config.get", "{\"key\":\"dataplane.linger\"}");
	assert_string_equal(json_string_value(json_object_get(r, "value")), "200us");
	json_decref(r);

	expect_error(d, "config.set", "{\"key\":\"storage.writers\",\"value\":\"2\"}",
		     "storage.writers: cannot change at runtime");
	expect_error(d, "config.set", "{\"key\":\"dataplane.linger\",\"value\":\"5\"}",
		     "'5' needs a unit");
	expect_error(d, "config.set", "{\"key\":\"dataplane.linger\"}", "needs args value");
	expect_error(d, "config.set", "{\"key\":\"dataplane.linger\",\"value\":5}",
		     "needs args value");
	expect_error(d, "config.get", NULL, "needs args key");
	expect_error(d, "config.get", "{\"key\":\"nope.nope\"}",
		     "unknown config key \"nope.nope\"");
	expect_error(d, "config.get", "{\"key\":\"topic.other.partitions\"}", "unknown config key");
	r = req(d, "config.get", "{\"key\":\"topic.events.partitions\"}");
	assert_string_equal(json_string_value(json_object_get(r, "value")), "2");
	json_decref(r);

	r = req(d, "config.list", NULL);
	{
		json_t *keys = json_object_get(r, "keys"), *k;
		size_t i;
		bool saw_linger = false;
		assert_true(json_array_size(keys) > 50);
		json_array_foreach(keys, i, k)
		{
			assert_true(json_is_string(json_object_get(k, "key")));
			assert_true(json_is_string(json_object_get(k, "value")));
			assert_true(json_is_boolean(json_object_get(k, "runtime")));
			assert_non_null(json_object_get(k, "default"));
			if (strcmp(json_string_value(json_object_get(k, "key")),
				   "dataplane.linger") == 0) {
				saw_linger = true;
				assert_string_equal(json_string_value(json_object_get(k, "value")),
						    "200us");
				assert_string_equal(
					json_string_value(json_object_get(k, "default")), "1ms");
			}
		}
		assert_true(saw_linger);
	}
	json_decref(r);
	sluice_daemon_destroy(d);
}

static void test_other_requests(void **state)
{
	struct sluice_daemon *d = make();
	json_t *r;

	(void)state;
	expect_error(d, "nope", NULL, "unknown command \"nope\"");
	expect_error(d, "stats", NULL, "sluiced is created");
	expect_error(d, "partitions", NULL, "sluiced is created");
	{
		json_t *bad = json_string("x");
		r = sluice_daemon_request(d, "status", bad);
		assert_true(json_is_false(json_object_get(r, "ok")));
		assert_non_null(strstr(json_string_value(json_object_get(r, "error")),
				       "args must be an object"));
		json_decref(r);
		json_decref(bad);
	}

	r = req(d, "status", NULL);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "state")), "created");
	assert_true(json_is_false(json_object_get(r, "healthy")));
	assert_int_equal(json_array_size(json_object_get(r, "alarms")), 1);
	json_decref(r);

	assert_int_equal(sluice_daemon_stop_requests(d), 0);
	r = req(d, "shutdown", NULL);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	assert_int_equal(sluice_daemon_stop_requests(d), 1);
	sluice_daemon_destroy(d);
}

struct names {
	char seen[64][64];
	unsigned n;
};

static void sink_family(void *ctx, const char *name, enum sluice_metric_type type, const char *help)
{
	struct names *n = ctx;

	(void)type;
	assert_non_null(help);
	assert_true(strncmp(name, "sluice_", 7) == 0);
	if (n->n < 64)
		snprintf(n->seen[n->n++], sizeof(n->seen[0]), "%s", name);
}

static void sink_sample(void *ctx, const char *name, const struct sluice_label *labels,
			unsigned nlabels, double value)
{
	(void)ctx;
	(void)name;
	(void)labels;
	(void)nlabels;
	(void)value;
}

static void test_health_and_collect_before_start(void **state)
{
	struct sluice_daemon *d = make();
	char reason[256];
	struct names n = {.n = 0};
	struct sluice_metric_sink sink = {.ctx = &n, .family = sink_family, .sample = sink_sample};
	bool info = false;

	(void)state;
	assert_int_not_equal(sluice_daemon_health(d, reason, sizeof(reason)), 0);
	assert_string_equal(reason, "sluiced is created");
	sluice_daemon_collect(d, &sink);
	for (unsigned i = 0; i < n.n; i++)
		info = info || strcmp(n.seen[i], "sluice_info") == 0;
	assert_true(info);
	assert_null(sluice_daemon_kafka_bootstrap(d));
	assert_int_equal(sluice_daemon_metrics_port(d), 0);
	/* Never started: stop and destroy are safe and touch nothing. */
	assert_int_equal(sluice_daemon_stop(d), 0);
	sluice_daemon_destroy(d);
	sluice_daemon_destroy(NULL);
}

/* The health thresholds: each check fires on its own, names its key, and 0 turns it off. */
static void test_health_judge(void **state)
{
	struct sluice_config *cfg = sluice_config_new();
	struct sluice_config_control *c;
	struct sluice_daemon_health_lag lag[2] = {{"events", 0, 10, 500}, {"events", 1, 0, -1}};
	struct sluice_daemon_health_facts f = {
		.have_disk = true,
		.disk_free_bytes = 50ull << 30,
		.disk_size_bytes = 100ull << 30,
		.nlag = 2,
		.lag = lag,
	};
	char reason[1024] = "";

	(void)state;
	assert_non_null(cfg);
	cfg->online_cpus = 2;
	cfg->skip_env_checks = true;
	assert_int_equal(sluice_config_parse(cfg, "t.ini", base, sizeof(base) - 1), 0);
	assert_int_equal(sluice_config_validate(cfg), 0);
	c = &cfg->control;
	/* Defaults: 5 % free and 300 s of lag; the facts above pass. */
	assert_int_equal(c->health_min_free_percent, 5);
	assert_int_equal(sluice_daemon_health_judge(c, &f, reason, sizeof(reason)), 0);
	assert_string_equal(reason, "");

	f.unaccounted = 7;
	assert_int_equal(sluice_daemon_health_judge(c, &f, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "7 events unaccounted"));
	f.unaccounted = 0;
	reason[0] = '\0';

	c->health_max_forward_lag_events = 9;
	assert_int_equal(sluice_daemon_health_judge(c, &f, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "events-0: forward lag 10 records"));
	assert_null(strstr(reason, "events-1"));
	reason[0] = '\0';
	c->health_max_forward_lag_events = 10; /* over, not at, the threshold */
	assert_int_equal(sluice_daemon_health_judge(c, &f, reason, sizeof(reason)), 0);

	c->health_max_forward_lag_us = 400000;
	assert_int_equal(sluice_daemon_health_judge(c, &f, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "events-0: oldest unforwarded record is 0.5 s old"));
	reason[0] = '\0';
	c->health_max_forward_lag_us = 0;
	assert_int_equal(sluice_daemon_health_judge(c, &f, reason, sizeof(reason)), 0);

	f.disk_free_bytes = 4ull << 30; /* 4 % */
	assert_int_equal(sluice_daemon_health_judge(c, &f, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "disk nearly full: 4.0% free"));
	reason[0] = '\0';
	c->health_min_free_percent = 0;
	assert_int_equal(sluice_daemon_health_judge(c, &f, reason, sizeof(reason)), 0);
	c->health_min_free_bytes = 5ull << 30;
	assert_int_equal(sluice_daemon_health_judge(c, &f, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "health_min_free_bytes"));
	reason[0] = '\0';
	f.have_disk = false; /* statvfs failed: nothing to judge */
	assert_int_equal(sluice_daemon_health_judge(c, &f, reason, sizeof(reason)), 0);

	/* Every failing check on its own line, in a buffer that already has one. */
	f.have_disk = true;
	f.unaccounted = 1;
	c->health_max_forward_lag_events = 1;
	snprintf(reason, sizeof(reason), "port p0: link down");
	assert_int_equal(sluice_daemon_health_judge(c, &f, reason, sizeof(reason)), 3);
	assert_non_null(strstr(reason, "port p0: link down\n1 events unaccounted"));
	/* A short buffer is truncated, never overrun. */
	{
		char small[16];
		small[0] = '\0';
		assert_int_equal(sluice_daemon_health_judge(c, &f, small, sizeof(small)), 3);
		assert_true(strlen(small) < sizeof(small));
	}
	sluice_config_free(cfg);
}

/*
 * The chain from one consistent reading: zero residues when every event is somewhere, events
 * on their way are in flight (not a residue), and a single event missing anywhere - or
 * persisted without having been enqueued - is reported at once and fails /health.
 */
static void test_residues_report_a_real_leak(void **state)
{
	struct sluice_worker_stats w = {0};
	struct sluice_daemon_residues r;
	struct sluice_config *cfg = sluice_config_new();
	struct sluice_daemon_health_facts f = {0};
	char reason[256] = "";

	(void)state;
	/* 1000 frames: 10 ARP answered, 5 bad checksums, 985 datagrams of which 3 bad; the
	 * 982 good ones held 2000 events: 7 duplicates, 1993 parsed, of which 40 shed (ring
	 * full), 53 open, 1900 enqueued; storage made 1800 durable, 60 are in flight. */
	w.rx_packets = 1000;
	w.ctrl_packets = 10;
	w.rejects[SLUICE_DP_REJECT_UDP_CHECKSUM] = 5;
	w.datagrams = 985;
	w.rejects[SLUICE_DP_REJECT_KAFKA_BATCH] = 3;
	w.datagrams_accepted = 982;
	w.events_decoded = 2000;
	w.rejects[SLUICE_DP_REJECT_DUPLICATE] = 7;
	w.events_parsed = 1993;
	w.shed[SLUICE_DP_SHED_RING_FULL] = 30;
	w.shed[SLUICE_DP_SHED_RATE_LIMITED] = 10;
	w.events_open = 53;
	w.events_enqueued = 1900;
	sluice_daemon_residues(&w, 1800, 40, &r);
	assert_int_equal(r.unaccounted, 0);
	assert_int_equal(r.in_flight, 60);

	/* One event parsed and then lost by the worker (in no account). */
	w.events_parsed++;
	w.events_decoded++;
	sluice_daemon_residues(&w, 1800, 40, &r);
	assert_int_equal(r.parsed, 1);
	assert_int_equal(r.unaccounted, 1);
	w.events_parsed--;
	w.events_decoded--;
	/* A frame taken from the NIC and never classified. */
	w.rx_packets++;
	sluice_daemon_residues(&w, 1800, 40, &r);
	assert_int_equal(r.packets, 1);
	assert_int_equal(r.unaccounted, 1);
	w.rx_packets--;
	/* Storage holding more than the workers ever enqueued. */
	sluice_daemon_residues(&w, 1901, 0, &r);
	assert_int_equal(r.in_flight, -1);
	assert_int_equal(r.unaccounted, 1);

	/* /health reports it on the first reading. */
	assert_non_null(cfg);
	f.unaccounted = r.unaccounted;
	assert_int_equal(sluice_daemon_health_judge(&cfg->control, &f, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "1 events unaccounted"));
	sluice_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_requests),
		cmocka_unit_test(test_other_requests),
		cmocka_unit_test(test_health_and_collect_before_start),
		cmocka_unit_test(test_health_judge),
		cmocka_unit_test(test_residues_report_a_real_leak),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
