/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-dump: print and verify a sluice log, like Kafka's kafka-dump-log.
 *
 *   sluice-dump [options] PATH...
 *
 * PATH is a partition directory (<topic>-<p>: every segment in offset order), a segment
 * (.log), or an index (.index, .timeindex). It reads the files directly with the record
 * format code only, independently of the storage library that wrote them.
 *
 * --verify checks every batch (length, magic, CRC32C, records, contiguous offsets starting at
 * the segment's base offset) and every index entry against the batches, and exits 1 on the
 * first damage of each file, naming the file and the byte offset. Run it on a stopped log:
 * a live segment's tail may be in flight or preallocated (an all-zero tail is reported, not
 * counted as damage).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice_record.h"

enum fmt { FMT_TEXT, FMT_HEX, FMT_JSON };

static struct {
	enum fmt fmt;
	bool verify;
	bool print_data;
	bool quiet;
	int64_t from;
} opt = {.from = -1};

static int damaged;

struct file_map {
	uint8_t *p;
	size_t len;
};

static int map_file(const char *path, struct file_map *m)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	m->p = NULL;
	m->len = 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "sluice-dump: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	m->len = (size_t)st.st_size;
	if (m->len) {
		m->p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m->p == MAP_FAILED) {
			fprintf(stderr, "sluice-dump: mmap %s: %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

static void unmap_file(struct file_map *m)
{
	if (m->p)
		munmap(m->p, m->len);
}

static void report_damage(const char *path, uint64_t pos, const char *why)
{
	printf("DAMAGE %s at byte %" PRIu64 ": %s\n", path, pos, why);
	damaged = 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Printing                                                                                   */

static void put_text(const uint8_t *b, int32_t len)
{
	if (len < 0) {
		fputs("null", stdout);
		return;
	}
	for (int32_t i = 0; i < len; i++)
		putchar(b[i] >= 0x20 && b[i] < 0x7f ? b[i] : '.');
}

static void put_hex(const uint8_t *b, int32_t len)
{
	if (len < 0) {
		fputs("null", stdout);
		return;
	}
	for (int32_t i = 0; i < len; i++)
		printf("%02x", b[i]);
}

/* A JSON string; bytes outside printable ASCII are written as \u00XX. */
static void put_json(const uint8_t *b, int32_t len)
{
	if (len < 0) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (int32_t i = 0; i < len; i++) {
		uint8_t c = b[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			putchar(c);
		else
			printf("\\u%04x", c);
	}
	putchar('"');
}

static void put_bytes(const uint8_t *b, int32_t len)
{
	if (opt.fmt == FMT_HEX)
		put_hex(b, len);
	else
		put_text(b, len);
}

static void print_batch(const uint8_t *b, size_t len, const struct sluice_rb_header *h,
			uint64_t pos, bool valid)
{
	int64_t last = h->base_offset + h->last_offset_delta;
	bool txn = h->attributes & SLUICE_RB_ATTR_TRANSACTIONAL;
	bool ctl = h->attributes & SLUICE_RB_ATTR_CONTROL;
	const char *tstype = h->attributes & SLUICE_RB_ATTR_TIMESTAMP_LOG_APPEND ? "LogAppendTime"
										 : "CreateTime";
	struct sluice_rb_record_iter it;
	struct sluice_rb_record rec;
	int32_t last_seq = h->base_sequence < 0 ? -1 : h->base_sequence + h->last_offset_delta;

	if (opt.quiet)
		return;
	if (opt.fmt == FMT_JSON) {
		printf("{\"baseOffset\":%" PRId64 ",\"lastOffset\":%" PRId64 ",\"count\":%d,"
		       "\"position\":%" PRIu64 ",\"size\":%zu,\"magic\":%d,\"crc\":%" PRIu32
		       ",\"isValid\":%s,\"partitionLeaderEpoch\":%d,\"producerId\":%" PRId64
		       ",\"producerEpoch\":%d,\"baseSequence\":%d,\"isTransactional\":%s,"
		       "\"isControl\":%s,\"timestampType\":\"%s\",\"baseTimestamp\":%" PRId64
		       ",\"maxTimestamp\":%" PRId64,
		       h->base_offset, last, h->record_count, pos, len, h->magic, h->crc,
		       valid ? "true" : "false", h->partition_leader_epoch, h->producer_id,
		       h->producer_epoch, h->base_sequence, txn ? "true" : "false",
		       ctl ? "true" : "false", tstype, h->base_timestamp, h->max_timestamp);
		if (opt.print_data && valid) {
			printf(",\"records\":[");
			sluice_rb_record_iter_init(&it, b, len);
			for (int n = 0; sluice_rb_record_iter_next(&it, &rec) == 1; n++) {
				printf("%s{\"offset\":%" PRId64 ",\"timestamp\":%" PRId64
				       ",\"key\":",
				       n ? "," : "", rec.offset, rec.timestamp);
				put_json(rec.key, rec.key_len);
				printf(",\"value\":");
				put_json(rec.value, rec.value_len);
				printf(",\"headers\":[");
				for (uint32_t i = 0; i < rec.header_count; i++) {
					struct sluice_rb_kv kv;

					if (sluice_rb_record_header(&rec, i, &kv) != 0)
						break;
					printf("%s{\"key\":", i ? "," : "");
					put_json(kv.key, kv.key_len);
					printf(",\"value\":");
					put_json(kv.value, kv.value_len);
					putchar('}');
				}
				printf("]}");
			}
			putchar(']');
		}
		printf("}\n");
		return;
	}
	printf("baseOffset: %" PRId64 " lastOffset: %" PRId64 " count: %d baseSequence: %d "
	       "lastSequence: %d producerId: %" PRId64 " producerEpoch: %d "
	       "partitionLeaderEpoch: %d isTransactional: %s isControl: %s position: %" PRIu64
	       " %s: %" PRId64 " size: %zu magic: %d compresscodec: none crc: %" PRIu32
	       " isvalid: %s\n",
	       h->base_offset, last, h->record_count, h->base_sequence, last_seq, h->producer_id,
	       h->producer_epoch, h->partition_leader_epoch, txn ? "true" : "false",
	       ctl ? "true" : "false", pos, tstype, h->max_timestamp, len, h->magic, h->crc,
	       valid ? "true" : "false");
	if (!opt.print_data || !valid)
		return;
	sluice_rb_record_iter_init(&it, b, len);
	while (sluice_rb_record_iter_next(&it, &rec) == 1) {
		printf("| offset: %" PRId64 " %s: %" PRId64 " keySize: %d valueSize: %d "
		       "headerCount: %u key: ",
		       rec.offset, tstype, rec.timestamp, rec.key_len, rec.value_len,
		       rec.header_count);
		put_bytes(rec.key, rec.key_len);
		printf(" payload: ");
		put_bytes(rec.value, rec.value_len);
		for (uint32_t i = 0; i < rec.header_count; i++) {
			struct sluice_rb_kv kv;

			if (sluice_rb_record_header(&rec, i, &kv) != 0)
				break;
			printf(" header: ");
			put_bytes(kv.key, kv.key_len);
			putchar('=');
			put_bytes(kv.value, kv.value_len);
		}
		putchar('\n');
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Segments and indexes                                                                       */

static bool parse_base(const char *path, const char *ext, int64_t *base)
{
	const char *name = strrchr(path, '/');
	size_t n, e = strlen(ext);
	char *end;

	name = name ? name + 1 : path;
	n = strlen(name);
	if (n != 20 + e || strcmp(name + 20, ext) != 0)
		return false;
	errno = 0;
	*base = strtoll(name, &end, 10);
	return errno == 0 && end == name + 20 && *base >= 0;
}

struct batch_pos {
	int64_t base;
	uint64_t pos;
	int64_t max_ts;
};

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Walk one segment; with verify, collect batch positions for the index checks. */
static int dump_segment(const char *path, int64_t expect_base, struct batch_pos **out, size_t *nout,
			int64_t *next_offset)
{
	struct file_map m;
	int64_t base, expect;
	uint64_t pos = 0;
	struct batch_pos *v = NULL;
	size_t n = 0, cap = 0;

	if (!parse_base(path, ".log", &base)) {
		fprintf(stderr, "sluice-dump: %s: not a <20-digit offset>.log segment\n", path);
		return -1;
	}
	if (map_file(path, &m))
		return -1;
	if (opt.verify && expect_base >= 0 && base != expect_base)
		report_damage(path, 0, "segment base offset does not follow the previous segment");
	if (!opt.quiet && opt.fmt != FMT_JSON)
		printf("Dumping %s\nStarting offset: %" PRId64 "\n", path, base);
	expect = base;
	while (pos < m.len) {
		struct sluice_rb_header h;
		size_t bytes = 0;
		enum sluice_rb_err e = sluice_rb_batch_validate(m.p + pos, m.len - pos, &h, &bytes);

		if (e == SLUICE_RB_OK && h.base_offset != expect)
			e = SLUICE_RB_EOFFSET_ORDER;
		if (e != SLUICE_RB_OK) {
			if (all_zero(m.p + pos, m.len - pos)) {
				if (!opt.quiet && opt.fmt != FMT_JSON)
					printf("(zero tail: %zu bytes of preallocated space or "
					       "O_DIRECT "
					       "padding from byte %" PRIu64 ")\n",
					       m.len - pos, pos);
				break;
			}
			if (sluice_rb_header_decode(m.p + pos, m.len - pos, &h) == SLUICE_RB_OK &&
			    (size_t)h.batch_length + SLUICE_RB_LOG_OVERHEAD <= m.len - pos)
				print_batch(m.p + pos, (size_t)h.batch_length + 12, &h, pos, false);
			if (opt.verify) {
				char why[128];

				snprintf(why, sizeof(why),
					 "%s (batch expected at offset %" PRId64 ")",
					 sluice_rb_strerror(e), expect);
				report_damage(path, pos, why);
			} else if (!opt.quiet) {
				printf("invalid batch at byte %" PRIu64 ": %s; stopping\n", pos,
				       sluice_rb_strerror(e));
			}
			break;
		}
		if (opt.from < 0 || h.base_offset + h.last_offset_delta >= opt.from)
			print_batch(m.p + pos, bytes, &h, pos, true);
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			v = realloc(v, cap * sizeof(*v));
			if (!v) {
				unmap_file(&m);
				return -1;
			}
		}
		v[n++] = (struct batch_pos){
			.base = h.base_offset, .pos = pos, .max_ts = h.max_timestamp};
		expect = h.base_offset + h.last_offset_delta + 1;
		pos += bytes;
	}
	unmap_file(&m);
	*next_offset = expect;
	if (out) {
		*out = v;
		*nout = n;
	} else {
		free(v);
	}
	return 0;
}

/* Entries of .index: (int32 relative offset, int32 position); of .timeindex:
 * (int64 timestamp, int32 relative offset). With batches, each entry is checked. */
static int dump_index(const char *path, bool time, const struct batch_pos *v, size_t n)
{
	size_t esz = time ? 12 : 8;
	struct file_map m;
	int64_t base;
	int64_t prev_rel = -1, prev_ts = INT64_MIN;
	uint64_t prev_pos = 0;
	/* running max of maxTimestamp over batches [0, scanned): entries come in offset order */
	int64_t run_max = INT64_MIN;
	size_t scanned = 0;

	if (!parse_base(path, time ? ".timeindex" : ".index", &base)) {
		fprintf(stderr, "sluice-dump: %s: not an index file name\n", path);
		return -1;
	}
	if (map_file(path, &m))
		return -1;
	if (!opt.quiet && !opt.verify && opt.fmt != FMT_JSON)
		printf("Dumping %s\n", path);
	if (m.len % esz && opt.verify)
		report_damage(path, m.len - m.len % esz, "partial entry at the end");
	for (size_t i = 0; i + esz <= m.len; i += esz) {
		int64_t rel, ts = 0;
		uint64_t ipos = 0;
		const char *bad = NULL;

		if (time) {
			ts = (int64_t)sluice_be64_get(m.p + i);
			rel = sluice_be32_get(m.p + i + 8);
		} else {
			rel = sluice_be32_get(m.p + i);
			ipos = sluice_be32_get(m.p + i + 4);
		}
		if (!opt.quiet && !opt.verify) {
			if (opt.fmt == FMT_JSON && time)
				printf("{\"timestamp\":%" PRId64 ",\"offset\":%" PRId64 "}\n", ts,
				       base + rel);
			else if (opt.fmt == FMT_JSON)
				printf("{\"offset\":%" PRId64 ",\"position\":%" PRIu64 "}\n",
				       base + rel, ipos);
			else if (time)
				printf("timestamp: %" PRId64 " offset: %" PRId64 "\n", ts,
				       base + rel);
			else
				printf("offset: %" PRId64 " position: %" PRIu64 "\n", base + rel,
				       ipos);
		}
		if (!v)
			continue;
		if (rel <= prev_rel)
			bad = "offsets not increasing";
		else if (!time && i && ipos <= prev_pos)
			bad = "positions not increasing";
		else if (time && ts <= prev_ts)
			bad = "timestamps not increasing";
		if (!bad) {
			/* the entry must name the start of a batch with that offset */
			size_t lo = 0, hi = n;

			while (lo < hi) {
				size_t mid = (lo + hi) / 2;

				if (v[mid].base < base + rel)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo == n || v[lo].base != base + rel)
				bad = "entry names no batch";
			else if (!time && v[lo].pos != ipos)
				bad = "position is not where that batch starts";
			else if (time) {
				/* sluice's rule: T is the largest maxTimestamp before offset O */
				for (; scanned < lo; scanned++)
					if (v[scanned].max_ts > run_max)
						run_max = v[scanned].max_ts;
				if (run_max != ts)
					bad = "timestamp is not the largest before its offset";
			}
		}
		if (bad) {
			report_damage(path, i, bad);
			break;
		}
		prev_rel = rel;
		prev_pos = ipos;
		prev_ts = ts;
	}
	unmap_file(&m);
	return 0;
}

static bool ends_with(const char *s, const char *ext)
{
	size_t n = strlen(s), e = strlen(ext);

	return n >= e && strcmp(s + n - e, ext) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A segment and, when verifying, its two indexes. */
static int do_segment(const char *path, int64_t expect_base, int64_t *next)
{
	struct batch_pos *v = NULL;
	size_t n = 0;
	int rc = dump_segment(path, expect_base, opt.verify ? &v : NULL, &n, next);

	if (!rc && opt.verify) {
		char ipath[PATH_MAX];
		size_t l = strlen(path) - 4;

		snprintf(ipath, sizeof(ipath), "%.*s.index", (int)l, path);
		if (access(ipath, F_OK) == 0)
			dump_index(ipath, false, v, n);
		snprintf(ipath, sizeof(ipath), "%.*s.timeindex", (int)l, path);
		if (access(ipath, F_OK) == 0)
			dump_index(ipath, true, v, n);
	}
	free(v);
	return rc;
}

static int do_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int64_t next = -1;
	int rc = 0;

	if (!d) {
		fprintf(stderr, "sluice-dump: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		int64_t base;

		if (!parse_base(e->d_name, ".log", &base))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = realloc(names, cap * sizeof(*names));
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		int64_t seg_next = -1;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!rc)
			rc = do_segment(path, next, &seg_next);
		next = seg_next;
		free(names[i]);
	}
	free(names);
	if (!n)
		fprintf(stderr, "sluice-dump: %s: no segments\n", dir);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-dump [options] PATH...\n"
		"  PATH                  a partition directory, a .log segment, an .index or a "
		".timeindex\n"
		"  -f, --format FMT      text (default), hex (keys and values in hex), json (JSON "
		"lines)\n"
		"  -d, --print-data      print every record (key, value, headers)\n"
		"  -o, --from OFFSET     print batches from the one containing OFFSET\n"
		"  -v, --verify          check CRCs, offsets and indexes; exit 1 naming the first\n"
		"                        damaged byte of each file\n"
		"  -q, --quiet           print nothing but damage (with --verify)\n"
		"  -h, --help\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"format", required_argument, NULL, 'f'},
		{"print-data", no_argument, NULL, 'd'},
		{"from", required_argument, NULL, 'o'},
		{"verify", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "f:do:vqh", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (strcmp(optarg, "text") == 0)
				opt.fmt = FMT_TEXT;
			else if (strcmp(optarg, "hex") == 0)
				opt.fmt = FMT_HEX;
			else if (strcmp(optarg, "json") == 0)
				opt.fmt = FMT_JSON;
			else {
				fprintf(stderr, "sluice-dump: --format: text, hex or json\n");
				return 2;
			}
			break;
		case 'd':
			opt.print_data = true;
			break;
		case 'o': {
			char *end;

			errno = 0;
			opt.from = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || opt.from < 0) {
				fprintf(stderr, "sluice-dump: --from: not an offset: %s\n", optarg);
				return 2;
			}
			break;
		}
		case 'v':
			opt.verify = true;
			break;
		case 'q':
			opt.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		const char *path = argv[i];
		struct stat st;
		int64_t next;

		if (stat(path, &st) != 0) {
			fprintf(stderr, "sluice-dump: %s: %s\n", path, strerror(errno));
			rc = 2;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (do_dir(path))
				rc = 2;
		} else if (ends_with(path, ".log")) {
			if (do_segment(path, -1, &next))
				rc = 2;
		} else if (ends_with(path, ".timeindex") || ends_with(path, ".index")) {
			bool time = ends_with(path, ".timeindex");

			if (opt.verify) {
				/* verify an index against its segment */
				char seg[PATH_MAX];
				size_t l = strlen(path) - (time ? 10 : 6);

				snprintf(seg, sizeof(seg), "%.*s.log", (int)l, path);
				if (do_segment(seg, -1, &next))
					rc = 2;
			} else if (dump_index(path, time, NULL, 0)) {
				rc = 2;
			}
		} else {
			fprintf(stderr,
				"sluice-dump: %s: not a directory, .log, .index or .timeindex\n",
				path);
			rc = 2;
		}
	}
	if (rc)
		return rc;
	if (opt.verify && !damaged && !opt.quiet)
		printf("verify: ok\n");
	return damaged ? 1 : 0;
}
