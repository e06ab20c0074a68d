#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Injected produce errors: retriable ones are retried by librdkafka without duplicates; a
# fatal idempotence error (OUT_OF_ORDER_SEQUENCE_NUMBER) is recovered through the resume
# protocol (new producer, Kafka's tail read) with nothing lost or duplicated.
. "$(dirname "$0")/fwd_lib.sh"

PRODUCE=0
NOT_LEADER=6
TIMED_OUT=7
NOT_ENOUGH_REPLICAS=19
OUT_OF_ORDER_SEQ=45

mock_start events:3 short:2
D=$TMP/log
"$DRIVER" append -d "$D" -n 2000 -v 30 || fail "append"
mock_cmd err $PRODUCE $NOT_LEADER $TIMED_OUT $NOT_ENOUGH_REPLICAS $NOT_LEADER
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -w -t 60 -c retry.backoff.ms=50 >"$TMP/run1.txt" ||
	fail "forward with retriable errors"
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t events -e "$(ends "$D")" -a test-appliance -v 30 ||
	fail "after retriable errors"

# Fatal: injected while records are flowing, so that acknowledged sequences exist.
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -v 30 -r 50 -u 4 -s 100 -w -t 60 >"$TMP/run2.txt" \
	2>"$TMP/run2.err" &
pid=$!
PIDS+=("$pid")
for _ in $(seq 200); do
	grep -q 'state=running lag=[0-9]* inflight=[0-9]* delivered=[1-9]' "$TMP/run2.txt" && break
	sleep 0.05
done
mock_cmd err $PRODUCE $OUT_OF_ORDER_SEQ
wait "$pid" || fail "forward exited with $?: $(tail -5 "$TMP/run2.err")"
last=$(grep '^stat' "$TMP/run2.txt" | tail -1)
echo "$last"
[[ "$last" =~ fatal_resets=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] ||
	fail "no fatal reset seen: $(tail -5 "$TMP/run2.err")"
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t events -e "$(ends "$D")" -a test-appliance -v 30 ||
	fail "after the fatal error"

# One failing partition does not stall the others: Kafka topic "short" lacks partition 2.
D=$TMP/short
"$DRIVER" append -d "$D" -n 1500 -v 30 || fail "append"
"$DRIVER" forward -d "$D" -K short -b "$BOOTSTRAP" -s 200 -t 5 >"$TMP/short.txt" \
	2>"$TMP/short.err" || fail "forward to short"
last=$(grep '^stat' "$TMP/short.txt" | tail -1)
echo "$last"
e=$(ends "$D")
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t short -l events -e "${e%,2:*}" -a test-appliance \
	-v 30 || fail "partitions 0 and 1 stalled by partition 2"
[[ "$last" =~ lag=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -eq "${e##*:}" ] ||
	fail "partition 2 should be held entirely: $last"
grep -q 'does not exist or cannot be read' "$TMP/short.err" || fail "missing partition not reported"
echo "PASS"
