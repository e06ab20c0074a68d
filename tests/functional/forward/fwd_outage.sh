#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The broker goes down for longer than every timeout the producer is configured with,
# while ingest continues; then it comes back. Nothing is lost or duplicated, lag rises
# during the outage and drains after it. The test shrinks request/socket timeouts to 1 s
# (librdkafka's defaults are 30-60 s) so that "longer than the timeouts" takes seconds;
# message.timeout.ms is infinite (the forwarder's own setting), which is what is tested.
. "$(dirname "$0")/fwd_lib.sh"

mock_start events:3
D=$TMP/log
"$DRIVER" append -d "$D" -n 2000 -v 100 || fail "append"
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -v 100 -r 30 -u 10 -s 100 -w -t 60 \
	-c request.timeout.ms=1000 -c socket.timeout.ms=1000 -c retry.backoff.ms=100 \
	>"$TMP/run.txt" 2>"$TMP/run.err" &
pid=$!
PIDS+=("$pid")
for _ in $(seq 100); do
	grep -q 'state=running lag=0 ' "$TMP/run.txt" 2>/dev/null && break
	sleep 0.1
done
grep -q 'state=running' "$TMP/run.txt" || fail "forwarder did not start: $(cat "$TMP/run.err")"
before=$(grep '^stat' "$TMP/run.txt" | tail -1)
mock_cmd down 1
sleep 5
during=$(grep '^stat' "$TMP/run.txt" | tail -1)
mock_cmd up 1
wait "$pid" || fail "forward exited with $?: $(tail -5 "$TMP/run.err")"
after=$(grep '^stat' "$TMP/run.txt" | tail -1)
echo "before: $before"
echo "during: $during"
echo "after:  $after"
lag() { [[ "$1" =~ lag=([0-9]+) ]] && echo "${BASH_REMATCH[1]}"; }
[ "$(lag "$during")" -gt 100 ] || fail "lag did not rise during the outage"
[ "$(lag "$after")" -eq 0 ] || fail "lag did not drain"
[[ "$during" =~ state=broker_down ]] || fail "state not broker_down during the outage"
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t events -e "$(ends "$D")" -a test-appliance -v 100 ||
	fail "after the outage"
echo "PASS"
