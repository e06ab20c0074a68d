/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-gen's traffic model and command line: sequences per (producer, partition), flows,
 * and impairments counted exactly — checked by decoding every frame it emits.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gen_traffic.h"
#include "sluice_record.h"

static int parse(struct gen_config *c, char *err, size_t errlen, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)"sluice-gen";
	va_start(ap, errlen);
	for (char *a; (a = va_arg(ap, char *)) != NULL;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	return gen_config_parse(argc, argv, c, err, errlen);
}

static void test_config_errors(void **state)
{
	struct gen_config c;
	char err[256];
	(void)state;

	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--rate", "0", NULL), -EINVAL);
	assert_string_equal(err, "sluice-gen: --rate: must be > 0");
	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--pps", "-5", NULL), -EINVAL);
	assert_string_equal(err, "sluice-gen: --pps: must be > 0");
	assert_int_equal(parse(&c, err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "no output"));
	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--udp", "127.0.0.1:9", NULL),
			 -EINVAL);
	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--drop", "1.5", NULL),
			 -EINVAL);
	assert_string_equal(err, "sluice-gen: --drop: must be a fraction in 0..1");
	assert_int_equal(
		parse(&c, err, sizeof(err), "--pcap", "x", "--drop", "0.6", "--dup", "0.6", NULL),
		-EINVAL);
	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--event-size", "9-3", NULL),
			 -EINVAL);
	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--format", "xml", NULL),
			 -EINVAL);
	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--format", "lines",
			       "--partition", "2", NULL),
			 -EINVAL);
	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--src-ip", "fd00::1", NULL),
			 -EINVAL);
	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--bogus", NULL), -EINVAL);
	assert_non_null(strstr(err, "--bogus"));
	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--count", "1x", NULL),
			 -EINVAL);
	assert_int_equal(parse(&c, err, sizeof(err), "--udp", "localhost", NULL), -EINVAL);
}

static void test_config_ack(void **state)
{
	struct gen_config c;
	char err[256];
	(void)state;

	/* acknowledged mode: explicit partitions, acks must be able to come back, sequences
	 * from 0, no reordering or corruption (they would need the window's cooperation) */
	assert_int_equal(parse(&c, err, sizeof(err), "--udp", "127.0.0.1:9", "--ack", NULL),
			 -EINVAL);
	assert_non_null(strstr(err, "explicit partitions"));
	assert_int_equal(parse(&c, err, sizeof(err), "--udp", "127.0.0.1:9", "--ack", "--format",
			       "lines", NULL),
			 -EINVAL);
	assert_int_equal(
		parse(&c, err, sizeof(err), "--pcap", "x", "--ack", "--partition", "0", NULL),
		-EINVAL);
	assert_non_null(strstr(err, "acks come back"));
	assert_int_equal(parse(&c, err, sizeof(err), "--udp", "127.0.0.1:9", "--ack",
			       "--partitions", "2", "--reorder", "0.1", NULL),
			 -EINVAL);
	assert_int_equal(parse(&c, err, sizeof(err), "--udp", "127.0.0.1:9", "--ack", "--partition",
			       "1", "--first-sequence", "5", NULL),
			 -EINVAL);
	assert_int_equal(parse(&c, err, sizeof(err), "--udp", "127.0.0.1:9", "--ack",
			       "--partitions", "2", "--drop", "0.05", "--dup", "0.02", NULL),
			 0);
	assert_true(c.ack);
	/* impairments move after the window, so that what is dropped is resent */
	assert_true(c.drop == 0 && c.dup == 0);
	assert_true(c.ack_drop == 0.05 && c.ack_dup == 0.02);
}

static void test_config_values(void **state)
{
	struct gen_config c;
	char err[256];
	(void)state;

	assert_int_equal(parse(&c, err, sizeof(err), "--vdev",
			       "net_memif0,role=client,socket=/tmp/s", "--eps", "2M",
			       "--event-size", "10-90", "--count", "1k", NULL),
			 0);
	assert_int_equal(c.output, GEN_OUT_PORT);
	assert_string_equal(c.port_device, "net_memif0");
	assert_int_equal(c.rate_unit, GEN_RATE_EPS);
	assert_true(c.rate == 2e6);
	assert_int_equal(c.event_min, 10);
	assert_int_equal(c.event_max, 90);
	assert_int_equal(c.count, 1000);
	assert_int_equal(parse(&c, err, sizeof(err), "--udp", "[::1]:9001", "--gbps", "2.5", NULL),
			 0);
	assert_int_equal(c.output, GEN_OUT_UDP);
	assert_string_equal(c.udp_host, "::1");
	assert_int_equal(c.udp_port, 9001);
	assert_true(c.flow.ipv6);
	assert_true(c.rate == 2.5e9);
}

/* What a receiver saw, per producer (single partition slot). */
struct seen {
	uint64_t frames, events, bad_cksum, bad_crc, dup_events, reordered;
	int64_t next_expected;
	uint8_t *have; /* per sequence: times received */
};

static void run_and_check(struct gen_config *c, uint64_t packets)
{
	struct gen_traffic *t = NULL;
	struct gen_frame fr[3];
	struct gen_totals tot;
	char err[256];
	uint32_t np = c->producers;
	struct seen *s = calloc(np, sizeof(*s));
	uint64_t max_seq = packets * c->events_per_packet + 16;

	assert_int_equal(gen_traffic_create(c, &t, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < np; i++)
		s[i].have = calloc(max_seq, 1);
	for (uint64_t k = 0; k <= packets; k++) {
		unsigned n = k < packets ? gen_traffic_next(t, 1700000000000LL, fr)
					 : gen_traffic_flush(t, fr);
		for (unsigned j = 0; j < n; j++) {
			struct gen_packet_view v;
			enum gen_parse_err pe = gen_packet_parse(fr[j].data, fr[j].len, &v);
			if (pe == GEN_PARSE_UDP_CKSUM) {
				s[0].bad_cksum += fr[j].events;
				continue;
			}
			assert_int_equal(pe, GEN_PARSE_OK);
			assert_int_equal(v.dst_port, c->flow.dst_port);
			int32_t part;
			struct sluice_rb_header h;
			size_t bb;
			assert_int_equal(sluice_envelope_decode(v.payload, v.payload_len, &part),
					 0);
			if (sluice_rb_batch_validate(v.payload + 8, v.payload_len - 8, &h, &bb) !=
			    SLUICE_RB_OK) {
				s[0].bad_crc += fr[j].events;
				continue;
			}
			uint32_t p = (uint32_t)(h.producer_id - c->producer_id_base);
			assert_true(p < np);
			/* one producer keeps one flow, so one worker sees its sequence */
			assert_int_equal(v.src_port,
					 c->flow.src_port + p % (c->flows ? c->flows : np));
			struct seen *x = &s[p];
			x->frames++;
			if (h.base_sequence < x->next_expected)
				x->reordered += x->have[h.base_sequence] ? 0 : 1;
			for (int32_t r = 0; r < h.record_count; r++) {
				if (x->have[h.base_sequence + r]++)
					x->dup_events++;
				else
					x->events++;
			}
			if (h.base_sequence + h.record_count > x->next_expected)
				x->next_expected = h.base_sequence + h.record_count;
		}
	}
	gen_traffic_totals(t, &tot);
	uint64_t ev = 0, dup = 0, reo = 0, lost = 0, bad = 0;
	for (uint32_t i = 0; i < np; i++) {
		ev += s[i].events;
		dup += s[i].dup_events;
		reo += s[i].reordered;
		bad += s[i].bad_cksum + s[i].bad_crc;
		for (int64_t q = 0; q < s[i].next_expected; q++)
			lost += s[i].have[q] == 0;
		free(s[i].have);
	}
	assert_int_equal(tot.packets, packets);
	assert_int_equal(tot.events, packets * c->events_per_packet);
	assert_int_equal(ev, tot.events - tot.dropped_events - tot.corrupted_events);
	assert_int_equal(dup, tot.duplicated_events);
	assert_int_equal(reo, tot.reordered_packets);
	assert_int_equal(bad, tot.corrupted_events);
	/* dropped or corrupted sequences leave holes (the last packet may not be followed) */
	assert_true(lost <= tot.dropped_events + tot.corrupted_events);
	assert_true(lost + 2 * c->events_per_packet * np >=
		    tot.dropped_events + tot.corrupted_events);
	if (c->drop > 0)
		assert_true(tot.dropped_packets > 0);
	if (c->dup > 0)
		assert_true(tot.duplicated_packets > 0);
	if (c->reorder > 0)
		assert_true(tot.reordered_packets > 0);
	if (c->corrupt > 0)
		assert_true(tot.corrupted_packets > 0);
	/* the summary says the same */
	json_t *root = json_object();
	assert_int_equal(gen_traffic_summary(t, root), 0);
	json_t *prods = json_object_get(root, "producers");
	assert_int_equal(json_array_size(prods), np);
	uint64_t sum_ev = 0, sum_drop = 0;
	size_t i;
	json_t *o;
	json_array_foreach(prods, i, o)
	{
		sum_ev += (uint64_t)json_integer_value(json_object_get(o, "events"));
		sum_drop += (uint64_t)json_integer_value(json_object_get(o, "dropped_events"));
		assert_int_equal(json_integer_value(json_object_get(o, "first_sequence")), 0);
	}
	assert_int_equal(sum_ev, tot.events);
	assert_int_equal(sum_drop, tot.dropped_events);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_object_get(root, "impairments"), "duplicate"),
				 "events")),
			 tot.duplicated_events);
	json_decref(root);
	free(s);
	gen_traffic_destroy(t);
}

static void test_impairments_exact(void **state)
{
	struct gen_config c;
	char err[256];
	(void)state;

	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--producers", "4",
			       "--events-per-packet", "3", "--event-size", "20-50", "--keys", "100",
			       "--drop", "0.03", "--dup", "0.03", "--reorder", "0.03", "--corrupt",
			       "0.03", "--corrupt-keep-cksum", NULL),
			 0);
	run_and_check(&c, 5000);
	/* corruption that the UDP checksum catches */
	c.corrupt_keep_cksum = false;
	c.seed = 7;
	run_and_check(&c, 3000);
	/* no impairments: every event once, in order */
	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--producers", "3", "--flows",
			       "3", NULL),
			 0);
	run_and_check(&c, 900);
}

static void test_sequence_wrap_and_partitions(void **state)
{
	struct gen_config c;
	struct gen_traffic *t;
	struct gen_frame fr[3];
	char err[256];
	(void)state;

	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--events-per-packet", "4",
			       "--first-sequence", "2147483645", "--partitions", "2", NULL),
			 0);
	assert_int_equal(gen_traffic_create(&c, &t, err, sizeof(err)), 0);
	int32_t expect[2] = {2147483645, 2147483645};
	for (int k = 0; k < 6; k++) {
		struct gen_packet_view v;
		struct sluice_rb_header h;
		int32_t part;
		assert_int_equal(gen_traffic_next(t, 0, fr), 1);
		assert_int_equal(gen_packet_parse(fr[0].data, fr[0].len, &v), GEN_PARSE_OK);
		assert_int_equal(sluice_envelope_decode(v.payload, v.payload_len, &part), 0);
		assert_int_equal(part, k % 2);
		assert_int_equal(
			sluice_rb_batch_validate(v.payload + 8, v.payload_len - 8, &h, NULL),
			SLUICE_RB_OK);
		assert_int_equal(h.base_sequence, expect[part]);
		/* Kafka wraps sequences to 0 after INT32_MAX */
		int64_t n = (int64_t)expect[part] + 4;
		expect[part] = (int32_t)(n > INT32_MAX ? n - INT32_MAX - 1 : n);
	}
	gen_traffic_destroy(t);
	/* an impossible size is an error before any traffic */
	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--events-per-packet", "20",
			       "--event-size", "100", NULL),
			 0);
	assert_int_equal(gen_traffic_create(&c, &t, err, sizeof(err)), -EMSGSIZE);
	assert_non_null(strstr(err, "MTU 1500"));
}

static void test_lines_and_raw_sequences(void **state)
{
	struct gen_config c;
	struct gen_traffic *t;
	struct gen_frame fr[3];
	char err[256];
	uint64_t next[2] = {0, 0};
	(void)state;

	assert_int_equal(parse(&c, err, sizeof(err), "--pcap", "x", "--format", "lines",
			       "--producers", "2", "--flows", "5", "--events-per-packet", "7",
			       "--event-size", "30-60", "--src-ip", "fd00::1", "--dst-ip",
			       "fd00::2", NULL),
			 0);
	assert_int_equal(gen_traffic_create(&c, &t, err, sizeof(err)), 0);
	for (int k = 0; k < 50; k++) {
		struct gen_packet_view v;
		assert_int_equal(gen_traffic_next(t, 0, fr), 1);
		assert_int_equal(gen_packet_parse(fr[0].data, fr[0].len, &v), GEN_PARSE_OK);
		assert_true(v.ipv6);
		assert_int_equal(v.src_port, 10000 + k % 5);
		const uint8_t *p = v.payload, *end = v.payload + v.payload_len;
		int events = 0;
		while (p < end) {
			const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
			uint64_t prod, seq;
			assert_true(len >= 30 && len <= 60);
			assert_int_equal(gen_event_parse(p, len, &prod, &seq), 0);
			assert_true(prod == 1000 || prod == 1001);
			assert_int_equal(seq, next[prod - 1000]++);
			events++;
			p += len + (nl ? 1 : 0);
		}
		assert_int_equal(events, 7);
	}
	gen_traffic_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_config_ack),
		cmocka_unit_test(test_config_values),
		cmocka_unit_test(test_impairments_exact),
		cmocka_unit_test(test_sequence_wrap_and_partitions),
		cmocka_unit_test(test_lines_and_raw_sequences),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
