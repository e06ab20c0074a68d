/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Acknowledged mode: fill the recovery table from the log's tail (ack.c holds the table; this
 * part reads storage, so EAL-free fuzzers of the core need not link it). Control thread, at
 * start, before the workers run.
 */
#include <errno.h>
#include <pthread.h>

#include "dataplane_internal.h"

/* One table per log, shared by the workers that feed it (scanned once, freed with the last). */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	const struct sluice_log *log;
	uint64_t records;
	struct sluice_dp_ack_recovery *rec;
	uint64_t batches;
	unsigned refs;
} shared;

int dp_ack_recovery_get(struct sluice_log *log, uint64_t max_records,
			struct sluice_dp_ack_recovery **out, uint64_t *batches, bool *scanned)
{
	int rc = 0;

	pthread_mutex_lock(&shared_lock);
	*scanned = false;
	if (shared.refs && (shared.log != log || shared.records != max_records)) {
		rc = -EBUSY; /* another log is open with its own table: not a case sluiced has */
		goto out;
	}
	if (!shared.refs) {
		rc = sluice_dp_ack_recovery_create(&shared.rec);
		if (rc == 0)
			rc = sluice_dp_ack_recovery_scan(shared.rec, log, max_records,
							 &shared.batches);
		if (rc) {
			sluice_dp_ack_recovery_destroy(shared.rec);
			shared.rec = NULL;
			goto out;
		}
		shared.log = log;
		shared.records = max_records;
		*scanned = true;
	}
	shared.refs++;
	*out = shared.rec;
	*batches = shared.batches;
out:
	pthread_mutex_unlock(&shared_lock);
	return rc;
}

void dp_ack_recovery_put(struct sluice_dp_ack_recovery *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&shared_lock);
	if (shared.refs && r == shared.rec && --shared.refs == 0) {
		sluice_dp_ack_recovery_destroy(shared.rec);
		shared.rec = NULL;
		shared.log = NULL;
	}
	pthread_mutex_unlock(&shared_lock);
}

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
