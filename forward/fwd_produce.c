/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The forwarder's send path: reading durable batches, coalescing them into slots, Produce
 * requests and their answers, and each partition's state machine.
 * Threading and the exactly-once argument: see forward.c.
 */
#include "fwd_core.h"

/* ---------------------------------------------------------------------------------------- */
/* Reading the log and building batches                                                      */

/* Position the reader at next_build. @return 0, or -errno (held, retried). A range deleted
 * by retention (policy drop) is skipped and counted. */
int fwd_reader_reposition(struct fpart *p)
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
	if (!p->reader && fwd_reader_reposition(p))
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
		 * before the batch can be sent (fwd_sessions_sync runs before any send). */
		cur->base[p->idx] = start;
		f->ss_dirty = true;
	}
	{
		size_t want = p->src.end - p->src.rec + SLUICE_RB_HEADER_BYTES + 64;

		if (want > (size_t)limit + SLUICE_RB_HEADER_BYTES)
			want = (size_t)limit + SLUICE_RB_HEADER_BYTES;
		if (slot_reserve(bufp, capp, want)) {
			fwd_count_error(f, -ENOMEM);
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
			fwd_count_error(f, -ENOMEM);
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
		fwd_count_error(f, -ENOMEM);
		compress = false;
	}
	s->seq = seq_of(cur, p->idx, start);
	len = coal_seal(&c, cur->pid, cur->epoch, s->seq, compress ? f->codec_ctx : NULL,
			compress ? s->buf : NULL, compress ? s->cap : 0, &in_place);
	if (compress && in_place) {
		/* Compression did not help: send the records as they are. */
		if (slot_reserve(&s->buf, &s->cap, len)) {
			fwd_count_error(f, -ENOMEM);
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
	fwd_publish_inflight(p);
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
		fwd_ack_latency_observe(p, sluice_mono_us() - s->read_us, s->records);
		ADD(p->a_delivered_records, s->records);
		ADD(p->a_delivered_bytes, s->len);
		ADD(p->a_delivered_batches, 1);
		ADD(f->a_delivered_records, s->records);
		ADD(f->a_delivered_bytes, s->len);
		ADD(f->a_delivered_batches, 1);
		fwd_advance_acked(p);
		return;
	}
	ADD(p->a_delivery_errors, 1);
	ADD(f->a_delivery_errors, 1);
	fwd_count_error(f, err);
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
		s = fwd_slot_by_id(p, pc->q->slots[i]);
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
		s = fwd_slot_by_id(p, q->slots[i]);
		if (!s || s->state != SLOT_SENT)
			continue;
		/* No answer for it (connection lost, timeout, malformed response): its fate is
		 * unknown; the same bytes go again, and the broker recognises a duplicate. */
		p->sent--;
		s->state = SLOT_BUILT;
		p->seq_failed_round = true;
		fwd_count_error(f, err ? err : -EPROTO);
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
		struct slot *s = fwd_slot_at(p, i);

		if (s->state == SLOT_BUILT)
			return s;
	}
	return NULL;
}

/* Send one Produce request per broker while its connection takes more. */
uint32_t fwd_send_produce(struct sluice_fwd *f, struct fbroker *b, uint64_t now)
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
					q = fwd_req_begin(f, &b->conn, KAPI_PRODUCE, on_produce,
							  &at);
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
/* The partition's own state machine                                                          */

uint32_t fwd_service_partition(struct sluice_fwd *f, struct fpart *p, uint64_t now)
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
		fwd_service_resume(f, p, now);
		return 0;
	}
	/* P_RUN */
	if (p->needs_switch && !f->switch_wanted) {
		f->switch_wanted = true;
		f->switch_reason = "records deleted by retention before being forwarded";
	}
	if ((p->needs_resume || p->rebuild) && p->sent == 0) {
		if (p->needs_resume) {
			fwd_slots_drop(p);
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
		fwd_slots_drop(p);
		p->rebuild = false;
		p->retry = false;
		p->seq_failed_round = false;
	}
	if (LOAD(p->topic->paused) && p->scount == 0 && !p->needs_resume) {
		/* Nothing is sent, but the age of what waits is still reported. */
		src_ready(p);
		fwd_publish_inflight(p);
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
