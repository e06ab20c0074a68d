#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sluice-dump against a log written by the storage library: text, hex and JSON output agree
# with what was written; --verify passes on the intact log and, after a bit flip in a batch
# or in an index, exits 1 naming the file and the byte offset of the damage.
set -u
gen=${1:?usage: storage_dump.sh GEN DUMP}
dump=${2:?usage: storage_dump.sh GEN DUMP}
work=$(mktemp -d "${SLUICE_TEST_DIR:-/tmp}/sluice-dump-XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

records=$("$gen" "$work/log" 300 8192) || fail "log_gen"
pdir=$work/log/dump-0
nseg=$(ls "$pdir"/*.log | wc -l)
[ "$nseg" -gt 3 ] || fail "expected several segments, got $nseg"

out=$("$dump" --verify "$pdir") || fail "verify of an intact log: $out"
echo "$out" | grep -q '^verify: ok$' || fail "no 'verify: ok'"

# text: one '| offset:' line per record, offsets 0..records-1 in order
"$dump" -d "$pdir" >"$work/text" || fail "text dump"
n=$(grep -c '^| offset:' "$work/text")
[ "$n" -eq "$records" ] || fail "text dump shows $n records, expected $records"
grep -q '^baseOffset: 0 lastOffset: 0 count: 1 ' "$work/text" || fail "first batch line"
grep -q 'key: k7-3 payload: value "3" of batch 7' "$work/text" || fail "record text"

# hex: keys in hex ("k7-3" = 6b372d33)
"$dump" -d -f hex "$pdir" | grep -q 'key: 6b372d33 ' || fail "hex dump"

# JSON lines: every line parses; offsets contiguous; keys and values as written
"$dump" -d -f json "$pdir" >"$work/json" || fail "json dump"
python3 - "$work/json" "$records" <<'PY' || fail "json check"
import json, sys
want, off = int(sys.argv[2]), 0
for line in open(sys.argv[1]):
    b = json.loads(line)
    assert b["isValid"] and b["baseOffset"] == off, b
    k = b["baseTimestamp"] - 1000
    for i, r in enumerate(b["records"]):
        assert r["offset"] == off, (r, off)
        assert r["key"] == f"k{k}-{i}" and r["value"] == f'value "{i}" of batch {k}', r
        off += 1
assert off == want, (off, want)
PY

# --from prints from the batch holding that offset
first=$("$dump" -o 100 "$pdir" | grep -m1 '^baseOffset' | awk '{print $2, $4}')
set -- $first
[ "$1" -le 100 ] && [ $(($1 + 0)) -ge 96 ] || fail "--from 100 started at $1"

# damage a batch in the middle of the third segment: the CRC catches it at that batch
seg=$(ls "$pdir"/*.log | sed -n 3p)
size=$(stat -c %s "$seg")
pos=$((size / 2))
# start of the batch holding $pos, from the dump's own positions
bpos=$("$dump" "$seg" | awk -v p=$pos '/^baseOffset/ { for (i = 1; i < NF; i++) if ($i == "position:") q = $(i + 1); if (q + 0 <= p) s = q } END { print s }')
cp "$seg" "$work/seg.bak"
python3 -c "
import sys
f = open('$seg', 'r+b'); f.seek($pos); c = f.read(1); f.seek($pos); f.write(bytes([c[0] ^ 0x10]))"
out=$("$dump" --verify -q "$pdir"); rc=$?
[ $rc -eq 1 ] || fail "verify after a bit flip exited $rc"
echo "$out" | grep -q "^DAMAGE $seg at byte $bpos: " || fail "damage not named at byte $bpos: $out"
cp "$work/seg.bak" "$seg"

# damage an index entry's position
idx=${seg%.log}.index
[ -s "$idx" ] || fail "no index entries in $idx"
python3 -c "
f = open('$idx', 'r+b'); f.seek(7); c = f.read(1); f.seek(7); f.write(bytes([c[0] ^ 0x04]))"
out=$("$dump" --verify -q "$pdir"); rc=$?
[ $rc -eq 1 ] || fail "verify after an index flip exited $rc"
echo "$out" | grep -q "^DAMAGE $idx at byte 0: " || fail "index damage not named: $out"

"$dump" --verify /nonexistent 2>/dev/null; [ $? -eq 2 ] || fail "missing path should exit 2"
echo "sluice-dump: $records records in $nseg segments; text, hex, json, --from and --verify ok"
