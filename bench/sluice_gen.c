/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-gen: event traffic through a DPDK port (via nic/), into a pcap file, or over kernel UDP.
 *
 * Threading contract: one thread (the EAL main lcore in port mode) generates, paces and
 * transmits on every TX queue; a signal handler only sets `quit`. Nothing else runs.
 *
 * Rate control runs on the TSC: a deadline advances by the cost of each burst (packets, events
 * or wire bits); ahead of it the loop pauses, and sleeps when more than 200 us ahead so that a
 * paced generator leaves the CPU to the receiver on a small machine.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>

#include "gen_traffic.h"
#include "sluice_nic.h"
#include "sluice_window.h"
#include "sluice_time.h"

#define WIRE_OVERHEAD 24 /* FCS 4 + preamble 8 + inter-frame gap 12 */
#define MAX_BURST 512

static atomic_bool quit;

static void on_signal(int sig)
{
	(void)sig;
	/* partner: the main loop's atomic_load(&quit) */
	atomic_store_explicit(&quit, true, memory_order_relaxed);
}

static bool quitting(void)
{
	return atomic_load_explicit(&quit, memory_order_relaxed);
}

struct run_stats {
	uint64_t tx_packets, tx_events, tx_bytes, tx_wire_bits;
	uint64_t tx_dropped_packets, tx_dropped_events;
	uint64_t tx_retries;
	uint64_t tx_errors;
	uint64_t rx_packets;
	uint64_t start_tsc, end_tsc;
};

struct out {
	const struct gen_config *cfg;
	struct run_stats st;
	uint64_t hz;
	/* port */
	struct sluice_nic_port *port;
	struct rte_mempool *pool;
	struct rte_mbuf *q[64][MAX_BURST * 3];
	uint32_t qn[64];
	uint32_t qev[64][MAX_BURST * 3];
	/* pcap */
	pcap_t *pcap;
	pcap_dumper_t *dumper;
	/* udp */
	int fd;
	size_t hdr_bytes;
	struct mmsghdr msgs[MAX_BURST * 3];
	struct iovec iov[MAX_BURST * 3];
	uint32_t msg_events[MAX_BURST * 3];
	uint8_t *udp_buf;
	uint32_t un;
	char prefix[64];
	bool eal;
	uint64_t deadline_tsc; /* end of --duration (0: none): a full ring stops being retried */
	bool link_lost;
	/* --ack: one window per (producer, partition) stream, index (id - base) * nparts + p */
	struct sluice_window **win;
	uint32_t *win_flow; /* the stream's flow (its TX queue) */
	uint32_t nwin, nparts;
	uint64_t ack_rng;
	uint64_t acks, acks_malformed, acks_ignored, ack_dropped, ack_duplicated;
	uint64_t ack_unacked_events; /* at the end */
	bool ack_timed_out;
};

static void sleep_ns(long ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L};

	nanosleep(&ts, NULL);
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Without EAL there is no rte_get_tsc_hz(): measure the TSC against CLOCK_MONOTONIC. */
static uint64_t calibrate_tsc(void)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	uint64_t t0 = rte_rdtsc();
	sleep_ns(50 * 1000 * 1000);
	uint64_t t1 = rte_rdtsc();
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	return (uint64_t)((double)(t1 - t0) * 1e9 / ns);
}

static int port_open(struct out *o, uint32_t max_frame)
{
	const struct gen_config *c = o->cfg;
	const char *extra[GEN_MAX_LIST + 1];
	int n = 0, rc;

	if (c->file_prefix)
		snprintf(o->prefix, sizeof(o->prefix), "%s", c->file_prefix);
	else
		snprintf(o->prefix, sizeof(o->prefix), "sluice-gen-%d", (int)getpid());
	for (int i = 0; c->eal_args[i]; i++)
		extra[n++] = c->eal_args[i];
	extra[n] = NULL;
	struct sluice_nic_eal_opts eo = {
		.prog = "sluice-gen",
		.lcores = c->lcores,
		.mem_mode = (enum sluice_nic_mem_mode)c->mem_mode,
		.mem_mb = c->mem_mb,
		.file_prefix = o->prefix,
		.vdevs = c->vdevs,
		.pci_allow = c->pci,
		.log_level = NULL,
		.telemetry = false,
		.extra_args = extra,
	};
	rc = sluice_nic_eal_init(&eo);
	if (rc < 0) {
		fprintf(stderr, "sluice-gen: EAL: %s\n", strerror(-rc));
		return rc;
	}
	o->eal = true;
	o->hz = rte_get_tsc_hz();
	uint32_t room = RTE_PKTMBUF_HEADROOM + (max_frame > 2048 ? max_frame : 2048);
	uint32_t nb = (uint32_t)c->queues * (c->tx_desc + 1024 + MAX_BURST * 3) + 4096;
	o->pool = rte_pktmbuf_pool_create("sluice_gen", nb, 256, 0, (uint16_t)room,
					  (int)rte_socket_id());
	if (o->pool == NULL) {
		fprintf(stderr, "sluice-gen: mbuf pool of %u x %u bytes: %s\n", nb, room,
			rte_strerror(rte_errno));
		return -ENOMEM;
	}
	struct sluice_nic_port_opts po = {
		.name = "gen",
		.device = c->port_device,
		.rx_queues = c->queues,
		.tx_queues = c->queues,
		.rx_desc = 1024,
		.tx_desc = c->tx_desc,
		.mtu = c->mtu > 1500 ? c->mtu : 0,
		.pool = o->pool,
	};
	rc = sluice_nic_port_create(&po, &o->port);
	if (rc < 0) {
		fprintf(stderr, "sluice-gen: --port %s: %s\n", c->port_device,
			rc == -ENODEV ? "device did not probe (see the EAL log above)"
				      : strerror(-rc));
		return rc;
	}
	rc = sluice_nic_port_start(o->port, c->link_wait_ms);
	if (rc < 0) {
		fprintf(stderr, "sluice-gen: --port %s: %s\n", c->port_device,
			rc == -ETIMEDOUT ? "link still down (is the peer running?)"
					 : strerror(-rc));
		return rc;
	}
	return 0;
}

static int pcap_open_out(struct out *o)
{
	o->pcap =
		pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
	if (o->pcap == NULL)
		return -ENOMEM;
	o->dumper = pcap_dump_open(o->pcap, o->cfg->pcap_path);
	if (o->dumper == NULL) {
		fprintf(stderr, "sluice-gen: --pcap %s: %s\n", o->cfg->pcap_path,
			pcap_geterr(o->pcap));
		return -EIO;
	}
	return 0;
}

static int udp_open(struct out *o)
{
	const struct gen_config *c = o->cfg;
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	if (c->flow.ipv6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(c->udp_port);
		inet_pton(AF_INET6, c->udp_host, &a->sin6_addr);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(c->udp_port);
		inet_pton(AF_INET, c->udp_host, &a->sin_addr);
		sl = sizeof(*a);
	}
	o->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (o->fd < 0 || connect(o->fd, (struct sockaddr *)&ss, sl) != 0) {
		fprintf(stderr, "sluice-gen: --udp %s:%u: %s\n", c->udp_host, c->udp_port,
			strerror(errno));
		return -errno;
	}
	int sndbuf = 4 << 20;
	setsockopt(o->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	o->udp_buf = malloc((size_t)MAX_BURST * 3 * GEN_MAX_FRAME);
	return o->udp_buf ? 0 : -ENOMEM;
}

static void account_tx(struct out *o, uint32_t len, uint32_t events)
{
	o->st.tx_packets++;
	o->st.tx_events += events;
	o->st.tx_bytes += len;
	o->st.tx_wire_bits += (uint64_t)(len + WIRE_OVERHEAD) * 8;
}

/* Queue one frame for output (copied: the traffic model reuses its buffers). */
static void out_push(struct out *o, const struct gen_frame *f)
{
	switch (o->cfg->output) {
	case GEN_OUT_PORT: {
		uint32_t q = f->flow % o->cfg->queues;
		struct rte_mbuf *m = rte_pktmbuf_alloc(o->pool);
		if (m == NULL) {
			o->st.tx_dropped_packets++;
			o->st.tx_dropped_events += f->events;
			return;
		}
		uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)f->len);
		rte_memcpy(d, f->data, f->len);
		o->qev[q][o->qn[q]] = f->events;
		o->q[q][o->qn[q]++] = m;
		break;
	}
	case GEN_OUT_PCAP: {
		struct pcap_pkthdr h;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		h.ts.tv_sec = ts.tv_sec;
		h.ts.tv_usec = ts.tv_nsec; /* nanoseconds: the dumper was opened with NANO */
		h.caplen = h.len = f->len;
		pcap_dump((u_char *)o->dumper, &h, f->data);
		account_tx(o, f->len, f->events);
		break;
	}
	case GEN_OUT_UDP: {
		uint8_t *b = o->udp_buf + (size_t)o->un * GEN_MAX_FRAME;
		uint32_t plen = f->len - (uint32_t)o->hdr_bytes;
		memcpy(b, f->data + o->hdr_bytes, plen);
		o->iov[o->un].iov_base = b;
		o->iov[o->un].iov_len = plen;
		memset(&o->msgs[o->un], 0, sizeof(o->msgs[0]));
		o->msgs[o->un].msg_hdr.msg_iov = &o->iov[o->un];
		o->msgs[o->un].msg_hdr.msg_iovlen = 1;
		o->msg_events[o->un] = f->events;
		o->un++;
		break;
	}
	}
}

/* ---------------------------------------------------------------------------------------- */
/* --ack: the producer side of acknowledged mode, shared with libsluice (client/window.c)    */

static double ack_rand(struct out *o)
{
	o->ack_rng = o->ack_rng * 6364136223846793005ull + 1442695040888963407ull;
	return (double)(o->ack_rng >> 11) / 9007199254740992.0;
}

/* UDP payload of a frame the generator built (Ethernet, VLAN tags, IPv4/IPv6, UDP). */
static const uint8_t *frame_payload(const uint8_t *f, size_t len, size_t *plen)
{
	size_t off = 12;
	uint16_t et;

	for (;;) {
		if (off + 2 > len)
			return NULL;
		et = (uint16_t)(f[off] << 8 | f[off + 1]);
		if (et != 0x8100 && et != 0x88A8)
			break;
		off += 4;
	}
	off += 2;
	if (et == 0x0800 && off + 20 <= len)
		off += (size_t)(f[off] & 0x0f) * 4;
	else if (et == 0x86DD)
		off += 40;
	else
		return NULL;
	if (off + 8 > len)
		return NULL;
	*plen = len - off - 8;
	return f + off + 8;
}

static struct sluice_window *ack_stream(struct out *o, int64_t pid, int32_t part, uint32_t *idx)
{
	const struct gen_config *c = o->cfg;
	int64_t p = pid - c->producer_id_base;
	int32_t lp = c->partitions ? part : 0;

	if (p < 0 || p >= (int64_t)c->producers || lp < 0 || (uint32_t)lp >= o->nparts ||
	    (!c->partitions && part != c->partition))
		return NULL;
	*idx = (uint32_t)p * o->nparts + (uint32_t)lp;
	return o->win[*idx];
}

static int ack_open(struct out *o)
{
	const struct gen_config *c = o->cfg;
	uint32_t epp = c->events_per_packet;
	struct sluice_window_opts wo = {
		.window_records = 2048 > epp ? 2048 : epp,
		.slot_bytes = GEN_MAX_FRAME,
		.rto_min_us = 20000,
		.rto_max_us = 1000000,
	};

	wo.slots = wo.window_records / epp + MAX_BURST * 3 + 1;
	o->nparts = c->partitions ? c->partitions : 1;
	o->nwin = c->producers * o->nparts;
	o->win = calloc(o->nwin, sizeof(*o->win));
	o->win_flow = calloc(o->nwin, sizeof(*o->win_flow));
	if (!o->win || !o->win_flow)
		return -ENOMEM;
	for (uint32_t i = 0; i < o->nwin; i++)
		if (sluice_window_create(&wo, &o->win[i]) != 0)
			return -ENOMEM;
	o->ack_rng = c->seed ^ 0x5A5A5A5A5A5A5A5Aull;
	return 0;
}

static void ack_close(struct out *o)
{
	for (uint32_t i = 0; o->win && i < o->nwin; i++)
		sluice_window_destroy(o->win[i]);
	free(o->win);
	free(o->win_flow);
	o->win = NULL;
}

static void out_push(struct out *o, const struct gen_frame *f);

/* A generated frame: into its stream's window, then out through the impairments. */
static void ack_push(struct out *o, const struct gen_frame *f)
{
	size_t plen;
	const uint8_t *p = frame_payload(f->data, f->len, &plen);
	struct sluice_rb_header h;
	uint32_t idx;

	if (p && plen > SLUICE_ENVELOPE_BYTES &&
	    sluice_rb_header_decode(p + SLUICE_ENVELOPE_BYTES, plen - SLUICE_ENVELOPE_BYTES, &h) ==
		    SLUICE_RB_OK) {
		struct sluice_window *w =
			ack_stream(o, h.producer_id, (int32_t)sluice_be32_get(p + 4), &idx);
		if (w &&
		    sluice_window_push(w, f->data, f->len, h.base_sequence,
				       (uint32_t)h.record_count, sluice_mono_us()) == 0)
			o->win_flow[idx] = f->flow;
	}
	if (o->cfg->ack_drop > 0 && ack_rand(o) < o->cfg->ack_drop) {
		o->ack_dropped++;
		return;
	}
	out_push(o, f);
	if (o->cfg->ack_dup > 0 && ack_rand(o) < o->cfg->ack_dup) {
		o->ack_duplicated++;
		struct gen_frame d = *f;
		d.events = 0;
		out_push(o, &d);
	}
}

static void ack_rx(struct out *o, const uint8_t *payload, size_t len)
{
	struct sluice_ack a;
	uint32_t idx;

	if (sluice_ack_decode(payload, len, &a) != 0) {
		o->acks_malformed++;
		return;
	}
	struct sluice_window *w = ack_stream(o, a.producer_id, a.partition, &idx);
	if (!w || a.epoch != o->cfg->producer_epoch) {
		o->acks_ignored++;
		return;
	}
	if (sluice_window_ack(w, &a, sluice_mono_us()))
		o->acks++;
	else
		o->acks_ignored++;
}

struct resend_arg {
	struct out *o;
	uint32_t flow;
};

static int ack_resend(void *arg, const uint8_t *d, size_t len)
{
	struct resend_arg *r = arg;
	struct gen_frame f = {.data = d, .len = (uint32_t)len, .events = 0, .flow = r->flow};

	/* Retransmissions go through the same impairments. */
	if (r->o->cfg->ack_drop > 0 && ack_rand(r->o) < r->o->cfg->ack_drop) {
		r->o->ack_dropped++;
		return 0;
	}
	out_push(r->o, &f);
	return 0;
}

static void udp_rx_acks(struct out *o)
{
	uint8_t buf[SLUICE_ACK_MAX_BYTES + 1];

	for (;;) {
		ssize_t n = recv(o->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			continue; /* an ICMP error for an earlier datagram */
		ack_rx(o, buf, (size_t)n);
	}
}

static void out_flush(struct out *o);

/* Read acks, retransmit what timed out. */
static void ack_poll(struct out *o)
{
	uint64_t now = sluice_mono_us();

	if (o->cfg->output == GEN_OUT_UDP)
		udp_rx_acks(o);
	else
		out_flush(o); /* port_flush() reads the RX queues */
	for (uint32_t i = 0; i < o->nwin; i++) {
		struct resend_arg r = {o, o->win_flow[i]};
		sluice_window_retransmit(o->win[i], now, ack_resend, &r);
		if (o->cfg->output == GEN_OUT_PORT &&
		    o->qn[o->win_flow[i] % o->cfg->queues] > MAX_BURST)
			out_flush(o);
	}
	out_flush(o);
}

/* Every stream has room for its share of the next burst. */
static bool ack_room(const struct out *o)
{
	for (uint32_t i = 0; i < o->nwin; i++)
		if (!sluice_window_has_room(o->win[i], o->cfg->events_per_packet))
			return false;
	return true;
}

static uint64_t ack_unacked(const struct out *o)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < o->nwin; i++)
		n += sluice_window_inflight_records(o->win[i]);
	return n;
}

/* After the last packet: wait for the last acks (bounded). */
static void ack_drain(struct out *o)
{
	uint64_t limit = (uint64_t)(o->cfg->ack_timeout_ms ? o->cfg->ack_timeout_ms : 30000) * 1000;
	uint64_t t0 = sluice_mono_us();

	while (ack_unacked(o) && !quitting()) {
		if (sluice_mono_us() - t0 > limit) {
			o->ack_timed_out = true;
			break;
		}
		ack_poll(o);
		sleep_ns(200000);
	}
	o->ack_unacked_events = ack_unacked(o);
}

static json_t *ack_summary(const struct out *o)
{
	struct sluice_window_stats t = {0};

	for (uint32_t i = 0; i < o->nwin; i++) {
		struct sluice_window_stats s;
		sluice_window_stats(o->win[i], &s);
		t.retransmits += s.retransmits;
		t.acked_records += s.acked_records;
		t.resend_hints += s.resend_hints;
		for (int b = 0; b < SLUICE_WINDOW_HIST_BUCKETS; b++)
			t.ack_latency_hist[b] += s.ack_latency_hist[b];
	}
	json_t *h = json_array();
	for (int b = 0; b < SLUICE_WINDOW_HIST_BUCKETS; b++)
		json_array_append_new(h, json_integer((json_int_t)t.ack_latency_hist[b]));
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:o}", "events_acked",
			 (json_int_t)t.acked_records, "unacked_events",
			 (json_int_t)o->ack_unacked_events, "retransmits",
			 (json_int_t)t.retransmits, "resend_hints", (json_int_t)t.resend_hints,
			 "acks", (json_int_t)o->acks, "acks_ignored", (json_int_t)o->acks_ignored,
			 "acks_malformed", (json_int_t)o->acks_malformed, "impair_dropped",
			 (json_int_t)o->ack_dropped, "timed_out", o->ack_timed_out,
			 "ack_latency_hist_log2_us", h);
}

static void port_flush(struct out *o)
{
	struct rte_mbuf *rx[64];

	for (uint32_t q = 0; q < o->cfg->queues; q++) {
		uint32_t done = 0;
		uint64_t stuck_since = 0;
		while (done < o->qn[q]) {
			uint16_t k = sluice_nic_tx_burst(o->port, (uint16_t)q, &o->q[q][done],
							 (uint16_t)(o->qn[q] - done));
			for (uint16_t i = 0; i < k; i++)
				account_tx(o, rte_pktmbuf_pkt_len(o->q[q][done + i]),
					   o->qev[q][done + i]);
			done += k;
			if (done == o->qn[q])
				break;
			/* A peer that went away (memif disconnect) never drains the ring: after a
			 * second without progress, check the link; past --duration, stop retrying. */
			uint64_t now = rte_rdtsc();
			if (k)
				stuck_since = 0;
			else if (stuck_since == 0)
				stuck_since = now;
			if (stuck_since && now - stuck_since > o->hz &&
			    !sluice_nic_port_link_up(o->port))
				o->link_lost = true;
			if (o->cfg->tx_drop_when_full || quitting() || o->link_lost ||
			    (o->deadline_tsc && now > o->deadline_tsc)) {
				for (uint32_t i = done; i < o->qn[q]; i++) {
					o->st.tx_dropped_packets++;
					o->st.tx_dropped_events += o->qev[q][i];
					rte_pktmbuf_free(o->q[q][i]);
				}
				break;
			}
			/* Full ring: the receiver is the limit. Back off briefly, then retry. */
			o->st.tx_retries++;
			rte_pause();
		}
		o->qn[q] = 0;
		/* The peer may send us things (ARP replies): never let them pile up. */
		uint16_t r = sluice_nic_rx_burst(o->port, (uint16_t)q, rx, 64);
		o->st.rx_packets += r;
		for (uint16_t i = 0; o->win && i < r; i++) {
			size_t plen;
			const uint8_t *p = frame_payload(rte_pktmbuf_mtod(rx[i], const uint8_t *),
							 rx[i]->data_len, &plen);
			if (p)
				ack_rx(o, p, plen);
		}
		rte_pktmbuf_free_bulk(rx, r);
	}
}

static void udp_flush(struct out *o)
{
	uint32_t done = 0;

	while (done < o->un) {
		int k = sendmmsg(o->fd, &o->msgs[done], o->un - done, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			/* ECONNREFUSED (no receiver yet) or ENOBUFS: this datagram is lost. */
			o->st.tx_errors++;
			o->st.tx_dropped_packets++;
			o->st.tx_dropped_events += o->msg_events[done];
			done++;
			continue;
		}
		for (int i = 0; i < k; i++)
			account_tx(o, (uint32_t)(o->iov[done + (uint32_t)i].iov_len + o->hdr_bytes),
				   o->msg_events[done + (uint32_t)i]);
		done += (uint32_t)k;
	}
	o->un = 0;
}

static void out_flush(struct out *o)
{
	if (o->cfg->output == GEN_OUT_PORT)
		port_flush(o);
	else if (o->cfg->output == GEN_OUT_UDP)
		udp_flush(o);
}

static void progress(const struct out *o, uint64_t now, uint64_t *last_tsc, uint64_t *last_pkts,
		     uint64_t *last_events, uint64_t *last_bits, bool final)
{
	double dt = (double)(now - *last_tsc) / (double)o->hz;
	double el = (double)(now - o->st.start_tsc) / (double)o->hz;

	if (dt <= 0)
		return;
	fprintf(stderr,
		"sluice-gen: %7.1f s  sent %" PRIu64 " pkts %" PRIu64
		" events  %.3f Mpps  %.3f Mev/s  %.3f Gbit/s  tx-drop %" PRIu64 "%s",
		el, o->st.tx_packets, o->st.tx_events,
		(double)(o->st.tx_packets - *last_pkts) / dt / 1e6,
		(double)(o->st.tx_events - *last_events) / dt / 1e6,
		(double)(o->st.tx_wire_bits - *last_bits) / dt / 1e9, o->st.tx_dropped_packets,
		final ? "\n" : (isatty(2) ? "\r" : "\n"));
	*last_tsc = now;
	*last_pkts = o->st.tx_packets;
	*last_events = o->st.tx_events;
	*last_bits = o->st.tx_wire_bits;
}

static void xstat_json(const char *name, uint64_t value, void *arg)
{
	if (value)
		json_object_set_new(arg, name, json_integer((json_int_t)value));
}

static int write_summary(const struct out *o, const struct gen_traffic *t, const char *err_out)
{
	const struct gen_config *c = o->cfg;
	double secs = o->st.end_tsc > o->st.start_tsc
		? (double)(o->st.end_tsc - o->st.start_tsc) / (double)o->hz
		: 0;
	json_t *root = json_object(), *outj, *run;
	int rc = 0;

	if (root == NULL)
		return -ENOMEM;
	json_object_set_new(root, "tool", json_string("sluice-gen"));
	switch (c->output) {
	case GEN_OUT_PORT:
		outj = json_pack("{s:s, s:s, s:i}", "kind", "port", "device", c->port_device,
				 "queues", c->queues);
		break;
	case GEN_OUT_PCAP:
		outj = json_pack("{s:s, s:s}", "kind", "pcap", "path", c->pcap_path);
		break;
	default:
		outj = json_pack("{s:s, s:s, s:i}", "kind", "udp", "host", c->udp_host, "port",
				 c->udp_port);
		break;
	}
	json_object_set_new(root, "output", outj);
	json_object_set_new(root, "config",
			    json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:i, s:b, s:i}",
				      "format", gen_format_name(c->format), "events_per_packet",
				      c->events_per_packet, "event_min", c->event_min, "event_max",
				      c->event_max, "producers", c->producers, "flows",
				      c->flows ? c->flows : c->producers, "partition", c->partition,
				      "seed", (json_int_t)c->seed, "partitions", c->partitions,
				      "ipv6", c->flow.ipv6, "dst_port", c->flow.dst_port));
	run = json_pack("{s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f}", "seconds", secs,
			"tx_packets", (json_int_t)o->st.tx_packets, "tx_events",
			(json_int_t)o->st.tx_events, "tx_bytes", (json_int_t)o->st.tx_bytes,
			"tx_dropped_packets", (json_int_t)o->st.tx_dropped_packets,
			"tx_dropped_events", (json_int_t)o->st.tx_dropped_events, "tx_retries",
			(json_int_t)o->st.tx_retries, "tx_errors", (json_int_t)o->st.tx_errors,
			"pps", secs > 0 ? (double)o->st.tx_packets / secs : 0.0, "eps",
			secs > 0 ? (double)o->st.tx_events / secs : 0.0, "gbps",
			secs > 0 ? (double)o->st.tx_wire_bits / secs / 1e9 : 0.0);
	if (o->port) {
		struct sluice_nic_stats ps;
		if (sluice_nic_port_stats(o->port, &ps) == 0)
			json_object_set_new(run, "port",
					    json_pack("{s:I, s:I, s:I, s:I}", "opackets",
						      (json_int_t)ps.opackets, "obytes",
						      (json_int_t)ps.obytes, "oerrors",
						      (json_int_t)ps.oerrors, "ipackets",
						      (json_int_t)ps.ipackets));
		json_t *xs = json_object();
		if (xs && sluice_nic_port_xstats(o->port, xstat_json, xs) >= 0)
			json_object_set_new(run, "xstats", xs);
		else
			json_decref(xs);
	}
	if (o->win)
		json_object_set_new(run, "ack", ack_summary(o));
	json_object_set_new(root, "run", run);
	if (gen_traffic_summary(t, root) != 0) {
		json_decref(root);
		return -ENOMEM;
	}
	if (err_out)
		json_object_set_new(root, "error", json_string(err_out));
	if (c->summary_path) {
		if (json_dump_file(root, c->summary_path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
			fprintf(stderr, "sluice-gen: --summary %s: cannot write\n",
				c->summary_path);
			rc = -EIO;
		}
	} else {
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
		fflush(stdout);
	}
	json_decref(root);
	return rc;
}

static double burst_cost(const struct gen_config *c, uint64_t pkts, uint64_t events, uint64_t bits)
{
	switch (c->rate_unit) {
	case GEN_RATE_PPS:
		return (double)pkts;
	case GEN_RATE_EPS:
		return (double)events;
	case GEN_RATE_BPS:
		return (double)bits;
	default:
		return 0;
	}
}

static void run(struct out *o, struct gen_traffic *t)
{
	const struct gen_config *c = o->cfg;
	struct gen_frame fr[3];
	struct gen_totals tot;
	uint64_t now = rte_rdtsc(), end_tsc = 0;
	double ticks_per_unit = c->rate_unit != GEN_RATE_NONE ? (double)o->hz / c->rate : 0;
	double deadline = (double)now;
	uint64_t lp = 0, le = 0, lb = 0, ltsc = now;
	uint64_t next_progress = now + o->hz;

	o->st.start_tsc = now;
	if (c->duration_s > 0)
		end_tsc = now + (uint64_t)(c->duration_s * (double)o->hz);
	o->deadline_tsc = end_tsc;
	while (!quitting() && !o->link_lost) {
		now = rte_rdtsc();
		if (end_tsc && now >= end_tsc)
			break;
		gen_traffic_totals(t, &tot);
		if (c->count && tot.packets >= c->count)
			break;
		if (!c->quiet && now >= next_progress) {
			progress(o, now, &ltsc, &lp, &le, &lb, false);
			next_progress = now + o->hz;
		}
		if (ticks_per_unit > 0) {
			if ((double)now < deadline) {
				double ahead_ns = (deadline - (double)now) * 1e9 / (double)o->hz;
				if (ahead_ns > 200000)
					sleep_ns((long)(ahead_ns - 100000 > 1e6
								? 1e6
								: ahead_ns - 100000));
				else
					rte_pause();
				continue;
			}
			/* After a stall (descheduled, full ring) do not try to catch up with a
			 * burst of more than 10 ms worth of traffic. */
			if ((double)now - deadline > (double)o->hz / 100)
				deadline = (double)now;
		}
		if (o->win) {
			ack_poll(o);
			if (!ack_room(o)) {
				sleep_ns(50000);
				continue;
			}
		}
		uint64_t e0 = tot.events_out, b0 = tot.bytes_out, f0 = tot.frames_out;
		uint32_t b = c->burst;
		if (c->count && c->count - tot.packets < b)
			b = (uint32_t)(c->count - tot.packets);
		int64_t ms = wall_ms();
		for (uint32_t i = 0; i < b; i++) {
			unsigned n = gen_traffic_next(t, ms, fr);
			for (unsigned k = 0; k < n; k++) {
				if (o->win)
					ack_push(o, &fr[k]);
				else
					out_push(o, &fr[k]);
			}
		}
		if (c->count && tot.packets + b >= c->count) {
			/* the last packet: release a held (reordered) one too */
			if (gen_traffic_flush(t, fr))
				out_push(o, &fr[0]);
		}
		out_flush(o);
		if (ticks_per_unit > 0) {
			gen_traffic_totals(t, &tot);
			uint64_t frames = tot.frames_out - f0;
			uint64_t bits = (tot.bytes_out - b0 + frames * WIRE_OVERHEAD) * 8;
			deadline +=
				burst_cost(c, frames, tot.events_out - e0, bits) * ticks_per_unit;
		}
	}
	if (gen_traffic_flush(t, fr)) {
		out_push(o, &fr[0]);
		out_flush(o);
	}
	if (o->win)
		ack_drain(o);
	o->st.end_tsc = rte_rdtsc();
	if (!c->quiet)
		progress(o, o->st.end_tsc, &ltsc, &lp, &le, &lb, true);
	if (o->link_lost)
		fprintf(stderr,
			"sluice-gen: --port %s: link went down with the TX ring full; "
			"stopped (unsent packets counted as tx_dropped)\n",
			c->port_device);
}

static void out_close(struct out *o)
{
	if (o->dumper)
		pcap_dump_close(o->dumper);
	if (o->pcap)
		pcap_close(o->pcap);
	if (o->fd > 0)
		close(o->fd);
	free(o->udp_buf);
	if (o->port)
		sluice_nic_port_destroy(o->port);
	if (o->pool)
		rte_mempool_free(o->pool);
	if (o->eal) {
		char dir[256];

		snprintf(dir, sizeof(dir), "/var/run/dpdk/%s", o->prefix);
		sluice_nic_eal_cleanup();
		sluice_nic_eal_remove_runtime_dir(dir);
	}
}

int main(int argc, char **argv)
{
	static struct out o;
	struct gen_config cfg;
	struct gen_traffic *t = NULL;
	char err[512];
	int rc;

	rc = gen_config_parse(argc, argv, &cfg, err, sizeof(err));
	if (rc == 1)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	rc = gen_traffic_create(&cfg, &t, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	o.cfg = &cfg;
	o.fd = -1;
	{
		struct gen_flow f = cfg.flow;
		o.hdr_bytes = gen_packet_header_bytes(&f);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	switch (cfg.output) {
	case GEN_OUT_PORT:
		rc = port_open(&o, gen_traffic_max_frame(t));
		break;
	case GEN_OUT_PCAP:
		o.hz = calibrate_tsc();
		rc = pcap_open_out(&o);
		break;
	case GEN_OUT_UDP:
		o.hz = calibrate_tsc();
		rc = udp_open(&o);
		break;
	}
	if (rc == 0 && cfg.ack)
		rc = ack_open(&o);
	if (rc == 0) {
		run(&o, t);
		/* A sender that exits right after its last TX loses what is still in a memif
		 * ring: linger so the peer can drain it. */
		if (cfg.output == GEN_OUT_PORT && cfg.linger_ms) {
			if (!cfg.quiet)
				fprintf(stderr, "sluice-gen: done, lingering %u ms\n",
					cfg.linger_ms);
			sleep_ns((long)cfg.linger_ms * 1000000L);
		}
		if (write_summary(&o, t, o.link_lost ? "link down" : NULL) != 0)
			rc = -EIO;
		if (o.link_lost)
			rc = -ENOLINK;
		if (cfg.ack && o.ack_unacked_events) {
			fprintf(stderr, "sluice-gen: --ack: %" PRIu64 " events not acknowledged\n",
				o.ack_unacked_events);
			rc = -ETIMEDOUT;
		}
	}
	ack_close(&o);
	out_close(&o);
	gen_traffic_destroy(t);
	return rc == 0 ? 0 : 1;
}
