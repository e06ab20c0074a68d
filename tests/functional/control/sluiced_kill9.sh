#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# 25 kill -9 of sluiced while it ingests and forwards, against a Kafka mock process that
# outlives it. Each run replays a pcap of `lines` traffic (new records every run) and
# forwards through a narrow in-flight window to a broker that answers 20 ms late, so that
# the kills land with Produce requests on the wire; every other run compresses with zstd.
# Afterwards, by content (kcat), Kafka holds exactly the durable log: every record once, in
# order, nothing lost, nothing duplicated.
. "$(dirname "$0")/sluiced_lib.sh"

CYCLES=${SLUICED_KILL_CYCLES:-25}
PARTS=3
mock_start events:$PARTS
echo "rtt 1 20" >&7
"$GEN" --pcap "$TMP/a.pcap" --format lines --count 600 --producers 6 --events-per-packet 4 \
	--dst-port 5140 --quiet --summary /dev/null
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
partitions = $PARTS
segment_bytes = 1M
flush_bytes = 16K
[listener.syslog]
udp_port = 5140
format = lines
key = source_addr
[kafka]
brokers = $BOOTSTRAP
inflight_max_msgs = 40
shutdown_timeout = 30s
[control]
socket = $TMP/ctl.sock
metrics = false
[dataplane]
mbufs = 4095
batch_buffers = 64
batch_bytes = 16K
EOF

# pending: durable records Kafka has not acknowledged (0 when the socket does not answer)
pending() {
	ctl -j stats 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["pending"])' \
		2>/dev/null || echo 0
}

mid=0
for i in $(seq "$CYCLES"); do
	codec=none
	[ $((i % 2)) = 0 ] && codec=zstd
	sluiced_start "$TMP/sluiced.ini" --set kafka.compression=$codec
	sleep "0.$(printf '%03d' $((RANDOM % 400 + 100)))"
	[ "$(pending)" -gt 0 ] && mid=$((mid + 1))
	sluiced_stop KILL
	rm -rf "/var/run/dpdk/${PREFIX:?}"
done
echo "kills with records not yet acknowledged: $mid of $CYCLES"
[ "$mid" -ge $((CYCLES / 2)) ] || fail "too few kills landed mid-forwarding ($mid)"

# A last clean run: everything durable is forwarded, then SIGTERM.
sluiced_start "$TMP/sluiced.ini" --set kafka.inflight_max_msgs=100000
wait_stat pending 0 60
sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "sluiced exited $STOP_STATUS after SIGTERM"
python3 "$CHECK" log "$TMP/data" events $PARTS >"$TMP/log.json" || fail "log check"
TOTAL=$(python3 -c "import json; print(sum(v['records'] for v in json.load(open('$TMP/log.json')).values()))")
echo "$TOTAL records in the log after $CYCLES kills"
[ "$TOTAL" -ge $((2400 * CYCLES / 2)) ] || fail "only $TOTAL records in the log"
python3 "$FWDCHECK" -b "$BOOTSTRAP" -t events -d "$TMP/data" -P $PARTS --min "$TOTAL" ||
	fail "Kafka does not hold the log exactly once after $CYCLES kills"
echo "PASS: $TOTAL records, $CYCLES kill -9, exactly once by content"
