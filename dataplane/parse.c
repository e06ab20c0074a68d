/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frame parser over a plain byte range: Ethernet, VLAN/QinQ, ARP, IPv4, IPv6 with bounded
 * extension headers, UDP, ICMP, ICMPv6. Pure and reentrant: no EAL, no state, no allocation.
 *
 * Every length is checked against both the frame and the enclosing header's own length
 * field before it is used, so a hostile frame can make the parser reject but never read
 * outside frame[0..len).
 */
#include <string.h>

#include "dataplane_internal.h"
#include "parse_internal.h"

#define ETH_HLEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_IPV6 0x86DD
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88A8
#define ETHERTYPE_QINQ_OLD 0x9100

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ICMP_ 1
#define IPPROTO_UDP_ 17
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_ 51
#define IPPROTO_ICMPV6_ 58
#define IPPROTO_DSTOPTS_ 60

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static enum sluice_dp_reject parse_ipv4(const uint8_t *frame, size_t len, unsigned flags,
					struct sluice_pkt_info *info)
{
	size_t off = info->l3_off;
	size_t avail = len - off;
	const uint8_t *ip = frame + off;

	if (avail < 20 || (ip[0] >> 4) != 4)
		return SLUICE_DP_REJECT_IP_HEADER;
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
	if (ihl < 20)
		return SLUICE_DP_REJECT_IP_HEADER;
	if (ihl > avail)
		return SLUICE_DP_REJECT_IP_OPTIONS;
	size_t total = be16(ip + 2);
	/* Frames may carry Ethernet padding after the datagram: total may be below avail. */
	if (total < ihl || total > avail)
		return ihl > total && total >= 20 ? SLUICE_DP_REJECT_IP_OPTIONS
						  : SLUICE_DP_REJECT_IP_HEADER;
	if (flags & SLUICE_PKT_F_IP_CKSUM_BAD)
		return SLUICE_DP_REJECT_IP_CHECKSUM;
	if (!(flags & SLUICE_PKT_F_IP_CKSUM_GOOD) && dp_csum_fold(dp_csum_partial(ip, ihl, 0)) != 0)
		return SLUICE_DP_REJECT_IP_CHECKSUM;
	uint16_t frag = be16(ip + 6);
	if (frag & 0x3fff) /* MF or a fragment offset */
		return SLUICE_DP_REJECT_IP_FRAGMENT;
	info->family = 4;
	info->hop_limit = ip[8];
	info->l4_proto = ip[9];
	memcpy(info->src_addr, ip + 12, 4);
	memcpy(info->dst_addr, ip + 16, 4);
	info->l4_off = (uint16_t)(off + ihl);
	info->l4_len = (uint16_t)(total - ihl);
	return SLUICE_DP_REJECT_NONE;
}

static enum sluice_dp_reject parse_ipv6(const uint8_t *frame, size_t len,
					struct sluice_pkt_info *info)
{
	size_t off = info->l3_off;
	size_t avail = len - off;
	const uint8_t *ip = frame + off;

	if (avail < 40 || (ip[0] >> 4) != 6)
		return SLUICE_DP_REJECT_IP_HEADER;
	size_t plen = be16(ip + 4);
	if (plen + 40 > avail)
		return SLUICE_DP_REJECT_IP_HEADER;
	info->family = 6;
	info->hop_limit = ip[7];
	memcpy(info->src_addr, ip + 8, 16);
	memcpy(info->dst_addr, ip + 24, 16);

	uint8_t next = ip[6];
	size_t pos = 40; /* relative to ip, bounded by 40 + plen */
	size_t end = 40 + plen;
	for (unsigned n = 0;; n++) {
		size_t hlen;
		switch (next) {
		case IPPROTO_HOPOPTS_:
		case IPPROTO_ROUTING_:
		case IPPROTO_DSTOPTS_:
		case IPPROTO_AH_:
			break;
		case IPPROTO_FRAGMENT_:
			return SLUICE_DP_REJECT_IP_FRAGMENT;
		default:
			info->l4_proto = next;
			info->l4_off = (uint16_t)(off + pos);
			info->l4_len = (uint16_t)(end - pos);
			return SLUICE_DP_REJECT_NONE;
		}
		/* Hop-by-hop is only valid first; a longer chain is not worth parsing on the hot
		 * path and is a classic resource-exhaustion trick. */
		if (n >= SLUICE_PKT_MAX_IPV6_EXT || (next == IPPROTO_HOPOPTS_ && n != 0))
			return SLUICE_DP_REJECT_IP_EXT_LIMIT;
		if (end - pos < 8)
			return SLUICE_DP_REJECT_IP_EXT_LIMIT;
		if (next == IPPROTO_AH_)
			hlen = ((size_t)ip[pos + 1] + 2) * 4;
		else
			hlen = ((size_t)ip[pos + 1] + 1) * 8;
		if (hlen > end - pos)
			return SLUICE_DP_REJECT_IP_EXT_LIMIT;
		next = ip[pos];
		pos += hlen;
	}
}

static enum sluice_dp_reject parse_udp(const uint8_t *frame, unsigned flags,
				       struct sluice_pkt_info *info)
{
	const uint8_t *udp = frame + info->l4_off;
	if (info->l4_len < 8)
		return SLUICE_DP_REJECT_UDP_LENGTH;
	uint16_t ulen = be16(udp + 4);
	/* As Linux: the UDP length may be below the IP payload (trailing bytes ignored) but
	 * never above it, nor below the header. */
	if (ulen < 8 || ulen > info->l4_len)
		return SLUICE_DP_REJECT_UDP_LENGTH;
	uint16_t csum = be16(udp + 6);
	if (flags & SLUICE_PKT_F_L4_CKSUM_BAD)
		return SLUICE_DP_REJECT_UDP_CHECKSUM;
	if (csum == 0) {
		/* No checksum: allowed for IPv4 only (RFC 768 vs RFC 8200 8.1). */
		if (info->family == 6)
			return SLUICE_DP_REJECT_UDP_CHECKSUM;
	} else if (!(flags & SLUICE_PKT_F_L4_CKSUM_GOOD)) {
		uint32_t sum = dp_pseudo_sum(info->family, info->src_addr, info->dst_addr,
					     IPPROTO_UDP_, ulen);
		if (dp_csum_fold(dp_csum_partial(udp, ulen, sum)) != 0)
			return SLUICE_DP_REJECT_UDP_CHECKSUM;
	}
	info->kind = SLUICE_PKT_UDP;
	info->src_port = be16(udp);
	info->dst_port = be16(udp + 2);
	info->payload_off = (uint16_t)(info->l4_off + 8);
	info->payload_len = (uint16_t)(ulen - 8);
	return SLUICE_DP_REJECT_NONE;
}

static enum sluice_dp_reject parse_icmp(const uint8_t *frame, struct sluice_pkt_info *info)
{
	const uint8_t *icmp = frame + info->l4_off;
	uint32_t sum = 0;
	if (info->l4_len < 8)
		return SLUICE_DP_REJECT_ICMP_BAD;
	if (info->family == 6)
		sum = dp_pseudo_sum(6, info->src_addr, info->dst_addr, IPPROTO_ICMPV6_,
				    info->l4_len);
	if (dp_csum_fold(dp_csum_partial(icmp, info->l4_len, sum)) != 0)
		return SLUICE_DP_REJECT_ICMP_BAD;
	info->kind = info->family == 4 ? SLUICE_PKT_ICMP4 : SLUICE_PKT_ICMP6;
	return SLUICE_DP_REJECT_NONE;
}

enum sluice_dp_reject sluice_pkt_parse(const uint8_t *frame, size_t len, unsigned flags,
				       struct sluice_pkt_info *info)
{
	enum sluice_dp_reject r;

	memset(info, 0, sizeof(*info));
	if (len < ETH_HLEN || len > UINT16_MAX)
		return SLUICE_DP_REJECT_ETH_TRUNCATED;
	memcpy(info->dst_mac, frame, 6);
	memcpy(info->src_mac, frame + 6, 6);
	size_t off = 12;
	uint16_t type = be16(frame + off);
	while (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ || type == ETHERTYPE_QINQ_OLD) {
		if (info->vlans == SLUICE_PKT_MAX_VLANS)
			return SLUICE_DP_REJECT_VLAN_DEPTH;
		if (len < off + 6)
			return SLUICE_DP_REJECT_ETH_TRUNCATED;
		info->vlan_tci[info->vlans++] = be16(frame + off + 2);
		off += 4;
		type = be16(frame + off);
	}
	off += 2;
	info->ethertype = type;
	info->l3_off = (uint16_t)off;

	switch (type) {
	case ETHERTYPE_ARP: {
		const uint8_t *a = frame + off;
		if (len - off < 28)
			return SLUICE_DP_REJECT_ARP_BAD;
		if (be16(a) != 1 || be16(a + 2) != ETHERTYPE_IPV4 || a[4] != 6 || a[5] != 4)
			return SLUICE_DP_REJECT_ARP_BAD;
		info->kind = SLUICE_PKT_ARP;
		memcpy(info->src_addr, a + 14, 4);
		memcpy(info->dst_addr, a + 24, 4);
		return SLUICE_DP_REJECT_NONE;
	}
	case ETHERTYPE_IPV4:
		r = parse_ipv4(frame, len, flags, info);
		break;
	case ETHERTYPE_IPV6:
		r = parse_ipv6(frame, len, info);
		break;
	default:
		return SLUICE_DP_REJECT_ETHERTYPE;
	}
	if (r != SLUICE_DP_REJECT_NONE)
		return r;
	if (info->l4_proto == IPPROTO_UDP_)
		return parse_udp(frame, flags, info);
	if ((info->family == 4 && info->l4_proto == IPPROTO_ICMP_) ||
	    (info->family == 6 && info->l4_proto == IPPROTO_ICMPV6_))
		return parse_icmp(frame, info);
	return SLUICE_DP_REJECT_NOT_UDP;
}
