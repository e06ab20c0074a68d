/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The forwarder's core state, shared by its three files (see forward.c for the threading
 * contract and the exactly-once argument):
 *   forward.c      request pool, brokers, slots, housekeeping, the thread and the public API
 *   fwd_produce.c  reading the log, building batches, Produce, each partition's state machine
 *   fwd_resume.c   checkpoint, Metadata, producer id, resume from Kafka's tail
 * forward_internal.h is the layer below (protocol, connections, coalescing, TLS, SASL).
 */
#ifndef SLUICE_FWD_CORE_H
#define SLUICE_FWD_CORE_H

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

/* The forwarder's log lines (rte_log type sluice.forwarder). */
void fwd_log(uint32_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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

/* Shared between the forwarder's files (all on the forwarder thread unless said). */

/* forward.c */
void fwd_count_error(struct sluice_fwd *f, int code);
void fwd_req_put(void *ctx, struct kreq *q);
struct kreq *fwd_req_begin(struct sluice_fwd *f, struct kconn *c, int16_t api, kreq_cb cb,
			   size_t *size_at);
struct fbroker *fwd_broker_find(struct sluice_fwd *f, int32_t id);
struct fbroker *fwd_broker_upsert(struct sluice_fwd *f, int32_t id, const char *host,
				  uint16_t port);
struct kconn *fwd_any_ready(struct sluice_fwd *f);
struct slot *fwd_slot_at(struct fpart *p, uint32_t i);
struct slot *fwd_slot_by_id(struct fpart *p, uint32_t id);
void fwd_publish_inflight(struct fpart *p);
void fwd_ack_latency_observe(struct fpart *p, uint64_t us, uint32_t records);
void fwd_advance_acked(struct fpart *p);
void fwd_slots_drop(struct fpart *p);

/* fwd_produce.c */
int fwd_reader_reposition(struct fpart *p);
uint32_t fwd_send_produce(struct sluice_fwd *f, struct fbroker *b, uint64_t now);
uint32_t fwd_service_partition(struct sluice_fwd *f, struct fpart *p, uint64_t now);

/* fwd_resume.c */
bool fwd_ckpt_load(struct sluice_fwd *f);
void fwd_ckpt_write(struct sluice_fwd *f, bool force);
int fwd_sessions_sync(struct sluice_fwd *f);
void fwd_service_metadata(struct sluice_fwd *f, uint64_t now);
void fwd_service_pid(struct sluice_fwd *f, uint64_t now);
void fwd_service_resume(struct sluice_fwd *f, struct fpart *p, uint64_t now);

#endif /* SLUICE_FWD_CORE_H */
