/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_testd: a test double of the daemon behind observe.h, serving known counters through the
 * real control socket, /metrics + /health and (with --eal-prefix) DPDK telemetry, so that
 * sluicectl, promtool, Prometheus and dpdk-telemetry.py can be tested without sluiced.
 *
 * usage: ctl_testd --socket PATH [--mode OCTAL] [--gid GID] [--port-file FILE]
 *                  [--eal-prefix PREFIX] [--max-line BYTES]
 *
 * Known values (the tests assert them):
 *   sluice_persisted_events_total 12345
 *   sluice_nic_rx_packets_total{port="p0",queue="0"} 1000, {queue="1"} 2000
 *   sluice_worker_events_total{worker="0"} grows 1000/s of uptime, {worker="1"} 500/s
 *   sluice_worker_busy_cycles_total / _idle_cycles_total: worker 0 is 25% busy
 *   sluice_worker_ring_fill_ratio{worker="0"}: 0.25 to writer 0, 0.75 to writer 1
 *   sluice_partition_durable_offset{topic="events",partition="0"} 4242
 *   sluice_dataplane_linger_seconds follows `config set dataplane.linger`
 *   sluice_forwarder_paused follows `forwarder pause|resume`
 *   health fails with two reasons after `config set test.healthy false`
 *
 * Threads: observe.h functions are called from the control, HTTP and telemetry threads; one
 * mutex serialises them, as the real daemon must.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>

#include "ctl.h"
#include "ctl_proto.h"
#include "metric_registry.h"
#include "sluice_time.h"

struct sluice_daemon {
	pthread_mutex_t mu;
	double start;
	uint64_t linger_us;
	bool healthy;
	bool paused;
	uint64_t flushes;
	atomic_bool stop;
};

/*
 * The daemon's families come from the registry (metric_registry.h), as sluiced's do. The others
 * (persisted_events, worker_events, worker_rejects, ...) exist only here: they exercise the
 * outputs' encoding (escaped help and labels, a family repeated, histograms) and are named by
 * the tests that check it.
 */
void sluice_daemon_collect(struct sluice_daemon *d, const struct sluice_metric_sink *s)
{
	struct sluice_label q[2] = {{"port", "p0"}, {"queue", "0"}};
	struct sluice_label w = {"worker", "0"};
	struct sluice_label wr[2] = {{"worker", "0"}, {"reason", "crc"}};
	struct sluice_label tp[2] = {{"topic", "events"}, {"partition", "0"}};
	struct sluice_label weird = {"producer", "10.0.0.1:\"5000\"\\\n"};
	double ub[4] = {0.0001, 0.001, 0.01, 0.1};
	uint64_t cum[4] = {3, 8, 9, 10};
	double up;

	pthread_mutex_lock(&d->mu);
	up = sluice_mono_s() - d->start;
	s->family(s->ctx, "sluice_persisted_events_total", SLUICE_METRIC_COUNTER,
		  "Events written and made durable.");
	s->sample(s->ctx, "sluice_persisted_events_total", NULL, 0, 12345);
	sluice_metric_begin(s, SLUICE_M_NIC_RX_PACKETS_TOTAL);
	s->sample(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_NIC_RX_PACKETS_TOTAL), q, 2, 1000);
	sluice_metric_begin(s, SLUICE_M_UNACCOUNTED_EVENTS);
	s->sample(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_UNACCOUNTED_EVENTS), NULL, 0, 0);
	/* The NIC family again, as a daemon emitting per-port blocks might. */
	sluice_metric_begin(s, SLUICE_M_NIC_RX_PACKETS_TOTAL);
	q[1].value = "1";
	s->sample(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_NIC_RX_PACKETS_TOTAL), q, 2, 2000);
	s->family(s->ctx, "sluice_worker_events_total", SLUICE_METRIC_COUNTER,
		  "Events parsed by each worker.");
	s->sample(s->ctx, "sluice_worker_events_total", &w, 1, (double)(uint64_t)(up * 1000));
	w.value = "1";
	s->sample(s->ctx, "sluice_worker_events_total", &w, 1, (double)(uint64_t)(up * 500));
	sluice_metric_begin(s, SLUICE_M_WORKER_BUSY_CYCLES_TOTAL);
	w.value = "0";
	s->sample(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_WORKER_BUSY_CYCLES_TOTAL), &w, 1, up * 1e8);
	sluice_metric_begin(s, SLUICE_M_WORKER_IDLE_CYCLES_TOTAL);
	s->sample(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_WORKER_IDLE_CYCLES_TOTAL), &w, 1, up * 3e8);
	sluice_metric_begin(s, SLUICE_M_WORKER_RING_FILL_RATIO);
	{
		struct sluice_label rf[2] = {{"worker", "0"}, {"writer", "0"}};
		s->sample(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_WORKER_RING_FILL_RATIO), rf, 2, 0.25);
		rf[1].value = "1";
		s->sample(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_WORKER_RING_FILL_RATIO), rf, 2, 0.75);
	}
	s->family(s->ctx, "sluice_worker_rejects_total", SLUICE_METRIC_COUNTER,
		  "Datagrams rejected, by reason.\nReasons are listed in docs/operations.md.");
	s->sample(s->ctx, "sluice_worker_rejects_total", wr, 2, 7);
	wr[1].value = "too_short";
	s->sample(s->ctx, "sluice_worker_rejects_total", wr, 2, 2);
	sluice_metric_begin(s, SLUICE_M_PARTITION_DURABLE_OFFSET);
	s->sample(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_PARTITION_DURABLE_OFFSET), tp, 2, 4242);
	s->family(s->ctx, "sluice_partition_forward_lag_records", SLUICE_METRIC_GAUGE,
		  "Durable records not yet acknowledged by Kafka.");
	s->sample(s->ctx, "sluice_partition_forward_lag_records", tp, 2, 10);
	s->family(s->ctx, "sluice_partition_fdatasync_seconds", SLUICE_METRIC_HISTOGRAM,
		  "fdatasync latency.");
	s->histogram(s->ctx, "sluice_partition_fdatasync_seconds", tp, 2, ub, cum, 4, 0.0123, 10);
	s->family(s->ctx, "sluice_producer_lost_events_total", SLUICE_METRIC_COUNTER,
		  "Events lost by producer (sequence gaps), top producers only.");
	s->sample(s->ctx, "sluice_producer_lost_events_total", &weird, 1, 3);
	s->family(s->ctx, "sluice_dataplane_linger_seconds", SLUICE_METRIC_GAUGE,
		  "Current batch linger (runtime-tunable dataplane.linger).");
	s->sample(s->ctx, "sluice_dataplane_linger_seconds", NULL, 0, (double)d->linger_us / 1e6);
	s->family(s->ctx, "sluice_forwarder_paused", SLUICE_METRIC_GAUGE,
		  "1 while forwarding is paused by the operator.");
	s->sample(s->ctx, "sluice_forwarder_paused", NULL, 0, d->paused ? 1 : 0);
	pthread_mutex_unlock(&d->mu);
}

int sluice_daemon_health(struct sluice_daemon *d, char *reason, size_t len)
{
	int rc = 0;

	pthread_mutex_lock(&d->mu);
	if (!d->healthy) {
		snprintf(reason, len,
			 "partition events-0 failed: fdatasync: Input/output error\n"
			 "forward lag 10 records over threshold 5\n");
		rc = 1;
	}
	pthread_mutex_unlock(&d->mu);
	return rc;
}

static int parse_duration_us(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || s[0] == '-')
		return -EINVAL;
	if (strcmp(end, "us") == 0)
		*out = v;
	else if (strcmp(end, "ms") == 0)
		*out = v * 1000;
	else if (strcmp(end, "s") == 0)
		*out = v * 1000000;
	else
		return -EINVAL;
	return *out <= 10000000 ? 0 : -ERANGE;
}

static json_t *config_value(struct sluice_daemon *d, const char *key)
{
	char buf[32];

	if (strcmp(key, "dataplane.linger") == 0) {
		snprintf(buf, sizeof(buf), "%lluus", (unsigned long long)d->linger_us);
		return json_string(buf);
	}
	if (strcmp(key, "dataplane.workers") == 0)
		return json_string("2");
	if (strcmp(key, "test.healthy") == 0)
		return json_string(d->healthy ? "true" : "false");
	return NULL;
}

static json_t *config_set(struct sluice_daemon *d, json_t *args)
{
	const char *key = json_string_value(json_object_get(args, "key"));
	const char *value = json_string_value(json_object_get(args, "value"));
	json_t *prev;
	json_t *r;
	uint64_t us;

	if (key == NULL || value == NULL)
		return sluice_ctl_proto_error("config.set needs string args \"key\" and \"value\"");
	prev = config_value(d, key);
	if (prev == NULL)
		return sluice_ctl_proto_error("unknown config key \"%s\"", key);
	if (strcmp(key, "dataplane.workers") == 0) {
		json_decref(prev);
		return sluice_ctl_proto_error("%s is not runtime-tunable (restart required)", key);
	}
	if (strcmp(key, "dataplane.linger") == 0) {
		if (parse_duration_us(value, &us) != 0) {
			json_decref(prev);
			return sluice_ctl_proto_error(
				"%s: invalid duration \"%s\" (e.g. 200us, 1ms)", key, value);
		}
		d->linger_us = us;
	} else if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
		d->healthy = strcmp(value, "true") == 0;
	} else {
		json_decref(prev);
		return sluice_ctl_proto_error("%s: expected true or false", key);
	}
	r = json_pack("{sbssso}", "ok", 1, "key", key, "previous", prev);
	json_object_set_new(r, "value", config_value(d, key));
	return r;
}

static json_t *handle(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	if (strcmp(cmd, "status") == 0)
		return json_pack("{sbsssfsbs[]s[{sssssi}]s[{sisi}]s{ssss}}", "ok", 1, "state",
				 "running", "uptime_s", sluice_mono_s() - d->start, "healthy",
				 d->healthy, "alarms", "ports", "name", "p0", "link", "up",
				 "queues", 2, "workers", "lcore", 1, "queue", 0, "forwarder",
				 "state", d->paused ? "paused" : "running", "brokers", "embedded");
	if (strcmp(cmd, "stats") == 0)
		return json_pack("{sbsIsIsIs{sIsI}sIs{}sIsIsI}", "ok", 1, "nic_received",
				 (json_int_t)3000, "nic_missed", (json_int_t)0, "parsed",
				 (json_int_t)2991, "rejected", "crc", (json_int_t)7, "too_short",
				 (json_int_t)2, "persisted", (json_int_t)2991, "shed", "forwarded",
				 (json_int_t)2981, "pending", (json_int_t)10, "unaccounted",
				 (json_int_t)0);
	if (strcmp(cmd, "producers") == 0) {
		json_int_t limit = json_integer_value(json_object_get(args, "limit"));
		json_t *list =
			json_pack("[{sssIsIsIss}{sssIsIsIss}]", "producer", "10.0.0.1", "events",
				  (json_int_t)2000, "lost", (json_int_t)3, "duplicates",
				  (json_int_t)1, "last_seen", "2026-11-25T13:00:00Z", "producer",
				  "10.0.0.2", "events", (json_int_t)991, "lost", (json_int_t)0,
				  "duplicates", (json_int_t)0, "last_seen", "2026-11-25T13:00:01Z");

		if (limit > 0 && (size_t)limit < json_array_size(list))
			json_array_remove(list, 1);
		return json_pack("{sbso}", "ok", 1, "producers", list);
	}
	if (strcmp(cmd, "partitions") == 0)
		return json_pack("{sbs[{sssisIsIsIsIsisbss}]}", "ok", 1, "partitions", "topic",
				 "events", "partition", 0, "appended", (json_int_t)4243,
				 "durable_offset", (json_int_t)4242, "forwarded_offset",
				 (json_int_t)4232, "bytes", (json_int_t)1048576, "segments", 2,
				 "paused", d->paused, "state", "ok");
	if (strcmp(cmd, "segments") == 0) {
		const char *topic = json_string_value(json_object_get(args, "topic"));
		json_t *p = json_object_get(args, "partition");

		if (topic == NULL || !json_is_integer(p))
			return sluice_ctl_proto_error("segments needs \"topic\" and \"partition\"");
		if (strcmp(topic, "events") != 0 || json_integer_value(p) != 0)
			return sluice_ctl_proto_error("no partition %s-%lld", topic,
						      (long long)json_integer_value(p));
		return json_pack("{sbs[{sIsIsI}{sIsIsI}]}", "ok", 1, "segments", "base_offset",
				 (json_int_t)0, "bytes", (json_int_t)1000000, "records",
				 (json_int_t)4000, "base_offset", (json_int_t)4000, "bytes",
				 (json_int_t)48576, "records", (json_int_t)243);
	}
	if (strcmp(cmd, "config.list") == 0) {
		static const char *const keys[] = {"dataplane.linger", "dataplane.workers",
						   "test.healthy"};
		json_t *arr = json_array();

		for (size_t i = 0; i < 3; i++)
			json_array_append_new(arr,
					      json_pack("{sssssosbss}", "key", keys[i], "section",
							i < 2 ? "dataplane" : "test", "value",
							config_value(d, keys[i]), "runtime", i != 1,
							"help", "test key"));
		return json_pack("{sbso}", "ok", 1, "keys", arr);
	}
	if (strcmp(cmd, "config.get") == 0) {
		const char *key = json_string_value(json_object_get(args, "key"));
		json_t *v;

		if (key == NULL)
			return sluice_ctl_proto_error("config.get needs a string arg \"key\"");
		v = config_value(d, key);
		if (v == NULL)
			return sluice_ctl_proto_error("unknown config key \"%s\"", key);
		return json_pack("{sbssso}", "ok", 1, "key", key, "value", v);
	}
	if (strcmp(cmd, "config.set") == 0)
		return config_set(d, args);
	if (strcmp(cmd, "forwarder.pause") == 0 || strcmp(cmd, "forwarder.resume") == 0) {
		d->paused = strcmp(cmd, "forwarder.pause") == 0;
		return json_pack("{sbss}", "ok", 1, "state", d->paused ? "paused" : "running");
	}
	if (strcmp(cmd, "flush") == 0) {
		d->flushes++;
		return json_pack("{sbsI}", "ok", 1, "flushed", (json_int_t)d->flushes);
	}
	if (strcmp(cmd, "shutdown") == 0) {
		atomic_store(&d->stop, true);
		return json_pack("{sbss}", "ok", 1, "state", "stopping");
	}
	return sluice_ctl_proto_error("unknown command \"%s\"", cmd);
}

/* The commands this double answers, with sluiced's admin tier (control/daemon_requests.c). */
bool sluice_daemon_request_info(size_t i, const char **cmd, bool *admin)
{
	static const struct {
		const char *cmd;
		bool admin;
	} cmds[] = {{"status", false},          {"stats", false},       {"producers", false},
		    {"partitions", false},      {"segments", false},    {"config.get", false},
		    {"config.set", true},       {"config.list", false}, {"forwarder.pause", true},
		    {"forwarder.resume", true}, {"flush", true},        {"shutdown", true}};

	if (i >= sizeof(cmds) / sizeof(cmds[0]))
		return false;
	*cmd = cmds[i].cmd;
	*admin = cmds[i].admin;
	return true;
}

json_t *sluice_daemon_request(struct sluice_daemon *d, const char *cmd, json_t *args)
{
	json_t *r;

	pthread_mutex_lock(&d->mu);
	r = handle(d, cmd, args);
	pthread_mutex_unlock(&d->mu);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"mode", required_argument, NULL, 'm'},
		{"gid", required_argument, NULL, 'g'},
		{"port-file", required_argument, NULL, 'p'},
		{"eal-prefix", required_argument, NULL, 'e'},
		{"max-line", required_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	static struct sluice_daemon d = {
		.mu = PTHREAD_MUTEX_INITIALIZER, .linger_us = 1000, .healthy = true};
	struct sluice_ctl_server_opts co = {.gid = (gid_t)-1, .daemon = &d};
	struct sluice_metrics_http_opts mo = {.daemon = &d};
	struct sluice_ctl_server *srv = NULL;
	struct sluice_metrics_http *mh = NULL;
	const char *port_file = NULL;
	const char *eal_prefix = NULL;
	struct timespec tick = {.tv_nsec = 100 * 1000 * 1000};
	bool eal = false;
	sigset_t set;
	int status = 1;
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			co.socket_path = optarg;
			break;
		case 'm':
			co.mode = (mode_t)strtoul(optarg, NULL, 8);
			break;
		case 'g':
			co.gid = (gid_t)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			port_file = optarg;
			break;
		case 'e':
			eal_prefix = optarg;
			break;
		case 'l':
			co.max_line_bytes = strtoul(optarg, NULL, 10);
			break;
		default:
			return 2;
		}
	}
	if (co.socket_path == NULL) {
		fprintf(stderr, "ctl_testd: --socket is required\n");
		return 2;
	}
	d.start = sluice_mono_s();
	/* Signals are taken synchronously below; threads created after this inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (eal_prefix != NULL) {
		char *eal_argv[] = {argv[0],       "--no-huge",     "-m",
				    "128",         "--no-pci",      "-l",
				    "0",           "--file-prefix", (char *)eal_prefix,
				    "--log-level", "lib.eal:error", NULL};

		if (rte_eal_init(11, eal_argv) < 0) {
			fprintf(stderr, "ctl_testd: rte_eal_init failed\n");
			return 1;
		}
		eal = true;
		if (sluice_telemetry_restrict(rte_eal_get_runtime_dir()) != 0 ||
		    sluice_telemetry_register(&d) != 0)
			goto out;
	}
	if (sluice_ctl_server_start(&co, &srv) != 0)
		goto out;
	mo.ctl = srv;
	if (sluice_metrics_http_start(&mo, &mh) != 0)
		goto out;
	if (port_file != NULL) {
		char tmp[512];
		FILE *f;

		/* Written whole, then renamed: the test polls for the file. */
		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		f = fopen(tmp, "w");
		if (f == NULL)
			goto out;
		fprintf(f, "%u\n", (unsigned)sluice_metrics_http_port(mh));
		fclose(f);
		if (rename(tmp, port_file) != 0)
			goto out;
	}
	while (!atomic_load(&d.stop)) {
		int sig = sigtimedwait(&set, NULL, &tick);

		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	status = 0;
out:
	sluice_metrics_http_stop(mh);
	sluice_ctl_server_stop(srv);
	if (eal) {
		sluice_telemetry_unregister();
		rte_eal_cleanup();
	}
	return status;
}
