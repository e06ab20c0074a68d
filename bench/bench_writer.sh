#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Storage writer vs fio, in one run, on one directory (SLUICE_BENCH_DIR, default /var/tmp).
# Measurements are interleaved over SLUICE_BENCH_ROUNDS rounds (default 3), fio before and
# after each sluice run, so that a noisy, shared disk hits both alike. Each round prints its
# ratios; the last lines the medians; every raw figure goes to a JSON file
# (SLUICE_BENCH_JSON, default bench/results/bench_writer-<UTC time>.json).
#  1. sustained throughput, ~1 MiB of batches per group commit, O_DIRECT, default (adaptive)
#     preallocation, at the writer's queue depth Q (SLUICE_BENCH_QD, default: storage's
#     default), against fio --rw=write --bs=1M --direct=1 --ioengine=io_uring at --iodepth=Q
#     and at --iodepth=8 (the issue's goal: >= 0.9 x fio qd8);
#     SLUICE_BENCH_QD_SWEEP="1 2 4 8" also runs the writer and fio at each of those depths
#     every round (how the default depth is chosen: docs/storage.md);
#  2. durable latency of 4 KiB group commits against fio --fdatasync=1 with 4 KiB writes
#     (fio's write + fdatasync time per operation), each with the same preallocation:
#     sluice prealloc=fallocate against fio --fallocate=native, sluice prealloc=zero (and the
#     adaptive default, which zero-fills at this commit size) against fio --overwrite=1 (the
#     file is written once before the timed writes overwrite it).
# Reports only; never fails on a number. SLUICE_BENCH_MIB sets the throughput volume,
# SLUICE_BENCH_SAMPLES the commits per latency measurement.
set -u
bw=${1:?usage: bench_writer.sh BENCH_WRITER}
here=$(cd "$(dirname "$0")" && pwd)
parent=${SLUICE_BENCH_DIR:-/var/tmp}
mib=${SLUICE_BENCH_MIB:-1024}
n=${SLUICE_BENCH_SAMPLES:-1000}
rounds=${SLUICE_BENCH_ROUNDS:-3}
qd=${SLUICE_BENCH_QD:-}
sweep=${SLUICE_BENCH_QD_SWEEP:-}
json=${SLUICE_BENCH_JSON:-$here/results/bench_writer-$(date -u +%Y%m%d-%H%M%S).json}
dir=$(mktemp -d "$parent/sluice-bench-writer-XXXXXX")
raw=$dir/raw.jsonl
trap 'rm -rf "$dir"' EXIT
mkdir -p "$(dirname "$json")"
: >"$raw"

val() { awk -v k="$1" '$1 == k { print $2 }'; }
# The writer's depth when none is asked for: what storage defaults to.
if [ -z "$qd" ]; then
	qd=$("$bw" latency "$dir/probe" 1 none sync | val queue_depth)
	rm -rf "$dir/probe"
fi
echo "bench_writer: $dir ($(stat -f -c %T "$dir")), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
	"kernel $(uname -r), $rounds rounds, writer queue depth $qd${sweep:+, sweep $sweep}"

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
fio_json() { fio --output-format=json --directory="$dir" "$@" 2>/dev/null; }
# record ROUND WHAT key=value...: one raw sample
record() {
	python3 - "$raw" "$@" <<'PY'
import json, sys
out = {"round": int(sys.argv[2]), "what": sys.argv[3]}
for kv in sys.argv[4:]:
    k, v = kv.split("=", 1)
    try:
        out[k] = float(v) if "." in v or "e" in v else int(v)
    except ValueError:
        out[k] = v
open(sys.argv[1], "a").write(json.dumps(out) + "\n")
PY
}
# bench_writer's "key value" lines as key=value arguments
kv() { awk 'NF == 2 { printf "%s=%s ", $1, $2 }'; }
# The filesystem may be mounted with online discard: deleting a GiB queues discards that the
# next journal commit performs, and every fdatasync waits for that commit. Let it happen
# before the next measurement, whichever tool comes next.
settle() { rm -rf "$@"; sync; sleep 1; }
fio_seq() { # ROUND QD -> MiB/s
	local v
	v=$(fio_json --name=seq --rw=write --bs=1M --direct=1 --ioengine=io_uring --iodepth="$2" \
		--size="${mib}M" |
		python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.1f" % (j["jobs"][0]["write"]["bw_bytes"] / 2**20))')
	settle "$dir"/seq*
	record "$1" fio_seq qd="$2" mib_s="$v"
	echo "$v"
}
# fio 4 KiB write + fdatasync: "p50 p99 mean" of the per-operation time (write clat + sync lat,
# percentile by percentile) and the mean from the rate. $2: fio's preallocation options.
fio_lat() { # ROUND NAME OPTS...
	local r=$1 name=$2 out
	shift 2
	out=$(fio_json --name=lat --rw=write --bs=4k --direct=1 --ioengine=psync --fdatasync=1 \
		--size=$((n * 4))k "$@" | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
w = j["write"]["clat_ns"]["percentile"]; s = j["sync"]["lat_ns"]["percentile"]
print("%.1f %.1f %.1f" % ((w["50.000000"] + s["50.000000"]) / 1e3,
      (w["99.000000"] + s["99.000000"]) / 1e3, 1e6 / j["write"]["iops"]))')
	settle "$dir"/lat*
	read -r p50 p99 mean <<<"$out"
	record "$r" "fio_lat_$name" p50_us="$p50" p99_us="$p99" mean_us="$mean"
	echo "$out"
}
sluice_tp() { # ROUND WHAT ARGS... -> the "key value" output
	local r=$1 what=$2 out
	shift 2
	out=$("$bw" throughput "$dir/log" "$mib" "$@")
	settle "$dir/log"
	# shellcheck disable=SC2046
	record "$r" "$what" $(echo "$out" | kv)
	echo "$out"
}
sluice_lat() { # ROUND WHAT ARGS...
	local r=$1 what=$2 out
	shift 2
	out=$("$bw" latency "$dir/lat" "$n" "$@")
	settle "$dir/lat"
	# shellcheck disable=SC2046
	record "$r" "$what" $(echo "$out" | kv)
	echo "$out"
}
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
avg() { python3 -c "print('%.1f' % (($1 + $2) / 2))"; }

for ((r = 1; r <= rounds; r++)); do
	fq=$(fio_seq "$r" "$qd") f8=$(fio_seq "$r" 8)
	out=$(sluice_tp "$r" sluice_tp auto fixed 64 sync "qd=$qd")
	t=$(echo "$out" | val throughput_mib_s)
	fq2=$(fio_seq "$r" "$qd") f82=$(fio_seq "$r" 8)
	echo "round $r throughput: fio qd$qd $fq / $fq2 MiB/s, fio qd8 $f8 / $f82 MiB/s," \
		"sluice (qd$qd) $t MiB/s ($(echo "$out" | val bytes_per_fsync) bytes per fdatasync," \
		"writer busy $(echo "$out" | val writer_busy_fraction)), ratio to fio qd$qd" \
		"$(ratio "$t" "$(avg "$fq" "$fq2")"), to fio qd8 $(ratio "$t" "$(avg "$f8" "$f82")")"
	for q in $sweep; do
		fs=$(fio_seq "$r" "$q")
		t=$(sluice_tp "$r" sluice_tp_sweep auto fixed 64 sync "qd=$q" | val throughput_mib_s)
		echo "round $r sweep qd$q: sluice $t MiB/s, fio $fs MiB/s"
	done
done
for v in "fallocate fixed" "zero fixed" "none fixed" "auto plain"; do
	set -- $v
	t=$(sluice_tp 0 "sluice_tp_$1_$2" "$1" "$2" 64 sync "qd=$qd" | val throughput_mib_s)
	echo "variant prealloc=$1 buffers=$2: $t MiB/s"
done
t=$(sluice_tp 0 sluice_tp_16_partitions_4M_segments auto fixed 64 sync "qd=$qd" partitions=16 \
	segment=4194304 | val throughput_mib_s)
echo "variant 16 partitions, 4 MiB segments (a roll every 64 batches per partition): $t MiB/s"

for ((r = 1; r <= rounds; r++)); do
	read -r fap50 fap99 _ <<<"$(fio_lat "$r" fallocate --fallocate=native)"
	read -r fzp50 fzp99 _ <<<"$(fio_lat "$r" overwrite --overwrite=1)"
	out=$(sluice_lat "$r" sluice_lat_fallocate fallocate sync "qd=$qd")
	sap50=$(echo "$out" | val latency_p50_us) sap99=$(echo "$out" | val latency_p99_us)
	out=$(sluice_lat "$r" sluice_lat_zero zero sync "qd=$qd")
	szp50=$(echo "$out" | val latency_p50_us) szp99=$(echo "$out" | val latency_p99_us)
	out=$(sluice_lat "$r" sluice_lat_auto auto sync "qd=$qd")
	sdp50=$(echo "$out" | val latency_p50_us) sdp99=$(echo "$out" | val latency_p99_us)
	out=$(sluice_lat "$r" sluice_lat_auto_ring auto ring "qd=$qd")
	rp50=$(echo "$out" | val latency_p50_us) rp99=$(echo "$out" | val latency_p99_us)
	echo "round $r 4k durable latency p50/p99 us: fallocate: fio $fap50/$fap99, sluice" \
		"$sap50/$sap99 (p50 ratio $(ratio "$sap50" "$fap50")); zero-filled: fio" \
		"--overwrite=1 $fzp50/$fzp99, sluice zero $szp50/$szp99 (ratio" \
		"$(ratio "$szp50" "$fzp50")), sluice default $sdp50/$sdp99 (ratio" \
		"$(ratio "$sdp50" "$fzp50")); via ring + writer thread $rp50/$rp99"
done

python3 - "$raw" "$json" "$qd" "$rounds" "$mib" "$n" "$(uname -r)" "$(nproc)" \
	"$(stat -f -c %T "$parent")" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, statistics, sys
raw, out, qd = sys.argv[1], sys.argv[2], int(sys.argv[3])
samples = [json.loads(l) for l in open(raw)]
def med(v):
    return statistics.median(v) if v else None
def by_round(what, **match):
    res = {}
    for s in samples:
        if s["what"] == what and all(s.get(k) == v for k, v in match.items()):
            res.setdefault(s["round"], []).append(s)
    return res
summary = {"queue_depth": qd}
tp = by_round("sluice_tp")
fq, f8 = by_round("fio_seq", qd=qd), by_round("fio_seq", qd=8)
r_q = [s[0]["throughput_mib_s"] / statistics.mean(x["mib_s"] for x in fq[r]) for r, s in tp.items() if r in fq]
r_8 = [s[0]["throughput_mib_s"] / statistics.mean(x["mib_s"] for x in f8[r]) for r, s in tp.items() if r in f8]
summary["throughput_ratio_to_fio_same_qd"] = med(r_q)
summary["throughput_ratio_to_fio_qd8"] = med(r_8)
summary["throughput_mib_s"] = med([s[0]["throughput_mib_s"] for s in tp.values()])
sweep = {}
for s in samples:
    if s["what"] == "sluice_tp_sweep":
        sweep.setdefault(s["queue_depth"], []).append(s["throughput_mib_s"])
summary["sweep_median_mib_s"] = {str(k): med(v) for k, v in sorted(sweep.items())}
fsweep = {}
for s in samples:
    if s["what"] == "fio_seq":
        fsweep.setdefault(s["qd"], []).append(s["mib_s"])
summary["fio_median_mib_s"] = {str(k): med(v) for k, v in sorted(fsweep.items())}
for name, fio in (("fallocate", "fio_lat_fallocate"), ("zero", "fio_lat_overwrite"),
                  ("auto", "fio_lat_overwrite")):
    s, f = by_round("sluice_lat_" + name), by_round(fio)
    summary["latency_%s_p50_us" % name] = med([x[0]["latency_p50_us"] for x in s.values()])
    summary["latency_%s_p99_us" % name] = med([x[0]["latency_p99_us"] for x in s.values()])
    summary["latency_%s_fio_p50_us" % name] = med([x[0]["p50_us"] for x in f.values()])
    summary["latency_%s_fio_p99_us" % name] = med([x[0]["p99_us"] for x in f.values()])
    summary["latency_%s_p50_ratio" % name] = med(
        [s[r][0]["latency_p50_us"] / f[r][0]["p50_us"] for r in s if r in f])
doc = {"bench": "bench_writer", "kernel": sys.argv[7], "cpus": int(sys.argv[8]),
       "filesystem": sys.argv[9], "load": sys.argv[10], "rounds": int(sys.argv[4]),
       "mib": int(sys.argv[5]), "latency_samples": int(sys.argv[6]),
       "summary": summary, "samples": samples}
json.dump(doc, open(out, "w"), indent=1)
print("median throughput ratio (sluice qd%d): to fio qd%d %s, to fio qd8 %s" % (
    qd, qd, "%.2f" % summary["throughput_ratio_to_fio_same_qd"]
    if summary["throughput_ratio_to_fio_same_qd"] else "-",
    "%.2f" % summary["throughput_ratio_to_fio_qd8"]
    if summary["throughput_ratio_to_fio_qd8"] else "-"))
if summary["sweep_median_mib_s"]:
    print("sweep (median MiB/s by queue depth): sluice %s, fio %s" % (
        summary["sweep_median_mib_s"], summary["fio_median_mib_s"]))
print("median durable latency p50 ratio (sluice append_sync / fio, same preallocation):"
      " fallocate %s, zero %s, default %s" % tuple(
          "%.2f" % summary["latency_%s_p50_ratio" % k] if summary["latency_%s_p50_ratio" % k]
          else "-" for k in ("fallocate", "zero", "auto")))
print("raw JSON: %s" % out)
PY
exit 0
