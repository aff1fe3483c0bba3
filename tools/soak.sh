#!/usr/bin/env bash
# Soak: the whole-cluster property suite (P1-P6 under traffic, faults and
# failovers) with a fresh random seed per batch of cases, for a bounded time,
# then a report of how many cases, commands and faults of each kind ran.
#   bash tools/soak.sh [SECONDS] (default 600)   CASES=200 cases per batch
# A failure stops the soak and prints the batch's seed and RapidCheck's
# reproduce line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
seconds="${1:-600}"
cases="${CASES:-200}"
bazel build //tests/property:cluster_stateful_test
logs=$(mktemp -d /tmp/bladesync-soak.XXXXXX)
end=$((SECONDS + seconds))
batch=0
status=0
while (( SECONDS < end )); do
  batch=$((batch + 1))
  seed=$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')
  log="$logs/batch-$batch.log"
  if ! RC_PARAMS="seed=$seed max_success=$cases" timeout 1800 bazel-bin/tests/property/cluster_stateful_test \
      --gtest_filter=ClusterStateful.PromisesHoldUnderTrafficFaultsAndFailovers > "$log" 2>&1; then
    echo "soak: batch $batch (seed $seed) FAILED; log: $log"
    grep -v '^\s*$' "$log" | grep -vE '^(\[|RC_FAIL)' | tail -25
    status=1
    break
  fi
done
# Every batch prints "cluster_stateful: N cases" and one "  name  count" line per command kind.
awk '/^cluster_stateful: / { cases += $2; batches++ }
     /^  [a-z0-9_.]+ +[0-9]+$/ { n[$1] += $2 }
     END { printf "soak: %d cases in %d batches of different seeds\n", cases, batches;
           for (k in n) printf "  %-26s %d\n", k, n[k] }' "$logs"/batch-*.log | sort
exit $status
