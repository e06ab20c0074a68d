#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Reserve 2 MiB hugepages for sluiced (eal.memory = in-memory or huge), or give them back.
#
#   setup-hugepages.sh PAGES        make at least PAGES free 2 MiB pages exist; prints
#                                   "previous=N" (the reservation before) on stdout
#   setup-hugepages.sh --mount      also mount hugetlbfs on /dev/hugepages (eal.memory = huge)
#   setup-hugepages.sh --restore N  set the reservation back to N pages (N from "previous=")
#
# Exit status: 0 done, 1 the kernel would not reserve enough (memory too fragmented or too
# small: use eal.memory = no-huge instead), 2 usage. Needs root.
set -euo pipefail

NR=/proc/sys/vm/nr_hugepages
mount_fs=false
if [ "${1:-}" = --mount ]; then
	mount_fs=true
	shift
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "setup-hugepages: needs root" >&2
	exit 1
fi
[ -w "$NR" ] || {
	echo "setup-hugepages: $NR is not writable (container without hugepage access?)" >&2
	exit 1
}

case "${1:-}" in
--restore)
	[[ "${2:-}" =~ ^[0-9]+$ ]] || {
		echo "usage: $0 --restore PAGES" >&2
		exit 2
	}
	echo "$2" >"$NR"
	exit 0
	;;
'' | *[!0-9]*)
	echo "usage: $0 [--mount] PAGES | --restore PAGES" >&2
	exit 2
	;;
esac

want=$1
total=$(cat "$NR")
free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
echo "previous=$total"
if [ "$free" -lt "$want" ]; then
	echo $((total + want - free)) >"$NR"
	free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
fi
if [ "$free" -lt "$want" ]; then
	echo "setup-hugepages: only $free of $want pages could be reserved" >&2
	echo "$total" >"$NR"
	exit 1
fi
if $mount_fs && ! mountpoint -q /dev/hugepages; then
	mkdir -p /dev/hugepages
	mount -t hugetlbfs nodev /dev/hugepages
fi
echo "setup-hugepages: $free free 2 MiB pages" >&2
