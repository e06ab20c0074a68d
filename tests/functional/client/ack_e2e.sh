#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Acknowledged mode end to end through a lossy, reordering, duplicating path.
#
#   producers (sluice-send, libsluice) ─▶ udp_impair.py ─▶ veth-less tap ─▶ sluiced (net_tap)
#   in a network namespace this test creates                               ─▶ log ─▶ kafka_mock
#
# The kernel lacks sch_netem, so udp_impair.py impairs both directions in user space (5 %
# loss, 2 % duplicates, 5 % reordered). N producers send M distinct lines each with --ack;
# each must report every line acknowledged (exit 0), and afterwards the log and Kafka (read
# independently: sluiced_check.py, fwd_check.py with kcat) hold every line exactly once.
#
#   ack_e2e.sh [kill]   kill: kill -9 sluiced while the producers send, restart it; the
#                       producers retransmit and the content is still exactly once.
. "$(dirname "$0")/../control/sluiced_lib.sh"
command -v kcat >/dev/null || { echo "kcat missing"; exit 77; }
[ -e /dev/net/tun ] || { echo "no /dev/net/tun"; exit 77; }
ip netns add "sluicetest-probe-$$" 2>/dev/null || { echo "cannot create network namespaces"; exit 77; }
ip netns del "sluicetest-probe-$$"

MODE=${1:-plain}
N=${ACK_PRODUCERS:-4}
M=${ACK_EVENTS:-3000}
PARTS=2
SEND=$BUILD/tools/sluice-send
IMPAIR=$(dirname "$0")/udp_impair.py
NS=sluiceack$$
TAP=sack$$
IMPAIR_PID=
PIDS=()

ack_cleanup() {
	for p in "${PIDS[@]}" $IMPAIR_PID; do
		kill "$p" 2>/dev/null || true
	done
	ip netns del "$NS" 2>/dev/null || true
	cleanup
}
trap ack_cleanup EXIT

mock_start events:$PARTS
cat >"$TMP/sluiced.ini" <<EOF2
[eal]
memory = no-huge
memory_mb = 256
file_prefix = $PREFIX
[storage]
data_dir = $TMP/data
[port.p0]
device = net_tap0
args = iface=$TAP,mac=fixed
ipv4 = 10.213.0.2
[topic.events]
partitions = $PARTS
segment_bytes = 1M
flush_bytes = 64K
[listener.in]
udp_port = 5199
format = kafka
[kafka]
brokers = $BOOTSTRAP
[control]
socket = $TMP/ctl.sock
metrics = false
[dataplane]
mbufs = 4095
batch_buffers = 256
EOF2

# The tap sluiced creates goes into the namespace, with the producers' side of the subnet.
start_appliance() {
	sluiced_start "$TMP/sluiced.ini"
	ip link set "$TAP" netns "$NS" || fail "move $TAP into $NS"
	ip -n "$NS" addr add 10.213.0.1/24 dev "$TAP"
	ip -n "$NS" link set "$TAP" up
}

ip netns add "$NS" || fail "netns"
ip -n "$NS" link set lo up
start_appliance
ip netns exec "$NS" python3 "$IMPAIR" 6000 10.213.0.2 5199 --seed $$ --stats "$TMP/impair.json" \
	>"$TMP/impair.out" 2>&1 &
IMPAIR_PID=$!
for i in $(seq 50); do grep -q ready "$TMP/impair.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$TMP/impair.out" || fail "impairer did not start: $(cat "$TMP/impair.out")"

RATE=()
[ "$MODE" = kill ] && RATE=(--rate 2000) # about 1.5 s of sending: the kill lands mid-run
for i in $(seq "$N"); do
	seq 1 "$M" | sed "s/^/producer-$i-event-/" >"$TMP/lines.$i"
	ip netns exec "$NS" "$SEND" --summary -t 90000 "${RATE[@]}" -P $((i % PARTS)) 127.0.0.1 6000 \
		<"$TMP/lines.$i" 2>"$TMP/send.$i" &
	PIDS+=($!)
done

if [ "$MODE" = kill ]; then
	# mid-run: some lines durable and acknowledged, some in flight, some not sent yet
	for i in $(seq 100); do
		[ "$(stat persisted 2>/dev/null || echo 0)" -gt $((N * M / 4)) ] && break
		sleep 0.05
	done
	BEFORE=$(stat persisted)
	sluiced_stop KILL
	rm -rf "/var/run/dpdk/${PREFIX:?}"
	echo "killed sluiced with $BEFORE of $((N * M)) events persisted"
	[ "$BEFORE" -lt $((N * M)) ] || fail "the kill came after everything was stored"
	sleep 0.5
	start_appliance
fi

rc=0
for i in $(seq "$N"); do
	wait "${PIDS[$((i - 1))]}" || { rc=1; echo "producer $i failed: $(cat "$TMP/send.$i")" >&2; }
done
PIDS=()
for i in $(seq "$N"); do
	python3 - "$TMP/send.$i" "$M" <<'PY' || fail "producer $i: $(cat "$TMP/send.$i")"
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
m = int(sys.argv[2])
assert s["events"] == m and s["events_acked"] == m and s["inflight_events"] == 0, s
assert s["acks_malformed"] == 0, s
print("producer:", s)
PY
done
[ "$rc" = 0 ] || fail "a producer did not get every event acknowledged"
kill "$IMPAIR_PID"
wait "$IMPAIR_PID" 2>/dev/null || true
IMPAIR_PID=
echo "impairer: $(cat "$TMP/impair.json")"
ctl -j stats >"$TMP/stats.json"
python3 - "$TMP/stats.json" "$MODE" <<'PY' || fail "appliance counters: $(cat "$TMP/stats.json")"
import json, sys
s = json.load(open(sys.argv[1]))
print("appliance:", {k: v for k, v in s.items() if k.startswith("ack") or k in
      ("persisted", "parsed", "unaccounted", "producer_duplicates")})
assert s["unaccounted"] == 0, s["unaccounted"]
assert s["ack_batches"] > 0 and s["acks_sent"] > 0, s
if sys.argv[2] == "kill":
    assert s["ack_recovered"] > 0, "no producer stream resumed from the log's tail"
PY
wait_stat pending 0 60
sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "sluiced exited $STOP_STATUS"

# The log, read independently: every line exactly once.
python3 "$CHECK" log "$TMP/data" events $PARTS >"$TMP/log.json" || fail "log check"
python3 - "$TMP/log.json" "$N" "$M" <<'PY' || fail "the log does not hold every line exactly once"
import collections, json, sys
log = json.load(open(sys.argv[1]))
n, m = int(sys.argv[2]), int(sys.argv[3])
seen = collections.Counter()
for p in log.values():
    for rec in p["recs"].values():
        seen[bytes.fromhex(rec[2]).decode()] += 1
want = {f"producer-{i}-event-{j}" for i in range(1, n + 1) for j in range(1, m + 1)}
dups = [v for v, c in seen.items() if c > 1]
missing = want - set(seen)
extra = set(seen) - want
print(f"log: {sum(seen.values())} records, {len(dups)} duplicated, {len(missing)} missing, "
      f"{len(extra)} unexpected")
assert not dups and not missing and not extra, (dups[:5], sorted(missing)[:5], sorted(extra)[:5])
PY
# Kafka holds exactly the log (kcat, by content, offsets from 0 without gaps).
python3 "$FWDCHECK" -b "$BOOTSTRAP" -t events -d "$TMP/data" -P $PARTS --min $((N * M)) ||
	fail "Kafka does not hold the log exactly once"
echo "PASS: $N producers x $M events, acknowledged, exactly once in the log and Kafka ($MODE)"
