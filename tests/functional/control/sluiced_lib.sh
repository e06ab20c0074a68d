# SPDX-License-Identifier: BSD-3-Clause
# Shared by the sluiced functional tests: start/stop sluiced with a generated config, wait for
# counters through sluicectl, check the log on disk and Kafka, clean up everything started.
set -euo pipefail

BUILD=${SLUICE_BUILD_ROOT:?}
SLUICED=$BUILD/control/sluiced
SLUICECTL=$BUILD/tools/sluicectl
GEN=$BUILD/bench/sluice-gen
DUMP=$BUILD/tools/sluice-dump
MOCK=$BUILD/tests/functional/forward/kafka_mock
FWDCHECK=${SLUICE_SOURCE_ROOT:?}/tests/functional/forward/fwd_check.py
CHECK=${SLUICE_SOURCE_ROOT:?}/tests/functional/control/sluiced_check.py
TMP=$(mktemp -d /tmp/sluiced-test.XXXXXX)
PREFIX=sluiced-test-$$
SLUICED_PID=
MOCK_PID=

cleanup() {
	if [ -n "$SLUICED_PID" ]; then
		kill -9 "$SLUICED_PID" 2>/dev/null || true
		wait "$SLUICED_PID" 2>/dev/null || true
	fi
	if [ -n "$MOCK_PID" ]; then
		exec 7>&- 2>/dev/null || true
		kill "$MOCK_PID" 2>/dev/null || true
		wait "$MOCK_PID" 2>/dev/null || true
	fi
	rm -rf "/var/run/dpdk/$PREFIX"
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	if [ -f "$TMP/sluiced.err" ]; then
		echo "--- sluiced stderr (last 30 lines)" >&2
		grep -v '^EAL: \|^TELEMETRY' "$TMP/sluiced.err" | tail -30 >&2 || true
	fi
	exit 1
}

. "$(dirname "${BASH_SOURCE[0]}")/../forward/kafka_mock_lib.sh"

# sluiced_start CONFIG [args...]: background, wait for "running" (bounded)
sluiced_start() {
	local cfg=$1 i
	shift
	: >"$TMP/sluiced.out"
	"$SLUICED" -c "$cfg" "$@" >"$TMP/sluiced.out" 2>"$TMP/sluiced.err" &
	SLUICED_PID=$!
	for i in $(seq 300); do
		if grep -q '^sluiced: running' "$TMP/sluiced.out"; then
			METRICS_PORT=$(awk '/metrics on port/ {print $NF}' "$TMP/sluiced.out")
			return 0
		fi
		kill -0 "$SLUICED_PID" 2>/dev/null || fail "sluiced exited during start-up"
		sleep 0.1
	done
	fail "sluiced not running after 30 s"
}

# sluiced_stop [SIGNAL]: signal, wait for exit (bounded), return its status in STOP_STATUS
sluiced_stop() {
	local sig=${1:-TERM} i
	kill -"$sig" "$SLUICED_PID"
	for i in $(seq 300); do
		kill -0 "$SLUICED_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$SLUICED_PID" 2>/dev/null && fail "sluiced still running 30 s after SIG$sig"
	STOP_STATUS=0
	{ wait "$SLUICED_PID"; } 2>/dev/null || STOP_STATUS=$?
	SLUICED_PID=
}

ctl() {
	"$SLUICECTL" -s "$TMP/ctl.sock" -t 10 "$@"
}

# stat FIELD -> number from `sluicectl stats --json`
stat() {
	ctl -j stats | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}

# wait_stat FIELD VALUE [seconds]: poll until equal (bounded)
wait_stat() {
	local field=$1 want=$2 secs=${3:-30} i got=
	for i in $(seq $((secs * 10))); do
		got=$(stat "$field")
		[ "$got" = "$want" ] && return 0
		sleep 0.1
	done
	fail "$field is $got, expected $want after ${secs}s"
}

# dump_count DATA_DIR TOPIC PARTITIONS: verify every partition with sluice-dump, print the
# total record count it reports
dump_count() {
	local p total=0 n
	for p in $(seq 0 $(($3 - 1))); do
		"$DUMP" -v -q "$1/$2-$p" >"$TMP/dump.err" 2>&1 || fail "sluice-dump -v $2-$p: $(cat "$TMP/dump.err")"
		n=$("$DUMP" -f json "$1/$2-$p" | python3 -c 'import json,sys; print(sum(json.loads(l)["count"] for l in sys.stdin if l.startswith("{")))')
		total=$((total + n))
	done
	echo "$total"
}
