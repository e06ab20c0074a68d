#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The broker goes down for longer than every timeout the client is configured with, while
# ingest continues; then it comes back. Nothing is lost or duplicated (by content), lag rises
# during the outage and drains after it, the state says broker_down meanwhile. The test
# shrinks request/socket timeouts to 1 s (the defaults are 30-60 s) so that "longer than the
# timeouts" takes seconds: batches whose answers never came are sent again with the same
# sequence, which the broker recognises.
. "$(dirname "$0")/fwd_lib.sh"

mock_start events:3
D=$TMP/log
"$DRIVER" append -d "$D" -n 2000 -v 100 || fail "append"
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -v 100 -r 30 -u 10 -s 100 -w -t 60 -C lz4 \
	-c request.timeout.ms=1000 -c socket.timeout.ms=1000 -c retry.backoff.ms=100 \
	>"$TMP/run.txt" 2>"$TMP/run.err" &
pid=$!
PIDS+=("$pid")
for _ in $(seq 100); do
	grep -q 'state=running lag=0 ' "$TMP/run.txt" 2>/dev/null && break
	sleep 0.1
done
grep -q 'state=running' "$TMP/run.txt" || fail "forwarder did not start: $(cat "$TMP/run.err")"
before=$(last "$TMP/run.txt")
mock_cmd down 1
sleep 5
during=$(last "$TMP/run.txt")
mock_cmd up 1
wait "$pid" || fail "forward exited with $?: $(tail -5 "$TMP/run.err")"
after=$(last "$TMP/run.txt")
echo "before: $before"
echo "during: $during"
echo "after:  $after"
[ "$(field lag "$during")" -gt 100 ] || fail "lag did not rise during the outage"
[ "$(field lag "$after")" -eq 0 ] || fail "lag did not drain"
[[ "$during" =~ state=broker_down ]] || fail "state not broker_down during the outage"
[ "$(field broker_down "$after")" -ge 1 ] || fail "no broker-down event counted"
check events "$D" 3 --min 2000
echo "PASS"
