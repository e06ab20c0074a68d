#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# docs/operations.md's metric reference is generated from the metrics registry
# (control/metric_registry.c): the tables between the `metrics-registry` markers must be what
# metrics_doc prints, byte for byte. And every registered family is emitted somewhere: its
# SLUICE_M_ id is used by an output's source (daemon, control socket, HTTP). sluicectl_sluiced
# checks the live set of a running sluiced against the same document.
set -uo pipefail
SRC=${SLUICE_SOURCE_ROOT:?}
BUILD=${SLUICE_BUILD_ROOT:?}
DOC=$SRC/docs/operations.md
GEN=$BUILD/tests/functional/control/metrics_doc
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -f "$DOC" ] || fail "$DOC missing"
[ -x "$GEN" ] || fail "$GEN missing"
TMP=$(mktemp -d /tmp/metrics-docs.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

"$GEN" >"$TMP/gen" || fail "metrics_doc failed"
awk '/^<!-- metrics-registry:begin/{on=1; next} /^<!-- metrics-registry:end/{on=0} on' "$DOC" >"$TMP/doc"
[ -s "$TMP/doc" ] || fail "no <!-- metrics-registry:begin/end --> block in $DOC"
diff -u "$TMP/doc" "$TMP/gen" >&2 ||
	fail "docs/operations.md's metric tables are stale: regenerate them with $GEN"

grep -oE '\[SLUICE_M_[A-Z0-9_]+\]' "$SRC/control/metric_registry.c" | tr -d '[]' | grep -v '__COUNT' | sort -u >"$TMP/ids"
[ "$(wc -l <"$TMP/ids")" -ge 50 ] || fail "only $(wc -l <"$TMP/ids") families in the registry"
grep -ohE 'SLUICE_M_[A-Z0-9_]+' "$SRC"/control/daemon*.c "$SRC"/control/ctl_server.c \
	"$SRC"/control/metrics_http.c "$SRC"/control/telemetry.c | sort -u >"$TMP/used"
unused=$(comm -23 "$TMP/ids" "$TMP/used" | tr '\n' ' ')
[ -z "$unused" ] || fail "registered but never emitted: $unused"
grep -lE '"sluice_[a-z0-9_]+_(total|seconds|bytes|events|records)"' "$SRC"/control/daemon*.c \
	"$SRC"/control/ctl_server.c "$SRC"/control/metrics_http.c "$SRC"/control/telemetry.c &&
	fail "a metric name spelled outside the registry (above)"
echo "PASS: $(wc -l <"$TMP/ids") metric families, documented from the registry"
