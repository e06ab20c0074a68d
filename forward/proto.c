/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Kafka protocol subset the forwarder speaks: request encoders and response parsers.
 * Pure functions over byte ranges. Responses come from the network and are untrusted:
 * every read is bounds-checked (struct kr), every array count is checked against the bytes
 * left before a loop runs over it, and nothing here allocates for what a response says.
 * tests/fuzz/forward/fuzz_kafka_response.c runs every parser on arbitrary bytes.
 *
 * Field layouts follow Kafka's JSON message definitions  (the JSON files in clients/src/main/resources/common/message/);
 * version-dependent fields are marked with the version that added them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"

const struct kapi_range kapi_supported[KAPI__MAX] = {
	[KAPI_PRODUCE] = {3, 8},           [KAPI_FETCH] = {4, 11},
	[KAPI_LIST_OFFSETS] = {1, 3},      [KAPI_METADATA] = {1, 8},
	[KAPI_FIND_COORDINATOR] = {1, 2},  [KAPI_SASL_HANDSHAKE] = {1, 1},
	[KAPI_API_VERSIONS] = {0, 0},      [KAPI_INIT_PRODUCER_ID] = {0, 4},
	[KAPI_SASL_AUTHENTICATE] = {0, 1},
};

bool kapi_flexible(int16_t api, int16_t ver)
{
	switch (api) {
	case KAPI_INIT_PRODUCER_ID:
		return ver >= 2;
	case KAPI_SASL_AUTHENTICATE:
		return ver >= 2;
	default:
		return false; /* the other ranges above stop below their flexible versions */
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Error codes                                                                                */

enum kerr_class kerr_classify(int16_t code)
{
	switch (code) {
	case KERR_NONE:
		return KERR_C_OK;
	case KERR_UNKNOWN_TOPIC_OR_PARTITION:
	case KERR_LEADER_NOT_AVAILABLE:
	case KERR_NOT_LEADER_OR_FOLLOWER:
	case KERR_BROKER_NOT_AVAILABLE:
	case KERR_REPLICA_NOT_AVAILABLE:
	case KERR_NOT_CONTROLLER:
	case KERR_FENCED_LEADER_EPOCH:
	case KERR_UNKNOWN_LEADER_EPOCH:
	case KERR_KAFKA_STORAGE_ERROR:
	case KERR_PREFERRED_LEADER_NOT_AVAILABLE:
		return KERR_C_METADATA;
	case KERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
	case KERR_DUPLICATE_SEQUENCE_NUMBER:
		return KERR_C_SEQUENCE;
	case KERR_UNKNOWN_PRODUCER_ID:
	case KERR_INVALID_PRODUCER_ID_MAPPING:
		return KERR_C_SESSION;
	case KERR_INVALID_PRODUCER_EPOCH:
	case KERR_PRODUCER_FENCED:
		return KERR_C_FENCED;
	case KERR_MESSAGE_TOO_LARGE:
	case KERR_RECORD_LIST_TOO_LARGE:
		return KERR_C_TOO_LARGE;
	case KERR_TOPIC_AUTHORIZATION_FAILED:
	case KERR_CLUSTER_AUTHORIZATION_FAILED:
	case KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
	case KERR_INVALID_TIMESTAMP:
	case KERR_INVALID_REQUIRED_ACKS:
	case KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
	case KERR_POLICY_VIOLATION:
	case KERR_INVALID_RECORD:
	case KERR_INVALID_TOPIC_EXCEPTION:
	case KERR_UNSUPPORTED_VERSION:
	case KERR_INVALID_TXN_STATE:
		return KERR_C_REFUSED;
	default:
		/* REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS(_AFTER_APPEND), NETWORK_EXCEPTION,
		 * CORRUPT_MESSAGE, CONCURRENT_TRANSACTIONS, THROTTLING_QUOTA_EXCEEDED and every
		 * code this version does not know: the same batch again, later. */
		return KERR_C_RETRY;
	}
}

const char *kerr_name(int16_t code, char *buf, size_t len)
{
	static const struct {
		int16_t code;
		const char *name;
	} names[] = {
		{KERR_UNKNOWN_SERVER_ERROR, "UNKNOWN_SERVER_ERROR"},
		{KERR_NONE, "NONE"},
		{KERR_OFFSET_OUT_OF_RANGE, "OFFSET_OUT_OF_RANGE"},
		{KERR_CORRUPT_MESSAGE, "CORRUPT_MESSAGE"},
		{KERR_UNKNOWN_TOPIC_OR_PARTITION, "UNKNOWN_TOPIC_OR_PARTITION"},
		{KERR_LEADER_NOT_AVAILABLE, "LEADER_NOT_AVAILABLE"},
		{KERR_NOT_LEADER_OR_FOLLOWER, "NOT_LEADER_OR_FOLLOWER"},
		{KERR_REQUEST_TIMED_OUT, "REQUEST_TIMED_OUT"},
		{KERR_BROKER_NOT_AVAILABLE, "BROKER_NOT_AVAILABLE"},
		{KERR_MESSAGE_TOO_LARGE, "MESSAGE_TOO_LARGE"},
		{KERR_NETWORK_EXCEPTION, "NETWORK_EXCEPTION"},
		{KERR_COORDINATOR_LOAD_IN_PROGRESS, "COORDINATOR_LOAD_IN_PROGRESS"},
		{KERR_COORDINATOR_NOT_AVAILABLE, "COORDINATOR_NOT_AVAILABLE"},
		{KERR_NOT_COORDINATOR, "NOT_COORDINATOR"},
		{KERR_RECORD_LIST_TOO_LARGE, "RECORD_LIST_TOO_LARGE"},
		{KERR_NOT_ENOUGH_REPLICAS, "NOT_ENOUGH_REPLICAS"},
		{KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, "NOT_ENOUGH_REPLICAS_AFTER_APPEND"},
		{KERR_TOPIC_AUTHORIZATION_FAILED, "TOPIC_AUTHORIZATION_FAILED"},
		{KERR_CLUSTER_AUTHORIZATION_FAILED, "CLUSTER_AUTHORIZATION_FAILED"},
		{KERR_INVALID_TIMESTAMP, "INVALID_TIMESTAMP"},
		{KERR_UNSUPPORTED_SASL_MECHANISM, "UNSUPPORTED_SASL_MECHANISM"},
		{KERR_ILLEGAL_SASL_STATE, "ILLEGAL_SASL_STATE"},
		{KERR_UNSUPPORTED_VERSION, "UNSUPPORTED_VERSION"},
		{KERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "OUT_OF_ORDER_SEQUENCE_NUMBER"},
		{KERR_DUPLICATE_SEQUENCE_NUMBER, "DUPLICATE_SEQUENCE_NUMBER"},
		{KERR_INVALID_PRODUCER_EPOCH, "INVALID_PRODUCER_EPOCH"},
		{KERR_INVALID_PRODUCER_ID_MAPPING, "INVALID_PRODUCER_ID_MAPPING"},
		{KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
		 "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"},
		{KERR_KAFKA_STORAGE_ERROR, "KAFKA_STORAGE_ERROR"},
		{KERR_SASL_AUTHENTICATION_FAILED, "SASL_AUTHENTICATION_FAILED"},
		{KERR_UNKNOWN_PRODUCER_ID, "UNKNOWN_PRODUCER_ID"},
		{KERR_FENCED_LEADER_EPOCH, "FENCED_LEADER_EPOCH"},
		{KERR_UNKNOWN_LEADER_EPOCH, "UNKNOWN_LEADER_EPOCH"},
		{KERR_POLICY_VIOLATION, "POLICY_VIOLATION"},
		{KERR_INVALID_RECORD, "INVALID_RECORD"},
		{KERR_PRODUCER_FENCED, "PRODUCER_FENCED"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == code)
			return names[i].name;
	snprintf(buf, len, "ERROR_%d", code);
	return buf;
}

/* ---------------------------------------------------------------------------------------- */
/* Writer                                                                                     */

void kw_reset(struct kw *w)
{
	w->len = 0;
	w->oom = false;
}

void kw_free(struct kw *w)
{
	free(w->p);
	*w = (struct kw){0};
}

static uint8_t *kw_room(struct kw *w, size_t n)
{
	if (w->oom)
		return NULL;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		uint8_t *p;

		while (cap < w->len + n)
			cap *= 2;
		p = realloc(w->p, cap);
		if (!p) {
			w->oom = true;
			return NULL;
		}
		w->p = p;
		w->cap = cap;
	}
	w->len += n;
	return w->p + w->len - n;
}

void kw_raw(struct kw *w, const void *p, size_t n)
{
	uint8_t *d = kw_room(w, n);

	if (d && n)
		memcpy(d, p, n);
}

void kw_i8(struct kw *w, int8_t v)
{
	uint8_t *d = kw_room(w, 1);

	if (d)
		d[0] = (uint8_t)v;
}

void kw_i16(struct kw *w, int16_t v)
{
	uint8_t *d = kw_room(w, 2);

	if (d) {
		d[0] = (uint8_t)((uint16_t)v >> 8);
		d[1] = (uint8_t)v;
	}
}

void kw_i32(struct kw *w, int32_t v)
{
	uint8_t *d = kw_room(w, 4);

	if (d)
		sluice_be32_put(d, (uint32_t)v);
}

void kw_i64(struct kw *w, int64_t v)
{
	uint8_t *d = kw_room(w, 8);

	if (d)
		sluice_be64_put(d, (uint64_t)v);
}

void kw_uvarint(struct kw *w, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	kw_raw(w, tmp, n);
}

void kw_strn(struct kw *w, const char *s, size_t n)
{
	if (!s) {
		kw_i16(w, -1);
		return;
	}
	if (n > INT16_MAX)
		n = INT16_MAX;
	kw_i16(w, (int16_t)n);
	kw_raw(w, s, n);
}

void kw_str(struct kw *w, const char *s)
{
	kw_strn(w, s, s ? strlen(s) : 0);
}

void kw_cstr(struct kw *w, const char *s)
{
	size_t n;

	if (!s) {
		kw_uvarint(w, 0);
		return;
	}
	n = strlen(s);
	kw_uvarint(w, n + 1);
	kw_raw(w, s, n);
}

void kw_bytes(struct kw *w, const void *p, int32_t n)
{
	kw_i32(w, p ? n : -1);
	if (p && n > 0)
		kw_raw(w, p, (size_t)n);
}

void kw_put_i32_at(struct kw *w, size_t at, int32_t v)
{
	if (!w->oom && at + 4 <= w->len)
		sluice_be32_put(w->p + at, (uint32_t)v);
}

size_t kreq_begin(struct kw *w, int16_t api, int16_t ver, int32_t corr, const char *client_id,
		  bool flexible)
{
	size_t at = w->len;

	kw_i32(w, 0); /* size, patched by kreq_finish */
	kw_i16(w, api);
	kw_i16(w, ver);
	kw_i32(w, corr);
	kw_str(w, client_id); /* a plain nullable string even in header v2 */
	if (flexible)
		kw_uvarint(w, 0); /* no tagged fields */
	return at;
}

void kreq_finish(struct kw *w, size_t at, size_t extra)
{
	kw_put_i32_at(w, at, (int32_t)(w->len - at - 4 + extra));
}

/* ---------------------------------------------------------------------------------------- */
/* Reader                                                                                     */

static const uint8_t *kr_take(struct kr *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->err || kr_left(r) < n) {
		r->err = true;
		return NULL;
	}
	r->p += n;
	return p;
}

int8_t kr_i8(struct kr *r)
{
	const uint8_t *p = kr_take(r, 1);

	return p ? (int8_t)p[0] : 0;
}

int16_t kr_i16(struct kr *r)
{
	const uint8_t *p = kr_take(r, 2);

	return p ? (int16_t)(uint16_t)((p[0] << 8) | p[1]) : 0;
}

int32_t kr_i32(struct kr *r)
{
	const uint8_t *p = kr_take(r, 4);

	return p ? (int32_t)sluice_be32_get(p) : 0;
}

int64_t kr_i64(struct kr *r)
{
	const uint8_t *p = kr_take(r, 8);

	return p ? (int64_t)sluice_be64_get(p) : 0;
}

uint64_t kr_uvarint(struct kr *r)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		const uint8_t *p = kr_take(r, 1);

		if (!p)
			return 0;
		v |= (uint64_t)(p[0] & 0x7f) << shift;
		if (!(p[0] & 0x80))
			return v;
	}
	r->err = true;
	return 0;
}

void kr_skip(struct kr *r, size_t n)
{
	kr_take(r, n);
}

void kr_str(struct kr *r, const char **s, int32_t *n)
{
	int16_t len = kr_i16(r);

	*s = NULL;
	*n = -1;
	if (r->err || len < 0) {
		if (len < -1)
			r->err = true;
		return;
	}
	*s = (const char *)kr_take(r, (size_t)len);
	*n = *s ? len : -1;
}

void kr_cstr(struct kr *r, const char **s, int32_t *n)
{
	uint64_t len = kr_uvarint(r);

	*s = NULL;
	*n = -1;
	if (r->err || len == 0)
		return;
	if (len - 1 > kr_left(r)) {
		r->err = true;
		return;
	}
	*s = (const char *)kr_take(r, (size_t)(len - 1));
	*n = (int32_t)(len - 1);
}

void kr_bytes(struct kr *r, const uint8_t **b, int32_t *n)
{
	int32_t len = kr_i32(r);

	*b = NULL;
	*n = -1;
	if (r->err || len < 0) {
		if (len < -1)
			r->err = true;
		return;
	}
	*b = kr_take(r, (size_t)len);
	*n = *b ? len : -1;
}

void kr_cbytes(struct kr *r, const uint8_t **b, int32_t *n)
{
	uint64_t len = kr_uvarint(r);

	*b = NULL;
	*n = -1;
	if (r->err || len == 0)
		return;
	if (len - 1 > kr_left(r)) {
		r->err = true;
		return;
	}
	*b = kr_take(r, (size_t)(len - 1));
	*n = (int32_t)(len - 1);
}

void kr_tags(struct kr *r)
{
	uint64_t n = kr_uvarint(r);

	if (n > kr_left(r)) {
		r->err = true;
		return;
	}
	for (uint64_t i = 0; i < n && !r->err; i++) {
		uint64_t size;

		(void)kr_uvarint(r); /* tag */
		size = kr_uvarint(r);
		if (size > kr_left(r))
			r->err = true;
		else
			kr_skip(r, (size_t)size);
	}
}

static int32_t check_count(struct kr *r, int64_t n, size_t min_elem)
{
	if (r->err)
		return 0;
	if (n < 0)
		return 0; /* null array */
	if (min_elem == 0)
		min_elem = 1;
	if ((uint64_t)n > kr_left(r) / min_elem) {
		r->err = true;
		return 0;
	}
	return (int32_t)n;
}

int32_t kr_array(struct kr *r, size_t min_elem)
{
	int32_t n = kr_i32(r);

	if (n < -1)
		r->err = true;
	return check_count(r, n, min_elem);
}

int32_t kr_carray(struct kr *r, size_t min_elem)
{
	uint64_t n = kr_uvarint(r);

	if (r->err || n == 0 || n - 1 > INT32_MAX)
		return check_count(r, n == 0 ? -1 : INT64_MAX, min_elem);
	return check_count(r, (int64_t)(n - 1), min_elem);
}

int kp_response_header(const uint8_t *frame, size_t len, int32_t want_corr, bool flexible,
		       const uint8_t **body, size_t *body_len)
{
	struct kr r;
	int32_t corr;

	kr_init(&r, frame, len);
	corr = kr_i32(&r);
	if (flexible)
		kr_tags(&r);
	if (r.err)
		return -EBADMSG;
	if (corr != want_corr)
		return -EPROTO;
	*body = r.p;
	*body_len = kr_left(&r);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* ApiVersions                                                                                */

int kp_api_versions_parse(const uint8_t *buf, size_t len, int16_t vmax[KAPI__MAX],
			  int16_t vmin[KAPI__MAX])
{
	struct kr r;
	int16_t err;
	int32_t n;

	for (int i = 0; i < KAPI__MAX; i++)
		vmax[i] = vmin[i] = -1;
	kr_init(&r, buf, len);
	err = kr_i16(&r);
	n = kr_array(&r, 6);
	for (int32_t i = 0; i < n && !r.err; i++) {
		int16_t key = kr_i16(&r), mn = kr_i16(&r), mx = kr_i16(&r);

		if (key >= 0 && key < KAPI__MAX && mn >= 0 && mx >= mn) {
			vmin[key] = mn;
			vmax[key] = mx;
		}
	}
	/* v1+ adds throttle_time_ms; v0 is what we ask for, extra bytes are not an error. */
	if (r.err)
		return -1;
	return err;
}

/* ---------------------------------------------------------------------------------------- */
/* Metadata                                                                                   */

void kp_metadata_req(struct kw *w, int16_t ver, const char *const *topics, uint32_t ntopics)
{
	kw_i32(w, (int32_t)ntopics);
	for (uint32_t i = 0; i < ntopics; i++)
		kw_str(w, topics[i]);
	if (ver >= 4)
		kw_i8(w, 0); /* allow_auto_topic_creation: the operator creates topics */
	if (ver >= 8) {
		kw_i8(w, 0); /* include_cluster_authorized_operations */
		kw_i8(w, 0); /* include_topic_authorized_operations */
	}
}

static void skip_i32_array(struct kr *r)
{
	int32_t n = kr_array(r, 4);

	kr_skip(r, (size_t)n * 4);
}

int kp_metadata_parse(const uint8_t *buf, size_t len, int16_t ver, const struct kp_metadata_cb *cb)
{
	struct kr r;
	int32_t n;

	kr_init(&r, buf, len);
	if (ver >= 3)
		(void)kr_i32(&r); /* throttle_time_ms */
	n = kr_array(&r, 10);
	for (int32_t i = 0; i < n && !r.err; i++) {
		int32_t id = kr_i32(&r), hlen, port, rlen;
		const char *host, *rack;

		kr_str(&r, &host, &hlen);
		port = kr_i32(&r);
		if (ver >= 1)
			kr_str(&r, &rack, &rlen);
		if (!r.err && cb->broker && host)
			cb->broker(cb->ctx, id, host, hlen, port);
	}
	if (ver >= 2) {
		const char *cid;
		int32_t clen;

		kr_str(&r, &cid, &clen); /* cluster_id */
	}
	if (ver >= 1)
		(void)kr_i32(&r); /* controller_id */
	n = kr_array(&r, 8);
	for (int32_t i = 0; i < n && !r.err; i++) {
		int16_t terr = kr_i16(&r);
		const char *name;
		int32_t nlen, np;

		kr_str(&r, &name, &nlen);
		if (ver >= 1)
			(void)kr_i8(&r); /* is_internal */
		np = kr_array(&r, 18);
		if (!r.err && cb->topic && name)
			cb->topic(cb->ctx, name, nlen, terr, np);
		for (int32_t j = 0; j < np && !r.err; j++) {
			int16_t perr = kr_i16(&r);
			int32_t index = kr_i32(&r), leader = kr_i32(&r);

			if (ver >= 7)
				(void)kr_i32(&r); /* leader_epoch */
			skip_i32_array(&r); /* replica_nodes */
			skip_i32_array(&r); /* isr_nodes */
			if (ver >= 5)
				skip_i32_array(&r); /* offline_replicas */
			if (!r.err && cb->partition && name)
				cb->partition(cb->ctx, name, nlen, index, perr, leader);
		}
		if (ver >= 8)
			(void)kr_i32(&r); /* topic_authorized_operations */
	}
	if (ver >= 8)
		(void)kr_i32(&r); /* cluster_authorized_operations */
	return r.err ? -EBADMSG : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* FindCoordinator, InitProducerId                                                            */

void kp_find_coordinator_req(struct kw *w, int16_t ver, const char *key, int8_t key_type)
{
	kw_str(w, key);
	if (ver >= 1)
		kw_i8(w, key_type);
}

int kp_find_coordinator_parse(const uint8_t *buf, size_t len, int16_t ver,
			      struct kp_coordinator *out)
{
	struct kr r;
	const char *s;
	int32_t n;

	memset(out, 0, sizeof(*out));
	kr_init(&r, buf, len);
	if (ver >= 1)
		(void)kr_i32(&r); /* throttle_time_ms */
	out->err = kr_i16(&r);
	if (ver >= 1)
		kr_str(&r, &s, &n); /* error_message */
	out->node_id = kr_i32(&r);
	kr_str(&r, &s, &n);
	if (s && n > 0 && (size_t)n < sizeof(out->host)) {
		memcpy(out->host, s, (size_t)n);
		out->host[n] = '\0';
	} else if (!r.err && out->err == 0) {
		r.err = true; /* a coordinator without a usable host name */
	}
	out->port = kr_i32(&r);
	return r.err ? -EBADMSG : 0;
}

void kp_init_producer_id_req(struct kw *w, int16_t ver, const char *transactional_id,
			     int32_t txn_timeout_ms, int64_t pid, int16_t epoch)
{
	if (ver >= 2)
		kw_cstr(w, transactional_id);
	else
		kw_str(w, transactional_id);
	kw_i32(w, txn_timeout_ms);
	if (ver >= 3) {
		kw_i64(w, pid);
		kw_i16(w, epoch);
	}
	if (ver >= 2)
		kw_uvarint(w, 0);
}

int kp_init_producer_id_parse(const uint8_t *buf, size_t len, int16_t ver, int16_t *err,
			      int64_t *pid, int16_t *epoch)
{
	struct kr r;

	kr_init(&r, buf, len);
	(void)kr_i32(&r); /* throttle_time_ms */
	*err = kr_i16(&r);
	*pid = kr_i64(&r);
	*epoch = kr_i16(&r);
	if (ver >= 2)
		kr_tags(&r);
	return r.err ? -EBADMSG : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* ListOffsets, Fetch                                                                         */

void kp_list_offsets_req(struct kw *w, int16_t ver, const char *topic, int32_t partition,
			 int64_t ts)
{
	kw_i32(w, -1); /* replica_id: a client */
	if (ver >= 2)
		kw_i8(w, 0); /* isolation_level: read_uncommitted (we write no transactions) */
	kw_i32(w, 1);
	kw_str(w, topic);
	kw_i32(w, 1);
	kw_i32(w, partition);
	kw_i64(w, ts);
}

int kp_list_offsets_parse(const uint8_t *buf, size_t len, int16_t ver, int16_t *err,
			  int64_t *offset)
{
	struct kr r;
	int32_t nt;
	bool found = false;

	*err = KERR_UNKNOWN_SERVER_ERROR;
	*offset = -1;
	kr_init(&r, buf, len);
	if (ver >= 2)
		(void)kr_i32(&r);
	nt = kr_array(&r, 6);
	for (int32_t i = 0; i < nt && !r.err; i++) {
		const char *name;
		int32_t nlen, np;

		kr_str(&r, &name, &nlen);
		np = kr_array(&r, 22);
		for (int32_t j = 0; j < np && !r.err; j++) {
			int16_t e;
			int64_t off;

			(void)kr_i32(&r); /* partition */
			e = kr_i16(&r);
			(void)kr_i64(&r); /* timestamp */
			off = kr_i64(&r);
			if (!r.err && !found) {
				*err = e;
				*offset = off;
				found = true;
			}
		}
	}
	return r.err || !found ? -EBADMSG : 0;
}

void kp_fetch_req(struct kw *w, int16_t ver, const char *topic, int32_t partition, int64_t offset,
		  int32_t max_bytes)
{
	kw_i32(w, -1); /* replica_id */
	kw_i32(w, 0); /* max_wait_ms: the resume wants what is there now */
	kw_i32(w, 0); /* min_bytes */
	kw_i32(w, max_bytes);
	kw_i8(w, 0); /* isolation_level */
	if (ver >= 7) {
		kw_i32(w, 0); /* session_id: no fetch session */
		kw_i32(w, -1); /* session_epoch: full fetch, no session */
	}
	kw_i32(w, 1);
	kw_str(w, topic);
	kw_i32(w, 1);
	kw_i32(w, partition);
	if (ver >= 9)
		kw_i32(w, -1); /* current_leader_epoch */
	kw_i64(w, offset);
	if (ver >= 5)
		kw_i64(w, -1); /* log_start_offset (followers only) */
	kw_i32(w, max_bytes);
	if (ver >= 7)
		kw_i32(w, 0); /* forgotten_topics_data */
	if (ver >= 11)
		kw_str(w, ""); /* rack_id */
}

int kp_fetch_parse(const uint8_t *buf, size_t len, int16_t ver, struct kp_fetch_part *out)
{
	struct kr r;
	int32_t nt;
	bool found = false;

	memset(out, 0, sizeof(*out));
	out->err = KERR_UNKNOWN_SERVER_ERROR;
	out->log_start_offset = -1;
	out->high_watermark = -1;
	kr_init(&r, buf, len);
	(void)kr_i32(&r); /* throttle_time_ms */
	if (ver >= 7) {
		int16_t top = kr_i16(&r);

		(void)kr_i32(&r); /* session_id */
		if (top != 0 && !r.err) {
			out->err = top;
			found = true;
		}
	}
	nt = kr_array(&r, 6);
	for (int32_t i = 0; i < nt && !r.err; i++) {
		const char *name;
		int32_t nlen, np;

		kr_str(&r, &name, &nlen);
		np = kr_array(&r, 30);
		for (int32_t j = 0; j < np && !r.err; j++) {
			struct kp_fetch_part p = {.log_start_offset = -1};
			int32_t na;

			(void)kr_i32(&r); /* partition_index */
			p.err = kr_i16(&r);
			p.high_watermark = kr_i64(&r);
			(void)kr_i64(&r); /* last_stable_offset */
			if (ver >= 5)
				p.log_start_offset = kr_i64(&r);
			na = kr_array(&r, 16); /* aborted_transactions */
			kr_skip(&r, (size_t)na * 16);
			if (ver >= 11)
				(void)kr_i32(&r); /* preferred_read_replica */
			kr_bytes(&r, &p.records, &p.records_len);
			if (!r.err && !found) {
				*out = p;
				found = true;
			}
		}
	}
	return r.err || !found ? -EBADMSG : 0;
}

int kp_batches_walk(const uint8_t *records, size_t len,
		    void (*fn)(void *ctx, const struct kp_batch_info *b), void *ctx)
{
	size_t pos = 0;
	int n = 0;

	while (len - pos >= SLUICE_RB_LOG_OVERHEAD) {
		const uint8_t *b = records + pos;
		int32_t blen = (int32_t)sluice_be32_get(b + 8);
		size_t total;

		if (blen < 0 || (size_t)blen < 5) /* leader epoch + magic at least */
			return -EBADMSG;
		total = (size_t)blen + SLUICE_RB_LOG_OVERHEAD;
		if (total > len - pos)
			break; /* a partial batch at the end of a response */
		if (b[16] == SLUICE_RB_MAGIC && total >= SLUICE_RB_HEADER_BYTES) {
			struct kp_batch_info bi = {
				.base_offset = (int64_t)sluice_be64_get(b),
				.attributes = (int16_t)(uint16_t)((b[21] << 8) | b[22]),
				.last_offset_delta = (int32_t)sluice_be32_get(b + 23),
				.producer_id = (int64_t)sluice_be64_get(b + 43),
				.producer_epoch = (int16_t)(uint16_t)((b[51] << 8) | b[52]),
				.base_sequence = (int32_t)sluice_be32_get(b + 53),
				.record_count = (int32_t)sluice_be32_get(b + 57),
			};

			fn(ctx, &bi);
			n++;
		}
		pos += total;
	}
	return n;
}

/* ---------------------------------------------------------------------------------------- */
/* SASL                                                                                       */

void kp_sasl_handshake_req(struct kw *w, const char *mechanism)
{
	kw_str(w, mechanism);
}

int kp_sasl_handshake_parse(const uint8_t *buf, size_t len, int16_t *err)
{
	struct kr r;
	int32_t n;

	kr_init(&r, buf, len);
	*err = kr_i16(&r);
	n = kr_array(&r, 2);
	for (int32_t i = 0; i < n && !r.err; i++) {
		const char *s;
		int32_t sl;

		kr_str(&r, &s, &sl);
	}
	return r.err ? -EBADMSG : 0;
}

void kp_sasl_authenticate_req(struct kw *w, const void *auth, size_t len)
{
	kw_bytes(w, auth, (int32_t)len);
}

int kp_sasl_authenticate_parse(const uint8_t *buf, size_t len, int16_t ver, int16_t *err,
			       const char **msg, int32_t *msg_len, const uint8_t **auth,
			       int32_t *auth_len)
{
	struct kr r;

	kr_init(&r, buf, len);
	*err = kr_i16(&r);
	kr_str(&r, msg, msg_len);
	kr_bytes(&r, auth, auth_len);
	if (ver >= 1)
		(void)kr_i64(&r); /* session_lifetime_ms */
	return r.err ? -EBADMSG : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Produce                                                                                    */

int kp_produce_req(struct kw *w, size_t size_at, int16_t ver, const char *transactional_id,
		   int16_t acks, int32_t timeout_ms, const struct kp_produce_topic *topics,
		   uint32_t ntopics, struct iovec *iov)
{
	size_t need = 2 + (transactional_id ? strlen(transactional_id) : 0) + 2 + 4 + 4;
	size_t extra = 0, piece;
	int niov = 0;

	(void)ver;
	/* Reserve the whole framing first: the iovecs point into w->p, which must not move. */
	for (uint32_t t = 0; t < ntopics; t++)
		need += 2 + strlen(topics[t].name) + 4 + (size_t)topics[t].nparts * 8;
	if (!kw_room(w, need))
		return -ENOMEM;
	w->len -= need;
	piece = size_at;
	kw_str(w, transactional_id);
	kw_i16(w, acks);
	kw_i32(w, timeout_ms);
	kw_i32(w, (int32_t)ntopics);
	for (uint32_t t = 0; t < ntopics; t++) {
		kw_str(w, topics[t].name);
		kw_i32(w, (int32_t)topics[t].nparts);
		for (uint32_t i = 0; i < topics[t].nparts; i++) {
			const struct kp_produce_part *p = &topics[t].parts[i];

			kw_i32(w, p->partition);
			kw_i32(w, p->records_len);
			iov[niov].iov_base = w->p + piece;
			iov[niov].iov_len = w->len - piece;
			niov++;
			iov[niov].iov_base = (void *)(uintptr_t)p->records;
			iov[niov].iov_len = (size_t)p->records_len;
			niov++;
			piece = w->len;
			extra += (size_t)p->records_len;
		}
	}
	if (w->oom)
		return -ENOMEM;
	kreq_finish(w, size_at, extra);
	if (w->len > piece) {
		iov[niov].iov_base = w->p + piece;
		iov[niov].iov_len = w->len - piece;
		niov++;
	}
	return niov;
}

int kp_produce_parse(const uint8_t *buf, size_t len, int16_t ver,
		     void (*fn)(void *ctx, const struct kp_produce_result *r), void *ctx)
{
	struct kr r;
	int32_t nt;

	kr_init(&r, buf, len);
	nt = kr_array(&r, 6);
	for (int32_t i = 0; i < nt && !r.err; i++) {
		struct kp_produce_result res;
		int32_t np;

		kr_str(&r, &res.topic, &res.topic_len);
		np = kr_array(&r, 14);
		for (int32_t j = 0; j < np && !r.err; j++) {
			res.partition = kr_i32(&r);
			res.err = kr_i16(&r);
			res.base_offset = kr_i64(&r);
			(void)kr_i64(&r); /* log_append_time_ms (v2+) */
			res.log_start_offset = ver >= 5 ? kr_i64(&r) : -1;
			if (ver >= 8) {
				int32_t ne = kr_array(&r, 6);
				const char *s;
				int32_t sl;

				for (int32_t k = 0; k < ne && !r.err; k++) {
					(void)kr_i32(&r);
					kr_str(&r, &s, &sl);
				}
				kr_str(&r, &s, &sl); /* error_message */
			}
			if (!r.err && res.topic)
				fn(ctx, &res);
		}
	}
	(void)kr_i32(&r); /* throttle_time_ms */
	return r.err ? -EBADMSG : 0;
}
