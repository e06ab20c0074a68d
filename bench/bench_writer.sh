#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Storage writer vs fio, in one run, on one directory (SLUICE_BENCH_DIR, default /var/tmp):
#  1. sustained throughput, ~1 MiB of batches per group commit, O_DIRECT, against
#     fio --rw=write --bs=1M --direct=1 --ioengine=io_uring (ratio);
#  2. durable latency of 4 KiB group commits against fio --fdatasync=1 with 4 KiB writes.
# Reports only; never fails on a number. SLUICE_BENCH_MIB sets the throughput volume.
set -u
bw=${1:?usage: bench_writer.sh BENCH_WRITER}
parent=${SLUICE_BENCH_DIR:-/var/tmp}
mib=${SLUICE_BENCH_MIB:-2048}
n=${SLUICE_BENCH_SAMPLES:-2000}
dir=$(mktemp -d "$parent/sluice-bench-writer-XXXXXX")
trap 'rm -rf "$dir"; rm -rf /var/run/dpdk/sluice_bw_*' EXIT
fs=$(stat -f -c %T "$dir")
echo "bench_writer: $dir ($fs), $(nproc) CPUs, kernel $(uname -r)"

val() { awk -v k="$1" '$1 == k { print $2 }'; }
fio_json() { fio --output-format=json --directory="$dir" "$@" 2>/dev/null; }

# --- throughput ---
fio_bw=$(fio_json --name=seq --rw=write --bs=1M --direct=1 --ioengine=io_uring --size="${mib}M" |
	python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.1f" % (j["jobs"][0]["write"]["bw_bytes"] / 2**20))')
rm -f "$dir"/seq*
echo "fio seq write 1M direct io_uring:        $fio_bw MiB/s"
for v in "fallocate fixed" "none fixed" "fallocate plain"; do
	set -- $v
	out=$("$bw" throughput "$dir/log-$1-$2" "$mib" "$1" "$2")
	t=$(echo "$out" | val throughput_mib_s)
	per=$(echo "$out" | val bytes_per_fsync)
	ratio=$(python3 -c "print('%.2f' % ($t / $fio_bw))")
	printf 'sluice writer (prealloc %-9s %-5s buffers): %s MiB/s, %s bytes/fsync, ratio to fio %s\n' \
		"$1," "$2" "$t" "$per" "$ratio"
	rm -rf "$dir/log-$1-$2"
done
fio_bw2=$(fio_json --name=seq --rw=write --bs=1M --direct=1 --ioengine=io_uring --size="${mib}M" |
	python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.1f" % (j["jobs"][0]["write"]["bw_bytes"] / 2**20))')
rm -f "$dir"/seq*
echo "fio seq write 1M direct io_uring (again): $fio_bw2 MiB/s"

# --- durable latency of small group commits ---
for fa in native none; do
	fio_json --name=lat --rw=write --bs=4k --direct=1 --ioengine=psync --fdatasync=1 \
		--fallocate=$fa --size=$((n * 4))k >"$dir/fio-lat.json"
	python3 - "$dir/fio-lat.json" "$fa" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
w = j["write"]["clat_ns"]["percentile"]; s = j["sync"]["lat_ns"]["percentile"]
iops = j["write"]["iops"]
print("fio 4k write+fdatasync (fallocate=%s): write p50 %.1f p99 %.1f us, fdatasync p50 %.1f p99 %.1f us,"
      " sum p50 %.1f p99 %.1f us, mean per op %.1f us" % (sys.argv[2],
      w["50.000000"] / 1e3, w["99.000000"] / 1e3, s["50.000000"] / 1e3, s["99.000000"] / 1e3,
      (w["50.000000"] + s["50.000000"]) / 1e3, (w["99.000000"] + s["99.000000"]) / 1e3, 1e6 / iops))
PY
	rm -f "$dir"/lat*
done
for v in "fallocate ring" "fallocate sync" "none sync"; do
	set -- $v
	out=$("$bw" latency "$dir/lat-$1-$2" "$n" "$1" "$2")
	printf 'sluice 4k group commit (prealloc %-9s %-4s): p50 %s us, p99 %s us, mean %s us\n' "$1," "$2" \
		"$(echo "$out" | val latency_p50_us)" "$(echo "$out" | val latency_p99_us)" \
		"$(echo "$out" | val latency_mean_us)"
	rm -rf "$dir/lat-$1-$2"
done
exit 0
