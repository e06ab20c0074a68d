#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# `sluicectl doctor` as an operator runs it on this machine with the shipped production
# example (dist/sluiced.ini): every check reported once, the NIC this machine lacks named with
# its fix, exit 1; --json parses and agrees; --only; a missing file; usage errors exit 2.
set -euo pipefail
BUILD=${SLUICE_BUILD_ROOT:?}
SRC=${SLUICE_SOURCE_ROOT:?}
CTL=$BUILD/tools/sluicectl
TMP=$(mktemp -d /tmp/doctor-cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/out" ] && cat "$TMP/out" >&2
	exit 1
}

# The example as shipped, but with a data directory of ours and no group this machine lacks.
sed -e "s#^data_dir = .*#data_dir = $TMP/data#" -e '/^socket_group = /d' \
	"$SRC/dist/sluiced.ini" >"$TMP/sluiced.ini"
# No daemon to ask: a socket path nothing listens on.
doctor() { "$CTL" -s "$TMP/none.sock" -t 2 doctor --kafka-timeout 1 "$@"; }

rc=0
doctor --config "$TMP/sluiced.ini" >"$TMP/out" || rc=$?
[ "$rc" = 1 ] || fail "exit $rc, expected 1 (this machine has no NIC at 0000:03:00.0)"
grep -q '^PASS  config ' "$TMP/out" || fail "config not valid"
grep -q '^FAIL  port.wan0.driver .*no PCI device 0000:03:00.0' "$TMP/out" || fail "NIC not named"
grep -A1 '^FAIL  port.wan0.driver' "$TMP/out" | grep -q '^      fix: lspci' || fail "no fix for the NIC"
for check in daemon config cpu.features iommu kernel.modules port.wan0.driver port.wan0.numa \
	cpu.isolation cpu.sharing cpu.governor data_dir.fs data_dir.direct_io data_dir.space \
	data_dir.fdatasync memlock kafka.reachable; do
	[ "$(grep -c "^[A-Z]\{4\}  $check " "$TMP/out")" = 1 ] || fail "check $check not reported once"
done
grep -q '^[A-Z]\{4\}  hugepages' "$TMP/out" || fail "no hugepages check"
tail -n 1 "$TMP/out" | grep -q "passed, .* failed ($TMP/sluiced.ini)" || fail "no summary line"

rc=0
doctor --config "$TMP/sluiced.ini" --json >"$TMP/json" || rc=$?
[ "$rc" = 1 ] || fail "--json exit $rc"
python3 - "$TMP/json" "$TMP/out" <<'PY' || fail "JSON and text disagree"
import json, re, sys
d = json.load(open(sys.argv[1]))
text = [l for l in open(sys.argv[2]) if re.match(r"^(PASS|WARN|FAIL)  ", l)]
assert len(d["checks"]) == len(text), (len(d["checks"]), len(text))
for c, l in zip(d["checks"], text):
    # The same checks in the same order; a measured latency may judge differently twice.
    assert l[6:].startswith(c["name"] + " "), (c, l)
    if c["name"] != "data_dir.fdatasync":
        assert l.startswith(c["status"].upper() + "  "), (c, l)
    assert (c["status"] == "pass") == (c["fix"] == []), c
assert d["fail"] == sum(c["status"] == "fail" for c in d["checks"]) > 0
PY

doctor --config "$TMP/sluiced.ini" --only data_dir. >"$TMP/out" || true
[ "$(grep -c '^[A-Z]\{4\}  ' "$TMP/out")" = 4 ] || fail "--only data_dir. ran other checks"

rc=0
doctor --config "$TMP/missing.ini" >"$TMP/out" || rc=$?
[ "$rc" = 1 ] || fail "missing file: exit $rc"
grep -q "^FAIL  config .*missing.ini: file: cannot open" "$TMP/out" || fail "missing file not reported"

rc=0
doctor --bogus >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "unknown option: exit $rc, expected 2"
rc=0
doctor --kafka-timeout 0 >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "bad --kafka-timeout: exit $rc, expected 2"
echo "PASS: doctor names what this machine lacks for the shipped example, text and JSON agree"
