#!/bin/bash
# The 1M deltas/s row of sync_lag_bench with tables grown, five times, each
# with how much freed memory this VM's kernel reported to its host during
# the run (virtio-balloon free page reporting: the host drops those pages,
# and the guest's next first touch of them faults on the host as well).
# A lead for the grown rows' stalls, not a benchmark of bladesync.
#
#   bazel build -c opt //bench:sync_lag_bench && bash bench/page_reporting_probe.sh
cd "$(dirname "$0")/.."
R=/sys/module/page_reporting/parameters/reported_kib
[[ -r $R ]] || { echo "no free page reporting on this machine ($R)"; exit 0; }
echo "# $(date -u +%FT%TZ) $(uname -r), reported so far: $(( $(cat $R) / 1048576 )) GiB"
for i in 1 2 3 4 5; do
  a=$(cat $R)
  out=$(bazel-bin/bench/sync_lag_bench 2 1 1000000 grown 2>&1 | grep -E "p99" | head -1 | sed 's/raw ZeroMQ.*//')
  b=$(cat $R)
  echo "run $i: reported during the run $(( (b - a) / 1024 )) MiB;$out"
  sleep 3
done
