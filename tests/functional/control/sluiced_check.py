#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Independent checks for the sluiced functional tests.

  sluiced_check.py log DATA_DIR TOPIC PARTITIONS
      Read every segment of TOPIC-0..PARTITIONS-1 with a RecordBatch v2 reader written here
      (not sluice's): framing, magic, CRC32C, record count, contiguous offsets from the log
      start. Prints JSON {"<p>": {"records": n, "first": o, "end": o, "sizes": {offset: len}}}.
  sluiced_check.py kafka BOOTSTRAP TOPIC
      Consume TOPIC with kcat; check that each message's Kafka offset equals its
      sluice.offset header and sluice.partition matches (no gap, no duplicate).
      Prints JSON {"<p>": {"records": n, "sizes": {offset: len}}}.
  sluiced_check.py kafka BOOTSTRAP TOPIC by-header
      The same, keyed by the sluice.offset header (a cluster that missed earlier records).
  sluiced_check.py subset LOG.json KAFKA.json
      Exit 1 unless every Kafka record is in the log; prints how many there are.
  sluiced_check.py same LOG.json KAFKA.json
      Exit 1 unless both hold exactly the same (partition, offset, value length) set.
"""
import json
import os
import struct
import subprocess
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


def cmd_kafka(bootstrap, topic, mode="same-offsets"):
    fmt = "%p %o %S %h\\n"
    out = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-e", "-q", "-f", fmt],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    res = {}
    for line in out.splitlines():
        part, off, size, hdrs = line.split(" ", 3)
        h = dict(kv.split("=", 1) for kv in hdrs.split(","))
        if mode == "by-header":
            # A cluster that did not see the earlier records: key by the local offset.
            off = h["sluice.offset"]
        elif h["sluice.offset"] != off or h["sluice.partition"] != part:
            sys.exit(f"kafka {part}/{off}: carries sluice offset {h['sluice.partition']}/"
                     f"{h['sluice.offset']}")
        r = res.setdefault(part, {"records": 0, "sizes": {}})
        if off in r["sizes"]:
            sys.exit(f"kafka {part}/{off}: duplicate")
        r["sizes"][off] = -1 if size == "-1" else int(size)
        r["records"] += 1
    json.dump(res, sys.stdout)


def cmd_same(a, b):
    x = json.load(open(a))
    y = json.load(open(b))
    bad = 0
    for p in sorted(set(x) | set(y)):
        xs = x.get(p, {}).get("sizes", {})
        ys = y.get(p, {}).get("sizes", {})
        if xs != ys:
            missing = sorted(set(xs) - set(ys), key=int)[:5]
            extra = sorted(set(ys) - set(xs), key=int)[:5]
            print(f"partition {p}: log {len(xs)} records, kafka {len(ys)}; only in log "
                  f"{missing}, only in kafka {extra}", file=sys.stderr)
            bad = 1
    sys.exit(bad)


def cmd_subset(a, b):
    x = json.load(open(a))
    y = json.load(open(b))
    for p, r in y.items():
        xs = x.get(p, {}).get("sizes", {})
        for off, size in r["sizes"].items():
            if xs.get(off) != size:
                sys.exit(f"partition {p} offset {off} ({size} bytes) is not in the log")
    print(sum(r["records"] for r in y.values()))


if __name__ == "__main__":
    cmds = {"log": cmd_log, "kafka": cmd_kafka, "same": cmd_same, "subset": cmd_subset}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
