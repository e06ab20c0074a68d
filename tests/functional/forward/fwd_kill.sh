#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# kill -9 of the forwarding process at random instants, 15 cycles (sluiced_kill9 kills
# sluiced itself 25 times), while records are being appended and forwarded (a broker that
# answers late keeps batches on the wire), the codec switching between zstd and none from
# one run to the next, and the leader of a partition moved every fifth cycle. Afterwards Kafka holds the log exactly once by
# content (kcat and kafkajs), and the broker never answered out of order or duplicate: each
# restart continued exactly where Kafka's tail ended. The Kafka mock runs in its own process
# so that it outlives every killed forwarder.
. "$(dirname "$0")/fwd_lib.sh"

CYCLES=${FWD_KILL_CYCLES:-15}
mock_start -b 3 events:3
# Every answer 40 ms late: batches stay on the wire, so kills land with requests in flight
# (the broker appends at once and answers later: a killed instance's batches may be in
# Kafka without the instance ever knowing).
for b in 1 2 3; do mock_cmd rtt $b 40; done
D=$TMP/log
"$DRIVER" append -d "$D" -n 10000 -v 40 || fail "append"
mid=0 ooo=0 dup=0
for i in $(seq "$CYCLES"); do
	codec=none
	[ $((i % 2)) = 0 ] && codec=zstd
	"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -n 200 -v 40 -r 100 -u 30 -i 100 -s 20 -t 60 \
		-C $codec >"$TMP/k$i.txt" 2>"$TMP/k$i.err" &
	pid=$!
	PIDS+=("$pid")
	# One kill in five at any instant (start-up and tail read included), the others at a
	# random instant once it is forwarding.
	if [ $((RANDOM % 5)) -ne 0 ]; then
		for _ in $(seq 200); do
			grep -q 'state=running' "$TMP/k$i.txt" 2>/dev/null && break
			sleep 0.02
		done
	fi
	if [ $((i % 5)) = 0 ]; then
		mock_cmd leader events $((i / 5 % 3)) $((i / 5 % 3 + 1))
	fi
	sleep "0.$(printf '%03d' $((RANDOM % 300)))"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	last=$(last "$TMP/k$i.txt" || true)
	if [ -n "$last" ]; then
		[ "$(field inflight "$last")" -gt 0 ] && mid=$((mid + 1))
		ooo=$((ooo + $(field ooo "$last")))
		dup=$((dup + $(field dup "$last")))
	fi
done
echo "kills with records in flight: $mid of $CYCLES"
[ "$mid" -ge $((CYCLES / 2)) ] || fail "too few kills landed mid-forwarding ($mid)"
for b in 1 2 3; do mock_cmd rtt $b 0; done
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -w -t 60 >"$TMP/final.txt" || fail "final forward"
check events "$D" 3 --kafkajs --min 10000
l=$(last "$TMP/final.txt")
ooo=$((ooo + $(field ooo "$l")))
dup=$((dup + $(field dup "$l")))
echo "out-of-order answers: $ooo, duplicate answers: $dup"
[ "$ooo" = 0 ] && [ "$dup" = 0 ] || fail "the broker saw sequences out of order or duplicated"
echo "PASS"
