/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Control protocol framing and validation. Threading contract: none needed; every function is
 * pure over its arguments (jansson objects are not shared between threads by callers).
 *
 * The parser is deliberately strict (unknown fields, duplicate keys and wrong types are refused)
 * so that a later protocol version can give those fields a meaning without old daemons silently
 * misreading them.
 */
#include "ctl_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char *const err_names[SLUICE_CTL_PROTO_ERR_COUNT] = {
	[SLUICE_CTL_PROTO_OK] = "ok",
	[SLUICE_CTL_PROTO_EMPTY] = "empty",
	[SLUICE_CTL_PROTO_JSON] = "json",
	[SLUICE_CTL_PROTO_NOT_OBJECT] = "not_object",
	[SLUICE_CTL_PROTO_BAD_VERSION] = "version",
	[SLUICE_CTL_PROTO_CMD] = "cmd",
	[SLUICE_CTL_PROTO_ARGS] = "args",
	[SLUICE_CTL_PROTO_ID] = "id",
	[SLUICE_CTL_PROTO_UNKNOWN_FIELD] = "unknown_field",
};

const char *sluice_ctl_proto_err_name(enum sluice_ctl_proto_err e)
{
	if ((unsigned)e >= SLUICE_CTL_PROTO_ERR_COUNT)
		return "unknown";
	return err_names[e];
}

/* Set once by the daemon before any output thread starts; read by those threads. */
static void (*log_fn)(const char *line, void *arg);
static void *log_arg;

void sluice_ctl_set_log(void (*fn)(const char *line, void *arg), void *arg)
{
	log_fn = fn;
	log_arg = arg;
}

void sluice_ctl_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (log_fn != NULL) {
		log_fn(buf, log_arg);
		return;
	}
	/* One write per line so that lines from several threads do not interleave. */
	fprintf(stderr, "sluice ctl: %s\n", buf);
}

static void set_err(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

static bool cmd_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static bool all_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

void sluice_ctl_request_clear(struct sluice_ctl_request *req)
{
	if (req == NULL)
		return;
	json_decref(req->args);
	json_decref(req->id);
	memset(req, 0, sizeof(*req));
}

enum sluice_ctl_proto_err sluice_ctl_proto_parse(const char *line, size_t len,
						 struct sluice_ctl_request *req, char *err,
						 size_t err_len)
{
	enum sluice_ctl_proto_err rc = SLUICE_CTL_PROTO_OK;
	json_error_t jerr;
	json_t *root = NULL;
	const char *key;
	json_t *val;

	memset(req, 0, sizeof(*req));
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (line == NULL || all_blank(line, len)) {
		set_err(err, err_len, "empty request line");
		return SLUICE_CTL_PROTO_EMPTY;
	}
	/* NUL bytes inside strings are refused by jansson (no JSON_ALLOW_NUL); outside strings
	 * they are a syntax error. Invalid UTF-8 is refused too. */
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		set_err(err, err_len, "invalid JSON at column %d: %s", jerr.column, jerr.text);
		return SLUICE_CTL_PROTO_JSON;
	}
	if (!json_is_object(root)) {
		set_err(err, err_len, "request must be a JSON object");
		rc = SLUICE_CTL_PROTO_NOT_OBJECT;
		goto fail;
	}
	json_object_foreach(root, key, val)
	{
		if (strcmp(key, "v") == 0) {
			if (!json_is_integer(val)) {
				set_err(err, err_len, "\"v\" must be an integer");
				rc = SLUICE_CTL_PROTO_BAD_VERSION;
				goto fail;
			}
			if (json_integer_value(val) != SLUICE_CTL_PROTO_VERSION) {
				set_err(err, err_len,
					"unsupported protocol version %lld (this daemon speaks %d)",
					(long long)json_integer_value(val),
					SLUICE_CTL_PROTO_VERSION);
				rc = SLUICE_CTL_PROTO_BAD_VERSION;
				goto fail;
			}
		} else if (strcmp(key, "cmd") == 0) {
			const char *s;
			size_t n;

			if (!json_is_string(val)) {
				set_err(err, err_len, "\"cmd\" must be a string");
				rc = SLUICE_CTL_PROTO_CMD;
				goto fail;
			}
			s = json_string_value(val);
			n = json_string_length(val);
			if (n == 0 || n > SLUICE_CTL_CMD_MAX) {
				set_err(err, err_len, "\"cmd\" must be 1..%d characters",
					SLUICE_CTL_CMD_MAX);
				rc = SLUICE_CTL_PROTO_CMD;
				goto fail;
			}
			for (size_t i = 0; i < n; i++) {
				if (!cmd_char_ok(s[i])) {
					set_err(err, err_len,
						"\"cmd\" may contain only a-z 0-9 . _ -");
					rc = SLUICE_CTL_PROTO_CMD;
					goto fail;
				}
			}
			memcpy(req->cmd, s, n);
			req->cmd[n] = '\0';
		} else if (strcmp(key, "args") == 0) {
			if (json_is_null(val))
				continue;
			if (!json_is_object(val)) {
				set_err(err, err_len, "\"args\" must be an object");
				rc = SLUICE_CTL_PROTO_ARGS;
				goto fail;
			}
			req->args = json_incref(val);
		} else if (strcmp(key, "id") == 0) {
			if (!json_is_string(val) && !json_is_integer(val) && !json_is_null(val)) {
				set_err(err, err_len, "\"id\" must be a string, integer or null");
				rc = SLUICE_CTL_PROTO_ID;
				goto fail;
			}
			req->id = json_incref(val);
		} else {
			/* Keys are NUL-free (jansson refuses \u0000 in keys); cap what we echo. */
			set_err(err, err_len, "unknown field \"%.40s\"", key);
			rc = SLUICE_CTL_PROTO_UNKNOWN_FIELD;
			goto fail;
		}
	}
	if (json_object_get(root, "v") == NULL) {
		set_err(err, err_len, "missing \"v\" (protocol version, must be %d)",
			SLUICE_CTL_PROTO_VERSION);
		rc = SLUICE_CTL_PROTO_BAD_VERSION;
		goto fail;
	}
	if (req->cmd[0] == '\0') {
		set_err(err, err_len, "missing \"cmd\"");
		rc = SLUICE_CTL_PROTO_CMD;
		goto fail;
	}
	json_decref(root);
	return SLUICE_CTL_PROTO_OK;
fail:
	sluice_ctl_request_clear(req);
	json_decref(root);
	return rc;
}

json_t *sluice_ctl_proto_error(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	o = json_object();
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "ok", json_false());
	/* json_string refuses invalid UTF-8 (e.g. a truncated multibyte character); fall back
	 * to a lossless-enough ASCII copy rather than drop the reason. */
	if (json_object_set_new(o, "error", json_string(buf)) != 0) {
		for (char *p = buf; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		json_object_set_new(o, "error", json_string(buf));
	}
	return o;
}

char *sluice_ctl_proto_reply_line(json_t *reply, json_t *id, size_t *len)
{
	json_t *ok;
	char *s;
	size_t n;
	char *line;

	if (reply == NULL || !json_is_object(reply))
		return NULL;
	ok = json_object_get(reply, "ok");
	if (!json_is_boolean(ok)) {
		json_object_set_new(reply, "ok", json_false());
		if (!json_is_string(json_object_get(reply, "error")))
			json_object_set_new(reply, "error",
					    json_string("internal error: reply without \"ok\""));
	} else if (json_is_false(ok) && !json_is_string(json_object_get(reply, "error"))) {
		json_object_set_new(reply, "error", json_string("unspecified error"));
	}
	json_object_set_new(reply, "v", json_integer(SLUICE_CTL_PROTO_VERSION));
	if (id != NULL)
		json_object_set(reply, "id", id);
	/* JSON_COMPACT never emits a raw newline: newlines inside strings are escaped, so one
	 * reply is exactly one line. */
	s = json_dumps(reply, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s == NULL)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (line == NULL) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	if (len != NULL)
		*len = n + 1;
	return line;
}

char *sluice_ctl_proto_request_line(const char *cmd, json_t *args, size_t *len)
{
	json_t *o = json_object();
	char *s = NULL;
	char *line = NULL;
	size_t n;

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "v", json_integer(SLUICE_CTL_PROTO_VERSION));
	json_object_set_new(o, "cmd", json_string(cmd));
	if (args != NULL)
		json_object_set(o, "args", args);
	s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (s == NULL)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (line == NULL) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	if (len != NULL)
		*len = n + 1;
	return line;
}

json_t *sluice_ctl_proto_parse_reply(const char *line, size_t len, char *err, size_t err_len)
{
	json_error_t jerr;
	json_t *root;
	json_t *v;

	if (err != NULL && err_len > 0)
		err[0] = '\0';
	root = json_loadb(line, len, 0, &jerr);
	if (root == NULL) {
		set_err(err, err_len, "daemon sent invalid JSON: %s", jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		set_err(err, err_len, "daemon reply is not a JSON object");
		goto fail;
	}
	v = json_object_get(root, "v");
	if (!json_is_integer(v) || json_integer_value(v) != SLUICE_CTL_PROTO_VERSION) {
		set_err(err, err_len, "daemon speaks another protocol version");
		goto fail;
	}
	if (!json_is_boolean(json_object_get(root, "ok"))) {
		set_err(err, err_len, "daemon reply has no \"ok\"");
		goto fail;
	}
	return root;
fail:
	json_decref(root);
	return NULL;
}
