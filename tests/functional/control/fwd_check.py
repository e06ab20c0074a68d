#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Check what the forwarder wrote to Kafka, read independently with kcat.

    fwd_check.py -b BOOTSTRAP -t KAFKA_TOPIC -e 0:N0,1:N1,... -a APPLIANCE
                 [-l LOCAL_TOPIC] [-v VALUE_BYTES]

For every partition p, the messages of this appliance must carry sluice.offset 0 (or the
given first offset), 1, ..., Np-1 exactly once and in that order (the continuity check), with sluice.topic and
sluice.partition right. With -v, every key, value, timestamp and header must also be what
fwd_driver's record_fill() wrote for (p, offset). Exit 0 when all holds, 1 otherwise.
"""
import argparse
import json
import subprocess
import sys

TS_BASE = 1700000000000


def expected(p, off, value_bytes):
    key = None if off % 10 == 9 else f"k{p}-{off}"
    prefix = f"v{p}-{off}-"
    if off % 13 == 12:
        value = None
    else:
        value = prefix + chr(ord("a") + off % 26) * max(0, value_bytes - len(prefix))
    headers = ["h", str(off)]
    if off % 7 == 0:
        headers += ["n", None]
    return key, value, TS_BASE + off * 10 + p, headers


def read_partition(bootstrap, topic, p):
    out = subprocess.run(
        ["kcat", "-b", bootstrap, "-C", "-t", topic, "-p", str(p), "-o", "beginning", "-e",
         "-J", "-q"],
        check=True, capture_output=True, text=True, timeout=120).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-b", required=True)
    ap.add_argument("-t", required=True)
    ap.add_argument("-e", required=True,
                    help="p:end,... or p:first:end,... local offsets expected [first, end)")
    ap.add_argument("-a", required=True)
    ap.add_argument("-l", help="local topic (default: Kafka topic)")
    ap.add_argument("-v", type=int, help="check content, values padded to this size")
    a = ap.parse_args()
    local = a.l or a.t
    ok = True
    total = 0
    for item in a.e.split(","):
        fields = [int(x) for x in item.split(":")]
        p, end = fields[0], fields[-1]
        first = fields[1] if len(fields) == 3 else 0
        msgs = read_partition(a.b, a.t, p)
        want = first
        errors = []
        for m in msgs:
            h = m.get("headers") or []
            hd = dict(zip(h[0::2], h[1::2]))
            if hd.get("sluice.appliance") != a.a:
                continue
            if hd.get("sluice.topic") != local or hd.get("sluice.partition") != str(p):
                errors.append(f"kafka offset {m['offset']}: wrong topic/partition headers {hd}")
                continue
            off = int(hd["sluice.offset"])
            if off != want:
                kind = "duplicate or reorder" if off < want else "gap"
                errors.append(f"kafka offset {m['offset']}: local offset {off}, "
                              f"expected {want} ({kind})")
                want = max(want, off + 1)
                continue
            want += 1
            if a.v is not None:
                key, value, ts, hdrs = expected(p, off, a.v)
                orig = h[:-8]
                if m.get("key") != key or m.get("payload") != value or m.get("ts") != ts \
                        or orig != hdrs:
                    errors.append(f"local offset {off}: got key={m.get('key')!r} "
                                  f"ts={m.get('ts')} headers={orig} value="
                                  f"{(m.get('payload') or '')[:40]!r}, expected key={key!r} "
                                  f"ts={ts} headers={hdrs}")
        if want != end:
            errors.append(f"ends at local offset {want}, expected {end}")
        total += want - first
        if errors:
            ok = False
            print(f"partition {p}: {len(errors)} problems; first ones:", file=sys.stderr)
            for e in errors[:10]:
                print("  " + e, file=sys.stderr)
        else:
            print(f"partition {p}: offsets {first}..{end - 1} exactly once, in order")
    print(f"total {total} records checked: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
