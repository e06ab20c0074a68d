/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prometheus /metrics and /health over HTTP, served by libmicrohttpd.
 *
 * Threading contract:
 * - sluice_metrics_http_start/stop run on the daemon's main thread.
 * - libmicrohttpd's single internal polling thread handles every request, one at a time, and
 *   is the only caller of sluice_daemon_collect/health on behalf of HTTP. A scrape renders into
 *   a private buffer, so a slow client never holds anything of the daemon's.
 * - The server's own counters are written by that thread and read with relaxed atomics.
 */
#include "ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "metric_registry.h"
#include "ctl_proto.h"

#define HEALTH_REASON_MAX 4096
#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

struct sluice_metrics_http {
	struct MHD_Daemon *mhd;
	struct sluice_daemon *daemon;
	const struct sluice_ctl_server *ctl;
	uint16_t port;
	_Atomic uint64_t scrapes;
	_Atomic uint64_t health_ok;
	_Atomic uint64_t health_fail;
	_Atomic uint64_t not_found;
	_Atomic uint64_t invalid_samples;
};

/* ---- text exposition ---- */

struct buf {
	char *p;
	size_t len;
	size_t cap;
	bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_double(struct buf *b, double v)
{
	char tmp[40];

	if (isnan(v)) {
		buf_str(b, "NaN");
		return;
	}
	if (isinf(v)) {
		buf_str(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* Shortest of %.15g/%.17g that reads back exactly: counters up to 2^53 stay integers. */
	snprintf(tmp, sizeof(tmp), "%.15g", v);
	if (strtod(tmp, NULL) != v)
		snprintf(tmp, sizeof(tmp), "%.17g", v);
	buf_str(b, tmp);
}

static void buf_u64(struct buf *b, uint64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	buf_str(b, tmp);
}

/* HELP text escapes backslash and newline; label values also escape the double quote. */
static void buf_escaped(struct buf *b, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_str(b, "\\\\");
		else if (*s == '\n')
			buf_str(b, "\\n");
		else if (quote && *s == '"')
			buf_str(b, "\\\"");
		else
			buf_add(b, s, 1);
	}
}

static bool name_ok(const char *s, bool metric)
{
	if (s == NULL || *s == '\0')
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
			(metric && *p == ':');

		if (!alpha && !(p != s && *p >= '0' && *p <= '9'))
			return false;
	}
	/* Label names starting with __ are reserved for Prometheus itself. */
	return metric || strncmp(s, "__", 2) != 0;
}

struct family {
	char *name;
	enum sluice_metric_type type;
	char *help;
	struct buf samples;
};

/*
 * The visitor groups samples under their family even if the daemon emits a family twice
 * (the text format forbids a second TYPE line for a name), and drops samples that would make
 * the whole scrape unparsable (bad names), counting them.
 */
struct render {
	struct family *fams;
	size_t nfams;
	size_t cap;
	struct family *cur;
	uint64_t invalid;
	bool oom;
};

static void r_family(void *ctx, const char *name, enum sluice_metric_type type, const char *help)
{
	struct render *r = ctx;

	r->cur = NULL;
	if (!name_ok(name, true) || (unsigned)type > SLUICE_METRIC_HISTOGRAM) {
		r->invalid++;
		return;
	}
	for (size_t i = 0; i < r->nfams; i++) {
		if (strcmp(r->fams[i].name, name) == 0) {
			r->cur = &r->fams[i];
			return;
		}
	}
	if (r->nfams == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct family *f = realloc(r->fams, cap * sizeof(*f));

		if (f == NULL) {
			r->oom = true;
			return;
		}
		r->fams = f;
		r->cap = cap;
	}
	r->cur = &r->fams[r->nfams];
	memset(r->cur, 0, sizeof(*r->cur));
	r->cur->name = strdup(name);
	r->cur->help = strdup(help != NULL ? help : "");
	r->cur->type = type;
	if (r->cur->name == NULL || r->cur->help == NULL) {
		free(r->cur->name);
		free(r->cur->help);
		r->cur = NULL;
		r->oom = true;
		return;
	}
	r->nfams++;
}

static bool labels_ok(const struct sluice_label *labels, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!name_ok(labels[i].name, false) || labels[i].value == NULL ||
		    strcmp(labels[i].name, "le") == 0)
			return false;
	return true;
}

/* name{a="x",b="y"[,le="<le>"]} */
static void series(struct buf *b, const char *name, const char *suffix,
		   const struct sluice_label *labels, unsigned n, const char *le)
{
	buf_str(b, name);
	buf_str(b, suffix);
	if (n == 0 && le == NULL)
		return;
	buf_str(b, "{");
	for (unsigned i = 0; i < n; i++) {
		if (i > 0)
			buf_str(b, ",");
		buf_str(b, labels[i].name);
		buf_str(b, "=\"");
		buf_escaped(b, labels[i].value, true);
		buf_str(b, "\"");
	}
	if (le != NULL) {
		if (n > 0)
			buf_str(b, ",");
		buf_str(b, "le=\"");
		buf_str(b, le);
		buf_str(b, "\"");
	}
	buf_str(b, "}");
}

static void r_sample(void *ctx, const char *name, const struct sluice_label *labels,
		     unsigned nlabels, double value)
{
	struct render *r = ctx;
	struct buf *b;

	if (r->cur == NULL || r->cur->type == SLUICE_METRIC_HISTOGRAM || !name_ok(name, true) ||
	    !labels_ok(labels, nlabels)) {
		r->invalid++;
		return;
	}
	b = &r->cur->samples;
	series(b, name, "", labels, nlabels, NULL);
	buf_str(b, " ");
	buf_double(b, value);
	buf_str(b, "\n");
}

static void r_histogram(void *ctx, const char *name, const struct sluice_label *labels,
			unsigned nlabels, const double *upper_bounds, const uint64_t *cumulative,
			unsigned nbuckets, double sum, uint64_t count)
{
	struct render *r = ctx;
	struct buf *b;
	struct buf le = {0};

	if (r->cur == NULL || r->cur->type != SLUICE_METRIC_HISTOGRAM || !name_ok(name, true) ||
	    !labels_ok(labels, nlabels) || (nbuckets > 0 && (!upper_bounds || !cumulative))) {
		r->invalid++;
		return;
	}
	b = &r->cur->samples;
	for (unsigned i = 0; i < nbuckets; i++) {
		/* A +Inf bound from the caller is emitted once, below, from count. */
		if (isinf(upper_bounds[i]) && upper_bounds[i] > 0)
			continue;
		le.len = 0;
		buf_double(&le, upper_bounds[i]);
		if (le.oom)
			break;
		series(b, name, "_bucket", labels, nlabels, le.p);
		buf_str(b, " ");
		buf_u64(b, cumulative[i]);
		buf_str(b, "\n");
	}
	free(le.p);
	series(b, name, "_bucket", labels, nlabels, "+Inf");
	buf_str(b, " ");
	buf_u64(b, count);
	buf_str(b, "\n");
	series(b, name, "_sum", labels, nlabels, NULL);
	buf_str(b, " ");
	buf_double(b, sum);
	buf_str(b, "\n");
	series(b, name, "_count", labels, nlabels, NULL);
	buf_str(b, " ");
	buf_u64(b, count);
	buf_str(b, "\n");
}

static void emit_own(const struct sluice_metrics_http *mh, const struct sluice_metric_sink *s)
{
	struct sluice_label l = {.name = "result"};
	char reason[HEALTH_REASON_MAX];

	/* /health as a series, so that Prometheus alerts on exactly what /health checks. */
	if (mh->daemon != NULL) {
		sluice_metric_begin(s, SLUICE_M_HEALTHY);
		s->sample(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_HEALTHY), NULL, 0,
			  sluice_daemon_health(mh->daemon, reason, sizeof(reason)) == 0 ? 1 : 0);
	}

	sluice_metric_begin(s, SLUICE_M_METRICS_SCRAPES_TOTAL);
	s->sample(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_METRICS_SCRAPES_TOTAL), NULL, 0,
		  (double)atomic_load_explicit(&mh->scrapes, memory_order_relaxed));
	sluice_metric_begin(s, SLUICE_M_METRICS_INVALID_SAMPLES_TOTAL);
	s->sample(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_METRICS_INVALID_SAMPLES_TOTAL), NULL, 0,
		  (double)atomic_load_explicit(&mh->invalid_samples, memory_order_relaxed));
	sluice_metric_begin(s, SLUICE_M_HEALTH_CHECKS_TOTAL);
	l.value = "healthy";
	s->sample(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_HEALTH_CHECKS_TOTAL), &l, 1,
		  (double)atomic_load_explicit(&mh->health_ok, memory_order_relaxed));
	l.value = "unhealthy";
	s->sample(s->ctx, SLUICE_METRIC_NAME(SLUICE_M_HEALTH_CHECKS_TOTAL), &l, 1,
		  (double)atomic_load_explicit(&mh->health_fail, memory_order_relaxed));
}

char *sluice_metrics_render(struct sluice_daemon *d, const struct sluice_ctl_server *ctl,
			    const struct sluice_metrics_http *mh, size_t *len,
			    uint64_t *invalid_samples)
{
	struct render r = {0};
	struct sluice_metric_sink sink = {
		.ctx = &r,
		.family = r_family,
		.sample = r_sample,
		.histogram = r_histogram,
	};
	static const char *const types[] = {"counter", "gauge", "histogram"};
	struct buf out = {0};

	if (d != NULL)
		sluice_daemon_collect(d, &sink);
	sluice_ctl_server_collect(ctl, &sink);
	if (mh != NULL)
		emit_own(mh, &sink);
	for (size_t i = 0; i < r.nfams; i++) {
		struct family *f = &r.fams[i];

		buf_str(&out, "# HELP ");
		buf_str(&out, f->name);
		buf_str(&out, " ");
		buf_escaped(&out, f->help, false);
		buf_str(&out, "\n# TYPE ");
		buf_str(&out, f->name);
		buf_str(&out, " ");
		buf_str(&out, types[f->type]);
		buf_str(&out, "\n");
		if (f->samples.len > 0)
			buf_add(&out, f->samples.p, f->samples.len);
		r.oom |= f->samples.oom;
		free(f->samples.p);
		free(f->name);
		free(f->help);
	}
	free(r.fams);
	if (invalid_samples != NULL)
		*invalid_samples = r.invalid;
	if (out.oom || r.oom) {
		free(out.p);
		return NULL;
	}
	if (out.p == NULL)
		out.p = calloc(1, 1);
	if (len != NULL)
		*len = out.len;
	return out.p;
}

/* ---- HTTP ---- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
			     char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	/* MHD takes ownership of body and free()s it. */
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	char *body = strdup(text);

	if (body == NULL)
		return MHD_NO;
	return reply(conn, status, "text/plain; charset=utf-8", body, strlen(body));
}

static enum MHD_Result serve_metrics(struct sluice_metrics_http *mh, struct MHD_Connection *conn)
{
	uint64_t invalid = 0;
	size_t len = 0;
	char *body;

	atomic_fetch_add_explicit(&mh->scrapes, 1, memory_order_relaxed);
	body = sluice_metrics_render(mh->daemon, mh->ctl, mh, &len, &invalid);
	if (invalid > 0)
		atomic_fetch_add_explicit(&mh->invalid_samples, invalid, memory_order_relaxed);
	if (body == NULL)
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	return reply(conn, MHD_HTTP_OK, CONTENT_TYPE_METRICS, body, len);
}

static enum MHD_Result serve_health(struct sluice_metrics_http *mh, struct MHD_Connection *conn)
{
	char *reason = calloc(1, HEALTH_REASON_MAX + 2);
	size_t n;
	int rc;

	if (reason == NULL)
		return MHD_NO;
	rc = sluice_daemon_health(mh->daemon, reason, HEALTH_REASON_MAX);
	if (rc == 0) {
		free(reason);
		atomic_fetch_add_explicit(&mh->health_ok, 1, memory_order_relaxed);
		return reply_text(conn, MHD_HTTP_OK, "ok\n");
	}
	atomic_fetch_add_explicit(&mh->health_fail, 1, memory_order_relaxed);
	reason[HEALTH_REASON_MAX - 1] = '\0';
	n = strlen(reason);
	if (n == 0) {
		n = (size_t)snprintf(reason, HEALTH_REASON_MAX, "unhealthy (no reason given)");
	}
	if (reason[n - 1] != '\n')
		reason[n++] = '\n';
	return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", reason, n);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct sluice_metrics_http *mh = cls;

	(void)version;
	(void)upload;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (*upload_size != 0) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(mh, conn);
	if (strcmp(url, "/health") == 0 || strcmp(url, "/healthz") == 0)
		return serve_health(mh, conn);
	if (strcmp(url, "/") == 0)
		return reply_text(conn, MHD_HTTP_OK,
				  "sluiced: GET /metrics (Prometheus), GET /health\n");
	atomic_fetch_add_explicit(&mh->not_found, 1, memory_order_relaxed);
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /health\n");
}

int sluice_metrics_http_start(const struct sluice_metrics_http_opts *opts,
			      struct sluice_metrics_http **out)
{
	struct sluice_metrics_http *mh;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const char *addr;
	const union MHD_DaemonInfo *info;
	int err;

	*out = NULL;
	if (opts == NULL)
		return -EINVAL;
	addr = opts->bind_addr != NULL ? opts->bind_addr : "127.0.0.1";
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		sluice_ctl_log("metrics: bind address \"%s\" is not an IPv4 address", addr);
		return -EINVAL;
	}
	sa.sin_port = htons(opts->port);
	mh = calloc(1, sizeof(*mh));
	if (mh == NULL)
		return -ENOMEM;
	mh->daemon = opts->daemon;
	mh->ctl = opts->ctl;
	errno = 0;
	/* No MHD_USE_ERROR_LOG: MHD would print to stderr on its own; a failed start is logged
	 * below with errno, and per-connection trouble is not worth a log line. */
	mh->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
				   on_request, mh, MHD_OPTION_SOCK_ADDR, &sa,
				   MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT,
				   10u, MHD_OPTION_END);
	if (mh->mhd == NULL) {
		/* MHD does not return a code; errno from the failed bind is the best we have. */
		err = errno != 0 ? errno : EADDRINUSE;
		sluice_ctl_log("metrics: cannot serve on %s:%u: %s", addr, (unsigned)opts->port,
			       strerror(err));
		free(mh);
		return -err;
	}
	info = MHD_get_daemon_info(mh->mhd, MHD_DAEMON_INFO_BIND_PORT);
	mh->port = info != NULL ? info->port : opts->port;
	*out = mh;
	return 0;
}

uint16_t sluice_metrics_http_port(const struct sluice_metrics_http *mh)
{
	return mh != NULL ? mh->port : 0;
}

void sluice_metrics_http_stop(struct sluice_metrics_http *mh)
{
	if (mh == NULL)
		return;
	if (mh->mhd != NULL)
		MHD_stop_daemon(mh->mhd);
	free(mh);
}
