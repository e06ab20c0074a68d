/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shorthands for writing key tables (the `config_keys.c` of each module, and control/'s
 * parser): include it there only, as the short names (KB, MB, ...) would clash elsewhere.
 */
#ifndef SLUICE_CONFIG_ROWS_H
#define SLUICE_CONFIG_ROWS_H

#include "sluice_config_key.h"

/** FIELD(sluice_config_topic, fsync): the off and size of a row. */
#define FIELD(st, f) offsetof(struct st, f), sizeof(((struct st *)0)->f)
/** KEYS(topic_keys): a struct sluice_config_table of a static array of rows. */
#define KEYS(a) a, sizeof(a) / sizeof((a)[0])
/** Spell a numeric macro as a default: STR(SLUICE_LOG_QUEUE_DEPTH_DEFAULT) is "2". */
#define SLUICE_CONFIG_STR_(x) #x
#define SLUICE_CONFIG_STR(x) SLUICE_CONFIG_STR_(x)

#define KB 1024ull
#define MB (1024ull * KB)
#define GB (1024ull * MB)
#define TB (1024ull * GB)
#define SEC_US 1000000ull

#endif /* SLUICE_CONFIG_ROWS_H */
