#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Stock dpdk-telemetry.py reads the /sluice/ commands from a small EAL process (ctl_testd with
# --no-huge --no-pci and a unique file prefix) and gets the known values.
. "$(dirname "$0")/ctl_lib.sh"
TEL=$(command -v dpdk-telemetry.py) || { echo "dpdk-telemetry.py missing (Debian package dpdk)"; exit 77; }

EAL_PREFIX=sluice-ctl-tel-$$
OLD_UMASK=$(umask)
umask 000
testd_start --eal-prefix "$EAL_PREFIX"
umask "$OLD_UMASK"
RUN=/var/run/dpdk/$EAL_PREFIX
for ((i = 0; i < 100; i++)); do
	[ -S "$RUN/dpdk_telemetry.v2" ] && break
	sleep 0.1
done
[ -S "$RUN/dpdk_telemetry.v2" ] || fail "no telemetry socket in $RUN"

# DPDK's sockets check no peer credentials: the daemon keeps its runtime directory and every
# socket in it to its own user, whatever the umask (ctl_testd runs under umask 000 here).
[ "$(stat -c %a "$RUN")" = 700 ] || fail "runtime dir mode $(stat -c %a "$RUN")"
for f in "$RUN"/*; do
	[ $(( 0$(stat -c %a "$f") & 077 )) = 0 ] || fail "$f has mode $(stat -c %a "$f")"
done

# Non-interactive: one command per stdin line, one JSON reply per stdout line.
printf '%s\n' /sluice/stats /sluice/metric,sluice_nic_rx_packets_total \
	/sluice/metric,sluice_partition_fdatasync_seconds /sluice/health /sluice/status \
	/sluice/partitions /sluice/producers /sluice/config /sluice/families \
	/sluice/metric,no_such_family / /sluice/config,dataplane /sluice/config,nope |
	timeout 30 python3 "$TEL" -f "$EAL_PREFIX" >"$TMP/tel.out" 2>"$TMP/tel.err" ||
	fail "dpdk-telemetry.py: $(cat "$TMP/tel.err")"

python3 - "$TMP/tel.out" <<'PY' || fail "telemetry replies: $(cat "$TMP/tel.out")"
import json, sys
replies = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(replies) == 13, len(replies)
r = {}
for d in replies:
    r.update(d)
st = r["/sluice/stats"]
assert st["sluice_persisted_events_total"] == 12345, st
assert st["sluice_nic_rx_packets_total"] == 3000, st          # summed over queues
assert st["sluice_worker_rejects_total"] == 9, st
assert st["sluice_partition_fdatasync_seconds_count"] == 10, st
assert st["sluice_unaccounted_events"] == 0, st
assert "sluice_partition_durable_offset" not in st, st       # labelled gauge: not a total
m = replies[1]["/sluice/metric"]
assert m["port_p0/queue_0"] == 1000 and m["port_p0/queue_1"] == 2000, m
hist = replies[2]["/sluice/metric"]
assert hist["topic_events/partition_0/le_0_001"] == 8, hist
assert hist["topic_events/partition_0/count"] == 10, hist
assert replies[9] == {"/sluice/metric": None}, replies[9]       # unknown family: error
fams = r["/sluice/families"]
assert len(fams) == len(set(fams)), fams
h = r["/sluice/health"]
assert h["healthy"] == 1, h
s = r["/sluice/status"]
assert s["state"] == "running" and s["forwarder/state"] == "running", s
assert s["ports/0/name"] == "p0" and s["ports/0/queues"] == 2, s
p = r["/sluice/partitions"]
assert p["partitions/0/durable_offset"] == 4242, p
assert r["/sluice/producers"]["producers/0/lost"] == 3
assert replies[7]["/sluice/config"] == ["dataplane", "test"], replies[7]
assert replies[11]["/sluice/config"] == {"linger": "1000us", "workers": "2"}, replies[11]
assert replies[12] == {"/sluice/config": None}, replies[12]       # unknown section: error
assert "sluice_worker_events_total" in r["/sluice/families"]
assert "/sluice/stats" in r["/"]
PY
# Health through telemetry follows the daemon.
ctl config set test.healthy false >/dev/null || fail "set unhealthy"
printf '/sluice/health\n' | timeout 30 python3 "$TEL" -f "$EAL_PREFIX" >"$TMP/h.out" 2>&1 ||
	fail "telemetry health"
python3 -c 'import json,sys
h = json.loads(open(sys.argv[1]).read())["/sluice/health"]
assert h["healthy"] == 0 and "fdatasync" in h["reasons/0"] and "lag" in h["reasons/1"], h' \
	"$TMP/h.out" || fail "unhealthy via telemetry: $(cat "$TMP/h.out")"
testd_stop
echo PASS
