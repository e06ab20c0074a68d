/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of forward/conf.c: the kafka.* client settings table (defaults, values, owned
 * and unknown keys with their reasons, combinations, the description used for the docs).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "forward_internal.h"

static void test_defaults(void **state)
{
	struct kclient_conf c;
	char err[256];

	(void)state;
	kclient_conf_defaults(&c);
	assert_string_equal(c.client_id, "sluice");
	assert_int_equal(c.security, KSEC_PLAINTEXT);
	assert_int_equal(c.sasl_mech, KSASL_NONE);
	assert_true(c.ssl_verify);
	assert_true(c.ssl_verify_host);
	assert_int_equal(c.request_timeout_ms, 30000);
	assert_int_equal(c.max_inflight, 5);
	assert_int_equal(c.batch_bytes, 1000000);
	assert_int_equal(kclient_conf_finish(&c, err, sizeof(err)), 0);
}

static void test_values(void **state)
{
	struct kclient_conf c;
	char err[256];

	(void)state;
	kclient_conf_defaults(&c);
	assert_int_equal(kclient_conf_set(&c, "security.protocol", "SASL_SSL", err, sizeof(err)),
			 0);
	assert_int_equal(c.security, KSEC_SASL_SSL);
	assert_int_equal(kclient_conf_set(&c, "sasl.mechanisms", "scram-sha-512", err, sizeof(err)),
			 0);
	assert_int_equal(c.sasl_mech, KSASL_SCRAM_SHA_512);
	assert_int_equal(kclient_conf_set(&c, "ssl.endpoint.identification.algorithm", "none", err,
					  sizeof(err)),
			 0);
	assert_false(c.ssl_verify_host);
	assert_int_equal(kclient_conf_set(&c, "enable.ssl.certificate.verification", "false", err,
					  sizeof(err)),
			 0);
	assert_false(c.ssl_verify);
	assert_int_equal(kclient_conf_set(&c, "compression.level", "7", err, sizeof(err)), 0);
	assert_int_equal(c.compression_level, 7);
	/* Bad values, with the reason. */
	assert_int_equal(kclient_conf_set(&c, "security.protocol", "tls", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "sasl_ssl"));
	assert_int_equal(kclient_conf_set(&c, "max.in.flight", "6", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[1, 5]"));
	assert_int_equal(kclient_conf_set(&c, "request.timeout.ms", "-1", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(kclient_conf_set(&c, "socket.keepalive.enable", "maybe", err, sizeof(err)),
			 -EINVAL);
	char big[600];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(kclient_conf_set(&c, "ssl.ca.location", big, err, sizeof(err)), -EINVAL);
}

static void test_owned_and_unknown(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(sluice_fwd_conf_check("acks", "all", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "exactly-once"));
	assert_int_equal(sluice_fwd_conf_check("enable.idempotence", "false", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(sluice_fwd_conf_check("message.timeout.ms", "1000", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(sluice_fwd_conf_check("transactional.id", "x", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "kafka.transactional_id"));
	assert_int_equal(sluice_fwd_conf_check("compression.type", "lz4", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "kafka.compression"));
	assert_int_equal(sluice_fwd_conf_check("linger.ms", "5", err, sizeof(err)), -EINVAL);
	assert_int_equal(sluice_fwd_conf_check("transactional", "true", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "removed"));
	assert_int_equal(sluice_fwd_conf_check("no.such.key", "1", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown key"));
	assert_int_equal(sluice_fwd_conf_check("retry.backoff.ms", "50", err, sizeof(err)), 0);
}

static void test_combinations(void **state)
{
	struct sluice_fwd_kv sasl_no_mech[] = {{"client.id", "x"},
					       {"security.protocol", "sasl_plaintext"}};
	struct sluice_fwd_kv sasl_no_user[] = {{"security.protocol", "sasl_ssl"},
					       {"sasl.mechanism", "PLAIN"}};
	struct sluice_fwd_kv mech_no_sasl[] = {{"sasl.mechanism", "PLAIN"}};
	struct sluice_fwd_kv timeouts[] = {{"request.timeout.ms", "90000"}};
	struct sluice_fwd_kv good[] = {{"security.protocol", "sasl_ssl"},
				       {"sasl.mechanism", "SCRAM-SHA-256"},
				       {"sasl.username", "u"},
				       {"sasl.password", "p"}};
	struct sluice_fwd_kv bad_value[] = {{"client.id", "x"}, {"retry.backoff.ms", "x"}};
	char err[256];
	uint32_t at;

	(void)state;
	assert_int_equal(sluice_fwd_conf_check_all(sasl_no_mech, 2, err, sizeof(err), &at),
			 -EINVAL);
	assert_non_null(strstr(err, "needs sasl.mechanism"));
	assert_int_equal(at, 1);
	assert_int_equal(sluice_fwd_conf_check_all(sasl_no_user, 2, err, sizeof(err), &at),
			 -EINVAL);
	assert_non_null(strstr(err, "sasl.username"));
	assert_int_equal(sluice_fwd_conf_check_all(mech_no_sasl, 1, err, sizeof(err), &at),
			 -EINVAL);
	assert_int_equal(sluice_fwd_conf_check_all(timeouts, 1, err, sizeof(err), &at), -EINVAL);
	assert_non_null(strstr(err, "socket.timeout.ms"));
	assert_int_equal(sluice_fwd_conf_check_all(good, 4, err, sizeof(err), &at), 0);
	assert_int_equal(sluice_fwd_conf_check_all(bad_value, 2, err, sizeof(err), &at), -EINVAL);
	assert_int_equal(at, 1);
}

static void test_describe(void **state)
{
	const char *key, *def, *help;
	uint32_t n = 0;

	(void)state;
	while (sluice_fwd_conf_describe(n, &key, &def, &help) == 0) {
		char err[256];

		assert_true(strlen(help) > 0);
		/* Every documented key accepts its own default. */
		assert_int_equal(sluice_fwd_conf_check(key, def, err, sizeof(err)), 0);
		n++;
	}
	assert_true(n >= 20);
	assert_int_equal(sluice_fwd_conf_describe(n, &key, &def, &help), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),          cmocka_unit_test(test_values),
		cmocka_unit_test(test_owned_and_unknown), cmocka_unit_test(test_combinations),
		cmocka_unit_test(test_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
