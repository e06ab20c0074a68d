# SPDX-License-Identifier: BSD-3-Clause
# Shared by the forwarder's functional tests: a kafka_mock process controlled via a fifo,
# fwd_driver, the content check (fwd_check.py: kcat and kafkajs against the log), and
# cleanup of everything a test started.
set -euo pipefail

BIN=${SLUICE_BUILD_ROOT:?}/tests/functional/forward
SRC=${SLUICE_SOURCE_ROOT:?}/tests/functional/forward
DRIVER=$BIN/fwd_driver
TMP=$(mktemp -d /tmp/sluice-fwd.XXXXXX)
MOCK_PID=
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	if [ -n "$MOCK_PID" ]; then
		exec 7>&- 2>/dev/null || true
		kill "$MOCK_PID" 2>/dev/null || true
		wait "$MOCK_PID" 2>/dev/null || true
	fi
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

MOCK=$BIN/kafka_mock
. "$(dirname "${BASH_SOURCE[0]}")/kafka_mock_lib.sh"

# mock_cmd "down 1" -> waits for the mock's answer
mock_cmd() {
	local before i
	before=$(wc -l <"$TMP/mock.out")
	echo "$*" >&7
	for i in $(seq 50); do
		[ "$(wc -l <"$TMP/mock.out")" -gt "$before" ] && break
		sleep 0.1
	done
	[ "$(tail -1 "$TMP/mock.out")" = ok ] || fail "kafka_mock: $* -> $(tail -1 "$TMP/mock.out")"
}

# check KAFKA_TOPIC LOG_DIR PARTITIONS [fwd_check.py options]: Kafka == the log, by content
check() {
	local topic=$1 dir=$2 parts=$3
	shift 3
	python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t "$topic" -d "$dir" -P "$parts" "$@" ||
		fail "Kafka topic $topic does not hold the log $dir exactly once"
}

# field NAME "stat line" -> the number after NAME=
field() { [[ "$2" =~ (^| )$1=(-?[0-9]+) ]] && echo "${BASH_REMATCH[2]}"; }

# last FILE -> its last stat line
last() { grep '^stat' "$1" | tail -1; }
