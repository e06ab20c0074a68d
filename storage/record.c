/* SPDX-License-Identifier: BSD-3-Clause */
/* Kafka RecordBatch v2 builder, validator and iterators (see sluice_record.h). */
#include <isa-l/crc.h>

#include "sluice_record.h"

uint32_t sluice_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* ISA-L's crc32_iscsi takes and returns the raw register: apply Kafka's (RFC 3720)
	 * initial value and final XOR around it, so that calls can be chained. */
	return ~crc32_iscsi((unsigned char *)(uintptr_t)buf, (int)len, ~crc);
}
