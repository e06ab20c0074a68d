/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The forwarder's session path: Metadata, the producer id (FindCoordinator +
 * InitProducerId) and resuming from the partition's tail in Kafka.
 * Threading and the exactly-once argument: see forward.c.
 */
#include "fwd_core.h"

/* ---------------------------------------------------------------------------------------- */
/* Checkpoint: "<topic> <partition> <next offset>\n" per partition. A lower bound only.     */

bool fwd_ckpt_load(struct sluice_fwd *f)
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

void fwd_ckpt_write(struct sluice_fwd *f, bool force)
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
int fwd_sessions_sync(struct sluice_fwd *f)
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
		fwd_count_error(f, rc);
		return rc;
	}
	f->ss_dirty = false;
	return 0;
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
	fwd_broker_upsert(m->f, id, h, (uint16_t)port);
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
		fwd_count_error(f, -EBADMSG);
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

void fwd_service_metadata(struct sluice_fwd *f, uint64_t now)
{
	const char **names;
	struct kconn *c;
	struct kreq *q;
	size_t at;

	if (f->meta_outstanding || now < (f->meta_needed ? f->meta_retry_at : f->meta_at))
		return;
	c = fwd_any_ready(f);
	if (!c) {
		/* No connection: want the bootstrap servers (and any broker we know). */
		for (uint32_t i = 0; i < f->nbootstrap; i++)
			f->bootstrap[i].want = true;
		return;
	}
	q = fwd_req_begin(f, c, KAPI_METADATA, on_metadata, &at);
	names = q ? calloc(f->ntopics, sizeof(*names)) : NULL;
	if (!names) {
		if (q)
			fwd_req_put(f, q);
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

		fwd_slots_drop(p);
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
		fwd_count_error(f, -EBADMSG);
		pid_backoff(f, f->conf.retry_backoff_max_ms);
		return;
	}
	if (kerr) {
		fwd_count_error(f, kerr);
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
		fwd_count_error(f, -EBADMSG);
		pid_backoff(f, f->conf.retry_backoff_max_ms);
		return;
	}
	if (f->ss.n > 0)
		ADD(f->a_fatal_resets, 1);
	fsess_push(&f->ss, pid, epoch);
	f->ss_dirty = true;
	if (fwd_sessions_sync(f)) {
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

	q = fwd_req_begin(f, c, KAPI_INIT_PRODUCER_ID, on_init_pid, &at);
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
		fwd_count_error(f, -EBADMSG);
		pid_backoff(f, f->conf.retry_backoff_max_ms);
		return;
	}
	if (co.err) {
		fwd_count_error(f, co.err);
		if (co.err != KERR_COORDINATOR_NOT_AVAILABLE &&
		    co.err != KERR_COORDINATOR_LOAD_IN_PROGRESS && co.err != KERR_NOT_COORDINATOR)
			fwd_log(LOG_ERR, "FindCoordinator(%s): %s", f->transactional_id,
				kerr_name(co.err, name, sizeof(name)));
		pid_backoff(f, 0);
		return;
	}
	if (co.port <= 0 || co.port > 65535 || co.node_id < 0) {
		fwd_count_error(f, -EBADMSG);
		pid_backoff(f, f->conf.retry_backoff_max_ms);
		return;
	}
	b = fwd_broker_upsert(f, co.node_id, co.host, (uint16_t)co.port);
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

void fwd_service_pid(struct sluice_fwd *f, uint64_t now)
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
		c = fwd_any_ready(f);
		if (!c)
			return;
		q = fwd_req_begin(f, c, KAPI_FIND_COORDINATOR, on_find_coordinator, &at);
		if (!q)
			return;
		kp_find_coordinator_req(&q->w, q->ver, f->transactional_id, 1);
		kreq_finish(&q->w, at, 0);
		f->pid_state = PID_FIND;
		kconn_send(c, q, now);
		return;
	case PID_COORD:
		b = fwd_broker_find(f, f->coord_id);
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
			 * counted unless it was acknowledged once) by fwd_reader_reposition(). */
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
	fwd_reader_reposition(p);
	p->state = P_RUN;
	fwd_publish_inflight(p);
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
			fwd_count_error(f, -EBADMSG);
			resume_retry(f, p, "malformed ListOffsets response");
			return;
		}
		if (kerr) {
			fwd_count_error(f, kerr);
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
			fwd_count_error(f, -EBADMSG);
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
			fwd_count_error(f, fp.err);
			if (kerr_classify(fp.err) == KERR_C_METADATA)
				f->meta_needed = true;
			resume_retry(f, p, kerr_name(fp.err, name, sizeof(name)));
			return;
		}
		n = fp.records
			? kp_batches_walk(fp.records, (size_t)fp.records_len, resume_batch, p)
			: 0;
		if (n < 0) {
			fwd_count_error(f, -EBADMSG);
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

void fwd_service_resume(struct sluice_fwd *f, struct fpart *p, uint64_t now)
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
	b = p->leader >= 0 ? fwd_broker_find(f, p->leader) : NULL;
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
	q = fwd_req_begin(f, &b->conn,
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
