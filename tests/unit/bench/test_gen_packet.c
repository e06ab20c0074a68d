/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-gen's packet builder: headers, lengths, checksums recomputed here, every format. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gen_packet.h"
#include "sluice_record.h"

/* An independent checksum: 32-bit accumulate of big-endian words, folded at the end. */
static uint16_t ref_sum(const uint8_t *const *parts, const size_t *lens, int n)
{
	uint64_t s = 0;

	for (int i = 0; i < n; i++) {
		for (size_t k = 0; k < lens[i]; k++)
			s += (k & 1) ? parts[i][k] : (uint64_t)parts[i][k] << 8;
	}
	while (s > 0xffff)
		s = (s >> 16) + (s & 0xffff);
	return (uint16_t)s;
}

static void flow_v4(struct gen_flow *f)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->src_mac, "\x02\x00\x00\x00\x00\x01", 6);
	memcpy(f->dst_mac, "\x02\x00\x00\x00\x00\x02", 6);
	memcpy(f->src_ip, "\x0a\x00\x00\x07", 4);
	memcpy(f->dst_ip, "\xc0\xa8\x01\x02", 4);
	f->src_port = 40000;
	f->dst_port = 9000;
}

static void check_udp_cksum(const uint8_t *frame, bool v6, size_t payload_len)
{
	const uint8_t *ip = frame + 14;
	const uint8_t *udp = ip + (v6 ? 40 : 20);
	size_t ulen = 8 + payload_len;
	uint8_t pseudo[40];
	size_t plen;

	if (v6) {
		memcpy(pseudo, ip + 8, 32);
		sluice_be32_put(pseudo + 32, (uint32_t)ulen);
		memset(pseudo + 36, 0, 3);
		pseudo[39] = 17;
		plen = 40;
	} else {
		memcpy(pseudo, ip + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = 17;
		pseudo[10] = (uint8_t)(ulen >> 8);
		pseudo[11] = (uint8_t)ulen;
		plen = 12;
	}
	const uint8_t *parts[] = {pseudo, udp};
	size_t lens[] = {plen, ulen};
	assert_int_equal(ref_sum(parts, lens, 2), 0xffff);
	assert_int_equal((udp[4] << 8) | udp[5], ulen);
}

static void test_ipv4_headers_and_checksums(void **state)
{
	uint8_t frame[GEN_MAX_FRAME];
	struct gen_flow f;
	struct gen_packet_view v;
	(void)state;

	flow_v4(&f);
	assert_int_equal(gen_packet_header_bytes(&f), 42);
	for (size_t plen = 0; plen < 300; plen += 7) {
		for (size_t i = 0; i < plen; i++)
			frame[42 + i] = (uint8_t)(i * 31 + plen);
		size_t len = gen_packet_finish(frame, sizeof(frame), &f, plen, (uint16_t)plen);
		assert_int_equal(len, 42 + plen);
		assert_memory_equal(frame, f.dst_mac, 6);
		assert_memory_equal(frame + 6, f.src_mac, 6);
		assert_int_equal(frame[12], 0x08);
		assert_int_equal(frame[13], 0x00);
		const uint8_t *ip = frame + 14;
		const uint8_t *parts[] = {ip};
		size_t lens[] = {20};
		assert_int_equal(ref_sum(parts, lens, 1), 0xffff);
		assert_int_equal((ip[2] << 8) | ip[3], 28 + plen);
		assert_int_equal(ip[9], 17);
		check_udp_cksum(frame, false, plen);
		assert_int_equal(gen_packet_parse(frame, len, &v), GEN_PARSE_OK);
		assert_int_equal(v.payload_len, plen);
		assert_int_equal(v.src_port, 40000);
		assert_int_equal(v.dst_port, 9000);
		assert_memory_equal(v.src_ip, f.src_ip, 4);
		/* any flipped payload bit must break the UDP checksum */
		if (plen) {
			frame[42 + plen / 2] ^= 0x04;
			assert_int_equal(gen_packet_parse(frame, len, &v), GEN_PARSE_UDP_CKSUM);
			frame[42 + plen / 2] ^= 0x04;
		}
		frame[14 + 8] ^= 1; /* TTL */
		assert_int_equal(gen_packet_parse(frame, len, &v), GEN_PARSE_IP_CKSUM);
		frame[14 + 8] ^= 1;
		assert_int_equal(gen_packet_parse(frame, len - 1, &v), GEN_PARSE_IP_LENGTH);
		assert_int_equal(gen_packet_parse(frame, 20, &v), GEN_PARSE_TRUNCATED);
	}
	/* too large for the buffer */
	assert_int_equal(gen_packet_finish(frame, 100, &f, 59, 0), 0);
	assert_int_equal(gen_packet_finish(frame, 100, &f, 58, 0), 100);
}

static void test_ipv6_headers_and_checksums(void **state)
{
	uint8_t frame[GEN_MAX_FRAME];
	struct gen_flow f;
	struct gen_packet_view v;
	(void)state;

	flow_v4(&f);
	f.ipv6 = true;
	memset(f.src_ip, 0, 16);
	memset(f.dst_ip, 0, 16);
	f.src_ip[0] = 0xfd;
	f.src_ip[15] = 1;
	f.dst_ip[0] = 0xfd;
	f.dst_ip[15] = 2;
	assert_int_equal(gen_packet_header_bytes(&f), 62);
	for (size_t plen = 0; plen < 200; plen += 13) {
		memset(frame + 62, 'q', plen);
		size_t len = gen_packet_finish(frame, sizeof(frame), &f, plen, 0);
		assert_int_equal(len, 62 + plen);
		assert_int_equal(frame[12], 0x86);
		assert_int_equal(frame[13], 0xdd);
		assert_int_equal(frame[14] >> 4, 6);
		assert_int_equal((frame[18] << 8) | frame[19], 8 + plen);
		assert_int_equal(frame[20], 17);
		check_udp_cksum(frame, true, plen);
		/* IPv6 forbids a zero UDP checksum */
		assert_false(frame[14 + 40 + 6] == 0 && frame[14 + 40 + 7] == 0);
		assert_int_equal(gen_packet_parse(frame, len, &v), GEN_PARSE_OK);
		assert_true(v.ipv6);
		assert_int_equal(v.payload_len, plen);
	}
}

static void test_event_body(void **state)
{
	uint8_t ev[64];
	uint64_t p, s;
	(void)state;

	assert_int_equal(gen_event_body(ev, 40, 1234, 987654321), 40);
	assert_memory_equal(ev, "1234:987654321:", 15);
	for (int i = 0; i < 40; i++)
		assert_true(ev[i] != '\n');
	assert_int_equal(gen_event_parse(ev, 40, &p, &s), 0);
	assert_int_equal(p, 1234);
	assert_int_equal(s, 987654321);
	/* the filler: 'a' + (seq + i) % 26 after the prefix, at any length */
	static uint8_t big[9000];
	for (size_t sz = 15; sz < sizeof(big); sz = sz * 3 + 1) {
		gen_event_body(big, sz, 1234, 987654321);
		for (size_t i = 15; i < sz; i++)
			assert_int_equal(big[i], 'a' + (987654321 + i) % 26);
	}
	/* stamped: the send time is a third field; the first two still parse */
	gen_event_body_stamped(ev, 60, 7, 42, 1795614314057450407ULL);
	assert_memory_equal(ev, "7:42:1795614314057450407:", 25);
	assert_int_equal(gen_event_parse(ev, 60, &p, &s), 0);
	assert_int_equal(p, 7);
	assert_int_equal(s, 42);
	/* shorter than the prefix: cut, and no longer parseable */
	gen_event_body(ev, 6, 1234, 987654321);
	assert_memory_equal(ev, "1234:9", 6);
	assert_int_equal(gen_event_parse(ev, 6, &p, &s), -EINVAL);
	assert_int_equal(gen_event_parse((const uint8_t *)"x:1:", 4, &p, &s), -EINVAL);
}

static void test_kafka_payload(void **state)
{
	uint8_t out[2048], vals[5][40];
	struct gen_event ev[5];
	struct sluice_rb_header h;
	size_t bb;
	int32_t part;
	(void)state;

	for (int i = 0; i < 5; i++) {
		gen_event_body(vals[i], 20 + (size_t)i, 77, (uint64_t)(100 + i));
		ev[i].value = vals[i];
		ev[i].value_len = 20 + (uint32_t)i;
		ev[i].key = i == 2 ? NULL : (const uint8_t *)"key-7";
		ev[i].key_len = i == 2 ? -1 : 5;
		ev[i].timestamp_ms = 1700000000000LL + i;
	}
	struct gen_kafka_meta m = {
		.partition = 3, .producer_id = 77, .producer_epoch = 2, .base_sequence = 100};
	size_t n = gen_payload_kafka(out, sizeof(out), &m, ev, 5);
	assert_true(n > SLUICE_ENVELOPE_BYTES + SLUICE_RB_HEADER_BYTES);
	assert_int_equal(sluice_envelope_decode(out, n, &part), 0);
	assert_int_equal(part, 3);
	assert_int_equal(sluice_rb_batch_validate(out + 8, n - 8, &h, &bb), SLUICE_RB_OK);
	assert_int_equal(bb, n - 8);
	assert_int_equal(h.producer_id, 77);
	assert_int_equal(h.producer_epoch, 2);
	assert_int_equal(h.base_sequence, 100);
	assert_int_equal(h.record_count, 5);
	assert_int_equal(h.attributes & SLUICE_RB_ATTR_COMPRESSION_MASK, 0);
	struct sluice_rb_record_iter it;
	struct sluice_rb_record r;
	sluice_rb_record_iter_init(&it, out + 8, bb);
	for (int i = 0; i < 5; i++) {
		uint64_t p, s;
		assert_int_equal(sluice_rb_record_iter_next(&it, &r), 1);
		assert_int_equal(r.value_len, 20 + i);
		assert_int_equal(gen_event_parse(r.value, (size_t)r.value_len, &p, &s), 0);
		assert_int_equal(p, 77);
		assert_int_equal(s, 100 + (uint64_t)i);
		assert_int_equal(r.key_len, i == 2 ? -1 : 5);
		assert_int_equal(r.timestamp, 1700000000000LL + i);
	}
	assert_int_equal(sluice_rb_record_iter_next(&it, &r), 0);
	/* partition -1 survives the envelope; a buffer too small is 0, not an overflow */
	m.partition = -1;
	n = gen_payload_kafka(out, sizeof(out), &m, ev, 5);
	assert_int_equal(sluice_envelope_decode(out, n, &part), 0);
	assert_int_equal(part, -1);
	assert_int_equal(gen_payload_kafka(out, n - 1, &m, ev, 5), 0);
	assert_int_equal(gen_payload_kafka(out, 7, &m, ev, 1), 0);
}

static void test_lines_and_raw_payload(void **state)
{
	uint8_t out[256];
	struct gen_event ev[3] = {
		{.value = (const uint8_t *)"alpha", .value_len = 5, .key_len = -1},
		{.value = (const uint8_t *)"be", .value_len = 2, .key_len = -1},
		{.value = (const uint8_t *)"gamma!", .value_len = 6, .key_len = -1},
	};
	(void)state;

	assert_int_equal(gen_payload_lines(out, sizeof(out), ev, 3), 15);
	assert_memory_equal(out, "alpha\nbe\ngamma!", 15);
	assert_int_equal(gen_payload_lines(out, sizeof(out), ev, 1), 5);
	assert_int_equal(gen_payload_lines(out, 14, ev, 3), 0);
	assert_int_equal(gen_payload_raw(out, sizeof(out), &ev[2]), 6);
	assert_memory_equal(out, "gamma!", 6);
	assert_int_equal(gen_payload_raw(out, 5, &ev[2]), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_headers_and_checksums),
		cmocka_unit_test(test_ipv6_headers_and_checksums),
		cmocka_unit_test(test_event_body),
		cmocka_unit_test(test_kafka_payload),
		cmocka_unit_test(test_lines_and_raw_payload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
