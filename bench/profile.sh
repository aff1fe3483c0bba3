#!/usr/bin/env bash
# Where a benchmark spends its time: perf record (call graphs) and the top
# symbols by self time, kept in bench/results/profile-<bench>-<date>.txt.
#   bash bench/profile.sh zmq_throughput_bench 1000000 3
#   bash bench/profile.sh bulk_sync_bench 1000000 3
# Needs linux-perf (BLADESYNC_EXTRA=perf bash tools/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BLADESYNC_EXTRA=perf bash tools/install-deps.sh
name=$1; shift
bazel build -c opt "//bench:$name"
data=$(mktemp /tmp/bladesync-perf.XXXXXX)
file="bench/results/profile-$name-$(date +%Y%m%d).txt"
perf record -F 999 -g -o "$data" "bazel-bin/bench/$name" "$@" > /dev/null 2>&1
{
  echo "\$ bash bench/profile.sh $name $*"
  echo "# self time by symbol (perf report --no-children), top 25"
  perf report -i "$data" --no-children --sort symbol --stdio -g none 2>/dev/null |
    grep -E '^ +[0-9]+\.[0-9]+%' | awk 'NR <= 25 {$1=$1; print}' | cut -c1-110
} > "$file"
rm -f "$data"
cat "$file"
