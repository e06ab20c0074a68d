/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Embedded Kafka: librdkafka's mock cluster, which speaks the real Kafka protocol over
 * loopback TCP. A mock cluster hangs off an rd_kafka_t handle, so we create a producer
 * handle that is never used to produce and keep it for the cluster's lifetime.
 *
 * Threads: start/stop from one thread; the other calls from any thread (the mock cluster
 * serialises them onto its own thread).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "sluice_forward.h"

struct sluice_kafka_embedded {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mcluster;
};

int sluice_kafka_embedded_topic_create(struct sluice_kafka_embedded *e, const char *name,
				       uint32_t partitions)
{
	rd_kafka_resp_err_t err;

	if (!name || !*name || partitions == 0 || partitions > 100000)
		return -EINVAL;
	err = rd_kafka_mock_topic_create(e->mcluster, name, (int)partitions, 1);
	if (err) {
		fprintf(stderr, "kafka-embedded: create topic %s: %s\n", name,
			rd_kafka_err2str(err));
		return -EINVAL;
	}
	return 0;
}

int sluice_kafka_embedded_start(const struct sluice_kafka_embedded_topic *topics, uint32_t ntopics,
				uint32_t brokers, struct sluice_kafka_embedded **out)
{
	struct sluice_kafka_embedded *e;
	rd_kafka_conf_t *conf;
	char errstr[512];
	int rc = -ENOMEM;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	conf = rd_kafka_conf_new();
	if (!e || !conf)
		goto fail;
	/* The handle only hosts the cluster: keep it quiet and off the network. */
	if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "kafka-embedded: %s\n", errstr);
		rc = -EINVAL;
		goto fail;
	}
	e->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!e->rk) {
		fprintf(stderr, "kafka-embedded: rd_kafka_new: %s\n", errstr);
		goto fail; /* conf was not consumed */
	}
	conf = NULL;
	e->mcluster = rd_kafka_mock_cluster_new(e->rk, brokers ? (int)brokers : 1);
	if (!e->mcluster) {
		fprintf(stderr, "kafka-embedded: rd_kafka_mock_cluster_new failed\n");
		goto fail;
	}
	for (uint32_t i = 0; i < ntopics; i++) {
		rc = sluice_kafka_embedded_topic_create(e, topics[i].name, topics[i].partitions);
		if (rc)
			goto fail;
	}
	*out = e;
	return 0;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	sluice_kafka_embedded_stop(e);
	return rc;
}

const char *sluice_kafka_embedded_bootstrap(const struct sluice_kafka_embedded *e)
{
	return rd_kafka_mock_cluster_bootstraps(e->mcluster);
}

int sluice_kafka_embedded_broker_down(struct sluice_kafka_embedded *e, int32_t broker_id)
{
	return rd_kafka_mock_broker_set_down(e->mcluster, broker_id) ? -EINVAL : 0;
}

int sluice_kafka_embedded_broker_up(struct sluice_kafka_embedded *e, int32_t broker_id)
{
	return rd_kafka_mock_broker_set_up(e->mcluster, broker_id) ? -EINVAL : 0;
}

int sluice_kafka_embedded_set_leader(struct sluice_kafka_embedded *e, const char *topic,
				     int32_t partition, int32_t broker_id)
{
	return rd_kafka_mock_partition_set_leader(e->mcluster, topic, partition, broker_id)
		? -EINVAL
		: 0;
}

int sluice_kafka_embedded_set_rtt(struct sluice_kafka_embedded *e, int32_t broker_id, int rtt_ms)
{
	return rd_kafka_mock_broker_set_rtt(e->mcluster, broker_id, rtt_ms) ? -EINVAL : 0;
}

int sluice_kafka_embedded_set_coordinator(struct sluice_kafka_embedded *e,
					  const char *transactional_id, int32_t broker_id)
{
	return rd_kafka_mock_coordinator_set(e->mcluster, "transaction", transactional_id,
					     broker_id)
		? -EINVAL
		: 0;
}

void sluice_kafka_embedded_push_errors(struct sluice_kafka_embedded *e, int16_t api_key,
				       const int *errors, size_t n)
{
	rd_kafka_resp_err_t errs[64];

	while (n > 0) {
		size_t k = n < 64 ? n : 64;

		for (size_t i = 0; i < k; i++)
			errs[i] = (rd_kafka_resp_err_t)errors[i];
		rd_kafka_mock_push_request_errors_array(e->mcluster, api_key, k, errs);
		errors += k;
		n -= k;
	}
}

void sluice_kafka_embedded_stop(struct sluice_kafka_embedded *e)
{
	if (!e)
		return;
	if (e->mcluster)
		rd_kafka_mock_cluster_destroy(e->mcluster);
	if (e->rk)
		rd_kafka_destroy(e->rk);
	free(e);
}
