/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of forward/sasl.c: PLAIN's one message, SCRAM-SHA-256 against the RFC 7677
 * example exchange, SCRAM-SHA-512 against the same exchange computed by Python's hashlib
 * (an independent implementation), and every way a server can get it wrong.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "forward_internal.h"

#define CNONCE "rOprNGfwEbeRWgbNEkqO"
#define SERVER_FIRST                                                                       \
	"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==," \
	"i=4096"

static void assert_msg(const struct kw *w, const char *want)
{
	assert_int_equal(w->len, strlen(want));
	assert_memory_equal(w->p, want, w->len);
}

static int step_str(struct ksasl *s, const char *in, struct kw *out)
{
	return ksasl_step(s, (const uint8_t *)in, in ? strlen(in) : 0, out);
}

static void test_plain(void **state)
{
	struct ksasl s;
	struct kw w = {0};

	(void)state;
	assert_int_equal(ksasl_init(&s, KSASL_PLAIN, "alice", "s3cret", NULL), 0);
	assert_int_equal(ksasl_step(&s, NULL, 0, &w), 1);
	assert_int_equal(w.len, 1 + 5 + 1 + 6);
	assert_memory_equal(w.p, "\0alice\0s3cret", w.len);
	/* The broker's (empty) answer without an error: done. */
	assert_int_equal(ksasl_step(&s, (const uint8_t *)"", 0, &w), 0);
	assert_string_equal(ksasl_mech_name(KSASL_PLAIN), "PLAIN");
	kw_free(&w);
}

/* RFC 7677, section 3. */
static void test_scram_sha256_rfc7677(void **state)
{
	struct ksasl s;
	struct kw w = {0};

	(void)state;
	assert_int_equal(ksasl_init(&s, KSASL_SCRAM_SHA_256, "user", "pencil", CNONCE), 0);
	assert_int_equal(step_str(&s, NULL, &w), 1);
	assert_msg(&w, "n,,n=user,r=" CNONCE);
	assert_int_equal(step_str(&s, SERVER_FIRST, &w), 1);
	assert_msg(&w,
		   "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		   "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
	assert_int_equal(step_str(&s, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &w), 0);
	kw_free(&w);
}

static void test_scram_sha512(void **state)
{
	struct ksasl s;
	struct kw w = {0};

	(void)state;
	assert_int_equal(ksasl_init(&s, KSASL_SCRAM_SHA_512, "user", "pencil", CNONCE), 0);
	assert_int_equal(step_str(&s, NULL, &w), 1);
	assert_int_equal(step_str(&s, SERVER_FIRST, &w), 1);
	assert_msg(&w,
		   "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		   "p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybE"
		   "mDYXYTxwnYPJQ==");
	assert_int_equal(step_str(&s,
				  "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLti"
				  "fDSeVGT4+5ZxXnJq199RVG2rR7N7Zw==",
				  &w),
			 0);
	kw_free(&w);
}

static void test_scram_user_escaped_and_random_nonce(void **state)
{
	struct ksasl s;
	struct kw w = {0};

	(void)state;
	assert_int_equal(ksasl_init(&s, KSASL_SCRAM_SHA_256, "a,b=c", "pw", NULL), 0);
	assert_int_equal(step_str(&s, NULL, &w), 1);
	assert_true(w.len > 20);
	assert_memory_equal(w.p, "n,,n=a=2Cb=3Dc,r=", 17);
	assert_true(strlen(s.cnonce) >= 24);
	assert_null(memchr(s.cnonce, ',', strlen(s.cnonce)));
	kw_free(&w);
}

static void test_scram_server_errors(void **state)
{
	struct ksasl s;
	struct kw w = {0};

	(void)state;
	/* A server signature that does not match: someone without the password. */
	ksasl_init(&s, KSASL_SCRAM_SHA_256, "user", "pencil", CNONCE);
	step_str(&s, NULL, &w);
	step_str(&s, SERVER_FIRST, &w);
	assert_int_equal(step_str(&s, "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &w),
			 -EACCES);
	/* server-error */
	ksasl_init(&s, KSASL_SCRAM_SHA_256, "user", "pencil", CNONCE);
	step_str(&s, NULL, &w);
	step_str(&s, SERVER_FIRST, &w);
	assert_int_equal(step_str(&s, "e=invalid-proof", &w), -EACCES);
	/* The server's nonce does not extend ours. */
	ksasl_init(&s, KSASL_SCRAM_SHA_256, "user", "pencil", CNONCE);
	step_str(&s, NULL, &w);
	assert_int_equal(step_str(&s, "r=somebodyelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", &w),
			 -EACCES);
	/* Malformed: no salt, iterations out of range, bad base64, truncated signature. */
	const char *bad[] = {
		"r=" CNONCE "x,i=4096",
		"r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
		"r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999",
		"r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",
		"r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=12a",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ksasl_init(&s, KSASL_SCRAM_SHA_256, "user", "pencil", CNONCE);
		step_str(&s, NULL, &w);
		assert_int_equal(step_str(&s, bad[i], &w), -EPROTO);
	}
	ksasl_init(&s, KSASL_SCRAM_SHA_256, "user", "pencil", CNONCE);
	step_str(&s, NULL, &w);
	step_str(&s, SERVER_FIRST, &w);
	assert_int_equal(step_str(&s, "v=6rriTRBi23Wp", &w), -EPROTO);
	/* A fourth step is a protocol error. */
	ksasl_init(&s, KSASL_SCRAM_SHA_256, "user", "pencil", CNONCE);
	step_str(&s, NULL, &w);
	step_str(&s, SERVER_FIRST, &w);
	step_str(&s, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &w);
	assert_int_equal(step_str(&s, "v=x", &w), -EPROTO);
	assert_int_equal(ksasl_init(&s, KSASL_NONE, "u", "p", NULL), -EINVAL);
	kw_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_scram_sha256_rfc7677),
		cmocka_unit_test(test_scram_sha512),
		cmocka_unit_test(test_scram_user_escaped_and_random_nonce),
		cmocka_unit_test(test_scram_server_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
