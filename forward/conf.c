/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The `kafka.*` client settings of the native forwarder: librdkafka's names and meanings,
 * so that an operator's security and timeout settings carry over, but only the keys this
 * client implements. One table: parsing, bounds, the config validator's check and
 * docs/configuration.md (through sluice_fwd_conf_describe) come from it.
 * Pure: no I/O, no allocation. Thread-safe (touches only what it is given).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "forward_internal.h"

enum ktype { KT_STR, KT_U32, KT_BOOL, KT_ENUM };

struct kkey {
	const char *name;
	enum ktype type;
	const char *def;
	uint32_t min, max;
	size_t off;
	size_t size; /* KT_STR: buffer size */
	const char *const *names; /* KT_ENUM: accepted values, case-insensitive */
	const char *help;
};

#define F(field) offsetof(struct kclient_conf, field), sizeof(((struct kclient_conf *)0)->field)

static const char *const security_names[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl",
					     NULL};
static const char *const mech_names[] = {"", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", NULL};
static const char *const ident_names[] = {"none", "https", NULL};

static const struct kkey keys[] = {
	{"client.id", KT_STR, "sluice", 0, 0, F(client_id), NULL,
	 "client id sent with every request (broker logs and quotas)"},
	{"security.protocol", KT_ENUM, "plaintext", 0, 0, F(security), security_names,
	 "plaintext, ssl, sasl_plaintext or sasl_ssl"},
	{"sasl.mechanism", KT_ENUM, "", 0, 0, F(sasl_mech), mech_names,
	 "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (for sasl_* protocols)"},
	{"sasl.mechanisms", KT_ENUM, "", 0, 0, F(sasl_mech), mech_names, "alias of sasl.mechanism"},
	{"sasl.username", KT_STR, "", 0, 0, F(sasl_username), NULL, "SASL user name"},
	{"sasl.password", KT_STR, "", 0, 0, F(sasl_password), NULL,
	 "SASL password (secret: never logged or shown)"},
	{"ssl.ca.location", KT_STR, "", 0, 0, F(ssl_ca_location), NULL,
	 "CA certificate file or directory (PEM) to verify brokers with; empty: the system's"},
	{"ssl.certificate.location", KT_STR, "", 0, 0, F(ssl_cert_location), NULL,
	 "client certificate (PEM) for mutual TLS"},
	{"ssl.key.location", KT_STR, "", 0, 0, F(ssl_key_location), NULL,
	 "client private key (PEM) for mutual TLS"},
	{"ssl.key.password", KT_STR, "", 0, 0, F(ssl_key_password), NULL,
	 "password of ssl.key.location (secret)"},
	{"enable.ssl.certificate.verification", KT_BOOL, "true", 0, 0, F(ssl_verify), NULL,
	 "verify the broker's certificate chain"},
	{"ssl.endpoint.identification.algorithm", KT_ENUM, "https", 0, 0, F(ssl_verify_host),
	 ident_names, "https: the certificate must name the broker's host; none: do not check"},
	{"request.timeout.ms", KT_U32, "30000", 100, 900000, F(request_timeout_ms), NULL,
	 "how long a broker may wait for acks=all before answering"},
	{"socket.timeout.ms", KT_U32, "60000", 100, 900000, F(socket_timeout_ms), NULL,
	 "a request unanswered this long closes its connection (its batches are sent again)"},
	{"socket.connection.setup.timeout.ms", KT_U32, "10000", 100, 900000, F(connect_timeout_ms),
	 NULL, "connect + TLS + SASL must finish within this"},
	{"reconnect.backoff.ms", KT_U32, "100", 1, 3600000, F(reconnect_backoff_ms), NULL,
	 "first wait before reconnecting to a broker"},
	{"reconnect.backoff.max.ms", KT_U32, "1000", 1, 3600000, F(reconnect_backoff_max_ms), NULL,
	 "longest wait before reconnecting (doubling from reconnect.backoff.ms)"},
	{"retry.backoff.ms", KT_U32, "100", 1, 300000, F(retry_backoff_ms), NULL,
	 "first wait before sending a batch again after a retriable error"},
	{"retry.backoff.max.ms", KT_U32, "1000", 1, 300000, F(retry_backoff_max_ms), NULL,
	 "longest wait between retries of one batch"},
	{"topic.metadata.refresh.interval.ms", KT_U32, "300000", 1000, 86400000,
	 F(metadata_refresh_ms), NULL, "periodic metadata refresh (errors refresh at once)"},
	{"max.in.flight.requests.per.connection", KT_U32, "5", 1, 5, F(max_inflight), NULL,
	 "Produce requests in flight per broker (at most 5: idempotence keeps order up to 5)"},
	{"max.in.flight", KT_U32, "5", 1, 5, F(max_inflight), NULL,
	 "alias of max.in.flight.requests.per.connection"},
	{"batch.size", KT_U32, "1000000", 1024, 16u << 20, F(batch_bytes), NULL,
	 "largest Kafka batch built per partition (before compression); keep it under the "
	 "topic's max.message.bytes"},
	{"compression.level", KT_U32, "0", 0, 22, F(compression_level), NULL,
	 "codec level (zstd 1..22, lz4 0..12); 0: the codec's default"},
	{"socket.keepalive.enable", KT_BOOL, "true", 0, 0, F(keepalive), NULL,
	 "TCP keep-alive on broker connections"},
	{"socket.send.buffer.bytes", KT_U32, "0", 0, 1u << 30, F(sndbuf), NULL,
	 "SO_SNDBUF; 0: the system's default"},
	{"socket.receive.buffer.bytes", KT_U32, "0", 0, 1u << 30, F(rcvbuf), NULL,
	 "SO_RCVBUF; 0: the system's default"},
};

/* Keys whose value carries the exactly-once guarantee or that sluice sets itself. */
static const struct {
	const char *key;
	const char *why;
} owned[] = {
	{"acks", "set by sluice for exactly-once forwarding (always all)"},
	{"request.required.acks", "set by sluice for exactly-once forwarding (always all)"},
	{"enable.idempotence", "set by sluice for exactly-once forwarding (always on)"},
	{"enable.gapless.guarantee", "set by sluice for exactly-once forwarding (always on)"},
	{"transactional.id", "use kafka.transactional_id"},
	{"bootstrap.servers", "use kafka.brokers"},
	{"metadata.broker.list", "use kafka.brokers"},
	{"compression.type", "use kafka.compression"},
	{"compression.codec", "use kafka.compression"},
	{"message.timeout.ms", "infinite: set by sluice (the log is the buffer)"},
	{"delivery.timeout.ms", "infinite: set by sluice (the log is the buffer)"},
	{"message.send.max.retries", "unbounded: set by sluice (the log is the buffer)"},
	{"retries", "unbounded: set by sluice (the log is the buffer)"},
	{"transactional",
	 "removed: no Kafka transactions are written; exactly once rests on "
	 "idempotent sequence numbers (docs/forwarding.md)"},
	{"linger.ms",
	 "not used: batches form from what is durable while earlier ones are in "
	 "flight (docs/forwarding.md)"},
	{"queue.buffering.max.ms",
	 "not used: batches form from what is durable while earlier "
	 "ones are in flight (docs/forwarding.md)"},
};

static const struct kkey *find(const char *key)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, key) == 0)
			return &keys[i];
	return NULL;
}

static int parse(const struct kkey *k, const char *value, void *field, char *errstr, size_t len)
{
	switch (k->type) {
	case KT_STR:
		if (strlen(value) >= k->size) {
			snprintf(errstr, len, "longer than %zu bytes", k->size - 1);
			return -EINVAL;
		}
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case KT_U32: {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(value, &end, 10);
		if (errno || end == value || *end || value[0] == '-' || v < k->min || v > k->max) {
			snprintf(errstr, len, "not an integer in [%u, %u]", k->min, k->max);
			return -EINVAL;
		}
		if (k->off == offsetof(struct kclient_conf, compression_level))
			*(int *)field = (int)v;
		else
			*(uint32_t *)field = (uint32_t)v;
		return 0;
	}
	case KT_BOOL:
		if (strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0) {
			*(bool *)field = true;
		} else if (strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0) {
			*(bool *)field = false;
		} else {
			snprintf(errstr, len, "not true or false");
			return -EINVAL;
		}
		return 0;
	case KT_ENUM:
		for (int i = 0; k->names[i]; i++) {
			if (strcasecmp(value, k->names[i]) == 0) {
				if (k->size == sizeof(bool))
					*(bool *)field = i != 0;
				else
					*(uint32_t *)field = (uint32_t)i;
				return 0;
			}
		}
		snprintf(errstr, len, "not one of:");
		for (int i = 0; k->names[i]; i++) {
			size_t used = strlen(errstr);

			if (k->names[i][0])
				snprintf(errstr + used, len - used, " %s", k->names[i]);
		}
		return -EINVAL;
	}
	return -EINVAL;
}

void kclient_conf_defaults(struct kclient_conf *c)
{
	char err[64];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		(void)parse(&keys[i], keys[i].def, (char *)c + keys[i].off, err, sizeof(err));
}

int kclient_conf_set(struct kclient_conf *c, const char *key, const char *value, char *errstr,
		     size_t errstr_len)
{
	const struct kkey *k;

	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		if (strcmp(key, owned[i].key) == 0) {
			snprintf(errstr, errstr_len, "%s", owned[i].why);
			return -EINVAL;
		}
	}
	k = find(key);
	if (!k) {
		snprintf(errstr, errstr_len,
			 "unknown key (not a setting of sluice's Kafka client; "
			 "docs/configuration.md lists them)");
		return -EINVAL;
	}
	return parse(k, value, (char *)c + k->off, errstr, errstr_len);
}

int kclient_conf_finish(const struct kclient_conf *c, char *errstr, size_t errstr_len)
{
	bool sasl = c->security == KSEC_SASL_PLAINTEXT || c->security == KSEC_SASL_SSL;

	if (sasl && c->sasl_mech == KSASL_NONE) {
		snprintf(errstr, errstr_len, "security.protocol %s needs sasl.mechanism",
			 security_names[c->security]);
		return -EINVAL;
	}
	if (sasl && (!c->sasl_username[0] || !c->sasl_password[0])) {
		snprintf(errstr, errstr_len,
			 "sasl.mechanism %s needs sasl.username and "
			 "sasl.password",
			 mech_names[c->sasl_mech]);
		return -EINVAL;
	}
	if (!sasl && c->sasl_mech != KSASL_NONE) {
		snprintf(errstr, errstr_len, "sasl.mechanism is set but security.protocol is %s",
			 security_names[c->security]);
		return -EINVAL;
	}
	if (c->reconnect_backoff_ms > c->reconnect_backoff_max_ms ||
	    c->retry_backoff_ms > c->retry_backoff_max_ms) {
		snprintf(errstr, errstr_len, "a back-off is above its maximum");
		return -EINVAL;
	}
	if (c->socket_timeout_ms < c->request_timeout_ms) {
		snprintf(errstr, errstr_len,
			 "socket.timeout.ms must be at least request.timeout.ms");
		return -EINVAL;
	}
	return 0;
}

int sluice_fwd_conf_check(const char *key, const char *value, char *errstr, size_t errstr_len)
{
	struct kclient_conf c;

	kclient_conf_defaults(&c);
	return kclient_conf_set(&c, key, value, errstr, errstr_len);
}

int sluice_fwd_conf_check_all(const struct sluice_fwd_kv *kv, uint32_t n, char *errstr,
			      size_t errstr_len, uint32_t *at)
{
	struct kclient_conf c;
	int rc;

	*at = 0;
	kclient_conf_defaults(&c);
	for (uint32_t i = 0; i < n; i++) {
		rc = kclient_conf_set(&c, kv[i].key, kv[i].value, errstr, errstr_len);
		if (rc) {
			*at = i;
			return rc;
		}
	}
	rc = kclient_conf_finish(&c, errstr, errstr_len);
	if (rc) {
		/* Point at the setting the combination hinges on, when it is there. */
		for (uint32_t i = 0; i < n; i++)
			if (strncmp(kv[i].key, "sasl.", 5) == 0 ||
			    strcmp(kv[i].key, "security.protocol") == 0 ||
			    strstr(kv[i].key, "timeout") || strstr(kv[i].key, "backoff"))
				*at = i;
	}
	return rc;
}

int sluice_fwd_conf_describe(uint32_t i, const char **key, const char **def, const char **help)
{
	if (i >= sizeof(keys) / sizeof(keys[0]))
		return -ENOENT;
	*key = keys[i].name;
	*def = keys[i].def;
	*help = keys[i].help;
	return 0;
}
