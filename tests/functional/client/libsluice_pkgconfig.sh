#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# libsluice as an outside program sees it: compiled and linked with nothing but what
# `pkg-config libsluice` (build/client/libsluice.pc) says, then run against an independent
# appliance side written from docs/wire-formats.md (fake_appliance.py), which drops every 7th
# datagram and sends a malformed datagram before each ack: every event must end acknowledged,
# the producer must have retransmitted and counted the malformed acks.
set -euo pipefail
BUILD=${SLUICE_BUILD_ROOT:?}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/libsluice-pc.XXXXXX)
FAKE=
trap '[ -z "$FAKE" ] || kill "$FAKE" 2>/dev/null || true; rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v pkg-config >/dev/null || { echo "pkg-config missing"; exit 77; }
export PKG_CONFIG_PATH=$BUILD/client
FLAGS=$(pkg-config --cflags --libs libsluice) || fail "pkg-config libsluice"
echo "pkg-config libsluice: $FLAGS"
SAN=()
# A sanitized build's library needs the sanitizer runtime first in the program as well.
ldd "$BUILD/client/libsluice.so" | grep -q libasan && SAN=(-fsanitize=address,undefined)
cc -std=c11 -Wall -Werror "${SAN[@]}" -o "$TMP/example" "$HERE/pc_example.c" $FLAGS ||
	fail "compile"
python3 "$HERE/fake_appliance.py" "$TMP/port" >"$TMP/fake.json" &
FAKE=$!
for i in $(seq 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
PORT=$(cat "$TMP/port")
out=$(timeout 60 "$TMP/example" 127.0.0.1 "$PORT" 5000) || fail "example: $out"
echo "$out"
kill "$FAKE"
wait "$FAKE" 2>/dev/null || true
FAKE=
set -- $out
[ "$2" = 5000 ] && [ "$4" = 5000 ] || fail "not every event acknowledged: $out"
[ "${8}" -gt 0 ] || fail "nothing retransmitted although every 7th datagram was dropped: $out"
[ "${14}" -gt 0 ] || fail "malformed acks not counted: $out"
echo "PASS: libsluice via pkg-config, 5000 events acknowledged by an independent appliance side"
