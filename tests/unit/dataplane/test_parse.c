/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for dataplane/parse.c: every header combination, malformed lengths, truncation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "dp_craft.h"
#include "sluice_dataplane.h"

static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0xaa};
static const uint8_t mac_b[6] = {0x02, 0, 0, 0, 0, 0xbb};

static struct craft_opts v4(void)
{
	struct craft_opts o = {.family = 4, .sport = 40000, .dport = 5140};
	memcpy(o.dst_mac, mac_a, 6);
	memcpy(o.src_mac, mac_b, 6);
	uint8_t s[4] = {10, 0, 0, 2}, d[4] = {10, 0, 0, 1};
	memcpy(o.src, s, 4);
	memcpy(o.dst, d, 4);
	return o;
}

static struct craft_opts v6(void)
{
	struct craft_opts o = v4();
	o.family = 6;
	memset(o.src, 0, 16);
	memset(o.dst, 0, 16);
	o.src[0] = 0x20, o.src[1] = 0x01, o.src[2] = 0x0d, o.src[3] = 0xb8, o.src[15] = 2;
	o.dst[0] = 0x20, o.dst[1] = 0x01, o.dst[2] = 0x0d, o.dst[3] = 0xb8, o.dst[15] = 1;
	return o;
}

static enum sluice_dp_reject parse(const struct craft_opts *o, const char *payload,
				   struct sluice_pkt_info *pi, unsigned flags)
{
	uint8_t f[2048];
	size_t len = craft_udp(f, o, payload, strlen(payload));
	return sluice_pkt_parse(f, len, flags, pi);
}

static void test_ipv4_udp(void **state)
{
	(void)state;
	struct sluice_pkt_info pi;
	struct craft_opts o = v4();
	assert_int_equal(parse(&o, "hello", &pi, 0), SLUICE_DP_REJECT_NONE);
	assert_int_equal(pi.kind, SLUICE_PKT_UDP);
	assert_int_equal(pi.family, 4);
	assert_int_equal(pi.vlans, 0);
	assert_int_equal(pi.src_port, 40000);
	assert_int_equal(pi.dst_port, 5140);
	assert_int_equal(pi.payload_off, 14 + 20 + 8);
	assert_int_equal(pi.payload_len, 5);
	assert_memory_equal(pi.dst_addr, o.dst, 4);
	assert_memory_equal(pi.src_addr, o.src, 4);
	assert_memory_equal(pi.dst_mac, mac_a, 6);
}

static void test_vlan_qinq(void **state)
{
	(void)state;
	struct sluice_pkt_info pi;
	struct craft_opts o = v4();
	for (int tags = 1; tags <= 2; tags++) {
		o.vlans = tags;
		assert_int_equal(parse(&o, "x", &pi, 0), SLUICE_DP_REJECT_NONE);
		assert_int_equal(pi.vlans, tags);
		assert_int_equal(pi.vlan_tci[0], 100);
		assert_int_equal(pi.payload_off, 14 + 4 * tags + 28);
		o.family = 6;
		memcpy(o.dst, v6().dst, 16);
		memcpy(o.src, v6().src, 16);
		assert_int_equal(parse(&o, "x", &pi, 0), SLUICE_DP_REJECT_NONE);
		assert_int_equal(pi.vlans, tags);
		assert_int_equal(pi.family, 6);
		o = v4();
	}
	o.vlans = 3;
	assert_int_equal(parse(&o, "x", &pi, 0), SLUICE_DP_REJECT_VLAN_DEPTH);
}

static void test_ipv4_options(void **state)
{
	(void)state;
	struct sluice_pkt_info pi;
	struct craft_opts o = v4();
	for (int ihl = 5; ihl <= 15; ihl++) {
		o.ihl = ihl;
		assert_int_equal(parse(&o, "opt", &pi, 0), SLUICE_DP_REJECT_NONE);
		assert_int_equal(pi.l4_off, 14 + ihl * 4);
		assert_int_equal(pi.payload_len, 3);
	}
	/* Header length below 5 words. */
	uint8_t f[256];
	o = v4();
	size_t len = craft_udp(f, &o, "abc", 3);
	f[14] = 0x44;
	assert_int_equal(sluice_pkt_parse(f, len, SLUICE_PKT_F_IP_CKSUM_GOOD, &pi),
			 SLUICE_DP_REJECT_IP_HEADER);
	/* Options running past the frame: 15 words in a 20-byte IP header frame. */
	f[14] = 0x4f;
	assert_int_equal(sluice_pkt_parse(f, 14 + 40, SLUICE_PKT_F_IP_CKSUM_GOOD, &pi),
			 SLUICE_DP_REJECT_IP_OPTIONS);
	/* Bad version. */
	f[14] = 0x55;
	assert_int_equal(sluice_pkt_parse(f, len, 0, &pi), SLUICE_DP_REJECT_IP_HEADER);
}

static void test_ipv4_checksum(void **state)
{
	(void)state;
	struct sluice_pkt_info pi;
	struct craft_opts o = v4();
	o.bad_ip_csum = true;
	assert_int_equal(parse(&o, "x", &pi, 0), SLUICE_DP_REJECT_IP_CHECKSUM);
	/* The NIC verified it: no software check. */
	assert_int_equal(parse(&o, "x", &pi, SLUICE_PKT_F_IP_CKSUM_GOOD), SLUICE_DP_REJECT_NONE);
	o.bad_ip_csum = false;
	assert_int_equal(parse(&o, "x", &pi, SLUICE_PKT_F_IP_CKSUM_BAD),
			 SLUICE_DP_REJECT_IP_CHECKSUM);
}

static void test_fragments(void **state)
{
	(void)state;
	struct sluice_pkt_info pi;
	struct craft_opts o = v4();
	o.frag = true;
	assert_int_equal(parse(&o, "frag", &pi, 0), SLUICE_DP_REJECT_IP_FRAGMENT);
	o = v6();
	o.frag = true;
	assert_int_equal(parse(&o, "frag", &pi, 0), SLUICE_DP_REJECT_IP_FRAGMENT);
	/* Offset only (last fragment). */
	uint8_t f[256];
	o = v4();
	size_t len = craft_udp(f, &o, "abc", 3);
	f[14 + 7] = 0x10;
	assert_int_equal(sluice_pkt_parse(f, len, SLUICE_PKT_F_IP_CKSUM_GOOD, &pi),
			 SLUICE_DP_REJECT_IP_FRAGMENT);
}

static void test_ip_lengths(void **state)
{
	(void)state;
	struct sluice_pkt_info pi;
	struct craft_opts o = v4();
	o.ip_len_delta = 1; /* total length beyond the frame */
	assert_int_equal(parse(&o, "abc", &pi, SLUICE_PKT_F_IP_CKSUM_GOOD),
			 SLUICE_DP_REJECT_IP_HEADER);
	o.ip_len_delta = -30; /* below the header */
	assert_int_equal(parse(&o, "abc", &pi, SLUICE_PKT_F_IP_CKSUM_GOOD),
			 SLUICE_DP_REJECT_IP_HEADER);
	/* Ethernet padding after the datagram is fine. */
	o = v4();
	o.pad = 20;
	assert_int_equal(parse(&o, "abc", &pi, 0), SLUICE_DP_REJECT_NONE);
	assert_int_equal(pi.payload_len, 3);
	o = v6();
	o.ip_len_delta = 1;
	assert_int_equal(parse(&o, "abc", &pi, 0), SLUICE_DP_REJECT_IP_HEADER);
}

static void test_udp_length(void **state)
{
	(void)state;
	struct sluice_pkt_info pi;
	struct craft_opts o = v4();
	o.zero_udp_csum = true;
	o.udp_len_delta = 1;
	assert_int_equal(parse(&o, "abcd", &pi, 0), SLUICE_DP_REJECT_UDP_LENGTH);
	o.udp_len_delta = -5; /* below the header */
	assert_int_equal(parse(&o, "abcd", &pi, 0), SLUICE_DP_REJECT_UDP_LENGTH);
	o.udp_len_delta = -2; /* shorter than the IP payload: trailing bytes ignored */
	assert_int_equal(parse(&o, "abcd", &pi, 0), SLUICE_DP_REJECT_NONE);
	assert_int_equal(pi.payload_len, 2);
	/* IP payload too short for a UDP header. */
	uint8_t f[128];
	o = v4();
	o.proto = 17;
	size_t l4 = craft_ip(f, &o, 17, 4);
	memset(f + l4, 0, 4);
	assert_int_equal(sluice_pkt_parse(f, l4 + 4, 0, &pi), SLUICE_DP_REJECT_UDP_LENGTH);
}

static void test_udp_checksum(void **state)
{
	(void)state;
	struct sluice_pkt_info pi;
	struct craft_opts o = v4();
	o.bad_udp_csum = true;
	assert_int_equal(parse(&o, "payload", &pi, 0), SLUICE_DP_REJECT_UDP_CHECKSUM);
	assert_int_equal(parse(&o, "payload", &pi, SLUICE_PKT_F_L4_CKSUM_GOOD),
			 SLUICE_DP_REJECT_NONE);
	o.bad_udp_csum = false;
	assert_int_equal(parse(&o, "payload", &pi, SLUICE_PKT_F_L4_CKSUM_BAD),
			 SLUICE_DP_REJECT_UDP_CHECKSUM);
	o.zero_udp_csum = true;
	assert_int_equal(parse(&o, "payload", &pi, 0), SLUICE_DP_REJECT_NONE);
	o = v6();
	o.bad_udp_csum = true;
	assert_int_equal(parse(&o, "payload", &pi, 0), SLUICE_DP_REJECT_UDP_CHECKSUM);
	o.bad_udp_csum = false;
	o.zero_udp_csum = true; /* mandatory over IPv6 */
	assert_int_equal(parse(&o, "payload", &pi, 0), SLUICE_DP_REJECT_UDP_CHECKSUM);
	/* Every length up to 80 and a full-size datagram, with carries (0xff bytes), over
	 * both families: the word-at-a-time checksum against the test's byte-wise one. */
	uint8_t f[2048], pl[1472];
	for (size_t i = 0; i < sizeof(pl); i++)
		pl[i] = (uint8_t)(i * 37 % 7 == 0 ? 0xff : i * 131);
	for (int fam = 4; fam <= 6; fam += 2) {
		o = fam == 4 ? v4() : v6();
		for (size_t n = 0; n <= 81; n++) {
			size_t plen = n == 81 ? (fam == 4 ? 1472 : 1452) : n;
			size_t len = craft_udp(f, &o, pl, plen);
			assert_int_equal(sluice_pkt_parse(f, len, 0, &pi), SLUICE_DP_REJECT_NONE);
			f[len - 1] ^= 0x10;
			assert_int_equal(sluice_pkt_parse(f, len, 0, &pi),
					 SLUICE_DP_REJECT_UDP_CHECKSUM);
		}
	}
}

static void test_ipv6_ext(void **state)
{
	(void)state;
	struct sluice_pkt_info pi;
	struct craft_opts o = v6();
	for (int n = 0; n <= SLUICE_PKT_MAX_IPV6_EXT; n++) {
		o.ext_headers = n;
		assert_int_equal(parse(&o, "ext", &pi, 0), SLUICE_DP_REJECT_NONE);
		assert_int_equal(pi.l4_off, 14 + 40 + 8 * n);
		assert_int_equal(pi.payload_len, 3);
	}
	o.ext_headers = SLUICE_PKT_MAX_IPV6_EXT + 1;
	assert_int_equal(parse(&o, "ext", &pi, 0), SLUICE_DP_REJECT_IP_EXT_LIMIT);
	o.ext_headers = 1;
	o.hbh_second = true;
	assert_int_equal(parse(&o, "ext", &pi, 0), SLUICE_DP_REJECT_IP_EXT_LIMIT);
	/* Extension header length running past the payload. */
	uint8_t f[256];
	o = v6();
	o.ext_headers = 1;
	size_t len = craft_udp(f, &o, "abc", 3);
	f[14 + 40 + 1] = 10;
	assert_int_equal(sluice_pkt_parse(f, len, 0, &pi), SLUICE_DP_REJECT_IP_EXT_LIMIT);
}

static void test_other_protocols(void **state)
{
	(void)state;
	struct sluice_pkt_info pi;
	struct craft_opts o = v4();
	o.proto = 6;
	assert_int_equal(parse(&o, "tcp?", &pi, 0), SLUICE_DP_REJECT_NOT_UDP);
	o = v6();
	o.proto = 6;
	assert_int_equal(parse(&o, "tcp?", &pi, 0), SLUICE_DP_REJECT_NOT_UDP);

	uint8_t f[128];
	o = v4();
	size_t len = craft_udp(f, &o, "x", 1);
	f[12] = 0x88, f[13] = 0xcc; /* LLDP */
	assert_int_equal(sluice_pkt_parse(f, len, 0, &pi), SLUICE_DP_REJECT_ETHERTYPE);

	uint8_t ip[4] = {10, 0, 0, 1};
	len = craft_arp(f, &o, 1, ip);
	assert_int_equal(sluice_pkt_parse(f, len, 0, &pi), SLUICE_DP_REJECT_NONE);
	assert_int_equal(pi.kind, SLUICE_PKT_ARP);
	assert_memory_equal(pi.dst_addr, ip, 4);
	assert_int_equal(sluice_pkt_parse(f, len - 1, 0, &pi), SLUICE_DP_REJECT_ARP_BAD);
	f[14 + 4] = 8; /* hardware length */
	assert_int_equal(sluice_pkt_parse(f, len, 0, &pi), SLUICE_DP_REJECT_ARP_BAD);

	len = craft_icmp(f, &o, 8, NULL, 16);
	assert_int_equal(sluice_pkt_parse(f, len, 0, &pi), SLUICE_DP_REJECT_NONE);
	assert_int_equal(pi.kind, SLUICE_PKT_ICMP4);
	f[len - 1] ^= 1;
	assert_int_equal(sluice_pkt_parse(f, len, 0, &pi), SLUICE_DP_REJECT_ICMP_BAD);
	o = v6();
	len = craft_icmp(f, &o, 128, NULL, 5);
	assert_int_equal(sluice_pkt_parse(f, len, 0, &pi), SLUICE_DP_REJECT_NONE);
	assert_int_equal(pi.kind, SLUICE_PKT_ICMP6);
}

/* Every prefix of a valid frame is rejected (never accepted with garbage), never crashes. */
static void test_truncation(void **state)
{
	(void)state;
	struct sluice_pkt_info pi;
	struct craft_opts opts[4] = {v4(), v6(), v4(), v6()};
	opts[2].vlans = 2;
	opts[2].ihl = 9;
	opts[3].vlans = 1;
	opts[3].ext_headers = 3;
	for (int k = 0; k < 4; k++) {
		uint8_t f[256];
		size_t len = craft_udp(f, &opts[k], "truncate me", 11);
		assert_int_equal(sluice_pkt_parse(f, len, 0, &pi), SLUICE_DP_REJECT_NONE);
		for (size_t n = 0; n < len; n++) {
			uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan catches overreads */
			memcpy(copy, f, n);
			enum sluice_dp_reject r = sluice_pkt_parse(copy, n, 0, &pi);
			assert_int_not_equal(r, SLUICE_DP_REJECT_NONE);
			if (n < 14)
				assert_int_equal(r, SLUICE_DP_REJECT_ETH_TRUNCATED);
			free(copy);
		}
	}
}

static void test_names(void **state)
{
	(void)state;
	for (int r = 0; r < SLUICE_DP_REJECT__COUNT; r++) {
		const char *n = sluice_dp_reject_name((enum sluice_dp_reject)r);
		assert_non_null(n);
		assert_string_not_equal(n, "unknown");
		for (int q = 0; q < r; q++)
			assert_string_not_equal(n, sluice_dp_reject_name((enum sluice_dp_reject)q));
	}
	assert_string_equal(sluice_dp_reject_name(SLUICE_DP_REJECT_UDP_CHECKSUM), "udp_checksum");
	assert_string_equal(sluice_dp_reject_name(SLUICE_DP_REJECT__COUNT), "unknown");
	assert_string_equal(sluice_dp_shed_name(SLUICE_DP_SHED_RING_FULL), "ring_full");
	assert_int_equal(sluice_format_from_name("lines"), SLUICE_FORMAT_LINES);
	assert_int_equal(sluice_format_from_name("xml"), -EINVAL);
	assert_int_equal(sluice_backpressure_from_name("block"), SLUICE_BACKPRESSURE_BLOCK);
	assert_int_equal(sluice_keyless_mode_from_name("round_robin"), SLUICE_KEYLESS_ROUND_ROBIN);
	assert_int_equal(sluice_key_mode_from_name("source_addr"), SLUICE_KEY_SOURCE_ADDR);
	assert_string_equal(sluice_format_name(SLUICE_FORMAT_KAFKA), "kafka");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_udp),     cmocka_unit_test(test_vlan_qinq),
		cmocka_unit_test(test_ipv4_options), cmocka_unit_test(test_ipv4_checksum),
		cmocka_unit_test(test_fragments),    cmocka_unit_test(test_ip_lengths),
		cmocka_unit_test(test_udp_length),   cmocka_unit_test(test_udp_checksum),
		cmocka_unit_test(test_ipv6_ext),     cmocka_unit_test(test_other_protocols),
		cmocka_unit_test(test_truncation),   cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
