#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sluice-gen -> pcap -> read back with libpcap (check_gen_pcap): every event and sequence is
# accounted for against the generator's JSON summary, in every format, with impairments; and the
# same frames through the dataplane's packet -> events core (what sluiced's workers run): its
# per-producer lost and duplicate counters equal what the generator reports.
set -euo pipefail
GEN=${1:?sluice-gen}
CHECK=${2:?check_gen_pcap}
dir=$(mktemp -d /tmp/sluice-gen-pcap.XXXXXX)
trap 'rm -rf "$dir"' EXIT

n=0
run() {
	n=$((n + 1))
	echo "== case $n: $*"
	"$GEN" --pcap "$dir/$n.pcap" --summary "$dir/$n.json" --quiet "$@"
	"$CHECK" "$dir/$n.pcap" "$dir/$n.json" --dataplane
}

# kafka, several producers x explicit partitions, keyed, every impairment at once
run --format kafka --producers 4 --partitions 3 --events-per-packet 5 --event-size 20-120 \
	--keys 1000 --drop 0.02 --dup 0.02 --reorder 0.02 --corrupt 0.02 --count 4000 --seed 3
# issue 6: 1% drops and 1% duplicates; the dataplane's lost/duplicate counters per producer
run --format kafka --producers 8 --partitions 2 --events-per-packet 4 --drop 0.01 --dup 0.01 \
	--count 20000 --seed 11
# kafka, corruption that only the batch CRC can see; partition -1; IPv6
run --format kafka --producers 2 --partition -1 --events-per-packet 2 --corrupt 0.05 \
	--corrupt-keep-cksum --src-ip fd00::10 --dst-ip fd00::1 --count 2000 --seed 4
# kafka near the int32 sequence wrap
run --format kafka --first-sequence 2147483000 --events-per-packet 10 --count 100 --drop 0.1
# lines, sizes drawn from a range, many flows, paced on the TSC (about 0.1 s)
run --format lines --producers 3 --flows 16 --events-per-packet 8 --event-size 20-150 \
	--eps 200k --count 2500 --dup 0.01 --reorder 0.01 --drop 0.01
# raw, one event per packet, jumbo MTU
run --format raw --producers 5 --event-size 2000-8000 --mtu 9000 --count 500 --corrupt 0.02

# sampled lines from a file: payload checks only (events carry no sequence)
printf 'GET /index.html 200\nPOST /api 201\n\n{"k":"v"}\r\n' >"$dir/sample.txt"
"$GEN" --pcap "$dir/s.pcap" --summary "$dir/s.json" --quiet --format lines \
	--events-file "$dir/sample.txt" --events-per-packet 4 --count 50
grep -q '"events": 200' "$dir/s.json"

# clear errors, exit 2, nothing written
if "$GEN" --pcap "$dir/x.pcap" --rate 0 2>"$dir/err"; then exit 1; fi
grep -q '^sluice-gen: --rate: must be > 0$' "$dir/err"
if "$GEN" --pcap "$dir/x.pcap" --events-per-packet 50 2>"$dir/err"; then exit 1; fi
grep -q 'MTU 1500' "$dir/err"
test ! -e "$dir/x.pcap"
"$GEN" --help | grep -q -- '--events-per-packet'
echo "gen_pcap: ok"
