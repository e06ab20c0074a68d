/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Segment files, sparse indexes and recovery at open (see docs/log-format.md).
 *
 * Runs in the control thread at open (part_load) and in the owning writer at roll. Index
 * arrays live in memory and are written to .index/.timeindex when a segment is sealed or the
 * log is closed cleanly; recovery rebuilds them from the batches it validates, so an index is
 * never trusted beyond a sanity check, and readers verify the batch an index entry names.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage_internal.h"

void seg_path(const struct sluice_partition *p, int64_t base, const char *ext, char *out,
	      size_t len)
{
	snprintf(out, len, "%s/%020" PRId64 "%s", p->dir, base, ext);
}

struct segment *seg_new(int64_t base)
{
	struct segment *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->base_offset = base;
	s->next_offset = base;
	s->fd = -1;
	s->max_ts = INT64_MIN;
	s->refs = 1;
	s->created_ms = sluice_wall_ms();
	return s;
}

static void seg_free(struct segment *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->idx);
	free(s->tidx);
	free(s);
}

void seg_unref_locked(struct sluice_partition *p, struct segment *s)
{
	if (--s->refs > 0)
		return;
	if (s->deleted) {
		/* The last reader of a segment retention removed: its files go now. The .log
		 * first, so that a crash leaves at worst an orphan index (deleted at open). */
		static const char *const exts[] = {".log", ".index", ".timeindex"};

		for (size_t i = 0; i < 3; i++) {
			char path[PATH_MAX];

			seg_path(p, s->base_offset, exts[i], path, sizeof(path));
			unlink(path);
		}
	}
	seg_free(s);
}

static int grow(void **arr, uint32_t *cap, size_t elem)
{
	uint32_t ncap = *cap ? *cap * 2 : 64;
	void *n = realloc(*arr, (size_t)ncap * elem);

	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}

/* Index entry for a batch about to be placed at pos; Kafka's rule: an entry when more than
 * index_interval bytes were appended since the last one. The time entry (T, O) says every
 * batch before offset O has maxTimestamp <= T. */
int seg_index_add(struct segment *s, int64_t offset, uint32_t pos, int64_t max_ts_before)
{
	uint32_t rel = (uint32_t)(offset - s->base_offset);

	if (s->nidx == s->idx_cap && grow((void **)&s->idx, &s->idx_cap, sizeof(*s->idx)))
		return -ENOMEM;
	s->idx[s->nidx++] = (struct seg_index_entry){.rel_offset = rel, .pos = pos};
	if (max_ts_before != INT64_MIN &&
	    (s->ntidx == 0 || s->tidx[s->ntidx - 1].ts < max_ts_before)) {
		if (s->ntidx == s->tidx_cap &&
		    grow((void **)&s->tidx, &s->tidx_cap, sizeof(*s->tidx)))
			return -ENOMEM;
		s->tidx[s->ntidx++] =
			(struct seg_time_entry){.ts = max_ts_before, .rel_offset = rel};
	}
	return 0;
}

/* Account one batch at pos (writer append and recovery share this). */
int seg_note_batch(struct segment *s, uint32_t interval, const struct sluice_rb_header *h,
		   uint64_t pos, size_t bytes)
{
	if (s->bytes_since_index > interval) {
		int rc = seg_index_add(s, h->base_offset, (uint32_t)pos, s->max_ts);

		if (rc)
			return rc;
		s->bytes_since_index = 0;
	}
	s->bytes_since_index += bytes;
	if (h->max_timestamp > s->max_ts)
		s->max_ts = h->max_timestamp;
	s->next_offset = h->base_offset + h->last_offset_delta + 1;
	s->size = pos + bytes;
	return 0;
}

/* Largest index position whose offset is <= offset (0 when none); *entry_offset is the
 * offset of the batch the entry names. */
int64_t seg_lookup_pos(const struct segment *s, int64_t offset, int64_t *entry_offset)
{
	uint32_t lo = 0, hi = s->nidx;

	*entry_offset = s->base_offset;
	if (offset < s->base_offset)
		return 0;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if ((int64_t)s->idx[mid].rel_offset + s->base_offset <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0;
	*entry_offset = s->base_offset + s->idx[lo - 1].rel_offset;
	return s->idx[lo - 1].pos;
}

/* Position from which to scan for the first batch with maxTimestamp >= ts. */
int64_t seg_lookup_time_pos(const struct segment *s, int64_t ts, int64_t *entry_offset)
{
	uint32_t lo = 0, hi = s->ntidx;

	*entry_offset = s->base_offset;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->tidx[mid].ts < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0;
	return seg_lookup_pos(s, s->base_offset + s->tidx[lo - 1].rel_offset, entry_offset);
}

static int write_file(int dirfd, const char *name, const void *buf, size_t len)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	const uint8_t *b = buf;
	size_t done = 0;
	int rc = 0;

	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, b + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		done += (size_t)n;
	}
	if (fdatasync(fd) != 0)
		rc = -errno;
out:
	close(fd);
	return rc;
}

/* Kafka's index layouts: .index (int32 relative offset, int32 position) and .timeindex
 * (int64 timestamp, int32 relative offset), big-endian. Caller holds the lock or owns s. */
int seg_write_indexes(struct sluice_partition *p, struct segment *s)
{
	size_t ilen = (size_t)s->nidx * 8, tlen = (size_t)s->ntidx * 12;
	uint8_t *buf = malloc((ilen > tlen ? ilen : tlen) + 1);
	char name[64];
	int rc;

	if (!buf)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->nidx; i++) {
		sluice_be32_put(buf + i * 8, s->idx[i].rel_offset);
		sluice_be32_put(buf + i * 8 + 4, s->idx[i].pos);
	}
	snprintf(name, sizeof(name), "%020" PRId64 ".index", s->base_offset);
	rc = write_file(p->dirfd, name, buf, ilen);
	if (rc)
		goto out;
	for (uint32_t i = 0; i < s->ntidx; i++) {
		sluice_be64_put(buf + i * 12, (uint64_t)s->tidx[i].ts);
		sluice_be32_put(buf + i * 12 + 8, s->tidx[i].rel_offset);
	}
	snprintf(name, sizeof(name), "%020" PRId64 ".timeindex", s->base_offset);
	rc = write_file(p->dirfd, name, buf, tlen);
out:
	if (rc)
		sluice_storage_log("%s: writing indexes of segment %" PRId64 ": %s", p->dir,
				   s->base_offset, strerror(-rc));
	free(buf);
	return rc;
}

int seg_open_fd(struct sluice_partition *p, struct segment *s, bool for_write)
{
	char path[PATH_MAX];
	int flags = O_RDWR | O_CLOEXEC;
	int fd;

	seg_path(p, s->base_offset, ".log", path, sizeof(path));
	if (for_write && p->direct)
		flags |= O_DIRECT;
	fd = open(path, flags);
	if (fd < 0 && for_write && p->direct && errno == EINVAL && p->log->opts.direct_io < 0) {
		/* The filesystem refuses O_DIRECT (tmpfs on old kernels, some FUSE): buffered
		 * writes keep working; say so once per log. */
		if (!atomic_exchange(&p->log->logged_no_direct, true))
			sluice_storage_log("%s: O_DIRECT refused, using buffered writes", p->dir);
		p->direct = false;
		p->align = 1;
		fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0) {
		int rc = -errno;

		sluice_storage_log("open %s: %s", path, strerror(-rc));
		return rc;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	return 0;
}

int seg_create_file(struct sluice_partition *p, int64_t base, struct segment **out)
{
	char path[PATH_MAX];
	struct segment *s = seg_new(base);
	struct stat st;
	int fd, rc;

	if (!s)
		return -ENOMEM;
	seg_path(p, base, ".log", path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		sluice_storage_log("create %s: %s", path, strerror(-rc));
		goto fail;
	}
	close(fd);
	if (st.st_size != 0) {
		/* Only possible if the log end moved backwards: never overwrite a segment. */
		sluice_storage_log("create %s: exists with %lld bytes", path,
				   (long long)st.st_size);
		rc = -EEXIST;
		goto fail;
	}
	rc = seg_open_fd(p, s, true);
	if (rc)
		goto fail;
	rc = sluice_fsync_dir(p->dirfd);
	if (rc) {
		sluice_storage_log("fsync %s: %s", p->dir, strerror(-rc));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	seg_free(s);
	return rc;
}

/* Zeros for preallocation by writing (prealloc ZERO): real pages, not the shared zero
 * page, so that O_DIRECT can write them. */
static uint8_t *zero_chunk;
static pthread_once_t zero_once = PTHREAD_ONCE_INIT;

static void zero_init(void)
{
	void *m =
		mmap(NULL, ZERO_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return;
	memset(m, 0, ZERO_CHUNK);
	zero_chunk = m;
}

const uint8_t *seg_zero_chunk(void)
{
	pthread_once(&zero_once, zero_init);
	return zero_chunk;
}

static void prepared_path(const struct sluice_partition *p, const char *ext, char *out, size_t len)
{
	snprintf(out, len, "%s/%s%s", p->dir, PREPARED_NAME, ext);
}

static const char *const seg_exts[] = {".log", ".index", ".timeindex"};

/*
 * The next segment, ahead of its roll: prepared.log (open for writing, O_DIRECT when the
 * partition uses it), empty prepared.index and prepared.timeindex, the log preallocated as
 * the writer would (zeros or fallocate, up to prealloc_bytes, never past segment_bytes) and
 * the allocation synced, so that the first group commits in it are plain overwrites; with
 * dir_sync the directory entries are made durable. Its base offset is set by the roll.
 */
int seg_prepare(struct sluice_partition *p, bool zero, bool dir_sync, struct segment **out)
{
	enum sluice_prealloc mode = p->log->opts.prealloc;
	uint64_t limit =
		(p->topt->segment_bytes + SLUICE_DIO_ALIGN - 1) & ~(uint64_t)(SLUICE_DIO_ALIGN - 1);
	uint64_t len = p->log->opts.prealloc_bytes ? p->log->opts.prealloc_bytes
						   : SLUICE_STORAGE_PREALLOC_BYTES_DEFAULT;
	struct segment *s = seg_new(-1);
	char path[PATH_MAX];
	int fd = -1, rc = 0;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < 3; i++) {
		prepared_path(p, seg_exts[i], path, sizeof(path));
		if (unlink(path) != 0 && errno != ENOENT) {
			rc = -errno;
			sluice_storage_log("unlink %s: %s", path, strerror(-rc));
			goto fail;
		}
	}
	for (size_t i = 1; i < 3; i++) {
		prepared_path(p, seg_exts[i], path, sizeof(path));
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			rc = -errno;
			sluice_storage_log("create %s: %s", path, strerror(-rc));
			goto fail;
		}
		close(fd);
	}
	prepared_path(p, ".log", path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | (p->direct ? O_DIRECT : 0), 0644);
	if (fd < 0) {
		rc = -errno;
		sluice_storage_log("create %s: %s", path, strerror(-rc));
		goto fail;
	}
	s->fd = fd;
	if (len > limit)
		len = limit;
	if (mode != SLUICE_PREALLOC_NONE) {
		const uint8_t *zbuf = NULL;
		ssize_t n = -1;

		if (zero && (zbuf = seg_zero_chunk()) != NULL) {
			if (len > ZERO_CHUNK)
				len = ZERO_CHUNK;
			n = pwrite(fd, zbuf, len, 0);
		} else if (fallocate(fd, 0, 0, (off_t)len) == 0) {
			n = (ssize_t)len;
		}
		/* Not fatal, as ahead of the tail: the data write allocates (and reports
		 * ENOSPC) itself. */
		if (n > 0 && fdatasync(fd) == 0)
			s->prealloc_end = (uint64_t)n;
		else if (!p->roll_logged_prealloc)
			sluice_storage_log("%s: preallocating the next segment: %s (writes "
					   "allocate instead)",
					   p->dir, strerror(errno));
		p->roll_logged_prealloc |= s->prealloc_end == 0;
	}
	if (dir_sync) {
		rc = sluice_fsync_dir(p->dirfd);
		if (rc) {
			sluice_storage_log("fsync %s: %s", p->dir, strerror(-rc));
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	seg_prepared_remove(p, s);
	return rc;
}

/* Drop a prepared segment that was never used (its files and the structure). */
void seg_prepared_remove(struct sluice_partition *p, struct segment *s)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < 3; i++) {
		prepared_path(p, seg_exts[i], path, sizeof(path));
		unlink(path);
	}
	seg_free(s);
}

/*
 * A roll: the prepared files become <base>.log, .index, .timeindex (the log never replaces
 * an existing segment), and the directory is synced, so that the name of everything the
 * writer then makes durable in it is durable too. The index files are hints: failing to
 * rename them is logged, not fatal (an index is rebuilt at open when missing).
 */
int seg_name(struct sluice_partition *p, struct segment *s)
{
	char from[PATH_MAX], to[PATH_MAX];
	int rc;

	prepared_path(p, ".log", from, sizeof(from));
	seg_path(p, s->base_offset, ".log", to, sizeof(to));
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) != 0) {
		rc = -errno;
		sluice_storage_log("rename %s -> %s: %s", from, to, strerror(-rc));
		return rc;
	}
	for (size_t i = 1; i < 3; i++) {
		prepared_path(p, seg_exts[i], from, sizeof(from));
		seg_path(p, s->base_offset, seg_exts[i], to, sizeof(to));
		if (rename(from, to) != 0)
			sluice_storage_log("rename %s -> %s: %s", from, to, strerror(errno));
	}
	rc = sluice_fsync_dir(p->dirfd);
	if (rc)
		sluice_storage_log("fsync %s: %s", p->dir, strerror(-rc));
	return rc;
}

/*
 * Seal a segment nothing writes to any more: drop O_DIRECT padding and preallocation, sync,
 * write the indexes. Index files that cannot be written are not an error (a later open
 * sanity-checks them and rebuilds them from the batches).
 */
int seg_seal(struct sluice_partition *p, struct segment *s)
{
	if (ftruncate(s->fd, (off_t)s->size) != 0 || fdatasync(s->fd) != 0)
		return -errno;
	pthread_mutex_lock(&p->lock);
	(void)seg_write_indexes(p, s);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int part_list_add(struct sluice_partition *p, struct segment *s)
{
	if (p->nsegs == p->segs_cap && grow((void **)&p->segs, &p->segs_cap, sizeof(*p->segs)))
		return -ENOMEM;
	p->segs[p->nsegs++] = s;
	return 0;
}

int part_write_checkpoint(struct sluice_partition *p, int64_t offset)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "0\n%" PRId64 "\n", offset);

	return sluice_storage_write_atomic(p->dir, CHECKPOINT_NAME, buf, (size_t)n);
}

static int64_t read_checkpoint(struct sluice_partition *p)
{
	char path[PATH_MAX], buf[64] = {0};
	int64_t off = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", p->dir, CHECKPOINT_NAME);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fread(buf, 1, sizeof(buf) - 1, f) > 0) {
		char *end;
		const char *nl = strchr(buf, '\n');

		if (buf[0] == '0' && nl) {
			errno = 0;
			long long v = strtoll(nl + 1, &end, 10);

			if (errno == 0 && end != nl + 1 && *end == '\n' && v >= 0)
				off = v;
		}
	}
	fclose(f);
	if (off < 0)
		sluice_storage_log("%s: unreadable %s, recovering every segment", p->dir,
				   CHECKPOINT_NAME);
	return off;
}

static bool parse_seg_name(const char *name, const char *ext, int64_t *base)
{
	size_t n = strlen(name), e = strlen(ext);

	if (n != SEG_NAME_DIGITS + e || strcmp(name + SEG_NAME_DIGITS, ext) != 0)
		return false;
	*base = 0;
	for (int i = 0; i < SEG_NAME_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		if (*base > (INT64_MAX - 9) / 10)
			return false;
		*base = *base * 10 + (name[i] - '0');
	}
	return true;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

struct scan_map {
	uint8_t *map;
	size_t len;
};

static int map_segment(struct sluice_partition *p, struct segment *s, struct scan_map *m)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, rc = 0;

	m->map = NULL;
	m->len = 0;
	seg_path(p, s->base_offset, ".log", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		sluice_storage_log("open %s: %s", path, strerror(-rc));
		goto out;
	}
	m->len = (size_t)st.st_size;
	if (m->len) {
		m->map = mmap(NULL, m->len, PROT_READ, MAP_SHARED, fd, 0);
		if (m->map == MAP_FAILED) {
			rc = -errno;
			m->map = NULL;
			sluice_storage_log("mmap %s: %s", path, strerror(-rc));
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static void unmap_segment(struct scan_map *m)
{
	if (m->map)
		munmap(m->map, m->len);
}

static void seg_reset_indexes(struct segment *s)
{
	s->nidx = 0;
	s->ntidx = 0;
	s->bytes_since_index = 0;
	s->max_ts = INT64_MIN;
	s->next_offset = s->base_offset;
	s->size = 0;
}

/*
 * Walk the batches of a mapped segment from its start. With validate, every batch is fully
 * checked (CRC, records, contiguous offsets) and the walk stops at the first bad byte;
 * without it only headers are decoded (a trusted, sealed segment whose index was damaged).
 * Returns the valid length.
 */
static uint64_t scan_batches(struct sluice_partition *p, struct segment *s,
			     const struct scan_map *m, bool validate, enum sluice_rb_err *why)
{
	uint64_t pos = 0;

	seg_reset_indexes(s);
	*why = SLUICE_RB_OK;
	while (pos < m->len) {
		struct sluice_rb_header h;
		size_t bytes = 0;
		enum sluice_rb_err e;

		if (validate) {
			e = sluice_rb_batch_validate(m->map + pos, m->len - pos, &h, &bytes);
		} else {
			e = sluice_rb_header_decode(m->map + pos, m->len - pos, &h);
			bytes = (size_t)h.batch_length + SLUICE_RB_LOG_OVERHEAD;
			if (e == SLUICE_RB_OK && bytes > m->len - pos)
				e = SLUICE_RB_ETRUNCATED;
		}
		if (e == SLUICE_RB_OK && h.base_offset != s->next_offset)
			e = SLUICE_RB_EOFFSET_ORDER;
		if (e == SLUICE_RB_OK && pos + bytes > UINT32_MAX)
			e = SLUICE_RB_ELENGTH; /* positions in .index are int32 */
		if (e != SLUICE_RB_OK) {
			*why = e;
			break;
		}
		if (seg_note_batch(s, p->topt->index_interval_bytes, &h, pos, bytes))
			break;
		pos += bytes;
	}
	s->size = pos;
	return pos;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static int ensure_quarantine(struct sluice_partition *p, char *qdir, size_t len)
{
	snprintf(qdir, len, "%s/%s", p->dir, QUARANTINE_DIR);
	if (mkdir(qdir, 0755) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Keep the cut bytes for inspection: quarantine/<base>.log.cut-at-<pos>-<unix ms>. */
static int quarantine_tail(struct sluice_partition *p, struct segment *s, const uint8_t *bytes,
			   uint64_t pos, size_t n)
{
	char qdir[SLUICE_DIR_MAX + 16], name[PATH_MAX];
	int rc = ensure_quarantine(p, qdir, sizeof(qdir));

	if (rc)
		return rc;
	snprintf(name, sizeof(name), "%020" PRId64 ".log.cut-at-%" PRIu64 "-%" PRId64,
		 s->base_offset, pos, sluice_wall_ms());
	return sluice_storage_write_atomic(qdir, name, bytes, n);
}

static int quarantine_segment(struct sluice_partition *p, int64_t base, uint64_t *bytes)
{
	char qdir[SLUICE_DIR_MAX + 16], from[PATH_MAX], to[PATH_MAX];
	struct stat st;
	int rc = ensure_quarantine(p, qdir, sizeof(qdir));

	if (rc)
		return rc;
	seg_path(p, base, ".log", from, sizeof(from));
	snprintf(to, sizeof(to), "%s/%020" PRId64 ".log.after-damage-%" PRId64, qdir, base,
		 sluice_wall_ms());
	if (stat(from, &st) == 0)
		*bytes += (uint64_t)st.st_size;
	if (rename(from, to) != 0) {
		rc = -errno;
		sluice_storage_log("rename %s -> %s: %s", from, to, strerror(-rc));
		return rc;
	}
	seg_path(p, base, ".index", from, sizeof(from));
	unlink(from);
	seg_path(p, base, ".timeindex", from, sizeof(from));
	unlink(from);
	return 0;
}

static int truncate_segment(struct sluice_partition *p, struct segment *s, uint64_t len)
{
	char path[PATH_MAX];
	int fd, rc = 0;

	seg_path(p, s->base_offset, ".log", path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)len) != 0 || fdatasync(fd) != 0) {
		rc = -errno;
		sluice_storage_log("truncate %s at %" PRIu64 ": %s", path, len, strerror(-rc));
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Load .index/.timeindex of a segment whose data is trusted; false when insane. */
static bool load_indexes(struct sluice_partition *p, struct segment *s, uint64_t size)
{
	char path[PATH_MAX];
	uint8_t buf[12];
	bool ok = true;
	FILE *f;

	s->nidx = s->ntidx = 0;
	seg_path(p, s->base_offset, ".index", path, sizeof(path));
	f = fopen(path, "rbe");
	if (!f)
		return size == 0;
	while (fread(buf, 1, 8, f) == 8) {
		uint32_t rel = sluice_be32_get(buf), pos = sluice_be32_get(buf + 4);

		if (pos >= size ||
		    (s->nidx &&
		     (rel <= s->idx[s->nidx - 1].rel_offset || pos <= s->idx[s->nidx - 1].pos)) ||
		    (s->nidx == s->idx_cap &&
		     grow((void **)&s->idx, &s->idx_cap, sizeof(*s->idx)))) {
			ok = false;
			break;
		}
		s->idx[s->nidx++] = (struct seg_index_entry){.rel_offset = rel, .pos = pos};
	}
	fclose(f);
	if (!ok)
		return false;
	seg_path(p, s->base_offset, ".timeindex", path, sizeof(path));
	f = fopen(path, "rbe");
	if (!f)
		return s->nidx == 0;
	while (fread(buf, 1, 12, f) == 12) {
		int64_t ts = (int64_t)sluice_be64_get(buf);
		uint32_t rel = sluice_be32_get(buf + 8);

		if ((s->ntidx &&
		     (ts <= s->tidx[s->ntidx - 1].ts || rel < s->tidx[s->ntidx - 1].rel_offset)) ||
		    (s->ntidx == s->tidx_cap &&
		     grow((void **)&s->tidx, &s->tidx_cap, sizeof(*s->tidx)))) {
			ok = false;
			break;
		}
		s->tidx[s->ntidx++] = (struct seg_time_entry){.ts = ts, .rel_offset = rel};
	}
	fclose(f);
	/* Every time entry must name an offset the offset index also holds. */
	for (uint32_t i = 0, j = 0; ok && i < s->ntidx; i++) {
		while (j < s->nidx && s->idx[j].rel_offset < s->tidx[i].rel_offset)
			j++;
		ok = j < s->nidx && s->idx[j].rel_offset == s->tidx[i].rel_offset;
	}
	return ok;
}

/*
 * A trusted segment (sealed before the checkpoint, or any segment after a clean shutdown):
 * indexes from disk when sane, then the tail after the last index entry is decoded to learn
 * next_offset, max_ts and the index state. Falls back to a full header scan.
 */
static int load_trusted(struct sluice_partition *p, struct segment *s, bool *damaged)
{
	struct scan_map m;
	enum sluice_rb_err why;
	uint64_t pos;
	int rc;

	*damaged = false;
	rc = map_segment(p, s, &m);
	if (rc)
		return rc;
	if (load_indexes(p, s, m.len)) {
		pos = s->nidx ? s->idx[s->nidx - 1].pos : 0;
		s->next_offset =
			s->nidx ? s->base_offset + s->idx[s->nidx - 1].rel_offset : s->base_offset;
		s->max_ts = s->ntidx ? s->tidx[s->ntidx - 1].ts : INT64_MIN;
		s->bytes_since_index = 0;
		s->size = pos;
		while (pos < m.len) {
			struct sluice_rb_header h;
			size_t bytes;

			if (sluice_rb_header_decode(m.map + pos, m.len - pos, &h) != SLUICE_RB_OK ||
			    h.base_offset != s->next_offset ||
			    (bytes = (size_t)h.batch_length + SLUICE_RB_LOG_OVERHEAD) >
				    m.len - pos) {
				*damaged = true;
				break;
			}
			s->bytes_since_index += bytes;
			if (h.max_timestamp > s->max_ts)
				s->max_ts = h.max_timestamp;
			s->next_offset = h.base_offset + h.last_offset_delta + 1;
			pos += bytes;
			s->size = pos;
		}
	} else {
		*damaged = true;
	}
	if (*damaged) {
		sluice_storage_log("%s: segment %" PRId64 ": index damaged, rebuilding", p->dir,
				   s->base_offset);
		scan_batches(p, s, &m, false, &why);
		/* A sealed segment that does not even decode to its end is damaged data: the
		 * caller treats it like a recovery failure at s->size. */
		*damaged = s->size != m.len;
	}
	unmap_segment(&m);
	return 0;
}

struct recover_result {
	uint64_t cut_bytes;
	bool cut; /* stopped before the end: later segments are quarantined */
};

static int recover_segment(struct sluice_partition *p, struct segment *s,
			   struct recover_result *res)
{
	struct scan_map m;
	enum sluice_rb_err why;
	uint64_t valid;
	int rc;

	rc = map_segment(p, s, &m);
	if (rc)
		return rc;
	valid = scan_batches(p, s, &m, true, &why);
	if (valid < m.len) {
		size_t n = m.len - valid;

		if (all_zero(m.map + valid, n)) {
			/* O_DIRECT padding or preallocated space past the last batch: expected
			 * after a crash, not damage. */
		} else {
			sluice_storage_log("%s: segment %" PRId64 ": %s at byte %" PRIu64
					   ", cutting %zu bytes to %s/",
					   p->dir, s->base_offset, sluice_rb_strerror(why), valid,
					   n, QUARANTINE_DIR);
			rc = quarantine_tail(p, s, m.map + valid, valid, n);
			if (rc) {
				sluice_storage_log("%s: cannot quarantine: %s", p->dir,
						   strerror(-rc));
				goto out;
			}
			res->cut_bytes += n;
			res->cut = true;
		}
	}
	unmap_segment(&m);
	m.map = NULL;
	/* Truncate even when there was nothing to cut: the fdatasync makes what recovery
	 * accepted durable (a killed process leaves it in the page cache only). */
	rc = truncate_segment(p, s, valid);
out:
	unmap_segment(&m);
	return rc;
}

/* Remove index files with no .log (a crash during retention) and stray temp files. */
static void remove_orphans(struct sluice_partition *p, const int64_t *bases, size_t n)
{
	DIR *d = opendir(p->dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		int64_t base;
		bool orphan = false;

		if (parse_seg_name(e->d_name, ".index", &base) ||
		    parse_seg_name(e->d_name, ".timeindex", &base))
			orphan = !bsearch(&base, bases, n, sizeof(*bases), cmp_i64);
		else if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp"))
			orphan = true;
		if (orphan)
			unlinkat(p->dirfd, e->d_name, 0);
	}
	closedir(d);
}

/*
 * A prepared segment left by a crash was never used by anything durable: the writer lists
 * (and publishes) a segment only after it has its <base> name durably. It is removed; should
 * it hold anything but zeros (bytes written before the rename was durable), those go to
 * quarantine/, as a cut tail would.
 */
static int prepared_cleanup(struct sluice_partition *p, uint64_t *cut_bytes)
{
	char path[PATH_MAX], qdir[SLUICE_DIR_MAX + 16], to[PATH_MAX];
	struct scan_map m = {0};
	struct stat st;
	int fd, rc = 0;

	prepared_path(p, ".log", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
		m.len = (size_t)st.st_size;
		m.map = mmap(NULL, m.len, PROT_READ, MAP_SHARED, fd, 0);
		if (m.map == MAP_FAILED)
			m.map = NULL;
	}
	if (fd >= 0)
		close(fd);
	if (m.map && !all_zero(m.map, m.len)) {
		rc = ensure_quarantine(p, qdir, sizeof(qdir));
		snprintf(to, sizeof(to), "%s/%s.log.unused-%" PRId64, qdir, PREPARED_NAME,
			 sluice_wall_ms());
		if (!rc && rename(path, to) != 0)
			rc = -errno;
		if (rc) {
			sluice_storage_log("%s: cannot quarantine %s: %s", p->dir, path,
					   strerror(-rc));
			unmap_segment(&m);
			return rc;
		}
		sluice_storage_log("%s: unused prepared segment held %zu bytes, moved to %s/",
				   p->dir, m.len, QUARANTINE_DIR);
		*cut_bytes += m.len;
	}
	unmap_segment(&m);
	for (size_t i = 0; i < 3; i++) {
		prepared_path(p, seg_exts[i], path, sizeof(path));
		unlink(path);
	}
	return 0;
}

/* A segment file that holds nothing but zeros (or nothing): a named next segment whose
 * predecessor's tail did not survive, never written to durably. */
static bool seg_file_empty(struct sluice_partition *p, int64_t base)
{
	struct segment probe = {.base_offset = base};
	struct scan_map m;
	bool empty;

	if (map_segment(p, &probe, &m) != 0)
		return false;
	empty = !m.map || all_zero(m.map, m.len);
	unmap_segment(&m);
	return empty;
}

int part_load(struct sluice_partition *p)
{
	uint64_t t0 = sluice_mono_ns();
	int64_t *bases = NULL, ckpt;
	size_t nbases = 0, cap = 0;
	struct recover_result res = {0};
	bool clean, stop = false;
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int rc = 0;

	p->direct = p->log->opts.direct_io != 0;
	p->align = p->direct ? SLUICE_DIO_ALIGN : 1;
	snprintf(path, sizeof(path), "%s/%s", p->dir, CLEAN_MARKER_NAME);
	clean = access(path, F_OK) == 0;
	ckpt = clean ? -1 : read_checkpoint(p);

	d = opendir(p->dir);
	if (!d) {
		rc = -errno;
		sluice_storage_log("opendir %s: %s", p->dir, strerror(-rc));
		return rc;
	}
	while ((e = readdir(d))) {
		int64_t base;

		if (!parse_seg_name(e->d_name, ".log", &base))
			continue;
		if (nbases == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			int64_t *n = realloc(bases, ncap * sizeof(*n));

			if (!n) {
				rc = -ENOMEM;
				closedir(d);
				goto out;
			}
			bases = n;
			cap = ncap;
		}
		bases[nbases++] = base;
	}
	closedir(d);
	if (nbases)
		qsort(bases, nbases, sizeof(*bases), cmp_i64);
	remove_orphans(p, bases, nbases);
	rc = prepared_cleanup(p, &res.cut_bytes);
	if (rc)
		goto out;

	for (size_t i = 0; i < nbases; i++) {
		struct segment *s;
		bool trusted, damaged = false;

		if (stop) {
			rc = quarantine_segment(p, bases[i], &res.cut_bytes);
			if (rc)
				goto out;
			continue;
		}
		s = seg_new(bases[i]);
		if (!s) {
			rc = -ENOMEM;
			goto out;
		}
		rc = part_list_add(p, s);
		if (rc) {
			seg_free(s);
			goto out;
		}
		/* The segment that holds the checkpoint and every later one are validated
		 * batch by batch; earlier ones were sealed and synced before it was written. */
		trusted = clean || (ckpt >= 0 && i + 1 < nbases && bases[i + 1] <= ckpt);
		if (p->nsegs > 1 && p->segs[p->nsegs - 2]->next_offset != s->base_offset) {
			sluice_storage_log(
				"%s: segment %" PRId64 " does not follow offset %" PRId64, p->dir,
				s->base_offset, p->segs[p->nsegs - 2]->next_offset);
			p->nsegs--;
			seg_free(s);
			if (seg_file_empty(p, bases[i])) {
				/* nothing to keep: the files go */
				for (size_t k = 0; k < 3; k++) {
					char f[PATH_MAX];

					seg_path(p, bases[i], seg_exts[k], f, sizeof(f));
					unlink(f);
				}
			} else {
				rc = quarantine_segment(p, bases[i], &res.cut_bytes);
				if (rc)
					goto out;
			}
			res.cut = stop = true;
			continue;
		}
		if (trusted) {
			rc = load_trusted(p, s, &damaged);
			if (rc)
				goto out;
		}
		if (!trusted || damaged) {
			bool cut_before = res.cut;

			rc = recover_segment(p, s, &res);
			if (rc)
				goto out;
			stop = res.cut && !cut_before;
		}
		s->durable_bytes = s->size;
	}
	if (p->nsegs == 0) {
		struct segment *s;

		rc = seg_create_file(p, 0, &s);
		if (rc)
			goto out;
		close(s->fd);
		s->fd = -1;
		rc = part_list_add(p, s);
		if (rc) {
			seg_free(s);
			goto out;
		}
	}
	p->active = p->segs[p->nsegs - 1];
	p->active_listed = true;
	for (uint32_t i = 0; i + 1 < p->nsegs; i++)
		p->segs[i]->sealed = true;
	rc = seg_open_fd(p, p->active, true);
	if (rc)
		goto out;
	p->log_end_offset = p->active->next_offset;
	p->open_end_offset = p->log_end_offset;
	atomic_store(&p->durable_offset, p->log_end_offset);
	atomic_store(&p->log_end_pub, p->log_end_offset);
	atomic_store(&p->log_start_offset, p->segs[0]->base_offset);
	atomic_store(&p->forwarded_offset, p->segs[0]->base_offset);
	{
		uint64_t bytes = 0;

		for (uint32_t i = 0; i < p->nsegs; i++)
			bytes += p->segs[i]->size;
		atomic_store(&p->bytes_on_disk, bytes);
		atomic_store(&p->nsegments, p->nsegs);
	}
	p->recovery_truncated_bytes = res.cut_bytes;
	/* The marker is consumed before any write: a crash from now on must recover. */
	if (clean) {
		if (unlinkat(p->dirfd, CLEAN_MARKER_NAME, 0) != 0) {
			rc = -errno;
			sluice_storage_log("unlink %s: %s", path, strerror(-rc));
			goto out;
		}
	}
	rc = sluice_fsync_dir(p->dirfd);
	if (rc) {
		sluice_storage_log("fsync %s: %s", p->dir, strerror(-rc));
		goto out;
	}
	if (!clean && nbases)
		sluice_storage_log("%s: recovered (no clean shutdown) in %.1f ms to offset %" PRId64
				   ", %" PRIu64 " bytes quarantined",
				   p->dir, (double)(sluice_mono_ns() - t0) / 1e6, p->log_end_offset,
				   res.cut_bytes);
out:
	free(bases);
	p->recovery_ns = sluice_mono_ns() - t0;
	return rc;
}
