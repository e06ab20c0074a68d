#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# /health under load never raises a false alarm: sluice-gen streams kafka batches (partition
# -1, so events sit in open batches and cross the rings) over two memif queues into two
# workers at up to 300 k events/s while 1,000 /health probes (and a /metrics scrape every
# 20th probe) run against the real sluiced. Every probe must answer 200 and every scrape
# sluice_unaccounted_events 0; afterwards the shutdown accounting balances and the exit
# status is 0. The rate reached is reported, never asserted (the machine is shared); the test
# only requires that events kept arriving while it probed.
. "$(dirname "$0")/sluiced_lib.sh"
[ -x "$GEN" ] || { echo "sluice-gen not built"; exit 77; }

PROBES=${SLUICE_HEALTH_PROBES:-1000}
EPS=${SLUICE_HEALTH_EPS:-300k}
GEN_PREFIX=$PREFIX-gen
GEN_PID=
stop_gen() {
	if [ -n "$GEN_PID" ]; then
		kill -9 "$GEN_PID" 2>/dev/null || true
		wait "$GEN_PID" 2>/dev/null || true
		GEN_PID=
	fi
	rm -rf "/var/run/dpdk/$GEN_PREFIX"
}
trap 'stop_gen; cleanup' EXIT

cat >"$TMP/sluiced.ini" <<EOF
# written by sluiced_health_load.sh
[eal]
memory = no-huge
memory_mb = 512
file_prefix = $PREFIX
[storage]
data_dir = $TMP/data
[port.p0]
device = net_memif0
args = role=server,socket=$TMP/memif.sock,socket-abstract=no
promiscuous = true
link_wait = 0
[topic.events]
partitions = 4
segment_bytes = 16M
[listener.batches]
udp_port = 9000
format = kafka
[kafka]
enabled = false
[control]
socket = $TMP/ctl.sock
metrics_listen = 127.0.0.1:0
[dataplane]
workers = 2
mbufs = 16383
batch_buffers = 512
batch_bytes = 64K
EOF
sluiced_start "$TMP/sluiced.ini"

# Bounded: --duration caps the generator even if the test dies before it stops it.
"$GEN" --vdev "net_memif0,role=client,socket=$TMP/memif.sock,socket-abstract=no" \
	--lcores 0@0 --queues 2 --file-prefix "$GEN_PREFIX" --format kafka --partition -1 \
	--events-per-packet 10 --event-size 40 --producers 8 --keys 1000 --eps "$EPS" \
	--duration 120 --link-wait-ms 15000 --linger-ms 2000 --quiet \
	--summary "$TMP/gen.json" 2>"$TMP/gen.err" &
GEN_PID=$!
for ((i = 0; i < 300; i++)); do
	[ "$(stat parsed)" -ge 10000 ] && break
	kill -0 "$GEN_PID" 2>/dev/null || fail "sluice-gen exited: $(cat "$TMP/gen.err")"
	sleep 0.1
done
[ "$(stat parsed)" -ge 10000 ] || fail "no traffic arrived: $(cat "$TMP/gen.err")"

python3 - "$METRICS_PORT" "$PROBES" "$SLUICECTL" "$TMP/ctl.sock" >"$TMP/probes.json" <<'PY' ||
import http.client, json, subprocess, sys, time

port, probes, ctl, sock = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

def get(path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body

def parsed():
    out = subprocess.run([ctl, "-s", sock, "-j", "stats"], capture_output=True, check=True)
    return json.loads(out.stdout)["parsed"]

p0, t0 = parsed(), time.monotonic()
codes, bad, scrapes, residues = {}, [], 0, []
for i in range(probes):
    status, body = get("/health")
    codes[status] = codes.get(status, 0) + 1
    if status != 200 and len(bad) < 10:
        bad.append(body.strip())
    if i % 20 == 0:
        status, body = get("/metrics")
        scrapes += 1
        for line in body.splitlines():
            if line.startswith("sluice_unaccounted_events "):
                v = float(line.split()[1])
                if v != 0:
                    residues.append(v)
p1, t1 = parsed(), time.monotonic()
print(json.dumps({"codes": codes, "bad": bad, "scrapes": scrapes, "residues": residues,
                  "events": p1 - p0, "seconds": t1 - t0,
                  "events_per_s": (p1 - p0) / (t1 - t0)}))
PY
	fail "probe loop: $(cat "$TMP/probes.json")"
kill -0 "$GEN_PID" 2>/dev/null || fail "sluice-gen stopped during the probes: $(cat "$TMP/gen.err")"
echo "probes: $(cat "$TMP/probes.json")"
python3 - "$TMP/probes.json" "$PROBES" <<'PY' || fail "false alarms under load: $(cat "$TMP/probes.json")"
import json, sys
r = json.load(open(sys.argv[1]))
probes = int(sys.argv[2])
assert r["codes"] == {"200": probes}, r["codes"]
assert r["residues"] == [], r["residues"]
assert r["scrapes"] == (probes + 19) // 20, r["scrapes"]
assert r["events"] > 0, "no events arrived while probing"
PY

# The producer table, read live from the control thread while the workers run: every
# producer with its source, nothing lost or duplicated.
ctl -j producers >"$TMP/producers.json" || fail "producers"
python3 - "$TMP/producers.json" <<'PY' || fail "producers: $(cat "$TMP/producers.json")"
import json, re, sys
r = json.load(open(sys.argv[1]))
assert r["total"] == 8, r["total"]
for p in r["producers"]:
    assert re.fullmatch(r"10\.0\.0\.[0-9]+:[0-9]+", p["source"]), p
    assert p["lost"] == 0 and p["duplicates"] == 0, p
    assert p["events"] > 0, p
assert r["evictions"] == 0 and r["untracked_batches"] == 0, r
PY

# Stop the generator, let everything become durable, and stop: the chain must balance.
kill -INT "$GEN_PID"
wait "$GEN_PID" || fail "sluice-gen failed: $(cat "$TMP/gen.err")"
GEN_PID=
ctl flush >/dev/null || fail "flush"
ctl -j stats >"$TMP/stats.json" || fail "stats"
python3 - "$TMP/stats.json" <<'PY' || fail "stats after the load: $(cat "$TMP/stats.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["unaccounted"] == 0, s
assert s["parsed"] == s["persisted"] + sum(s["shed"].values()), s
PY
sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "sluiced exited $STOP_STATUS"
grep -q 'unaccounted 0' "$TMP/sluiced.err" || fail "no balanced accounting line at shutdown"
echo "sluiced_health_load: $PROBES probes, all 200, accounting balanced at shutdown"
