/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Whole-config validation: every rule that spans keys or sections, run before any core starts
 * and before the data directory is touched.
 */
#include "config_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Validation                                                                                 */

/* Error about key @p key of instance (sec, idx), located where that key was set. */
__attribute__((format(printf, 5, 6))) static void key_error(struct sluice_config *cfg, unsigned sec,
							    unsigned idx, const char *key,
							    const char *fmt, ...)
{
	const char *file, *iname = instance_name(cfg, sec, idx);
	unsigned line;
	char what[256], reason[512];
	int ki = key ? find_key(sec, key) : -1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	origin_of(cfg, sec, idx, ki >= 0 ? (unsigned)ki : ORIGIN_HEADER, &file, &line);
	snprintf(what, sizeof(what), "%s%s%s%s%s", sections[sec].name, iname ? "." : "",
		 iname ? iname : "", key ? "." : "", key ? key : "");
	add_error(cfg, file, line, what, "%s", reason);
}

static bool is_pci_address(const char *s)
{
	unsigned a, b, c, d;
	char tail;

	return sscanf(s, "%x:%x:%x.%x%c", &a, &b, &c, &d, &tail) == 4 ||
		sscanf(s, "%x:%x.%x%c", &a, &b, &c, &tail) == 3;
}

static long online_cpus(const struct sluice_config *cfg)
{
	long n = cfg->online_cpus ? cfg->online_cpus : sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

static void validate_lcores(struct sluice_config *cfg)
{
	struct sluice_config_eal *e = &cfg->eal;
	uint32_t workers = cfg->dataplane.workers;
	long ncpu = online_cpus(cfg);
	struct lcore_map *m;
	char why[256];
	bool first = true;

	e->nworker_lcores = 0;
	if (strcmp(e->lcores, "auto") == 0) {
		size_t used;
		/* Main lcore on CPU 0, workers on 1, 2, ... wrapping over the online CPUs, so a
		 * two-CPU machine gets "0@0,1@1,2@0" for two workers. */
		e->main_lcore = 0;
		used = (size_t)snprintf(e->lcores_resolved, sizeof(e->lcores_resolved), "0@0");
		for (uint32_t w = 1; w <= workers && used < sizeof(e->lcores_resolved); w++) {
			used += (size_t)snprintf(e->lcores_resolved + used,
						 sizeof(e->lcores_resolved) - used, ",%u@%ld", w,
						 (long)w % ncpu);
			e->worker_lcore[e->nworker_lcores++] = (uint16_t)w;
		}
		return;
	}
	m = malloc(sizeof(*m));
	if (!m)
		return;
	if (parse_lcore_map(e->lcores, m, why, sizeof(why))) {
		key_error(cfg, SEC_EAL, 0, "lcores", "%s", why);
		goto out;
	}
	snprintf(e->lcores_resolved, sizeof(e->lcores_resolved), "%s", e->lcores);
	for (unsigned l = 0; l < SLUICE_CONFIG_MAX_LCORES; l++) {
		if (!set_has(m->lcores, l))
			continue;
		for (unsigned c = 0; c < SLUICE_CONFIG_MAX_CPUS; c++) {
			if (set_has(m->cpus_of[l], c) && (long)c >= ncpu)
				key_error(cfg, SEC_EAL, 0, "lcores",
					  "lcore %u: CPU %u does not exist (this machine has %ld "
					  "online CPUs)",
					  l, c, ncpu);
		}
		if (first) {
			e->main_lcore = l;
			first = false;
		} else if (e->nworker_lcores < workers) {
			e->worker_lcore[e->nworker_lcores++] = (uint16_t)l;
		}
	}
	if (e->nworker_lcores < workers)
		key_error(
			cfg, SEC_DATAPLANE, 0, "workers",
			"%u workers need %u lcores besides the main lcore %u, eal.lcores '%s' has "
			"%u",
			workers, workers, e->main_lcore, e->lcores, e->nworker_lcores);
out:
	free(m);
}

/*
 * Can files be created in @p dir? An unnamed O_TMPFILE proves it (read-only mounts and
 * immutable directories refuse it even for root, whom access() mostly waves through) and
 * leaves nothing behind. Filesystems without O_TMPFILE fall back to statvfs + access().
 * @return 0 or -errno.
 */
static int probe_writable(const char *dir)
{
	struct statvfs vfs;
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
		return -EROFS;
	return access(dir, W_OK | X_OK) == 0 ? 0 : -errno;
}

/* Probe that the data directory can be used, without creating anything in it. */
static void validate_data_dir(struct sluice_config *cfg)
{
	const char *dir = cfg->storage.data_dir;
	char path[SLUICE_CONFIG_PATH_MAX];
	struct stat st;
	int rc;

	if (dir[0] == '\0') {
		key_error(cfg, SEC_STORAGE, 0, "data_dir", "must not be empty");
		return;
	}
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			key_error(cfg, SEC_STORAGE, 0, "data_dir", "'%s' is not a directory", dir);
			return;
		}
		rc = probe_writable(dir);
		if (rc)
			key_error(cfg, SEC_STORAGE, 0, "data_dir", "'%s' is not writable: %s", dir,
				  strerror(-rc));
		return;
	}
	if (errno == ENOTDIR) {
		key_error(cfg, SEC_STORAGE, 0, "data_dir",
			  "cannot create '%s': a component of the path is not a directory", dir);
		return;
	}
	if (errno != ENOENT) {
		key_error(cfg, SEC_STORAGE, 0, "data_dir", "'%s': %s", dir, strerror(errno));
		return;
	}
	/* It will be created: the nearest existing ancestor must be a writable directory. */
	snprintf(path, sizeof(path), "%s", dir);
	for (;;) {
		char *slash = strrchr(path, '/');
		if (!slash) {
			snprintf(path, sizeof(path), ".");
		} else if (slash == path) {
			path[1] = '\0';
		} else {
			*slash = '\0';
		}
		if (stat(path, &st) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				key_error(cfg, SEC_STORAGE, 0, "data_dir",
					  "cannot create '%s': '%s' is not a directory", dir, path);
			} else if ((rc = probe_writable(path)) != 0) {
				key_error(cfg, SEC_STORAGE, 0, "data_dir",
					  "cannot create '%s': %s: %s", dir, path, strerror(-rc));
			}
			return;
		}
		if (errno != ENOENT) {
			key_error(cfg, SEC_STORAGE, 0, "data_dir", "cannot create '%s': %s: %s",
				  dir, path, strerror(errno));
			return;
		}
		if (strcmp(path, "/") == 0 || strcmp(path, ".") == 0)
			return;
	}
}

/* librdkafka's reason may quote the value: never let it show a secret. */
static void redact_in(char *text, size_t len, const char *value)
{
	size_t vl = strlen(value), rl = strlen(SLUICE_CONFIG_REDACTED);
	char *hit;

	if (vl == 0)
		return;
	while ((hit = strstr(text, value)) != NULL) {
		size_t tail = strlen(hit + vl);

		if ((size_t)(hit - text) + rl + tail >= len)
			tail = len - 1 - (size_t)(hit - text) - rl;
		memmove(hit + rl, hit + vl, tail);
		hit[rl + tail] = '\0';
		memcpy(hit, SLUICE_CONFIG_REDACTED, rl);
	}
}

static void validate_kafka(struct sluice_config *cfg)
{
	struct sluice_config_kafka *k = &cfg->kafka;
	struct sluice_fwd_kv kv[SLUICE_CONFIG_MAX_KAFKA_PROPS];
	uint32_t errors_before = cfg->nerrors;
	char errstr[512];
	uint32_t at;

	/* The forwarder's own table, the one its create applies at start, is the authority on
	 * its client settings; the keys that carry the exactly-once guarantee (acks,
	 * enable.idempotence, ...) are refused. Checked whether or not forwarding is on: the
	 * file is wrong either way. */
	for (uint32_t i = 0; i < k->nprops; i++) {
		const struct sluice_config_kafka_prop *p = &k->props[i];
		char what[160];

		snprintf(what, sizeof(what), "kafka.%s", p->key);
		errstr[0] = '\0';
		if (sluice_fwd_conf_check(p->key, p->value, errstr, sizeof(errstr))) {
			if (sluice_config_key_is_secret(what))
				redact_in(errstr, sizeof(errstr), p->value);
			add_error(cfg, p->file, p->line, what, "%s", errstr);
		}
		kv[i] = (struct sluice_fwd_kv){p->key, p->value};
	}
	/* Then the combinations (SASL needs a mechanism, a user and a password, ...). */
	if (k->nprops && cfg->nerrors == errors_before &&
	    sluice_fwd_conf_check_all(kv, k->nprops, errstr, sizeof(errstr), &at)) {
		for (uint32_t i = 0; i < k->nprops; i++) {
			char what[160];

			snprintf(what, sizeof(what), "kafka.%s", k->props[i].key);
			if (sluice_config_key_is_secret(what))
				redact_in(errstr, sizeof(errstr), k->props[i].value);
		}
		add_error(cfg, k->props[at].file, k->props[at].line, "kafka", "%s", errstr);
	}
	if (sluice_config_forwarding(cfg) == SLUICE_CONFIG_FORWARD_EMBEDDED) {
		/* The mock cluster gets one Kafka topic per local topic. */
		for (uint32_t i = 0; i < cfg->ntopics; i++) {
			const struct sluice_config_topic *t = &cfg->topics[i];
			const char *kt = t->kafka_topic[0] ? t->kafka_topic : t->name;

			for (uint32_t j = 0; j < i; j++) {
				const struct sluice_config_topic *u = &cfg->topics[j];
				if (strcmp(kt, u->kafka_topic[0] ? u->kafka_topic : u->name) == 0)
					key_error(cfg, SEC_TOPIC, i, "kafka_topic",
						  "Kafka topic '%s' is also [topic.%s]'s: the "
						  "embedded cluster holds one local topic per "
						  "Kafka topic",
						  kt, u->name);
			}
		}
	}
}

/* One level name or number as EAL's --log-level takes it (eal_parse_log_priority in DPDK
 * 22.11: a non-empty prefix of a level name, or a number). */
static bool eal_level_ok(const char *s)
{
	static const char *const names[] = {"emergency", "alert",  "critical", "error",
					    "warning",   "notice", "info",     "debug"};
	size_t n = strlen(s);
	unsigned long long v;
	char *end;

	if (n == 0)
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(names[i], s, n) == 0)
			return true;
	errno = 0;
	v = strtoull(s, &end, 0);
	return errno == 0 && *end == '\0' && isdigit((unsigned char)s[0]) && v >= 1 &&
		v < UINT32_MAX;
}

/*
 * What EAL would refuse at start, before any core runs: the --log-level value, and eal.args
 * options that sluiced derives from its own keys (a second, contradicting copy). EAL parses
 * the rest of eal.args itself.
 */
static void validate_eal(struct sluice_config *cfg)
{
	static const struct {
		const char *opt, *key;
	} owned[] = {
		{"-l", "eal.lcores"},
		{"-c", "eal.lcores"},
		{"--lcores", "eal.lcores"},
		{"--main-lcore", "eal.lcores"},
		{"--file-prefix", "eal.file_prefix"},
		{"--in-memory", "eal.memory"},
		{"--no-huge", "eal.memory"},
		{"--huge-unlink", "eal.memory"},
		{"-m", "eal.memory_mb"},
		{"--vdev", "[port.*] device and args"},
		{"-a", "[port.*] device"},
		{"--allow", "[port.*] device"},
		{"--no-pci", "[port.*] device"},
		{"--log-level", "eal.log_level"},
		{"--no-telemetry", "eal.telemetry"},
		{"--telemetry", "eal.telemetry"},
	};
	struct sluice_config_eal *e = &cfg->eal;
	char copy[SLUICE_CONFIG_STR_MAX];
	unsigned ntok = 0;

	if (e->log_level[0]) {
		const char *level = e->log_level;
		const char *sep = strpbrk(e->log_level, ",:");

		if (sep) {
			level = sep + 1;
			if (*sep == ',') {
				/* EAL compiles the type part as a POSIX basic regex. */
				char re_text[sizeof(e->log_level)];
				regex_t re;

				snprintf(re_text, sizeof(re_text), "%.*s",
					 (int)(sep - e->log_level), e->log_level);
				if (regcomp(&re, re_text, 0) != 0)
					key_error(cfg, SEC_EAL, 0, "log_level",
						  "'%s' is not a regular expression", re_text);
				else
					regfree(&re);
			}
		}
		if (!eal_level_ok(level))
			key_error(cfg, SEC_EAL, 0, "log_level",
				  "'%s' is not a level (emergency, alert, critical, error, "
				  "warning, notice, info, debug or 1..8), as in `lib.eal:debug`",
				  level);
	}
	snprintf(copy, sizeof(copy), "%s", e->args);
	for (char *save = NULL, *tok = strtok_r(copy, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		size_t n = strcspn(tok, "=");

		ntok++;
		for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
			size_t on = strlen(owned[i].opt);
			/* "-m 512", "-m512", "--vdev=x", "--vdev x" */
			bool hit = owned[i].opt[1] == '-'
				? n == on && strncmp(tok, owned[i].opt, on) == 0
				: strncmp(tok, owned[i].opt, on) == 0;
			if (hit)
				key_error(cfg, SEC_EAL, 0, "args",
					  "'%s' is set by sluiced from %s: use that key", tok,
					  owned[i].key);
		}
	}
	if (ntok > SLUICE_CONFIG_MAX_EAL_ARGS)
		key_error(cfg, SEC_EAL, 0, "args", "%u arguments, at most %d", ntok,
			  SLUICE_CONFIG_MAX_EAL_ARGS);
}

/* Where the control socket and the metrics endpoint will be made: refused now what start
 * would refuse (a path that is not a socket, a directory that cannot be made, an address
 * this host does not have). Nothing is created. */
static void validate_control_env(struct sluice_config *cfg)
{
	struct sluice_config_control *c = &cfg->control;
	struct stat st;

	if (c->socket[0]) {
		char dir[sizeof(c->socket)];
		char *slash;

		if (lstat(c->socket, &st) == 0 && !S_ISSOCK(st.st_mode))
			key_error(cfg, SEC_CONTROL, 0, "socket", "'%s' exists and is not a socket",
				  c->socket);
		snprintf(dir, sizeof(dir), "%s", c->socket);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			/* The nearest existing ancestor must be a directory we can write in. */
			while (stat(dir, &st) != 0 && errno == ENOENT &&
			       (slash = strrchr(dir, '/')) != NULL && slash != dir)
				*slash = '\0';
			if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
				key_error(cfg, SEC_CONTROL, 0, "socket",
					  "cannot create '%s': '%s' is not a directory", c->socket,
					  dir);
			else if (stat(dir, &st) == 0 && access(dir, W_OK | X_OK) != 0)
				key_error(cfg, SEC_CONTROL, 0, "socket",
					  "cannot create '%s': %s: %s", c->socket, dir,
					  strerror(errno));
		}
	}
	if (c->metrics && c->metrics_addr[0]) {
		/* Port 0: only whether the address is this host's (the port may be taken
		 * later by anyone; that remains a start-up failure). */
		struct sockaddr_in sa = {.sin_family = AF_INET};
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd >= 0 && inet_pton(AF_INET, c->metrics_addr, &sa.sin_addr) == 1 &&
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno == EADDRNOTAVAIL)
			key_error(cfg, SEC_CONTROL, 0, "metrics_listen",
				  "%s is not an address of this host", c->metrics_addr);
		if (fd >= 0)
			close(fd);
	}
}

static void resolve_group(struct sluice_config *cfg, const char *key, const char *name, gid_t *gid)
{
	struct group *g;

	*gid = (gid_t)-1;
	if (!name[0])
		return;
	/* Resolved now so that a typo is a config error, not a start-up failure. */
	g = getgrnam(name);
	if (g)
		*gid = g->gr_gid;
	else
		key_error(cfg, SEC_CONTROL, 0, key, "no such group '%s'", name);
}

static bool listeners_overlap(const struct sluice_config_listener *a,
			      const struct sluice_config_listener *b)
{
	if (a->port_index != b->port_index || a->udp_port != b->udp_port)
		return false;
	if (a->family == 0 || b->family == 0)
		return true;
	return a->family == b->family && memcmp(a->addr, b->addr, 16) == 0;
}

int sluice_config_validate(struct sluice_config *cfg)
{
	uint32_t errors_before = cfg->nerrors;
	const char *file = cfg->file[0] ? cfg->file : "<config>";
	uint32_t workers = cfg->dataplane.workers;
	long ncpu = online_cpus(cfg);

	if (cfg->nports == 0)
		add_error(cfg, file, 0, "port",
			  "no [port.<name>] section: at least one is required");
	if (cfg->ntopics == 0)
		add_error(cfg, file, 0, "topic",
			  "no [topic.<name>] section: at least one is required");
	if (cfg->nlisteners == 0)
		add_error(cfg, file, 0, "listener",
			  "no [listener.<name>] section: at least one is required");

	/* Required keys of named sections. */
	for (unsigned s = SEC_PORT; s <= SEC_TOPIC; s++) {
		for (uint32_t i = 0; i < instance_count(cfg, s); i++) {
			for (size_t k = 0; k < sections[s].table->nkeys; k++) {
				const struct sluice_config_key *key = &sections[s].table->keys[k];
				const char *f;
				unsigned line;
				if (!(key->flags & K_REQUIRED))
					continue;
				origin_of(cfg, s, i, (unsigned)k, &f, &line);
				/* origin_of falls back to the header: compare to know if set. */
				{
					const struct config_priv *p = priv(cfg);
					bool set = false;
					for (uint32_t o = 0; o < p->norigins; o++)
						if (p->origins[o].sec == s &&
						    p->origins[o].idx == i &&
						    p->origins[o].key == k)
							set = true;
					if (!set)
						key_error(cfg, s, i, NULL,
							  "missing required key '%s'", key->name);
				}
			}
		}
	}

	for (uint32_t i = 0; i < cfg->nports; i++) {
		struct sluice_config_port *p = &cfg->ports[i];
		if (p->device[0] == '\0')
			continue; /* reported as missing above */
		p->pci = is_pci_address(p->device);
		if (!p->pci && strncmp(p->device, "net_", 4) != 0)
			key_error(cfg, SEC_PORT, i, "device",
				  "'%s' is neither a PCI address nor a net_* virtual device",
				  p->device);
		if (p->pci && p->args[0])
			key_error(cfg, SEC_PORT, i, "args",
				  "arguments are for virtual devices only");
		{
			uint8_t a[16];
			parse_ip(p->ipv4, a);
			memcpy(p->ipv4_addr, a, 4);
			p->has_ipv6 = p->ipv6[0] && parse_ip(p->ipv6, a) == 6;
			memcpy(p->ipv6_addr, a, 16);
		}
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(cfg->ports[j].device, p->device) == 0)
				key_error(cfg, SEC_PORT, i, "device",
					  "'%s' is already used by [port.%s]", p->device,
					  cfg->ports[j].name);
		if (p->queues && p->queues < workers)
			key_error(cfg, SEC_PORT, i, "queues",
				  "more workers (dataplane.workers = %u) than queues (%u): each "
				  "worker polls one queue of every port",
				  workers, p->queues);
		else if (p->queues > workers)
			key_error(cfg, SEC_PORT, i, "queues",
				  "%u queues but only %u workers: the extra queues would never be "
				  "polled",
				  p->queues, workers);
	}

	for (uint32_t i = 0; i < cfg->ntopics; i++) {
		struct sluice_config_topic *t = &cfg->topics[i];
		/* Directory <topic>-<p> and Kafka topic names: "." and ".." are not names. */
		if (strcmp(t->name, ".") == 0 || strcmp(t->name, "..") == 0)
			key_error(cfg, SEC_TOPIC, i, NULL, "'%s' is not a usable topic name",
				  t->name);
		if (strcmp(t->kafka_topic, ".") == 0 || strcmp(t->kafka_topic, "..") == 0)
			key_error(cfg, SEC_TOPIC, i, "kafka_topic",
				  "'%s' is not a valid Kafka topic name", t->kafka_topic);
		if (t->flush_bytes > t->segment_bytes)
			key_error(cfg, SEC_TOPIC, i, "flush_bytes",
				  "larger than segment_bytes: a segment would roll before a group "
				  "commit");
		if (t->retention_bytes && t->retention_bytes < t->segment_bytes)
			key_error(cfg, SEC_TOPIC, i, "retention_bytes",
				  "smaller than segment_bytes: retention deletes whole segments");
		if (t->index_interval_bytes > t->segment_bytes)
			key_error(cfg, SEC_TOPIC, i, "index_interval_bytes",
				  "larger than segment_bytes");
	}

	for (uint32_t i = 0; i < cfg->nlisteners; i++) {
		struct sluice_config_listener *l = &cfg->listeners[i];
		bool ok = true;

		l->port_index = l->topic_index = UINT32_MAX;
		if (l->port[0] == '\0') {
			if (cfg->nports == 1)
				l->port_index = 0;
			else if (cfg->nports > 1)
				key_error(cfg, SEC_LISTENER, i, "port",
					  "required: there are %u ports", cfg->nports);
		} else {
			for (uint32_t j = 0; j < cfg->nports; j++)
				if (strcmp(cfg->ports[j].name, l->port) == 0)
					l->port_index = j;
			if (l->port_index == UINT32_MAX)
				key_error(cfg, SEC_LISTENER, i, "port",
					  "unknown port '%s' (no [port.%s] section)", l->port,
					  l->port);
		}
		if (l->topic[0] == '\0') {
			if (cfg->ntopics == 1)
				l->topic_index = 0;
			else if (cfg->ntopics > 1)
				key_error(cfg, SEC_LISTENER, i, "topic",
					  "required: there are %u topics", cfg->ntopics);
		} else {
			for (uint32_t j = 0; j < cfg->ntopics; j++)
				if (strcmp(cfg->topics[j].name, l->topic) == 0)
					l->topic_index = j;
			if (l->topic_index == UINT32_MAX)
				key_error(cfg, SEC_LISTENER, i, "topic",
					  "unknown topic '%s' (no [topic.%s] section)", l->topic,
					  l->topic);
		}
		{
			static const uint8_t zero[16];
			int fam = parse_ip(l->address, l->addr);
			if (fam < 0)
				ok = false;
			l->family = fam < 0 || memcmp(l->addr, zero, 16) == 0 ? 0 : (uint8_t)fam;
		}
		if (l->key != SLUICE_CONFIG_KEY_NONE && l->format == SLUICE_CONFIG_FORMAT_KAFKA)
			key_error(
				cfg, SEC_LISTENER, i, "key",
				"kafka batches carry their own keys; key applies to lines and raw");
		if (l->max_event_bytes == 0)
			l->max_event_bytes =
				(uint32_t)cfg->dataplane.batch_bytes - SLUICE_RB_HEADER_BYTES - 32;
		else if (l->max_event_bytes >
			 cfg->dataplane.batch_bytes - SLUICE_RB_HEADER_BYTES - 32)
			key_error(cfg, SEC_LISTENER, i, "max_event_bytes",
				  "an event of %u bytes would not fit in a batch of "
				  "dataplane.batch_bytes = %llu",
				  l->max_event_bytes,
				  (unsigned long long)cfg->dataplane.batch_bytes);
		if (l->rate_limit_burst && !l->rate_limit)
			key_error(cfg, SEC_LISTENER, i, "rate_limit_burst",
				  "has no effect without rate_limit");
		if (!ok || l->port_index == UINT32_MAX || l->udp_port == 0)
			continue;
		for (uint32_t j = 0; j < i; j++) {
			if (listeners_overlap(&cfg->listeners[j], l))
				key_error(cfg, SEC_LISTENER, i, "udp_port",
					  "overlaps [listener.%s]: same port '%s', UDP port %u and "
					  "address %s vs %s",
					  cfg->listeners[j].name, cfg->ports[l->port_index].name,
					  l->udp_port, l->address, cfg->listeners[j].address);
		}
	}

	validate_lcores(cfg);
	{
		const struct sluice_cpu_list *wc = &cfg->storage.writer_cpus;
		for (uint32_t i = 0; i < wc->n; i++)
			if ((long)wc->id[i] >= ncpu)
				key_error(
					cfg, SEC_STORAGE, 0, "writer_cpus",
					"CPU %u does not exist (this machine has %ld online CPUs)",
					wc->id[i], ncpu);
		if (wc->n && wc->n != cfg->storage.writers)
			key_error(cfg, SEC_STORAGE, 0, "writer_cpus",
				  "%u CPUs for %u writers: give one CPU per writer", wc->n,
				  cfg->storage.writers);
	}
	if (cfg->eal.memory == SLUICE_CONFIG_MEM_NO_HUGE && cfg->eal.memory_mb < 128)
		key_error(cfg, SEC_EAL, 0, "memory_mb", "no-huge needs at least 128 MB");
	{
		/* Batch buffers and mbufs live in EAL memory: catch a config that cannot fit. */
		uint64_t need = cfg->dataplane.batch_buffers * cfg->dataplane.batch_bytes +
			(uint64_t)cfg->dataplane.mbufs * 2304;
		uint64_t have = (uint64_t)cfg->eal.memory_mb * MB;
		if (cfg->eal.memory == SLUICE_CONFIG_MEM_NO_HUGE && need > have)
			key_error(cfg, SEC_DATAPLANE, 0, "batch_buffers",
				  "batch_buffers x batch_bytes + mbufs x 2304 = %llu MB exceeds "
				  "eal.memory_mb = %u",
				  (unsigned long long)(need / MB), cfg->eal.memory_mb);
	}
	{
		struct sluice_config_control *c = &cfg->control;
		if (parse_address(c->metrics_listen, c->metrics_addr, sizeof(c->metrics_addr),
				  &c->metrics_port))
			key_error(cfg, SEC_CONTROL, 0, "metrics_listen",
				  "not an IPv4:port address");
		resolve_group(cfg, "socket_group", c->socket_group, &c->socket_gid);
		resolve_group(cfg, "admin_group", c->admin_group, &c->admin_gid);
	}
	{
		/* What the mbuf pool must hold so that every RX ring can be filled (the RX
		 * descriptors of every queue of every port, plus the per-lcore caches). */
		uint64_t need = 0;

		for (uint32_t i = 0; i < cfg->nports; i++) {
			const struct sluice_config_port *p = &cfg->ports[i];
			need += (uint64_t)p->rx_desc * (p->queues ? p->queues : workers);
		}
		need += (uint64_t)cfg->dataplane.mbuf_cache * (workers + 1) + 2 * 64;
		if (cfg->dataplane.mbufs < need)
			key_error(cfg, SEC_DATAPLANE, 0, "mbufs",
				  "%u cannot fill the RX rings: ports x queues x rx_desc + caches "
				  "need %llu",
				  cfg->dataplane.mbufs, (unsigned long long)need);
	}
	/* A sealed batch must fit a writer's aligned buffer beside a partial tail block;
	 * a larger one would be refused by storage at run time. */
	if (cfg->dataplane.batch_bytes + 4096 > cfg->storage.write_buffer_bytes)
		key_error(cfg, SEC_STORAGE, 0, "write_buffer",
			  "%llu bytes cannot hold a batch of dataplane.batch_bytes = %llu plus a "
			  "4K tail block",
			  (unsigned long long)cfg->storage.write_buffer_bytes,
			  (unsigned long long)cfg->dataplane.batch_bytes);
	validate_eal(cfg);
	validate_kafka(cfg);
	if (!cfg->skip_env_checks) {
		validate_data_dir(cfg);
		validate_control_env(cfg);
	}
	return cfg->nerrors == errors_before ? 0 : -EINVAL;
}

int sluice_config_lcore_cpus(const struct sluice_config *cfg, unsigned lcore,
			     struct sluice_cpu_list *out)
{
	struct lcore_map *m;
	char why[256];
	int rc = -ENOENT;

	memset(out, 0, sizeof(*out));
	if (lcore >= SLUICE_CONFIG_MAX_LCORES)
		return -ENOENT;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (parse_lcore_map(cfg->eal.lcores_resolved, m, why, sizeof(why)) == 0 &&
	    set_has(m->lcores, lcore)) {
		for (unsigned c = 0; c < SLUICE_CONFIG_MAX_CPUS; c++)
			if (set_has(m->cpus_of[lcore], c))
				out->id[out->n++] = (uint16_t)c;
		rc = 0;
	}
	free(m);
	return rc;
}
