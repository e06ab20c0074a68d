#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sluiced end to end: net_pcap input made by sluice-gen (keyed kafka batches with corrupted
# packets, explicit-partition kafka batches, lines, packets for no listener) → the log → Kafka
# (a kafka_mock process that outlives sluiced). Checks every counter of the accounting chain,
# and byte for byte (sluiced_check.py: timestamp, key, value, headers, partition, order) that
# the log holds exactly what the generator's pcaps carried and Kafka exactly what the log
# holds (kcat); SIGTERM → exit 0 with clean-shutdown markers, a restart whose offsets
# continue, and a SIGKILL whose restart recovers with nothing lost or duplicated.
. "$(dirname "$0")/sluiced_lib.sh"

PARTS=3
mock_start events:$PARTS

# Inputs. Port p0: keyed kafka batches (partitioned by murmur2 of the key), 5% of packets
# corrupted (bad UDP checksum). Port p1: lines, plus 50 raw packets to a UDP port nobody
# listens on. Every generator run has its own producer ids, so no two events are alike.
"$GEN" --pcap "$TMP/a.pcap" --format kafka --count 2000 --producers 4 --events-per-packet 5 \
	--keys 16 --corrupt 0.05 --dst-port 9000 --quiet --summary "$TMP/a.json"
"$GEN" --pcap "$TMP/b1.pcap" --format lines --count 600 --producers 3 --events-per-packet 3 \
	--producer-id 2000 --dst-port 5140 --quiet --summary "$TMP/b1.json"
"$GEN" --pcap "$TMP/b2.pcap" --format raw --count 50 --dst-port 7777 --quiet \
	--summary /dev/null
python3 - "$TMP/b.pcap" "$TMP/b1.pcap" "$TMP/b2.pcap" <<'PY'
import sys
out = open(sys.argv[1], "wb")
for i, f in enumerate(sys.argv[2:]):
    data = open(f, "rb").read()
    out.write(data if i == 0 else data[24:])  # one global header
PY
CORRUPT_PKTS=$(python3 -c "import json; print(json.load(open('$TMP/a.json'))['impairments']['corrupt']['packets'])")
CORRUPT_EVENTS=$(python3 -c "import json; print(json.load(open('$TMP/a.json'))['impairments']['corrupt']['events'])")
[ "$CORRUPT_PKTS" -gt 0 ] || fail "generator corrupted nothing"
EXPECT=$((10000 - CORRUPT_EVENTS + 1800))

cat >"$TMP/sluiced.ini" <<EOF
# written by sluiced_e2e.sh
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
[port.p1]
device = net_pcap1
args = rx_pcap=$TMP/b.pcap
promiscuous = true
[topic.events]
partitions = $PARTS
segment_bytes = 1M
flush_bytes = 64K
[listener.batches]
port = p0
udp_port = 9000
format = kafka
[listener.syslog]
port = p1
udp_port = 5140
format = lines
key = source_addr
[kafka]
brokers = $BOOTSTRAP
[control]
socket = $TMP/ctl.sock
metrics_listen = 127.0.0.1:0
[dataplane]
mbufs = 8191
batch_buffers = 128
batch_bytes = 64K
# net_pcap replays as fast as it is polled: waiting for the writers loses nothing, where the
# default (drop) sheds when 300 explicit-partition batches, one buffer each, outrun them.
backpressure = block
EOF

# sent LOG.json PCAP...: the log against what the pcaps carried (sluiced_check.py sent)
sent() {
	local log=$1 f
	shift
	local args=(--listen p0:9000=kafka --listen p1:5140=lines:source_addr)
	for f in "$@"; do args+=(--pcap "$f"); done
	python3 "$CHECK" sent "$log" $PARTS "$SINCE_MS" "${args[@]}"
}

echo "== run 1: $EXPECT events expected"
SINCE_MS=$(date +%s%3N)
sluiced_start "$TMP/sluiced.ini"
wait_stat persisted "$EXPECT"
wait_stat forwarded "$EXPECT"
ctl -j stats >"$TMP/stats1.json"
python3 - "$TMP/stats1.json" "$CORRUPT_PKTS" "$CORRUPT_EVENTS" <<'PY' || fail "run 1 counters"
import json, sys
s = json.load(open(sys.argv[1])); cp = int(sys.argv[2]); ce = int(sys.argv[3])
def eq(name, got, want):
    if got != want:
        sys.exit(f"{name}: {got}, expected {want}")
eq("nic_received", s["nic_received"], 2000 + 600 + 50)
eq("rx_packets", s["rx_packets"], 2650)
eq("rejected.udp_checksum", s["rejected"].get("udp_checksum", 0), cp)
eq("rejected.no_listener", s["rejected"].get("no_listener", 0), 50)
eq("datagrams", s["datagrams"], 2000 - cp + 600)
eq("events_decoded", s["events_decoded"], 10000 - ce + 1800)
eq("shed", sum(s["shed"].values()), 0)
eq("pending", s["pending"], 0)
eq("unaccounted", s["unaccounted"], 0)
PY
ctl health >/dev/null || fail "unhealthy while running: $(ctl health)"
curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" >"$TMP/metrics.txt" || fail "GET /metrics"
promtool check metrics <"$TMP/metrics.txt" >"$TMP/promtool.out" 2>&1 ||
	fail "promtool check metrics: $(cat "$TMP/promtool.out")"
grep -q '^sluice_unaccounted_events 0$' "$TMP/metrics.txt" || fail "metrics: unaccounted not 0"
grep -q "^sluice_accounting_events{stage=\"persisted\"} $EXPECT\$" "$TMP/metrics.txt" ||
	fail "metrics: persisted stage is not $EXPECT: $(grep accounting_events "$TMP/metrics.txt")"
curl -sf "http://127.0.0.1:$METRICS_PORT/health" >/dev/null || fail "GET /health not 200"
ctl config set dataplane.linger 200us >/dev/null || fail "config set"
[ "$(ctl config get dataplane.linger)" = 200us ] || fail "config get after set: $(ctl config get dataplane.linger)"
ctl config set storage.writers 2 >/dev/null 2>&1 && fail "non-runtime key accepted"
ctl config set dataplane.batch_bytes 1M >/dev/null 2>&1 && fail "batch larger than its buffers accepted"
[ "$(ctl config get dataplane.batch_bytes)" = 64K ] || fail "refused batch_bytes changed the value"
ctl config set dataplane.batch_bytes 32K >/dev/null || fail "smaller batch_bytes refused"

sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "sluiced exited $STOP_STATUS after SIGTERM"
grep -q 'unaccounted 0' "$TMP/sluiced.err" || fail "no balanced accounting line at shutdown"
for p in $(seq 0 $((PARTS - 1))); do
	[ -e "$TMP/data/events-$p/clean-shutdown" ] || fail "events-$p: no clean-shutdown marker"
done
python3 "$CHECK" log "$TMP/data" events $PARTS >"$TMP/log1.json" || fail "log check"
python3 "$CHECK" kafka "$BOOTSTRAP" events >"$TMP/kafka1.json" || fail "kafka check"
python3 "$CHECK" same "$TMP/log1.json" "$TMP/kafka1.json" || fail "log and Kafka differ"
sent "$TMP/log1.json" "p0:$TMP/a.pcap" "p1:$TMP/b.pcap" >"$TMP/sent1.json" ||
	fail "the log is not what the generator sent"
# A corrupted packet is a sequence gap for its producer unless it was that producer's last
# (reorder_window 0: docs/wire-formats.md); the checker counts the gaps in the pcap itself.
python3 - "$TMP/sent1.json" "$TMP/stats1.json" "$CORRUPT_PKTS" <<'PY' || fail "run 1: sent vs counters"
import json, sys
sent = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
want = {"records": s["persisted"], "datagrams": s["datagrams"], "rejected_checksum":
        int(sys.argv[3]), "no_listener": s["rejected"].get("no_listener", 0),
        "producer_lost": s["producer_lost"]}
if sent != want:
    sys.exit(f"from the pcaps {sent}, sluiced counted {want}")
if sent["producer_lost"] == 0:
    sys.exit("no corrupted packet made a gap: the test does not exercise loss counting")
PY
TOTAL=$(python3 -c "import json; print(sum(v['records'] for v in json.load(open('$TMP/log1.json')).values()))")
[ "$TOTAL" = "$EXPECT" ] || fail "log holds $TOTAL records, expected $EXPECT"
[ "$(dump_count "$TMP/data" events $PARTS)" = "$EXPECT" ] || fail "sluice-dump disagrees"

echo "== run 2: restart after a clean shutdown, offsets continue"
# Explicit partitions this time: each batch must be stored exactly as it was sent. 20 more
# batches crafted by the checker carry what sluice-gen does not: binary and null keys, null
# values, record headers (empty and null values), timestamps out of order.
"$GEN" --pcap "$TMP/c1.pcap" --format kafka --count 300 --producers 2 --producer-id 3000 \
	--partitions $PARTS --events-per-packet 4 --dst-port 9000 --quiet --summary /dev/null
CRAFTED=$(python3 "$CHECK" craft "$TMP/c2.pcap" 9000 $PARTS 20)
[ "$CRAFTED" = 60 ] || fail "crafted $CRAFTED records, expected 60"
python3 - "$TMP/c.pcap" "$TMP/c1.pcap" "$TMP/c2.pcap" <<'PY'
import sys
out = open(sys.argv[1], "wb")
for i, f in enumerate(sys.argv[2:]):
    data = open(f, "rb").read()
    out.write(data if i == 0 else data[24:])  # one global header
PY
"$GEN" --pcap "$TMP/e.pcap" --format lines --count 10 --events-per-packet 3 --dst-port 5140 \
	--producer-id 4000 --quiet --summary /dev/null
# A long linger keeps batches open: flush must seal them and make them durable.
sluiced_start "$TMP/sluiced.ini" --set "port.p0.args=rx_pcap=$TMP/c.pcap" \
	--set "port.p1.args=rx_pcap=$TMP/e.pcap" --set dataplane.linger=1s
wait_stat parsed 1290
ctl flush >/dev/null || fail "flush"
[ "$(stat persisted)" = 1290 ] || fail "after flush only $(stat persisted) of 1290 persisted"
[ "$(stat open)" = 0 ] || fail "after flush $(stat open) events still in open batches"
wait_stat forwarded 1290
[ "$(stat unaccounted)" = 0 ] || fail "run 2 unaccounted"

echo "== run 3: SIGKILL, restart, recovery"
sluiced_stop KILL
[ -e "$TMP/data/events-0/clean-shutdown" ] && fail "clean-shutdown marker survived SIGKILL"
# 40 events per port, each to that port's own listener (a listener hears only its port).
"$GEN" --pcap "$TMP/f.pcap" --format lines --count 20 --events-per-packet 2 --dst-port 5140 \
	--producer-id 5000 --quiet --summary /dev/null
"$GEN" --pcap "$TMP/g.pcap" --format kafka --count 20 --events-per-packet 2 --dst-port 9000 \
	--producer-id 6000 --keys 16 --quiet --summary /dev/null
sluiced_start "$TMP/sluiced.ini" --set "port.p0.args=rx_pcap=$TMP/g.pcap" \
	--set "port.p1.args=rx_pcap=$TMP/f.pcap"
wait_stat persisted 80
# Whatever was durable before the kill is forwarded now, exactly once.
END=$(ctl -j partitions | python3 -c "import json,sys; print(sum(p['durable_offset'] for p in json.load(sys.stdin)['partitions']))")
for i in $(seq 300); do
	FWD=$(ctl -j partitions | python3 -c "import json,sys; print(sum(p['forwarded_offset'] for p in json.load(sys.stdin)['partitions']))")
	[ "$FWD" = "$END" ] && break
	sleep 0.1
done
[ "$FWD" = "$END" ] || fail "forwarded offsets $FWD, durable $END"
sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "sluiced exited $STOP_STATUS after SIGTERM (run 3)"
python3 "$CHECK" log "$TMP/data" events $PARTS >"$TMP/log3.json" || fail "log check after recovery"
python3 "$CHECK" kafka "$BOOTSTRAP" events >"$TMP/kafka3.json" || fail "kafka check after recovery"
python3 "$CHECK" same "$TMP/log3.json" "$TMP/kafka3.json" || fail "log and Kafka differ after recovery"
sent "$TMP/log3.json" "p0:$TMP/a.pcap" "p1:$TMP/b.pcap" "p0:$TMP/c.pcap" "p1:$TMP/e.pcap" \
	"p0:$TMP/g.pcap" "p1:$TMP/f.pcap" >/dev/null || fail "the log after 3 runs is not what was sent"
TOTAL=$(python3 -c "import json; print(sum(v['records'] for v in json.load(open('$TMP/log3.json')).values()))")
[ "$TOTAL" = "$((EXPECT + 1290 + 80))" ] || fail "log holds $TOTAL records, expected $((EXPECT + 1290 + 80))"
[ "$(dump_count "$TMP/data" events $PARTS)" = "$TOTAL" ] || fail "sluice-dump disagrees after recovery"
[ -d "/var/run/dpdk/$PREFIX" ] && fail "sluiced left /var/run/dpdk/$PREFIX behind"

echo "== run 4: kafka.brokers = embedded"
# A fresh cluster: it does not know the producer id of the session file (a new session) and
# holds nothing of ours from offset 0, so the whole log is forwarded again
# (docs/forwarding.md), exactly once, byte for byte, and nothing stays pending.
sluiced_start "$TMP/sluiced.ini" --set kafka.brokers=embedded \
	--set "port.p0.args=rx_pcap=$TMP/g.pcap" --set "port.p1.args=rx_pcap=$TMP/f.pcap"
EMBEDDED=$(awk '/embedded Kafka bootstrap/ {print $NF}' "$TMP/sluiced.out")
[ -n "$EMBEDDED" ] || fail "no embedded bootstrap printed"
TOTAL=$((TOTAL + 80))
wait_stat persisted 80
wait_stat pending 0
python3 "$CHECK" log "$TMP/data" events $PARTS >"$TMP/log4.json" || fail "log check (run 4)"
python3 "$CHECK" kafka "$EMBEDDED" events >"$TMP/kafka4.json" || fail "kafka check (embedded)"
python3 "$CHECK" same "$TMP/log4.json" "$TMP/kafka4.json" ||
	fail "the embedded Kafka does not hold the whole log exactly once"
[ "$(stat forwarded)" = "$TOTAL" ] || fail "forwarded $(stat forwarded), Kafka holds $TOTAL"
sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "sluiced exited $STOP_STATUS after SIGTERM (run 4)"
echo "PASS: $TOTAL events in the log and in Kafka, offsets continuous across 4 runs"
