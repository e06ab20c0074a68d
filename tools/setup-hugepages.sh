#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Reserve 2 MiB hugepages for sluiced (eal.memory = in-memory or huge), or give them back.
#
#   setup-hugepages.sh PAGES        make at least PAGES free 2 MiB pages exist; prints
#                                   "previous=N" (the reservation before) on stdout
#   setup-hugepages.sh --mount      also mount hugetlbfs on /dev/hugepages (eal.memory = huge)
#   setup-hugepages.sh --restore N  set the reservation back to N pages (N from "previous=")
#   setup-hugepages.sh --apply FILE  reserve per NUMA node what FILE says, one "node<N> =
#                                   <pages>" line per node (/etc/sluice/hugepages.conf; the
#                                   packaged sluice-hugepages.service runs this at boot)
#
# Exit status: 0 done, 1 the kernel would not reserve enough (memory too fragmented or too
# small: use eal.memory = no-huge instead), 2 usage. Needs root.
set -euo pipefail

# --apply FILE: exact per-node reservations; later lines for a node win.
apply_file() {
	local file=$1 line node pages dir rc=0 got
	declare -A want=()
	[ -r "$file" ] || {
		echo "setup-hugepages: cannot read $file" >&2
		exit 2
	}
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%%#*}
		line=${line//[[:space:]]/}
		[ -z "$line" ] && continue
		if [[ ! "$line" =~ ^node([0-9]+)=([0-9]+)$ ]]; then
			echo "setup-hugepages: $file: expected 'node<N> = <pages>', got '$line'" >&2
			exit 2
		fi
		want[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
	done <"$file"
	if [ "${#want[@]}" -eq 0 ]; then
		echo "setup-hugepages: $file reserves nothing"
		return 0
	fi
	for node in "${!want[@]}"; do
		pages=${want[$node]}
		dir=/sys/devices/system/node/node$node/hugepages/hugepages-2048kB
		# A kernel without NUMA has one pool, node 0's.
		[ -d /sys/devices/system/node ] || { [ "$node" = 0 ] && dir=/sys/kernel/mm/hugepages/hugepages-2048kB; }
		if [ ! -w "$dir/nr_hugepages" ]; then
			echo "setup-hugepages: node $node: no $dir/nr_hugepages" >&2
			rc=1
			continue
		fi
		echo "$pages" >"$dir/nr_hugepages"
		got=$(cat "$dir/nr_hugepages")
		if [ "$got" -lt "$pages" ]; then
			echo "setup-hugepages: node $node: only $got of $pages 2 MiB pages reserved" >&2
			rc=1
		else
			echo "setup-hugepages: node $node: $got 2 MiB pages"
		fi
	done
	return $rc
}

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
--apply)
	[ -n "${2:-}" ] || {
		echo "usage: $0 --apply FILE" >&2
		exit 2
	}
	apply_file "$2"
	exit $?
	;;
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
