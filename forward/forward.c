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
#include "forward_config.h"
#include "fwd_core.h"
#include "sluice_log.h"

RTE_LOG_REGISTER(sluice_forward_logtype, sluice.forwarder, INFO)

SLUICE_LOG_FUNCTION(, fwd_log, sluice_forward_logtype, "forwarder: ", 1024)

void fwd_count_error(struct sluice_fwd *f, int code)
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

void fwd_req_put(void *ctx, struct kreq *q)
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
struct kreq *fwd_req_begin(struct sluice_fwd *f, struct kconn *c, int16_t api, kreq_cb cb,
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

struct fbroker *fwd_broker_find(struct sluice_fwd *f, int32_t id)
{
	for (uint32_t i = 0; i < f->nbrokers; i++)
		if (f->brokers[i]->id == id)
			return f->brokers[i];
	return NULL;
}

struct fbroker *fwd_broker_upsert(struct sluice_fwd *f, int32_t id, const char *host, uint16_t port)
{
	struct fbroker *b = fwd_broker_find(f, id), **nb;

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

struct kconn *fwd_any_ready(struct sluice_fwd *f)
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
		fwd_count_error(f, err);
	if (c->node_id >= 0)
		f->meta_needed = true; /* leadership may have moved with the broker */
}

/* ---------------------------------------------------------------------------------------- */
/* Slots and the acknowledged cursor                                                          */

struct slot *fwd_slot_at(struct fpart *p, uint32_t i)
{
	return &p->slots[(p->shead + i) % SLOTS];
}

struct slot *fwd_slot_by_id(struct fpart *p, uint32_t id)
{
	for (uint32_t i = 0; i < p->scount; i++)
		if (fwd_slot_at(p, i)->id == id)
			return fwd_slot_at(p, i);
	return NULL;
}

void fwd_publish_inflight(struct fpart *p)
{
	STORE(p->a_inflight_msgs, p->inflight_records);
	STORE(p->a_inflight_bytes, p->inflight_bytes);
	if (p->scount)
		STORE(p->a_oldest_ts, fwd_slot_at(p, 0)->first_ts);
	else if (p->have_src && p->src.remaining > 0)
		STORE(p->a_oldest_ts, p->src.base_ts);
	else
		STORE(p->a_oldest_ts, INT64_MIN);
}

/* Same buckets as the storage fsync histogram: bucket i holds (2^(i-1), 2^i] µs. */
void fwd_ack_latency_observe(struct fpart *p, uint64_t us, uint32_t records)
{
	unsigned i = 0;

	while (i < SLUICE_HIST_BUCKETS - 1 && (1ull << i) < us)
		i++;
	ADD(p->a_ack_hist[i], records);
	ADD(p->a_ack_sum_us, us * records);
}

void fwd_advance_acked(struct fpart *p)
{
	bool moved = false;

	while (p->scount && fwd_slot_at(p, 0)->state == SLOT_ACKED) {
		struct slot *s = fwd_slot_at(p, 0);

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
	fwd_publish_inflight(p);
}

/* Forget every slot not acknowledged (nothing of the partition may be in flight). */
void fwd_slots_drop(struct fpart *p)
{
	while (p->scount) {
		struct slot *s = fwd_slot_at(p, p->scount - 1);

		if (s->state == SLOT_ACKED)
			break;
		p->inflight_records -= s->records;
		p->inflight_bytes -= s->len;
		s->state = SLOT_FREE;
		p->scount--;
	}
	fwd_advance_acked(p);
	p->next_build = p->acked;
	p->have_src = false;
	if (p->reader) {
		sluice_reader_close(p->reader);
		p->reader = NULL;
	}
	fwd_publish_inflight(p);
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
			f->parts[i].leader >= 0 ? fwd_broker_find(f, f->parts[i].leader) : NULL;

		if (b)
			b->conn.want = true;
	}
	if (f->pid_state == PID_COORD || f->pid_state == PID_INIT) {
		struct fbroker *b = fwd_broker_find(f, f->coord_id);

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
		fwd_service_metadata(f, now);
		fwd_service_pid(f, now);
		for (uint32_t k = 0; k < f->nparts; k++)
			work += fwd_service_partition(f, &f->parts[(f->rr + k) % f->nparts], now);
		f->rr = f->nparts ? (f->rr + 1) % f->nparts : 0;
		update_wants(f);
		if (!f->fenced && !f->switch_wanted && fwd_sessions_sync(f) == 0)
			for (uint32_t i = 0; i < f->nbrokers; i++)
				work += fwd_send_produce(f, f->brokers[i], now);
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
			fwd_ckpt_write(f, false);
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
	fwd_ckpt_write(f, false);
	for (uint32_t i = 0; i < f->nparts; i++) {
		struct fpart *p = &f->parts[i];

		if (p->reader)
			sluice_reader_close(p->reader);
		p->reader = NULL;
		p->have_src = false;
		p->sent = 0;
		fwd_slots_drop(p);
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
	STORE(f->inflight_max_msgs,
	      o->inflight_max_msgs ? o->inflight_max_msgs : SLUICE_FWD_INFLIGHT_MAX_MSGS_DEFAULT);
	STORE(f->inflight_max_bytes,
	      o->inflight_max_bytes ? o->inflight_max_bytes
				    : SLUICE_FWD_INFLIGHT_MAX_MB_DEFAULT * (1u << 20));
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
		.req_put = fwd_req_put,
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
	f->legacy_ckpt = fwd_ckpt_load(f) && f->ss.n == 0;
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

void sluice_fwd_apply_config(struct sluice_fwd *f, const struct sluice_config_kafka *c)
{
	sluice_fwd_set_inflight(f, c->inflight_max_msgs, c->inflight_max_bytes);
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
