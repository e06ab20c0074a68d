/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kafka_mock: run librdkafka's mock cluster in its own process, so that it outlives the
 * forwarding processes a test kills.
 *
 *   kafka_mock [-b brokers] [-t max_seconds] topic:partitions...
 *
 * Prints the bootstrap servers on the first line of stdout, then reads commands from stdin,
 * one per line, answering "ok" or "error: ..." on stdout:
 *   down <broker id>            take a broker down
 *   up <broker id>              bring it back
 *   err <api key> <code>...     make the next requests of that API fail with these codes
 *   topic <name> <partitions>   create a topic
 *   leader <topic> <p> <broker> make a broker the partition's leader
 *   coord <transactional id> <broker>  make a broker that id's transaction coordinator
 *   rtt <broker> <ms>           delay the broker's responses (0: none)
 * Exits on EOF, "quit", SIGTERM or after max_seconds (default 300: tests never leak it).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <time.h>

#include "sluice_forward.h"

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int command(struct sluice_kafka_embedded *e, char *line)
{
	char *argv[70];
	int argc = 0;
	long a, b;

	for (char *p = line; *p && argc < 70;) {
		p += strspn(p, " \t\n");
		if (!*p)
			break;
		argv[argc++] = p;
		p += strcspn(p, " \t\n");
		if (*p)
			*p++ = '\0';
	}
	if (argc == 0)
		return 0;
	if (strcmp(argv[0], "quit") == 0) {
		quit = 1;
		return 0;
	}
	if ((strcmp(argv[0], "down") == 0 || strcmp(argv[0], "up") == 0) && argc == 2 &&
	    parse_long(argv[1], 1, 1000, &a) == 0)
		return argv[0][0] == 'd' ? sluice_kafka_embedded_broker_down(e, (int32_t)a)
					 : sluice_kafka_embedded_broker_up(e, (int32_t)a);
	if (strcmp(argv[0], "err") == 0 && argc >= 3 && parse_long(argv[1], 0, 100, &a) == 0) {
		int codes[64];
		int n = 0;

		for (int i = 2; i < argc && n < 64; i++) {
			if (parse_long(argv[i], -200, 200, &b))
				return -EINVAL;
			codes[n++] = (int)b;
		}
		sluice_kafka_embedded_push_errors(e, (int16_t)a, codes, (size_t)n);
		return 0;
	}
	if (strcmp(argv[0], "leader") == 0 && argc == 4 && parse_long(argv[2], 0, 10000, &a) == 0 &&
	    parse_long(argv[3], 1, 1000, &b) == 0)
		return sluice_kafka_embedded_set_leader(e, argv[1], (int32_t)a, (int32_t)b);
	if (strcmp(argv[0], "rtt") == 0 && argc == 3 && parse_long(argv[1], 1, 1000, &a) == 0 &&
	    parse_long(argv[2], 0, 60000, &b) == 0)
		return sluice_kafka_embedded_set_rtt(e, (int32_t)a, (int)b);
	if (strcmp(argv[0], "coord") == 0 && argc == 3 && parse_long(argv[2], 1, 1000, &a) == 0)
		return sluice_kafka_embedded_set_coordinator(e, argv[1], (int32_t)a);
	if (strcmp(argv[0], "topic") == 0 && argc == 3 && parse_long(argv[2], 1, 10000, &a) == 0)
		return sluice_kafka_embedded_topic_create(e, argv[1], (uint32_t)a);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct sluice_kafka_embedded_topic topics[32];
	struct sluice_kafka_embedded *e = NULL;
	uint32_t ntopics = 0, brokers = 1;
	long max_seconds = 300, v;
	char line[1024];
	time_t deadline;
	int opt, rc;

	while ((opt = getopt(argc, argv, "b:t:")) != -1) {
		if (opt == 'b' && parse_long(optarg, 1, 16, &v) == 0)
			brokers = (uint32_t)v;
		else if (opt == 't' && parse_long(optarg, 1, 86400, &v) == 0)
			max_seconds = v;
		else
			goto usage;
	}
	for (int i = optind; i < argc && ntopics < 32; i++) {
		char *colon = strchr(argv[i], ':');

		if (!colon || parse_long(colon + 1, 1, 10000, &v))
			goto usage;
		*colon = '\0';
		topics[ntopics].name = argv[i];
		topics[ntopics].partitions = (uint32_t)v;
		ntopics++;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	rc = sluice_kafka_embedded_start(topics, ntopics, brokers, &e);
	if (rc) {
		fprintf(stderr, "kafka_mock: start: %s\n", strerror(-rc));
		return 1;
	}
	printf("%s\n", sluice_kafka_embedded_bootstrap(e));
	fflush(stdout);
	deadline = time(NULL) + max_seconds;
	while (!quit && time(NULL) < deadline) {
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if (!fgets(line, sizeof(line), stdin))
			break;
		rc = command(e, line);
		if (rc)
			printf("error: %s\n", strerror(-rc));
		else
			printf("ok\n");
		fflush(stdout);
	}
	sluice_kafka_embedded_stop(e);
	return 0;
usage:
	fprintf(stderr, "usage: kafka_mock [-b brokers] [-t max_seconds] topic:partitions...\n");
	return 2;
}
