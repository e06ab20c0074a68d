/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice's counters as DPDK telemetry commands (/sluice/...), readable with dpdk-telemetry.py.
 *
 * Threading contract:
 * - sluice_telemetry_register/unregister run on the daemon's main thread.
 * - DPDK calls the callbacks on its telemetry thread(s) (one per client connection), with no
 *   context pointer, so the daemon lives in a file-scope pointer guarded by a rwlock: callbacks
 *   hold it shared for their whole run, unregister takes it exclusively, so once unregister
 *   returns no callback touches the daemon.
 *
 * DPDK 22.11 telemetry limits shape the replies: dict keys only [A-Za-z0-9_/] and < 128 bytes,
 * at most 256 dict entries, values u64/int/string or a one-level array, 16 KiB per reply.
 * Keys are sanitised, numbers that are not non-negative integers are sent as strings, and a
 * reply that would not fit is cut and marked with "truncated": 1. The configuration, which
 * can hold thousands of keys, is served one section per request (/sluice/config,<section>).
 *
 * DPDK's socket has no peer-credential check: sluice_telemetry_restrict() makes EAL's runtime
 * directory and its sockets the daemon user's alone, narrower than the control socket.
 */
#include "ctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_telemetry.h>

#include "ctl_proto.h"

#define KEY_MAX (RTE_TEL_MAX_STRING_LEN - 1)
#define HEALTH_REASON_MAX 4096
/* Leave room under DPDK's 16 KiB reply buffer for the command name and JSON framing. */
#define REPLY_BUDGET (12 * 1024)

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct sluice_daemon *daemon_ptr; /* guarded by lock */

/* ---- helpers ---- */

static void sanitize(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	for (; *src != '\0' && n + 1 < cap; src++) {
		char c = *src;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '_' || c == '/';

		dst[n++] = ok ? c : '_';
	}
	dst[n] = '\0';
	if (n == 0 && cap > 1) {
		dst[0] = '_';
		dst[1] = '\0';
	}
}

struct tel_dict {
	struct rte_tel_data *d;
	unsigned entries;
	size_t bytes; /* estimate of the JSON the entries will take */
	bool truncated;
};

/* Returns false (and marks truncation) when the dict is full. */
static bool room(struct tel_dict *t, const char *key, size_t value_len)
{
	size_t need = strlen(key) + value_len + 6;

	/* One entry is kept for the truncation marker. */
	if (t->entries + 2 > RTE_TEL_MAX_DICT_ENTRIES || t->bytes + need > REPLY_BUDGET) {
		t->truncated = true;
		return false;
	}
	t->entries++;
	t->bytes += need;
	return true;
}

static void add_str(struct tel_dict *t, const char *key, const char *val)
{
	char k[KEY_MAX + 1];
	char v[RTE_TEL_MAX_STRING_LEN];

	sanitize(k, sizeof(k), key);
	snprintf(v, sizeof(v), "%s", val);
	/* JSON escaping of the value is DPDK's job; it refuses strings that need it, so keep
	 * printable ASCII without quotes or backslashes. */
	for (char *p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f || *p == '"' ||
		    *p == '\\')
			*p = '_';
	if (strlen(val) >= sizeof(v))
		t->truncated = true; /* a value longer than DPDK's strings was cut */
	if (room(t, k, strlen(v) + 2))
		rte_tel_data_add_dict_string(t->d, k, v);
}

static void add_num(struct tel_dict *t, const char *key, double v)
{
	char k[KEY_MAX + 1];

	if (v >= 0 && v < 18446744073709551616.0 && v == floor(v)) {
		sanitize(k, sizeof(k), key);
		if (room(t, k, 20))
			rte_tel_data_add_dict_u64(t->d, k, (uint64_t)v);
	} else {
		char s[40];

		snprintf(s, sizeof(s), "%.17g", v);
		add_str(t, key, s);
	}
}

static void finish(struct tel_dict *t)
{
	if (t->truncated)
		rte_tel_data_add_dict_int(t->d, "truncated", 1);
}

/* Callbacks take the lock shared; NULL daemon means "not attached". */
static struct sluice_daemon *enter(void)
{
	pthread_rwlock_rdlock(&lock);
	if (daemon_ptr == NULL) {
		pthread_rwlock_unlock(&lock);
		return NULL;
	}
	return daemon_ptr;
}

static void leave(void)
{
	pthread_rwlock_unlock(&lock);
}

/* ---- JSON replies of sluice_daemon_request, flattened ---- */

static void flatten(struct tel_dict *t, const char *prefix, json_t *v, unsigned depth)
{
	char key[KEY_MAX + 1];

	if (depth > 8) {
		add_str(t, prefix, "...");
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *sub;

		json_object_foreach(v, k, sub)
		{
			if (depth == 0 && (strcmp(k, "ok") == 0 || strcmp(k, "v") == 0))
				continue;
			if (prefix[0] != '\0')
				snprintf(key, sizeof(key), "%s/%s", prefix, k);
			else
				snprintf(key, sizeof(key), "%s", k);
			flatten(t, key, sub, depth + 1);
		}
		break;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *sub;

		json_array_foreach(v, i, sub)
		{
			snprintf(key, sizeof(key), "%s/%zu", prefix, i);
			flatten(t, key, sub, depth + 1);
		}
		break;
	}
	case JSON_STRING:
		add_str(t, prefix, json_string_value(v));
		break;
	case JSON_INTEGER:
		if (json_integer_value(v) >= 0) {
			add_num(t, prefix, (double)json_integer_value(v));
		} else {
			char s[24];

			snprintf(s, sizeof(s), "%lld", (long long)json_integer_value(v));
			add_str(t, prefix, s);
		}
		break;
	case JSON_REAL:
		add_num(t, prefix, json_real_value(v));
		break;
	case JSON_TRUE:
		add_num(t, prefix, 1);
		break;
	case JSON_FALSE:
		add_num(t, prefix, 0);
		break;
	case JSON_NULL:
		add_str(t, prefix, "null");
		break;
	}
}

static int request_cb(const char *dcmd, const char *params, struct rte_tel_data *d)
{
	static const struct {
		const char *tel;
		const char *cmd;
	} map[] = {
		{"/sluice/status", "status"},
		{"/sluice/partitions", "partitions"},
		{"/sluice/producers", "producers"},
	};
	struct tel_dict t = {.d = d};
	struct sluice_daemon *dm;
	const char *cmd = NULL;
	json_t *r;

	(void)params;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(dcmd, map[i].tel) == 0)
			cmd = map[i].cmd;
	if (cmd == NULL)
		return -EINVAL;
	dm = enter();
	if (dm == NULL)
		return -ENODEV;
	r = sluice_daemon_request(dm, cmd, NULL);
	leave();
	rte_tel_data_start_dict(d);
	if (r == NULL) {
		add_str(&t, "error", "no reply");
		return 0;
	}
	flatten(&t, "", r, 0);
	json_decref(r);
	finish(&t);
	return 0;
}

/*
 * /sluice/config: the section names; /sluice/config,<section>: that section's keys and values
 * (secrets already read "***" in config.list), keys without the section prefix and with '.'
 * as '/' ("sasl/password"). One section fits a reply where the whole configuration does not.
 */
static int config_cb(const char *dcmd, const char *params, struct rte_tel_data *d)
{
	struct tel_dict t = {.d = d};
	struct sluice_daemon *dm;
	json_t *r, *keys, *item, *seen;
	size_t i;

	(void)dcmd;
	dm = enter();
	if (dm == NULL)
		return -ENODEV;
	r = sluice_daemon_request(dm, "config.list", NULL);
	leave();
	keys = r ? json_object_get(r, "keys") : NULL;
	if (!json_is_array(keys)) {
		json_decref(r);
		return -EIO;
	}
	if (params == NULL || params[0] == '\0') {
		seen = json_object();
		rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
		json_array_foreach(keys, i, item)
		{
			const char *sec = json_string_value(json_object_get(item, "section"));

			if (sec == NULL || json_object_get(seen, sec) != NULL)
				continue;
			json_object_set_new(seen, sec, json_true());
			if (rte_tel_data_add_array_string(d, sec) != 0)
				break; /* 512 sections cannot happen: 5 + 8 + 32 + 32 */
		}
		json_decref(seen);
		json_decref(r);
		return 0;
	}
	rte_tel_data_start_dict(d);
	json_array_foreach(keys, i, item)
	{
		const char *sec = json_string_value(json_object_get(item, "section"));
		const char *key = json_string_value(json_object_get(item, "key"));
		json_t *v = json_object_get(item, "value");
		char name[KEY_MAX + 1], val[RTE_TEL_MAX_STRING_LEN + 1];
		size_t plen;

		if (sec == NULL || key == NULL || strcmp(sec, params) != 0)
			continue;
		plen = strlen(sec);
		snprintf(name, sizeof(name), "%s",
			 strncmp(key, sec, plen) == 0 && key[plen] == '.' ? key + plen + 1 : key);
		for (char *p = name; *p != '\0'; p++)
			if (*p == '.')
				*p = '/';
		if (json_is_string(v)) {
			add_str(&t, name, json_string_value(v));
		} else {
			char *dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

			snprintf(val, sizeof(val), "%s", dump ? dump : "?");
			free(dump);
			add_str(&t, name, val);
		}
	}
	json_decref(r);
	if (t.entries == 0)
		return -ENOENT; /* no such section */
	finish(&t);
	return 0;
}

int sluice_telemetry_restrict(const char *runtime_dir)
{
	struct stat st;
	struct dirent *e;
	DIR *dh;
	int dfd, rc = 0;

	dfd = open(runtime_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		sluice_ctl_log("telemetry: %s: %s", runtime_dir, strerror(-rc));
		return rc;
	}
	if (fstat(dfd, &st) != 0 || st.st_uid != geteuid()) {
		rc = -EPERM;
		sluice_ctl_log("telemetry: %s is not owned by uid %ld: its sockets could not be "
			       "kept private",
			       runtime_dir, (long)geteuid());
		close(dfd);
		return rc;
	}
	if ((st.st_mode & 077) && fchmod(dfd, st.st_mode & 0700) != 0)
		rc = -errno;
	dh = fdopendir(dfd);
	if (dh == NULL) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	/* DPDK creates its sockets (dpdk_telemetry.v2, mp_socket) with the umask's mode:
	 * 0755 under umask 022, 0777 under 0. Nothing in here is for anyone else. */
	while ((e = readdir(dh)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(dh), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    S_ISLNK(st.st_mode) || !(st.st_mode & 077))
			continue;
		if (fchmodat(dirfd(dh), e->d_name, st.st_mode & 0700, 0) != 0 && rc == 0)
			rc = -errno;
	}
	closedir(dh);
	if (rc)
		sluice_ctl_log("telemetry: cannot restrict %s: %s", runtime_dir, strerror(-rc));
	return rc;
}

/* ---- metrics: totals (/sluice/stats) and one family (/sluice/metric,<name>) ---- */

struct fam_total {
	char name[KEY_MAX + 1];
	enum sluice_metric_type type;
	double total; /* counters: sum over labels; gauges: the unlabelled value */
	double sum; /* histograms */
	uint64_t count;
	bool have;
};

struct stats_sink {
	struct fam_total *fams;
	unsigned n;
	unsigned cap;
	struct fam_total *cur;
};

static void st_family(void *ctx, const char *name, enum sluice_metric_type type, const char *help)
{
	struct stats_sink *s = ctx;

	(void)help;
	s->cur = NULL;
	for (unsigned i = 0; i < s->n; i++) {
		if (strcmp(s->fams[i].name, name) == 0) {
			s->cur = &s->fams[i];
			return;
		}
	}
	if (s->n == s->cap)
		return;
	s->cur = &s->fams[s->n++];
	memset(s->cur, 0, sizeof(*s->cur));
	snprintf(s->cur->name, sizeof(s->cur->name), "%s", name);
	s->cur->type = type;
}

static void st_sample(void *ctx, const char *name, const struct sluice_label *labels,
		      unsigned nlabels, double value)
{
	struct stats_sink *s = ctx;

	(void)name;
	(void)labels;
	if (s->cur == NULL)
		return;
	/* Summing a labelled gauge (ring fill of several rings) is meaningless: only unlabelled
	 * gauges are totals. /sluice/metric shows the labelled ones. */
	if (s->cur->type == SLUICE_METRIC_GAUGE && nlabels > 0)
		return;
	s->cur->total += value;
	s->cur->have = true;
}

static void st_histogram(void *ctx, const char *name, const struct sluice_label *labels,
			 unsigned nlabels, const double *ub, const uint64_t *cum, unsigned nb,
			 double sum, uint64_t count)
{
	struct stats_sink *s = ctx;

	(void)name;
	(void)labels;
	(void)nlabels;
	(void)ub;
	(void)cum;
	(void)nb;
	if (s->cur == NULL)
		return;
	s->cur->sum += sum;
	s->cur->count += count;
	s->cur->have = true;
}

static int stats_cb(const char *dcmd, const char *params, struct rte_tel_data *d)
{
	struct stats_sink s = {.cap = RTE_TEL_MAX_DICT_ENTRIES};
	struct sluice_metric_sink sink = {
		.ctx = &s,
		.family = st_family,
		.sample = st_sample,
		.histogram = st_histogram,
	};
	struct tel_dict t = {.d = d};
	struct sluice_daemon *dm;
	char key[KEY_MAX + 1];

	(void)dcmd;
	(void)params;
	s.fams = calloc(s.cap, sizeof(*s.fams));
	if (s.fams == NULL)
		return -ENOMEM;
	dm = enter();
	if (dm == NULL) {
		free(s.fams);
		return -ENODEV;
	}
	sluice_daemon_collect(dm, &sink);
	leave();
	rte_tel_data_start_dict(d);
	for (unsigned i = 0; i < s.n; i++) {
		struct fam_total *f = &s.fams[i];

		if (!f->have)
			continue;
		if (f->type == SLUICE_METRIC_HISTOGRAM) {
			snprintf(key, sizeof(key), "%.100s_count", f->name);
			add_num(&t, key, (double)f->count);
			snprintf(key, sizeof(key), "%.100s_sum", f->name);
			add_num(&t, key, f->sum);
		} else {
			add_num(&t, f->name, f->total);
		}
	}
	finish(&t);
	free(s.fams);
	return 0;
}

struct one_sink {
	const char *want;
	bool in; /* inside the wanted family */
	bool found;
	struct tel_dict *t;
};

static void series_key(char *key, size_t cap, const struct sluice_label *labels, unsigned n)
{
	size_t len = 0;

	key[0] = '\0';
	for (unsigned i = 0; i < n && len + 1 < cap; i++) {
		int w = snprintf(key + len, cap - len, "%s%s_%s", i ? "/" : "", labels[i].name,
				 labels[i].value);

		if (w < 0)
			break;
		len += (size_t)w;
	}
	if (key[0] == '\0')
		snprintf(key, cap, "value");
}

static void one_family(void *ctx, const char *name, enum sluice_metric_type type, const char *help)
{
	struct one_sink *o = ctx;

	(void)type;
	(void)help;
	o->in = strcmp(name, o->want) == 0;
	if (o->in)
		o->found = true;
}

static void one_sample(void *ctx, const char *name, const struct sluice_label *labels,
		       unsigned nlabels, double value)
{
	struct one_sink *o = ctx;
	char key[KEY_MAX + 1];

	(void)name;
	if (!o->in)
		return;
	series_key(key, sizeof(key), labels, nlabels);
	add_num(o->t, key, value);
}

static void one_histogram(void *ctx, const char *name, const struct sluice_label *labels,
			  unsigned nlabels, const double *ub, const uint64_t *cum, unsigned nb,
			  double sum, uint64_t count)
{
	struct one_sink *o = ctx;
	char base[96]; /* room left in the key for "/le_<bound>" */
	char key[KEY_MAX + 1];

	(void)name;
	if (!o->in)
		return;
	series_key(base, sizeof(base), labels, nlabels);
	for (unsigned i = 0; i < nb; i++) {
		char le[24];

		snprintf(le, sizeof(le), "%g", ub[i]);
		snprintf(key, sizeof(key), "%s/le_%s", base, le);
		add_num(o->t, key, (double)cum[i]);
	}
	snprintf(key, sizeof(key), "%s/count", base);
	add_num(o->t, key, (double)count);
	snprintf(key, sizeof(key), "%s/sum", base);
	add_num(o->t, key, sum);
}

static int metric_cb(const char *dcmd, const char *params, struct rte_tel_data *d)
{
	struct tel_dict t = {.d = d};
	struct one_sink o = {.want = params, .t = &t};
	struct sluice_metric_sink sink = {
		.ctx = &o,
		.family = one_family,
		.sample = one_sample,
		.histogram = one_histogram,
	};
	struct sluice_daemon *dm;

	(void)dcmd;
	if (params == NULL || params[0] == '\0')
		return -EINVAL;
	dm = enter();
	if (dm == NULL)
		return -ENODEV;
	rte_tel_data_start_dict(d);
	sluice_daemon_collect(dm, &sink);
	leave();
	if (!o.found)
		return -ENOENT;
	finish(&t);
	return 0;
}

/* Family names in first-seen order, each once (a daemon may emit a family in parts). */
static void names_family(void *ctx, const char *name, enum sluice_metric_type type,
			 const char *help)
{
	json_t *seen = ctx;

	(void)type;
	(void)help;
	if (json_object_get(seen, name) == NULL)
		json_object_set_new(seen, name, json_true());
}

static void names_sample(void *ctx, const char *name, const struct sluice_label *labels,
			 unsigned nlabels, double value)
{
	(void)ctx;
	(void)name;
	(void)labels;
	(void)nlabels;
	(void)value;
}

static void names_histogram(void *ctx, const char *name, const struct sluice_label *labels,
			    unsigned nlabels, const double *ub, const uint64_t *cum, unsigned nb,
			    double sum, uint64_t count)
{
	(void)ctx;
	(void)name;
	(void)labels;
	(void)nlabels;
	(void)ub;
	(void)cum;
	(void)nb;
	(void)sum;
	(void)count;
}

static int families_cb(const char *dcmd, const char *params, struct rte_tel_data *d)
{
	json_t *seen = json_object();
	struct sluice_metric_sink sink = {
		.ctx = seen,
		.family = names_family,
		.sample = names_sample,
		.histogram = names_histogram,
	};
	struct sluice_daemon *dm;
	const char *name;
	json_t *v;

	(void)dcmd;
	(void)params;
	if (seen == NULL)
		return -ENOMEM;
	dm = enter();
	if (dm == NULL) {
		json_decref(seen);
		return -ENODEV;
	}
	sluice_daemon_collect(dm, &sink);
	leave();
	rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
	json_object_foreach(seen, name, v)
	{
		if (rte_tel_data_add_array_string(d, name) != 0)
			break; /* array full (512) */
	}
	json_decref(seen);
	return 0;
}

static int health_cb(const char *dcmd, const char *params, struct rte_tel_data *d)
{
	struct tel_dict t = {.d = d};
	struct sluice_daemon *dm;
	char *reason;
	int rc;

	(void)dcmd;
	(void)params;
	reason = calloc(1, HEALTH_REASON_MAX);
	if (reason == NULL)
		return -ENOMEM;
	dm = enter();
	if (dm == NULL) {
		free(reason);
		return -ENODEV;
	}
	rc = sluice_daemon_health(dm, reason, HEALTH_REASON_MAX);
	leave();
	reason[HEALTH_REASON_MAX - 1] = '\0';
	rte_tel_data_start_dict(d);
	add_num(&t, "healthy", rc == 0 ? 1 : 0);
	if (rc != 0) {
		char *save = NULL;
		unsigned i = 0;
		char key[32];

		for (char *line = strtok_r(reason, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			snprintf(key, sizeof(key), "reasons/%u", i++);
			add_str(&t, key, line);
		}
	}
	finish(&t);
	free(reason);
	return 0;
}

int sluice_telemetry_register(struct sluice_daemon *d)
{
	static const struct {
		const char *cmd;
		telemetry_cb fn;
		const char *help;
	} cmds[] = {
		{"/sluice/stats", stats_cb,
		 "Totals of every sluice counter (summed over labels). No parameters"},
		{"/sluice/metric", metric_cb,
		 "Every series of one metric family. Parameter: family name"},
		{"/sluice/families", families_cb, "Names of every sluice metric family"},
		{"/sluice/health", health_cb, "healthy 0/1 and the failing checks"},
		{"/sluice/status", request_cb, "Daemon status (as sluicectl status)"},
		{"/sluice/partitions", request_cb, "Partitions (as sluicectl partitions)"},
		{"/sluice/producers", request_cb, "Producers (as sluicectl producers)"},
		{"/sluice/config", config_cb,
		 "Configuration sections; with a parameter, one section's keys and values "
		 "(secrets as ***), e.g. /sluice/config,kafka"},
	};
	static bool registered;
	int rc;

	pthread_rwlock_wrlock(&lock);
	daemon_ptr = d;
	pthread_rwlock_unlock(&lock);
	if (registered)
		return 0;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		rc = rte_telemetry_register_cmd(cmds[i].cmd, cmds[i].fn, cmds[i].help);
		if (rc != 0) {
			sluice_ctl_log("telemetry: cannot register %s: %s", cmds[i].cmd,
				       strerror(-rc));
			return rc;
		}
	}
	registered = true;
	return 0;
}

void sluice_telemetry_unregister(void)
{
	pthread_rwlock_wrlock(&lock);
	daemon_ptr = NULL;
	pthread_rwlock_unlock(&lock);
}
