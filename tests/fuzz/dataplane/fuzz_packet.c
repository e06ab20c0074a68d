/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the whole packet -> events path (dataplane/ctx.c, parse.c and the
 * record format): arbitrary frames and datagrams into a context with a listener of every
 * format. Beyond "no crash, no overread", it checks properties:
 *  - every reply frame the context builds parses cleanly (valid lengths and checksums), and
 *    every ack (acknowledged mode, polled after each input) decodes;
 *  - every passthrough batch validates; every event fits the listener's limits;
 *  - the accounting identities hold after every input.
 *
 * Input: byte 0 selects frame (even) or bare datagram (odd, byte 1 picks the listener);
 * byte 1 also carries the NIC checksum-offload flags for frames.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_dataplane.h"

static struct sluice_dp_ctx *ctx;
static uint64_t sink_events;
static uint64_t bare_datagrams; /* fed without a frame around them */

static void die(void)
{
	abort();
}

static int on_event(void *arg, const struct sluice_listener *l, int32_t partition,
		    const struct sluice_rb_record *rec)
{
	(void)arg;
	volatile uint8_t x = 0;
	if (partition >= (int32_t)l->partitions || partition < -1)
		die();
	if (rec->value_len < 0 && l->format != SLUICE_FORMAT_KAFKA)
		die();
	size_t kv = (rec->key_len > 0 ? (size_t)rec->key_len : 0) +
		(rec->value_len > 0 ? (size_t)rec->value_len : 0);
	if (l->max_event_bytes && kv > l->max_event_bytes)
		die();
	for (int32_t i = 0; i < rec->key_len; i++)
		x ^= rec->key[i];
	for (int32_t i = 0; i < rec->value_len; i++)
		x ^= rec->value[i];
	for (uint32_t i = 0; i < rec->header_count; i++) {
		const struct sluice_rb_kv *h = &rec->headers[i];
		for (int32_t k = 0; k < h->key_len; k++)
			x ^= h->key[k];
		for (int32_t k = 0; k < h->value_len; k++)
			x ^= h->value[k];
	}
	(void)x;
	/* Shed one event in seven, to exercise that accounting too. */
	return ++sink_events % 7 == 0 ? 1 + SLUICE_DP_SHED_POOL_EMPTY : 0;
}

static int on_batch(void *arg, const struct sluice_listener *l, uint32_t partition,
		    const uint8_t *batch, size_t len, uint32_t records)
{
	(void)arg;
	struct sluice_rb_header h;
	size_t bb;
	if (partition >= l->partitions)
		die();
	if (sluice_rb_batch_validate(batch, len, &h, &bb) != SLUICE_RB_OK || bb != len ||
	    (uint32_t)h.record_count != records)
		die();
	sink_events += records;
	if (sink_events % 5 == 0)
		return 1 + SLUICE_DP_SHED_RING_FULL;
	static uint32_t tag;
	if (sluice_dp_ctx_ack_wanted(ctx)) {
		if (++tag == 0)
			++tag;
		sluice_dp_ctx_set_ack_tag(ctx, tag);
	}
	return 0;
}

static int on_reply(void *arg, uint32_t port_idx, const uint8_t *frame, size_t len)
{
	struct sluice_pkt_info pi;
	(void)arg;
	(void)port_idx;
	uint8_t *copy = malloc(len);
	memcpy(copy, frame, len);
	if (sluice_pkt_parse(copy, len, 0, &pi) != SLUICE_DP_REJECT_NONE)
		die();
	struct sluice_ack a;
	if (pi.kind == SLUICE_PKT_UDP &&
	    sluice_ack_decode(copy + pi.payload_off, pi.payload_len, &a) != 0)
		die();
	free(copy);
	return 0;
}

static const struct sluice_dp_sink sink = {.event = on_event, .batch = on_batch, .reply = on_reply};

static void setup(void)
{
	struct sluice_dp_port port = {.ipv4 = {192, 0, 2, 1},
				      .has_ipv6 = true,
				      .answer_nd = true,
				      .mac = {2, 0, 0, 0, 0, 1},
				      .ipv6 = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}};
	struct sluice_listener ls[5] = {
		{.udp_port = 9092,
		 .format = SLUICE_FORMAT_KAFKA,
		 .partitions = 4,
		 .max_event_bytes = 512},
		{.udp_port = 5140,
		 .format = SLUICE_FORMAT_LINES,
		 .first_partition_id = 4,
		 .partitions = 3,
		 .max_event_bytes = 64},
		{.udp_port = 5141,
		 .format = SLUICE_FORMAT_LINES,
		 .key_mode = SLUICE_KEY_SOURCE_ADDR,
		 .first_partition_id = 7,
		 .partitions = 5},
		{.udp_port = 7000,
		 .format = SLUICE_FORMAT_RAW,
		 .first_partition_id = 12,
		 .partitions = 1,
		 .max_event_bytes = 128},
		{.udp_port = 7001,
		 .format = SLUICE_FORMAT_RAW,
		 .key_mode = SLUICE_KEY_SOURCE_ADDR,
		 .family = SLUICE_ADDR_V6,
		 .addr = {0xff, 0x02, [15] = 0x42},
		 .first_partition_id = 13,
		 .partitions = 2},
	};
	struct sluice_dp_ctx_opts o = {.ports = &port,
				       .nports = 1,
				       .listeners = ls,
				       .nlisteners = 5,
				       .producer_table_size = 16,
				       .reorder_window = 4,
				       .max_record_headers = 4};
	if (sluice_dp_ctx_create(&o, &ctx) != 0)
		die();
}

static void check_identities(void)
{
	struct sluice_worker_stats s;
	uint64_t pkt = 0, dgram = 0, ev = 0, shed = 0;
	sluice_dp_ctx_stats(ctx, &s);
	for (int r = 1; r < SLUICE_DP_REJECT__COUNT; r++) {
		if (r < SLUICE_DP_REJECT__FIRST_DATAGRAM)
			pkt += s.rejects[r];
		else if (r < SLUICE_DP_REJECT__FIRST_EVENT)
			dgram += s.rejects[r];
		else
			ev += s.rejects[r];
	}
	for (int r = 0; r < SLUICE_DP_SHED__COUNT; r++)
		shed += s.shed[r];
	if (s.rx_packets + bare_datagrams != s.ctrl_packets + s.datagrams + pkt ||
	    s.datagrams != s.datagrams_accepted + dgram ||
	    s.events_decoded != s.events_parsed + ev || s.events_parsed != sink_events ||
	    s.producers_active > 16)
		die();
	(void)shed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (ctx == NULL)
		setup();
	if (size < 2)
		return 0;
	uint8_t mode = data[0], arg = data[1];
	/* Exact-size copy so that ASan sees any read past the end. */
	size -= 2;
	uint8_t *buf = malloc(size ? size : 1);
	memcpy(buf, data + 2, size);
	if ((mode & 1) == 0) {
		sluice_dp_ctx_packet(ctx, 0, buf, size, arg & 0x0f, 1000, &sink);
	} else {
		const struct sluice_listener *l = sluice_dp_ctx_listener(ctx, arg % 5);
		static const uint8_t src[16] = {10, 1, 2, 3};
		bare_datagrams++;
		sluice_dp_ctx_datagram(ctx, l, buf, size, (mode & 2) ? 6 : 4, src, 4242, 1000,
				       &sink);
	}
	free(buf);
	static int64_t now_ms = 1000;
	sluice_dp_ctx_ack_poll(ctx, now_ms++, 1, &sink);
	check_identities();
	return 0;
}
