#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Every benchmark, one after the other, into one directory of raw results that
# bench/report.py turns into docs/benchmarks.md (issue 14, item 8).
#
#   bench/run-all.sh [--quick] [--out DIR] [--build DIR] [--budget-s N] [--label TEXT]
#                    [--only STEP[,STEP..]]
#
# Steps (each writes its raw output under DIR, text and JSON, nothing summarised away):
#   harness    bench/run-bench.sh: limits (testpmd, fio), kernel peers, kcat, sluiced
#   dataplane  bench_dataplane: one worker core against testpmd rxonly, per traffic shape
#   writer     bench_writer.sh: the storage writer against fio at its queue depth and at qd8
#   forwarder  bench_forwarder: the forwarder against a plain librdkafka loop, kcat, TCP
#   record     bench_record: CRC32C implementations, record builder and validator
# Plus DIR/meta.json: the machine, the commit, load averages, the options of the run.
#
# --quick (the perf suite's bench_quick, CI) runs each step briefly, to keep the harness and
# the report working; its figures are not for publishing. --budget-s (default 3600, quick 240)
# bounds the whole run: a step that would start with no time left is recorded as skipped.
# It reports; it never asserts a number.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
quick=0
out=""
build="${SLUICE_BUILD_ROOT:-}"
budget=""
label=""
only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--out) out=$2; shift ;;
	--build) build=$2; shift ;;
	--budget-s) budget=$2; shift ;;
	--label) label=$2; shift ;;
	--only) only=$2; shift ;;
	-h | --help) sed -n '3,20p' "$0"; exit 0 ;;
	*) echo "run-all: $1: unknown option (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$budget" ] || budget=$([ $quick = 1 ] && echo 240 || echo 3600)
[ -n "$out" ] || out="$here/results/run-$(date -u +%Y%m%d-%H%M%S)"
if [ -z "$build" ]; then
	for d in "$src"/build "$src"/build-*; do
		[ -x "$d/bench/sluice-gen" ] && { build=$d; break; }
	done
fi
[ -x "$build/bench/sluice-gen" ] || { echo "run-all: no build under '$build' (use --build)" >&2; exit 2; }
build=$(cd "$build" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
log() { echo "run-all: $*" >&2; }
want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
t_start=$(date +%s)
left() { echo $((budget - ($(date +%s) - t_start))); }
steps_run=()
steps_skipped=()
# run_step NAME MIN_SECONDS COMMAND...: run under the time left, output to DIR/NAME.txt
run_step() {
	local name=$1 min=$2 rc=0 t0
	shift 2
	want "$name" || return 0
	if [ "$(left)" -lt "$min" ]; then
		log "$name: skipped, $(left) s of the budget left (needs about $min)"
		steps_skipped+=("$name")
		return 0
	fi
	log "$name: $* (at most $(left) s)"
	t0=$(date +%s)
	timeout -s INT -k 10 "$(left)" "$@" >"$out/$name.txt" 2>"$out/$name.err" || rc=$?
	log "$name: exit $rc after $(($(date +%s) - t0)) s"
	[ $rc = 0 ] && steps_run+=("$name") || steps_skipped+=("$name:exit-$rc")
	return 0
}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
# The commit measured: taken before the run, so edits made while it runs do not mislabel it.
commit=$(cd "$src" && git describe --always --dirty 2>/dev/null || echo unknown)

if [ $quick = 1 ]; then
	run_step harness 30 "$here/run-bench.sh" --quick --build "$build" --out "$out" --name harness
	rm -f "$out/dataplane.jsonl"
	run_step dataplane 20 env SLUICE_BENCH_JSON="$out/dataplane.jsonl" \
		"$build/bench/bench_dataplane" 1 "kafka 20x50B"
	run_step writer 20 env SLUICE_BENCH_JSON="$out/writer.json" SLUICE_BENCH_ROUNDS=1 \
		SLUICE_BENCH_MIB=64 SLUICE_BENCH_SAMPLES=100 "$here/bench_writer.sh" \
		"$build/bench/bench_writer"
	run_step forwarder 20 "$build/bench/bench_forwarder" -n 20000 -v 100 -K \
		-o "$out/forwarder-1.json"
	run_step record 5 "$build/bench/bench_record" 1
else
	run_step harness 300 "$here/run-bench.sh" --build "$build" --out "$out" --name harness \
		--seconds 5
	rm -f "$out/dataplane.jsonl"
	run_step dataplane 300 env SLUICE_BENCH_JSON="$out/dataplane.jsonl" \
		"$build/bench/bench_dataplane" 1 all
	run_step writer 300 env SLUICE_BENCH_JSON="$out/writer.json" SLUICE_BENCH_ROUNDS=3 \
		SLUICE_BENCH_MIB=512 SLUICE_BENCH_SAMPLES=500 "$here/bench_writer.sh" \
		"$build/bench/bench_writer"
	# Three rounds: the report takes the median of each side over them.
	for r in 1 2 3; do
		run_step "forwarder-$r" 120 "$build/bench/bench_forwarder" -n 1000000 \
			-o "$out/forwarder-$r.json"
	done
	run_step record 30 "$build/bench/bench_record" 2
fi
# The harness' own summary files are kept; its plots too.

python3 - "$out/meta.json" "$label" "$quick" "$budget" "$load0" "$src" \
	"${steps_run[*]:-}" "${steps_skipped[*]:-}" "$(($(date +%s) - t_start))" "$commit" <<'PY'
import json, os, platform, subprocess, sys, time
path, label, quick, budget, load0, src, ran, skipped, secs, commit = sys.argv[1:]
def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=src,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
cpu = ""
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
mem_gib = 0
for line in open("/proc/meminfo"):
    if line.startswith("MemTotal:"):
        mem_gib = round(int(line.split()[1]) / 2**20, 1)
meta = {
    "label": label,
    "quick": quick == "1",
    "budget_s": int(budget),
    "duration_s": int(secs),
    "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "commit": commit,
    "machine": {"cpu": cpu, "cpus": os.cpu_count(), "mem_gib": mem_gib,
                "kernel": platform.release(),
                "loadavg_start": [float(x) for x in load0.split()],
                "loadavg_end": list(os.getloadavg())},
    "versions": {"dpdk": sh("pkg-config", "--modversion", "libdpdk"),
                 "liburing": sh("pkg-config", "--modversion", "liburing"),
                 "librdkafka": sh("pkg-config", "--modversion", "rdkafka"),
                 "fio": sh("fio", "--version")},
    "steps_run": ran.split(),
    "steps_skipped": skipped.split(),
}
json.dump(meta, open(path, "w"), indent=2, sort_keys=True)
PY
log "raw results in $out; render with: bench/report.py --results $out"
# The report must render from what was just written (bench_quick keeps this path working).
python3 "$here/report.py" --results "$out" --render >"$out/report.md"
log "report rendered to $out/report.md"
