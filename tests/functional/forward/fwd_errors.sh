#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# One injected error per category, through the mock cluster's error injection, each on the
# first Produce requests of a run while records are waiting; after each, Kafka holds the log
# exactly once by content:
#   retriable   NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT: the same batch again (same sequence)
#   metadata    NOT_LEADER_OR_FOLLOWER: metadata refreshed, then the same batch again
#   sequence    OUT_OF_ORDER_SEQUENCE_NUMBER: Kafka's tail read, resumed after it
#   session     UNKNOWN_PRODUCER_ID: a new producer session (the epoch bumped), resumed
#   too large   MESSAGE_TOO_LARGE: rebuilt as smaller batches
#   refused     TOPIC_AUTHORIZATION_FAILED: held with a long back-off, then sent
#   fenced      PRODUCER_FENCED: nothing more is sent (state fenced) until restart
# and on the other requests: InitProducerId (COORDINATOR_NOT_AVAILABLE), Metadata and
# ListOffsets (LEADER_NOT_AVAILABLE), Fetch (NOT_LEADER_OR_FOLLOWER). A partition that does
# not exist in Kafka is held alone while the others are forwarded.
. "$(dirname "$0")/fwd_lib.sh"

PRODUCE=0 FETCH=1 LIST_OFFSETS=2 METADATA=3 INIT_PID=22
NOT_LEADER=6 TIMED_OUT=7 TOO_LARGE=10 COORD_NA=15 NOT_ENOUGH_REPLICAS=19 LEADER_NA=5
TOPIC_AUTH=29 OUT_OF_ORDER=45 UNKNOWN_PID=59 FENCED=90
FAST=(-c retry.backoff.ms=20 -c retry.backoff.max.ms=200)

mock_start events:3 short:2
D=$TMP/log
run=0
# inject NAME API CODES...: append 400 records, push the errors, forward until caught up
inject() {
	local name=$1 api=$2
	shift 2
	run=$((run + 1))
	"$DRIVER" append -d "$D" -n 400 -v 30 || fail "append"
	mock_cmd err "$api" "$@"
	"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -w -t 60 -s 100 "${FAST[@]}" \
		>"$TMP/$name.txt" 2>"$TMP/$name.err" || fail "$name: forward: $(tail -3 "$TMP/$name.err")"
	L=$(last "$TMP/$name.txt")
	echo "$name: $L"
	check events "$D" 3 --min $((run * 400)) >/dev/null
}

inject retriable $PRODUCE $NOT_ENOUGH_REPLICAS $TIMED_OUT
[ "$(field retries "$L")" -ge 1 ] && [ "$(field errors "$L")" -ge 2 ] || fail "retriable: not retried"
inject metadata $PRODUCE $NOT_LEADER
[ "$(field meta "$L")" -ge 2 ] || fail "metadata: no refresh after NOT_LEADER"
inject sequence $PRODUCE $OUT_OF_ORDER
[ "$(field rewinds "$L")" -ge 1 ] || fail "sequence: no resume from Kafka's tail"
e0=$(field epoch "$L")
inject session $PRODUCE $UNKNOWN_PID
[ "$(field fatal_resets "$L")" = 1 ] && [ "$(field epoch "$L")" = $((e0 + 1)) ] ||
	fail "session: no new session with the epoch bumped"
inject too_large $PRODUCE $TOO_LARGE
grep -q 'MESSAGE_TOO_LARGE: building smaller batches' "$TMP/too_large.err" || fail "too large: not rebuilt"
inject refused $PRODUCE $TOPIC_AUTH
grep -q 'TOPIC_AUTHORIZATION_FAILED: refused by the broker' "$TMP/refused.err" || fail "refused: not logged"
inject init_pid $INIT_PID $COORD_NA
inject metadata_req $METADATA $LEADER_NA
inject list_offsets $LIST_OFFSETS $LEADER_NA $LEADER_NA
inject fetch $FETCH $NOT_LEADER

# Fenced: the forwarder stops sending and says so; a restart takes over and finishes.
"$DRIVER" append -d "$D" -n 400 -v 30 || fail "append"
mock_cmd err $PRODUCE $FENCED
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -w -t 30 -s 100 "${FAST[@]}" >"$TMP/fenced.txt" \
	2>"$TMP/fenced.err" && fail "fenced: the driver did not stop"
grep -q 'state=fenced' "$TMP/fenced.txt" || fail "fenced: state not reported"
grep -q 'fenced: another producer uses transactional id' "$TMP/fenced.err" || fail "fenced: not logged"
[ "$(field lag "$(last "$TMP/fenced.txt")")" -gt 0 ] || fail "fenced: everything was sent anyway"
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -w -t 60 "${FAST[@]}" >"$TMP/after.txt" || fail "after fence"
check events "$D" 3 --min $(((run + 1) * 400))
# The one injected OUT_OF_ORDER request answered every partition in it (3); otherwise the
# broker never saw a sequence out of order or duplicated.
for f in "$TMP"/*.txt; do
	want=0
	[ "$f" = "$TMP/sequence.txt" ] && want=3
	[ "$(field ooo "$(last "$f")")" -le $want ] && [ "$(field dup "$(last "$f")")" = 0 ] ||
		fail "$f: out-of-order or duplicate answers not injected: $(last "$f")"
done

# One failing partition does not stall the others: Kafka topic "short" lacks partition 2.
D=$TMP/short
"$DRIVER" append -d "$D" -n 1500 -v 30 || fail "append"
"$DRIVER" forward -d "$D" -K short -b "$BOOTSTRAP" -s 200 -t 4 >"$TMP/short.txt" \
	2>"$TMP/short.err" || fail "forward to short"
last=$(last "$TMP/short.txt")
echo "$last"
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t short -l events -d "$D" -P 2 --min 1 ||
	fail "partitions 0 and 1 stalled by partition 2"
[ "$(field lag "$last")" -eq "$("$DRIVER" ends -d "$D" | awk '$1 == 2 {print $2}')" ] ||
	fail "partition 2 should be held entirely: $last"
grep -q 'short/2 does not exist' "$TMP/short.err" || fail "missing partition not reported"
echo "PASS"
