#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A user-space lossy, reordering, duplicating UDP path (the kernel here has no sch_netem).

    udp_impair.py LISTEN_PORT TARGET_HOST TARGET_PORT [--loss P] [--dup P] [--reorder P]
                  [--seed N] [--stats FILE]

Listens on 127.0.0.1:LISTEN_PORT. Each client address gets its own upstream socket towards
TARGET (so one producer stays one flow, one source port, on the far side). Both directions
are impaired independently: a datagram is dropped with probability --loss, sent twice with
--dup, and held back (sent after the next datagram of its direction, or 5 ms later) with
--reorder. On SIGTERM it writes its counters as JSON to --stats and exits.
"""
import argparse
import json
import random
import select
import signal
import socket
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("listen", type=int)
ap.add_argument("host")
ap.add_argument("port", type=int)
ap.add_argument("--loss", type=float, default=0.05)
ap.add_argument("--dup", type=float, default=0.02)
ap.add_argument("--reorder", type=float, default=0.05)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--stats", default=None)
a = ap.parse_args()
rng = random.Random(a.seed)
st = {"up": 0, "down": 0, "dropped": 0, "duplicated": 0, "reordered": 0}

front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
front.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
front.bind(("127.0.0.1", a.listen))
up_of = {}  # client address -> upstream socket
client_of = {}  # upstream fileno -> client address
held = {}  # direction key -> (deadline, send function)


def stop(*_):
    if a.stats:
        with open(a.stats, "w") as f:
            json.dump(st, f)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)


def impaired(key, send):
    """Send through the impairments; key names the direction (reordering is per direction)."""
    if key in held:
        _, h = held.pop(key)
        if rng.random() < a.loss:
            st["dropped"] += 1
        else:
            send()
        h()
        return
    if rng.random() < a.loss:
        st["dropped"] += 1
        return
    if rng.random() < a.reorder:
        st["reordered"] += 1
        held[key] = (time.monotonic() + 0.005, send)
        return
    send()
    if rng.random() < a.dup:
        st["duplicated"] += 1
        send()


def safe(fn):
    def f():
        try:
            fn()
        except OSError:
            pass
    return f


print("ready", flush=True)
while True:
    socks = [front] + list(up_of.values())
    r, _, _ = select.select(socks, [], [], 0.002)
    now = time.monotonic()
    for k in [k for k, (d, _) in held.items() if d <= now]:
        held.pop(k)[1]()
    for s in r:
        if s is front:
            data, addr = front.recvfrom(65536)
            u = up_of.get(addr)
            if u is None:
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                u.connect((a.host, a.port))
                up_of[addr] = u
                client_of[u.fileno()] = addr
            st["up"] += 1
            impaired(("up", addr), safe(lambda u=u, d=data: u.send(d)))
        else:
            try:
                data = s.recv(65536)
            except OSError:
                continue
            addr = client_of[s.fileno()]
            st["down"] += 1
            impaired(("down", addr), safe(lambda d=data, c=addr: front.sendto(d, c)))
