#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# /health on a disk that fills up for real: storage.data_dir on a 6 MiB tmpfs mounted by the
# test, ~10 MB of events from a pcap. /health must answer 503 naming the nearly full disk
# (control.health_min_free_percent) and then the partition that failed with ENOSPC, and the
# free-disk and failed-partition gauges must agree; SIGTERM then exits 1 (a partition failed)
# without a clean-shutdown marker for it.
. "$(dirname "$0")/sluiced_lib.sh"

disk_cleanup() {
	if [ -n "$SLUICED_PID" ]; then
		kill -9 "$SLUICED_PID" 2>/dev/null || true
		wait "$SLUICED_PID" 2>/dev/null || true
		SLUICED_PID=
	fi
	umount "$TMP/data" 2>/dev/null || true
	cleanup
}
trap disk_cleanup EXIT
mkdir "$TMP/data"
mount -t tmpfs -o size=6M sluice-test "$TMP/data" || { echo "cannot mount a tmpfs"; exit 77; }

"$GEN" --pcap "$TMP/a.pcap" --format raw --count 20000 --event-size 500 --dst-port 9000 \
	--quiet --summary /dev/null || fail "sluice-gen --pcap"
cat >"$TMP/sluiced.ini" <<INI
[eal]
memory = no-huge
memory_mb = 256
file_prefix = $PREFIX
[storage]
data_dir = $TMP/data
prealloc = none
[port.p0]
device = net_pcap0
args = rx_pcap=$TMP/a.pcap
promiscuous = true
[topic.events]
partitions = 1
segment_bytes = 1M
flush_bytes = 256K
[listener.in]
udp_port = 9000
format = raw
[kafka]
enabled = false
[control]
socket = $TMP/ctl.sock
metrics_listen = 127.0.0.1:0
health_min_free_percent = 50
[dataplane]
# net_pcap replays once, as fast as it can: block so that a slow writer on a loaded machine
# does not shed the events that are meant to fill the disk.
backpressure = block
mbufs = 4095
batch_buffers = 64
batch_bytes = 64K
INI
sluiced_start "$TMP/sluiced.ini"
PORT=$(ctl -j status | python3 -c 'import json,sys; print(json.load(sys.stdin)["metrics_port"])')
code=
for i in $(seq 300); do
	code=$(curl -s -o "$TMP/health" -w '%{http_code}' "http://127.0.0.1:$PORT/health")
	grep -q 'partition events-0 failed: No space left on device' "$TMP/health" && break
	sleep 0.1
done
[ "$code" = 503 ] || fail "/health $code: $(cat "$TMP/health")"
grep -c 'partition events-0 failed: No space left on device' "$TMP/health" >/dev/null ||
	fail "/health does not name the failed partition: $(cat "$TMP/health"; ctl stats)"
grep -c 'disk nearly full: .*% free < control.health_min_free_percent = 50%' "$TMP/health" >/dev/null ||
	fail "/health does not say the disk is nearly full: $(cat "$TMP/health")"
curl -sf "http://127.0.0.1:$PORT/metrics" >"$TMP/m" || fail "scrape"
python3 - "$TMP/m" <<'PY' || fail "gauges: $(grep -E 'disk_(free|size)_bytes|partition_failed' "$TMP/m")"
import re, sys
m = open(sys.argv[1]).read()
def v(name):
    return float(re.search(r"^%s(\{[^}]*\})? (\S+)$" % name, m, re.M).group(2))
free, size = v("sluice_storage_disk_free_bytes"), v("sluice_storage_disk_size_bytes")
assert size == 6 * 1024 * 1024, size
assert free < size / 2, (free, size)
assert v("sluice_partition_failed") == 1
PY
# The operator frees the check (not the disk): only the failed partition remains.
ctl config set control.health_min_free_percent 0 >/dev/null || fail "config set"
curl -s -o "$TMP/health" "http://127.0.0.1:$PORT/health"
grep -c 'disk nearly full' "$TMP/health" >/dev/null && fail "disk check still on: $(cat "$TMP/health")"
grep -c 'partition events-0 failed' "$TMP/health" >/dev/null || fail "failed partition forgotten"
sluiced_stop TERM
# docs/lifecycle.md: a partition failed, so the stop is not clean: exit status 1, and the failed
# partition gets no clean-shutdown marker (the next start recovers it).
[ "$STOP_STATUS" = 1 ] || fail "sluiced exit status $STOP_STATUS after ENOSPC, expected 1"
[ -e "$TMP/data/events-0/clean-shutdown" ] && fail "failed partition got a clean-shutdown marker"
grep -q '^sluiced: 1 partitions failed; they get no clean-shutdown marker' "$TMP/sluiced.err" ||
	fail "the failed partition is not named at shutdown"
echo "PASS (sluiced exit status 1 after ENOSPC)"
