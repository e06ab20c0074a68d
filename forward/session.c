/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The producer-session file, <checkpoint dir>/forwarder.sessions. It is what makes a batch in
 * Kafka recognisable as ours and what its sequence numbers mean:
 *
 *     # sluice forwarder producer sessions, oldest first
 *     session <producer id> <epoch>
 *     base <local topic> <partition> <log offset of sequence 0>
 *     ...
 *
 * A session's base for a partition is written (temp file, fsync, rename, fsync directory)
 * before the first batch of that session is sent to the partition, so after any crash every
 * batch that may be in Kafka is named by the file. Partitions without a base line have had
 * nothing sent in that session.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"

int fsess_init(struct fsessions *ss, uint32_t nparts, const char *const *topics,
	       const uint32_t *partitions)
{
	memset(ss, 0, sizeof(*ss));
	ss->nparts = nparts;
	ss->topics = topics;
	ss->partitions = partitions;
	for (uint32_t i = 0; i < FSESS_MAX; i++) {
		ss->s[i].base = malloc((nparts ? nparts : 1) * sizeof(int64_t));
		if (!ss->s[i].base) {
			fsess_fini(ss);
			return -ENOMEM;
		}
	}
	return 0;
}

void fsess_fini(struct fsessions *ss)
{
	for (uint32_t i = 0; i < FSESS_MAX; i++) {
		free(ss->s[i].base);
		ss->s[i].base = NULL;
	}
	ss->n = 0;
}

void fsess_push(struct fsessions *ss, int64_t pid, int16_t epoch)
{
	if (ss->n == FSESS_MAX) {
		int64_t *oldest = ss->s[0].base;

		memmove(&ss->s[0], &ss->s[1], (FSESS_MAX - 1) * sizeof(ss->s[0]));
		ss->s[FSESS_MAX - 1].base = oldest;
		ss->n--;
	}
	ss->s[ss->n].pid = pid;
	ss->s[ss->n].epoch = epoch;
	for (uint32_t i = 0; i < ss->nparts; i++)
		ss->s[ss->n].base[i] = -1;
	ss->n++;
}

int fsess_find(const struct fsessions *ss, int64_t pid, int16_t epoch)
{
	for (int i = (int)ss->n - 1; i >= 0; i--)
		if (ss->s[i].pid == pid && ss->s[i].epoch == epoch)
			return i;
	return -1;
}

static int part_index(const struct fsessions *ss, const char *topic, uint32_t partition)
{
	for (uint32_t i = 0; i < ss->nparts; i++)
		if (ss->partitions[i] == partition && strcmp(ss->topics[i], topic) == 0)
			return (int)i;
	return -1;
}

int fsess_load(struct fsessions *ss, const char *dir)
{
	char path[4096], line[512];
	FILE *fp;
	int rc = 1;

	ss->n = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, FSESS_FILE);
	fp = fopen(path, "r");
	if (!fp)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof(line), fp)) {
		char topic[SLUICE_TOPIC_NAME_MAX + 1];
		long long a, b;
		unsigned part;
		int n = 0;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "session %lld %lld%n", &a, &b, &n) == 2 && line[n] == '\n' &&
		    a >= 0 && b >= 0 && b <= INT16_MAX) {
			/* Older sessions than FSESS_MAX drop off, as fsess_push does. */
			fsess_push(ss, a, (int16_t)b);
			continue;
		}
		if (ss->n > 0 && sscanf(line, "base %64s %u %lld%n", topic, &part, &a, &n) == 3 &&
		    line[n] == '\n' && a >= 0) {
			int i = part_index(ss, topic, part);

			if (i >= 0)
				ss->s[ss->n - 1].base[i] = a;
			/* A partition no longer forwarded: nothing of it can be resumed. */
			continue;
		}
		rc = -EBADMSG;
		break;
	}
	if (rc > 0 && ferror(fp))
		rc = -EIO;
	fclose(fp);
	if (rc < 0)
		ss->n = 0;
	return rc;
}

int fsess_save(const struct fsessions *ss, const char *dir)
{
	size_t cap = 64 + (size_t)ss->n * (48 + (size_t)ss->nparts * (SLUICE_TOPIC_NAME_MAX + 40));
	char *buf = malloc(cap);
	size_t len = 0;
	int rc = -ENOSPC;

	if (!buf)
		return -ENOMEM;
	len += (size_t)snprintf(buf, cap, "# sluice forwarder producer sessions, oldest first\n");
	for (uint32_t s = 0; s < ss->n; s++) {
		int n = snprintf(buf + len, cap - len, "session %" PRId64 " %d\n", ss->s[s].pid,
				 ss->s[s].epoch);

		if (n < 0 || (size_t)n >= cap - len)
			goto out;
		len += (size_t)n;
		for (uint32_t i = 0; i < ss->nparts; i++) {
			if (ss->s[s].base[i] < 0)
				continue;
			n = snprintf(buf + len, cap - len, "base %s %" PRIu32 " %" PRId64 "\n",
				     ss->topics[i], ss->partitions[i], ss->s[s].base[i]);
			if (n < 0 || (size_t)n >= cap - len)
				goto out;
			len += (size_t)n;
		}
	}
	rc = sluice_storage_write_atomic(dir, FSESS_FILE, buf, len);
out:
	free(buf);
	return rc;
}
