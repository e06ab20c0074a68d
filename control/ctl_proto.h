/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The control protocol's framing and validation (docs/control-protocol.md), shared by the
 * control-socket server (ctl_server.c), sluicectl and the fuzz target. Pure functions over byte
 * ranges: no I/O, no global state.
 *
 * One request per line: {"v":1,"cmd":"<name>","args":{...},"id":<any scalar>}\n
 * One reply per line:   {"v":1,"ok":true,...}\n or {"v":1,"ok":false,"error":"<reason>"}\n
 *
 * Threads: every function is reentrant.
 */
#ifndef SLUICE_CTL_PROTO_H
#define SLUICE_CTL_PROTO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Longest command name, terminator excluded. */
#define SLUICE_CTL_CMD_MAX 63

struct sluice_ctl_request {
	char cmd[SLUICE_CTL_CMD_MAX + 1]; /**< [a-z0-9._-], 1..63 characters */
	json_t *args; /**< object (own reference), or NULL when absent */
	json_t *id; /**< scalar echoed in the reply (own reference), or NULL */
};

/** Why a request line was refused; also the label of sluice_ctl_bad_requests_total. */
enum sluice_ctl_proto_err {
	SLUICE_CTL_PROTO_OK = 0,
	SLUICE_CTL_PROTO_EMPTY, /**< blank line */
	SLUICE_CTL_PROTO_JSON, /**< not JSON, or not UTF-8, or has NUL bytes */
	SLUICE_CTL_PROTO_NOT_OBJECT,
	SLUICE_CTL_PROTO_BAD_VERSION, /**< "v" missing, not an integer or not supported */
	SLUICE_CTL_PROTO_CMD, /**< "cmd" missing, not a string, empty, too long, bad characters */
	SLUICE_CTL_PROTO_ARGS, /**< "args" present but not an object */
	SLUICE_CTL_PROTO_ID, /**< "id" not a string, integer or null */
	SLUICE_CTL_PROTO_UNKNOWN_FIELD,
	SLUICE_CTL_PROTO_ERR_COUNT,
};

/** Short stable name of @p e ("json", "version", ...), for metrics labels. */
const char *sluice_ctl_proto_err_name(enum sluice_ctl_proto_err e);

/**
 * Parse and validate one request line (@p len bytes, without or with its trailing newline).
 * On success fills @p req (release with sluice_ctl_request_clear). On failure @p req is
 * empty and @p err holds a message fit for the reply. Never reads past @p len.
 */
enum sluice_ctl_proto_err sluice_ctl_proto_parse(const char *line, size_t len,
						 struct sluice_ctl_request *req, char *err,
						 size_t err_len);

/** Drop the references held by @p req and empty it. Accepts an empty request. */
void sluice_ctl_request_clear(struct sluice_ctl_request *req);

/**
 * Serialise a reply: stamps "v" (and "id" when @p id is not NULL) into @p reply, makes sure
 * "ok" is a boolean (a reply without it is turned into an error), and returns a malloc'ed
 * compact JSON line ending in '\n' (length in @p len), or NULL when out of memory.
 */
char *sluice_ctl_proto_reply_line(json_t *reply, json_t *id, size_t *len);

/** A new {"ok":false,"error":<formatted>} object. */
json_t *sluice_ctl_proto_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** A malloc'ed request line for @p cmd with @p args (may be NULL), '\n' included. */
char *sluice_ctl_proto_request_line(const char *cmd, json_t *args, size_t *len);

/**
 * Client side: parse one reply line. @return the reply object (new reference) when it is an
 * object with "v" == 1 and a boolean "ok", else NULL with the reason in @p err.
 */
json_t *sluice_ctl_proto_parse_reply(const char *line, size_t len, char *err, size_t err_len);

/** Log a line to stderr with a "sluice ctl: " prefix (library code never prints to stdout). */
void sluice_ctl_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_CTL_PROTO_H */
