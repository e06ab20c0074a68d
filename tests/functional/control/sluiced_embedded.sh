#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# kafka.brokers = embedded is a demo mode that must be asked for, is warned about, and never
# lets retention delete a record on the strength of the in-memory cluster's acks. The case from
# issue 14: 120 000 lines into 1 partition with retention_bytes = 8M. The mock cluster keeps
# only its newest 5 MiB per partition (it lost the oldest records, as its acks already show),
# so the log must keep every record: log start 0, nothing deleted, all 120 000 readable.
# Before the fix: forwarded 120000, healthy, log start 37590, Kafka held 93855..119999.
. "$(dirname "$0")/sluiced_lib.sh"
command -v kcat >/dev/null || { echo "kcat missing"; exit 77; }

"$GEN" --pcap "$TMP/a.pcap" --format lines --count 12000 --events-per-packet 10 --event-size 100 \
	--dst-port 5140 --quiet --summary /dev/null || fail "sluice-gen"
cat >"$TMP/sluiced.ini" <<INI
[eal]
memory = no-huge
memory_mb = 256
file_prefix = $PREFIX
[storage]
data_dir = $TMP/data
[port.p0]
device = net_pcap0
args = rx_pcap=$TMP/a.pcap
promiscuous = true
[topic.events]
partitions = 1
segment_bytes = 1M
flush_bytes = 256K
retention_bytes = 8M
[listener.in]
udp_port = 5140
format = lines
[kafka]
brokers = embedded
[control]
socket = $TMP/ctl.sock
metrics_listen = 127.0.0.1:0
[dataplane]
mbufs = 8191
batch_buffers = 128
batch_bytes = 64K
# a loaded machine's writer may fall behind the pcap: wait for it, shed nothing
backpressure = block
INI
sluiced_start "$TMP/sluiced.ini"
grep -q 'forwarding: DEMO MODE, kafka.brokers = embedded: .* only the newest 5 MiB per partition' \
	"$TMP/sluiced.err" || fail "no demo-mode warning at start"
BOOTSTRAP=$(awk '/embedded Kafka bootstrap/ {print $NF}' "$TMP/sluiced.out")
[ -n "$BOOTSTRAP" ] || fail "no embedded bootstrap printed"
ctl -j status | python3 -c 'import json,sys
s = json.load(sys.stdin)
assert s["forwarding"] == "embedded" and s["kafka_embedded"] is True, s
assert len(s["warnings"]) == 1 and "5 MiB per partition" in s["warnings"][0], s["warnings"]' ||
	fail "status: $(ctl -j status)"
ctl status | grep -q '^warnings: kafka.brokers = embedded: demo mode' || fail "status text: $(ctl status)"
wait_stat persisted 120000 60
wait_stat forwarded 120000 60
wait_stat pending 0

# The mock cluster already dropped the oldest records it acknowledged.
FIRST=$(timeout 60 kcat -b "$BOOTSTRAP" -C -t events -p 0 -o beginning -c 1 -e -q -f '%o\n') ||
	fail "kcat could not read the embedded cluster"
[ -n "$FIRST" ] && [ "$FIRST" -gt 0 ] || fail "the mock cluster kept offset ${FIRST:-none}: the case needs more data"
echo "embedded Kafka starts at offset $FIRST"

# Retention runs every second: after a few passes the log must not have moved.
parts() {
	ctl -j partitions | python3 -c "import json,sys; print(json.load(sys.stdin)['partitions'][0]['$1'])"
}
sleep 3
[ "$(parts log_start_offset)" = 0 ] || fail "retention deleted from the log: start $(parts log_start_offset)"
[ "$(parts bytes)" -gt $((8 * 1024 * 1024)) ] || fail "the case does not exceed retention_bytes"
curl -sf --max-time 30 "http://127.0.0.1:$METRICS_PORT/metrics" >"$TMP/m" || fail "scrape"
grep -q '^sluice_partition_retention_deleted_segments_total{topic="events",partition="0"} 0$' "$TMP/m" ||
	fail "segments deleted: $(grep retention_deleted "$TMP/m")"
grep -q '^sluice_forwarder_mode{mode="embedded"} 1$' "$TMP/m" || fail "metrics: $(grep forwarder_mode "$TMP/m")"
grep -q '^sluice_partition_forwarded_offset{topic="events",partition="0"} 0$' "$TMP/m" ||
	fail "the log's forwarded mark moved on embedded acks: $(grep partition_forwarded "$TMP/m")"
sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "exit $STOP_STATUS"
# sluice-dump -v checks every batch; 120000 records in a log that ends at 120000 start at 0.
[ "$(dump_count "$TMP/data" events 1)" = 120000 ] || fail "the log does not hold all 120000 records"
[ -e "$TMP/data/events-0/00000000000000000000.log" ] || fail "segment 0 was deleted"
echo PASS
