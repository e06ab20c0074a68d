/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to dataplane/: Internet checksum helpers shared by the parser and reply builders. */
#ifndef SLUICE_PARSE_INTERNAL_H
#define SLUICE_PARSE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/** Ones'-complement sum of p[0..len) as big-endian 16-bit words, added to @p sum (unfolded). */
uint32_t dp_csum_partial(const uint8_t *p, size_t len, uint32_t sum);
/** Fold and complement: the checksum field value, or 0 when verifying a correct packet. */
uint16_t dp_csum_fold(uint32_t sum);
/** Pseudo-header sum for UDP/ICMPv6 (family 4 or 6). */
uint32_t dp_pseudo_sum(uint8_t family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
		       uint32_t l4_len);

#endif /* SLUICE_PARSE_INTERNAL_H */
