/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the control-socket request parser on arbitrary bytes, then the reply
 * framing of whatever it accepted (control/ctl_proto.c). Invariants checked: a refused line
 * leaves the request empty, an accepted one has a well-formed command name, and every reply is
 * exactly one newline-terminated line that the client-side parser accepts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sluice_ctl_request req;
	char err[256];
	enum sluice_ctl_proto_err e;
	json_t *reply;
	json_t *back;
	size_t len = 0;
	char *line;

	e = sluice_ctl_proto_parse((const char *)data, size, &req, err, sizeof(err));
	if (e != SLUICE_CTL_PROTO_OK) {
		if (req.cmd[0] != '\0' || req.args != NULL || req.id != NULL || err[0] == '\0')
			abort();
		reply = sluice_ctl_proto_error("bad request: %s", err);
	} else {
		size_t n = strlen(req.cmd);

		if (n == 0 || n > SLUICE_CTL_CMD_MAX ||
		    strspn(req.cmd,
			   "abcdefghijklmnopqrstuvwxyz"
			   "0123456789._-") != n)
			abort();
		if (req.args != NULL && !json_is_object(req.args))
			abort();
		reply = json_pack("{sbsssO?}", "ok", 1, "cmd", req.cmd, "args", req.args);
	}
	line = sluice_ctl_proto_reply_line(reply, e == SLUICE_CTL_PROTO_OK ? req.id : NULL, &len);
	if (line == NULL || len == 0 || line[len - 1] != '\n' || memchr(line, '\n', len - 1))
		abort();
	back = sluice_ctl_proto_parse_reply(line, len - 1, err, sizeof(err));
	if (back == NULL)
		abort();
	json_decref(back);
	free(line);
	json_decref(reply);
	sluice_ctl_request_clear(&req);
	return 0;
}
