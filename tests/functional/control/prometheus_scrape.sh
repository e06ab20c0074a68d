#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A real Prometheus server scrapes ctl_testd's /metrics and answers queries over its HTTP API
# with the expected values (escaped label values included). The alert rules shipped in
# docs/alerts.yml pass `promtool check rules` and their unit tests (`promtool test rules`).
. "$(dirname "$0")/ctl_lib.sh"
command -v prometheus >/dev/null || { echo "prometheus missing (Debian package)"; exit 77; }
HERE=$(cd "$(dirname "$0")" && pwd)

promtool check rules "$SRC/docs/alerts.yml" >"$TMP/rules" 2>&1 || fail "rules: $(cat "$TMP/rules")"
cp "$SRC/docs/alerts.yml" "$TMP/alerts.yml"
cp "$HERE/prometheus_alerts_test.yml" "$TMP/"
(cd "$TMP" && promtool test rules prometheus_alerts_test.yml) >"$TMP/rtest" 2>&1 ||
	fail "alert unit tests: $(cat "$TMP/rtest")"

testd_start
PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: sluice
    static_configs:
      - targets: ['127.0.0.1:$PORT']
YML
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
	--web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$TMP/prom.log" 2>&1 &
EXTRA_PIDS+=($!)

q() { # PromQL -> first value, or empty
	curl -sf --get "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
		python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null
}
for ((i = 0; i < 300; i++)); do
	[ "$(q sluice_persisted_events_total)" = 12345 ] && break
	kill -0 "${EXTRA_PIDS[0]}" 2>/dev/null || fail "prometheus exited: $(tail -5 "$TMP/prom.log")"
	sleep 0.2
done
[ "$(q sluice_persisted_events_total)" = 12345 ] || fail "no scrape after 60 s: $(tail -5 "$TMP/prom.log")"
[ "$(q 'up{job="sluice"}')" = 1 ] || fail "target not up"
[ "$(q 'sluice_nic_rx_packets_total{queue="1"}')" = 2000 ] || fail "labelled counter"
[ "$(q 'sum(sluice_worker_rejects_total)')" = 9 ] || fail "sum over reasons"
[ "$(q 'sluice_partition_fdatasync_seconds_bucket{le="0.001"}')" = 8 ] || fail "histogram bucket"
[ "$(q 'sluice_unaccounted_events')" = 0 ] || fail "unaccounted"
# Label escaping survives the round trip: quote, backslash and newline.
v=$(curl -sf --get "http://127.0.0.1:$PPORT/api/v1/query" \
	--data-urlencode 'query=sluice_producer_lost_events_total' |
	python3 -c 'import json,sys; print(repr(json.load(sys.stdin)["data"]["result"][0]["metric"]["producer"]))')
[ "$v" = "'10.0.0.1:\"5000\"\\\\\\n'" ] || fail "label value round trip: $v"
# No scrape failed: the target's last scrape had no samples dropped by the parser.
[ "$(q 'scrape_samples_scraped{job="sluice"} > 0')" != "" ] || fail "no samples"
# Every query of the Grafana dashboard is valid PromQL for this server (syntax and types).
python3 - "$SRC/docs/grafana-sluice.json" "$PPORT" <<'PY' || fail "dashboard queries"
import json, sys, urllib.parse, urllib.request
dash = json.load(open(sys.argv[1]))
n = 0
for p in dash["panels"]:
    for t in p.get("targets", []):
        q = t["expr"].replace("$instance", ".*")
        url = "http://127.0.0.1:%s/api/v1/query?%s" % (sys.argv[2], urllib.parse.urlencode({"query": q}))
        try:
            r = json.load(urllib.request.urlopen(url, timeout=10))
        except Exception as e:
            raise SystemExit("%s: %s" % (q, e))
        assert r["status"] == "success", (q, r)
        n += 1
assert n >= 20, n
PY
echo PASS
