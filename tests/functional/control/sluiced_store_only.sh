#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Without kafka.brokers sluiced stores and does not forward, and says so everywhere: the start
# log, sluicectl status (text and --json), /metrics (sluice_forwarder_state and _mode), DPDK
# telemetry; /health raises no forward-lag alarm even with the tightest thresholds. Retention
# then applies by size alone (it used to wait for a forwarder that never came: 1M kept 13 MB).
# Two listeners share UDP port 5140 on two net_pcap ports and each topic gets exactly its
# port's events.
. "$(dirname "$0")/sluiced_lib.sh"

# Port p0: 60 000 lines of 100 bytes (about 6.6 MB stored); port p1: 2 000 lines.
"$GEN" --pcap "$TMP/a.pcap" --format lines --count 6000 --events-per-packet 10 --event-size 100 \
	--dst-port 5140 --quiet --summary /dev/null || fail "sluice-gen a"
"$GEN" --pcap "$TMP/b.pcap" --format lines --count 400 --events-per-packet 5 --event-size 50 \
	--dst-port 5140 --quiet --summary /dev/null || fail "sluice-gen b"
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
[port.p1]
device = net_pcap1
args = rx_pcap=$TMP/b.pcap
promiscuous = true
[topic.a]
partitions = 1
segment_bytes = 1M
flush_bytes = 256K
retention_bytes = 1M
[topic.b]
partitions = 1
[listener.la]
port = p0
udp_port = 5140
format = lines
topic = a
[listener.lb]
port = p1
udp_port = 5140
format = lines
topic = b
[control]
socket = $TMP/ctl.sock
metrics_listen = 127.0.0.1:0
health_max_forward_lag_events = 1
health_max_forward_lag = 1ms
[dataplane]
mbufs = 8191
batch_buffers = 128
batch_bytes = 64K
# a loaded machine's writer may fall behind the pcap: wait for it, shed nothing
backpressure = block
INI
"$SLUICED" --check-config "$TMP/sluiced.ini" >/dev/null || fail "--check-config refused"
sluiced_start "$TMP/sluiced.ini"
grep -q 'forwarding: off (no kafka.brokers configured)' "$TMP/sluiced.err" ||
	fail "no forwarding-off line at start"
grep -q 'running: .*forwarding off' "$TMP/sluiced.err" || fail "running line lacks forwarding off"
wait_stat persisted 62000 60
parts() { # topic field -> value from `sluicectl partitions --json`
	ctl -j partitions | python3 -c "import json,sys
print([p for p in json.load(sys.stdin)['partitions'] if p['topic'] == '$1'][0]['$2'])"
}
[ "$(parts a appended)" = 60000 ] || fail "topic a got $(parts a appended) events, expected 60000"
[ "$(parts b appended)" = 2000 ] || fail "topic b got $(parts b appended) events, expected 2000"

echo "== forwarding off, visible everywhere"
ctl -j status | python3 -c 'import json,sys
s = json.load(sys.stdin)
assert s["forwarding"] == "off", s["forwarding"]
assert s["forwarder"] == {"state": "off"}, s["forwarder"]
assert s["warnings"] == [] and s["alarms"] == [] and s["healthy"] is True, s' ||
	fail "status --json: $(ctl -j status)"
ctl status | grep -qE '^forwarding +off$' || fail "status text: $(ctl status)"
curl -sf --max-time 30 "http://127.0.0.1:$METRICS_PORT/metrics" >"$TMP/m" || fail "scrape"
grep -q '^sluice_forwarder_state{state="off"} 1$' "$TMP/m" || fail "metrics: $(grep forwarder_state "$TMP/m")"
grep -q '^sluice_forwarder_state{state="running"} 0$' "$TMP/m" || fail "metrics: running not 0"
grep -q '^sluice_forwarder_mode{mode="off"} 1$' "$TMP/m" || fail "metrics: $(grep forwarder_mode "$TMP/m")"
if TEL=$(command -v dpdk-telemetry.py); then
	printf '/sluice/status\n' | timeout 30 python3 "$TEL" -f "$PREFIX" >"$TMP/tel" 2>&1 ||
		fail "telemetry: $(cat "$TMP/tel")"
	python3 -c 'import json,sys
s = json.loads(open(sys.argv[1]).read())["/sluice/status"]
assert s["forwarding"] == "off" and s["forwarder/state"] == "off", s' "$TMP/tel" ||
		fail "telemetry status: $(cat "$TMP/tel")"
fi
# Every record is unforwarded and older than 1 ms: with forwarding off that is no alarm.
sleep 0.1
code=$(curl -s --max-time 30 -o "$TMP/health" -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/health")
[ "$code" = 200 ] || fail "/health $code with forwarding off: $(cat "$TMP/health")"
ctl forwarder pause >/dev/null 2>"$TMP/err" && fail "forwarder pause accepted with forwarding off"
grep -q 'forwarding is off' "$TMP/err" || fail "pause: $(cat "$TMP/err")"

echo "== retention by size alone"
for i in $(seq 300); do
	[ "$(parts a bytes)" -le $((2 * 1024 * 1024)) ] && break
	sleep 0.1
done
bytes=$(parts a bytes)
[ "$bytes" -le $((2 * 1024 * 1024)) ] || fail "topic a holds $bytes bytes with retention_bytes = 1M"
[ "$bytes" -ge $((1024 * 1024)) ] || fail "topic a holds $bytes bytes: retention went below 1M"
[ "$(parts a log_start_offset)" -gt 0 ] || fail "topic a: nothing deleted"
[ "$(parts b log_start_offset)" = 0 ] || fail "topic b (no retention_bytes) lost its start"
grep -q '^sluice_partition_retention_dropped_records_total{topic="a",partition="0"} 0$' "$TMP/m" ||
	fail "retention counted store-only records as dropped"
sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "exit $STOP_STATUS"
# What is left is a valid log that starts where retention cut it.
python3 "$CHECK" log "$TMP/data" a 1 >"$TMP/loga.json" || fail "log a check"
python3 - "$TMP/loga.json" <<'PY' || fail "log a: $(cat "$TMP/loga.json")"
import json, sys
p = json.load(open(sys.argv[1]))["0"]
assert p["end"] == 60000 and 0 < p["first"] and p["records"] == 60000 - p["first"], p
PY
echo PASS
