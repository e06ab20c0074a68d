/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The forwarder: durable log batches → coalesced Kafka RecordBatches → Produce requests,
 * exactly once, with its own Kafka client (proto.c, conn.c).
 *
 * Threading contract
 *  - The control thread calls create/start/stop/destroy.
 *  - The forwarder thread (fwd_main) owns every connection, reader, slot and every
 *    non-atomic field of struct fpart and struct sluice_fwd below the "forwarder thread"
 *    marks. Request callbacks run inside kconn_io/kconn_close, i.e. on this thread.
 *  - Fields marked "published" are C11 atomics written only by the forwarder thread (relaxed
 *    stores) and read by sluice_fwd_stats() from any thread (relaxed loads): independent
 *    counters, no ordering between them is promised.
 *  - Pause flags and in-flight limits are atomics written by any thread and read by the
 *    forwarder thread on each pass. The error-code table has a lock (err_lock).
 *
 * Exactly once. A producer session is (producer id, epoch) plus, per partition, the log offset
 * its sequence 0 stands for, persisted in forwarder.sessions before the partition's first
 * batch of the session is sent. A batch of log records [o, o + n) is sent with base sequence
 * (o - base) mod 2^31, so its sequence numbers name its log offsets. At start, and whenever
 * the broker's sequence state and ours disagree, the partition's tail in Kafka is read: the
 * last batch whose (producer id, epoch) is one of our sessions tells where the log continues.
 * After a crash the same session continues: the broker accepts a batch only when it
 * carries exactly the next sequence, so a request a killed instance still had in flight
 * either lands as the very next records (then our own copy is refused as a duplicate or out
 * of order, and the tail is read again) or is refused. A new session (an epoch bump through
 * InitProducerId) starts only when the broker lost our producer state, when local retention
 * dropped unforwarded records, or when the tail contradicts the session file, and only
 * after every batch of ours is acknowledged or failed. docs/forwarding.md has the argument
 * and what a real cluster adds to what the mock cluster can show.
 *
 * Per partition at most SLOTS batches are in flight, in sequence order, to one broker; a
 * retriable error sends the same bytes again (same sequence) once every earlier answer is
 * back; one batch per partition per Produce request, one request per broker carries every
 * partition that broker leads.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_log.h>

#include "forward_internal.h"
#include "sluice_time.h"

RTE_LOG_REGISTER(sluice_forward_logtype, sluice.forwarder, INFO)

#define SLOTS 5
#define CKPT_NAME "forwarder.ckpt"
#define SEQ_MOD (INT64_C(1) << 31)
#define FETCH_MAX_BYTES (1 << 20)
#define RESUME_WIDEN_STEPS 6
#define REFUSED_BACKOFF_FACTOR 5 /* x retry.backoff.max.ms: a refusal needs an operator */
#define INFLIGHT_MSGS_HARD_MAX (1u << 24)
#define SLOT_MIN_BYTES (64u << 10)
#define BATCH_MIN_BYTES (4u << 10)
#define TXN_TIMEOUT_MS 60000

#define RELAXED memory_order_relaxed
#define LOAD(x) atomic_load_explicit(&(x), RELAXED)
#define STORE(x, v) atomic_store_explicit(&(x), (v), RELAXED)
#define ADD(x, v) atomic_fetch_add_explicit(&(x), (v), RELAXED)

static void fwd_log(uint32_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fwd_log(uint32_t level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rte_log(level, sluice_forward_logtype, "forwarder: %s\n", line);
}

#define LOG_ERR RTE_LOG_ERR
#define LOG_WARN RTE_LOG_WARNING
#define LOG_NOTICE RTE_LOG_NOTICE

/* ---------------------------------------------------------------------------------------- */
/* State                                                                                      */

enum slot_state { SLOT_FREE = 0, SLOT_BUILT, SLOT_SENT, SLOT_ACKED };

struct slot {
	uint8_t *buf; /* owned; grows */
	size_t cap;
	size_t len; /* sealed batch at buf */
	int64_t base_offset;
	uint32_t records;
	int32_t seq;
	int64_t first_ts;
	uint64_t read_us; /* when its first source batch was read from the durable log */
	uint32_t id;
	uint8_t state;
	bool resent;
};

enum pstate { P_WAIT = 0, P_RESUME, P_RUN };

enum rstep { RS_START = 0, RS_LIST_END, RS_LIST_START, RS_FETCH, RS_WAIT };

struct resume {
	enum rstep step;
	enum rstep waiting; /* the request outstanding in RS_WAIT */
	uint32_t gen; /* answers to an older generation are ignored */
	uint64_t retry_at;
	uint32_t backoff_ms;
	int64_t hw;
	int64_t log_start; /* -1 unknown */
	int64_t win_from, win_end, pos, window;
	int widen;
	int64_t first_base; /* lowest base offset seen in this window, -1 none */
	bool found;
	int found_sess;
	int32_t found_seq;
	int32_t found_count;
	bool logged;
};

struct ftopic {
	char name[SLUICE_TOPIC_NAME_MAX];
	char *kafka_topic;
	struct sluice_fwd_topic opts;
	atomic_bool paused;
};

struct fpart {
	struct sluice_fwd *f;
	uint32_t idx;
	struct ftopic *topic;
	uint32_t partition;
	struct sluice_partition *sp;
	char partition_str[12];
	struct coal_hdrs hdrs;

	/* forwarder thread only */
	enum pstate state;
	int32_t leader; /* -1 unknown */
	bool missing_logged;
	struct sluice_reader *reader;
	bool reader_error_logged;
	bool have_src;
	struct coal_src src;
	uint64_t src_read_us;
	int64_t next_build; /* next log offset to put into a batch */
	struct slot slots[SLOTS];
	uint32_t shead, scount; /* ring of used slots, oldest first */
	uint32_t next_id;
	uint32_t sent; /* slots SENT, awaiting an answer */
	int32_t sent_to; /* broker their requests went to */
	uint32_t inflight_records;
	uint64_t inflight_bytes;
	int64_t acked; /* next offset not acknowledged */
	int64_t acked_hw; /* highest acknowledged ever (checkpoint included) */
	int64_t ckpt_offset;
	int64_t reported_offset;
	bool retry;
	uint64_t retry_at;
	uint32_t retry_backoff_ms;
	bool seq_failed_round; /* an earlier batch of this round failed: OOO is expected */
	bool needs_resume;
	bool rebuild;
	bool needs_switch;
	uint32_t batch_bytes;
	int16_t last_err;
	bool resumed_once;
	struct resume rs;
	uint64_t rate_last_bytes;
	uint64_t rate_last_ms;

	/* published */
	_Atomic int64_t a_forwarded;
	_Atomic int64_t a_oldest_ts; /* ms; INT64_MIN when unknown */
	_Atomic uint32_t a_inflight_msgs;
	_Atomic uint64_t a_inflight_bytes;
	_Atomic uint64_t a_delivered_records;
	_Atomic uint64_t a_delivered_bytes;
	_Atomic uint64_t a_delivered_batches;
	_Atomic uint64_t a_delivery_errors;
	_Atomic uint64_t a_rewinds;
	_Atomic uint64_t a_skipped;
	_Atomic int64_t a_resume_offset;
	_Atomic int32_t a_leader;
	_Atomic uint64_t a_ingest_bytes_per_s;
	/* Durable → ack latency; partner: the loads in sluice_fwd_stats. */
	_Atomic uint64_t a_ack_hist[SLUICE_HIST_BUCKETS];
	_Atomic uint64_t a_ack_sum_us;
};

struct fbroker {
	int32_t id;
	struct kconn conn;
};

enum pid_state { PID_NONE = 0, PID_FIND, PID_COORD, PID_INIT, PID_OK, PID_FENCED };

struct sluice_fwd {
	struct sluice_log *log;
	struct ftopic *topics;
	uint32_t ntopics;
	struct fpart *parts;
	uint32_t nparts;
	char *brokers_str;
	char *appliance_id;
	char *transactional_id;
	char *checkpoint_dir;
	int codec;
	int codec_level;
	bool hold_retention;
	bool headers;
	uint32_t idle_poll_ms, resume_tail_records, resume_timeout_ms, checkpoint_interval_ms;
	struct kclient_conf conf;
	struct ktls *tls;
	struct kconn_env env;
	const char **part_topic; /* per partition, for the session file */
	uint32_t *part_number;

	_Atomic uint32_t inflight_max_msgs;
	_Atomic uint64_t inflight_max_bytes;

	pthread_t thread;
	bool started;
	atomic_bool stop;
	_Atomic uint32_t drain_timeout_ms;

	/* forwarder thread only */
	struct fbroker **brokers;
	uint32_t nbrokers;
	struct kconn *bootstrap;
	uint32_t nbootstrap;
	struct kreq *free_reqs;
	struct fsessions ss;
	bool ss_dirty;
	bool legacy_ckpt; /* a checkpoint but no session file: an upgrade */
	enum pid_state pid_state;
	uint64_t pid_retry_at;
	uint32_t pid_backoff_ms;
	int32_t coord_id;
	bool bump_refused; /* the epoch bump was refused: ask for a fresh id */
	bool switch_wanted;
	const char *switch_reason;
	bool meta_needed;
	bool meta_outstanding;
	uint64_t meta_at; /* next periodic refresh */
	uint64_t meta_retry_at; /* earliest refresh when one is needed */
	uint64_t meta_last_ok;
	bool broker_down;
	bool fenced;
	bool draining;
	struct coal_codec *codec_ctx;
	uint8_t *scratch; /* uncompressed build area when compressing */
	size_t scratch_cap;
	struct kp_produce_topic *ptopics;
	struct kp_produce_part *pparts;
	struct pollfd *pfds;
	struct kconn **pconns;
	uint32_t pfd_cap;
	uint64_t last_ckpt_ms;
	uint32_t rr;

	/* published */
	_Atomic int a_state;
	_Atomic uint64_t a_delivered_records, a_delivered_bytes, a_delivered_batches;
	_Atomic uint64_t a_requests, a_delivery_errors, a_retries, a_queue_full;
	_Atomic uint64_t a_fatal_resets, a_resumes, a_broker_down, a_meta, a_reconnects;
	_Atomic int64_t a_pid;
	_Atomic int a_epoch;

	pthread_mutex_t err_lock;
	struct {
		int code;
		uint64_t count;
	} errors[SLUICE_FWD_ERR_CODES];
	uint32_t nerrors;
};

static void count_error(struct sluice_fwd *f, int code)
{
	pthread_mutex_lock(&f->err_lock);
	for (uint32_t i = 0; i < f->nerrors; i++) {
		if (f->errors[i].code == code) {
			f->errors[i].count++;
			goto out;
		}
	}
	if (f->nerrors < SLUICE_FWD_ERR_CODES) {
		f->errors[f->nerrors].code = code;
		f->errors[f->nerrors].count = 1;
		f->nerrors++;
	}
out:
	pthread_mutex_unlock(&f->err_lock);
}

const char *sluice_fwd_state_name(enum sluice_fwd_state s)
{
	switch (s) {
	case SLUICE_FWD_STOPPED:
		return "stopped";
	case SLUICE_FWD_RESUMING:
		return "resuming";
	case SLUICE_FWD_RUNNING:
		return "running";
	case SLUICE_FWD_BROKER_DOWN:
		return "broker_down";
	case SLUICE_FWD_DRAINING:
		return "draining";
	case SLUICE_FWD_FENCED:
		return "fenced";
	case SLUICE_FWD__STATES:
		break;
	}
	return "unknown";
}

static void set_state(struct sluice_fwd *f, enum sluice_fwd_state s)
{
	STORE(f->a_state, (int)s);
}

/* ---------------------------------------------------------------------------------------- */
/* Request pool                                                                               */

static struct kreq *req_get(void *ctx)
{
	struct sluice_fwd *f = ctx;
	struct kreq *q = f->free_reqs;

	if (q) {
		f->free_reqs = q->next;
	} else {
		q = calloc(1, sizeof(*q));
		if (!q)
			return NULL;
		q->iov_cap = 2 * (int)f->nparts + 2;
		q->parts_cap = f->nparts;
		q->iov = calloc((size_t)q->iov_cap, sizeof(*q->iov));
		q->parts = calloc(f->nparts ? f->nparts : 1, sizeof(*q->parts));
		q->slots = calloc(f->nparts ? f->nparts : 1, sizeof(*q->slots));
		if (!q->iov || !q->parts || !q->slots) {
			free(q->iov);
			free(q->parts);
			free(q->slots);
			free(q);
			return NULL;
		}
	}
	q->next = NULL;
	q->niov = 0;
	q->nparts = 0;
	q->arg = 0;
	q->ctx = NULL;
	kw_reset(&q->w);
	return q;
}

static void req_put(void *ctx, struct kreq *q)
{
	struct sluice_fwd *f = ctx;

	q->next = f->free_reqs;
	f->free_reqs = q;
}

static void req_free_all(struct sluice_fwd *f)
{
	while (f->free_reqs) {
		struct kreq *q = f->free_reqs;

		f->free_reqs = q->next;
		kw_free(&q->w);
		free(q->iov);
		free(q->parts);
		free(q->slots);
		free(q);
	}
}

/* Start a request of @p api on @p c: header written, body to follow. NULL when out of
 * memory or the broker speaks no common version. */
static struct kreq *req_begin(struct sluice_fwd *f, struct kconn *c, int16_t api, kreq_cb cb,
			      size_t *size_at)
{
	int16_t ver = kconn_version(c, api);
	struct kreq *q;

	if (ver < 0)
		return NULL;
	q = req_get(f);
	if (!q)
		return NULL;
	q->api = api;
	q->ver = ver;
	q->flexible = kapi_flexible(api, ver);
	q->corr = kconn_next_corr(c);
	q->cb = cb;
	q->ctx = f;
	*size_at = kreq_begin(&q->w, api, ver, q->corr, f->conf.client_id, q->flexible);
	return q;
}

/* ---------------------------------------------------------------------------------------- */
/* Brokers                                                                                    */

static struct fbroker *broker_find(struct sluice_fwd *f, int32_t id)
{
	for (uint32_t i = 0; i < f->nbrokers; i++)
		if (f->brokers[i]->id == id)
			return f->brokers[i];
	return NULL;
}

static struct fbroker *broker_upsert(struct sluice_fwd *f, int32_t id, const char *host,
				     uint16_t port)
{
	struct fbroker *b = broker_find(f, id), **nb;

	if (b) {
		if (strcmp(b->conn.host, host) != 0 || b->conn.port != port) {
			fwd_log(LOG_NOTICE, "broker %d moved to %s:%u", id, host, port);
			kconn_fini(&b->conn);
			kconn_init(&b->conn, &f->env, host, port, id);
		}
		return b;
	}
	b = calloc(1, sizeof(*b));
	nb = realloc(f->brokers, (f->nbrokers + 1) * sizeof(*nb));
	if (!b || !nb) {
		free(b);
		if (nb)
			f->brokers = nb;
		return NULL;
	}
	f->brokers = nb;
	b->id = id;
	kconn_init(&b->conn, &f->env, host, port, id);
	f->brokers[f->nbrokers++] = b;
	return b;
}

static struct kconn *any_ready(struct sluice_fwd *f)
{
	for (uint32_t i = 0; i < f->nbrokers; i++) {
		struct kconn *c = &f->brokers[(i + f->rr) % f->nbrokers]->conn;

		if (kconn_can_send(c))
			return c;
	}
	for (uint32_t i = 0; i < f->nbootstrap; i++)
		if (kconn_can_send(&f->bootstrap[i]))
			return &f->bootstrap[i];
	return NULL;
}

/* A connection came up or went down. */
static void conn_state_changed(void *ctx, struct kconn *c, bool ready, int err)
{
	struct sluice_fwd *f = ctx;

	if (ready) {
		if (c->connects > 1)
			ADD(f->a_reconnects, 1);
		if (c->logged_down)
			fwd_log(LOG_NOTICE, "%s:%u: connected again", c->host, c->port);
		return;
	}
	if (err != -ECANCELED)
		count_error(f, err);
	if (c->node_id >= 0)
		f->meta_needed = true; /* leadership may have moved with the broker */
}

/* ---------------------------------------------------------------------------------------- */
/* Checkpoint: "<topic> <partition> <next offset>\n" per partition. A lower bound only.     */

static bool ckpt_load(struct sluice_fwd *f)
{
	char path[4096], topic[SLUICE_TOPIC_NAME_MAX + 1], line[256];
	bool any = false;
	FILE *fp;

	if (!f->checkpoint_dir)
		return false;
	snprintf(path, sizeof(path), "%s/%s", f->checkpoint_dir, CKPT_NAME);
	fp = fopen(path, "r");
	if (!fp) {
		if (errno != ENOENT)
			fwd_log(LOG_WARN, "checkpoint %s: %s (ignored: Kafka's tail is the truth)",
				path, strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), fp)) {
		char *p = line, *end;
		size_t n = strcspn(p, " ");
		unsigned long long part, off;

		if (n == 0 || n > SLUICE_TOPIC_NAME_MAX || p[n] != ' ')
			continue;
		memcpy(topic, p, n);
		topic[n] = '\0';
		p += n + 1;
		errno = 0;
		part = strtoull(p, &end, 10);
		if (errno || end == p || *end != ' ')
			continue;
		p = end + 1;
		off = strtoull(p, &end, 10);
		if (errno || end == p || (*end != '\n' && *end != '\0') || off > INT64_MAX)
			continue;
		for (uint32_t i = 0; i < f->nparts; i++) {
			struct fpart *fp_ = &f->parts[i];

			if (fp_->partition == part && strcmp(fp_->topic->name, topic) == 0) {
				fp_->acked = (int64_t)off;
				fp_->acked_hw = (int64_t)off;
				fp_->ckpt_offset = (int64_t)off;
				any = true;
			}
		}
	}
	fclose(fp);
	return any;
}

static void ckpt_write(struct sluice_fwd *f, bool force)
{
	bool changed = force;
	size_t cap = (size_t)f->nparts * (SLUICE_TOPIC_NAME_MAX + 48) + 1, len = 0;
	char *buf;
	int rc;

	if (!f->checkpoint_dir)
		return;
	for (uint32_t i = 0; i < f->nparts && !changed; i++)
		changed = f->parts[i].acked != f->parts[i].ckpt_offset;
	if (!changed)
		return;
	buf = malloc(cap);
	if (!buf)
		return;
	for (uint32_t i = 0; i < f->nparts; i++) {
		struct fpart *p = &f->parts[i];
		int n = snprintf(buf + len, cap - len, "%s %" PRIu32 " %" PRId64 "\n",
				 p->topic->name, p->partition, p->acked);

		if (n < 0 || (size_t)n >= cap - len)
			goto out;
		len += (size_t)n;
	}
	rc = sluice_storage_write_atomic(f->checkpoint_dir, CKPT_NAME, buf, len);
	if (rc) {
		fwd_log(LOG_ERR, "checkpoint %s/%s: %s", f->checkpoint_dir, CKPT_NAME,
			strerror(-rc));
		goto out;
	}
	for (uint32_t i = 0; i < f->nparts; i++)
		f->parts[i].ckpt_offset = f->parts[i].acked;
out:
	free(buf);
}

/* Persist the session table if a base was set. @return 0, or -errno: nothing may be sent. */
static int sessions_sync(struct sluice_fwd *f)
{
	int rc;

	if (!f->ss_dirty || !f->checkpoint_dir) {
		f->ss_dirty = false;
		return 0;
	}
	rc = fsess_save(&f->ss, f->checkpoint_dir);
	if (rc) {
		fwd_log(LOG_ERR, "%s/%s: %s (nothing is sent until it can be written)",
			f->checkpoint_dir, FSESS_FILE, strerror(-rc));
		count_error(f, rc);
		return rc;
	}
	f->ss_dirty = false;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Slots and the acknowledged cursor                                                          */

static struct slot *slot_at(struct fpart *p, uint32_t i)
{
	return &p->slots[(p->shead + i) % SLOTS];
}

static struct slot *slot_by_id(struct fpart *p, uint32_t id)
{
	for (uint32_t i = 0; i < p->scount; i++)
		if (slot_at(p, i)->id == id)
			return slot_at(p, i);
	return NULL;
}

static void publish_inflight(struct fpart *p)
{
	STORE(p->a_inflight_msgs, p->inflight_records);
	STORE(p->a_inflight_bytes, p->inflight_bytes);
	if (p->scount)
		STORE(p->a_oldest_ts, slot_at(p, 0)->first_ts);
	else if (p->have_src && p->src.remaining > 0)
		STORE(p->a_oldest_ts, p->src.base_ts);
	else
		STORE(p->a_oldest_ts, INT64_MIN);
}

/* Same buckets as the storage fsync histogram: bucket i holds (2^(i-1), 2^i] µs. */
static void ack_latency_observe(struct fpart *p, uint64_t us, uint32_t records)
{
	unsigned i = 0;

	while (i < SLUICE_HIST_BUCKETS - 1 && (1ull << i) < us)
		i++;
	ADD(p->a_ack_hist[i], records);
	ADD(p->a_ack_sum_us, us * records);
}

static void advance_acked(struct fpart *p)
{
	bool moved = false;

	while (p->scount && slot_at(p, 0)->state == SLOT_ACKED) {
		struct slot *s = slot_at(p, 0);

		p->acked = s->base_offset + s->records;
		if (p->acked > p->acked_hw)
			p->acked_hw = p->acked;
		p->inflight_records -= s->records;
		p->inflight_bytes -= s->len;
		s->state = SLOT_FREE;
		p->shead = (p->shead + 1) % SLOTS;
		p->scount--;
		moved = true;
	}
	if (moved)
		STORE(p->a_forwarded, p->acked);
	publish_inflight(p);
}

/* Forget every slot not acknowledged (nothing of the partition may be in flight). */
static void slots_drop(struct fpart *p)
{
	while (p->scount) {
		struct slot *s = slot_at(p, p->scount - 1);

		if (s->state == SLOT_ACKED)
			break;
		p->inflight_records -= s->records;
		p->inflight_bytes -= s->len;
		s->state = SLOT_FREE;
		p->scount--;
	}
	advance_acked(p);
	p->next_build = p->acked;
	p->have_src = false;
	if (p->reader) {
		sluice_reader_close(p->reader);
		p->reader = NULL;
	}
	publish_inflight(p);
}

/* ---------------------------------------------------------------------------------------- */
/* Reading the log and building batches                                                      */

/* Position the reader at next_build. @return 0, or -errno (held, retried). A range deleted
 * by retention (policy drop) is skipped and counted. */
static int reader_reposition(struct fpart *p)
{
	struct sluice_partition_stats st;
	int rc;

	if (p->reader)
		sluice_reader_close(p->reader);
	p->reader = NULL;
	p->have_src = false;
	rc = sluice_reader_open(p->sp, p->next_build, &p->reader);
	if (rc == -ERANGE) {
		sluice_partition_stats(p->sp, &st);
		if (st.log_start_offset > p->next_build) {
			/* Only what was never acknowledged counts as lost; re-forwarding (to a new
			 * cluster) cannot bring back what local retention already deleted. */
			int64_t lost_from =
				p->next_build > p->acked_hw ? p->next_build : p->acked_hw;

			if (st.log_start_offset > lost_from) {
				ADD(p->a_skipped, (uint64_t)(st.log_start_offset - lost_from));
				fwd_log(LOG_WARN,
					"%s/%" PRIu32 ": offsets %" PRId64 "..%" PRId64
					" were deleted by retention before being forwarded",
					p->topic->name, p->partition, lost_from,
					st.log_start_offset - 1);
			}
			p->next_build = st.log_start_offset;
			if (p->acked < p->next_build) {
				p->acked = p->next_build;
				STORE(p->a_forwarded, p->acked);
			}
			if (p->acked_hw < p->acked)
				p->acked_hw = p->acked;
			/* Sequence numbers name offsets: a hole needs a new session, unless nothing
			 * was sent in this one yet. */
			struct fsession *cur = &p->f->ss.s[p->f->ss.n - 1];

			if (cur->base[p->idx] < 0 || p->scount) {
				/* unset base: set at the first send; slots: cannot happen (held) */
			} else if (cur->base[p->idx] != p->next_build) {
				p->needs_switch = true;
			}
		}
		rc = sluice_reader_open(p->sp, p->next_build, &p->reader);
	}
	if (rc) {
		p->reader = NULL;
		if (!p->reader_error_logged)
			fwd_log(LOG_ERR,
				"%s/%" PRIu32 ": open reader at %" PRId64 ": %s (retrying)",
				p->topic->name, p->partition, p->next_build, strerror(-rc));
		p->reader_error_logged = true;
		return rc;
	}
	p->reader_error_logged = false;
	return 0;
}

/* Make p->src hold records at next_build. @return true when one is available. */
static bool src_ready(struct fpart *p)
{
	const uint8_t *batch;
	size_t len;
	int rc;

	if (p->have_src && p->src.remaining > 0)
		return true;
	p->have_src = false;
	if (!p->reader && reader_reposition(p))
		return false;
	if (sluice_partition_durable_offset(p->sp) <= p->next_build)
		return false;
	rc = sluice_reader_next(p->reader, &batch, &len);
	if (rc <= 0) {
		if (rc < 0) {
			if (!p->reader_error_logged)
				fwd_log(LOG_ERR, "%s/%" PRIu32 ": read at %" PRId64 ": %s (held)",
					p->topic->name, p->partition, p->next_build, strerror(-rc));
			p->reader_error_logged = true;
			sluice_reader_close(p->reader);
			p->reader = NULL;
		}
		return false;
	}
	coal_src_init(&p->src, batch, len);
	p->src_read_us = sluice_mono_us();
	rc = coal_src_seek(&p->src, p->next_build);
	if (rc == 0 && p->src.remaining == 0)
		return src_ready(p); /* the batch ended before next_build */
	if (rc || p->src.next_offset != p->next_build) {
		/* Storage validated every batch and their order: neither can happen. */
		if (!p->reader_error_logged)
			fwd_log(LOG_ERR, "%s/%" PRIu32 ": %s at %" PRId64 " (held)", p->topic->name,
				p->partition, rc ? "malformed batch" : "the log skips",
				p->next_build);
		p->reader_error_logged = true;
		sluice_reader_close(p->reader);
		p->reader = NULL;
		return false;
	}
	p->have_src = true;
	return true;
}

static int slot_reserve(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *b;
	size_t c = *cap ? *cap : SLOT_MIN_BYTES;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	b = realloc(*buf, c);
	if (!b)
		return -ENOMEM;
	*buf = b;
	*cap = c;
	return 0;
}

static int32_t seq_of(const struct fsession *s, uint32_t idx, int64_t offset)
{
	return (int32_t)((offset - s->base[idx]) % SEQ_MOD);
}

/* Build the next batch of p into a free slot. @return records put in it. */
static uint32_t build_slot(struct sluice_fwd *f, struct fpart *p)
{
	uint32_t max_msgs = LOAD(f->inflight_max_msgs);
	uint64_t max_bytes = LOAD(f->inflight_max_bytes);
	struct fsession *cur = &f->ss.s[f->ss.n - 1];
	uint32_t limit = p->batch_bytes, room_records;
	bool compress = f->codec_ctx && f->codec != SLUICE_FWD_COMPRESS_NONE;
	struct slot *s;
	struct coal c;
	uint8_t **bufp;
	size_t *capp;
	int64_t start;
	bool in_place;
	size_t len;

	if (p->scount == SLOTS || p->inflight_records >= max_msgs ||
	    (p->inflight_records > 0 && p->inflight_bytes >= max_bytes)) {
		ADD(f->a_queue_full, 1);
		return 0;
	}
	if (!src_ready(p))
		return 0;
	room_records = max_msgs - p->inflight_records;
	if (max_bytes - (p->inflight_records ? p->inflight_bytes : 0) < limit &&
	    p->inflight_records)
		limit = (uint32_t)(max_bytes - p->inflight_bytes) > BATCH_MIN_BYTES
			? (uint32_t)(max_bytes - p->inflight_bytes)
			: BATCH_MIN_BYTES;
	s = &p->slots[(p->shead + p->scount) % SLOTS];
	bufp = compress ? &f->scratch : &s->buf;
	capp = compress ? &f->scratch_cap : &s->cap;
	start = p->next_build;
	if (cur->base[p->idx] < 0) {
		/* First batch of this session for the partition: its base must be on disk
		 * before the batch can be sent (sessions_sync runs before any send). */
		cur->base[p->idx] = start;
		f->ss_dirty = true;
	}
	{
		size_t want = p->src.end - p->src.rec + SLUICE_RB_HEADER_BYTES + 64;

		if (want > (size_t)limit + SLUICE_RB_HEADER_BYTES)
			want = (size_t)limit + SLUICE_RB_HEADER_BYTES;
		if (slot_reserve(bufp, capp, want)) {
			count_error(f, -ENOMEM);
			return 0;
		}
	}
	coal_begin(&c, *bufp,
		   *capp < (size_t)limit + SLUICE_RB_HEADER_BYTES
			   ? *capp
			   : (size_t)limit + SLUICE_RB_HEADER_BYTES,
		   start, f->headers ? &p->hdrs : NULL);
	s->read_us = p->src_read_us;
	s->first_ts = INT64_MIN;
	for (;;) {
		int n = coal_take(&c, &p->src, room_records);

		if (n < 0) {
			if (n == -EMSGSIZE && c.count == 0 && c.cap < (size_t)limit + 61) {
				/* fall through to growing the buffer */
			} else if (n == -EMSGSIZE) {
				fwd_log(LOG_ERR,
					"%s/%" PRIu32 ": record at %" PRId64 " is larger than "
					"batch.size (%" PRIu32 " bytes): held",
					p->topic->name, p->partition, p->src.next_offset, limit);
				p->retry = true;
				p->retry_at = sluice_mono_ms() +
					REFUSED_BACKOFF_FACTOR * f->conf.retry_backoff_max_ms;
				return 0;
			} else {
				fwd_log(LOG_ERR, "%s/%" PRIu32 ": malformed record near %" PRId64,
					p->topic->name, p->partition, p->src.next_offset);
				p->have_src = false;
				if (p->reader)
					sluice_reader_close(p->reader);
				p->reader = NULL;
				if (c.count == 0)
					return 0;
				break;
			}
		}
		if (p->src.remaining == 0 && (uint32_t)c.count < room_records) {
			/* This source batch is used up: coalesce the next one if it is durable. */
			p->have_src = false;
			p->next_build = start + c.count;
			if (src_ready(p))
				continue;
			break;
		}
		if ((uint32_t)c.count >= room_records)
			break;
		/* Full: grow the buffer up to the batch limit, or stop here. */
		if (c.cap >= (size_t)limit + SLUICE_RB_HEADER_BYTES)
			break;
		if (slot_reserve(bufp, capp, c.cap * 2)) {
			count_error(f, -ENOMEM);
			break;
		}
		c.buf = *bufp;
		c.cap = *capp < (size_t)limit + SLUICE_RB_HEADER_BYTES
			? *capp
			: (size_t)limit + SLUICE_RB_HEADER_BYTES;
	}
	if (c.count == 0)
		return 0;
	if (compress &&
	    slot_reserve(&s->buf, &s->cap, coal_codec_bound(f->codec_ctx, c.len - 61))) {
		count_error(f, -ENOMEM);
		compress = false;
	}
	s->seq = seq_of(cur, p->idx, start);
	len = coal_seal(&c, cur->pid, cur->epoch, s->seq, compress ? f->codec_ctx : NULL,
			compress ? s->buf : NULL, compress ? s->cap : 0, &in_place);
	if (compress && in_place) {
		/* Compression did not help: send the records as they are. */
		if (slot_reserve(&s->buf, &s->cap, len)) {
			count_error(f, -ENOMEM);
			return 0;
		}
		memcpy(s->buf, c.buf, len);
	}
	s->len = len;
	s->base_offset = start;
	s->records = (uint32_t)c.count;
	s->first_ts = c.base_ts;
	s->id = p->next_id++;
	s->state = SLOT_BUILT;
	s->resent = false;
	p->scount++;
	p->next_build = start + c.count;
	p->inflight_records += s->records;
	p->inflight_bytes += s->len;
	publish_inflight(p);
	return s->records;
}

/* ---------------------------------------------------------------------------------------- */
/* Produce                                                                                    */

static void retry_arm(struct sluice_fwd *f, struct fpart *p, uint32_t min_ms)
{
	uint32_t b = p->retry_backoff_ms ? p->retry_backoff_ms * 2 : f->conf.retry_backoff_ms;

	if (b > f->conf.retry_backoff_max_ms)
		b = f->conf.retry_backoff_max_ms;
	if (b < min_ms)
		b = min_ms;
	p->retry_backoff_ms = b;
	p->retry = true;
	p->retry_at = sluice_mono_ms() + b;
}

static void log_part_error(struct fpart *p, int16_t code, const char *what)
{
	char name[32];

	if (p->last_err == code)
		return;
	p->last_err = code;
	fwd_log(code == KERR_NONE ? LOG_NOTICE : LOG_WARN, "%s/%" PRIu32 ": %s: %s", p->topic->name,
		p->partition, kerr_name(code, name, sizeof(name)), what);
}

static void produce_result(struct sluice_fwd *f, struct fpart *p, struct slot *s, int16_t err,
			   int64_t base_offset)
{
	enum kerr_class k = kerr_classify(err);

	p->sent--;
	s->state = SLOT_BUILT; /* unless acknowledged below */
	if (err == KERR_NONE && base_offset >= 0) {
		s->state = SLOT_ACKED;
		p->retry_backoff_ms = 0;
		p->last_err = 0;
		ack_latency_observe(p, sluice_mono_us() - s->read_us, s->records);
		ADD(p->a_delivered_records, s->records);
		ADD(p->a_delivered_bytes, s->len);
		ADD(p->a_delivered_batches, 1);
		ADD(f->a_delivered_records, s->records);
		ADD(f->a_delivered_bytes, s->len);
		ADD(f->a_delivered_batches, 1);
		advance_acked(p);
		return;
	}
	ADD(p->a_delivery_errors, 1);
	ADD(f->a_delivery_errors, 1);
	count_error(f, err);
	if (err == KERR_NONE) {
		/* Acknowledged without an offset: the broker took it for a duplicate of a batch
		 * it already has. Which one is not said (librdkafka's mock says only this), so
		 * the tail decides. */
		log_part_error(p, KERR_DUPLICATE_SEQUENCE_NUMBER,
			       "acknowledged as a duplicate: reading Kafka's tail");
		p->needs_resume = true;
		return;
	}
	switch (k) {
	case KERR_C_OK:
	case KERR_C_RETRY:
		log_part_error(p, err, "retrying the same batch");
		p->seq_failed_round = true;
		retry_arm(f, p, 0);
		break;
	case KERR_C_METADATA:
		log_part_error(p, err, "refreshing metadata, then retrying");
		p->seq_failed_round = true;
		f->meta_needed = true;
		retry_arm(f, p, 0);
		break;
	case KERR_C_SEQUENCE:
		if (p->seq_failed_round) {
			/* An earlier batch of this round failed: the broker saw a gap. */
			retry_arm(f, p, 0);
			break;
		}
		log_part_error(p, err, "reading Kafka's tail");
		p->needs_resume = true;
		break;
	case KERR_C_SESSION:
		log_part_error(p, err, "starting a new producer session");
		p->needs_resume = true;
		f->switch_wanted = true;
		f->switch_reason = "the broker does not know our producer id";
		break;
	case KERR_C_FENCED:
		log_part_error(p, err, "another producer holds this transactional id");
		if (!f->fenced)
			fwd_log(LOG_ERR,
				"fenced: another producer uses transactional id %s; "
				"nothing more is sent until restart (two appliances must "
				"never share kafka.transactional_id)",
				f->transactional_id);
		f->fenced = true;
		break;
	case KERR_C_TOO_LARGE:
		log_part_error(p, err, "building smaller batches");
		if (p->batch_bytes > BATCH_MIN_BYTES)
			p->batch_bytes /= 2;
		p->rebuild = true;
		p->seq_failed_round = true;
		break;
	case KERR_C_REFUSED:
		log_part_error(p, err, "refused by the broker: holding this partition, retrying");
		p->seq_failed_round = true;
		retry_arm(f, p, REFUSED_BACKOFF_FACTOR * f->conf.retry_backoff_max_ms);
		break;
	}
}

struct produce_ctx {
	struct sluice_fwd *f;
	struct kreq *q;
	bool *done;
};

static void on_produce_result(void *ctx, const struct kp_produce_result *r)
{
	struct produce_ctx *pc = ctx;
	struct sluice_fwd *f = pc->f;

	for (uint32_t i = 0; i < pc->q->nparts; i++) {
		struct fpart *p = &f->parts[pc->q->parts[i]];
		struct slot *s;

		if (pc->done[i] || (int32_t)p->partition != r->partition ||
		    strlen(p->topic->kafka_topic) != (size_t)r->topic_len ||
		    memcmp(p->topic->kafka_topic, r->topic, (size_t)r->topic_len) != 0)
			continue;
		pc->done[i] = true;
		s = slot_by_id(p, pc->q->slots[i]);
		if (s && s->state == SLOT_SENT)
			produce_result(f, p, s, r->err, r->base_offset);
		return;
	}
}

static void on_produce(struct kconn *c, struct kreq *q, int err, const uint8_t *body, size_t len)
{
	struct sluice_fwd *f = q->ctx;
	bool done[q->nparts ? q->nparts : 1];
	struct produce_ctx pc = {f, q, done};

	memset(done, 0, sizeof(done));
	if (!err) {
		ADD(f->a_requests, 1);
		if (kp_produce_parse(body, len, q->ver, on_produce_result, &pc)) {
			fwd_log(LOG_ERR, "%s:%u: malformed Produce response: closing", c->host,
				c->port);
			err = -EBADMSG;
		}
	}
	for (uint32_t i = 0; i < q->nparts; i++) {
		struct fpart *p = &f->parts[q->parts[i]];
		struct slot *s;

		if (done[i])
			continue;
		s = slot_by_id(p, q->slots[i]);
		if (!s || s->state != SLOT_SENT)
			continue;
		/* No answer for it (connection lost, timeout, malformed response): its fate is
		 * unknown; the same bytes go again, and the broker recognises a duplicate. */
		p->sent--;
		s->state = SLOT_BUILT;
		p->seq_failed_round = true;
		count_error(f, err ? err : -EPROTO);
		retry_arm(f, p, 0);
	}
	if (err == -EBADMSG)
		kconn_close(c, -EBADMSG);
}

/* The slot of p to send next (the first built one after those sent), or NULL. */
static struct slot *next_to_send(struct fpart *p, uint64_t now)
{
	if (p->state != P_RUN || p->needs_resume || p->rebuild || p->needs_switch)
		return NULL;
	if (p->retry) {
		if (p->sent || now < p->retry_at)
			return NULL;
		p->retry = false;
		p->seq_failed_round = false;
	}
	for (uint32_t i = 0; i < p->scount; i++) {
		struct slot *s = slot_at(p, i);

		if (s->state == SLOT_BUILT)
			return s;
	}
	return NULL;
}

/* Send one Produce request per broker while its connection takes more. */
static uint32_t send_produce(struct sluice_fwd *f, struct fbroker *b, uint64_t now)
{
	uint32_t sent = 0;

	while (kconn_can_send(&b->conn)) {
		uint32_t ntopics = 0, npp = 0;
		struct kreq *q;
		size_t at;
		int niov;

		q = NULL;
		for (uint32_t t = 0, i = 0; t < f->ntopics; t++) {
			uint32_t first = npp;

			for (; i < f->nparts && f->parts[i].topic == &f->topics[t]; i++) {
				struct fpart *p = &f->parts[i];
				struct slot *s;

				if (p->leader != b->id || (p->sent && p->sent_to != b->id))
					continue;
				s = next_to_send(p, now);
				if (!s)
					continue;
				if (!q) {
					q = req_begin(f, &b->conn, KAPI_PRODUCE, on_produce, &at);
					if (!q)
						return sent;
				}
				if (s->resent)
					ADD(f->a_retries, 1);
				f->pparts[npp] = (struct kp_produce_part){
					.partition = (int32_t)p->partition,
					.records = s->buf,
					.records_len = (int32_t)s->len,
				};
				q->parts[q->nparts] = i;
				q->slots[q->nparts] = s->id;
				q->nparts++;
				npp++;
				s->state = SLOT_SENT;
				s->resent = true;
				p->sent++;
				p->sent_to = b->id;
			}
			if (npp > first) {
				f->ptopics[ntopics] = (struct kp_produce_topic){
					.name = f->topics[t].kafka_topic,
					.parts = &f->pparts[first],
					.nparts = npp - first,
				};
				ntopics++;
			}
		}
		if (!q)
			break;
		niov = kp_produce_req(&q->w, at, q->ver, f->transactional_id, -1,
				      (int32_t)f->conf.request_timeout_ms, f->ptopics, ntopics,
				      q->iov);
		if (niov < 0) {
			q->niov = 0;
			q->w.oom = true; /* kconn_send fails it: every slot goes back to built */
		} else {
			q->niov = niov;
		}
		kconn_send(&b->conn, q, now);
		sent += npp;
	}
	return sent;
}

/* ---------------------------------------------------------------------------------------- */
/* Metadata                                                                                   */

struct meta_ctx {
	struct sluice_fwd *f;
	bool *seen_part;
	bool *topic_ok;
};

static void meta_broker(void *ctx, int32_t id, const char *host, int32_t hlen, int32_t port)
{
	struct meta_ctx *m = ctx;
	char h[256];

	if (hlen <= 0 || (size_t)hlen >= sizeof(h) || port <= 0 || port > 65535 || id < 0)
		return;
	memcpy(h, host, (size_t)hlen);
	h[hlen] = '\0';
	broker_upsert(m->f, id, h, (uint16_t)port);
}

static void meta_partition(void *ctx, const char *topic, int32_t tlen, int32_t partition,
			   int16_t err, int32_t leader)
{
	struct meta_ctx *m = ctx;
	struct sluice_fwd *f = m->f;

	for (uint32_t i = 0; i < f->nparts; i++) {
		struct fpart *p = &f->parts[i];

		if ((int32_t)p->partition != partition ||
		    strlen(p->topic->kafka_topic) != (size_t)tlen ||
		    memcmp(p->topic->kafka_topic, topic, (size_t)tlen) != 0)
			continue;
		m->seen_part[i] = true;
		if (err && err != KERR_REPLICA_NOT_AVAILABLE)
			leader = -1;
		if (leader != p->leader && p->leader >= 0 && leader >= 0)
			fwd_log(LOG_NOTICE, "%s/%" PRIu32 ": leader moved from broker %d to %d",
				p->topic->name, p->partition, p->leader, leader);
		p->leader = leader;
		STORE(p->a_leader, leader);
	}
}

static void on_metadata(struct kconn *c, struct kreq *q, int err, const uint8_t *body, size_t len)
{
	struct sluice_fwd *f = q->ctx;
	bool seen[f->nparts ? f->nparts : 1];
	struct meta_ctx m = {f, seen, NULL};
	struct kp_metadata_cb cb = {.ctx = &m, .broker = meta_broker, .partition = meta_partition};
	uint64_t now = sluice_mono_ms();

	f->meta_outstanding = false;
	if (err) {
		f->meta_needed = true;
		return;
	}
	memset(seen, 0, sizeof(seen));
	if (kp_metadata_parse(body, len, q->ver, &cb)) {
		fwd_log(LOG_ERR, "%s:%u: malformed Metadata response", c->host, c->port);
		count_error(f, -EBADMSG);
		f->meta_needed = true;
		f->meta_retry_at = now + f->conf.retry_backoff_max_ms;
		return;
	}
	ADD(f->a_meta, 1);
	f->meta_needed = false;
	f->meta_last_ok = now;
	f->meta_at = now + f->conf.metadata_refresh_ms;
	for (uint32_t i = 0; i < f->nparts; i++) {
		struct fpart *p = &f->parts[i];

		if (!seen[i]) {
			p->leader = -1;
			STORE(p->a_leader, -1);
		}
		if (p->leader < 0) {
			if (!p->missing_logged)
				fwd_log(LOG_WARN,
					"%s/%" PRIu32 ": Kafka partition %s/%" PRIu32
					" does not exist or has no leader: holding this "
					"partition, retrying",
					p->topic->name, p->partition, p->topic->kafka_topic,
					p->partition);
			p->missing_logged = true;
			/* Look again soon: a topic being created, a leader being elected. */
			if (f->meta_at > now + f->conf.retry_backoff_max_ms)
				f->meta_at = now + f->conf.retry_backoff_max_ms;
		} else {
			p->missing_logged = false;
		}
	}
	/* Once the cluster is known, bootstrap connections are not needed. */
	for (uint32_t i = 0; i < f->nbootstrap; i++) {
		f->bootstrap[i].want = false;
		if (&f->bootstrap[i] != c && f->bootstrap[i].state != KC_DOWN)
			kconn_close(&f->bootstrap[i], -ECANCELED);
	}
}

static void service_metadata(struct sluice_fwd *f, uint64_t now)
{
	const char **names;
	struct kconn *c;
	struct kreq *q;
	size_t at;

	if (f->meta_outstanding || now < (f->meta_needed ? f->meta_retry_at : f->meta_at))
		return;
	c = any_ready(f);
	if (!c) {
		/* No connection: want the bootstrap servers (and any broker we know). */
		for (uint32_t i = 0; i < f->nbootstrap; i++)
			f->bootstrap[i].want = true;
		return;
	}
	q = req_begin(f, c, KAPI_METADATA, on_metadata, &at);
	names = q ? calloc(f->ntopics, sizeof(*names)) : NULL;
	if (!names) {
		if (q)
			req_put(f, q);
		return;
	}
	for (uint32_t t = 0; t < f->ntopics; t++)
		names[t] = f->topics[t].kafka_topic;
	kp_metadata_req(&q->w, q->ver, names, f->ntopics);
	free(names);
	kreq_finish(&q->w, at, 0);
	f->meta_outstanding = true;
	f->meta_retry_at = now + f->conf.retry_backoff_ms; /* refreshes at most this often */
	kconn_send(c, q, now);
}

/* ---------------------------------------------------------------------------------------- */
/* Producer id: FindCoordinator + InitProducerId (new session or epoch bump)                 */

static void pid_backoff(struct sluice_fwd *f, uint32_t min_ms)
{
	uint32_t b = f->pid_backoff_ms ? f->pid_backoff_ms * 2 : f->conf.retry_backoff_ms;

	if (b > f->conf.retry_backoff_max_ms)
		b = f->conf.retry_backoff_max_ms;
	if (b < min_ms)
		b = min_ms;
	f->pid_backoff_ms = b;
	f->pid_retry_at = sluice_mono_ms() + b;
	f->pid_state = PID_NONE;
}

static void begin_session_resume(struct sluice_fwd *f)
{
	for (uint32_t i = 0; i < f->nparts; i++) {
		struct fpart *p = &f->parts[i];

		slots_drop(p);
		p->state = P_RESUME;
		p->rs.step = RS_START;
		p->rs.gen++;
		p->needs_resume = false;
		p->needs_switch = false;
		p->retry = false;
		p->rebuild = false;
	}
}

static void on_init_pid(struct kconn *c, struct kreq *q, int err, const uint8_t *body, size_t len)
{
	struct sluice_fwd *f = q->ctx;
	int16_t kerr;
	int64_t pid;
	int16_t epoch;
	char name[32];
	bool bump = q->arg != 0;

	(void)c;
	if (err) {
		pid_backoff(f, 0);
		return;
	}
	if (kp_init_producer_id_parse(body, len, q->ver, &kerr, &pid, &epoch)) {
		count_error(f, -EBADMSG);
		pid_backoff(f, f->conf.retry_backoff_max_ms);
		return;
	}
	if (kerr) {
		count_error(f, kerr);
		switch (kerr) {
		case KERR_NOT_COORDINATOR:
		case KERR_COORDINATOR_NOT_AVAILABLE:
		case KERR_COORDINATOR_LOAD_IN_PROGRESS:
		case KERR_CONCURRENT_TRANSACTIONS:
			pid_backoff(f, 0);
			return;
		case KERR_INVALID_PRODUCER_EPOCH:
		case KERR_PRODUCER_FENCED:
		case KERR_UNKNOWN_PRODUCER_ID:
		case KERR_INVALID_PRODUCER_ID_MAPPING:
			if (bump) {
				/* Our (id, epoch) is not the coordinator's any more: ask for the
				 * transactional id's producer as it stands, which fences whoever
				 * holds it now. */
				fwd_log(LOG_WARN,
					"InitProducerId: epoch bump refused (%s): asking for a "
					"fresh "
					"producer id",
					kerr_name(kerr, name, sizeof(name)));
				f->bump_refused = true;
				f->pid_state = PID_COORD;
				return;
			}
			break;
		default:
			break;
		}
		fwd_log(LOG_ERR, "InitProducerId for transactional id %s: %s (retrying)",
			f->transactional_id, kerr_name(kerr, name, sizeof(name)));
		pid_backoff(f, REFUSED_BACKOFF_FACTOR * f->conf.retry_backoff_max_ms);
		return;
	}
	if (pid < 0 || epoch < 0) {
		count_error(f, -EBADMSG);
		pid_backoff(f, f->conf.retry_backoff_max_ms);
		return;
	}
	if (f->ss.n > 0)
		ADD(f->a_fatal_resets, 1);
	fsess_push(&f->ss, pid, epoch);
	f->ss_dirty = true;
	if (sessions_sync(f)) {
		f->ss.n--; /* not persisted: not usable */
		pid_backoff(f, f->conf.retry_backoff_max_ms);
		return;
	}
	fwd_log(LOG_NOTICE, "producer session: id %" PRId64 " epoch %d%s%s", pid, epoch,
		f->switch_reason ? " (" : "", f->switch_reason ? f->switch_reason : "");
	if (f->switch_reason)
		fwd_log(LOG_NOTICE, "every partition resumes from Kafka's tail");
	STORE(f->a_pid, pid);
	STORE(f->a_epoch, epoch);
	f->pid_state = PID_OK;
	f->pid_backoff_ms = 0;
	f->bump_refused = false;
	f->switch_wanted = false;
	f->switch_reason = NULL;
	begin_session_resume(f);
}

static void send_init_pid(struct sluice_fwd *f, struct kconn *c, uint64_t now)
{
	const struct fsession *cur = f->ss.n ? &f->ss.s[f->ss.n - 1] : NULL;
	struct kreq *q;
	size_t at;
	bool bump;

	q = req_begin(f, c, KAPI_INIT_PRODUCER_ID, on_init_pid, &at);
	if (!q) {
		pid_backoff(f, 0);
		return;
	}
	/* KIP-360: with our current (id, epoch) the coordinator bumps the epoch of the same
	 * id, which fences every request of the old epoch. */
	bump = cur && q->ver >= 3 && !f->bump_refused;
	q->arg = bump;
	kp_init_producer_id_req(&q->w, q->ver, f->transactional_id, TXN_TIMEOUT_MS,
				bump ? cur->pid : -1, bump ? cur->epoch : -1);
	kreq_finish(&q->w, at, 0);
	f->pid_state = PID_INIT;
	kconn_send(c, q, now);
}

static void on_find_coordinator(struct kconn *c, struct kreq *q, int err, const uint8_t *body,
				size_t len)
{
	struct sluice_fwd *f = q->ctx;
	struct kp_coordinator co;
	struct fbroker *b;
	char name[32];

	(void)c;
	if (err) {
		pid_backoff(f, 0);
		return;
	}
	if (kp_find_coordinator_parse(body, len, q->ver, &co)) {
		count_error(f, -EBADMSG);
		pid_backoff(f, f->conf.retry_backoff_max_ms);
		return;
	}
	if (co.err) {
		count_error(f, co.err);
		if (co.err != KERR_COORDINATOR_NOT_AVAILABLE &&
		    co.err != KERR_COORDINATOR_LOAD_IN_PROGRESS && co.err != KERR_NOT_COORDINATOR)
			fwd_log(LOG_ERR, "FindCoordinator(%s): %s", f->transactional_id,
				kerr_name(co.err, name, sizeof(name)));
		pid_backoff(f, 0);
		return;
	}
	if (co.port <= 0 || co.port > 65535 || co.node_id < 0) {
		count_error(f, -EBADMSG);
		pid_backoff(f, f->conf.retry_backoff_max_ms);
		return;
	}
	b = broker_upsert(f, co.node_id, co.host, (uint16_t)co.port);
	if (!b) {
		pid_backoff(f, 0);
		return;
	}
	f->coord_id = co.node_id;
	f->pid_state = PID_COORD;
}

static bool produce_drained(struct sluice_fwd *f)
{
	for (uint32_t i = 0; i < f->nparts; i++)
		if (f->parts[i].sent)
			return false;
	return true;
}

static void service_pid(struct sluice_fwd *f, uint64_t now)
{
	struct fbroker *b;
	struct kconn *c;
	struct kreq *q;
	size_t at;

	if (f->switch_wanted && f->pid_state == PID_OK && produce_drained(f)) {
		fwd_log(LOG_NOTICE, "new producer session: %s", f->switch_reason);
		f->pid_state = PID_NONE;
		f->pid_retry_at = now;
	}
	switch (f->pid_state) {
	case PID_NONE:
		if (now < f->pid_retry_at)
			return;
		c = any_ready(f);
		if (!c)
			return;
		q = req_begin(f, c, KAPI_FIND_COORDINATOR, on_find_coordinator, &at);
		if (!q)
			return;
		kp_find_coordinator_req(&q->w, q->ver, f->transactional_id, 1);
		kreq_finish(&q->w, at, 0);
		f->pid_state = PID_FIND;
		kconn_send(c, q, now);
		return;
	case PID_COORD:
		b = broker_find(f, f->coord_id);
		if (!b) {
			f->pid_state = PID_NONE;
			return;
		}
		b->conn.want = true;
		if (kconn_can_send(&b->conn))
			send_init_pid(f, &b->conn, now);
		else if (b->conn.state == KC_DOWN && b->conn.last_err && now >= b->conn.retry_at_ms)
			pid_backoff(f, 0); /* the coordinator may have moved: find it again */
		return;
	default:
		return;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Resume: read the partition's tail in Kafka, continue after the last batch of ours         */

static void resume_retry(struct sluice_fwd *f, struct fpart *p, const char *why)
{
	struct resume *r = &p->rs;

	r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : f->conf.retry_backoff_ms;
	if (r->backoff_ms > f->conf.retry_backoff_max_ms)
		r->backoff_ms = f->conf.retry_backoff_max_ms;
	r->retry_at = sluice_mono_ms() + r->backoff_ms;
	r->step = RS_START;
	if (!r->logged && why)
		fwd_log(LOG_WARN,
			"%s/%" PRIu32 ": Kafka partition %s/%" PRIu32 " cannot be read (%s): "
			"holding this partition, retrying",
			p->topic->name, p->partition, p->topic->kafka_topic, p->partition, why);
	r->logged = why != NULL;
}

/* Where the log continues after the last batch of ours found (session si, sequence, count). */
static int64_t resume_offset_of(struct fpart *p, int si, int32_t seq, int32_t count)
{
	const struct fsession *s = &p->f->ss.s[si];
	int64_t base = s->base[p->idx];
	int64_t end_seq = ((int64_t)seq + count) % SEQ_MOD;
	int64_t durable = sluice_partition_durable_offset(p->sp);
	int64_t e = base + end_seq;

	/* Sequences wrap at 2^31; the backlog is far shorter, so the largest candidate that
	 * is still in the durable log is the one. */
	while (e + SEQ_MOD <= durable)
		e += SEQ_MOD;
	return e;
}

static void resume_decide(struct sluice_fwd *f, struct fpart *p)
{
	struct resume *r = &p->rs;
	struct fsession *cur = &f->ss.s[f->ss.n - 1];
	struct sluice_partition_stats st;
	int64_t start;
	bool same = false;

	sluice_partition_stats(p->sp, &st);
	if (r->found && f->ss.s[r->found_sess].base[p->idx] >= 0) {
		start = resume_offset_of(p, r->found_sess, r->found_seq, r->found_count);
		same = r->found_sess == (int)f->ss.n - 1;
		if (p->acked > start)
			fwd_log(LOG_WARN,
				"%s/%" PRIu32 ": Kafka ends at offset %" PRId64 " although %" PRId64
				" was acknowledged (records lost in Kafka?): forwarding them again",
				p->topic->name, p->partition, start, p->acked);
		if (start > st.durable_offset) {
			fwd_log(LOG_ERR,
				"%s/%" PRIu32 ": Kafka holds records of ours up to %" PRId64
				" but the log is durable only to %" PRId64
				": holding this partition",
				p->topic->name, p->partition, start, st.durable_offset);
			resume_retry(f, p, NULL);
			r->retry_at = sluice_mono_ms() +
				REFUSED_BACKOFF_FACTOR * f->conf.retry_backoff_max_ms;
			return;
		}
	} else if (r->log_start <= 0) {
		/* Read from offset 0: nothing of ours has ever been in this Kafka partition (or
		 * it was recreated). */
		if (f->legacy_ckpt && !p->resumed_once && p->acked > 0) {
			start = p->acked;
			fwd_log(LOG_NOTICE,
				"%s/%" PRIu32 ": no producer session of this forwarder in Kafka; "
				"starting at the checkpoint %" PRId64 " (upgrade from the "
				"header-based forwarder)",
				p->topic->name, p->partition, start);
		} else {
			/* From the start; what local retention already deleted is skipped (and
			 * counted unless it was acknowledged once) by reader_reposition(). */
			start = 0;
			if (p->acked_hw > st.log_start_offset)
				fwd_log(LOG_WARN,
					"%s/%" PRIu32
					": nothing of this appliance in Kafka partition "
					"%s/%" PRIu32
					" (a new cluster or topic?): forwarding the log "
					"from its start",
					p->topic->name, p->partition, p->topic->kafka_topic,
					p->partition);
		}
	} else {
		start = p->acked;
		fwd_log(LOG_WARN,
			"%s/%" PRIu32 ": nothing of ours left in Kafka's partition (retention?): "
			"resuming from the checkpoint at %" PRId64,
			p->topic->name, p->partition, start);
	}
	if (!same) {
		if (cur->base[p->idx] >= 0 && cur->base[p->idx] != start) {
			/* This session already sent from elsewhere in this partition: its sequence
			 * numbers cannot name these offsets. */
			f->switch_wanted = true;
			f->switch_reason = "Kafka's tail and the session file disagree";
			p->state = P_WAIT;
			return;
		}
		/* cur->base stays unset until the first batch is built: set then, persisted
		 * before it is sent. */
	}
	ADD(f->a_resumes, 1);
	if (p->resumed_once)
		ADD(p->a_rewinds, 1);
	p->resumed_once = true;
	p->acked = start;
	if (p->acked_hw < start)
		p->acked_hw = start;
	p->next_build = start;
	STORE(p->a_forwarded, start);
	STORE(p->a_resume_offset, start);
	if (r->logged)
		fwd_log(LOG_NOTICE, "%s/%" PRIu32 ": resumed at %" PRId64, p->topic->name,
			p->partition, start);
	r->logged = false;
	r->backoff_ms = 0;
	p->last_err = 0;
	reader_reposition(p);
	p->state = P_RUN;
	publish_inflight(p);
}

static void resume_batch(void *ctx, const struct kp_batch_info *b)
{
	struct fpart *p = ctx;
	struct resume *r = &p->rs;
	int si;

	if (r->first_base < 0 || b->base_offset < r->first_base)
		r->first_base = b->base_offset;
	if (b->base_offset + b->last_offset_delta + 1 > r->pos)
		r->pos = b->base_offset + b->last_offset_delta + 1;
	if (b->attributes & SLUICE_RB_ATTR_CONTROL || b->record_count <= 0)
		return;
	si = fsess_find(&p->f->ss, b->producer_id, b->producer_epoch);
	if (si < 0 || b->base_sequence < 0)
		return;
	r->found = true;
	r->found_sess = si;
	r->found_seq = b->base_sequence;
	r->found_count = b->record_count;
}

static void resume_window_done(struct sluice_fwd *f, struct fpart *p)
{
	struct resume *r = &p->rs;
	int64_t floor = r->log_start > 0 ? r->log_start : 0;

	if (r->found || r->win_from <= floor || r->widen >= RESUME_WIDEN_STEPS) {
		if (!r->found && r->win_from > floor) {
			/* The widest window did not reach the start: decide by the checkpoint. */
			r->log_start = r->win_from;
		}
		resume_decide(f, p);
		return;
	}
	r->widen++;
	r->window *= 8;
	r->win_end =
		r->first_base >= 0 && r->first_base < r->win_from ? r->first_base : r->win_from;
	r->win_from = r->win_end > floor + r->window ? r->win_end - r->window : floor;
	r->pos = r->win_from;
	r->first_base = -1;
	r->step = RS_FETCH;
}

static void on_resume(struct kconn *c, struct kreq *q, int err, const uint8_t *body, size_t len)
{
	struct fpart *p = q->ctx;
	struct sluice_fwd *f = p->f;
	struct resume *r = &p->rs;
	char name[32];

	(void)c;
	if ((uint32_t)q->arg != r->gen || p->state != P_RESUME || r->step != RS_WAIT)
		return; /* an answer for an older attempt */
	if (err) {
		resume_retry(f, p, "connection lost");
		return;
	}
	if (r->waiting == RS_LIST_END || r->waiting == RS_LIST_START) {
		int16_t kerr;
		int64_t off;

		if (kp_list_offsets_parse(body, len, q->ver, &kerr, &off) || (!kerr && off < 0)) {
			count_error(f, -EBADMSG);
			resume_retry(f, p, "malformed ListOffsets response");
			return;
		}
		if (kerr) {
			count_error(f, kerr);
			if (kerr_classify(kerr) == KERR_C_METADATA)
				f->meta_needed = true;
			resume_retry(f, p, kerr_name(kerr, name, sizeof(name)));
			return;
		}
		if (r->waiting == RS_LIST_START) {
			r->log_start = off;
			if (r->win_from < off)
				r->win_from = off;
			r->pos = r->win_from;
			if (r->pos >= r->win_end)
				resume_window_done(f, p);
			else
				r->step = RS_FETCH;
			return;
		}
		r->hw = off;
		if (off == 0) {
			r->log_start = 0;
			resume_decide(f, p);
			return;
		}
		r->window = f->resume_tail_records;
		r->win_end = off;
		r->win_from = off > r->window ? off - r->window : 0;
		r->pos = r->win_from;
		r->first_base = -1;
		r->step = RS_FETCH;
		return;
	}
	/* Fetch */
	{
		struct kp_fetch_part fp;
		int64_t before = r->pos;
		int n;

		if (kp_fetch_parse(body, len, q->ver, &fp)) {
			count_error(f, -EBADMSG);
			resume_retry(f, p, "malformed Fetch response");
			return;
		}
		if (fp.log_start_offset >= 0)
			r->log_start = fp.log_start_offset;
		if (fp.err == KERR_OFFSET_OUT_OF_RANGE) {
			/* Below the log start: learn it, read from there. */
			r->step = RS_LIST_START;
			return;
		}
		if (fp.err) {
			count_error(f, fp.err);
			if (kerr_classify(fp.err) == KERR_C_METADATA)
				f->meta_needed = true;
			resume_retry(f, p, kerr_name(fp.err, name, sizeof(name)));
			return;
		}
		n = fp.records
			? kp_batches_walk(fp.records, (size_t)fp.records_len, resume_batch, p)
			: 0;
		if (n < 0) {
			count_error(f, -EBADMSG);
			resume_retry(f, p, "malformed records in a Fetch response");
			return;
		}
		if (r->win_from == 0 && r->log_start < 0)
			r->log_start = 0; /* read from 0 without OFFSET_OUT_OF_RANGE */
		if (n == 0 || r->pos <= before || r->pos >= r->win_end ||
		    (fp.high_watermark >= 0 && r->pos >= fp.high_watermark)) {
			resume_window_done(f, p);
			return;
		}
		r->step = RS_FETCH;
	}
}

static void service_resume(struct sluice_fwd *f, struct fpart *p, uint64_t now)
{
	struct resume *r = &p->rs;
	struct fbroker *b;
	struct kreq *q;
	size_t at;

	if (p->state != P_RESUME || r->step == RS_WAIT || f->pid_state != PID_OK)
		return;
	if (r->step == RS_START) {
		if (now < r->retry_at || p->leader < 0)
			return;
		r->found = false;
		r->hw = -1;
		r->log_start = -1;
		r->widen = 0;
		r->first_base = -1;
		r->step = RS_LIST_END;
	}
	b = p->leader >= 0 ? broker_find(f, p->leader) : NULL;
	if (!b) {
		r->step = RS_START;
		return;
	}
	b->conn.want = true;
	if (!kconn_can_send(&b->conn)) {
		if (b->conn.state == KC_DOWN && b->conn.last_err && !r->logged &&
		    now >= b->conn.retry_at_ms)
			resume_retry(f, p, "leader unreachable");
		return;
	}
	q = req_begin(f, &b->conn,
		      r->step == RS_FETCH ? (int16_t)KAPI_FETCH : (int16_t)KAPI_LIST_OFFSETS,
		      on_resume, &at);
	if (!q)
		return;
	q->ctx = p;
	q->arg = r->gen;
	if (r->step == RS_FETCH)
		kp_fetch_req(&q->w, q->ver, p->topic->kafka_topic, (int32_t)p->partition, r->pos,
			     FETCH_MAX_BYTES);
	else
		kp_list_offsets_req(&q->w, q->ver, p->topic->kafka_topic, (int32_t)p->partition,
				    r->step == RS_LIST_END ? -1 : -2);
	kreq_finish(&q->w, at, 0);
	r->waiting = r->step;
	r->step = RS_WAIT;
	kconn_send(&b->conn, q, now);
}

/* ---------------------------------------------------------------------------------------- */
/* The partition's own state machine                                                          */

static uint32_t service_partition(struct sluice_fwd *f, struct fpart *p, uint64_t now)
{
	uint32_t work = 0;

	if (p->state == P_WAIT) {
		if (f->pid_state == PID_OK && !f->switch_wanted && f->ss.n > 0) {
			p->state = P_RESUME;
			p->rs.step = RS_START;
			p->rs.gen++;
		}
		return 0;
	}
	if (p->state == P_RESUME) {
		service_resume(f, p, now);
		return 0;
	}
	/* P_RUN */
	if (p->needs_switch && !f->switch_wanted) {
		f->switch_wanted = true;
		f->switch_reason = "records deleted by retention before being forwarded";
	}
	if ((p->needs_resume || p->rebuild) && p->sent == 0) {
		if (p->needs_resume) {
			slots_drop(p);
			p->needs_resume = false;
			p->rebuild = false;
			p->retry = false;
			p->seq_failed_round = false;
			p->state = P_RESUME;
			p->rs.step = RS_START;
			p->rs.retry_at = now + f->conf.retry_backoff_ms;
			p->rs.gen++;
			return 0;
		}
		slots_drop(p);
		p->rebuild = false;
		p->retry = false;
		p->seq_failed_round = false;
	}
	if (LOAD(p->topic->paused) && p->scount == 0 && !p->needs_resume) {
		/* Nothing is sent, but the age of what waits is still reported. */
		src_ready(p);
		publish_inflight(p);
		return 0;
	}
	if (p->needs_resume || p->rebuild || p->needs_switch || f->switch_wanted || f->fenced ||
	    f->draining || LOAD(p->topic->paused))
		return 0;
	if (p->retry && p->sent)
		return 0;
	while (p->scount < SLOTS) {
		uint32_t n = build_slot(f, p);

		if (n == 0)
			break;
		work += n;
	}
	return work;
}

/* ---------------------------------------------------------------------------------------- */
/* Housekeeping                                                                               */

static void report_forwarded(struct sluice_fwd *f)
{
	if (f->hold_retention)
		return;
	for (uint32_t i = 0; i < f->nparts; i++) {
		struct fpart *p = &f->parts[i];

		if (p->acked != p->reported_offset) {
			sluice_partition_set_forwarded(p->sp, p->acked);
			p->reported_offset = p->acked;
		}
	}
}

static void sample_rates(struct sluice_fwd *f, uint64_t now)
{
	for (uint32_t i = 0; i < f->nparts; i++) {
		struct fpart *p = &f->parts[i];
		struct sluice_partition_stats st;

		sluice_partition_stats(p->sp, &st);
		if (p->rate_last_ms && now > p->rate_last_ms) {
			uint64_t d = st.appended_bytes - p->rate_last_bytes;
			uint64_t rate = d * 1000 / (now - p->rate_last_ms);
			uint64_t old = LOAD(p->a_ingest_bytes_per_s);

			/* EWMA with weight 1/4: smooths bursts, follows a change in seconds */
			STORE(p->a_ingest_bytes_per_s, old ? (old * 3 + rate) / 4 : rate);
		}
		p->rate_last_bytes = st.appended_bytes;
		p->rate_last_ms = now;
	}
}

static void update_state(struct sluice_fwd *f)
{
	bool all_run = f->pid_state == PID_OK, up = false, failed = false;

	for (uint32_t i = 0; i < f->nparts && all_run; i++)
		all_run = f->parts[i].state == P_RUN;
	/* Down: every connection wanted has failed and none is up or still trying. */
	for (uint32_t i = 0; i < f->nbrokers + f->nbootstrap; i++) {
		const struct kconn *c =
			i < f->nbrokers ? &f->brokers[i]->conn : &f->bootstrap[i - f->nbrokers];

		if (c->state != KC_DOWN)
			up = true;
		else if (c->want && c->last_err != 0)
			failed = true;
	}
	bool down = failed && !up;

	if (down && !f->broker_down) {
		ADD(f->a_broker_down, 1);
		fwd_log(LOG_WARN, "no Kafka broker reachable: the log buffers");
	}
	f->broker_down = down;
	if (f->fenced)
		set_state(f, SLUICE_FWD_FENCED);
	else if (f->draining)
		set_state(f, SLUICE_FWD_DRAINING);
	else if (down)
		set_state(f, SLUICE_FWD_BROKER_DOWN);
	else
		set_state(f, all_run ? SLUICE_FWD_RUNNING : SLUICE_FWD_RESUMING);
}

/* Which broker connections are needed: leaders of our partitions, the coordinator. */
static void update_wants(struct sluice_fwd *f)
{
	for (uint32_t i = 0; i < f->nbrokers; i++)
		f->brokers[i]->conn.want = false;
	for (uint32_t i = 0; i < f->nparts; i++) {
		struct fbroker *b =
			f->parts[i].leader >= 0 ? broker_find(f, f->parts[i].leader) : NULL;

		if (b)
			b->conn.want = true;
	}
	if (f->pid_state == PID_COORD || f->pid_state == PID_INIT) {
		struct fbroker *b = broker_find(f, f->coord_id);

		if (b)
			b->conn.want = true;
	}
}

static uint32_t io_poll(struct sluice_fwd *f, int timeout_ms)
{
	uint32_t n = 0, need = f->nbrokers + f->nbootstrap;
	uint64_t now;
	int rc;

	if (need > f->pfd_cap) {
		struct pollfd *pf = realloc(f->pfds, need * sizeof(*pf));
		struct kconn **pc = pf ? realloc(f->pconns, need * sizeof(*pc)) : NULL;

		if (pf)
			f->pfds = pf;
		if (!pf || !pc) {
			struct timespec ts = {0, 1000000};

			nanosleep(&ts, NULL);
			return 0;
		}
		f->pconns = pc;
		f->pfd_cap = need;
	}
	for (uint32_t i = 0; i < f->nbrokers + f->nbootstrap; i++) {
		struct kconn *c =
			i < f->nbrokers ? &f->brokers[i]->conn : &f->bootstrap[i - f->nbrokers];
		short ev = kconn_events(c);

		if (!ev || c->fd < 0)
			continue;
		if (c->tops->pending(c))
			timeout_ms = 0;
		f->pfds[n] = (struct pollfd){.fd = c->fd, .events = ev};
		f->pconns[n] = c;
		n++;
	}
	if (n == 0) {
		if (timeout_ms > 0) {
			struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};

			nanosleep(&ts, NULL);
		}
		return 0;
	}
	rc = poll(f->pfds, n, timeout_ms);
	if (rc <= 0)
		return 0;
	now = sluice_mono_ms();
	for (uint32_t i = 0; i < n; i++)
		if (f->pfds[i].revents || f->pconns[i]->tops->pending(f->pconns[i]))
			kconn_io(f->pconns[i], f->pfds[i].revents, now);
	return (uint32_t)rc;
}

static void tick_all(struct sluice_fwd *f, uint64_t now, uint64_t *next)
{
	for (uint32_t i = 0; i < f->nbrokers + f->nbootstrap; i++) {
		struct kconn *c =
			i < f->nbrokers ? &f->brokers[i]->conn : &f->bootstrap[i - f->nbrokers];
		uint64_t d;

		kconn_tick(c, now);
		d = kconn_next_deadline(c);
		if (d < *next)
			*next = d;
	}
}

static bool drained(struct sluice_fwd *f)
{
	for (uint32_t i = 0; i < f->nparts; i++) {
		const struct fpart *p = &f->parts[i];

		for (uint32_t s = 0; s < p->scount; s++)
			if (p->slots[(p->shead + s) % SLOTS].state != SLOT_ACKED)
				return false;
	}
	return true;
}

static void *fwd_main(void *arg)
{
	struct sluice_fwd *f = arg;
	uint64_t last_sample = 0, drain_deadline = 0;

	f->meta_needed = true;
	for (uint32_t i = 0; i < f->nbootstrap; i++)
		f->bootstrap[i].want = true;
	for (;;) {
		uint64_t now = sluice_mono_ms(), next = now + f->idle_poll_ms;
		uint32_t work = 0;
		int timeout;

		if (LOAD(f->stop) && !f->draining) {
			f->draining = true;
			drain_deadline = now + LOAD(f->drain_timeout_ms);
		}
		if (f->draining && (drained(f) || now >= drain_deadline || f->fenced))
			break;
		service_metadata(f, now);
		service_pid(f, now);
		for (uint32_t k = 0; k < f->nparts; k++)
			work += service_partition(f, &f->parts[(f->rr + k) % f->nparts], now);
		f->rr = f->nparts ? (f->rr + 1) % f->nparts : 0;
		update_wants(f);
		if (!f->fenced && !f->switch_wanted && sessions_sync(f) == 0)
			for (uint32_t i = 0; i < f->nbrokers; i++)
				work += send_produce(f, f->brokers[i], now);
		tick_all(f, now, &next);
		for (uint32_t i = 0; i < f->nparts; i++) {
			struct fpart *p = &f->parts[i];

			if (p->retry && p->retry_at < next)
				next = p->retry_at;
			if (p->state == P_RESUME && p->rs.step != RS_WAIT) {
				uint64_t at = p->rs.step == RS_START ? p->rs.retry_at : now;

				if (at < next)
					next = at;
			}
		}
		if (!f->meta_outstanding) {
			uint64_t at = f->meta_needed ? f->meta_retry_at : f->meta_at;

			if (at < next)
				next = at;
		}
		if (f->pid_state == PID_NONE && f->pid_retry_at < next)
			next = f->pid_retry_at;
		timeout = work ? 0 : next > now ? (int)(next - now) : 0;
		if (timeout > (int)f->idle_poll_ms)
			timeout = (int)f->idle_poll_ms;
		io_poll(f, timeout);
		now = sluice_mono_ms();
		report_forwarded(f);
		update_state(f);
		if (now - last_sample >= 1000) {
			sample_rates(f, now);
			last_sample = now;
		}
		if (now - f->last_ckpt_ms >= f->checkpoint_interval_ms) {
			ckpt_write(f, false);
			f->last_ckpt_ms = now;
		}
	}
	if (!drained(f)) {
		uint64_t left = 0;

		for (uint32_t i = 0; i < f->nparts; i++)
			left += f->parts[i].inflight_records;
		fwd_log(LOG_WARN,
			"stop: %" PRIu64 " records not acknowledged within %" PRIu32
			" ms; the next start finds in Kafka's tail which of them landed",
			left, LOAD(f->drain_timeout_ms));
	}
	for (uint32_t i = 0; i < f->nbrokers; i++)
		kconn_fini(&f->brokers[i]->conn);
	for (uint32_t i = 0; i < f->nbootstrap; i++)
		kconn_fini(&f->bootstrap[i]);
	report_forwarded(f);
	ckpt_write(f, false);
	for (uint32_t i = 0; i < f->nparts; i++) {
		struct fpart *p = &f->parts[i];

		if (p->reader)
			sluice_reader_close(p->reader);
		p->reader = NULL;
		p->have_src = false;
		p->sent = 0;
		slots_drop(p);
		p->state = P_WAIT;
	}
	set_state(f, f->fenced ? SLUICE_FWD_FENCED : SLUICE_FWD_STOPPED);
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Public API                                                                                 */

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

/* "host:port,host:port" → bootstrap connections. */
static int parse_brokers(struct sluice_fwd *f)
{
	char *list = xstrdup(f->brokers_str), *save = NULL, *tok;
	int rc = 0;

	if (!list)
		return -ENOMEM;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon, *end;
		unsigned long port;
		struct kconn *nb;

		while (*tok == ' ')
			tok++;
		colon = strrchr(tok, ':');
		if (!colon || colon == tok) {
			fwd_log(LOG_ERR, "brokers: \"%s\" is not host:port", tok);
			rc = -EINVAL;
			break;
		}
		*colon = '\0';
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || *end || port == 0 || port > 65535) {
			fwd_log(LOG_ERR, "brokers: bad port in \"%s:%s\"", tok, colon + 1);
			rc = -EINVAL;
			break;
		}
		if (tok[0] == '[' && colon[-1] == ']') { /* [v6]:port */
			tok++;
			colon[-1] = '\0';
		}
		nb = realloc(f->bootstrap, (f->nbootstrap + 1) * sizeof(*nb));
		if (!nb) {
			rc = -ENOMEM;
			break;
		}
		f->bootstrap = nb;
		kconn_init(&f->bootstrap[f->nbootstrap], &f->env, tok, (uint16_t)port, -1);
		f->nbootstrap++;
	}
	free(list);
	if (!rc && f->nbootstrap == 0) {
		fwd_log(LOG_ERR, "brokers: empty");
		rc = -EINVAL;
	}
	return rc;
}

int sluice_fwd_create(const struct sluice_fwd_opts *o, struct sluice_fwd **out)
{
	struct sluice_fwd *f;
	char errstr[512], buf[300];
	int rc = -ENOMEM;

	*out = NULL;
	if (!o || !o->log || !o->topics || o->ntopics == 0 || !o->brokers || !*o->brokers ||
	    !o->appliance_id || !*o->appliance_id) {
		fwd_log(LOG_ERR, "create: log, topics, brokers and appliance_id are required");
		return -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->err_lock, NULL);
	f->log = o->log;
	f->hold_retention = o->hold_retention;
	f->headers = o->headers;
	f->idle_poll_ms = o->idle_poll_ms ? o->idle_poll_ms : 5;
	f->resume_tail_records = o->resume_tail_records ? o->resume_tail_records : 100;
	f->resume_timeout_ms = o->resume_timeout_ms ? o->resume_timeout_ms : 10000;
	f->checkpoint_interval_ms = o->checkpoint_interval_ms ? o->checkpoint_interval_ms : 1000;
	STORE(f->inflight_max_msgs, o->inflight_max_msgs ? o->inflight_max_msgs : 1000000);
	STORE(f->inflight_max_bytes, o->inflight_max_bytes ? o->inflight_max_bytes : 64u << 20);
	if (LOAD(f->inflight_max_msgs) > INFLIGHT_MSGS_HARD_MAX)
		STORE(f->inflight_max_msgs, INFLIGHT_MSGS_HARD_MAX);
	STORE(f->a_pid, -1);
	f->coord_id = -1;
	if (!o->compression || strcmp(o->compression, "none") == 0) {
		f->codec = SLUICE_FWD_COMPRESS_NONE;
	} else if (strcmp(o->compression, "lz4") == 0) {
		f->codec = SLUICE_FWD_COMPRESS_LZ4;
	} else if (strcmp(o->compression, "zstd") == 0) {
		f->codec = SLUICE_FWD_COMPRESS_ZSTD;
	} else {
		fwd_log(LOG_ERR, "create: compression \"%s\": not none, lz4 or zstd",
			o->compression);
		rc = -EINVAL;
		goto fail;
	}
	kclient_conf_defaults(&f->conf);
	for (uint32_t i = 0; i < o->nkafka_conf; i++) {
		rc = kclient_conf_set(&f->conf, o->kafka_conf[i].key, o->kafka_conf[i].value,
				      errstr, sizeof(errstr));
		if (rc) {
			fwd_log(LOG_ERR, "kafka.%s: %s", o->kafka_conf[i].key, errstr);
			goto fail;
		}
	}
	rc = kclient_conf_finish(&f->conf, errstr, sizeof(errstr));
	if (rc) {
		fwd_log(LOG_ERR, "kafka client settings: %s", errstr);
		goto fail;
	}
	f->codec_level = o->compression_level ? o->compression_level : f->conf.compression_level;
	rc = -ENOMEM;
	if (o->batch_bytes)
		f->conf.batch_bytes = o->batch_bytes;
	if (f->codec != SLUICE_FWD_COMPRESS_NONE) {
		rc = coal_codec_create(f->codec, f->codec_level, &f->codec_ctx);
		if (rc)
			goto fail;
	}
	if (f->conf.security == KSEC_SSL || f->conf.security == KSEC_SASL_SSL) {
		rc = ktls_create(&f->conf, &f->tls, errstr, sizeof(errstr));
		if (rc) {
			fwd_log(LOG_ERR, "%s", errstr);
			goto fail;
		}
	}
	rc = -ENOMEM;
	f->env = (struct kconn_env){
		.conf = &f->conf,
		.tls = f->tls,
		.req_get = req_get,
		.req_put = req_put,
		.state_changed = conn_state_changed,
		.ctx = f,
	};
	f->brokers_str = xstrdup(o->brokers);
	f->appliance_id = xstrdup(o->appliance_id);
	if (o->transactional_id && *o->transactional_id) {
		f->transactional_id = xstrdup(o->transactional_id);
	} else {
		snprintf(buf, sizeof(buf), "sluice-%s", o->appliance_id);
		f->transactional_id = xstrdup(buf);
	}
	f->checkpoint_dir = o->checkpoint_dir ? xstrdup(o->checkpoint_dir) : NULL;
	if (!f->brokers_str || !f->appliance_id || !f->transactional_id ||
	    (o->checkpoint_dir && !f->checkpoint_dir))
		goto fail;
	rc = parse_brokers(f);
	if (rc)
		goto fail;
	rc = -ENOMEM;
	f->topics = calloc(o->ntopics, sizeof(*f->topics));
	if (!f->topics)
		goto fail;
	f->ntopics = o->ntopics;
	for (uint32_t t = 0; t < o->ntopics; t++) {
		const struct sluice_fwd_topic *ot = &o->topics[t];
		struct ftopic *ft = &f->topics[t];

		if (!ot->name || strlen(ot->name) >= SLUICE_TOPIC_NAME_MAX) {
			fwd_log(LOG_ERR, "create: topic name missing or too long");
			rc = -EINVAL;
			goto fail;
		}
		snprintf(ft->name, sizeof(ft->name), "%s", ot->name);
		ft->kafka_topic = xstrdup(ot->kafka_topic ? ot->kafka_topic : ot->name);
		if (!ft->kafka_topic)
			goto fail;
		ft->opts = *ot;
		ft->opts.name = ft->name;
		ft->opts.kafka_topic = ft->kafka_topic;
		for (uint32_t p = 0;; p++) {
			if (sluice_log_partition_id(o->log, ot->name, p) < 0) {
				if (p == 0) {
					fwd_log(LOG_ERR, "create: topic %s is not in the log",
						ot->name);
					rc = -ENOENT;
					goto fail;
				}
				break;
			}
			f->nparts++;
		}
	}
	f->parts = calloc(f->nparts, sizeof(*f->parts));
	f->part_topic = calloc(f->nparts, sizeof(*f->part_topic));
	f->part_number = calloc(f->nparts, sizeof(*f->part_number));
	f->ptopics = calloc(f->ntopics, sizeof(*f->ptopics));
	f->pparts = calloc(f->nparts, sizeof(*f->pparts));
	if (!f->parts || !f->part_topic || !f->part_number || !f->ptopics || !f->pparts)
		goto fail;
	for (uint32_t t = 0, i = 0; t < f->ntopics; t++) {
		for (uint32_t p = 0;; p++, i++) {
			int id = sluice_log_partition_id(o->log, f->topics[t].name, p);
			struct fpart *fp;

			if (id < 0)
				break;
			fp = &f->parts[i];
			fp->f = f;
			fp->idx = i;
			fp->topic = &f->topics[t];
			fp->partition = p;
			fp->sp = sluice_log_partition(o->log, (uint32_t)id);
			snprintf(fp->partition_str, sizeof(fp->partition_str), "%" PRIu32, p);
			fp->hdrs = (struct coal_hdrs){f->topics[t].name, fp->partition_str,
						      f->appliance_id};
			fp->reported_offset = -1;
			fp->leader = -1;
			fp->batch_bytes = f->conf.batch_bytes;
			STORE(fp->a_oldest_ts, INT64_MIN);
			STORE(fp->a_resume_offset, -1);
			STORE(fp->a_leader, -1);
			f->part_topic[i] = f->topics[t].name;
			f->part_number[i] = p;
		}
	}
	rc = fsess_init(&f->ss, f->nparts, f->part_topic, f->part_number);
	if (rc)
		goto fail;
	if (f->checkpoint_dir) {
		rc = fsess_load(&f->ss, f->checkpoint_dir);
		if (rc < 0) {
			fwd_log(LOG_ERR,
				"%s/%s: %s (refusing to guess which batches in Kafka are "
				"ours: fix or remove the file)",
				f->checkpoint_dir, FSESS_FILE,
				rc == -EBADMSG ? "malformed" : strerror(-rc));
			goto fail;
		}
	}
	f->legacy_ckpt = ckpt_load(f) && f->ss.n == 0;
	for (uint32_t i = 0; i < f->nparts; i++)
		STORE(f->parts[i].a_forwarded, f->parts[i].acked);
	f->pid_state = f->ss.n > 0 ? PID_OK : PID_NONE;
	if (f->ss.n > 0) {
		STORE(f->a_pid, f->ss.s[f->ss.n - 1].pid);
		STORE(f->a_epoch, f->ss.s[f->ss.n - 1].epoch);
	}
	*out = f;
	return 0;
fail:
	sluice_fwd_destroy(f);
	return rc;
}

int sluice_fwd_start(struct sluice_fwd *f)
{
	int rc;

	if (f->started)
		return -EALREADY;
	STORE(f->stop, false);
	f->draining = false;
	f->fenced = false;
	set_state(f, SLUICE_FWD_RESUMING);
	rc = -pthread_create(&f->thread, NULL, fwd_main, f);
	if (rc) {
		fwd_log(LOG_ERR, "start: pthread_create: %s", strerror(-rc));
		set_state(f, SLUICE_FWD_STOPPED);
		return rc;
	}
	pthread_setname_np(f->thread, "sluice-fwd");
	f->started = true;
	return 0;
}

void sluice_fwd_stop(struct sluice_fwd *f, uint32_t drain_timeout_ms)
{
	if (!f || !f->started)
		return;
	STORE(f->drain_timeout_ms, drain_timeout_ms);
	atomic_store_explicit(&f->stop, true, memory_order_release);
	pthread_join(f->thread, NULL);
	f->started = false;
}

void sluice_fwd_destroy(struct sluice_fwd *f)
{
	if (!f)
		return;
	sluice_fwd_stop(f, 0);
	for (uint32_t i = 0; i < f->nbrokers; i++) {
		kconn_fini(&f->brokers[i]->conn);
		free(f->brokers[i]);
	}
	free(f->brokers);
	for (uint32_t i = 0; i < f->nbootstrap; i++)
		kconn_fini(&f->bootstrap[i]);
	free(f->bootstrap);
	req_free_all(f);
	for (uint32_t i = 0; f->parts && i < f->nparts; i++) {
		if (f->parts[i].reader)
			sluice_reader_close(f->parts[i].reader);
		for (int s = 0; s < SLOTS; s++)
			free(f->parts[i].slots[s].buf);
	}
	fsess_fini(&f->ss);
	free(f->parts);
	free(f->part_topic);
	free(f->part_number);
	free(f->ptopics);
	free(f->pparts);
	free(f->pfds);
	free(f->pconns);
	free(f->scratch);
	for (uint32_t t = 0; f->topics && t < f->ntopics; t++)
		free(f->topics[t].kafka_topic);
	free(f->topics);
	free(f->brokers_str);
	free(f->appliance_id);
	free(f->transactional_id);
	free(f->checkpoint_dir);
	coal_codec_destroy(f->codec_ctx);
	ktls_destroy(f->tls);
	pthread_mutex_destroy(&f->err_lock);
	free(f);
}

static int set_paused(struct sluice_fwd *f, const char *topic, bool paused)
{
	int rc = -ENOENT;

	for (uint32_t t = 0; t < f->ntopics; t++) {
		if (!topic || strcmp(f->topics[t].name, topic) == 0) {
			STORE(f->topics[t].paused, paused);
			rc = 0;
		}
	}
	return rc;
}

int sluice_fwd_pause(struct sluice_fwd *f, const char *topic)
{
	return set_paused(f, topic, true);
}

int sluice_fwd_resume(struct sluice_fwd *f, const char *topic)
{
	return set_paused(f, topic, false);
}

void sluice_fwd_set_inflight(struct sluice_fwd *f, uint32_t max_msgs, uint64_t max_bytes)
{
	if (max_msgs)
		STORE(f->inflight_max_msgs,
		      max_msgs > INFLIGHT_MSGS_HARD_MAX ? INFLIGHT_MSGS_HARD_MAX : max_msgs);
	if (max_bytes)
		STORE(f->inflight_max_bytes, max_bytes);
}

static int64_t retention_eta_s(const struct fpart *p, uint64_t lag_bytes, int64_t oldest_ts,
			       int64_t now)
{
	const struct sluice_fwd_topic *t = &p->topic->opts;
	uint64_t rate = LOAD(p->a_ingest_bytes_per_s);
	int64_t eta = -1;

	if (!t->retention_drop_unforwarded || lag_bytes == 0)
		return -1;
	if (t->retention_ms && oldest_ts != INT64_MIN) {
		int64_t left = oldest_ts + (int64_t)t->retention_ms - now;

		eta = left > 0 ? left / 1000 : 0;
	}
	if (t->retention_bytes && rate) {
		int64_t left = lag_bytes >= t->retention_bytes
			? 0
			: (int64_t)((t->retention_bytes - lag_bytes) / rate);

		if (eta < 0 || left < eta)
			eta = left;
	}
	return eta;
}

void sluice_fwd_stats(struct sluice_fwd *f, struct sluice_fwd_stats *out,
		      struct sluice_fwd_partition_stats *parts, uint32_t max_parts)
{
	int64_t now = sluice_wall_ms();

	memset(out, 0, sizeof(*out));
	out->state = (enum sluice_fwd_state)LOAD(f->a_state);
	out->delivered_records = LOAD(f->a_delivered_records);
	out->delivered_bytes = LOAD(f->a_delivered_bytes);
	out->delivered_batches = LOAD(f->a_delivered_batches);
	out->produce_requests = LOAD(f->a_requests);
	out->delivery_errors = LOAD(f->a_delivery_errors);
	out->retries = LOAD(f->a_retries);
	out->queue_full = LOAD(f->a_queue_full);
	out->fatal_resets = LOAD(f->a_fatal_resets);
	out->resumes = LOAD(f->a_resumes);
	out->broker_down_events = LOAD(f->a_broker_down);
	out->metadata_refreshes = LOAD(f->a_meta);
	out->reconnects = LOAD(f->a_reconnects);
	out->producer_id = LOAD(f->a_pid);
	out->producer_epoch = (int16_t)LOAD(f->a_epoch);
	pthread_mutex_lock(&f->err_lock);
	for (uint32_t i = 0; i < f->nerrors; i++) {
		out->errors[i].code = f->errors[i].code;
		out->errors[i].count = f->errors[i].count;
	}
	out->nerrors = f->nerrors;
	pthread_mutex_unlock(&f->err_lock);
	out->npartitions = f->nparts;
	for (uint32_t i = 0; parts && i < f->nparts && i < max_parts; i++) {
		const struct fpart *p = &f->parts[i];
		struct sluice_fwd_partition_stats *ps = &parts[i];
		struct sluice_partition_stats st;
		int64_t oldest, span, from;

		memset(ps, 0, sizeof(*ps));
		sluice_partition_stats(p->sp, &st);
		snprintf(ps->topic, sizeof(ps->topic), "%s", p->topic->name);
		ps->partition = p->partition;
		ps->paused = LOAD(p->topic->paused);
		ps->forwarded_offset = LOAD(p->a_forwarded);
		ps->durable_offset = st.durable_offset;
		/* Records retention already dropped are counted there, not as lag. */
		from = ps->forwarded_offset > st.log_start_offset ? ps->forwarded_offset
								  : st.log_start_offset;
		ps->lag_records =
			st.durable_offset > from ? (uint64_t)(st.durable_offset - from) : 0;
		span = st.log_end_offset - st.log_start_offset;
		ps->lag_bytes = span > 0 ? (uint64_t)((double)st.bytes_on_disk / (double)span *
						      (double)ps->lag_records)
					 : 0;
		oldest = LOAD(p->a_oldest_ts);
		ps->oldest_unforwarded_age_ms =
			ps->lag_records && oldest != INT64_MIN ? now - oldest : -1;
		ps->retention_drop_eta_s = retention_eta_s(p, ps->lag_bytes, oldest, now);
		ps->inflight_msgs = LOAD(p->a_inflight_msgs);
		ps->inflight_bytes = LOAD(p->a_inflight_bytes);
		ps->delivered_records = LOAD(p->a_delivered_records);
		ps->delivered_bytes = LOAD(p->a_delivered_bytes);
		ps->delivered_batches = LOAD(p->a_delivered_batches);
		ps->delivery_errors = LOAD(p->a_delivery_errors);
		ps->rewinds = LOAD(p->a_rewinds);
		ps->skipped_records = LOAD(p->a_skipped);
		ps->resume_offset = LOAD(p->a_resume_offset);
		ps->leader = LOAD(p->a_leader);
		for (unsigned b = 0; b < SLUICE_HIST_BUCKETS; b++)
			ps->ack_hist[b] = LOAD(p->a_ack_hist[b]);
		ps->ack_sum_us = LOAD(p->a_ack_sum_us);
	}
}
