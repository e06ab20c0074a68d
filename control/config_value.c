/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Typed values: parsing a key's text by its type (sizes, durations, addresses, CPU lists,
 * lcore maps) and formatting it back for config.get and --help-config.
 */
#include "config_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Values                                                                                     */

/* Strict unsigned decimal: digits only, no sign, no spaces, no overflow. */
static int parse_u64(const char *s, uint64_t *out, const char **end)
{
	char *e;
	unsigned long long v;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (e == s)
		return -EINVAL;
	*out = v;
	*end = e;
	return 0;
}

static int mul_overflows(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}

static int parse_size(const char *s, uint64_t *out, char *why, size_t wl)
{
	const char *e;
	uint64_t v, mult = 1;
	int rc = parse_u64(s, &v, &e);

	if (rc) {
		snprintf(why, wl,
			 "'%s' is not a size (digits with an optional K, M, G or T suffix)", s);
		return -EINVAL;
	}
	if (*e) {
		if (strcmp(e, "K") == 0 || strcmp(e, "k") == 0)
			mult = KB;
		else if (strcmp(e, "M") == 0)
			mult = MB;
		else if (strcmp(e, "G") == 0)
			mult = GB;
		else if (strcmp(e, "T") == 0)
			mult = TB;
		else {
			snprintf(why, wl, "unknown size suffix '%s' (K, M, G or T)", e);
			return -EINVAL;
		}
	}
	if (mul_overflows(v, mult, out)) {
		snprintf(why, wl, "'%s' is too large", s);
		return -EINVAL;
	}
	return 0;
}

static int parse_duration(const char *s, uint64_t *out, char *why, size_t wl)
{
	const char *e;
	uint64_t v, mult;
	int rc = parse_u64(s, &v, &e);

	if (rc) {
		snprintf(why, wl, "'%s' is not a duration (digits with a us, ms or s suffix)", s);
		return -EINVAL;
	}
	if (strcmp(e, "us") == 0)
		mult = 1;
	else if (strcmp(e, "ms") == 0)
		mult = 1000;
	else if (strcmp(e, "s") == 0)
		mult = SEC_US;
	else if (*e == '\0' && v == 0)
		mult = 1;
	else {
		snprintf(why, wl, "'%s' needs a unit: us, ms or s", s);
		return -EINVAL;
	}
	if (mul_overflows(v, mult, out)) {
		snprintf(why, wl, "'%s' is too large", s);
		return -EINVAL;
	}
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_ipv4(const char *s, uint32_t *be)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*be = a.s_addr;
	return 0;
}

/* 4 or 6 with the address in network order in @p a (IPv4 in the first 4 bytes), or -1. */
int parse_ip(const char *s, uint8_t a[16])
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET, s, a) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, a) == 1)
		return 6;
	return -1;
}

/* "a.b.c.d:port" */
int parse_address(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	const char *e;
	uint64_t p;
	uint32_t be;
	size_t n;

	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - s);
	if (n == 0 || n >= hostlen)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (parse_ipv4(host, &be))
		return -EINVAL;
	if (parse_u64(colon + 1, &p, &e) || *e || p > 65535)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

/* A number, a range a-b, or (only when groups are allowed) a parenthesised list of those. */
static int parse_id_item(const char **pp, uint64_t set[2], char *why, size_t wl)
{
	const char *e;
	uint64_t a, b;

	if (parse_u64(*pp, &a, &e)) {
		snprintf(why, wl, "expected a number at '%s'", *pp);
		return -EINVAL;
	}
	b = a;
	if (*e == '-') {
		if (parse_u64(e + 1, &b, &e)) {
			snprintf(why, wl, "expected a number after '-' in '%s'", *pp);
			return -EINVAL;
		}
	}
	if (a > b || b >= SLUICE_CONFIG_MAX_CPUS) {
		snprintf(why, wl, "bad id range %llu-%llu (ids go from 0 to %d)",
			 (unsigned long long)a, (unsigned long long)b, SLUICE_CONFIG_MAX_CPUS - 1);
		return -EINVAL;
	}
	for (uint64_t i = a; i <= b; i++)
		set[i / 64] |= 1ull << (i % 64);
	*pp = e;
	return 0;
}

static int parse_id_set(const char **pp, uint64_t set[2], bool *group, char *why, size_t wl)
{
	const char *p = *pp;

	set[0] = set[1] = 0;
	*group = false;
	if (*p != '(')
		return parse_id_item(pp, set, why, wl);
	*group = true;
	p++;
	for (;;) {
		if (parse_id_item(&p, set, why, wl))
			return -EINVAL;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == ')')
			break;
		snprintf(why, wl, "expected ',' or ')' at '%s'", p);
		return -EINVAL;
	}
	*pp = p + 1;
	return 0;
}

bool set_has(const uint64_t set[2], unsigned i)
{
	return (set[i / 64] >> (i % 64)) & 1;
}

/* EAL --lcores syntax: lcores[@cpus] elements, where either side may be a (group). */
int parse_lcore_map(const char *s, struct lcore_map *m, char *why, size_t wl)
{
	const char *p = s;

	memset(m, 0, sizeof(*m));
	if (*p == '\0') {
		snprintf(why, wl, "empty lcore map");
		return -EINVAL;
	}
	for (;;) {
		uint64_t ls[2], cs[2];
		bool lgroup, cgroup;

		bool at = false;

		if (parse_id_set(&p, ls, &lgroup, why, wl))
			return -EINVAL;
		if (*p == '@') {
			p++;
			at = true;
			if (parse_id_set(&p, cs, &cgroup, why, wl))
				return -EINVAL;
		} else {
			/* EAL: a (group) without '@' runs every lcore of it on the whole group. */
			cs[0] = ls[0];
			cs[1] = ls[1];
		}
		for (unsigned i = 0; i < SLUICE_CONFIG_MAX_LCORES; i++) {
			if (!set_has(ls, i))
				continue;
			if (set_has(m->lcores, i)) {
				snprintf(why, wl, "lcore %u appears twice", i);
				return -EINVAL;
			}
			m->lcores[i / 64] |= 1ull << (i % 64);
			if (!at && !lgroup) {
				/* A plain number or range without '@': each lcore on its own CPU. */
				m->cpus_of[i][i / 64] = 1ull << (i % 64);
			} else {
				m->cpus_of[i][0] = cs[0];
				m->cpus_of[i][1] = cs[1];
			}
		}
		if (*p == '\0')
			break;
		if (*p != ',') {
			snprintf(why, wl, "unexpected '%c' in lcore map", *p);
			return -EINVAL;
		}
		p++;
	}
	return 0;
}

static int parse_cpu_list(const char *s, struct sluice_cpu_list *out, char *why, size_t wl)
{
	const char *p = s;

	memset(out, 0, sizeof(*out));
	if (*p == '\0')
		return 0;
	for (;;) {
		uint64_t set[2] = {0, 0};
		const char *start = p;
		uint64_t a;
		const char *e;

		if (parse_id_item(&p, set, why, wl))
			return -EINVAL;
		/* Keep the order given: "3,1" pins writer 0 to CPU 3. */
		parse_u64(start, &a, &e);
		for (unsigned i = (unsigned)a; i < SLUICE_CONFIG_MAX_CPUS && set_has(set, i); i++) {
			if (out->n >= SLUICE_CONFIG_MAX_CPUS) {
				snprintf(why, wl, "more than %d CPUs", SLUICE_CONFIG_MAX_CPUS);
				return -EINVAL;
			}
			out->id[out->n++] = (uint16_t)i;
		}
		if (*p == '\0')
			return 0;
		if (*p != ',') {
			snprintf(why, wl, "unexpected '%c' in CPU list", *p);
			return -EINVAL;
		}
		p++;
	}
}

bool is_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Parse @p v for key @p k into @p out (k->size bytes). 0 or -EINVAL with a reason. */
int parse_value(const struct sluice_config_key *k, const char *v, void *out, char *why, size_t wl)
{
	uint64_t n = 0;
	int rc;

	switch (k->type) {
	case T_BOOL: {
		bool b;
		if (parse_bool(v, &b)) {
			snprintf(why, wl, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)",
				 v);
			return -EINVAL;
		}
		*(bool *)out = b;
		return 0;
	}
	case T_U32:
	case T_U64: {
		const char *e;
		rc = parse_u64(v, &n, &e);
		if (rc || *e) {
			snprintf(why, wl, "'%s' is not an unsigned integer", v);
			return -EINVAL;
		}
		break;
	}
	case T_SIZE:
		if (parse_size(v, &n, why, wl))
			return -EINVAL;
		break;
	case T_DURATION:
		if (parse_duration(v, &n, why, wl))
			return -EINVAL;
		break;
	case T_ENUM:
		for (uint32_t i = 0; k->enums[i]; i++) {
			if (strcmp(v, k->enums[i]) == 0) {
				*(uint32_t *)out = i + k->enum_base;
				return 0;
			}
		}
		{
			char list[256] = "";
			size_t used = 0;
			for (uint32_t i = 0; k->enums[i] && used < sizeof(list); i++)
				used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
							 i ? ", " : "", k->enums[i]);
			snprintf(why, wl, "'%s' is not one of: %s", v, list);
		}
		return -EINVAL;
	case T_IP: {
		uint8_t a[16];
		int fam = parse_ip(v, a);
		/* min/max 4 or 6 restrict the family; 0 allows both. Empty only if default. */
		if (*v == '\0' && k->def && *k->def == '\0')
			goto string;
		if (fam < 0 || (k->min && (uint64_t)fam != k->min)) {
			snprintf(why, wl, "'%s' is not an %s address", v,
				 k->min == 4           ? "IPv4"
					 : k->min == 6 ? "IPv6"
						       : "IPv4 or IPv6");
			return -EINVAL;
		}
		goto string;
	}
	case T_ADDRESS: {
		char host[64];
		uint16_t port;
		if (parse_address(v, host, sizeof(host), &port)) {
			snprintf(why, wl, "'%s' is not an IPv4:port address", v);
			return -EINVAL;
		}
		goto string;
	}
	case T_LCORES: {
		struct lcore_map *m;
		if (strcmp(v, "auto") == 0)
			goto string;
		m = malloc(sizeof(*m));
		if (!m) {
			snprintf(why, wl, "out of memory");
			return -EINVAL;
		}
		rc = parse_lcore_map(v, m, why, wl);
		free(m);
		if (rc)
			return -EINVAL;
		goto string;
	}
	case T_CPUS:
		return parse_cpu_list(v, out, why, wl) ? -EINVAL : 0;
	case T_STRING:
string:
		if (strlen(v) >= k->size) {
			snprintf(why, wl, "value longer than %zu bytes", k->size - 1);
			return -EINVAL;
		}
		if ((k->flags & K_NAME) && *v && !is_name(v)) {
			snprintf(why, wl, "'%s' may only contain letters, digits, '.', '_' and '-'",
				 v);
			return -EINVAL;
		}
		memcpy(out, v, strlen(v) + 1);
		return 0;
	}
	if (n < k->min || n > k->max) {
		char lo[32], hi[32];
		if (k->type == T_SIZE || k->type == T_DURATION) {
			snprintf(why, wl, "'%s' is out of range [%llu, %llu]%s", v,
				 (unsigned long long)k->min, (unsigned long long)k->max,
				 k->type == T_SIZE ? " bytes" : " us");
		} else {
			snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
			snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
			snprintf(why, wl, "%s is out of range [%s, %s]", v, lo, hi);
		}
		return -EINVAL;
	}
	if ((k->flags & K_POW2) && !is_pow2(n)) {
		snprintf(why, wl, "%s is not a power of two", v);
		return -EINVAL;
	}
	if (k->type == T_U32 || k->size == sizeof(uint32_t))
		*(uint32_t *)out = (uint32_t)n;
	else
		*(uint64_t *)out = n;
	return 0;
}

static void format_scaled(char *out, size_t len, uint64_t v, const uint64_t *units,
			  const char *const *suffix, size_t nunits)
{
	if (v == 0) {
		snprintf(out, len, "0");
		return;
	}
	for (size_t i = 0; i < nunits; i++) {
		if (v % units[i] == 0) {
			snprintf(out, len, "%llu%s", (unsigned long long)(v / units[i]), suffix[i]);
			return;
		}
	}
}

void format_value(const struct sluice_config_key *k, const void *p, char *out, size_t len)
{
	static const uint64_t size_units[] = {TB, GB, MB, KB, 1};
	static const char *const size_suffix[] = {"T", "G", "M", "K", ""};
	static const uint64_t dur_units[] = {SEC_US, 1000, 1};
	static const char *const dur_suffix[] = {"s", "ms", "us"};
	uint64_t v;

	switch (k->type) {
	case T_BOOL:
		snprintf(out, len, "%s", *(const bool *)p ? "true" : "false");
		return;
	case T_U32:
		snprintf(out, len, "%u", *(const uint32_t *)p);
		return;
	case T_U64:
		snprintf(out, len, "%llu", (unsigned long long)*(const uint64_t *)p);
		return;
	case T_SIZE:
	case T_DURATION:
		v = k->size == sizeof(uint32_t) ? *(const uint32_t *)p : *(const uint64_t *)p;
		if (k->type == T_SIZE)
			format_scaled(out, len, v, size_units, size_suffix, 5);
		else
			format_scaled(out, len, v, dur_units, dur_suffix, 3);
		return;
	case T_ENUM:
		snprintf(out, len, "%s", k->enums[*(const uint32_t *)p - k->enum_base]);
		return;
	case T_CPUS: {
		const struct sluice_cpu_list *l = p;
		size_t used = 0;
		out[0] = '\0';
		for (uint32_t i = 0; i < l->n && used < len; i++)
			used += (size_t)snprintf(out + used, len - used, "%s%u", i ? "," : "",
						 l->id[i]);
		return;
	}
	case T_STRING:
	case T_IP:
	case T_ADDRESS:
	case T_LCORES:
		snprintf(out, len, "%s", (const char *)p);
		return;
	}
}
