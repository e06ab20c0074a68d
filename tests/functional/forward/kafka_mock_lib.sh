# SPDX-License-Identifier: BSD-3-Clause
# Sourced by functional tests: the embedded Kafka as its own process (kafka_mock), so that the
# cluster outlives the forwarder or sluiced being killed and restarted.
# Needs: $TMP (the test's temp dir), $MOCK (the kafka_mock binary), a fail() function.

# mock_start topic:partitions... -> sets BOOTSTRAP and MOCK_PID; commands go to fd 7
mock_start() {
	mkfifo "$TMP/mock.in"
	"$MOCK" -t 300 "$@" <"$TMP/mock.in" >"$TMP/mock.out" 2>"$TMP/mock.err" &
	MOCK_PID=$!
	exec 7>"$TMP/mock.in"
	local i
	for i in $(seq 100); do
		[ -s "$TMP/mock.out" ] && break
		sleep 0.1
	done
	BOOTSTRAP=$(head -1 "$TMP/mock.out")
	[ -n "$BOOTSTRAP" ] || fail "kafka_mock did not start: $(cat "$TMP/mock.err")"
}
