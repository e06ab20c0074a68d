/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Retention: delete whole oldest segments by size and age, off the writers' path (the
 * housekeeping thread, or sluice_log_retention_run). Never the active segment, and never a
 * segment the forwarder has not passed unless the topic allows dropping unforwarded data,
 * in which case the dropped records are counted and logged as an alarm. A store_only topic
 * has no forwarder to wait for: size and age alone decide.
 *
 * Threading: runs beside the partition's writer; changes the segment list only under the
 * partition lock. The writer adds segments at the end; retention removes from the front.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "storage_internal.h"

void part_update_oldest(struct sluice_partition *p, int64_t base)
{
	uint8_t h[SLUICE_RB_HEADER_BYTES];
	char path[PATH_MAX];
	int fd;

	seg_path(p, base, ".log", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) && h[16] == SLUICE_RB_MAGIC)
		atomic_store_explicit(&p->oldest_timestamp_ms, (int64_t)sluice_be64_get(h + 27),
				      memory_order_relaxed);
	close(fd);
}

int part_retention(struct sluice_partition *p, int64_t now_ms)
{
	const struct sluice_topic_opts *t = p->topt;
	uint64_t total = 0;
	int deleted = 0;
	int64_t first;

	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < p->nsegs; i++)
		total += p->segs[i]->size;
	while (p->nsegs > 1) {
		struct segment *s = p->segs[0];
		/* Partner: the release CAS in sluice_partition_set_forwarded(). */
		int64_t fwd = atomic_load_explicit(&p->forwarded_offset, memory_order_acquire);
		bool by_bytes = t->retention_bytes && total - s->size >= t->retention_bytes;
		bool by_age = t->retention_ms && s->max_ts != INT64_MIN &&
			s->max_ts < now_ms - (int64_t)t->retention_ms;

		if (!by_bytes && !by_age)
			break;
		if (!t->store_only && s->next_offset > fwd) {
			int64_t from = fwd > s->base_offset ? fwd : s->base_offset;

			if (!t->retention_drop_unforwarded)
				break;
			CNT_ADD(p->retention_dropped_records, (uint64_t)(s->next_offset - from));
			sluice_storage_log("%s: ALARM: retention dropped %" PRId64
					   " unforwarded records [%" PRId64 ", %" PRId64 ")",
					   p->dir, s->next_offset - from, from, s->next_offset);
		}
		memmove(p->segs, p->segs + 1, (p->nsegs - 1) * sizeof(*p->segs));
		p->nsegs--;
		total -= s->size;
		s->deleted = true;
		atomic_fetch_sub(&p->bytes_on_disk, s->size);
		atomic_fetch_sub(&p->nsegments, 1);
		atomic_store(&p->log_start_offset, p->segs[0]->base_offset);
		CNT_ADD(p->retention_deleted_segments, 1);
		seg_unref_locked(p, s);
		deleted++;
	}
	first = p->segs[0]->base_offset;
	pthread_mutex_unlock(&p->lock);
	if (deleted || atomic_load_explicit(&p->oldest_timestamp_ms, memory_order_relaxed) < 0)
		part_update_oldest(p, first);
	return deleted;
}
