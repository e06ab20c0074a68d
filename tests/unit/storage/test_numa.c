/* SPDX-License-Identifier: BSD-3-Clause */
/* storage: a writer's partitions get their write buffers on the NUMA node the log was told
 * (sluice_log_opts.writer_nodes), read back with get_mempolicy(MPOL_F_ADDR). */
#include <errno.h>
#include <linux/mempolicy.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "sluice_storage.h"
#include "storage_internal.h"

static char dir[] = "/tmp/sluice-test-numa-XXXXXX";

/* The policy of the page at @p addr: mode, and the first node of its mask (-1: none). */
static int policy_of(void *addr, int *node)
{
	unsigned long mask[4] = {0};
	int mode = -1;

	assert_int_equal(
		syscall(SYS_get_mempolicy, &mode, mask, sizeof(mask) * 8, addr, MPOL_F_ADDR), 0);
	*node = -1;
	for (int i = 0; i < (int)(sizeof(mask) * 8); i++)
		if ((mask[i / 64] >> (i % 64)) & 1) {
			*node = i;
			break;
		}
	return mode;
}

static void test_writer_nodes(void **state)
{
	struct sluice_topic_opts topic = {.name = "t", .partitions = 2};
	int cpus[2] = {-1, -1}, nodes[2] = {0, -1};
	struct sluice_log_opts o = {
		.data_dir = dir,
		.topics = &topic,
		.ntopics = 1,
		.writers = 2,
		.write_buffer_bytes = 1 << 20,
		.writer_cpus = cpus,
		.writer_nodes = nodes,
		.no_fixed_buffers = true,
	};
	struct sluice_log *log = NULL;
	int node;

	(void)state;
	assert_int_equal(sluice_log_open(&o, &log), 0);
	/* Partition 0 is writer 0's (node 0): every one of its buffers prefers node 0. */
	assert_true(sluice_log_partition(log, 0)->nslots >= 2);
	for (uint32_t b = 0; b < sluice_log_partition(log, 0)->nslots; b++) {
		assert_int_equal(policy_of(sluice_log_partition(log, 0)->slots[b].mem, &node),
				 MPOL_PREFERRED);
		assert_int_equal(node, 0);
	}
	/* Partition 1 is writer 1's (no node): first touch decides, no policy. */
	assert_int_equal(policy_of(sluice_log_partition(log, 1)->slots[0].mem, &node),
			 MPOL_DEFAULT);
	sluice_log_close(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_nodes),
	};
	char cmd[64];
	int rc;

	assert_non_null(mkdtemp(dir));
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
