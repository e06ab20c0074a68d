#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Run inside a fresh Debian root with the sluice packages installed (tools/package-test.sh).
set -euo pipefail
fail() {
	echo "package-check: FAIL: $*" >&2
	exit 1
}

echo "package-check: installed $(dpkg-query -W -f='${Package} ${Version}, ' sluice sluice-tools sluice-doc libsluice0 libsluice-dev)"
for f in /usr/sbin/sluiced /usr/bin/sluicectl /usr/bin/sluice-dump /usr/bin/sluice-gen \
	/usr/lib/sluice/setup-hugepages /etc/sluice/sluiced.ini /etc/sluice/hugepages.conf \
	/lib/systemd/system/sluice.service /lib/systemd/system/sluice-hugepages.service \
	/lib/systemd/system/dev-hugepages1G.mount /usr/lib/modules-load.d/sluice.conf \
	/usr/share/bash-completion/completions/sluicectl /usr/bin/sluice-send \
	/usr/include/sluice_client.h /usr/lib/x86_64-linux-gnu/pkgconfig/libsluice.pc \
	/usr/share/doc/sluice/deployment.md; do
	[ -e "$f" ] || fail "$f not installed"
done
[ "$(stat -c '%a %G' /etc/sluice/sluiced.ini)" = "640 sluice" ] ||
	fail "/etc/sluice/sluiced.ini is $(stat -c '%a %G' /etc/sluice/sluiced.ini)"
systemctl is-enabled sluice-hugepages.service >/dev/null || fail "sluice-hugepages not enabled"
systemctl is-enabled sluice.service >/dev/null && fail "sluice enabled before it is configured"

echo "package-check: systemd-analyze verify"
systemd-analyze verify sluice.service sluice-hugepages.service dev-hugepages1G.mount

echo "package-check: sluiced --check-config on the shipped example"
/usr/sbin/sluiced --check-config /etc/sluice/sluiced.ini
grep -q '^brokers = kafka-1.example.net:9092' /etc/sluice/sluiced.ini ||
	fail "the example does not forward to a real cluster"

echo "package-check: sluicectl doctor on the shipped example (this root has no NIC for it)"
rc=0
sluicectl doctor --config /etc/sluice/sluiced.ini --kafka-timeout 2 >/tmp/doctor.txt || rc=$?
cat /tmp/doctor.txt
[ "$rc" = 1 ] || fail "doctor exit $rc, expected 1"
grep -q '^FAIL  port.wan0.driver .*no PCI device 0000:03:00.0' /tmp/doctor.txt ||
	fail "doctor did not name the missing NIC"
grep -A1 '^FAIL  port.wan0.driver' /tmp/doctor.txt | grep -q 'fix: lspci' || fail "no fix"
bash -n /usr/share/bash-completion/completions/sluicectl

echo "package-check: sluice-send runs against the installed libsluice.so.0"
ldd /usr/bin/sluice-send >/tmp/ldd.txt
grep -q 'libsluice.so.0 => /.*/libsluice.so.0 ' /tmp/ldd.txt || {
	cat /tmp/ldd.txt
	fail "sluice-send does not find the installed libsluice.so.0"
}
/usr/bin/sluice-send --help >/dev/null || fail "sluice-send --help"
echo "package-check: PASS"
