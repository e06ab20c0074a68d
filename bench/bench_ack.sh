#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Acknowledged mode vs fire-and-forget at the same offered load: libsluice producers
# (sluice-send) in a network namespace send `kafka` batches over the kernel's UDP path to
# sluiced on net_tap (store only, forwarding off). Each mode runs on a fresh sluiced; the
# producers pace themselves to the same total event rate. Reports, per mode: events/s
# persisted (over the producers' run, which in acknowledged mode includes waiting for the last
# ack), retransmissions, the producers' ack latency (send -> durable ack, p50/p99 from
# power-of-two microsecond buckets) next to the writer's ingest -> durable latency (the
# sluice_log_ingest_to_durable_seconds histogram, same buckets). Raw JSON to --out.
#
#   bench/bench_ack.sh [--quick] [--build DIR] [--out FILE] [--producers N] [--eps N]
#                      [--events N]
#
# --quick: 2 producers, 20k events/s in all, 20k events each (a smoke test on a shared
# machine; its numbers mean little). It reports; it never asserts a number. Exit 0 when the
# run completed (every acknowledged producer got every event acknowledged), 1 otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SLUICE_SOURCE_ROOT=${SLUICE_SOURCE_ROOT:-$(cd "$here/.." && pwd)}
out=""
P=4
EPS=100000
EV=200000
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) P=2 EPS=20000 EV=20000 ;;
	--build) export SLUICE_BUILD_ROOT=$2; shift ;;
	--out) out=$2; shift ;;
	--producers) P=$2; shift ;;
	--eps) EPS=$2; shift ;;
	--events) EV=$2; shift ;;
	*) echo "bench_ack: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
. "$SLUICE_SOURCE_ROOT/tests/functional/control/sluiced_lib.sh"
[ -e /dev/net/tun ] || { echo "bench_ack: no /dev/net/tun"; exit 77; }
SEND=$BUILD/tools/sluice-send
NS=sluicebench$$
TAP=sbench$$
PIDS=()
bench_cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	ip netns del "$NS" 2>/dev/null || true
	cleanup
}
trap bench_cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up

run_mode() { # MODE (ack|noack) -> $TMP/<mode>.json
	local mode=$1 i t0 t1 flag=() data="$TMP/data-$1"
	[ "$mode" = noack ] && flag=(--no-ack)
	cat >"$TMP/sluiced.ini" <<EOF2
[eal]
memory = no-huge
memory_mb = 512
file_prefix = $PREFIX
[storage]
data_dir = $data
[port.p0]
device = net_tap0
args = iface=$TAP,mac=fixed
ipv4 = 10.214.0.2
[topic.events]
partitions = $P
segment_bytes = 64M
[listener.in]
udp_port = 5199
format = kafka
[kafka]
enabled = false
[control]
socket = $TMP/ctl.sock
metrics_listen = 127.0.0.1:0
[dataplane]
mbufs = 16383
batch_buffers = 1024
EOF2
	sluiced_start "$TMP/sluiced.ini"
	ip link set "$TAP" netns "$NS"
	ip -n "$NS" addr add 10.214.0.1/24 dev "$TAP"
	ip -n "$NS" link set "$TAP" up
	for i in $(seq "$P"); do
		seq 1 "$EV" | sed "s/^/bench-$i-event-padding-to-about-64-bytes-of-value-/" >"$TMP/lines.$i"
	done
	t0=$(date +%s.%N)
	for i in $(seq "$P"); do
		ip netns exec "$NS" "$SEND" --summary -t 60000 --rate $((EPS / P)) "${flag[@]}" \
			-P $((i - 1)) 10.214.0.2 5199 <"$TMP/lines.$i" 2>"$TMP/send.$mode.$i" &
		PIDS+=($!)
	done
	local rc=0
	for p in "${PIDS[@]}"; do wait "$p" || rc=1; done
	PIDS=()
	t1=$(date +%s.%N)
	sleep 1 # what fire-and-forget sent is stored by now (or lost)
	ctl -j stats >"$TMP/stats.$mode.json"
	curl -sf --max-time 30 "http://127.0.0.1:$METRICS_PORT/metrics" >"$TMP/metrics.$mode" || true
	sluiced_stop TERM
	rm -rf "$data"
	python3 - "$mode" "$P" "$EV" "$EPS" "$t0" "$t1" "$rc" "$TMP" <<'PY' >"$TMP/$mode.json"
import json, sys
mode, P, EV, EPS, t0, t1, rc, tmp = sys.argv[1:]
P, EV, EPS, rc = int(P), int(EV), int(EPS), int(rc)
secs = float(t1) - float(t0)
st = json.load(open(f"{tmp}/stats.{mode}.json"))
sends = []
for i in range(1, P + 1):
    lines = open(f"{tmp}/send.{mode}.{i}").read().strip().splitlines()
    sends.append(json.loads(lines[-1]))
def pct(hist, q):  # upper bound (us) of the bucket holding quantile q; bucket i: <= 2^i us
    n = sum(hist)
    if not n:
        return None
    acc = 0
    for i, c in enumerate(hist):
        acc += c
        if acc >= q * n:
            return 2 ** i
hist = [sum(s["ack_latency_hist_log2_us"][i] for s in sends) for i in range(24)]
# writer: Prometheus cumulative buckets of sluice_log_ingest_to_durable_seconds, summed
wb = {}
for l in open(f"{tmp}/metrics.{mode}") if mode else []:
    if l.startswith("sluice_log_ingest_to_durable_seconds_bucket"):
        le = l.split('le="')[1].split('"')[0]
        wb[le] = wb.get(le, 0) + float(l.split()[-1])
les = sorted((float(k), v) for k, v in wb.items() if k != "+Inf")
def wpct(q):
    if not les or not les[-1][1]:
        return None
    tot = wb.get("+Inf", les[-1][1])
    for le, c in les:
        if c >= q * tot:
            return round(le * 1e6)
print(json.dumps({
    "mode": mode, "producers": P, "events_per_producer": EV, "offered_events_per_s": EPS,
    "seconds": round(secs, 3), "persisted": st["persisted"],
    "persisted_events_per_s": round(st["persisted"] / secs),
    "lost_events": P * EV - st["persisted"],
    "producers_ok": rc == 0,
    "events_acked": sum(s["events_acked"] for s in sends),
    "datagrams": sum(s["datagrams"] for s in sends),
    "retransmits": sum(s["retransmits"] for s in sends),
    "acks": sum(s["acks"] for s in sends),
    "acks_sent": st.get("acks_sent"), "ack_duplicates": st.get("ack_duplicates"),
    "ack_latency_p50_us": pct(hist, 0.5), "ack_latency_p99_us": pct(hist, 0.99),
    "writer_ingest_durable_p50_us": wpct(0.5), "writer_ingest_durable_p99_us": wpct(0.99),
    "ack_latency_hist_log2_us": hist,
}))
PY
	cat "$TMP/$mode.json"
	return "$rc"
}

ok=0
run_mode noack || true
run_mode ack || ok=1
python3 - "$TMP/noack.json" "$TMP/ack.json" <<'PY' >"$TMP/result.json"
import json, platform, os, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
print(json.dumps({"host": {"cpus": os.cpu_count(), "kernel": platform.release()},
                  "noack": a, "ack": b,
                  "ack_vs_noack_events_per_s": round(b["persisted_events_per_s"] /
                                                     max(a["persisted_events_per_s"], 1), 3)},
                 indent=1))
PY
cat "$TMP/result.json"
[ -z "$out" ] || cp "$TMP/result.json" "$out"
exit $ok
