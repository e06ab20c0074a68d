/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration: a strict INI parser that keeps line numbers, one declarative table per
 * section, and whole-config validation (see config.h).
 *
 * Threading contract: none. A struct sluice_config belongs to one thread at a time; the daemon
 * holds its lock around config.get/set/list.
 *
 * Why our own parser: rte_cfgfile and libinih drop line numbers, and an operator fixing a
 * config wants `file:line: key: reason` for every mistake at once, not the first one.
 */
#include "config_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                     */

struct config_priv *priv(const struct sluice_config *cfg)
{
	return (struct config_priv *)(uintptr_t)cfg->priv;
}

__attribute__((format(printf, 5, 6))) void add_error(struct sluice_config *cfg, const char *file,
						     unsigned line, const char *key,
						     const char *fmt, ...)
{
	char reason[512];
	char msg[1024];
	va_list ap;
	char **grown;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (line)
		snprintf(msg, sizeof(msg), "%s:%u: %s: %s", file, line, key, reason);
	else
		snprintf(msg, sizeof(msg), "%s: %s: %s", file, key, reason);
	/* Fuzzed inputs can produce one error per line: cap them so memory stays bounded. */
	if (cfg->nerrors >= 1000)
		return;
	grown = realloc(cfg->errors, (cfg->nerrors + 1) * sizeof(*grown));
	if (!grown)
		return;
	cfg->errors = grown;
	cfg->errors[cfg->nerrors] = strdup(msg);
	if (cfg->errors[cfg->nerrors])
		cfg->nerrors++;
}

uint32_t sluice_config_error_count(const struct sluice_config *cfg)
{
	return cfg->nerrors;
}

const char *sluice_config_error(const struct sluice_config *cfg, uint32_t i)
{
	return i < cfg->nerrors ? cfg->errors[i] : NULL;
}

void sluice_config_print_errors(const struct sluice_config *cfg, FILE *out)
{
	for (uint32_t i = 0; i < cfg->nerrors; i++)
		fprintf(out, "%s\n", cfg->errors[i]);
}

static uint16_t intern_file(struct sluice_config *cfg, const char *file)
{
	struct config_priv *p = priv(cfg);
	char **grown;

	for (uint32_t i = 0; i < p->nfiles; i++)
		if (strcmp(p->files[i], file) == 0)
			return (uint16_t)i;
	if (p->nfiles >= UINT16_MAX)
		return 0;
	grown = realloc(p->files, (p->nfiles + 1) * sizeof(*grown));
	if (!grown)
		return 0;
	p->files = grown;
	p->files[p->nfiles] = strdup(file);
	if (!p->files[p->nfiles])
		return 0;
	return (uint16_t)p->nfiles++;
}

static void set_origin(struct sluice_config *cfg, unsigned sec, unsigned idx, unsigned key,
		       const char *file, unsigned line)
{
	struct config_priv *p = priv(cfg);
	struct origin *o = NULL;

	for (uint32_t i = 0; i < p->norigins; i++) {
		struct origin *c = &p->origins[i];
		if (c->sec == sec && c->idx == idx && c->key == key) {
			o = c;
			break;
		}
	}
	if (!o) {
		if (p->norigins == p->cap) {
			uint32_t cap = p->cap ? p->cap * 2 : 64;
			struct origin *grown = realloc(p->origins, cap * sizeof(*grown));
			if (!grown)
				return;
			p->origins = grown;
			p->cap = cap;
		}
		o = &p->origins[p->norigins++];
		o->sec = (uint16_t)sec;
		o->idx = (uint16_t)idx;
		o->key = (uint16_t)key;
	}
	o->file = intern_file(cfg, file);
	o->line = line;
}

/* The file and line where a key was set, else its section header, else the config file. */
void origin_of(const struct sluice_config *cfg, unsigned sec, unsigned idx, unsigned key,
	       const char **file, unsigned *line)
{
	const struct config_priv *p = priv(cfg);
	const struct origin *hdr = NULL;

	*file = cfg->file[0] ? cfg->file : "<config>";
	*line = 0;
	for (uint32_t i = 0; i < p->norigins; i++) {
		const struct origin *o = &p->origins[i];
		if (o->sec != sec || o->idx != idx)
			continue;
		if (o->key == key) {
			*file = p->files[o->file];
			*line = o->line;
			return;
		}
		if (o->key == ORIGIN_HEADER)
			hdr = o;
	}
	if (hdr) {
		*file = p->files[hdr->file];
		*line = hdr->line;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Sections                                                                                   */

static void *section_base(struct sluice_config *cfg, unsigned sec, unsigned idx)
{
	switch (sec) {
	case SEC_EAL:
		return &cfg->eal;
	case SEC_STORAGE:
		return &cfg->storage;
	case SEC_KAFKA:
		return &cfg->kafka;
	case SEC_CONTROL:
		return &cfg->control;
	case SEC_DATAPLANE:
		return &cfg->dataplane;
	case SEC_PORT:
		return &cfg->ports[idx];
	case SEC_LISTENER:
		return &cfg->listeners[idx];
	case SEC_TOPIC:
		return &cfg->topics[idx];
	}
	return NULL;
}

static const void *section_cbase(const struct sluice_config *cfg, unsigned sec, unsigned idx)
{
	return section_base((struct sluice_config *)(uintptr_t)cfg, sec, idx);
}

uint32_t instance_count(const struct sluice_config *cfg, unsigned sec)
{
	switch (sec) {
	case SEC_PORT:
		return cfg->nports;
	case SEC_LISTENER:
		return cfg->nlisteners;
	case SEC_TOPIC:
		return cfg->ntopics;
	}
	return 1;
}

const char *instance_name(const struct sluice_config *cfg, unsigned sec, unsigned idx)
{
	switch (sec) {
	case SEC_PORT:
		return cfg->ports[idx].name;
	case SEC_LISTENER:
		return cfg->listeners[idx].name;
	case SEC_TOPIC:
		return cfg->topics[idx].name;
	}
	return NULL;
}

static void apply_defaults(struct sluice_config *cfg, unsigned sec, unsigned idx)
{
	const struct section *s = &sections[sec];
	char *base = section_base(cfg, sec, idx);
	char why[256];

	for (size_t i = 0; i < s->table->nkeys; i++) {
		const struct sluice_config_key *k = &s->table->keys[i];
		if (!k->def)
			continue;
		/* Defaults are in the table as text; a unit test checks that each parses. */
		(void)parse_value(k, k->def, base + k->off, why, sizeof(why));
	}
}

static const size_t name_sizes[SEC__COUNT] = {
	[SEC_PORT] = SLUICE_CONFIG_NAME_MAX,
	[SEC_LISTENER] = SLUICE_CONFIG_NAME_MAX,
	[SEC_TOPIC] = SLUICE_CONFIG_TOPIC_MAX,
};

static const uint32_t max_instances[SEC__COUNT] = {
	[SEC_PORT] = SLUICE_CONFIG_MAX_PORTS,
	[SEC_LISTENER] = SLUICE_CONFIG_MAX_LISTENERS,
	[SEC_TOPIC] = SLUICE_CONFIG_MAX_TOPICS,
};

/*
 * Find or create the instance @p name of a named section. @p create_dup: an existing instance
 * is an error (a duplicate section header in a file); overrides reuse it.
 * Returns the index or -1 (error recorded).
 */
static int named_instance(struct sluice_config *cfg, unsigned sec, const char *name,
			  bool dup_is_error, const char *file, unsigned line, const char *what)
{
	uint32_t n = instance_count(cfg, sec);
	uint32_t *count;

	for (uint32_t i = 0; i < n; i++) {
		if (strcmp(instance_name(cfg, sec, i), name) == 0) {
			if (dup_is_error) {
				add_error(cfg, file, line, what, "duplicate section");
				return -1;
			}
			return (int)i;
		}
	}
	if (!is_name(name)) {
		add_error(cfg, file, line, what,
			  "section name may only contain letters, digits, '.', '_' and '-'");
		return -1;
	}
	if (strlen(name) >= name_sizes[sec]) {
		add_error(cfg, file, line, what, "name longer than %zu bytes", name_sizes[sec] - 1);
		return -1;
	}
	if (n >= max_instances[sec]) {
		add_error(cfg, file, line, what, "more than %u [%s.*] sections", max_instances[sec],
			  sections[sec].name);
		return -1;
	}
	count = sec == SEC_PORT       ? &cfg->nports
		: sec == SEC_LISTENER ? &cfg->nlisteners
				      : &cfg->ntopics;
	apply_defaults(cfg, sec, n);
	switch (sec) {
	case SEC_PORT:
		memcpy(cfg->ports[n].name, name, strlen(name) + 1);
		cfg->ports[n].line = line;
		break;
	case SEC_LISTENER:
		memcpy(cfg->listeners[n].name, name, strlen(name) + 1);
		cfg->listeners[n].line = line;
		break;
	case SEC_TOPIC:
		memcpy(cfg->topics[n].name, name, strlen(name) + 1);
		cfg->topics[n].line = line;
		break;
	}
	set_origin(cfg, sec, n, ORIGIN_HEADER, file, line);
	(*count)++;
	return (int)n;
}

/* Split "port.mem0" into section id and instance name. -1 when unknown. */
static int lookup_section(const char *name, const char **instance)
{
	for (unsigned s = 0; s < SEC__COUNT; s++) {
		size_t n = strlen(sections[s].name);
		if (strncmp(name, sections[s].name, n) != 0)
			continue;
		if (sections[s].named) {
			if (name[n] != '.')
				continue;
			*instance = name + n + 1;
			return (int)s;
		}
		if (name[n] != '\0')
			continue;
		*instance = NULL;
		return (int)s;
	}
	return -1;
}

int find_key(unsigned sec, const char *key)
{
	for (size_t i = 0; i < sections[sec].table->nkeys; i++)
		if (strcmp(sections[sec].table->keys[i].name, key) == 0)
			return (int)i;
	return -1;
}

static int add_kafka_prop(struct sluice_config *cfg, const char *key, const char *value,
			  const char *file, unsigned line, const char *what)
{
	struct sluice_config_kafka *k = &cfg->kafka;
	struct sluice_config_kafka_prop *p = NULL;

	for (uint32_t i = 0; i < k->nprops; i++)
		if (strcmp(k->props[i].key, key) == 0)
			p = &k->props[i];
	if (!p) {
		if (k->nprops >= SLUICE_CONFIG_MAX_KAFKA_PROPS) {
			add_error(cfg, file, line, what, "more than %d Kafka client settings",
				  SLUICE_CONFIG_MAX_KAFKA_PROPS);
			return -EINVAL;
		}
		p = &k->props[k->nprops];
		if (strlen(key) >= sizeof(p->key)) {
			add_error(cfg, file, line, what, "property name too long");
			return -EINVAL;
		}
		memcpy(p->key, key, strlen(key) + 1);
		k->nprops++;
	}
	if (strlen(value) >= sizeof(p->value)) {
		add_error(cfg, file, line, what, "value longer than %zu bytes",
			  sizeof(p->value) - 1);
		return -EINVAL;
	}
	memcpy(p->value, value, strlen(value) + 1);
	snprintf(p->file, sizeof(p->file), "%s", file);
	p->line = line;
	return 0;
}

/* Assign key = value in section instance (sec, idx). */
static int assign(struct sluice_config *cfg, unsigned sec, unsigned idx, const char *key,
		  const char *value, const char *file, unsigned line)
{
	const char *iname = instance_name(cfg, sec, idx);
	char what[256];
	char why[512];
	union {
		struct sluice_cpu_list cpus;
		char str[SLUICE_CONFIG_STR_MAX];
		uint64_t u64;
	} tmp;
	int ki;
	const struct sluice_config_key *k;

	if (iname)
		snprintf(what, sizeof(what), "%s.%s.%s", sections[sec].name, iname, key);
	else
		snprintf(what, sizeof(what), "%s.%s", sections[sec].name, key);
	ki = find_key(sec, key);
	if (ki < 0) {
		/* Other keys under [kafka] are Kafka client settings, checked in validate. */
		if (sec == SEC_KAFKA && is_name(key))
			return add_kafka_prop(cfg, key, value, file, line, what);
		add_error(cfg, file, line, what, "unknown key");
		return -EINVAL;
	}
	k = &sections[sec].table->keys[ki];
	memset(&tmp, 0, sizeof(tmp));
	if (parse_value(k, value, &tmp, why, sizeof(why))) {
		add_error(cfg, file, line, what, "%s", why);
		return -EINVAL;
	}
	memcpy((char *)section_base(cfg, sec, idx) + k->off, &tmp, k->size);
	set_origin(cfg, sec, idx, (unsigned)ki, file, line);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Parser                                                                                     */

struct sluice_config *sluice_config_new(void)
{
	struct sluice_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->priv = calloc(1, sizeof(struct config_priv));
	if (!cfg->priv) {
		free(cfg);
		return NULL;
	}
	for (unsigned s = 0; s < SEC__COUNT; s++)
		if (!sections[s].named)
			apply_defaults(cfg, s, 0);
	return cfg;
}

void sluice_config_free(struct sluice_config *cfg)
{
	struct config_priv *p;

	if (!cfg)
		return;
	p = priv(cfg);
	if (p) {
		for (uint32_t i = 0; i < p->nfiles; i++)
			free(p->files[i]);
		free(p->files);
		free(p->origins);
		free(p);
	}
	for (uint32_t i = 0; i < cfg->nerrors; i++)
		free(cfg->errors[i]);
	free(cfg->errors);
	free(cfg);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int sluice_config_parse(struct sluice_config *cfg, const char *file, const char *buf, size_t len)
{
	uint32_t errors_before = cfg->nerrors;
	char line[SLUICE_CONFIG_LINE_MAX + 2];
	int cur_sec = -1;
	unsigned cur_idx = 0;
	bool seen_single[SEC__COUNT] = {false};
	unsigned lineno = 0;
	size_t pos = 0;

	snprintf(cfg->file, sizeof(cfg->file), "%s", file);
	while (pos < len) {
		size_t n = 0;
		bool too_long = false, nul = false;
		char *s, *eq, *key, *value;

		lineno++;
		while (pos < len && buf[pos] != '\n') {
			if (buf[pos] == '\0')
				nul = true;
			if (n < SLUICE_CONFIG_LINE_MAX)
				line[n++] = buf[pos];
			else
				too_long = true;
			pos++;
		}
		pos++; /* the newline */
		line[n] = '\0';
		if (too_long) {
			add_error(cfg, file, lineno, "line", "longer than %d bytes",
				  SLUICE_CONFIG_LINE_MAX);
			continue;
		}
		if (nul) {
			add_error(cfg, file, lineno, "line", "contains a NUL byte");
			continue;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			const char *inst;
			int sec;

			cur_sec = -1;
			if (!close || trim(close + 1)[0] != '\0') {
				add_error(cfg, file, lineno, "section",
					  "malformed section header (expected [name])");
				continue;
			}
			*close = '\0';
			s = trim(s + 1);
			sec = lookup_section(s, &inst);
			if (sec < 0) {
				add_error(
					cfg, file, lineno, *s ? s : "section",
					"unknown section (expected eal, storage, kafka, control, "
					"dataplane, port.<name>, listener.<name> or topic.<name>)");
				continue;
			}
			if (sections[sec].named) {
				int idx = named_instance(cfg, (unsigned)sec, inst, true, file,
							 lineno, s);
				if (idx < 0)
					continue;
				cur_idx = (unsigned)idx;
			} else {
				if (seen_single[sec]) {
					add_error(cfg, file, lineno, s, "duplicate section");
					continue;
				}
				seen_single[sec] = true;
				cur_idx = 0;
				set_origin(cfg, (unsigned)sec, 0, ORIGIN_HEADER, file, lineno);
			}
			cur_sec = sec;
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			add_error(cfg, file, lineno, "line", "expected 'key = value'");
			continue;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		if (*key == '\0') {
			add_error(cfg, file, lineno, "line", "missing key before '='");
			continue;
		}
		/* "quoted" values keep their leading and trailing blanks. */
		if (value[0] == '"') {
			size_t vl = strlen(value);
			if (vl < 2 || value[vl - 1] != '"') {
				add_error(cfg, file, lineno, key, "unterminated quoted value");
				continue;
			}
			value[vl - 1] = '\0';
			value++;
		}
		if (cur_sec < 0) {
			/* After a bad section header its keys are skipped silently (one error). */
			if (cfg->nerrors == errors_before)
				add_error(cfg, file, lineno, key, "key outside of any section");
			continue;
		}
		{
			/* A key given twice in one section is almost always a copy-paste mistake. */
			const struct config_priv *p = priv(cfg);
			int ki = find_key((unsigned)cur_sec, key);
			bool dup = false;
			for (uint32_t i = 0; ki >= 0 && i < p->norigins; i++) {
				const struct origin *o = &p->origins[i];
				if (o->sec == cur_sec && o->idx == cur_idx && o->key == ki &&
				    strcmp(p->files[o->file], file) == 0)
					dup = true;
			}
			if (dup) {
				const char *in = instance_name(cfg, (unsigned)cur_sec, cur_idx);
				add_error(cfg, file, lineno, key, "set twice in [%s%s%s]",
					  sections[cur_sec].name, in ? "." : "", in ? in : "");
				continue;
			}
		}
		assign(cfg, (unsigned)cur_sec, cur_idx, key, value, file, lineno);
	}
	return cfg->nerrors == errors_before ? 0 : -EINVAL;
}

int sluice_config_load(struct sluice_config *cfg, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	if (!f) {
		rc = -errno;
		add_error(cfg, path, 0, "file", "cannot open: %s", strerror(-rc));
		return rc;
	}
	for (;;) {
		size_t got;
		if (len == cap) {
			char *grown;
			if (cap >= 16 * MB) {
				add_error(cfg, path, 0, "file", "larger than 16 MiB");
				rc = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			grown = realloc(buf, cap);
			if (!grown) {
				rc = -ENOMEM;
				goto out;
			}
			buf = grown;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		rc = -EIO;
		add_error(cfg, path, 0, "file", "read error");
		goto out;
	}
	rc = sluice_config_parse(cfg, path, buf, len);
out:
	free(buf);
	fclose(f);
	return rc;
}

int sluice_config_override(struct sluice_config *cfg, const char *assignment, unsigned index)
{
	char buf[SLUICE_CONFIG_LINE_MAX];
	char file[32];
	char *eq, *name, *value, *dot;
	const char *inst;
	int sec, idx = 0;

	snprintf(file, sizeof(file), "--set");
	if (strlen(assignment) >= sizeof(buf)) {
		add_error(cfg, file, index, "--set", "longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	memcpy(buf, assignment, strlen(assignment) + 1);
	eq = strchr(buf, '=');
	if (!eq) {
		add_error(cfg, file, index, buf, "expected section.key=value");
		return -EINVAL;
	}
	*eq = '\0';
	name = trim(buf);
	value = trim(eq + 1);
	/* The section is everything before the last dot, except that [kafka] property names
	 * contain dots themselves and named sections have one dot of their own. */
	if (strncmp(name, "kafka.", 6) == 0) {
		name[5] = '\0';
		dot = name + 5;
	} else {
		dot = strrchr(name, '.');
		if (!dot) {
			add_error(cfg, file, index, name, "expected section.key=value");
			return -EINVAL;
		}
		*dot = '\0';
	}
	sec = lookup_section(name, &inst);
	if (sec < 0) {
		add_error(cfg, file, index, name, "unknown section");
		return -EINVAL;
	}
	if (sections[sec].named) {
		char what[128];
		snprintf(what, sizeof(what), "%s", name);
		idx = named_instance(cfg, (unsigned)sec, inst, false, file, index, what);
		if (idx < 0)
			return -EINVAL;
	}
	return assign(cfg, (unsigned)sec, (unsigned)idx, dot + 1, value, file, index);
}

/* ---------------------------------------------------------------------------------------- */
/* get / set / list / help                                                                    */

/* Split "section[.instance].key" into its table section and key; *inst points into buf. */
static int split_key(const char *full, char *buf, size_t len, int *sec,
		     const struct sluice_config_key **key, const char **inst)
{
	char *dot;
	int s, ki;

	if (strlen(full) >= len)
		return -ENOENT;
	memcpy(buf, full, strlen(full) + 1);
	dot = strrchr(buf, '.');
	if (!dot)
		return -ENOENT;
	*dot = '\0';
	s = lookup_section(buf, inst);
	if (s < 0)
		return -ENOENT;
	ki = find_key((unsigned)s, dot + 1);
	if (ki < 0)
		return -ENOENT;
	*sec = s;
	*key = &sections[s].table->keys[ki];
	return 0;
}

/* Resolve "topic.events.flush_interval" to (sec, idx, key). */
static int resolve_key(const struct sluice_config *cfg, const char *full, unsigned *sec,
		       unsigned *idx, const struct sluice_config_key **key)
{
	char buf[256];
	const char *inst;
	int s;

	if (split_key(full, buf, sizeof(buf), &s, key, &inst))
		return -ENOENT;
	*sec = (unsigned)s;
	*idx = 0;
	if (sections[s].named) {
		uint32_t i, n;
		if (!cfg)
			return -ENOENT;
		n = instance_count(cfg, (unsigned)s);
		for (i = 0; i < n; i++)
			if (strcmp(instance_name(cfg, (unsigned)s, i), inst) == 0)
				break;
		if (i == n)
			return -ENOENT;
		*idx = i;
	}
	return 0;
}

bool sluice_config_key_is_secret(const char *key)
{
	/* Over-redacting costs an operator one look at the file; under-redacting leaks. */
	static const char *const words[] = {"password",   "passwd", "secret",
					    "credential", "jaas",   "private"};
	static const char *const names[] = {"ssl.key.pem", "ssl_key", "sasl.oauthbearer.config",
					    "sasl.oauthbearer.extensions"};
	char lower[256];
	const char *name;
	size_t n = strlen(key);

	if (n >= sizeof(lower))
		n = sizeof(lower) - 1;
	for (size_t i = 0; i < n; i++)
		lower[i] = (char)tolower((unsigned char)key[i]);
	lower[n] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(lower, words[i]))
			return true;
	/* Property names are matched without their "kafka." prefix, and as given. */
	name = strncmp(lower, "kafka.", 6) == 0 ? lower + 6 : lower;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

enum sluice_config_forwarding sluice_config_forwarding(const struct sluice_config *cfg)
{
	if (!cfg->kafka.enabled || cfg->kafka.brokers[0] == '\0')
		return SLUICE_CONFIG_FORWARD_OFF;
	if (strcmp(cfg->kafka.brokers, "embedded") == 0)
		return SLUICE_CONFIG_FORWARD_EMBEDDED;
	return SLUICE_CONFIG_FORWARD_KAFKA;
}

const char *sluice_config_forwarding_name(enum sluice_config_forwarding f)
{
	return f == SLUICE_CONFIG_FORWARD_KAFKA       ? "kafka"
		: f == SLUICE_CONFIG_FORWARD_EMBEDDED ? "embedded"
						      : "off";
}

/* The librdkafka property "kafka.<name>" that is set, or NULL. */
static const struct sluice_config_kafka_prop *find_prop(const struct sluice_config *cfg,
							const char *full)
{
	if (!cfg || strncmp(full, "kafka.", 6) != 0)
		return NULL;
	for (uint32_t i = 0; i < cfg->kafka.nprops; i++)
		if (strcmp(cfg->kafka.props[i].key, full + 6) == 0)
			return &cfg->kafka.props[i];
	return NULL;
}

int sluice_config_get(const struct sluice_config *cfg, const char *key, char *out, size_t len)
{
	unsigned sec, idx;
	const struct sluice_config_key *k;
	const struct sluice_config_kafka_prop *prop;
	char buf[SLUICE_CONFIG_STR_MAX + 64];

	if (resolve_key(cfg, key, &sec, &idx, &k) == 0)
		format_value(k, (const char *)section_cbase(cfg, sec, idx) + k->off, buf,
			     sizeof(buf));
	else if ((prop = find_prop(cfg, key)) != NULL)
		snprintf(buf, sizeof(buf), "%s", prop->value);
	else
		return -ENOENT;
	if (sluice_config_key_is_secret(key))
		snprintf(buf, sizeof(buf), "%s", SLUICE_CONFIG_REDACTED);
	if (strlen(buf) >= len)
		return -ENOSPC;
	memcpy(out, buf, strlen(buf) + 1);
	return 0;
}

int sluice_config_is_runtime(const char *key)
{
	char buf[256];
	const char *inst;
	const struct sluice_config_key *k;
	int s;

	if (split_key(key, buf, sizeof(buf), &s, &k, &inst))
		return -ENOENT;
	return (k->flags & K_RUNTIME) ? 1 : 0;
}

int sluice_config_set(struct sluice_config *cfg, const char *key, const char *value, char *err,
		      size_t errlen)
{
	unsigned sec, idx;
	const struct sluice_config_key *k;
	union {
		struct sluice_cpu_list cpus;
		char str[SLUICE_CONFIG_STR_MAX];
		uint64_t u64;
	} tmp;

	if (resolve_key(cfg, key, &sec, &idx, &k)) {
		if (find_prop(cfg, key)) {
			snprintf(err, errlen,
				 "%s: librdkafka properties cannot change at runtime (restart "
				 "with the new value)",
				 key);
			return -EPERM;
		}
		snprintf(err, errlen, "%s: unknown key", key);
		return -ENOENT;
	}
	if (!(k->flags & K_RUNTIME)) {
		snprintf(err, errlen, "%s: cannot change at runtime (restart with the new value)",
			 key);
		return -EPERM;
	}
	memset(&tmp, 0, sizeof(tmp));
	if (parse_value(k, value, &tmp, err, errlen))
		return -EINVAL;
	memcpy((char *)section_base(cfg, sec, idx) + k->off, &tmp, k->size);
	return 0;
}

unsigned sluice_config_foreach(const struct sluice_config *cfg,
			       void (*cb)(const struct sluice_config_item *item, void *arg),
			       void *arg)
{
	unsigned count = 0;

	for (unsigned s = 0; s < SEC__COUNT; s++) {
		for (uint32_t i = 0; i < instance_count(cfg, s); i++) {
			const char *iname = instance_name(cfg, s, i);
			for (size_t k = 0; k < sections[s].table->nkeys; k++) {
				const struct sluice_config_key *key = &sections[s].table->keys[k];
				char full[256], sec[128], value[SLUICE_CONFIG_STR_MAX + 64];
				struct sluice_config_item item;

				snprintf(sec, sizeof(sec), "%s%s%s", sections[s].name,
					 iname ? "." : "", iname ? iname : "");
				snprintf(full, sizeof(full), "%s.%s", sec, key->name);
				item.section = sec;
				format_value(key, (const char *)section_cbase(cfg, s, i) + key->off,
					     value, sizeof(value));
				item.key = full;
				item.secret = sluice_config_key_is_secret(full);
				item.value = item.secret ? SLUICE_CONFIG_REDACTED : value;
				item.default_value = key->def;
				item.type = type_names[key->type];
				item.help = key->help;
				item.runtime = key->flags & K_RUNTIME;
				cb(&item, arg);
				count++;
			}
		}
	}
	for (uint32_t i = 0; i < cfg->kafka.nprops; i++) {
		char full[160];
		struct sluice_config_item item = {
			.key = full,
			.section = "kafka",
			.value = cfg->kafka.props[i].value,
			.default_value = NULL,
			.type = "kafka client",
			.help = "Kafka client setting",
			.runtime = false,
		};
		snprintf(full, sizeof(full), "kafka.%s", cfg->kafka.props[i].key);
		item.secret = sluice_config_key_is_secret(full);
		if (item.secret)
			item.value = SLUICE_CONFIG_REDACTED;
		cb(&item, arg);
		count++;
	}
	return count;
}

static void describe_range(const struct sluice_config_key *k, char *out, size_t len)
{
	char lo[32], hi[32];
	struct sluice_config_key tmp = *k;

	out[0] = '\0';
	switch (k->type) {
	case T_U32:
	case T_U64:
	case T_SIZE:
	case T_DURATION:
		tmp.size = sizeof(uint64_t);
		format_value(&tmp, &k->min, lo, sizeof(lo));
		format_value(&tmp, &k->max, hi, sizeof(hi));
		snprintf(out, len, "%s .. %s%s", lo, hi,
			 (k->flags & K_POW2) ? ", power of two" : "");
		return;
	case T_ENUM: {
		size_t used = 0;
		for (uint32_t i = 0; k->enums[i] && used < len; i++)
			used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "",
						 k->enums[i]);
		return;
	}
	default:
		return;
	}
}

/* The Kafka client settings of [kafka], from the forwarder's own table. */
static void help_kafka_client(FILE *out, enum sluice_config_help_format fmt)
{
	const char *key, *def, *help;

	if (fmt == SLUICE_CONFIG_HELP_MARKDOWN)
		fprintf(out,
			"\nKafka client settings (also in [kafka]; librdkafka's names and "
			"meanings):\n\n"
			"| key | default | description |\n"
			"|-----|---------|-------------|\n");
	else
		fprintf(out, "\n  Kafka client settings (librdkafka's names):\n");
	for (uint32_t i = 0; sluice_fwd_conf_describe(i, &key, &def, &help) == 0; i++) {
		if (fmt == SLUICE_CONFIG_HELP_MARKDOWN)
			fprintf(out, "| `%s` | `%s` | %s |\n", key, def[0] ? def : "(empty)", help);
		else
			fprintf(out, "  %-38s %-10s\n      %s\n", key, def[0] ? def : "(empty)",
				help);
	}
}

void sluice_config_help(FILE *out, enum sluice_config_help_format fmt)
{
	if (fmt == SLUICE_CONFIG_HELP_MARKDOWN) {
		fprintf(out,
			"<!-- SPDX-License-Identifier: BSD-3-Clause -->\n"
			"<!-- Generated by `sluiced --help-config=markdown`; do not edit. -->\n"
			"# sluiced configuration reference\n\n"
			"One INI file (`sluiced -c FILE`), validated completely before anything "
			"starts: every mistake is reported as `file:line: key: reason` and "
			"sluiced exits with status 2. `sluiced --check-config FILE` only "
			"validates. Any key can be overridden on the command line with "
			"`--set section.key=value` (named sections: "
			"`--set topic.events.partitions=8`).\n\n"
			"Syntax: `[section]` headers, `key = value` lines, full-line comments "
			"starting with `#` or `;`; a value in double quotes keeps its blanks. "
			"A key may appear once per section.\n\n"
			"Types: **size** is bytes with an optional K, M, G or T suffix (powers of "
			"1024); **duration** is a number with a us, ms or s suffix (0 needs "
			"none); **bool** is true/false, yes/no, on/off or 1/0; **cpu list** is "
			"`0,2-3`; **lcore map** is EAL's `--lcores` syntax. Keys marked runtime "
			"can be changed while running with `sluicectl config set KEY VALUE`.\n");
	} else {
		fprintf(out, "sluiced configuration keys (type, default, range; * = runtime)\n");
	}
	for (unsigned s = 0; s < SEC__COUNT; s++) {
		const struct section *sec = &sections[s];
		if (fmt == SLUICE_CONFIG_HELP_MARKDOWN) {
			fprintf(out, "\n## [%s%s]\n\n%s\n\n", sec->name,
				sec->named ? ".<name>" : "", sec->help);
			fprintf(out,
				"| key | type | default | range | runtime | description |\n"
				"|-----|------|---------|-------|---------|-------------|\n");
		} else {
			fprintf(out, "\n[%s%s]  %s\n", sec->name, sec->named ? ".<name>" : "",
				sec->help);
		}
		for (size_t i = 0; i < sec->table->nkeys; i++) {
			const struct sluice_config_key *k = &sec->table->keys[i];
			char range[256];
			const char *def = k->def ? (k->def[0] ? k->def : "(empty)") : "(required)";

			describe_range(k, range, sizeof(range));
			if (fmt == SLUICE_CONFIG_HELP_MARKDOWN)
				fprintf(out, "| `%s` | %s | `%s` | %s | %s | %s |\n", k->name,
					type_names[k->type], def, range,
					(k->flags & K_RUNTIME) ? "yes" : "no", k->help);
			else
				fprintf(out, "  %-28s %-9s %-16s %s%s\n      %s\n", k->name,
					type_names[k->type], def, range,
					(k->flags & K_RUNTIME) ? " *" : "", k->help);
		}
		if (s == SEC_KAFKA)
			help_kafka_client(out, fmt);
	}
}

const char *sluice_config_format_name(uint32_t format)
{
	return format < 3 ? sluice_dataplane_format_names[format] : "?";
}

const char *sluice_config_key_mode_name(uint32_t key_mode)
{
	return key_mode < 2 ? sluice_dataplane_key_mode_names[key_mode] : "?";
}
