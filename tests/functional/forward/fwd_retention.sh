#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Retention guard: while the broker is down, retention (run every 100 ms) must not delete a
# segment the forwarder has not passed; once forwarding catches up, it may. With the policy
# "drop unforwarded", it deletes them, the storage counts the dropped records, and the
# forwarder skips exactly those (counted) and forwards the rest exactly once. When the drop
# falls in the middle of a producer session, sequence numbers could no longer name offsets:
# the forwarder starts a new session (epoch bump) and continues after the hole.
. "$(dirname "$0")/fwd_lib.sh"

mock_start guarded:1 dropped:1 gap:1
LOGOPTS=(-P 1 -S 16384 -L 32768)

# 1. Guard: nothing may be deleted before it is in Kafka.
D=$TMP/guard
"$DRIVER" append -d "$D" "${LOGOPTS[@]}" -n 2000 -v 100 || fail "append"
cp -a "$D" "$TMP/guard-copy" # what Kafka must end up with, before retention may delete it
mock_cmd down 1
"$DRIVER" forward -d "$D" "${LOGOPTS[@]}" -K guarded -b "$BOOTSTRAP" -R -s 100 -w -t 60 \
	>"$TMP/guard.txt" 2>"$TMP/guard.err" &
pid=$!
PIDS+=("$pid")
sleep 3
during=$(last "$TMP/guard.txt")
mock_cmd up 1
wait "$pid" || fail "forward exited with $?: $(tail -3 "$TMP/guard.err")"
after=$(last "$TMP/guard.txt")
echo "during: $during"
echo "after:  $after"
[ "$(field deleted_segments "$during")" -eq 0 ] || fail "retention deleted unforwarded segments"
[ "$(field lag "$during")" -eq 2000 ] || fail "expected everything unforwarded during the outage"
[ "$(field deleted_segments "$after")" -gt 0 ] || fail "retention never ran after forwarding"
[ "$(field dropped "$after")" -eq 0 ] || fail "records dropped under the guard"
check guarded "$TMP/guard-copy" 1 -l events --min 2000

# 2. Policy "drop unforwarded": dropped records are counted on both sides.
D=$TMP/drop
"$DRIVER" append -d "$D" "${LOGOPTS[@]}" -X -n 2000 -v 100 || fail "append"
mock_cmd down 1
"$DRIVER" forward -d "$D" "${LOGOPTS[@]}" -X -K dropped -b "$BOOTSTRAP" -R -s 100 -w -t 60 \
	>"$TMP/drop.txt" 2>"$TMP/drop.err" &
pid=$!
PIDS+=("$pid")
sleep 3
during=$(last "$TMP/drop.txt")
mock_cmd up 1
wait "$pid" || fail "forward exited with $?: $(tail -3 "$TMP/drop.err")"
after=$(last "$TMP/drop.txt")
echo "during: $during"
echo "after:  $after"
dropped=$(field dropped "$after")
start=$(field log_start "$after")
[ "$dropped" -gt 0 ] || fail "policy drop: nothing dropped"
[ "$(field skipped "$after")" -eq "$dropped" ] || fail "forwarder skipped != storage dropped"
[ "$start" -eq "$dropped" ] || fail "log start $start != dropped $dropped"
check dropped "$D" 1 -l events -f "0:$start" --min 1
# 3. A hole in the middle of a producer session.
D=$TMP/gap
"$DRIVER" append -d "$D" "${LOGOPTS[@]}" -X -n 500 -v 100 || fail "append"
"$DRIVER" forward -d "$D" "${LOGOPTS[@]}" -X -K gap -b "$BOOTSTRAP" -w -t 60 >"$TMP/gap1.txt" ||
	fail "forward before the gap"
"$DRIVER" append -d "$D" "${LOGOPTS[@]}" -X -n 2000 -v 100 || fail "append"
cp -a "$D" "$TMP/gap-copy"
mock_cmd down 1
"$DRIVER" forward -d "$D" "${LOGOPTS[@]}" -X -K gap -b "$BOOTSTRAP" -R -s 100 -w -t 60 \
	>"$TMP/gap2.txt" 2>"$TMP/gap2.err" &
pid=$!
PIDS+=("$pid")
sleep 3
mock_cmd up 1
wait "$pid" || fail "forward exited with $?: $(tail -3 "$TMP/gap2.err")"
after=$(last "$TMP/gap2.txt")
echo "gap:  $after"
start=$(field log_start "$after")
[ "$start" -gt 500 ] || fail "retention made no hole after offset 500"
[ "$(field skipped "$after")" -eq $((start - 500)) ] || fail "skipped != the hole"
[ "$(field fatal_resets "$after")" = 1 ] || fail "no new producer session after the hole"
grep -q 'new producer session: records deleted by retention' "$TMP/gap2.err" ||
	fail "the new session's reason is not logged"
check gap "$TMP/gap-copy" 1 -l events -s "0:500:$start" --min 1
echo "PASS"
