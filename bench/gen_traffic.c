/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-gen's traffic model (see gen_traffic.h).
 *
 * Threading contract: a gen_traffic belongs to the one thread that calls gen_traffic_next();
 * the summary is read by the same thread after the run.
 *
 * Accounting: every generated packet gets exactly one fate (sent, dropped, duplicated,
 * reordered or corrupted), decided by one random draw, so the totals add up exactly and a test
 * can compare them with the appliance's loss and duplicate counters per (producer, partition).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen_traffic.h"
#include "sluice_record.h"

/* Sequence numbers and counters of one (producer, partition). */
struct slot {
	bool used;
	int64_t next_seq;
	int64_t first_seq;
	int64_t last_seq;
	uint64_t packets, events, bytes;
	uint64_t dropped_events, duplicated_events, reordered_events, corrupted_events;
};

struct producer {
	uint64_t packets;
	uint64_t event_seq; /* lines/raw: events numbered per producer */
};

struct gen_traffic {
	struct gen_config cfg;
	uint32_t slots_per_producer;
	struct slot *slots;
	struct producer *prods;
	uint64_t rng;
	uint64_t pkt_index;
	size_t payload_cap;
	uint32_t max_frame;
	/* sample lines (--events-file) */
	char *sample_buf;
	const uint8_t **sample;
	uint32_t *sample_len;
	uint32_t nsample;
	/* scratch for one packet's events */
	uint8_t *values;
	uint32_t value_cap;
	uint8_t *keybuf;
	struct gen_event *ev;
	/* frames */
	uint8_t cur[GEN_MAX_FRAME];
	uint8_t dup[GEN_MAX_FRAME];
	uint8_t held[GEN_MAX_FRAME];
	struct gen_frame held_frame;
	bool holding;
	struct slot *held_slot;
	struct gen_totals tot;
};

#define KEY_MAX 24

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: fast, good enough for choosing sizes, keys and impairments */
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static uint32_t rng_range(uint64_t *s, uint32_t lo, uint32_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (uint32_t)(rng_next(s) % ((uint64_t)hi - lo + 1));
}

void gen_config_defaults(struct gen_config *c)
{
	static const uint8_t src_mac[6] = {0x02, 0x53, 0x4c, 0x00, 0x00, 0x01};
	static const uint8_t dst_mac[6] = {0x02, 0x53, 0x4c, 0x00, 0x00, 0x02};

	memset(c, 0, sizeof(*c));
	c->output = GEN_OUT_PORT;
	c->mem_mode = 2; /* SLUICE_NIC_MEM_NO_HUGE: works on any host, memif needs no hugepages */
	c->mem_mb = 256;
	c->queues = 1;
	c->tx_desc = 1024;
	c->link_wait_ms = 5000;
	c->linger_ms = 500;
	memcpy(c->flow.src_mac, src_mac, 6);
	memcpy(c->flow.dst_mac, dst_mac, 6);
	c->flow.src_ip[0] = 10;
	c->flow.src_ip[3] = 1;
	c->flow.dst_ip[0] = 10;
	c->flow.dst_ip[1] = 255;
	c->flow.dst_ip[3] = 1;
	c->flow.src_port = 10000;
	c->flow.dst_port = 9000;
	c->flows = 0; /* = producers */
	c->mtu = 1500;
	c->format = GEN_FMT_KAFKA;
	c->partition = -1;
	c->event_min = 100;
	c->event_max = 100;
	c->events_per_packet = 1;
	c->producers = 1;
	c->producer_id_base = 1000;
	c->seed = 1;
	c->burst = 32;
}

const char *gen_format_name(enum gen_format f)
{
	switch (f) {
	case GEN_FMT_KAFKA:
		return "kafka";
	case GEN_FMT_LINES:
		return "lines";
	case GEN_FMT_RAW:
		return "raw";
	}
	return "?";
}

static void flow_for(const struct gen_traffic *t, uint32_t f, struct gen_flow *out)
{
	*out = t->cfg.flow;
	/* Flow f differs in source address and port, so RSS (or memif's queue choice) spreads
	 * flows. Add f to the low 32 bits of the source address. */
	uint8_t *ip = out->ipv6 ? out->src_ip + 12 : out->src_ip;
	uint32_t a = sluice_be32_get(ip) + f;
	sluice_be32_put(ip, a);
	out->src_port = (uint16_t)(t->cfg.flow.src_port + f);
}

static int load_samples(struct gen_traffic *t, char *err, size_t errlen)
{
	FILE *f = fopen(t->cfg.events_file, "rb");
	long sz;
	uint32_t n = 0;

	if (f == NULL) {
		snprintf(err, errlen, "sluice-gen: --events-file: %s: %s", t->cfg.events_file,
			 strerror(errno));
		return -errno;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		snprintf(err, errlen, "sluice-gen: --events-file: %s: cannot size",
			 t->cfg.events_file);
		return -EIO;
	}
	t->sample_buf = malloc((size_t)sz + 1);
	if (t->sample_buf == NULL || fread(t->sample_buf, 1, (size_t)sz, f) != (size_t)sz) {
		fclose(f);
		snprintf(err, errlen, "sluice-gen: --events-file: %s: read failed",
			 t->cfg.events_file);
		return -EIO;
	}
	fclose(f);
	t->sample_buf[sz] = '\n';
	for (long i = 0; i <= sz; i++)
		n += t->sample_buf[i] == '\n';
	t->sample = calloc(n ? n : 1, sizeof(*t->sample));
	t->sample_len = calloc(n ? n : 1, sizeof(*t->sample_len));
	if (t->sample == NULL || t->sample_len == NULL)
		return -ENOMEM;
	char *line = t->sample_buf;
	for (long i = 0; i <= sz; i++) {
		if (t->sample_buf[i] != '\n')
			continue;
		size_t len = (size_t)(&t->sample_buf[i] - line);
		if (len && line[len - 1] == '\r')
			len--;
		if (len > 0) {
			t->sample[t->nsample] = (const uint8_t *)line;
			t->sample_len[t->nsample] = (uint32_t)len;
			if (len > t->cfg.event_max)
				t->cfg.event_max = (uint32_t)len;
			if (t->nsample == 0 || len < t->cfg.event_min)
				t->cfg.event_min = (uint32_t)len;
			t->nsample++;
		}
		line = &t->sample_buf[i + 1];
	}
	if (t->nsample == 0) {
		snprintf(err, errlen, "sluice-gen: --events-file: %s: no non-empty lines",
			 t->cfg.events_file);
		return -EINVAL;
	}
	return 0;
}

/* Fill t->ev[0..n) for producer p; sizes/keys/lines drawn from the RNG. */
static void make_events(struct gen_traffic *t, uint64_t producer_id, int64_t first_seq, bool wrap32,
			int64_t now_ms)
{
	uint32_t n = t->cfg.events_per_packet;
	uint64_t stamp = 0;

	if (t->cfg.stamp) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		stamp = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct gen_event *e = &t->ev[i];
		uint8_t *v = t->values + (size_t)i * t->value_cap;
		int64_t seq = first_seq + i;

		if (wrap32 && seq > INT32_MAX)
			seq -= (int64_t)INT32_MAX + 1;
		if (t->nsample) {
			uint32_t k = (uint32_t)(rng_next(&t->rng) % t->nsample);
			e->value = t->sample[k];
			e->value_len = t->sample_len[k];
		} else {
			uint32_t sz = rng_range(&t->rng, t->cfg.event_min, t->cfg.event_max);
			if (t->cfg.stamp)
				gen_event_body_stamped(v, sz, producer_id, (uint64_t)seq, stamp);
			else
				gen_event_body(v, sz, producer_id, (uint64_t)seq);
			e->value = v;
			e->value_len = sz;
		}
		e->timestamp_ms = now_ms;
		if (t->cfg.keys) {
			uint8_t *k = t->keybuf + (size_t)i * KEY_MAX;
			int kl = snprintf((char *)k, KEY_MAX, "key-%u",
					  (unsigned)(rng_next(&t->rng) % t->cfg.keys));
			e->key = k;
			e->key_len = kl;
		} else {
			e->key = NULL;
			e->key_len = -1;
		}
	}
}

/* Build one packet into t->cur; returns frame length (0 = does not fit). */
static uint32_t build(struct gen_traffic *t, uint32_t prod, int32_t partition, struct slot *s,
		      uint32_t flow_idx, int64_t now_ms, size_t *payload_len)
{
	struct gen_flow flow;
	int64_t pid = t->cfg.producer_id_base + prod;
	size_t hdr, plen = 0;
	uint32_t n = t->cfg.events_per_packet;

	flow_for(t, flow_idx, &flow);
	hdr = gen_packet_header_bytes(&flow);
	if (t->cfg.format == GEN_FMT_KAFKA) {
		make_events(t, (uint64_t)pid, s->next_seq, true, now_ms);
		struct gen_kafka_meta m = {.partition = partition,
					   .producer_id = pid,
					   .producer_epoch = t->cfg.producer_epoch,
					   .base_sequence = (int32_t)s->next_seq,
					   .flags = t->cfg.ack ? SLUICE_ENVELOPE_F_ACK : 0};
		plen = gen_payload_kafka(t->cur + hdr, t->payload_cap, &m, t->ev, n);
	} else {
		struct producer *p = &t->prods[prod];
		make_events(t, (uint64_t)pid, (int64_t)p->event_seq, false, now_ms);
		if (t->cfg.format == GEN_FMT_LINES)
			plen = gen_payload_lines(t->cur + hdr, t->payload_cap, t->ev, n);
		else
			plen = gen_payload_raw(t->cur + hdr, t->payload_cap, t->ev);
	}
	if (plen == 0)
		return 0;
	*payload_len = plen;
	return (uint32_t)gen_packet_finish(t->cur, sizeof(t->cur), &flow, plen,
					   (uint16_t)t->pkt_index);
}

int gen_traffic_create(const struct gen_config *cfg, struct gen_traffic **out, char *err,
		       size_t errlen)
{
	struct gen_traffic *t;
	int rc = -ENOMEM;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->cfg = *cfg;
	if (t->cfg.flows == 0)
		t->cfg.flows = t->cfg.producers;
	if (t->cfg.format != GEN_FMT_KAFKA)
		t->cfg.keys = 0; /* lines and raw carry no key on the wire */
	if (t->cfg.format == GEN_FMT_RAW)
		t->cfg.events_per_packet = 1;
	t->rng = cfg->seed ? cfg->seed : 0x9E3779B97F4A7C15ULL;
	t->slots_per_producer = t->cfg.partitions ? t->cfg.partitions : 1;
	if (t->cfg.events_file) {
		rc = load_samples(t, err, errlen);
		if (rc < 0)
			goto fail;
	}
	rc = -ENOMEM;
	t->slots = calloc((size_t)t->cfg.producers * t->slots_per_producer, sizeof(*t->slots));
	t->prods = calloc(t->cfg.producers, sizeof(*t->prods));
	t->value_cap = t->cfg.event_max ? t->cfg.event_max : 1;
	t->values = malloc((size_t)t->cfg.events_per_packet * t->value_cap);
	t->keybuf = malloc((size_t)t->cfg.events_per_packet * KEY_MAX);
	t->ev = calloc(t->cfg.events_per_packet, sizeof(*t->ev));
	if (!t->slots || !t->prods || !t->values || !t->keybuf || !t->ev)
		goto fail;
	for (size_t i = 0; i < (size_t)t->cfg.producers * t->slots_per_producer; i++)
		t->slots[i].next_seq = t->cfg.first_sequence;

	struct gen_flow f0 = t->cfg.flow;
	size_t hdr = gen_packet_header_bytes(&f0);
	size_t ip_hdr = hdr - GEN_ETH_BYTES;
	if ((size_t)t->cfg.mtu <= ip_hdr) {
		snprintf(err, errlen, "sluice-gen: --mtu: %u leaves no room for a payload",
			 t->cfg.mtu);
		rc = -EINVAL;
		goto fail;
	}
	t->payload_cap = t->cfg.mtu - ip_hdr;

	/* Worst case packet: every event at the largest size with the longest key. Build it
	 * once now so that an impossible size is an error before any traffic. */
	{
		struct gen_config save = t->cfg;
		uint32_t n = t->cfg.events_per_packet;
		size_t plen = 0;
		struct gen_flow fl = t->cfg.flow;

		for (uint32_t i = 0; i < n; i++) {
			uint8_t *v = t->values + (size_t)i * t->value_cap;
			memset(v, 'x', t->value_cap);
			t->ev[i].value = v;
			t->ev[i].value_len = t->cfg.event_max;
			t->ev[i].timestamp_ms = 0;
			t->ev[i].key = t->cfg.keys ? t->keybuf : NULL;
			t->ev[i].key_len = t->cfg.keys ? KEY_MAX - 1 : -1;
		}
		memset(t->keybuf, 'k', KEY_MAX);
		if (t->cfg.format == GEN_FMT_KAFKA) {
			struct gen_kafka_meta m = {.partition = 0, .producer_id = INT64_MAX};
			plen = gen_payload_kafka(t->cur + hdr, sizeof(t->cur) - hdr, &m, t->ev, n);
		} else if (t->cfg.format == GEN_FMT_LINES) {
			plen = gen_payload_lines(t->cur + hdr, sizeof(t->cur) - hdr, t->ev, n);
		} else {
			plen = gen_payload_raw(t->cur + hdr, sizeof(t->cur) - hdr, t->ev);
		}
		t->cfg = save;
		if (plen == 0 || plen > t->payload_cap) {
			snprintf(err, errlen,
				 "sluice-gen: --events-per-packet: %u %s events of up to %u bytes "
				 "need %zu bytes of payload, the MTU %u allows %zu",
				 n, gen_format_name(t->cfg.format), t->cfg.event_max,
				 plen ? plen : sizeof(t->cur), t->cfg.mtu, t->payload_cap);
			rc = -EMSGSIZE;
			goto fail;
		}
		t->max_frame = (uint32_t)(gen_packet_header_bytes(&fl) + plen);
	}
	*out = t;
	return 0;
fail:
	gen_traffic_destroy(t);
	return rc;
}

void gen_traffic_destroy(struct gen_traffic *t)
{
	if (t == NULL)
		return;
	free(t->slots);
	free(t->prods);
	free(t->values);
	free(t->keybuf);
	free(t->ev);
	free(t->sample);
	free(t->sample_len);
	free(t->sample_buf);
	free(t);
}

uint32_t gen_traffic_max_frame(const struct gen_traffic *t)
{
	return t->max_frame;
}

static void advance_seq(struct slot *s, uint32_t n)
{
	s->next_seq += n;
	/* Kafka sequences are int32 and wrap to 0 after INT32_MAX. */
	if (s->next_seq > INT32_MAX)
		s->next_seq -= (int64_t)INT32_MAX + 1;
}

unsigned gen_traffic_next(struct gen_traffic *t, int64_t now_ms, struct gen_frame out[3])
{
	uint32_t prod = (uint32_t)(t->pkt_index % t->cfg.producers);
	struct producer *p = &t->prods[prod];
	uint32_t part_idx = 0;
	int32_t partition = t->cfg.partition;
	uint32_t flow_idx;
	size_t plen = 0;
	unsigned nout = 0;
	bool corrupted = false;

	if (t->cfg.partitions) {
		part_idx = (uint32_t)((prod + p->packets) % t->cfg.partitions);
		partition = (int32_t)part_idx;
	}
	struct slot *s = &t->slots[(size_t)prod * t->slots_per_producer + part_idx];
	/* A kafka producer keeps one flow so that one worker sees its sequence in order;
	 * lines and raw rotate over all flows. */
	if (t->cfg.format == GEN_FMT_KAFKA)
		flow_idx = prod % t->cfg.flows;
	else
		flow_idx = (uint32_t)(t->pkt_index % t->cfg.flows);

	uint32_t len = build(t, prod, partition, s, flow_idx, now_ms, &plen);
	if (len == 0)
		return 0; /* cannot happen: create() built the worst case */
	uint32_t n = t->cfg.events_per_packet;
	int64_t first = t->cfg.format == GEN_FMT_KAFKA ? s->next_seq : (int64_t)p->event_seq;
	int64_t last = first + n - 1;
	if (t->cfg.format == GEN_FMT_KAFKA) {
		if (last > INT32_MAX)
			last -= (int64_t)INT32_MAX + 1;
		advance_seq(s, n);
	} else {
		p->event_seq += n;
	}
	if (!s->used) {
		s->used = true;
		s->first_seq = first;
	}
	s->last_seq = last;
	s->packets++;
	s->events += n;
	s->bytes += len;
	p->packets++;
	t->pkt_index++;
	t->tot.packets++;
	t->tot.events += n;

	struct gen_frame f = {.data = t->cur, .len = len, .events = n, .flow = flow_idx};
	double u = rng_unit(&t->rng);
	double c = t->cfg.drop;
	if (u < c) {
		t->tot.dropped_packets++;
		t->tot.dropped_events += n;
		s->dropped_events += n;
		return 0; /* a held packet stays held until a packet is actually sent */
	}
	if (u < (c += t->cfg.dup)) {
		memcpy(t->dup, t->cur, len);
		out[nout++] = f;
		f.data = t->dup;
		out[nout++] = f;
		t->tot.duplicated_packets++;
		t->tot.duplicated_events += n;
		s->duplicated_events += n;
	} else if (u < (c += t->cfg.reorder) && !t->holding) {
		memcpy(t->held, t->cur, len);
		t->held_frame = f;
		t->held_frame.data = t->held;
		t->holding = true;
		t->held_slot = s;
		t->tot.reordered_packets++;
		t->tot.reordered_events += n;
		s->reordered_events += n;
		return 0;
	} else if (u < c + t->cfg.corrupt && !(u < c)) {
		/* Flip one byte of the payload; for kafka inside the CRC-covered part of the batch
		 * so that the appliance's end-to-end check must catch it. */
		size_t hdr = len - plen;
		size_t lo = t->cfg.format == GEN_FMT_KAFKA
			? SLUICE_ENVELOPE_BYTES + SLUICE_RB_CRC_START
			: 0;
		size_t pos = lo + (size_t)(rng_next(&t->rng) % (plen - lo));
		t->cur[hdr + pos] ^= 0x20;
		if (t->cfg.corrupt_keep_cksum) {
			struct gen_flow fl;
			flow_for(t, flow_idx, &fl);
			gen_packet_finish(t->cur, sizeof(t->cur), &fl, plen,
					  (uint16_t)(t->pkt_index - 1));
		}
		corrupted = true;
		t->tot.corrupted_packets++;
		t->tot.corrupted_events += n;
		s->corrupted_events += n;
		out[nout++] = f;
	} else {
		out[nout++] = f;
	}
	/* Release the held packet after the next one of the same (producer, partition): only
	 * then does that stream's receiver see its sequence out of order (a corrupted packet
	 * does not count: the receiver discards it). */
	if (t->holding && t->held_slot == s && !corrupted) {
		out[nout++] = t->held_frame;
		t->holding = false;
	}
	for (unsigned i = 0; i < nout; i++) {
		t->tot.frames_out++;
		t->tot.events_out += out[i].events;
		t->tot.bytes_out += out[i].len;
	}
	return nout;
}

unsigned gen_traffic_flush(struct gen_traffic *t, struct gen_frame out[1])
{
	if (!t->holding)
		return 0;
	out[0] = t->held_frame;
	t->holding = false;
	/* Nothing of its stream follows it any more: it arrives in order after all. */
	t->tot.reordered_packets--;
	t->tot.reordered_events -= out[0].events;
	t->held_slot->reordered_events -= out[0].events;
	t->tot.frames_out++;
	t->tot.events_out += out[0].events;
	t->tot.bytes_out += out[0].len;
	return 1;
}

void gen_traffic_totals(const struct gen_traffic *t, struct gen_totals *out)
{
	*out = t->tot;
}

static json_t *impairment(double fraction, uint64_t packets, uint64_t events)
{
	return json_pack("{s:f, s:I, s:I}", "fraction", fraction, "packets", (json_int_t)packets,
			 "events", (json_int_t)events);
}

int gen_traffic_summary(const struct gen_traffic *t, json_t *root)
{
	const struct gen_totals *x = &t->tot;
	json_t *prods, *imp, *tot;

	tot = json_pack("{s:I, s:I, s:I, s:I, s:I}", "packets", (json_int_t)x->packets, "events",
			(json_int_t)x->events, "frames_out", (json_int_t)x->frames_out,
			"events_out", (json_int_t)x->events_out, "bytes_out",
			(json_int_t)x->bytes_out);
	imp = json_pack(
		"{s:o, s:o, s:o, s:o}", "drop",
		impairment(t->cfg.drop, x->dropped_packets, x->dropped_events), "duplicate",
		impairment(t->cfg.dup, x->duplicated_packets, x->duplicated_events), "reorder",
		impairment(t->cfg.reorder, x->reordered_packets, x->reordered_events), "corrupt",
		impairment(t->cfg.corrupt, x->corrupted_packets, x->corrupted_events));
	prods = json_array();
	if (tot == NULL || imp == NULL || prods == NULL)
		goto nomem;
	json_object_set_new(json_object_get(imp, "corrupt"), "keep_udp_checksum",
			    json_boolean(t->cfg.corrupt_keep_cksum));
	for (uint32_t p = 0; p < t->cfg.producers; p++) {
		for (uint32_t k = 0; k < t->slots_per_producer; k++) {
			const struct slot *s = &t->slots[(size_t)p * t->slots_per_producer + k];
			if (!s->used)
				continue;
			int32_t part = t->cfg.partitions ? (int32_t)k : t->cfg.partition;
			json_t *o = json_pack(
				"{s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				"producer_id", (json_int_t)(t->cfg.producer_id_base + p),
				"partition", part, "first_sequence", (json_int_t)s->first_seq,
				"last_sequence", (json_int_t)s->last_seq, "next_sequence",
				(json_int_t)s->next_seq, "packets", (json_int_t)s->packets,
				"events", (json_int_t)s->events, "bytes", (json_int_t)s->bytes,
				"dropped_events", (json_int_t)s->dropped_events,
				"duplicated_events", (json_int_t)s->duplicated_events,
				"reordered_events", (json_int_t)s->reordered_events,
				"corrupted_events", (json_int_t)s->corrupted_events);
			if (o == NULL || json_array_append_new(prods, o) != 0)
				goto nomem;
		}
	}
	json_object_set_new(root, "totals", tot);
	json_object_set_new(root, "impairments", imp);
	json_object_set_new(root, "producers", prods);
	return 0;
nomem:
	json_decref(tot);
	json_decref(imp);
	json_decref(prods);
	return -ENOMEM;
}
