#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The whole test suite, as CI runs it: install dependencies, check formatting, build with
# warnings as errors, run unit + functional tests, build the Debian packages and check them
# installed in a fresh root (tools/package-test.sh), run the tests again (and so sluiced,
# sluice-gen and every functional helper) under AddressSanitizer/UBSan (the unit tests and the
# functional tests of our code: see asan_skip), then run every libFuzzer target for a bounded
# time.
#
# Skips. A functional test exits 77 when the host lacks something it needs (root, a tool);
# meson counts that as skipped. CI has everything (tools/install-deps.sh), so in CI (CI=true,
# or SLUICE_STRICT=1) a skip is a failure. Elsewhere skips are allowed but never silent: they
# are listed by name before the closing line, and the exit status is 77 instead of 0.
#
# Sanitizers. ASan/LSan reports of every process of the sanitizer run (also background ones
# whose exit status a test does not look at) are written to build-asan/sanitizer/; any report
# fails the run and is printed. UBSan aborts the process (abort_on_error), so the test that
# ran it fails. tests/sanitizers/lsan.supp lists third-party leaks only.
#
# Exit status: 0 everything passed, nothing skipped; 1 a failure (in CI also a skip);
# 77 (outside CI) no failure, but something was skipped.
#
#   FUZZ_SECONDS   seconds per fuzz target (default 60; 0 skips fuzzing)
#   SLUICE_JOBS    ninja/meson test parallelism (default: nproc)
#   SLUICE_STRICT  1: treat skips as failures, as CI does
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
jobs=${SLUICE_JOBS:-$(nproc)}
strict=${SLUICE_STRICT:-0}
[ "${CI:-}" = true ] && strict=1
t0=$(date +%s)
stamp() { echo "   ($(($(date +%s) - t0)) s so far)"; }

./tools/install-deps.sh
./tools/check-format.sh

setup() { # dir, meson args...
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir" -j "$jobs"
}

status=0
san_reports=0
echo "== build (gcc, -Werror)"
setup build -Dwerror=true -Dtests=true
echo "== unit + functional tests"
meson test -C build --suite unit --suite functional --num-processes "$jobs" --print-errorlogs || status=1
echo "== benchmark harness, --quick (keeps it working; reports, asserts no number)"
meson test -C build --suite perf bench_quick --print-errorlogs --logbase perflog || status=1

stamp

echo "== Debian packages: lintian, a fresh root, the installed unit and configuration"
./tools/package-test.sh || status=1
stamp

echo "== unit and functional tests under ASan/UBSan (sluiced and every helper sanitized)"
setup build-asan -Dwerror=true -Dtests=true -Db_sanitize=address,undefined -Db_lundef=false
sanlog=$root/build-asan/sanitizer
rm -rf "$sanlog"
mkdir -p "$sanlog"
# tests/meson.build appends its own options (detect_leaks, abort_on_error, ...) to these.
export ASAN_OPTIONS="log_path=$sanlog/asan"
export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0"
# Every functional test but those whose code under test is not ours or runs sanitized in
# another test already (kept out for CI time): the kafkajs and librdkafka cross-checks of the
# record format (covered by the record unit test), the docs check (Python only), the
# Prometheus server scrape (ctl_testd runs sanitized in sluicectl_cli and metrics_promtool),
# the second memif queue count and the kernel-UDP output of sluice-gen; the kill -9 loops of
# the forwarder and of sluiced (the same forwarder code runs sanitized in fwd_basic,
# fwd_errors, fwd_outage, fwd_partial, fwd_retention, fwd_security and sluiced_e2e), and of
# acknowledged mode (its code runs sanitized in ack_e2e and ack_gen_memif).
asan_skip=" record_kafkajs record_murmur_rdkafka metrics_docs prometheus_scrape gen_memif_2q gen_udp fwd_kill sluiced_kill9 ack_kill9 "
mapfile -t asan_functional < <(meson test -C build-asan --list --suite functional 2>/dev/null |
	sed -n 's|^sluice:functional / ||p' | while read -r t; do
		[[ "$asan_skip" == *" $t "* ]] || echo "$t"
	done)
# Sanitized binaries run 2-3 times slower: the same timeouts, scaled.
meson test -C build-asan --suite unit --num-processes "$jobs" --print-errorlogs \
	--timeout-multiplier 3 || status=1
if [ "${#asan_functional[@]}" -lt 10 ]; then
	echo "test.sh: only ${#asan_functional[@]} functional tests listed in build-asan" >&2
	status=1
else
	meson test -C build-asan --logbase functional-log --num-processes "$jobs" \
		--print-errorlogs --timeout-multiplier 3 "${asan_functional[@]}" || status=1
fi
unset ASAN_OPTIONS LSAN_OPTIONS
san_reports=0
for f in "$sanlog"/*; do
	# Every error report ends with a SUMMARY line; a file without one holds only warnings
	# (LSan in a child forked from a threaded test: "thread ... was not suspended").
	grep -q '^SUMMARY: ' "$f" 2>/dev/null || continue
	san_reports=$((san_reports + 1))
	echo "-- sanitizer report $(basename "$f"):"
	head -n 60 "$f"
done
if [ "$san_reports" -gt 0 ]; then
	echo "$san_reports sanitizer report(s) in $sanlog"
	status=1
fi
stamp

fuzz_pass=0 fuzz_fail=0
if [ "$FUZZ_SECONDS" -gt 0 ]; then
	echo "== fuzz targets, ${FUZZ_SECONDS}s each (clang, libFuzzer, ASan/UBSan)"
	CC=clang setup build-fuzz -Dfuzz=true -Dtests=true -Db_sanitize=address,undefined -Db_lundef=false
	while IFS= read -r t; do
		name=$(basename "$t")
		corpus=$(mktemp -d)
		seeds="$root/tests/fuzz/$(basename "$(dirname "$t")")/corpus/${name#fuzz_}"
		[ -d "$seeds" ] && cp -r "$seeds/." "$corpus/"
		if "$t" -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 "$corpus" \
			>"build-fuzz/$name.log" 2>&1; then
			echo "fuzz $name: ok ($(grep -c '' "build-fuzz/$name.log") log lines)"
			fuzz_pass=$((fuzz_pass + 1))
		else
			echo "fuzz $name: FAILED, see build-fuzz/$name.log"
			tail -n 40 "build-fuzz/$name.log"
			fuzz_fail=$((fuzz_fail + 1))
			status=1
		fi
		rm -rf "$corpus"
	done < <(find build-fuzz/tests/fuzz -type f -name 'fuzz_*' -executable | sort)
fi

stamp

# One closing line over everything that ran; skipped tests by name before it.
set +e
python3 - "$fuzz_pass" "$fuzz_fail" "$san_reports" "$strict" <<'PY'
import json, os, sys
p = int(sys.argv[1]); f = int(sys.argv[2]) + int(sys.argv[3]); strict = sys.argv[4] == "1"
skipped = []
for log in ("build/meson-logs/testlog.json", "build/meson-logs/perflog.json",
            "build-asan/meson-logs/testlog.json", "build-asan/meson-logs/functional-log.json"):
    if not os.path.exists(log):
        continue
    for line in open(log):
        t = json.loads(line)
        r = t.get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            p += 1
        elif r == "SKIP":
            skipped.append(f"{os.path.dirname(os.path.dirname(log))}: {t.get('name')}")
        else:
            f += 1
for name in skipped:
    print(f"SKIPPED {name}" + (" (a failure in CI)" if strict else ""))
print(f"{p} passed, {f} failed, {len(skipped)} skipped")
sys.exit(1 if f or (skipped and strict) else 77 if skipped else 0)
PY
verdict=$?
[ "$status" -ne 0 ] && exit 1
exit $verdict
