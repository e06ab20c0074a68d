/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to forward/: the Kafka protocol codec (proto.c), the RecordBatch coalescer
 * (coalesce.c), connections and transports (conn.c, tls.c), SASL (sasl.c), the native
 * configuration keys (conf.c) and the producer-session store (session.c). forward.c ties them
 * together. Everything here is single-threaded: it runs on the forwarder thread (or in a test).
 */
#ifndef SLUICE_FORWARD_INTERNAL_H
#define SLUICE_FORWARD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "sluice_forward.h"

/* ---------------------------------------------------------------------------------------- */
/* Kafka protocol: API keys, error codes, version ranges implemented here                    */

enum kapi {
	KAPI_PRODUCE = 0,
	KAPI_FETCH = 1,
	KAPI_LIST_OFFSETS = 2,
	KAPI_METADATA = 3,
	KAPI_FIND_COORDINATOR = 10,
	KAPI_SASL_HANDSHAKE = 17,
	KAPI_API_VERSIONS = 18,
	KAPI_INIT_PRODUCER_ID = 22,
	KAPI_SASL_AUTHENTICATE = 36,
	KAPI__MAX = 64, /* size of per-connection version tables */
};

/* The versions this client speaks, per API: a request uses the highest version both sides
 * support (ApiVersions). Flexible (KIP-482) encodings are used only where needed
 * (InitProducerId v3+ for the epoch bump of KIP-360). */
struct kapi_range {
	int16_t min, max;
};
extern const struct kapi_range kapi_supported[KAPI__MAX];

/* Kafka error codes the forwarder acts on (see docs/forwarding.md, "Errors"). */
enum kerr {
	KERR_UNKNOWN_SERVER_ERROR = -1,
	KERR_NONE = 0,
	KERR_OFFSET_OUT_OF_RANGE = 1,
	KERR_CORRUPT_MESSAGE = 2,
	KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KERR_INVALID_FETCH_SIZE = 4,
	KERR_LEADER_NOT_AVAILABLE = 5,
	KERR_NOT_LEADER_OR_FOLLOWER = 6,
	KERR_REQUEST_TIMED_OUT = 7,
	KERR_BROKER_NOT_AVAILABLE = 8,
	KERR_REPLICA_NOT_AVAILABLE = 9,
	KERR_MESSAGE_TOO_LARGE = 10,
	KERR_NETWORK_EXCEPTION = 13,
	KERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
	KERR_COORDINATOR_NOT_AVAILABLE = 15,
	KERR_NOT_COORDINATOR = 16,
	KERR_INVALID_TOPIC_EXCEPTION = 17,
	KERR_RECORD_LIST_TOO_LARGE = 18,
	KERR_NOT_ENOUGH_REPLICAS = 19,
	KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
	KERR_INVALID_REQUIRED_ACKS = 21,
	KERR_TOPIC_AUTHORIZATION_FAILED = 29,
	KERR_CLUSTER_AUTHORIZATION_FAILED = 31,
	KERR_INVALID_TIMESTAMP = 32,
	KERR_UNSUPPORTED_SASL_MECHANISM = 33,
	KERR_ILLEGAL_SASL_STATE = 34,
	KERR_UNSUPPORTED_VERSION = 35,
	KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
	KERR_POLICY_VIOLATION = 44,
	KERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
	KERR_DUPLICATE_SEQUENCE_NUMBER = 46,
	KERR_INVALID_PRODUCER_EPOCH = 47,
	KERR_INVALID_TXN_STATE = 48,
	KERR_INVALID_PRODUCER_ID_MAPPING = 49,
	KERR_CONCURRENT_TRANSACTIONS = 51,
	KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
	KERR_KAFKA_STORAGE_ERROR = 56,
	KERR_SASL_AUTHENTICATION_FAILED = 58,
	KERR_UNKNOWN_PRODUCER_ID = 59,
	KERR_NOT_CONTROLLER = 41,
	KERR_FENCED_LEADER_EPOCH = 74,
	KERR_UNKNOWN_LEADER_EPOCH = 75,
	KERR_OFFSET_NOT_AVAILABLE = 78,
	KERR_PREFERRED_LEADER_NOT_AVAILABLE = 80,
	KERR_INVALID_RECORD = 87,
	KERR_THROTTLING_QUOTA_EXCEEDED = 89,
	KERR_PRODUCER_FENCED = 90,
};

/** What the forwarder does about a Kafka error code in a Produce (or control) response. */
enum kerr_class {
	KERR_C_OK = 0,
	KERR_C_RETRY, /**< transient: resend the same batch (same sequence) after a back-off */
	KERR_C_METADATA, /**< leadership or topic changed: refresh metadata, then resend */
	KERR_C_SEQUENCE, /**< the broker's sequence state differs from ours: re-read the tail */
	KERR_C_SESSION, /**< the broker lost our producer id: start a new session, resume */
	KERR_C_FENCED, /**< another producer took our transactional id: stop */
	KERR_C_TOO_LARGE, /**< batch over the broker's limit: rebuild smaller */
	KERR_C_REFUSED, /**< authorization, policy, bad record: hold the partition, long back-off */
};

/** Category of @p code (unknown codes are KERR_C_RETRY, as Kafka's clients do). */
enum kerr_class kerr_classify(int16_t code);
/** Kafka's name of an error code ("NOT_LEADER_OR_FOLLOWER"), or "UNKNOWN_<n>". */
const char *kerr_name(int16_t code, char *buf, size_t len);

/* ---------------------------------------------------------------------------------------- */
/* Encoding: a growable buffer that records running out of memory once, checked at the end   */

struct kw {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool oom;
};

void kw_reset(struct kw *w);
void kw_free(struct kw *w);
void kw_i8(struct kw *w, int8_t v);
void kw_i16(struct kw *w, int16_t v);
void kw_i32(struct kw *w, int32_t v);
void kw_i64(struct kw *w, int64_t v);
void kw_uvarint(struct kw *w, uint64_t v);
/** Raw bytes. */
void kw_raw(struct kw *w, const void *p, size_t n);
/** Nullable STRING (int16 length; NULL = -1). */
void kw_str(struct kw *w, const char *s);
void kw_strn(struct kw *w, const char *s, size_t n);
/** COMPACT_NULLABLE_STRING (uvarint length + 1). */
void kw_cstr(struct kw *w, const char *s);
/** BYTES (int32 length). */
void kw_bytes(struct kw *w, const void *p, int32_t n);
/** Patch a big-endian int32 at @p at (for sizes known only at the end). */
void kw_put_i32_at(struct kw *w, size_t at, int32_t v);

/** Request header v1 (v2 with the tagged-field byte when @p flexible), size prefix included:
 * the caller patches the size with kreq_finish(). Returns the offset of the size field. */
size_t kreq_begin(struct kw *w, int16_t api, int16_t ver, int32_t corr, const char *client_id,
		  bool flexible);
/** Patch the size prefix written by kreq_begin, adding @p extra bytes sent separately. */
void kreq_finish(struct kw *w, size_t at, size_t extra);

/* ---------------------------------------------------------------------------------------- */
/* Decoding: bounds-checked reads over an untrusted response; any failure sets err           */

struct kr {
	const uint8_t *p;
	const uint8_t *end;
	bool err;
};

static inline void kr_init(struct kr *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->end = p + len;
	r->err = false;
}

static inline size_t kr_left(const struct kr *r)
{
	return (size_t)(r->end - r->p);
}

int8_t kr_i8(struct kr *r);
int16_t kr_i16(struct kr *r);
int32_t kr_i32(struct kr *r);
int64_t kr_i64(struct kr *r);
uint64_t kr_uvarint(struct kr *r);
/** STRING / NULLABLE_STRING: *s points into the buffer (not terminated); *n = -1 for null. */
void kr_str(struct kr *r, const char **s, int32_t *n);
/** COMPACT_(NULLABLE_)STRING. */
void kr_cstr(struct kr *r, const char **s, int32_t *n);
/** BYTES / NULLABLE_BYTES (int32 length). */
void kr_bytes(struct kr *r, const uint8_t **b, int32_t *n);
/** COMPACT_BYTES. */
void kr_cbytes(struct kr *r, const uint8_t **b, int32_t *n);
/** Skip @p n bytes. */
void kr_skip(struct kr *r, size_t n);
/** Skip a tagged-field section (flexible versions). */
void kr_tags(struct kr *r);
/** ARRAY count (int32; -1 = null, returned as 0), checked against the bytes left assuming
 * each element takes at least @p min_elem bytes. */
int32_t kr_array(struct kr *r, size_t min_elem);
/** COMPACT_ARRAY count (uvarint - 1), same check. */
int32_t kr_carray(struct kr *r, size_t min_elem);

/* ---------------------------------------------------------------------------------------- */
/* Request encoders (body only; see kreq_begin) and response parsers                         */

/** ApiVersions v0: request has no body. Response: fills vmax[api] with the broker's maximum
 * version (-1 when the broker does not list the API). @return Kafka error code, or -1 when
 * the response is malformed. */
int kp_api_versions_parse(const uint8_t *buf, size_t len, int16_t vmax[KAPI__MAX],
			  int16_t vmin[KAPI__MAX]);

/** Metadata request for @p ntopics topic names (v1..v8; v4+: no auto-creation). */
void kp_metadata_req(struct kw *w, int16_t ver, const char *const *topics, uint32_t ntopics);

/** Callbacks of the Metadata parser; any may be NULL. Strings are not terminated. */
struct kp_metadata_cb {
	void *ctx;
	void (*broker)(void *ctx, int32_t node_id, const char *host, int32_t host_len,
		       int32_t port);
	void (*topic)(void *ctx, const char *name, int32_t name_len, int16_t err,
		      int32_t npartitions);
	void (*partition)(void *ctx, const char *topic, int32_t topic_len, int32_t partition,
			  int16_t err, int32_t leader);
};
/** @return 0, or -EBADMSG for a malformed response (callbacks may have run). */
int kp_metadata_parse(const uint8_t *buf, size_t len, int16_t ver, const struct kp_metadata_cb *cb);

/** FindCoordinator v1..v2 for a transactional id (key type 1). */
void kp_find_coordinator_req(struct kw *w, int16_t ver, const char *key, int8_t key_type);
struct kp_coordinator {
	int16_t err;
	int32_t node_id;
	char host[256];
	int32_t port;
};
int kp_find_coordinator_parse(const uint8_t *buf, size_t len, int16_t ver,
			      struct kp_coordinator *out);

/** InitProducerId v0..v4 (v2+ flexible). @p pid/@p epoch: v3+ only (KIP-360 bump), -1 = new. */
void kp_init_producer_id_req(struct kw *w, int16_t ver, const char *transactional_id,
			     int32_t txn_timeout_ms, int64_t pid, int16_t epoch);
int kp_init_producer_id_parse(const uint8_t *buf, size_t len, int16_t ver, int16_t *err,
			      int64_t *pid, int16_t *epoch);

/** ListOffsets v1..v3 for one partition: @p ts = -1 latest, -2 earliest. */
void kp_list_offsets_req(struct kw *w, int16_t ver, const char *topic, int32_t partition,
			 int64_t ts);
int kp_list_offsets_parse(const uint8_t *buf, size_t len, int16_t ver, int16_t *err,
			  int64_t *offset);

/** Fetch v4..v11 of one partition from @p offset, at most @p max_bytes. */
void kp_fetch_req(struct kw *w, int16_t ver, const char *topic, int32_t partition, int64_t offset,
		  int32_t max_bytes);
struct kp_fetch_part {
	int16_t err;
	int64_t high_watermark;
	int64_t log_start_offset; /**< -1 before v5 */
	const uint8_t *records; /**< NULL when none */
	int32_t records_len;
};
/** Parses the first partition of the response. @return 0 or -EBADMSG. */
int kp_fetch_parse(const uint8_t *buf, size_t len, int16_t ver, struct kp_fetch_part *out);

/** Batch header fields the resume needs, from a records blob (headers are never compressed). */
struct kp_batch_info {
	int64_t base_offset;
	int32_t last_offset_delta;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t record_count;
	int16_t attributes;
};
/**
 * Walk the RecordBatch v2 headers in @p records. Calls @p fn for each complete batch (magic
 * 2; a partial last batch, as brokers send when they cut a response, ends the walk). Batches
 * of another magic are skipped by their length. @return batches seen, or -EBADMSG when a
 * length field is impossible.
 */
int kp_batches_walk(const uint8_t *records, size_t len,
		    void (*fn)(void *ctx, const struct kp_batch_info *b), void *ctx);

/** SaslHandshake v1: mechanism name. */
void kp_sasl_handshake_req(struct kw *w, const char *mechanism);
int kp_sasl_handshake_parse(const uint8_t *buf, size_t len, int16_t *err);
/** SaslAuthenticate v0..v1 (non-flexible): opaque auth bytes. */
void kp_sasl_authenticate_req(struct kw *w, const void *auth, size_t len);
int kp_sasl_authenticate_parse(const uint8_t *buf, size_t len, int16_t ver, int16_t *err,
			       const char **msg, int32_t *msg_len, const uint8_t **auth,
			       int32_t *auth_len);

/** Produce request framing (v3..v8): everything up to the first partition's records. */
struct kp_produce_part {
	int32_t partition;
	const uint8_t *records;
	int32_t records_len;
};
struct kp_produce_topic {
	const char *name;
	const struct kp_produce_part *parts;
	uint32_t nparts;
};

/**
 * Encode a Produce request into @p w (framing only) and describe it as iovecs: framing
 * pieces from @p w interleaved with the callers' record buffers, which are not copied.
 * @p iov must hold 2 * (total partitions) + 1 entries. Call after kreq_begin (the header is
 * at the start of w); finishes the size prefix. @return iovecs used.
 */
int kp_produce_req(struct kw *w, size_t size_at, int16_t ver, const char *transactional_id,
		   int16_t acks, int32_t timeout_ms, const struct kp_produce_topic *topics,
		   uint32_t ntopics, struct iovec *iov);

/** One partition's result in a Produce response. */
struct kp_produce_result {
	const char *topic;
	int32_t topic_len;
	int32_t partition;
	int16_t err;
	int64_t base_offset;
	int64_t log_start_offset;
};
/** Calls @p fn for each partition of a Produce response. @return 0 or -EBADMSG. */
int kp_produce_parse(const uint8_t *buf, size_t len, int16_t ver,
		     void (*fn)(void *ctx, const struct kp_produce_result *r), void *ctx);

/**
 * Response header: checks the correlation id (and skips the tagged fields of a flexible
 * header; ApiVersions always uses header v0). @return 0, -EPROTO on a mismatch, -EBADMSG
 * when too short. *body and *body_len: the response body.
 */
int kp_response_header(const uint8_t *frame, size_t len, int32_t want_corr, bool flexible,
		       const uint8_t **body, size_t *body_len);

/** Whether version @p ver of API @p api uses flexible encodings (only those we send). */
bool kapi_flexible(int16_t api, int16_t ver);

/* ---------------------------------------------------------------------------------------- */
/* Coalescer: durable log batches -> one Kafka RecordBatch (coalesce.c)                       */

/** A cursor over the records of one durable source batch (validated by the storage reader). */
struct coal_src {
	const uint8_t *rec; /**< next record */
	const uint8_t *end;
	int64_t base_offset;
	int64_t base_ts;
	int64_t max_ts;
	int64_t next_offset; /**< offset of the record at rec */
	int32_t remaining;
	bool log_append_time;
};

/** Start iterating @p batch (a whole, validated RecordBatch v2). */
void coal_src_init(struct coal_src *s, const uint8_t *batch, size_t len);
/** Skip the records below @p offset. @return 0 or -EBADMSG. */
int coal_src_seek(struct coal_src *s, int64_t offset);

/** The four sluice.* header values added to every record (sluice_fwd_opts.headers). */
struct coal_hdrs {
	const char *topic;
	const char *partition; /**< decimal */
	const char *appliance;
};

/** A Kafka batch being built: records go to buf + SLUICE_RB_HEADER_BYTES. */
struct coal {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int32_t count;
	int64_t base_offset; /**< log offset of the first record */
	int64_t base_ts;
	int64_t max_ts;
	const struct coal_hdrs *hdrs; /**< NULL: records as they are */
};

void coal_begin(struct coal *c, uint8_t *buf, size_t cap, int64_t base_offset,
		const struct coal_hdrs *hdrs);
/**
 * Append records of @p s (in order, from s->next_offset) while they fit and fewer than
 * @p max_records are in the batch. Offset deltas become positions in this batch, timestamp
 * deltas are taken from this batch's first record; key, value and headers are copied as
 * encoded. @return records appended (0: the next one does not fit), -EMSGSIZE when a record
 * does not fit even an empty batch, -EBADMSG for a malformed source record.
 */
int coal_take(struct coal *c, struct coal_src *s, uint32_t max_records);

/** Compression state reused across batches (one per forwarder thread). */
struct coal_codec;
int coal_codec_create(int codec, int level, struct coal_codec **out);
void coal_codec_destroy(struct coal_codec *z);
/** Bytes a compressed batch of @p records_len record bytes may need, header included. */
size_t coal_codec_bound(const struct coal_codec *z, size_t records_len);

/**
 * Finish the batch: header fields, producer id/epoch/base sequence, CRC32C. Without a codec
 * (@p z NULL or codec none) the batch is finished in place at c->buf. With a codec the records
 * are compressed into @p out (header written there); when that would not make the batch
 * smaller it is finished in place uncompressed instead. *in_place says which buffer holds it.
 * @return the batch's size, or 0 for an empty batch.
 */
size_t coal_seal(struct coal *c, int64_t producer_id, int16_t epoch, int32_t base_sequence,
		 struct coal_codec *z, uint8_t *out, size_t out_cap, bool *in_place);

/* ---------------------------------------------------------------------------------------- */
/* Client settings (conf.c): the kafka.* keys of the native client                            */

enum ksec_proto { KSEC_PLAINTEXT = 0, KSEC_SSL, KSEC_SASL_PLAINTEXT, KSEC_SASL_SSL };
enum ksasl_mech { KSASL_NONE = 0, KSASL_PLAIN, KSASL_SCRAM_SHA_256, KSASL_SCRAM_SHA_512 };

struct kclient_conf {
	char client_id[128];
	enum ksec_proto security;
	enum ksasl_mech sasl_mech;
	char sasl_username[256];
	char sasl_password[256];
	char ssl_ca_location[512];
	char ssl_cert_location[512];
	char ssl_key_location[512];
	char ssl_key_password[256];
	bool ssl_verify; /**< enable.ssl.certificate.verification */
	bool ssl_verify_host; /**< ssl.endpoint.identification.algorithm = https */
	uint32_t request_timeout_ms; /**< acks=all wait the broker is given */
	uint32_t socket_timeout_ms; /**< a response later than this closes the connection */
	uint32_t connect_timeout_ms; /**< socket.connection.setup.timeout.ms */
	uint32_t reconnect_backoff_ms;
	uint32_t reconnect_backoff_max_ms;
	uint32_t retry_backoff_ms;
	uint32_t retry_backoff_max_ms;
	uint32_t metadata_refresh_ms; /**< topic.metadata.refresh.interval.ms */
	uint32_t max_inflight; /**< max.in.flight.requests.per.connection, <= 5 */
	uint32_t batch_bytes; /**< batch.size */
	int compression_level; /**< compression.level; -1 = codec default */
	bool keepalive;
	uint32_t sndbuf, rcvbuf; /**< 0 = system default */
};

/** Defaults of every key. */
void kclient_conf_defaults(struct kclient_conf *c);
/** Apply one key (as sluice_fwd_conf_check checks it). @return 0 or -EINVAL with reason. */
int kclient_conf_set(struct kclient_conf *c, const char *key, const char *value, char *errstr,
		     size_t errstr_len);
/** Cross-key checks (SASL needs a username, ...). @return 0 or -EINVAL with reason. */
int kclient_conf_finish(const struct kclient_conf *c, char *errstr, size_t errstr_len);

/* ---------------------------------------------------------------------------------------- */
/* SASL client (sasl.c): PLAIN and SCRAM-SHA-256/512 (RFC 5802, RFC 7677)                     */

struct ksasl {
	enum ksasl_mech mech;
	int step;
	char user[256];
	char pass[256];
	char cnonce[64];
	char client_first_bare[600];
	char auth_message[2048];
	uint8_t server_signature[64];
	unsigned digest_len;
};

/** Set up; @p cnonce NULL = random (tests pass RFC vectors). @return 0 or -EINVAL. */
int ksasl_init(struct ksasl *s, enum ksasl_mech mech, const char *user, const char *pass,
	       const char *cnonce);
/** Kafka's mechanism name ("SCRAM-SHA-256"). */
const char *ksasl_mech_name(enum ksasl_mech mech);
/**
 * Next client message after server message @p in (NULL/0 for the first one), into @p out.
 * @return 1 with a message to send, 0 when authentication is complete (server verified),
 *         -EACCES when the server's proof or nonce is wrong, -EPROTO for a malformed message.
 */
int ksasl_step(struct ksasl *s, const uint8_t *in, size_t in_len, struct kw *out);

/* ---------------------------------------------------------------------------------------- */
/* Connections (conn.c) and transports (conn.c plain, tls.c OpenSSL)                          */

struct kconn;
struct kreq;

/** How bytes move on a connection: plain TCP or TLS. */
struct ktransport_ops {
	const char *name;
	/** Set up on a connected socket. @return 0 or -errno. */
	int (*attach)(struct kconn *c);
	/** Progress the handshake: 0 done, -EAGAIN (poll for *want_write or read), -errno. */
	int (*handshake)(struct kconn *c, bool *want_write);
	/** @return bytes read, 0 at EOF, -EAGAIN or -errno. */
	ssize_t (*read)(struct kconn *c, void *buf, size_t len);
	/** @return bytes written (maybe fewer), -EAGAIN or -errno. */
	ssize_t (*writev)(struct kconn *c, const struct iovec *iov, int iovcnt);
	/** Bytes already decrypted and waiting (poll would not report them). */
	bool (*pending)(struct kconn *c);
	void (*detach)(struct kconn *c);
};

extern const struct ktransport_ops ktransport_plain;
extern const struct ktransport_ops ktransport_tls;

/** TLS client context shared by every connection (tls.c). */
struct ktls;
int ktls_create(const struct kclient_conf *conf, struct ktls **out, char *errstr, size_t len);
void ktls_destroy(struct ktls *t);

/** Completion of a request: @p err 0 with the response body, or -errno (connection lost,
 * timed out, closed) with NULL. Runs on the forwarder thread. */
typedef void (*kreq_cb)(struct kconn *c, struct kreq *q, int err, const uint8_t *body, size_t len);

struct kreq {
	struct kreq *next;
	int32_t corr;
	int16_t api;
	int16_t ver;
	bool flexible;
	struct kw w; /**< framing (owned; reused across requests) */
	struct iovec *iov; /**< what to send; iov[0] starts with w.p */
	int niov;
	int iov_cap;
	size_t total; /**< bytes of all iovs */
	size_t sent;
	uint64_t deadline_ms;
	kreq_cb cb;
	void *ctx;
	uint64_t arg;
	uint32_t *parts; /**< produce: partition indexes in this request */
	uint32_t *slots; /**< produce: their slot sequence numbers */
	uint32_t nparts;
	uint32_t parts_cap;
};

enum kconn_state {
	KC_DOWN = 0,
	KC_CONNECTING,
	KC_HANDSHAKE,
	KC_APIVERSIONS,
	KC_SASL,
	KC_READY,
};

struct kconn_env {
	const struct kclient_conf *conf;
	struct ktls *tls; /**< NULL = plaintext */
	/** Request pool (forward.c): get never fails when it returns non-NULL. */
	struct kreq *(*req_get)(void *ctx);
	void (*req_put)(void *ctx, struct kreq *q);
	/** A connection became ready (true) or went down with @p err (false). */
	void (*state_changed)(void *ctx, struct kconn *c, bool ready, int err);
	void *ctx;
};

struct kconn {
	const struct kconn_env *env;
	char host[256];
	uint16_t port;
	int32_t node_id; /**< -1 for a bootstrap address */
	enum kconn_state state;
	int fd;
	const struct ktransport_ops *tops;
	void *tctx; /**< transport state (SSL *) */
	bool want; /**< someone needs this connection: (re)connect when down */
	uint64_t retry_at_ms;
	uint32_t backoff_ms;
	uint64_t connect_deadline_ms;
	int32_t next_corr;
	int16_t vmax[KAPI__MAX]; /**< negotiated: highest version both speak, -1 none */
	struct kreq *head; /**< requests in order: sent ones first, awaiting responses */
	struct kreq *tail;
	struct kreq *unsent; /**< first request not completely written */
	uint32_t inflight; /**< written, awaiting a response */
	uint32_t queued; /**< requests in the list */
	bool hs_want_write;
	uint8_t *rbuf;
	size_t rlen;
	size_t rcap;
	struct ksasl sasl;
	int last_err;
	bool logged_down;
	uint64_t connects;
};

void kconn_init(struct kconn *c, const struct kconn_env *env, const char *host, uint16_t port,
		int32_t node_id);
/** Close (if open), fail every queued request with -ECANCELED, free buffers. */
void kconn_fini(struct kconn *c);
/** Close with @p err: every request queued or in flight completes with @p err. */
void kconn_close(struct kconn *c, int err);
/** Version of @p api to use on this ready connection, or -1 when none is common. */
int16_t kconn_version(const struct kconn *c, int16_t api);
/** Whether another request may be queued now (ready, under max.in.flight). */
bool kconn_can_send(const struct kconn *c);
/**
 * Queue @p q (built with kreq_begin; its iovecs set by the caller, or by kconn_send from
 * q->w when q->niov is 0). Assigns nothing: the caller used kconn_next_corr(). The callback
 * runs exactly once.
 */
void kconn_send(struct kconn *c, struct kreq *q, uint64_t now_ms);
int32_t kconn_next_corr(struct kconn *c);
/** Connect when wanted and due; expire requests and connects past their deadline. */
void kconn_tick(struct kconn *c, uint64_t now_ms);
/** poll() events this connection waits for (0: no fd). */
short kconn_events(const struct kconn *c);
/** Handle poll() results. */
void kconn_io(struct kconn *c, short revents, uint64_t now_ms);
/** Earliest time kconn_tick has something to do (UINT64_MAX: nothing). */
uint64_t kconn_next_deadline(const struct kconn *c);

/* ---------------------------------------------------------------------------------------- */
/* Producer sessions (session.c): persisted before their first send                           */

#define FSESS_MAX 8 /* sessions remembered to recognise our batches in Kafka's tail */
#define FSESS_FILE "forwarder.sessions"

/** One producer session: (producer id, epoch) and, per forwarded partition, the log offset
 * its sequence 0 names (-1: nothing sent to that partition in this session). */
struct fsession {
	int64_t pid;
	int16_t epoch;
	int64_t *base; /**< nparts entries */
};

struct fsessions {
	struct fsession s[FSESS_MAX]; /**< oldest first; s[n - 1] is the current one */
	uint32_t n;
	uint32_t nparts;
	const char *const *topics; /**< per partition index: local topic name */
	const uint32_t *partitions; /**< per partition index: partition number */
};

/** Set up an empty table for @p nparts partitions (names kept by reference). */
int fsess_init(struct fsessions *ss, uint32_t nparts, const char *const *topics,
	       const uint32_t *partitions);
void fsess_fini(struct fsessions *ss);
/** Read <dir>/forwarder.sessions. @return 1 loaded, 0 no file, -errno (logged by caller). A
 * malformed file is -EBADMSG: the caller must not guess sessions. */
int fsess_load(struct fsessions *ss, const char *dir);
/** Write it crash-safely (temp file, fsync, rename, fsync dir). @return 0 or -errno. */
int fsess_save(const struct fsessions *ss, const char *dir);
/** Start a new current session (all bases unset); the oldest is forgotten when full. */
void fsess_push(struct fsessions *ss, int64_t pid, int16_t epoch);
/** The session (index) that (pid, epoch) names, or -1. */
int fsess_find(const struct fsessions *ss, int64_t pid, int16_t epoch);

#endif /* SLUICE_FORWARD_INTERNAL_H */
