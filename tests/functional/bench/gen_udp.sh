#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sluice-gen's kernel UDP mode -> udp_sink (recvmmsg + write + fdatasync) over loopback, paced
# well below what loopback loses: every datagram sluice-gen reports sent is a line in udp_sink's
# file, with its producer:sequence tag, each sequence exactly once.
set -euo pipefail
GEN=${1:?sluice-gen}
SINK=${2:?udp_sink}
dir=$(mktemp -d /tmp/sluice-gen-udp.XXXXXX)
sink=""
cleanup() {
	if [ -n "$sink" ]; then kill "$sink" 2>/dev/null || true; wait "$sink" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT
port=$((20000 + $$ % 20000))
"$SINK" --bind "127.0.0.1:$port" --out "$dir/out.log" --flush-ms 5 --duration 60 \
	--idle-exit-ms 1500 --summary "$dir/sink.json" 2>"$dir/sink.err" &
sink=$!
for _ in $(seq 1 50); do grep -q listening "$dir/sink.err" && break; sleep 0.1; done
"$GEN" --udp "127.0.0.1:$port" --format lines --producers 3 --event-size 40-120 \
	--pps 50k --count 10000 --quiet --summary "$dir/gen.json"
wait "$sink"
sink=""
python3 - "$dir/gen.json" "$dir/sink.json" "$dir/out.log" <<'PY'
import json, sys
gen = json.load(open(sys.argv[1])); sink = json.load(open(sys.argv[2]))
sent = gen["run"]["tx_packets"]
lines = open(sys.argv[3], "rb").read().split(b"\n")[:-1]
seen = {}
for l in lines:
    p, s, _ = l.split(b":", 2)
    seen.setdefault(int(p), []).append(int(s))
errors = []
if sent != 10000:
    errors.append(f"sent {sent}, asked 10000")
if sink["datagrams"] != sent or len(lines) != sent:
    errors.append(f"sent {sent}, udp_sink received {sink['datagrams']}, file has {len(lines)} lines")
for prod in gen["producers"]:
    got = sorted(seen.get(prod["producer_id"], []))
    want = list(range(prod["first_sequence"], prod["last_sequence"] + 1))
    if got != want:
        errors.append(f"producer {prod['producer_id']}: {len(got)} sequences, want {len(want)}")
if sink["fdatasyncs"] < 1:
    errors.append("udp_sink never synced")
if errors:
    sys.exit("gen_udp: " + "; ".join(errors))
print(f"gen_udp: {sent} datagrams sent, received, written and synced ({sink['fdatasyncs']} fdatasyncs)")
PY
