#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# N records in the log -> exactly N in Kafka, in order, with keys, values, timestamps and
# headers intact (read back with kcat). Restarting forwards nothing twice; appending more
# continues where Kafka ends. Transactional mode and a topic mapping on a second topic.
. "$(dirname "$0")/fwd_lib.sh"

mock_start events:3 mapped:2

D=$TMP/log
"$DRIVER" append -d "$D" -n 3000 -v 100 || fail "append"
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -w -t 60 >"$TMP/run1.txt" || fail "forward 1"
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t events -e "$(ends "$D")" -a test-appliance -v 100 ||
	fail "first run"

# Restart with nothing new: the tail read must find everything already there.
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -w -t 60 >"$TMP/run2.txt" || fail "forward 2"
grep -q 'delivered=0 ' <(tail -1 "$TMP/run2.txt") || fail "restart re-sent: $(tail -1 "$TMP/run2.txt")"

# Lose the local checkpoint and append more: Kafka's tail alone decides where to resume.
rm -f "$D/forwarder.ckpt"
"$DRIVER" forward -d "$D" -b "$BOOTSTRAP" -n 1000 -v 100 -w -t 60 -c compression.type=lz4 \
	>"$TMP/run3.txt" || fail "forward 3"
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t events -e "$(ends "$D")" -a test-appliance -v 100 ||
	fail "after restart"
tail -1 "$TMP/run3.txt" | grep -q 'delivered=1000 ' || fail "run 3: $(tail -1 "$TMP/run3.txt")"

# Transactional mode, zstd, local topic "orders" mapped to Kafka topic "mapped".
D2=$TMP/log2
"$DRIVER" append -d "$D2" -T orders -P 2 -n 2000 -v 20 || fail "append 2"
"$DRIVER" forward -d "$D2" -T orders -K mapped -P 2 -x -b "$BOOTSTRAP" -a txn-appliance -w -t 60 \
	-c compression.type=zstd >"$TMP/run4.txt" || fail "forward txn"
python3 "$SRC/fwd_check.py" -b "$BOOTSTRAP" -t mapped -l orders -e "$(ends "$D2" -T orders -P 2)" \
	-a txn-appliance -v 20 || fail "transactional"
echo "PASS"
