/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for dataplane/ctx.c: the three formats, listener lookup, ARP/ICMP/ND replies and
 * their rate limit, producer sequence tracking bound to the source, per-source rate limits,
 * the sequence lock other threads read counters and producers through, and the accounting
 * identities after every scenario.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "dataplane_internal.h"
#include "dp_craft.h"
#include "sluice_dataplane.h"

#define MAXEV 256

struct cap_event {
	int32_t partition;
	char topic[64];
	char key[64];
	int32_t key_len;
	char value[2048];
	int32_t value_len;
	uint32_t headers;
	int64_t ts;
};

struct cap {
	struct cap_event ev[MAXEV];
	unsigned nev;
	uint8_t batch[4096];
	size_t batch_len;
	uint32_t batch_partition;
	uint32_t batch_records;
	unsigned nbatches;
	uint8_t reply[2048];
	size_t reply_len;
	unsigned nreplies;
	int shed_next; /* return this from the next event/batch call */
	/* acknowledged mode: tags handed out, and what "storage" reports (use_state) */
	struct sluice_dp_ctx *ctx;
	uint32_t tag;
	bool use_state;
	uint32_t durable_tag, refused;
};

static int cap_event(void *arg, const struct sluice_listener *l, int32_t partition,
		     const struct sluice_rb_record *rec)
{
	struct cap *c = arg;
	if (c->shed_next) {
		int r = c->shed_next;
		c->shed_next = 0;
		return r;
	}
	assert_true(c->nev < MAXEV);
	struct cap_event *e = &c->ev[c->nev++];
	memset(e, 0, sizeof(*e));
	e->partition = partition;
	snprintf(e->topic, sizeof(e->topic), "%s", l->topic);
	e->key_len = rec->key_len;
	if (rec->key_len > 0)
		memcpy(e->key, rec->key, (size_t)rec->key_len);
	e->value_len = rec->value_len;
	if (rec->value_len > 0)
		memcpy(e->value, rec->value, (size_t)rec->value_len);
	e->headers = rec->header_count;
	e->ts = rec->timestamp;
	return 0;
}

static int cap_batch(void *arg, const struct sluice_listener *l, uint32_t partition,
		     const uint8_t *batch, size_t len, uint32_t records)
{
	struct cap *c = arg;
	(void)l;
	if (c->shed_next) {
		int r = c->shed_next;
		c->shed_next = 0;
		return r;
	}
	assert_true(len <= sizeof(c->batch));
	memcpy(c->batch, batch, len);
	c->batch_len = len;
	c->batch_partition = partition;
	c->batch_records = records;
	c->nbatches++;
	if (c->ctx && sluice_dp_ctx_ack_wanted(c->ctx))
		sluice_dp_ctx_set_ack_tag(c->ctx, ++c->tag);
	return 0;
}

static void cap_ack_state(void *arg, uint32_t pid, uint32_t *durable, uint32_t *refused)
{
	struct cap *c = arg;
	(void)pid;
	*durable = c->use_state ? c->durable_tag : c->tag;
	*refused = c->refused;
}

static int cap_reply(void *arg, uint32_t port_idx, const uint8_t *frame, size_t len)
{
	struct cap *c = arg;
	(void)port_idx;
	memcpy(c->reply, frame, len);
	c->reply_len = len;
	c->nreplies++;
	return 0;
}

static const uint8_t our_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t our_ip[4] = {192, 0, 2, 1};
static const uint8_t peer_ip[4] = {192, 0, 2, 99};
static const uint8_t our_ip6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
static const uint8_t peer_ip6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x63};

enum {
	L_KAFKA = 0,
	L_LINES,
	L_RAW,
	L_LINES_KEYED,
	L_V4_ONLY,
	L_LINES_LIMITED,
	L_KAFKA_LIMITED,
	NLISTENERS
};

struct fixture {
	struct sluice_dp_ctx *ctx;
	struct cap cap;
	struct sluice_dp_sink sink;
};

static void listeners_init(struct sluice_listener *ls)
{
	memset(ls, 0, sizeof(*ls) * NLISTENERS);
	ls[L_KAFKA] = (struct sluice_listener){.udp_port = 9092,
					       .format = SLUICE_FORMAT_KAFKA,
					       .first_partition_id = 0,
					       .partitions = 4,
					       .max_event_bytes = 1000};
	ls[L_LINES] = (struct sluice_listener){.udp_port = 5140,
					       .format = SLUICE_FORMAT_LINES,
					       .first_partition_id = 4,
					       .partitions = 2,
					       .max_event_bytes = 16};
	ls[L_RAW] = (struct sluice_listener){.udp_port = 7000,
					     .format = SLUICE_FORMAT_RAW,
					     .first_partition_id = 6,
					     .partitions = 1,
					     .max_event_bytes = 32};
	ls[L_LINES_KEYED] = (struct sluice_listener){.udp_port = 5141,
						     .format = SLUICE_FORMAT_LINES,
						     .key_mode = SLUICE_KEY_SOURCE_ADDR,
						     .first_partition_id = 7,
						     .partitions = 8,
						     .max_event_bytes = 100};
	ls[L_V4_ONLY] = (struct sluice_listener){.family = SLUICE_ADDR_V4,
						 .udp_port = 6000,
						 .format = SLUICE_FORMAT_RAW,
						 .first_partition_id = 6,
						 .partitions = 1};
	memcpy(ls[L_V4_ONLY].addr, (uint8_t[]){239, 1, 1, 1}, 4);
	/* 10 events/s per source, 5 at once. */
	ls[L_LINES_LIMITED] = (struct sluice_listener){.udp_port = 5150,
						       .format = SLUICE_FORMAT_LINES,
						       .first_partition_id = 4,
						       .partitions = 2,
						       .max_event_bytes = 16,
						       .rate_limit = 10,
						       .rate_limit_burst = 5};
	ls[L_KAFKA_LIMITED] = (struct sluice_listener){.udp_port = 9093,
						       .format = SLUICE_FORMAT_KAFKA,
						       .first_partition_id = 0,
						       .partitions = 4,
						       .max_event_bytes = 1000,
						       .rate_limit = 10,
						       .rate_limit_burst = 5};
	snprintf(ls[L_KAFKA].topic, sizeof(ls[0].topic), "events");
	snprintf(ls[L_LINES].topic, sizeof(ls[0].topic), "logs");
	snprintf(ls[L_RAW].topic, sizeof(ls[0].topic), "raw");
	snprintf(ls[L_LINES_KEYED].topic, sizeof(ls[0].topic), "keyed");
	snprintf(ls[L_V4_ONLY].topic, sizeof(ls[0].topic), "mcast");
	snprintf(ls[L_LINES_LIMITED].topic, sizeof(ls[0].topic), "logs");
	snprintf(ls[L_KAFKA_LIMITED].topic, sizeof(ls[0].topic), "events");
}

/* Options beyond ports and listeners come from @p extra. */
static int fixture_setup_opts(void **state, const struct sluice_dp_ctx_opts *extra)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sluice_dp_port port = {.answer_nd = true, .has_ipv6 = true};
	memcpy(port.mac, our_mac, 6);
	memcpy(port.ipv4, our_ip, 4);
	memcpy(port.ipv6, our_ip6, 16);
	struct sluice_listener ls[NLISTENERS];
	listeners_init(ls);
	struct sluice_dp_ctx_opts o = *extra;
	o.ports = &port;
	o.nports = 1;
	o.listeners = ls;
	o.nlisteners = NLISTENERS;
	assert_int_equal(sluice_dp_ctx_create(&o, &f->ctx), 0);
	f->sink = (struct sluice_dp_sink){.arg = &f->cap,
					  .event = cap_event,
					  .batch = cap_batch,
					  .reply = cap_reply,
					  .ack_state = cap_ack_state};
	f->cap.ctx = f->ctx;
	*state = f;
	return 0;
}

static int fixture_setup_window(void **state, uint32_t table, uint32_t window)
{
	struct sluice_dp_ctx_opts o = {.producer_table_size = table, .reorder_window = window};
	return fixture_setup_opts(state, &o);
}

static int setup(void **state)
{
	return fixture_setup_window(state, 0, 64);
}

static int setup_small(void **state)
{
	return fixture_setup_window(state, 16, 0);
}

/* The identities of sluice_dataplane.h; the test sink never leaves events open. */
static void check_identities(const struct sluice_worker_stats *s, uint64_t accepted_by_sink)
{
	uint64_t pkt = 0, dgram = 0, ev = 0, shed = 0;
	for (int r = 1; r < SLUICE_DP_REJECT__COUNT; r++) {
		if (r < SLUICE_DP_REJECT__FIRST_DATAGRAM)
			pkt += s->rejects[r];
		else if (r < SLUICE_DP_REJECT__FIRST_EVENT)
			dgram += s->rejects[r];
		else
			ev += s->rejects[r];
	}
	for (int r = 0; r < SLUICE_DP_SHED__COUNT; r++)
		shed += s->shed[r];
	assert_int_equal(s->rx_packets, s->ctrl_packets + s->datagrams + pkt);
	assert_int_equal(s->datagrams, s->datagrams_accepted + dgram);
	assert_int_equal(s->events_decoded, s->events_parsed + ev);
	assert_int_equal(s->events_parsed, accepted_by_sink + shed);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sluice_dp_ctx_destroy(f->ctx);
	free(f);
	return 0;
}

static struct craft_opts to_us(uint16_t port)
{
	struct craft_opts o = {.family = 4, .sport = 33333, .dport = port};
	memcpy(o.dst_mac, our_mac, 6);
	memcpy(o.src_mac, peer_mac, 6);
	memcpy(o.src, peer_ip, 4);
	memcpy(o.dst, our_ip, 4);
	return o;
}

static unsigned send_udp(struct fixture *f, const struct craft_opts *o, const void *p, size_t n)
{
	static uint8_t frame[4096];
	size_t len = craft_udp(frame, o, p, n);
	return sluice_dp_ctx_packet(f->ctx, 0, frame, len, 0, 1234, &f->sink);
}

static unsigned send_str(struct fixture *f, uint16_t port, const char *s)
{
	struct craft_opts o = to_us(port);
	return send_udp(f, &o, s, strlen(s));
}

static struct sluice_worker_stats stats(struct fixture *f)
{
	struct sluice_worker_stats s;
	sluice_dp_ctx_stats(f->ctx, &s);
	return s;
}

static void test_raw(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(send_str(f, 7000, "one whole event"), 1);
	assert_int_equal(f->cap.nev, 1);
	assert_string_equal(f->cap.ev[0].value, "one whole event");
	assert_int_equal(f->cap.ev[0].key_len, -1);
	assert_int_equal(f->cap.ev[0].partition, -1);
	assert_int_equal(f->cap.ev[0].ts, 1234);
	assert_int_equal(send_str(f, 7000, "this raw event is longer than 32 bytes"), 0);
	assert_int_equal(send_str(f, 7000, ""), 0);
	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_EVENT_TOO_LARGE], 1);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_EMPTY_PAYLOAD], 1);
	assert_int_equal(s.datagrams, 3);
	check_identities(&s, f->cap.nev);
}

static void test_lines(void **state)
{
	struct fixture *f = *state;
	const char *p = "alpha\nbeta\r\n\n\r\nthis line is far too long\ngamma\n";
	assert_int_equal(send_str(f, 5140, p), 3);
	assert_int_equal(f->cap.nev, 3);
	assert_string_equal(f->cap.ev[0].value, "alpha");
	assert_string_equal(f->cap.ev[1].value, "beta");
	assert_string_equal(f->cap.ev[2].value, "gamma");
	assert_string_equal(f->cap.ev[1].topic, "logs");
	assert_int_equal(send_str(f, 5140, "no newline at end"), 0); /* 17 > 16 */
	assert_int_equal(send_str(f, 5140, "last"), 1);
	assert_string_equal(f->cap.ev[3].value, "last");
	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_EMPTY_LINE], 2);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_EVENT_TOO_LARGE], 2);
	assert_int_equal(s.events_decoded, 8);
	assert_int_equal(s.events_parsed, 4);
	check_identities(&s, f->cap.nev);
}

static void test_lines_keyed(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(send_str(f, 5141, "a\nb"), 2);
	const char *key = "192.0.2.99";
	assert_int_equal(f->cap.ev[0].key_len, (int)strlen(key));
	assert_string_equal(f->cap.ev[0].key, key);
	int32_t p = (int32_t)sluice_partition_for_key(key, strlen(key), 8);
	assert_int_equal(f->cap.ev[0].partition, p);
	assert_int_equal(f->cap.ev[1].partition, p);
	/* IPv6 source: the key is the textual address. */
	struct craft_opts o = to_us(5141);
	o.family = 6;
	memcpy(o.src, peer_ip6, 16);
	memcpy(o.dst, our_ip6, 16);
	assert_int_equal(send_udp(f, &o, "c", 1), 1);
	assert_string_equal(f->cap.ev[2].key, "2001:db8::63");
	check_identities((struct sluice_worker_stats[]){stats(f)}, f->cap.nev);
}

static void test_lookup(void **state)
{
	struct fixture *f = *state;
	struct craft_opts o = to_us(7000);
	o.dst[3] = 77; /* not our address */
	assert_int_equal(send_udp(f, &o, "x", 1), 0);
	o = to_us(7001);
	assert_int_equal(send_udp(f, &o, "x", 1), 0);
	o = to_us(7000);
	o.dst_mac[5] = 0x77; /* unicast MAC not ours */
	assert_int_equal(send_udp(f, &o, "x", 1), 0);
	o.dst_mac[0] = 0xff; /* broadcast is fine */
	memset(o.dst_mac, 0xff, 6);
	assert_int_equal(send_udp(f, &o, "x", 1), 1);
	/* A listener on a specific (multicast) address. */
	o = to_us(6000);
	memcpy(o.dst, (uint8_t[]){239, 1, 1, 1}, 4);
	assert_int_equal(send_udp(f, &o, "m", 1), 1);
	assert_string_equal(f->cap.ev[1].topic, "mcast");
	o = to_us(6000); /* our unicast address, but the listener wants the group */
	assert_int_equal(send_udp(f, &o, "m", 1), 0);
	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_IP_DST], 1);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_NO_LISTENER], 2);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_ETH_DST], 1);
	check_identities(&s, f->cap.nev);
}

/* Two ports, one UDP port: each listener hears only its own port; listeners that share a
 * port may not share an address and UDP port. */
static void test_listener_ports(void **state)
{
	struct sluice_dp_port ports[2] = {{.answer_nd = false}, {.answer_nd = false}};
	struct sluice_listener ls[2] = {
		{.udp_port = 5000, .format = SLUICE_FORMAT_RAW, .partitions = 1, .port_mask = 1},
		{.udp_port = 5000,
		 .format = SLUICE_FORMAT_RAW,
		 .first_partition_id = 1,
		 .partitions = 1,
		 .port_mask = 2},
	};
	struct sluice_dp_ctx_opts o = {
		.ports = ports, .nports = 2, .listeners = ls, .nlisteners = 2};
	struct fixture f = {0};
	struct sluice_worker_stats st;
	static uint8_t frame[4096];
	struct craft_opts co = to_us(5000);
	size_t len;
	char why[160];

	(void)state;
	for (int i = 0; i < 2; i++) {
		memcpy(ports[i].mac, our_mac, 6);
		memcpy(ports[i].ipv4, our_ip, 4);
	}
	snprintf(ls[0].topic, sizeof(ls[0].topic), "a");
	snprintf(ls[1].topic, sizeof(ls[1].topic), "b");
	assert_int_equal(sluice_dp_ctx_create(&o, &f.ctx), 0);
	f.sink = (struct sluice_dp_sink){
		.arg = &f.cap, .event = cap_event, .batch = cap_batch, .reply = cap_reply};
	len = craft_udp(frame, &co, "x", 1);
	assert_int_equal(sluice_dp_ctx_packet(f.ctx, 1, frame, len, 0, 1, &f.sink), 1);
	assert_int_equal(sluice_dp_ctx_packet(f.ctx, 0, frame, len, 0, 1, &f.sink), 1);
	assert_int_equal(f.cap.nev, 2);
	assert_string_equal(f.cap.ev[0].topic, "b");
	assert_string_equal(f.cap.ev[1].topic, "a");
	sluice_dp_ctx_destroy(f.ctx);

	/* Bound to port 0 only: the same datagram on port 1 has no listener. */
	o.nlisteners = 1;
	memset(&f, 0, sizeof(f));
	assert_int_equal(sluice_dp_ctx_create(&o, &f.ctx), 0);
	f.sink = (struct sluice_dp_sink){
		.arg = &f.cap, .event = cap_event, .batch = cap_batch, .reply = cap_reply};
	assert_int_equal(sluice_dp_ctx_packet(f.ctx, 1, frame, len, 0, 1, &f.sink), 0);
	sluice_dp_ctx_stats(f.ctx, &st);
	assert_int_equal(st.rejects[SLUICE_DP_REJECT_NO_LISTENER], 1);
	sluice_dp_ctx_destroy(f.ctx);

	/* Sharing a port (or listening on every port): the same address and UDP port twice. */
	o.nlisteners = 2;
	ls[1].port_mask = 3;
	assert_int_equal(sluice_dp_ctx_opts_check(&o, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "same address and port 5000"));
	ls[1].port_mask = 0;
	assert_int_equal(sluice_dp_ctx_opts_check(&o, why, sizeof(why)), -EINVAL);
	/* A port that is not there. */
	ls[1].port_mask = 4;
	assert_int_equal(sluice_dp_ctx_opts_check(&o, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "beyond 2 ports"));
}

static size_t kafka_payload(uint8_t *buf, int32_t partition, int n, bool keyed, int64_t pid,
			    int16_t epoch, int32_t seq)
{
	size_t len = craft_kafka(buf, 4096, partition, n, keyed, pid, epoch, seq);
	assert_true(len > 0);
	return len;
}

static void test_kafka_explicit(void **state)
{
	struct fixture *f = *state;
	uint8_t p[4096];
	size_t n = kafka_payload(p, 2, 5, true, -1, 0, -1);
	assert_int_equal(send_udp(f, (struct craft_opts[]){to_us(9092)}, p, n), 5);
	assert_int_equal(f->cap.nbatches, 1);
	assert_int_equal(f->cap.batch_partition, 2);
	assert_int_equal(f->cap.batch_records, 5);
	/* Stored exactly as received. */
	assert_int_equal(f->cap.batch_len, n - SLUICE_ENVELOPE_BYTES);
	assert_memory_equal(f->cap.batch, p + SLUICE_ENVELOPE_BYTES, f->cap.batch_len);
	uint64_t ok = 5;

	/* Partition out of range. */
	n = kafka_payload(p, 4, 1, false, -1, 0, -1);
	assert_int_equal(send_udp(f, (struct craft_opts[]){to_us(9092)}, p, n), 0);
	/* Bad envelope magic. */
	n = kafka_payload(p, 0, 1, false, -1, 0, -1);
	p[0] ^= 0xff;
	assert_int_equal(send_udp(f, (struct craft_opts[]){to_us(9092)}, p, n), 0);
	/* Short envelope. */
	assert_int_equal(send_udp(f, (struct craft_opts[]){to_us(9092)}, p, 5), 0);
	/* Corrupted record byte: CRC. */
	n = kafka_payload(p, 0, 3, false, -1, 0, -1);
	p[n - 2] ^= 0x01;
	assert_int_equal(send_udp(f, (struct craft_opts[]){to_us(9092)}, p, n), 0);
	/* Trailing garbage after a valid batch. */
	n = kafka_payload(p, 0, 3, false, -1, 0, -1);
	memcpy(p + n, "junk", 4);
	assert_int_equal(send_udp(f, (struct craft_opts[]){to_us(9092)}, p, n + 4), 0);
	/* Truncated batch. */
	n = kafka_payload(p, 0, 3, false, -1, 0, -1);
	assert_int_equal(send_udp(f, (struct craft_opts[]){to_us(9092)}, p, n - 3), 0);
	/* Transactional batch: rebuild with the attribute and a fresh CRC. */
	n = kafka_payload(p, 0, 1, false, -1, 0, -1);
	uint8_t *b = p + SLUICE_ENVELOPE_BYTES;
	b[22] |= SLUICE_RB_ATTR_TRANSACTIONAL;
	sluice_be32_put(b + 17, sluice_crc32c(0, b + 21, n - SLUICE_ENVELOPE_BYTES - 21));
	assert_int_equal(send_udp(f, (struct craft_opts[]){to_us(9092)}, p, n), 0);

	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_KAFKA_PARTITION], 1);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_KAFKA_ENVELOPE], 2);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_KAFKA_BATCH], 2);
	assert_int_equal(s.batch_errors[SLUICE_RB_ECRC], 1);
	assert_int_equal(s.batch_errors[SLUICE_RB_ETRUNCATED], 1);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_KAFKA_TRAILING], 1);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_KAFKA_ATTRIBUTES], 1);
	assert_int_equal(s.datagrams_accepted, 1);
	check_identities(&s, ok);
}

static void test_kafka_repartition(void **state)
{
	struct fixture *f = *state;
	uint8_t p[4096];
	size_t n = kafka_payload(p, -1, 20, true, -1, 0, -1);
	assert_int_equal(send_udp(f, (struct craft_opts[]){to_us(9092)}, p, n), 20);
	assert_int_equal(f->cap.nev, 20);
	for (int i = 0; i < 20; i++) {
		char key[16], val[32];
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(val, sizeof(val), "value-%d", i);
		assert_string_equal(f->cap.ev[i].key, key);
		assert_string_equal(f->cap.ev[i].value, val);
		assert_int_equal(f->cap.ev[i].ts, 1700000000000 + i);
		assert_int_equal(f->cap.ev[i].partition,
				 (int32_t)sluice_partition_for_key(key, strlen(key), 4));
	}
	n = kafka_payload(p, -1, 3, false, -1, 0, -1);
	assert_int_equal(send_udp(f, (struct craft_opts[]){to_us(9092)}, p, n), 3);
	assert_int_equal(f->cap.ev[21].partition, -1);
	assert_int_equal(f->cap.ev[21].key_len, -1);
	check_identities((struct sluice_worker_stats[]){stats(f)}, f->cap.nev);
}

static void test_kafka_headers(void **state)
{
	struct fixture *f = *state;
	uint8_t p[4096];
	struct sluice_rb_builder b;
	struct sluice_rb_batch_meta meta = {.producer_id = -1, .base_sequence = -1};
	struct sluice_rb_kv hdrs[40];
	for (int i = 0; i < 40; i++)
		hdrs[i] = (struct sluice_rb_kv){.key = (const uint8_t *)"h",
						.key_len = 1,
						.value = (const uint8_t *)"v",
						.value_len = 1};
	sluice_envelope_encode(p, -1);
	assert_int_equal(sluice_rb_builder_init(&b, p + 8, sizeof(p) - 8, &meta), 0);
	struct sluice_rb_record r = {.timestamp = 5,
				     .key_len = -1,
				     .value = (const uint8_t *)"with headers",
				     .value_len = 12,
				     .headers = hdrs,
				     .header_count = 3};
	assert_int_equal(sluice_rb_builder_append(&b, &r), 0);
	r.header_count = 40; /* above the default 32 */
	assert_int_equal(sluice_rb_builder_append(&b, &r), 0);
	size_t n = 8 + sluice_rb_builder_seal(&b);
	assert_int_equal(send_udp(f, (struct craft_opts[]){to_us(9092)}, p, n), 1);
	assert_int_equal(f->cap.ev[0].headers, 3);
	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_TOO_MANY_HEADERS], 1);
	check_identities(&s, f->cap.nev);
}

static uint64_t prod_lost(struct fixture *f)
{
	return stats(f).producer_lost;
}

static unsigned send_seq(struct fixture *f, int32_t part, int n, int64_t pid, int16_t epoch,
			 int32_t seq)
{
	uint8_t p[4096];
	size_t len = kafka_payload(p, part, n, false, pid, epoch, seq);
	return send_udp(f, (struct craft_opts[]){to_us(9092)}, p, len);
}

static void cb(const struct sluice_producer_info *info, void *arg);

static void test_sequences(void **state)
{
	struct fixture *f = *state; /* reorder window 64 */
	uint64_t ok = 0;
	ok += send_seq(f, 1, 5, 42, 0, 0); /* 0..4 */
	ok += send_seq(f, 1, 5, 42, 0, 5); /* 5..9 */
	assert_int_equal(send_seq(f, 1, 5, 42, 0, 5), 0); /* duplicate */
	assert_int_equal(send_seq(f, 1, 3, 42, 0, 0), 0); /* old duplicate */
	assert_int_equal(send_seq(f, 1, 5, 42, 0, 8), 0); /* straddles 10 */
	ok += send_seq(f, 1, 5, 42, 0, 15); /* early: 10..14 missing, within window */
	assert_int_equal(prod_lost(f), 0);
	assert_int_equal(send_seq(f, 1, 5, 42, 0, 15), 0); /* duplicate of a pending range */
	ok += send_seq(f, 1, 5, 42, 0, 10); /* fills the hole: next 20 */
	assert_int_equal(prod_lost(f), 0);
	ok += send_seq(f, 1, 2, 42, 0, 120); /* beyond the window: 100 lost */
	assert_int_equal(prod_lost(f), 100);
	/* Same producer, other partition: its own stream. */
	ok += send_seq(f, 2, 2, 42, 0, 7);
	/* Older epoch is stale; a newer one restarts at 0. */
	assert_int_equal(send_seq(f, 1, 2, 42, -1 + 0, 122), 2 * 0);
	ok += send_seq(f, 1, 2, 42, 1, 0);
	assert_int_equal(send_seq(f, 1, 2, 42, 0, 0), 0);
	/* A shed batch does not advance the sequence: the retransmission is accepted. */
	f->cap.shed_next = 1 + SLUICE_DP_SHED_RING_FULL;
	assert_int_equal(send_seq(f, 1, 4, 42, 1, 2), 4);
	ok += send_seq(f, 1, 4, 42, 1, 2);
	/* Partition -1 streams are tracked per listener. */
	ok += send_seq(f, -1, 3, 42, 0, 0);
	assert_int_equal(send_seq(f, -1, 3, 42, 0, 0), 0);

	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_DUPLICATE], 5 + 3 + 5 + 3);
	assert_int_equal(s.producer_duplicates, 5 + 3 + 5 + 3);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_SEQUENCE_OVERLAP], 5);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_STALE_EPOCH], 2 + 2);
	assert_int_equal(s.shed[SLUICE_DP_SHED_RING_FULL], 4);
	assert_int_equal(s.producers_active, 3);
	(void)ok;
	check_identities(&s, s.events_parsed - 4);

	struct visit {
		unsigned n;
		uint64_t lost;
	} v = {0, 0};
	assert_int_equal(sluice_dp_ctx_producers(f->ctx, cb, &v), 3);
	assert_int_equal(v.lost, 100);
}

static void cb(const struct sluice_producer_info *info, void *arg)
{
	struct {
		unsigned n;
		uint64_t lost;
	} *v = arg;
	assert_int_equal(info->producer_id, 42);
	assert_string_equal(info->topic, "events");
	if (info->partition == 1) {
		assert_int_equal(info->producer_epoch, 1);
		assert_int_equal(info->next_sequence, 6);
	}
	v->n++;
	v->lost += info->lost;
}

static void test_sequences_no_window(void **state)
{
	struct fixture *f = *state; /* window 0, table of 16 */
	assert_int_equal(send_seq(f, 0, 1, 7, 0, 0), 1);
	assert_int_equal(send_seq(f, 0, 1, 7, 0, 3), 1); /* 1, 2 lost */
	assert_int_equal(prod_lost(f), 2);
	assert_int_equal(send_seq(f, 0, 1, 7, 0, 1), 0); /* late: now a duplicate */
	/* Sequence wrap: INT32_MAX is followed by 0. */
	assert_int_equal(send_seq(f, 0, 2, 8, 0, 0x7ffffffe), 2);
	assert_int_equal(send_seq(f, 0, 2, 8, 0, 0), 2);
	assert_int_equal(prod_lost(f), 2);
	/* Many producers in a table of 16: evictions are counted, nothing crashes. */
	for (int64_t pid = 100; pid < 200; pid++)
		assert_int_equal(send_seq(f, 0, 1, pid, 0, 0), 1);
	struct sluice_worker_stats s = stats(f);
	assert_true(s.producer_evictions >= 100 + 2 - 16);
	assert_true(s.producers_active <= 16);
	assert_int_equal(s.producer_new, 102);
	check_identities(&s, s.events_parsed);
}

/*
 * A producer does not retransmit what the appliance shed (UDP: it never learns). Its next
 * batches leave a hole at the shed range, which must not be given up as the producer's loss:
 * those events are already counted as shed. A retransmission is still accepted, once.
 */
static void test_shed_is_not_producer_loss(void **state)
{
	struct fixture *f = *state; /* window 64 */
	assert_int_equal(send_seq(f, 1, 5, 50, 0, 0), 5);
	f->cap.shed_next = 1 + SLUICE_DP_SHED_RING_FULL;
	assert_int_equal(send_seq(f, 1, 5, 50, 0, 5), 5); /* 5..9 shed */
	f->cap.shed_next = 1 + SLUICE_DP_SHED_POOL_EMPTY;
	assert_int_equal(send_seq(f, 1, 5, 50, 0, 10), 5); /* 10..14 shed */
	/* Far past the window: every hole would be given up now. */
	assert_int_equal(send_seq(f, 1, 5, 50, 0, 15), 5);
	for (int32_t s = 20; s < 200; s += 5)
		assert_int_equal(send_seq(f, 1, 5, 50, 0, s), 5);
	assert_int_equal(prod_lost(f), 0);
	/* A real hole after that is still the producer's loss. */
	assert_int_equal(send_seq(f, 1, 5, 50, 0, 300), 5);
	assert_int_equal(prod_lost(f), 100);
	/* The shed batch resent late is stored once; a second copy is a duplicate. */
	unsigned before = f->cap.nbatches;
	assert_int_equal(send_seq(f, 1, 5, 50, 0, 5), 5);
	assert_int_equal(f->cap.nbatches, before + 1);
	assert_int_equal(send_seq(f, 1, 5, 50, 0, 5), 0);
	/* Half of a shed range resent: accepted; the rest stays resendable. */
	assert_int_equal(send_seq(f, 1, 2, 50, 0, 10), 2);
	assert_int_equal(send_seq(f, 1, 3, 50, 0, 12), 3);
	assert_int_equal(send_seq(f, 1, 3, 50, 0, 12), 0);

	/* With no reorder window the hole is given up at once: the same holds. */
	f->cap.shed_next = 1 + SLUICE_DP_SHED_RING_FULL;
	assert_int_equal(send_seq(f, 2, 4, 51, 3, 0), 4);
	assert_int_equal(send_seq(f, 2, 4, 51, 3, 4), 4);
	assert_int_equal(prod_lost(f), 100);

	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.shed[SLUICE_DP_SHED_RING_FULL], 5 + 4);
	assert_int_equal(s.shed[SLUICE_DP_SHED_POOL_EMPTY], 5);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_DUPLICATE], 5 + 3);
	check_identities(&s, s.events_parsed - (5 + 4 + 5));
}

static void test_shed_is_not_producer_loss_no_window(void **state)
{
	struct fixture *f = *state; /* window 0 */
	assert_int_equal(send_seq(f, 0, 3, 9, 0, 0), 3);
	f->cap.shed_next = 1 + SLUICE_DP_SHED_RING_FULL;
	assert_int_equal(send_seq(f, 0, 3, 9, 0, 3), 3);
	assert_int_equal(send_seq(f, 0, 3, 9, 0, 6), 3);
	assert_int_equal(prod_lost(f), 0);
	assert_int_equal(send_seq(f, 0, 3, 9, 0, 3), 3); /* the resend */
	assert_int_equal(send_seq(f, 0, 3, 9, 0, 12), 3); /* 9..11 lost */
	assert_int_equal(prod_lost(f), 3);
	/* A new epoch forgets shed ranges: the old range is now stale. */
	f->cap.shed_next = 1 + SLUICE_DP_SHED_RING_FULL;
	assert_int_equal(send_seq(f, 0, 3, 9, 0, 15), 3);
	assert_int_equal(send_seq(f, 0, 3, 9, 1, 0), 3);
	assert_int_equal(send_seq(f, 0, 3, 9, 0, 15), 0);
	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.shed[SLUICE_DP_SHED_RING_FULL], 6);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_STALE_EPOCH], 3);
	check_identities(&s, s.events_parsed - 6);
}

static void test_arp(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[128];
	struct craft_opts o = to_us(0);
	memset(o.dst_mac, 0xff, 6);
	o.vlans = 1;
	size_t len = craft_arp(frame, &o, 1, our_ip);
	assert_int_equal(sluice_dp_ctx_packet(f->ctx, 0, frame, len, 0, 0, &f->sink), 0);
	assert_int_equal(f->cap.nreplies, 1);
	const uint8_t *r = f->cap.reply;
	assert_int_equal(f->cap.reply_len, 60);
	assert_memory_equal(r, peer_mac, 6);
	assert_memory_equal(r + 6, our_mac, 6);
	assert_int_equal(r[12], 0x81); /* VLAN tag kept */
	assert_int_equal(r[16], 0x08);
	assert_int_equal(r[17], 0x06);
	const uint8_t *a = r + 18;
	assert_int_equal(a[7], 2); /* reply */
	assert_memory_equal(a + 8, our_mac, 6);
	assert_memory_equal(a + 14, our_ip, 4);
	assert_memory_equal(a + 18, peer_mac, 6);
	assert_memory_equal(a + 24, peer_ip, 4);
	/* For someone else, and a reply: ignored. */
	uint8_t other[4] = {192, 0, 2, 50};
	len = craft_arp(frame, &o, 1, other);
	sluice_dp_ctx_packet(f->ctx, 0, frame, len, 0, 0, &f->sink);
	len = craft_arp(frame, &o, 2, our_ip);
	sluice_dp_ctx_packet(f->ctx, 0, frame, len, 0, 0, &f->sink);
	struct sluice_worker_stats s = stats(f);
	assert_int_equal(f->cap.nreplies, 1);
	assert_int_equal(s.arp_replies, 1);
	assert_int_equal(s.ctrl_packets, 1);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_ARP_IGNORED], 2);
	check_identities(&s, 0);
}

static void test_icmp(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[512];
	struct craft_opts o = to_us(0);
	o.ihl = 6;
	size_t len = craft_icmp(frame, &o, 8, NULL, 56);
	assert_int_equal(sluice_dp_ctx_packet(f->ctx, 0, frame, len, 0, 0, &f->sink), 0);
	assert_int_equal(f->cap.nreplies, 1);
	struct sluice_pkt_info pi;
	/* The reply parses (checksums included) and is addressed back. */
	assert_int_equal(sluice_pkt_parse(f->cap.reply, f->cap.reply_len, 0, &pi),
			 SLUICE_DP_REJECT_NONE);
	assert_int_equal(pi.kind, SLUICE_PKT_ICMP4);
	assert_memory_equal(pi.dst_addr, peer_ip, 4);
	assert_memory_equal(pi.src_addr, our_ip, 4);
	assert_memory_equal(pi.dst_mac, peer_mac, 6);
	assert_int_equal(f->cap.reply[pi.l4_off], 0);
	assert_memory_equal(f->cap.reply + pi.l4_off + 4, frame + pi.l4_off + 4, 4 + 56);
	/* Echo reply to us, and echo for another address: not answered. */
	len = craft_icmp(frame, &o, 0, NULL, 8);
	sluice_dp_ctx_packet(f->ctx, 0, frame, len, 0, 0, &f->sink);
	o = to_us(0);
	o.dst[3] = 9;
	len = craft_icmp(frame, &o, 8, NULL, 8);
	sluice_dp_ctx_packet(f->ctx, 0, frame, len, 0, 0, &f->sink);

	/* IPv6 echo and neighbour solicitation. */
	o = to_us(0);
	o.family = 6;
	memcpy(o.src, peer_ip6, 16);
	memcpy(o.dst, our_ip6, 16);
	len = craft_icmp(frame, &o, 128, NULL, 20);
	sluice_dp_ctx_packet(f->ctx, 0, frame, len, 0, 0, &f->sink);
	assert_int_equal(f->cap.nreplies, 2);
	assert_int_equal(sluice_pkt_parse(f->cap.reply, f->cap.reply_len, 0, &pi),
			 SLUICE_DP_REJECT_NONE);
	assert_int_equal(pi.kind, SLUICE_PKT_ICMP6);
	assert_int_equal(f->cap.reply[pi.l4_off], 129);
	assert_memory_equal(pi.dst_addr, peer_ip6, 16);

	uint8_t sol[16] = {0xff, 0x02, [11] = 1, [12] = 0xff, [15] = 1};
	memcpy(o.dst, sol, 16);
	memset(o.dst_mac, 0x33, 2);
	len = craft_icmp(frame, &o, 135, our_ip6, 0);
	sluice_dp_ctx_packet(f->ctx, 0, frame, len, 0, 0, &f->sink);
	assert_int_equal(f->cap.nreplies, 3);
	assert_int_equal(sluice_pkt_parse(f->cap.reply, f->cap.reply_len, 0, &pi),
			 SLUICE_DP_REJECT_NONE);
	const uint8_t *na = f->cap.reply + pi.l4_off;
	assert_int_equal(na[0], 136);
	assert_int_equal(na[4], 0x60);
	assert_memory_equal(na + 8, our_ip6, 16);
	assert_memory_equal(na + 26, our_mac, 6);
	assert_int_equal(pi.hop_limit, 255);
	/* NS for another target: ignored. */
	uint8_t other6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 7};
	len = craft_icmp(frame, &o, 135, other6, 0);
	sluice_dp_ctx_packet(f->ctx, 0, frame, len, 0, 0, &f->sink);

	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.icmp_replies, 2);
	assert_int_equal(s.nd_replies, 1);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_ICMP_IGNORED], 2);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_IP_DST], 1);
	check_identities(&s, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Producers bound to their source, shares of the table, rate limits                         */

static unsigned send_frame_at(struct fixture *f, const struct craft_opts *o, const void *p,
			      size_t n, int64_t now_ms)
{
	static uint8_t frame[4096];
	size_t len = craft_udp(frame, o, p, n);
	return sluice_dp_ctx_packet(f->ctx, 0, frame, len, 0, now_ms, &f->sink);
}

static struct craft_opts from(const uint8_t src[4], uint16_t sport, uint16_t dport)
{
	struct craft_opts o = to_us(dport);
	memcpy(o.src, src, 4);
	o.sport = sport;
	return o;
}

/* A kafka batch of @p n records from @p src:@p sport to listener port @p dport. */
static unsigned send_seq_from(struct fixture *f, const uint8_t src[4], uint16_t sport,
			      uint16_t dport, int32_t part, int n, int64_t pid, int16_t epoch,
			      int32_t seq, int64_t now_ms)
{
	uint8_t p[4096];
	size_t len = kafka_payload(p, part, n, false, pid, epoch, seq);
	struct craft_opts o = from(src, sport, dport);
	return send_frame_at(f, &o, p, len, now_ms);
}

struct prod_seen {
	unsigned n;
	struct sluice_producer_info info[64];
};

static void collect_cb(const struct sluice_producer_info *info, void *arg)
{
	struct prod_seen *ps = arg;
	if (ps->n < 64)
		ps->info[ps->n] = *info;
	ps->n++;
}

/* Entries of source @p src:@p sport (port 0: any port) in the table. */
static unsigned entries_of(struct fixture *f, const uint8_t src[4], uint16_t sport,
			   struct sluice_producer_info *first)
{
	struct prod_seen ps = {0};
	unsigned n = 0;
	sluice_dp_ctx_producers(f->ctx, collect_cb, &ps);
	assert_true(ps.n <= 64);
	for (unsigned i = 0; i < ps.n; i++) {
		if (ps.info[i].family != 4 || memcmp(ps.info[i].addr, src, 4) != 0 ||
		    (sport && ps.info[i].port != sport))
			continue;
		if (n++ == 0 && first)
			*first = ps.info[i];
	}
	return n;
}

/*
 * Batches claiming a real producer's id with a higher epoch, a sequence far ahead, from
 * another address or from the same address but another port, are other streams: the real
 * producer's next batches are accepted, nothing is counted stale, duplicate or lost.
 */
static void test_spoofed_source_cannot_disturb(void **state)
{
	struct fixture *f = *state; /* window 64 */
	const uint8_t other[4] = {192, 0, 2, 66};

	assert_int_equal(send_seq_from(f, peer_ip, 33333, 9092, 1, 5, 42, 0, 0, 1000), 5);
	/* Spoofed: a newer epoch, and a sequence far beyond the window, from elsewhere. */
	assert_int_equal(send_seq_from(f, other, 33333, 9092, 1, 5, 42, 7, 0, 1001), 5);
	assert_int_equal(send_seq_from(f, other, 33334, 9092, 1, 5, 42, 0, 100000, 1002), 5);
	assert_int_equal(send_seq_from(f, peer_ip, 44444, 9092, 1, 5, 42, 9, 5000, 1003), 5);
	/* The real producer goes on as if nothing happened. */
	assert_int_equal(send_seq_from(f, peer_ip, 33333, 9092, 1, 5, 42, 0, 5, 1004), 5);
	assert_int_equal(send_seq_from(f, peer_ip, 33333, 9092, 1, 5, 42, 0, 10, 1005), 5);
	/* Its own repeat is still a duplicate, and its own newer epoch still wins. */
	assert_int_equal(send_seq_from(f, peer_ip, 33333, 9092, 1, 5, 42, 0, 10, 1006), 0);

	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_STALE_EPOCH], 0);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_SEQUENCE_OVERLAP], 0);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_DUPLICATE], 5);
	assert_int_equal(s.producer_lost, 0);
	assert_int_equal(s.producers_active, 4);
	struct sluice_producer_info real;
	assert_int_equal(entries_of(f, peer_ip, 33333, &real), 1);
	assert_int_equal(real.producer_id, 42);
	assert_int_equal(real.producer_epoch, 0);
	assert_int_equal(real.next_sequence, 15);
	assert_int_equal(real.events, 15);
	assert_int_equal(real.duplicates, 5);
	assert_int_equal(real.lost, 0);
	assert_string_equal(real.topic, "events");
	assert_int_equal(real.partition, 1);
	assert_int_equal(entries_of(f, other, 0, NULL), 2);
	check_identities(&s, s.events_parsed);
}

static int setup_share(void **state)
{
	struct sluice_dp_ctx_opts o = {.producer_table_size = 16, .producers_per_source = 4};
	return fixture_setup_opts(state, &o);
}

/* One source floods made-up producer ids: it holds at most its share, replaces only its own
 * entries, and the other source's producers keep their state. */
static void test_one_source_cannot_evict_another(void **state)
{
	struct fixture *f = *state; /* table 16, 4 per source */
	const uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};

	for (int64_t pid = 1; pid <= 4; pid++)
		assert_int_equal(send_seq_from(f, a, 1000, 9092, 0, 1, pid, 0, 0, 1000), 1);
	assert_int_equal(entries_of(f, a, 1000, NULL), 4);
	for (int64_t pid = 100; pid < 300; pid++) /* stored, tracked or not */
		assert_int_equal(send_seq_from(f, b, 1000, 9092, 0, 1, pid, 0, 0, 1000), 1);
	struct sluice_worker_stats s = stats(f);
	assert_true(entries_of(f, b, 0, NULL) <= 4);
	assert_true(s.producer_evictions > 0); /* b replaced its own */
	assert_true(s.producer_untracked > 0); /* windows with nothing of b's to replace */
	assert_int_equal(s.producer_new, 4 + 4 + s.producer_evictions);
	/* a's producers were never touched: their next batches are in sequence. */
	for (int64_t pid = 1; pid <= 4; pid++)
		assert_int_equal(send_seq_from(f, a, 1000, 9092, 0, 1, pid, 0, 1, 1001), 1);
	s = stats(f);
	assert_int_equal(s.producer_lost, 0);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_DUPLICATE], 0);
	struct prod_seen ps = {0};
	sluice_dp_ctx_producers(f->ctx, collect_cb, &ps);
	unsigned seen_a = 0;
	for (unsigned i = 0; i < ps.n; i++)
		if (memcmp(ps.info[i].addr, a, 4) == 0) {
			assert_int_equal(ps.info[i].events, 2);
			assert_int_equal(ps.info[i].next_sequence, 2);
			seen_a++;
		}
	assert_int_equal(seen_a, 4);
	check_identities(&s, s.events_parsed);
}

static int setup_idle(void **state)
{
	struct sluice_dp_ctx_opts o = {.producer_table_size = 16, .producer_idle_ms = 1000};
	return fixture_setup_opts(state, &o);
}

/* Another source's entries are taken only once they have been idle for producer_idle_ms. */
static void test_idle_entries_are_reclaimed(void **state)
{
	struct fixture *f = *state; /* table 16, no share limit, idle 1 s */
	const uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};

	for (int64_t pid = 1; pid <= 200 && stats(f).producers_active < 16; pid++)
		send_seq_from(f, a, 1000, 9092, 0, 1, pid, 0, 0, 1000);
	assert_int_equal(stats(f).producers_active, 16);
	uint64_t evictions = stats(f).producer_evictions;
	/* a is active: b gets no entry, and its batch is stored untracked. */
	uint64_t untracked = stats(f).producer_untracked;
	assert_int_equal(send_seq_from(f, b, 1000, 9092, 0, 1, 9999, 0, 0, 1500), 1);
	assert_int_equal(stats(f).producer_untracked, untracked + 1);
	assert_int_equal(stats(f).producer_evictions, evictions);
	assert_int_equal(entries_of(f, b, 0, NULL), 0);
	/* a has been idle for a second: b takes one of its entries. */
	assert_int_equal(send_seq_from(f, b, 1000, 9092, 0, 1, 9999, 0, 0, 2000), 1);
	assert_int_equal(stats(f).producer_untracked, untracked + 1);
	assert_int_equal(stats(f).producer_evictions, evictions + 1);
	assert_int_equal(entries_of(f, b, 1000, NULL), 1);
	assert_int_equal(entries_of(f, a, 0, NULL), 15);
	struct sluice_worker_stats s = stats(f);
	check_identities(&s, s.events_parsed);
}

/* Events over a listener's per-source limit are shed as rate_limited, source by source. */
static void test_rate_limit(void **state)
{
	struct fixture *f = *state;
	const uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
	struct craft_opts oa = from(a, 1000, 5150), ob = from(b, 1000, 5150);
	const char *eight = "1\n2\n3\n4\n5\n6\n7\n8\n";
	uint64_t delivered = 0;

	/* Burst 5: five of eight lines pass, then a's bucket is empty; b has its own. */
	assert_int_equal(send_frame_at(f, &oa, eight, strlen(eight), 1000), 8);
	assert_int_equal(f->cap.nev, 5);
	assert_int_equal(send_frame_at(f, &ob, "x\ny\nz\n", 6, 1000), 3);
	assert_int_equal(f->cap.nev, 8);
	assert_int_equal(stats(f).shed[SLUICE_DP_SHED_RATE_LIMITED], 3);
	/* 100 ms at 10/s is one token. */
	assert_int_equal(send_frame_at(f, &oa, "9\n10\n", 5, 1100), 2);
	assert_int_equal(f->cap.nev, 9);
	assert_int_equal(stats(f).shed[SLUICE_DP_SHED_RATE_LIMITED], 4);
	/* Long idle: the bucket holds the burst, not more. */
	assert_int_equal(send_frame_at(f, &oa, eight, strlen(eight), 60000), 8);
	assert_int_equal(f->cap.nev, 14);
	assert_int_equal(stats(f).shed[SLUICE_DP_SHED_RATE_LIMITED], 7);
	/* A listener without a limit is not limited. */
	struct craft_opts ol = from(a, 1000, 5140);
	assert_int_equal(send_frame_at(f, &ol, eight, strlen(eight), 60000), 8);
	assert_int_equal(f->cap.nev, 22);
	delivered = f->cap.nev;

	/* kafka, explicit partition: a batch needs tokens for all its records. */
	assert_int_equal(send_seq_from(f, a, 2000, 9093, 1, 4, 77, 0, 0, 1000), 4);
	assert_int_equal(f->cap.nbatches, 1);
	assert_int_equal(send_seq_from(f, a, 2000, 9093, 1, 4, 77, 0, 4, 1000), 4);
	assert_int_equal(f->cap.nbatches, 1); /* shed whole: one token left */
	assert_int_equal(stats(f).shed[SLUICE_DP_SHED_RATE_LIMITED], 7 + 4);
	/* The sequence moved past the shed batch: not the producer's loss, and a resend is
	 * stored once. */
	assert_int_equal(send_seq_from(f, a, 2000, 9093, 1, 4, 77, 0, 8, 2000), 4);
	assert_int_equal(send_seq_from(f, a, 2000, 9093, 1, 4, 77, 0, 4, 3000), 4);
	assert_int_equal(f->cap.nbatches, 3);
	delivered += 3 * 4;
	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.producer_lost, 0);
	struct sluice_producer_info p;
	assert_int_equal(entries_of(f, a, 2000, &p), 1);
	assert_int_equal(p.shed, 4);
	assert_int_equal(p.events, 12);
	assert_int_equal(s.shed[SLUICE_DP_SHED_RATE_LIMITED], 11);
	assert_int_equal(s.source_overflow, 0);
	check_identities(&s, delivered);
}

static int setup_reply_limit(void **state)
{
	struct sluice_dp_ctx_opts o = {.reply_rate = 10, .reply_burst = 3};
	return fixture_setup_opts(state, &o);
}

/* ARP, ICMP echo and ND replies share one bucket; requests over it are counted, unanswered. */
static void test_reply_rate_limit(void **state)
{
	struct fixture *f = *state; /* 10 replies/s, 3 at once */
	uint8_t frame[512];
	struct craft_opts o = to_us(0);
	memset(o.dst_mac, 0xff, 6);
	size_t arp = craft_arp(frame, &o, 1, our_ip);
	for (int i = 0; i < 10; i++)
		sluice_dp_ctx_packet(f->ctx, 0, frame, arp, 0, 0, &f->sink);
	assert_int_equal(f->cap.nreplies, 3);
	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.arp_replies, 3);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_REPLY_LIMITED], 7);
	/* 100 ms later: one token. */
	sluice_dp_ctx_packet(f->ctx, 0, frame, arp, 0, 100, &f->sink);
	o = to_us(0);
	size_t echo = craft_icmp(frame, &o, 8, NULL, 8);
	sluice_dp_ctx_packet(f->ctx, 0, frame, echo, 0, 100, &f->sink);
	assert_int_equal(f->cap.nreplies, 4);
	sluice_dp_ctx_packet(f->ctx, 0, frame, echo, 0, 10000, &f->sink);
	assert_int_equal(f->cap.nreplies, 5);
	s = stats(f);
	assert_int_equal(s.arp_replies, 4);
	assert_int_equal(s.icmp_replies, 1);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_REPLY_LIMITED], 8);
	assert_int_equal(s.ctrl_packets, 5);
	check_identities(&s, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* The sequence lock other threads read the counters and producer entries through            */

#define SEQ_WORDS DP_COUNTER_WORDS
#define SEQ_ROUNDS 200000

struct seq_shared {
	_Atomic uint32_t seq;
	_Atomic uint64_t w[SEQ_WORDS];
	_Atomic bool done;
};

/* ---------------------------------------------------------------------------------------- */
/* Acknowledged mode                                                                         */

static unsigned send_ack_seq(struct fixture *f, int32_t part, int n, int64_t pid, int16_t epoch,
			     int32_t seq)
{
	uint8_t p[4096];
	size_t len = kafka_payload(p, part, n, false, pid, epoch, seq);
	p[3] = SLUICE_ENVELOPE_F_ACK;
	return send_udp(f, (struct craft_opts[]){to_us(9092)}, p, len);
}

/* Poll; when an ack went out, check its frame end to end and decode it. */
static bool poll_ack(struct fixture *f, int64_t now_ms, struct sluice_ack *a)
{
	unsigned before = f->cap.nreplies;
	sluice_dp_ctx_ack_poll(f->ctx, now_ms, 1, &f->sink);
	if (f->cap.nreplies == before)
		return false;
	const uint8_t *fr = f->cap.reply;
	assert_memory_equal(fr, peer_mac, 6);
	assert_memory_equal(fr + 6, our_mac, 6);
	assert_int_equal(fr[12] << 8 | fr[13], 0x0800);
	const uint8_t *ip = fr + 14, *u = ip + 20;
	assert_int_equal(craft_csum(ip, 20, 0), 0);
	assert_memory_equal(ip + 12, our_ip, 4);
	assert_memory_equal(ip + 16, peer_ip, 4);
	size_t ulen = (size_t)(u[4] << 8 | u[5]);
	assert_int_equal(u[0] << 8 | u[1], 9092);
	assert_int_equal(u[2] << 8 | u[3], 33333);
	assert_int_equal(craft_csum(u, ulen, craft_pseudo(4, ip + 12, ip + 16, 17, ulen)), 0);
	assert_int_equal(sluice_ack_decode(u + 8, ulen - 8, a), 0);
	return true;
}

static void test_ack_basic(void **state)
{
	struct fixture *f = *state;
	struct sluice_ack a;
	assert_int_equal(send_ack_seq(f, 1, 5, 70, 2, 0), 5);
	assert_int_equal(send_ack_seq(f, 1, 5, 70, 2, 5), 5);
	assert_true(poll_ack(f, 10, &a));
	assert_int_equal(a.producer_id, 70);
	assert_int_equal(a.epoch, 2);
	assert_int_equal(a.partition, 1);
	assert_int_equal(a.durable_next, 10);
	assert_int_equal(a.ndurable, 0);
	assert_int_equal(a.nresend, 0);
	assert_int_equal(a.window, 4096);
	/* Nothing moved: no second ack. */
	assert_false(poll_ack(f, 20, &a));
	/* A resend of acknowledged data is dropped, counted, and answered again. */
	unsigned nb = f->cap.nbatches;
	assert_int_equal(send_ack_seq(f, 1, 5, 70, 2, 5), 0);
	assert_int_equal(f->cap.nbatches, nb);
	assert_true(poll_ack(f, 30, &a));
	assert_int_equal(a.durable_next, 10);
	/* At most one ack per interval. */
	assert_int_equal(send_ack_seq(f, 1, 5, 70, 2, 0), 0);
	assert_false(poll_ack(f, 30, &a));
	assert_true(poll_ack(f, 31, &a));
	/* Partition -1 cannot be acknowledged (records are re-batched). */
	assert_int_equal(send_ack_seq(f, -1, 5, 71, 0, 0), 0);
	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_KAFKA_ENVELOPE], 1);
	assert_int_equal(s.ack_batches, 2);
	assert_int_equal(s.ack_events, 10);
	assert_int_equal(s.ack_duplicates, 10);
	assert_int_equal(s.acks_sent, 3);
	check_identities(&s, 10);
}

static void test_ack_waits_for_durability(void **state)
{
	struct fixture *f = *state;
	struct sluice_ack a;
	f->cap.use_state = true;
	assert_int_equal(send_ack_seq(f, 0, 5, 80, 0, 0), 5); /* tag 1 */
	assert_int_equal(send_ack_seq(f, 0, 5, 80, 0, 5), 5); /* tag 2 */
	assert_false(poll_ack(f, 10, &a)); /* nothing durable: never acked before */
	f->cap.durable_tag = 1;
	assert_true(poll_ack(f, 20, &a));
	assert_int_equal(a.durable_next, 5);
	f->cap.durable_tag = 2;
	assert_true(poll_ack(f, 30, &a));
	assert_int_equal(a.durable_next, 10);
	/* Storage refused a batch (tag 3): what was accepted since the durable state is taken
	 * again, so the producer's resend is stored. */
	assert_int_equal(send_ack_seq(f, 0, 5, 80, 0, 10), 5); /* tag 3 */
	f->cap.refused = 1;
	assert_true(poll_ack(f, 40, &a));
	assert_int_equal(a.durable_next, 10);
	assert_int_equal(send_ack_seq(f, 0, 5, 80, 0, 10), 5); /* tag 4 */
	f->cap.durable_tag = 4;
	assert_true(poll_ack(f, 50, &a));
	assert_int_equal(a.durable_next, 15);
	assert_int_equal(stats(f).ack_rollbacks, 1);
}

static void test_ack_holes_window_shed(void **state)
{
	struct fixture *f = *state;
	struct sluice_ack a;
	assert_int_equal(send_ack_seq(f, 2, 5, 90, 0, 0), 5);
	assert_int_equal(send_ack_seq(f, 2, 5, 90, 0, 10), 5); /* hole 5..9 */
	assert_true(poll_ack(f, 10, &a));
	assert_int_equal(a.durable_next, 5);
	assert_int_equal(a.ndurable, 1);
	assert_int_equal(a.durable[0].base, 10);
	assert_int_equal(a.durable[0].end, 15);
	/* Inside a durable range above the hole: a duplicate. */
	assert_int_equal(send_ack_seq(f, 2, 5, 90, 0, 10), 0);
	/* Beyond the window: refused, the producer is told to resend. */
	assert_int_equal(send_ack_seq(f, 2, 5, 90, 0, 5000), 0);
	/* Shed by the sink: not stored, sequence untouched, resend hinted. */
	f->cap.shed_next = 1 + SLUICE_DP_SHED_RING_FULL;
	assert_int_equal(send_ack_seq(f, 2, 5, 90, 0, 5), 5);
	assert_true(poll_ack(f, 20, &a));
	assert_int_equal(a.durable_next, 5);
	assert_int_equal(a.nresend, 2);
	assert_int_equal(a.resend[0].base, 5000);
	assert_int_equal(a.resend[1].base, 5);
	assert_int_equal(a.resend[1].end, 10);
	/* The resend fills the hole; everything up to 15 is durable, hint gone. */
	assert_int_equal(send_ack_seq(f, 2, 5, 90, 0, 5), 5);
	assert_true(poll_ack(f, 30, &a));
	assert_int_equal(a.durable_next, 15);
	assert_int_equal(a.ndurable, 0);
	assert_int_equal(a.nresend, 1);
	/* More holes than tracked: the batch that would open a fifth is refused. */
	for (int32_t b = 20; b < 60; b += 10)
		assert_int_equal(send_ack_seq(f, 2, 5, 90, 0, b), 5);
	assert_int_equal(send_ack_seq(f, 2, 5, 90, 0, 65), 0);
	assert_int_equal(send_ack_seq(f, 2, 5, 90, 0, 25), 5); /* joins two ranges */
	assert_int_equal(send_ack_seq(f, 2, 5, 90, 0, 65), 5);
	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.rejects[SLUICE_DP_REJECT_ACK_WINDOW], 10);
	assert_int_equal(s.shed[SLUICE_DP_SHED_RING_FULL], 5);
	assert_int_equal(s.producer_lost, 0);
	check_identities(&s, s.events_parsed - 5);
}

static int setup_recovery(void **state)
{
	static struct sluice_dp_ack_recovery *rec;
	if (!rec) {
		assert_int_equal(sluice_dp_ack_recovery_create(&rec), 0);
		/* partition 3 of L_KAFKA (global 3): 0..19 stored, then 30..39 (reordered) */
		assert_int_equal(sluice_dp_ack_recovery_add(rec, 3, 100, 1, 0, 10), 0);
		assert_int_equal(sluice_dp_ack_recovery_add(rec, 3, 100, 1, 30, 10), 0);
		assert_int_equal(sluice_dp_ack_recovery_add(rec, 3, 100, 1, 10, 10), 0);
		assert_int_equal(sluice_dp_ack_recovery_add(rec, 3, 100, 0, 50, 10), 0); /* older */
		assert_int_equal(sluice_dp_ack_recovery_count(rec), 1);
	}
	struct sluice_dp_ctx_opts o = {.ack_recovery = rec};
	return fixture_setup_opts(state, &o);
}

static void test_ack_recovery(void **state)
{
	struct fixture *f = *state;
	struct sluice_ack a;
	/* After a restart the producer resends what it had not seen acknowledged. */
	assert_int_equal(send_ack_seq(f, 3, 5, 100, 1, 15), 0);
	assert_int_equal(send_ack_seq(f, 3, 5, 100, 1, 35), 0);
	assert_int_equal(send_ack_seq(f, 3, 5, 100, 1, 20), 5);
	assert_int_equal(send_ack_seq(f, 3, 5, 100, 1, 25), 5);
	assert_true(poll_ack(f, 10, &a));
	assert_int_equal(a.durable_next, 40);
	struct sluice_worker_stats s = stats(f);
	assert_int_equal(s.ack_recovered, 1);
	assert_int_equal(s.ack_duplicates, 10);
	assert_int_equal(f->cap.nbatches, 2);
}

static void *seq_writer(void *arg)
{
	struct seq_shared *sh = arg;
	uint64_t v[SEQ_WORDS];
	for (uint64_t k = 1; k <= SEQ_ROUNDS; k++) {
		for (size_t i = 0; i < SEQ_WORDS; i++)
			v[i] = k; /* a consistent block: every word equal */
		dp_seq_publish(&sh->seq, sh->w, v, SEQ_WORDS);
	}
	atomic_store(&sh->done, true);
	return NULL;
}

/* A reader racing a writer that publishes as fast as it can never sees a torn block, and
 * never goes back in time. */
static void test_seqlock_never_torn(void **state)
{
	static struct seq_shared sh;
	pthread_t th;
	uint64_t last = 0, reads = 0, retries = 0;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, seq_writer, &sh), 0);
	while (!atomic_load(&sh.done) || reads == 0) {
		uint64_t got[SEQ_WORDS];
		retries += dp_seq_read(&sh.seq, sh.w, got, SEQ_WORDS);
		for (size_t i = 1; i < SEQ_WORDS; i++)
			if (got[i] != got[0])
				fail_msg("torn read: word %zu is %llu, word 0 %llu", i,
					 (unsigned long long)got[i], (unsigned long long)got[0]);
		assert_true(got[0] >= last);
		last = got[0];
		reads++;
	}
	pthread_join(th, NULL);
	print_message("seqlock: %llu reads, %llu repeated\n", (unsigned long long)reads,
		      (unsigned long long)retries);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines_keyed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test(test_listener_ports),
		cmocka_unit_test_setup_teardown(test_kafka_explicit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kafka_repartition, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kafka_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequences, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequences_no_window, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_shed_is_not_producer_loss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shed_is_not_producer_loss_no_window,
						setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_arp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spoofed_source_cannot_disturb, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_one_source_cannot_evict_another, setup_share,
						teardown),
		cmocka_unit_test_setup_teardown(test_idle_entries_are_reclaimed, setup_idle,
						teardown),
		cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_rate_limit, setup_reply_limit, teardown),
		cmocka_unit_test(test_seqlock_never_torn),
		cmocka_unit_test_setup_teardown(test_ack_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_waits_for_durability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_holes_window_shed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_recovery, setup_recovery, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
