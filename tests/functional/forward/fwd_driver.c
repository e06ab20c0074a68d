/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fwd_driver: the forwarder's functional-test driver.
 *
 *   fwd_driver append  -d DIR [-T topic] [-P partitions] -n RECORDS [-v VALUE_BYTES]
 *   fwd_driver ends    -d DIR [-T topic] [-P partitions]
 *   fwd_driver forward -d DIR [-T topic] [-K kafka topic] [-P partitions] -b BOOTSTRAP
 *                      [-a APPLIANCE] [-C none|lz4|zstd] [-x]
 *                      [-i INFLIGHT] [-s STATS_MS] [-w] [-t MAX_SECONDS]
 *                      [-n APPEND_FIRST] [-v VALUE_BYTES] [-c key=value]...
 *                      [-r RECORDS_PER_100MS -u FOR_SECONDS] [-R]
 *   every command also takes [-S SEGMENT_BYTES] [-L RETENTION_BYTES] [-X] (-X: retention
 *   may drop unforwarded data)
 *
 * append: adds records whose content is a function of (partition, offset), so that
 *   fwd_check.py can verify every field read back from Kafka (see record_fill()).
 * ends: prints "<partition> <durable end offset>" per partition.
 * forward: runs the forwarder (optionally appending first), printing a stats line every
 *   STATS_MS; with -w it stops once every partition is forwarded, else at SIGTERM or after
 *   MAX_SECONDS (or when the forwarder is fenced). -C compresses; -x adds the sluice.*
 *   headers; -c passes kafka.* client settings; -r/-u append records while forwarding;
 *   -R runs retention every 100 ms and before exit. Exit 0 when stopped cleanly.
 *   The stats line counts, among the broker's answers, OUT_OF_ORDER_SEQUENCE_NUMBER (ooo=)
 *   and DUPLICATE_SEQUENCE_NUMBER (dup=), and gives the producer session (pid=, epoch=).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice_forward.h"
#include "sluice_time.h"

#define TS_BASE 1700000000000LL
#define MAX_CONF 16

struct drv {
	const char *dir;
	const char *topic;
	const char *kafka_topic;
	uint32_t partitions;
	const char *bootstrap;
	const char *appliance;
	bool headers;
	const char *compression;
	uint32_t inflight;
	uint32_t stats_ms;
	bool wait;
	long max_seconds;
	long records;
	long value_bytes;
	long segment_bytes;
	long retention_bytes;
	bool drop_unforwarded;
	bool retention; /* run retention every 100 ms while forwarding, and before exit */
	long rate; /* records appended per 100 ms while forwarding */
	long rate_seconds; /* ... during the first rate_seconds */
	struct sluice_fwd_kv conf[MAX_CONF];
	uint32_t nconf;
	struct sluice_log *log;
};

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
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

static int log_open(struct drv *d)
{
	struct sluice_topic_opts t = {
		.name = d->topic,
		.partitions = d->partitions,
		.segment_bytes = (uint64_t)d->segment_bytes,
		.retention_bytes = (uint64_t)d->retention_bytes,
		.retention_drop_unforwarded = d->drop_unforwarded,
		.flush_interval_us = 1000,
		.flush_bytes = 1 << 20,
		.index_interval_bytes = 4096,
	};
	struct sluice_log_opts o = {
		.data_dir = d->dir,
		.topics = &t,
		.ntopics = 1,
		.writers = 1,
		.producers = 0, /* no rings, so no EAL: appends go through append_sync */
		.direct_io = 0,
		.write_buffer_bytes = 1 << 20,
		.writer_idle_sleep = true,
	};
	int rc = sluice_log_open(&o, &d->log);

	if (rc)
		fprintf(stderr, "fwd_driver: log open %s: %s\n", d->dir, strerror(-rc));
	return rc;
}

/*
 * The content of record (p, off); fwd_check.py computes the same:
 *   key       "k<p>-<off>", null when off % 10 == 9
 *   value     "v<p>-<off>-" padded with 'a' + off % 26 to value_bytes (at least the prefix),
 *             null when off % 13 == 12
 *   timestamp TS_BASE + off * 10 + p
 *   headers   "h" = "<off>"; plus "n" = null when off % 7 == 0
 */
struct rec_buf {
	char key[32];
	char *value;
	char hval[24];
	struct sluice_rb_kv hdr[2];
};

static void record_fill(uint32_t p, int64_t off, long value_bytes, struct rec_buf *b,
			struct sluice_rb_record *r)
{
	int n;

	memset(r, 0, sizeof(*r));
	r->timestamp = TS_BASE + off * 10 + p;
	snprintf(b->key, sizeof(b->key), "k%" PRIu32 "-%" PRId64, p, off);
	r->key = (const uint8_t *)b->key;
	r->key_len = off % 10 == 9 ? -1 : (int32_t)strlen(b->key);
	n = snprintf(b->value, (size_t)value_bytes + 32, "v%" PRIu32 "-%" PRId64 "-", p, off);
	for (long i = n; i < value_bytes; i++)
		b->value[i] = (char)('a' + off % 26);
	r->value = (const uint8_t *)b->value;
	r->value_len = off % 13 == 12 ? -1 : (int32_t)(n > value_bytes ? n : value_bytes);
	snprintf(b->hval, sizeof(b->hval), "%" PRId64, off);
	b->hdr[0] = (struct sluice_rb_kv){(const uint8_t *)"h", 1, (const uint8_t *)b->hval,
					  (int32_t)strlen(b->hval)};
	b->hdr[1] = (struct sluice_rb_kv){(const uint8_t *)"n", 1, NULL, -1};
	r->headers = b->hdr;
	r->header_count = off % 7 == 0 ? 2 : 1;
}

static int append(struct drv *d, long records)
{
	size_t cap = 1 << 20;
	uint8_t *buf = malloc(cap);
	struct rec_buf rb = {.value = malloc((size_t)d->value_bytes + 32)};
	uint32_t seed = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	long done = 0;
	int rc = -ENOMEM;

	if (!buf || !rb.value)
		goto out;
	while (done < records) {
		/* Round-robin partitions, batches of 1..37 records. */
		for (uint32_t p = 0; p < d->partitions && done < records; p++) {
			int id = sluice_log_partition_id(d->log, d->topic, p);
			struct sluice_partition *sp = sluice_log_partition(d->log, (uint32_t)id);
			struct sluice_rb_batch_meta meta = {.producer_id = SLUICE_RB_NO_PRODUCER_ID,
							    .base_sequence = SLUICE_RB_NO_SEQUENCE,
							    .producer_epoch = -1};
			struct sluice_rb_builder b;
			int64_t next = sluice_partition_durable_offset(sp), base;
			long k;

			seed = seed * 1103515245u + 12345u;
			k = 1 + (long)((seed >> 16) % 37);
			if (k > records - done)
				k = records - done;
			sluice_rb_builder_init(&b, buf, cap, &meta);
			for (long i = 0; i < k; i++) {
				struct sluice_rb_record r;

				record_fill(p, next + i, d->value_bytes, &rb, &r);
				rc = sluice_rb_builder_append(&b, &r);
				if (rc) {
					fprintf(stderr, "fwd_driver: build: %s\n", strerror(-rc));
					goto out;
				}
			}
			rc = sluice_partition_append_sync(sp, buf, sluice_rb_builder_seal(&b),
							  &base);
			if (rc) {
				fprintf(stderr, "fwd_driver: append: %s\n", strerror(-rc));
				goto out;
			}
			if (base != next) {
				fprintf(stderr,
					"fwd_driver: append got base %" PRId64 ", expected %" PRId64
					"\n",
					base, next);
				rc = -EPROTO;
				goto out;
			}
			done += k;
		}
	}
	rc = 0;
out:
	free(buf);
	free(rb.value);
	return rc;
}

static void print_stats(struct drv *d, struct sluice_fwd *f, uint64_t t0)
{
	struct sluice_fwd_partition_stats ps[64];
	struct sluice_fwd_stats st;
	uint64_t lag = 0, inflight = 0, skipped = 0, deleted = 0, dropped = 0, ooo = 0, dup = 0;
	uint64_t rewinds = 0, batches = 0;
	int64_t age = -1, eta = -1, log_start = 0;

	sluice_fwd_stats(f, &st, ps, 64);
	for (uint32_t i = 0; i < st.npartitions && i < 64; i++) {
		struct sluice_partition_stats sst;
		int id = sluice_log_partition_id(d->log, ps[i].topic, ps[i].partition);

		sluice_partition_stats(sluice_log_partition(d->log, (uint32_t)id), &sst);
		deleted += sst.retention_deleted_segments;
		dropped += sst.retention_dropped_records;
		log_start += sst.log_start_offset;
		skipped += ps[i].skipped_records;
		if (ps[i].retention_drop_eta_s >= 0 &&
		    (eta < 0 || ps[i].retention_drop_eta_s < eta))
			eta = ps[i].retention_drop_eta_s;
		lag += ps[i].lag_records;
		inflight += ps[i].inflight_msgs;
		rewinds += ps[i].rewinds;
		batches += ps[i].delivered_batches;
		if (ps[i].oldest_unforwarded_age_ms > age)
			age = ps[i].oldest_unforwarded_age_ms;
	}
	for (uint32_t i = 0; i < st.nerrors; i++) {
		if (st.errors[i].code == 45)
			ooo += st.errors[i].count;
		if (st.errors[i].code == 46)
			dup += st.errors[i].count;
	}
	printf("stat t_ms=%" PRIu64 " state=%s lag=%" PRIu64 " inflight=%" PRIu64
	       " delivered=%" PRIu64 " errors=%" PRIu64 " fatal_resets=%" PRIu64 " resumes=%" PRIu64
	       " retries=%" PRIu64 " broker_down=%" PRIu64 " oldest_age_ms=%" PRId64
	       " skipped=%" PRIu64 " deleted_segments=%" PRIu64 " dropped=%" PRIu64
	       " log_start=%" PRId64 " retention_eta_s=%" PRId64 " ooo=%" PRIu64 " dup=%" PRIu64
	       " rewinds=%" PRIu64 " batches=%" PRIu64 " requests=%" PRIu64 " meta=%" PRIu64
	       " pid=%" PRId64 " epoch=%d\n",
	       sluice_mono_ms() - t0, sluice_fwd_state_name(st.state), lag, inflight,
	       st.delivered_records, st.delivery_errors, st.fatal_resets, st.resumes, st.retries,
	       st.broker_down_events, age, skipped, deleted, dropped, log_start, eta, ooo, dup,
	       rewinds, batches, st.produce_requests, st.metadata_refreshes, st.producer_id,
	       st.producer_epoch);
	fflush(stdout);
}

static bool caught_up(struct sluice_fwd *f)
{
	struct sluice_fwd_partition_stats ps[64];
	struct sluice_fwd_stats st;

	sluice_fwd_stats(f, &st, ps, 64);
	if (st.state != SLUICE_FWD_RUNNING)
		return false;
	for (uint32_t i = 0; i < st.npartitions && i < 64; i++)
		if (ps[i].lag_records || ps[i].inflight_msgs)
			return false;
	return true;
}

static bool fenced(struct sluice_fwd *f)
{
	struct sluice_fwd_stats st;

	sluice_fwd_stats(f, &st, NULL, 0);
	return st.state == SLUICE_FWD_FENCED;
}

static int forward(struct drv *d)
{
	struct sluice_fwd_topic t = {
		.name = d->topic,
		.kafka_topic = d->kafka_topic,
		.retention_bytes = (uint64_t)d->retention_bytes,
		.retention_drop_unforwarded = d->drop_unforwarded,
	};
	char ckpt[4096];
	struct sluice_fwd_opts o = {
		.log = d->log,
		.topics = &t,
		.ntopics = 1,
		.brokers = d->bootstrap,
		.appliance_id = d->appliance,
		.headers = d->headers,
		.compression = d->compression,
		.inflight_max_msgs = d->inflight,
		.checkpoint_dir = ckpt,
		.checkpoint_interval_ms = 200,
		.resume_timeout_ms = 5000,
		.kafka_conf = d->conf,
		.nkafka_conf = d->nconf,
	};
	struct sluice_fwd *f = NULL;
	uint64_t t0 = sluice_mono_ms(), last = 0, last_append = t0, last_retention = 0;
	int rc;

	snprintf(ckpt, sizeof(ckpt), "%s", d->dir);
	if (d->records > 0) {
		rc = append(d, d->records);
		if (rc)
			return rc;
	}
	rc = sluice_fwd_create(&o, &f);
	if (rc)
		return rc;
	rc = sluice_fwd_start(f);
	if (rc)
		goto out;
	while (!quit) {
		uint64_t now = sluice_mono_ms();

		if (d->retention && now - last_retention >= 100) {
			sluice_log_retention_run(d->log);
			last_retention = now;
		}
		if (now - last >= d->stats_ms) {
			print_stats(d, f, t0);
			last = now;
		}
		bool appending = d->rate > 0 && (long)(now - t0) < d->rate_seconds * 1000;

		/* Ingest keeps filling the log while the forwarder reads it, as in sluiced. */
		if (appending && now - last_append >= 100) {
			rc = append(d, d->rate);
			if (rc)
				break;
			last_append = now;
		}
		if (d->wait && !appending && caught_up(f))
			break;
		if (d->wait && fenced(f)) {
			fprintf(stderr, "fwd_driver: fenced\n");
			rc = -EPERM;
			break;
		}
		if ((long)((now - t0) / 1000) >= d->max_seconds) {
			if (d->wait) {
				fprintf(stderr, "fwd_driver: not done after %ld s\n",
					d->max_seconds);
				rc = -ETIMEDOUT;
			}
			break;
		}
		sleep_ms(10);
	}
	sluice_fwd_stop(f, 5000);
	if (d->retention)
		sluice_log_retention_run(d->log);
	print_stats(d, f, t0);
out:
	sluice_fwd_destroy(f);
	return rc;
}

static int ends(struct drv *d)
{
	for (uint32_t p = 0; p < d->partitions; p++) {
		int id = sluice_log_partition_id(d->log, d->topic, p);

		if (id < 0)
			return id;
		printf("%" PRIu32 " %" PRId64 "\n", p,
		       sluice_partition_durable_offset(sluice_log_partition(d->log, (uint32_t)id)));
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct drv d = {
		.topic = "events",
		.partitions = 3,
		.appliance = "test-appliance",
		.stats_ms = 200,
		.max_seconds = 60,
		.value_bytes = 16,
		.segment_bytes = 256 * 1024,
	};
	const char *cmd;
	long v;
	int opt, rc;

	if (argc < 2)
		goto usage;
	cmd = argv[1];
	optind = 2;
	while ((opt = getopt(argc, argv, "d:T:K:P:b:a:xC:i:s:wt:n:v:c:r:u:S:L:XR")) != -1) {
		switch (opt) {
		case 'd':
			d.dir = optarg;
			break;
		case 'T':
			d.topic = optarg;
			break;
		case 'K':
			d.kafka_topic = optarg;
			break;
		case 'P':
			if (parse_long(optarg, 1, 64, &v))
				goto usage;
			d.partitions = (uint32_t)v;
			break;
		case 'b':
			d.bootstrap = optarg;
			break;
		case 'a':
			d.appliance = optarg;
			break;
		case 'x':
			d.headers = true;
			break;
		case 'C':
			d.compression = optarg;
			break;
		case 'i':
			if (parse_long(optarg, 1, 1000000, &v))
				goto usage;
			d.inflight = (uint32_t)v;
			break;
		case 's':
			if (parse_long(optarg, 1, 100000, &v))
				goto usage;
			d.stats_ms = (uint32_t)v;
			break;
		case 'w':
			d.wait = true;
			break;
		case 't':
			if (parse_long(optarg, 1, 3600, &d.max_seconds))
				goto usage;
			break;
		case 'n':
			if (parse_long(optarg, 0, 100000000, &d.records))
				goto usage;
			break;
		case 'v':
			if (parse_long(optarg, 0, 1 << 20, &d.value_bytes))
				goto usage;
			break;
		case 'S':
			if (parse_long(optarg, 4096, 1L << 30, &d.segment_bytes))
				goto usage;
			break;
		case 'L':
			if (parse_long(optarg, 0, 1L << 40, &d.retention_bytes))
				goto usage;
			break;
		case 'X':
			d.drop_unforwarded = true;
			break;
		case 'R':
			d.retention = true;
			break;
		case 'r':
			if (parse_long(optarg, 0, 100000, &d.rate))
				goto usage;
			break;
		case 'u':
			if (parse_long(optarg, 0, 3600, &d.rate_seconds))
				goto usage;
			break;
		case 'c': {
			char *eq = strchr(optarg, '=');

			if (!eq || d.nconf == MAX_CONF)
				goto usage;
			*eq = '\0';
			d.conf[d.nconf].key = optarg;
			d.conf[d.nconf].value = eq + 1;
			d.nconf++;
			break;
		}
		default:
			goto usage;
		}
	}
	if (!d.dir)
		goto usage;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	rc = log_open(&d);
	if (rc)
		return 1;
	if (strcmp(cmd, "append") == 0)
		rc = append(&d, d.records);
	else if (strcmp(cmd, "ends") == 0)
		rc = ends(&d);
	else if (strcmp(cmd, "forward") == 0 && d.bootstrap)
		rc = forward(&d);
	else
		rc = -EINVAL;
	sluice_log_stop(d.log);
	sluice_log_close(d.log);
	if (rc)
		fprintf(stderr, "fwd_driver %s: %s\n", cmd, strerror(-rc));
	return rc ? 1 : 0;
usage:
	fprintf(stderr, "usage: see the comment at the top of fwd_driver.c\n");
	return 2;
}
