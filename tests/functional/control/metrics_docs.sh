#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# docs/operations.md and the metrics sluiced can emit agree, both ways: every metric family name
# in the outputs' sources (daemon, control socket, HTTP, telemetry) is documented as `name`, and
# every `sluice_*` name in the metrics reference is one the sources emit. This covers families
# only emitted in configurations the live tests do not run (sluicectl_sluiced checks the live
# set against the same document).
set -uo pipefail
SRC=${SLUICE_SOURCE_ROOT:?}
DOC=$SRC/docs/operations.md
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -f "$DOC" ] || fail "$DOC missing"
TMP=$(mktemp -d /tmp/metrics-docs.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# Metric names are string literals ("sluice_..."); nothing else in these files is quoted so.
grep -ohE '"sluice_[a-z0-9_]+"' "$SRC"/control/daemon*.c "$SRC"/control/ctl_server.c \
	"$SRC"/control/metrics_http.c "$SRC"/control/telemetry.c | tr -d '"' | sort -u >"$TMP/src"
[ "$(wc -l <"$TMP/src")" -ge 50 ] || fail "only $(wc -l <"$TMP/src") metric names found in the sources"
awk '/^## Metrics reference/,/^## DPDK telemetry/' "$DOC" | grep -oE '`sluice_[a-z0-9_]+`' |
	tr -d '`' | sort -u >"$TMP/doc"
[ -s "$TMP/doc" ] || fail "no '## Metrics reference' section with \`sluice_*\` names in $DOC"
undocumented=$(comm -23 "$TMP/src" "$TMP/doc" | tr '\n' ' ')
stale=$(comm -13 "$TMP/src" "$TMP/doc" | tr '\n' ' ')
[ -z "$undocumented" ] || fail "emitted but not in docs/operations.md's metrics reference: $undocumented"
[ -z "$stale" ] || fail "in docs/operations.md's metrics reference but never emitted: $stale"
echo "PASS: $(wc -l <"$TMP/src") metric families documented"
