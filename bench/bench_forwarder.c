/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_forwarder: forwarded records/s against a plain librdkafka producer loop with the
 * same settings (idempotence, acks=all, infinite message timeout, linger, compression,
 * explicit partitions, the same key/value sizes and the same four extra headers), against
 * the same embedded cluster (librdkafka's mock, loopback TCP), in the same run.
 *
 *   bench_forwarder [-n RECORDS] [-p PARTITIONS] [-r REPEATS] [-v VALUE_BYTES]...
 *
 * Reports, never asserts. The forwarder's figure excludes its start-up tail read (reported
 * separately); both include waiting for every acknowledgement.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LIBRDKAFKA_TYPECHECKS 0
#include <librdkafka/rdkafka.h>

#include "sluice_forward.h"

#define MAX_SIZES 4
#define MAX_REPEATS 9

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* Append n records of value_bytes each, round-robin over the partitions. */
static int fill(struct sluice_log *log, const char *topic, uint32_t partitions, long n,
		long value_bytes)
{
	size_t cap = 4u << 20;
	uint8_t *buf = malloc(cap);
	char *value = malloc((size_t)value_bytes + 1);
	char key[32];
	long done = 0;
	int rc = -ENOMEM;

	if (!buf || !value)
		goto out;
	memset(value, 'x', (size_t)value_bytes);
	while (done < n) {
		for (uint32_t p = 0; p < partitions && done < n; p++) {
			struct sluice_partition *sp = sluice_log_partition(
				log, (uint32_t)sluice_log_partition_id(log, topic, p));
			struct sluice_rb_batch_meta meta = {.producer_id = SLUICE_RB_NO_PRODUCER_ID,
							    .base_sequence = SLUICE_RB_NO_SEQUENCE,
							    .producer_epoch = -1};
			struct sluice_rb_builder b;

			sluice_rb_builder_init(&b, buf, cap, &meta);
			for (int i = 0; i < 1000 && done < n; i++, done++) {
				struct sluice_rb_record r = {
					.timestamp = 1700000000000LL + done,
					.key = (const uint8_t *)key,
					.value = (const uint8_t *)value,
					.value_len = (int32_t)value_bytes,
				};

				r.key_len = snprintf(key, sizeof(key), "key-%ld", done);
				rc = sluice_rb_builder_append(&b, &r);
				if (rc == -ENOSPC)
					break;
				if (rc)
					goto out;
			}
			rc = sluice_partition_append_sync(sp, buf, sluice_rb_builder_seal(&b),
							  NULL);
			if (rc)
				goto out;
		}
	}
	rc = 0;
out:
	free(buf);
	free(value);
	return rc;
}

static rd_kafka_t *plain_producer(const char *bootstrap)
{
	static const char *const kv[][2] = {
		{"enable.idempotence", "true"}, {"acks", "all"},
		{"message.timeout.ms", "0"},    {"linger.ms", "5"},
		{"compression.type", "none"},   {"log_level", "3"},
	};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512];
	rd_kafka_t *rk;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)))
		goto fail;
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof(errstr)))
			goto fail;
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk)
		goto fail;
	return rk;
fail:
	fprintf(stderr, "bench_forwarder: plain producer: %s\n", errstr);
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* The baseline: a plain producer loop, the same messages as the forwarder produces. */
static double run_plain(const char *bootstrap, const char *topic, uint32_t partitions, long n,
			long value_bytes)
{
	rd_kafka_t *rk = plain_producer(bootstrap);
	char *value = malloc((size_t)value_bytes + 1);
	char key[32], off[24], part[12];
	rd_kafka_topic_t *rkt;
	uint64_t queue_full = 0;
	double t0, t1;

	if (!rk || !value)
		return -1;
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	memset(value, 'x', (size_t)value_bytes);
	/* Connection and metadata first, as the forwarder's figure excludes its start-up. */
	rd_kafka_flush(rk, 100);
	{
		const struct rd_kafka_metadata *md;

		if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) == 0)
			rd_kafka_metadata_destroy(md);
	}
	t0 = now_s();
	for (long i = 0; i < n;) {
		int32_t p = (int32_t)(i % partitions);
		rd_kafka_headers_t *h = rd_kafka_headers_new(4);
		rd_kafka_resp_err_t err;
		int klen = snprintf(key, sizeof(key), "key-%ld", i);

		snprintf(off, sizeof(off), "%ld", i / partitions);
		snprintf(part, sizeof(part), "%" PRId32, p);
		rd_kafka_header_add(h, "sluice.topic", -1, topic, -1);
		rd_kafka_header_add(h, "sluice.partition", -1, part, -1);
		rd_kafka_header_add(h, "sluice.offset", -1, off, -1);
		rd_kafka_header_add(h, "sluice.appliance", -1, "bench", -1);
		err = rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(p),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_KEY(key, (size_t)klen),
					RD_KAFKA_V_VALUE(value, (size_t)value_bytes),
					RD_KAFKA_V_TIMESTAMP(1700000000000LL + i),
					RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			rd_kafka_headers_destroy(h);
			rd_kafka_poll(rk, 1);
			queue_full++;
			continue;
		}
		if (err) {
			rd_kafka_headers_destroy(h);
			fprintf(stderr, "bench_forwarder: producev: %s\n", rd_kafka_err2str(err));
			break;
		}
		/* Serve delivery reports once per 1000 like the forwarder's pass, not per
		 * message: the stronger baseline. */
		if (++i % 1000 == 0)
			rd_kafka_poll(rk, 0);
	}
	while (rd_kafka_outq_len(rk) > 0)
		rd_kafka_flush(rk, 1000);
	t1 = now_s();
	if (queue_full)
		printf("  (plain producer: %" PRIu64 " QUEUE_FULL waits)\n", queue_full);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	free(value);
	return (double)n / (t1 - t0);
}

static double run_forwarder(struct sluice_log *log, const char *bootstrap, const char *local,
			    const char *kafka_topic, long n, double *resume_s)
{
	struct sluice_fwd_topic t = {.name = local, .kafka_topic = kafka_topic};
	struct sluice_fwd_opts o = {
		.log = log,
		.topics = &t,
		.ntopics = 1,
		.brokers = bootstrap,
		.appliance_id = "bench",
	};
	struct sluice_fwd_stats st;
	struct sluice_fwd *f;
	double t0, t_run = 0, t1;

	if (sluice_fwd_create(&o, &f))
		return -1;
	t0 = now_s();
	if (sluice_fwd_start(f)) {
		sluice_fwd_destroy(f);
		return -1;
	}
	for (;;) {
		sluice_fwd_stats(f, &st, NULL, 0);
		if (!t_run && st.state == SLUICE_FWD_RUNNING)
			t_run = now_s();
		if (st.delivered_records >= (uint64_t)n || now_s() - t0 > 300)
			break;
		sleep_ms(1);
	}
	t1 = now_s();
	sluice_fwd_destroy(f);
	*resume_s = t_run - t0;
	return (double)n / (t1 - t_run);
}

int main(int argc, char **argv)
{
	long n = 200000, sizes[MAX_SIZES] = {100, 1024}, repeats = 3, v;
	uint32_t partitions = 3;
	int nsizes = 0, opt, rc = 1;
	struct sluice_kafka_embedded_topic kt[2 * MAX_SIZES * MAX_REPEATS];
	struct sluice_topic_opts lt[MAX_SIZES];
	char names[2 * MAX_SIZES * MAX_REPEATS][32], local[MAX_SIZES][32];
	char dir[] = "/tmp/bench_forwarder.XXXXXX";
	struct sluice_kafka_embedded *e = NULL;
	struct sluice_log *log = NULL;
	char *end;

	while ((opt = getopt(argc, argv, "n:p:r:v:")) != -1) {
		errno = 0;
		v = strtol(optarg, &end, 10);
		if (errno || *end || v < 1)
			goto usage;
		if (opt == 'n')
			n = v;
		else if (opt == 'p' && v <= 64)
			partitions = (uint32_t)v;
		else if (opt == 'r' && v <= MAX_REPEATS)
			repeats = v;
		else if (opt == 'v' && nsizes < MAX_SIZES && v <= (1 << 20))
			sizes[nsizes++] = v;
		else
			goto usage;
	}
	if (!nsizes)
		nsizes = 2;
	if (!mkdtemp(dir)) {
		perror("bench_forwarder: mkdtemp");
		return 1;
	}
	for (int s = 0; s < nsizes; s++) {
		snprintf(local[s], sizeof(local[s]), "v%ld", sizes[s]);
		lt[s] = (struct sluice_topic_opts){
			.name = local[s],
			.partitions = partitions,
			.segment_bytes = 256u << 20,
			.flush_interval_us = 1000,
			.flush_bytes = 8u << 20,
			.index_interval_bytes = 4096,
		};
		for (long r = 0; r < repeats; r++) {
			int i = (int)(2 * (s * repeats + r));

			snprintf(names[i], sizeof(names[i]), "fwd-%ld-%ld", sizes[s], r);
			snprintf(names[i + 1], sizeof(names[i + 1]), "plain-%ld-%ld", sizes[s], r);
			kt[i] = (struct sluice_kafka_embedded_topic){names[i], partitions};
			kt[i + 1] = (struct sluice_kafka_embedded_topic){names[i + 1], partitions};
		}
	}
	{
		struct sluice_log_opts lo = {
			.data_dir = dir,
			.topics = lt,
			.ntopics = (uint32_t)nsizes,
			.writers = 1,
			.write_buffer_bytes = 1u << 20,
		};

		if (sluice_log_open(&lo, &log))
			goto out;
	}
	if (sluice_kafka_embedded_start(kt, (uint32_t)(2 * nsizes * repeats), 1, &e))
		goto out;
	printf("bench_forwarder: %ld records, %" PRIu32 " partitions, median of %ld runs, "
	       "embedded cluster (librdkafka mock, loopback TCP)\n",
	       n, partitions, repeats);
	for (int s = 0; s < nsizes; s++) {
		double plain[MAX_REPEATS], fwd[MAX_REPEATS], resume[MAX_REPEATS];

		if (fill(log, local[s], partitions, n, sizes[s])) {
			fprintf(stderr, "bench_forwarder: filling the log failed\n");
			goto out;
		}
		/* Alternate so that drift on a shared machine hits both sides alike. */
		for (long r = 0; r < repeats; r++) {
			int i = (int)(2 * (s * repeats + r));

			fwd[r] = run_forwarder(log, sluice_kafka_embedded_bootstrap(e), local[s],
					       names[i], n, &resume[r]);
			plain[r] = run_plain(sluice_kafka_embedded_bootstrap(e), names[i + 1],
					     partitions, n, sizes[s]);
		}
		{
			double pm = median(plain, (int)repeats), fm = median(fwd, (int)repeats);
			double rm = median(resume, (int)repeats);

			printf("value %5ld B: plain producer %9.0f rec/s, forwarder %9.0f rec/s, "
			       "ratio %.2f (start-up tail read %.0f ms)\n",
			       sizes[s], pm, fm, fm / pm, rm * 1000);
		}
	}
	rc = 0;
out:
	sluice_kafka_embedded_stop(e);
	sluice_log_close(log);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_forwarder: could not remove %s\n", dir);
	}
	return rc;
usage:
	fprintf(stderr,
		"usage: bench_forwarder [-n records] [-p partitions] [-r repeats] "
		"[-v value_bytes]...\n");
	return 2;
}
