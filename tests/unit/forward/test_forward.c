/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of forward/forward.c and forward/kafka_embedded.c: option validation, the
 * checkpoint as a lower bound, pause/resume, stats, the session file, retention held or not,
 * and short in-process forwards to the embedded cluster. The scenarios (kill -9, outages,
 * injected errors, retention, TLS, SASL) are functional tests: tests/functional/forward/.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sluice_forward.h"

struct fixture {
	char dir[64];
	struct sluice_log *log;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct sluice_topic_opts t = {
		.name = "t",
		.partitions = 2,
		.segment_bytes = 1 << 20,
		.flush_interval_us = 1000,
		.flush_bytes = 1 << 20,
		.index_interval_bytes = 4096,
	};
	struct sluice_log_opts o = {
		.topics = &t, .ntopics = 1, .writers = 1, .write_buffer_bytes = 1 << 20};

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_forwarder.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	o.data_dir = fx->dir;
	if (sluice_log_open(&o, &fx->log))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	sluice_log_close(fx->log);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

static void append(struct sluice_log *log, uint32_t partition, int n)
{
	uint8_t buf[4096];
	struct sluice_rb_batch_meta meta = {.producer_id = SLUICE_RB_NO_PRODUCER_ID,
					    .base_sequence = SLUICE_RB_NO_SEQUENCE,
					    .producer_epoch = -1};
	struct sluice_rb_builder b;
	int id = sluice_log_partition_id(log, "t", partition);

	assert_true(id >= 0);
	assert_int_equal(sluice_rb_builder_init(&b, buf, sizeof(buf), &meta), 0);
	for (int i = 0; i < n; i++) {
		struct sluice_rb_record r = {.timestamp = 1700000000000LL + i,
					     .key = (const uint8_t *)"k",
					     .key_len = 1,
					     .value = (const uint8_t *)"value",
					     .value_len = 5};

		assert_int_equal(sluice_rb_builder_append(&b, &r), 0);
	}
	assert_int_equal(sluice_partition_append_sync(sluice_log_partition(log, (uint32_t)id), buf,
						      sluice_rb_builder_seal(&b), NULL),
			 0);
}

static struct sluice_fwd_opts base_opts(struct fixture *fx, const struct sluice_fwd_topic *t)
{
	return (struct sluice_fwd_opts){
		.log = fx->log,
		.topics = t,
		.ntopics = 1,
		.brokers = "127.0.0.1:1",
		.appliance_id = "unit",
		.checkpoint_dir = fx->dir,
	};
}

static void test_create_validation(void **state)
{
	struct fixture *fx = *state;
	struct sluice_fwd_topic t = {.name = "t"}, missing = {.name = "nope"};
	struct sluice_fwd_kv owned = {"acks", "1"}, bad = {"retry.backoff.ms", "x"},
			     sasl = {"security.protocol", "sasl_plaintext"};
	struct sluice_fwd_opts o;
	struct sluice_fwd *f = (struct sluice_fwd *)1;
	const char damaged[] = "session 1 0\nbase t 0 oops\n";

	o = base_opts(fx, &t);
	o.brokers = NULL;
	assert_int_equal(sluice_fwd_create(&o, &f), -EINVAL);
	assert_null(f);
	o = base_opts(fx, &t);
	o.appliance_id = "";
	assert_int_equal(sluice_fwd_create(&o, &f), -EINVAL);
	o = base_opts(fx, &missing);
	assert_int_equal(sluice_fwd_create(&o, &f), -ENOENT);
	o = base_opts(fx, &t);
	o.compression = "brotli";
	assert_int_equal(sluice_fwd_create(&o, &f), -EINVAL);
	o = base_opts(fx, &t);
	o.brokers = "no-port,127.0.0.1:9092";
	assert_int_equal(sluice_fwd_create(&o, &f), -EINVAL);
	o.brokers = "127.0.0.1:70000";
	assert_int_equal(sluice_fwd_create(&o, &f), -EINVAL);
	o = base_opts(fx, &t);
	o.kafka_conf = &owned;
	o.nkafka_conf = 1;
	assert_int_equal(sluice_fwd_create(&o, &f), -EINVAL);
	o.kafka_conf = &bad;
	assert_int_equal(sluice_fwd_create(&o, &f), -EINVAL);
	o.kafka_conf = &sasl; /* no mechanism, no user */
	assert_int_equal(sluice_fwd_create(&o, &f), -EINVAL);
	o = base_opts(fx, &t);
	o.compression = "zstd";
	o.brokers = "127.0.0.1:1, [::1]:2";
	assert_int_equal(sluice_fwd_create(&o, &f), 0);
	sluice_fwd_destroy(f);
	/* A damaged session file is not guessed around. */
	assert_int_equal(sluice_storage_write_atomic(fx->dir, "forwarder.sessions", damaged,
						     sizeof(damaged) - 1),
			 0);
	o = base_opts(fx, &t);
	assert_int_equal(sluice_fwd_create(&o, &f), -EBADMSG);
	sluice_fwd_destroy(NULL);
}

static void test_checkpoint_lower_bound_and_stats(void **state)
{
	struct fixture *fx = *state;
	struct sluice_fwd_topic t = {.name = "t"};
	struct sluice_fwd_opts o = base_opts(fx, &t);
	struct sluice_fwd_partition_stats ps[4];
	struct sluice_fwd_stats st;
	struct sluice_fwd *f;
	const char ckpt[] = "t 0 3\nt 1 x\ngarbage line\nother 0 9\n";

	append(fx->log, 0, 5);
	append(fx->log, 1, 2);
	assert_int_equal(
		sluice_storage_write_atomic(fx->dir, "forwarder.ckpt", ckpt, sizeof(ckpt) - 1), 0);
	assert_int_equal(sluice_fwd_create(&o, &f), 0);
	sluice_fwd_stats(f, &st, ps, 4);
	assert_int_equal(st.state, SLUICE_FWD_STOPPED);
	assert_int_equal(st.npartitions, 2);
	assert_string_equal(ps[0].topic, "t");
	assert_int_equal(ps[0].forwarded_offset, 3);
	assert_int_equal(ps[0].durable_offset, 5);
	assert_int_equal(ps[0].lag_records, 2);
	assert_true(ps[0].lag_bytes > 0);
	assert_int_equal(ps[1].forwarded_offset, 0); /* malformed line ignored */
	assert_int_equal(ps[1].lag_records, 2);
	assert_int_equal(ps[1].retention_drop_eta_s, -1);

	assert_int_equal(sluice_fwd_pause(f, "nope"), -ENOENT);
	assert_int_equal(sluice_fwd_pause(f, "t"), 0);
	sluice_fwd_stats(f, &st, ps, 1);
	assert_true(ps[0].paused);
	assert_int_equal(sluice_fwd_resume(f, "t"), 0);
	sluice_fwd_stats(f, &st, ps, 1);
	assert_false(ps[0].paused);
	sluice_fwd_set_inflight(f, 7, 0);
	sluice_fwd_destroy(f);
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(sluice_fwd_state_name(SLUICE_FWD_RUNNING), "running");
	assert_string_equal(sluice_fwd_state_name(SLUICE_FWD_BROKER_DOWN), "broker_down");
	assert_string_equal(sluice_fwd_state_name(SLUICE_FWD_FENCED), "fenced");
	assert_string_equal(sluice_fwd_state_name((enum sluice_fwd_state)99), "unknown");
}

static void test_embedded(void **state)
{
	struct sluice_kafka_embedded_topic topics[] = {{"a", 3}, {"b", 1}};
	struct sluice_kafka_embedded *e;
	int errs[] = {6, 7};

	(void)state;
	assert_int_equal(sluice_kafka_embedded_start(topics, 2, 1, &e), 0);
	assert_non_null(strchr(sluice_kafka_embedded_bootstrap(e), ':'));
	assert_int_equal(sluice_kafka_embedded_topic_create(e, "c", 0), -EINVAL);
	assert_int_equal(sluice_kafka_embedded_topic_create(e, "c", 2), 0);
	assert_int_equal(sluice_kafka_embedded_broker_down(e, 1), 0);
	assert_int_equal(sluice_kafka_embedded_broker_up(e, 1), 0);
	sluice_kafka_embedded_push_errors(e, 0, errs, 2);
	sluice_kafka_embedded_stop(e);
	sluice_kafka_embedded_stop(NULL);
}

/* The whole path in-process: both partitions forwarded, the cursor and the checkpoint at
 * the end; a restart that finds everything already in Kafka; then a new, empty cluster,
 * which gets the whole log again although the checkpoint says it was forwarded. */
static void test_forward_in_process(void **state)
{
	struct fixture *fx = *state;
	struct sluice_kafka_embedded_topic kt = {"t", 2};
	struct sluice_fwd_topic t = {.name = "t"};
	struct sluice_fwd_opts o = base_opts(fx, &t);
	struct sluice_fwd_partition_stats ps[2];
	struct sluice_kafka_embedded *e;
	struct sluice_fwd_stats st;
	struct sluice_fwd *f;
	char path[128], buf[256];
	FILE *fp;
	size_t n;

	append(fx->log, 0, 10);
	append(fx->log, 1, 4);
	assert_int_equal(sluice_kafka_embedded_start(&kt, 1, 1, &e), 0);
	for (int run = 0; run < 3; run++) {
		if (run == 2) {
			sluice_kafka_embedded_stop(e);
			assert_int_equal(sluice_kafka_embedded_start(&kt, 1, 1, &e), 0);
		}
		o.brokers = sluice_kafka_embedded_bootstrap(e);
		assert_int_equal(sluice_fwd_create(&o, &f), 0);
		assert_int_equal(sluice_fwd_start(f), 0);
		assert_int_equal(sluice_fwd_start(f), -EALREADY);
		for (int i = 0; i < 1000; i++) {
			sluice_fwd_stats(f, &st, ps, 2);
			if (st.state == SLUICE_FWD_RUNNING && ps[0].forwarded_offset == 10 &&
			    ps[1].forwarded_offset == 4 && ps[0].resume_offset >= 0)
				break;
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
		}
		sluice_fwd_stop(f, 1000);
		sluice_fwd_stats(f, &st, ps, 2);
		assert_int_equal(st.state, SLUICE_FWD_STOPPED);
		assert_int_equal(ps[0].forwarded_offset, 10);
		assert_int_equal(ps[1].forwarded_offset, 4);
		assert_int_equal(ps[0].lag_records, 0);
		/* The second run resumes from Kafka's tail and sends nothing again. */
		assert_int_equal(st.delivered_records, run == 1 ? 0 : 14);
		assert_int_equal(ps[0].resume_offset, run == 1 ? 10 : 0);
		assert_int_equal(ps[0].skipped_records, 0);
		/* One ack-latency observation per delivered record, per partition. */
		for (int i = 0; i < 2; i++) {
			uint64_t obs = 0;

			for (int b = 0; b < SLUICE_HIST_BUCKETS; b++)
				obs += ps[i].ack_hist[b];
			assert_int_equal(obs, ps[i].delivered_records);
			assert_int_equal(ps[i].delivered_records, run == 1 ? 0 : (i ? 4 : 10));
			/* Delivery over TCP cannot take 0 µs for every record. */
			assert_true(obs == 0 || ps[i].ack_sum_us > 0);
		}
		sluice_fwd_destroy(f);
	}
	snprintf(path, sizeof(path), "%s/forwarder.ckpt", fx->dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	assert_string_equal(buf, "t 0 10\nt 1 4\n");
	/* Two sessions: the first cluster's, and the new cluster's (which did not know the
	 * first producer id); both name sequence 0 of each partition at offset 0. */
	snprintf(path, sizeof(path), "%s/forwarder.sessions", fx->dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	{
		unsigned sessions = 0, bases = 0;

		for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
			sessions += strncmp(l, "session ", 8) == 0;
			bases += strcmp(l, "base t 0 0") == 0 || strcmp(l, "base t 1 0") == 0;
		}
		assert_int_equal(sessions, 2);
		assert_int_equal(bases, 4);
	}
	sluice_kafka_embedded_stop(e);
}

/* hold_retention: Kafka's acks move the forwarder's cursor, never the log's forwarded mark,
 * so retention keeps every record; without it the mark follows the acks. */
static void test_hold_retention(void **state)
{
	struct fixture *fx = *state;
	struct sluice_kafka_embedded_topic kt = {"t", 2};
	struct sluice_fwd_topic t = {.name = "t"};
	struct sluice_fwd_opts o = base_opts(fx, &t);
	struct sluice_fwd_partition_stats ps[2];
	struct sluice_partition_stats sps;
	struct sluice_kafka_embedded *e;
	struct sluice_fwd_stats st;
	struct sluice_fwd *f;

	append(fx->log, 0, 10);
	append(fx->log, 1, 4);
	assert_int_equal(sluice_kafka_embedded_start(&kt, 1, 1, &e), 0);
	o.brokers = sluice_kafka_embedded_bootstrap(e);
	o.checkpoint_interval_ms = 1;
	for (int hold = 1; hold >= 0; hold--) {
		o.hold_retention = hold;
		assert_int_equal(sluice_fwd_create(&o, &f), 0);
		assert_int_equal(sluice_fwd_start(f), 0);
		for (int i = 0; i < 1000; i++) {
			sluice_partition_stats(sluice_log_partition(fx->log, 0), &sps);
			sluice_fwd_stats(f, &st, ps, 2);
			if (ps[0].forwarded_offset == 10 && ps[1].forwarded_offset == 4 &&
			    (hold || sps.forwarded_offset == 10))
				break;
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
		}
		/* A few more passes: a late report would show now. */
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
		sluice_fwd_stop(f, 1000);
		sluice_fwd_stats(f, &st, ps, 2);
		assert_int_equal(ps[0].forwarded_offset, 10);
		assert_int_equal(ps[1].forwarded_offset, 4);
		sluice_partition_stats(sluice_log_partition(fx->log, 0), &sps);
		assert_int_equal(sps.forwarded_offset, hold ? 0 : 10);
		sluice_partition_stats(sluice_log_partition(fx->log, 1), &sps);
		assert_int_equal(sps.forwarded_offset, hold ? 0 : 4);
		sluice_fwd_destroy(f);
	}
	sluice_kafka_embedded_stop(e);
}

/* Paused: nothing is sent, but lag, the oldest record's age and the retention estimate are
 * exported; resumed: everything goes. */
static void test_pause_lag_age_eta(void **state)
{
	struct fixture *fx = *state;
	struct sluice_kafka_embedded_topic kt = {"t", 2};
	struct sluice_fwd_topic t = {.name = "t",
				     .retention_ms = 10ull * 365 * 24 * 3600 * 1000,
				     .retention_drop_unforwarded = true};
	struct sluice_fwd_opts o = base_opts(fx, &t);
	struct sluice_fwd_partition_stats ps[2];
	struct sluice_kafka_embedded *e;
	struct sluice_fwd_stats st;
	struct sluice_fwd *f;
	struct timespec now;
	int64_t age_want, eta_want;

	append(fx->log, 0, 10);
	assert_int_equal(sluice_kafka_embedded_start(&kt, 1, 1, &e), 0);
	o.brokers = sluice_kafka_embedded_bootstrap(e);
	assert_int_equal(sluice_fwd_create(&o, &f), 0);
	assert_int_equal(sluice_fwd_pause(f, "t"), 0);
	assert_int_equal(sluice_fwd_start(f), 0);
	for (int i = 0; i < 1000; i++) {
		sluice_fwd_stats(f, &st, ps, 2);
		if (st.state == SLUICE_FWD_RUNNING && ps[0].oldest_unforwarded_age_ms >= 0)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	clock_gettime(CLOCK_REALTIME, &now);
	age_want = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - 1700000000000LL;
	eta_want = (1700000000000LL + (int64_t)t.retention_ms) / 1000 - (int64_t)now.tv_sec;
	assert_true(ps[0].paused);
	assert_int_equal(ps[0].lag_records, 10);
	assert_int_equal(ps[0].inflight_msgs, 0);
	assert_int_equal(st.delivered_records, 0);
	assert_true(ps[0].oldest_unforwarded_age_ms > age_want - 60000 &&
		    ps[0].oldest_unforwarded_age_ms <= age_want + 1000);
	assert_true(ps[0].retention_drop_eta_s > eta_want - 60 &&
		    ps[0].retention_drop_eta_s <= eta_want + 1);
	assert_int_equal(ps[1].lag_records, 0);
	assert_int_equal(ps[1].oldest_unforwarded_age_ms, -1);
	assert_int_equal(ps[1].retention_drop_eta_s, -1);
	assert_int_equal(sluice_fwd_resume(f, "t"), 0);
	for (int i = 0; i < 1000; i++) {
		sluice_fwd_stats(f, &st, ps, 2);
		if (ps[0].forwarded_offset == 10)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	assert_int_equal(ps[0].forwarded_offset, 10);
	assert_int_equal(ps[0].lag_records, 0);
	assert_int_equal(ps[0].retention_drop_eta_s, -1);
	sluice_fwd_destroy(f);
	sluice_kafka_embedded_stop(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_embedded),
		cmocka_unit_test_setup_teardown(test_create_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_lower_bound_and_stats, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_forward_in_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_lag_age_eta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_retention, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
