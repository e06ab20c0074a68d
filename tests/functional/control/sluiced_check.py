#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Independent checks for the sluiced functional tests.

  sluiced_check.py log DATA_DIR TOPIC PARTITIONS
      Read every segment of TOPIC-0..PARTITIONS-1 with a RecordBatch v2 reader written here
      (not sluice's): framing, magic, CRC32C, record count, contiguous offsets from the log
      start. Prints JSON {"<p>": {"records": n, "first": o, "end": o, "sizes": {offset: len}}}.

What reached Kafka is checked against the log by content with
tests/functional/forward/fwd_check.py (which uses this reader's CRC32C and varints).
"""
import json
import os
import struct
import sys


def crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


TABLE = crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(buf, pos):
    shift = 0
    v = 0
    while True:
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")
    return (v >> 1) ^ -(v & 1), pos


def records(batch, base, count):
    """Yield (offset, value length) of every record of a batch."""
    pos = 61
    for _ in range(count):
        length, pos = varint(batch, pos)
        end = pos + length
        p = pos + 1  # attributes
        _, p = varint(batch, p)  # timestamp delta
        delta, p = varint(batch, p)
        klen, p = varint(batch, p)
        p += max(klen, 0)
        vlen, p = varint(batch, p)
        yield base + delta, vlen
        pos = end
    if pos != len(batch):
        raise ValueError("records do not fill the batch")


def read_partition(path):
    segs = sorted(f for f in os.listdir(path) if f.endswith(".log"))
    out = {"records": 0, "first": None, "end": None, "sizes": {}}
    expect = None
    for seg in segs:
        data = open(os.path.join(path, seg), "rb").read()
        pos = 0
        while pos + 12 <= len(data):
            base, blen = struct.unpack_from(">qi", data, pos)
            if blen == 0 and base == 0 and data[pos:].strip(b"\0") == b"":
                break  # preallocated zeros after the tail
            if blen < 49 or pos + 12 + blen > len(data):
                raise ValueError(f"{seg}@{pos}: bad batch length {blen}")
            batch = data[pos:pos + 12 + blen]
            if batch[16] != 2:
                raise ValueError(f"{seg}@{pos}: magic {batch[16]}")
            crc = struct.unpack_from(">I", batch, 17)[0]
            if crc32c(batch[21:]) != crc:
                raise ValueError(f"{seg}@{pos}: CRC mismatch")
            last_delta = struct.unpack_from(">i", batch, 23)[0]
            count = struct.unpack_from(">i", batch, 57)[0]
            if expect is not None and base != expect:
                raise ValueError(f"{seg}@{pos}: base offset {base}, expected {expect}")
            if out["first"] is None:
                out["first"] = base
            for off, vlen in records(batch, base, count):
                out["sizes"][str(off)] = vlen
            out["records"] += count
            expect = base + last_delta + 1
            pos += 12 + blen
    out["end"] = expect if expect is not None else 0
    return out


def cmd_log(data_dir, topic, partitions):
    res = {}
    for p in range(int(partitions)):
        res[str(p)] = read_partition(os.path.join(data_dir, f"{topic}-{p}"))
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    cmds = {"log": cmd_log}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
