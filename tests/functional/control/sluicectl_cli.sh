#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sluicectl against the real control socket (served by ctl_testd, a double of the daemon):
# every command in human and --json form, config set observable through /metrics, bad
# requests, garbage, oversized lines and an unauthorised peer; the socket survives all of it.
. "$(dirname "$0")/ctl_lib.sh"

testd_start --mode 0666
J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# -- every command, human form (exit 0, recognisable content)
ctl status >"$TMP/out" || fail "status exit $?"
grep -q '^state  *running' "$TMP/out" || fail "status: $(cat "$TMP/out")"
grep -q 'p0' "$TMP/out" || fail "status has no port table"
ctl stats | grep -c '^persisted  *2991' >/dev/null || fail "stats"
ctl health | grep -cx healthy >/dev/null || fail "health"
ctl producers | grep -c '10.0.0.2' >/dev/null || fail "producers"
ctl partitions | grep -c 'events' >/dev/null || fail "partitions"
ctl segments events-0 | grep -c '48576' >/dev/null || fail "segments"
ctl config list | grep -c 'dataplane.linger' >/dev/null || fail "config list"
[ "$(ctl config get dataplane.linger)" = 1000us ] || fail "config get"
ctl flush >/dev/null || fail "flush"
ctl metrics | grep -c 'sluice_persisted_events_total' >/dev/null || fail "metrics"
ctl top -i 0.2 -n 2 >"$TMP/top" || fail "top exit $?"
grep -q '^ports' "$TMP/top" && grep -q '^cores' "$TMP/top" && grep -q '^partitions' "$TMP/top" ||
	fail "top sections: $(cat "$TMP/top")"
grep -A3 '^cores' "$TMP/top" | grep -q 'ring_fill_ratio' || fail "top lacks ring fill: $(cat "$TMP/top")"

# -- --json parsed
[ "$(ctl --json status | J 'd["forwarder"]["state"]')" = running ] || fail "json status"
[ "$(ctl --json stats | J 'd["unaccounted"]')" = 0 ] || fail "json stats"
[ "$(ctl --json producers --limit 1 | J 'len(d["producers"])')" = 1 ] || fail "producers limit"
[ "$(ctl --json partitions | J 'd["partitions"][0]["durable_offset"]')" = 4242 ] || fail "json partitions"
[ "$(ctl --json segments events-0 | J 'd["segments"][1]["base_offset"]')" = 4000 ] || fail "json segments"
[ "$(ctl --json config list | J 'len(d["keys"])')" = 3 ] || fail "json config list"
[ "$(ctl --json health | J 'd["healthy"]')" = True ] || fail "json health"
# top --json: worker 0 counts 1000 events/s of uptime and is 25% busy
ctl --json top -i 0.5 -n 2 >"$TMP/top.json" || fail "top --json"
[ "$(wc -l <"$TMP/top.json")" = 2 ] || fail "top --json lines"
python3 - "$TMP/top.json" <<'PY' || fail "top --json rates"
import json, sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
w0 = [c for c in last["cores"] if c["name"] == "worker 0"][0]
assert 300 < w0["events/s"] < 3000, w0  # 1000/s, on a loaded 2-CPU box
assert abs(w0["busy%"] - 25) < 1, w0
# The fullest of the worker's rings, not their sum.
assert w0["ring_fill_ratio"] == 0.75, w0
p = [r for r in last["partitions"] if r["name"] == "events-0"][0]
assert p["durable_offset"] == 4242 and p["forward_lag_records"] == 10, p
ports = {r["name"]: r for r in last["ports"]}
assert ports["p0/0"]["rx_packets/s"] == 0 and "p0/1" in ports, ports
assert last["healthy"] is True
PY

# -- config set changes behaviour observably (the linger gauge in /metrics)
out=$(ctl config set dataplane.linger 200us) || fail "config set exit"
[ "$out" = "dataplane.linger = 200us (was 1000us)" ] || fail "config set output: $out"
curl -sf "http://127.0.0.1:$PORT/metrics" | grep -cx 'sluice_dataplane_linger_seconds 0.0002' >/dev/null ||
	fail "linger not applied"
ctl forwarder pause | grep -c paused >/dev/null || fail "pause"
curl -sf "http://127.0.0.1:$PORT/metrics" | grep -cx 'sluice_forwarder_paused 1' >/dev/null || fail "paused gauge"
[ "$(ctl --json status | J 'd["forwarder"]["state"]')" = paused ] || fail "status paused"
ctl forwarder resume | grep -c running >/dev/null || fail "resume"
ctl config set test.healthy false >/dev/null || fail "set unhealthy"
ctl health >"$TMP/h"
rc=$?
[ $rc = 6 ] || fail "unhealthy exit $rc"
grep -q 'fdatasync' "$TMP/h" && grep -q 'forward lag' "$TMP/h" || fail "reasons: $(cat "$TMP/h")"
ctl config set test.healthy true >/dev/null

# -- daemon errors: exit 1 and a clear message
ctl config set dataplane.workers 4 2>"$TMP/e"
[ $? = 1 ] && grep -q 'not runtime-tunable' "$TMP/e" || fail "non-runtime key: $(cat "$TMP/e")"
ctl config set dataplane.linger soon 2>"$TMP/e"
[ $? = 1 ] && grep -q 'invalid duration' "$TMP/e" || fail "bad value"
ctl config get no.such.key 2>"$TMP/e"
[ $? = 1 ] && grep -q 'unknown config key' "$TMP/e" || fail "unknown key"
ctl segments events-9 2>"$TMP/e"
[ $? = 1 ] && grep -q 'no partition events-9' "$TMP/e" || fail "bad partition"
ctl raw nope 2>"$TMP/e"
[ $? = 1 ] && grep -q 'unknown command' "$TMP/e" || fail "unknown command"
ctl raw 'Bad Cmd' 2>"$TMP/e"
[ $? = 1 ] && grep -q 'bad request' "$TMP/e" || fail "bad cmd name"

# -- usage errors: exit 2, nothing sent
for args in "" "frobnicate" "segments events" "segments" "config" "config set k" \
	"forwarder stop" "top -i x" "producers --limit 0" "status extra"; do
	# shellcheck disable=SC2086
	ctl $args >/dev/null 2>&1
	rc=$?
	[ $rc = 2 ] || fail "usage '$args' exit $rc"
done
"$CTL" --socket "$TMP/none.sock" status 2>"$TMP/e"
[ $? = 3 ] && grep -q 'cannot connect' "$TMP/e" || fail "no daemon exit/message"

# -- garbage on the socket: every line gets one error reply, the connection and daemon live on
python3 - "$SOCK" <<'PY' || fail "garbage"
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
f = s.makefile("rb")
lines = [b"not json", b"\x00\xff\xfe", b"[]", b"{}", b'{"v":1}', b'{"v":9,"cmd":"status"}',
         b'{"v":1,"cmd":"status","x":1}', b'{"v":1,"cmd":"status","args":[]}', b"   ",
         b'{"v":1,"cmd":"status","cmd":"flush"}', b"{" * 5000, b'"\xc3\x28"']
for l in lines:
    s.sendall(l + b"\n")
    r = json.loads(f.readline())
    assert r["ok"] is False and r["v"] == 1 and r["error"].startswith("bad request"), (l, r)
# oversized line (64 KiB limit): one error, then the connection still works
s.sendall(b"x" * 70000 + b"\n")
r = json.loads(f.readline())
assert r["ok"] is False and "longer than" in r["error"], r
# pipelined requests with ids come back in order
s.sendall(b'{"v":1,"cmd":"hello","id":1}\n{"v":1,"cmd":"flush","id":"two"}\n')
a, b = json.loads(f.readline()), json.loads(f.readline())
assert a["id"] == 1 and a["protocol"] == 1 and "status" in a["commands"], a
assert b["id"] == "two" and b["ok"] is True, b
# a request split across writes, and a client that leaves mid-line
s.sendall(b'{"v":1,"cm'); s.sendall(b'd":"status"}\n')
assert json.loads(f.readline())["state"] == "running"
s.sendall(b'{"v":1,"cmd":"sta'); s.close()
# random bytes from many short connections (some may be refused as "busy" while the server
# has not yet seen earlier ones close: a broken pipe is fine, a dead server is not)
import random
random.seed(7)
for i in range(200):
    c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1])
    try:
        c.sendall(bytes(random.getrandbits(8) for _ in range(random.randrange(1, 300))))
    except (BrokenPipeError, ConnectionResetError):
        pass
    c.close()
PY
ctl status >/dev/null || fail "daemon unusable after garbage"

# -- a client that pipelines requests and never reads holds one reply, not the server; the
# 16-connection limit refuses the 17th with a clear error and frees slots on close
python3 - "$SOCK" "$CTL" <<'PY' || fail "slow reader / connection limit"
import json, socket, subprocess, sys, time
path, ctl = sys.argv[1], sys.argv[2]
hog = socket.socket(socket.AF_UNIX); hog.connect(path); hog.setblocking(False)
sent = 0
try:
    for i in range(20000):
        hog.send(b'{"v":1,"cmd":"metrics"}\n'); sent += 1
except BlockingIOError:
    pass
assert sent > 100, sent
t = time.monotonic()
r = subprocess.run([ctl, "--socket", path, "--timeout", "5", "--json", "status"], capture_output=True)
assert r.returncode == 0 and json.loads(r.stdout)["state"] == "running", r
assert time.monotonic() - t < 5
hog.close()
conns = []
for i in range(15):      # + the server's view of the closing hog may lag: retry below
    c = socket.socket(socket.AF_UNIX); c.connect(path); conns.append(c)
deadline = time.monotonic() + 10
while True:
    c = socket.socket(socket.AF_UNIX); c.connect(path); c.settimeout(5)
    c.sendall(b'{"v":1,"cmd":"hello"}\n')
    r = json.loads(c.makefile("rb").readline())
    if r["ok"]:
        conns.append(c); break        # the 16th slot (the hog's) is free again
    assert time.monotonic() < deadline, r
    c.close(); time.sleep(0.05)
c = socket.socket(socket.AF_UNIX); c.connect(path); c.settimeout(5)
r = json.loads(c.makefile("rb").readline())
assert r["ok"] is False and r["error"].startswith("busy: 16"), r
c.close()
for c in conns:
    c.close()
PY
ctl status >/dev/null || fail "daemon unusable after the slow reader"

# -- unauthorised peer: nobody may open the 0666 socket but SO_PEERCRED refuses it
setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" --socket "$SOCK" status 2>"$TMP/e"
rc=$?
[ $rc = 4 ] && grep -q 'permission denied: uid 65534 is not root' "$TMP/e" ||
	fail "nobody: exit $rc: $(cat "$TMP/e")"
grep -c 'refused uid 65534' "$TMP/testd.log" >/dev/null || fail "refusal not logged"

# -- the counters saw all of it
m=$(curl -sf "http://127.0.0.1:$PORT/metrics") || fail "scrape"
for want in 'sluice_ctl_rejected_connections_total{reason="peer_credentials"} 1' \
	'sluice_ctl_bad_requests_total{reason="json"} ' \
	'sluice_ctl_bad_requests_total{reason="oversized"} 1' \
	'sluice_ctl_bad_requests_total{reason="unknown_field"} 1' \
	'sluice_ctl_rejected_connections_total{reason="too_many_clients"} '; do
	grep -qF "$want" <<<"$m" || fail "metrics lack '$want'"
done
testd_stop
[ -e "$SOCK" ] && fail "socket not removed at stop"

# -- a configured group is let in (nobody with gid 65534), root-only mode keeps 0660
testd_start --mode 0666 --gid 65534
setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" --socket "$SOCK" health >/dev/null ||
	fail "member of the control group refused"
[ "$(stat -c '%a %g' "$SOCK")" = "666 65534" ] || fail "socket mode/group: $(stat -c '%a %g' "$SOCK")"
# shutdown through the socket ends the daemon cleanly
ctl shutdown | grep -c stopping >/dev/null || fail "shutdown reply"
for ((i = 0; i < 100; i++)); do kill -0 "$TESTD_PID" 2>/dev/null || break; sleep 0.1; done
wait "$TESTD_PID" || fail "exit status after shutdown"
TESTD_PID=
testd_start
[ "$(stat -c '%a' "$SOCK")" = 660 ] || fail "default mode $(stat -c '%a' "$SOCK")"
# a second daemon must not steal a live socket
"$TESTD" --socket "$SOCK" >"$TMP/second.log" 2>&1 && fail "second daemon started"
grep -q 'another daemon is listening' "$TMP/second.log" || fail "second: $(cat "$TMP/second.log")"
ctl status >/dev/null || fail "first daemon lost its socket"
testd_stop
echo PASS
