#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Benchmark (perf suite: reports, never asserts timings): control-socket round trips and
# /metrics scrapes against ctl_testd. Baselines from the same run: `hello` (answered by the
# socket thread alone) for the socket, GET / (no collection) for HTTP.
. "$(dirname "$0")/ctl_lib.sh"
testd_start
python3 - "$SOCK" "$PORT" <<'PY'
import http.client, json, socket, sys, time
path, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX); s.connect(path); f = s.makefile("rb")
def rt(cmd, n):
    line = json.dumps({"v": 1, "cmd": cmd}).encode() + b"\n"
    t = time.perf_counter()
    for _ in range(n):
        s.sendall(line); r = f.readline()
    return (time.perf_counter() - t) / n * 1e6, len(r)
def http_get(p, n):
    t = time.perf_counter()
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", port); c.request("GET", p)
        b = c.getresponse().read(); c.close()
    return (time.perf_counter() - t) / n * 1e6, len(b)
res = {}
rt("hello", 500); http_get("/", 100)  # warm-up: first connections, page faults
for cmd, n in [("hello", 3000), ("status", 3000), ("metrics", 1000)]:
    us, size = rt(cmd, n)
    res["socket_" + cmd] = {"us_per_request": round(us, 1), "reply_bytes": size}
# pipelined: 1000 requests written at once, then 1000 replies read
line = b'{"v":1,"cmd":"status"}\n' * 1000
t = time.perf_counter(); s.sendall(line)
for _ in range(1000): f.readline()
res["socket_status_pipelined"] = {"us_per_request": round((time.perf_counter() - t) * 1e3, 1)}
for p, n in [("/", 500), ("/health", 500), ("/metrics", 500)]:
    us, size = http_get(p, n)
    res["http_" + (p.strip("/") or "root")] = {"us_per_request": round(us, 1), "bytes": size}
print(json.dumps({"bench": "ctl", "results": res}, indent=1))
PY
testd_stop
