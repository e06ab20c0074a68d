#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Issue 16's scenario: do segment rolls make sluiced shed? sluice-gen sends packed `kafka`
# datagrams (20 events of 50 B, explicit partitions rotating over all of them) over memif at a
# fixed event rate into sluiced, which stores only (forwarding off, backpressure = drop) into
# many partitions with small segments, so that every partition rolls often and they roll at
# about the same time. Reports events sent, persisted and shed, the sheds by reason
# (ring_full, pool_empty, ...) and by storage cause (segment_roll, device, writer_busy), the
# writers' own sheds (disk_full, failed, invalid), rolls, writer stalls; raw JSON to --out.
# The goal is 0 shed at rolls (cause segment_roll).
#
#   bench/bench_roll_shed.sh [--quick] [--build DIR] [--out FILE] [--data-dir DIR]
#       [--seconds N] [--eps N] [--partitions N] [--segment SIZE] [--queue-depth N]
#       [--writers N] [--workers N] [--set KEY=VALUE]...
#
# Defaults are the issue's: 1M events/s for 20 s into 16 partitions, segment_bytes = 4M.
# --quick: 2 s at 100k events/s (a smoke test on a shared machine; its numbers mean nothing).
# It reports; it never asserts a number. Exit 0 when the run completed, 1 when it did not.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build="${SLUICE_BUILD_ROOT:-}"
out=""
data_dir=""
secs=20
eps=1M
parts=16
segment=4M
qd=""
writers=1
workers=1
sets=()
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) secs=2 eps=100k ;;
	--build) build=$2; shift ;;
	--out) out=$2; shift ;;
	--data-dir) data_dir=$2; shift ;;
	--seconds) secs=$2; shift ;;
	--eps) eps=$2; shift ;;
	--partitions) parts=$2; shift ;;
	--segment) segment=$2; shift ;;
	--queue-depth) qd=$2; shift ;;
	--writers) writers=$2; shift ;;
	--workers) workers=$2; shift ;;
	--set) sets+=("$2"); shift ;;
	-h | --help) sed -n '3,19p' "$0"; exit 0 ;;
	*) echo "bench_roll_shed: $1: unknown option (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ -z "$build" ]; then
	for d in "$src"/build "$src"/build-*; do
		[ -x "$d/control/sluiced" ] && { build=$d; break; }
	done
fi
SD=$build/control/sluiced CTL=$build/tools/sluicectl GEN=$build/bench/sluice-gen
for b in "$SD" "$CTL" "$GEN"; do
	[ -x "$b" ] || { echo "bench_roll_shed: $b not built (use --build)" >&2; exit 2; }
done
[ -n "$out" ] || out="$here/results/roll_shed-$(date -u +%Y%m%d-%H%M%S).json"
mkdir -p "$(dirname "$out")"
work=$(mktemp -d /tmp/sluice-roll-shed.XXXXXX)
[ -n "$data_dir" ] || data_dir="$work/data"
mkdir -p "$data_dir"
sp="sluice-rs-sd-$$" gp="sluice-rs-sg-$$"
spid="" gpid=""
cleanup() {
	[ -n "$gpid" ] && kill "$gpid" 2>/dev/null
	[ -n "$spid" ] && kill "$spid" 2>/dev/null
	[ -n "$gpid" ] && wait "$gpid" 2>/dev/null
	[ -n "$spid" ] && wait "$spid" 2>/dev/null
	rm -rf "/var/run/dpdk/$sp" "/var/run/dpdk/$gp"
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
log() { echo "bench_roll_shed: $*" >&2; }
ctl() { "$CTL" -s "$work/ctl.sock" -t 10 -j "$@"; }

lcores="0@0"
for ((w = 1; w <= workers; w++)); do lcores="$lcores,$w@$((w % $(nproc)))"; done
cat >"$work/sluiced.ini" <<EOF
[eal]
memory = no-huge
memory_mb = 1024
file_prefix = $sp
lcores = $lcores
[dataplane]
workers = $workers
backpressure = drop
[storage]
data_dir = $data_dir
writers = $writers
$([ -n "$qd" ] && echo "queue_depth = $qd")
[port.p0]
device = net_memif0
args = role=server,socket=$work/memif.sock,socket-abstract=no
link_wait = 0
promiscuous = true
queues = $workers
[topic.events]
partitions = $parts
segment_bytes = $segment
[listener.events]
udp_port = 9000
format = kafka
[kafka]
enabled = false
[control]
socket = $work/ctl.sock
metrics_listen = 127.0.0.1:0
EOF
setargs=()
for s in "${sets[@]+"${sets[@]}"}"; do setargs+=(--set "$s"); done
log "sluiced: $parts partitions, segment_bytes $segment, ${qd:+queue_depth $qd, }$writers writer(s), $workers worker(s), store only, backpressure drop"
"$SD" -c "$work/sluiced.ini" "${setargs[@]+"${setargs[@]}"}" >"$work/sluiced.out" 2>"$work/sluiced.err" &
spid=$!
for ((i = 0; i < 300; i++)); do
	grep -q '^sluiced: running' "$work/sluiced.out" "$work/sluiced.err" 2>/dev/null && break
	kill -0 "$spid" 2>/dev/null || { tail -5 "$work/sluiced.err" >&2; exit 1; }
	sleep 0.1
done
grep -q '^sluiced: running' "$work/sluiced.out" "$work/sluiced.err" ||
	{ log "sluiced did not start"; tail -5 "$work/sluiced.err" >&2; exit 1; }

log "sluice-gen: packed kafka (20 x 50 B per datagram), $eps events/s for ${secs} s over memif"
"$GEN" --vdev "net_memif0,role=client,socket=$work/memif.sock,socket-abstract=no" \
	--lcores 0@0 --file-prefix "$gp" --queues "$workers" --format kafka --partitions "$parts" \
	--events-per-packet 20 --event-size 50 --producers 8 --eps "$eps" --duration "$secs" \
	--linger-ms 500 --link-wait-ms 15000 --quiet --summary "$work/gen.json" \
	2>"$work/gen.err" &
gpid=$!
wait "$gpid" || { log "sluice-gen failed: $(tail -3 "$work/gen.err")"; gpid=""; exit 1; }
gpid=""
# Settle: nothing open or in flight any more (60 s bound).
for ((i = 0; i < 600; i++)); do
	ctl stats >"$work/stats.json" 2>/dev/null || true
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
sys.exit(0 if d.get("open",1)==0 and d.get("in_flight",1)==0 else 1)' "$work/stats.json" && break
	sleep 0.1
done
ctl stats >"$work/stats.json"
ctl metrics >"$work/metrics.json"
kill -TERM "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
spid=""

python3 - "$work/gen.json" "$work/stats.json" "$work/metrics.json" "$out" "$secs" "$eps" \
	"$parts" "$segment" "${qd:-default}" "$writers" "$workers" \
	"$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, sys
g = json.load(open(sys.argv[1])); st = json.load(open(sys.argv[2]))
m = json.load(open(sys.argv[3]))
fams = {f["name"]: f for f in m.get("families", [])}
def total(name, **match):
    f = fams.get(name, {"samples": []})
    return sum(s["value"] for s in f["samples"]
               if s.get("name", name) == name and
               all(s["labels"].get(k) == v for k, v in match.items()))
def by_label(name, label):
    res = {}
    for s in fams.get(name, {"samples": []})["samples"]:
        if s.get("name", name) == name and label in s["labels"]:
            res[s["labels"][label]] = res.get(s["labels"][label], 0) + s["value"]
    return res
stall_sum = sum(s["value"] for s in fams.get("sluice_writer_stall_seconds", {"samples": []})["samples"]
                if s.get("name", "").endswith("_sum"))
stall_count = sum(s["value"] for s in fams.get("sluice_writer_stall_seconds", {"samples": []})["samples"]
                  if s.get("name", "").endswith("_count"))
sent = g["run"]["tx_events"]
shed = st.get("shed", {})
res = {
    "bench": "roll_shed", "load": sys.argv[12],
    "config": {"seconds": float(sys.argv[5]), "eps": sys.argv[6], "partitions": int(sys.argv[7]),
               "segment_bytes": sys.argv[8], "queue_depth": sys.argv[9],
               "writers": int(sys.argv[10]), "workers": int(sys.argv[11]),
               "traffic": "kafka, 20 x 50 B per datagram, explicit partitions, 8 producers"},
    "generator": g["run"],
    "sent_events": sent, "nic_missed": st.get("nic_missed"), "parsed": st.get("parsed"),
    "persisted": st.get("persisted"), "shed": shed, "shed_total": sum(shed.values()),
    "shed_cause": st.get("shed_cause", {}), "shed_storage": st.get("shed_storage", {}),
    "shed_at_rolls": st.get("shed_cause", {}).get("segment_roll", 0),
    "rolls": total("sluice_partition_rolls_total"),
    "writer_stalls": by_label("sluice_writer_stalls_total", "cause"),
    "writer_stall_seconds_sum": stall_sum, "writer_stall_count": stall_count,
    "unaccounted": st.get("unaccounted"), "bytes_on_disk": st.get("bytes_on_disk"),
    "stats": st,
}
json.dump(res, open(sys.argv[4], "w"), indent=1)
print("sent %d events (%.0f/s), parsed %s, persisted %s, NIC missed %s" % (
    sent, g["run"].get("eps", 0), st.get("parsed"), st.get("persisted"), st.get("nic_missed")))
print("shed %d: by reason %s; by storage cause %s; by the writers %s" % (
    res["shed_total"], shed or "{}", res["shed_cause"] or "{}", res["shed_storage"] or "{}"))
print("rolls %d, shed at rolls (cause segment_roll) %d; writer stalls %s, %.3f s in %d stalls" % (
    res["rolls"], res["shed_at_rolls"], res["writer_stalls"], stall_sum, stall_count))
print("raw JSON: %s" % sys.argv[4])
PY
