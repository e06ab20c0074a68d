/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Recovery (storage/segment.c) and readers on arbitrary segment bytes. Input: one flags byte,
 * then (flags & 1) a 16-bit length and that many bytes of .index, then the segment (.log).
 * flags & 2 also writes the clean-shutdown marker (the trusted path with a fuzzed index).
 *
 * Without the marker, the invariants are: recovery keeps a prefix of the input, byte for
 * byte; every batch a reader returns is valid (no error); the durable end is the end of what
 * it returns; the log takes an append afterwards and returns it.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice_record.h"
#include "sluice_storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[128];

static void write_file(const char *path, const uint8_t *b, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		abort();
	if (n && write(fd, b, n) != (ssize_t)n)
		abort();
	close(fd);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void clean_dir(void)
{
	char dir[256];

	snprintf(dir, sizeof(dir), "%s/f-0", root);
	nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void remove_root(void)
{
	nftw(root, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sluice_topic_opts t = {.name = "f", .partitions = 1, .index_interval_bytes = 64};
	struct sluice_log_opts o = {.topics = &t,
				    .ntopics = 1,
				    .writers = 1,
				    .direct_io = 0,
				    .write_buffer_bytes = 64 << 10};
	char dir[256], path[300];
	const uint8_t *seg;
	size_t seglen;
	uint8_t flags;
	struct sluice_log *log;
	struct sluice_partition *p;
	struct sluice_reader *r;
	const uint8_t *b;
	size_t len, pos = 0;
	int rc;

	if (!root[0]) {
		snprintf(root, sizeof(root), "%s/sluice-fuzz-%d",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
		mkdir(root, 0755);
		atexit(remove_root);
	}
	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;
	snprintf(dir, sizeof(dir), "%s/f-0", root);
	clean_dir();
	mkdir(dir, 0755);
	if (flags & 1) {
		size_t ilen;

		if (size < 2)
			return 0;
		ilen = (size_t)data[0] << 8 | data[1];
		if (ilen > size - 2)
			ilen = size - 2;
		snprintf(path, sizeof(path), "%s/%020d.index", dir, 0);
		write_file(path, data + 2, ilen);
		data += 2 + ilen;
		size -= 2 + ilen;
	}
	seg = data;
	seglen = size;
	snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
	write_file(path, seg, seglen);
	if (flags & 2) {
		snprintf(path, sizeof(path), "%s/clean-shutdown", dir);
		write_file(path, NULL, 0);
	}
	o.data_dir = root;
	rc = sluice_log_open(&o, &log);
	if (rc)
		abort(); /* any bytes must recover */
	p = sluice_log_partition(log, 0);
	if (!(flags & 2)) {
		struct stat st;
		FILE *f;
		uint8_t *kept;
		int64_t end = -1;

		snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
		if (stat(path, &st) != 0 || (size_t)st.st_size > seglen)
			abort();
		kept = malloc((size_t)st.st_size + 1);
		f = fopen(path, "rb");
		if (!f || fread(kept, 1, (size_t)st.st_size, f) != (size_t)st.st_size ||
		    memcmp(kept, seg, (size_t)st.st_size) != 0)
			abort();
		fclose(f);
		if (sluice_reader_open(p, 0, &r) != 0)
			abort();
		while ((rc = sluice_reader_next(r, &b, &len)) == 1) {
			struct sluice_rb_header h;

			if (memcmp(b, kept + pos, len) != 0 ||
			    sluice_rb_batch_validate(b, len, &h, NULL) != SLUICE_RB_OK)
				abort();
			pos += len;
			end = h.base_offset + h.last_offset_delta + 1;
		}
		if (rc != 0 || pos != (size_t)st.st_size)
			abort();
		if (end >= 0 && end != sluice_partition_durable_offset(p))
			abort();
		sluice_reader_close(r);
		free(kept);
	} else if (sluice_reader_open(p, 0, &r) == 0) {
		while (sluice_reader_next(r, &b, &len) == 1)
			;
		sluice_reader_close(r);
	}
	/* the log goes on */
	{
		uint8_t buf[256];
		struct sluice_rb_builder bl;
		struct sluice_rb_record rec = {.timestamp = 1, .key_len = -1, .value_len = -1};
		int64_t base;

		sluice_rb_builder_init(&bl, buf, sizeof(buf), NULL);
		sluice_rb_builder_append(&bl, &rec);
		len = sluice_rb_builder_seal(&bl);
		rc = sluice_partition_append_sync(p, buf, len, &base);
		if (rc == 0 && base + 1 != sluice_partition_durable_offset(p))
			abort();
	}
	sluice_log_close(log);
	return 0;
}
