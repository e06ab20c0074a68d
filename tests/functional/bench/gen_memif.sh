#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sluice-gen -> memif -> dpdk-testpmd --forward-mode=rxonly in another process: the receiver's
# RX count equals what sluice-gen's summary says it sent (and the --count asked for). With N
# queues, each RX queue received exactly the packets of the producers whose flow maps to it
# (producer i uses flow i, flow f goes to queue f mod N: docs/sluice-gen.md), so a queue that
# carried nothing, or another queue's share, fails.
# Two CPUs: testpmd's forwarding lcore polls CPU 1; sluice-gen and testpmd's idle main lcore
# share CPU 0. Everything is bounded in time; DPDK runtime directories are removed.
set -euo pipefail
GEN=${1:?sluice-gen}
COUNT=${COUNT:-200000}
QUEUES=${2:-1} # memif needs the same queue count on both sides
command -v dpdk-testpmd >/dev/null || { echo "dpdk-testpmd missing"; exit 77; }
dir=$(mktemp -d /tmp/sluice-gen-memif.XXXXXX)
sock="$dir/memif.sock"
tp_prefix="sluice-gen-test-tp-$$"
gen_prefix="sluice-gen-test-gen-$$"
tp=""
cleanup() {
	if [ -n "$tp" ] && kill -0 "$tp" 2>/dev/null; then
		echo quit >&3 || true
		sleep 1
		kill "$tp" 2>/dev/null || true
		wait "$tp" 2>/dev/null || true
	fi
	rm -rf "$dir" "/var/run/dpdk/$tp_prefix" "/var/run/dpdk/$gen_prefix"
}
trap cleanup EXIT

wait_for() { # file pattern seconds
	for _ in $(seq 1 $(($3 * 10))); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "timed out waiting for '$2' in $1" >&2
	cat "$1" >&2 || true
	return 1
}

mkfifo "$dir/cmd"
exec 3<>"$dir/cmd"
stdbuf -oL dpdk-testpmd --no-pci --no-huge -m 256 --file-prefix "$tp_prefix" \
	--lcores 0@0,1@1 --log-level='*:warning' \
	--vdev "net_memif0,role=server,socket=$sock,socket-abstract=no" -- \
	-i --forward-mode=rxonly --total-num-mbufs=16384 --rxq="$QUEUES" --txq="$QUEUES" <&3 >"$dir/tp.out" 2>&1 &
tp=$!
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$dir/tp.out"; exit 1; }

# memif's client connects once, when its port starts: start it after testpmd's port is up.
wait_for "$dir/tp.out" "Checking link statuses" 30
"$GEN" --vdev "net_memif0,role=client,socket=$sock,socket-abstract=no" --lcores 0@0 \
	--file-prefix "$gen_prefix" --format kafka --producers 8 --events-per-packet 4 \
	--queues "$QUEUES" \
	--event-size 32 --count "$COUNT" --link-wait-ms 15000 --linger-ms 4000 \
	--summary "$dir/sum.json" 2>"$dir/gen.err" &
gen=$!
wait_for "$dir/tp.out" "^Done" 30
echo start >&3
wait_for "$dir/gen.err" "done, lingering" 60
sleep 1
# memif clears its counters when the peer disconnects: read them while sluice-gen lingers.
echo "show port stats all" >&3
wait_for "$dir/tp.out" "RX-packets" 10
# Per-queue counters: ethdev's generic xstats rx_q<i>_packets (memif fills them).
echo "show port xstats 0" >&3
wait_for "$dir/tp.out" "rx_q$((QUEUES - 1))_packets" 10
sleep 0.5
wait "$gen"
rx=$(grep -E '^ *RX-packets:' "$dir/tp.out" | tail -1 | awk '{print $2}')
sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run"]["tx_packets"])' \
	"$dir/sum.json")
echo "gen_memif: $QUEUES queue(s): asked $COUNT, sluice-gen sent $sent, testpmd received $rx"
grep -v '^EAL' "$dir/gen.err" || true
[ "$sent" = "$COUNT" ] || { echo "FAIL: sluice-gen sent $sent of $COUNT" >&2; exit 1; }
[ "$rx" = "$sent" ] || { echo "FAIL: testpmd received $rx of $sent" >&2; exit 1; }
python3 - "$dir/sum.json" "$dir/tp.out" "$QUEUES" <<'PY'
import json, re, sys
s = json.load(open(sys.argv[1]))
queues = int(sys.argv[3])
flows = s["config"]["flows"]
want = [0] * queues
# One summary entry per producer (partition -1), in producer index order.
for i, p in enumerate(s["producers"]):
    want[(i % flows) % queues] += p["packets"]
got = [0] * queues
for q, n in re.findall(r"^\s*rx_q(\d+)_packets:\s*(\d+)", open(sys.argv[2]).read(), re.M):
    if int(q) < queues:
        got[int(q)] = int(n)
print(f"per RX queue: expected {want}, testpmd received {got}")
if got != want or 0 in want:
    sys.exit("FAIL: per-queue packets differ from the producers' shares")
PY
