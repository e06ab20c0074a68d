/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_forwarder: the forwarder against its peers and its transport limit, side by side in
 * one run, for each record size:
 *
 *   forwarder   the log → Kafka (one forwarder thread), from RUNNING to the last ack
 *   librdkafka  a plain librdkafka producer loop: the same records, acks=all, idempotence,
 *               explicit partitions, librdkafka's default batching (linger.ms 5); on
 *               QUEUE_FULL it blocks in rd_kafka_poll() until a delivery report frees room
 *               (librdkafka's own examples/producer.c idiom: woken by the report, not a
 *               fixed sleep, and not a poll(0) spin that takes the CPU from librdkafka's
 *               broker threads on a small machine)
 *   kcat        the same records through kcat -P (a separate process: its wall time)
 *   tcp         a plain TCP receiver on loopback taking as many bytes as the forwarder sent
 *               (the transport limit: one connection, write() in 1 MiB chunks, read and
 *               discard)
 *
 * against two clusters: kafka_sink (kafka_sink.c: acknowledges at once, stores nothing: the
 * clients' own capacity) and librdkafka's embedded mock cluster (keeps every batch, on one
 * thread: it is the limit above ~100 MB/s). Both share the CPUs with the client.
 *
 *   bench_forwarder [-n RECORDS] [-p PARTITIONS] [-v VALUE_BYTES]... [-C none|lz4|zstd]
 *                   [-B BATCH_BYTES] [-o JSON_FILE] [-K]
 *
 * Defaults: 1000000 records (above 100 B, as many bytes of values as 1000000 x 100 B), 3
 * partitions, values of 50, 100 and 1024 bytes. -K skips kcat; -B sets batch.size.
 * Prints a summary; the raw figures go to JSON_FILE (default: stdout after the summary).
 * It reports; it never asserts a number (meson suite perf).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LIBRDKAFKA_TYPECHECKS 0
#include <librdkafka/rdkafka.h>

#include "kafka_sink.h"
#include "sluice_forward.h"
#include "sluice_time.h"

#define MAX_SIZES 4
#define LOG_BATCH_BYTES (256u << 10) /* the dataplane's default batch_bytes */
#define TS0 1700000000000LL

struct result {
	double seconds;
	uint64_t records;
	uint64_t payload_bytes; /* keys + values */
	uint64_t wire_bytes; /* batch bytes sent (forwarder, tcp) */
	uint64_t batches, requests, waits;
	double startup_ms;
	bool ok;
};

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int key_of(long i, char *key, size_t len)
{
	return snprintf(key, len, "key-%ld", i);
}

/* Append n records (round-robin over the partitions, batches of up to LOG_BATCH_BYTES as
 * the dataplane seals them). Returns the payload bytes written, or -1. */
static int64_t fill(struct sluice_log *log, const char *topic, uint32_t partitions, long n,
		    long value_bytes)
{
	uint8_t *buf = malloc(LOG_BATCH_BYTES);
	char *value = malloc((size_t)value_bytes + 1);
	int64_t payload = 0;
	long done = 0;

	if (!buf || !value)
		goto fail;
	memset(value, 'x', (size_t)value_bytes);
	while (done < n) {
		for (uint32_t p = 0; p < partitions && done < n; p++) {
			struct sluice_partition *sp = sluice_log_partition(
				log, (uint32_t)sluice_log_partition_id(log, topic, p));
			struct sluice_rb_batch_meta meta = {.producer_id = SLUICE_RB_NO_PRODUCER_ID,
							    .base_sequence = SLUICE_RB_NO_SEQUENCE,
							    .producer_epoch = -1};
			struct sluice_rb_builder b;

			sluice_rb_builder_init(&b, buf, LOG_BATCH_BYTES, &meta);
			while (done < n) {
				char key[32];
				struct sluice_rb_record r = {
					.timestamp = TS0 + done,
					.key = (const uint8_t *)key,
					.value = (const uint8_t *)value,
					.value_len = (int32_t)value_bytes,
				};
				int rc;

				r.key_len = key_of(done, key, sizeof(key));
				rc = sluice_rb_builder_append(&b, &r);
				if (rc == -ENOSPC)
					break;
				if (rc)
					goto fail;
				payload += r.key_len + value_bytes;
				done++;
			}
			if (sluice_partition_append_sync(sp, buf, sluice_rb_builder_seal(&b), NULL))
				goto fail;
		}
	}
	free(buf);
	free(value);
	return payload;
fail:
	free(buf);
	free(value);
	return -1;
}

static uint32_t batch_bytes; /* -B; 0: the forwarder's default */

static struct result run_forwarder(struct sluice_log *log, const char *bootstrap, const char *local,
				   const char *kafka_topic, long n, const char *codec)
{
	struct sluice_fwd_topic t = {.name = local, .kafka_topic = kafka_topic};
	struct sluice_fwd_opts o = {
		.log = log,
		.topics = &t,
		.ntopics = 1,
		.brokers = bootstrap,
		.appliance_id = "bench",
		.compression = codec,
		.idle_poll_ms = 1,
		.batch_bytes = batch_bytes,
	};
	struct result res = {0};
	struct sluice_fwd_stats st;
	struct sluice_fwd *f;
	double t0, t_run = 0, t1;

	if (sluice_fwd_create(&o, &f))
		return res;
	t0 = sluice_mono_s();
	if (sluice_fwd_start(f)) {
		sluice_fwd_destroy(f);
		return res;
	}
	for (;;) {
		sluice_fwd_stats(f, &st, NULL, 0);
		if (!t_run && st.state == SLUICE_FWD_RUNNING)
			t_run = sluice_mono_s();
		if (st.delivered_records >= (uint64_t)n || sluice_mono_s() - t0 > 600)
			break;
		sleep_ms(1);
	}
	t1 = sluice_mono_s();
	sluice_fwd_stop(f, 1000);
	sluice_fwd_stats(f, &st, NULL, 0);
	sluice_fwd_destroy(f);
	res.ok = st.delivered_records >= (uint64_t)n && t_run > 0;
	res.seconds = t1 - t_run;
	res.records = st.delivered_records;
	res.wire_bytes = st.delivered_bytes;
	res.batches = st.delivered_batches;
	res.requests = st.produce_requests;
	res.startup_ms = (t_run - t0) * 1000;
	return res;
}

static rd_kafka_t *plain_producer(const char *bootstrap, const char *codec)
{
	const char *kv[][2] = {
		{"bootstrap.servers", bootstrap},
		{"enable.idempotence", "true"},
		{"acks", "all"},
		{"message.timeout.ms", "0"},
		{"compression.type", codec},
		{"log_level", "3"},
	};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512];
	rd_kafka_t *rk;

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

/* (a): the plain producer loop. */
static struct result run_librdkafka(const char *bootstrap, const char *topic, uint32_t partitions,
				    long n, long value_bytes, const char *codec)
{
	rd_kafka_t *rk = plain_producer(bootstrap, codec);
	char *value = malloc((size_t)value_bytes + 1);
	struct result res = {0};
	rd_kafka_topic_t *rkt;
	double t0;

	if (!rk || !value)
		goto out;
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	memset(value, 'x', (size_t)value_bytes);
	/* Connection and metadata first, as the forwarder's figure excludes its start-up. */
	{
		const struct rd_kafka_metadata *md;

		if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == 0)
			rd_kafka_metadata_destroy(md);
	}
	t0 = sluice_mono_s();
	for (long i = 0; i < n;) {
		char key[32];
		int klen = key_of(i, key, sizeof(key));
		rd_kafka_resp_err_t err = rd_kafka_producev(
			rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION((int32_t)(i % partitions)),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, (size_t)klen),
			RD_KAFKA_V_VALUE(value, (size_t)value_bytes), RD_KAFKA_V_TIMESTAMP(TS0 + i),
			RD_KAFKA_V_END);

		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			/* Wait for delivery reports (returns as soon as one is served). */
			rd_kafka_poll(rk, 100);
			res.waits++;
			continue;
		}
		if (err) {
			fprintf(stderr, "bench_forwarder: producev: %s\n", rd_kafka_err2str(err));
			break;
		}
		res.payload_bytes += (uint64_t)(klen + value_bytes);
		if (++i % 1000 == 0)
			rd_kafka_poll(rk, 0);
	}
	while (rd_kafka_outq_len(rk) > 0)
		rd_kafka_flush(rk, 1000);
	res.seconds = sluice_mono_s() - t0;
	res.records = (uint64_t)n;
	res.ok = true;
	rd_kafka_topic_destroy(rkt);
out:
	if (rk)
		rd_kafka_destroy(rk);
	free(value);
	return res;
}

/* (b): kcat -P reading "key<TAB>value" lines from a file written beforehand. */
static struct result run_kcat(const char *bootstrap, const char *topic, long n, long value_bytes,
			      const char *codec, const char *dir)
{
	struct result res = {0};
	char path[256], idem[64], comp[64];
	FILE *fp;
	double t0;
	pid_t pid;
	int status;

	snprintf(path, sizeof(path), "%s/kcat-input.txt", dir);
	fp = fopen(path, "w");
	if (!fp)
		return res;
	for (long i = 0; i < n; i++) {
		char key[32];
		int klen = key_of(i, key, sizeof(key));

		fwrite(key, 1, (size_t)klen, fp);
		fputc('\t', fp);
		for (long b = 0; b < value_bytes; b++)
			fputc('x', fp);
		fputc('\n', fp);
		res.payload_bytes += (uint64_t)(klen + value_bytes);
	}
	fclose(fp);
	snprintf(idem, sizeof(idem), "enable.idempotence=true");
	snprintf(comp, sizeof(comp), "compression.type=%s", codec);
	t0 = sluice_mono_s();
	pid = fork();
	if (pid == 0) {
		int fd = open(path, O_RDONLY);
		int null = open("/dev/null", O_WRONLY);

		if (fd < 0 || dup2(fd, 0) < 0 || dup2(null, 1) < 0)
			_exit(127);
		execlp("kcat", "kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t", "-X", idem,
		       "-X", "acks=all", "-X", comp, "-q", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		goto out;
	res.seconds = sluice_mono_s() - t0;
	res.records = (uint64_t)n;
	res.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (!res.ok)
		fprintf(stderr, "bench_forwarder: kcat exited with status %d\n", status);
out:
	unlink(path);
	return res;
}

struct sink {
	int fd;
	uint64_t got;
};

static void *sink_main(void *arg)
{
	struct sink *s = arg;
	static uint8_t buf[1 << 20];
	int c = accept(s->fd, NULL, NULL);
	ssize_t r;

	if (c < 0)
		return NULL;
	while ((r = read(c, buf, sizeof(buf))) > 0)
		s->got += (uint64_t)r;
	close(c);
	return NULL;
}

/* (c): @p bytes over one loopback connection into a reader that discards them. */
static struct result run_tcp(uint64_t bytes)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	struct sink s = {.fd = socket(AF_INET, SOCK_STREAM, 0)};
	struct result res = {0};
	uint8_t *chunk = calloc(1, 1 << 20);
	pthread_t th;
	double t0;
	int c = -1;

	if (s.fd < 0 || !chunk || bind(s.fd, (struct sockaddr *)&a, sizeof(a)) || listen(s.fd, 1) ||
	    getsockname(s.fd, (struct sockaddr *)&a, &alen) ||
	    pthread_create(&th, NULL, sink_main, &s))
		goto out;
	c = socket(AF_INET, SOCK_STREAM, 0);
	t0 = sluice_mono_s();
	if (c >= 0 && connect(c, (struct sockaddr *)&a, sizeof(a)) == 0) {
		for (uint64_t sent = 0; sent < bytes;) {
			size_t want = bytes - sent < (1u << 20) ? (size_t)(bytes - sent) : 1u << 20;
			ssize_t w = write(c, chunk, want);

			if (w <= 0)
				break;
			sent += (uint64_t)w;
		}
	}
	if (c >= 0)
		close(c);
	c = -1;
	pthread_join(th, NULL);
	res.seconds = sluice_mono_s() - t0;
	res.wire_bytes = s.got;
	res.ok = s.got == bytes;
out:
	if (c >= 0)
		close(c);
	if (s.fd >= 0)
		close(s.fd);
	free(chunk);
	return res;
}

static double per_s(double x, double secs)
{
	return secs > 0 ? x / secs : 0;
}

static void json_result(FILE *o, const char *name, const struct result *r, bool last)
{
	fprintf(o,
		"      \"%s\": {\"ok\": %s, \"seconds\": %.6f, \"records\": %" PRIu64
		", \"records_per_s\": %.0f, \"payload_mb_per_s\": %.3f, \"wire_bytes\": %" PRIu64
		", \"wire_mb_per_s\": %.3f, \"batches\": %" PRIu64 ", \"requests\": %" PRIu64
		", \"queue_full_polls\": %" PRIu64 ", \"startup_ms\": %.1f}%s\n",
		name, r->ok ? "true" : "false", r->seconds, r->records,
		per_s((double)r->records, r->seconds),
		per_s((double)r->payload_bytes, r->seconds) / 1e6, r->wire_bytes,
		per_s((double)r->wire_bytes, r->seconds) / 1e6, r->batches, r->requests, r->waits,
		r->startup_ms, last ? "" : ",");
}

struct cluster_run {
	struct result fwd, plain, kcat;
};

static void json_cluster(FILE *o, const char *name, const struct cluster_run *c, bool last)
{
	double fr = per_s((double)c->fwd.records, c->fwd.seconds);
	double pr = per_s((double)c->plain.records, c->plain.seconds);
	double kr = per_s((double)c->kcat.records, c->kcat.seconds);

	fprintf(o, "      \"%s\": {\n", name);
	json_result(o, "forwarder", &c->fwd, false);
	json_result(o, "librdkafka", &c->plain, false);
	json_result(o, "kcat", &c->kcat, false);
	fprintf(o,
		"      \"forwarder_vs_librdkafka_records\": %.3f,\n"
		"      \"forwarder_vs_kcat_records\": %.3f\n      }%s\n",
		pr > 0 ? fr / pr : 0, kr > 0 ? fr / kr : 0, last ? "" : ",");
}

static void summary(long size, const char *cluster, const struct cluster_run *c,
		    const struct result *tcp)
{
	fprintf(stderr,
		"%5ld B, %-4s: forwarder %10.0f rec/s %7.1f MB/s | librdkafka %9.0f rec/s | "
		"kcat %9.0f rec/s | tcp %7.1f MB/s | fwd/librdkafka %5.1fx, fwd/tcp %.2f\n",
		size, cluster, per_s((double)c->fwd.records, c->fwd.seconds),
		per_s((double)c->fwd.wire_bytes, c->fwd.seconds) / 1e6,
		per_s((double)c->plain.records, c->plain.seconds),
		per_s((double)c->kcat.records, c->kcat.seconds),
		per_s((double)tcp->wire_bytes, tcp->seconds) / 1e6,
		per_s((double)c->fwd.records, c->fwd.seconds) /
			per_s((double)c->plain.records, c->plain.seconds),
		per_s((double)c->fwd.wire_bytes, c->fwd.seconds) /
			per_s((double)tcp->wire_bytes, tcp->seconds));
}

int main(int argc, char **argv)
{
	static const char *const clusters[] = {"sink", "mock"};
	long n = 1000000, sizes[MAX_SIZES] = {50, 100, 1024}, count[MAX_SIZES], v;
	uint32_t partitions = 3;
	int nsizes = 0, opt, rc = 1;
	const char *codec = "none", *json_path = NULL;
	bool no_kcat = false;
	struct sluice_kafka_embedded_topic kt[3 * MAX_SIZES];
	struct sluice_topic_opts lt[MAX_SIZES];
	char names[2][3 * MAX_SIZES][40], local[MAX_SIZES][32];
	char dir[] = "/tmp/bench_forwarder.XXXXXX";
	struct sluice_kafka_embedded *e = NULL;
	struct kafka_sink *sink = NULL;
	struct sluice_log *log = NULL;
	char sink_boot[32];
	FILE *json = NULL;
	char *end;
	struct {
		long value_bytes;
		struct cluster_run run[2];
		struct result tcp;
	} out[MAX_SIZES];

	while ((opt = getopt(argc, argv, "n:p:v:C:o:KB:")) != -1) {
		if (opt == 'C') {
			codec = optarg;
			continue;
		}
		if (opt == 'o') {
			json_path = optarg;
			continue;
		}
		if (opt == 'K') {
			no_kcat = true;
			continue;
		}
		errno = 0;
		v = strtol(optarg, &end, 10);
		if (errno || *end || v < 1)
			goto usage;
		if (opt == 'n')
			n = v;
		else if (opt == 'p' && v <= 64)
			partitions = (uint32_t)v;
		else if (opt == 'B' && v >= 4096 && v <= (16 << 20))
			batch_bytes = (uint32_t)v;
		else if (opt == 'v' && nsizes < MAX_SIZES && v <= (1 << 20))
			sizes[nsizes++] = v;
		else
			goto usage;
	}
	if (!nsizes)
		nsizes = 3;
	if (!mkdtemp(dir)) {
		perror("bench_forwarder: mkdtemp");
		return 1;
	}
	for (int s = 0; s < nsizes; s++) {
		/* Above 100 B the same bytes, not the same records: n x 100 B of values. */
		count[s] = sizes[s] > 100 ? n * 100 / sizes[s] : n;
		snprintf(local[s], sizeof(local[s]), "v%ld", sizes[s]);
		lt[s] = (struct sluice_topic_opts){
			.name = local[s],
			.partitions = partitions,
			.segment_bytes = 1u << 30,
			.flush_interval_us = 1000,
			.flush_bytes = 8u << 20,
			.index_interval_bytes = 4096,
		};
		for (int c = 0; c < 2; c++) {
			for (int k = 0; k < 3; k++) {
				static const char *const what[] = {"fwd", "plain", "kcat"};

				snprintf(names[c][3 * s + k], sizeof(names[c][0]), "%s-%s-%ld",
					 clusters[c], what[k], sizes[s]);
				if (c == 1)
					kt[3 * s + k] = (struct sluice_kafka_embedded_topic){
						names[c][3 * s + k], partitions};
			}
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
	if (sluice_kafka_embedded_start(kt, (uint32_t)(3 * nsizes), 1, &e) ||
	    kafka_sink_start(partitions, &sink))
		goto out;
	snprintf(sink_boot, sizeof(sink_boot), "127.0.0.1:%u", kafka_sink_port(sink));
	fprintf(stderr,
		"bench_forwarder: %ld records (same bytes above 100 B), %" PRIu32
		" partitions, compression %s; clusters: sink (acks at once, stores nothing) and "
		"mock (librdkafka's, keeps the data)\n",
		n, partitions, codec);
	for (int s = 0; s < nsizes; s++) {
		int64_t payload = fill(log, local[s], partitions, count[s], sizes[s]);

		if (payload < 0) {
			fprintf(stderr, "bench_forwarder: filling the log failed\n");
			goto out;
		}
		out[s].value_bytes = sizes[s];
		for (int c = 0; c < 2; c++) {
			const char *boot = c ? sluice_kafka_embedded_bootstrap(e) : sink_boot;
			struct cluster_run *r = &out[s].run[c];

			memset(r, 0, sizeof(*r));
			r->fwd = run_forwarder(log, boot, local[s], names[c][3 * s], count[s],
					       codec);
			r->fwd.payload_bytes = (uint64_t)payload;
			r->plain = run_librdkafka(boot, names[c][3 * s + 1], partitions, count[s],
						  sizes[s], codec);
			if (!no_kcat)
				r->kcat = run_kcat(boot, names[c][3 * s + 2], count[s], sizes[s],
						   codec, dir);
		}
		out[s].tcp = run_tcp(out[s].run[0].fwd.wire_bytes ? out[s].run[0].fwd.wire_bytes
								  : (uint64_t)payload);
		for (int c = 0; c < 2; c++)
			summary(sizes[s], clusters[c], &out[s].run[c], &out[s].tcp);
	}
	json = json_path ? fopen(json_path, "w") : stdout;
	if (!json) {
		perror("bench_forwarder: json output");
		goto out;
	}
	fprintf(json,
		"{\n  \"bench\": \"forwarder\",\n  \"records\": %ld,\n  \"partitions\": %" PRIu32
		",\n  \"compression\": \"%s\",\n  \"librdkafka\": \"%s\",\n  \"cpus\": %ld,\n"
		"  \"clusters\": {\"sink\": \"kafka_sink: acknowledges at once, stores nothing\", "
		"\"mock\": \"librdkafka's mock cluster, embedded\"},\n  \"sizes\": [\n",
		n, partitions, codec, rd_kafka_version_str(), sysconf(_SC_NPROCESSORS_ONLN));
	for (int s = 0; s < nsizes; s++) {
		double fb = per_s((double)out[s].run[0].fwd.wire_bytes, out[s].run[0].fwd.seconds);
		double tb = per_s((double)out[s].tcp.wire_bytes, out[s].tcp.seconds);

		fprintf(json, "    {\n      \"value_bytes\": %ld,\n      \"records\": %ld,\n",
			out[s].value_bytes, count[s]);
		json_cluster(json, "sink", &out[s].run[0], false);
		json_cluster(json, "mock", &out[s].run[1], false);
		json_result(json, "tcp", &out[s].tcp, false);
		fprintf(json, "      \"forwarder_sink_vs_tcp_bytes\": %.3f\n    }%s\n",
			tb > 0 ? fb / tb : 0, s + 1 < nsizes ? "," : "");
	}
	fprintf(json, "  ]\n}\n");
	rc = 0;
out:
	if (json && json != stdout)
		fclose(json);
	kafka_sink_stop(sink);
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
		"usage: bench_forwarder [-n records] [-p partitions] [-v value_bytes]... "
		"[-C none|lz4|zstd] [-B batch_bytes] [-o json] [-K]\n");
	return 2;
}
