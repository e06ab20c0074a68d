/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one monotonic clock every module and tool reads (CLOCK_MONOTONIC), in the units they
 * count in. Header-only: no module to link, usable from tools, bench and tests alike.
 * Thread safety: all functions are reentrant.
 */
#ifndef SLUICE_TIME_H
#define SLUICE_TIME_H

#include <stdint.h>
#include <time.h>

/** Monotonic time in nanoseconds. */
static inline uint64_t sluice_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/** Monotonic time in microseconds. */
static inline uint64_t sluice_mono_us(void)
{
	return sluice_mono_ns() / 1000u;
}

/** Monotonic time in milliseconds. */
static inline uint64_t sluice_mono_ms(void)
{
	return sluice_mono_ns() / 1000000u;
}

/** Monotonic time in seconds, as a double (durations and rates in logs and replies). */
static inline double sluice_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/** A timespec (e.g. a CLOCK_MONOTONIC start time) in seconds. */
static inline double sluice_ts_s(const struct timespec *ts)
{
	return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

/** Wall-clock time in milliseconds since the epoch (record timestamps). */
static inline int64_t sluice_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* SLUICE_TIME_H */
