#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs a two-chassis x
# four-blade cluster on this machine with traffic; exits 0 only when every
# mirror table equals its owner's. Extra arguments go to `bladesync demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
# A failed build stops here: never run whatever binary an earlier build left.
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
if ! bazel build --noshow_progress //cmd:bladesync //cmd:bladesyncd > "$build_log" 2>&1; then
  cat "$build_log" >&2
  echo "run-demo: the build failed" >&2
  exit 1
fi
./bazel-bin/cmd/bladesync demo "$@"
