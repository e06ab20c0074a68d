#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# kill -9 a process that appends with group commit (writer threads, O_DIRECT where the
# filesystem allows it) at random instants, SLUICE_KILL9_CYCLES times (default 50). Every
# restart recovers the log and checks, byte for byte, that every offset the killed process
# reported durable is present and that nothing readable is corrupt.
set -u
helper=${1:?usage: storage_kill9.sh HELPER}
cycles=${SLUICE_KILL9_CYCLES:-50}
work=$(mktemp -d "${SLUICE_TEST_DIR:-/tmp}/sluice-kill9-XXXXXX")
pids=()
cleanup() {
	rm -rf "$work"
	for p in "${pids[@]}"; do rm -rf "/var/run/dpdk/sluice_crash_$p"; done
}
trap cleanup EXIT
# The helper writes a line here once recovery is verified; held open read-write so that
# neither side blocks in open(). Waiting on it needs no process per poll.
ready=$work/ready
mkfifo "$ready" || exit 1
exec {rfd}<>"$ready"

min=0 kills=0 early=0 cut_total=0
for ((i = 1; i <= cycles; i++)); do
	out=$work/out.$i
	# a token left by an early-killed cycle must not release this one early
	while read -r -t 0.001 -u "$rfd" _; do :; done
	SLUICE_KILL9_READY=$ready "$helper" append "$work/log" "$min" >"$out" 2>"$work/err.$i" &
	pid=$!
	pids+=("$pid")
	if ((RANDOM % 10 == 0)); then
		# sometimes kill during EAL start-up or recovery itself
		sleep "$(printf '0.%03d' $((RANDOM % 80)))"
		early=$((early + 1))
	else
		# until recovery is verified (or the helper exits: FAIL), 10 s bound
		for ((w = 0; w < 200; w++)); do
			read -r -t 0.05 -u "$rfd" _ && break
			kill -0 "$pid" 2>/dev/null || break
		done
		sleep "$(printf '0.%03d' $((RANDOM % 250 + 5)))"
	fi
	kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
	wait "$pid" 2>/dev/null
	rm -rf "/var/run/dpdk/sluice_crash_$pid"
	if grep -q '^FAIL' "$out"; then
		echo "cycle $i: $(grep '^FAIL' "$out")"
		tail -n 20 "$work/err.$i"
		exit 1
	fi
	if v=$(grep '^verified' "$out"); then
		cut_total=$((cut_total + $(echo "$v" | awk '{print $4}')))
	fi
	last=$(grep '^durable' "$out" | tail -n 1 | awk '{print $2}')
	if [ -n "$last" ] && [ "$last" -gt "$min" ]; then
		min=$last
	fi
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
echo "kill9: $cycles cycles, $kills kills ($early early), last reported durable offset $min," \
	"final $(cat "$out"), quarantined bytes over all recoveries $cut_total"
exit 0
