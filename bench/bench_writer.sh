#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Storage writer vs fio, in one run, on one directory (SLUICE_BENCH_DIR, default /var/tmp).
# The two are interleaved over SLUICE_BENCH_ROUNDS rounds (default 3) so that a noisy, shared
# disk hits both alike; each round prints its ratio, the last line the median ratio.
# sluice runs with its default (adaptive) preallocation; the variants follow.
#  1. sustained throughput, ~1 MiB of batches per group commit, O_DIRECT, against
#     fio --rw=write --bs=1M --direct=1 --ioengine=io_uring;
#  2. durable latency of 4 KiB group commits against fio --fdatasync=1 with 4 KiB writes
#     (fio's write + fdatasync time per operation).
# Reports only; never fails on a number. SLUICE_BENCH_MIB sets the throughput volume.
set -u
bw=${1:?usage: bench_writer.sh BENCH_WRITER}
parent=${SLUICE_BENCH_DIR:-/var/tmp}
mib=${SLUICE_BENCH_MIB:-1024}
n=${SLUICE_BENCH_SAMPLES:-1000}
rounds=${SLUICE_BENCH_ROUNDS:-3}
dir=$(mktemp -d "$parent/sluice-bench-writer-XXXXXX")
trap 'rm -rf "$dir"' EXIT
echo "bench_writer: $dir ($(stat -f -c %T "$dir")), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
	"kernel $(uname -r), $rounds rounds"

val() { awk -v k="$1" '$1 == k { print $2 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
fio_json() { fio --output-format=json --directory="$dir" "$@" 2>/dev/null; }
fio_seq() {
	fio_json --name=seq --rw=write --bs=1M --direct=1 --ioengine=io_uring --size="${mib}M" |
		python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.1f" % (j["jobs"][0]["write"]["bw_bytes"] / 2**20))'
	settle "$dir"/seq*
}
# fio 4 KiB write + fdatasync: "p50 p99" of the per-operation time (write clat + sync lat,
# percentile by percentile) and the mean from the rate.
fio_lat() {
	fio_json --name=lat --rw=write --bs=4k --direct=1 --ioengine=psync --fdatasync=1 \
		--size=$((n * 4))k | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
w = j["write"]["clat_ns"]["percentile"]; s = j["sync"]["lat_ns"]["percentile"]
print("%.1f %.1f %.1f" % ((w["50.000000"] + s["50.000000"]) / 1e3,
      (w["99.000000"] + s["99.000000"]) / 1e3, 1e6 / j["write"]["iops"]))'
	settle "$dir"/lat*
}
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
# The filesystem may be mounted with online discard: deleting a GiB queues discards that the
# next journal commit performs, and every fdatasync waits for that commit. Let it happen
# before the next measurement, whichever tool comes next.
settle() { rm -rf "$@"; sync; sleep 1; }

tr_ratios=() lat_ratios=() zlat_ratios=()
for ((r = 1; r <= rounds; r++)); do
	f=$(fio_seq)
	out=$("$bw" throughput "$dir/log" "$mib" auto fixed)
	settle "$dir/log"
	t=$(echo "$out" | val throughput_mib_s)
	f2=$(fio_seq)
	fm=$(python3 -c "print(($f + $f2) / 2)")
	tr_ratios+=("$(ratio "$t" "$fm")")
	echo "round $r throughput: fio $f / $f2 MiB/s, sluice $t MiB/s" \
		"($(echo "$out" | val bytes_per_fsync) bytes per fdatasync," \
		"writer busy $(echo "$out" | val writer_busy_fraction)), ratio ${tr_ratios[-1]}"
done
for v in "fallocate fixed" "zero fixed" "none fixed" "auto plain"; do
	set -- $v
	out=$("$bw" throughput "$dir/log" "$mib" "$1" "$2")
	settle "$dir/log"
	echo "variant prealloc=$1 buffers=$2: $(echo "$out" | val throughput_mib_s) MiB/s"
done

for ((r = 1; r <= rounds; r++)); do
	read -r fp50 fp99 fmean <<<"$(fio_lat)"
	out=$("$bw" latency "$dir/lat" "$n" auto sync)
	settle "$dir/lat"
	sp50=$(echo "$out" | val latency_p50_us) sp99=$(echo "$out" | val latency_p99_us)
	out=$("$bw" latency "$dir/lat" "$n" fallocate sync)
	settle "$dir/lat"
	zp50=$(echo "$out" | val latency_p50_us) zp99=$(echo "$out" | val latency_p99_us)
	out=$("$bw" latency "$dir/lat" "$n" auto ring)
	settle "$dir/lat"
	rp50=$(echo "$out" | val latency_p50_us) rp99=$(echo "$out" | val latency_p99_us)
	lat_ratios+=("$(ratio "$sp50" "$fp50")")
	zlat_ratios+=("$(ratio "$zp50" "$fp50")")
	echo "round $r 4k durable latency p50/p99 us: fio $fp50/$fp99 (mean $fmean)," \
		"sluice append_sync (default prealloc) $sp50/$sp99, (fallocate) $zp50/$zp99," \
		"via ring+writer thread $rp50/$rp99; p50 ratios ${lat_ratios[-1]} ${zlat_ratios[-1]}"
done
echo "median throughput ratio (sluice / fio): $(printf '%s\n' "${tr_ratios[@]}" | median)"
echo "median durable latency p50 ratio (sluice append_sync / fio): default" \
	"$(printf '%s\n' "${lat_ratios[@]}" | median), fallocate $(printf '%s\n' "${zlat_ratios[@]}" | median)"
exit 0
