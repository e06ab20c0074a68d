/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Kafka forwarder: durable log → librdkafka → Kafka, exactly once per local offset.
 *
 * Threading contract
 *  - The control thread calls create/start/stop/destroy.
 *  - The forwarder thread (fwd_main) owns the producer, the readers, every in-flight ring
 *    and every non-atomic field of struct fpart. librdkafka's delivery-report and error
 *    callbacks run inside rd_kafka_poll/flush/commit, i.e. in this same thread.
 *  - Fields marked "published" are C11 atomics written only by the forwarder thread
 *    (relaxed stores) and read by sluice_fwd_stats() from any thread (relaxed loads): they
 *    are independent counters, no ordering between them is promised.
 *  - Pause flags and in-flight limits are atomics written by any thread, read by the
 *    forwarder thread on each pass.
 *  - The error-code table is the only shared structure with a lock (err_lock).
 *
 * Exactly-once bookkeeping: every produced message gets a slot in its partition's in-flight
 * ring, in local-offset order. Its msg_opaque is (partition index << 32 | sequence), so a
 * delivery report finds its slot without allocation. The forwarded cursor advances over the
 * contiguous prefix of acknowledged slots only, so a failure in the middle holds it back.
 * Any failed delivery rewinds that partition (once nothing of it is in flight) through the
 * tail read; a fatal producer error recreates the producer and rewinds every partition.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The type-checking producev macros use GNU statement expressions (clang -Wpedantic). */
#define LIBRDKAFKA_TYPECHECKS 0
#include <librdkafka/rdkafka.h>
#include <rte_log.h>

#include "forwarder.h"

_Static_assert(sizeof(uintptr_t) >= 8, "msg_opaque packs partition index and sequence");

#define CKPT_NAME "forwarder.ckpt"
#define INFLIGHT_MSGS_HARD_MAX (1u << 20)
#define REWIND_BACKOFF_MIN_MS 100
#define REWIND_BACKOFF_MAX_MS 30000
#define RESET_BACKOFF_MAX_MS 5000
#define TAIL_WIDEN_STEPS 6
/* tail_read() results other than "last offset of ours + 1" */
#define TAIL_NONE (-1) /* the whole partition was read: nothing of ours in it */
#define TAIL_UNAVAILABLE (-2) /* the Kafka partition does not exist (yet) */
#define TAIL_UNKNOWN (-3) /* nothing of ours in what is left of it (retention, window) */

enum slot_state { SLOT_SENT = 0, SLOT_ACKED, SLOT_FAILED };

struct slot {
	int64_t offset;
	int64_t timestamp;
	uint64_t read_us; /* monotonic time its batch was read from the durable log */
	uint32_t seq;
	uint32_t bytes;
	uint8_t state;
};

struct ftopic {
	char name[SLUICE_TOPIC_NAME_MAX];
	char *kafka_topic;
	struct sluice_fwd_topic opts;
	atomic_bool paused;
	rd_kafka_topic_t *rkt; /* per producer generation */
};

struct fpart {
	struct sluice_fwd *f;
	uint32_t idx;
	struct ftopic *topic;
	uint32_t partition;
	struct sluice_partition *sp;
	char partition_str[12];

	/* forwarder thread only */
	struct sluice_reader *reader;
	bool reader_error_logged;
	bool have_batch;
	uint64_t batch_read_us; /* monotonic time the current batch was read */
	struct sluice_rb_record_iter it;
	bool have_cur;
	struct sluice_rb_record cur;
	int64_t next_send; /* next local offset to produce */
	int64_t acked; /* next offset not acknowledged (mirrors forwarded, txn: committed) */
	int64_t acked_hw; /* highest acked ever known (checkpoint included): never decreases */
	struct slot *ring;
	uint32_t cap; /* power of two */
	uint64_t head, tail; /* sequences: [head, tail) occupy the ring */
	uint32_t outstanding; /* slots in SLOT_SENT */
	uint64_t ring_bytes;
	bool needs_rewind;
	uint32_t rewind_backoff_ms;
	uint64_t rewind_at_ms;
	int64_t ckpt_offset; /* last value written to the checkpoint */
	int64_t reported_offset; /* last value given to sluice_partition_set_forwarded */
	uint64_t rate_last_bytes;
	uint64_t rate_last_ms;

	/* published */
	_Atomic int64_t a_forwarded;
	_Atomic int64_t a_oldest_ts; /* ms; INT64_MIN when unknown */
	_Atomic uint32_t a_inflight_msgs;
	_Atomic uint64_t a_inflight_bytes;
	_Atomic uint64_t a_delivered_records;
	_Atomic uint64_t a_delivered_bytes;
	_Atomic uint64_t a_delivery_errors;
	_Atomic uint64_t a_rewinds;
	_Atomic uint64_t a_skipped;
	_Atomic int64_t a_resume_offset;
	_Atomic uint64_t a_ingest_bytes_per_s;
	/* Durable → ack latency; partner: the loads in sluice_fwd_stats. */
	_Atomic uint64_t a_ack_hist[SLUICE_HIST_BUCKETS];
	_Atomic uint64_t a_ack_sum_us;
};

struct sluice_fwd {
	struct sluice_log *log;
	struct ftopic *topics;
	uint32_t ntopics;
	struct fpart *parts;
	uint32_t nparts;
	char *brokers;
	char *appliance_id;
	size_t appliance_len;
	char *transactional_id;
	char *compression;
	char *checkpoint_dir;
	struct sluice_fwd_kv *kafka_conf;
	uint32_t nkafka_conf;
	bool transactional;
	bool hold_retention; /* never report acks to storage (see struct sluice_fwd_opts) */
	uint32_t linger_ms, batch_records, idle_poll_ms, resume_tail_records, resume_timeout_ms;
	uint32_t checkpoint_interval_ms;

	_Atomic uint32_t inflight_max_msgs;
	_Atomic uint64_t inflight_max_bytes;

	pthread_t thread;
	bool started;
	atomic_bool stop;
	_Atomic uint32_t drain_timeout_ms;

	/* forwarder thread only */
	rd_kafka_t *rk;
	bool purging; /* producer being destroyed: its delivery reports mean nothing */
	int last_logged_err;
	bool fatal;
	bool in_txn;
	uint32_t txn_msgs;
	uint32_t rr;
	uint64_t last_ckpt_ms;
	uint32_t reset_backoff_ms;

	/* published */
	_Atomic int a_state;
	_Atomic uint64_t a_delivered_records, a_delivered_bytes, a_delivery_errors;
	_Atomic uint64_t a_retries, a_queue_full, a_fatal_resets, a_resumes, a_broker_down;
	_Atomic uint64_t a_txn_commits, a_txn_aborts;

	pthread_mutex_t err_lock;
	struct {
		int code;
		uint64_t count;
	} errors[SLUICE_FWD_ERR_CODES];
	uint32_t nerrors;
};

#define RELAXED memory_order_relaxed
#define LOAD(x) atomic_load_explicit(&(x), RELAXED)
#define STORE(x, v) atomic_store_explicit(&(x), (v), RELAXED)
#define ADD(x, v) atomic_fetch_add_explicit(&(x), (v), RELAXED)

static void fwd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

RTE_LOG_REGISTER(forwarder_logtype, sluice.forwarder, INFO)

static void fwd_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rte_log(RTE_LOG_NOTICE, forwarder_logtype, "forwarder: %s\n", line);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
	}
	return "unknown";
}

static void set_state(struct sluice_fwd *f, enum sluice_fwd_state s)
{
	STORE(f->a_state, (int)s);
}

/* ---------------------------------------------------------------------------------------- */
/* Configuration                                                                             */

/* Properties whose values carry the exactly-once guarantee: sluice sets them, never the
 * operator (a passthrough acks=1 would silently make forwarding lossy). */
static const char *const owned_keys[] = {
	"enable.idempotence",
	"acks",
	"request.required.acks",
	"message.timeout.ms",
	"delivery.timeout.ms",
	"transactional.id",
	"bootstrap.servers",
	"metadata.broker.list",
	"enable.gapless.guarantee",
	"dr_msg_cb",
	"dr_cb",
};

static bool key_is_owned(const char *key)
{
	for (size_t i = 0; i < sizeof(owned_keys) / sizeof(owned_keys[0]); i++)
		if (strcmp(key, owned_keys[i]) == 0)
			return true;
	return false;
}

int sluice_fwd_kafka_conf_check(const char *key, const char *value, char *errstr, size_t errstr_len)
{
	rd_kafka_conf_t *conf;
	int rc = 0;

	if (key_is_owned(key)) {
		snprintf(errstr, errstr_len, "set by sluice for exactly-once forwarding");
		return -EINVAL;
	}
	conf = rd_kafka_conf_new();
	if (!conf) {
		snprintf(errstr, errstr_len, "out of memory");
		return -ENOMEM;
	}
	switch (rd_kafka_conf_set(conf, key, value, errstr, errstr_len)) {
	case RD_KAFKA_CONF_OK:
		break;
	case RD_KAFKA_CONF_UNKNOWN:
		rc = -ENOENT;
		break;
	default:
		rc = -EINVAL;
	}
	rd_kafka_conf_destroy(conf);
	return rc;
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		/* The value may be a secret (sasl.password): never log it. */
		fwd_log("kafka config %s: %s", key, errstr);
		return -EINVAL;
	}
	return 0;
}

static int conf_set_u32(rd_kafka_conf_t *conf, const char *key, uint32_t v)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%" PRIu32, v);
	return conf_set(conf, key, buf);
}

/* ---------------------------------------------------------------------------------------- */
/* Checkpoint: "<topic> <partition> <next offset>\n" per partition. A lower bound only.     */

static void ckpt_load(struct sluice_fwd *f)
{
	char path[4096], topic[SLUICE_TOPIC_NAME_MAX + 1], line[256];
	FILE *fp;

	if (!f->checkpoint_dir)
		return;
	snprintf(path, sizeof(path), "%s/%s", f->checkpoint_dir, CKPT_NAME);
	fp = fopen(path, "r");
	if (!fp) {
		if (errno != ENOENT)
			fwd_log("checkpoint %s: %s (ignored: Kafka's tail is the truth)", path,
				strerror(errno));
		return;
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
			}
		}
	}
	fclose(fp);
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
		fwd_log("checkpoint %s/%s: %s", f->checkpoint_dir, CKPT_NAME, strerror(-rc));
		goto out;
	}
	for (uint32_t i = 0; i < f->nparts; i++)
		f->parts[i].ckpt_offset = f->parts[i].acked;
out:
	free(buf);
}

/* ---------------------------------------------------------------------------------------- */
/* In-flight ring                                                                             */

static int ring_grow(struct fpart *p, uint32_t want)
{
	uint32_t cap = p->cap ? p->cap : 64;
	struct slot *ring;

	while (cap < want && cap < INFLIGHT_MSGS_HARD_MAX)
		cap <<= 1;
	if (cap <= p->cap)
		return 0;
	ring = calloc(cap, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	for (uint64_t s = p->head; s < p->tail; s++)
		ring[s & (cap - 1)] = p->ring[s & (p->cap - 1)];
	free(p->ring);
	p->ring = ring;
	p->cap = cap;
	return 0;
}

static void publish_inflight(struct fpart *p)
{
	STORE(p->a_inflight_msgs, (uint32_t)(p->tail - p->head));
	STORE(p->a_inflight_bytes, p->ring_bytes);
	if (p->head < p->tail)
		STORE(p->a_oldest_ts, p->ring[p->head & (p->cap - 1)].timestamp);
	else if (p->have_cur)
		STORE(p->a_oldest_ts, p->cur.timestamp);
	else
		STORE(p->a_oldest_ts, INT64_MIN);
}

/* Pop the acknowledged prefix and move the forwarded cursor over it. */
static void advance_cursor(struct fpart *p)
{
	bool moved = false;

	while (p->head < p->tail) {
		struct slot *s = &p->ring[p->head & (p->cap - 1)];

		if (s->state != SLOT_ACKED)
			break;
		p->acked = s->offset + 1;
		if (p->acked > p->acked_hw)
			p->acked_hw = p->acked;
		p->ring_bytes -= s->bytes;
		p->head++;
		moved = true;
	}
	if (moved)
		STORE(p->a_forwarded, p->acked);
	publish_inflight(p);
}

static void ring_clear(struct fpart *p)
{
	p->head = p->tail = 0;
	p->outstanding = 0;
	p->ring_bytes = 0;
	publish_inflight(p);
}

/* Same buckets as the storage fsync histogram, so both read alike: bucket i holds
 * latencies in (2^(i-1), 2^i] µs. */
static void ack_latency_observe(struct fpart *p, uint64_t us)
{
	unsigned i = 0;

	while (i < SLUICE_HIST_BUCKETS - 1 && (1ull << i) < us)
		i++;
	ADD(p->a_ack_hist[i], 1);
	ADD(p->a_ack_sum_us, us);
}

/* ---------------------------------------------------------------------------------------- */
/* librdkafka callbacks (forwarder thread, inside poll/flush/commit)                         */

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct sluice_fwd *f = opaque;
	uintptr_t tag = (uintptr_t)m->_private;
	uint32_t pidx = (uint32_t)(tag >> 32), seq = (uint32_t)tag;
	struct fpart *p;
	struct slot *s;

	(void)rk;
	if (pidx >= f->nparts || f->purging)
		return;
	p = &f->parts[pidx];
	if (!p->cap || p->head == p->tail)
		return; /* from a generation that was cleared */
	s = &p->ring[seq & (p->cap - 1)];
	if (s->seq != seq || s->state != SLOT_SENT)
		return;
	p->outstanding--;
	if (m->err) {
		s->state = SLOT_FAILED;
		p->needs_rewind = true;
		ADD(p->a_delivery_errors, 1);
		ADD(f->a_delivery_errors, 1);
		count_error(f, m->err);
		if (m->err == RD_KAFKA_RESP_ERR__FATAL)
			f->fatal = true;
		return;
	}
	s->state = SLOT_ACKED;
	p->rewind_backoff_ms = 0;
	ack_latency_observe(p, mono_us() - s->read_us);
	ADD(p->a_delivered_records, 1);
	ADD(p->a_delivered_bytes, s->bytes);
	ADD(f->a_delivered_records, 1);
	ADD(f->a_delivered_bytes, s->bytes);
	if (LOAD(f->a_state) == SLUICE_FWD_BROKER_DOWN)
		set_state(f, SLUICE_FWD_RUNNING);
	/* In transactional mode a delivered message may still be aborted: the cursor moves
	 * at commit. */
	if (!f->transactional)
		advance_cursor(p);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct sluice_fwd *f = opaque;

	(void)rk;
	count_error(f, err);
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		ADD(f->a_broker_down, 1);
		if (LOAD(f->a_state) == SLUICE_FWD_RUNNING)
			set_state(f, SLUICE_FWD_BROKER_DOWN);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		f->fatal = true;
		fwd_log("fatal producer error: %s", reason);
		return;
	}
	/* Errors repeat on every reconnect attempt: all counted, logged when they change. */
	if (err != RD_KAFKA_RESP_ERR__TRANSPORT && err != f->last_logged_err)
		fwd_log("producer error %s: %s", rd_kafka_err2name(err), reason);
	f->last_logged_err = err;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	fwd_log("librdkafka %s: %s", fac, buf);
}

/* ---------------------------------------------------------------------------------------- */
/* Producer and tail read                                                                     */

static int apply_common(struct sluice_fwd *f, rd_kafka_conf_t *conf)
{
	int rc = 0;

	rc |= conf_set(conf, "bootstrap.servers", f->brokers);
	rc |= conf_set(conf, "log_level", "4");
	/* Brokers close idle connections; that is not worth a log line each time. */
	rc |= conf_set(conf, "log.connection.close", "false");
	rd_kafka_conf_set_log_cb(conf, log_cb);
	return rc ? -EINVAL : 0;
}

/* Applied after sluice's own defaults, so that an operator's linger.ms or compression.type
 * wins; the keys that carry the guarantee were refused at create. */
static int apply_passthrough(struct sluice_fwd *f, rd_kafka_conf_t *conf)
{
	int rc = 0;

	for (uint32_t i = 0; i < f->nkafka_conf && !rc; i++)
		rc = conf_set(conf, f->kafka_conf[i].key, f->kafka_conf[i].value);
	return rc;
}

static rd_kafka_conf_t *producer_conf(struct sluice_fwd *f)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	int rc;

	if (!conf)
		return NULL;
	rc = apply_common(f, conf);
	rc |= conf_set(conf, "enable.idempotence", "true");
	rc |= conf_set(conf, "acks", "all");
	/* Infinite: an outage waits in librdkafka's queue and our log instead of failing
	 * messages that may in fact have been written. */
	rc |= conf_set(conf, "message.timeout.ms", "0");
	rc |= conf_set(conf, "compression.type", f->compression);
	rc |= conf_set_u32(conf, "linger.ms", f->linger_ms);
	/* After an outage, reconnect within a second instead of librdkafka's 10 s back-off
	 * ceiling: the backlog starts draining as soon as the broker is back. */
	rc |= conf_set(conf, "reconnect.backoff.max.ms", "1000");
	if (f->transactional)
		rc |= conf_set(conf, "transactional.id", f->transactional_id);
	rc |= apply_passthrough(f, conf);
	if (rc) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_opaque(conf, f);
	rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	return conf;
}

static void quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

/*
 * Build the producer configuration and have rd_kafka_new() finalise it, which refuses
 * combinations that no single property shows (max.in.flight > 5 with idempotence). No broker
 * is contacted: bootstrap.servers is emptied and librdkafka's remark about that dropped.
 */
static int producer_probe(struct sluice_fwd *f, char *errstr, size_t errstr_len)
{
	rd_kafka_conf_t *conf = producer_conf(f);
	rd_kafka_t *rk;
	char ignored[256];

	if (!conf) {
		snprintf(errstr, errstr_len, "a kafka.* property or the compression was refused");
		return -EINVAL;
	}
	rd_kafka_conf_set(conf, "bootstrap.servers", "", ignored, sizeof(ignored));
	rd_kafka_conf_set_log_cb(conf, quiet_log_cb);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_len);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		return -EINVAL;
	}
	rd_kafka_destroy(rk);
	return 0;
}

/*
 * Destroy the producer. Messages not yet sent are purged. Requests already on the wire are
 * waited for (up to @p inflight_wait_ms): once their answers are back the broker has
 * applied them or not, so the tail read that follows a reset sees the truth, and none of
 * them can land after it. What is still unanswered at the deadline is purged.
 * Delivery reports seen here are discarded: the caller rewinds every partition.
 */
static void producer_destroy(struct sluice_fwd *f, uint32_t inflight_wait_ms)
{
	uint64_t deadline = mono_ms() + inflight_wait_ms;

	if (!f->rk)
		return;
	f->purging = true;
	rd_kafka_purge(f->rk, RD_KAFKA_PURGE_F_QUEUE);
	while (rd_kafka_outq_len(f->rk) > 0 && mono_ms() < deadline && !LOAD(f->stop))
		rd_kafka_poll(f->rk, 10);
	if (rd_kafka_outq_len(f->rk) > 0)
		rd_kafka_purge(f->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(f->rk, 0);
	for (uint32_t i = 0; i < f->ntopics; i++) {
		if (f->topics[i].rkt)
			rd_kafka_topic_destroy(f->topics[i].rkt);
		f->topics[i].rkt = NULL;
	}
	rd_kafka_destroy(f->rk);
	f->rk = NULL;
	f->purging = false;
	f->in_txn = false;
	f->txn_msgs = 0;
}

static int producer_create(struct sluice_fwd *f)
{
	rd_kafka_conf_t *conf = producer_conf(f);
	char errstr[512];

	if (!conf)
		return -EINVAL;
	f->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!f->rk) {
		rd_kafka_conf_destroy(conf);
		fwd_log("rd_kafka_new(producer): %s", errstr);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < f->ntopics; i++) {
		f->topics[i].rkt = rd_kafka_topic_new(f->rk, f->topics[i].kafka_topic, NULL);
		if (!f->topics[i].rkt) {
			fwd_log("rd_kafka_topic_new(%s): %s", f->topics[i].kafka_topic,
				rd_kafka_err2str(rd_kafka_last_error()));
			producer_destroy(f, 0);
			return -EINVAL;
		}
	}
	f->fatal = false;
	if (f->transactional) {
		/* Fences any previous instance with the same transactional.id before we read
		 * Kafka's tail: nothing of it can land after that read. */
		rd_kafka_error_t *err = rd_kafka_init_transactions(f->rk, f->resume_timeout_ms);

		if (err) {
			count_error(f, rd_kafka_error_code(err));
			fwd_log("init_transactions: %s", rd_kafka_error_string(err));
			rd_kafka_error_destroy(err);
			producer_destroy(f, 0);
			return -EAGAIN;
		}
	}
	return 0;
}

static bool parse_i64(const void *v, size_t len, int64_t *out)
{
	char buf[24], *end;
	long long x;

	if (!v || len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		return false;
	errno = 0;
	x = strtoll(buf, &end, 10);
	if (errno || *end != '\0')
		return false;
	*out = x;
	return true;
}

static bool hdr_eq(rd_kafka_headers_t *h, const char *name, const char *want, size_t want_len)
{
	const void *v;
	size_t len;

	if (rd_kafka_header_get_last(h, name, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	return v && len == want_len && memcmp(v, want, len) == 0;
}

/*
 * The highest local offset of ours in each of parts[0..n) found in Kafka, as next offset
 * (last + 1), or TAIL_NONE / TAIL_UNKNOWN / TAIL_UNAVAILABLE. Reads the last
 * resume_tail_records messages of each partition (up to partition EOF), widening the window
 * 8x where only other appliances' messages were found.
 *
 * Only the consumer's own poll loop waits, under our deadline: rd_kafka_query_watermark_
 * offsets() in librdkafka 2.0.2 ignores its timeout while the partition's leader is down
 * (seen with the mock cluster: blocked for minutes), so watermarks are not queried. The
 * offset of the EOF event is the high watermark; where the read started is the offset of
 * the first message received (auto.offset.reset=earliest clamps to the low watermark).
 * @return 0, or -EAGAIN when no partition could be read (cluster unreachable).
 */
static int tail_read(struct sluice_fwd *f, struct fpart **parts, uint32_t n, int64_t *next,
		     uint32_t timeout_ms)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *tpl = NULL;
	int64_t *first = calloc(n, sizeof(*first)), *prev = calloc(n, sizeof(*prev));
	bool *done = calloc(n, sizeof(*done)), *eof = calloc(n, sizeof(*eof));
	uint32_t unavailable = 0;
	rd_kafka_t *rk = NULL;
	char errstr[512], group[300];
	int64_t window = f->resume_tail_records;
	int rc = -ENOMEM;

	if (!conf || !first || !prev || !done || !eof)
		goto out;
	snprintf(group, sizeof(group), "sluice-tail-%s", f->appliance_id);
	rc = apply_common(f, conf);
	rc |= conf_set(conf, "group.id", group);
	rc |= conf_set(conf, "enable.auto.commit", "false");
	rc |= conf_set(conf, "enable.auto.offset.store", "false");
	rc |= conf_set(conf, "enable.partition.eof", "true");
	rc |= conf_set(conf, "auto.offset.reset", "earliest");
	/* The read ends at partition EOF: do not let the broker hold an empty fetch. */
	rc |= conf_set(conf, "fetch.wait.max.ms", "10");
	/* Producer-only passthrough keys would each log a warning here. */
	rc |= conf_set(conf, "log_level", "3");
	rc |= conf_set(conf, "isolation.level",
		       f->transactional ? "read_committed" : "read_uncommitted");
	/* Security and client settings apply to the tail read too; producer-only keys are
	 * ignored by a consumer (it would warn about each, hence log_level 3 above). */
	rc |= apply_passthrough(f, conf);
	if (rc) {
		rc = -EINVAL;
		goto out;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fwd_log("rd_kafka_new(consumer): %s", errstr);
		rc = -EINVAL;
		goto out;
	}
	conf = NULL;
	ADD(f->a_resumes, 1);
	for (uint32_t i = 0; i < n; i++) {
		next[i] = TAIL_NONE;
		prev[i] = INT64_MAX;
	}
	for (int step = 0; step <= TAIL_WIDEN_STEPS; step++, window *= 8) {
		uint32_t pending = 0;
		uint64_t deadline;

		tpl = rd_kafka_topic_partition_list_new((int)n);
		if (!tpl) {
			rc = -ENOMEM;
			goto out;
		}
		for (uint32_t i = 0; i < n; i++) {
			if (done[i])
				continue;
			rd_kafka_topic_partition_list_add(tpl, parts[i]->topic->kafka_topic,
							  (int32_t)parts[i]->partition)
				->offset = step == 0 ? RD_KAFKA_OFFSET_TAIL(window)
				: prev[i] > window   ? prev[i] - window
						     : 0;
			first[i] = -1;
			eof[i] = false;
			pending++;
		}
		if (!pending)
			break;
		rd_kafka_assign(rk, tpl);
		deadline = mono_ms() + timeout_ms;
		/* Each step reads from its window's start up to the end; partition EOF ends it.
		 * Widening re-reads the previous window, which costs little and keeps it simple. */
		while (pending && mono_ms() < deadline && !LOAD(f->stop)) {
			rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
			rd_kafka_headers_t *h;
			uint32_t i;
			int64_t off;

			if (!m)
				continue;
			for (i = 0; i < n; i++)
				if (!done[i] && !eof[i] &&
				    (int32_t)parts[i]->partition == m->partition && m->rkt &&
				    strcmp(rd_kafka_topic_name(m->rkt),
					   parts[i]->topic->kafka_topic) == 0)
					break;
			if (i == n) {
				rd_kafka_message_destroy(m);
				continue;
			}
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				if (first[i] < 0)
					first[i] = m->offset; /* nothing before the end */
				eof[i] = true;
				pending--;
				rd_kafka_message_destroy(m);
				continue;
			}
			if (m->err) {
				count_error(f, m->err);
				rd_kafka_message_destroy(m);
				continue;
			}
			if (first[i] < 0)
				first[i] = m->offset;
			if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
			    hdr_eq(h, SLUICE_FWD_HDR_APPLIANCE, f->appliance_id,
				   f->appliance_len) &&
			    hdr_eq(h, SLUICE_FWD_HDR_TOPIC, parts[i]->topic->name,
				   strlen(parts[i]->topic->name)) &&
			    hdr_eq(h, SLUICE_FWD_HDR_PARTITION, parts[i]->partition_str,
				   strlen(parts[i]->partition_str))) {
				const void *v;
				size_t len;

				if (rd_kafka_header_get_last(h, SLUICE_FWD_HDR_OFFSET, &v, &len) ==
					    RD_KAFKA_RESP_ERR_NO_ERROR &&
				    parse_i64(v, len, &off) && off + 1 > next[i])
					next[i] = off + 1;
			}
			rd_kafka_message_destroy(m);
		}
		rd_kafka_assign(rk, NULL);
		rd_kafka_topic_partition_list_destroy(tpl);
		tpl = NULL;
		for (uint32_t i = 0; i < n; i++) {
			if (done[i])
				continue;
			if (!eof[i]) {
				/* Its leader is unreachable: held and retried, the others go on. */
				fwd_log("tail read %s/%" PRIu32 ": not read within %" PRIu32
					" ms (held, retried)",
					parts[i]->topic->kafka_topic, parts[i]->partition,
					timeout_ms);
				next[i] = TAIL_UNAVAILABLE;
				done[i] = true;
			} else if (next[i] >= 0) {
				done[i] = true;
			} else if (first[i] == 0) {
				done[i] = true; /* read from offset 0: nothing of ours, certain */
			} else if (first[i] >= prev[i]) {
				next[i] = TAIL_UNKNOWN; /* at the low watermark: the rest is gone */
				done[i] = true;
			} else {
				prev[i] = first[i]; /* widen */
			}
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!done[i])
			next[i] = TAIL_UNKNOWN; /* the widest window did not reach the start */
		unavailable += next[i] == TAIL_UNAVAILABLE;
	}
	/* Nothing readable at all (cluster down): the caller backs off as a whole. */
	rc = unavailable == n ? -EAGAIN : 0;
out:
	if (tpl)
		rd_kafka_topic_partition_list_destroy(tpl);
	if (rk) {
		rd_kafka_consumer_close(rk);
		rd_kafka_destroy(rk);
	}
	if (conf)
		rd_kafka_conf_destroy(conf);
	free(first);
	free(prev);
	free(done);
	free(eof);
	return rc;
}

/* Position partition p's reader at next_send. */
static void reader_reposition(struct fpart *p)
{
	struct sluice_partition_stats st;
	int rc;

	if (p->reader) {
		sluice_reader_close(p->reader);
		p->reader = NULL;
	}
	p->have_batch = false;
	p->have_cur = false;
	rc = sluice_reader_open(p->sp, p->next_send, &p->reader);
	if (rc == -ERANGE) {
		/* Retention deleted records we had not forwarded (policy allowed it). */
		sluice_partition_stats(p->sp, &st);
		if (st.log_start_offset > p->next_send) {
			/* Only what was never acknowledged counts as lost; re-forwarding (to a
			 * new cluster) cannot bring back what local retention already deleted. */
			int64_t lost_from = p->next_send > p->acked_hw ? p->next_send : p->acked_hw;

			if (st.log_start_offset > lost_from) {
				ADD(p->a_skipped, (uint64_t)(st.log_start_offset - lost_from));
				fwd_log("%s/%" PRIu32 ": offsets %" PRId64 "..%" PRId64
					" were deleted by retention before being forwarded",
					p->topic->name, p->partition, lost_from,
					st.log_start_offset - 1);
			}
			p->next_send = st.log_start_offset;
			if (p->acked < p->next_send) {
				p->acked = p->next_send;
				STORE(p->a_forwarded, p->acked);
			}
			if (p->acked_hw < p->acked)
				p->acked_hw = p->acked;
		}
		rc = sluice_reader_open(p->sp, p->next_send, &p->reader);
	}
	if (rc) {
		p->reader = NULL;
		if (!p->reader_error_logged)
			fwd_log("%s/%" PRIu32 ": open reader at %" PRId64 ": %s (retrying)",
				p->topic->name, p->partition, p->next_send, strerror(-rc));
		p->reader_error_logged = true;
		return;
	}
	p->reader_error_logged = false;
}

/* Resume parts[0..n) from Kafka's tail. Nothing of theirs may be in flight. */
static int resume_parts(struct sluice_fwd *f, struct fpart **parts, uint32_t n, uint32_t timeout_ms)
{
	int64_t *next = calloc(n ? n : 1, sizeof(*next));
	int rc;

	if (!next)
		return -ENOMEM;
	rc = tail_read(f, parts, n, next, timeout_ms);
	if (rc)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		struct fpart *p = parts[i];
		int64_t from;

		ring_clear(p);
		if (next[i] == TAIL_UNAVAILABLE) {
			/* Retried by rewind_failed() with its back-off; nothing is sent meanwhile. */
			if (!p->needs_rewind)
				fwd_log("%s/%" PRIu32 ": Kafka partition %s/%" PRIu32
					" does not exist or cannot be read: holding this "
					"partition, retrying",
					p->topic->name, p->partition, p->topic->kafka_topic,
					p->partition);
			p->needs_rewind = true;
			/* Each retry blocks the thread up to 2 s: start the back-off at 1 s. */
			if (p->rewind_backoff_ms < 500)
				p->rewind_backoff_ms = 500;
			if (p->reader)
				sluice_reader_close(p->reader);
			p->reader = NULL;
			p->have_batch = p->have_cur = false;
			continue;
		}

		/* Kafka is the truth wherever it can answer. The checkpoint (or what this
		 * process saw acknowledged) decides only when Kafka no longer holds anything
		 * of ours although it may have: deleted by Kafka's retention, or beyond the
		 * widest window read. */
		if (next[i] >= 0) {
			from = next[i];
			if (p->acked > from)
				fwd_log("%s/%" PRIu32 ": Kafka ends at offset %" PRId64
					" although %" PRId64 " was acknowledged (records lost in "
					"Kafka?): forwarding them again",
					p->topic->name, p->partition, from, p->acked);
		} else if (next[i] == TAIL_NONE) {
			from = 0;
			if (p->acked > 0)
				fwd_log("%s/%" PRIu32 ": nothing of this appliance in Kafka "
					"partition %s/%" PRIu32
					" (a new cluster or topic?): forwarding "
					"the log from its start",
					p->topic->name, p->partition, p->topic->kafka_topic,
					p->partition);
		} else {
			from = p->acked;
			if (from > 0)
				fwd_log("%s/%" PRIu32 ": nothing of this appliance left in Kafka's "
					"partition: resuming from the checkpoint at %" PRId64,
					p->topic->name, p->partition, from);
		}
		p->acked = from;
		p->next_send = from;
		STORE(p->a_forwarded, from);
		STORE(p->a_resume_offset, from);
		p->needs_rewind = false;
		reader_reposition(p);
	}
out:
	free(next);
	return rc;
}

static int reset_all(struct sluice_fwd *f)
{
	struct fpart **all = calloc(f->nparts, sizeof(*all));
	int rc;

	if (!all)
		return -ENOMEM;
	set_state(f, SLUICE_FWD_RESUMING);
	producer_destroy(f, f->resume_timeout_ms);
	for (uint32_t i = 0; i < f->nparts; i++) {
		all[i] = &f->parts[i];
		ring_clear(all[i]);
	}
	rc = producer_create(f);
	if (rc == 0)
		rc = resume_parts(f, all, f->nparts, f->resume_timeout_ms);
	free(all);
	if (rc == 0)
		set_state(f, SLUICE_FWD_RUNNING);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Producing                                                                                  */

/* Make p->cur the next record to send, reading batches as needed. @return true if one. */
static bool next_record(struct fpart *p)
{
	for (;;) {
		const uint8_t *batch;
		size_t len, bytes;
		int rc;

		if (p->have_batch) {
			rc = sluice_rb_record_iter_next(&p->it, &p->cur);
			if (rc == 1) {
				if (p->cur.offset < p->next_send)
					continue; /* reader starts at the batch holding next_send */
				if (p->cur.offset > p->next_send)
					ADD(p->a_skipped, (uint64_t)(p->cur.offset - p->next_send));
				p->have_cur = true;
				return true;
			}
			p->have_batch = false;
			if (rc < 0) {
				fwd_log("%s/%" PRIu32 ": malformed record near offset %" PRId64
					": %s",
					p->topic->name, p->partition, p->next_send,
					sluice_rb_strerror((enum sluice_rb_err) - rc));
				p->needs_rewind = true;
				return false;
			}
		}
		if (!p->reader) {
			reader_reposition(p);
			if (!p->reader)
				return false;
		}
		rc = sluice_reader_next(p->reader, &batch, &len);
		if (rc <= 0) {
			if (rc < 0 && !p->reader_error_logged) {
				fwd_log("%s/%" PRIu32 ": read at %" PRId64 ": %s", p->topic->name,
					p->partition, p->next_send, strerror(-rc));
				p->reader_error_logged = true;
				sluice_reader_close(p->reader);
				p->reader = NULL;
			}
			return false;
		}
		/* Storage validated the batch when it was written or recovered; checking the
		 * CRC again here costs little and keeps disk corruption out of Kafka. */
		enum sluice_rb_err e = sluice_rb_batch_validate(batch, len, NULL, &bytes);

		if (e != SLUICE_RB_OK) {
			if (!p->reader_error_logged)
				fwd_log("%s/%" PRIu32 ": invalid batch at %" PRId64 ": %s (held)",
					p->topic->name, p->partition, p->next_send,
					sluice_rb_strerror(e));
			p->reader_error_logged = true;
			sluice_reader_close(p->reader);
			p->reader = NULL;
			return false;
		}
		sluice_rb_record_iter_init(&p->it, batch, bytes);
		p->have_batch = true;
		/* The reader only returns durable batches, and the forwarder reads as soon as
		 * the durable offset passes them: this is when the batch became durable, as
		 * far as the forwarder can tell without a timestamp in the log. */
		p->batch_read_us = mono_us();
	}
}

static bool ensure_txn(struct sluice_fwd *f)
{
	rd_kafka_error_t *err;

	if (!f->transactional || f->in_txn)
		return true;
	err = rd_kafka_begin_transaction(f->rk);
	if (err) {
		count_error(f, rd_kafka_error_code(err));
		if (rd_kafka_error_is_fatal(err))
			f->fatal = true;
		rd_kafka_error_destroy(err);
		return false;
	}
	f->in_txn = true;
	f->txn_msgs = 0;
	return true;
}

/* Produce up to batch_records of partition p. @return messages produced. */
static uint32_t pump(struct sluice_fwd *f, struct fpart *p)
{
	uint32_t max_msgs = LOAD(f->inflight_max_msgs);
	uint64_t max_bytes = LOAD(f->inflight_max_bytes);
	uint32_t sent = 0;

	if (p->needs_rewind)
		return 0;
	if (!p->have_cur && !next_record(p)) {
		publish_inflight(p);
		return 0;
	}
	if (LOAD(p->topic->paused))
		goto out;
	while (p->have_cur && sent < f->batch_records) {
		const struct sluice_rb_record *r = &p->cur;
		uint64_t occ = p->tail - p->head;
		uint32_t bytes = (uint32_t)((r->key_len > 0 ? r->key_len : 0) +
					    (r->value_len > 0 ? r->value_len : 0));
		const void *key = r->key_len >= 0 ? r->key : NULL;
		void *value = r->value_len >= 0 ? (void *)(uintptr_t)r->value : NULL;
		size_t key_len = r->key_len >= 0 ? (size_t)r->key_len : 0;
		size_t value_len = r->value_len >= 0 ? (size_t)r->value_len : 0;
		rd_kafka_headers_t *h;
		rd_kafka_resp_err_t err;
		char off[24];
		struct slot *s;

		if (occ >= max_msgs || (occ > 0 && p->ring_bytes + bytes > max_bytes))
			break;
		if (occ >= p->cap && ring_grow(p, (uint32_t)occ + 1) != 0)
			break;
		if (!ensure_txn(f))
			break;
		h = rd_kafka_headers_new(r->header_count + 4);
		for (uint32_t i = 0; i < r->header_count; i++) {
			struct sluice_rb_kv kv;

			if (sluice_rb_record_header(r, i, &kv) == 0)
				rd_kafka_header_add(h, (const char *)kv.key, kv.key_len,
						    kv.value_len >= 0 ? kv.value : NULL,
						    kv.value_len >= 0 ? kv.value_len : 0);
		}
		snprintf(off, sizeof(off), "%" PRId64, r->offset);
		rd_kafka_header_add(h, SLUICE_FWD_HDR_TOPIC, -1, p->topic->name, -1);
		rd_kafka_header_add(h, SLUICE_FWD_HDR_PARTITION, -1, p->partition_str, -1);
		rd_kafka_header_add(h, SLUICE_FWD_HDR_OFFSET, -1, off, -1);
		rd_kafka_header_add(h, SLUICE_FWD_HDR_APPLIANCE, -1, f->appliance_id,
				    (ssize_t)f->appliance_len);
		err = rd_kafka_producev(
			f->rk, RD_KAFKA_V_RKT(p->topic->rkt),
			RD_KAFKA_V_PARTITION((int32_t)p->partition),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
			RD_KAFKA_V_VALUE(value, value_len), RD_KAFKA_V_TIMESTAMP(r->timestamp),
			RD_KAFKA_V_HEADERS(h),
			RD_KAFKA_V_OPAQUE((void *)(((uintptr_t)p->idx << 32) | (uint32_t)p->tail)),
			RD_KAFKA_V_END);
		if (err) {
			rd_kafka_headers_destroy(h);
			if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				/* librdkafka's queue is full: serve delivery reports and come
				 * back on the next pass. */
				ADD(f->a_queue_full, 1);
				ADD(f->a_retries, 1);
				break;
			}
			count_error(f, err);
			if (err == RD_KAFKA_RESP_ERR__FATAL) {
				f->fatal = true;
				break;
			}
			fwd_log("%s/%" PRIu32 ": produce at %" PRId64 ": %s (partition retried)",
				p->topic->name, p->partition, r->offset, rd_kafka_err2str(err));
			p->needs_rewind = true;
			break;
		}
		s = &p->ring[p->tail & (p->cap - 1)];
		s->offset = r->offset;
		s->timestamp = r->timestamp;
		s->read_us = p->batch_read_us;
		s->seq = (uint32_t)p->tail;
		s->bytes = bytes;
		s->state = SLOT_SENT;
		p->tail++;
		p->outstanding++;
		p->ring_bytes += bytes;
		p->next_send = r->offset + 1;
		p->have_cur = false;
		sent++;
		f->txn_msgs++;
		if (!next_record(p))
			break;
	}
out:
	publish_inflight(p);
	return sent;
}

static void txn_commit(struct sluice_fwd *f)
{
	rd_kafka_error_t *err;

	if (!f->in_txn || f->txn_msgs == 0)
		return;
	err = rd_kafka_commit_transaction(f->rk, -1);
	if (!err) {
		f->in_txn = false;
		f->txn_msgs = 0;
		ADD(f->a_txn_commits, 1);
		for (uint32_t i = 0; i < f->nparts; i++)
			advance_cursor(&f->parts[i]);
		return;
	}
	count_error(f, rd_kafka_error_code(err));
	fwd_log("commit_transaction: %s", rd_kafka_error_string(err));
	if (rd_kafka_error_is_retriable(err)) {
		rd_kafka_error_destroy(err);
		return;
	}
	if (rd_kafka_error_txn_requires_abort(err)) {
		rd_kafka_error_t *aerr = rd_kafka_abort_transaction(f->rk, -1);

		ADD(f->a_txn_aborts, 1);
		if (aerr)
			rd_kafka_error_destroy(aerr);
		f->in_txn = false;
		f->txn_msgs = 0;
	}
	/* Aborted or fatal: the simplest correct continuation is the full resume. */
	f->fatal = true;
	rd_kafka_error_destroy(err);
}

/* Rewind partitions whose deliveries failed, once nothing of theirs is in flight. */
static void rewind_failed(struct sluice_fwd *f, uint64_t now)
{
	for (uint32_t i = 0; i < f->nparts; i++) {
		struct fpart *p = &f->parts[i];

		if (!p->needs_rewind || p->outstanding || f->in_txn)
			continue;
		if (p->rewind_at_ms == 0) {
			p->rewind_backoff_ms = p->rewind_backoff_ms ? p->rewind_backoff_ms * 2
								    : REWIND_BACKOFF_MIN_MS;
			if (p->rewind_backoff_ms > REWIND_BACKOFF_MAX_MS)
				p->rewind_backoff_ms = REWIND_BACKOFF_MAX_MS;
			p->rewind_at_ms = now + p->rewind_backoff_ms;
		}
		if (now < p->rewind_at_ms)
			continue;
		/* Acknowledged slots after the failed one are popped by the rewind: their
		 * offsets are in Kafka's tail, so they are not sent again. */
		/* Short: the healthy partitions wait while this runs. */
		if (resume_parts(f, &p, 1,
				 f->resume_timeout_ms < 2000 ? f->resume_timeout_ms : 2000) == 0) {
			ADD(p->a_rewinds, 1);
			ADD(f->a_retries, 1);
		}
		p->rewind_at_ms = 0; /* a failure (or a still missing partition) backs off more */
	}
}

/* Retention may delete what is below the forwarded cursor: tell it as soon as it moves,
 * unless acks from this cluster do not make a record safe to delete (hold_retention). */
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

static void drain(struct sluice_fwd *f)
{
	uint32_t timeout = LOAD(f->drain_timeout_ms);
	uint64_t deadline = mono_ms() + timeout;

	set_state(f, SLUICE_FWD_DRAINING);
	if (!f->rk)
		return;
	if (f->transactional && f->in_txn && !f->fatal)
		txn_commit(f);
	while (rd_kafka_outq_len(f->rk) > 0 && mono_ms() < deadline && !f->fatal)
		rd_kafka_flush(f->rk, 100);
	if (rd_kafka_outq_len(f->rk) > 0)
		fwd_log("stop: %d messages still in flight after %" PRIu32
			" ms; they are resent after restart unless Kafka's tail shows them",
			rd_kafka_outq_len(f->rk), timeout);
}

static void *fwd_main(void *arg)
{
	struct sluice_fwd *f = arg;
	uint64_t last_sample = 0;
	bool need_reset = true;

	while (!LOAD(f->stop)) {
		uint64_t now = mono_ms();
		uint32_t work = 0;

		if (need_reset) {
			int rc = reset_all(f);

			if (rc) {
				/* Broker unreachable or fenced: wait and try again. */
				f->reset_backoff_ms =
					f->reset_backoff_ms ? f->reset_backoff_ms * 2 : 200;
				if (f->reset_backoff_ms > RESET_BACKOFF_MAX_MS)
					f->reset_backoff_ms = RESET_BACKOFF_MAX_MS;
				for (uint64_t until = mono_ms() + f->reset_backoff_ms;
				     mono_ms() < until && !LOAD(f->stop);) {
					struct timespec ts = {0, 20 * 1000 * 1000};

					nanosleep(&ts, NULL);
				}
				continue;
			}
			f->reset_backoff_ms = 0;
			need_reset = false;
		}
		for (uint32_t k = 0; k < f->nparts && !f->fatal; k++)
			work += pump(f, &f->parts[(f->rr + k) % f->nparts]);
		f->rr = f->nparts ? (f->rr + 1) % f->nparts : 0;
		if (f->transactional && !f->fatal)
			txn_commit(f);
		rd_kafka_poll(f->rk, work ? 0 : (int)f->idle_poll_ms);
		if (!f->fatal)
			rewind_failed(f, now);
		report_forwarded(f);
		if (now - last_sample >= 1000) {
			sample_rates(f, now);
			last_sample = now;
		}
		if (now - f->last_ckpt_ms >= f->checkpoint_interval_ms) {
			ckpt_write(f, false);
			f->last_ckpt_ms = now;
		}
		if (f->fatal) {
			char errstr[512];
			rd_kafka_resp_err_t err =
				rd_kafka_fatal_error(f->rk, errstr, sizeof(errstr));

			if (err)
				fwd_log("fatal %s: %s: recreating the producer",
					rd_kafka_err2name(err), errstr);
			ADD(f->a_fatal_resets, 1);
			need_reset = true;
		}
	}
	drain(f);
	report_forwarded(f);
	ckpt_write(f, false);
	producer_destroy(f, 0); /* drain() already waited as long as allowed */
	for (uint32_t i = 0; i < f->nparts; i++) {
		if (f->parts[i].reader)
			sluice_reader_close(f->parts[i].reader);
		f->parts[i].reader = NULL;
		f->parts[i].have_batch = f->parts[i].have_cur = false;
		ring_clear(&f->parts[i]);
	}
	set_state(f, SLUICE_FWD_STOPPED);
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

int sluice_fwd_conf_check(const struct sluice_fwd_opts *o, char *errstr, size_t errstr_len)
{
	struct sluice_fwd *f = calloc(1, sizeof(*f));
	char tid[300];
	int rc = -ENOMEM;

	if (!f)
		return -ENOMEM;
	snprintf(tid, sizeof(tid), "sluice-%s", o->appliance_id ? o->appliance_id : "check");
	f->transactional = o->transactional;
	f->linger_ms = o->linger_ms ? o->linger_ms : 5;
	f->brokers = xstrdup("");
	f->compression = xstrdup(o->compression ? o->compression : "none");
	f->transactional_id = xstrdup(o->transactional_id ? o->transactional_id : tid);
	f->kafka_conf = calloc(o->nkafka_conf ? o->nkafka_conf : 1, sizeof(*f->kafka_conf));
	if (!f->brokers || !f->compression || !f->transactional_id || !f->kafka_conf)
		goto out;
	/* Borrowed: f is freed below without its pairs. */
	for (uint32_t i = 0; i < o->nkafka_conf; i++)
		f->kafka_conf[i] = o->kafka_conf[i];
	f->nkafka_conf = o->nkafka_conf;
	rc = producer_probe(f, errstr, errstr_len);
out:
	free(f->kafka_conf);
	free(f->transactional_id);
	free(f->compression);
	free(f->brokers);
	free(f);
	return rc;
}

int sluice_fwd_create(const struct sluice_fwd_opts *o, struct sluice_fwd **out)
{
	struct sluice_fwd *f;
	char buf[300], probe_err[512];
	int rc = -ENOMEM;

	*out = NULL;
	if (!o || !o->log || !o->topics || o->ntopics == 0 || !o->brokers || !*o->brokers ||
	    !o->appliance_id || !*o->appliance_id) {
		fwd_log("create: log, topics, brokers and appliance_id are required");
		return -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->err_lock, NULL);
	f->log = o->log;
	f->transactional = o->transactional;
	f->hold_retention = o->hold_retention;
	f->linger_ms = o->linger_ms ? o->linger_ms : 5;
	f->batch_records = o->batch_records ? o->batch_records : 1000;
	f->idle_poll_ms = o->idle_poll_ms ? o->idle_poll_ms : 5;
	f->resume_tail_records = o->resume_tail_records ? o->resume_tail_records : 100;
	f->resume_timeout_ms = o->resume_timeout_ms ? o->resume_timeout_ms : 10000;
	f->checkpoint_interval_ms = o->checkpoint_interval_ms ? o->checkpoint_interval_ms : 1000;
	STORE(f->inflight_max_msgs, o->inflight_max_msgs ? o->inflight_max_msgs : 10000);
	STORE(f->inflight_max_bytes, o->inflight_max_bytes ? o->inflight_max_bytes : 16u << 20);
	if (LOAD(f->inflight_max_msgs) > INFLIGHT_MSGS_HARD_MAX)
		STORE(f->inflight_max_msgs, INFLIGHT_MSGS_HARD_MAX);
	f->brokers = xstrdup(o->brokers);
	f->appliance_id = xstrdup(o->appliance_id);
	f->compression = xstrdup(o->compression ? o->compression : "none");
	if (o->transactional_id) {
		f->transactional_id = xstrdup(o->transactional_id);
	} else {
		snprintf(buf, sizeof(buf), "sluice-%s", o->appliance_id);
		f->transactional_id = xstrdup(buf);
	}
	f->checkpoint_dir = o->checkpoint_dir ? xstrdup(o->checkpoint_dir) : NULL;
	if (!f->brokers || !f->appliance_id || !f->compression || !f->transactional_id ||
	    (o->checkpoint_dir && !f->checkpoint_dir))
		goto fail;
	f->appliance_len = strlen(f->appliance_id);
	if (o->nkafka_conf) {
		f->kafka_conf = calloc(o->nkafka_conf, sizeof(*f->kafka_conf));
		if (!f->kafka_conf)
			goto fail;
		for (uint32_t i = 0; i < o->nkafka_conf; i++) {
			char errstr[512];

			rc = sluice_fwd_kafka_conf_check(o->kafka_conf[i].key,
							 o->kafka_conf[i].value, errstr,
							 sizeof(errstr));
			if (rc) {
				fwd_log("kafka.%s: %s", o->kafka_conf[i].key, errstr);
				rc = rc == -ENOMEM ? rc : -EINVAL;
				goto fail;
			}
			rc = -ENOMEM;
			f->kafka_conf[i].key = xstrdup(o->kafka_conf[i].key);
			f->kafka_conf[i].value = xstrdup(o->kafka_conf[i].value);
			f->nkafka_conf++;
			if (!f->kafka_conf[i].key || !f->kafka_conf[i].value)
				goto fail;
		}
	}
	/* Build and finalise the whole producer configuration once now, so that a bad
	 * compression name or an incompatible combination is reported at create, not by the
	 * thread (which would retry it forever). */
	rc = producer_probe(f, probe_err, sizeof(probe_err));
	if (rc) {
		fwd_log("create: librdkafka refuses the producer configuration: %s", probe_err);
		goto fail;
	}
	rc = -ENOMEM;

	f->topics = calloc(o->ntopics, sizeof(*f->topics));
	if (!f->topics)
		goto fail;
	f->ntopics = o->ntopics;
	for (uint32_t t = 0; t < o->ntopics; t++) {
		const struct sluice_fwd_topic *ot = &o->topics[t];
		struct ftopic *ft = &f->topics[t];

		if (!ot->name || strlen(ot->name) >= SLUICE_TOPIC_NAME_MAX) {
			fwd_log("create: topic name missing or too long");
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
					fwd_log("create: topic %s is not in the log", ot->name);
					rc = -ENOENT;
					goto fail;
				}
				break;
			}
			f->nparts++;
		}
	}
	f->parts = calloc(f->nparts, sizeof(*f->parts));
	if (!f->parts)
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
			fp->reported_offset = -1;
			STORE(fp->a_oldest_ts, INT64_MIN);
			STORE(fp->a_resume_offset, -1);
		}
	}
	ckpt_load(f);
	for (uint32_t i = 0; i < f->nparts; i++)
		STORE(f->parts[i].a_forwarded, f->parts[i].acked);
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
	set_state(f, SLUICE_FWD_RESUMING);
	rc = -pthread_create(&f->thread, NULL, fwd_main, f);
	if (rc) {
		fwd_log("start: pthread_create: %s", strerror(-rc));
		set_state(f, SLUICE_FWD_STOPPED);
		return rc;
	}
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
	for (uint32_t i = 0; i < f->nparts; i++)
		free(f->parts[i].ring);
	free(f->parts);
	for (uint32_t t = 0; t < f->ntopics; t++)
		free(f->topics[t].kafka_topic);
	free(f->topics);
	for (uint32_t i = 0; i < f->nkafka_conf; i++) {
		free((char *)f->kafka_conf[i].key);
		free((char *)f->kafka_conf[i].value);
	}
	free(f->kafka_conf);
	free(f->brokers);
	free(f->appliance_id);
	free(f->transactional_id);
	free(f->compression);
	free(f->checkpoint_dir);
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
	int64_t now = wall_ms();

	memset(out, 0, sizeof(*out));
	out->state = (enum sluice_fwd_state)LOAD(f->a_state);
	out->transactional = f->transactional;
	out->delivered_records = LOAD(f->a_delivered_records);
	out->delivered_bytes = LOAD(f->a_delivered_bytes);
	out->delivery_errors = LOAD(f->a_delivery_errors);
	out->retries = LOAD(f->a_retries);
	out->queue_full = LOAD(f->a_queue_full);
	out->fatal_resets = LOAD(f->a_fatal_resets);
	out->resumes = LOAD(f->a_resumes);
	out->broker_down_events = LOAD(f->a_broker_down);
	out->txn_commits = LOAD(f->a_txn_commits);
	out->txn_aborts = LOAD(f->a_txn_aborts);
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
		ps->delivery_errors = LOAD(p->a_delivery_errors);
		ps->rewinds = LOAD(p->a_rewinds);
		ps->skipped_records = LOAD(p->a_skipped);
		ps->resume_offset = LOAD(p->a_resume_offset);
		for (unsigned b = 0; b < SLUICE_HIST_BUCKETS; b++)
			ps->ack_hist[b] = LOAD(p->a_ack_hist[b]);
		ps->ack_sum_us = LOAD(p->a_ack_sum_us);
	}
}
