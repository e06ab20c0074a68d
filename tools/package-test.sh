#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Build the Debian packages (debian/) and check them as a new operator would meet them:
# lintian without errors, then installed into a fresh Debian root (mmdebstrap) where the
# installed units pass `systemd-analyze verify`, the installed sluiced accepts the shipped
# /etc/sluice/sluiced.ini (--check-config), and the installed `sluicectl doctor` names what
# that root lacks for it and exits 1. tools/test.sh runs it; it also runs alone (as root).
#
#   SLUICE_JOBS            build parallelism (default: nproc)
#   SLUICE_DEB_SUITE       Debian suite of the fresh root (default: bookworm)
#   SLUICE_DEB_MIRROR      its mirror (default: http://deb.debian.org/debian)
#   SLUICE_DEB_CACHE       keep downloaded .debs here between runs (default: build-deb-cache)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${SLUICE_JOBS:-$(nproc)}
suite=${SLUICE_DEB_SUITE:-bookworm}
mirror=${SLUICE_DEB_MIRROR:-http://deb.debian.org/debian}
cache=${SLUICE_DEB_CACHE:-$root/build-deb-cache}
out=$root/build-deb
t0=$(date +%s)
step() { echo "== package: $* ($(($(date +%s) - t0)) s)"; }

rm -rf "$out"
mkdir -p "$out/src" "$cache"
# The tree as committed plus what is new and not ignored (no build directories).
git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - | tar -xf - -C "$out/src"

step "dpkg-buildpackage"
(cd "$out/src" && DEB_BUILD_OPTIONS="nocheck noddebs parallel=$jobs" \
	dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1) || {
	tail -n 60 "$out/build.log"
	echo "package: dpkg-buildpackage failed, see $out/build.log" >&2
	exit 1
}
ls "$out"/*.deb

step "lintian"
lintian --fail-on error --tag-display-limit 0 "$out"/*.changes | tee "$out/lintian.log"

step "fresh $suite root with the packages installed"
# The checks run inside the new root while mmdebstrap has it mounted; the root itself is
# not kept. Downloaded packages are, to spare the mirror and the time on the next run.
# dpkg's fsyncs protect nothing in a root that is thrown away; manual pages and translations
# are not looked at.
mmdebstrap --variant=apt --mode=root --include=systemd \
	--skip=download/empty --skip=essential/unlink \
	--dpkgopt=force-unsafe-io --dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' --aptopt='Acquire::Languages "none"' \
	--setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
	--setup-hook='sync-in '"$cache"' /var/cache/apt/archives/' \
	--customize-hook='mkdir -p "$1/tmp/sluice" && cp '"$out"'/*.deb '"$root"'/tools/package-check.sh "$1/tmp/sluice/"' \
	--customize-hook='chroot "$1" sh -c "apt-get install -y -q --no-install-recommends /tmp/sluice/*.deb"' \
	--customize-hook='sync-out /var/cache/apt/archives '"$cache" \
	--customize-hook='chroot "$1" bash /tmp/sluice/package-check.sh' \
	"$suite" /dev/null "$mirror" >"$out/root.log" 2>&1 || {
	grep -v '^I: \|^Get:\|^Selecting\|^Preparing\|^Unpacking\|^Setting up' "$out/root.log" | tail -n 60
	echo "package: the fresh root failed, see $out/root.log" >&2
	exit 1
}
sed -n '/^package-check:/,$p' "$out/root.log" | grep -v '^I: '
# Packages the mirror has replaced since are dropped from the cache.
find "$cache" -name '*.deb' -mtime +30 -delete
step "done"
