#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sluiced's stop paths, made slow on purpose by a Kafka broker that does not exist (the stop
# then waits for the forwarder): a second signal forces exit 1 without clean-shutdown
# markers and the next start recovers; the shutdown command stops cleanly within
# kafka.shutdown_timeout; control.shutdown_timeout ends a stop that takes too long.
. "$(dirname "$0")/sluiced_lib.sh"

"$GEN" --pcap "$TMP/a.pcap" --format kafka --count 200 --producers 2 --events-per-packet 5 \
	--dst-port 9000 --quiet --summary /dev/null
cat >"$TMP/sluiced.ini" <<EOF
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
[topic.events]
partitions = 2
[listener.in]
udp_port = 9000
[kafka]
# nothing listens here: the forwarder never gets an acknowledgement
brokers = 127.0.0.1:1
shutdown_timeout = 20s
[control]
socket = $TMP/ctl.sock
metrics = false
[dataplane]
mbufs = 4095
batch_buffers = 64
batch_bytes = 64K
EOF

# wait_exit SECONDS: wait for sluiced to exit, STOP_STATUS set
wait_exit() {
	local i
	for i in $(seq $(($1 * 10))); do
		kill -0 "$SLUICED_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$SLUICED_PID" 2>/dev/null && fail "sluiced still running after $1 s"
	STOP_STATUS=0
	{ wait "$SLUICED_PID"; } 2>/dev/null || STOP_STATUS=$?
	SLUICED_PID=
}

echo "== a second signal forces exit"
sluiced_start "$TMP/sluiced.ini"
wait_stat persisted 1000
kill -TERM "$SLUICED_PID"
# The second signal must be a separate one: wait until the first was handled (two pending
# SIGTERMs merge into one on a busy host), then past the second in which a repeat counts as
# the same request.
for _ in $(seq 100); do
	grep -q 'stop requested' "$TMP/sluiced.err" && break
	sleep 0.1
done
grep -q 'stop requested' "$TMP/sluiced.err" || fail "the first signal was not handled within 10 s"
sleep 1.5
kill -0 "$SLUICED_PID" 2>/dev/null || fail "stop did not wait for the forwarder"
kill -TERM "$SLUICED_PID"
wait_exit 5
[ "$STOP_STATUS" = 1 ] || fail "forced exit status $STOP_STATUS, expected 1"
grep -q 'second signal, exiting without a clean shutdown' "$TMP/sluiced.err" || fail "no forced-exit message"
for p in 0 1; do
	[ -e "$TMP/data/events-$p/clean-shutdown" ] && fail "events-$p: clean-shutdown marker after a forced exit"
done

echo "== restart recovers; the shutdown command stops within kafka.shutdown_timeout"
sluiced_start "$TMP/sluiced.ini" --set kafka.shutdown_timeout=1s
wait_stat persisted 1000
ctl shutdown >/dev/null || fail "shutdown command"
wait_exit 15
[ "$STOP_STATUS" = 0 ] || fail "exit $STOP_STATUS after the shutdown command"
grep -q 'forwarder did not catch up' "$TMP/sluiced.err" || fail "no forwarder timeout warning"
for p in 0 1; do
	[ -e "$TMP/data/events-$p/clean-shutdown" ] || fail "events-$p: no clean-shutdown marker"
done
python3 "$CHECK" log "$TMP/data" events 2 >"$TMP/log.json" || fail "log check after recovery"
TOTAL=$(python3 -c "import json; d=json.load(open('$TMP/log.json')); print(sum(v['records'] for v in d.values()), min(v['first'] or 0 for v in d.values()))")
[ "$TOTAL" = "2000 0" ] || fail "log holds (records, first offset) $TOTAL, expected 2000 0"

echo "== control.shutdown_timeout ends a stop that takes too long"
sluiced_start "$TMP/sluiced.ini" --set control.shutdown_timeout=1s --set kafka.shutdown_timeout=60s
wait_stat persisted 1000
kill -TERM "$SLUICED_PID"
wait_exit 10
[ "$STOP_STATUS" = 1 ] || fail "exit $STOP_STATUS after the shutdown timeout, expected 1"
grep -q 'shutdown took longer than control.shutdown_timeout' "$TMP/sluiced.err" || fail "no timeout message"
echo "PASS: forced exit, recovery, shutdown command and shutdown timeout"
