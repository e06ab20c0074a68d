/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Acknowledged mode: fill the recovery table from the log's tail (ack.c holds the table; this
 * part reads storage, so EAL-free fuzzers of the core need not link it). Control thread, at
 * start, before the workers run.
 */
#include <errno.h>

#include "dataplane_internal.h"

int sluice_dp_ack_recovery_scan(struct sluice_dp_ack_recovery *r, struct sluice_log *log,
				uint64_t max_records, uint64_t *batches)
{
	uint64_t nb = 0;
	int rc = 0;

	for (uint32_t pid = 0; pid < sluice_log_partition_count(log) && !rc; pid++) {
		struct sluice_partition *p = sluice_log_partition(log, pid);
		struct sluice_partition_stats st;
		struct sluice_reader *rd = NULL;
		const uint8_t *b;
		size_t len;

		sluice_partition_stats(p, &st);
		int64_t from = st.durable_offset - (int64_t)max_records;
		if (from < st.log_start_offset)
			from = st.log_start_offset;
		if (from >= st.durable_offset)
			continue;
		rc = sluice_reader_open(p, from, &rd);
		if (rc == -ERANGE)
			rc = sluice_reader_open(p, st.log_start_offset, &rd);
		if (rc)
			break;
		while ((rc = sluice_reader_next(rd, &b, &len)) == 1) {
			struct sluice_rb_header h;
			if (sluice_rb_header_decode(b, len, &h) != SLUICE_RB_OK)
				continue;
			if (h.producer_id >= 0 && h.base_sequence >= 0) {
				rc = sluice_dp_ack_recovery_add(r, pid, h.producer_id,
								h.producer_epoch, h.base_sequence,
								h.record_count);
				if (rc)
					break;
				nb++;
			}
		}
		if (rc > 0)
			rc = 0;
		sluice_reader_close(rd);
	}
	if (batches)
		*batches = nb;
	return rc;
}
