#!/usr/bin/env bash
# Builds an earlier release of this repository, from its commit, for the
# mixed-version tests (tests/integration/rolling_upgrade_test.py), into
#   ${BLADESYNC_RELEASES:-/var/cache/bladesync/releases}/TAG/{bladesyncd,bladesync}
# and prints that directory. It builds in a clone of its own (temporary,
# removed after) with this machine's Bazel disk cache, so what did not
# change since the tag is not compiled again. A second run, while the tag
# still names the same commit, builds nothing.
#   bash tools/build-release.sh v0.2.0 [COMMIT]
# The baseline's name and commit are tests/integration/baseline_release.txt:
# the commit, because a clone does not always carry the tags.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:?usage: build-release.sh NAME [COMMIT]}
commit=$(git rev-parse --verify -q "${2:-$tag}^{commit}") ||
  { echo "build-release: this clone has no commit ${2:-$tag} for $tag" >&2; exit 1; }
out=${BLADESYNC_RELEASES:-/var/cache/bladesync/releases}/$tag
if [[ -x $out/bladesyncd && -x $out/bladesync && "$(cat "$out/commit" 2>/dev/null)" == "$commit" ]]; then
  echo "$out"
  exit 0
fi
tree=$(mktemp -d /tmp/bladesync-release-XXXXXX)
# Its own Bazel server and output base, both gone with the tree.
trap 'bazel --output_base="$tree/.bazel" shutdown >/dev/null 2>&1 || true; rm -rf "$tree"' EXIT
git clone -q --no-checkout "$PWD" "$tree/src"
git -C "$tree/src" checkout -q "$commit"
echo "build-release: building $tag ($commit) in $tree (a few minutes the first time)" >&2
(cd "$tree/src" && bazel --output_base="$tree/.bazel" build --show_progress_rate_limit=60 //cmd:bladesyncd //cmd:bladesync) >&2
mkdir -p "$out"
cp -f "$tree/src/bazel-bin/cmd/bladesyncd" "$tree/src/bazel-bin/cmd/bladesync" "$out/"
echo "$commit" > "$out/commit"
echo "$out"
