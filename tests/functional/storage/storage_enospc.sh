#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# ENOSPC and O_DIRECT alignment on a real ext4: a 48 MiB image, loop-mounted here (root),
# always unmounted and detached on exit. tmpfs would accept misaligned O_DIRECT writes.
set -u
helper=${1:?usage: storage_enospc.sh HELPER}
if [ "$(id -u)" -ne 0 ] || ! command -v mkfs.ext4 >/dev/null || ! command -v losetup >/dev/null; then
	echo "needs root, mkfs.ext4 and losetup"
	exit 77
fi
work=$(mktemp -d /tmp/sluice-enospc-XXXXXX)
img=$work/fs.img mnt=$work/mnt loop=
cleanup() {
	mountpoint -q "$mnt" && umount "$mnt"
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
mkdir "$mnt"
truncate -s 48M "$img"
mkfs.ext4 -q -F -b 4096 "$img" || exit 1
loop=$(losetup --find --show "$img") || exit 1
mount -t ext4 "$loop" "$mnt" || exit 1
timeout 120 "$helper" "$mnt"
