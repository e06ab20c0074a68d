#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The sluice demo: install, build, start sluiced with a memif port and an embedded Kafka (the
# demo-only mock cluster, asked for with kafka.brokers = embedded),
# drive it with sluice-gen for ~20 s showing live rates, print a summary, read a few records
# back from Kafka with kcat, and shut down cleanly. Ctrl-C safe: everything it started is
# stopped and removed (processes, sockets, temp files, DPDK runtime dirs, hugepages).
#
#   DEMO_SECONDS   how long sluice-gen sends (default 20)
#   DEMO_EPS       events per second it sends (default 200k; suffixes k, M)
#   DEMO_BUILD     build directory (default build)
#   DEMO_KEEP      keep the temp dir (config, logs, data) for a look afterwards
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_S=${DEMO_SECONDS:-20}
EPS=${DEMO_EPS:-200k}
BUILD=${DEMO_BUILD:-build}
TMP=$(mktemp -d /tmp/sluice-demo.XXXXXX)
PREFIX_D=sluice-demo-d-$$
PREFIX_G=sluice-demo-g-$$
SOCK=$TMP/memif.sock
SLUICED_PID=
GEN_PID=
HUGE_PREV=

# On a terminal the live line rewrites itself; in a log it is one line per second.
if [ -t 1 ]; then B=$'\033[1m' N=$'\033[0m' CR=$'\r'; else B= N= CR=$'\n'; fi
say() { printf '%s== %s%s\n' "$B" "$*" "$N"; }

stop_pid() { # pid, seconds to wait after SIGTERM
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq $(($2 * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	trap - EXIT INT TERM
	stop_pid "$GEN_PID" 2
	stop_pid "$SLUICED_PID" 20
	rm -rf "/var/run/dpdk/$PREFIX_D" "/var/run/dpdk/$PREFIX_G"
	[ -n "$HUGE_PREV" ] && ./tools/setup-hugepages.sh --restore "$HUGE_PREV" || true
	if [ -n "${DEMO_KEEP:-}" ]; then
		echo "demo files kept in $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'echo; echo "interrupted: cleaning up"; exit 130' INT TERM

say "installing dependencies (Debian packages)"
./tools/install-deps.sh

say "building sluiced, sluice-gen and sluicectl in $BUILD/"
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" >/dev/null
fi
ninja -C "$BUILD" control/sluiced bench/sluice-gen tools/sluicectl >/dev/null
SLUICED=$BUILD/control/sluiced
GEN=$BUILD/bench/sluice-gen
CTL=$BUILD/tools/sluicectl

# sluiced needs ~110 MiB of EAL memory here (mbufs + batch buffers): 160 pages leave room.
MEM=no-huge
if out=$(./tools/setup-hugepages.sh 160 2>/dev/null); then
	HUGE_PREV=${out#previous=}
	MEM=in-memory
	say "hugepages reserved: sluiced runs with --in-memory"
else
	say "no hugepages available: sluiced runs with --no-huge"
fi

cat >"$TMP/demo.ini" <<EOF
# The demo appliance: one memif port fed by sluice-gen, a kafka-format and a lines listener,
# one 4-partition topic, the embedded Kafka. See docs/configuration.md for every key.
[eal]
memory = $MEM
memory_mb = 256
file_prefix = $PREFIX_D
[storage]
data_dir = $TMP/data
[port.memif]
device = net_memif0
args = role=server,socket=$SOCK,socket-abstract=no
promiscuous = true
# sluice-gen connects after sluiced is up: do not wait for the link at start
link_wait = 0
[topic.events]
partitions = 4
segment_bytes = 64M
[listener.batches]
udp_port = 9000
format = kafka
[listener.syslog]
udp_port = 5140
format = lines
key = source_addr
# Demo mode, asked for explicitly: librdkafka's mock cluster inside sluiced, in memory, newest
# 5 MiB per partition only (sluiced warns). Without brokers nothing would be forwarded.
[kafka]
brokers = embedded
[control]
socket = $TMP/sluiced.sock
metrics_listen = 127.0.0.1:0
stats_interval = 0
[dataplane]
workers = 1
# shared cores: the worker backs off when idle
idle_sleep = true
mbufs = 8191
batch_buffers = 256
EOF

say "starting sluiced (config: $TMP/demo.ini)"
"$SLUICED" -c "$TMP/demo.ini" >"$TMP/sluiced.out" 2>"$TMP/sluiced.log" &
SLUICED_PID=$!
for _ in $(seq 300); do
	grep -q '^sluiced: running' "$TMP/sluiced.out" && break
	if ! kill -0 "$SLUICED_PID" 2>/dev/null; then
		grep -v '^EAL: ' "$TMP/sluiced.log" >&2
		echo "sluiced failed to start" >&2
		exit 1
	fi
	sleep 0.1
done
grep -q '^sluiced: running' "$TMP/sluiced.out" || {
	echo "sluiced did not start within 30 s" >&2
	exit 1
}
BOOTSTRAP=$(awk '/embedded Kafka bootstrap/ {print $NF}' "$TMP/sluiced.out")
METRICS=$(awk '/metrics on port/ {print $NF}' "$TMP/sluiced.out")
echo "   embedded Kafka at $BOOTSTRAP, metrics at http://127.0.0.1:$METRICS/metrics"
# sluiced's own warning: the embedded cluster is a demo, not a destination.
grep -m1 -o 'forwarding: DEMO MODE.*' "$TMP/sluiced.log" | sed 's/^/   /' || true
echo "   try meanwhile: $CTL -s $TMP/sluiced.sock status"

ctl() { "$CTL" -s "$TMP/sluiced.sock" -t 10 "$@"; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }

say "sending $EPS events/s for ${RUN_S}s with sluice-gen (kafka batches from 8 producers over memif)"
"$GEN" --vdev "net_memif0,role=client,socket=$SOCK,socket-abstract=no" --lcores 0@0 \
	--file-prefix "$PREFIX_G" --mem no-huge --format kafka --producers 8 --keys 1000 \
	--events-per-packet 10 --event-size 60-100 --eps "$EPS" --duration "$RUN_S" --quiet \
	--summary "$TMP/gen.json" >"$TMP/gen.out" 2>"$TMP/gen.log" &
GEN_PID=$!

# The live line: rates from sluiced's own counters, once a second.
prev_p=0 prev_f=0 prev_d=0 t=0
while kill -0 "$GEN_PID" 2>/dev/null; do
	sleep 1
	t=$((t + 1))
	s=$(ctl -j stats 2>/dev/null) || continue
	read -r p f d pend <<<"$(echo "$s" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["parsed"], d["forwarded"], d["persisted"], d["pending"])')"
	printf '%s   t=%3ss  received %9s ev/s   persisted %9s ev/s   forwarded %9s ev/s   pending %9s ' \
		"$CR" "$t" $((p - prev_p)) $((d - prev_d)) $((f - prev_f)) "$pend"
	prev_p=$p prev_f=$f prev_d=$d
done
echo
GEN_STATUS=0
wait "$GEN_PID" || GEN_STATUS=$?
GEN_PID=
[ "$GEN_STATUS" = 0 ] || {
	echo "sluice-gen exited with $GEN_STATUS:" >&2
	tail -5 "$TMP/gen.log" >&2
}

say "a few syslog lines through the lines listener (UDP 5140)"
"$GEN" --vdev "net_memif0,role=client,socket=$SOCK,socket-abstract=no" --lcores 0@0 \
	--file-prefix "$PREFIX_G" --mem no-huge --format lines --dst-port 5140 --producers 4 \
	--events-per-packet 5 --count 200 --quiet --summary "$TMP/gen-lines.json" \
	>/dev/null 2>"$TMP/gen-lines.log" || echo "   (lines run failed: $(tail -1 "$TMP/gen-lines.log"))"

say "waiting for everything received to be durable and forwarded"
ctl flush >/dev/null || true
for _ in $(seq 300); do
	[ "$(ctl -j stats | field "['pending']")" = 0 ] && break
	sleep 0.1
done

ctl -j stats >"$TMP/stats.json"
python3 - "$TMP/gen.json" "$TMP/gen-lines.json" "$TMP/stats.json" "$TMP/data" <<'PY'
import json, os, sys
def load(p):
    try:
        return json.load(open(p))
    except (OSError, ValueError):
        return {}
gen, lines, st, data = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3]), sys.argv[4]
sent = gen.get("run", {}).get("tx_events", 0) + lines.get("run", {}).get("tx_events", 0)
secs = gen.get("run", {}).get("seconds", 0) or 1
disk = 0
for root, _, files in os.walk(data):
    for f in files:
        disk += os.stat(os.path.join(root, f)).st_blocks * 512
rej = sum(st.get("rejected", {}).values())
shed = sum(st.get("shed", {}).values())
rows = [
    ("events sent (sluice-gen)", sent),
    ("events received (parsed)", st.get("parsed", 0)),
    ("events rejected", rej),
    ("events shed", shed),
    ("events persisted (fdatasync'd)", st.get("persisted", 0)),
    ("events forwarded to Kafka", st.get("forwarded", 0)),
    ("events lost (producer sequence gaps)", st.get("producer_lost", 0)),
    ("duplicates dropped", st.get("producer_duplicates", 0)),
    ("unaccounted", st.get("unaccounted", 0)),
]
print()
for k, v in rows:
    print(f"   {k:<40} {v:>14,}")
print(f"   {'throughput (kafka run)':<40} {gen.get('run', {}).get('tx_events', 0) / secs:>14,.0f} events/s"
      f"  {gen.get('run', {}).get('gbps', 0):.2f} Gbit/s on the wire")
print(f"   {'disk used':<40} {disk / 1e6:>14,.1f} MB in {data}")
PY

say "the log, partition by partition (sluicectl partitions)"
ctl partitions | sed 's/^/   /' || true

say "a few records read back from Kafka with kcat (headers carry the local offset)"
kcat -b "$BOOTSTRAP" -C -t events -p 0 -o beginning -c 3 -e -q \
	-f '   partition %p offset %o key %k (%S bytes)\n     headers %h\n' || true

say "clean shutdown (SIGTERM): stop RX, drain, fdatasync, forward, clean-shutdown markers"
kill -TERM "$SLUICED_PID"
STATUS=0
wait "$SLUICED_PID" || STATUS=$?
SLUICED_PID=
grep -E 'accounting:|stopped' "$TMP/sluiced.log" | sed 's/^/   /'
echo "   sluiced exited with status $STATUS"
