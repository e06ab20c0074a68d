#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The log → Kafka, checked by content from Kafka's side with kcat and kafkajs (independent
# decoders): every record once, in order, key, value, timestamp and headers intact, Kafka
# offsets from 0. A restart sends nothing again; losing the checkpoint changes nothing
# (Kafka's tail and the session file decide); compressed (zstd, lz4) and uncompressed
# batches in one partition; the optional sluice.* headers; a topic mapping. The broker never
# answers out of order or duplicate.
. "$(dirname "$0")/fwd_lib.sh"

mock_start events:3 mapped:2
D=$TMP/log
"$DRIVER" append -d "$D" -n 3000 -v 100 || fail "append"
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -w -t 60 >"$TMP/run1.txt" || fail "forward 1"
check events "$D" 3 --min 3000
l=$(last "$TMP/run1.txt")
[ "$(field batches "$l")" -lt 100 ] || fail "3000 records took $(field batches "$l") batches: not coalesced"

# Restart with nothing new: the tail read finds everything already there.
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -w -t 60 >"$TMP/run2.txt" || fail "forward 2"
[ "$(field delivered "$(last "$TMP/run2.txt")")" = 0 ] || fail "restart re-sent: $(last "$TMP/run2.txt")"

# Lose the checkpoint, append more, lz4 now: only the new records go, compressed; then
# zstd; then none again. One partition holds all three codecs.
rm -f "$D/forwarder.ckpt"
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -n 1000 -v 100 -w -t 60 -C lz4 >"$TMP/run3.txt" ||
	fail "forward 3"
[ "$(field delivered "$(last "$TMP/run3.txt")")" = 1000 ] || fail "run 3: $(last "$TMP/run3.txt")"
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -n 1000 -v 100 -w -t 60 -C zstd >"$TMP/run4.txt" ||
	fail "forward 4"
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -n 500 -v 100 -w -t 60 >"$TMP/run5.txt" ||
	fail "forward 5"
check events "$D" 3 --kafkajs --min 5500
kcat -b "$BOOTSTRAP" -C -t events -p 0 -o beginning -e -q -f '%o\n' >/dev/null || fail "kcat"

# The sluice.* headers, zstd, local topic "orders" mapped to Kafka topic "mapped".
D2=$TMP/log2
"$DRIVER" append -d "$D2" -T orders -P 2 -n 2000 -v 20 || fail "append 2"
"$DRIVER" forward -d "$D2" -T orders -K mapped -P 2 -x -C zstd -b "$BOOTSTRAP" -a box-7 -w \
	-t 60 >"$TMP/run6.txt" || fail "forward with headers"
check mapped "$D2" 2 -l orders -H box-7 --kafkajs --min 2000

for f in "$TMP"/run*.txt; do
	l=$(last "$f")
	[ "$(field ooo "$l")" = 0 ] && [ "$(field dup "$l")" = 0 ] ||
		fail "the broker saw sequences out of order or duplicated: $f: $l"
done
echo "PASS"
