/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Every module logs through rte_log with its own sluice.<module> type, one call per line (so
 * that lines from several threads do not interleave) and a prefix naming the module. This is
 * the one definition of such a logging function; include it only where DPDK is a dependency.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_log.h>

/**
 * Define `[linkage] void name(uint32_t level, const char *fmt, ...)`, printf-checked, which
 * formats into a @p bufsize buffer and logs `<prefix><message>\n` at @p level under @p logtype
 * (an RTE_LOG_REGISTER'd variable). @p linkage is `static` or empty.
 */
#define SLUICE_LOG_FUNCTION(linkage, name, logtype, prefix, bufsize)                             \
	__attribute__((format(printf, 2, 3))) linkage void name(uint32_t level, const char *fmt, \
								...)                             \
	{                                                                                        \
		char msg_[bufsize];                                                              \
		va_list ap_;                                                                     \
                                                                                                 \
		va_start(ap_, fmt);                                                              \
		vsnprintf(msg_, sizeof(msg_), fmt, ap_);                                         \
		va_end(ap_);                                                                     \
		rte_log(level, logtype, prefix "%s\n", msg_);                                    \
	}

#endif /* SLUICE_LOG_H */
