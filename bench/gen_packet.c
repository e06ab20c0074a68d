/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-gen packet and payload builder (see gen_packet.h). Pure; no EAL. */
#include <errno.h>
#include <string.h>

#include "gen_packet.h"
#include "sluice_text.h"
#include "sluice_record.h"

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86DD
#define IPPROTO_UDP_ 17

static void be16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t be16_get(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t cksum_add(const uint8_t *p, size_t len, uint32_t sum)
{
	uint64_t s = sum;

	/* 32 bits at a time into a 64-bit accumulator; the one's complement sum folds the same
	 * whatever the grouping (RFC 1071 section 2). */
	while (len >= 4) {
		s += sluice_be32_get(p);
		p += 4;
		len -= 4;
	}
	while (len >= 2) {
		s += (uint32_t)((p[0] << 8) | p[1]);
		p += 2;
		len -= 2;
	}
	if (len)
		s += (uint32_t)(p[0] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

uint16_t gen_inet_cksum(const void *buf, size_t len, uint32_t sum)
{
	uint32_t s = cksum_add(buf, len, sum);

	return (uint16_t)~s;
}

size_t gen_packet_header_bytes(const struct gen_flow *f)
{
	return GEN_ETH_BYTES + (f->ipv6 ? GEN_IPV6_BYTES : GEN_IPV4_BYTES) + GEN_UDP_BYTES;
}

/* Sum of the UDP pseudo-header (RFC 768 / RFC 8200 8.1), not yet folded or inverted. */
static uint32_t pseudo_sum(bool ipv6, const uint8_t *src, const uint8_t *dst, uint32_t udp_len)
{
	uint8_t tail[8];
	uint32_t s = 0;
	size_t alen = ipv6 ? 16 : 4;

	s = cksum_add(src, alen, s);
	s = cksum_add(dst, alen, s);
	if (ipv6) {
		sluice_be32_put(tail, udp_len);
		tail[4] = tail[5] = tail[6] = 0;
		tail[7] = IPPROTO_UDP_;
		return cksum_add(tail, 8, s);
	}
	tail[0] = 0;
	tail[1] = IPPROTO_UDP_;
	be16_put(tail + 2, (uint16_t)udp_len);
	return cksum_add(tail, 4, s);
}

size_t gen_packet_finish(uint8_t *frame, size_t cap, const struct gen_flow *f, size_t payload_len,
			 uint16_t ip_id)
{
	size_t hdr = gen_packet_header_bytes(f);
	size_t udp_len = GEN_UDP_BYTES + payload_len;
	size_t total = hdr + payload_len;
	uint8_t *ip = frame + GEN_ETH_BYTES;
	uint8_t *udp;

	if (total > cap || udp_len > 0xffff || (!f->ipv6 && udp_len + GEN_IPV4_BYTES > 0xffff))
		return 0;
	memcpy(frame, f->dst_mac, 6);
	memcpy(frame + 6, f->src_mac, 6);
	be16_put(frame + 12, f->ipv6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
	if (f->ipv6) {
		sluice_be32_put(ip, 0x60000000u); /* version 6, no traffic class, no flow label */
		be16_put(ip + 4, (uint16_t)udp_len);
		ip[6] = IPPROTO_UDP_;
		ip[7] = 64;
		memcpy(ip + 8, f->src_ip, 16);
		memcpy(ip + 24, f->dst_ip, 16);
		udp = ip + GEN_IPV6_BYTES;
	} else {
		ip[0] = 0x45;
		ip[1] = 0;
		be16_put(ip + 2, (uint16_t)(GEN_IPV4_BYTES + udp_len));
		be16_put(ip + 4, ip_id);
		be16_put(ip + 6, 0x4000); /* DF: sluice never fragments */
		ip[8] = 64;
		ip[9] = IPPROTO_UDP_;
		ip[10] = ip[11] = 0;
		memcpy(ip + 12, f->src_ip, 4);
		memcpy(ip + 16, f->dst_ip, 4);
		be16_put(ip + 10, gen_inet_cksum(ip, GEN_IPV4_BYTES, 0));
		udp = ip + GEN_IPV4_BYTES;
	}
	be16_put(udp, f->src_port);
	be16_put(udp + 2, f->dst_port);
	be16_put(udp + 4, (uint16_t)udp_len);
	udp[6] = udp[7] = 0;
	uint16_t c = gen_inet_cksum(udp, udp_len,
				    pseudo_sum(f->ipv6, f->src_ip, f->dst_ip, (uint32_t)udp_len));
	/* 0 means "no checksum" in UDP over IPv4 and is illegal over IPv6: send all-ones. */
	be16_put(udp + 6, c == 0 ? 0xffff : c);
	return total;
}

enum gen_parse_err gen_packet_parse(const uint8_t *frame, size_t len, struct gen_packet_view *v)
{
	const uint8_t *ip = frame + GEN_ETH_BYTES, *udp;
	size_t ip_avail, udp_len;
	uint16_t etype;

	memset(v, 0, sizeof(*v));
	if (len < GEN_ETH_BYTES)
		return GEN_PARSE_TRUNCATED;
	etype = be16_get(frame + 12);
	ip_avail = len - GEN_ETH_BYTES;
	if (etype == ETHERTYPE_IPV4) {
		if (ip_avail < GEN_IPV4_BYTES)
			return GEN_PARSE_TRUNCATED;
		size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
		size_t tot = be16_get(ip + 2);
		if ((ip[0] >> 4) != 4 || ihl < GEN_IPV4_BYTES || tot < ihl + GEN_UDP_BYTES ||
		    tot > ip_avail)
			return GEN_PARSE_IP_LENGTH;
		if (gen_inet_cksum(ip, ihl, 0) != 0)
			return GEN_PARSE_IP_CKSUM;
		if (ip[9] != IPPROTO_UDP_)
			return GEN_PARSE_NOT_UDP;
		udp = ip + ihl;
		udp_len = be16_get(udp + 4);
		if (udp_len < GEN_UDP_BYTES || udp_len != tot - ihl)
			return GEN_PARSE_UDP_LENGTH;
		v->src_ip = ip + 12;
		v->dst_ip = ip + 16;
	} else if (etype == ETHERTYPE_IPV6) {
		if (ip_avail < GEN_IPV6_BYTES)
			return GEN_PARSE_TRUNCATED;
		size_t plen = be16_get(ip + 4);
		if ((ip[0] >> 4) != 6 || plen + GEN_IPV6_BYTES > ip_avail || plen < GEN_UDP_BYTES)
			return GEN_PARSE_IP_LENGTH;
		if (ip[6] != IPPROTO_UDP_)
			return GEN_PARSE_NOT_UDP;
		udp = ip + GEN_IPV6_BYTES;
		udp_len = be16_get(udp + 4);
		if (udp_len != plen)
			return GEN_PARSE_UDP_LENGTH;
		v->ipv6 = true;
		v->src_ip = ip + 8;
		v->dst_ip = ip + 24;
	} else {
		return GEN_PARSE_NOT_IP;
	}
	uint16_t stored = be16_get(udp + 6);
	if (stored != 0 || v->ipv6) {
		uint32_t ps = pseudo_sum(v->ipv6, v->src_ip, v->dst_ip, (uint32_t)udp_len);
		if (gen_inet_cksum(udp, udp_len, ps) != 0)
			return GEN_PARSE_UDP_CKSUM;
	}
	v->src_port = be16_get(udp);
	v->dst_port = be16_get(udp + 2);
	v->payload = udp + GEN_UDP_BYTES;
	v->payload_len = udp_len - GEN_UDP_BYTES;
	return GEN_PARSE_OK;
}

static size_t event_body(uint8_t *out, size_t size, uint64_t producer, uint64_t seq,
			 const uint64_t *stamp_ns)
{
	char prefix[72];
	size_t n = 0;

	n += sluice_u64_dec(producer, prefix + n);
	prefix[n++] = ':';
	n += sluice_u64_dec(seq, prefix + n);
	prefix[n++] = ':';
	if (stamp_ns) {
		n += sluice_u64_dec(*stamp_ns, prefix + n);
		prefix[n++] = ':';
	}
	if (n > size)
		n = size;
	memcpy(out, prefix, n);
	/* Printable filler that varies with the sequence, so equal events are rare: byte i is
	 * 'a' + (seq + i) % 26. Write one period, then double the filled span with memcpy (the
	 * pattern repeats every 26 bytes): a few copies per event, no division per byte. */
	static const char abc[] = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz";
	size_t fill = size - n, done = fill < 26 ? fill : 26;
	memcpy(out + n, abc + (seq + n) % 26, done);
	while (done < fill) {
		size_t k = fill - done < done ? fill - done : done;
		memcpy(out + n + done, out + n, k);
		done += k;
	}
	return size;
}

size_t gen_event_body(uint8_t *out, size_t size, uint64_t producer, uint64_t seq)
{
	return event_body(out, size, producer, seq, NULL);
}

size_t gen_event_body_stamped(uint8_t *out, size_t size, uint64_t producer, uint64_t seq,
			      uint64_t stamp_ns)
{
	return event_body(out, size, producer, seq, &stamp_ns);
}

static int parse_u64(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;

	if (p >= end || *p < '0' || *p > '9')
		return -EINVAL;
	while (p < end && *p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (p >= end || *p != ':')
		return -EINVAL;
	*pp = p + 1;
	*out = v;
	return 0;
}

int gen_event_parse(const uint8_t *ev, size_t len, uint64_t *producer, uint64_t *seq)
{
	const uint8_t *p = ev, *end = ev + len;

	if (parse_u64(&p, end, producer) != 0 || parse_u64(&p, end, seq) != 0)
		return -EINVAL;
	return 0;
}

static void kafka_batch_meta(const struct gen_kafka_meta *m, struct sluice_rb_batch_meta *bm)
{
	memset(bm, 0, sizeof(*bm));
	bm->producer_id = m->producer_id;
	bm->producer_epoch = m->producer_epoch;
	bm->base_sequence = m->base_sequence;
	bm->partition_leader_epoch = -1;
}

static void kafka_record(const struct gen_event *e, struct sluice_rb_record *r)
{
	memset(r, 0, sizeof(*r));
	r->timestamp = e->timestamp_ms;
	r->key = e->key;
	r->key_len = e->key ? e->key_len : -1;
	r->value = e->value;
	r->value_len = (int32_t)e->value_len;
}

size_t gen_payload_kafka(uint8_t *out, size_t cap, const struct gen_kafka_meta *m,
			 const struct gen_event *ev, uint32_t n)
{
	struct sluice_rb_batch_meta bm;
	struct sluice_rb_builder b;
	struct sluice_rb_record r;

	if (cap < SLUICE_ENVELOPE_BYTES || n == 0)
		return 0;
	sluice_envelope_encode_flags(out, m->partition, m->flags);
	kafka_batch_meta(m, &bm);
	if (sluice_rb_builder_init(&b, out + SLUICE_ENVELOPE_BYTES, cap - SLUICE_ENVELOPE_BYTES,
				   &bm) != 0)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		kafka_record(&ev[i], &r);
		if (sluice_rb_builder_append(&b, &r) != 0)
			return 0;
	}
	size_t batch = sluice_rb_builder_seal(&b);
	return batch ? SLUICE_ENVELOPE_BYTES + batch : 0;
}

size_t gen_payload_lines(uint8_t *out, size_t cap, const struct gen_event *ev, uint32_t n)
{
	size_t len = 0;

	for (uint32_t i = 0; i < n; i++) {
		size_t need = ev[i].value_len + (i ? 1u : 0u);
		if (len + need > cap)
			return 0;
		if (i)
			out[len++] = '\n';
		memcpy(out + len, ev[i].value, ev[i].value_len);
		len += ev[i].value_len;
	}
	return len;
}

size_t gen_payload_raw(uint8_t *out, size_t cap, const struct gen_event *ev)
{
	if (ev->value_len > cap)
		return 0;
	memcpy(out, ev->value, ev->value_len);
	return ev->value_len;
}
