/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-gen's command line (see gen_traffic.h). Pure: no EAL, so unit tests can call it. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gen_traffic.h"

enum {
	OPT_PCAP = 256,
	OPT_UDP,
	OPT_PORT,
	OPT_VDEV,
	OPT_PCI,
	OPT_EAL_ARG,
	OPT_LCORES,
	OPT_MEM,
	OPT_MEM_MB,
	OPT_FILE_PREFIX,
	OPT_QUEUES,
	OPT_TX_DESC,
	OPT_LINK_WAIT,
	OPT_LINGER,
	OPT_TX_DROP,
	OPT_SRC_MAC,
	OPT_DST_MAC,
	OPT_SRC_IP,
	OPT_DST_IP,
	OPT_SRC_PORT,
	OPT_DST_PORT,
	OPT_FLOWS,
	OPT_MTU,
	OPT_FORMAT,
	OPT_PARTITION,
	OPT_PARTITIONS,
	OPT_EVENT_SIZE,
	OPT_EVENTS_FILE,
	OPT_EPP,
	OPT_PRODUCERS,
	OPT_PRODUCER_ID,
	OPT_EPOCH,
	OPT_FIRST_SEQ,
	OPT_KEYS,
	OPT_SEED,
	OPT_PPS,
	OPT_EPS,
	OPT_GBPS,
	OPT_BURST,
	OPT_DURATION,
	OPT_COUNT,
	OPT_DROP,
	OPT_DUP,
	OPT_REORDER,
	OPT_CORRUPT,
	OPT_CORRUPT_KEEP,
	OPT_STAMP,
	OPT_ACK,
	OPT_QUIET,
	OPT_SUMMARY,
	OPT_HELP,
};

static const struct option long_opts[] = {
	{"pcap", required_argument, NULL, OPT_PCAP},
	{"udp", required_argument, NULL, OPT_UDP},
	{"port", required_argument, NULL, OPT_PORT},
	{"vdev", required_argument, NULL, OPT_VDEV},
	{"pci", required_argument, NULL, OPT_PCI},
	{"eal-arg", required_argument, NULL, OPT_EAL_ARG},
	{"lcores", required_argument, NULL, OPT_LCORES},
	{"mem", required_argument, NULL, OPT_MEM},
	{"mem-mb", required_argument, NULL, OPT_MEM_MB},
	{"file-prefix", required_argument, NULL, OPT_FILE_PREFIX},
	{"queues", required_argument, NULL, OPT_QUEUES},
	{"tx-desc", required_argument, NULL, OPT_TX_DESC},
	{"link-wait-ms", required_argument, NULL, OPT_LINK_WAIT},
	{"linger-ms", required_argument, NULL, OPT_LINGER},
	{"tx-drop", no_argument, NULL, OPT_TX_DROP},
	{"src-mac", required_argument, NULL, OPT_SRC_MAC},
	{"dst-mac", required_argument, NULL, OPT_DST_MAC},
	{"src-ip", required_argument, NULL, OPT_SRC_IP},
	{"dst-ip", required_argument, NULL, OPT_DST_IP},
	{"src-port", required_argument, NULL, OPT_SRC_PORT},
	{"dst-port", required_argument, NULL, OPT_DST_PORT},
	{"flows", required_argument, NULL, OPT_FLOWS},
	{"mtu", required_argument, NULL, OPT_MTU},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"partition", required_argument, NULL, OPT_PARTITION},
	{"partitions", required_argument, NULL, OPT_PARTITIONS},
	{"event-size", required_argument, NULL, OPT_EVENT_SIZE},
	{"events-file", required_argument, NULL, OPT_EVENTS_FILE},
	{"events-per-packet", required_argument, NULL, OPT_EPP},
	{"producers", required_argument, NULL, OPT_PRODUCERS},
	{"producer-id", required_argument, NULL, OPT_PRODUCER_ID},
	{"producer-epoch", required_argument, NULL, OPT_EPOCH},
	{"first-sequence", required_argument, NULL, OPT_FIRST_SEQ},
	{"keys", required_argument, NULL, OPT_KEYS},
	{"seed", required_argument, NULL, OPT_SEED},
	{"pps", required_argument, NULL, OPT_PPS},
	{"rate", required_argument, NULL, OPT_PPS},
	{"eps", required_argument, NULL, OPT_EPS},
	{"gbps", required_argument, NULL, OPT_GBPS},
	{"burst", required_argument, NULL, OPT_BURST},
	{"duration", required_argument, NULL, OPT_DURATION},
	{"count", required_argument, NULL, OPT_COUNT},
	{"drop", required_argument, NULL, OPT_DROP},
	{"dup", required_argument, NULL, OPT_DUP},
	{"reorder", required_argument, NULL, OPT_REORDER},
	{"corrupt", required_argument, NULL, OPT_CORRUPT},
	{"corrupt-keep-cksum", no_argument, NULL, OPT_CORRUPT_KEEP},
	{"stamp", no_argument, NULL, OPT_STAMP},
	{"ack", no_argument, NULL, OPT_ACK},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{"summary", required_argument, NULL, OPT_SUMMARY},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

void gen_config_usage(FILE *f)
{
	fputs("usage: sluice-gen [options]\n"
	      "Generate sluice event traffic through a DPDK port, into a pcap file, or over UDP.\n"
	      "\nOutput (exactly one):\n"
	      "  --vdev STR            DPDK virtual device (repeatable), e.g.\n"
	      "                        "
	      "net_memif0,role=client,socket=/run/sluice.sock,socket-abstract=no\n"
	      "  --pci ADDR            PCI device to use (repeatable; without it --no-pci is "
	      "passed)\n"
	      "  --port NAME           ethdev to transmit on (default: the first --vdev / --pci)\n"
	      "  --pcap FILE           write frames to a pcap file (nanosecond timestamps)\n"
	      "  --udp HOST:PORT       send payloads through the kernel (sendmmsg), [v6]:port too\n"
	      "\nDPDK:\n"
	      "  --lcores STR --mem huge|in-memory|no-huge (no-huge) --mem-mb N (256)\n"
	      "  --file-prefix STR (sluice-gen-<pid>) --eal-arg STR (repeatable)\n"
	      "  --queues N (1; must match a memif peer) --tx-desc N (1024)\n"
	      "  --link-wait-ms N (5000) --linger-ms N (500) --tx-drop (drop on a full ring,\n"
	      "                        counted; default is to retry)\n"
	      "\nPackets:\n"
	      "  --src-mac/--dst-mac MAC --src-ip/--dst-ip ADDR (IPv4 or IPv6; 10.0.0.1, "
	      "10.255.0.1)\n"
	      "  --src-port N (10000) --dst-port N (9000) --flows N (= producers; flow f adds f\n"
	      "                        to the source address and port) --mtu N (1500)\n"
	      "\nEvents:\n"
	      "  --format kafka|lines|raw (kafka)\n"
	      "  --partition N         kafka envelope partition; -1 = by key (default)\n"
	      "  --partitions N        rotate explicit partitions 0..N-1 per producer\n"
	      "  --event-size N|MIN-MAX  fixed or uniform event size in bytes (100)\n"
	      "  --events-file FILE    sample events from the lines of FILE\n"
	      "  --events-per-packet N (1) --producers N (1) --producer-id N (1000, first id)\n"
	      "  --producer-epoch N (0) --first-sequence N (0) --keys N (key space; 0 = null)\n"
	      "  --stamp               events carry their send time: <producer>:<seq>:<ns>:\n"
	      "  --seed N (1)\n"
	      "\nRate and length (numbers take k, M, G suffixes):\n"
	      "  --pps N | --rate N    packets/s    --eps N  events/s    --gbps X  wire Gbit/s\n"
	      "  --burst N (32) --duration SECONDS --count PACKETS (no limit: until SIGINT)\n"
	      "\nImpairments (fractions of generated packets, at most one per packet):\n"
	      "  --drop F --dup F --reorder F --corrupt F --corrupt-keep-cksum\n"
	      "\nAcknowledged mode (docs/libsluice.md): --ack keeps every kafka batch until the\n"
	      "  appliance reports it durable and retransmits; --drop/--dup apply after that\n"
	      "\nReporting:\n"
	      "  --quiet (no progress line) --summary FILE (JSON summary; default stdout)\n",
	      f);
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "sluice-gen: ");

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int suffix_mult(const char *end, double *mult)
{
	*mult = 1;
	if (*end == '\0')
		return 0;
	if (end[1] != '\0')
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		*mult = 1e3;
		return 0;
	case 'M':
		*mult = 1e6;
		return 0;
	case 'G':
		*mult = 1e9;
		return 0;
	}
	return -EINVAL;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	double mult;
	unsigned long long v;

	if (s[0] == '-' || s[0] == '\0')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || suffix_mult(end, &mult) != 0)
		return -EINVAL;
	if (mult != 1) {
		double d = (double)v * mult;
		if (d > (double)UINT64_MAX)
			return -ERANGE;
		v = (unsigned long long)d;
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;
	double mult;

	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || suffix_mult(end, &mult) != 0 || !isfinite(v))
		return -EINVAL;
	*out = v * mult;
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 255)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

/* Returns 4 or 6, or -EINVAL. */
static int parse_ip(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, out) == 1)
		return 6;
	return -EINVAL;
}

static int list_add(const char **list, const char *v)
{
	for (int i = 0; i < GEN_MAX_LIST; i++) {
		if (list[i] == NULL) {
			list[i] = v;
			return 0;
		}
	}
	return -E2BIG;
}

/* "HOST:PORT" or "[V6]:PORT" into a static copy of the host part. */
static int parse_udp_target(const char *s, struct gen_config *c)
{
	static char host[64];
	const char *colon;
	size_t hl;
	uint64_t port;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -EINVAL;
		hl = (size_t)(close - s - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hl);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -EINVAL;
		hl = (size_t)(colon - s);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hl);
	}
	host[hl] = '\0';
	uint8_t tmp[16];
	if (parse_ip(host, tmp) < 0 || parse_u64(colon + 1, 1, 65535, &port) != 0)
		return -EINVAL;
	c->udp_host = host;
	c->udp_port = (uint16_t)port;
	return 0;
}

int gen_config_parse(int argc, char **argv, struct gen_config *c, char *err, size_t errlen)
{
	int opt, src_fam = 4, dst_fam = 4;
	uint64_t u;
	int64_t i;
	bool have_partition = false;
	int outputs = 0;

	gen_config_defaults(c);
	optind = 1;
	opterr = 0;
	int li = -1;
	while ((opt = getopt_long(argc, argv, "h", long_opts, &li)) != -1) {
		/* the spelling the user typed (--rate and --pps share a code) */
		const char *name = li >= 0 ? long_opts[li].name : "?";
		li = -1;
		const char *a = optarg;
		switch (opt) {
		case OPT_PCAP:
			c->output = GEN_OUT_PCAP;
			c->pcap_path = a;
			outputs++;
			break;
		case OPT_UDP:
			if (parse_udp_target(a, c) != 0)
				return fail(err, errlen, "--udp: '%s' is not ADDRESS:PORT", a);
			c->output = GEN_OUT_UDP;
			outputs++;
			break;
		case OPT_PORT:
			c->port_device = a;
			break;
		case OPT_VDEV:
			if (list_add(c->vdevs, a) != 0)
				return fail(err, errlen, "--vdev: at most %d", GEN_MAX_LIST);
			break;
		case OPT_PCI:
			if (list_add(c->pci, a) != 0)
				return fail(err, errlen, "--pci: at most %d", GEN_MAX_LIST);
			break;
		case OPT_EAL_ARG:
			if (list_add(c->eal_args, a) != 0)
				return fail(err, errlen, "--eal-arg: at most %d", GEN_MAX_LIST);
			break;
		case OPT_LCORES:
			c->lcores = a;
			break;
		case OPT_MEM:
			if (strcmp(a, "huge") == 0)
				c->mem_mode = 0;
			else if (strcmp(a, "in-memory") == 0)
				c->mem_mode = 1;
			else if (strcmp(a, "no-huge") == 0)
				c->mem_mode = 2;
			else
				return fail(err, errlen,
					    "--mem: '%s' is not huge, in-memory or no-huge", a);
			break;
		case OPT_MEM_MB:
			if (parse_u64(a, 16, 1u << 20, &u) != 0)
				return fail(err, errlen, "--mem-mb: must be 16..1048576");
			c->mem_mb = (uint32_t)u;
			break;
		case OPT_FILE_PREFIX:
			c->file_prefix = a;
			break;
		case OPT_QUEUES:
			if (parse_u64(a, 1, 64, &u) != 0)
				return fail(err, errlen, "--queues: must be 1..64");
			c->queues = (uint16_t)u;
			break;
		case OPT_TX_DESC:
			if (parse_u64(a, 32, 32768, &u) != 0)
				return fail(err, errlen, "--tx-desc: must be 32..32768");
			c->tx_desc = (uint16_t)u;
			break;
		case OPT_LINK_WAIT:
		case OPT_LINGER:
			if (parse_u64(a, 0, 600000, &u) != 0)
				return fail(err, errlen, "--%s: must be 0..600000 ms", name);
			if (opt == OPT_LINK_WAIT)
				c->link_wait_ms = (uint32_t)u;
			else
				c->linger_ms = (uint32_t)u;
			break;
		case OPT_TX_DROP:
			c->tx_drop_when_full = true;
			break;
		case OPT_SRC_MAC:
		case OPT_DST_MAC:
			if (parse_mac(a, opt == OPT_SRC_MAC ? c->flow.src_mac : c->flow.dst_mac))
				return fail(err, errlen, "--%s: '%s' is not xx:xx:xx:xx:xx:xx",
					    name, a);
			break;
		case OPT_SRC_IP:
			src_fam = parse_ip(a, c->flow.src_ip);
			if (src_fam < 0)
				return fail(err, errlen, "--src-ip: '%s' is not an IP address", a);
			break;
		case OPT_DST_IP:
			dst_fam = parse_ip(a, c->flow.dst_ip);
			if (dst_fam < 0)
				return fail(err, errlen, "--dst-ip: '%s' is not an IP address", a);
			break;
		case OPT_SRC_PORT:
		case OPT_DST_PORT:
			if (parse_u64(a, 1, 65535, &u) != 0)
				return fail(err, errlen, "--%s: must be 1..65535", name);
			if (opt == OPT_SRC_PORT)
				c->flow.src_port = (uint16_t)u;
			else
				c->flow.dst_port = (uint16_t)u;
			break;
		case OPT_FLOWS:
			if (parse_u64(a, 1, 65535, &u) != 0)
				return fail(err, errlen, "--flows: must be 1..65535");
			c->flows = (uint32_t)u;
			break;
		case OPT_MTU:
			if (parse_u64(a, 68, 9000, &u) != 0)
				return fail(err, errlen, "--mtu: must be 68..9000");
			c->mtu = (uint16_t)u;
			break;
		case OPT_FORMAT:
			if (strcmp(a, "kafka") == 0)
				c->format = GEN_FMT_KAFKA;
			else if (strcmp(a, "lines") == 0)
				c->format = GEN_FMT_LINES;
			else if (strcmp(a, "raw") == 0)
				c->format = GEN_FMT_RAW;
			else
				return fail(err, errlen,
					    "--format: '%s' is not kafka, lines or raw", a);
			break;
		case OPT_PARTITION:
			if (parse_i64(a, -1, INT32_MAX, &i) != 0)
				return fail(err, errlen, "--partition: must be -1..2147483647");
			c->partition = (int32_t)i;
			have_partition = true;
			break;
		case OPT_PARTITIONS:
			if (parse_u64(a, 1, 1024, &u) != 0)
				return fail(err, errlen, "--partitions: must be 1..1024");
			c->partitions = (uint32_t)u;
			break;
		case OPT_EVENT_SIZE: {
			char buf[64];
			char *dash;
			uint64_t lo, hi;
			if (strlen(a) >= sizeof(buf))
				return fail(err, errlen, "--event-size: '%s' is too long", a);
			memcpy(buf, a, strlen(a) + 1);
			dash = strchr(buf, '-');
			if (dash)
				*dash = '\0';
			if (parse_u64(buf, 1, 9000, &lo) != 0 ||
			    (dash && parse_u64(dash + 1, 1, 9000, &hi) != 0))
				return fail(err, errlen,
					    "--event-size: '%s' is not N or MIN-MAX in 1..9000", a);
			if (!dash)
				hi = lo;
			if (lo > hi)
				return fail(err, errlen, "--event-size: MIN %llu above MAX %llu",
					    (unsigned long long)lo, (unsigned long long)hi);
			c->event_min = (uint32_t)lo;
			c->event_max = (uint32_t)hi;
			break;
		}
		case OPT_EVENTS_FILE:
			c->events_file = a;
			break;
		case OPT_EPP:
			if (parse_u64(a, 1, 4096, &u) != 0)
				return fail(err, errlen, "--events-per-packet: must be 1..4096");
			c->events_per_packet = (uint32_t)u;
			break;
		case OPT_PRODUCERS:
			if (parse_u64(a, 1, 65536, &u) != 0)
				return fail(err, errlen, "--producers: must be 1..65536");
			c->producers = (uint32_t)u;
			break;
		case OPT_PRODUCER_ID:
			if (parse_i64(a, 0, INT64_MAX - 65536, &i) != 0)
				return fail(err, errlen, "--producer-id: must be >= 0");
			c->producer_id_base = i;
			break;
		case OPT_EPOCH:
			if (parse_i64(a, 0, INT16_MAX, &i) != 0)
				return fail(err, errlen, "--producer-epoch: must be 0..32767");
			c->producer_epoch = (int16_t)i;
			break;
		case OPT_FIRST_SEQ:
			if (parse_i64(a, 0, INT32_MAX, &i) != 0)
				return fail(err, errlen, "--first-sequence: must be 0..2147483647");
			c->first_sequence = (int32_t)i;
			break;
		case OPT_KEYS:
			if (parse_u64(a, 0, UINT32_MAX, &u) != 0)
				return fail(err, errlen, "--keys: must be 0..4294967295");
			c->keys = (uint32_t)u;
			break;
		case OPT_SEED:
			if (parse_u64(a, 0, UINT64_MAX, &u) != 0)
				return fail(err, errlen, "--seed: not a number");
			c->seed = u;
			break;
		case OPT_PPS:
		case OPT_EPS:
		case OPT_GBPS: {
			double r;
			if (parse_double(a, &r) != 0)
				return fail(err, errlen, "--%s: '%s' is not a number", name, a);
			if (!(r > 0))
				return fail(err, errlen, "--%s: must be > 0", name);
			if (c->rate_unit != GEN_RATE_NONE)
				return fail(err, errlen, "--%s: only one of --pps, --eps, --gbps",
					    name);
			c->rate_unit = opt == OPT_PPS ? GEN_RATE_PPS
				: opt == OPT_EPS      ? GEN_RATE_EPS
						      : GEN_RATE_BPS;
			c->rate = opt == OPT_GBPS ? r * 1e9 : r;
			break;
		}
		case OPT_BURST:
			if (parse_u64(a, 1, 512, &u) != 0)
				return fail(err, errlen, "--burst: must be 1..512");
			c->burst = (uint32_t)u;
			break;
		case OPT_DURATION:
			if (parse_double(a, &c->duration_s) != 0 || !(c->duration_s > 0))
				return fail(err, errlen, "--duration: must be > 0 seconds");
			break;
		case OPT_COUNT:
			if (parse_u64(a, 1, UINT64_MAX, &u) != 0)
				return fail(err, errlen, "--count: must be >= 1");
			c->count = u;
			break;
		case OPT_DROP:
		case OPT_DUP:
		case OPT_REORDER:
		case OPT_CORRUPT: {
			double f;
			if (parse_double(a, &f) != 0 || f < 0 || f > 1)
				return fail(err, errlen, "--%s: must be a fraction in 0..1", name);
			if (opt == OPT_DROP)
				c->drop = f;
			else if (opt == OPT_DUP)
				c->dup = f;
			else if (opt == OPT_REORDER)
				c->reorder = f;
			else
				c->corrupt = f;
			break;
		}
		case OPT_CORRUPT_KEEP:
			c->corrupt_keep_cksum = true;
			break;
		case OPT_STAMP:
			c->stamp = true;
			break;
		case OPT_ACK:
			c->ack = true;
			break;
		case OPT_QUIET:
			c->quiet = true;
			break;
		case OPT_SUMMARY:
			c->summary_path = a;
			break;
		case 'h':
		case OPT_HELP:
			gen_config_usage(stdout);
			return 1;
		case ':':
			return fail(err, errlen, "%s: needs a value", argv[optind - 1]);
		default:
			return fail(err, errlen, "%s: unknown option (see --help)",
				    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail(err, errlen, "%s: unexpected argument (see --help)", argv[optind]);

	/* Cross-checks, all before any device or file is touched. */
	if (c->vdevs[0] || c->pci[0] || c->port_device)
		outputs++;
	if (outputs == 0)
		return fail(err, errlen,
			    "no output: give --vdev/--pci (DPDK port), --pcap FILE or --udp "
			    "HOST:PORT");
	if (outputs > 1)
		return fail(err, errlen, "--pcap, --udp and a DPDK port exclude each other");
	if (c->output == GEN_OUT_PORT && c->port_device == NULL) {
		static char dev[128];
		const char *first = c->vdevs[0] ? c->vdevs[0] : c->pci[0];
		if (first == NULL)
			return fail(err, errlen, "--port: name a --vdev or --pci device too");
		size_t n = strcspn(first, ",");
		if (n >= sizeof(dev))
			return fail(err, errlen, "--vdev: device name too long");
		memcpy(dev, first, n);
		dev[n] = '\0';
		c->port_device = dev;
	}
	if (src_fam != dst_fam)
		return fail(err, errlen, "--src-ip/--dst-ip: both IPv4 or both IPv6");
	c->flow.ipv6 = src_fam == 6;
	if (c->output == GEN_OUT_UDP) {
		uint8_t tmp[16];
		c->flow.ipv6 = parse_ip(c->udp_host, tmp) == 6;
	}
	if (have_partition && c->partitions)
		return fail(err, errlen, "--partition and --partitions exclude each other");
	if (c->format != GEN_FMT_KAFKA && (c->partitions || have_partition))
		return fail(err, errlen, "--partition: only the kafka format carries a partition");
	if (c->format == GEN_FMT_RAW && c->events_per_packet > 1)
		return fail(err, errlen,
			    "--events-per-packet: the raw format has one event per "
			    "packet");
	if ((uint64_t)c->producers * (c->partitions ? c->partitions : 1) > (1u << 20))
		return fail(err, errlen, "--producers x --partitions: at most 1048576 streams");
	uint32_t flows = c->flows ? c->flows : c->producers;
	if ((uint32_t)c->flow.src_port + flows - 1 > 65535)
		return fail(err, errlen, "--flows: %u flows from source port %u pass 65535", flows,
			    c->flow.src_port);
	if (c->drop + c->dup + c->reorder + c->corrupt > 1.0)
		return fail(err, errlen, "--drop + --dup + --reorder + --corrupt: above 1");
	if (c->ack) {
		if (c->format != GEN_FMT_KAFKA || (!have_partition && !c->partitions) ||
		    (have_partition && c->partition < 0))
			return fail(err, errlen,
				    "--ack: needs the kafka format and explicit partitions "
				    "(--partition N or --partitions N)");
		if (c->output == GEN_OUT_PCAP)
			return fail(err, errlen,
				    "--ack: needs a DPDK port or --udp (acks come back)");
		if (c->reorder > 0 || c->corrupt > 0)
			return fail(err, errlen,
				    "--ack: --reorder and --corrupt are not supported");
		if (c->first_sequence != 0)
			return fail(err, errlen, "--ack: sequences start at 0");
		/* Impair after the window, so that what is dropped is resent. */
		c->ack_drop = c->drop;
		c->ack_dup = c->dup;
		c->drop = c->dup = 0;
	}
	return 0;
}
