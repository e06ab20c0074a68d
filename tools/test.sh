#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The whole test suite, as CI runs it: install dependencies, check formatting, build with
# warnings as errors, run unit + functional tests, build the Debian packages and check them
# installed in a fresh root (tools/package-test.sh), run the unit tests again under
# AddressSanitizer/UBSan, then run every libFuzzer target for a bounded time.
#
#   FUZZ_SECONDS   seconds per fuzz target (default 60; 0 skips fuzzing)
#   SLUICE_JOBS    ninja/meson test parallelism (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
jobs=${SLUICE_JOBS:-$(nproc)}

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
echo "== build (gcc, -Werror)"
setup build -Dwerror=true -Dtests=true
echo "== unit + functional tests"
meson test -C build --suite unit --suite functional --num-processes "$jobs" --print-errorlogs || status=1
echo "== benchmark harness, --quick (keeps it working; reports, asserts no number)"
meson test -C build --suite perf bench_quick --print-errorlogs --logbase perflog || status=1

echo "== Debian packages: lintian, a fresh root, the installed unit and configuration"
./tools/package-test.sh || status=1

echo "== unit tests under ASan/UBSan"
setup build-asan -Dwerror=true -Dtests=true -Db_sanitize=address,undefined -Db_lundef=false
meson test -C build-asan --suite unit --num-processes "$jobs" --print-errorlogs || status=1

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

# One closing line over everything that ran.
python3 - "$fuzz_pass" "$fuzz_fail" <<'PY'
import json, os, sys
p = int(sys.argv[1]); f = int(sys.argv[2]); s = 0
for log in ("build/meson-logs/testlog.json", "build/meson-logs/perflog.json",
            "build-asan/meson-logs/testlog.json"):
    if not os.path.exists(log):
        continue
    for line in open(log):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            p += 1
        elif r == "SKIP":
            s += 1
        else:
            f += 1
print(f"{p} passed, {f} failed, {s} skipped")
PY
exit $status
