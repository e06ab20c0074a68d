/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration's private types, shared by its files:
 *   config.c          errors, sections and instances, the INI parser, get/set/list/help
 *   config_keys.c     the section registry (each section points at its module's key table)
 *   config_value.c    typed values: parse and format
 *   config_validate.c whole-config validation
 */
#ifndef SLUICE_CONFIG_INTERNAL_H
#define SLUICE_CONFIG_INTERNAL_H

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <regex.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "config.h"
#include "sluice_config_rows.h"
#include "sluice_forward.h"
#include "sluice_record.h"
#include "sluice_storage.h"

static const char *const type_names[] __attribute__((unused)) = {
	[T_BOOL] = "bool",         [T_U32] = "u32",
	[T_U64] = "u64",           [T_SIZE] = "size",
	[T_DURATION] = "duration", [T_STRING] = "string",
	[T_ENUM] = "enum",         [T_IP] = "ip",
	[T_ADDRESS] = "address",   [T_CPUS] = "cpu list",
	[T_LCORES] = "lcore map",
};

/* A section of the registry: its name and the table of the module that owns its keys. */
struct section {
	const char *name;
	bool named;
	const struct sluice_config_table *table;
	const char *help;
};

enum sec_id {
	SEC_EAL,
	SEC_STORAGE,
	SEC_KAFKA,
	SEC_CONTROL,
	SEC_DATAPLANE,
	SEC_PORT,
	SEC_LISTENER,
	SEC_TOPIC,
	SEC__COUNT
};

/* config_keys.c: the section registry; the key tables are the modules' (config_keys.c). */
extern const struct section sections[SEC__COUNT];

/* Where each value came from, for messages. key == ORIGIN_HEADER: the section line. */
#define ORIGIN_HEADER 0xffffu
struct origin {
	uint16_t sec;
	uint16_t idx;
	uint16_t key;
	uint16_t file;
	unsigned line;
};

/* Kept beside the public struct so that config.h need not expose it. */
struct config_priv {
	struct origin *origins;
	uint32_t norigins, cap;
	char **files;
	uint32_t nfiles;
};

/* Shared between the configuration's files. */

/* An EAL --lcores map: the lcores named and the CPUs each may run on. */
struct lcore_map {
	uint64_t lcores[2];
	uint64_t cpus_of[SLUICE_CONFIG_MAX_LCORES][2];
};

struct config_priv *priv(const struct sluice_config *cfg);
__attribute__((format(printf, 5, 6))) void add_error(struct sluice_config *cfg, const char *file,
						     unsigned line, const char *key,
						     const char *fmt, ...);
void origin_of(const struct sluice_config *cfg, unsigned sec, unsigned idx, unsigned key,
	       const char **file, unsigned *line);
uint32_t instance_count(const struct sluice_config *cfg, unsigned sec);
const char *instance_name(const struct sluice_config *cfg, unsigned sec, unsigned idx);
int find_key(unsigned sec, const char *key);
int parse_ip(const char *s, uint8_t a[16]);
int parse_address(const char *s, char *host, size_t hostlen, uint16_t *port);
bool set_has(const uint64_t set[2], unsigned i);
int parse_lcore_map(const char *s, struct lcore_map *m, char *why, size_t wl);
bool is_name(const char *s);
int parse_value(const struct sluice_config_key *k, const char *v, void *out, char *why, size_t wl);
void format_value(const struct sluice_config_key *k, const void *p, char *out, size_t len);

#endif /* SLUICE_CONFIG_INTERNAL_H */
