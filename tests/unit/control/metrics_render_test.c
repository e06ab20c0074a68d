/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the Prometheus text exposition (control/metrics_http.c sluice_metrics_render)
 * against a scripted sluice_daemon_collect.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl.h"

struct sluice_daemon {
	int scenario;
};

void sluice_daemon_collect(struct sluice_daemon *d, const struct sluice_metric_sink *s)
{
	struct sluice_label l2[2] = {{"port", "p0"}, {"queue", "0"}};
	struct sluice_label weird = {"reason", "a\"b\\c\nd"};
	struct sluice_label bad_name = {"bad-name", "x"};
	struct sluice_label reserved = {"__name__", "x"};
	double ub[3] = {0.001, 0.01, INFINITY};
	uint64_t cum[3] = {2, 5, 6};

	switch (d->scenario) {
	case 0:
		s->family(s->ctx, "sluice_nic_rx_packets_total", SLUICE_METRIC_COUNTER,
			  "Packets received.\nSecond line with \\ backslash.");
		s->sample(s->ctx, "sluice_nic_rx_packets_total", l2, 2, 1000);
		s->family(s->ctx, "sluice_rejects_total", SLUICE_METRIC_COUNTER, "Rejects.");
		s->sample(s->ctx, "sluice_rejects_total", &weird, 1, 3);
		/* The same family again: its samples must join the first block. */
		s->family(s->ctx, "sluice_nic_rx_packets_total", SLUICE_METRIC_COUNTER, "ignored");
		l2[1].value = "1";
		s->sample(s->ctx, "sluice_nic_rx_packets_total", l2, 2, 9007199254740993.0);
		s->family(s->ctx, "sluice_lag_seconds", SLUICE_METRIC_GAUGE, "Lag.");
		s->sample(s->ctx, "sluice_lag_seconds", NULL, 0, 0.1);
		s->sample(s->ctx, "sluice_lag_seconds", &bad_name, 1, 1);
		s->sample(s->ctx, "sluice_lag_seconds", &reserved, 1, 1);
		s->family(s->ctx, "sluice_special", SLUICE_METRIC_GAUGE, "");
		s->sample(s->ctx, "sluice_special", l2, 1, NAN);
		s->sample(s->ctx, "sluice_special", l2, 2, -INFINITY);
		s->family(s->ctx, "sluice_sync_seconds", SLUICE_METRIC_HISTOGRAM, "fdatasync.");
		s->histogram(s->ctx, "sluice_sync_seconds", l2, 1, ub, cum, 3, 0.0125, 7);
		/* A second, unlabelled series; then a name Prometheus cannot parse. */
		s->histogram(s->ctx, "sluice_sync_seconds", NULL, 0, ub, cum, 3, 1, 1);
		s->family(s->ctx, "9bad name", SLUICE_METRIC_COUNTER, "x");
		s->sample(s->ctx, "9bad name", NULL, 0, 1);
		s->family(s->ctx, "sluice_empty_total", SLUICE_METRIC_COUNTER, "No samples yet.");
		break;
	default:
		break;
	}
}

int sluice_daemon_health(struct sluice_daemon *d, char *reason, size_t len)
{
	(void)d;
	(void)reason;
	(void)len;
	return 0;
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
	(void)cmd;
	(void)args;
	return json_pack("{sb}", "ok", 1);
}

static void test_render(void **state)
{
	struct sluice_daemon d = {.scenario = 0};
	uint64_t invalid = 0;
	size_t len = 0;
	char *text;
	const char *want =
		"# HELP sluice_nic_rx_packets_total Packets received.\\nSecond line with \\\\ "
		"backslash.\n"
		"# TYPE sluice_nic_rx_packets_total counter\n"
		"sluice_nic_rx_packets_total{port=\"p0\",queue=\"0\"} 1000\n"
		"sluice_nic_rx_packets_total{port=\"p0\",queue=\"1\"} 9007199254740992\n"
		"# HELP sluice_rejects_total Rejects.\n"
		"# TYPE sluice_rejects_total counter\n"
		"sluice_rejects_total{reason=\"a\\\"b\\\\c\\nd\"} 3\n"
		"# HELP sluice_lag_seconds Lag.\n"
		"# TYPE sluice_lag_seconds gauge\n"
		"sluice_lag_seconds 0.1\n"
		"# HELP sluice_special \n"
		"# TYPE sluice_special gauge\n"
		"sluice_special{port=\"p0\"} NaN\n"
		"sluice_special{port=\"p0\",queue=\"1\"} -Inf\n"
		"# HELP sluice_sync_seconds fdatasync.\n"
		"# TYPE sluice_sync_seconds histogram\n"
		"sluice_sync_seconds_bucket{port=\"p0\",le=\"0.001\"} 2\n"
		"sluice_sync_seconds_bucket{port=\"p0\",le=\"0.01\"} 5\n"
		"sluice_sync_seconds_bucket{port=\"p0\",le=\"+Inf\"} 7\n"
		"sluice_sync_seconds_sum{port=\"p0\"} 0.0125\n"
		"sluice_sync_seconds_count{port=\"p0\"} 7\n"
		"sluice_sync_seconds_bucket{le=\"0.001\"} 2\n"
		"sluice_sync_seconds_bucket{le=\"0.01\"} 5\n"
		"sluice_sync_seconds_bucket{le=\"+Inf\"} 1\n"
		"sluice_sync_seconds_sum 1\n"
		"sluice_sync_seconds_count 1\n"
		"# HELP sluice_empty_total No samples yet.\n"
		"# TYPE sluice_empty_total counter\n";

	(void)state;
	text = sluice_metrics_render(&d, NULL, NULL, &len, &invalid);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	assert_string_equal(text, want);
	/* bad label name, reserved label, bad family + its sample */
	assert_int_equal(invalid, 4);
	free(text);
}

static void test_empty(void **state)
{
	struct sluice_daemon d = {.scenario = 1};
	size_t len = 7;
	char *text;

	(void)state;
	text = sluice_metrics_render(&d, NULL, NULL, &len, NULL);
	assert_non_null(text);
	assert_int_equal(len, 0);
	assert_string_equal(text, "");
	free(text);
}

static void test_http(void **state)
{
	struct sluice_daemon d = {.scenario = 1};
	struct sluice_metrics_http_opts o = {.bind_addr = "127.0.0.1", .port = 0, .daemon = &d};
	struct sluice_metrics_http *mh = NULL;

	(void)state;
	assert_int_equal(sluice_metrics_http_start(&o, &mh), 0);
	assert_non_null(mh);
	assert_true(sluice_metrics_http_port(mh) > 0);
	sluice_metrics_http_stop(mh);
	o.bind_addr = "not-an-address";
	assert_int_equal(sluice_metrics_http_start(&o, &mh), -EINVAL);
	assert_null(mh);
	sluice_metrics_http_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_http),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
