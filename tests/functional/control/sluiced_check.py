#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Independent, byte-for-byte checks for the sluiced functional tests.

Nothing here uses sluice's code: the pcap, IPv4/UDP, envelope and RecordBatch v2 readers,
CRC32C and murmur2 are written from the specifications (docs/wire-formats.md,
docs/record-format.md, Kafka's protocol), and Kafka is read with kcat.

A record is compared whole: timestamp (ms, absolute), key, value and headers, as bytes.

  sluiced_check.py log DATA_DIR TOPIC PARTITIONS
      Read every segment of TOPIC-0..PARTITIONS-1: framing, magic, CRC32C, record count,
      contiguous offsets from the log start. Prints JSON
      {"<p>": {"records": n, "first": o, "end": o, "recs": {offset: record},
               "batches": [[base offset, sha256 of the batch after baseOffset], ...]}}.
  sluiced_check.py kafka BOOTSTRAP TOPIC [by-header]
      Consume each partition of TOPIC (from the cluster's metadata) with kcat. A record's
      local offset is its Kafka offset: they must run 0, 1, 2, ... (no gap, no duplicate).
      When the forwarder adds the optional sluice.* headers (kafka.headers), each message
      must carry sluice.topic = TOPIC, sluice.partition = its partition and sluice.offset =
      its Kafka offset, after the record's own headers. Prints the same JSON as `log`
      (records without the sluice.* headers, no batches). With by-header (headers needed)
      the records are keyed by sluice.offset instead (a cluster that missed earlier
      records).
  sluiced_check.py same LOG.json KAFKA.json
      Exit 1 unless both hold exactly the same records at the same offsets, byte for byte.
  sluiced_check.py subset LOG.json KAFKA.json
      Exit 1 unless every Kafka record is, byte for byte, the log's record at its offset;
      prints how many there are.
  sluiced_check.py sent LOG.json PARTITIONS SINCE_MS --listen PORT:UDP=FORMAT[:source_addr]...
                   --pcap PORT:FILE...
      What the generator sent (the pcap files each DPDK port replayed) against the log: every
      datagram that reached a listener and passed the checksums becomes records; each must be
      in the log exactly once, byte for byte, in the right partition (explicit, murmur2 of
      the key, any for a null key) and in the order it was sent within its flow; the log may
      hold nothing else. `lines` timestamps are the receive time: within [SINCE_MS, now].
      An explicit-partition batch must be stored exactly as sent (only baseOffset differs).
      Prints JSON {"records": n, "datagrams": n, "rejected_checksum": n,
      "no_listener": n, "producer_lost": n} (producer_lost: the sequence gaps a receiver with
      reorder_window 0 counts, per docs/wire-formats.md).
  sluiced_check.py craft OUT.pcap UDP_PORT PARTITIONS COUNT
      Write COUNT kafka datagrams (envelope + RecordBatch v2, encoded here) that sluice-gen
      cannot make: explicit partitions, no producer id, three records each with binary keys,
      a null key, a null value, empty and null header values. Prints the record count.
"""
import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import time


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


def murmur2(data):
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a 32-bit int."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    i = 0
    while length - i >= 4:
        k = struct.unpack_from("<I", data, i)[0]
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
        i += 4
    rest = length - i
    if rest == 3:
        h ^= data[i + 2] << 16
    if rest >= 2:
        h ^= data[i + 1] << 8
    if rest >= 1:
        h ^= data[i]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_for(key, partitions):
    return (murmur2(key) & 0x7FFFFFFF) % partitions


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


def nbytes(buf, pos):
    n, pos = varint(buf, pos)
    if n < 0:
        return None, pos
    if pos + n > len(buf):
        raise ValueError("field runs past the batch")
    return bytes(buf[pos:pos + n]), pos + n


def hx(b):
    return None if b is None else b.hex()


def batch_records(batch):
    """Yield (offset delta, record) for a RecordBatch v2 (bytes from baseOffset on). A record
    is [timestamp ms, key hex, value hex, [[header key hex, value hex], ...]] (None = null)."""
    first_ts = struct.unpack_from(">q", batch, 27)[0]
    count = struct.unpack_from(">i", batch, 57)[0]
    attrs = struct.unpack_from(">h", batch, 21)[0]
    if attrs & 0x07:
        raise ValueError("compressed batch")
    pos = 61
    for _ in range(count):
        length, pos = varint(batch, pos)
        end = pos + length
        p = pos + 1  # attributes
        ts_delta, p = varint(batch, p)
        delta, p = varint(batch, p)
        key, p = nbytes(batch, p)
        value, p = nbytes(batch, p)
        nh, p = varint(batch, p)
        headers = []
        for _ in range(nh):
            hk, p = nbytes(batch, p)
            hv, p = nbytes(batch, p)
            headers.append([hx(hk), hx(hv)])
        if p != end:
            raise ValueError("record length does not match its fields")
        yield delta, [first_ts + ts_delta, hx(key), hx(value), headers]
        pos = end
    if pos != len(batch):
        raise ValueError("records do not fill the batch")


def check_batch_header(batch, where):
    if batch[16] != 2:
        raise ValueError(f"{where}: magic {batch[16]}")
    crc = struct.unpack_from(">I", batch, 17)[0]
    if crc32c(batch[21:]) != crc:
        raise ValueError(f"{where}: CRC mismatch")


def read_partition(path):
    segs = sorted(f for f in os.listdir(path) if f.endswith(".log"))
    out = {"records": 0, "first": None, "end": None, "recs": {}, "batches": []}
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
            check_batch_header(batch, f"{seg}@{pos}")
            last_delta = struct.unpack_from(">i", batch, 23)[0]
            count = struct.unpack_from(">i", batch, 57)[0]
            if expect is not None and base != expect:
                raise ValueError(f"{seg}@{pos}: base offset {base}, expected {expect}")
            if out["first"] is None:
                out["first"] = base
            deltas = []
            for delta, rec in batch_records(batch):
                out["recs"][str(base + delta)] = rec
                deltas.append(delta)
            if deltas != list(range(count)) or last_delta != count - 1:
                raise ValueError(f"{seg}@{pos}: offset deltas {deltas[:5]}..., last {last_delta}")
            out["batches"].append([base, hashlib.sha256(batch[8:]).hexdigest()])
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


def jbytes(s):
    """kcat -J writes keys, values and headers as JSON strings of the raw bytes: undo that."""
    return None if s is None else s.encode("utf-8", "surrogateescape")


SLUICE_HEADERS = ("sluice.appliance", "sluice.topic", "sluice.partition", "sluice.offset")


def kafka_partitions(bootstrap, topic):
    meta = json.loads(subprocess.run(["kcat", "-b", bootstrap, "-L", "-t", topic, "-J"],
                                     check=True, capture_output=True, timeout=60).stdout)
    t = [t for t in meta["topics"] if t["topic"] == topic]
    if not t or not t[0]["partitions"]:
        sys.exit(f"kafka: no topic {topic}: {meta}")
    return sorted(p["partition"] for p in t[0]["partitions"])


def cmd_kafka(bootstrap, topic, mode="same-offsets"):
    res = {}
    for p in kafka_partitions(bootstrap, topic):
        raw = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-p", str(p), "-o",
                              "beginning", "-e", "-J", "-q"],
                             check=True, capture_output=True, timeout=60).stdout
        r = {"records": 0, "recs": {}}
        for line in raw.decode("utf-8", "surrogateescape").splitlines():
            if not line.strip():
                continue
            m = json.loads(line, strict=False)
            h = m.get("headers") or []
            pairs = [[jbytes(h[i]), jbytes(h[i + 1])] for i in range(0, len(h), 2)]
            own = [x for x in pairs if x[0].decode("utf-8", "replace") not in SLUICE_HEADERS]
            ours = {x[0].decode(): (x[1] or b"").decode() for x in pairs[len(own):]}
            if pairs[:len(own)] != own or set(ours) - set(SLUICE_HEADERS):
                sys.exit(f"kafka {p}/{m['offset']}: sluice.* headers are not last: {h}")
            if not ours:
                # No headers (the default): Kafka offsets are the local offsets.
                if mode == "by-header":
                    sys.exit(f"kafka {p}/{m['offset']}: by-header without sluice.* headers")
                off = str(m["offset"])
                if int(off) != r["records"]:
                    sys.exit(f"kafka {p}/{off}: offsets do not run from 0 without a gap")
            else:
                if ours.get("sluice.topic") != topic or ours.get("sluice.partition") != str(p):
                    sys.exit(f"kafka {p}/{m['offset']}: headers name {ours}")
                off = ours.get("sluice.offset")
                if mode != "by-header" and off != str(m["offset"]):
                    sys.exit(f"kafka {p}/{m['offset']}: carries sluice.offset {off}")
            if off in r["recs"]:
                sys.exit(f"kafka {p}/{m['offset']}: local offset {off} twice")
            if m.get("tstype") != "create":
                sys.exit(f"kafka {p}/{m['offset']}: timestamp type {m.get('tstype')}")
            r["recs"][off] = [m["ts"], hx(jbytes(m.get("key"))), hx(jbytes(m.get("payload"))),
                              [[hx(k), hx(v)] for k, v in own]]
            r["records"] += 1
        res[str(p)] = r
    json.dump(res, sys.stdout)


def show(rec):
    def txt(h):
        return None if h is None else bytes.fromhex(h)[:48]
    return f"ts={rec[0]} key={txt(rec[1])!r} value={txt(rec[2])!r} headers={len(rec[3])}"


def cmd_same(a, b):
    x = json.load(open(a))
    y = json.load(open(b))
    bad = 0
    for p in sorted(set(x) | set(y)):
        xs = x.get(p, {}).get("recs", {})
        ys = y.get(p, {}).get("recs", {})
        if xs == ys:
            continue
        bad = 1
        missing = sorted(set(xs) - set(ys), key=int)[:5]
        extra = sorted(set(ys) - set(xs), key=int)[:5]
        print(f"partition {p}: log {len(xs)} records, kafka {len(ys)}; only in log "
              f"{missing}, only in kafka {extra}", file=sys.stderr)
        for off in sorted(set(xs) & set(ys), key=int):
            if xs[off] != ys[off]:
                print(f"partition {p} offset {off} differs:\n  log   {show(xs[off])}\n"
                      f"  kafka {show(ys[off])}", file=sys.stderr)
                break
    sys.exit(bad)


def cmd_subset(a, b):
    x = json.load(open(a))
    y = json.load(open(b))
    for p, r in y.items():
        xs = x.get(p, {}).get("recs", {})
        for off, rec in r["recs"].items():
            if xs.get(off) != rec:
                sys.exit(f"partition {p} offset {off} ({show(rec)}) is not in the log")
    print(sum(r["records"] for r in y.values()))


# ---- what the generator sent ------------------------------------------------------------

def csum16(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def pcap_frames(path):
    data = open(path, "rb").read()
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise ValueError(f"{path}: not a little-endian pcap file")
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack_from("<IIII", data, pos)[2]
        yield data[pos + 16:pos + 16 + incl]
        pos += 16 + incl


def udp_datagram(frame):
    """(flow, dst port, payload, checksums ok) of an Ethernet/IPv4/UDP frame, or None."""
    if len(frame) < 14 + 20 + 8 or struct.unpack_from(">H", frame, 12)[0] != 0x0800:
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ip[9] != 17:
        return None
    total = struct.unpack_from(">H", ip, 2)[0]
    ok = csum16(ip[:ihl]) == 0xFFFF
    udp = ip[ihl:total]
    sport, dport, ulen, ucs = struct.unpack_from(">HHHH", udp, 0)
    pseudo = ip[12:20] + struct.pack(">BBH", 0, 17, ulen)
    ok = ok and ulen >= 8 and (ucs == 0 or csum16(pseudo + udp[:ulen]) == 0xFFFF)
    src = ".".join(str(b) for b in ip[12:16])
    return (src, sport, dport), dport, bytes(udp[8:ulen]), ok


class Expected:
    def __init__(self, partitions, since_ms):
        self.partitions = partitions
        self.since_ms = since_ms
        self.streams = {}  # stream -> [(partition or None, record)]
        self.batches = []  # (stream, partition, sha256) of explicit-partition batches
        self.stats = {"records": 0, "datagrams": 0, "rejected_checksum": 0, "no_listener": 0,
                      "producer_lost": 0}
        self.next_seq = {}  # (producer id, partition or "key") -> next expected sequence

    def add(self, stream, partition, rec):
        self.streams.setdefault(stream, []).append((partition, rec))
        self.stats["records"] += 1

    def text(self, stream, payload, fmt, key_mode, src):
        events = [payload] if fmt == "raw" else payload.split(b"\n")
        if fmt == "lines" and payload.endswith(b"\n"):
            events.pop()
        key = src.encode() if key_mode == "source_addr" else None
        for e in events:
            if fmt == "lines" and e.endswith(b"\r"):
                e = e[:-1]
            if not e:
                raise ValueError("the generator sent an empty line: not modelled here")
            part = partition_for(key, self.partitions) if key is not None else None
            self.add(stream, part, [None, hx(key), hx(e), []])

    def kafka(self, stream, payload):
        if payload[:4] != b"SK\x01\x00" or len(payload) < 8 + 61:
            raise ValueError("envelope not modelled here")
        part = struct.unpack_from(">i", payload, 4)[0]
        batch = payload[8:]
        check_batch_header(batch, "sent batch")
        pid = struct.unpack_from(">q", batch, 43)[0]
        base_seq = struct.unpack_from(">i", batch, 53)[0]
        count = struct.unpack_from(">i", batch, 57)[0]
        if pid >= 0 and base_seq >= 0:
            k = (pid, part if part >= 0 else "key")
            nxt = self.next_seq.get(k)
            if nxt is not None and base_seq < nxt:
                raise ValueError("duplicates and reordering are not modelled here")
            if nxt is not None:
                self.stats["producer_lost"] += base_seq - nxt
            self.next_seq[k] = base_seq + count
        if part >= 0:
            self.batches.append((stream, part, hashlib.sha256(batch[8:]).hexdigest()))
        for _, rec in batch_records(batch):
            if part >= 0:
                p = part
            elif rec[1] is not None:
                p = partition_for(bytes.fromhex(rec[1]), self.partitions)
            else:
                p = None
            self.add(stream, p, rec)

    def check(self, log):
        """Match every log record to one sent record; returns a list of problems."""
        errors = []
        now_ms = int(time.time() * 1000) + 1000
        index = {}  # record content without timestamp -> [(stream, i)]
        for s, recs in self.streams.items():
            for i, (_, rec) in enumerate(recs):
                index.setdefault(json.dumps(rec[1:]), []).append((s, i))
        used = set()
        last = {}  # (partition, stream) -> index of the last record matched
        for p in sorted(log, key=int):
            recs = log[p]["recs"]
            for off in sorted(recs, key=int):
                rec = recs[off]
                found = None
                for s, i in index.get(json.dumps(rec[1:]), []):
                    want_p, want = self.streams[s][i]
                    if (s, i) in used or i <= last.get((p, s), -1):
                        continue
                    if want[0] is None:
                        if not self.since_ms <= rec[0] <= now_ms:
                            continue
                    elif want[0] != rec[0]:
                        continue
                    if want_p is not None and want_p != int(p):
                        continue
                    found = (s, i)
                    break
                if found is None:
                    errors.append(f"log {p}/{off}: not sent, sent twice, in the wrong "
                                  f"partition or out of order: {show(rec)}")
                    continue
                used.add(found)
                last[(p, found[0])] = found[1]
        for s, recs in self.streams.items():
            lost = [i for i in range(len(recs)) if (s, i) not in used]
            if lost:
                i = lost[0]
                errors.append(f"{len(lost)} sent records of {s[0]} flow {s[1]} are not in the "
                              f"log; first: #{i} {show(recs[i][1])}")
        for s, p, sha in self.batches:
            if sha not in {h for _, h in log[str(p)]["batches"]}:
                errors.append(f"an explicit-partition batch of {s[0]} is not stored as sent "
                              f"in partition {p}")
        return errors


def cmd_sent(argv):
    ap = argparse.ArgumentParser(prog="sluiced_check.py sent")
    ap.add_argument("log")
    ap.add_argument("partitions", type=int)
    ap.add_argument("since_ms", type=int)
    ap.add_argument("--listen", action="append", default=[],
                    help="PORT:UDP=FORMAT[:source_addr]")
    ap.add_argument("--pcap", action="append", default=[], help="PORT:FILE, in replay order")
    a = ap.parse_args(argv)
    listeners = {}
    for spec in a.listen:
        port, rest = spec.split(":", 1)
        udp, fmt = rest.split("=", 1)
        fmt, _, key = fmt.partition(":")
        listeners[(port, int(udp))] = (fmt, key or "none")
    exp = Expected(a.partitions, a.since_ms)
    for spec in a.pcap:
        port, path = spec.split(":", 1)
        for frame in pcap_frames(path):
            d = udp_datagram(frame)
            if d is None:
                continue
            flow, dport, payload, ok = d
            if not ok:
                exp.stats["rejected_checksum"] += 1
                continue
            lst = listeners.get((port, dport))
            if lst is None:
                exp.stats["no_listener"] += 1
                continue
            exp.stats["datagrams"] += 1
            stream = (os.path.basename(path), f"{flow[0]}:{flow[1]}")
            if lst[0] == "kafka":
                exp.kafka(stream, payload)
            else:
                exp.text(stream, payload, lst[0], lst[1], flow[0])
    errors = exp.check(json.load(open(a.log)))
    for e in errors[:10]:
        print(e, file=sys.stderr)
    if errors:
        sys.exit(f"{len(errors)} problems between what was sent and the log")
    json.dump(exp.stats, sys.stdout)


# ---- datagrams sluice-gen does not make --------------------------------------------------

def zigzag(v):
    return (v << 1) ^ (v >> 63)


def put_varint(v):
    v = zigzag(v) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def put_bytes(b):
    return put_varint(-1) if b is None else put_varint(len(b)) + b


def encode_batch(records, first_ts):
    """RecordBatch v2, uncompressed, no producer id: records are (ts, key, value, headers)."""
    body = b""
    for i, (ts, key, value, headers) in enumerate(records):
        r = b"\0" + put_varint(ts - first_ts) + put_varint(i) + put_bytes(key) + \
            put_bytes(value) + put_varint(len(headers))
        for hk, hv in headers:
            r += put_bytes(hk) + put_bytes(hv)
        body += put_varint(len(r)) + r
    max_ts = max(r[0] for r in records)
    after_crc = struct.pack(">hiqqqhii", 0, len(records) - 1, first_ts, max_ts, -1, -1, -1,
                            len(records)) + body
    crc = crc32c(after_crc)
    # baseOffset, batchLength (from partitionLeaderEpoch on), partitionLeaderEpoch, magic, crc
    return struct.pack(">qiibI", 0, 4 + 1 + 4 + len(after_crc), -1, 2, crc) + after_crc


def udp_frame(payload, sport, dport):
    src, dst = bytes([10, 0, 9, 1]), bytes([10, 255, 0, 1])
    ulen = 8 + len(payload)
    ip = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0x4000, 64, 17, 0, src,
                               dst))
    struct.pack_into(">H", ip, 10, 0xFFFF - csum16(bytes(ip)))
    udp = bytearray(struct.pack(">HHHH", sport, dport, ulen, 0) + payload)
    c = 0xFFFF - csum16(src + dst + struct.pack(">BBH", 0, 17, ulen) + bytes(udp))
    struct.pack_into(">H", udp, 6, c or 0xFFFF)
    eth = bytes([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]) + struct.pack(">H", 0x0800)
    return eth + bytes(ip) + bytes(udp)


def cmd_craft(out, udp_port, partitions, count):
    n = 0
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        for i in range(int(count)):
            ts = 1700000000000 + i * 1000
            recs = [(ts, bytes([0, 0xFF, i & 0xFF]) + b"key", b"v\0\x01\xff%d" % i,
                     [(b"h1", b"\x01\x02"), (b"h2", None), (b"", b"")]),
                    (ts + 5, None, b"no key %d" % i, []),
                    (ts - 3, b"k%d" % i, None, [(b"only", b"header")])]
            payload = b"SK\x01\x00" + struct.pack(">i", i % int(partitions)) + \
                encode_batch(recs, ts)
            frame = udp_frame(payload, 20000 + i % 4, int(udp_port))
            f.write(struct.pack("<IIII", 0, i, len(frame), len(frame)) + frame)
            n += len(recs)
    print(n)


if __name__ == "__main__":
    cmds = {"log": cmd_log, "kafka": cmd_kafka, "same": cmd_same, "subset": cmd_subset,
            "craft": cmd_craft}
    if len(sys.argv) >= 2 and sys.argv[1] == "sent":
        cmd_sent(sys.argv[2:])
    elif len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    else:
        cmds[sys.argv[1]](*sys.argv[2:])
