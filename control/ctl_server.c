/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket: a Unix stream socket speaking JSON lines (docs/control-protocol.md).
 *
 * Threading contract:
 * - sluice_ctl_server_start/stop run on the daemon's main thread.
 * - One server thread owns the listening socket, every connection and every buffer; it is the
 *   only caller of sluice_daemon_request/health/collect on behalf of the socket, one request at
 *   a time. Requests are handled in arrival order per connection; a slow handler delays other
 *   clients but never the daemon's own threads.
 * - The counters are written by the server thread only (relaxed atomics) and read by any thread
 *   (sluice_ctl_server_get_stats/collect, e.g. from the metrics HTTP thread).
 * - A request handler must not call sluice_ctl_server_stop (it would join its own thread):
 *   "shutdown" should only ask the main thread to stop.
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "metric_registry.h"
#include "ctl_proto.h"

#define MAX_CLIENTS_DEFAULT 16
#define HEALTH_REASON_MAX 4096

struct client {
	int fd;
	pid_t pid;
	uid_t uid;
	bool admin; /* may run admin commands (root, our user, admin group) */
	char *in; /* max_line bytes */
	size_t in_len;
	bool discarding; /* skipping the rest of an oversized line */
	char *out; /* reply being written */
	size_t out_len;
	size_t out_off;
	bool close_after_flush;
};

struct sluice_ctl_server {
	char *path;
	gid_t gid;
	bool admin_gid_set;
	gid_t admin_gid;
	size_t max_line;
	unsigned max_clients;
	struct sluice_daemon *daemon;
	int lfd;
	int evfd;
	int epfd;
	pthread_t thread;
	bool thread_started;
	struct client *clients; /* max_clients slots, fd < 0 when free */
	_Atomic uint64_t connections;
	_Atomic uint64_t rejected_peers;
	_Atomic uint64_t rejected_busy;
	_Atomic uint64_t requests;
	_Atomic uint64_t oversized;
	_Atomic uint64_t error_replies;
	_Atomic uint64_t denied;
	_Atomic uint64_t bad[SLUICE_CTL_PROTO_ERR_COUNT];
	time_t refusal_logged; /* server thread only: refusals are logged once a minute */
	uint64_t refusals_unlogged;
	time_t denial_logged; /* the same for admin commands denied to readers */
	uint64_t denials_unlogged;
};

static void count(_Atomic uint64_t *c)
{
	/* Single writer (the server thread); readers only need a torn-free value. */
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t load(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- metrics as JSON (the "metrics" command, used by sluicectl top) ---- */

struct json_sink {
	json_t *families;
	json_t *cur; /* samples array of the current family */
};

static json_t *labels_json(const struct sluice_label *labels, unsigned n)
{
	json_t *o = json_object();

	for (unsigned i = 0; o != NULL && i < n; i++) {
		if (labels[i].name == NULL || labels[i].value == NULL)
			continue;
		json_object_set_new(o, labels[i].name, json_string(labels[i].value));
	}
	return o;
}

static json_t *number_json(double v)
{
	/* JSON has no NaN/Inf: send them as strings, the way Prometheus writes them. */
	if (v != v)
		return json_string("NaN");
	if (v > 1.7976931348623157e308)
		return json_string("+Inf");
	if (v < -1.7976931348623157e308)
		return json_string("-Inf");
	if (v >= -9007199254740992.0 && v <= 9007199254740992.0 && v == (double)(long long)v)
		return json_integer((json_int_t)v);
	return json_real(v);
}

static void js_family(void *ctx, const char *name, enum sluice_metric_type type, const char *help)
{
	struct json_sink *js = ctx;
	static const char *const types[] = {"counter", "gauge", "histogram"};
	json_t *f = json_object();

	if (f == NULL)
		return;
	json_object_set_new(f, "name", json_string(name));
	json_object_set_new(f, "type", json_string((unsigned)type < 3 ? types[type] : "untyped"));
	json_object_set_new(f, "help", json_string(help != NULL ? help : ""));
	js->cur = json_array();
	json_object_set_new(f, "samples", js->cur);
	json_array_append_new(js->families, f);
}

static void js_sample(void *ctx, const char *name, const struct sluice_label *labels,
		      unsigned nlabels, double value)
{
	struct json_sink *js = ctx;
	json_t *s;

	if (js->cur == NULL)
		return;
	s = json_object();
	json_object_set_new(s, "name", json_string(name));
	json_object_set_new(s, "labels", labels_json(labels, nlabels));
	json_object_set_new(s, "value", number_json(value));
	json_array_append_new(js->cur, s);
}

static void js_histogram(void *ctx, const char *name, const struct sluice_label *labels,
			 unsigned nlabels, const double *upper_bounds, const uint64_t *cumulative,
			 unsigned nbuckets, double sum, uint64_t count_)
{
	struct json_sink *js = ctx;
	json_t *s;
	json_t *b;

	if (js->cur == NULL)
		return;
	s = json_object();
	b = json_array();
	for (unsigned i = 0; i < nbuckets; i++) {
		json_t *pair = json_array();

		json_array_append_new(pair, number_json(upper_bounds[i]));
		json_array_append_new(pair, json_integer((json_int_t)cumulative[i]));
		json_array_append_new(b, pair);
	}
	json_object_set_new(s, "name", json_string(name));
	json_object_set_new(s, "labels", labels_json(labels, nlabels));
	json_object_set_new(s, "buckets", b);
	json_object_set_new(s, "sum", number_json(sum));
	json_object_set_new(s, "count", json_integer((json_int_t)count_));
	json_array_append_new(js->cur, s);
}

static json_t *cmd_metrics(struct sluice_ctl_server *srv)
{
	struct json_sink js = {.families = json_array()};
	struct sluice_metric_sink sink = {
		.ctx = &js,
		.family = js_family,
		.sample = js_sample,
		.histogram = js_histogram,
	};
	json_t *r = json_object();

	/* The daemon's collect includes sluice_ctl_server_collect() (ctl.h); not added here. */
	sluice_daemon_collect(srv->daemon, &sink);
	json_object_set_new(r, "ok", json_true());
	json_object_set_new(r, "families", js.families);
	return r;
}

static json_t *cmd_health(struct sluice_ctl_server *srv)
{
	char reason[HEALTH_REASON_MAX];
	json_t *r = json_object();
	json_t *reasons = json_array();
	int rc;

	reason[0] = '\0';
	rc = sluice_daemon_health(srv->daemon, reason, sizeof(reason));
	reason[sizeof(reason) - 1] = '\0';
	if (rc != 0) {
		char *save = NULL;

		for (char *line = strtok_r(reason, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save))
			json_array_append_new(reasons, json_string(line));
		if (json_array_size(reasons) == 0)
			json_array_append_new(reasons, json_string("unhealthy (no reason given)"));
	}
	json_object_set_new(r, "ok", json_true());
	json_object_set_new(r, "healthy", json_boolean(rc == 0));
	json_object_set_new(r, "reasons", reasons);
	return r;
}

/* Commands the socket answers itself; the daemon's are in its request table
 * (sluice_daemon_request_info). */
static const char *const builtin_cmds[] = {"hello", "health", "metrics"};

bool sluice_ctl_command_is_admin(const char *cmd)
{
	const char *name;
	bool admin;

	for (size_t i = 0; sluice_daemon_request_info(i, &name, &admin); i++)
		if (strcmp(cmd, name) == 0)
			return admin;
	return false;
}

static json_t *cmd_hello(const struct client *c)
{
	json_t *r = json_object();
	json_t *cmds = json_array();

	for (size_t i = 0; i < sizeof(builtin_cmds) / sizeof(builtin_cmds[0]); i++)
		json_array_append_new(cmds, json_string(builtin_cmds[i]));
	const char *name;
	bool admin;

	for (size_t i = 0; sluice_daemon_request_info(i, &name, &admin); i++)
		json_array_append_new(cmds, json_string(name));
	json_object_set_new(r, "ok", json_true());
	json_object_set_new(r, "protocol", json_integer(SLUICE_CTL_PROTO_VERSION));
	json_object_set_new(r, "server", json_string("sluiced"));
	json_object_set_new(r, "commands", cmds);
	json_object_set_new(r, "access", json_string(c->admin ? "admin" : "read"));
	return r;
}

static json_t *deny(struct sluice_ctl_server *srv, const struct client *c, const char *cmd)
{
	time_t now = time(NULL);

	count(&srv->denied);
	/* Worth a line (a reader trying to change things), but a loop must not flood. */
	if (now - srv->denial_logged >= 60) {
		sluice_ctl_log("%s: denied \"%s\" to uid %ld pid %ld (read-only: not root nor in "
			       "control.admin_group)%s",
			       srv->path, cmd, (long)c->uid, (long)c->pid,
			       srv->denials_unlogged ? "; more denials not logged" : "");
		srv->denial_logged = now;
		srv->denials_unlogged = 0;
	} else {
		srv->denials_unlogged++;
	}
	return sluice_ctl_proto_error("permission denied: \"%s\" changes the appliance: root or "
				      "control.admin_group only (uid %ld may read)",
				      cmd, (long)c->uid);
}

static json_t *dispatch(struct sluice_ctl_server *srv, const struct client *c,
			const struct sluice_ctl_request *req)
{
	json_t *r;

	if (!c->admin && sluice_ctl_command_is_admin(req->cmd))
		return deny(srv, c, req->cmd);
	if (strcmp(req->cmd, "hello") == 0)
		return cmd_hello(c);
	if (strcmp(req->cmd, "health") == 0)
		return cmd_health(srv);
	if (strcmp(req->cmd, "metrics") == 0)
		return cmd_metrics(srv);
	r = sluice_daemon_request(srv->daemon, req->cmd, req->args);
	if (r == NULL || !json_is_object(r)) {
		json_decref(r);
		r = sluice_ctl_proto_error("internal error: no reply for \"%s\"", req->cmd);
	}
	return r;
}

/* ---- connections ---- */

static void client_close(struct sluice_ctl_server *srv, struct client *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->out_len = c->out_off = 0;
	c->in_len = 0;
	c->discarding = false;
	c->close_after_flush = false;
}

static void set_interest(struct sluice_ctl_server *srv, struct client *c)
{
	struct epoll_event ev = {.data.ptr = c};

	/* While a reply is pending, stop reading: one reply buffered per client at most. */
	ev.events = c->out != NULL ? EPOLLOUT : EPOLLIN;
	epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Queue @p reply (consumed). Returns false when the client must be dropped. */
static bool queue_reply(struct sluice_ctl_server *srv, struct client *c, json_t *reply, json_t *id)
{
	size_t len = 0;
	char *line;

	if (reply == NULL)
		reply = sluice_ctl_proto_error("out of memory");
	if (reply == NULL)
		return false;
	/* Framing turns a handler's reply without "ok" into an error: count after it. */
	line = sluice_ctl_proto_reply_line(reply, id, &len);
	if (!json_is_true(json_object_get(reply, "ok")))
		count(&srv->error_replies);
	json_decref(reply);
	if (line == NULL)
		return false;
	c->out = line;
	c->out_len = len;
	c->out_off = 0;
	return true;
}

/* Write what the socket takes. Returns false when the client must be dropped. */
static bool flush_out(struct client *c)
{
	while (c->out != NULL && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK;
		}
		c->out_off += (size_t)n;
	}
	if (c->out != NULL && c->out_off == c->out_len) {
		free(c->out);
		c->out = NULL;
		c->out_len = c->out_off = 0;
		return !c->close_after_flush;
	}
	return true;
}

/* Returns false when no reply could be queued (out of memory): the client is dropped rather
 * than left waiting for a reply that will never come. */
static bool handle_line(struct sluice_ctl_server *srv, struct client *c, const char *line,
			size_t len)
{
	bool queued;

	struct sluice_ctl_request req;
	char err[256];
	enum sluice_ctl_proto_err e;

	e = sluice_ctl_proto_parse(line, len, &req, err, sizeof(err));
	if (e != SLUICE_CTL_PROTO_OK) {
		count(&srv->bad[e]);
		return queue_reply(srv, c, sluice_ctl_proto_error("bad request: %s", err), NULL);
	}
	count(&srv->requests);
	queued = queue_reply(srv, c, dispatch(srv, c, &req), req.id);
	sluice_ctl_request_clear(&req);
	return queued;
}

/*
 * Handle complete lines from the input buffer, one reply in flight at a time: a line is taken
 * only after the previous reply was written out completely. Returns false when the client
 * must be dropped.
 */
static bool process_input(struct sluice_ctl_server *srv, struct client *c)
{
	for (;;) {
		char *nl;
		size_t used;

		if (c->out != NULL) {
			if (!flush_out(c))
				return false;
			if (c->out != NULL)
				return true; /* socket full: EPOLLOUT resumes here */
		}
		if (c->in_len == 0)
			return true;
		nl = memchr(c->in, '\n', c->in_len);
		if (nl == NULL) {
			if (c->in_len < srv->max_line)
				return true;
			/* A line longer than allowed: refuse it once, skip to its end. */
			if (!c->discarding) {
				count(&srv->oversized);
				if (!queue_reply(srv, c,
						 sluice_ctl_proto_error(
							 "bad request: line longer than %zu bytes",
							 srv->max_line),
						 NULL))
					return false;
			}
			c->discarding = true;
			c->in_len = 0;
			continue;
		}
		used = (size_t)(nl - c->in) + 1;
		if (c->discarding)
			c->discarding = false;
		else if (!handle_line(srv, c, c->in, used - 1))
			return false;
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
	}
}

static bool client_read(struct sluice_ctl_server *srv, struct client *c)
{
	for (;;) {
		ssize_t n;

		if (c->out != NULL)
			return true;
		n = recv(c->fd, c->in + c->in_len, srv->max_line - c->in_len, MSG_DONTWAIT);
		if (n == 0)
			return false;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK;
		}
		c->in_len += (size_t)n;
		if (!process_input(srv, c))
			return false;
	}
}

/* Is @p gid among the supplementary groups of process @p pid? */
static bool pid_in_group(pid_t pid, gid_t gid)
{
	char path[64];
	char line[1024];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p;

		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		p = line + 7;
		for (;;) {
			char *end;
			unsigned long g;

			errno = 0;
			g = strtoul(p, &end, 10);
			if (end == p || errno != 0)
				break;
			if ((gid_t)g == gid)
				found = true;
			p = end;
		}
		break;
	}
	fclose(f);
	return found;
}

static bool peer_in(const struct ucred *cr, gid_t gid)
{
	return cr->gid == gid || pid_in_group(cr->pid, gid);
}

enum tier { TIER_NONE, TIER_READ, TIER_ADMIN };

static enum tier peer_tier(const struct sluice_ctl_server *srv, const struct ucred *cr)
{
	if (cr->uid == 0 || cr->uid == geteuid())
		return TIER_ADMIN;
	if (srv->admin_gid_set && peer_in(cr, srv->admin_gid))
		return TIER_ADMIN;
	if (srv->gid != (gid_t)-1 && peer_in(cr, srv->gid))
		return TIER_READ;
	return TIER_NONE;
}

static void refuse(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void refuse(int fd, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	json_t *r;
	char *line;
	size_t len = 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r = sluice_ctl_proto_error("%s", msg);
	line = sluice_ctl_proto_reply_line(r, NULL, &len);
	json_decref(r);
	/* Best effort: a fresh socket's buffer takes a short line without blocking. */
	if (line != NULL && send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* nothing to do: the peer is refused either way */
	}
	free(line);
	close(fd);
}

static void accept_clients(struct sluice_ctl_server *srv)
{
	for (;;) {
		struct ucred cr;
		socklen_t crlen = sizeof(cr);
		struct client *c = NULL;
		struct epoll_event ev;
		int fd;

		fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				sluice_ctl_log("accept on %s: %s", srv->path, strerror(errno));
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0) {
			count(&srv->rejected_peers);
			refuse(fd, "permission denied: cannot read peer credentials");
			continue;
		}
		enum tier tier = peer_tier(srv, &cr);

		if (tier == TIER_NONE) {
			time_t now = time(NULL);

			count(&srv->rejected_peers);
			/* A refused peer is a misconfiguration or a probe: say so, but a loop of
			 * attempts must not flood the log. */
			if (now - srv->refusal_logged >= 60) {
				sluice_ctl_log("%s: refused uid %ld pid %ld (not root%s)%s",
					       srv->path, (long)cr.uid, (long)cr.pid,
					       srv->gid == (gid_t)-1 && !srv->admin_gid_set
						       ? ""
						       : " nor in a control group",
					       srv->refusals_unlogged ? "; more refusals not logged"
								      : "");
				srv->refusal_logged = now;
				srv->refusals_unlogged = 0;
			} else {
				srv->refusals_unlogged++;
			}
			if (srv->gid == (gid_t)-1 && !srv->admin_gid_set)
				refuse(fd,
				       "permission denied: uid %ld is not root (control socket %s)",
				       (long)cr.uid, srv->path);
			else
				refuse(fd,
				       "permission denied: uid %ld is neither root nor in "
				       "control.socket_group or control.admin_group (control "
				       "socket "
				       "%s)",
				       (long)cr.uid, srv->path);
			continue;
		}
		for (unsigned i = 0; i < srv->max_clients; i++) {
			if (srv->clients[i].fd < 0) {
				c = &srv->clients[i];
				break;
			}
		}
		if (c == NULL) {
			count(&srv->rejected_busy);
			refuse(fd, "busy: %u control connections already open", srv->max_clients);
			continue;
		}
		c->fd = fd;
		c->pid = cr.pid;
		c->uid = cr.uid;
		c->admin = tier == TIER_ADMIN;
		c->in_len = 0;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			sluice_ctl_log("epoll_ctl: %s", strerror(errno));
			close(fd);
			c->fd = -1;
			continue;
		}
		count(&srv->connections);
	}
}

static void *server_main(void *arg)
{
	struct sluice_ctl_server *srv = arg;
	struct epoll_event evs[16];

	for (;;) {
		int n = epoll_wait(srv->epfd, evs, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			sluice_ctl_log("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct client *c = evs[i].data.ptr;
			bool keep;

			if (c == NULL) /* the stop eventfd */
				return NULL;
			if ((void *)c == (void *)srv) {
				accept_clients(srv);
				continue;
			}
			if (c->fd < 0)
				continue;
			if (evs[i].events & EPOLLOUT) {
				/* Finish the reply, then lines that arrived meanwhile. */
				keep = process_input(srv, c);
				if (keep && c->out == NULL)
					keep = client_read(srv, c);
			} else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				keep = client_read(srv, c);
			} else {
				keep = true;
			}
			if (!keep)
				client_close(srv, c);
			else
				set_interest(srv, c);
		}
	}
	return NULL;
}

/* Remove a stale socket left by a dead daemon, but never steal a live one. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd;
	int rc;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		sluice_ctl_log("%s exists and is not a socket; refusing to replace it", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (rc == 0) {
		sluice_ctl_log("%s: another daemon is listening on it", path);
		return -EADDRINUSE;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		rc = -errno;
		sluice_ctl_log("unlink stale socket %s: %s", path, strerror(errno));
		return rc;
	}
	return 0;
}

int sluice_ctl_server_start(const struct sluice_ctl_server_opts *opts,
			    struct sluice_ctl_server **out)
{
	struct sluice_ctl_server *srv = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct epoll_event ev;
	mode_t mode;
	int rc;

	*out = NULL;
	if (opts == NULL || opts->socket_path == NULL || opts->socket_path[0] == '\0')
		return -EINVAL;
	if (strlen(opts->socket_path) >= sizeof(sa.sun_path)) {
		sluice_ctl_log("control socket path too long (max %zu): %s",
			       sizeof(sa.sun_path) - 1, opts->socket_path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, opts->socket_path, strlen(opts->socket_path) + 1);

	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return -ENOMEM;
	srv->lfd = srv->evfd = srv->epfd = -1;
	srv->gid = opts->gid;
	srv->admin_gid_set = opts->admin_gid_set;
	srv->admin_gid = opts->admin_gid;
	srv->daemon = opts->daemon;
	srv->max_line = opts->max_line_bytes ? opts->max_line_bytes : SLUICE_CTL_MAX_LINE_DEFAULT;
	srv->max_clients = opts->max_clients ? opts->max_clients : MAX_CLIENTS_DEFAULT;
	mode = opts->mode ? opts->mode : 0660;
	/* A file names one group: with two, the file lets everyone knock and SO_PEERCRED, the
	 * real check, sorts readers from admins and refuses the rest. */
	if (!opts->mode && srv->gid != (gid_t)-1 && srv->admin_gid_set &&
	    srv->gid != srv->admin_gid)
		mode = 0666;
	srv->path = strdup(opts->socket_path);
	srv->clients = calloc(srv->max_clients, sizeof(*srv->clients));
	if (srv->path == NULL || srv->clients == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < srv->max_clients; i++) {
		srv->clients[i].fd = -1;
		srv->clients[i].in = malloc(srv->max_line);
		if (srv->clients[i].in == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
	}

	rc = clear_stale(srv->path, &sa);
	if (rc != 0)
		goto fail;
	srv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->lfd < 0) {
		rc = -errno;
		sluice_ctl_log("socket: %s", strerror(errno));
		goto fail;
	}
	if (bind(srv->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = -errno;
		sluice_ctl_log("bind %s: %s", srv->path, strerror(errno));
		goto fail;
	}
	/* The file mode is only a first gate (it is set after bind, so briefly wider);
	 * SO_PEERCRED on every connection is the real check. */
	if (chmod(srv->path, mode) != 0) {
		rc = -errno;
		sluice_ctl_log("chmod %s %o: %s", srv->path, (unsigned)mode, strerror(errno));
		goto fail_unlink;
	}
	{
		/* The file's group: the readers', else the admins'. */
		gid_t owner = srv->gid != (gid_t)-1 ? srv->gid
			: srv->admin_gid_set        ? srv->admin_gid
						    : (gid_t)-1;

		if (owner != (gid_t)-1 && chown(srv->path, (uid_t)-1, owner) != 0) {
			rc = -errno;
			sluice_ctl_log("chown %s to gid %ld: %s", srv->path, (long)owner,
				       strerror(errno));
			goto fail_unlink;
		}
	}
	if (listen(srv->lfd, 16) != 0) {
		rc = -errno;
		sluice_ctl_log("listen %s: %s", srv->path, strerror(errno));
		goto fail_unlink;
	}
	srv->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->evfd < 0 || srv->epfd < 0) {
		rc = -errno;
		sluice_ctl_log("eventfd/epoll: %s", strerror(errno));
		goto fail_unlink;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->evfd, &ev) != 0)
		goto fail_errno;
	ev.data.ptr = srv;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd, &ev) != 0)
		goto fail_errno;
	rc = -pthread_create(&srv->thread, NULL, server_main, srv);
	if (rc != 0) {
		sluice_ctl_log("pthread_create: %s", strerror(-rc));
		goto fail_unlink;
	}
	srv->thread_started = true;
	*out = srv;
	return 0;

fail_errno:
	rc = -errno;
	sluice_ctl_log("epoll_ctl: %s", strerror(errno));
fail_unlink:
	unlink(srv->path);
fail:
	sluice_ctl_server_stop(srv);
	return rc;
}

void sluice_ctl_server_stop(struct sluice_ctl_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->thread_started) {
		uint64_t one = 1;

		if (write(srv->evfd, &one, sizeof(one)) != sizeof(one))
			sluice_ctl_log("cannot wake the control thread: %s", strerror(errno));
		pthread_join(srv->thread, NULL);
		unlink(srv->path);
	}
	if (srv->clients != NULL) {
		for (unsigned i = 0; i < srv->max_clients; i++) {
			if (srv->epfd >= 0)
				client_close(srv, &srv->clients[i]);
			free(srv->clients[i].in);
		}
	}
	if (srv->lfd >= 0)
		close(srv->lfd);
	if (srv->evfd >= 0)
		close(srv->evfd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	free(srv->clients);
	free(srv->path);
	free(srv);
}

void sluice_ctl_server_get_stats(const struct sluice_ctl_server *srv,
				 struct sluice_ctl_server_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (srv == NULL)
		return;
	st->connections = load(&srv->connections);
	st->rejected_peers = load(&srv->rejected_peers);
	st->rejected_busy = load(&srv->rejected_busy);
	st->requests = load(&srv->requests);
	st->oversized = load(&srv->oversized);
	st->error_replies = load(&srv->error_replies);
	st->denied_requests = load(&srv->denied);
	for (unsigned i = 0; i < SLUICE_CTL_PROTO_ERR_COUNT; i++)
		st->bad_requests += load(&srv->bad[i]);
}

void sluice_ctl_server_collect(const struct sluice_ctl_server *srv,
			       const struct sluice_metric_sink *sink)
{
	struct sluice_label l;

	if (srv == NULL || sink == NULL)
		return;
	sluice_metric_begin(sink, SLUICE_M_CTL_CONNECTIONS_TOTAL);
	sink->sample(sink->ctx, SLUICE_METRIC_NAME(SLUICE_M_CTL_CONNECTIONS_TOTAL), NULL, 0,
		     (double)load(&srv->connections));
	sluice_metric_begin(sink, SLUICE_M_CTL_REJECTED_CONNECTIONS_TOTAL);
	l.name = "reason";
	l.value = "peer_credentials";
	sink->sample(sink->ctx, SLUICE_METRIC_NAME(SLUICE_M_CTL_REJECTED_CONNECTIONS_TOTAL), &l, 1,
		     (double)load(&srv->rejected_peers));
	l.value = "too_many_clients";
	sink->sample(sink->ctx, SLUICE_METRIC_NAME(SLUICE_M_CTL_REJECTED_CONNECTIONS_TOTAL), &l, 1,
		     (double)load(&srv->rejected_busy));
	sluice_metric_begin(sink, SLUICE_M_CTL_REQUESTS_TOTAL);
	sink->sample(sink->ctx, SLUICE_METRIC_NAME(SLUICE_M_CTL_REQUESTS_TOTAL), NULL, 0,
		     (double)load(&srv->requests));
	sluice_metric_begin(sink, SLUICE_M_CTL_BAD_REQUESTS_TOTAL);
	for (unsigned i = 1; i < SLUICE_CTL_PROTO_ERR_COUNT; i++) {
		l.value = sluice_ctl_proto_err_name((enum sluice_ctl_proto_err)i);
		sink->sample(sink->ctx, SLUICE_METRIC_NAME(SLUICE_M_CTL_BAD_REQUESTS_TOTAL), &l, 1,
			     (double)load(&srv->bad[i]));
	}
	l.value = "oversized";
	sink->sample(sink->ctx, SLUICE_METRIC_NAME(SLUICE_M_CTL_BAD_REQUESTS_TOTAL), &l, 1,
		     (double)load(&srv->oversized));
	sluice_metric_begin(sink, SLUICE_M_CTL_DENIED_REQUESTS_TOTAL);
	sink->sample(sink->ctx, SLUICE_METRIC_NAME(SLUICE_M_CTL_DENIED_REQUESTS_TOTAL), NULL, 0,
		     (double)load(&srv->denied));
	sluice_metric_begin(sink, SLUICE_M_CTL_ERROR_REPLIES_TOTAL);
	sink->sample(sink->ctx, SLUICE_METRIC_NAME(SLUICE_M_CTL_ERROR_REPLIES_TOTAL), NULL, 0,
		     (double)load(&srv->error_replies));
}
