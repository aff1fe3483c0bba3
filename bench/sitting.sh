#!/usr/bin/env bash
# Every figure of BENCHMARKS.md in one sitting, on one commit: the
# in-process benchmarks, the real-process ones (failover, false failovers,
# idle cost) and the Linux ones against conntrackd and keepalived. Each
# result goes to bench/results/sitting-<date>-<commit>/<name>.txt headed by its
# command, the machine and the commit; times.txt says how long each took.
#   sudo bash bench/sitting.sh          (about 45 minutes on 2 cores)
# Needs root (network namespaces, the kernel's conntrack table) and nothing
# else running: the figures share the machine with nobody.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -ne 0 ]]; then
  echo "sitting.sh: needs root (network namespaces and the kernel's conntrack table)" >&2
  exit 2
fi
bash tools/install-deps.sh
# bazel-bin follows the last build's configuration: the benchmarks are
# built with -c opt and copied, the daemons (which the Python harness finds
# under bazel-bin) built last.
bazel build -c opt //bench:all
bins=$(mktemp -d /tmp/bladesync-sitting-bench.XXXXXX)
find bazel-bin/bench -maxdepth 1 -type f -name '*_bench' -exec cp {} "$bins/" \;
bazel build //cmd:all //examples:all
bazel shutdown  # (its server would share the machine with the figures)
rev=$(git rev-parse --short HEAD)
[[ -z $(git status --porcelain --untracked-files=no) ]] || rev="$rev+changes"
out=bench/results/sitting-$(date +%Y%m%d)-$rev
[[ ! -e $out ]] || out="$out-$(date +%H%M)"  # (a second sitting of one commit keeps the first)
mkdir -p "$out"
# The Linux comparisons take each build's binaries from a directory of
# their own (bazel-bin/cmd/ inside it): this commit's, copied.
live=/tmp/bladesync-sitting-$rev
rm -rf "$live"
mkdir -p "$live/bazel-bin/cmd"
cp bazel-bin/cmd/bladesync bazel-bin/cmd/bladesyncd "$live/bazel-bin/cmd/"
: > "$out/times.txt"
# What each header's command needs first. The daemons are built as the
# tests build them (.bazelrc: -O2, asserts on), as run_all.sh does.
built="after: bazel build //cmd:all //examples:all; $live/bazel-bin/cmd/ holds copies of its bladesync and bladesyncd"

step() {
  local name=$1; shift
  local file="$out/$name.txt" t0=$SECONDS
  {
    echo "\$ ${shown:-$*}"
    echo "# $built; commit $rev; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r), $(date -u +%FT%TZ)"
    "$@" 2>&1 || echo "# exit status $?"
  } > "$file"
  echo "$name $((SECONDS - t0)) s" | tee -a "$out/times.txt"
}
bench() {
  local name=$1; shift
  built="built with bazel build -c opt //bench:$name" shown="bazel run -c opt //bench:$name -- $*" step "$name" "$bins/$name" "$@"
}

# In one process (bazel run -c opt //bench:NAME -- ARGS).
bench codec_bench --benchmark_repetitions=5
bench zmq_throughput_bench 1000000 7
bench worker_scaling_bench 2000000 7 1 2
bench sync_lag_bench 2 5
bench bulk_sync_bench 1000000 5
bench standby_memory_bench 1000000 10000000
bench promotion_bench 1000000
bench defer_delay_bench 2 5
bench metrics_cost_bench
# Real processes on loopback.
step failover_time python3 bench/failover_time.py 5
step failover_time_million python3 bench/failover_time.py 5 --million
step idle_cost_inproc python3 bench/idle_cost.py --seconds 60 --inproc-backplane
step idle_cost_tcp python3 bench/idle_cost.py --seconds 60
step idle_cost_fast python3 bench/idle_cost.py --seconds 60 --fast
step false_failover python3 bench/false_failover.py 600 100000 600000
# Linux, in network namespaces, against conntrackd and keepalived.
step conntrackd_compare python3 bench/conntrackd_compare.py --runs 5 100000 500000
step conntrack_failover python3 bench/conntrack_failover.py --runs 5 100000 500000
step conntrack_live_cost python3 bench/conntrack_live_cost.py --runs 5 100000 "$live"
step conntrack_live_cost_warm python3 bench/conntrack_live_cost.py --runs 5 --warm 100000 "$live"
step keepalived_compare python3 bench/keepalived_compare.py --runs 5 100000
step keepalived_compare_fast python3 bench/keepalived_compare.py --runs 5 --fast 100000
rm -rf "$bins"  # ($live stays: the conntrack steps name it)
echo "sitting done: $out"
