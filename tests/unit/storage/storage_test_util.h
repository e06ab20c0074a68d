/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the storage tests: deterministic batches, temp dirs, brute-force scans. */
#ifndef SLUICE_STORAGE_TEST_UTIL_H
#define SLUICE_STORAGE_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_eal.h>

#include "sluice_record.h"
#include "sluice_storage.h"

static uint64_t tu_rng = 0x9e3779b97f4a7c15ull;

static inline uint64_t tu_rnd(void)
{
	tu_rng ^= tu_rng >> 12;
	tu_rng ^= tu_rng << 25;
	tu_rng ^= tu_rng >> 27;
	return tu_rng * 0x2545f4914f6cdd1dull;
}

/*
 * A sealed batch of nrec records, values of value_len bytes derived from seed, timestamps
 * ts, ts+1, ... Returns its size (0 on failure).
 */
static inline size_t tu_make_batch(uint8_t *buf, size_t cap, int nrec, int64_t ts, uint32_t seed,
				   size_t value_len)
{
	struct sluice_rb_builder b;
	uint8_t val[4096];
	char key[32];

	if (value_len > sizeof(val) || sluice_rb_builder_init(&b, buf, cap, NULL) != 0)
		return 0;
	for (int i = 0; i < nrec; i++) {
		struct sluice_rb_record rec = {0};
		int kl = snprintf(key, sizeof(key), "k%u-%d", seed, i);

		for (size_t j = 0; j < value_len; j++)
			val[j] = (uint8_t)(seed * 31 + (uint32_t)i * 7 + j);
		rec.timestamp = ts + i;
		rec.key = (const uint8_t *)key;
		rec.key_len = kl;
		rec.value = val;
		rec.value_len = (int32_t)value_len;
		if (sluice_rb_builder_append(&b, &rec) != 0)
			return 0;
	}
	return sluice_rb_builder_seal(&b);
}

static inline int tu_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void tu_rm_rf(const char *dir)
{
	nftw(dir, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory; SLUICE_TEST_DIR picks the parent (default /tmp, ext4 here). */
/* EAL for a test that needs rings and pools: --no-huge, no PCI, no shared config, a file
 * prefix unique to this process in prefix[]; tu_eal_stop() removes its runtime dir again. */
static inline int tu_eal_start(const char *prog, const char *tag, char *prefix, size_t len)
{
	char *argv[] = {(char *)prog,    "--no-pci", "--no-huge", "-m",          "128",
			"--no-shconf",   "-l",       "0",         "--log-level", "error",
			"--file-prefix", prefix,     NULL};
	char path[128];

	snprintf(prefix, len, "sluice_%s_%d", tag, (int)getpid());
	if (rte_eal_init(12, argv) >= 0)
		return 0;
	snprintf(path, sizeof(path), "/var/run/dpdk/%s", prefix);
	tu_rm_rf(path);
	return -1;
}

static inline void tu_eal_stop(const char *prefix)
{
	char path[128];

	rte_eal_cleanup();
	snprintf(path, sizeof(path), "/var/run/dpdk/%s", prefix);
	tu_rm_rf(path);
}

static inline void tu_mkdtemp(char *out, size_t len, const char *tag)
{
	const char *parent = getenv("SLUICE_TEST_DIR");

	snprintf(out, len, "%s/sluice-%s-XXXXXX", parent ? parent : "/tmp", tag);
	if (!mkdtemp(out)) {
		perror("mkdtemp");
		abort();
	}
}

static inline struct sluice_log *tu_open(const char *dir, struct sluice_topic_opts *t, int direct)
{
	struct sluice_log_opts o = {
		.data_dir = dir,
		.topics = t,
		.ntopics = 1,
		.writers = 1,
		.direct_io = direct,
		.write_buffer_bytes = 256 << 10,
	};
	struct sluice_log *log = NULL;

	if (sluice_log_open(&o, &log) != 0)
		return NULL;
	return log;
}

static inline bool tu_exists(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static inline long tu_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Read every durable batch from offset 0 into a flat copy; returns the count. */
struct tu_batch {
	int64_t base;
	int64_t last;
	int64_t max_ts;
	size_t len;
	uint8_t *data;
};

static inline int tu_read_all(struct sluice_partition *p, int64_t from, struct tu_batch **out)
{
	struct sluice_reader *r;
	struct tu_batch *v = NULL;
	int n = 0, cap = 0, rc;
	const uint8_t *b;
	size_t len;

	*out = NULL;
	rc = sluice_reader_open(p, from, &r);
	if (rc)
		return rc;
	while ((rc = sluice_reader_next(r, &b, &len)) == 1) {
		struct sluice_rb_header h;

		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = realloc(v, (size_t)cap * sizeof(*v));
		}
		sluice_rb_header_decode(b, len, &h);
		v[n].base = h.base_offset;
		v[n].last = h.base_offset + h.last_offset_delta;
		v[n].max_ts = h.max_timestamp;
		v[n].len = len;
		v[n].data = malloc(len);
		memcpy(v[n].data, b, len);
		n++;
	}
	sluice_reader_close(r);
	*out = v;
	return rc < 0 ? rc : n;
}

static inline void tu_free_batches(struct tu_batch *v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i].data);
	free(v);
}

#endif /* SLUICE_STORAGE_TEST_UTIL_H */
