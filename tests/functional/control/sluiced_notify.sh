#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sluiced under a supervisor that speaks the sd_notify protocol (PID 1 is not systemd on the
# machines this runs on): a datagram socket named by NOTIFY_SOCKET, as systemd passes it.
# Checked: STATUS= during start; no READY=1 while a port start-up waits for has no link;
# READY=1 once its memif peer connects; STATUS= with live rates; WATCHDOG=1 every half
# WATCHDOG_USEC; RELOADING=1 then READY=1 around SIGHUP; STOPPING=1 at SIGTERM.
. "$(dirname "$0")/sluiced_lib.sh"

GEN_PREFIX=sluiced-notify-gen-$$
RECV_PID=
GEN_PID=
stop_all() {
	local p
	for p in $GEN_PID $RECV_PID; do
		kill -9 "$p" 2>/dev/null || true
		{ wait "$p"; } 2>/dev/null || true
	done
	rm -rf "/var/run/dpdk/$GEN_PREFIX"
	cleanup
}
trap stop_all EXIT

# The supervisor's end: every datagram, one line each (newlines shown as '|').
python3 -u - "$TMP/notify.sock" "$TMP/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "w", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", "|") + "\n")
PY
RECV_PID=$!
for i in $(seq 50); do [ -S "$TMP/notify.sock" ] && break; sleep 0.1; done
[ -S "$TMP/notify.sock" ] || fail "notify socket not bound"

cat >"$TMP/sluiced.ini" <<EOT
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
link_wait = 1s
[topic.events]
[listener.raw]
udp_port = 9000
format = raw
[kafka]
brokers = embedded
[control]
socket = $TMP/ctl.sock
metrics = false
[dataplane]
mbufs = 4095
batch_buffers = 64
batch_bytes = 64K
EOT

# wait_line REGEX SECONDS: until notify.log has a matching line (bounded)
wait_line() {
	local i
	for i in $(seq $(($2 * 10))); do
		grep -qE "$1" "$TMP/notify.log" && return 0
		sleep 0.1
	done
	fail "no '$1' from sluiced within $2 s: $(tr '\n' ' ' <"$TMP/notify.log" | tail -c 600)"
}

echo "== start: STATUS while starting, no READY while the memif peer is missing"
NOTIFY_SOCKET=$TMP/notify.sock WATCHDOG_USEC=400000 sluiced_start "$TMP/sluiced.ini"
wait_line '^STATUS=waiting for the link of port p0' 10
grep -q '^STATUS=starting: opening the log' "$TMP/notify.log" || fail "no start-up STATUS"
wait_line '^WATCHDOG=1$' 5
sleep 1
grep -q 'READY=1' "$TMP/notify.log" && fail "READY=1 before port p0 had its link"
[ "$(grep -c '^WATCHDOG=1$' "$TMP/notify.log")" -ge 3 ] ||
	fail "fewer than 3 WATCHDOG=1 in 1.2 s with WATCHDOG_USEC=400000"

echo "== the peer connects: READY=1, then live rates"
"$GEN" --vdev "net_memif0,role=client,socket=$TMP/memif.sock,socket-abstract=no" --lcores 0@0 \
	--file-prefix "$GEN_PREFIX" --format raw --dst-port 9000 --event-size 100 --pps 2000 \
	--count 6000 --link-wait-ms 15000 --linger-ms 1000 --quiet --summary "$TMP/gen.json" \
	2>"$TMP/gen.err" &
GEN_PID=$!
wait_line '^READY=1\|STATUS=ready' 20
wait_line '^STATUS=[1-9][0-9]* events/s parsed, [0-9]+ persisted/s, [0-9]+ forwarded/s; 1/1 ports up' 20
# READY came after the wait for the link, never before.
awk '/^STATUS=waiting for the link/ {w=NR} /^READY=1/ && !r {r=NR} END {exit !(w && r > w)}' \
	"$TMP/notify.log" || fail "READY=1 was not after the link wait"

echo "== reload: RELOADING=1, then READY=1 with the outcome"
kill -HUP "$SLUICED_PID"
wait_line '^RELOADING=1\|MONOTONIC_USEC=[0-9]+\|STATUS=reloading' 10
wait_line '^READY=1\|STATUS=reloaded .*: 0 applied, 0 need a restart' 10

echo "== stop: STOPPING=1, and the watchdog stops with the workers"
{ wait "$GEN_PID"; } 2>/dev/null || fail "sluice-gen: $(cat "$TMP/gen.err")"
GEN_PID=
sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "exit $STOP_STATUS"
grep -q '^STOPPING=1' "$TMP/notify.log" || fail "no STOPPING=1"
last_ping=$(grep -n '^WATCHDOG=1$' "$TMP/notify.log" | tail -1 | cut -d: -f1)
stopping=$(grep -n '^STOPPING=1' "$TMP/notify.log" | cut -d: -f1)
[ "$last_ping" -lt "$stopping" ] || fail "WATCHDOG=1 after STOPPING=1"
echo "PASS: STATUS, READY after the link, rates, WATCHDOG, RELOADING/READY, STOPPING"
