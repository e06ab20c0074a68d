/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * check_gen_pcap PCAP SUMMARY.json: read back what sluice-gen wrote, with libpcap, and account
 * for every event and sequence against its summary:
 * - every frame parses (Ethernet/IP/UDP lengths and checksums recomputed) unless the summary
 *   says it was corrupted; kafka batches validate (CRC32C) unless corrupted;
 * - per (producer, partition): the sequences seen cover [first, last] of the summary except
 *   exactly dropped + corrupted events; repeats equal duplicated events; packets that arrive
 *   behind a later one equal reordered events.
 * Exit 0 when everything matches, 1 with the first mismatch on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gen_packet.h"
#include "sluice_record.h"

#define MAX_STREAMS 4096

struct stream {
	int64_t producer;
	int32_t partition;
	int64_t first, last;
	uint8_t *count; /* per sequence in [first, last] */
	int64_t max_seen;
	uint64_t reordered_events, frames;
};

static struct stream streams[MAX_STREAMS];
static int nstreams;
static const char *format;

static int fail_count;

#define CHECK(cond, ...)                                                 \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "check_gen_pcap: " __VA_ARGS__); \
			fputc('\n', stderr);                             \
			fail_count++;                                    \
		}                                                        \
	} while (0)

static struct stream *find(int64_t producer, int32_t partition)
{
	for (int i = 0; i < nstreams; i++) {
		if (streams[i].producer == producer && streams[i].partition == partition)
			return &streams[i];
	}
	return NULL;
}

static void see(struct stream *s, int64_t first_seq, uint32_t n)
{
	s->frames++;
	/* Kafka sequences wrap from INT32_MAX to 0: unwrap against the stream's first. */
	if (strcmp(format, "kafka") == 0 && first_seq < s->first)
		first_seq += (int64_t)INT32_MAX + 1;
	if (first_seq <= s->max_seen)
		s->reordered_events += s->count[first_seq - s->first] ? 0 : n;
	for (uint32_t i = 0; i < n; i++) {
		int64_t q = first_seq + i;
		if (q < s->first || q > s->last) {
			CHECK(0,
			      "producer %" PRId64 " sequence %" PRId64 " outside [%" PRId64
			      ", %" PRId64 "]",
			      s->producer, q, s->first, s->last);
			return;
		}
		if (s->count[q - s->first] < 255)
			s->count[q - s->first]++;
	}
	if (first_seq + n - 1 > s->max_seen)
		s->max_seen = first_seq + n - 1;
}

static uint64_t bad_frames;

static void one_frame(const uint8_t *f, size_t len)
{
	struct gen_packet_view v;

	if (gen_packet_parse(f, len, &v) != GEN_PARSE_OK) {
		bad_frames++;
		return;
	}
	if (strcmp(format, "kafka") == 0) {
		int32_t part;
		struct sluice_rb_header h;
		size_t bb;
		CHECK(sluice_envelope_decode(v.payload, v.payload_len, &part) == 0, "bad envelope");
		if (sluice_rb_batch_validate(v.payload + SLUICE_ENVELOPE_BYTES,
					     v.payload_len - SLUICE_ENVELOPE_BYTES, &h,
					     &bb) != SLUICE_RB_OK) {
			bad_frames++;
			return;
		}
		CHECK(bb == v.payload_len - SLUICE_ENVELOPE_BYTES, "trailing bytes after batch");
		struct stream *s = find(h.producer_id, part);
		CHECK(s != NULL, "unknown stream %" PRId64 "/%d", h.producer_id, part);
		if (s == NULL)
			return;
		/* every record's value names its producer and sequence */
		struct sluice_rb_record_iter it;
		struct sluice_rb_record r;
		int32_t i = 0;
		sluice_rb_record_iter_init(&it, v.payload + SLUICE_ENVELOPE_BYTES, bb);
		while (sluice_rb_record_iter_next(&it, &r) == 1) {
			uint64_t p, q;
			if (gen_event_parse(r.value, (size_t)r.value_len, &p, &q) == 0) {
				CHECK((int64_t)p == h.producer_id, "record of another producer");
				int64_t want = (int64_t)h.base_sequence + i;
				if (want > INT32_MAX)
					want -= (int64_t)INT32_MAX + 1;
				CHECK((int64_t)q == want,
				      "record sequence %" PRIu64 " at index %d of batch %d", q, i,
				      h.base_sequence);
			}
			i++;
		}
		CHECK(i == h.record_count, "record count");
		see(s, h.base_sequence, (uint32_t)h.record_count);
		return;
	}
	/* lines / raw: events carry "<producer>:<sequence>:" */
	const uint8_t *p = v.payload, *end = v.payload + v.payload_len;
	bool lines = strcmp(format, "lines") == 0;
	while (p < end) {
		const uint8_t *nl = lines ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		uint64_t prod, q;
		CHECK(gen_event_parse(p, l, &prod, &q) == 0, "event without producer:sequence");
		struct stream *s = find((int64_t)prod, -1);
		CHECK(s != NULL, "unknown producer %" PRIu64, prod);
		if (s)
			see(s, (int64_t)q, 1);
		p += l + (nl ? 1 : 0);
	}
}

static int64_t jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

int main(int argc, char **argv)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	json_error_t je;
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t frames = 0;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: check_gen_pcap PCAP SUMMARY.json\n");
		return 2;
	}
	json_t *sum = json_load_file(argv[2], 0, &je);
	if (sum == NULL) {
		fprintf(stderr, "check_gen_pcap: %s: %s\n", argv[2], je.text);
		return 1;
	}
	format = json_string_value(json_object_get(json_object_get(sum, "config"), "format"));
	json_t *prods = json_object_get(sum, "producers"), *o;
	size_t i;
	json_array_foreach(prods, i, o)
	{
		if (nstreams == MAX_STREAMS)
			break;
		struct stream *s = &streams[nstreams++];
		s->producer = jint(o, "producer_id");
		s->partition = (int32_t)jint(o, "partition");
		s->first = jint(o, "first_sequence");
		s->last = jint(o, "last_sequence");
		if (s->last < s->first)
			s->last += (int64_t)INT32_MAX + 1;
		s->max_seen = s->first - 1;
		s->count = calloc((size_t)(s->last - s->first + 1), 1);
		if (s->count == NULL)
			return 1;
	}
	pcap_t *pc =
		pcap_open_offline_with_tstamp_precision(argv[1], PCAP_TSTAMP_PRECISION_NANO, ebuf);
	if (pc == NULL) {
		fprintf(stderr, "check_gen_pcap: %s: %s\n", argv[1], ebuf);
		return 1;
	}
	CHECK(pcap_datalink(pc) == DLT_EN10MB, "link type");
	while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
		CHECK(h->caplen == h->len, "truncated capture");
		frames++;
		one_frame(data, h->caplen);
	}
	pcap_close(pc);

	json_t *run = json_object_get(sum, "run"), *imp = json_object_get(sum, "impairments");
	CHECK((int64_t)frames == jint(run, "tx_packets"),
	      "%" PRIu64 " frames, summary sent %" PRId64, frames, jint(run, "tx_packets"));
	int64_t corrupted = jint(json_object_get(imp, "corrupt"), "packets");
	CHECK((int64_t)bad_frames == corrupted,
	      "%" PRIu64 " bad frames, summary corrupted %" PRId64, bad_frames, corrupted);
	json_array_foreach(prods, i, o)
	{
		struct stream *s = &streams[i];
		int64_t holes = 0, dups = 0;
		for (int64_t q = 0; q <= s->last - s->first; q++) {
			holes += s->count[q] == 0;
			dups += s->count[q] > 1 ? s->count[q] - 1 : 0;
		}
		int64_t want_holes = jint(o, "dropped_events") + jint(o, "corrupted_events");
		CHECK(holes == want_holes,
		      "producer %" PRId64 "/%d: %" PRId64 " missing sequences, summary %" PRId64,
		      s->producer, s->partition, holes, want_holes);
		CHECK(dups == jint(o, "duplicated_events"),
		      "producer %" PRId64 "/%d: %" PRId64 " repeats, summary %" PRId64, s->producer,
		      s->partition, dups, jint(o, "duplicated_events"));
		CHECK((int64_t)s->reordered_events == jint(o, "reordered_events"),
		      "producer %" PRId64 "/%d: %" PRIu64 " reordered events, summary %" PRId64,
		      s->producer, s->partition, s->reordered_events, jint(o, "reordered_events"));
		free(s->count);
	}
	json_decref(sum);
	if (fail_count == 0)
		printf("check_gen_pcap: %" PRIu64 " frames, %d streams: all accounted for\n",
		       frames, nstreams);
	return fail_count ? 1 : 0;
}
