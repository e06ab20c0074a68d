#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# control.socket_group: an unknown group is a file:line config error (exit 2); with a group,
# its members may use the control socket (as supplementary or primary group), others are
# refused with exit 4, and root always may. The group is created here and removed at exit.
. "$(dirname "$0")/sluiced_lib.sh"

GROUP=sluicetg$$
NOBODY=65534
command -v groupadd >/dev/null && command -v setpriv >/dev/null || { echo "no groupadd/setpriv"; exit 77; }
group_cleanup() {
	cleanup
	groupdel "$GROUP" 2>/dev/null || true
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
enabled = false
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

groupadd "$GROUP" || fail "groupadd $GROUP"
GID=$(getent group "$GROUP" | cut -d: -f3)
"$SLUICED" --check-config "$TMP/sluiced.ini" >"$TMP/check.out" 2>&1 ||
	fail "config with an existing group refused: $(cat "$TMP/check.out")"
sluiced_start "$TMP/sluiced.ini"
[ "$(command stat -c '%g %a' "$TMP/ctl.sock")" = "$GID 660" ] ||
	fail "socket owned by $(command stat -c '%g %a' "$TMP/ctl.sock"), expected group $GID mode 660"

as() { # setpriv options... -- sluicectl args: exit status in AS_RC, stderr in $TMP/as.err
	local opts=()
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	AS_RC=0
	setpriv --reuid=$NOBODY "${opts[@]}" "$SLUICECTL" -s "$TMP/ctl.sock" -t 10 "$@" \
		>"$TMP/as.out" 2>"$TMP/as.err" || AS_RC=$?
}
as --regid=$NOBODY --groups="$GID" -- status
[ $AS_RC = 0 ] || fail "a member (supplementary group) was refused: exit $AS_RC $(cat "$TMP/as.err")"
grep -c '^state  *running' "$TMP/as.out" >/dev/null || fail "member's status: $(cat "$TMP/as.out")"
as --regid="$GID" --clear-groups -- config get dataplane.linger
[ $AS_RC = 0 ] || fail "a member (primary group) was refused: exit $AS_RC $(cat "$TMP/as.err")"
as --regid=$NOBODY --clear-groups -- status
[ $AS_RC = 4 ] || fail "a non-member got exit $AS_RC, expected 4: $(cat "$TMP/as.err")"
grep -ci 'permission denied' "$TMP/as.err" >/dev/null || fail "non-member's error: $(cat "$TMP/as.err")"
[ "$(ctl config get control.socket_group)" = "$GROUP" ] || fail "root: config get socket_group"

sluiced_stop TERM
[ "$STOP_STATUS" = 0 ] || fail "sluiced exit status $STOP_STATUS"
echo PASS
