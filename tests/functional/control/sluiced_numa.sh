#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A configuration that crosses NUMA nodes is warned about, naming the port, the worker's core
# and both nodes, by --check-config and at start. The topology is a fake sysfs tree
# (SLUICE_HOST_ROOT): this machine's CPUs on node 0, the port's device on node 1. The port is
# net_af_packet on the loopback interface of a network namespace this test creates.
. "$(dirname "$0")/sluiced_lib.sh"

if [ "$(id -u)" -ne 0 ] || ! unshare -n true 2>/dev/null; then
	echo "SKIP: needs root and unshare -n"
	exit 77
fi

HOST=$TMP/host
for c in 0 1; do mkdir -p "$HOST/sys/devices/system/cpu/cpu$c/node0"; done
mkdir -p "$HOST/sys/devices/system/node/node0" "$HOST/sys/devices/system/node/node1" \
	"$HOST/sys/class/net/lo/device"
echo 0-1 >"$HOST/sys/devices/system/node/node0/cpulist"
echo 2-3 >"$HOST/sys/devices/system/node/node1/cpulist"
echo 0-1 >"$HOST/sys/devices/system/node/online"
echo 1 >"$HOST/sys/class/net/lo/device/numa_node"
export SLUICE_HOST_ROOT=$HOST

cat >"$TMP/sluiced.ini" <<EOT
[eal]
memory = no-huge
memory_mb = 256
lcores = 0@0,1@1
file_prefix = $PREFIX
[storage]
data_dir = $TMP/data
[port.p0]
device = net_af_packet0
args = iface=lo
link_wait = 0
[topic.events]
[listener.in]
udp_port = 9000
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
WARNING='NUMA: port p0 (net_af_packet0 on lo) is on node 1 but worker 0 (lcore 1, CPU 1, node 0) polls it'

echo "== --check-config: valid, with a warning"
"$SLUICED" --check-config "$TMP/sluiced.ini" >"$TMP/check.out" 2>"$TMP/check.err" ||
	fail "check-config exit $?: $(cat "$TMP/check.err")"
grep -qF "$TMP/sluiced.ini: warning: $WARNING" "$TMP/check.err" ||
	fail "no NUMA warning from --check-config: $(cat "$TMP/check.err")"
grep -q 'CPUs of node 1 (2-3) in eal.lcores' "$TMP/check.err" || fail "warning names no fix"

echo "== start: the same warning in the log, then a clean run and stop"
unshare -n sh -c 'ip link set lo up && exec "$0" -c "$1"' "$SLUICED" "$TMP/sluiced.ini" \
	>"$TMP/sluiced.out" 2>"$TMP/sluiced.err" &
SLUICED_PID=$!
for i in $(seq 300); do
	grep -q '^sluiced: running' "$TMP/sluiced.out" && break
	kill -0 "$SLUICED_PID" 2>/dev/null || fail "sluiced exited during start-up"
	sleep 0.1
done
grep -q '^sluiced: running' "$TMP/sluiced.out" || fail "sluiced not running after 30 s"
grep -qF "sluiced: $WARNING" "$TMP/sluiced.err" || fail "no NUMA warning at start"
[ "$(grep -c 'NUMA: port' "$TMP/sluiced.err")" = 1 ] || fail "one warning per port expected"
# The warning precedes EAL: it is judged before anything is allocated.
awk '/NUMA: port p0/ {w=NR} /^EAL: / && !e {e=NR} END {exit !(w && (!e || w < e))}' \
	"$TMP/sluiced.err" || fail "the warning came after EAL's start"
sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "exit $STOP_STATUS"

echo "== the port's node matches the worker's: silent"
echo 0 >"$HOST/sys/class/net/lo/device/numa_node"
"$SLUICED" --check-config "$TMP/sluiced.ini" >/dev/null 2>"$TMP/check.err" || fail "check-config"
grep -q 'NUMA' "$TMP/check.err" && fail "a warning without a crossing: $(cat "$TMP/check.err")"
echo "PASS: NUMA crossing warned at --check-config and at start"
