/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Kafka's testCorruptLog pattern for storage/segment.c recovery: append random batches, close,
 * then damage the log (random bytes appended, truncation at a random byte, bit flips in the
 * last batches, bit flips in the index files, or a flip in any segment with the recovery
 * checkpoint gone), remove the clean-shutdown marker and reopen. The log end and every batch
 * before the first damaged byte must come back identical; the cut bytes must be in
 * quarantine/ and counted; later segments must be quarantined; the log must take appends.
 *
 * partitionLeaderEpoch (bytes 12..15) is not covered by the batch CRC in Kafka's format, so
 * flips there are not corruption that any reader could detect; the flips avoid it.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "storage_test_util.h"

#define ITERATIONS 1000

struct on_disk {
	int64_t seg_base;
	uint64_t pos;
	size_t len;
	int64_t base, last;
	uint8_t *data;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Brute force: every batch of every segment file, in order, by walking batchLength. */
static int scan_dir(const char *pdir, struct on_disk *out, int max, int64_t *seg_bases, int *nsegs)
{
	DIR *d = opendir(pdir);
	struct dirent *e;
	char *names[256];
	int nn = 0, n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (l == 24 && strcmp(e->d_name + 20, ".log") == 0 && nn < 256)
			names[nn++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)nn, sizeof(*names), cmp_str);
	*nsegs = nn;
	for (int i = 0; i < nn; i++) {
		char path[1024];
		FILE *f;
		long size;
		uint8_t *buf;
		uint64_t pos = 0;

		seg_bases[i] = strtoll(names[i], NULL, 10);
		snprintf(path, sizeof(path), "%s/%s", pdir, names[i]);
		f = fopen(path, "rb");
		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		size = ftell(f);
		fseek(f, 0, SEEK_SET);
		buf = malloc((size_t)size + 1);
		assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
		fclose(f);
		while (pos < (uint64_t)size) {
			struct sluice_rb_header h;
			size_t len;

			assert_int_equal(sluice_rb_header_decode(buf + pos, (size_t)size - pos, &h),
					 SLUICE_RB_OK);
			len = (size_t)h.batch_length + 12;
			assert_true(n < max);
			out[n] = (struct on_disk){.seg_base = seg_bases[i],
						  .pos = pos,
						  .len = len,
						  .base = h.base_offset,
						  .last = h.base_offset + h.last_offset_delta,
						  .data = malloc(len)};
			memcpy(out[n].data, buf + pos, len);
			n++;
			pos += len;
		}
		free(buf);
		free(names[i]);
	}
	return n;
}

static void seg_file(const char *pdir, int64_t base, const char *ext, char *out, size_t len)
{
	snprintf(out, len, "%s/%020" PRId64 "%s", pdir, base, ext);
}

static void flip_bit(const char *path, long pos)
{
	FILE *f = fopen(path, "r+b");
	int c;

	assert_non_null(f);
	fseek(f, pos, SEEK_SET);
	c = fgetc(f);
	assert_true(c != EOF);
	fseek(f, pos, SEEK_SET);
	fputc(c ^ (1 << (tu_rnd() % 8)), f);
	fclose(f);
}

static uint64_t dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t total = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[1024];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		total += (uint64_t)tu_file_size(path);
	}
	closedir(d);
	return total;
}

enum damage { APPEND_GARBAGE, TRUNCATE, FLIP_LAST, FLIP_INDEX, FLIP_ANY_NO_CKPT, DAMAGE__COUNT };

static void one_iteration(const char *root, int iter, int counts[DAMAGE__COUNT])
{
	char dir[512], pdir[560], path[1024], qdir[600];
	struct sluice_topic_opts t = {
		.name = "c",
		.partitions = 1,
		.segment_bytes = 1024 + tu_rnd() % 4096,
		.flush_interval_us = 100,
		.flush_bytes = 1,
		.index_interval_bytes = 64 + (uint32_t)(tu_rnd() % 256),
	};
	struct sluice_log_opts o = {
		.topics = &t,
		.ntopics = 1,
		.writers = 1,
		.direct_io = 0,
		.write_buffer_bytes = 16 << 10,
	};
	static struct on_disk disk[512];
	int64_t seg_bases[256];
	int nsegs, n, nbatches = 1 + (int)(tu_rnd() % 24);
	struct sluice_log *log;
	struct sluice_partition *p;
	struct sluice_partition_stats st;
	enum damage dmg = (enum damage)(tu_rnd() % DAMAGE__COUNT);
	int first_bad = -1; /* index of the first batch that must not survive */
	uint64_t expect_cut = 0;
	bool exact_cut = true;

	snprintf(dir, sizeof(dir), "%s/it%d", root, iter);
	o.data_dir = dir;
	snprintf(pdir, sizeof(pdir), "%s/c-0", dir);
	snprintf(qdir, sizeof(qdir), "%s/quarantine", pdir);
	assert_int_equal(sluice_log_open(&o, &log), 0);
	p = sluice_log_partition(log, 0);
	for (int i = 0; i < nbatches; i++) {
		uint8_t buf[2048];
		size_t len = tu_make_batch(buf, sizeof(buf), 1 + (int)(tu_rnd() % 4),
					   (int64_t)(tu_rnd() % 100000), (uint32_t)tu_rnd(),
					   tu_rnd() % 200);

		assert_int_equal(sluice_partition_append_sync(p, buf, len, NULL), 0);
	}
	sluice_log_close(log);

	n = scan_dir(pdir, disk, 512, seg_bases, &nsegs);
	assert_int_equal(n, nbatches);
	int64_t last_seg = seg_bases[nsegs - 1];
	seg_file(pdir, last_seg, ".log", path, sizeof(path));
	long last_size = tu_file_size(path);

	switch (dmg) {
	case APPEND_GARBAGE: {
		size_t k = 1 + tu_rnd() % 1024;
		uint8_t junk[1024];
		FILE *f = fopen(path, "ab");
		bool zero = true;

		for (size_t i = 0; i < k; i++) {
			junk[i] = (uint8_t)tu_rnd();
			zero &= junk[i] == 0;
		}
		fwrite(junk, 1, k, f);
		fclose(f);
		expect_cut = zero ? 0 : k;
		break;
	}
	case TRUNCATE: {
		long at = last_size ? (long)(tu_rnd() % (uint64_t)last_size) : 0;

		assert_int_equal(truncate(path, at), 0);
		for (int i = 0; i < n; i++) {
			if (disk[i].seg_base == last_seg &&
			    disk[i].pos + disk[i].len > (uint64_t)at) {
				first_bad = i;
				expect_cut = (uint64_t)at - disk[i].pos;
				break;
			}
		}
		/* a cut that leaves only zero bytes of a batch is padding, not damage */
		exact_cut = false;
		break;
	}
	case FLIP_LAST: {
		/* one to three flips among the last three batches of the last segment */
		int flips = 1 + (int)(tu_rnd() % 3);

		for (int k = 0; k < flips; k++) {
			int i = n - 1 - (int)(tu_rnd() % 3);

			if (i < 0 || disk[i].seg_base != last_seg)
				continue;
			uint64_t off;

			do {
				off = tu_rnd() % disk[i].len;
			} while (off >= 12 && off < 16);
			flip_bit(path, (long)(disk[i].pos + off));
			if (first_bad < 0 || i < first_bad)
				first_bad = i;
		}
		if (first_bad >= 0)
			expect_cut = (uint64_t)last_size - disk[first_bad].pos;
		break;
	}
	case FLIP_INDEX: {
		const char *ext = tu_rnd() % 2 ? ".index" : ".timeindex";
		int64_t seg = seg_bases[tu_rnd() % (uint64_t)nsegs];

		seg_file(pdir, seg, ext, path, sizeof(path));
		long sz = tu_file_size(path);

		if (sz > 0)
			flip_bit(path, (long)(tu_rnd() % (uint64_t)sz));
		break;
	}
	case FLIP_ANY_NO_CKPT: {
		int i = (int)(tu_rnd() % (uint64_t)n);
		uint64_t off;

		snprintf(path, sizeof(path), "%s/recovery-checkpoint", pdir);
		unlink(path);
		do {
			off = tu_rnd() % disk[i].len;
		} while (off >= 12 && off < 16);
		seg_file(pdir, disk[i].seg_base, ".log", path, sizeof(path));
		flip_bit(path, (long)(disk[i].pos + off));
		first_bad = i;
		/* the rest of its segment plus every later segment */
		for (int j = i; j < n; j++)
			expect_cut += disk[j].len;
		break;
	}
	default:
		break;
	}
	counts[dmg]++;
	snprintf(path, sizeof(path), "%s/clean-shutdown", pdir);
	assert_int_equal(unlink(path), 0);

	assert_int_equal(sluice_log_open(&o, &log), 0);
	p = sluice_log_partition(log, 0);
	sluice_partition_stats(p, &st);
	int keep = first_bad < 0 ? n : first_bad;
	int64_t end = keep ? disk[keep - 1].last + 1 : 0;

	assert_int_equal(st.log_end_offset, end);
	assert_int_equal(st.durable_offset, end);
	if (exact_cut)
		assert_int_equal(st.recovery_truncated_bytes, expect_cut);
	else
		assert_true(st.recovery_truncated_bytes <= expect_cut);
	assert_int_equal(dir_bytes(qdir), st.recovery_truncated_bytes);

	/* Every surviving batch is byte-identical; nothing after it is readable. */
	if (keep) {
		struct tu_batch *v = NULL;
		int got = tu_read_all(p, 0, &v);

		assert_int_equal(got, keep);
		for (int i = 0; i < keep; i++) {
			assert_int_equal(v[i].len, disk[i].len);
			assert_memory_equal(v[i].data, disk[i].data, disk[i].len);
		}
		tu_free_batches(v, got);
		/* an index lookup into the middle agrees with the scan */
		int k = (int)(tu_rnd() % (uint64_t)keep);
		struct sluice_reader *r;
		const uint8_t *b;
		size_t len;

		assert_int_equal(sluice_reader_open(p, disk[k].last, &r), 0);
		assert_int_equal(sluice_reader_next(r, &b, &len), 1);
		assert_memory_equal(b, disk[k].data, len);
		sluice_reader_close(r);
	}
	/* The log goes on from the recovered end. */
	{
		uint8_t buf[512];
		size_t len = tu_make_batch(buf, sizeof(buf), 2, 5, 77, 10);
		int64_t base;

		assert_int_equal(sluice_partition_append_sync(p, buf, len, &base), 0);
		assert_int_equal(base, end);
	}
	sluice_log_close(log);
	for (int i = 0; i < n; i++)
		free(disk[i].data);
	tu_rm_rf(dir);
}

static void test_corrupt_log(void **state)
{
	char root[256];
	int counts[DAMAGE__COUNT] = {0};
	const char *iters = getenv("SLUICE_RECOVERY_ITERATIONS");
	int n = iters ? atoi(iters) : ITERATIONS;

	(void)state;
	if (!getenv("SLUICE_TEST_DIR") && access("/dev/shm", W_OK) == 0)
		setenv("SLUICE_TEST_DIR", "/dev/shm", 0);
	tu_mkdtemp(root, sizeof(root), "corrupt");
	for (int i = 0; i < n; i++)
		one_iteration(root, i, counts);
	tu_rm_rf(root);
	for (int d = 0; d < DAMAGE__COUNT; d++)
		assert_true(counts[d] > 0);
	printf("corrupt-log iterations: %d (garbage %d, truncate %d, flip %d, index %d, "
	       "no-checkpoint %d)\n",
	       n, counts[0], counts[1], counts[2], counts[3], counts[4]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corrupt_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
