#!/usr/bin/env bash
# Builds the Debian package into dist/ (or DIR) and runs lintian on it:
#   bash tools/build-deb.sh [DIR]
# The package is the Bazel target //packaging:deb (packaging/make-deb.sh);
# README.md says which lintian tags remain and why.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
out=$(realpath -m "${1:-dist}")
bazel build //packaging:deb
version=$(dpkg-deb -f bazel-bin/packaging/bladesync.deb Version)
mkdir -p "$out"
deb="$out/bladesync_${version}_amd64.deb"
cp -f bazel-bin/packaging/bladesync.deb "$deb"
chmod 0644 "$deb"
lintian --tag-display-limit 0 "$deb" >&2 || true
echo "$deb"
