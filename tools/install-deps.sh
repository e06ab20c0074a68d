#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Install every Debian package sluice needs to build, test, benchmark and run its demo.
# Idempotent: does nothing (not even apt-get update) when everything is already present.
set -euo pipefail

PKGS=(
	build-essential pkg-config meson ninja-build clang clang-format libclang-rt-14-dev
	dpdk dpdk-dev libdpdk-dev python3-pyelftools
	libisal-dev liburing-dev librdkafka-dev libssl-dev libzstd-dev liblz4-dev libcmocka-dev libjansson-dev libmicrohttpd-dev libpcap-dev
	kcat fio rsyslog prometheus gnuplot-nox libhugetlbfs-bin iproute2 curl python3
	debhelper lintian mmdebstrap
)

# kafkajs (npm), the independent RecordBatch decoder of the record-format functional test and
# the independent consumer of the forwarder's tests (with pure-JS lz4js and fzstd decoders).
# Runs even when every Debian package is present; Debian's nodejs/npm only if node is absent.
kafkajs_step() {
	local dir
	dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/functional/storage/kafkajs"
	[ -d "$dir/node_modules/kafkajs" ] && [ -d "$dir/node_modules/lz4js" ] &&
		[ -d "$dir/node_modules/fzstd" ] && return 0
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "install-deps: need root to install nodejs npm" >&2
			exit 1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			nodejs npm >/dev/null
	fi
	echo "install-deps: npm ci in $dir"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all ${#PKGS[@]} packages present"
	kafkajs_step
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to install: ${missing[*]}" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# rsyslog and prometheus are used as programs by tests and benchmarks, never as system services.
for svc in rsyslog prometheus prometheus-node-exporter; do
	if systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
done
echo "install-deps: done"
kafkajs_step
