/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluicectl doctor: host checks against a configuration (see doctor.h).
 *
 * Threading contract: single-threaded; a run owns its report and configuration.
 *
 * Each check reads what the kernel exports (under the host root, control/host.h), judges it
 * against the configuration, and adds one result: pass, warn (works, but slower or less
 * safe) or fail (sluiced will not start, or will lose a guarantee), with the commands that
 * fix it. The rules that size memory mirror control/daemon.c's start_pools(): one mbuf pool
 * per NUMA node that has ports and one batch pool per node that has workers, the configured
 * totals split between them in proportion.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "config.h"
#include "ctl_proto.h"
#include "doctor.h"
#include "host.h"
#include "sluice_time.h"

#define MB (1024ull * 1024)
/* One mbuf of a pktmbuf pool: data room (RTE_MBUF_DEFAULT_BUF_SIZE), struct rte_mbuf and
 * the mempool object header, cache-line rounded. */
#define MBUF_BYTES 2368ull
/* A batch-pool element: SLUICE_DP_BATCH_HEADROOM + batch_bytes + the mempool header. */
#define BATCH_OVERHEAD 128ull
/* EAL's own heap (memzones, rings, ethdev descriptor rings, telemetry) on the main node. */
#define EAL_OVERHEAD (64ull * MB)
/* Writers map their buffers in 2 MiB hugepages when they can (storage/writer.c). */
#define HUGE_2M (2ull * MB)
#define CAP_IPC_LOCK_BIT 14

struct doc {
	const struct sluice_doctor_opts *o;
	const char *root;
	const char *file;
	struct sluice_doctor_report *r;
	struct sluice_config *cfg; /* validated, or NULL */
	int timeout_ms, kafka_timeout_ms;
	bool failed_alloc;
	/* The running sluiced, when its control socket answered. */
	bool daemon;
	long daemon_pid;
	char daemon_file[256];
	/* Placement, from the configuration and the host. */
	int main_node;
	struct sluice_host_cpuset main_cpus, worker_cpus, writer_cpus;
	int port_node[SLUICE_CONFIG_MAX_PORTS]; /* where its pool goes: never -1 */
	int worker_node[SLUICE_CONFIG_MAX_LCORES];
	bool any_pci, any_vfio;
};

/* ---------------------------------------------------------------------------------------- */
/* Results                                                                                    */

static bool want(const struct doc *d, const char *name)
{
	return !d->o->only || strncmp(name, d->o->only, strlen(d->o->only)) == 0;
}

/* Could --only select a check whose name starts with @p group? */
static bool want_group(const struct doc *d, const char *group)
{
	size_t a, b;

	if (!d->o->only)
		return true;
	a = strlen(d->o->only);
	b = strlen(group);
	return strncmp(d->o->only, group, a < b ? a : b) == 0;
}

static struct sluice_doctor_result *add(struct doc *d, const char *name,
					enum sluice_doctor_status st, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static struct sluice_doctor_result *add(struct doc *d, const char *name,
					enum sluice_doctor_status st, const char *fmt, ...)
{
	static struct sluice_doctor_result scratch;
	struct sluice_doctor_result *grown, *res;
	va_list ap;

	if (!want(d, name)) {
		/* Not asked for (--only): computed, not reported. */
		memset(&scratch, 0, sizeof(scratch));
		return &scratch;
	}
	grown = realloc(d->r->results, (d->r->n + 1) * sizeof(*grown));
	if (!grown) {
		/* Keep going without the result; the run reports -ENOMEM at the end. */
		d->failed_alloc = true;
		memset(&scratch, 0, sizeof(scratch));
		return &scratch;
	}
	d->r->results = grown;
	res = &grown[d->r->n++];
	memset(res, 0, sizeof(*res));
	snprintf(res->name, sizeof(res->name), "%s", name);
	res->status = st;
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
	return res;
}

/* Append one line to a result's fix. */
static void fix(struct sluice_doctor_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fix(struct sluice_doctor_result *res, const char *fmt, ...)
{
	size_t used = strlen(res->fix);
	va_list ap;

	if (used && used + 1 < sizeof(res->fix))
		res->fix[used++] = '\n';
	va_start(ap, fmt);
	vsnprintf(res->fix + used, sizeof(res->fix) - used, fmt, ap);
	va_end(ap);
}

const struct sluice_doctor_result *sluice_doctor_find(const struct sluice_doctor_report *r,
						      const char *name)
{
	for (unsigned i = 0; i < r->n; i++)
		if (strcmp(r->results[i].name, name) == 0)
			return &r->results[i];
	return NULL;
}

void sluice_doctor_report_free(struct sluice_doctor_report *r)
{
	if (!r)
		return;
	free(r->results);
	free(r);
}

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                              */

static int cpu_node(const struct doc *d, unsigned cpu)
{
	int n = sluice_host_cpu_node(d->root, cpu);

	return n < 0 ? 0 : n;
}

static void cpus_of_list(const struct sluice_cpu_list *l, struct sluice_host_cpuset *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < l->n; i++)
		sluice_host_cpuset_add(out, l->id[i]);
}

static unsigned first_cpu(const struct sluice_host_cpuset *s)
{
	for (unsigned c = 0; c < SLUICE_HOST_MAX_CPUS; c++)
		if (sluice_host_cpuset_has(s, c))
			return c;
	return 0;
}

static void cpuset_and(struct sluice_host_cpuset *out, const struct sluice_host_cpuset *a,
		       const struct sluice_host_cpuset *b)
{
	for (size_t i = 0; i < SLUICE_HOST_MAX_CPUS / 64; i++)
		out->bits[i] = a->bits[i] & b->bits[i];
}

static void cpuset_andnot(struct sluice_host_cpuset *out, const struct sluice_host_cpuset *a,
			  const struct sluice_host_cpuset *b)
{
	for (size_t i = 0; i < SLUICE_HOST_MAX_CPUS / 64; i++)
		out->bits[i] = a->bits[i] & ~b->bits[i];
}

static void cpuset_or(struct sluice_host_cpuset *a, const struct sluice_host_cpuset *b)
{
	for (size_t i = 0; i < SLUICE_HOST_MAX_CPUS / 64; i++)
		a->bits[i] |= b->bits[i];
}

/* Copy @p s into @p out, cut to fit (names from readdir and readlink). */
static void copy_str(char *out, size_t len, const char *s)
{
	size_t n = strnlen(s, len - 1);

	memcpy(out, s, n);
	out[n] = '\0';
}

static void fmt_mib(char *out, size_t len, uint64_t bytes)
{
	snprintf(out, len, "%" PRIu64 " MiB", (uint64_t)((bytes + MB - 1) / MB));
}

/* The value of kernel parameter @p name= in /proc/cmdline, or NULL. */
static const char *cmdline_param(const char *cmdline, const char *name, char *out, size_t len)
{
	size_t n = strlen(name);
	const char *p = cmdline;

	while (*p) {
		size_t w;
		while (*p == ' ')
			p++;
		w = strcspn(p, " ");
		if (w > n && strncmp(p, name, n) == 0 && p[n] == '=') {
			size_t v = w - n - 1;
			if (v >= len)
				v = len - 1;
			memcpy(out, p + n + 1, v);
			out[v] = '\0';
			return out;
		}
		p += w;
	}
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* The running daemon (optional)                                                              */

/* Ask the control socket for "status". NULL when nothing answers; *denied on EACCES. */
static json_t *daemon_status(const char *path, int timeout_ms, bool *denied)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[65536], err[128];
	size_t len = 0, used = 0;
	char *line = NULL;
	json_t *reply = NULL;
	int fd = -1;

	*denied = false;
	if (strlen(path) >= sizeof(sa.sun_path))
		return NULL;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		*denied = errno == EACCES || errno == EPERM;
		goto out;
	}
	line = sluice_ctl_proto_request_line("status", NULL, &len);
	if (!line || send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len)
		goto out;
	while (used < sizeof(buf) - 1) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		char *nl;
		ssize_t n;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			goto out;
		n = recv(fd, buf + used, sizeof(buf) - 1 - used, 0);
		if (n <= 0)
			goto out;
		used += (size_t)n;
		nl = memchr(buf, '\n', used);
		if (nl) {
			reply = sluice_ctl_proto_parse_reply(buf, (size_t)(nl - buf), err,
							     sizeof(err));
			break;
		}
	}
out:
	free(line);
	if (fd >= 0)
		close(fd);
	if (reply && !json_is_true(json_object_get(reply, "ok"))) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		*denied = e && strncmp(e, "permission denied", 17) == 0;
		json_decref(reply);
		reply = NULL;
	}
	return reply;
}

static void check_daemon(struct doc *d)
{
	const char *sock = d->o->socket;
	json_t *st;
	bool denied;

	if (!sock)
		return;
	st = daemon_status(sock, d->timeout_ms, &denied);
	if (st) {
		const char *file = json_string_value(json_object_get(st, "config_file"));
		const char *state = json_string_value(json_object_get(st, "state"));

		d->daemon = true;
		d->daemon_pid = (long)json_integer_value(json_object_get(st, "pid"));
		if (file)
			snprintf(d->daemon_file, sizeof(d->daemon_file), "%s", file);
		if (want(d, "daemon"))
			add(d, "daemon", SLUICE_DOCTOR_PASS,
			    "sluiced is %s (pid %ld, control socket %s)%s%s", state ? state : "?",
			    d->daemon_pid, sock, file ? ", configuration " : "", file ? file : "");
		json_decref(st);
		return;
	}
	if (!want(d, "daemon"))
		return;
	if (denied) {
		struct sluice_doctor_result *res =
			add(d, "daemon", SLUICE_DOCTOR_WARN,
			    "the control socket %s refused this user: running sluiced's facts "
			    "(pid, limits, memory in use) are not checked",
			    sock);
		fix(res, "sudo sluicectl doctor   # or join the group in control.socket_group");
		return;
	}
	add(d, "daemon", SLUICE_DOCTOR_PASS,
	    "sluiced is not running (nothing answers on %s): checking as before a start", sock);
}

/* ---------------------------------------------------------------------------------------- */
/* Configuration                                                                              */

static void check_config(struct doc *d)
{
	struct sluice_config *cfg = sluice_config_new();
	struct sluice_doctor_result *res;
	char online[256];
	int rc;

	if (!cfg) {
		d->failed_alloc = true;
		return;
	}
	/* With a fake root, the machine described there decides which CPUs exist. */
	if (d->root[0] &&
	    sluice_host_read(d->root, "/sys/devices/system/cpu/online", online, sizeof(online)) >
		    0) {
		struct sluice_host_cpuset on;
		unsigned last = 0;
		if (sluice_host_cpuset_parse(online, &on) == 0) {
			for (unsigned c = 0; c < SLUICE_HOST_MAX_CPUS; c++)
				if (sluice_host_cpuset_has(&on, c))
					last = c;
			cfg->online_cpus = (long)last + 1;
		}
	}
	rc = sluice_config_load(cfg, d->file);
	if (rc == 0 && sluice_config_error_count(cfg) == 0)
		sluice_config_validate(cfg);
	if (sluice_config_error_count(cfg) == 0) {
		d->cfg = cfg;
		if (want(d, "config"))
			add(d, "config", SLUICE_DOCTOR_PASS, "%s is valid", d->file);
		return;
	}
	res = add(d, "config", SLUICE_DOCTOR_FAIL, "%s: %u error%s, first: %s", d->file,
		  sluice_config_error_count(cfg), sluice_config_error_count(cfg) == 1 ? "" : "s",
		  sluice_config_error(cfg, 0));
	if (rc == -ENOENT)
		fix(res,
		    "sluicectl doctor --config /path/to/sluiced.ini   # name the file to check");
	else
		fix(res, "sluiced --check-config %s   # every error as file:line: key: reason",
		    d->file);
	sluice_config_free(cfg);
}

/* Derive where everything runs and where its memory goes. */
static void place(struct doc *d)
{
	const struct sluice_config *cfg = d->cfg;
	struct sluice_cpu_list l;

	if (sluice_config_lcore_cpus(cfg, cfg->eal.main_lcore, &l) == 0)
		cpus_of_list(&l, &d->main_cpus);
	d->main_node = cpu_node(d, first_cpu(&d->main_cpus));
	cpus_of_list(&cfg->storage.writer_cpus, &d->writer_cpus);
	for (uint32_t w = 0; w < cfg->eal.nworker_lcores; w++) {
		struct sluice_host_cpuset cpus;
		sluice_host_worker_cpus(cfg, w, &cpus);
		cpuset_or(&d->worker_cpus, &cpus);
		d->worker_node[w] = cpu_node(d, first_cpu(&cpus));
	}
	for (uint32_t p = 0; p < cfg->nports; p++) {
		int n = sluice_host_port_node(d->root, &cfg->ports[p], NULL, 0);
		/* Like DPDK: a device without a node gets the main lcore's. */
		d->port_node[p] = n >= 0 ? n : d->main_node;
		if (cfg->ports[p].pci) {
			d->any_pci = true;
			d->any_vfio = true;
		}
	}
}

/* ---------------------------------------------------------------------------------------- */
/* CPU features                                                                               */

/* What the compiler was allowed to use for this build (DPDK's -march): the CPU must have it. */
static const char *const needed_flags[] = {
#ifdef __SSE2__
	"sse2",
#endif
#ifdef __SSE3__
	"pni",
#endif
#ifdef __SSSE3__
	"ssse3",
#endif
#ifdef __SSE4_1__
	"sse4_1",
#endif
#ifdef __SSE4_2__
	"sse4_2",
#endif
#ifdef __POPCNT__
	"popcnt",
#endif
#ifdef __AVX__
	"avx",
#endif
#ifdef __AVX2__
	"avx2",
#endif
#ifdef __AVX512F__
	"avx512f",
#endif
#ifdef __PCLMUL__
	"pclmulqdq",
#endif
#ifdef __AES__
	"aes",
#endif
#ifdef __BMI__
	"bmi1",
#endif
#ifdef __BMI2__
	"bmi2",
#endif
#ifdef __RTM__
	"rtm",
#endif
	NULL,
};

static bool has_flag(const char *flags, const char *f)
{
	size_t n = strlen(f);
	const char *p = flags;

	while ((p = strstr(p, f))) {
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

static void check_cpu_features(struct doc *d)
{
	char path[PATH_MAX], line[8192], flags[8192] = "", missing[512] = "", have[512] = "";
	struct sluice_doctor_result *res;
	size_t mu = 0, hu = 0;
	bool tsc_ok;
	FILE *f;

	if (!want(d, "cpu.features"))
		return;
	snprintf(path, sizeof(path), "%s/proc/cpuinfo", d->root);
	f = fopen(path, "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char *colon = strchr(line, ':');
			if (strncmp(line, "flags", 5) == 0 && colon) {
				snprintf(flags, sizeof(flags), "%s", colon + 2);
				flags[strcspn(flags, "\n")] = '\0';
				break;
			}
		}
		fclose(f);
	}
#if !defined(__x86_64__) && !defined(__i386__)
	add(d, "cpu.features", SLUICE_DOCTOR_PASS,
	    "no instruction-set requirements are recorded for this architecture");
	return;
#endif
	if (!flags[0]) {
		res = add(d, "cpu.features", SLUICE_DOCTOR_WARN, "no CPU flags in %s/proc/cpuinfo",
			  d->root);
		fix(res, "grep -m1 flags /proc/cpuinfo   # is /proc mounted?");
		return;
	}
	for (size_t i = 0; needed_flags[i]; i++) {
		bool ok = has_flag(flags, needed_flags[i]);
		char *buf = ok ? have : missing;
		size_t *u = ok ? &hu : &mu;
		int n = snprintf(buf + *u, sizeof(have) - *u, "%s%s", *u ? " " : "",
				 needed_flags[i]);
		if (n > 0 && *u + (size_t)n < sizeof(have))
			*u += (size_t)n;
	}
	if (missing[0]) {
		res = add(d, "cpu.features", SLUICE_DOCTOR_FAIL,
			  "this build (and its DPDK) uses %s, which this CPU lacks: sluiced would "
			  "stop with an illegal instruction",
			  missing);
		fix(res,
		    "rebuild DPDK and sluice for this CPU: meson setup build "
		    "-Dc_args=-march=native (and DPDK with -Dcpu_instruction_set=native)");
		return;
	}
	/* DPDK times everything with the TSC; one that drifts with frequency breaks linger. */
	tsc_ok = has_flag(flags, "constant_tsc") && has_flag(flags, "nonstop_tsc");
	res = add(d, "cpu.features", tsc_ok ? SLUICE_DOCTOR_PASS : SLUICE_DOCTOR_WARN,
		  "the CPU has every feature this build uses (%s)%s", have,
		  tsc_ok ? ""
			 : "; but no invariant TSC (constant_tsc nonstop_tsc): batch linger "
			   "and rates drift with the CPU frequency");
	if (!tsc_ok)
		fix(res, "cpupower frequency-set -g performance   # keeps the TSC rate steady");
}

/* ---------------------------------------------------------------------------------------- */
/* Hugepages                                                                                  */

struct node_need {
	uint64_t mbufs, batches, writers, eal;
};

/* Memory the configuration puts on each node, mirroring daemon.c's start_pools(). */
static void memory_plan(const struct doc *d, struct node_need need[SLUICE_HOST_MAX_NODES])
{
	const struct sluice_config *cfg = d->cfg;
	uint32_t ports_on[SLUICE_HOST_MAX_NODES] = {0}, workers_on[SLUICE_HOST_MAX_NODES] = {0};
	uint32_t workers = cfg->eal.nworker_lcores ? cfg->eal.nworker_lcores : 1;
	uint32_t nparts = 0;

	memset(need, 0, sizeof(*need) * SLUICE_HOST_MAX_NODES);
	for (uint32_t p = 0; p < cfg->nports; p++)
		ports_on[d->port_node[p] % SLUICE_HOST_MAX_NODES]++;
	for (uint32_t w = 0; w < cfg->eal.nworker_lcores; w++)
		workers_on[d->worker_node[w] % SLUICE_HOST_MAX_NODES]++;
	for (unsigned n = 0; n < SLUICE_HOST_MAX_NODES; n++) {
		if (ports_on[n])
			need[n].mbufs = (uint64_t)cfg->dataplane.mbufs * ports_on[n] /
				(cfg->nports ? cfg->nports : 1) * MBUF_BYTES;
		if (workers_on[n]) {
			uint64_t b =
				(uint64_t)cfg->dataplane.batch_buffers * workers_on[n] / workers;
			need[n].batches =
				(b < 16 ? 16 : b) * (cfg->dataplane.batch_bytes + BATCH_OVERHEAD);
		}
	}
	for (uint32_t t = 0; t < cfg->ntopics; t++)
		nparts += cfg->topics[t].partitions;
	for (uint32_t i = 0; i < nparts; i++) {
		/* Partition i belongs to writer i % writers (storage/log.c) and holds
		 * queue_depth + 1 write buffers, each rounded up to whole 2 MiB pages. */
		uint32_t w = i % cfg->storage.writers;
		int node = w < cfg->storage.writer_cpus.n
			? cpu_node(d, cfg->storage.writer_cpus.id[w])
			: d->main_node;
		uint64_t one = (cfg->storage.write_buffer_bytes + HUGE_2M - 1) & ~(HUGE_2M - 1);
		need[node % SLUICE_HOST_MAX_NODES].writers +=
			(uint64_t)(cfg->storage.queue_depth + 1) * one;
	}
	need[d->main_node % SLUICE_HOST_MAX_NODES].eal = EAL_OVERHEAD;
}

struct huge_pool {
	unsigned long kb;
	long nr, free_pages;
};

/* The hugepage pools of a node (or of the machine, on a kernel without NUMA). */
static unsigned huge_pools(const struct doc *d, int node, struct huge_pool *out, unsigned max,
			   char *dir, size_t dirlen)
{
	char path[PATH_MAX];
	struct dirent *e;
	unsigned n = 0;
	DIR *dh;

	if (sluice_host_exists(d->root, "/sys/devices/system/node"))
		snprintf(dir, dirlen, "/sys/devices/system/node/node%d/hugepages", node);
	else
		snprintf(dir, dirlen, "/sys/kernel/mm/hugepages");
	snprintf(path, sizeof(path), "%s%s", d->root, dir);
	dh = opendir(path);
	if (!dh)
		return 0;
	while ((e = readdir(dh)) && n < max) {
		char f[PATH_MAX], v[64];
		unsigned long kb;
		char *end;

		if (strncmp(e->d_name, "hugepages-", 10) != 0)
			continue;
		kb = strtoul(e->d_name + 10, &end, 10);
		if (strcmp(end, "kB") != 0 || kb == 0)
			continue;
		out[n].kb = kb;
		snprintf(f, sizeof(f), "%s/%s/nr_hugepages", dir, e->d_name);
		out[n].nr = sluice_host_read(d->root, f, v, sizeof(v)) > 0 ? atol(v) : 0;
		snprintf(f, sizeof(f), "%s/%s/free_hugepages", dir, e->d_name);
		out[n].free_pages = sluice_host_read(d->root, f, v, sizeof(v)) > 0 ? atol(v) : 0;
		n++;
	}
	closedir(dh);
	return n;
}

static bool hugetlbfs_mounted(const struct doc *d)
{
	char path[PATH_MAX], line[1024];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proc/mounts", d->root);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char dev[256], mnt[512], type[64];
		if (sscanf(line, "%255s %511s %63s", dev, mnt, type) == 3 &&
		    strcmp(type, "hugetlbfs") == 0)
			found = true;
	}
	fclose(f);
	return found;
}

static void check_hugepages(struct doc *d)
{
	const struct sluice_config *cfg = d->cfg;
	struct node_need need[SLUICE_HOST_MAX_NODES];
	struct sluice_host_cpuset nodes;

	if (cfg->eal.memory == SLUICE_CONFIG_MEM_NO_HUGE) {
		if (want(d, "hugepages")) {
			struct sluice_doctor_result *res = add(
				d, "hugepages",
				d->any_pci ? SLUICE_DOCTOR_FAIL : SLUICE_DOCTOR_WARN,
				"eal.memory = no-huge: ordinary pages, fine for virtual devices in "
				"tests and demos%s",
				d->any_pci ? "; a PCI port needs hugepages for DMA" : "");
			fix(res,
			    "set eal.memory = huge in %s, then reserve hugepages as "
			    "sluicectl doctor says",
			    d->file);
		}
		return;
	}
	if (cfg->eal.memory == SLUICE_CONFIG_MEM_HUGE && want(d, "hugepages.mount")) {
		if (hugetlbfs_mounted(d)) {
			add(d, "hugepages.mount", SLUICE_DOCTOR_PASS, "hugetlbfs is mounted");
		} else {
			struct sluice_doctor_result *res =
				add(d, "hugepages.mount", SLUICE_DOCTOR_FAIL,
				    "no hugetlbfs mount: EAL cannot map hugepages with eal.memory "
				    "= huge");
			fix(res,
			    "systemctl enable --now dev-hugepages.mount   # or: mount -t "
			    "hugetlbfs nodev /dev/hugepages");
		}
	}
	memory_plan(d, need);
	sluice_host_nodes(d->root, &nodes);
	for (int node = 0; node < SLUICE_HOST_MAX_NODES; node++) {
		struct huge_pool pools[4];
		char name[32], dir[128], a[32], b[32], pools_txt[256] = "";
		uint64_t want_b =
			need[node].mbufs + need[node].batches + need[node].writers + need[node].eal;
		uint64_t have_b = 0;
		unsigned np;
		size_t used = 0;

		if (!sluice_host_cpuset_has(&nodes, (unsigned)node) && want_b == 0)
			continue;
		snprintf(name, sizeof(name), "hugepages.node%d", node);
		if (!want(d, name))
			continue;
		np = huge_pools(d, node, pools, 4, dir, sizeof(dir));
		for (unsigned i = 0; i < np; i++) {
			/* A running sluiced holds its share already: count what is reserved. */
			long pages = d->daemon ? pools[i].nr : pools[i].free_pages;
			int n;
			have_b += (uint64_t)pages * pools[i].kb * 1024;
			n = snprintf(pools_txt + used, sizeof(pools_txt) - used,
				     "%s%ld of %ld %lu kB pages %s", used ? ", " : "", pages,
				     pools[i].nr, pools[i].kb, d->daemon ? "reserved" : "free");
			if (n > 0 && used + (size_t)n < sizeof(pools_txt))
				used += (size_t)n;
		}
		fmt_mib(a, sizeof(a), have_b);
		fmt_mib(b, sizeof(b), want_b);
		if (want_b == 0) {
			add(d, name, SLUICE_DOCTOR_PASS,
			    "node %d: nothing of sluice's is placed here (%s)", node,
			    np ? pools_txt : "no hugepages");
		} else if (have_b >= want_b) {
			add(d, name, SLUICE_DOCTOR_PASS,
			    "node %d: %s of hugepages %s, the configuration needs %s (%s)", node, a,
			    d->daemon ? "reserved" : "free", b, pools_txt);
		} else {
			char m[32], bt[32], wr[32];
			long pages2m = 0, total2m = 0;
			uint64_t deficit = want_b - have_b;
			struct sluice_doctor_result *res;

			for (unsigned i = 0; i < np; i++)
				if (pools[i].kb == 2048)
					pages2m = pools[i].nr;
			total2m = pages2m + (long)((deficit + HUGE_2M - 1) / HUGE_2M);
			fmt_mib(m, sizeof(m), need[node].mbufs);
			fmt_mib(bt, sizeof(bt), need[node].batches);
			fmt_mib(wr, sizeof(wr), need[node].writers);
			res = add(d, name, SLUICE_DOCTOR_FAIL,
				  "node %d: %s of hugepages %s, the configuration needs %s (mbufs "
				  "%s, "
				  "batch buffers %s, write buffers %s, EAL %s)",
				  node, a, d->daemon ? "reserved" : "free", b, m, bt, wr,
				  need[node].eal ? "64 MiB" : "0");
			fix(res, "echo %ld > %s/hugepages-2048kB/nr_hugepages", total2m, dir);
			fix(res,
			    "echo 'node%d = %ld' >> /etc/sluice/hugepages.conf   # kept at boot by "
			    "sluice-hugepages.service",
			    node, total2m);
		}
	}
}

/* ---------------------------------------------------------------------------------------- */
/* IOMMU, kernel modules, ports                                                               */

static bool dir_has_entries(const struct doc *d, const char *dir)
{
	char path[PATH_MAX];
	struct dirent *e;
	bool any = false;
	DIR *dh;

	snprintf(path, sizeof(path), "%s%s", d->root, dir);
	dh = opendir(path);
	if (!dh)
		return false;
	while (!any && (e = readdir(dh)))
		any = e->d_name[0] != '.';
	closedir(dh);
	return any;
}

static bool cpu_vendor_is(const struct doc *d, const char *vendor)
{
	char path[PATH_MAX], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proc/cpuinfo", d->root);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "vendor_id", 9) == 0) {
			found = strstr(line, vendor) != NULL;
			break;
		}
	fclose(f);
	return found;
}

/* NVIDIA/Mellanox NICs are driven through their kernel driver (bifurcated), not vfio. */
static bool pci_is_mlx(const struct doc *d, const char *addr)
{
	char path[PATH_MAX], v[32];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", addr);
	return sluice_host_read(d->root, path, v, sizeof(v)) > 0 && strcmp(v, "0x15b3") == 0;
}

static void check_iommu(struct doc *d)
{
	struct sluice_doctor_result *res;
	char v[16] = "";
	bool vfio_port = false;

	if (!want(d, "iommu"))
		return;
	for (uint32_t p = 0; p < d->cfg->nports; p++) {
		char addr[64];
		if (!d->cfg->ports[p].pci)
			continue;
		sluice_host_pci_normalize(d->cfg->ports[p].device, addr, sizeof(addr));
		vfio_port = vfio_port || !pci_is_mlx(d, addr);
	}
	if (!vfio_port) {
		add(d, "iommu", SLUICE_DOCTOR_PASS,
		    "no port needs vfio-pci (no PCI port, or only bifurcated mlx5 ones)");
		return;
	}
	if (dir_has_entries(d, "/sys/kernel/iommu_groups")) {
		add(d, "iommu", SLUICE_DOCTOR_PASS, "the IOMMU is on (%s is not empty)",
		    "/sys/kernel/iommu_groups");
		return;
	}
	sluice_host_read(d->root, "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", v,
			 sizeof(v));
	if (v[0] == 'Y' || v[0] == '1') {
		res = add(
			d, "iommu", SLUICE_DOCTOR_WARN,
			"no IOMMU; vfio runs in no-IOMMU mode: the NIC can DMA anywhere in memory "
			"(acceptable on a dedicated appliance VM only)");
	} else {
		res = add(d, "iommu", SLUICE_DOCTOR_FAIL,
			  "no IOMMU groups: vfio-pci cannot take the NIC (turn the IOMMU on in "
			  "firmware and on the kernel command line)");
	}
	fix(res,
	    "sed -i 's/^GRUB_CMDLINE_LINUX=\"/&%s iommu=pt /' /etc/default/grub && update-grub "
	    "&& reboot",
	    cpu_vendor_is(d, "AuthenticAMD") ? "amd_iommu=on" : "intel_iommu=on");
	if (res->status == SLUICE_DOCTOR_FAIL)
		fix(res,
		    "# a VM without a virtual IOMMU: echo 1 > "
		    "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode");
}

static bool module_loaded(const struct doc *d, const char *mod, const char *driver)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/module/%s", mod);
	if (sluice_host_exists(d->root, path))
		return true;
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s", driver);
	return sluice_host_exists(d->root, path);
}

static void check_modules(struct doc *d)
{
	char missing[128] = "", load[256] = "";
	bool need_vfio = false, need_mlx = false;
	struct sluice_doctor_result *res;

	if (!want(d, "kernel.modules"))
		return;
	for (uint32_t p = 0; p < d->cfg->nports; p++) {
		char addr[64];
		if (!d->cfg->ports[p].pci)
			continue;
		sluice_host_pci_normalize(d->cfg->ports[p].device, addr, sizeof(addr));
		if (pci_is_mlx(d, addr))
			need_mlx = true;
		else
			need_vfio = true;
	}
	if (!need_vfio && !need_mlx) {
		add(d, "kernel.modules", SLUICE_DOCTOR_PASS,
		    "no PCI port: no kernel module needed for the ports");
		return;
	}
	if (need_vfio && !module_loaded(d, "vfio_pci", "vfio-pci")) {
		snprintf(missing, sizeof(missing), "vfio-pci");
		snprintf(load, sizeof(load), "vfio-pci");
	}
	if (need_mlx &&
	    !(module_loaded(d, "mlx5_core", "mlx5_core") &&
	      module_loaded(d, "ib_uverbs", "ib_uverbs"))) {
		size_t n = strlen(missing);
		snprintf(missing + n, sizeof(missing) - n, "%smlx5_core ib_uverbs", n ? " " : "");
		n = strlen(load);
		snprintf(load + n, sizeof(load) - n, "%smlx5_ib", n ? " " : "");
	}
	if (!missing[0]) {
		add(d, "kernel.modules", SLUICE_DOCTOR_PASS, "%s%s%s loaded",
		    need_vfio ? "vfio-pci" : "", need_vfio && need_mlx ? " and " : "",
		    need_mlx ? "mlx5_core, ib_uverbs" : "");
		return;
	}
	res = add(d, "kernel.modules", SLUICE_DOCTOR_FAIL,
		  "not loaded: %s (the ports' poll-mode drivers need them)", missing);
	fix(res, "modprobe -a %s", load);
	fix(res, "printf '%%s\\n' %s > /etc/modules-load.d/sluice-nic.conf   # at every boot",
	    load);
}

/* The kernel interface name of a PCI network device, "" when it has none (bound to vfio). */
static void pci_netdev(const struct doc *d, const char *addr, char *out, size_t len)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dh;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/net", d->root, addr);
	dh = opendir(path);
	if (!dh)
		return;
	while ((e = readdir(dh)))
		if (e->d_name[0] != '.') {
			copy_str(out, len, e->d_name);
			break;
		}
	closedir(dh);
}

static void pci_driver(const struct doc *d, const char *addr, char *out, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/driver", d->root, addr);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	copy_str(out, len, strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
}

/* Devices sharing @p addr's IOMMU group that are bound to something other than vfio-pci. */
static void iommu_group_mates(const struct doc *d, const char *addr, char *out, size_t len)
{
	char path[PATH_MAX];
	struct dirent *e;
	size_t used = 0;
	DIR *dh;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/iommu_group/devices", d->root,
		 addr);
	dh = opendir(path);
	if (!dh)
		return;
	while ((e = readdir(dh))) {
		char drv[64], cls[32], cpath[PATH_MAX];
		int n;

		if (e->d_name[0] == '.' || strcmp(e->d_name, addr) == 0)
			continue;
		pci_driver(d, e->d_name, drv, sizeof(drv));
		/* Bridges stay with pcieport; unbound devices are fine. */
		snprintf(cpath, sizeof(cpath), "/sys/bus/pci/devices/%s/class", e->d_name);
		if (sluice_host_read(d->root, cpath, cls, sizeof(cls)) > 0 &&
		    strncmp(cls, "0x0604", 6) == 0)
			continue;
		if (!drv[0] || strcmp(drv, "vfio-pci") == 0)
			continue;
		n = snprintf(out + used, len - used, "%s%s (%s)", used ? ", " : "", e->d_name, drv);
		if (n > 0 && used + (size_t)n < len)
			used += (size_t)n;
	}
	closedir(dh);
}

static void check_port_driver(struct doc *d, uint32_t p)
{
	const struct sluice_config_port *port = &d->cfg->ports[p];
	struct sluice_doctor_result *res;
	char name[96], addr[64], path[PATH_MAX], drv[64], netdev[64], iface[64];

	snprintf(name, sizeof(name), "port.%s.driver", port->name);
	if (!want(d, name))
		return;
	if (!port->pci) {
		if (sluice_host_vdev_iface(port, iface, sizeof(iface)) == 0) {
			snprintf(path, sizeof(path), "/sys/class/net/%s", iface);
			if (sluice_host_exists(d->root, path)) {
				add(d, name, SLUICE_DOCTOR_PASS,
				    "%s reads kernel interface %s, which exists", port->device,
				    iface);
			} else {
				res = add(d, name, SLUICE_DOCTOR_FAIL,
					  "%s reads kernel interface %s, which does not exist",
					  port->device, iface);
				fix(res, "ip -br link   # then set iface= in [port.%s] args",
				    port->name);
			}
			return;
		}
		add(d, name, SLUICE_DOCTOR_PASS, "%s is a virtual device: no driver to bind",
		    port->device);
		return;
	}
	sluice_host_pci_normalize(port->device, addr, sizeof(addr));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", addr);
	if (!sluice_host_exists(d->root, path)) {
		res = add(d, name, SLUICE_DOCTOR_FAIL, "no PCI device %s on this host", addr);
		fix(res,
		    "lspci -D -nn | grep -i -e ethernet -e network   # then set [port.%s] "
		    "device in %s",
		    port->name, d->file);
		return;
	}
	pci_driver(d, addr, drv, sizeof(drv));
	pci_netdev(d, addr, netdev, sizeof(netdev));
	if (pci_is_mlx(d, addr)) {
		if (strcmp(drv, "mlx5_core") == 0) {
			add(d, name, SLUICE_DOCTOR_PASS,
			    "%s: mlx5 NIC on its kernel driver mlx5_core (bifurcated: no binding)",
			    addr);
			return;
		}
		res = add(d, name, SLUICE_DOCTOR_FAIL,
			  "%s: mlx5 NIC bound to %s; its DPDK driver needs the kernel's mlx5_core",
			  addr, drv[0] ? drv : "nothing");
		fix(res, "driverctl unset-override %s", addr);
		return;
	}
	if (strcmp(drv, "vfio-pci") == 0) {
		char mates[512], conf[PATH_MAX], saved[64] = "";
		bool persistent;

		snprintf(conf, sizeof(conf), "/etc/driverctl.d/pci-%s", addr);
		persistent = sluice_host_read(d->root, conf, saved, sizeof(saved)) > 0 &&
			strcmp(saved, "vfio-pci") == 0;
		iommu_group_mates(d, addr, mates, sizeof(mates));
		if (mates[0]) {
			res = add(
				d, name, SLUICE_DOCTOR_FAIL,
				"%s is bound to vfio-pci but shares its IOMMU group with %s: vfio "
				"refuses a group that is not wholly bound",
				addr, mates);
			fix(res, "driverctl set-override <each address above> vfio-pci");
			return;
		}
		if (!persistent) {
			res = add(d, name, SLUICE_DOCTOR_WARN,
				  "%s is bound to vfio-pci, but not persistently: the next boot "
				  "gives it back to its kernel driver",
				  addr);
			fix(res, "driverctl set-override %s vfio-pci", addr);
			return;
		}
		add(d, name, SLUICE_DOCTOR_PASS, "%s is bound to vfio-pci (driverctl override)",
		    addr);
		return;
	}
	if (strcmp(drv, "uio_pci_generic") == 0 || strcmp(drv, "igb_uio") == 0) {
		res = add(d, name, SLUICE_DOCTOR_WARN,
			  "%s is bound to %s: works, without IOMMU protection and interrupts", addr,
			  drv);
		fix(res, "driverctl set-override %s vfio-pci", addr);
		return;
	}
	res = add(d, name, SLUICE_DOCTOR_FAIL, "%s is %s%s%s%s: DPDK cannot drive it", addr,
		  drv[0] ? "bound to the kernel driver " : "bound to no driver", drv,
		  netdev[0] ? " as interface " : "", netdev);
	if (netdev[0])
		fix(res, "ip link set dev %s down", netdev);
	fix(res,
	    "driverctl set-override %s vfio-pci   # persistent; dpdk-devbind.py -b vfio-pci "
	    "%s for this boot only",
	    addr, addr);
}

struct numa_msg {
	uint32_t port;
	char msg[1024];
};

static void numa_msg(void *arg, uint32_t port, const char *msg)
{
	struct numa_msg *m = arg;

	if (port == m->port)
		snprintf(m->msg, sizeof(m->msg), "%s", msg);
}

static void check_port_numa(struct doc *d, uint32_t p)
{
	const struct sluice_config_port *port = &d->cfg->ports[p];
	struct numa_msg m = {.port = p};
	struct sluice_doctor_result *res;
	struct sluice_host_cpuset cpus, avail;
	char name[96], what[192], list[256];
	size_t used;
	unsigned c = 0;
	int node;

	snprintf(name, sizeof(name), "port.%s.numa", port->name);
	if (!want(d, name))
		return;
	node = sluice_host_port_node(d->root, port, what, sizeof(what));
	if (node == -ENODEV) {
		add(d, name, SLUICE_DOCTOR_PASS, "%s is not on this host: see port.%s.driver", what,
		    port->name);
		return;
	}
	if (node < 0) {
		add(d, name, SLUICE_DOCTOR_PASS,
		    "%s has no NUMA node (virtual device, or a single-node machine)", what);
		return;
	}
	/* The same judgement sluiced logs at start. */
	sluice_host_numa_check(d->root, d->cfg, numa_msg, &m);
	if (!m.msg[0]) {
		add(d, name, SLUICE_DOCTOR_PASS,
		    "%s is on node %d, and so are the workers polling it", what, node);
		return;
	}
	res = add(d, name, SLUICE_DOCTOR_WARN, "%s", m.msg);
	if (sluice_host_node_cpus(d->root, node, &cpus) != 0)
		return;
	/* Suggest a map: the main lcore where it is, workers on free CPUs of the port's node. */
	cpuset_andnot(&avail, &cpus, &d->main_cpus);
	cpuset_andnot(&avail, &avail, &d->writer_cpus);
	used = (size_t)snprintf(list, sizeof(list), "%u@%u", d->cfg->eal.main_lcore,
				first_cpu(&d->main_cpus));
	for (uint32_t w = 0; w < d->cfg->eal.nworker_lcores && used < sizeof(list); w++) {
		while (c < SLUICE_HOST_MAX_CPUS && !sluice_host_cpuset_has(&avail, c))
			c++;
		if (c == SLUICE_HOST_MAX_CPUS)
			break;
		used += (size_t)snprintf(list + used, sizeof(list) - used, ",%u@%u",
					 d->cfg->eal.worker_lcore[w], c++);
	}
	fix(res, "set eal.lcores = %s in %s", list, d->file);
}

static void check_ports(struct doc *d)
{
	for (uint32_t p = 0; p < d->cfg->nports; p++) {
		check_port_driver(d, p);
		check_port_numa(d, p);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* CPUs                                                                                       */

static void check_cpu_isolation(struct doc *d)
{
	struct sluice_host_cpuset iso, nohz, rcu, missing, tmp, online, house;
	char buf[4096], cmdline[8192] = "", v[1024], w[256], m[256], hk[256];
	struct sluice_doctor_result *res;

	if (!want(d, "cpu.isolation"))
		return;
	memset(&iso, 0, sizeof(iso));
	memset(&nohz, 0, sizeof(nohz));
	memset(&rcu, 0, sizeof(rcu));
	if (sluice_host_read(d->root, "/sys/devices/system/cpu/isolated", buf, sizeof(buf)) > 0)
		sluice_host_cpuset_parse(buf, &iso);
	/* "(null)" when nohz_full was not given. */
	if (sluice_host_read(d->root, "/sys/devices/system/cpu/nohz_full", buf, sizeof(buf)) > 0 &&
	    isdigit((unsigned char)buf[0]))
		sluice_host_cpuset_parse(buf, &nohz);
	sluice_host_read(d->root, "/proc/cmdline", cmdline, sizeof(cmdline));
	if (cmdline_param(cmdline, "rcu_nocbs", v, sizeof(v)))
		sluice_host_cpuset_parse(v, &rcu);
	/* nohz_full CPUs are RCU callback offloaded too. */
	cpuset_or(&rcu, &nohz);
	cpuset_and(&tmp, &iso, &nohz);
	cpuset_and(&tmp, &tmp, &rcu);
	cpuset_andnot(&missing, &d->worker_cpus, &tmp);
	sluice_host_cpuset_format(&d->worker_cpus, w, sizeof(w));
	if (sluice_host_cpuset_count(&missing) == 0) {
		add(d, "cpu.isolation", SLUICE_DOCTOR_PASS,
		    "worker CPUs %s are isolated (isolcpus, nohz_full, rcu_nocbs)", w);
		return;
	}
	sluice_host_cpuset_format(&missing, m, sizeof(m));
	res = add(d, "cpu.isolation", SLUICE_DOCTOR_WARN,
		  "worker CPUs %s are not all isolated (isolcpus %s, nohz_full %s, rcu_nocbs %s): "
		  "the scheduler, timer ticks and RCU callbacks interrupt polling workers%s",
		  m, sluice_host_cpuset_count(&iso) ? "set" : "none",
		  sluice_host_cpuset_count(&nohz) ? "set" : "none",
		  sluice_host_cpuset_count(&rcu) ? "set" : "none",
		  d->cfg->dataplane.idle_sleep ? " (dataplane.idle_sleep = true: shared cores "
						 "are expected)"
					       : "");
	memset(&online, 0, sizeof(online));
	if (sluice_host_read(d->root, "/sys/devices/system/cpu/online", buf, sizeof(buf)) > 0)
		sluice_host_cpuset_parse(buf, &online);
	cpuset_andnot(&house, &online, &d->worker_cpus);
	sluice_host_cpuset_format(&house, hk, sizeof(hk));
	fix(res,
	    "sed -i 's/^GRUB_CMDLINE_LINUX=\"/&isolcpus=managed_irq,domain,%s nohz_full=%s "
	    "rcu_nocbs=%s irqaffinity=%s /' /etc/default/grub && update-grub && reboot",
	    w, w, w, hk[0] ? hk : "0");
}

static void check_cpu_sharing(struct doc *d)
{
	const struct sluice_config *cfg = d->cfg;
	char issues[768] = "", cpus[64];
	struct sluice_doctor_result *res;
	bool dedicated = !cfg->dataplane.idle_sleep;
	size_t used = 0;
	unsigned n = 0;

#define ISSUE(...)                                                                               \
	do {                                                                                     \
		int k_ = snprintf(issues + used, sizeof(issues) - used, "%s", used ? "; " : ""); \
		if (k_ > 0 && used + (size_t)k_ < sizeof(issues))                                \
			used += (size_t)k_;                                                      \
		k_ = snprintf(issues + used, sizeof(issues) - used, __VA_ARGS__);                \
		if (k_ > 0 && used + (size_t)k_ < sizeof(issues))                                \
			used += (size_t)k_;                                                      \
		n++;                                                                             \
	} while (0)

	if (!want(d, "cpu.sharing"))
		return;
	for (uint32_t w = 0; w < cfg->eal.nworker_lcores; w++) {
		struct sluice_host_cpuset mine, both;

		sluice_host_worker_cpus(cfg, w, &mine);
		sluice_host_cpuset_format(&mine, cpus, sizeof(cpus));
		if (sluice_host_cpuset_count(&mine) > 1)
			ISSUE("worker %u floats over CPUs %s", w, cpus);
		cpuset_and(&both, &mine, &d->main_cpus);
		if (sluice_host_cpuset_count(&both))
			ISSUE("worker %u shares CPU %s with the main lcore (control thread, "
			      "forwarder%s)",
			      w, cpus, cfg->storage.writer_cpus.n ? "" : ", unpinned writers");
		cpuset_and(&both, &mine, &d->writer_cpus);
		if (sluice_host_cpuset_count(&both))
			ISSUE("worker %u shares CPU %s with a storage writer", w, cpus);
		for (uint32_t o = 0; o < w; o++) {
			struct sluice_host_cpuset other;
			sluice_host_worker_cpus(cfg, o, &other);
			cpuset_and(&both, &mine, &other);
			if (sluice_host_cpuset_count(&both))
				ISSUE("workers %u and %u share CPU %s", o, w, cpus);
		}
	}
	if (n == 0 && cfg->storage.writer_cpus.n == 0) {
		sluice_host_cpuset_format(&d->main_cpus, cpus, sizeof(cpus));
		res = add(d, "cpu.sharing", SLUICE_DOCTOR_WARN,
			  "each worker has a CPU of its own, but storage.writer_cpus is empty: the "
			  "writers share the main lcore's CPU %s with the control thread and the "
			  "forwarder",
			  cpus);
		fix(res, "set storage.writer_cpus = <one free CPU per writer> in %s", d->file);
		return;
	}
	if (n == 0) {
		add(d, "cpu.sharing", SLUICE_DOCTOR_PASS,
		    "every worker has a CPU of its own, apart from the main lcore and the writers");
		return;
	}
	res = add(d, "cpu.sharing", dedicated ? SLUICE_DOCTOR_FAIL : SLUICE_DOCTOR_WARN, "%s%s",
		  issues,
		  dedicated ? " -- with dataplane.idle_sleep = false a worker never yields: "
			      "whatever shares its CPU starves"
			    : " (dataplane.idle_sleep = true: workers back off when idle)");
	fix(res,
	    "give each worker its own CPU in eal.lcores (e.g. 0@0,1@2,2@3) and the writers "
	    "others in storage.writer_cpus, in %s",
	    d->file);
}

static void check_cpu_governor(struct doc *d)
{
	struct sluice_host_cpuset cpus = d->worker_cpus, slow;
	char bad[256] = "", list[256], govs[128] = "";
	struct sluice_doctor_result *res;
	bool any_cpufreq = false;

	if (!want(d, "cpu.governor"))
		return;
	memset(&slow, 0, sizeof(slow));
	cpuset_or(&cpus, &d->writer_cpus);
	for (unsigned c = 0; c < SLUICE_HOST_MAX_CPUS; c++) {
		char path[96], g[64];
		if (!sluice_host_cpuset_has(&cpus, c))
			continue;
		snprintf(path, sizeof(path),
			 "/sys/devices/system/cpu/cpu%u/cpufreq/scaling_governor", c);
		if (sluice_host_read(d->root, path, g, sizeof(g)) <= 0)
			continue;
		any_cpufreq = true;
		if (strcmp(g, "performance") != 0) {
			sluice_host_cpuset_add(&slow, c);
			if (!strstr(govs, g) && strlen(govs) + strlen(g) + 2 < sizeof(govs)) {
				strcat(govs, govs[0] ? " " : "");
				strcat(govs, g);
			}
		}
	}
	sluice_host_cpuset_format(&cpus, list, sizeof(list));
	if (!any_cpufreq) {
		add(d, "cpu.governor", SLUICE_DOCTOR_PASS,
		    "no cpufreq on CPUs %s (fixed frequency, or a VM): nothing to tune", list);
		return;
	}
	if (sluice_host_cpuset_count(&slow) == 0) {
		add(d, "cpu.governor", SLUICE_DOCTOR_PASS,
		    "worker and writer CPUs %s run the performance governor", list);
		return;
	}
	sluice_host_cpuset_format(&slow, bad, sizeof(bad));
	res = add(d, "cpu.governor", SLUICE_DOCTOR_WARN,
		  "CPUs %s run the %s governor: a polling core's clock changes with load, and "
		  "so does its packet rate",
		  bad, govs);
	fix(res, "cpupower -c %s frequency-set -g performance   # package linux-cpupower", bad);
}

/* ---------------------------------------------------------------------------------------- */
/* Data directory                                                                             */

/* The data directory, or its nearest existing ancestor (sluiced creates the rest). */
static void existing_dir(const char *dir, char *out, size_t len)
{
	struct stat st;

	snprintf(out, len, "%s", dir);
	while (stat(out, &st) != 0 || !S_ISDIR(st.st_mode)) {
		char *slash = strrchr(out, '/');
		if (!slash || slash == out) {
			snprintf(out, len, "%s", slash == out ? "/" : ".");
			return;
		}
		*slash = '\0';
	}
}

static const char *fs_name(unsigned long type, int *verdict)
{
	static const struct {
		unsigned long magic;
		const char *name;
		int verdict; /* 0 pass, 1 warn, 2 fail */
	} fs[] = {
		{0xEF53, "ext4", 0},        {0x58465342, "xfs", 0},      {0x01021994, "tmpfs", 2},
		{0x858458f6, "ramfs", 2},   {0x9123683E, "btrfs", 1},    {0x6969, "nfs", 2},
		{0x794c7630, "overlay", 1}, {0x65735546, "fuse", 1},     {0x2fc12fc1, "zfs", 1},
		{0xF2F52010, "f2fs", 1},    {0x5346544e, "ntfs", 1},     {0x4d44, "vfat", 2},
		{0xFF534D42, "cifs", 2},    {0x73717368, "squashfs", 2},
	};

	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
		if (fs[i].magic == type) {
			*verdict = fs[i].verdict;
			return fs[i].name;
		}
	*verdict = 1;
	return NULL;
}

static void check_data_fs(struct doc *d, const char *dir)
{
	struct sluice_doctor_result *res;
	struct statfs sf;
	const char *name;
	int verdict;

	if (!want(d, "data_dir.fs"))
		return;
	if (statfs(dir, &sf) != 0) {
		res = add(d, "data_dir.fs", SLUICE_DOCTOR_FAIL, "statfs %s: %s", dir,
			  strerror(errno));
		fix(res, "mkdir -p %s", d->cfg->storage.data_dir);
		return;
	}
	name = fs_name((unsigned long)sf.f_type, &verdict);
	if (verdict == 0) {
		add(d, "data_dir.fs", SLUICE_DOCTOR_PASS, "%s is on %s", dir, name);
		return;
	}
	if (verdict == 2) {
		res = add(d, "data_dir.fs", SLUICE_DOCTOR_FAIL, "%s is on %s: %s", dir, name,
			  sf.f_type == 0x01021994 || sf.f_type == 0x858458f6
				  ? "memory, lost at every reboot; the log is meant to survive one"
				  : "not a local journaling file system; fdatasync and O_DIRECT "
				    "semantics are not what the log relies on");
	} else {
		res = add(d, "data_dir.fs", SLUICE_DOCTOR_WARN,
			  "%s is on %s (f_type 0x%lx): not tested with sluice (ext4 and xfs are)",
			  dir, name ? name : "an unknown file system", (unsigned long)sf.f_type);
	}
	fix(res,
	    "mkfs.xfs /dev/<nvme> && mount /dev/<nvme> /var/lib/sluice   # then set "
	    "storage.data_dir = /var/lib/sluice in %s",
	    d->file);
}

/* A file in @p dir nothing else sees: O_TMPFILE, or a named file unlinked at once. */
static int scratch_file(const char *dir, int flags)
{
	char path[PATH_MAX];
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC | flags, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd >= 0 ? fd : -errno;
	snprintf(path, sizeof(path), "%s/.sluice-doctor-%ld", dir, (long)getpid());
	fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | flags, 0600);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

static void check_data_direct(struct doc *d, const char *dir)
{
	uint32_t mode = d->cfg->storage.direct_io;
	struct sluice_doctor_result *res;
	void *buf = NULL;
	int fd, rc = 0;

	if (!want(d, "data_dir.direct_io"))
		return;
	if (mode == SLUICE_CONFIG_DIRECT_OFF) {
		add(d, "data_dir.direct_io", SLUICE_DOCTOR_PASS,
		    "storage.direct_io = off: buffered writes by choice");
		return;
	}
	fd = scratch_file(dir, O_DIRECT);
	if (fd < 0) {
		rc = fd;
	} else if (posix_memalign(&buf, 4096, 4096) != 0) {
		rc = -ENOMEM;
	} else {
		memset(buf, 0, 4096);
		if (pwrite(fd, buf, 4096, 0) != 4096)
			rc = -errno;
	}
	free(buf);
	if (fd >= 0)
		close(fd);
	if (rc == 0) {
		add(d, "data_dir.direct_io", SLUICE_DOCTOR_PASS,
		    "O_DIRECT writes work in %s: the writers bypass the page cache", dir);
		return;
	}
	if (rc == -EINVAL || rc == -EOPNOTSUPP) {
		res = add(d, "data_dir.direct_io",
			  mode == SLUICE_CONFIG_DIRECT_ON ? SLUICE_DOCTOR_FAIL : SLUICE_DOCTOR_WARN,
			  "%s does not take O_DIRECT writes: %s", dir,
			  mode == SLUICE_CONFIG_DIRECT_ON
				  ? "storage.direct_io = on, so the log will not open"
				  : "the writers fall back to buffered I/O (more CPU, page-cache "
				    "pressure)");
		fix(res,
		    "put storage.data_dir on ext4 or xfs (see data_dir.fs), or set "
		    "storage.direct_io = off in %s",
		    d->file);
		return;
	}
	res = add(d, "data_dir.direct_io", SLUICE_DOCTOR_FAIL, "cannot create a file in %s: %s",
		  dir, strerror(-rc));
	fix(res, "mkdir -p %s && chmod 750 %s", d->cfg->storage.data_dir, d->cfg->storage.data_dir);
}

/* Bytes in regular files under @p dir (one level of partition directories). */
static uint64_t dir_bytes(const char *dir)
{
	struct dirent *e;
	uint64_t total = 0;
	DIR *dh = opendir(dir);

	if (!dh)
		return 0;
	while ((e = readdir(dh))) {
		char path[PATH_MAX];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISREG(st.st_mode))
			total += (uint64_t)st.st_blocks * 512;
		else if (S_ISDIR(st.st_mode))
			total += dir_bytes(path);
	}
	closedir(dh);
	return total;
}

static void check_data_space(struct doc *d, const char *dir)
{
	const struct sluice_config *cfg = d->cfg;
	struct sluice_doctor_result *res;
	char unbounded[256] = "", a[32], b[32];
	uint64_t need = 0, avail, used_now, margin, size;
	uint32_t nparts = 0;
	struct statvfs vfs;
	size_t u = 0;

	if (!want(d, "data_dir.space"))
		return;
	if (statvfs(dir, &vfs) != 0) {
		res = add(d, "data_dir.space", SLUICE_DOCTOR_FAIL, "statvfs %s: %s", dir,
			  strerror(errno));
		fix(res, "mkdir -p %s", cfg->storage.data_dir);
		return;
	}
	for (uint32_t t = 0; t < cfg->ntopics; t++) {
		const struct sluice_config_topic *tp = &cfg->topics[t];
		nparts += tp->partitions;
		if (tp->retention_bytes == 0) {
			int n = snprintf(unbounded + u, sizeof(unbounded) - u, "%s%s",
					 u ? ", " : "", tp->name);
			if (n > 0 && u + (size_t)n < sizeof(unbounded))
				u += (size_t)n;
			continue;
		}
		/* Retention deletes whole segments: the active one comes on top. */
		need += (uint64_t)tp->partitions * (tp->retention_bytes + tp->segment_bytes);
	}
	size = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	used_now = dir_bytes(cfg->storage.data_dir);
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize + used_now;
	/* /health fails below control.health_min_free_percent: keep that free too. */
	margin = size / 100 * cfg->control.health_min_free_percent;
	fmt_mib(a, sizeof(a), avail);
	fmt_mib(b, sizeof(b), need + margin);
	if (need + margin > avail) {
		uint64_t per = nparts ? (avail > margin ? (avail - margin) / nparts : 0) : 0;
		res = add(d, "data_dir.space", SLUICE_DOCTOR_FAIL,
			  "%s has %s for the log (free + already used), retention needs %s "
			  "(retention_bytes + one segment per partition, + %u%% kept free for "
			  "/health)",
			  dir, a, b, cfg->control.health_min_free_percent);
		fix(res,
		    "lower topic.<name>.retention_bytes (and segment_bytes) in %s to fit about "
		    "%" PRIu64 " MiB per partition over %u partitions, or give the log a bigger "
		    "disk",
		    d->file, (uint64_t)(per / MB), nparts);
		return;
	}
	if (unbounded[0]) {
		res = add(d, "data_dir.space", SLUICE_DOCTOR_WARN,
			  "topics %s have retention_bytes = 0: their size is bounded only by "
			  "retention_age and the ingest rate (%s available)",
			  unbounded, a);
		fix(res, "set topic.<name>.retention_bytes in %s so that all partitions fit in %s",
		    d->file, a);
		return;
	}
	add(d, "data_dir.space", SLUICE_DOCTOR_PASS, "%s has %s for the log, retention needs %s",
	    dir, a, b);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void check_data_fsync(struct doc *d, const char *dir)
{
	const struct sluice_config *cfg = d->cfg;
	unsigned n = d->o->fsync_samples ? d->o->fsync_samples : 16;
	uint64_t lat[256], min_flush_us = UINT64_MAX;
	const char *min_topic = NULL;
	struct sluice_doctor_result *res;
	char block[4096];
	int fd;

	if (!want(d, "data_dir.fdatasync"))
		return;
	if (n > 256)
		n = 256;
	for (uint32_t t = 0; t < cfg->ntopics; t++)
		if (cfg->topics[t].fsync && cfg->topics[t].flush_interval_us < min_flush_us) {
			min_flush_us = cfg->topics[t].flush_interval_us;
			min_topic = cfg->topics[t].name;
		}
	fd = scratch_file(dir, 0);
	if (fd < 0) {
		res = add(d, "data_dir.fdatasync", SLUICE_DOCTOR_FAIL,
			  "cannot create a file in %s: %s", dir, strerror(-fd));
		fix(res, "mkdir -p %s", cfg->storage.data_dir);
		return;
	}
	memset(block, 0xa5, sizeof(block));
	for (unsigned i = 0; i < n; i++) {
		/* An append plus its sync: what one group commit costs at the least. */
		uint64_t t0 = sluice_mono_ns();
		if (pwrite(fd, block, sizeof(block), (off_t)i * sizeof(block)) !=
			    (ssize_t)sizeof(block) ||
		    fdatasync(fd) != 0) {
			int e = errno;
			close(fd);
			res = add(d, "data_dir.fdatasync", SLUICE_DOCTOR_FAIL,
				  "write + fdatasync in %s failed: %s", dir, strerror(e));
			fix(res, "dmesg | tail   # a failing disk?");
			return;
		}
		lat[i] = sluice_mono_ns() - t0;
	}
	close(fd);
	qsort(lat, n, sizeof(lat[0]), cmp_u64);
	{
		double p50 = (double)lat[n / 2] / 1e3, worst = (double)lat[n - 1] / 1e3;

		if (!min_topic) {
			add(d, "data_dir.fdatasync", SLUICE_DOCTOR_PASS,
			    "append + fdatasync p50 %.0f us, max %.0f us (%u samples); no topic "
			    "syncs (fsync = false)",
			    p50, worst, n);
			return;
		}
		if (p50 <= (double)min_flush_us) {
			add(d, "data_dir.fdatasync", SLUICE_DOCTOR_PASS,
			    "append + fdatasync p50 %.0f us, max %.0f us (%u samples), within "
			    "topic.%s.flush_interval = %" PRIu64 " us",
			    p50, worst, n, min_topic, min_flush_us);
			return;
		}
		res = add(d, "data_dir.fdatasync", SLUICE_DOCTOR_WARN,
			  "append + fdatasync p50 %.0f us, max %.0f us (%u samples) is longer than "
			  "topic.%s.flush_interval = %" PRIu64
			  " us: group commits run back to back and data becomes durable (and "
			  "forwarded) later than configured",
			  p50, worst, n, min_topic, min_flush_us);
		fix(res,
		    "set topic.%s.flush_interval = %.0fms (or more) in %s, or use a disk with a "
		    "power-loss-protected write cache (NVMe)",
		    min_topic, p50 / 1000.0 + 1, d->file);
	}
}

static void check_data_dir(struct doc *d)
{
	char dir[PATH_MAX];

	existing_dir(d->cfg->storage.data_dir, dir, sizeof(dir));
	check_data_fs(d, dir);
	check_data_direct(d, dir);
	check_data_space(d, dir);
	check_data_fsync(d, dir);
}

/* ---------------------------------------------------------------------------------------- */
/* memlock                                                                                    */

static int read_memlock(const struct doc *d, const char *pid, uint64_t *soft, bool *unlimited)
{
	char path[PATH_MAX], line[512];
	int rc = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proc/%s/limits", d->root, pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char v[64];
		if (strncmp(line, "Max locked memory", 17) != 0)
			continue;
		if (sscanf(line + 17, "%63s", v) != 1)
			break;
		*unlimited = strcmp(v, "unlimited") == 0;
		*soft = *unlimited ? UINT64_MAX : strtoull(v, NULL, 10);
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

static bool has_cap(const struct doc *d, const char *pid, unsigned bit)
{
	char path[PATH_MAX], line[512];
	bool yes = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proc/%s/status", d->root, pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "CapEff:", 7) == 0) {
			yes = (strtoull(line + 7, NULL, 16) >> bit) & 1;
			break;
		}
	fclose(f);
	return yes;
}

static void check_memlock(struct doc *d)
{
	const struct sluice_config *cfg = d->cfg;
	struct sluice_doctor_result *res;
	char pid[32], a[32], b[32];
	uint64_t need = 0, soft = 0;
	uint32_t nparts = 0;
	bool unlimited = false, ipc_lock;
	const char *who;

	if (!want(d, "memlock"))
		return;
	if (d->daemon && d->daemon_pid > 0) {
		snprintf(pid, sizeof(pid), "%ld", d->daemon_pid);
		who = "the running sluiced";
	} else {
		snprintf(pid, sizeof(pid), "self");
		who = "this shell (the packaged unit sets LimitMEMLOCK=infinity)";
	}
	for (uint32_t t = 0; t < cfg->ntopics; t++)
		nparts += cfg->topics[t].partitions;
	/* io_uring registered write buffers (queue_depth + 1 per partition), and with vfio
	 * every page of DPDK memory is pinned for DMA. */
	need = (uint64_t)nparts * (cfg->storage.queue_depth + 1) * cfg->storage.write_buffer_bytes;
	if (d->any_vfio) {
		struct node_need nn[SLUICE_HOST_MAX_NODES];
		memory_plan(d, nn);
		for (unsigned i = 0; i < SLUICE_HOST_MAX_NODES; i++)
			need += nn[i].mbufs + nn[i].batches + nn[i].eal;
	}
	if (read_memlock(d, pid, &soft, &unlimited) != 0) {
		res = add(d, "memlock", SLUICE_DOCTOR_WARN, "cannot read %s/proc/%s/limits",
			  d->root, pid);
		fix(res, "ulimit -l");
		return;
	}
	ipc_lock = has_cap(d, pid, CAP_IPC_LOCK_BIT);
	fmt_mib(b, sizeof(b), need);
	if (unlimited || soft >= need) {
		if (unlimited)
			snprintf(a, sizeof(a), "unlimited");
		else
			fmt_mib(a, sizeof(a), soft);
		add(d, "memlock", SLUICE_DOCTOR_PASS,
		    "locked-memory limit of %s is %s; registered buffers%s need %s", who, a,
		    d->any_vfio ? " and vfio DMA mappings" : "", b);
		return;
	}
	fmt_mib(a, sizeof(a), soft);
	if (ipc_lock) {
		add(d, "memlock", SLUICE_DOCTOR_PASS,
		    "locked-memory limit of %s is %s (below the %s needed) but it has "
		    "CAP_IPC_LOCK, which lifts the limit",
		    who, a, b);
		return;
	}
	res = add(d, "memlock", SLUICE_DOCTOR_FAIL,
		  "locked-memory limit of %s is %s, without CAP_IPC_LOCK; registered write "
		  "buffers%s need %s",
		  who, a, d->any_vfio ? " and vfio DMA mappings" : "", b);
	fix(res, "ulimit -l unlimited   # before starting sluiced by hand");
	fix(res,
	    "systemctl edit sluice   # [Service] LimitMEMLOCK=infinity (the packaged unit "
	    "has it)");
}

/* ---------------------------------------------------------------------------------------- */
/* Kafka                                                                                      */

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

/* "host:port" of the first bootstrap server, for the nc command. */
static void first_broker(const char *brokers, char *host, size_t hl, char *port, size_t pl)
{
	char one[256];
	const char *p = strstr(brokers, "://");
	char *colon;

	p = p ? p + 3 : brokers;
	snprintf(one, sizeof(one), "%.*s", (int)strcspn(p, ","), p);
	colon = strrchr(one, ':');
	if (colon) {
		*colon = '\0';
		snprintf(port, pl, "%s", colon + 1);
	} else {
		snprintf(port, pl, "9092");
	}
	snprintf(host, hl, "%s", one);
}

static void check_kafka(struct doc *d)
{
	const struct sluice_config *cfg = d->cfg;
	const struct sluice_config_kafka *k = &cfg->kafka;
	const struct rd_kafka_metadata *md = NULL;
	struct sluice_doctor_result *res;
	char err[512], host[256], port[32];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_resp_err_t e;

	if (!want_group(d, "kafka."))
		return;
	if (sluice_config_forwarding(cfg) == SLUICE_CONFIG_FORWARD_OFF) {
		add(d, "kafka.reachable", SLUICE_DOCTOR_PASS,
		    "forwarding is off (store only): no Kafka to check");
		return;
	}
	if (sluice_config_forwarding(cfg) == SLUICE_CONFIG_FORWARD_EMBEDDED) {
		res = add(d, "kafka.reachable", SLUICE_DOCTOR_WARN,
			  "kafka.brokers = embedded: librdkafka's in-process mock cluster, for "
			  "demos and tests; nothing leaves this host");
		fix(res, "set kafka.brokers = <host:9092,host:9092,...> in %s", d->file);
		return;
	}
	first_broker(k->brokers, host, sizeof(host), port, sizeof(port));
	conf = rd_kafka_conf_new();
	if (!conf) {
		d->failed_alloc = true;
		return;
	}
	rd_kafka_conf_set_log_cb(conf, quiet_log);
	rd_kafka_conf_set(conf, "bootstrap.servers", k->brokers, err, sizeof(err));
	/* Security and client settings come from the same kafka.* keys the forwarder uses. */
	for (uint32_t i = 0; i < k->nprops; i++)
		rd_kafka_conf_set(conf, k->props[i].key, k->props[i].value, err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		res = add(d, "kafka.reachable", SLUICE_DOCTOR_FAIL, "Kafka client: %s", err);
		fix(res, "sluiced --check-config %s", d->file);
		return;
	}
	/* All topics: asking for one by name may auto-create it on the broker. */
	e = rd_kafka_metadata(rk, 1, NULL, &md, d->kafka_timeout_ms);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		res = add(d, "kafka.reachable", SLUICE_DOCTOR_FAIL,
			  "no metadata from %s within %d ms: %s", k->brokers, d->kafka_timeout_ms,
			  rd_kafka_err2str(e));
		fix(res,
		    "nc -vz %s %s   # reachable? then check kafka.brokers and the kafka.* "
		    "security settings in %s",
		    host, port, d->file);
		rd_kafka_destroy(rk);
		return;
	}
	add(d, "kafka.reachable", SLUICE_DOCTOR_PASS, "%d broker%s answered at %s", md->broker_cnt,
	    md->broker_cnt == 1 ? "" : "s", k->brokers);
	for (uint32_t t = 0; t < cfg->ntopics; t++) {
		const struct sluice_config_topic *tp = &cfg->topics[t];
		const char *kt = tp->kafka_topic[0] ? tp->kafka_topic : tp->name;
		const struct rd_kafka_metadata_topic *mt = NULL;
		char name[96];

		snprintf(name, sizeof(name), "kafka.topic.%s", tp->name);
		if (!want(d, name))
			continue;
		for (int i = 0; i < md->topic_cnt; i++)
			if (strcmp(md->topics[i].topic, kt) == 0)
				mt = &md->topics[i];
		if (!mt || mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
			res = add(d, name, SLUICE_DOCTOR_FAIL,
				  "Kafka has no topic %s; the forwarder sends topic %s's %u "
				  "partitions there",
				  kt, tp->name, tp->partitions);
			fix(res,
			    "kafka-topics.sh --bootstrap-server %s --create --topic %s "
			    "--partitions "
			    "%u --replication-factor 3",
			    k->brokers, kt, tp->partitions);
		} else if (mt->err) {
			res = add(d, name, SLUICE_DOCTOR_FAIL, "Kafka topic %s: %s", kt,
				  rd_kafka_err2str(mt->err));
			fix(res, "kafka-acls.sh --bootstrap-server %s --list --topic %s",
			    k->brokers, kt);
		} else if ((uint32_t)mt->partition_cnt < tp->partitions) {
			res = add(
				d, name, SLUICE_DOCTOR_FAIL,
				"Kafka topic %s has %d partitions, sluice's topic %s has %u: local "
				"partition p goes to Kafka partition p",
				kt, mt->partition_cnt, tp->name, tp->partitions);
			fix(res,
			    "kafka-topics.sh --bootstrap-server %s --alter --topic %s --partitions "
			    "%u",
			    k->brokers, kt, tp->partitions);
		} else if ((uint32_t)mt->partition_cnt > tp->partitions) {
			res = add(d, name, SLUICE_DOCTOR_WARN,
				  "Kafka topic %s has %d partitions, sluice's topic %s %u: Kafka "
				  "partitions %u..%d get nothing from sluice",
				  kt, mt->partition_cnt, tp->name, tp->partitions, tp->partitions,
				  mt->partition_cnt - 1);
			fix(res, "set topic.%s.partitions = %d in %s (a new count moves keys)",
			    tp->name, mt->partition_cnt, d->file);
		} else {
			add(d, name, SLUICE_DOCTOR_PASS,
			    "Kafka topic %s has the %u partitions of %s", kt, tp->partitions,
			    tp->name);
		}
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_destroy(rk);
}

/* ---------------------------------------------------------------------------------------- */
/* Run and print                                                                              */

int sluice_doctor_run(const struct sluice_doctor_opts *o, struct sluice_doctor_report **out)
{
	struct doc d = {0};
	struct sluice_doctor_report *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return -ENOMEM;
	d.o = o;
	d.r = r;
	d.root = o->root ? o->root : sluice_host_root();
	d.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
	d.kafka_timeout_ms = o->kafka_timeout_ms > 0 ? o->kafka_timeout_ms : 5000;
	check_daemon(&d);
	d.file = o->config_file    ? o->config_file
		: d.daemon_file[0] ? d.daemon_file
				   : SLUICE_DOCTOR_CONFIG;
	snprintf(r->config_file, sizeof(r->config_file), "%s", d.file);
	check_config(&d);
	check_cpu_features(&d);
	if (d.cfg) {
		place(&d);
		check_hugepages(&d);
		check_iommu(&d);
		check_modules(&d);
		check_ports(&d);
		check_cpu_isolation(&d);
		check_cpu_sharing(&d);
		check_cpu_governor(&d);
		check_data_dir(&d);
		check_memlock(&d);
		check_kafka(&d);
	}
	sluice_config_free(d.cfg);
	for (unsigned i = 0; i < r->n; i++)
		r->count[r->results[i].status]++;
	if (d.failed_alloc) {
		sluice_doctor_report_free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

static const char *const status_names[] = {"pass", "warn", "fail"};

void sluice_doctor_print(const struct sluice_doctor_report *r, FILE *out, bool json)
{
	if (json) {
		json_t *root = json_object(), *a = json_array();
		char *s;

		for (unsigned i = 0; i < r->n; i++) {
			const struct sluice_doctor_result *x = &r->results[i];
			json_t *fixes = json_array();
			const char *p = x->fix;

			while (*p) {
				size_t n = strcspn(p, "\n");
				json_array_append_new(fixes, json_stringn(p, n));
				p += n + (p[n] == '\n');
			}
			json_array_append_new(a,
					      json_pack("{s:s,s:s,s:s,s:o}", "name", x->name,
							"status", status_names[x->status], "detail",
							x->detail, "fix", fixes));
		}
		json_object_set_new(root, "config", json_string(r->config_file));
		json_object_set_new(root, "checks", a);
		json_object_set_new(root, "pass", json_integer(r->count[SLUICE_DOCTOR_PASS]));
		json_object_set_new(root, "warn", json_integer(r->count[SLUICE_DOCTOR_WARN]));
		json_object_set_new(root, "fail", json_integer(r->count[SLUICE_DOCTOR_FAIL]));
		s = json_dumps(root, JSON_INDENT(2));
		if (s)
			fprintf(out, "%s\n", s);
		free(s);
		json_decref(root);
		return;
	}
	for (unsigned i = 0; i < r->n; i++) {
		const struct sluice_doctor_result *x = &r->results[i];
		const char *p = x->fix;

		fprintf(out, "%-4s  %-22s %s\n",
			x->status == SLUICE_DOCTOR_PASS           ? "PASS"
				: x->status == SLUICE_DOCTOR_WARN ? "WARN"
								  : "FAIL",
			x->name, x->detail);
		while (*p) {
			size_t n = strcspn(p, "\n");
			fprintf(out, "      fix: %.*s\n", (int)n, p);
			p += n + (p[n] == '\n');
		}
	}
	fprintf(out, "%u passed, %u warning%s, %u failed (%s)\n", r->count[SLUICE_DOCTOR_PASS],
		r->count[SLUICE_DOCTOR_WARN], r->count[SLUICE_DOCTOR_WARN] == 1 ? "" : "s",
		r->count[SLUICE_DOCTOR_FAIL], r->config_file);
}

int sluice_doctor_main(int argc, char **argv, const char *socket, bool json, int timeout_ms)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"root", required_argument, NULL, 'r'},
		{"only", required_argument, NULL, 'o'},
		{"kafka-timeout", required_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sluice_doctor_opts o = {.socket = socket, .timeout_ms = timeout_ms};
	struct sluice_doctor_report *r;
	int opt;

	/* argv[0] is the first argument after "doctor"; getopt wants a program name there. */
	optind = 0;
	while ((opt = getopt_long(argc + 1, argv - 1, "c:jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o.config_file = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'r':
			o.root = optarg;
			break;
		case 'o':
			o.only = optarg;
			break;
		case 'k': {
			char *end;
			double sec = strtod(optarg, &end);
			if (*end || end == optarg || !(sec > 0 && sec <= 600)) {
				fprintf(stderr,
					"sluicectl: doctor: --kafka-timeout: expected seconds "
					"(0 < SEC <= 600), got '%s'\n",
					optarg);
				return 2;
			}
			o.kafka_timeout_ms = (int)(sec * 1000);
			break;
		}
		case 'h':
			printf("usage: sluicectl doctor [--config FILE] [--json] [--only PREFIX] "
			       "[--kafka-timeout SEC]\n"
			       "  checks this host for the configuration (default: the running "
			       "sluiced's, else %s)\n"
			       "  --only PREFIX        run the checks whose name starts with "
			       "PREFIX\n"
			       "  --kafka-timeout SEC  wait this long for the brokers (default 5)\n"
			       "  --root DIR           read sysfs and procfs under DIR (tests)\n"
			       "  exit status: 0 nothing failed, 1 a check failed, 2 usage\n",
			       SLUICE_DOCTOR_CONFIG);
			return 0;
		default:
			fprintf(stderr,
				"sluicectl: doctor: usage: doctor [--config FILE] [--json] "
				"[--only PREFIX] [--kafka-timeout SEC]\n");
			return 2;
		}
	}
	if (optind < argc + 1) {
		fprintf(stderr, "sluicectl: doctor: unexpected argument '%s'\n", argv[optind - 1]);
		return 2;
	}
	if (sluice_doctor_run(&o, &r) != 0) {
		fprintf(stderr, "sluicectl: doctor: out of memory\n");
		return 1;
	}
	sluice_doctor_print(r, stdout, json);
	opt = r->count[SLUICE_DOCTOR_FAIL] ? 1 : 0;
	sluice_doctor_report_free(r);
	return opt;
}
