/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Readers: iterate durable batches from an offset or a timestamp (forwarder, sluice-dump,
 * replay). Any thread. A reader pins its segment (refs, under the partition lock) so that
 * retention cannot free it, reads with pread on its own fd, and never reads past the
 * segment's durable_bytes (acquire; partner: the release store in writer.c publish()). A
 * segment is complete once a later one is listed: the writer lists the next segment only
 * after this one is durable to its last byte.
 * An index entry is only a hint: the batch it names is checked, and a mismatch falls back to
 * a scan from the segment start.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage_internal.h"

#define READER_WINDOW (256u << 10)

struct sluice_reader {
	struct sluice_partition *p;
	struct segment *seg;
	int fd;
	uint64_t pos; /* next batch position in seg */
	int64_t expect; /* base offset the batch at pos must have */
	bool from_index; /* pos came from an index entry not yet confirmed */
	int64_t target; /* skip batches that end below this offset */
	int64_t target_ts; /* skip batches with maxTimestamp below this (INT64_MIN: none) */
	uint8_t *buf;
	size_t cap;
	uint64_t win_pos; /* file position of buf[0] */
	size_t win_len;
	bool logged;
};

static int reader_open_fd(struct sluice_reader *r)
{
	char path[PATH_MAX];

	if (r->fd >= 0)
		close(r->fd);
	seg_path(r->p, r->seg->base_offset, ".log", path, sizeof(path));
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		int rc = -errno;

		sluice_storage_log("reader: open %s: %s", path, strerror(-rc));
		return rc;
	}
	r->win_len = 0;
	return 0;
}

static int reader_new(struct sluice_partition *p, struct sluice_reader **out)
{
	struct sluice_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->p = p;
	r->fd = -1;
	r->cap = READER_WINDOW;
	r->buf = malloc(r->cap);
	r->target_ts = INT64_MIN;
	if (!r->buf) {
		free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void sluice_reader_close(struct sluice_reader *r)
{
	if (!r)
		return;
	if (r->seg) {
		pthread_mutex_lock(&r->p->lock);
		seg_unref_locked(r->p, r->seg);
		pthread_mutex_unlock(&r->p->lock);
	}
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	free(r);
}

/* Caller holds the lock. Pin segs[i] and position at pos (with the offset it must have). */
static void pin_locked(struct sluice_reader *r, struct segment *s, uint64_t pos, int64_t expect,
		       bool from_index)
{
	s->refs++;
	if (r->seg)
		seg_unref_locked(r->p, r->seg);
	r->seg = s;
	r->pos = pos;
	r->expect = expect;
	r->from_index = from_index;
}

int sluice_reader_open(struct sluice_partition *p, int64_t offset, struct sluice_reader **out)
{
	struct sluice_reader *r;
	struct segment *s = NULL;
	int64_t entry;
	uint64_t pos;
	int rc;

	*out = NULL;
	rc = reader_new(p, &r);
	if (rc)
		return rc;
	pthread_mutex_lock(&p->lock);
	/* The last listed segment, not the writer's: a roll lists the next one only once its
	 * name is durable and the previous one is durable to its end. */
	if (offset < p->segs[0]->base_offset || offset > p->segs[p->nsegs - 1]->next_offset) {
		pthread_mutex_unlock(&p->lock);
		sluice_reader_close(r);
		return -ERANGE;
	}
	for (uint32_t i = p->nsegs; i-- > 0;) {
		if (p->segs[i]->base_offset <= offset) {
			s = p->segs[i];
			break;
		}
	}
	pos = (uint64_t)seg_lookup_pos(s, offset, &entry);
	pin_locked(r, s, pos, entry, pos != 0);
	pthread_mutex_unlock(&p->lock);
	r->target = offset;
	rc = reader_open_fd(r);
	if (rc) {
		sluice_reader_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

int sluice_reader_open_at_time(struct sluice_partition *p, int64_t ts_ms,
			       struct sluice_reader **out)
{
	struct sluice_reader *r;
	struct segment *s = NULL;
	int64_t entry;
	uint64_t pos;
	int rc;

	*out = NULL;
	rc = reader_new(p, &r);
	if (rc)
		return rc;
	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < p->nsegs; i++) {
		if (p->segs[i]->max_ts >= ts_ms) {
			s = p->segs[i];
			break;
		}
	}
	if (s) {
		pos = (uint64_t)seg_lookup_time_pos(s, ts_ms, &entry);
		pin_locked(r, s, pos, entry, pos != 0);
		r->target_ts = ts_ms;
	} else {
		/* Nothing that recent: start at the end of what is durable. */
		s = p->segs[p->nsegs - 1];
		pin_locked(r, s, atomic_load_explicit(&s->durable_bytes, memory_order_acquire), -1,
			   false);
	}
	r->target = s->base_offset;
	pthread_mutex_unlock(&p->lock);
	rc = reader_open_fd(r);
	if (rc) {
		sluice_reader_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* Make buf hold [pos, pos + need) of the file; reads ahead up to the durable limit. */
static int window(struct sluice_reader *r, uint64_t pos, size_t need, uint64_t limit,
		  const uint8_t **out)
{
	size_t want;
	ssize_t n;

	if (pos >= r->win_pos && pos + need <= r->win_pos + r->win_len) {
		*out = r->buf + (pos - r->win_pos);
		return 0;
	}
	if (need > r->cap) {
		size_t ncap = need + READER_WINDOW;
		uint8_t *nb = malloc(ncap);

		if (!nb)
			return -ENOMEM;
		free(r->buf);
		r->buf = nb;
		r->cap = ncap;
	}
	want = limit - pos < r->cap ? (size_t)(limit - pos) : r->cap;
	r->win_len = 0;
	r->win_pos = pos;
	while (r->win_len < need) {
		n = pread(r->fd, r->buf + r->win_len, want - r->win_len, (off_t)(pos + r->win_len));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		r->win_len += (size_t)n;
	}
	*out = r->buf;
	return 0;
}

/* At the end of a segment's durable bytes: move to the next segment if there is one. */
static int next_segment(struct sluice_reader *r, bool *moved)
{
	struct sluice_partition *p = r->p;
	struct segment *next = NULL;

	*moved = false;
	pthread_mutex_lock(&p->lock);
	/* Re-check under the lock: a segment is complete once a later one exists. */
	if (r->pos < atomic_load_explicit(&r->seg->durable_bytes, memory_order_acquire)) {
		pthread_mutex_unlock(&p->lock);
		*moved = true;
		return 0;
	}
	for (uint32_t i = 0; i < p->nsegs; i++) {
		if (p->segs[i]->base_offset > r->seg->base_offset) {
			next = p->segs[i];
			break;
		}
	}
	if (next)
		pin_locked(r, next, 0, next->base_offset, false);
	pthread_mutex_unlock(&p->lock);
	if (!next)
		return 0;
	*moved = true;
	return reader_open_fd(r);
}

int sluice_reader_next(struct sluice_reader *r, const uint8_t **batch, size_t *len)
{
	for (;;) {
		uint64_t limit = atomic_load_explicit(&r->seg->durable_bytes, memory_order_acquire);
		struct sluice_rb_header h;
		const uint8_t *b;
		size_t bytes;
		enum sluice_rb_err e;
		int rc;

		if (r->pos >= limit) {
			bool moved;

			rc = next_segment(r, &moved);
			if (rc || !moved)
				return rc;
			continue;
		}
		rc = window(r, r->pos, SLUICE_RB_LOG_OVERHEAD, limit, &b);
		if (rc)
			return rc;
		bytes = (size_t)sluice_be32_get(b + 8) + SLUICE_RB_LOG_OVERHEAD;
		e = SLUICE_RB_OK;
		if (bytes > limit - r->pos || bytes > SLUICE_RB_MAX_BATCH_BYTES + 64)
			e = SLUICE_RB_ELENGTH;
		if (e == SLUICE_RB_OK) {
			rc = window(r, r->pos, bytes, limit, &b);
			if (rc)
				return rc;
			e = sluice_rb_batch_validate(b, bytes, &h, NULL);
		}
		if (e == SLUICE_RB_OK && r->expect >= 0 && h.base_offset != r->expect)
			e = SLUICE_RB_EOFFSET_ORDER;
		if (e != SLUICE_RB_OK) {
			if (r->from_index) {
				/* A damaged index entry: scan this segment from its start. */
				r->from_index = false;
				r->pos = 0;
				r->expect = r->seg->base_offset;
				continue;
			}
			if (!r->logged)
				sluice_storage_log("%s: reader: %s at byte %" PRIu64
						   " of segment %" PRId64,
						   r->p->dir, sluice_rb_strerror(e), r->pos,
						   r->seg->base_offset);
			r->logged = true;
			return -EBADMSG;
		}
		r->from_index = false;
		r->pos += bytes;
		r->expect = h.base_offset + h.last_offset_delta + 1;
		if (r->expect <= r->target)
			continue;
		if (r->target_ts != INT64_MIN) {
			if (h.max_timestamp < r->target_ts)
				continue;
			r->target_ts = INT64_MIN;
		}
		*batch = b;
		*len = bytes;
		return 1;
	}
}
