#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sluice-gen --ack over memif into sluiced: the DPDK generator shares libsluice's window
# (client/window.c). It drops 5 % and duplicates 2 % of what it sends (after the window, so
# drops are retransmitted); it must see every event acknowledged, and the log must hold every
# event exactly once (per partition, by content), with duplicates dropped and counted.
. "$(dirname "$0")/../control/sluiced_lib.sh"
GEN_PREFIX=sluice-ackgen-$$
GEN_PID=
gen_cleanup() {
	[ -z "$GEN_PID" ] || kill "$GEN_PID" 2>/dev/null || true
	rm -rf "/var/run/dpdk/$GEN_PREFIX"
	cleanup
}
trap gen_cleanup EXIT
PARTS=2
PRODUCERS=4
COUNT=${ACK_GEN_COUNT:-2000}
EPP=10
cat >"$TMP/sluiced.ini" <<EOF2
[eal]
memory = no-huge
memory_mb = 256
file_prefix = $PREFIX
[storage]
data_dir = $TMP/data
[port.p0]
device = net_memif0
args = role=server,socket=$TMP/memif.sock,socket-abstract=no
promiscuous = true
link_wait = 0
[topic.events]
partitions = $PARTS
segment_bytes = 1M
flush_bytes = 64K
[listener.in]
udp_port = 5199
format = kafka
[kafka]
enabled = false
[control]
socket = $TMP/ctl.sock
metrics = false
[dataplane]
mbufs = 8191
batch_buffers = 256
EOF2
sluiced_start "$TMP/sluiced.ini"
"$GEN" --vdev "net_memif0,role=client,socket=$TMP/memif.sock,socket-abstract=no" \
	--lcores 0@0 --file-prefix "$GEN_PREFIX" --format kafka --ack --partitions $PARTS \
	--producers $PRODUCERS --events-per-packet $EPP --event-size 40 --dst-port 5199 \
	--pps 4000 --count "$COUNT" --drop 0.05 --dup 0.02 --link-wait-ms 15000 --linger-ms 100 \
	--quiet --summary "$TMP/gen.json" 2>"$TMP/gen.err" &
GEN_PID=$!
wait "$GEN_PID" || fail "sluice-gen --ack: exit $?: $(cat "$TMP/gen.err")"
GEN_PID=
python3 - "$TMP/gen.json" $((COUNT * EPP)) <<'PY' || fail "sluice-gen summary: $(cat "$TMP/gen.json")"
import json, sys
a = json.load(open(sys.argv[1]))["run"]["ack"]
want = int(sys.argv[2])
print("sluice-gen --ack:", {k: v for k, v in a.items() if k != "ack_latency_hist_log2_us"})
assert a["events_acked"] == want and a["unacked_events"] == 0 and not a["timed_out"], a
assert a["impair_dropped"] > 0 and a["retransmits"] > 0, a
assert a["acks_malformed"] == 0, a
PY
ctl -j stats >"$TMP/stats.json"
python3 - "$TMP/stats.json" $((COUNT * EPP)) <<'PY' || fail "appliance: $(cat "$TMP/stats.json")"
import json, sys
s = json.load(open(sys.argv[1]))
print("appliance:", {k: v for k, v in s.items() if k.startswith("ack") or k == "persisted"})
assert s["ack_events"] == int(sys.argv[2]) and s["unaccounted"] == 0, s
assert s["ack_duplicates"] > 0, "the duplicated datagrams were not dropped as duplicates"
PY
sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "sluiced exited $STOP_STATUS"
python3 "$CHECK" log "$TMP/data" events $PARTS >"$TMP/log.json" || fail "log check"
python3 - "$TMP/log.json" $((COUNT * EPP)) <<'PY' || fail "the log does not hold every event exactly once"
import collections, json, sys
log = json.load(open(sys.argv[1]))
total = 0
for p, part in log.items():
    c = collections.Counter(rec[2] for rec in part["recs"].values())
    dups = [v for v, n in c.items() if n > 1]
    assert not dups, f"partition {p}: {len(dups)} values stored twice"
    total += sum(c.values())
print(f"log: {total} records, every value once per partition")
assert total == int(sys.argv[2]), total
PY
echo "PASS: sluice-gen --ack, $((COUNT * EPP)) events acknowledged, exactly once"
