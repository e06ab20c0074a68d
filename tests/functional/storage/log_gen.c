/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Writes a small log for the sluice-dump test: storage_log_gen DIR BATCHES SEGMENT_BYTES.
 * Batch k has 1 + k % 4 records with keys "k<k>-<i>" and printable values, timestamps from
 * 1000 + k; then a clean close. Prints the record count.
 */
#include <inttypes.h>

#include "storage_test_util.h"

int main(int argc, char **argv)
{
	struct sluice_topic_opts t = {
		.name = "dump",
		.partitions = 1,
		.index_interval_bytes = 256,
	};
	struct sluice_log_opts o = {.topics = &t, .ntopics = 1, .writers = 1, .direct_io = -1};
	struct sluice_log *log;
	struct sluice_partition *p;
	int n;

	if (argc != 4)
		return 2;
	o.data_dir = argv[1];
	n = atoi(argv[2]);
	t.segment_bytes = strtoull(argv[3], NULL, 10);
	if (sluice_log_open(&o, &log) != 0)
		return 1;
	p = sluice_log_partition(log, 0);
	for (int k = 0; k < n; k++) {
		uint8_t buf[8192];
		struct sluice_rb_builder b;
		char key[32], val[64];

		sluice_rb_builder_init(&b, buf, sizeof(buf), NULL);
		for (int i = 0; i < 1 + k % 4; i++) {
			struct sluice_rb_record rec = {.timestamp = 1000 + k};

			rec.key_len = snprintf(key, sizeof(key), "k%d-%d", k, i);
			rec.value_len =
				snprintf(val, sizeof(val), "value \"%d\" of batch %d", i, k);
			rec.key = (const uint8_t *)key;
			rec.value = (const uint8_t *)val;
			if (sluice_rb_builder_append(&b, &rec) != 0)
				return 1;
		}
		size_t len = sluice_rb_builder_seal(&b);

		if (sluice_partition_append_sync(p, buf, len, NULL) != 0)
			return 1;
	}
	printf("%" PRId64 "\n", sluice_partition_durable_offset(p));
	sluice_log_close(log);
	return 0;
}
