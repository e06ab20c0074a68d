/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shorthands for writing key tables (the `config_keys.c` of each module, and control/'s
 * parser): include it there only, as the short names (T_BOOL, KB, ...) would clash elsewhere.
 */
#ifndef SLUICE_CONFIG_ROWS_H
#define SLUICE_CONFIG_ROWS_H

#include "sluice_config_key.h"

/* The row's type and flags, short. */
#define T_BOOL SLUICE_CONFIG_T_BOOL
#define T_U32 SLUICE_CONFIG_T_U32
#define T_U64 SLUICE_CONFIG_T_U64
#define T_SIZE SLUICE_CONFIG_T_SIZE
#define T_DURATION SLUICE_CONFIG_T_DURATION
#define T_STRING SLUICE_CONFIG_T_STRING
#define T_ENUM SLUICE_CONFIG_T_ENUM
#define T_IP SLUICE_CONFIG_T_IP
#define T_ADDRESS SLUICE_CONFIG_T_ADDRESS
#define T_CPUS SLUICE_CONFIG_T_CPUS
#define T_LCORES SLUICE_CONFIG_T_LCORES
#define K_RUNTIME SLUICE_CONFIG_K_RUNTIME
#define K_REQUIRED SLUICE_CONFIG_K_REQUIRED
#define K_POW2 SLUICE_CONFIG_K_POW2
#define K_NAME SLUICE_CONFIG_K_NAME

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
