#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# /metrics passes `promtool check metrics` (parser + lint), carries the known values with
# correct escaping and histogram series, and /health answers 200 "ok" or 503 with reasons.
. "$(dirname "$0")/ctl_lib.sh"
command -v promtool >/dev/null || { echo "promtool missing (Debian package prometheus)"; exit 77; }

testd_start
URL=http://127.0.0.1:$PORT

curl -sf -D "$TMP/hdr" "$URL/metrics" >"$TMP/m" || fail "scrape"
grep -qi '^content-type: text/plain; version=0.0.4' "$TMP/hdr" || fail "content type: $(cat "$TMP/hdr")"
promtool check metrics <"$TMP/m" >"$TMP/lint" 2>&1 || fail "promtool: $(cat "$TMP/lint")"

for want in \
	'sluice_persisted_events_total 12345' \
	'sluice_nic_rx_packets_total{port="p0",queue="0"} 1000' \
	'sluice_nic_rx_packets_total{port="p0",queue="1"} 2000' \
	'sluice_unaccounted_events 0' \
	'sluice_partition_fdatasync_seconds_bucket{topic="events",partition="0",le="0.001"} 8' \
	'sluice_partition_fdatasync_seconds_bucket{topic="events",partition="0",le="+Inf"} 10' \
	'sluice_partition_fdatasync_seconds_sum{topic="events",partition="0"} 0.0123' \
	'sluice_partition_fdatasync_seconds_count{topic="events",partition="0"} 10' \
	'sluice_producer_lost_events_total{producer="10.0.0.1:\"5000\"\\\n"} 3' \
	'# HELP sluice_worker_rejects_total Datagrams rejected, by reason.\nReasons are listed in docs/operations.md.' \
	'# TYPE sluice_partition_fdatasync_seconds histogram' \
	'sluice_metrics_scrapes_total 1' \
	'sluice_ctl_requests_total 0'; do
	grep -qxF -- "$want" "$TMP/m" || fail "missing line: $want"
done
# The family emitted twice by the daemon appears once, with both samples under it.
[ "$(grep -c '^# TYPE sluice_nic_rx_packets_total ' "$TMP/m")" = 1 ] || fail "family split"
grep -A3 '^# TYPE sluice_nic_rx_packets_total' "$TMP/m" | grep -c 'queue="1"' >/dev/null || fail "samples not grouped"

# Health: 200 ok, then 503 with every reason, then 200 again.
[ "$(curl -s -o "$TMP/h" -w '%{http_code}' "$URL/health")" = 200 ] || fail "health code"
[ "$(cat "$TMP/h")" = ok ] || fail "health body $(cat "$TMP/h")"
ctl config set test.healthy false >/dev/null || fail "set unhealthy"
[ "$(curl -s -o "$TMP/h" -w '%{http_code}' "$URL/health")" = 503 ] || fail "unhealthy code"
grep -q '^partition events-0 failed' "$TMP/h" && grep -q '^forward lag 10' "$TMP/h" ||
	fail "reasons: $(cat "$TMP/h")"
ctl config set test.healthy true >/dev/null
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")" = 200 ] || fail "healthy again"

# Other paths and methods.
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")" = 404 ] || fail "404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/metrics")" = 405 ] || fail "405"
[ "$(curl -s -o /dev/null -w '%{http_code}' -I "$URL/metrics")" = 200 ] || fail "HEAD"
# Bound to loopback only by default.
ss -ltn | grep -c "127.0.0.1:$PORT " >/dev/null || fail "not bound to 127.0.0.1: $(ss -ltn | grep ":$PORT ")"

# Counters of the HTTP server itself.
curl -sf "$URL/metrics" >"$TMP/m2" || fail "scrape 2"
grep -qxF 'sluice_health_checks_total{result="unhealthy"} 1' "$TMP/m2" || fail "health counter"
grep -qxF 'sluice_ctl_requests_total 2' "$TMP/m2" || fail "ctl counter"
promtool check metrics <"$TMP/m2" >"$TMP/lint" 2>&1 || fail "promtool 2: $(cat "$TMP/lint")"
testd_stop
echo PASS
