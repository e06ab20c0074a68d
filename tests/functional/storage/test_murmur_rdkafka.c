/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Functional: sluice_partition_for_key() chooses the same partition as an independent
 * implementation, librdkafka's "murmur2" partitioner (Java-compatible), for thousands of
 * random keys. Keyed messages are produced without an explicit partition to librdkafka's mock
 * cluster (real Kafka protocol over loopback TCP); each delivery report says which partition
 * librdkafka chose, and we compare.
 *
 * NULL keys are not compared: librdkafka's murmur2 partitioner maps them randomly (Kafka's
 * sticky partitioner does too). The empty key is compared.
 *
 * Exit 0 pass, 1 fail. SLUICE_SEED=<n> reproduces a run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "sluice_record.h"

#define NKEYS 2500
#define MAX_KEY 64

struct key {
	uint8_t bytes[MAX_KEY];
	size_t len;
};

static const struct {
	const char *name;
	int partitions;
} topics[] = {{"murmur7", 7}, {"murmur100", 100}};
#define NTOPICS (sizeof(topics) / sizeof(topics[0]))

static struct key keys[NKEYS];
/* chosen[t][k]: partition librdkafka delivered key k of topic t to, -1 until reported */
static int32_t chosen[NTOPICS][NKEYS];
static int delivered, failed;

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	uintptr_t id = (uintptr_t)m->_private;
	(void)rk;
	(void)opaque;

	if (m->err) {
		if (failed++ < 5)
			fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
		return;
	}
	chosen[id / NKEYS][id % NKEYS] = m->partition;
	delivered++;
}

static int conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
	char err[256];

	if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "conf %s=%s: %s\n", k, v, err);
		return -1;
	}
	return 0;
}

int main(void)
{
	char err[256];
	rd_kafka_t *host = NULL, *rk = NULL;
	rd_kafka_mock_cluster_t *mc = NULL;
	rd_kafka_topic_t *rkt[NTOPICS] = {0};
	int rc = 1;
	const char *seed_env = getenv("SLUICE_SEED");

	rng = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
	if (rng == 0)
		rng = 1;
	printf("murmur2 vs librdkafka: seed %" PRIu64 "\n", rng);

	/* Key 0 is the empty key; the rest are random bytes (NUL included) of length 1..64,
	 * so that every tail length (len % 4) and many block counts are covered. */
	keys[0].len = 0;
	for (int i = 1; i < NKEYS; i++) {
		keys[i].len = 1 + rnd() % MAX_KEY;
		for (size_t j = 0; j < keys[i].len; j++)
			keys[i].bytes[j] = (uint8_t)rnd();
	}
	memset(chosen, 0xff, sizeof(chosen));

	rd_kafka_conf_t *hc = rd_kafka_conf_new();

	if (conf_set(hc, "log_level", "3"))
		goto out;
	host = rd_kafka_new(RD_KAFKA_PRODUCER, hc, err, sizeof(err));
	if (!host) {
		fprintf(stderr, "rd_kafka_new (mock host): %s\n", err);
		goto out;
	}
	mc = rd_kafka_mock_cluster_new(host, 1);
	if (!mc) {
		fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
		goto out;
	}
	for (size_t t = 0; t < NTOPICS; t++) {
		rd_kafka_resp_err_t e =
			rd_kafka_mock_topic_create(mc, topics[t].name, topics[t].partitions, 1);

		if (e) {
			fprintf(stderr, "create topic %s: %s\n", topics[t].name,
				rd_kafka_err2str(e));
			goto out;
		}
	}

	rd_kafka_conf_t *pc = rd_kafka_conf_new();

	if (conf_set(pc, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc)) ||
	    conf_set(pc, "partitioner", "murmur2") || conf_set(pc, "linger.ms", "5") ||
	    conf_set(pc, "message.timeout.ms", "30000") || conf_set(pc, "log_level", "3")) {
		rd_kafka_conf_destroy(pc);
		goto out;
	}
	rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "rd_kafka_new (producer): %s\n", err);
		goto out;
	}
	for (size_t t = 0; t < NTOPICS; t++)
		rkt[t] = rd_kafka_topic_new(rk, topics[t].name, NULL);

	for (size_t t = 0; t < NTOPICS; t++) {
		for (int i = 0; i < NKEYS; i++) {
			uintptr_t id = t * NKEYS + (uintptr_t)i;
			/* A non-NULL pointer for the empty key: a NULL key is a different thing. */
			static const uint8_t empty[1];
			const void *k = keys[i].len ? keys[i].bytes : empty;

			while (rd_kafka_produce(rkt[t], RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
						"v", 1, k, keys[i].len, (void *)id) == -1) {
				if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
					fprintf(stderr, "produce: %s\n",
						rd_kafka_err2str(rd_kafka_last_error()));
					goto out;
				}
				rd_kafka_poll(rk, 10);
			}
			rd_kafka_poll(rk, 0);
		}
	}
	rd_kafka_flush(rk, 30000);
	if (rd_kafka_outq_len(rk) > 0 || failed) {
		fprintf(stderr, "FAIL: %d undelivered, %d failed\n", rd_kafka_outq_len(rk), failed);
		goto out;
	}

	int mismatches = 0, compared = 0;
	int32_t seen[NTOPICS][100] = {{0}};

	for (size_t t = 0; t < NTOPICS; t++) {
		for (int i = 0; i < NKEYS; i++) {
			uint32_t ours = sluice_partition_for_key(keys[i].bytes, keys[i].len,
								 (uint32_t)topics[t].partitions);

			if (chosen[t][i] < 0) {
				fprintf(stderr, "FAIL: no delivery report for key %d\n", i);
				mismatches++;
				continue;
			}
			compared++;
			seen[t][chosen[t][i]]++;
			if ((int32_t)ours != chosen[t][i] && mismatches++ < 10)
				fprintf(stderr,
					"FAIL: topic %s key #%d (len %zu): librdkafka chose "
					"%" PRId32 ", sluice %" PRIu32 "\n",
					topics[t].name, i, keys[i].len, chosen[t][i], ours);
		}
	}
	/* The keys must actually spread: a partitioner stuck on one partition would agree with
	 * a broken one that also always says 0. */
	for (size_t t = 0; t < NTOPICS; t++)
		for (int p = 0; p < topics[t].partitions; p++)
			if (seen[t][p] == 0) {
				fprintf(stderr, "FAIL: topic %s partition %d got no key\n",
					topics[t].name, p);
				mismatches++;
			}
	printf("murmur2 vs librdkafka: %d keys compared over %zu topics, %d mismatches\n", compared,
	       NTOPICS, mismatches);
	rc = mismatches ? 1 : 0;
out:
	for (size_t t = 0; t < NTOPICS; t++)
		if (rkt[t])
			rd_kafka_topic_destroy(rkt[t]);
	if (rk)
		rd_kafka_destroy(rk);
	if (mc)
		rd_kafka_mock_cluster_destroy(mc);
	if (host)
		rd_kafka_destroy(host);
	return rc;
}
