/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the control protocol parser and reply framing (control/ctl_proto.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl.h"
#include "ctl_proto.h"

static enum sluice_ctl_proto_err parse(const char *s, struct sluice_ctl_request *req, char *err,
				       size_t errlen)
{
	return sluice_ctl_proto_parse(s, strlen(s), req, err, errlen);
}

static void test_valid(void **state)
{
	struct sluice_ctl_request req;
	char err[256];

	(void)state;
	assert_int_equal(parse("{\"v\":1,\"cmd\":\"status\"}", &req, err, sizeof(err)),
			 SLUICE_CTL_PROTO_OK);
	assert_string_equal(req.cmd, "status");
	assert_null(req.args);
	assert_null(req.id);
	sluice_ctl_request_clear(&req);

	assert_int_equal(parse("  {\"cmd\":\"config.set\",\"v\":1,\"args\":{\"key\":\"a.b\","
			       "\"value\":\"1\"},\"id\":\"x7\"}\r\n",
			       &req, err, sizeof(err)),
			 SLUICE_CTL_PROTO_OK);
	assert_string_equal(req.cmd, "config.set");
	assert_non_null(req.args);
	assert_string_equal(json_string_value(json_object_get(req.args, "key")), "a.b");
	assert_string_equal(json_string_value(req.id), "x7");
	sluice_ctl_request_clear(&req);

	assert_int_equal(parse("{\"v\":1,\"cmd\":\"forwarder.pause\",\"args\":null,\"id\":3}", &req,
			       err, sizeof(err)),
			 SLUICE_CTL_PROTO_OK);
	assert_null(req.args);
	assert_int_equal(json_integer_value(req.id), 3);
	sluice_ctl_request_clear(&req);
}

static void expect_err(const char *line, size_t len, enum sluice_ctl_proto_err want,
		       const char *msg_part)
{
	struct sluice_ctl_request req;
	char err[256];

	assert_int_equal(sluice_ctl_proto_parse(line, len, &req, err, sizeof(err)), want);
	assert_null(req.args);
	assert_null(req.id);
	assert_int_equal(req.cmd[0], '\0');
	if (strstr(err, msg_part) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, msg_part);
}

#define EXPECT(s, want, part) expect_err((s), strlen(s), (want), (part))

static void test_invalid(void **state)
{
	static const char nul[] = "{\"v\":1,\"cmd\":\"st\0atus\"}";
	static const char bad_utf8[] = "{\"v\":1,\"cmd\":\"status\",\"id\":\"\xff\xfe\"}";
	char longcmd[200];

	(void)state;
	EXPECT("", SLUICE_CTL_PROTO_EMPTY, "empty");
	EXPECT("  \r", SLUICE_CTL_PROTO_EMPTY, "empty");
	EXPECT("not json", SLUICE_CTL_PROTO_JSON, "invalid JSON");
	EXPECT("{\"v\":1,\"cmd\":\"status\"", SLUICE_CTL_PROTO_JSON, "invalid JSON");
	EXPECT("[1,2]", SLUICE_CTL_PROTO_NOT_OBJECT, "object");
	EXPECT("{\"cmd\":\"status\"}", SLUICE_CTL_PROTO_BAD_VERSION, "missing \"v\"");
	EXPECT("{\"v\":2,\"cmd\":\"status\"}", SLUICE_CTL_PROTO_BAD_VERSION,
	       "unsupported protocol version 2");
	EXPECT("{\"v\":\"1\",\"cmd\":\"status\"}", SLUICE_CTL_PROTO_BAD_VERSION, "integer");
	EXPECT("{\"v\":1}", SLUICE_CTL_PROTO_CMD, "missing \"cmd\"");
	EXPECT("{\"v\":1,\"cmd\":7}", SLUICE_CTL_PROTO_CMD, "string");
	EXPECT("{\"v\":1,\"cmd\":\"\"}", SLUICE_CTL_PROTO_CMD, "1..63");
	EXPECT("{\"v\":1,\"cmd\":\"Status\"}", SLUICE_CTL_PROTO_CMD, "a-z");
	EXPECT("{\"v\":1,\"cmd\":\"st atus\"}", SLUICE_CTL_PROTO_CMD, "a-z");
	EXPECT("{\"v\":1,\"cmd\":\"status\",\"args\":[1]}", SLUICE_CTL_PROTO_ARGS, "object");
	EXPECT("{\"v\":1,\"cmd\":\"status\",\"args\":\"x\"}", SLUICE_CTL_PROTO_ARGS, "object");
	EXPECT("{\"v\":1,\"cmd\":\"status\",\"id\":{}}", SLUICE_CTL_PROTO_ID, "id");
	EXPECT("{\"v\":1,\"cmd\":\"status\",\"id\":1.5}", SLUICE_CTL_PROTO_ID, "id");
	EXPECT("{\"v\":1,\"cmd\":\"status\",\"extra\":1}", SLUICE_CTL_PROTO_UNKNOWN_FIELD,
	       "unknown field \"extra\"");
	EXPECT("{\"v\":1,\"cmd\":\"status\",\"cmd\":\"flush\"}", SLUICE_CTL_PROTO_JSON,
	       "duplicate");
	/* Errors found after args/id were taken must release them (ASan checks the leak). */
	EXPECT("{\"v\":1,\"args\":{\"a\":[1,2,3]},\"id\":\"x\",\"cmd\":\"BAD\"}",
	       SLUICE_CTL_PROTO_CMD, "a-z");
	expect_err(nul, sizeof(nul) - 1, SLUICE_CTL_PROTO_JSON, "invalid JSON");
	expect_err(bad_utf8, sizeof(bad_utf8) - 1, SLUICE_CTL_PROTO_JSON, "invalid JSON");
	expect_err("{\"v\":1,\"cmd\":\"status\"}", 10, SLUICE_CTL_PROTO_JSON, "invalid JSON");

	memset(longcmd, 0, sizeof(longcmd));
	strcpy(longcmd, "{\"v\":1,\"cmd\":\"");
	memset(longcmd + strlen(longcmd), 'a', 64);
	strcat(longcmd, "\"}");
	EXPECT(longcmd, SLUICE_CTL_PROTO_CMD, "1..63");
}

static void test_nul_in_string(void **state)
{
	/* \u0000 escapes are refused (no JSON_ALLOW_NUL), so no C string is cut short. */
	(void)state;
	EXPECT("{\"v\":1,\"cmd\":\"status\",\"id\":\"a\\u0000b\"}", SLUICE_CTL_PROTO_JSON,
	       "invalid JSON");
}

static void test_reply_line(void **state)
{
	json_t *r = json_pack("{sbss}", "ok", 1, "msg", "two\nlines");
	json_t *id = json_integer(9);
	json_t *back;
	size_t len = 0;
	char err[128];
	char *line;

	(void)state;
	line = sluice_ctl_proto_reply_line(r, id, &len);
	assert_non_null(line);
	assert_int_equal(len, strlen(line));
	assert_int_equal(line[len - 1], '\n');
	/* Exactly one line: the newline inside the string is escaped. */
	assert_ptr_equal(strchr(line, '\n'), line + len - 1);
	back = sluice_ctl_proto_parse_reply(line, len - 1, err, sizeof(err));
	assert_non_null(back);
	assert_true(json_is_true(json_object_get(back, "ok")));
	assert_int_equal(json_integer_value(json_object_get(back, "v")), 1);
	assert_int_equal(json_integer_value(json_object_get(back, "id")), 9);
	assert_string_equal(json_string_value(json_object_get(back, "msg")), "two\nlines");
	json_decref(back);
	free(line);
	json_decref(r);
	json_decref(id);

	/* A handler reply without "ok" becomes an error rather than a silent success. */
	r = json_pack("{si}", "x", 1);
	line = sluice_ctl_proto_reply_line(r, NULL, &len);
	back = sluice_ctl_proto_parse_reply(line, len, err, sizeof(err));
	assert_non_null(back);
	assert_true(json_is_false(json_object_get(back, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(back, "error")), "without"));
	json_decref(back);
	free(line);
	json_decref(r);

	assert_null(sluice_ctl_proto_parse_reply("{\"ok\":true}", 11, err, sizeof(err)));
	assert_non_null(strstr(err, "version"));
	assert_null(sluice_ctl_proto_parse_reply("{\"v\":1}", 7, err, sizeof(err)));
	assert_null(sluice_ctl_proto_parse_reply("zzz", 3, err, sizeof(err)));
}

static void test_error_and_request(void **state)
{
	struct sluice_ctl_request req;
	json_t *e = sluice_ctl_proto_error("bad %s %d", "thing", 3);
	json_t *args = json_pack("{ss}", "key", "x");
	char err[64];
	size_t len = 0;
	char *line;

	(void)state;
	assert_true(json_is_false(json_object_get(e, "ok")));
	assert_string_equal(json_string_value(json_object_get(e, "error")), "bad thing 3");
	json_decref(e);
	/* A reason cut inside a UTF-8 sequence still yields an error message. */
	e = sluice_ctl_proto_error("%s", "\xe2\x82");
	assert_non_null(json_object_get(e, "error"));
	json_decref(e);

	/* What sluicectl sends is what the server accepts. */
	line = sluice_ctl_proto_request_line("config.get", args, &len);
	assert_non_null(line);
	assert_int_equal(sluice_ctl_proto_parse(line, len, &req, err, sizeof(err)),
			 SLUICE_CTL_PROTO_OK);
	assert_string_equal(req.cmd, "config.get");
	assert_string_equal(json_string_value(json_object_get(req.args, "key")), "x");
	sluice_ctl_request_clear(&req);
	free(line);
	json_decref(args);
	assert_string_equal(sluice_ctl_proto_err_name(SLUICE_CTL_PROTO_JSON), "json");
	assert_string_equal(sluice_ctl_proto_err_name(SLUICE_CTL_PROTO_ERR_COUNT), "unknown");
}

static void capture(const char *line, void *arg)
{
	snprintf(arg, 128, "%s", line);
}

static void test_log_hook(void **state)
{
	char got[128] = "";

	(void)state;
	sluice_ctl_set_log(capture, got);
	sluice_ctl_log("refused uid %d", 7);
	sluice_ctl_set_log(NULL, NULL);
	assert_string_equal(got, "refused uid 7");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_nul_in_string),
		cmocka_unit_test(test_reply_line),
		cmocka_unit_test(test_error_and_request),
		cmocka_unit_test(test_log_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
