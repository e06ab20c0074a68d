# SPDX-License-Identifier: BSD-3-Clause
# Shared by the ctl functional tests: paths, a temp dir, ctl_testd start/stop, failure helper.
# Every process started here is stopped by the EXIT trap; every wait is bounded.
set -uo pipefail

BUILD=${SLUICE_BUILD_ROOT:?run through meson test}
SRC=${SLUICE_SOURCE_ROOT:?run through meson test}
TESTD=$BUILD/tests/functional/control/ctl_testd
CTL=$BUILD/tools/sluicectl
TMP=$(mktemp -d /tmp/sluice-ctl.XXXXXX)
chmod 755 "$TMP"
SOCK=$TMP/ctl.sock
TESTD_PID=
EXTRA_PIDS=()
EAL_PREFIX=

cleanup() {
	local p
	for p in "${EXTRA_PIDS[@]}" $TESTD_PID; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	[ -n "$EAL_PREFIX" ] && rm -rf "/var/run/dpdk/$EAL_PREFIX"
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/testd.log" ] && { echo "--- ctl_testd log:" >&2; tail -20 "$TMP/testd.log" >&2; }
	exit 1
}

# ctl_testd with the given extra args; waits (<= 20 s) for the socket and the HTTP port.
testd_start() {
	rm -f "$TMP/port"
	"$TESTD" --socket "$SOCK" --port-file "$TMP/port" "$@" >"$TMP/testd.log" 2>&1 &
	TESTD_PID=$!
	local i
	for ((i = 0; i < 200; i++)); do
		[ -S "$SOCK" ] && [ -s "$TMP/port" ] && break
		kill -0 "$TESTD_PID" 2>/dev/null || fail "ctl_testd exited early"
		sleep 0.1
	done
	[ -S "$SOCK" ] && [ -s "$TMP/port" ] || fail "ctl_testd did not start"
	PORT=$(cat "$TMP/port")
}

# Stop ctl_testd and check that it exited cleanly (status 0) within 10 s.
testd_stop() {
	local i
	kill "$TESTD_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$TESTD_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$TESTD_PID" || fail "ctl_testd exit status $?"
	TESTD_PID=
}

ctl() { "$CTL" --socket "$SOCK" --timeout 10 "$@"; }
