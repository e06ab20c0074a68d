/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluiced: parse and validate the configuration, run the daemon, stop it on a signal.
 *
 * Exit status: 0 clean shutdown; 1 start-up or shutdown failure (logged); 2 bad command line
 * or configuration (every error printed as file:line: key: reason).
 *
 * Threads: main only; signal handlers just count (a second signal exits at once; SIGHUP asks
 * for a reload of the configuration file).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "sluice_time.h"
#include "host.h"

#define EXIT_CONFIG 2

static struct sluice_daemon *g_daemon;

static void on_signal(int sig)
{
	static const char msg[] = "sluiced: second signal, exiting without a clean shutdown\n";
	/* Lock-free on every platform DPDK runs on, hence async-signal-safe. */
	static atomic_llong first_ms;
	long long now, first;

	(void)sig;
	now = (long long)sluice_mono_ms() + 1;
	first = atomic_load(&first_ms);
	/* timeout(1) and some supervisors signal the process and then its group: a repeat
	 * within a second is the same request, not an operator insisting. */
	if (first && now - first < 1000)
		return;
	if (!first) {
		atomic_store(&first_ms, now);
	} else {
		/* The next start runs recovery: nothing durable is lost, only time. */
		ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)n;
		_exit(1);
	}
	if (g_daemon)
		sluice_daemon_request_stop(g_daemon);
}

static void on_hup(int sig)
{
	(void)sig;
	if (g_daemon)
		sluice_daemon_request_reload(g_daemon);
}

static void on_alarm(int sig)
{
	static const char msg[] = "sluiced: shutdown took longer than control.shutdown_timeout, "
				  "exiting\n";
	ssize_t n;

	(void)sig;
	n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)n;
	_exit(1);
}

static void print_warning(void *arg, uint32_t port, const char *msg)
{
	(void)port;
	fprintf(stderr, "%s: warning: %s\n", (const char *)arg, msg);
}

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s -c FILE [--set section.key=value]...   run the appliance\n"
		"       %s --check-config FILE [--set ...]          validate and exit\n"
		"       %s --help-config[=markdown]                 describe every key\n"
		"\n"
		"  -c, --config FILE     configuration file (INI, see docs/configuration.md)\n"
		"  -s, --set K=V         override any key, e.g. --set storage.writers=2,\n"
		"                        --set topic.events.partitions=8, --set kafka.linger.ms=5\n"
		"      --check-config F  validate F (and the overrides) and exit: 0 valid, 2 not\n"
		"      --help-config     print every key's type, default, range and help\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n"
		"\n"
		"Exit status: 0 clean shutdown, 1 runtime failure, 2 invalid configuration.\n",
		prog, prog, prog);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"set", required_argument, NULL, 's'},
		{"check-config", required_argument, NULL, 'C'},
		{"help-config", optional_argument, NULL, 'H'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *file = NULL;
	bool check_only = false;
	const char **sets = calloc((size_t)argc + 1, sizeof(*sets));
	unsigned nsets = 0;
	struct sluice_config *cfg = NULL;
	struct sigaction sa;
	uint64_t shutdown_timeout_us = 30000000;
	int c, rc, status = 0;

	if (!sets)
		return 1;
	while ((c = getopt_long(argc, argv, "c:s:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			file = optarg;
			break;
		case 'C':
			file = optarg;
			check_only = true;
			break;
		case 's':
			sets[nsets++] = optarg;
			break;
		case 'H':
			if (optarg && strcmp(optarg, "markdown") != 0) {
				fprintf(stderr, "%s: --help-config takes =markdown or nothing\n",
					argv[0]);
				status = EXIT_CONFIG;
				goto out;
			}
			sluice_config_help(stdout,
					   optarg ? SLUICE_CONFIG_HELP_MARKDOWN
						  : SLUICE_CONFIG_HELP_TEXT);
			goto out;
		case 'h':
			usage(stdout, argv[0]);
			goto out;
		case 'V':
			printf("sluiced 0.1.0\n");
			goto out;
		default:
			usage(stderr, argv[0]);
			status = EXIT_CONFIG;
			goto out;
		}
	}
	if (optind < argc || !file) {
		usage(stderr, argv[0]);
		status = EXIT_CONFIG;
		goto out;
	}

	cfg = sluice_config_new();
	if (!cfg) {
		status = 1;
		goto out;
	}
	rc = sluice_config_load(cfg, file);
	for (unsigned i = 0; i < nsets; i++)
		sluice_config_override(cfg, sets[i], i + 1);
	/* Cross-checks only mean something once every line parsed. */
	if (sluice_config_error_count(cfg) == 0)
		sluice_config_validate(cfg);
	if (sluice_config_error_count(cfg) || rc) {
		sluice_config_print_errors(cfg, stderr);
		fprintf(stderr, "%s: %u error%s in the configuration\n", argv[0],
			sluice_config_error_count(cfg),
			sluice_config_error_count(cfg) == 1 ? "" : "s");
		status = EXIT_CONFIG;
		goto out;
	}
	if (check_only) {
		/* Placement warnings are not errors: the file is valid, just slow here. */
		sluice_host_numa_check(sluice_host_root(), cfg, print_warning, (void *)file);
		printf("%s: configuration OK\n", file);
		goto out;
	}

	rc = sluice_daemon_create(cfg, argv[0], &g_daemon);
	if (rc) {
		status = 1;
		goto out;
	}
	shutdown_timeout_us = cfg->control.shutdown_timeout_us;
	cfg = NULL; /* owned by the daemon */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* SIGHUP (systemctl reload): re-read the file, apply what can change at runtime. */
	sluice_daemon_set_source(g_daemon, file, sets, nsets);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = sluice_daemon_start(g_daemon);
	if (rc) {
		fprintf(stderr, "%s: start-up failed: %s\n", argv[0], strerror(-rc));
		status = 1;
		goto out;
	}
	if (sluice_daemon_kafka_bootstrap(g_daemon))
		printf("sluiced: embedded Kafka bootstrap %s\n",
		       sluice_daemon_kafka_bootstrap(g_daemon));
	if (sluice_daemon_metrics_port(g_daemon))
		printf("sluiced: metrics on port %u\n", sluice_daemon_metrics_port(g_daemon));
	printf("sluiced: running (pid %ld)\n", (long)getpid());
	fflush(stdout);
	sluice_daemon_run(g_daemon);
	/* A shutdown that hangs (a stuck disk, a broker that never answers) must still end. */
	{
		struct sigaction al;
		memset(&al, 0, sizeof(al));
		al.sa_handler = on_alarm;
		sigemptyset(&al.sa_mask);
		sigaction(SIGALRM, &al, NULL);
		alarm((unsigned)(shutdown_timeout_us / 1000000));
	}
	rc = sluice_daemon_stop(g_daemon);
	alarm(0);
	status = rc ? 1 : 0;
out:
	if (g_daemon) {
		struct sluice_daemon *d = g_daemon;
		g_daemon = NULL;
		sluice_daemon_destroy(d);
	}
	sluice_config_free(cfg);
	free(sets);
	return status;
}
