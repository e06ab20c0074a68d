/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Talking to the service manager (private to control/): the sd_notify protocol (one
 * datagram of `KEY=VALUE` lines to the AF_UNIX socket named by $NOTIFY_SOCKET; systemd's
 * READY=1, RELOADING=1, STOPPING=1, STATUS=..., WATCHDOG=1) and a watchdog thread that pings
 * only while the threads it watches make progress.
 *
 * The protocol is spoken directly rather than through libsystemd: it is a stable, documented
 * interface (sd_notify(3), "the protocol"), a few lines long, and sluiced then runs the same
 * under systemd, under another supervisor that speaks it, or under none.
 *
 * Threads: sluice_notify() is thread-safe (one socket per call). A watchdog's sample and
 * stall callbacks run on its own thread.
 */
#ifndef SLUICE_NOTIFY_H
#define SLUICE_NOTIFY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Send one notification (newline-separated `KEY=VALUE` assignments) to $NOTIFY_SOCKET.
 * @return 0 sent; -ENOENT when there is no supervisor to tell; -errno when sending failed.
 */
int sluice_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * The supervisor's watchdog interval: $WATCHDOG_USEC when $WATCHDOG_PID is unset or names
 * this process; 0 when no watchdog is asked for.
 */
uint64_t sluice_notify_watchdog_usec(void);

/**
 * Fill @p counters (at most @p max) with one monotonic progress counter per watched thread;
 * @return how many were filled. Called on the watchdog's thread.
 */
typedef unsigned (*sluice_watchdog_sample_fn)(void *arg, uint64_t *counters, unsigned max);

/** Told that counter @p index has not moved for @p stalled_ms (the ping is withheld). */
typedef void (*sluice_watchdog_stall_fn)(void *arg, unsigned index, uint64_t stalled_ms);

struct sluice_watchdog;

/**
 * Start a thread that, every @p period_us, samples the counters and sends WATCHDOG=1 when
 * every one of them advanced since the previous sample.
 * @return 0 or -errno.
 */
int sluice_watchdog_start(uint64_t period_us, sluice_watchdog_sample_fn sample,
			  sluice_watchdog_stall_fn stall, void *arg, struct sluice_watchdog **out);

/** Stop and join the thread (no ping after it returns). Accepts NULL. */
void sluice_watchdog_stop(struct sluice_watchdog *w);

/**
 * The first of @p n counters that did not advance from @p prev to @p cur, or -1 when all
 * did (pure; the watchdog's judgement, exposed for tests).
 */
int sluice_watchdog_stalled(const uint64_t *prev, const uint64_t *cur, unsigned n);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_NOTIFY_H */
