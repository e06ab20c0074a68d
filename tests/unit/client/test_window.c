/* SPDX-License-Identifier: BSD-3-Clause */
/* The ack codec (storage/record.c) and libsluice's window (client/window.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sluice_record.h"
#include "sluice_window.h"

static struct sluice_ack sample(void)
{
	struct sluice_ack a = {
		.producer_id = 0x0102030405060708,
		.epoch = 7,
		.partition = 3,
		.durable_next = 100,
		.window = 4096,
		.ndurable = 2,
		.nresend = 1,
		.durable = {{110, 120}, {130, 131}},
		.resend = {{100, 110}},
	};
	return a;
}

static void same(const struct sluice_ack *a, const struct sluice_ack *b)
{
	assert_int_equal(a->producer_id, b->producer_id);
	assert_int_equal(a->epoch, b->epoch);
	assert_int_equal(a->partition, b->partition);
	assert_int_equal(a->durable_next, b->durable_next);
	assert_int_equal(a->window, b->window);
	assert_int_equal(a->ndurable, b->ndurable);
	assert_int_equal(a->nresend, b->nresend);
	for (unsigned i = 0; i < a->ndurable; i++) {
		assert_int_equal(a->durable[i].base, b->durable[i].base);
		assert_int_equal(a->durable[i].end, b->durable[i].end);
	}
	for (unsigned i = 0; i < a->nresend; i++) {
		assert_int_equal(a->resend[i].base, b->resend[i].base);
		assert_int_equal(a->resend[i].end, b->resend[i].end);
	}
}

static void test_codec_roundtrip(void **state)
{
	(void)state;
	uint8_t buf[SLUICE_ACK_MAX_BYTES];
	struct sluice_ack a = sample(), b;
	size_t n = sluice_ack_encode(&a, buf);
	assert_int_equal(n, SLUICE_ACK_HEADER_BYTES + 3 * 8);
	assert_int_equal(buf[0], 0x53);
	assert_int_equal(buf[1], 0x41);
	assert_int_equal(sluice_ack_decode(buf, n, &b), 0);
	same(&a, &b);
	/* the largest */
	a.ndurable = a.nresend = SLUICE_ACK_MAX_RANGES;
	for (int i = 0; i < 4; i++) {
		a.durable[i] = (struct sluice_ack_range){200 + 10 * i, 205 + 10 * i};
		a.resend[i] = (struct sluice_ack_range){100 + i, 101 + i};
	}
	assert_int_equal(sluice_ack_encode(&a, buf), SLUICE_ACK_MAX_BYTES);
	assert_int_equal(sluice_ack_decode(buf, SLUICE_ACK_MAX_BYTES, &b), 0);
	same(&a, &b);
}

static void test_codec_rejects(void **state)
{
	(void)state;
	uint8_t buf[SLUICE_ACK_MAX_BYTES + 8], bad[sizeof(buf)];
	struct sluice_ack a = sample(), b;
	size_t n = sluice_ack_encode(&a, buf);

	for (size_t l = 0; l < n; l++) /* every truncation */
		assert_int_not_equal(sluice_ack_decode(buf, l, &b), 0);
	assert_int_equal(sluice_ack_decode(buf, n + 1, &b), -EMSGSIZE); /* trailing */
	assert_int_equal(sluice_ack_decode(NULL, n, &b), -EMSGSIZE);
	struct {
		size_t off;
		uint8_t val;
		int rc;
	} cases[] = {
		{0, 0x54, -EPROTO}, /* magic */
		{2, 2, -EPROTO}, /* version */
		{3, 1, -EPROTO}, /* flags */
		{4, 0x80, -EINVAL}, /* negative producer id */
		{12, 0x80, -EINVAL}, /* negative epoch */
		{14, 5, -EINVAL}, /* too many durable ranges */
		{15, 9, -EINVAL}, /* too many resend ranges */
		{14, 1, -EMSGSIZE}, /* count disagrees with the length */
		{16, 0x80, -EINVAL}, /* negative partition */
		{20, 0x80, -EINVAL}, /* negative durable_next */
		{28 + 3, 99, -EINVAL}, /* durable range at or below durable_next */
		{28 + 7, 100, -EINVAL}, /* empty range (end <= base) */
		{28 + 16, 0x80, -EINVAL}, /* negative resend base */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, buf, n);
		bad[cases[i].off] = cases[i].val;
		assert_int_equal(sluice_ack_decode(bad, n, &b), cases[i].rc);
	}
	/* The encoder refuses what the decoder would. */
	a.durable_next = -1;
	assert_int_equal(sluice_ack_encode(&a, buf), 0);
	a = sample();
	a.resend[0].end = a.resend[0].base;
	assert_int_equal(sluice_ack_encode(&a, buf), 0);
}

struct sent {
	int n;
	int32_t base[64];
	int fail_after; /* refuse sends after this many (-1: never) */
};

static int sender(void *arg, const uint8_t *d, size_t len)
{
	struct sent *s = arg;
	assert_true(len >= 4);
	if (s->fail_after >= 0 && s->n >= s->fail_after)
		return -EAGAIN;
	int32_t base;
	memcpy(&base, d, 4);
	s->base[s->n++] = base;
	return 0;
}

static struct sluice_window *mk(uint32_t slots, uint32_t window)
{
	struct sluice_window *w;
	struct sluice_window_opts o = {.slots = slots,
				       .slot_bytes = 64,
				       .window_records = window,
				       .rto_min_us = 1000,
				       .rto_max_us = 8000};
	assert_int_equal(sluice_window_create(&o, &w), 0);
	return w;
}

static void push(struct sluice_window *w, int32_t base, uint32_t n, uint64_t now)
{
	assert_int_equal(sluice_window_push(w, (const uint8_t *)&base, sizeof(base), base, n, now),
			 0);
}

static void test_window_ack_and_room(void **state)
{
	(void)state;
	struct sluice_window *w = mk(4, 30);
	struct sluice_ack a = {.producer_id = 1};
	assert_true(sluice_window_has_room(w, 100)); /* empty: any one datagram */
	push(w, 0, 10, 0);
	push(w, 10, 10, 0);
	push(w, 20, 10, 0);
	assert_false(sluice_window_has_room(w, 1)); /* 30 records in flight */
	assert_int_equal(sluice_window_inflight_records(w), 30);
	assert_int_equal(sluice_window_low(w), 0);
	/* durable range above a hole: records count at once, the slot waits for the head */
	a.durable_next = 0;
	a.ndurable = 1;
	a.durable[0] = (struct sluice_ack_range){10, 20};
	assert_int_equal(sluice_window_ack(w, &a, 500), 10);
	assert_int_equal(sluice_window_inflight(w), 3);
	assert_int_equal(sluice_window_inflight_records(w), 20);
	assert_true(sluice_window_has_room(w, 10));
	/* the same ack again moves nothing */
	assert_int_equal(sluice_window_ack(w, &a, 600), 0);
	a.durable_next = 10;
	a.ndurable = 0;
	assert_int_equal(sluice_window_ack(w, &a, 700), 10);
	assert_int_equal(sluice_window_inflight(w), 1);
	assert_int_equal(sluice_window_low(w), 20);
	push(w, 30, 10, 700);
	push(w, 40, 10, 700);
	push(w, 50, 5, 700);
	assert_int_equal(sluice_window_push(w, (const uint8_t *)"x", 1, 55, 1, 700), -ENOBUFS);
	a.durable_next = 55;
	assert_int_equal(sluice_window_ack(w, &a, 800), 35);
	assert_int_equal(sluice_window_inflight(w), 0);
	assert_int_equal(sluice_window_low(w), -1);
	struct sluice_window_stats st;
	sluice_window_stats(w, &st);
	assert_int_equal(st.acked_records, 55);
	assert_int_equal(st.acks, 3);
	assert_int_equal(st.acks_stale, 1);
	assert_true(st.srtt_us > 0);
	sluice_window_destroy(w);
}

static void test_window_retransmit_backoff(void **state)
{
	(void)state;
	struct sluice_window *w = mk(8, 1000);
	struct sent s = {.fail_after = -1};
	push(w, 0, 5, 0);
	push(w, 5, 5, 0);
	assert_int_equal(sluice_window_next_timeout_us(w, 0), 1000);
	assert_int_equal(sluice_window_retransmit(w, 999, sender, &s), 0);
	assert_int_equal(sluice_window_retransmit(w, 1000, sender, &s), 2); /* rto 1 ms */
	assert_int_equal(sluice_window_next_timeout_us(w, 1000), 2000); /* doubled */
	assert_int_equal(sluice_window_retransmit(w, 3000, sender, &s), 2);
	assert_int_equal(sluice_window_retransmit(w, 7000, sender, &s), 2); /* 4 ms */
	assert_int_equal(sluice_window_retransmit(w, 15000, sender, &s), 2); /* 8 ms: cap */
	assert_int_equal(sluice_window_next_timeout_us(w, 15000), 8000);
	assert_int_equal(s.n, 8);
	assert_int_equal(s.base[0], 0);
	assert_int_equal(s.base[1], 5);
	/* an ack's resend range makes a datagram due now */
	struct sluice_ack a = {.durable_next = 0, .nresend = 1, .resend = {{5, 10}}};
	assert_int_equal(sluice_window_ack(w, &a, 16000), 0);
	assert_int_equal(sluice_window_next_timeout_us(w, 16000), 0);
	assert_int_equal(sluice_window_retransmit(w, 16000, sender, &s), 1);
	assert_int_equal(s.base[8], 5);
	/* a sender that refuses stops the round; the rest stays due */
	s.fail_after = s.n;
	assert_int_equal(sluice_window_retransmit(w, 100000, sender, &s), 0);
	assert_int_equal(sluice_window_next_timeout_us(w, 100000), 0);
	struct sluice_window_stats st;
	sluice_window_stats(w, &st);
	assert_int_equal(st.retransmits, 9);
	assert_int_equal(st.resend_hints, 1);
	assert_int_equal(st.srtt_us, 0); /* retransmitted datagrams are no RTT samples */
	a = (struct sluice_ack){.durable_next = 10};
	assert_int_equal(sluice_window_ack(w, &a, 100000), 10);
	assert_int_equal(sluice_window_next_timeout_us(w, 100000), UINT64_MAX);
	sluice_window_destroy(w);
}

static void test_window_opts(void **state)
{
	(void)state;
	struct sluice_window *w;
	struct sluice_window_opts o = {
		.slots = 1, .slot_bytes = 8, .window_records = 1, .rto_min_us = 2, .rto_max_us = 1};
	assert_int_equal(sluice_window_create(&o, &w), -EINVAL);
	o.rto_max_us = 2;
	assert_int_equal(sluice_window_create(&o, &w), 0);
	assert_int_equal(sluice_window_push(w, (const uint8_t *)"123456789", 9, 0, 1, 0),
			 -EMSGSIZE);
	sluice_window_destroy(w);
	sluice_window_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_roundtrip),
		cmocka_unit_test(test_codec_rejects),
		cmocka_unit_test(test_window_ack_and_room),
		cmocka_unit_test(test_window_retransmit_backoff),
		cmocka_unit_test(test_window_opts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
