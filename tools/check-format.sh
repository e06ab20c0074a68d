#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Fails when a C source is not clang-formatted or lacks its SPDX line. --fix rewrites in place.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h')
[ "${#files[@]}" -eq 0 ] && exit 0
rc=0
for f in "${files[@]}"; do
	head -n 2 "$f" | grep -q 'SPDX-License-Identifier' || { echo "$f: missing SPDX line" >&2; rc=1; }
done
if [ "${1:-}" = "--fix" ]; then
	clang-format -i "${files[@]}"
else
	clang-format --dry-run --Werror "${files[@]}" || rc=1
fi
exit $rc
