#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs a two-chassis x
# four-blade cluster on this machine with traffic; exits 0 only when every
# mirror table equals its owner's. Extra arguments go to `bladesync demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bazel build --noshow_progress //cmd:bladesync //cmd:bladesyncd 2>&1 | grep -v -E '^(INFO|Loading|Analyzing|Target|  bazel-bin)' || true
exec ./bazel-bin/cmd/bladesync demo "$@"
