#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Check what the forwarder wrote to Kafka against the local log, by content.

    fwd_check.py -b BOOTSTRAP -t KAFKA_TOPIC -d DATA_DIR -P PARTITIONS [-l LOCAL_TOPIC]
                 [-f P:FIRST,...] [-s P:FROM:TO,...] [-p P,...] [-H APPLIANCE]
                 [--kafkajs] [--min N]

The local log is read with the RecordBatch v2 reader of sluiced_check.py (written here, not
sluice's: framing, magic, CRC32C, contiguous offsets). Kafka is read with kcat and, with
--kafkajs, also with kafkajs (fwd_kafkajs.js): two independent consumers, which must both
return, for every partition p:

  - Kafka offsets 0, 1, 2, ... with no gap (the first at 0: nothing was cut by the mock
    cluster's 5 MiB per-partition cap);
  - exactly the local records FIRST..end-1 of partition p (FIRST = 0 unless -f says
    otherwise, e.g. after retention dropped a prefix), in order, each with the same key,
    value, timestamp and headers (with -H, followed by the four sluice.* headers naming
    the appliance, local topic, partition and offset). No duplicate, no loss, no reorder.

-s says local offsets FROM..TO-1 of partition P are not in Kafka (deleted by retention
before they were forwarded). -p checks only these partitions (the others' leaders may be unreachable: kcat reads each
partition to its end). Prints one line per partition and consumer; exit 0 when all holds,
1 otherwise.
"""
import argparse
import json
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "control"))
from sluiced_check import crc32c, varint  # noqa: E402


def parse_records(batch, base, base_ts, count):
    """Yield (offset, ts, key, value, [hk, hv, ...]) of an uncompressed batch's records."""
    pos = 61
    for _ in range(count):
        length, pos = varint(batch, pos)
        end = pos + length
        p = pos + 1
        tsd, p = varint(batch, p)
        od, p = varint(batch, p)
        klen, p = varint(batch, p)
        key = None if klen < 0 else batch[p:p + klen]
        p += max(klen, 0)
        vlen, p = varint(batch, p)
        val = None if vlen < 0 else batch[p:p + vlen]
        p += max(vlen, 0)
        nh, p = varint(batch, p)
        hdrs = []
        for _ in range(nh):
            hk, p = varint(batch, p)
            k = batch[p:p + hk]
            p += hk
            hv, p = varint(batch, p)
            v = None if hv < 0 else batch[p:p + hv]
            p += max(hv, 0)
            hdrs += [k, v]
        if p != end:
            raise ValueError(f"record at {base + od}: length mismatch")
        yield base + od, base_ts + tsd, key, val, hdrs
        pos = end


def read_log(path):
    """Every record of a partition directory, in offset order: offset -> record."""
    out = {}
    expect = None
    for seg in sorted(f for f in os.listdir(path) if f.endswith(".log")):
        data = open(os.path.join(path, seg), "rb").read()
        pos = 0
        while pos + 12 <= len(data):
            base, blen = struct.unpack_from(">qi", data, pos)
            if blen == 0 and base == 0 and data[pos:].strip(b"\0") == b"":
                break  # preallocated zeros after the tail
            if blen < 49 or pos + 12 + blen > len(data):
                raise ValueError(f"{seg}@{pos}: bad batch length {blen}")
            batch = data[pos:pos + 12 + blen]
            if batch[16] != 2 or crc32c(batch[21:]) != struct.unpack_from(">I", batch, 17)[0]:
                raise ValueError(f"{seg}@{pos}: bad magic or CRC")
            if expect is not None and base != expect:
                raise ValueError(f"{seg}@{pos}: base offset {base}, expected {expect}")
            last_delta, base_ts = struct.unpack_from(">iq", batch, 23)
            count = struct.unpack_from(">i", batch, 57)[0]
            for rec in parse_records(batch, base, base_ts, count):
                out[rec[0]] = rec
            expect = base + last_delta + 1
            pos += 12 + blen
    return out


def s(b):
    return None if b is None else b.decode("latin1")


def fold(hdrs):
    """kafkajs folds headers into an object: the same key twice becomes a list."""
    obj = {}
    for k, v in zip(hdrs[0::2], hdrs[1::2]):
        if k in obj:
            obj[k] = (obj[k] if isinstance(obj[k], list) else [obj[k]]) + [v]
        else:
            obj[k] = v
    return obj


def kcat(bootstrap, topic, parts):
    """All partitions with one kcat (it stops at the end of each), or only @parts."""
    msgs = []
    for p in parts or [None]:
        cmd = ["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q"]
        if p is not None:
            cmd[6:6] = ["-p", str(p)]
        out = subprocess.run(cmd, check=True, capture_output=True, timeout=120).stdout
        msgs += [json.loads(x) for x in out.decode("latin1").splitlines() if x.strip()]
    return msgs


def kafkajs(bootstrap, topic):
    js = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fwd_kafkajs.js")
    out = subprocess.run(["node", js, bootstrap, topic], check=True, capture_output=True,
                         timeout=180).stdout
    return [json.loads(x) for x in out.decode("latin1").splitlines() if x.strip()]


def check(name, msgs, logs, first, args):
    ok = True
    total = 0
    by_part = {}
    for m in msgs:
        by_part.setdefault(int(m["partition"]), []).append(m)
    for p in args.parts:
        log = logs[p]
        end = max(log) + 1 if log else 0
        start = first.get(p, 0)
        want = [o for o in range(start, end)
                if not any(a <= o < b for q, a, b in args.skips if q == p)]
        got = sorted(by_part.get(p, []), key=lambda m: int(m["offset"]))
        errors = []
        if got and int(got[0]["offset"]) != 0:
            errors.append(f"Kafka's first offset is {got[0]['offset']}, not 0 (records cut by "
                          f"the mock's 5 MiB cap, or not ours?)")
        if len(got) != len(want):
            errors.append(f"{len(got)} records in Kafka, expected {len(want)} "
                          f"(local {start}..{end - 1}, skipping {args.skips})")
        for i, m in enumerate(got):
            if errors and len(errors) > 10:
                break
            if int(m["offset"]) != i:
                errors.append(f"Kafka offset {m['offset']} at position {i}: a gap")
                break
            if i >= len(want):
                break
            off = want[i]
            rec = log.get(off)
            if rec is None:
                errors.append(f"Kafka offset {i}: local offset {off} is not in the log")
                break
            _, ts, key, val, hdrs = rec
            want_h = [s(x) for x in hdrs]
            if args.H:
                want_h += ["sluice.topic", args.l or args.t, "sluice.partition", str(p),
                           "sluice.offset", str(off), "sluice.appliance", args.H]
            got_h = m.get("headers") or []
            same_h = fold(got_h) == fold(want_h) if name == "kafkajs" else got_h == want_h
            if m.get("key") != s(key) or m.get("payload") != s(val) or \
                    int(m.get("ts")) != ts or not same_h:
                errors.append(f"Kafka offset {i} (local {off}): got key={m.get('key')!r} "
                              f"ts={m.get('ts')} headers={got_h} "
                              f"value={(m.get('payload') or '')[:40]!r}; expected "
                              f"key={s(key)!r} ts={ts} headers={want_h} "
                              f"value={(s(val) or '')[:40]!r}")
        total += len(got)
        if errors:
            ok = False
            print(f"{name} partition {p}: {len(errors)} problems; first ones:", file=sys.stderr)
            for e in errors[:10]:
                print("  " + e, file=sys.stderr)
        else:
            print(f"{name} partition {p}: local {start}..{end - 1} exactly once, in order, "
                  f"same content")
    if total < args.min:
        print(f"{name}: only {total} records, expected at least {args.min}", file=sys.stderr)
        ok = False
    print(f"{name}: {total} records checked: {'OK' if ok else 'FAILED'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-b", required=True)
    ap.add_argument("-t", required=True)
    ap.add_argument("-d", required=True)
    ap.add_argument("-P", type=int, required=True)
    ap.add_argument("-l", help="local topic (default: the Kafka topic)")
    ap.add_argument("-f", default="", help="P:FIRST,... first local offset expected in Kafka")
    ap.add_argument("-p", default="", help="P,... check only these partitions")
    ap.add_argument("-s", default="", help="P:FROM:TO,... local offsets not in Kafka")
    ap.add_argument("-H", help="expect the sluice.* headers of this appliance")
    ap.add_argument("--kafkajs", action="store_true")
    ap.add_argument("--min", type=int, default=1)
    a = ap.parse_args()
    first = {int(x.split(":")[0]): int(x.split(":")[1]) for x in a.f.split(",") if x}
    logs = [read_log(os.path.join(a.d, f"{a.l or a.t}-{p}")) for p in range(a.P)]
    only = [int(x) for x in a.p.split(",") if x]
    a.parts = only or list(range(a.P))
    a.skips = [tuple(int(y) for y in x.split(":")) for x in a.s.split(",") if x]
    ok = check("kcat", kcat(a.b, a.t, only), logs, first, a)
    if a.kafkajs:
        ok = check("kafkajs", kafkajs(a.b, a.t), logs, first, a) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
