/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to dataplane/: Internet checksum helpers shared by the parser and reply builders. */
#ifndef SLUICE_PARSE_INTERNAL_H
#define SLUICE_PARSE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Ones'-complement sum of p[0..len) as big-endian 16-bit words, added to @p sum (folded to
 * 16 bits); dp_csum_fold() complements it into a checksum field (0 when verifying a correct
 * packet); dp_pseudo_sum() is the UDP/ICMPv6 pseudo-header sum (family 4 or 6). Inline: they
 * run two or three times per packet on the hot path.
 */
static inline uint32_t dp_csum_partial(const uint8_t *p, size_t len, uint32_t sum)
{
	/*
	 * RFC 1071: the ones' complement sum is byte-order independent, so sum native-order
	 * 32-bit words eight bytes at a time into a 64-bit accumulator (no carry handling per
	 * step) and swap once at the end. Several times faster than assembling big-endian
	 * 16-bit words, which matters for 1500-byte datagrams without checksum offload.
	 */
	uint64_t acc = 0;
	while (len >= 16) {
		uint64_t a, b;
		memcpy(&a, p, 8);
		memcpy(&b, p + 8, 8);
		acc += (a & 0xffffffffu) + (a >> 32) + (b & 0xffffffffu) + (b >> 32);
		p += 16;
		len -= 16;
	}
	while (len >= 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		acc += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t h;
		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t tail[2] = {p[0], 0};
		uint16_t h;
		memcpy(&h, tail, 2);
		acc += h;
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	acc = ((acc & 0xff) << 8) | (acc >> 8);
#endif
	sum += (uint32_t)acc;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static inline uint16_t dp_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline uint32_t dp_pseudo_sum(uint8_t family, const uint8_t *src, const uint8_t *dst,
				     uint8_t proto, uint32_t l4_len)
{
	size_t alen = family == 4 ? 4 : 16;
	uint32_t sum = dp_csum_partial(src, alen, 0);
	sum = dp_csum_partial(dst, alen, sum);
	sum += proto;
	sum += l4_len & 0xffff;
	sum += l4_len >> 16;
	return sum;
}

#endif /* SLUICE_PARSE_INTERNAL_H */
