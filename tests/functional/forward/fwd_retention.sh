#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Retention guard: while the broker is down, retention (run every 100 ms) must not delete a
# segment the forwarder has not passed; once forwarding catches up, it may. With the policy
# "drop unforwarded", it deletes them, the storage counts the dropped records, and the
# forwarder skips exactly those (counted) and forwards the rest exactly once.
. "$(dirname "$0")/fwd_lib.sh"

field() { [[ "$2" =~ $1=(-?[0-9]+) ]] && echo "${BASH_REMATCH[1]}"; }

mock_start guarded:1 dropped:1
LOGOPTS=(-P 1 -S 16384 -L 32768)

# 1. Guard: nothing may be deleted before it is in Kafka.
D=$TMP/guard
"$DRIVER" append -d "$D" "${LOGOPTS[@]}" -n 2000 -v 100 || fail "append"
mock_cmd down 1
"$DRIVER" forward -d "$D" "${LOGOPTS[@]}" -K guarded -b "$BOOTSTRAP" -R -s 100 -w -t 60 \
	>"$TMP/guard.txt" 2>"$TMP/guard.err" &
pid=$!
PIDS+=("$pid")
sleep 3
during=$(grep '^stat' "$TMP/guard.txt" | tail -1)
mock_cmd up 1
wait "$pid" || fail "forward exited with $?: $(tail -3 "$TMP/guard.err")"
after=$(grep '^stat' "$TMP/guard.txt" | tail -1)
echo "during: $during"
echo "after:  $after"
[ "$(field deleted_segments "$during")" -eq 0 ] || fail "retention deleted unforwarded segments"
[ "$(field lag "$during")" -eq 2000 ] || fail "expected everything unforwarded during the outage"
[ "$(field deleted_segments "$after")" -gt 0 ] || fail "retention never ran after forwarding"
[ "$(field dropped "$after")" -eq 0 ] || fail "records dropped under the guard"
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t guarded -l events -e "$(ends "$D" -P 1)" \
	-a test-appliance -v 100 || fail "guarded"

# 2. Policy "drop unforwarded": dropped records are counted on both sides.
D=$TMP/drop
"$DRIVER" append -d "$D" "${LOGOPTS[@]}" -X -n 2000 -v 100 || fail "append"
mock_cmd down 1
"$DRIVER" forward -d "$D" "${LOGOPTS[@]}" -X -K dropped -b "$BOOTSTRAP" -R -s 100 -w -t 60 \
	>"$TMP/drop.txt" 2>"$TMP/drop.err" &
pid=$!
PIDS+=("$pid")
sleep 3
during=$(grep '^stat' "$TMP/drop.txt" | tail -1)
mock_cmd up 1
wait "$pid" || fail "forward exited with $?: $(tail -3 "$TMP/drop.err")"
after=$(grep '^stat' "$TMP/drop.txt" | tail -1)
echo "during: $during"
echo "after:  $after"
dropped=$(field dropped "$after")
start=$(field log_start "$after")
[ "$dropped" -gt 0 ] || fail "policy drop: nothing dropped"
[ "$(field skipped "$after")" -eq "$dropped" ] || fail "forwarder skipped != storage dropped"
[ "$start" -eq "$dropped" ] || fail "log start $start != dropped $dropped"
end=$("$DRIVER" ends -d "$D" "${LOGOPTS[@]}" | awk '{print $2}')
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t dropped -l events -e "0:$start:$end" \
	-a test-appliance -v 100 || fail "drop policy"
echo "PASS"
