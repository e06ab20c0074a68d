#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# kill -9 between the steps of a segment roll (storage/roll.c): a process appending through the
# writer threads stops at the n-th time a roll reaches a point and is killed there, for every
# point, SLUICE_KILL_ROLL_CYCLES times each (default 2):
#   preparing  the roll helper is about to create the next segment
#   prepared   the next segment exists (prepared.*), preallocated, unused
#   swapped    the writer swapped it in (unnamed: it may hold bytes, none of them durable)
#   naming     ... and the helper is about to rename it
#   named      its <base> name is durable; the old segment may not be sealed yet
#   sealing    the old segment is about to be trimmed and its indexes written
#   sealed     ... done, checkpoint advanced
# Every restart recovers the log and checks, byte for byte, that every offset the killed
# process reported durable is present and that no prepared segment is left.
set -u
helper=${1:?usage: storage_kill_roll.sh HELPER}
cycles=${SLUICE_KILL_ROLL_CYCLES:-2}
work=$(mktemp -d "${SLUICE_TEST_DIR:-/tmp}/sluice-killroll-XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$work"
	for p in "${pids[@]}"; do rm -rf "/var/run/dpdk/sluice_crash_$p"; done
}
trap cleanup EXIT
# a FIFO nobody writes to: `read -t` on it is a sleep without a process per poll
mkfifo "$work/tick" || exit 1
exec {tick}<>"$work/tick"

min=0 kills=0 cut_total=0 i=0
for point in preparing prepared swapped naming named sealing sealed; do
	for ((c = 1; c <= cycles; c++)); do
		i=$((i + 1))
		out=$work/out.$i
		n=$((RANDOM % 3 + 2))
		: >"$out"
		SLUICE_KILL_AT=$point SLUICE_KILL_AT_N=$n "$helper" append "$work/log" "$min" \
			>"$out" 2>"$work/err.$i" &
		pid=$!
		pids+=("$pid")
		# until the point is reached (or the helper exits: FAIL), 20 s bound; no process
		# per poll: the host may be loaded
		reached=0
		for ((w = 0; w < 400; w++)); do
			if [[ $(<"$out") == *$'\n'"at $point "* || $(<"$out") == "at $point "* ]]; then
				reached=1
				break
			fi
			kill -0 "$pid" 2>/dev/null || break
			read -r -t 0.05 -u "$tick" _ || true
		done
		kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
		wait "$pid" 2>/dev/null
		rm -rf "/var/run/dpdk/sluice_crash_$pid"
		if grep -q '^FAIL' "$out"; then
			echo "$point (cycle $i): $(grep '^FAIL' "$out")"
			tail -n 20 "$work/err.$i"
			exit 1
		fi
		if [ "$reached" != 1 ]; then
			echo "$point (cycle $i): the roll never reached '$point' ($n)"
			tail -n 5 "$out" "$work/err.$i"
			exit 1
		fi
		v=$(grep '^verified' "$out")
		cut_total=$((cut_total + $(echo "$v" | awk '{print $4}')))
		last=$(grep '^durable' "$out" | tail -n 1 | awk '{print $2}')
		if [ -n "$last" ] && [ "$last" -gt "$min" ]; then
			min=$last
		fi
	done
done
out=$work/out.final
if ! "$helper" verify "$work/log" "$min" >"$out" 2>"$work/err.final"; then
	echo "final verify failed: $(cat "$out")"
	tail -n 20 "$work/err.final"
	exit 1
fi
if [ "$min" -le 0 ]; then
	echo "no durable offset was ever reported: the test did not exercise anything"
	exit 1
fi
echo "kill_roll: $i kills at roll points ($kills delivered), last reported durable offset" \
	"$min, final $(cat "$out"), quarantined bytes over all recoveries $cut_total"
exit 0
