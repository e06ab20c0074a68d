#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Reload without restart (SIGHUP, what `systemctl reload sluice` sends): every runtime-tunable
# key that changed in the file is applied through the same path as `sluicectl config set`,
# each key that needs a restart is reported and keeps its running value, and a file with any
# error is refused whole, each error as file:line: key: reason, the running values unchanged.
. "$(dirname "$0")/sluiced_lib.sh"

"$GEN" --pcap "$TMP/a.pcap" --format kafka --count 100 --producers 1 --events-per-packet 5 \
	--dst-port 9000 --quiet --summary /dev/null
# write_config LINGER WRITERS [EXTRA...]: the file sluiced runs with and reloads
write_config() {
	local linger=$1 writers=$2
	shift 2
	{
		cat <<EOT
[eal]
memory = no-huge
memory_mb = 256
file_prefix = $PREFIX
[storage]
data_dir = $TMP/data
writers = $writers
[port.p0]
device = net_pcap0
args = rx_pcap=$TMP/a.pcap
promiscuous = true
[topic.events]
partitions = 2
[listener.in]
udp_port = 9000
[kafka]
brokers = embedded
sasl.password = ${PASSWORD:-pw-alpha-1}
[control]
socket = $TMP/ctl.sock
metrics = false
[dataplane]
mbufs = 4095
batch_buffers = 64
batch_bytes = 64K
linger = $linger
EOT
		printf '%s\n' "$@"
	} >"$TMP/sluiced.ini"
}

# reload_and_wait: SIGHUP, then wait for the outcome line of this reload (bounded)
reloads=0
reload_and_wait() {
	local i
	reloads=$((reloads + 1))
	kill -HUP "$SLUICED_PID"
	for i in $(seq 100); do
		[ "$(grep -c 'reload of .*\( applied,\| refused:\)' "$TMP/sluiced.err")" -ge "$reloads" ] && return 0
		sleep 0.1
	done
	fail "reload $reloads: no outcome logged"
}
J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

write_config 1ms 1
sluiced_start "$TMP/sluiced.ini" --set control.stats_interval=0
wait_stat persisted 500

echo "== runtime keys applied, restart keys reported"
write_config 5ms 2 "idle_sleep_time = 200us" "[topic.extra]" "[listener.x]" "udp_port = 9001" \
	"topic = extra"
sed -i 's/^udp_port = 9000$/udp_port = 9000\ntopic = events/' "$TMP/sluiced.ini"
reload_and_wait
grep -q 'reload: dataplane.linger = 5ms (was 1ms)' "$TMP/sluiced.err" || fail "linger not applied"
grep -q 'reload: dataplane.idle_sleep_time = 200us (was 100us)' "$TMP/sluiced.err" ||
	fail "idle_sleep_time not applied"
grep -q 'reload: storage.writers = 2 needs a restart; running with 1' "$TMP/sluiced.err" ||
	fail "storage.writers not reported as needing a restart"
grep -q 'reload: \[topic.extra\] is new in the file; adding it needs a restart' \
	"$TMP/sluiced.err" || fail "a new topic not reported as needing a restart"
[ "$(grep -c 'reload: topic.extra' "$TMP/sluiced.err")" = 0 ] || fail "a new section reported key by key"
[ "$(ctl config get dataplane.linger)" = 5ms ] || fail "running linger $(ctl config get dataplane.linger)"
[ "$(ctl config get storage.writers)" = 1 ] || fail "storage.writers changed while running"
ctl -j status >"$TMP/status.json"
[ "$(J 'd["last_reload"]["ok"]' <"$TMP/status.json")" = True ] || fail "status: reload not ok"
[ "$(J 'sorted(a["key"] for a in d["last_reload"]["applied"])' <"$TMP/status.json")" = \
	"['dataplane.idle_sleep_time', 'dataplane.linger']" ] || fail "status: applied $(cat "$TMP/status.json")"
J '[r["key"] for r in d["last_reload"]["restart"]]' <"$TMP/status.json" | grep -q "'storage.writers'" ||
	fail "status: restart list"
[ "$(J 'd["config_file"]' <"$TMP/status.json")" = "$TMP/sluiced.ini" ] || fail "status: config_file"
# The --set override from the command line still holds after the reload.
[ "$(ctl config get control.stats_interval)" = 0 ] || fail "--set override lost by the reload"

echo "== a changed secret needs a restart, and is never shown"
PASSWORD=pw-bravo-2 write_config 5ms 1
reload_and_wait
grep -q 'reload: kafka.sasl.password = \*\*\* needs a restart; running with \*\*\*' \
	"$TMP/sluiced.err" || fail "a changed secret not reported"
grep -q "pw-alpha-1\\|pw-bravo-2" "$TMP/sluiced.err" && fail "a secret in the log"

echo "== a batch larger than the buffers sized at start needs a restart"
write_config 5ms 1 "batch_bytes = 128K"
sed -i '/^batch_bytes = 64K$/d' "$TMP/sluiced.ini"
reload_and_wait
grep -q 'reload: dataplane.batch_bytes = 128K needs a restart: dataplane.batch_bytes: at most' \
	"$TMP/sluiced.err" || fail "oversized batch_bytes not refused"
grep -q 'reload: dataplane.idle_sleep_time = 100us (was 200us)' "$TMP/sluiced.err" ||
	fail "a key back to its default not applied"
[ "$(ctl config get dataplane.batch_bytes)" = 64K ] || fail "batch_bytes changed"

echo "== a bad file is refused whole"
write_config 7ms 1 "bogus = 1"
sed -i 's/^mbufs = 4095$/mbufs = lots/' "$TMP/sluiced.ini"
reload_and_wait
grep -q "reload: $TMP/sluiced.ini:23: dataplane.mbufs: 'lots' is not an unsigned integer" \
	"$TMP/sluiced.err" || fail "no file:line: key: reason for the bad value"
grep -q "reload: $TMP/sluiced.ini:27: dataplane.bogus: unknown key" "$TMP/sluiced.err" ||
	fail "no file:line: key: reason for the unknown key"
grep -q "reload of $TMP/sluiced.ini refused: 2 errors; the running configuration stays" \
	"$TMP/sluiced.err" || fail "no refusal line"
# linger = 7ms was valid, but the file was refused whole.
[ "$(ctl config get dataplane.linger)" = 5ms ] || fail "a refused file changed linger"
ctl -j status | J 'd["last_reload"]["ok"], len(d["last_reload"]["errors"])' | grep -qx 'False 2' ||
	fail "status: refused reload"

echo "== sluicectl doctor asks the running sluiced which file and process to judge"
rc=0
"$SLUICECTL" -s "$TMP/ctl.sock" doctor --only daemon >"$TMP/doctor" || rc=$?
grep -q "^PASS  daemon .*sluiced is running (pid $SLUICED_PID, control socket $TMP/ctl.sock), configuration $TMP/sluiced.ini" \
	"$TMP/doctor" || fail "doctor: $(cat "$TMP/doctor")"
# Without --config it judges that file (refused by the reload above: mbufs = lots).
rc=0
"$SLUICECTL" -s "$TMP/ctl.sock" doctor --only config >"$TMP/doctor" || rc=$?
[ "$rc" = 1 ] || fail "doctor on the bad file: exit $rc"
grep -q "^FAIL  config  *$TMP/sluiced.ini: 2 errors" "$TMP/doctor" || fail "doctor: $(cat "$TMP/doctor")"
write_config 5ms 1
"$SLUICECTL" -s "$TMP/ctl.sock" doctor --only memlock >"$TMP/doctor" || true
grep -q "^[A-Z]*  memlock  *locked-memory limit of the running sluiced" "$TMP/doctor" ||
	fail "doctor did not read the daemon's limits: $(cat "$TMP/doctor")"

echo "== still serving, and a clean stop"
ctl stats >/dev/null || fail "stats after reloads"
sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "exit $STOP_STATUS"
echo "PASS: runtime keys applied, restart keys reported, a bad file refused whole"
