/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stable names of the dataplane's enums: metric labels, config values, logs.
 * Changing a name breaks dashboards and configs; add new ones at the end of each enum.
 */
#include <errno.h>
#include <string.h>

#include "sluice_dataplane.h"

static const char *const format_names[SLUICE_FORMAT__COUNT] = {
	[SLUICE_FORMAT_KAFKA] = "kafka",
	[SLUICE_FORMAT_LINES] = "lines",
	[SLUICE_FORMAT_RAW] = "raw",
};

static const char *const key_mode_names[SLUICE_KEY__COUNT] = {
	[SLUICE_KEY_NONE] = "none",
	[SLUICE_KEY_SOURCE_ADDR] = "source_addr",
};

static const char *const keyless_names[SLUICE_KEYLESS__COUNT] = {
	[SLUICE_KEYLESS_STICKY] = "sticky",
	[SLUICE_KEYLESS_ROUND_ROBIN] = "round_robin",
};

static const char *const backpressure_names[SLUICE_BACKPRESSURE__COUNT] = {
	[SLUICE_BACKPRESSURE_DROP] = "drop",
	[SLUICE_BACKPRESSURE_BLOCK] = "block",
};

static const char *const reject_names[SLUICE_DP_REJECT__COUNT] = {
	[SLUICE_DP_REJECT_NONE] = "none",
	[SLUICE_DP_REJECT_ETH_TRUNCATED] = "eth_truncated",
	[SLUICE_DP_REJECT_ETH_DST] = "eth_dst",
	[SLUICE_DP_REJECT_VLAN_DEPTH] = "vlan_depth",
	[SLUICE_DP_REJECT_ETHERTYPE] = "ethertype",
	[SLUICE_DP_REJECT_ARP_BAD] = "arp_bad",
	[SLUICE_DP_REJECT_ARP_IGNORED] = "arp_ignored",
	[SLUICE_DP_REJECT_IP_HEADER] = "ip_header",
	[SLUICE_DP_REJECT_IP_OPTIONS] = "ip_options",
	[SLUICE_DP_REJECT_IP_CHECKSUM] = "ip_checksum",
	[SLUICE_DP_REJECT_IP_FRAGMENT] = "ip_fragment",
	[SLUICE_DP_REJECT_IP_EXT_LIMIT] = "ip_ext_limit",
	[SLUICE_DP_REJECT_IP_DST] = "ip_dst",
	[SLUICE_DP_REJECT_ICMP_BAD] = "icmp_bad",
	[SLUICE_DP_REJECT_ICMP_IGNORED] = "icmp_ignored",
	[SLUICE_DP_REJECT_NOT_UDP] = "not_udp",
	[SLUICE_DP_REJECT_UDP_LENGTH] = "udp_length",
	[SLUICE_DP_REJECT_UDP_CHECKSUM] = "udp_checksum",
	[SLUICE_DP_REJECT_NO_LISTENER] = "no_listener",
	[SLUICE_DP_REJECT_TX_FULL] = "tx_full",
	[SLUICE_DP_REJECT_REPLY_LIMITED] = "reply_rate_limited",
	[SLUICE_DP_REJECT_EMPTY_PAYLOAD] = "empty_payload",
	[SLUICE_DP_REJECT_KAFKA_ENVELOPE] = "kafka_envelope",
	[SLUICE_DP_REJECT_KAFKA_PARTITION] = "kafka_partition",
	[SLUICE_DP_REJECT_KAFKA_BATCH] = "kafka_batch",
	[SLUICE_DP_REJECT_KAFKA_TRAILING] = "kafka_trailing",
	[SLUICE_DP_REJECT_KAFKA_ATTRIBUTES] = "kafka_attributes",
	[SLUICE_DP_REJECT_KAFKA_TOO_LARGE] = "kafka_too_large",
	[SLUICE_DP_REJECT_EMPTY_LINE] = "empty_line",
	[SLUICE_DP_REJECT_EVENT_TOO_LARGE] = "event_too_large",
	[SLUICE_DP_REJECT_DUPLICATE] = "duplicate",
	[SLUICE_DP_REJECT_SEQUENCE_OVERLAP] = "sequence_overlap",
	[SLUICE_DP_REJECT_STALE_EPOCH] = "stale_epoch",
	[SLUICE_DP_REJECT_TOO_MANY_HEADERS] = "too_many_headers",
	[SLUICE_DP_REJECT_ACK_WINDOW] = "ack_window",
};

static const char *const shed_names[SLUICE_DP_SHED__COUNT] = {
	[SLUICE_DP_SHED_RING_FULL] = "ring_full",
	[SLUICE_DP_SHED_POOL_EMPTY] = "pool_empty",
	[SLUICE_DP_SHED_STOPPED] = "stopped",
	[SLUICE_DP_SHED_RATE_LIMITED] = "rate_limited",
};

static const char *name_of(const char *const *names, unsigned n, int v)
{
	if (v < 0 || (unsigned)v >= n || names[v] == NULL)
		return "unknown";
	return names[v];
}

static int value_of(const char *const *names, unsigned n, const char *name)
{
	if (name == NULL)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], name) == 0)
			return (int)i;
	return -EINVAL;
}

#define NAMES(a) (a), (unsigned)(sizeof(a) / sizeof((a)[0]))

const char *sluice_format_name(enum sluice_format f)
{
	return name_of(NAMES(format_names), (int)f);
}

const char *sluice_key_mode_name(enum sluice_key_mode m)
{
	return name_of(NAMES(key_mode_names), (int)m);
}

const char *sluice_keyless_mode_name(enum sluice_keyless_mode m)
{
	return name_of(NAMES(keyless_names), (int)m);
}

const char *sluice_backpressure_name(enum sluice_backpressure b)
{
	return name_of(NAMES(backpressure_names), (int)b);
}

int sluice_format_from_name(const char *name)
{
	return value_of(NAMES(format_names), name);
}

int sluice_key_mode_from_name(const char *name)
{
	return value_of(NAMES(key_mode_names), name);
}

int sluice_keyless_mode_from_name(const char *name)
{
	return value_of(NAMES(keyless_names), name);
}

int sluice_backpressure_from_name(const char *name)
{
	return value_of(NAMES(backpressure_names), name);
}

const char *sluice_dp_reject_name(enum sluice_dp_reject r)
{
	return name_of(NAMES(reject_names), (int)r);
}

const char *sluice_dp_shed_name(enum sluice_dp_shed s)
{
	return name_of(NAMES(shed_names), (int)s);
}
