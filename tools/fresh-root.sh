#!/usr/bin/env bash
# A fresh Debian 12 root, as a newcomer's machine starts (debootstrap
# --variant=minbase bookworm), for tests/integration:deb_install_test.
# The package's dependencies and systemd (for systemd-analyze) are put in
# its apt cache here, so the test installs the .deb with apt offline.
#   bash tools/fresh-root.sh DEB [ROOT]   (default ROOT /var/cache/bladesync/bookworm-root)
# Needs root and the network (a Debian mirror); a second run only refreshes
# the cache when the package's Depends changed.
set -euo pipefail
deb=$(realpath "$1")
root=${2:-/var/cache/bladesync/bookworm-root}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [[ ! -x "$root/usr/bin/apt-get" ]]; then
  rm -rf "$root.tmp"
  mkdir -p "$(dirname "$root")"
  echo "fresh-root: debootstrap --variant=minbase bookworm $root (a few minutes)" >&2
  debootstrap --variant=minbase bookworm "$root.tmp" "$mirror" >/dev/null
  mv "$root.tmp" "$root"
fi
want="$(dpkg-deb -f "$deb" Depends) + systemd"
[[ -f "$root/var/cache/bladesync-cached-for" && "$(cat "$root/var/cache/bladesync-cached-for")" == "$want" ]] && exit 0
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/bladesync.deb"
mount -t proc proc "$root/proc"
trap 'umount "$root/proc"; rm -f "$root/tmp/bladesync.deb"' EXIT
chroot "$root" apt-get update -qq
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --download-only /tmp/bladesync.deb systemd >/dev/null
rm -f "$root"/var/cache/apt/archives/bladesync_*.deb  # only its dependencies: the test brings the package
echo "$want" > "$root/var/cache/bladesync-cached-for"
