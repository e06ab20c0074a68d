#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Three brokers. (1) The leader of partition 0 (and only of it) is down when the forwarder
# starts: partitions 1 and 2 are forwarded in full while 0 is held (not read, not sent); once
# the broker is back a restart forwards the rest. (2) Leaders move to other brokers while
# records flow: NOT_LEADER answers, a metadata refresh, the same batches again to the new
# leader. Every offset exactly once, by content.
. "$(dirname "$0")/fwd_lib.sh"

mock_start -b 3 events:3
# Pin the leaders: partition 0 on broker 1, partitions 1 and 2 on brokers 2 and 3; and the
# transaction coordinator of our producer on broker 2 (a down coordinator would stop new
# producer sessions, which is not what this test is about).
for p in 0 1 2; do mock_cmd leader events $p $((p + 1)); done
mock_cmd coord sluice-test-appliance 2
D=$TMP/log
"$DRIVER" append -d "$D" -n 1500 -v 30 || fail "append"
mock_cmd down 1
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -s 500 -t 6 >"$TMP/run1.txt" 2>"$TMP/run1.err" ||
	fail "forward with a leader down"
last "$TMP/run1.txt"
check events "$D" 3 -p 1,2
[ "$(field lag "$(last "$TMP/run1.txt")")" = "$("$DRIVER" ends -d "$D" | awk '$1 == 0 {print $2}')" ] ||
	fail "partition 0 should be held entirely: $(last "$TMP/run1.txt")"
grep -q 'events/0: .*cannot be read (leader unreachable)' "$TMP/run1.err" ||
	fail "held partition not reported: $(cat "$TMP/run1.err")"
mock_cmd up 1
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -w -t 60 >"$TMP/run2.txt" 2>"$TMP/run2.err" ||
	fail "forward after the leader is back"
check events "$D" 3 --min 1500

# Leaders move while records flow.
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -v 30 -r 50 -u 4 -i 20 -s 100 -w -t 60 \
	>"$TMP/run3.txt" 2>"$TMP/run3.err" &
pid=$!
PIDS+=("$pid")
for _ in $(seq 100); do
	grep -q 'state=running' "$TMP/run3.txt" 2>/dev/null && break
	sleep 0.05
done
sleep 0.5
mock_cmd leader events 0 3
mock_cmd leader events 1 1
sleep 1
mock_cmd leader events 2 2
wait "$pid" || fail "forward while leaders moved: $(tail -3 "$TMP/run3.err")"
l=$(last "$TMP/run3.txt")
echo "$l"
grep -q 'leader moved from broker' "$TMP/run3.err" || fail "no leader move seen"
check events "$D" 3 --min 3000
[ "$(field ooo "$l")" = 0 ] && [ "$(field dup "$l")" = 0 ] || fail "out-of-order or duplicate answers"
echo "PASS"
