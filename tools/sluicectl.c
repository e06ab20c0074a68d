/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluicectl: the control CLI of sluiced, a client of the control socket
 * (docs/control-protocol.md). Single-threaded; one connection per invocation.
 *
 * Exit codes (also in --help and docs/operations.md):
 *   0 ok, 1 the daemon answered with an error, 2 usage error, 3 cannot connect,
 *   4 permission denied, 5 protocol error or timeout, 6 unhealthy (health command).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_proto.h"
#include "doctor.h"
#include "sluice_time.h"

enum {
	EXIT_OK = 0,
	EXIT_DAEMON_ERROR = 1,
	EXIT_USAGE = 2,
	EXIT_CONNECT = 3,
	EXIT_PERMISSION = 4,
	EXIT_PROTOCOL = 5,
	EXIT_UNHEALTHY = 6,
};

#define DEFAULT_SOCKET "/run/sluice/sluiced.sock"
#define MAX_REPLY (64u * 1024u * 1024u)

static const char usage_text[] =
	"usage: sluicectl [options] <command> [args]\n"
	"\n"
	"commands:\n"
	"  status                   health, uptime, ports, workers, writers, forwarder, alarms\n"
	"  stats                    the accounting chain and counters\n"
	"  health                   healthy, or the failing checks (exit 6 when unhealthy)\n"
	"  top [-i SEC] [-n COUNT] [--all]\n"
	"                           live per-port/core/partition rates, busy %, durable and\n"
	"                           forward lag (Ctrl-C to quit; --all: every column)\n"
	"  producers [-l LIMIT]     source, events, lost, duplicates, last seen (most lost first)\n"
	"  partitions               appended, durable and forwarded offsets, lag, segments\n"
	"  segments TOPIC-P         the segments of one partition\n"
	"  config list              every key, its value, default and whether runtime-tunable\n"
	"  config get KEY           print one value\n"
	"  config set KEY VALUE     change a runtime-tunable key without restart\n"
	"  forwarder pause|resume   stop/restart forwarding to Kafka (ingest continues)\n"
	"  flush                    wait until everything received is durable\n"
	"  shutdown                 clean shutdown of sluiced\n"
	"  metrics                  every metric (as /metrics, in JSON with --json)\n"
	"  raw CMD [JSON-ARGS]      send any command (for debugging)\n"
	"  doctor [--config FILE]   check this host for sluiced: one line per check with the\n"
	"                           fix for each warning or failure (works without sluiced)\n"
	"\n"
	"options:\n"
	"  -s, --socket PATH   control socket (default $SLUICE_SOCKET or " DEFAULT_SOCKET ")\n"
	"  -j, --json          print the daemon's JSON reply instead of tables\n"
	"  -t, --timeout SEC   give up waiting for a reply after SEC seconds (default 30)\n"
	"  -w, --wait SEC      retry connecting for up to SEC seconds (daemon starting)\n"
	"  -h, --help          this text\n"
	"\n"
	"exit codes: 0 ok, 1 the daemon answered with an error, 2 usage, 3 cannot connect,\n"
	"            4 permission denied, 5 protocol error or timeout, 6 unhealthy\n";

struct opts {
	const char *socket;
	bool json;
	int timeout_ms;
	double wait_s;
};

struct conn {
	int fd;
	char *buf;
	size_t len;
	size_t cap;
	int timeout_ms;
	const char *path;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sluicectl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'sluicectl --help'.\n");
	return EXIT_USAGE;
}

static bool parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max))
		return false;
	*out = v;
	return true;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* ---- connection ---- */

static int conn_open(struct conn *c, const struct opts *o)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	double deadline = sluice_mono_s() + o->wait_s;
	int err;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->path = o->socket;
	c->timeout_ms = o->timeout_ms;
	if (strlen(o->socket) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "sluicectl: socket path too long: %s\n", o->socket);
		return EXIT_USAGE;
	}
	memcpy(sa.sun_path, o->socket, strlen(o->socket) + 1);
	for (;;) {
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			fprintf(stderr, "sluicectl: socket: %s\n", strerror(errno));
			return EXIT_CONNECT;
		}
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return EXIT_OK;
		err = errno;
		close(c->fd);
		c->fd = -1;
		if (err == EACCES || err == EPERM) {
			fprintf(stderr,
				"sluicectl: permission denied connecting to %s (run as root or as "
				"a "
				"member of the control group)\n",
				o->socket);
			return EXIT_PERMISSION;
		}
		if (sluice_mono_s() >= deadline)
			break;
		usleep(50 * 1000);
	}
	fprintf(stderr, "sluicectl: cannot connect to %s: %s%s\n", o->socket, strerror(err),
		err == ENOENT || err == ECONNREFUSED ? " (is sluiced running? see --socket)" : "");
	return EXIT_CONNECT;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

/* Read one line into c->buf (NUL-terminated, newline stripped). */
static int read_line(struct conn *c, size_t *line_len)
{
	for (;;) {
		char *nl = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		ssize_t n;
		int pr;

		if (nl != NULL) {
			*line_len = (size_t)(nl - c->buf);
			return EXIT_OK;
		}
		if (c->len + 4096 > c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *p;

			if (cap > MAX_REPLY) {
				fprintf(stderr, "sluicectl: reply longer than %u bytes\n",
					MAX_REPLY);
				return EXIT_PROTOCOL;
			}
			p = realloc(c->buf, cap);
			if (p == NULL) {
				fprintf(stderr, "sluicectl: out of memory\n");
				return EXIT_PROTOCOL;
			}
			c->buf = p;
			c->cap = cap;
		}
		pr = poll(&pfd, 1, c->timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0) {
			fprintf(stderr, "sluicectl: no reply from %s within %d ms\n", c->path,
				c->timeout_ms);
			return EXIT_PROTOCOL;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "sluicectl: %s closed the connection%s%s\n", c->path,
				n < 0 ? ": " : " before replying", n < 0 ? strerror(errno) : "");
			return EXIT_PROTOCOL;
		}
		c->len += (size_t)n;
	}
}

/*
 * Send @p cmd and wait for its reply. Returns EXIT_OK with *reply set (ok true or false), or
 * an exit code after printing why.
 */
static int conn_call(struct conn *c, const char *cmd, json_t *args, json_t **reply)
{
	char err[256];
	size_t len = 0;
	size_t off = 0;
	size_t line_len = 0;
	char *line;
	int rc;

	*reply = NULL;
	line = sluice_ctl_proto_request_line(cmd, args, &len);
	if (line == NULL) {
		fprintf(stderr, "sluicectl: cannot encode the request\n");
		return EXIT_USAGE;
	}
	while (off < len) {
		ssize_t n = send(c->fd, line + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		/* A refused peer is sent one error line and disconnected: read it anyway. */
		if (n < 0)
			break;
		off += (size_t)n;
	}
	free(line);
	rc = read_line(c, &line_len);
	if (rc != EXIT_OK)
		return rc;
	*reply = sluice_ctl_proto_parse_reply(c->buf, line_len, err, sizeof(err));
	memmove(c->buf, c->buf + line_len + 1, c->len - line_len - 1);
	c->len -= line_len + 1;
	if (*reply == NULL) {
		fprintf(stderr, "sluicectl: %s\n", err);
		return EXIT_PROTOCOL;
	}
	return EXIT_OK;
}

/* ok:false → message and exit code (permission refusals get their own code). */
static int reply_status(json_t *reply)
{
	const char *e;

	if (json_is_true(json_object_get(reply, "ok")))
		return EXIT_OK;
	e = json_string_value(json_object_get(reply, "error"));
	if (e == NULL)
		e = "unspecified error";
	fprintf(stderr, "sluicectl: %s\n", e);
	return strncmp(e, "permission denied", 17) == 0 ? EXIT_PERMISSION : EXIT_DAEMON_ERROR;
}

/* ---- human output ---- */

static void scalar_str(json_t *v, char *out, size_t cap)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		snprintf(out, cap, "%s", json_string_value(v));
		break;
	case JSON_INTEGER:
		snprintf(out, cap, "%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL: {
		double d = json_real_value(v);

		if (d == floor(d) && fabs(d) < 1e15)
			snprintf(out, cap, "%.0f", d);
		else
			snprintf(out, cap, "%.4g", d);
		break;
	}
	case JSON_TRUE:
		snprintf(out, cap, "yes");
		break;
	case JSON_FALSE:
		snprintf(out, cap, "no");
		break;
	case JSON_NULL:
		snprintf(out, cap, "-");
		break;
	default: {
		char *s = json_dumps(v, JSON_COMPACT);

		snprintf(out, cap, "%s", s != NULL ? s : "?");
		free(s);
	}
	}
}

static bool is_scalar(json_t *v)
{
	return !json_is_object(v) && !json_is_array(v);
}

static bool array_of_objects(json_t *a)
{
	size_t i;
	json_t *e;

	if (!json_is_array(a) || json_array_size(a) == 0)
		return false;
	json_array_foreach(a, i, e)
	{
		if (!json_is_object(e))
			return false;
	}
	return true;
}

#define CELL_MAX 64

/* A string holding a formatted number ("1.5M", "-3"), right-aligned like numbers. */
static bool looks_numeric(json_t *v)
{
	const char *s = json_string_value(v);

	if (s == NULL)
		return false;
	if (*s == '-')
		s++;
	return *s >= '0' && *s <= '9';
}

static void print_table(json_t *rows, int indent)
{
	json_t *cols = json_array();
	size_t *width;
	size_t ncols;
	size_t i;
	json_t *row;
	char cell[CELL_MAX];

	json_array_foreach(rows, i, row)
	{
		const char *k;
		json_t *v;

		json_object_foreach(row, k, v)
		{
			bool seen = false;
			size_t j;
			json_t *c;

			json_array_foreach(cols, j, c)
			{
				if (strcmp(json_string_value(c), k) == 0)
					seen = true;
			}
			if (!seen)
				json_array_append_new(cols, json_string(k));
		}
	}
	ncols = json_array_size(cols);
	width = calloc(ncols ? ncols : 1, sizeof(*width));
	if (width == NULL) {
		json_decref(cols);
		return;
	}
	for (size_t j = 0; j < ncols; j++)
		width[j] = strlen(json_string_value(json_array_get(cols, j)));
	json_array_foreach(rows, i, row)
	{
		for (size_t j = 0; j < ncols; j++) {
			json_t *v =
				json_object_get(row, json_string_value(json_array_get(cols, j)));

			scalar_str(v != NULL ? v : json_null(), cell, sizeof(cell));
			if (strlen(cell) > width[j])
				width[j] = strlen(cell);
		}
	}
	printf("%*s", indent, "");
	for (size_t j = 0; j < ncols; j++)
		printf("%-*s%s", j + 1 < ncols ? (int)width[j] : 0,
		       json_string_value(json_array_get(cols, j)), j + 1 < ncols ? "  " : "\n");
	json_array_foreach(rows, i, row)
	{
		printf("%*s", indent, "");
		for (size_t j = 0; j < ncols; j++) {
			json_t *v =
				json_object_get(row, json_string_value(json_array_get(cols, j)));

			scalar_str(v != NULL ? v : json_null(), cell, sizeof(cell));
			/* Numbers right-aligned, text left-aligned, no trailing blanks. */
			if (v != NULL && (json_is_number(v) || looks_numeric(v)))
				printf("%*s", (int)width[j], cell);
			else if (j + 1 < ncols)
				printf("%-*s", (int)width[j], cell);
			else
				printf("%s", cell);
			printf("%s", j + 1 < ncols ? "  " : "\n");
		}
	}
	free(width);
	json_decref(cols);
}

static void print_object(json_t *obj, int indent, bool top)
{
	const char *k;
	json_t *v;
	size_t kw = 0;
	char cell[256];

	json_object_foreach(obj, k, v)
	{
		if (is_scalar(v) && strlen(k) > kw)
			kw = strlen(k);
	}
	/* Scalars first as an aligned list, then nested objects and tables. */
	json_object_foreach(obj, k, v)
	{
		if (top && (strcmp(k, "ok") == 0 || strcmp(k, "v") == 0 || strcmp(k, "id") == 0))
			continue;
		if (!is_scalar(v))
			continue;
		scalar_str(v, cell, sizeof(cell));
		printf("%*s%-*s  %s\n", indent, "", (int)kw + 1, k, cell);
	}
	json_object_foreach(obj, k, v)
	{
		if (json_is_object(v)) {
			printf("%*s%s:\n", indent, "", k);
			if (json_object_size(v) == 0)
				printf("%*s(none)\n", indent + 2, "");
			print_object(v, indent + 2, false);
		} else if (array_of_objects(v)) {
			printf("%*s%s:\n", indent, "", k);
			print_table(v, indent + 2);
		} else if (json_is_array(v)) {
			size_t i;
			json_t *e;

			printf("%*s%s:", indent, "", k);
			if (json_array_size(v) == 0)
				printf(" (none)");
			json_array_foreach(v, i, e)
			{
				scalar_str(e, cell, sizeof(cell));
				printf("%s %s", i ? "," : "", cell);
			}
			printf("\n");
		}
	}
}

static void print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2));

	if (s != NULL) {
		puts(s);
		free(s);
	}
}

/* ---- commands ---- */

/* One request, printed generically. */
static int simple(const struct opts *o, const char *cmd, json_t *args)
{
	struct conn c;
	json_t *reply = NULL;
	int rc;

	rc = conn_open(&c, o);
	if (rc != EXIT_OK) {
		json_decref(args);
		return rc;
	}
	rc = conn_call(&c, cmd, args, &reply);
	json_decref(args);
	conn_close(&c);
	if (rc != EXIT_OK)
		return rc;
	rc = reply_status(reply);
	if (rc == EXIT_OK) {
		if (o->json)
			print_json(reply);
		else if (strcmp(cmd, "config.get") == 0)
			printf("%s\n",
			       json_string_value(json_object_get(reply, "value"))
				       ? json_string_value(json_object_get(reply, "value"))
				       : "");
		else if (strcmp(cmd, "config.set") == 0 &&
			 json_is_string(json_object_get(reply, "value")))
			printf("%s = %s%s%s%s\n",
			       json_string_value(json_object_get(reply, "key"))
				       ? json_string_value(json_object_get(reply, "key"))
				       : "",
			       json_string_value(json_object_get(reply, "value")),
			       json_is_string(json_object_get(reply, "previous")) ? " (was " : "",
			       json_is_string(json_object_get(reply, "previous"))
				       ? json_string_value(json_object_get(reply, "previous"))
				       : "",
			       json_is_string(json_object_get(reply, "previous")) ? ")" : "");
		else
			print_object(reply, 0, true);
	} else if (o->json) {
		print_json(reply);
	}
	json_decref(reply);
	return rc;
}

static int cmd_health(const struct opts *o)
{
	struct conn c;
	json_t *reply = NULL;
	json_t *reasons;
	size_t i;
	json_t *r;
	int rc;

	rc = conn_open(&c, o);
	if (rc != EXIT_OK)
		return rc;
	rc = conn_call(&c, "health", NULL, &reply);
	conn_close(&c);
	if (rc != EXIT_OK)
		return rc;
	rc = reply_status(reply);
	if (rc == EXIT_OK) {
		bool healthy = json_is_true(json_object_get(reply, "healthy"));

		if (o->json) {
			print_json(reply);
		} else if (healthy) {
			printf("healthy\n");
		} else {
			printf("UNHEALTHY\n");
			reasons = json_object_get(reply, "reasons");
			json_array_foreach(reasons, i, r)
			{
				printf("  %s\n", json_string_value(r) ? json_string_value(r) : "?");
			}
		}
		rc = healthy ? EXIT_OK : EXIT_UNHEALTHY;
	}
	json_decref(reply);
	return rc;
}

/* ---- top ---- */

enum section { SEC_PORTS, SEC_CORES, SEC_PARTITIONS, SEC_NONE, SEC_COUNT };
static const char *const section_names[SEC_COUNT] = {"ports", "cores", "partitions", "totals"};

/* Which view a series belongs to, and the name of its row. */
static enum section classify(json_t *labels, char *entity, size_t cap)
{
	const char *port = json_string_value(json_object_get(labels, "port"));
	const char *queue = json_string_value(json_object_get(labels, "queue"));
	const char *topic = json_string_value(json_object_get(labels, "topic"));
	const char *part = json_string_value(json_object_get(labels, "partition"));
	const char *core = NULL;
	static const char *const core_labels[] = {"worker", "core", "lcore", "writer"};

	for (size_t i = 0; i < sizeof(core_labels) / sizeof(core_labels[0]); i++) {
		const char *v = json_string_value(json_object_get(labels, core_labels[i]));

		if (v != NULL) {
			snprintf(entity, cap, "%s %s", core_labels[i], v);
			core = v;
			break;
		}
	}
	if (part != NULL) {
		snprintf(entity, cap, "%s-%s", topic != NULL ? topic : "?", part);
		return SEC_PARTITIONS;
	}
	if (port != NULL) {
		snprintf(entity, cap, "%s%s%s", port, queue != NULL ? "/" : "",
			 queue != NULL ? queue : "");
		return SEC_PORTS;
	}
	if (core != NULL)
		return SEC_CORES;
	snprintf(entity, cap, "total");
	return json_object_size(labels) == 0 ? SEC_NONE : SEC_COUNT;
}

static void short_name(const char *name, enum section sec, bool counter, char *out, size_t cap)
{
	static const char *const prefixes[SEC_COUNT][3] = {
		[SEC_PORTS] = {"port_", "nic_", "queue_"},
		[SEC_CORES] = {"worker_", "writer_", "core_"},
		[SEC_PARTITIONS] = {"partition_", "storage_", "log_"},
		[SEC_NONE] = {"", "", ""},
	};
	size_t n;

	if (strncmp(name, "sluice_", 7) == 0)
		name += 7;
	for (int i = 0; sec < SEC_COUNT && i < 3; i++) {
		size_t pl = strlen(prefixes[sec][i]);

		if (pl > 0 && strncmp(name, prefixes[sec][i], pl) == 0 && name[pl] != '\0') {
			name += pl;
			break;
		}
	}
	snprintf(out, cap, "%s", name);
	n = strlen(out);
	if (counter && n > 6 && strcmp(out + n - 6, "_total") == 0)
		out[n - 6] = '\0';
	if (counter) {
		n = strlen(out);
		snprintf(out + n, cap - n, "/s");
	}
}

static double num(json_t *v)
{
	if (json_is_number(v))
		return json_number_value(v);
	if (json_is_string(v))
		return strtod(json_string_value(v), NULL);
	return NAN;
}

static bool has_other_labels(json_t *labels)
{
	static const char *const entity_labels[] = {"port",  "queue",  "worker", "core",
						    "lcore", "writer", "topic",  "partition"};
	const char *k;
	json_t *v;

	json_object_foreach(labels, k, v)
	{
		bool known = false;

		for (size_t i = 0; i < sizeof(entity_labels) / sizeof(entity_labels[0]); i++)
			if (strcmp(k, entity_labels[i]) == 0)
				known = true;
		if (!known)
			return true;
	}
	return false;
}

/* prev: "name|labels" → value of the previous snapshot. */
static json_t *top_view(json_t *metrics, json_t *prev, double dt)
{
	json_t *view = json_object();
	json_t *rows[SEC_COUNT];
	json_t *families = json_object_get(metrics, "families");
	size_t i;
	json_t *f;

	for (int s = 0; s < SEC_COUNT; s++)
		rows[s] = json_object(); /* entity → {column → value} */
	json_array_foreach(families, i, f)
	{
		const char *type = json_string_value(json_object_get(f, "type"));
		bool counter = type != NULL && strcmp(type, "counter") == 0;
		bool gauge = type != NULL && strcmp(type, "gauge") == 0;
		size_t j;
		json_t *s;

		if (!counter && !gauge)
			continue;
		json_array_foreach(json_object_get(f, "samples"), j, s)
		{
			const char *name = json_string_value(json_object_get(s, "name"));
			json_t *labels = json_object_get(s, "labels");
			char entity[128];
			char col[128];
			char key[512];
			char *lbl;
			enum section sec;
			json_t *row;
			double v = num(json_object_get(s, "value"));
			double shown;

			if (name == NULL)
				continue;
			sec = classify(labels, entity, sizeof(entity));
			lbl = json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS);
			snprintf(key, sizeof(key), "%s|%s", name, lbl != NULL ? lbl : "");
			free(lbl);
			if (counter) {
				json_t *p = json_object_get(prev, key);

				shown = p != NULL && dt > 0 ? (v - json_real_value(p)) / dt : NAN;
				json_object_set_new(prev, key, json_real(v));
			} else {
				shown = v;
			}
			/* Gauges with labels beyond the row's (xstats by name, ...) do not add up. */
			if (sec == SEC_COUNT || (gauge && has_other_labels(labels)))
				continue;
			short_name(name, sec, counter, col, sizeof(col));
			row = json_object_get(rows[sec], entity);
			if (row == NULL) {
				row = json_object();
				json_object_set_new(rows[sec], entity, row);
			}
			/* Other labels (reason, ...) are summed into the row's column; ratios
			 * (a worker's ring to each writer) show the fullest instead. */
			if (json_is_real(json_object_get(row, col))) {
				double was = json_real_value(json_object_get(row, col));
				size_t cl = strlen(col);

				if (cl > 6 && strcmp(col + cl - 6, "_ratio") == 0)
					shown = was > shown ? was : shown;
				else
					shown += was;
			}
			json_object_set_new(row, col, json_real(shown));
		}
	}
	for (int s = 0; s < SEC_COUNT; s++) {
		const char *entity;
		json_t *row;
		json_t *arr = json_array();

		json_object_foreach(rows[s], entity, row)
		{
			json_t *r = json_object();
			const char *k;
			json_t *v;
			double busy = NAN;
			double idle = NAN;

			json_object_set_new(r, s == SEC_NONE ? "scope" : "name",
					    json_string(entity));
			json_object_foreach(row, k, v)
			{
				double d = json_real_value(v);

				if (strstr(k, "busy") != NULL && strstr(k, "cycles") != NULL)
					busy = d;
				if (strstr(k, "idle") != NULL && strstr(k, "cycles") != NULL)
					idle = d;
				if (isnan(d) || isinf(d))
					json_object_set_new(r, k, json_null());
				else
					json_object_set_new(r, k, json_real(d));
			}
			/* busy % from busy/idle cycle counters, as the SPDK reactor reports it. */
			if (!isnan(busy) && !isnan(idle) && busy + idle > 0)
				json_object_set_new(r, "busy%",
						    json_real(100.0 * busy / (busy + idle)));
			/* Durable lag: records written but not yet through fdatasync. */
			if (json_is_real(json_object_get(row, "log_end_offset")) &&
			    json_is_real(json_object_get(row, "durable_offset")))
				json_object_set_new(r, "durable_lag",
						    json_real(json_real_value(json_object_get(
								      row, "log_end_offset")) -
							      json_real_value(json_object_get(
								      row, "durable_offset"))));
			json_array_append_new(arr, r);
		}
		json_object_set_new(view, section_names[s], arr);
		json_decref(rows[s]);
	}
	return view;
}

/*
 * Columns `top` shows by default when sluiced exports them (--all shows every one): rates,
 * busy %, durable and forward lag; the rest is in --json and `sluicectl metrics`.
 */
static const char *const top_columns[SEC_COUNT][10] = {
	[SEC_PORTS] = {"rx_packets/s", "rx_bytes/s", "rx_missed_packets/s", "rx_nombuf/s",
		       "rx_errors/s", "link_up"},
	[SEC_CORES] = {"rx_packets/s", "events_parsed/s", "rejected/s", "shed_events/s",
		       "events_open", "ring_fill_ratio", "batches_sealed/s", "blocked_cycles/s",
		       "busy%", "stalls/s"},
	[SEC_PARTITIONS] = {"appended_records/s", "persisted_records/s", "durable_lag",
			    "forwarder_lag_records", "forwarder_oldest_unforwarded_age_seconds",
			    "disk_bytes", "segments", "failed"},
	[SEC_NONE] = {"unaccounted_events", "forwarder_delivered_records/s",
		      "forwarder_delivery_errors/s", "ctl_requests/s"},
};

/* Keep the default columns of @p sec when at least two are there (else sluiced names its
 * metrics differently: show everything rather than nothing). */
static void select_columns(json_t *arr, enum section sec)
{
	const char *const *want = top_columns[sec];
	unsigned present = 0;
	size_t i;
	json_t *r;

	for (unsigned c = 0; c < 10 && want[c] != NULL; c++) {
		json_array_foreach(arr, i, r)
		{
			if (json_object_get(r, want[c]) != NULL) {
				present++;
				break;
			}
		}
	}
	if (present < 2)
		return;
	json_array_foreach(arr, i, r)
	{
		json_t *keep = json_object();

		json_object_set(keep, "name", json_object_get(r, "name"));
		json_object_set(keep, "scope", json_object_get(r, "scope"));
		for (unsigned c = 0; c < 10 && want[c] != NULL; c++)
			if (json_object_get(r, want[c]) != NULL)
				json_object_set(keep, want[c], json_object_get(r, want[c]));
		json_array_set_new(arr, i, keep);
	}
}

static void print_rate_table(const char *title, json_t *arr, enum section sec, bool all)
{
	size_t i;
	json_t *r;

	if (json_array_size(arr) == 0)
		return;
	if (!all)
		select_columns(arr, sec);
	printf("\n%s\n", title);
	/* Rates and gauges span nanoseconds to billions: print them with SI suffixes. */
	json_array_foreach(arr, i, r)
	{
		const char *k;
		json_t *v;

		json_object_foreach(r, k, v)
		{
			char cell[32];
			double d;

			if (!json_is_real(v))
				continue;
			d = json_real_value(v);
			if (fabs(d) >= 1e9)
				snprintf(cell, sizeof(cell), "%.2fG", d / 1e9);
			else if (fabs(d) >= 1e6)
				snprintf(cell, sizeof(cell), "%.2fM", d / 1e6);
			else if (fabs(d) >= 1e4)
				snprintf(cell, sizeof(cell), "%.1fk", d / 1e3);
			else if (d == floor(d) || fabs(d) >= 100)
				snprintf(cell, sizeof(cell), "%.0f", d);
			else
				snprintf(cell, sizeof(cell), "%.3g", d);
			json_object_set_new(r, k, json_string(cell));
		}
	}
	print_table(arr, 2);
}

static int cmd_top(const struct opts *o, double interval, long count, bool all)
{
	struct conn c;
	json_t *prev = json_object();
	bool tty = isatty(STDOUT_FILENO) && !o->json;
	double last = 0;
	int rc;

	rc = conn_open(&c, o);
	if (rc != EXIT_OK) {
		json_decref(prev);
		return rc;
	}
	/* count refreshes after the first sample (rates need two). */
	for (long n = 0; count < 0 || n <= count; n++) {
		json_t *metrics = NULL;
		json_t *health = NULL;
		json_t *view;
		double t;

		rc = conn_call(&c, "metrics", NULL, &metrics);
		if (rc == EXIT_OK)
			rc = reply_status(metrics);
		if (rc == EXIT_OK)
			rc = conn_call(&c, "health", NULL, &health);
		if (rc != EXIT_OK) {
			json_decref(metrics);
			break;
		}
		t = sluice_mono_s();
		view = top_view(metrics, prev, last > 0 ? t - last : 0);
		last = t;
		if (n > 0) {
			json_object_set_new(view, "interval_s", json_real(interval));
			json_object_set(view, "healthy", json_object_get(health, "healthy"));
			json_object_set(view, "reasons", json_object_get(health, "reasons"));
			if (o->json) {
				char *s = json_dumps(view, JSON_COMPACT);

				if (s != NULL)
					printf("%s\n", s);
				free(s);
			} else {
				size_t i;
				json_t *r;
				time_t wall = time(NULL);
				char ts[32];

				strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&wall));
				if (tty)
					printf("\033[H\033[2J");
				printf("sluice top  %s  every %.1fs  %s\n", ts, interval,
				       json_is_true(json_object_get(health, "healthy"))
					       ? "healthy"
					       : "UNHEALTHY");
				json_array_foreach(json_object_get(health, "reasons"), i, r)
				{
					printf("  ! %s\n", json_string_value(r));
				}
				print_rate_table("ports", json_object_get(view, "ports"), SEC_PORTS,
						 all);
				print_rate_table("cores", json_object_get(view, "cores"), SEC_CORES,
						 all);
				print_rate_table("partitions", json_object_get(view, "partitions"),
						 SEC_PARTITIONS, all);
				if (!tty) {
					print_rate_table("totals", json_object_get(view, "totals"),
							 SEC_NONE, all);
					printf("\n");
				}
			}
			fflush(stdout);
		}
		json_decref(view);
		json_decref(metrics);
		json_decref(health);
		if (count >= 0 && n == count)
			break;
		usleep((useconds_t)(interval * 1e6));
	}
	conn_close(&c);
	json_decref(prev);
	return rc;
}

/* "events-3" → topic "events", partition 3 (topics may contain '-'). */
static bool parse_topic_partition(const char *s, char *topic, size_t cap, long *part)
{
	const char *dash = strrchr(s, '-');

	if (dash == NULL || dash == s || (size_t)(dash - s) >= cap)
		return false;
	if (!parse_long(dash + 1, 0, INT32_MAX, part))
		return false;
	memcpy(topic, s, (size_t)(dash - s));
	topic[dash - s] = '\0';
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},  {"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'}, {"wait", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	struct opts o = {.timeout_ms = 30000};
	const char *cmd;
	double d;
	int opt;

	o.socket = getenv("SLUICE_SOCKET");
	if (o.socket == NULL || o.socket[0] == '\0')
		o.socket = DEFAULT_SOCKET;
	/* '+': options stop at the command, so "config set k -1" works. */
	while ((opt = getopt_long(argc, argv, "+s:jt:w:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			o.socket = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 't':
			if (!parse_double(optarg, 0.001, 86400, &d))
				return usage_error("--timeout: expected seconds, got '%s'", optarg);
			o.timeout_ms = (int)(d * 1000);
			break;
		case 'w':
			if (!parse_double(optarg, 0, 86400, &d))
				return usage_error("--wait: expected seconds, got '%s'", optarg);
			o.wait_s = d;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		default:
			return usage_error("unknown option");
		}
	}
	if (optind >= argc)
		return usage_error("missing command");
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;

#define NARGS(n)                                                                           \
	do {                                                                               \
		if (argc != (n))                                                           \
			return usage_error("%s: expected %d argument%s, got %d", cmd, (n), \
					   (n) == 1 ? "" : "s", argc);                     \
	} while (0)

	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "stats") == 0 ||
	    strcmp(cmd, "partitions") == 0 || strcmp(cmd, "flush") == 0 ||
	    strcmp(cmd, "shutdown") == 0 || strcmp(cmd, "metrics") == 0) {
		NARGS(0);
		return simple(&o, cmd, NULL);
	}
	if (strcmp(cmd, "health") == 0) {
		NARGS(0);
		return cmd_health(&o);
	}
	if (strcmp(cmd, "producers") == 0) {
		long limit = -1;

		if (argc == 2 && (strcmp(argv[0], "-l") == 0 || strcmp(argv[0], "--limit") == 0)) {
			if (!parse_long(argv[1], 1, 1000000, &limit))
				return usage_error("producers: --limit: expected 1..1000000");
		} else if (argc != 0) {
			return usage_error("producers: usage: producers [--limit N]");
		}
		return simple(&o, "producers",
			      limit > 0 ? json_pack("{sI}", "limit", (json_int_t)limit) : NULL);
	}
	if (strcmp(cmd, "segments") == 0) {
		char topic[256];
		long part;

		NARGS(1);
		if (!parse_topic_partition(argv[0], topic, sizeof(topic), &part))
			return usage_error("segments: expected TOPIC-PARTITION (e.g. events-0), "
					   "got '%s'",
					   argv[0]);
		return simple(&o, "segments",
			      json_pack("{sssI}", "topic", topic, "partition", (json_int_t)part));
	}
	if (strcmp(cmd, "config") == 0) {
		if (argc < 1)
			return usage_error("config: expected list, get KEY or set KEY VALUE");
		if (strcmp(argv[0], "list") == 0 && argc == 1)
			return simple(&o, "config.list", NULL);
		if (strcmp(argv[0], "get") == 0 && argc == 2)
			return simple(&o, "config.get", json_pack("{ss}", "key", argv[1]));
		if (strcmp(argv[0], "set") == 0 && argc == 3)
			return simple(&o, "config.set",
				      json_pack("{ssss}", "key", argv[1], "value", argv[2]));
		return usage_error("config: expected list, get KEY or set KEY VALUE");
	}
	if (strcmp(cmd, "forwarder") == 0) {
		NARGS(1);
		if (strcmp(argv[0], "pause") == 0)
			return simple(&o, "forwarder.pause", NULL);
		if (strcmp(argv[0], "resume") == 0)
			return simple(&o, "forwarder.resume", NULL);
		return usage_error("forwarder: expected pause or resume, got '%s'", argv[0]);
	}
	if (strcmp(cmd, "top") == 0) {
		double interval = 1.0;
		long count = -1;
		bool all = false;

		for (int i = 0; i < argc; i++) {
			if ((strcmp(argv[i], "-i") == 0 || strcmp(argv[i], "--interval") == 0) &&
			    i + 1 < argc) {
				if (!parse_double(argv[++i], 0.05, 3600, &interval))
					return usage_error(
						"top: --interval: expected 0.05..3600 s");
			} else if ((strcmp(argv[i], "-n") == 0 ||
				    strcmp(argv[i], "--count") == 0) &&
				   i + 1 < argc) {
				if (!parse_long(argv[++i], 1, 1000000000, &count))
					return usage_error(
						"top: --count: expected a positive number");
			} else if (strcmp(argv[i], "-a") == 0 || strcmp(argv[i], "--all") == 0) {
				all = true;
			} else {
				return usage_error(
					"top: usage: top [-i SECONDS] [-n COUNT] [--all]");
			}
		}
		return cmd_top(&o, interval, count, all);
	}
	if (strcmp(cmd, "doctor") == 0)
		return sluice_doctor_main(argc, argv, o.socket, o.json, o.timeout_ms);
	if (strcmp(cmd, "raw") == 0) {
		json_t *args = NULL;
		json_error_t jerr;

		if (argc < 1 || argc > 2)
			return usage_error("raw: usage: raw CMD [JSON-ARGS]");
		if (argc == 2) {
			args = json_loads(argv[1], 0, &jerr);
			if (args == NULL)
				return usage_error("raw: invalid JSON args: %s", jerr.text);
		}
		return simple(&o, argv[0], args);
	}
	return usage_error("unknown command '%s'", cmd);
}
