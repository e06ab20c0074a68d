#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# kill -9 of the forwarding process at random instants, 25 cycles, each restart appending
# more: afterwards every local offset is in Kafka exactly once and in order. The Kafka mock
# runs in its own process so that it outlives every killed forwarder.
. "$(dirname "$0")/fwd_lib.sh"

CYCLES=${FWD_KILL_CYCLES:-25}
mock_start events:3 txn:3
D=$TMP/log
"$DRIVER" append -d "$D" -n 10000 -v 40 || fail "append"
mid=0
for i in $(seq "$CYCLES"); do
	# Small in-flight window: forwarding takes long enough that most kills land mid-flight.
	"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -n 300 -v 40 -i 5 -s 20 -t 60 \
		>"$TMP/k$i.txt" 2>"$TMP/k$i.err" &
	pid=$!
	PIDS+=("$pid")
	# One kill in five at any instant (start-up, tail read included), the others at a
	# random instant once it is forwarding.
	if [ $((RANDOM % 5)) -ne 0 ]; then
		for _ in $(seq 200); do
			grep -q 'state=running' "$TMP/k$i.txt" 2>/dev/null && break
			sleep 0.02
		done
	fi
	sleep "0.$(printf '%03d' $((RANDOM % 250)))"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	last=$(grep '^stat' "$TMP/k$i.txt" | tail -1 || true)
	if [[ "$last" =~ state=running\ lag=([0-9]+)\ inflight=([0-9]+) ]] &&
		[ "${BASH_REMATCH[1]}" -gt 0 ] && [ "${BASH_REMATCH[2]}" -gt 0 ]; then
		mid=$((mid + 1))
	fi
done
echo "kills with records in flight: $mid of $CYCLES"
[ "$mid" -ge $((CYCLES / 3)) ] || fail "too few kills landed mid-forwarding ($mid)"
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -w -t 60 >"$TMP/final.txt" || fail "final forward"
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t events -e "$(ends "$D")" -a test-appliance -v 40 ||
	fail "continuity after $CYCLES kills"

# The same in transactional mode, fewer cycles: every kill leaves a transaction open that
# the next instance's init_transactions must fence before its tail read.
D=$TMP/txn
"$DRIVER" append -d "$D" -T txn -n 4000 -v 40 || fail "append txn"
for i in $(seq 5); do
	"$DRIVER" forward -d "$D" -T txn -x -a txn-appliance -b "$BOOTSTRAP" -n 200 -v 40 -i 5 \
		-s 20 -t 60 >"$TMP/x$i.txt" 2>"$TMP/x$i.err" &
	pid=$!
	PIDS+=("$pid")
	for _ in $(seq 200); do
		grep -q 'state=running' "$TMP/x$i.txt" 2>/dev/null && break
		sleep 0.02
	done
	sleep "0.$(printf '%03d' $((RANDOM % 250)))"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
done
"$DRIVER" forward -d "$D" -T txn -x -a txn-appliance -b "$BOOTSTRAP" -w -t 60 >"$TMP/xfinal.txt" ||
	fail "final transactional forward"
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t txn -e "$(ends "$D" -T txn)" -a txn-appliance -v 40 ||
	fail "continuity after transactional kills"
echo "PASS"
