/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small text helpers shared by modules, tools and bench. Header-only, reentrant.
 */
#ifndef SLUICE_TEXT_H
#define SLUICE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/**
 * Write @p v in decimal at @p out (no terminator; out must hold 20 bytes).
 * @return the number of digits written. Faster than snprintf on hot paths.
 */
static inline size_t sluice_u64_dec(uint64_t v, char *out)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

#endif /* SLUICE_TEXT_H */
