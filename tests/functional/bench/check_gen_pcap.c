/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * check_gen_pcap PCAP SUMMARY.json: read back what sluice-gen wrote, with libpcap, and account
 * for every event and sequence against its summary:
 * - every frame parses (Ethernet/IP/UDP lengths and checksums recomputed) unless the summary
 *   says it was corrupted; kafka batches validate (CRC32C) unless corrupted;
 * - per (producer, partition): the sequences seen cover [first, last] of the summary except
 *   exactly dropped + corrupted events; repeats equal duplicated events; packets that arrive
 *   behind a later one equal reordered events.
 * With --dataplane, every frame also goes through the dataplane's EAL-free core
 * (sluice_dp_ctx_packet, the code sluiced's workers run) and its counters must agree: per
 * (producer, partition) lost events = the sequence holes before the last one seen, duplicates =
 * the repeats seen; UDP checksum / batch CRC rejects = corrupted packets.
 * Exit 0 when everything matches, 1 with the first mismatch on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gen_packet.h"
#include "sluice_dataplane.h"
#include "sluice_record.h"

#define MAX_STREAMS 4096

struct stream {
	int64_t producer;
	int32_t partition;
	int64_t first, last;
	uint8_t *count; /* per sequence in [first, last] */
	int64_t max_seen;
	uint64_t reordered_events, frames;
	int64_t holes_seen; /* holes before the last sequence seen: what a receiver counts lost */
	int64_t dup_events;
	bool dp_seen, reorder_mode;
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
static struct sluice_dp_ctx *dp;
static const struct sluice_dp_sink dp_sink; /* all NULL: output discarded, counted accepted */
static uint64_t dp_events_expected;

static void one_frame(const uint8_t *f, size_t len)
{
	struct gen_packet_view v;

	if (dp)
		sluice_dp_ctx_packet(dp, 0, f, len, 0, 0, &dp_sink);
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
		dp_events_expected++;
		p += l + (nl ? 1 : 0);
	}
}

static int64_t jint(json_t *o, const char *k);

/* A dataplane context with one promiscuous any-address port and one listener for the
 * generator's format, UDP port and partitions. */
static int dp_create(json_t *cfg, bool reorder)
{
	struct sluice_dp_port port = {.promiscuous = true};
	struct sluice_listener l = {.family = SLUICE_ADDR_ANY, .max_event_bytes = 65535};
	int64_t parts = jint(cfg, "partitions");

	l.udp_port = (uint16_t)jint(cfg, "dst_port");
	l.format = (enum sluice_format)sluice_format_from_name(format);
	if (parts == 0)
		parts = jint(cfg, "partition") + 1;
	l.partitions = (uint32_t)(parts > 0 ? parts : 1);
	snprintf(l.topic, sizeof(l.topic), "events");
	struct sluice_dp_ctx_opts o = {
		.ports = &port,
		.nports = 1,
		.listeners = &l,
		.nlisteners = 1,
		.producer_table_size = 4096,
		/* A reordered packet arrives one packet late: a window accepts it. Without
		 * reordering no window, so every gap is counted lost as soon as it shows. */
		.reorder_window = reorder ? 1024 : 0,
	};
	char why[256];
	if (sluice_dp_ctx_opts_check(&o, why, sizeof(why)) != 0) {
		fprintf(stderr, "check_gen_pcap: dataplane options: %s\n", why);
		return -1;
	}
	return sluice_dp_ctx_create(&o, &dp);
}

static void dp_visit(const struct sluice_producer_info *pi, void *arg)
{
	struct stream *s = find(pi->producer_id, pi->partition);
	(void)arg;
	CHECK(s != NULL, "dataplane tracks an unknown stream %" PRId64 "/%d", pi->producer_id,
	      pi->partition);
	if (s == NULL)
		return;
	s->dp_seen = true;
	CHECK(pi->duplicates == (uint64_t)s->dup_events,
	      "dataplane: producer %" PRId64 "/%d: %" PRIu64 " duplicates, generator %" PRId64,
	      pi->producer_id, pi->partition, pi->duplicates, s->dup_events);
	/* With a reorder window, holes wait for late packets and are not lost yet. */
	if (!s->reorder_mode)
		CHECK(pi->lost == (uint64_t)s->holes_seen,
		      "dataplane: producer %" PRId64 "/%d: %" PRIu64 " lost, expected %" PRId64,
		      pi->producer_id, pi->partition, pi->lost, s->holes_seen);
	else
		CHECK(pi->lost <= (uint64_t)s->holes_seen, "dataplane: more lost than holes");
}

static void dp_check(bool reorder, int64_t corrupted, bool keep_cksum)
{
	struct sluice_worker_stats st;
	bool kafka = strcmp(format, "kafka") == 0;

	for (int i = 0; i < nstreams; i++)
		streams[i].reorder_mode = reorder;
	sluice_dp_ctx_producers(dp, dp_visit, NULL);
	sluice_dp_ctx_stats(dp, &st);
	uint64_t bad = keep_cksum ? st.batch_errors[SLUICE_RB_ECRC]
				  : st.rejects[SLUICE_DP_REJECT_UDP_CHECKSUM];
	if (!kafka && keep_cksum)
		bad = (uint64_t)corrupted; /* lines/raw carry no CRC: corruption passes */
	CHECK(bad == (uint64_t)corrupted,
	      "dataplane: %" PRIu64 " corrupt frames rejected, generator %" PRId64, bad, corrupted);
	if (kafka) {
		for (int i = 0; i < nstreams; i++)
			CHECK(streams[i].dp_seen || streams[i].frames == 0,
			      "dataplane never saw producer %" PRId64 "/%d", streams[i].producer,
			      streams[i].partition);
	} else {
		CHECK(st.events_parsed == dp_events_expected,
		      "dataplane: %" PRIu64 " events parsed, %" PRIu64 " events in good frames",
		      st.events_parsed, dp_events_expected);
	}
	printf("check_gen_pcap: dataplane: %" PRIu64 " frames, %" PRIu64 " events parsed, %" PRIu64
	       " lost, %" PRIu64 " duplicates\n",
	       st.rx_packets, st.events_parsed, st.producer_lost, st.producer_duplicates);
	sluice_dp_ctx_destroy(dp);
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

	bool with_dp = argc == 4 && strcmp(argv[3], "--dataplane") == 0;
	if (argc != 3 && !with_dp) {
		fprintf(stderr, "usage: check_gen_pcap PCAP SUMMARY.json [--dataplane]\n");
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
	json_t *cfg = json_object_get(sum, "config"), *imp = json_object_get(sum, "impairments");
	bool reorder =
		json_real_value(json_object_get(json_object_get(imp, "reorder"), "fraction")) > 0;
	if (with_dp && dp_create(cfg, reorder) != 0)
		return 1;
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

	json_t *run = json_object_get(sum, "run");
	CHECK((int64_t)frames == jint(run, "tx_packets"),
	      "%" PRIu64 " frames, summary sent %" PRId64, frames, jint(run, "tx_packets"));
	int64_t corrupted = jint(json_object_get(imp, "corrupt"), "packets");
	CHECK((int64_t)bad_frames == corrupted,
	      "%" PRIu64 " bad frames, summary corrupted %" PRId64, bad_frames, corrupted);
	json_array_foreach(prods, i, o)
	{
		struct stream *s = &streams[i];
		int64_t holes = 0, dups = 0, holes_seen = 0;
		for (int64_t q = 0; q <= s->last - s->first; q++) {
			holes += s->count[q] == 0;
			holes_seen += s->count[q] == 0 && q + s->first < s->max_seen;
			dups += s->count[q] > 1 ? s->count[q] - 1 : 0;
		}
		s->holes_seen = holes_seen;
		s->dup_events = dups;
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
	if (dp) {
		json_t *corr = json_object_get(imp, "corrupt");
		dp_check(reorder, corrupted,
			 json_is_true(json_object_get(corr, "keep_udp_checksum")));
	}
	json_decref(sum);
	if (fail_count == 0)
		printf("check_gen_pcap: %" PRIu64 " frames, %d streams: all accounted for\n",
		       frames, nstreams);
	return fail_count ? 1 : 0;
}
