/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-send: a logger(1)-like client of libsluice. Each line of stdin is one event sent to
 * a `kafka` listener; with --ack (the default) it exits 0 only once the appliance reported
 * every line durable. A JSON summary goes to stderr with --summary.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice_client.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-send [options] HOST PORT < lines\n"
		"  -P, --partition N     topic-local partition (default 0)\n"
		"  -k, --key KEY         key of every event (default none)\n"
		"      --ack / --no-ack  wait for durability and retransmit (default --ack)\n"
		"      --producer-id ID  producer id (default random)\n"
		"      --epoch N         producer epoch (default 0)\n"
		"      --window N        unacknowledged events at most (default 2048)\n"
		"      --linger-us N     batch linger (default 1000)\n"
		"  -t, --timeout MS      flush timeout at the end (default 30000; -1 none)\n"
		"      --rate N          events per second at most (default unlimited)\n"
		"      --summary         JSON counters on stderr at the end\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"partition", required_argument, NULL, 'P'},
		{"key", required_argument, NULL, 'k'},
		{"ack", no_argument, NULL, 'a'},
		{"no-ack", no_argument, NULL, 'n'},
		{"producer-id", required_argument, NULL, 'i'},
		{"epoch", required_argument, NULL, 'e'},
		{"window", required_argument, NULL, 'w'},
		{"linger-us", required_argument, NULL, 'l'},
		{"timeout", required_argument, NULL, 't'},
		{"summary", no_argument, NULL, 's'},
		{"rate", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sluice_client_opts o = {.producer_id = -1};
	const char *key = NULL;
	long timeout_ms = 30000;
	bool summary = false;
	unsigned long rate = 0;
	int c;

	while ((c = getopt_long(argc, argv, "P:k:t:h", lo, NULL)) != -1) {
		char *end = NULL;
		errno = 0;
		switch (c) {
		case 'P':
			o.partition = (int32_t)strtol(optarg, &end, 10);
			break;
		case 'k':
			key = optarg;
			break;
		case 'a':
			o.no_ack = false;
			break;
		case 'n':
			o.no_ack = true;
			break;
		case 'i':
			o.producer_id = strtoll(optarg, &end, 10);
			break;
		case 'e':
			o.epoch = (int16_t)strtol(optarg, &end, 10);
			break;
		case 'w':
			o.window_records = (uint32_t)strtoul(optarg, &end, 10);
			break;
		case 'l':
			o.linger_us = (uint32_t)strtoul(optarg, &end, 10);
			break;
		case 't':
			timeout_ms = strtol(optarg, &end, 10);
			break;
		case 's':
			summary = true;
			break;
		case 'r':
			rate = strtoul(optarg, &end, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (end && (*end || errno)) {
			fprintf(stderr, "sluice-send: bad number '%s'\n", optarg);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	char *end = NULL;
	unsigned long port = strtoul(argv[optind + 1], &end, 10);
	if (*end || port == 0 || port > 65535) {
		fprintf(stderr, "sluice-send: bad port '%s'\n", argv[optind + 1]);
		return 2;
	}
	o.host = argv[optind];
	o.port = (uint16_t)port;

	struct sluice_client *cl;
	int rc = sluice_client_create(&o, &cl);
	if (rc) {
		fprintf(stderr, "sluice-send: %s:%lu: %s\n", o.host, port, strerror(-rc));
		return 1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t sent = 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		if (rate && ++sent % 16 == 0) {
			/* Pace: wait (serving acks) until this event's time has come. */
			for (;;) {
				struct timespec t;
				clock_gettime(CLOCK_MONOTONIC, &t);
				double el = (double)(t.tv_sec - t0.tv_sec) +
					(double)(t.tv_nsec - t0.tv_nsec) / 1e9;
				if (el * (double)rate >= (double)sent)
					break;
				sluice_client_poll(cl, 1);
			}
		}
		if (n && line[n - 1] == '\n')
			n--;
		rc = sluice_client_send(cl, key, key ? strlen(key) : 0, line, (size_t)n, 0, 0);
		if (rc) {
			fprintf(stderr, "sluice-send: send: %s\n", strerror(-rc));
			break;
		}
	}
	free(line);
	if (rc == 0)
		rc = sluice_client_flush(cl, (int)timeout_ms);
	if (rc)
		fprintf(stderr, "sluice-send: flush: %s\n", strerror(-rc));
	struct sluice_client_stats st;
	sluice_client_stats(cl, &st);
	if (summary) {
		int64_t pid;
		int16_t ep;
		int32_t seq;
		sluice_client_stream(cl, &pid, &ep, &seq);
		fprintf(stderr,
			"{\"producer_id\": %" PRId64 ", \"epoch\": %d, \"events\": %" PRIu64
			", \"events_acked\": %" PRIu64 ", \"datagrams\": %" PRIu64
			", \"retransmits\": %" PRIu64 ", \"acks\": %" PRIu64
			", \"acks_ignored\": %" PRIu64 ", \"acks_malformed\": %" PRIu64
			", \"resend_hints\": %" PRIu64 ", \"inflight_events\": %" PRIu64
			", \"srtt_us\": %" PRIu64 ", \"rto_us\": %" PRIu64,
			pid, ep, st.events, st.events_acked, st.datagrams, st.retransmits, st.acks,
			st.acks_ignored, st.acks_malformed, st.resend_hints, st.inflight_events,
			st.srtt_us, st.rto_us);
		fprintf(stderr, ", \"ack_latency_hist_log2_us\": [");
		for (int i = 0; i < 24; i++)
			fprintf(stderr, "%s%" PRIu64, i ? ", " : "", st.ack_latency_hist[i]);
		fprintf(stderr, "]}\n");
	}
	sluice_client_destroy(cl);
	return rc ? 1 : 0;
}
