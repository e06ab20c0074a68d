/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_record: the cost of the record format on this machine (perf suite; it reports and
 * never fails on a number).
 *
 *  - CRC32C GB/s over 1 MiB buffers: ISA-L's crc32_iscsi (what sluice uses), with DPDK's
 *    rte_hash_crc (SSE4.2 crc32 instruction, one stream) and a byte-at-a-time table as
 *    same-run baselines;
 *  - builder records/s for 100-byte values (16-byte keys, no headers), sealing (CRC) included;
 *  - validate + iterate records/s over the same batches (what recovery and the forwarder pay).
 *
 * Usage: bench_record [seconds per measurement, default 0.4]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_hash_crc.h>

#include "sluice_record.h"
#include "sluice_time.h"

static uint32_t table[256];

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
		table[i] = c;
	}
}

static uint32_t crc_table(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n--)
		c = (c >> 8) ^ table[(c ^ *p++) & 0xff];
	return ~c;
}

static uint32_t crc_dpdk(const uint8_t *p, size_t n)
{
	return ~rte_hash_crc(p, (uint32_t)n, 0xffffffffu);
}

static uint32_t crc_isal(const uint8_t *p, size_t n)
{
	return sluice_crc32c(0, p, n);
}

static volatile uint32_t sink;

static double crc_gbps(uint32_t (*fn)(const uint8_t *, size_t), const uint8_t *buf, size_t n,
		       double secs)
{
	size_t bytes = 0;
	double t0 = sluice_mono_s(), t;

	do {
		for (int i = 0; i < 8; i++) {
			sink ^= fn(buf, n);
			bytes += n;
		}
		t = sluice_mono_s();
	} while (t - t0 < secs);
	return (double)bytes / (t - t0) / 1e9;
}

#define KEY_BYTES 16
#define VALUE_BYTES 100

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 0.4;
	const size_t mib = 1u << 20;
	uint8_t *buf = malloc(mib);

	if (!buf || !(secs > 0)) {
		fprintf(stderr, "usage: bench_record [seconds > 0]\n");
		return 2;
	}
	for (size_t i = 0; i < mib; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	table_init();

	/* Same answer from all three, or the comparison means nothing. */
	uint32_t a = crc_isal(buf, mib), b = crc_dpdk(buf, mib), c = crc_table(buf, mib);

	if (a != b || a != c) {
		fprintf(stderr, "bench_record: CRC32C implementations disagree: %08x %08x %08x\n",
			a, b, c);
		return 1;
	}
	double isal = crc_gbps(crc_isal, buf, mib, secs);
	double dpdk = crc_gbps(crc_dpdk, buf, mib, secs);
	double naive = crc_gbps(crc_table, buf, mib, secs / 4);

	printf("crc32c 1 MiB buffers: isa-l %.2f GB/s, rte_hash_crc %.2f GB/s, table %.2f GB/s\n",
	       isal, dpdk, naive);
	printf("crc32c isa-l / rte_hash_crc = %.2fx, isa-l / table = %.1fx\n", isal / dpdk,
	       isal / naive);

	/* 1 MiB stays in L2: also over 64 MiB, closer to a recovery scan (may still hit a big L3). */
	const size_t big_len = 64u << 20;
	uint8_t *big = malloc(big_len);

	if (big) {
		for (size_t i = 0; i < big_len; i++)
			big[i] = (uint8_t)(i * 2654435761u >> 13);
		printf("crc32c 64 MiB buffer: isa-l %.2f GB/s, rte_hash_crc %.2f GB/s\n",
		       crc_gbps(crc_isal, big, big_len, secs),
		       crc_gbps(crc_dpdk, big, big_len, secs));
		free(big);
	}

	/* Builder: 64 KiB batches (the dataplane's typical seal size) and 1 MiB batches. */
	static const size_t batch_sizes[] = {64u << 10, 1u << 20};
	uint8_t key[KEY_BYTES], value[VALUE_BYTES];

	memset(key, 'k', sizeof(key));
	memset(value, 'v', sizeof(value));
	for (size_t s = 0; s < sizeof(batch_sizes) / sizeof(batch_sizes[0]); s++) {
		size_t cap = batch_sizes[s];
		struct sluice_rb_builder bld;
		struct sluice_rb_batch_meta meta = {.producer_id = 1000,
						    .producer_epoch = 0,
						    .base_sequence = 0,
						    .partition_leader_epoch = -1};
		struct sluice_rb_record rec = {
			.key = key, .key_len = KEY_BYTES, .value = value, .value_len = VALUE_BYTES};
		uint64_t records = 0, batches = 0;
		size_t sealed = 0;
		double t0 = sluice_mono_s(), t;

		do {
			sluice_rb_builder_init(&bld, buf, cap, &meta);
			rec.timestamp = 1700000000000 + (int64_t)batches;
			while (sluice_rb_builder_append(&bld, &rec) == 0) {
				rec.timestamp++;
				records++;
			}
			sealed = sluice_rb_builder_seal(&bld);
			batches++;
			t = sluice_mono_s();
		} while (t - t0 < secs);
		double build_rps = (double)records / (t - t0);

		/* Validate + iterate the last batch, repeatedly. */
		struct sluice_rb_header h;
		size_t n;
		uint64_t vrecords = 0;

		if (sluice_rb_batch_validate(buf, sealed, &h, &n) != SLUICE_RB_OK) {
			fprintf(stderr, "bench_record: built batch does not validate\n");
			return 1;
		}
		t0 = sluice_mono_s();
		do {
			struct sluice_rb_record_iter it;
			struct sluice_rb_record r;

			if (sluice_rb_batch_validate(buf, sealed, &h, &n) != SLUICE_RB_OK)
				return 1;
			sluice_rb_record_iter_init(&it, buf, n);
			while (sluice_rb_record_iter_next(&it, &r) == 1) {
				sink ^= (uint32_t)r.value_len;
				vrecords++;
			}
			t = sluice_mono_s();
		} while (t - t0 < secs);
		double val_rps = (double)vrecords / (t - t0);

		/* The same in one pass: sluice_rb_batch_decode() into a table of recordCount. */
		struct sluice_rb_record *tab = malloc((size_t)h.record_count * sizeof(*tab));
		uint64_t drecords = 0;

		if (tab == NULL)
			return 1;
		t0 = sluice_mono_s();
		do {
			uint32_t nrec = 0;

			if (sluice_rb_batch_decode(buf, sealed, &h, &n, tab,
						   (uint32_t)h.record_count,
						   &nrec) != SLUICE_RB_OK ||
			    nrec != (uint32_t)h.record_count)
				return 1;
			for (uint32_t i = 0; i < nrec; i++)
				sink ^= (uint32_t)tab[i].value_len;
			drecords += nrec;
			t = sluice_mono_s();
		} while (t - t0 < secs);
		free(tab);
		double dec_rps = (double)drecords / (t - t0);

		printf("builder, %zu KiB batches of %d records (key %d B, value %d B): %.2f M "
		       "records/s, %.0f MB/s\n",
		       cap >> 10, h.record_count, KEY_BYTES, VALUE_BYTES, build_rps / 1e6,
		       build_rps * (double)sealed / h.record_count / 1e6);
		printf("validate+iterate, same batches: %.2f M records/s\n", val_rps / 1e6);
		printf("decode (validate and iterate in one pass), same batches: %.2f M "
		       "records/s\n",
		       dec_rps / 1e6);
	}
	free(buf);
	return 0;
}
