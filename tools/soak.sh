#!/usr/bin/env bash
# Soak: the whole-cluster property suite (P1-P6 under traffic, faults and
# failovers) with a fresh random seed per batch of cases, for a bounded time,
# then a report of how many cases, commands and faults of each kind ran.
# Every batch also runs the smaller properties (pickup convergence, the
# fabric's exactly-once, election, distributor, session store, free ids) with its seed:
# CI pins their seeds, so new cases are found here.
#   bash tools/soak.sh [SECONDS] (default 600)   CASES=200 cases per batch
# A failure stops the soak and prints the batch's seed and RapidCheck's
# reproduce line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
seconds="${1:-600}"
cases="${CASES:-200}"
others=(tests/property:pickup_convergence_test tests/property:fabric_exactly_once_test tests/property:stream_exactly_once_test
        tests/property:dead_blade_property_test
        tests/unit:election_test tests/unit:distributor_test tests/unit:session_store_test
        tests/unit:free_ids_test)
bazel build //tests/property:cluster_stateful_test "${others[@]/#/\/\/}"
logs=$(mktemp -d /tmp/bladesync-soak.XXXXXX)
# A copy of each test with its shared libraries (the runfiles tree): a build
# in this clone while the soak runs must not change what it runs.
snapshot() {  # package:name -> the copied binary
  local pkg=${1%%:*} name=${1##*:}
  [[ -d "$logs/bin/$name.runfiles" ]] || cp -rL "bazel-bin/$pkg/$name.runfiles" "$logs/bin/$name.runfiles"
  echo "$logs/bin/$name.runfiles/bladesync/$pkg/$name"
}
mkdir -p "$logs/bin"
cluster_bin=$(snapshot tests/property:cluster_stateful_test)
end=$((SECONDS + seconds))
batch=0
status=0
while (( SECONDS < end )); do
  batch=$((batch + 1))
  seed=$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')
  log="$logs/batch-$batch.log"
  if ! RC_PARAMS="seed=$seed max_success=$cases" timeout 1800 "$cluster_bin" \
      --gtest_filter=ClusterStateful.PromisesHoldUnderTrafficFaultsAndFailovers > "$log" 2>&1; then
    echo "soak: batch $batch (seed $seed) FAILED; log: $log"
    grep -v '^\s*$' "$log" | grep -vE '^(\[|RC_FAIL)' | tail -25
    status=1
    break
  fi
  for t in "${others[@]}"; do
    bin=$(snapshot "$t")
    if ! RC_PARAMS="seed=$seed" timeout 900 "$bin" > "$log.${t##*:}" 2>&1; then
      echo "soak: batch $batch (seed $seed) FAILED in $t; log: $log.${t##*:}"
      grep -E 'Falsifiable|RC_ASSERT|\.cc:[0-9]+|reproduce' "$log.${t##*:}" | tail -8
      status=1
      break 2
    fi
  done
done
# Every batch prints "cluster_stateful: N cases" and one "  name  count" line per command kind.
awk '/^cluster_stateful: / { cases += $2; batches++ }
     /^  [a-z0-9_.]+ +[0-9]+$/ { n[$1] += $2 }
     END { printf "soak: %d cases in %d batches of different seeds\n", cases, batches;
           for (k in n) printf "  %-26s %d\n", k, n[k] }' "$logs"/batch-*.log | sort
echo "soak: the ${#others[@]} smaller properties passed $((status == 0 ? batch : batch - 1)) fresh seeds each"
exit $status
