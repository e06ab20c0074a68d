#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Install every Debian package sluice needs to build, test, benchmark and run its demo.
# Idempotent: does nothing (not even apt-get update) when everything is already present.
set -euo pipefail

PKGS=(
	build-essential pkg-config meson ninja-build clang clang-format libclang-rt-14-dev
	dpdk dpdk-dev libdpdk-dev python3-pyelftools
	libisal-dev liburing-dev librdkafka-dev libcmocka-dev libjansson-dev libmicrohttpd-dev libpcap-dev
	kcat fio rsyslog prometheus gnuplot-nox libhugetlbfs-bin iproute2
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all ${#PKGS[@]} packages present"
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
