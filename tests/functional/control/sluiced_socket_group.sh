#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Who may use the control socket, in two tiers. control.socket_group: an unknown group is a
# file:line config error (exit 2); its members (supplementary or primary group) may read
# (status, config get/list) but every command that changes or stops the appliance is refused
# with exit 4 and counted; others are refused at connect with exit 4; root always may do
# everything. control.admin_group: its members may also change, pause, flush and shut down;
# with both groups the socket is mode 0666 and peer credentials alone decide. Secrets read
# "***" for every tier, in logs and in DPDK telemetry, whose runtime directory and sockets
# stay the daemon user's alone even under umask 000. The groups are created here and removed
# at exit.
. "$(dirname "$0")/sluiced_lib.sh"

GROUP=sluicetg$$
ADMINS=sluiceta$$
NOBODY=65534
SECRET=hunter2-$$
command -v groupadd >/dev/null && command -v setpriv >/dev/null || { echo "no groupadd/setpriv"; exit 77; }
group_cleanup() {
	cleanup
	groupdel "$GROUP" 2>/dev/null || true
	groupdel "$ADMINS" 2>/dev/null || true
}
trap group_cleanup EXIT
# Whoever is not root must reach the socket through the directory.
chmod 0755 "$TMP"

cat >"$TMP/sluiced.ini" <<INI
[eal]
memory = no-huge
memory_mb = 256
file_prefix = $PREFIX
[storage]
data_dir = $TMP/data
[port.p0]
device = net_memif0
args = role=server,socket=$TMP/memif.sock,socket-abstract=no
link_wait = 0
[topic.events]
partitions = 1
[listener.in]
udp_port = 9000
[kafka]
sasl.password = $SECRET
[control]
socket = $TMP/ctl.sock
metrics = false
socket_group = $GROUP
[dataplane]
mbufs = 4095
batch_buffers = 64
batch_bytes = 64K
INI

# The group does not exist yet: a config error that names the file, line and key.
rc=0
"$SLUICED" --check-config "$TMP/sluiced.ini" >"$TMP/check.out" 2>&1 || rc=$?
[ $rc = 2 ] || fail "unknown group: exit $rc, expected 2: $(cat "$TMP/check.out")"
grep -c "sluiced.ini:20: control.socket_group: no such group '$GROUP'" "$TMP/check.out" >/dev/null ||
	fail "unknown group message: $(cat "$TMP/check.out")"
rc=0
"$SLUICED" --check-config "$TMP/sluiced.ini" --set "control.admin_group=$ADMINS" >"$TMP/check.out" 2>&1 || rc=$?
[ $rc = 2 ] && grep -c "\-\-set:1: control.admin_group: no such group '$ADMINS'" "$TMP/check.out" >/dev/null ||
	fail "unknown admin group: exit $rc: $(cat "$TMP/check.out")"

groupadd "$GROUP" || fail "groupadd $GROUP"
groupadd "$ADMINS" || fail "groupadd $ADMINS"
GID=$(getent group "$GROUP" | cut -d: -f3)
AGID=$(getent group "$ADMINS" | cut -d: -f3)
"$SLUICED" --check-config "$TMP/sluiced.ini" >"$TMP/check.out" 2>&1 ||
	fail "config with an existing group refused: $(cat "$TMP/check.out")"
# DPDK makes its sockets with the umask's mode: the widest umask must not widen them.
OLD_UMASK=$(umask)
umask 000
sluiced_start "$TMP/sluiced.ini"
umask "$OLD_UMASK"
[ "$(command stat -c '%g %a' "$TMP/ctl.sock")" = "$GID 660" ] ||
	fail "socket owned by $(command stat -c '%g %a' "$TMP/ctl.sock"), expected group $GID mode 660"
RUN=/var/run/dpdk/$PREFIX
[ -S "$RUN/dpdk_telemetry.v2" ] || fail "no telemetry socket in $RUN"
[ "$(command stat -c %a "$RUN")" = 700 ] || fail "$RUN has mode $(command stat -c %a "$RUN")"
for f in "$RUN"/*; do
	[ $((0$(command stat -c %a "$f") & 077)) = 0 ] || fail "$f has mode $(command stat -c %a "$f")"
done

as() { # setpriv options... -- sluicectl args: exit status in AS_RC, stderr in $TMP/as.err
	local opts=()
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	AS_RC=0
	setpriv --reuid=$NOBODY "${opts[@]}" "$SLUICECTL" -s "$TMP/ctl.sock" -t 10 "$@" \
		>"$TMP/as.out" 2>"$TMP/as.err" || AS_RC=$?
}
reader() { as --regid=$NOBODY --groups="$GID" -- "$@"; }
denied() { # what: the reader's command was refused as read-only, exit 4
	[ $AS_RC = 4 ] || fail "$1: reader got exit $AS_RC, expected 4: $(cat "$TMP/as.out" "$TMP/as.err")"
	grep -c 'permission denied: .* root or control.admin_group only' "$TMP/as.err" >/dev/null ||
		fail "$1: reader's error: $(cat "$TMP/as.err")"
}

echo "== socket_group: read-only"
reader status
[ $AS_RC = 0 ] || fail "a member (supplementary group) was refused: exit $AS_RC $(cat "$TMP/as.err")"
grep -c '^state  *running' "$TMP/as.out" >/dev/null || fail "member's status: $(cat "$TMP/as.out")"
as --regid="$GID" --clear-groups -- config get dataplane.linger
[ $AS_RC = 0 ] || fail "a member (primary group) was refused: exit $AS_RC $(cat "$TMP/as.err")"
reader config list
[ $AS_RC = 0 ] || fail "reader: config list exit $AS_RC"
reader -j raw hello
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["access"] == "read"' "$TMP/as.out" ||
	fail "reader's hello: $(cat "$TMP/as.out")"
reader config set dataplane.linger 2ms
denied "config set"
reader forwarder pause
denied "forwarder pause"
reader flush
denied flush
reader shutdown
denied shutdown
[ "$(ctl config get dataplane.linger)" = 1ms ] || fail "a denied config set changed the value"
kill -0 "$SLUICED_PID" || fail "a reader's shutdown stopped sluiced"
grep -c "denied \"config.set\" to uid $NOBODY" "$TMP/sluiced.err" >/dev/null ||
	fail "no log line for the denied request"
ctl -j metrics | python3 -c '
import json, sys
fams = {f["name"]: f for f in json.load(sys.stdin)["families"]}
v = fams["sluice_ctl_denied_requests_total"]["samples"][0]["value"]
assert v == 4, v' || fail "sluice_ctl_denied_requests_total is not 4"
as --regid=$NOBODY --clear-groups -- status
[ $AS_RC = 4 ] || fail "a non-member got exit $AS_RC, expected 4: $(cat "$TMP/as.err")"
grep -ci 'permission denied' "$TMP/as.err" >/dev/null || fail "non-member's error: $(cat "$TMP/as.err")"
[ "$(ctl config get control.socket_group)" = "$GROUP" ] || fail "root: config get socket_group"
ctl config set dataplane.linger 2ms >/dev/null || fail "root may change"

echo "== secrets read *** everywhere"
[ "$(ctl config get kafka.sasl.password)" = '***' ] || fail "config get: $(ctl config get kafka.sasl.password)"
reader config get kafka.sasl.password
[ $AS_RC = 0 ] && [ "$(cat "$TMP/as.out")" = '***' ] || fail "reader's config get: $(cat "$TMP/as.out" "$TMP/as.err")"
ctl config list | grep -E '^ *kafka\.sasl\.password .*\*\*\*' >/dev/null || fail "config list: $(ctl config list | grep sasl)"
ctl -j config list | python3 -c '
import json, sys
k = {i["key"]: i for i in json.load(sys.stdin)["keys"]}["kafka.sasl.password"]
assert k["value"] == "***" and k["secret"] is True, k' || fail "config list --json"
TEL=$(command -v dpdk-telemetry.py) || fail "dpdk-telemetry.py missing"
printf '/sluice/config,kafka\n' | timeout 30 python3 "$TEL" -f "$PREFIX" >"$TMP/tel.out" 2>&1 ||
	fail "telemetry: $(cat "$TMP/tel.out")"
python3 -c 'import json,sys
c = json.loads(open(sys.argv[1]).read())["/sluice/config"]
assert c["sasl/password"] == "***" and c["brokers"] == "", c' "$TMP/tel.out" ||
	fail "telemetry config: $(cat "$TMP/tel.out")"
for f in "$TMP/sluiced.err" "$TMP/sluiced.out" "$TMP/tel.out"; do
	grep -c -- "$SECRET" "$f" >/dev/null && fail "the secret is in $f"
done
ctl -j status | grep -c -- "$SECRET" >/dev/null && fail "the secret is in status"
sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "sluiced exit status $STOP_STATUS"

echo "== admin_group: changes, pauses, flushes, shuts down"
sluiced_start "$TMP/sluiced.ini" --set "control.admin_group=$ADMINS"
# Two groups: the file names one, so it lets anyone knock and peer credentials decide.
[ "$(command stat -c '%g %a' "$TMP/ctl.sock")" = "$GID 666" ] ||
	fail "two groups: socket $(command stat -c '%g %a' "$TMP/ctl.sock"), expected group $GID mode 666"
admin() { as --regid=$NOBODY --groups="$AGID" -- "$@"; }
admin -j raw hello
[ $AS_RC = 0 ] || fail "an admin was refused: $(cat "$TMP/as.err")"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["access"] == "admin"' "$TMP/as.out" ||
	fail "admin's hello: $(cat "$TMP/as.out")"
admin config set dataplane.linger 3ms
[ $AS_RC = 0 ] || fail "admin: config set exit $AS_RC: $(cat "$TMP/as.err")"
[ "$(ctl config get dataplane.linger)" = 3ms ] || fail "admin's config set did not apply"
admin flush
[ $AS_RC = 0 ] || fail "admin: flush exit $AS_RC: $(cat "$TMP/as.err")"
admin forwarder pause
[ $AS_RC = 1 ] && grep -c 'forwarding is off' "$TMP/as.err" >/dev/null ||
	fail "admin: forwarder pause with forwarding off: exit $AS_RC $(cat "$TMP/as.err")"
reader config set dataplane.linger 4ms
denied "config set (with an admin group)"
as --regid=$NOBODY --clear-groups -- status
[ $AS_RC = 4 ] || fail "with mode 0666 a non-member got exit $AS_RC, expected 4"
admin shutdown
[ $AS_RC = 0 ] || fail "admin: shutdown exit $AS_RC: $(cat "$TMP/as.err")"
for i in $(seq 300); do
	kill -0 "$SLUICED_PID" 2>/dev/null || break
	sleep 0.1
done
STOP_STATUS=0
{ wait "$SLUICED_PID"; } 2>/dev/null || STOP_STATUS=$?
SLUICED_PID=
[ "$STOP_STATUS" = 0 ] || fail "sluiced exit status $STOP_STATUS after the admin's shutdown"
echo PASS
