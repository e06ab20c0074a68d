/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test helpers: craft Ethernet frames (VLAN, IPv4 with options, IPv6 with extension headers,
 * UDP, ICMP, ARP, ND) with correct or deliberately wrong lengths and checksums, and `kafka`
 * payloads. Shared by the dataplane unit, functional and fuzz-corpus code. The checksum here
 * is a plain 16-bit loop, independent of the one under test.
 */
#ifndef DP_CRAFT_H
#define DP_CRAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sluice_record.h"

struct craft_opts {
	int family; /* 4 (default when 0) or 6 */
	int vlans; /* 0..3 tags (first 0x88A8 when 2+, then 0x8100) */
	uint8_t dst_mac[6];
	uint8_t src_mac[6];
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
	int ihl; /* IPv4 header words (5..15); 0 = 5 */
	int ext_headers; /* IPv6: destination-options headers before UDP */
	bool hbh_second; /* IPv6: a hop-by-hop header after the first extension header */
	bool frag; /* IPv4 MF / IPv6 fragment header */
	bool bad_ip_csum;
	bool bad_udp_csum;
	bool zero_udp_csum;
	int udp_len_delta; /* added to the UDP length field */
	int ip_len_delta; /* added to the IPv4 total / IPv6 payload length field */
	uint8_t proto; /* 0 = UDP (17) */
	size_t pad; /* Ethernet padding after the datagram */
};

static inline uint16_t craft_csum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline uint32_t craft_pseudo(int family, const uint8_t *src, const uint8_t *dst,
				    uint8_t proto, size_t len)
{
	uint32_t sum = 0;
	size_t n = family == 6 ? 16 : 4;
	for (size_t i = 0; i < n; i += 2)
		sum += (uint32_t)(src[i] << 8 | src[i + 1]) + (uint32_t)(dst[i] << 8 | dst[i + 1]);
	return sum + proto + (uint32_t)len;
}

static inline void craft_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Ethernet + VLAN tags; returns the offset of the ethertype's payload. */
static inline size_t craft_l2(uint8_t *out, const struct craft_opts *o, uint16_t ethertype)
{
	memcpy(out, o->dst_mac, 6);
	memcpy(out + 6, o->src_mac, 6);
	size_t off = 12;
	for (int i = 0; i < o->vlans; i++) {
		craft_put16(out + off, i == 0 && o->vlans > 1 ? 0x88A8 : 0x8100);
		craft_put16(out + off + 2, (uint16_t)(100 + i));
		off += 4;
	}
	craft_put16(out + off, ethertype);
	return off + 2;
}

/* IP header(s) for @p l4_len bytes of @p proto; returns the L4 offset. */
static inline size_t craft_ip(uint8_t *out, const struct craft_opts *o, uint8_t proto,
			      size_t l4_len)
{
	int family = o->family ? o->family : 4;
	size_t off = craft_l2(out, o, family == 4 ? 0x0800 : 0x86DD);
	uint8_t *ip = out + off;
	if (family == 4) {
		int ihl = o->ihl ? o->ihl : 5;
		size_t hl = (size_t)ihl * 4;
		memset(ip, 0, hl);
		ip[0] = (uint8_t)(0x40 | ihl);
		craft_put16(ip + 2, (uint16_t)((int)(hl + l4_len) + o->ip_len_delta));
		craft_put16(ip + 4, 0x1234);
		if (o->frag)
			craft_put16(ip + 6, 0x2000);
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, o->src, 4);
		memcpy(ip + 16, o->dst, 4);
		for (size_t i = 20; i < hl; i++)
			ip[i] = 1; /* NOP options */
		uint16_t c = craft_csum(ip, hl, 0);
		craft_put16(ip + 10, o->bad_ip_csum ? (uint16_t)(c ^ 0x5555) : c);
		return off + hl;
	}
	size_t ext = (size_t)o->ext_headers * 8 + (o->hbh_second ? 8 : 0) + (o->frag ? 8 : 0);
	memset(ip, 0, 40);
	ip[0] = 0x60;
	craft_put16(ip + 4, (uint16_t)((int)(ext + l4_len) + o->ip_len_delta));
	ip[7] = 64;
	memcpy(ip + 8, o->src, 16);
	memcpy(ip + 24, o->dst, 16);
	uint8_t *nh = &ip[6];
	size_t pos = off + 40;
	for (int i = 0; i < o->ext_headers; i++) {
		*nh = 60;
		memset(out + pos, 0, 8);
		nh = &out[pos];
		pos += 8;
		if (i == 0 && o->hbh_second) {
			*nh = 0;
			memset(out + pos, 0, 8);
			nh = &out[pos];
			pos += 8;
		}
	}
	if (o->frag) {
		*nh = 44;
		memset(out + pos, 0, 8);
		nh = &out[pos];
		pos += 8;
	}
	*nh = proto;
	return pos;
}

/* A UDP frame; returns its length. */
static inline size_t craft_udp(uint8_t *out, const struct craft_opts *o, const void *payload,
			       size_t plen)
{
	int family = o->family ? o->family : 4;
	uint8_t proto = o->proto ? o->proto : 17;
	size_t l4 = craft_ip(out, o, proto, 8 + plen);
	uint8_t *u = out + l4;
	craft_put16(u, o->sport);
	craft_put16(u + 2, o->dport);
	craft_put16(u + 4, (uint16_t)((int)(8 + plen) + o->udp_len_delta));
	craft_put16(u + 6, 0);
	if (plen)
		memcpy(u + 8, payload, plen);
	if (!o->zero_udp_csum) {
		uint16_t c = craft_csum(u, 8 + plen,
					craft_pseudo(family, o->src, o->dst, proto, 8 + plen));
		if (c == 0)
			c = 0xffff;
		craft_put16(u + 6, o->bad_udp_csum ? (uint16_t)(c ^ 0x0f0f) : c);
	}
	memset(u + 8 + plen, 0, o->pad);
	return l4 + 8 + plen + o->pad;
}

/* ICMP echo request (v4) or ICMPv6 echo request / neighbour solicitation (type 135). */
static inline size_t craft_icmp(uint8_t *out, const struct craft_opts *o, uint8_t type,
				const uint8_t *target, size_t data_len)
{
	int family = o->family ? o->family : 4;
	size_t body = type == 135 ? 32 : 8 + data_len;
	size_t l4 = craft_ip(out, o, family == 4 ? 1 : 58, body);
	uint8_t *p = out + l4;
	memset(p, 0, body);
	p[0] = type;
	if (type == 135) {
		memcpy(p + 8, target, 16);
		p[24] = 1;
		p[25] = 1;
		memcpy(p + 26, o->src_mac, 6);
		out[(size_t)(l4 - 40 + 7)] = 255; /* hop limit (no extension headers) */
	} else {
		craft_put16(p + 4, 0x4242);
		craft_put16(p + 6, 7);
		for (size_t i = 0; i < data_len; i++)
			p[8 + i] = (uint8_t)i;
	}
	uint32_t ps = family == 6 ? craft_pseudo(6, o->src, o->dst, 58, body) : 0;
	craft_put16(p + 2, craft_csum(p, body, ps));
	return l4 + body;
}

static inline size_t craft_arp(uint8_t *out, const struct craft_opts *o, uint16_t oper,
			       const uint8_t *target_ip)
{
	size_t off = craft_l2(out, o, 0x0806);
	uint8_t *a = out + off;
	craft_put16(a, 1);
	craft_put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	craft_put16(a + 6, oper);
	memcpy(a + 8, o->src_mac, 6);
	memcpy(a + 14, o->src, 4);
	memset(a + 18, 0, 6);
	memcpy(a + 24, target_ip, 4);
	return off + 28;
}

/*
 * A `kafka` payload: envelope + one batch of @p n records "k<i>"/"value-<i>" (null keys when
 * keyed is false), producer @p pid, epoch, base sequence. Returns the payload length.
 */
static inline size_t craft_kafka(uint8_t *out, size_t cap, int32_t partition, int n, bool keyed,
				 int64_t pid, int16_t epoch, int32_t base_seq)
{
	struct sluice_rb_builder b;
	struct sluice_rb_batch_meta meta = {
		.producer_id = pid, .producer_epoch = epoch, .base_sequence = base_seq};
	sluice_envelope_encode(out, partition);
	if (sluice_rb_builder_init(&b, out + SLUICE_ENVELOPE_BYTES, cap - SLUICE_ENVELOPE_BYTES,
				   &meta) != 0)
		return 0;
	for (int i = 0; i < n; i++) {
		char key[16], val[32];
		int kl = 0, vl = 0;
		kl = snprintf(key, sizeof(key), "k%d", i);
		vl = snprintf(val, sizeof(val), "value-%d", i);
		struct sluice_rb_record r = {
			.timestamp = 1700000000000 + i,
			.key = keyed ? (const uint8_t *)key : NULL,
			.key_len = keyed ? kl : -1,
			.value = (const uint8_t *)val,
			.value_len = vl,
		};
		if (sluice_rb_builder_append(&b, &r) != 0)
			return 0;
	}
	return SLUICE_ENVELOPE_BYTES + sluice_rb_builder_seal(&b);
}

#endif /* DP_CRAFT_H */
