#!/usr/bin/env bash
# Makes the .deb from built binaries (the //packaging:deb rule runs it;
# tools/build-deb.sh is the command for people).
#   make-deb.sh OUT.deb BLADESYNCD BLADESYNC VERSION_H STATUS_FILE GEN_DOCS
# Version: core/version.h's release plus the git commit (+g<commit>).
# Depends: what dpkg-shlibdeps finds the binaries link, at this Debian's versions.
set -euo pipefail
deb=$1 bladesyncd=$2 bladesync=$3 version_h=$4 status=$5 gen_docs=$6
here=$(dirname "$0")
release=$(sed -n 's/.*kVersion\[\] = "\(.*\)";/\1/p' "$version_h")
commit=$(sed -n 's/^STABLE_BLADESYNC_COMMIT //p' "$status")
commit=${commit:-unknown}
version="$release"
[[ $commit != unknown ]] && version="$release+g${commit/-dirty/.dirty}"
stage=$(mktemp -d "${TMPDIR:-/tmp}/bladesync-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
man_dir="$stage/man"

install -D -m 0755 -s "$bladesyncd" "$root/usr/sbin/bladesyncd"
install -D -m 0755 -s "$bladesync" "$root/usr/bin/bladesync"
# 0640: the file holds the HA password once the cluster has one.
install -D -m 0640 "$here/bladesync.conf" "$root/etc/bladesync/bladesync.conf"
install -D -m 0644 "$here/default-bladesyncd" "$root/etc/default/bladesyncd"
install -D -m 0644 "$here/systemd/bladesyncd.service" "$root/lib/systemd/system/bladesyncd.service"
install -D -m 0644 "$here/systemd/bladesyncd@.service" "$root/lib/systemd/system/bladesyncd@.service"
install -D -m 0644 "$here/bash-completion/bladesync" "$root/usr/share/bash-completion/completions/bladesync"
ln -s bladesync "$root/usr/share/bash-completion/completions/bladesyncd"
python3 "$gen_docs" man "$man_dir" --bladesync "$bladesync" --bladesyncd "$bladesyncd"
for page in "$man_dir"/*; do
  section=${page##*.}
  install -D -m 0644 "$page" "$root/usr/share/man/man$section/$(basename "$page")"
  gzip -9n "$root/usr/share/man/man$section/$(basename "$page")"
done
doc="$root/usr/share/doc/bladesync"
install -D -m 0644 "$here/copyright" "$doc/copyright"
printf 'bladesync (%s) bookworm; urgency=medium\n\n  * Built from commit %s.\n\n -- bladesync developers <bladesync@example.org>  %s\n' \
  "$version" "$commit" "$(date -R -d @0)" > "$doc/changelog"
gzip -9n "$doc/changelog"

# dpkg-shlibdeps wants a debian/control beside it.
mkdir -p "$stage/src/debian"
printf 'Source: bladesync\n\nPackage: bladesync\nArchitecture: amd64\n' > "$stage/src/debian/control"
depends=$(cd "$stage/src" && dpkg-shlibdeps -O "-e$root/usr/sbin/bladesyncd" "-e$root/usr/bin/bladesync" 2>/dev/null |
          sed -n 's/^shlibs:Depends=//p')
[[ -n $depends ]] || { echo "make-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: bladesync
Version: $version
Architecture: amd64
Maintainer: bladesync developers <bladesync@example.org>
Section: net
Priority: optional
Depends: $depends, procps
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Homepage: https://example.org/bladesync
Description: session sync for chassis and firewall HA clusters
 bladesync keeps the session (connection-tracking) tables of a cluster of
 chassis or Linux firewalls in sync over two management links, so that
 connections survive the loss of a blade, a link or a whole chassis. A
 chassis manager elects the primary (FortiOS FGCP-style) and hands the
 sessions over; with conntrack, Linux firewalls sync the kernel's table.
CONTROL
printf '/etc/bladesync/bladesync.conf\n/etc/default/bladesyncd\n' > "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do install -m 0755 "$here/$script" "$root/DEBIAN/$script"; done
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
