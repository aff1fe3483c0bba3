#!/usr/bin/env bash
# Two commits' in-process benchmarks side by side in one sitting: each
# commit built with -c opt in its own worktree (/tmp/bladesync-bench-<rev>),
# then the runs alternate (old, new, old, new, ...) so the machine's noise
# falls on both alike. Prints every run's lines, prefixed by the commit.
#   bash bench/compare_commits.sh OLD NEW ROUNDS BENCH [ARGS...]
#   bash bench/compare_commits.sh 16d641b HEAD 5 zmq_throughput_bench 1000000 1
# Summarize with: python3 bench/summarize_compare.py < output
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(git rev-parse --short "$1") new=$(git rev-parse --short "$2") rounds=$3 bench=$4
shift 4
bins=()
for rev in "$old" "$new"; do
  tree=/tmp/bladesync-bench-$rev
  [[ -d $tree ]] || git worktree add -q --detach "$tree" "$rev"
  (cd "$tree" && bazel build -c opt "//bench:$bench" >/dev/null 2>&1) || { echo "build of $rev failed" >&2; exit 1; }
  bins+=("$tree/bazel-bin/bench/$bench")
done
echo "# bash bench/compare_commits.sh $old $new $rounds $bench $*"
echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r), $(date -u +%FT%TZ)"
for ((r = 1; r <= rounds; r++)); do
  for i in 0 1; do
    rev=$([[ $i == 0 ]] && echo "$old" || echo "$new")
    "${bins[$i]}" "$@" 2>&1 | sed "s/^/$rev round $r: /"
  done
done
