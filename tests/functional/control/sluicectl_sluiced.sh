#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sluicectl, /metrics, Prometheus and dpdk-telemetry.py against the real sluiced: every
# command, --json parsed, a runtime `config set dataplane.batch_bytes` that visibly changes how
# batches are sealed while sluice-gen streams events over memif, refused keys and peers,
# garbage on the socket, and `shutdown` ending the daemon with status 0.
. "$(dirname "$0")/ctl_lib.sh"
SLUICED=$BUILD/control/sluiced
GEN=$BUILD/bench/sluice-gen
[ -x "$SLUICED" ] && [ -x "$GEN" ] || { echo "sluiced or sluice-gen not built"; exit 77; }

EAL_PREFIX=sluicectl-e2e-$$
GEN_PREFIX=sluicectl-e2e-gen-$$
SLUICED_PID=
GEN_PID=
stop_all() {
	local p
	for p in $GEN_PID $SLUICED_PID; do
		kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "/var/run/dpdk/$GEN_PREFIX"
	cleanup
}
trap stop_all EXIT
sfail() {
	echo "--- sluiced stderr:" >&2
	grep -v '^EAL: \|^TELEMETRY' "$TMP/sluiced.err" | tail -20 >&2
	fail "$@"
}

cat >"$TMP/sluiced.ini" <<INI
[eal]
memory = no-huge
memory_mb = 256
file_prefix = $EAL_PREFIX
[storage]
data_dir = $TMP/data
# holds a whole 1M batch beside a partial 4K tail block
write_buffer = 2M
[port.p0]
device = net_memif0
args = role=server,socket=$TMP/memif.sock,socket-abstract=no
promiscuous = true
link_wait = 0
[topic.events]
partitions = 1
[listener.raw]
udp_port = 9000
format = raw
[kafka]
brokers = embedded
[control]
socket = $SOCK
metrics_listen = 127.0.0.1:0
[dataplane]
linger = 1s
batch_bytes = 1M
batch_buffers = 64
mbufs = 8191
INI
"$SLUICED" -c "$TMP/sluiced.ini" >"$TMP/sluiced.out" 2>"$TMP/sluiced.err" &
SLUICED_PID=$!
for ((i = 0; i < 300; i++)); do
	grep -q '^sluiced: running' "$TMP/sluiced.out" && break
	kill -0 "$SLUICED_PID" 2>/dev/null || sfail "sluiced exited during start-up"
	sleep 0.1
done
grep -q '^sluiced: running' "$TMP/sluiced.out" || sfail "sluiced not running after 30 s"
J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
metric() { # family [label=value] -> sum of matching samples, from `sluicectl --json metrics`
	ctl --json metrics | python3 -c '
import json, sys
fam, want = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
t = 0
for f in json.load(sys.stdin)["families"]:
    if f["name"] == fam:
        t += sum(s["value"] for s in f["samples"] if all(s["labels"].get(k) == v for k, v in want.items()))
print(int(t))' "$@"
}

# -- every read-only command, human and --json
[ "$(ctl --json status | J 'd["state"]')" = running ] || sfail "status"
PORT=$(ctl --json status | J 'd["metrics_port"]')
ctl status | grep -c '^state  *running' >/dev/null || sfail "status table"
ctl stats >/dev/null || sfail "stats"
[ "$(ctl --json stats | J 'd["unaccounted"]')" = 0 ] || sfail "stats json"
# No memif peer yet: the link is down, and that is the one failing check (docs/operations.md,
# Health): UNHEALTHY, exit 6. Once sluice-gen connects (below) the same command says healthy.
ctl health >"$TMP/h" 2>&1
rc=$?
[ $rc = 6 ] && [ "$(cat "$TMP/h")" = "$(printf 'UNHEALTHY\n  port p0: link down')" ] ||
	sfail "health with no memif peer: exit $rc: $(cat "$TMP/h")"
ctl producers >/dev/null || sfail "producers"
[ "$(ctl --json partitions | J 'd["partitions"][0]["topic"]')" = events ] || sfail "partitions"
ctl --json segments events-0 | J 'len(d["segments"])' >/dev/null || sfail "segments"
ctl segments events-7 2>"$TMP/e"
[ $? = 1 ] || sfail "segments of a missing partition: $(cat "$TMP/e")"
[ "$(ctl config get dataplane.batch_bytes)" = 1M ] || sfail "config get"
ctl --json config list | J '[k["key"] for k in d["keys"]].index("dataplane.linger")' >/dev/null ||
	sfail "config list"
ctl top -i 0.2 -n 1 >"$TMP/top" && grep -c '^cores' "$TMP/top" >/dev/null || sfail "top"
grep -A3 '^cores' "$TMP/top" | grep -c 'ring_fill_ratio' >/dev/null || sfail "top lacks ring fill: $(cat "$TMP/top")"
# One ring per (worker, writer), its fill a ratio.
ctl --json metrics | python3 -c '
import json, sys
s = [s for f in json.load(sys.stdin)["families"] if f["name"] == "sluice_worker_ring_fill_ratio" for s in f["samples"]]
assert [x["labels"] for x in s] == [{"worker": "0", "writer": "0"}], s
assert all(0 <= x["value"] <= 1 for x in s), s' || sfail "ring fill gauge"

# The forwarder is held while events arrive so that /health sees a forward lag (below).
ctl forwarder pause >/dev/null || sfail "pause before ingest"

# -- config set changes behaviour: with 1M batches and 1 s linger, 100-byte events never fill a
# batch; after `config set dataplane.batch_bytes 4K` batches are sealed by size. Two senders,
# one before and one after the config set, so that no event of the second phase can arrive
# before the new size is in force, however loaded the machine is.
# sluice-gen lingers (connected) after its last packet so that nothing is left in the memif
# ring when it disconnects; it is stopped once its events are counted.
gen_phase() { # count: send COUNT events over memif and wait until sluiced parsed TOTAL
	"$GEN" --vdev "net_memif0,role=client,socket=$TMP/memif.sock,socket-abstract=no" \
		--lcores 0@0 --file-prefix "$GEN_PREFIX" --format raw --dst-port 9000 \
		--event-size 100 --pps 1000 --count "$1" --link-wait-ms 15000 --linger-ms 60000 \
		--quiet --summary "$TMP/gen.json" 2>"$TMP/gen.err" &
	GEN_PID=$!
	for ((i = 0; i < 600; i++)); do
		[ "$(ctl --json stats | J 'd["parsed"]')" = "$2" ] && break
		kill -0 "$GEN_PID" 2>/dev/null || sfail "sluice-gen exited early: $(cat "$TMP/gen.err")"
		sleep 0.1
	done
	[ "$(ctl --json stats | J 'd["parsed"]')" = "$2" ] ||
		sfail "parsed $(ctl --json stats | J 'd["parsed"]') of $2: $(ctl stats; cat "$TMP/gen.err")"
	# Peer connected, nothing wrong (the forwarder is paused, not down): healthy, exit 0.
	ctl health >"$TMP/h" 2>&1
	rc=$?
	[ $rc = 0 ] && [ "$(cat "$TMP/h")" = healthy ] ||
		sfail "health with sluice-gen connected: exit $rc: $(cat "$TMP/h")"
	kill -INT "$GEN_PID" 2>/dev/null
	wait "$GEN_PID" || sfail "sluice-gen exit status $?: $(cat "$TMP/gen.err")"
	GEN_PID=
	rm -rf "/var/run/dpdk/$GEN_PREFIX"
}
gen_phase 500 500
before=$(metric sluice_worker_batches_sealed_total cause=size)
[ "$before" = 0 ] || sfail "$before batches sealed by size with 1M batches"
out=$(ctl config set dataplane.batch_bytes 4K) || sfail "config set"
[ "$out" = "dataplane.batch_bytes = 4K (was 1M)" ] || sfail "config set said: $out"
gen_phase 2500 3000
for ((i = 0; i < 300; i++)); do
	[ "$(ctl --json stats | J 'd["persisted"]')" = 3000 ] && break
	sleep 0.1
done
[ "$(ctl --json stats | J 'd["persisted"]')" = 3000 ] ||
	sfail "persisted $(ctl --json stats | J 'd["persisted"]') of 3000: $(ctl stats)"
after=$(metric sluice_worker_batches_sealed_total cause=size)
# 2500 events of 100 bytes (plus record framing) in 4 KiB batches: at least 2500 * 100 / 4096
# = 61 seals by size, less what the 1 s linger sealed first (at 1000 events/s, at most one
# batch per second of sending); 10 is a bound that only a broken config set misses.
[ "$after" -ge 10 ] || sfail "only $after batches sealed by size after batch_bytes = 4K"
echo "batches sealed by size: $before before, $after after config set"

# -- /health: forward lag (records and age), free disk, each with its reason, tuned at run time
health() { curl -s -o "$TMP/health" -w '%{http_code}' "http://127.0.0.1:$PORT/health"; }
reasons() { grep -c "$1" "$TMP/health" || true; }
health >/dev/null
[ "$(reasons 'forward lag')" = 0 ] && [ "$(reasons 'disk nearly full')" = 0 ] &&
	[ "$(reasons 'oldest unforwarded')" = 0 ] ||
	sfail "/health complains with its checks at their defaults: $(cat "$TMP/health")"
ctl config set control.health_max_forward_lag_events 100 >/dev/null || sfail "set lag events"
ctl config set control.health_max_forward_lag 1s >/dev/null || sfail "set lag age"
ctl config set control.health_min_free_percent 100 >/dev/null || sfail "set free percent"
code=$(health)
[ "$code" = 503 ] || sfail "/health $code with 3000 records held: $(cat "$TMP/health")"
[ "$(reasons 'events-0: forward lag 3000 records > control.health_max_forward_lag_events = 100')" = 1 ] ||
	sfail "/health lacks the forward lag: $(cat "$TMP/health")"
[ "$(reasons 'events-0: oldest unforwarded record is .* s old > control.health_max_forward_lag = 1.0 s')" = 1 ] ||
	sfail "/health lacks the forward lag age: $(cat "$TMP/health")"
[ "$(reasons 'disk nearly full: .*% free < control.health_min_free_percent = 100%')" = 1 ] ||
	sfail "/health lacks the disk: $(cat "$TMP/health")"
[ "$(ctl --json status | J 'len([a for a in d["alarms"] if "forward lag" in a])')" = 1 ] ||
	sfail "status alarms lack the forward lag"
free=$(metric sluice_storage_disk_free_bytes)
size=$(metric sluice_storage_disk_size_bytes)
[ "$free" -gt 0 ] && [ "$size" -ge "$free" ] || sfail "disk gauges: free $free size $size"
ctl forwarder resume >/dev/null || sfail "resume after health"
for ((i = 0; i < 300; i++)); do
	[ "$(ctl --json stats | J 'd["forwarded"]')" = 3000 ] && break
	sleep 0.1
done
[ "$(ctl --json stats | J 'd["forwarded"]')" = 3000 ] || sfail "forwarded $(ctl --json stats | J 'd["forwarded"]') of 3000"
ctl config set control.health_min_free_percent 0 >/dev/null || sfail "set free percent 0"
health >/dev/null
[ "$(reasons 'forward lag')" = 0 ] && [ "$(reasons 'oldest unforwarded')" = 0 ] &&
	[ "$(reasons 'disk nearly full')" = 0 ] ||
	sfail "/health still complains once forwarded and the check is off: $(cat "$TMP/health")"
echo "/health: lag and disk reasons appear and clear"

# -- refused settings, forwarder, flush
ctl config set dataplane.workers 4 2>"$TMP/e"
[ $? = 1 ] && [ -s "$TMP/e" ] || sfail "non-runtime key accepted"
ctl config set no.such.key 1 2>"$TMP/e"
[ $? = 1 ] && grep -c 'unknown config key' "$TMP/e" >/dev/null || sfail "unknown key: $(cat "$TMP/e")"
ctl config set dataplane.linger forever 2>"$TMP/e"
[ $? = 1 ] && [ -s "$TMP/e" ] || sfail "bad value accepted"
ctl forwarder pause >/dev/null || sfail "pause"
ctl forwarder resume >/dev/null || sfail "resume"
ctl flush >/dev/null || sfail "flush"

# -- the real /metrics: promtool, then a real Prometheus scrape
curl -sf "http://127.0.0.1:$PORT/metrics" >"$TMP/m" || sfail "scrape"
# Lint problems are failures too: names are the operator's interface (issue 8's acceptance).
promtool check metrics <"$TMP/m" >"$TMP/lint" 2>&1 || sfail "promtool check metrics on sluiced's /metrics: $(cat "$TMP/lint")"
grep -c '^sluice_healthy ' "$TMP/m" >/dev/null || sfail "no sluice_healthy"
# Issue 8's two latency histograms, observed by now: events were made durable and forwarded.
for h in sluice_log_ingest_to_durable_seconds sluice_forwarder_ack_latency_seconds; do
	c=$(awk -v n="${h}_count" '$1 ~ "^"n"({|$)" { s += $2 } END { print s + 0 }' "$TMP/m")
	[ "$c" -gt 0 ] || sfail "$h: no observations in /metrics"
done
PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'global: {scrape_interval: 1s, scrape_timeout: 900ms}\nscrape_configs:\n  - job_name: sluice\n    static_configs: [{targets: ["127.0.0.1:%s"]}]\n' \
	"$PORT" >"$TMP/prom.yml"
prometheus --config.file="$TMP/prom.yml" --storage.tsdb.path="$TMP/tsdb" \
	--web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$TMP/prom.log" 2>&1 &
EXTRA_PIDS+=($!)
q() {
	curl -sf --get "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
		python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null
}
for ((i = 0; i < 300; i++)); do
	[ "$(q 'sum(sluice_partition_persisted_records_total)')" = 3000 ] && break
	sleep 0.2
done
[ "$(q 'sum(sluice_partition_persisted_records_total)')" = 3000 ] ||
	sfail "Prometheus did not see 3000 persisted records: $(tail -3 "$TMP/prom.log")"
[ "$(q 'sluice_unaccounted_events')" = 0 ] || sfail "unaccounted via Prometheus"

# Every family sluiced exports, through sluicectl and on /metrics, is described in
# docs/operations.md (metrics_docs checks the sources' full set the same way).
ctl --json metrics >"$TMP/mj" || sfail "metrics --json"
python3 - "$SRC/docs/operations.md" "$TMP/mj" "$TMP/m" <<'PY' || sfail "metrics missing from docs/operations.md"
import json, re, sys
doc = open(sys.argv[1]).read()
names = {f["name"] for f in json.load(open(sys.argv[2]))["families"]}
names |= set(re.findall(r"^# TYPE (\S+) ", open(sys.argv[3]).read(), re.M))
missing = sorted(n for n in names if "`%s`" % n not in doc)
if missing:
    sys.exit("not in docs/operations.md: " + " ".join(missing))
print(len(names), "live metric families documented")
PY

# -- DPDK telemetry of the real daemon
printf '/sluice/stats\n/sluice/health\n' | timeout 30 python3 "$(command -v dpdk-telemetry.py)" \
	-f "$EAL_PREFIX" >"$TMP/tel" 2>&1 || sfail "dpdk-telemetry.py: $(cat "$TMP/tel")"
python3 -c 'import json,sys
st = json.loads(open(sys.argv[1]).readline())["/sluice/stats"]
assert st["sluice_partition_persisted_records_total"] == 3000, st' "$TMP/tel" ||
	sfail "telemetry: $(cat "$TMP/tel")"

# -- peers and garbage
setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" --socket "$SOCK" status 2>"$TMP/e"
rc=$?
[ $rc = 4 ] && grep -c 'permission denied' "$TMP/e" >/dev/null || sfail "nobody: exit $rc $(cat "$TMP/e")"
python3 - "$SOCK" <<'PY' || sfail "garbage"
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
f = s.makefile("rb")
for l in [b"\x00\x01garbage", b"{" * 3000, b'{"v":1,"cmd":"nope"}', b"x" * 70000]:
    s.sendall(l + b"\n")
    r = json.loads(f.readline())
    assert r["ok"] is False and r["error"], r
PY
[ "$(ctl --json status | J 'd["state"]')" = running ] || sfail "daemon unusable after garbage"

# -- shutdown through the socket: clean exit
ctl shutdown >/dev/null || sfail "shutdown"
for ((i = 0; i < 300; i++)); do
	kill -0 "$SLUICED_PID" 2>/dev/null || break
	sleep 0.1
done
wait "$SLUICED_PID"
rc=$?
SLUICED_PID=
[ $rc = 0 ] || sfail "sluiced exit status $rc after shutdown"
[ -e "$SOCK" ] && sfail "control socket left behind"
echo PASS
