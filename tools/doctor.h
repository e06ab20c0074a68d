/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * `sluicectl doctor`: checks a host against a sluiced configuration before a start (or
 * while sluiced runs) and says, for each thing that is not right, the command that fixes it.
 *
 * One result per check, each named (`hugepages.node0`, `port.p0.driver`, ...); the names
 * key the troubleshooting section of docs/deployment.md. sysfs and procfs are read under a
 * root directory (control/host.h), so that tests describe machines this one is not; the data
 * directory, the Kafka cluster and the control socket are the real ones.
 *
 * Threads: not thread-safe; one run at a time per report.
 */
#ifndef SLUICE_DOCTOR_H
#define SLUICE_DOCTOR_H

#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sluice_doctor_status {
	SLUICE_DOCTOR_PASS,
	SLUICE_DOCTOR_WARN, /**< works, but slower or less safe than it should be */
	SLUICE_DOCTOR_FAIL, /**< sluiced will not start, or will lose its guarantees */
};

struct sluice_doctor_result {
	char name[64]; /**< stable check name, e.g. "hugepages.node0" */
	enum sluice_doctor_status status;
	char detail[768]; /**< what was found */
	char fix[1024]; /**< commands that fix a non-pass, one per line; "" for a pass */
};

struct sluice_doctor_opts {
	/** Configuration to judge; NULL: the running sluiced's file, else SLUICE_DOCTOR_CONFIG */
	const char *config_file;
	/** sysfs/procfs root ("" or NULL: the host; tests: a fake tree) */
	const char *root;
	/** control socket of a running sluiced; NULL: do not ask one */
	const char *socket;
	/** control socket timeout (0: 5000) */
	int timeout_ms;
	/** Kafka metadata timeout (0: 5000) */
	int kafka_timeout_ms;
	/** run only the checks whose name starts with this (NULL: all) */
	const char *only;
	/** fdatasync samples for data_dir.fdatasync (0: 16) */
	unsigned fsync_samples;
};

/** The packaged configuration file, used when no other is named. */
#define SLUICE_DOCTOR_CONFIG "/etc/sluice/sluiced.ini"

struct sluice_doctor_report {
	unsigned n;
	struct sluice_doctor_result *results;
	unsigned count[3]; /**< by enum sluice_doctor_status */
	char config_file[256]; /**< the file judged */
};

/**
 * Run every check. @return 0 with @p out set (free with sluice_doctor_report_free), or
 * -ENOMEM. Failures of checks are results, not errors.
 */
int sluice_doctor_run(const struct sluice_doctor_opts *opts, struct sluice_doctor_report **out);

void sluice_doctor_report_free(struct sluice_doctor_report *r);

/** The result named @p name, or NULL (tests, scripts). */
const struct sluice_doctor_result *sluice_doctor_find(const struct sluice_doctor_report *r,
						      const char *name);

/** Print one line per check (and its fix) or, with @p json, one JSON object. */
void sluice_doctor_print(const struct sluice_doctor_report *r, FILE *out, bool json);

/**
 * `sluicectl doctor [--config FILE] [--json] [--only PREFIX] [--kafka-timeout SEC]
 * [--root DIR]`: parse the arguments after the command word, run, print. @p timeout_ms
 * bounds the wait for the control socket.
 * @return exit status: 0 nothing failed (warnings allowed), 1 a check failed, 2 usage.
 */
int sluice_doctor_main(int argc, char **argv, const char *socket, bool json, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_DOCTOR_H */
