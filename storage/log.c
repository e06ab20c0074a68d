/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The partitioned log: open/close, partition ids, rings, stats, crash-safe small files.
 *
 * Threading contract
 *  - control thread: sluice_log_open/start/stop/close, sluice_log_retention_run. open and close
 *    own every structure; nothing else runs while they do.
 *  - dataplane worker i: enqueues struct sluice_batch * on rings[i][w] only (SP side).
 *  - writer thread w (writer.c): the only consumer of rings[*][w] (SC side) and the only
 *    thread that appends to, flushes, rolls or fails its partitions. It publishes
 *    durable_offset / segment durable_bytes with release stores after a sync CQE.
 *  - before sluice_log_start (or after stop), sluice_partition_append_sync plays the writer's
 *    role in the calling thread, serialised per writer by sync_lock.
 *  - housekeeper thread (started with the writers): retention; it changes the segment list
 *    only under the partition lock and never touches the active segment.
 *  - roll helper thread (roll.c, started with the writers): prepares, names and seals
 *    segments for the writers' rolls; it hands results over through atomics.
 *  - readers (any thread): take the partition lock to pick a segment and pin it (refs), then
 *    read with pread on their own fd up to durable_bytes (acquire).
 *  - stats: relaxed loads of single-writer counters, from any thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_log.h>
#include <rte_ring.h>

#include "storage_internal.h"
#include "sluice_time.h"

static atomic_uint log_instances;

RTE_LOG_REGISTER(storage_logtype, sluice.storage, INFO)

void sluice_storage_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One call per line so that lines from several threads do not interleave; through
	 * DPDK's log so that --log-level and --syslog apply to storage like to every module. */
	rte_log(RTE_LOG_NOTICE, storage_logtype, "sluice storage: %s\n", line);
}

int sluice_fsync_dir(int dirfd)
{
	if (fsync(dirfd) != 0)
		return -errno;
	return 0;
}

int sluice_storage_write_atomic(const char *dir, const char *name, const void *buf, size_t len)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd = -1, dfd = -1, rc = 0;
	const uint8_t *p = buf;
	size_t done = 0;

	if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= (int)sizeof(tmp) ||
	    snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		sluice_storage_log("open %s: %s", tmp, strerror(-rc));
		goto out;
	}
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			sluice_storage_log("write %s: %s", tmp, strerror(-rc));
			goto out;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0) {
		rc = -errno;
		sluice_storage_log("fsync %s: %s", tmp, strerror(-rc));
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, dst) != 0) {
		rc = -errno;
		sluice_storage_log("rename %s -> %s: %s", tmp, dst, strerror(-rc));
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		rc = -errno;
		sluice_storage_log("fsync directory %s: %s", dir, strerror(-rc));
	}
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	if (dfd >= 0)
		close(dfd);
	return rc;
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static bool topic_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= SLUICE_TOPIC_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int validate_opts(const struct sluice_log_opts *o)
{
	if (!o->data_dir || !*o->data_dir || strlen(o->data_dir) >= SLUICE_DIR_MAX - 128) {
		sluice_storage_log("data_dir missing or too long");
		return -EINVAL;
	}
	if (o->ntopics == 0 || !o->topics) {
		sluice_storage_log("no topics configured");
		return -EINVAL;
	}
	if (o->ring_size && (o->ring_size & (o->ring_size - 1))) {
		sluice_storage_log("ring_size %u is not a power of two", o->ring_size);
		return -EINVAL;
	}
	if (o->queue_depth > SLUICE_LOG_QUEUE_DEPTH_MAX) {
		sluice_storage_log("queue_depth %u above %u", o->queue_depth,
				   SLUICE_LOG_QUEUE_DEPTH_MAX);
		return -EINVAL;
	}
	if (o->write_buffer_bytes && o->write_buffer_bytes < 2 * SLUICE_DIO_ALIGN) {
		sluice_storage_log("write_buffer_bytes %zu below %u", o->write_buffer_bytes,
				   2 * SLUICE_DIO_ALIGN);
		return -EINVAL;
	}
	for (uint32_t t = 0; t < o->ntopics; t++) {
		const struct sluice_topic_opts *tp = &o->topics[t];

		if (!topic_name_ok(tp->name)) {
			sluice_storage_log("topic %u: invalid name '%s'", t,
					   tp->name ? tp->name : "(null)");
			return -EINVAL;
		}
		if (tp->partitions == 0 || tp->partitions > 100000) {
			sluice_storage_log("topic %s: partitions %u out of range", tp->name,
					   tp->partitions);
			return -EINVAL;
		}
		for (uint32_t u = 0; u < t; u++) {
			if (strcmp(o->topics[u].name, tp->name) == 0) {
				sluice_storage_log("topic %s configured twice", tp->name);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static void part_free(struct sluice_partition *p)
{
	struct segment *prep;

	if (!p)
		return;
	part_buffers_fini(p);
	free(p->ack_last);
	free((void *)p->ack_durable);
	free((void *)p->ack_refused);
	free(p->ack_end);
	free(p->ack_tags);
	/* a roll that never settled (failed partition): the active segment is not listed; a
	 * prepared one left here is removed at the next open */
	if (p->active && !p->active_listed) {
		if (p->active->fd >= 0)
			close(p->active->fd);
		free(p->active->idx);
		free(p->active->tidx);
		free(p->active);
	}
	prep = atomic_load(&p->prepared);
	if (prep) {
		if (prep->fd >= 0)
			close(prep->fd);
		free(prep);
	}
	for (uint32_t i = 0; i < p->nsegs; i++) {
		struct segment *s = p->segs[i];

		if (s->fd >= 0)
			close(s->fd);
		free(s->idx);
		free(s->tidx);
		free(s);
	}
	free(p->segs);
	if (p->dirfd >= 0)
		close(p->dirfd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static int part_open(struct sluice_log *log, const struct sluice_topic_opts *t, uint32_t number,
		     uint32_t id, struct sluice_partition **out)
{
	struct sluice_partition *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	p->log = log;
	p->topt = t;
	p->number = number;
	p->id = id;
	p->dirfd = -1;
	pthread_mutex_init(&p->lock, NULL);
	p->sync_op = (struct uop){.p = p, .kind = OP_SYNC};
	p->prealloc_op = (struct uop){.p = p, .kind = OP_PREALLOC};
	atomic_init(&p->oldest_timestamp_ms, -1);
	if (snprintf(p->dir, sizeof(p->dir), "%s/%s-%u", log->data_dir, t->name, number) >=
	    (int)sizeof(p->dir)) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	rc = mkdir_p(p->dir);
	if (rc) {
		sluice_storage_log("mkdir %s: %s", p->dir, strerror(-rc));
		goto fail;
	}
	p->dirfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0) {
		rc = -errno;
		sluice_storage_log("open %s: %s", p->dir, strerror(-rc));
		goto fail;
	}
	rc = part_load(p);
	if (rc)
		goto fail;
	*out = p;
	return 0;
fail:
	part_free(p);
	return rc;
}

int sluice_log_open(const struct sluice_log_opts *opts, struct sluice_log **out)
{
	struct sluice_log *log;
	uint32_t id = 0, total = 0;
	int rc;

	*out = NULL;
	rc = validate_opts(opts);
	if (rc)
		return rc;
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	pthread_mutex_init(&log->hk_lock, NULL);
	pthread_cond_init(&log->hk_cond, NULL);
	pthread_mutex_init(&log->roll_lock, NULL);
	pthread_cond_init(&log->roll_cond, NULL);
	log->opts = *opts;
	if (!log->opts.queue_depth)
		log->opts.queue_depth = SLUICE_LOG_QUEUE_DEPTH_DEFAULT;
	if (!log->opts.ring_size)
		log->opts.ring_size = SLUICE_LOG_RING_SIZE_DEFAULT;
	if (!log->opts.write_buffer_bytes)
		log->opts.write_buffer_bytes = (size_t)SLUICE_LOG_WRITE_BUFFER_MB_DEFAULT << 20;
	log->opts.write_buffer_bytes = (log->opts.write_buffer_bytes + SLUICE_DIO_ALIGN - 1) &
		~(size_t)(SLUICE_DIO_ALIGN - 1);
	log->opts.writer_cpus = NULL; /* copied below */
	log->opts.writer_nodes = NULL;
	snprintf(log->data_dir, sizeof(log->data_dir), "%s", opts->data_dir);
	log->opts.data_dir = log->data_dir;
	log->ntopics = opts->ntopics;
	log->topics = calloc(opts->ntopics, sizeof(*log->topics));
	log->topic_names = calloc(opts->ntopics, sizeof(*log->topic_names));
	log->nwriters = opts->writers ? opts->writers : 1;
	log->writers = calloc(log->nwriters, sizeof(*log->writers));
	if (!log->topics || !log->topic_names || !log->writers) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t t = 0; t < opts->ntopics; t++) {
		struct sluice_topic_opts *tp = &log->topics[t];

		*tp = opts->topics[t];
		snprintf(log->topic_names[t], SLUICE_TOPIC_NAME_MAX, "%s", opts->topics[t].name);
		tp->name = log->topic_names[t];
		if (!tp->segment_bytes)
			tp->segment_bytes = 1ull << 30;
		if (!tp->index_interval_bytes)
			tp->index_interval_bytes = 4096;
		if (!tp->flush_bytes)
			tp->flush_bytes = 1u << 20;
		if (!tp->flush_interval_us)
			tp->flush_interval_us = 1000;
		total += tp->partitions;
	}
	log->nparts_cap = total;
	rc = mkdir_p(log->data_dir);
	if (rc) {
		sluice_storage_log("mkdir %s: %s", log->data_dir, strerror(-rc));
		goto fail;
	}
	for (uint32_t w = 0; w < log->nwriters; w++) {
		rc = writer_init(&log->writers[w], log, w);
		if (rc)
			goto fail;
		log->writers[w].cpu = opts->writer_cpus ? opts->writer_cpus[w] : -1;
		log->writers[w].node = opts->writer_nodes ? opts->writer_nodes[w] : -1;
	}
	log->parts = calloc(total, sizeof(*log->parts));
	if (!log->parts) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t t = 0; t < log->ntopics; t++) {
		for (uint32_t n = 0; n < log->topics[t].partitions; n++, id++) {
			struct sluice_writer *w = &log->writers[id % log->nwriters];
			struct sluice_partition *p = NULL;

			rc = part_open(log, &log->topics[t], n, id, &p);
			if (rc)
				goto fail;
			log->parts[log->nparts++] = p;
			p->writer = w;
			rc = part_buffers_init(p);
			if (rc)
				goto fail;
			rc = part_tail_load(p);
			if (rc)
				goto fail;
			part_update_oldest(p, p->segs[0]->base_offset);
			w->parts[w->nparts++] = p;
		}
	}
	for (uint32_t w = 0; w < log->nwriters; w++) {
		rc = writer_register(&log->writers[w]);
		if (rc)
			goto fail;
	}
	if (opts->producers) {
		log->nproducers = opts->producers;
		for (uint32_t i = 0; i < log->nparts; i++) {
			struct sluice_partition *p = log->parts[i];
			size_t n = opts->producers;

			p->ack_nprod = opts->producers;
			p->ack_last = calloc(n, sizeof(*p->ack_last));
			p->ack_durable = calloc(n, sizeof(*p->ack_durable));
			p->ack_refused = calloc(n, sizeof(*p->ack_refused));
			p->ack_end = calloc(ACK_FIFO_CAP, sizeof(*p->ack_end));
			p->ack_tags = calloc(ACK_FIFO_CAP * n, sizeof(*p->ack_tags));
			if (!p->ack_last || !p->ack_durable || !p->ack_refused || !p->ack_end ||
			    !p->ack_tags) {
				rc = -ENOMEM;
				goto fail;
			}
		}
		log->rings = calloc((size_t)opts->producers * log->nwriters, sizeof(*log->rings));
		if (!log->rings) {
			rc = -ENOMEM;
			goto fail;
		}
		unsigned inst = atomic_fetch_add(&log_instances, 1);

		for (uint32_t pr = 0; pr < opts->producers; pr++) {
			for (uint32_t w = 0; w < log->nwriters; w++) {
				char name[RTE_RING_NAMESIZE];
				struct rte_ring *r;

				snprintf(name, sizeof(name), "slg%u_%u_%u", inst, pr, w);
				/* One producer (a dataplane worker), one consumer (writer w). */
				r = rte_ring_create(name, log->opts.ring_size, SOCKET_ID_ANY,
						    RING_F_SP_ENQ | RING_F_SC_DEQ);
				if (!r) {
					rc = -rte_errno;
					sluice_storage_log(
						"rte_ring_create %s: %s (is the EAL initialised?)",
						name, rte_strerror(rte_errno));
					goto fail;
				}
				log->rings[(size_t)pr * log->nwriters + w] = r;
				log->writers[w].rings[pr] = r;
			}
		}
	}
	*out = log;
	return 0;
fail:
	/* Do not mark anything clean: we may have failed half-way through recovery. */
	log->stopped = true;
	for (uint32_t i = 0; i < log->nparts; i++)
		atomic_store(&log->parts[i]->failed, true);
	sluice_log_close(log);
	return rc;
}

static void *housekeeper_main(void *arg)
{
	struct sluice_log *log = arg;

	pthread_mutex_lock(&log->hk_lock);
	while (!atomic_load_explicit(&log->stop, memory_order_acquire)) {
		struct timespec ts;

		pthread_mutex_unlock(&log->hk_lock);
		for (uint32_t i = 0; i < log->nparts; i++)
			part_retention(log->parts[i], sluice_wall_ms());
		pthread_mutex_lock(&log->hk_lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (!atomic_load_explicit(&log->stop, memory_order_acquire))
			pthread_cond_timedwait(&log->hk_cond, &log->hk_lock, &ts);
	}
	pthread_mutex_unlock(&log->hk_lock);
	return NULL;
}

int sluice_log_start(struct sluice_log *log)
{
	int rc;

	if (log->started)
		return -EALREADY;
	atomic_store(&log->stop, false);
	rc = roller_start(log);
	if (rc)
		return rc;
	for (uint32_t w = 0; w < log->nwriters; w++) {
		rc = writer_start(&log->writers[w]);
		if (rc) {
			sluice_log_stop(log);
			return rc;
		}
	}
	rc = pthread_create(&log->housekeeper, NULL, housekeeper_main, log);
	if (rc) {
		sluice_storage_log("pthread_create housekeeper: %s", strerror(rc));
		sluice_log_stop(log);
		return -rc;
	}
	log->housekeeper_started = true;
	log->started = true;
	return 0;
}

int sluice_log_stop(struct sluice_log *log)
{
	/* Writers see stop, drain their rings, commit everything and exit. */
	pthread_mutex_lock(&log->hk_lock);
	atomic_store_explicit(&log->stop, true, memory_order_release);
	pthread_cond_broadcast(&log->hk_cond);
	pthread_mutex_unlock(&log->hk_lock);
	for (uint32_t w = 0; w < log->nwriters; w++)
		writer_join(&log->writers[w]);
	/* after the writers: a roll they settled still gets its segment sealed */
	roller_stop(log);
	if (log->housekeeper_started) {
		pthread_join(log->housekeeper, NULL);
		log->housekeeper_started = false;
	}
	log->started = false;
	log->stopped = true;
	return 0;
}

void sluice_log_close(struct sluice_log *log)
{
	if (!log)
		return;
	if (log->writers)
		sluice_log_stop(log);
	for (uint32_t i = 0; i < log->nparts; i++) {
		struct sluice_partition *p = log->parts[i];

		/* part_finish seals the tail and writes the clean marker unless failed. */
		if (!atomic_load(&p->failed))
			part_finish(p);
		part_free(p);
	}
	free(log->parts);
	if (log->writers) {
		for (uint32_t w = 0; w < log->nwriters; w++)
			writer_fini(&log->writers[w]);
	}
	if (log->rings) {
		for (size_t i = 0; i < (size_t)log->nproducers * log->nwriters; i++)
			rte_ring_free(log->rings[i]);
		free(log->rings);
	}
	free(log->writers);
	free(log->topics);
	free(log->topic_names);
	pthread_mutex_destroy(&log->hk_lock);
	pthread_cond_destroy(&log->hk_cond);
	pthread_mutex_destroy(&log->roll_lock);
	pthread_cond_destroy(&log->roll_cond);
	free(log);
}

void sluice_log_flush_request(struct sluice_log *log)
{
	/* Partner: the acquire load in writer.c's pass; writers compare with their last seen. */
	atomic_fetch_add_explicit(&log->flush_requests, 1, memory_order_release);
}

uint32_t sluice_log_partition_count(const struct sluice_log *log)
{
	return log->nparts;
}

uint32_t sluice_log_writer_count(const struct sluice_log *log)
{
	return log->nwriters;
}

int sluice_log_partition_id(const struct sluice_log *log, const char *topic, uint32_t partition)
{
	uint32_t id = 0;

	for (uint32_t t = 0; t < log->ntopics; t++) {
		if (strcmp(log->topics[t].name, topic) == 0) {
			if (partition >= log->topics[t].partitions)
				return -ENOENT;
			return (int)(id + partition);
		}
		id += log->topics[t].partitions;
	}
	return -ENOENT;
}

struct sluice_partition *sluice_log_partition(struct sluice_log *log, uint32_t partition_id)
{
	return partition_id < log->nparts ? log->parts[partition_id] : NULL;
}

uint32_t sluice_log_writer_of(const struct sluice_log *log, uint32_t partition_id)
{
	return partition_id % log->nwriters;
}

struct rte_ring *sluice_log_ring(struct sluice_log *log, uint32_t producer, uint32_t writer)
{
	if (!log->rings || producer >= log->nproducers || writer >= log->nwriters)
		return NULL;
	return log->rings[(size_t)producer * log->nwriters + writer];
}

int64_t sluice_partition_durable_offset(const struct sluice_partition *p)
{
	/* Partner: the release store in writer.c publish_durable(). */
	return atomic_load_explicit(&p->durable_offset, memory_order_acquire);
}

void sluice_partition_set_forwarded(struct sluice_partition *p, int64_t next_offset)
{
	/* Partner: the acquire load in retention.c; monotonic so that a late caller cannot
	 * move it back and expose an already-deleted range as unforwarded. */
	int64_t cur = atomic_load_explicit(&p->forwarded_offset, memory_order_relaxed);

	while (next_offset > cur &&
	       !atomic_compare_exchange_weak_explicit(&p->forwarded_offset, &cur, next_offset,
						      memory_order_release, memory_order_relaxed))
		;
}

void sluice_partition_stats(const struct sluice_partition *p, struct sluice_partition_stats *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->topic, sizeof(out->topic), "%s", p->topt->name);
	out->partition = p->number;
	out->log_start_offset = CNT_GET(p->log_start_offset);
	out->log_end_offset = CNT_GET(p->log_end_pub);
	out->durable_offset = atomic_load_explicit(&p->durable_offset, memory_order_acquire);
	out->forwarded_offset = CNT_GET(p->forwarded_offset);
	out->appended_batches = CNT_GET(p->appended_batches);
	out->appended_records = CNT_GET(p->appended_records);
	out->appended_bytes = CNT_GET(p->appended_bytes);
	out->durable_records = (uint64_t)(out->durable_offset - p->open_end_offset);
	out->shed_records = CNT_GET(p->shed_records);
	for (int i = 0; i < SLUICE_STORAGE_SHED__COUNT; i++)
		out->shed_reason[i] = CNT_GET(p->shed_reason[i]);
	out->rolls = CNT_GET(p->rolls);
	out->segments = CNT_GET(p->nsegments);
	out->bytes_on_disk = CNT_GET(p->bytes_on_disk);
	out->fsyncs = CNT_GET(p->fsyncs);
	for (int i = 0; i < SLUICE_HIST_BUCKETS; i++)
		out->fsync_hist[i] = CNT_GET(p->fsync_hist[i]);
	out->write_errors = CNT_GET(p->write_errors);
	out->fsync_errors = CNT_GET(p->fsync_errors);
	out->last_errno = CNT_GET(p->last_errno);
	out->failed = CNT_GET(p->failed);
	out->retention_deleted_segments = CNT_GET(p->retention_deleted_segments);
	out->retention_dropped_records = CNT_GET(p->retention_dropped_records);
	out->recovery_truncated_bytes = p->recovery_truncated_bytes;
	out->recovery_ns = p->recovery_ns;
	out->oldest_timestamp_ms = CNT_GET(p->oldest_timestamp_ms);
}

void sluice_log_writer_stats(const struct sluice_log *log, uint32_t writer,
			     struct sluice_writer_stats *out)
{
	const struct sluice_writer *w;

	memset(out, 0, sizeof(*out));
	if (writer >= log->nwriters)
		return;
	w = &log->writers[writer];
	out->passes = CNT_GET(w->passes);
	out->busy_passes = CNT_GET(w->busy_passes);
	out->busy_ns = CNT_GET(w->busy_ns);
	out->idle_ns = CNT_GET(w->idle_ns);
	out->batches = CNT_GET(w->batches);
	out->misrouted = CNT_GET(w->misrouted);
	for (int i = 0; i < SLUICE_WRITER_CAUSE__COUNT; i++)
		out->stalls[i] = CNT_GET(w->stalls[i]);
	out->stall_ns = CNT_GET(w->stall_ns);
	for (int i = 0; i < SLUICE_HIST_BUCKETS; i++)
		out->stall_hist[i] = CNT_GET(w->stall_hist[i]);
}

enum sluice_writer_cause sluice_log_writer_cause(const struct sluice_log *log, uint32_t writer)
{
	uint32_t c = SLUICE_WRITER_CAUSE_BUSY;

	/* Partner: the relaxed stores in writer.c cause_set(); a hint, no ordering needed. */
	if (writer != SLUICE_LOG_ANY_WRITER)
		c = writer < log->nwriters
			? atomic_load_explicit(&log->writers[writer].cause, memory_order_relaxed)
			: c;
	else
		for (uint32_t w = 0; w < log->nwriters; w++) {
			uint32_t v =
				atomic_load_explicit(&log->writers[w].cause, memory_order_relaxed);

			c = v > c ? v : c;
		}
	return c < SLUICE_WRITER_CAUSE__COUNT ? (enum sluice_writer_cause)c
					      : SLUICE_WRITER_CAUSE_BUSY;
}

const char *sluice_writer_cause_name(enum sluice_writer_cause c)
{
	static const char *const names[SLUICE_WRITER_CAUSE__COUNT] = {
		[SLUICE_WRITER_CAUSE_BUSY] = "writer_busy",
		[SLUICE_WRITER_CAUSE_DEVICE] = "device",
		[SLUICE_WRITER_CAUSE_SEGMENT_ROLL] = "segment_roll",
	};

	return (unsigned)c < SLUICE_WRITER_CAUSE__COUNT ? names[c] : "unknown";
}

const char *sluice_storage_shed_name(enum sluice_storage_shed r)
{
	static const char *const names[SLUICE_STORAGE_SHED__COUNT] = {
		[SLUICE_STORAGE_SHED_DISK_FULL] = "disk_full",
		[SLUICE_STORAGE_SHED_FAILED] = "failed",
		[SLUICE_STORAGE_SHED_INVALID] = "invalid",
	};

	return (unsigned)r < SLUICE_STORAGE_SHED__COUNT ? names[r] : "unknown";
}

int sluice_log_retention_run(struct sluice_log *log)
{
	int total = 0;

	for (uint32_t i = 0; i < log->nparts; i++) {
		int n = part_retention(log->parts[i], sluice_wall_ms());

		if (n < 0)
			return n;
		total += n;
	}
	return total;
}
