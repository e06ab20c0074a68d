#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""An independent appliance side of acknowledged mode, written from docs/wire-formats.md.

    fake_appliance.py PORT_FILE

Binds 127.0.0.1 on a free UDP port (written to PORT_FILE), then for each datagram: checks
the envelope (magic, version 1, ack flag, explicit partition) and the RecordBatch header
(magic 2, CRC32C), records the sequence range, and answers with an ack: durable_next = the
lowest sequence not yet received, the ranges received above it as durable ranges. It drops
every 7th datagram (so the producer must retransmit), and before each real ack sends one
malformed datagram (the producer must count and ignore it). Stops after 10 s idle; prints
its counters as JSON.
"""
import json
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "control"))
from sluiced_check import crc32c  # noqa: E402

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.settimeout(10)
got = set()
st = {"datagrams": 0, "dropped": 0, "bad": 0, "acks": 0, "records": 0}
while True:
    try:
        d, peer = s.recvfrom(65536)
    except socket.timeout:
        break
    st["datagrams"] += 1
    if st["datagrams"] % 7 == 0:
        st["dropped"] += 1
        continue
    magic, ver, flags, part = struct.unpack_from(">HBBi", d, 0)
    b = d[8:]
    crc = struct.unpack_from(">I", b, 17)[0]
    if magic != 0x534B or ver != 1 or flags != 1 or part < 0 or b[16] != 2 or crc32c(b[21:]) != crc:
        st["bad"] += 1
        continue
    pid, epoch, base, count = struct.unpack_from(">qhii", b, 43)
    got.update(range(base, base + count))
    st["records"] = len(got)
    nxt = 0
    while nxt in got:
        nxt += 1
    ranges = []
    for q in sorted(x for x in got if x > nxt):
        if ranges and ranges[-1][1] == q:
            ranges[-1][1] = q + 1
        else:
            ranges.append([q, q + 1])
    ranges = ranges[:4]
    s.sendto(b"SA\x01\x00garbage", peer)  # malformed: wrong length
    ack = struct.pack(">HBBqhBBiiI", 0x5341, 1, 0, pid, epoch, len(ranges), 0, part, nxt, 4096)
    for r in ranges:
        ack += struct.pack(">ii", *r)
    s.sendto(ack, peer)
    st["acks"] += 1
print(json.dumps(st))
