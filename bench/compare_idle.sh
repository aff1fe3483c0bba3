#!/usr/bin/env bash
# What an idle chassis costs at two commits, side by side in one sitting:
# each commit's daemon built in its own worktree (/tmp/bladesync-idle-<rev>),
# then this clone's bench/idle_cost.py runs each build in turn (old, new, old, new, ...) so the
# machine's noise falls on both alike. One line per chassis and run.
#   bash bench/compare_idle.sh OLD NEW ROUNDS [idle_cost.py ARGS...]
#   bash bench/compare_idle.sh 9f010f3 HEAD 3 --seconds 60
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)
old=$(git rev-parse --short "$1") new=$(git rev-parse --short "$2") rounds=$3
shift 3
trees=()
for rev in "$old" "$new"; do
  tree=/tmp/bladesync-idle-$rev
  [[ -d $tree ]] || git worktree add -q --detach "$tree" "$rev"
  (cd "$tree" && bazel build //cmd:all >/dev/null 2>&1) || { echo "build of $rev failed" >&2; exit 1; }
  trees+=("$tree")
done
echo "# bash bench/compare_idle.sh $old $new $rounds $*"
echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r), $(date -u +%FT%TZ)"
for ((r = 1; r <= rounds; r++)); do
  for i in 0 1; do
    rev=$([[ $i == 0 ]] && echo "$old" || echo "$new")
    # This clone's script (same options for both), each tree's binaries (found from the working directory).
    (cd "${trees[$i]}" && python3 "$here/bench/idle_cost.py" "$@") | python3 -c '
import json, sys
d = json.load(sys.stdin)
for ch, v in sorted(d["chassis"].items()):
    th = v["threads_pct"]
    io = sum(x for k, x in th.items() if k.startswith("ZMQbg"))
    blades = [x for k, x in th.items() if k[5:].isdigit() and k.startswith("blade")]
    print("%s round %s: chassis %s %.2f%% of a core (blades %.2f-%.2f%% each, ZeroMQ I/O %.2f%%, manager %.2f%%)"
          % (sys.argv[1], sys.argv[2], ch, v["core_share_pct"], min(blades), max(blades), io, th.get("manager", 0)))
' "$rev" "$r"
  done
done
