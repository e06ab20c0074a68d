/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The roll helper: one thread per log that takes the slow part of segment rolls off the
 * writers' path (docs/storage.md). It
 *  - prepares each partition's next segment ahead of its roll: prepared.log, .index and
 *    .timeindex created, the log preallocated, the directory entry durable;
 *  - names the segment a roll swapped in: renames the prepared files to <base>.* and fsyncs
 *    the directory (the writer lists the segment, and publishes its bytes, only after that);
 *  - seals the segment a roll left once it is durable to its end: trims its preallocated
 *    tail, fdatasyncs it, writes its indexes, advances the recovery checkpoint, closes it.
 *
 * Threading contract: writers post work under log->roll_lock (once per roll) and this thread
 * takes it under the same lock, doing the I/O without it. Results go back through atomics:
 * p->prepared and s->named with release stores here (acquire loads in writer.c), p->roll_err
 * relaxed (the writer fails the partition when it sees it). Jobs by priority: names first (a
 * settled roll waits for them), then preparations (the next roll waits for them), then seals
 * (only the recovery checkpoint waits for them). At stop, names and seals still queued are
 * done; preparations are not (close removes prepared segments anyway).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <rte_branch_prediction.h>

#include "storage_internal.h"

enum roll_job { JOB_NONE, JOB_NAME, JOB_PREPARE, JOB_SEAL };

static void point(struct sluice_partition *p, const char *what, int64_t base)
{
	if (unlikely(storage_test_hooks.roll_point != NULL))
		storage_test_hooks.roll_point(storage_test_hooks.arg, p, what, base);
}

static void roll_fail(struct sluice_partition *p, int rc)
{
	int none = 0;

	/* Partner: the relaxed load in writer.c part_service(), which fails the partition. */
	atomic_compare_exchange_strong_explicit(&p->roll_err, &none, rc, memory_order_relaxed,
						memory_order_relaxed);
}

void roll_request_prepare(struct sluice_partition *p, bool zero)
{
	struct sluice_log *log = p->log;

	pthread_mutex_lock(&log->roll_lock);
	if (!p->roll_want_prepare && !atomic_load_explicit(&p->prepared, memory_order_relaxed)) {
		p->roll_want_prepare = true;
		p->roll_prepare_zero = zero;
		pthread_cond_signal(&log->roll_cond);
	}
	pthread_mutex_unlock(&log->roll_lock);
}

void roll_request_name(struct sluice_partition *p, struct segment *s, bool zero_next)
{
	struct sluice_log *log = p->log;

	pthread_mutex_lock(&log->roll_lock);
	p->roll_to_name = s;
	/* and the segment after it right away */
	p->roll_want_prepare = true;
	p->roll_prepare_zero = zero_next;
	pthread_cond_signal(&log->roll_cond);
	pthread_mutex_unlock(&log->roll_lock);
}

void roll_request_seal(struct sluice_partition *p, struct segment *s)
{
	struct sluice_log *log = p->log;

	pthread_mutex_lock(&log->roll_lock);
	s->seal_next = NULL;
	if (p->roll_seal_tail)
		p->roll_seal_tail->seal_next = s;
	else
		p->roll_seal_head = s;
	p->roll_seal_tail = s;
	pthread_cond_signal(&log->roll_cond);
	pthread_mutex_unlock(&log->roll_lock);
}

/* Caller holds roll_lock. The most urgent job of any partition, taken off its queue. */
static enum roll_job take(struct sluice_log *log, struct sluice_partition **pp, struct segment **ps,
			  bool *zero)
{
	for (uint32_t i = 0; i < log->nparts; i++) {
		struct sluice_partition *p = log->parts[i];

		if (p->roll_to_name) {
			*pp = p;
			*ps = p->roll_to_name;
			p->roll_to_name = NULL;
			return JOB_NAME;
		}
	}
	for (uint32_t i = 0; i < log->nparts && !log->roll_stop; i++) {
		struct sluice_partition *p = log->parts[i];

		if (p->roll_want_prepare) {
			*pp = p;
			*zero = p->roll_prepare_zero;
			p->roll_want_prepare = false;
			return JOB_PREPARE;
		}
	}
	for (uint32_t i = 0; i < log->nparts; i++) {
		struct sluice_partition *p = log->parts[i];

		if (p->roll_seal_head) {
			*pp = p;
			*ps = p->roll_seal_head;
			p->roll_seal_head = (*ps)->seal_next;
			if (!p->roll_seal_head)
				p->roll_seal_tail = NULL;
			return JOB_SEAL;
		}
	}
	return JOB_NONE;
}

static void do_name(struct sluice_partition *p, struct segment *s)
{
	int rc;

	point(p, "naming", s->base_offset);
	rc = seg_name(p, s);
	if (rc) {
		roll_fail(p, rc);
		return;
	}
	/* Partner: the acquire load in writer.c roll_settle(). */
	atomic_store_explicit(&s->named, true, memory_order_release);
	point(p, "named", s->base_offset);
}

static void do_prepare(struct sluice_partition *p, bool zero)
{
	struct segment *s;
	int rc;

	if (atomic_load_explicit(&p->prepared, memory_order_relaxed))
		return;
	point(p, "preparing", -1);
	rc = seg_prepare(p, zero, true, &s);
	if (rc) {
		sluice_storage_log("%s: preparing the next segment: %s", p->dir, strerror(-rc));
		roll_fail(p, rc);
		return;
	}
	/* Partner: the acquire load in writer.c roll_begin(). */
	atomic_store_explicit(&p->prepared, s, memory_order_release);
	point(p, "prepared", -1);
}

/* The writer handed the segment over once it was durable to its end with nothing in flight
 * on it, holding a reference for us. */
static void do_seal(struct sluice_partition *p, struct segment *s)
{
	int rc;

	point(p, "sealing", s->base_offset);
	rc = seg_seal(p, s);

	if (rc) {
		sluice_storage_log("%s: sealing segment %" PRId64 ": %s", p->dir, s->base_offset,
				   strerror(-rc));
		roll_fail(p, rc);
	} else {
		/* Everything below the next base is sealed and synced: recovery may start
		 * there. Not fatal: recovery then scans more. */
		rc = part_write_checkpoint(p, s->seal_checkpoint);
		if (rc)
			sluice_storage_log(
				"%s: checkpoint not advanced (recovery will scan more): %s", p->dir,
				strerror(-rc));
	}
	pthread_mutex_lock(&p->lock);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	seg_unref_locked(p, s);
	pthread_mutex_unlock(&p->lock);
	if (!rc)
		point(p, "sealed", s->seal_checkpoint);
}

static void *roller_main(void *arg)
{
	struct sluice_log *log = arg;

	pthread_setname_np(pthread_self(), "sluice-roll");
	pthread_mutex_lock(&log->roll_lock);
	for (;;) {
		struct sluice_partition *p = NULL;
		struct segment *s = NULL;
		bool zero = false;
		enum roll_job j = take(log, &p, &s, &zero);

		if (j == JOB_NONE) {
			if (log->roll_stop)
				break;
			pthread_cond_wait(&log->roll_cond, &log->roll_lock);
			continue;
		}
		pthread_mutex_unlock(&log->roll_lock);
		if (j == JOB_NAME)
			do_name(p, s);
		else if (j == JOB_PREPARE)
			do_prepare(p, zero);
		else
			do_seal(p, s);
		pthread_mutex_lock(&log->roll_lock);
	}
	pthread_mutex_unlock(&log->roll_lock);
	return NULL;
}

int roller_start(struct sluice_log *log)
{
	enum sluice_prealloc mode = log->opts.prealloc;
	int rc;

	pthread_mutex_lock(&log->roll_lock);
	log->roll_stop = false;
	/* Every partition gets its first next segment now. The adaptive mode starts with zeros,
	 * as the writer does before it has seen any group commit. */
	for (uint32_t i = 0; i < log->nparts; i++) {
		struct sluice_partition *p = log->parts[i];

		if (!atomic_load_explicit(&p->prepared, memory_order_relaxed)) {
			p->roll_want_prepare = true;
			p->roll_prepare_zero =
				mode == SLUICE_PREALLOC_ZERO || mode == SLUICE_PREALLOC_DEFAULT;
		}
	}
	pthread_mutex_unlock(&log->roll_lock);
	rc = pthread_create(&log->roller, NULL, roller_main, log);
	if (rc) {
		sluice_storage_log("pthread_create roll helper: %s", strerror(rc));
		return -rc;
	}
	log->roller_started = true;
	return 0;
}

void roller_stop(struct sluice_log *log)
{
	if (!log->roller_started)
		return;
	pthread_mutex_lock(&log->roll_lock);
	log->roll_stop = true;
	pthread_cond_signal(&log->roll_cond);
	pthread_mutex_unlock(&log->roll_lock);
	pthread_join(log->roller, NULL);
	log->roller_started = false;
}
