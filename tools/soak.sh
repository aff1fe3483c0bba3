#!/usr/bin/env bash
# Soak: the whole-cluster property suite (P1-P6 under traffic, faults and
# failovers) for a bounded time, then a report of how many cases, commands
# and faults of each kind ran. Usage: bash tools/soak.sh [SECONDS] (default 600)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
seconds="${1:-600}"
bazel build //tests/property:cluster_stateful_test
RC_PARAMS="${RC_PARAMS:-max_success=200}" BLADESYNC_SOAK_SECONDS="$seconds" \
  timeout $((seconds + 600)) bazel-bin/tests/property/cluster_stateful_test \
  --gtest_filter=ClusterStateful.PromisesHoldUnderTrafficFaultsAndFailovers
