#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# What --check-config accepts, sluiced starts: configurations at the edge of every check that
# used to happen only at start (mbufs that just fill the RX rings, a write buffer that just
# holds a batch, EAL log levels and extra arguments, embedded Kafka with two topics, Kafka
# client settings with an unreachable cluster, a control socket in a directory that does
# not exist yet, an admin group, two listeners on one UDP port on two ports) each pass
# --check-config and then start (running, answering, exit 0 at shutdown). The refusals are
# in sluiced_config.sh.
. "$(dirname "$0")/sluiced_lib.sh"

base() {
	cat <<EOF
[eal]
memory = no-huge
memory_mb = 256
file_prefix = $PREFIX
[storage]
data_dir = $TMP/data
[port.p0]
device = net_memif0
args = role=server,socket=$TMP/memif0.sock,socket-abstract=no
link_wait = 0
[topic.events]
partitions = 2
[listener.in]
port = p0
udp_port = 9000
[control]
socket = $TMP/ctl.sock
metrics_listen = 127.0.0.1:0
[dataplane]
mbufs = 4095
batch_buffers = 64
batch_bytes = 64K
EOF
}

n=0
# accepted 'extra lines' [sluiced args...]: --check-config OK, start, status, clean stop
accepted() {
	local extra=$1 sock
	shift
	n=$((n + 1))
	{
		base
		printf '%b' "$extra"
	} >"$TMP/ok$n.ini"
	"$SLUICED" --check-config "$TMP/ok$n.ini" "$@" >"$TMP/check.out" 2>&1 ||
		fail "case $n: --check-config refused: $(cat "$TMP/check.out")"
	sluiced_start "$TMP/ok$n.ini" "$@"
	sock=$(awk -F' = ' '/^socket = / {s = $2} END {print s}' "$TMP/ok$n.ini")
	for a in "$@"; do case $a in control.socket=*) sock=${a#control.socket=} ;; esac; done
	"$SLUICECTL" -s "$sock" -t 10 status >"$TMP/status" || fail "case $n: status"
	grep -q '^state  *running' "$TMP/status" || fail "case $n: $(cat "$TMP/status")"
	sluiced_stop TERM
	[ "$STOP_STATUS" = 0 ] || fail "case $n: exit $STOP_STATUS"
	rm -rf "$TMP/data"
}

accepted ''
# ports x queues x rx_desc + caches = 1024 + 256 x 2 + 128
accepted '' --set dataplane.mbufs=1664
accepted '' --set storage.write_buffer=68K
accepted '' --set eal.log_level=lib.eal:notice
accepted '' --set 'eal.log_level=sluice.*,info' --set eal.args=--no-shconf
accepted '[kafka]\nbrokers = embedded\n[topic.more]\nkafka_topic = more-in-kafka\n' \
	--set listener.in.topic=events
accepted '[kafka]\nbrokers = 127.0.0.1:9\nmax.in.flight.requests.per.connection = 5\nrequest.timeout.ms = 20000\nsecurity.protocol = plaintext\ncompression = zstd\nheaders = true\n'
accepted '' --set "control.socket=$TMP/not/yet/ctl.sock"
accepted '' --set control.admin_group=root --set control.socket_group=root
accepted "[port.p1]\\ndevice = net_memif1\\nargs = role=server,socket=$TMP/memif1.sock,socket-abstract=no\\nlink_wait = 0\\n[listener.in1]\\nport = p1\\nudp_port = 9000\\n"
echo "PASS: $n configurations accepted by --check-config all started"
