/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The configuration key descriptor: what a module declares for each of its keys (name, type,
 * default, bounds, field, flags, help), one row per key, next to the code that uses the value.
 * control/ parses, bounds-checks, prints (`--help-config`, docs/configuration.md) and serves
 * (config.get/set/list) every key from these rows; modules need nothing from control/.
 *
 * Module config headers (`<module>_config.h`) include this for the limits and the table type;
 * the tables themselves also include sluice_config_rows.h (short names: T_*, K_*, FIELD, KEYS,
 * units).
 */
#ifndef SLUICE_CONFIG_KEY_H
#define SLUICE_CONFIG_KEY_H

#include <stddef.h>
#include <stdint.h>

#define SLUICE_CONFIG_MAX_CPUS 128
#define SLUICE_CONFIG_MAX_LCORES 128
#define SLUICE_CONFIG_NAME_MAX 32
#define SLUICE_CONFIG_TOPIC_MAX 64
#define SLUICE_CONFIG_PATH_MAX 256
#define SLUICE_CONFIG_STR_MAX 512

/** A set of CPU (or lcore) ids, in the order given. */
struct sluice_cpu_list {
	uint32_t n;
	uint16_t id[SLUICE_CONFIG_MAX_CPUS];
};

/** A key's type: how its value is parsed, bounded and printed. */
enum sluice_config_key_type {
	SLUICE_CONFIG_T_BOOL,
	SLUICE_CONFIG_T_U32,
	SLUICE_CONFIG_T_U64,
	SLUICE_CONFIG_T_SIZE, /**< bytes, with K/M/G/T suffixes */
	SLUICE_CONFIG_T_DURATION, /**< microseconds, with us/ms/s suffixes */
	SLUICE_CONFIG_T_STRING,
	SLUICE_CONFIG_T_ENUM,
	SLUICE_CONFIG_T_IP,
	SLUICE_CONFIG_T_ADDRESS,
	SLUICE_CONFIG_T_CPUS,
	SLUICE_CONFIG_T_LCORES,
};

#define SLUICE_CONFIG_K_RUNTIME 0x1u /**< can change while running (config.set, reload) */
#define SLUICE_CONFIG_K_REQUIRED 0x2u /**< no default: must be given */
#define SLUICE_CONFIG_K_POW2 0x4u /**< numeric value must be a power of two */
#define SLUICE_CONFIG_K_NAME 0x8u /**< string restricted to [A-Za-z0-9._-] (Kafka topic-safe) */

/** One key: a row of its module's table. */
struct sluice_config_key {
	const char *name;
	enum sluice_config_key_type type;
	const char *def; /**< the default, parsed like file input; "" empty; NULL required */
	uint64_t min, max; /**< numeric bounds; for strings max is unused (size bounds it) */
	size_t off; /**< the field in the section's struct (FIELD()) */
	size_t size;
	const char *const *enums; /**< T_ENUM: NULL-terminated names, value = index + enum_base */
	uint32_t enum_base;
	unsigned flags; /**< SLUICE_CONFIG_K_* */
	const char *help; /**< one line of `--help-config` and docs/configuration.md */
};

/** A module's table of keys for one section, as the section registry (control/) names it. */
struct sluice_config_table {
	const struct sluice_config_key *keys;
	size_t nkeys;
};

#endif /* SLUICE_CONFIG_KEY_H */
