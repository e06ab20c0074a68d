#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Three brokers; the leader of partition 0 (and only of it) is down when the forwarder starts. Partitions 1
# and 2 are forwarded in full while 0 is held (not read, not sent); once the broker is back
# a restart forwards the rest, every offset exactly once.
. "$(dirname "$0")/fwd_lib.sh"

mock_start -b 3 events:3
# Pin the leaders: partition 0 on broker 1, partitions 1 and 2 on brokers 2 and 3.
for p in 0 1 2; do mock_cmd leader events $p $((p + 1)); done
leader=1
D=$TMP/log
"$DRIVER" append -d "$D" -n 1500 -v 30 || fail "append"
e=$(ends "$D")
mock_cmd down "$leader"
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -s 500 -t 8 >"$TMP/run1.txt" 2>"$TMP/run1.err" ||
	fail "forward with a leader down"
tail -1 "$TMP/run1.txt"
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t events -e "${e#0:*,}" -a test-appliance -v 30 ||
	fail "partitions 1 and 2 stalled by partition 0's leader"
grep -q 'events/0: .*cannot be read' "$TMP/run1.err" || fail "held partition not reported"
mock_cmd up "$leader"
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -w -t 60 >"$TMP/run2.txt" 2>"$TMP/run2.err" ||
	fail "forward after the leader is back"
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t events -e "$e" -a test-appliance -v 30 ||
	fail "after the leader is back"
echo "PASS"
