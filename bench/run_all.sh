#!/usr/bin/env bash
# Every in-process benchmark in one sitting, each result kept with the
# command that reproduced it: bench/results/<bench>-<date>.txt.
#   bash bench/run_all.sh            (about 6 minutes on 2 cores)
# The conntrackd comparison needs root and network namespaces and runs apart:
#   bazel build //cmd:all && sudo python3 bench/conntrackd_compare.py --runs 5 100000 500000
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bazel build -c opt //bench:all
day=$(date +%Y%m%d)
out=bench/results
mkdir -p "$out"
run() {
  local name=$1; shift
  local file="$out/$name-$day.txt"
  {
    echo "\$ bazel run -c opt //bench:$name -- $*"
    echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r), $(date -u +%FT%TZ)"
    "bazel-bin/bench/$name" "$@"
  } > "$file" 2>&1
  cat "$file"
}
run codec_bench --benchmark_repetitions=5
run zmq_throughput_bench 1000000 7
run sync_lag_bench 2 5
run bulk_sync_bench 1000000 5
run standby_memory_bench 1000000 10000000
run promotion_bench 1000000
run metrics_cost_bench
# Failover with real processes (kill -9 of the primary on loopback).
bazel build //cmd:all
{
  echo "\$ bazel build //cmd:all && python3 bench/failover_time.py 5"
  python3 bench/failover_time.py 5
} > "$out/failover_time-$day.txt" 2>&1
cat "$out/failover_time-$day.txt"
