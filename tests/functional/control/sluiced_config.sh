#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sluiced's command line and configuration: a table of bad configs, each must exit 2 with its
# file:line: key: reason on stderr and create nothing; good ones pass --check-config;
# --help-config=markdown matches docs/configuration.md.
. "$(dirname "$0")/sluiced_lib.sh"

DATA=$TMP/data
base() {
	cat <<EOF
[storage]
data_dir = $DATA
[port.p0]
device = net_null0
[topic.events]
partitions = 2
[listener.in]
udp_port = 9000
EOF
}

n=0
# expect_bad 'extra config lines' 'expected stderr fragment' [sluiced args...]
expect_bad() {
	local extra=$1 want=$2 status
	shift 2
	n=$((n + 1))
	{
		base
		printf '%b' "$extra"
	} >"$TMP/bad$n.ini"
	for mode in --check-config -c; do
		status=0
		"$SLUICED" "$mode" "$TMP/bad$n.ini" "$@" >"$TMP/out" 2>"$TMP/err" || status=$?
		[ "$status" = 2 ] || fail "case $n ($mode): exit $status, expected 2: $(cat "$TMP/err")"
		grep -qF -- "$want" "$TMP/err" || fail "case $n ($mode): expected '$want', got: $(cat "$TMP/err")"
		[ -e "$DATA" ] && fail "case $n ($mode): the data directory was created"
		[ -s "$TMP/out" ] && fail "case $n ($mode): printed to stdout: $(cat "$TMP/out")"
	done
	return 0
}

expect_bad '[bogus]\n' "bad1.ini:9: bogus: unknown section"
expect_bad '[storage]\n' "bad2.ini:9: storage: duplicate section"
expect_bad '[dataplane]\nworkers = 0\n' "bad3.ini:10: dataplane.workers: 0 is out of range"
expect_bad '[dataplane]\nlinger = 5\n' "bad4.ini:10: dataplane.linger: '5' needs a unit: us, ms or s"
expect_bad '[port.p1]\nqueues = 1\n' "bad5.ini:9: port.p1: missing required key 'device'"
expect_bad '[listener.x]\nudp_port = 9001\ntopic = nope\n' \
	"bad6.ini:11: listener.x.topic: unknown topic 'nope' (no [topic.nope] section)"
expect_bad '[listener.x]\nudp_port = 9000\naddress = 10.0.0.1\n' \
	"bad7.ini:10: listener.x.udp_port: overlaps [listener.in]"
expect_bad '[eal]\nlcores = 0@0,1@4096\n' "bad8.ini:10: eal.lcores: bad id range"
CPUS=$(getconf _NPROCESSORS_ONLN)
expect_bad "[eal]\\nlcores = 0@0,1@$CPUS\\n" \
	"bad9.ini:10: eal.lcores: lcore 1: CPU $CPUS does not exist (this machine has $CPUS online CPUs)"
expect_bad '[dataplane]\nworkers = 2\n' \
	"--set:1: port.p0.queues: more workers (dataplane.workers = 2) than queues (1)" \
	--set port.p0.queues=1
expect_bad '[kafka]\nrequest.timeout.ms = soon\n' "bad11.ini:10: kafka.request.timeout.ms: "
expect_bad '[kafka]\nno.such.thing = 1\n' "bad12.ini:10: kafka.no.such.thing: unknown key"
expect_bad '' "--set:1: storage.data_dir: cannot create '/etc/passwd/x': a component of the path is not a directory" \
	--set storage.data_dir=/etc/passwd/x
expect_bad '' "--set:2: storage.writers: 'two' is not an unsigned integer" \
	--set storage.writers=2 --set storage.writers=two
# Overrides may repeat (the last wins); a file may not set a key twice.
expect_bad '[dataplane]\nburst = 8\nburst = 16\n' "bad15.ini:11: burst: set twice in [dataplane]" \
	--set dataplane.burst=4 --set dataplane.burst=5

# Refused before this check existed only at start, after EAL, ports and workers had started
# (or by the forwarder thread): each is now a configuration error like the others.
expect_bad '[kafka]\nrequest.required.acks = 1\n' \
	"bad16.ini:10: kafka.request.required.acks: set by sluice for exactly-once forwarding"
expect_bad '[kafka]\nenable.idempotence = false\n' \
	"bad17.ini:10: kafka.enable.idempotence: set by sluice for exactly-once forwarding"
expect_bad '[dataplane]\nmbufs = 1023\n' \
	"bad18.ini:10: dataplane.mbufs: 1023 cannot fill the RX rings: ports x queues x rx_desc + caches need 1664"
expect_bad '' "--set:1: storage.write_buffer: 65536 bytes cannot hold a batch of dataplane.batch_bytes = 262144" \
	--set storage.write_buffer=64K
expect_bad '[eal]\nlog_level = lib.eal:loud\n' "bad20.ini:10: eal.log_level: 'loud' is not a level"
expect_bad '[eal]\nlog_level = [,debug\n' "bad21.ini:10: eal.log_level: '[' is not a regular expression"
expect_bad '[eal]\nargs = --no-huge -m 64\n' \
	"bad22.ini:10: eal.args: '--no-huge' is set by sluiced from eal.memory: use that key"
expect_bad '[topic...]\n' "bad23.ini:9: topic...: '..' is not a usable topic name"
expect_bad '[kafka]\nbrokers = embedded\n[topic.more]\nkafka_topic = events\n[listener.in2]\nudp_port = 9001\ntopic = more\n' \
	"bad24.ini:12: topic.more.kafka_topic: Kafka topic 'events' is also [topic.events]'s"
expect_bad '' "--set:1: control.socket: '/etc/passwd' exists and is not a socket" \
	--set control.socket=/etc/passwd
expect_bad '' "--set:1: control.metrics_listen: 192.0.2.1 is not an address of this host" \
	--set control.metrics_listen=192.0.2.1:9464
# The base's listener has no topic: name it so that only the kafka_topic error remains.
sed -i 's/^udp_port = 9000$/udp_port = 9000\ntopic = events/' "$TMP/bad24.ini"
status=0
"$SLUICED" --check-config "$TMP/bad24.ini" >/dev/null 2>"$TMP/err" || status=$?
[ "$status" = 2 ] && [ "$(wc -l <"$TMP/err")" = 2 ] ||
	fail "bad24 with its listener fixed: exit $status: $(cat "$TMP/err")"
# Secrets are never echoed in an error.
expect_bad '[kafka]\nsasl.password = hunter2\nno.such.password = hunter2\n' \
	"bad27.ini:11: kafka.no.such.password: unknown key"
grep -q hunter2 "$TMP/err" && fail "an error message shows a secret: $(cat "$TMP/err")"
# A combination no single property shows: librdkafka refuses it when it builds the producer
# (the forwarder thread used to retry it forever while /health said healthy).
expect_bad '[kafka]\nbrokers = 127.0.0.1:9\nmax.in.flight.requests.per.connection = 10\n' \
	"bad28.ini:11: kafka.max.in.flight.requests.per.connection: not an integer in [1, 5]"

# Good configurations.
base >"$TMP/good.ini"
"$SLUICED" --check-config "$TMP/good.ini" >"$TMP/out" 2>"$TMP/err" || fail "good config rejected: $(cat "$TMP/err")"
grep -q 'configuration OK' "$TMP/out" || fail "no OK line"
"$SLUICED" --check-config "$TMP/good.ini" --set topic.more.partitions=4 \
	--set listener.in.topic=more --set kafka.retry.backoff.ms=5 >/dev/null 2>"$TMP/err" ||
	fail "good overrides rejected: $(cat "$TMP/err")"
[ -e "$DATA" ] && fail "--check-config created the data directory"

# Usage errors are status 2 too; --help is not an error.
status=0
"$SLUICED" >/dev/null 2>&1 || status=$?
[ "$status" = 2 ] || fail "no arguments: exit $status"
"$SLUICED" --help >/dev/null || fail "--help failed"
status=0
"$SLUICED" --check-config "$TMP/missing.ini" 2>"$TMP/err" || status=$?
[ "$status" = 2 ] || fail "missing file: exit $status"
grep -q 'missing.ini: file: cannot open: No such file or directory' "$TMP/err" || fail "missing file message: $(cat "$TMP/err")"

# A valid config whose device does not probe: exit 1, the reason named, EAL's runtime
# directory removed.
status=0
"$SLUICED" -c "$TMP/good.ini" --set eal.memory=no-huge --set eal.memory_mb=256 \
	--set "eal.file_prefix=$PREFIX" --set port.p0.device=net_pcap0 \
	--set "port.p0.args=rx_pcap=$TMP/missing.pcap" --set "control.socket=$TMP/ctl.sock" \
	--set control.metrics=false --set dataplane.mbufs=4095 \
	--set dataplane.batch_buffers=64 >/dev/null 2>"$TMP/err" || status=$?
[ "$status" = 1 ] || fail "device that does not probe: exit $status, expected 1"
grep -q 'port p0 (net_pcap0): No such device' "$TMP/err" || fail "no reason: $(grep -v '^EAL' "$TMP/err")"
[ -d "/var/run/dpdk/$PREFIX" ] && fail "EAL runtime directory left behind"
[ -e "$TMP/ctl.sock" ] && fail "control socket left behind"
rm -rf "$DATA"

# The committed reference is what the tables generate.
"$SLUICED" --help-config=markdown | diff -u "$SLUICE_SOURCE_ROOT/docs/configuration.md" - >&2 ||
	fail "docs/configuration.md is stale: run sluiced --help-config=markdown > docs/configuration.md"
echo "PASS: $n bad configurations refused with exit 2 and nothing created"
