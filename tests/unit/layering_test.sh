#!/bin/bash
# The layering rules of DESIGN.md, checked on the source tree:
#  - only fabric/ speaks ZeroMQ (everything else holds a FabricContext and
#    a Transport);
#  - only core/ reads a clock (logic reads its EventLoop's, so the simulator
#    replays it; code off any loop calls core's MonotonicNow()).
# tests/ and bench/ are outside the rules: they attack and measure ZeroMQ.
set -u
root="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-bladesync}"
fail=0
checked=0
for f in $(cd "$root" && ls */*.cc */*.h 2>/dev/null); do
  case "$f" in tests/*|bench/*|third_party/*|examples/*) continue ;; esac
  checked=$((checked + 1))
  dir=${f%%/*}
  if [[ $dir != fabric ]]; then
    if hits=$(grep -nE '#include <zmq(\.h|\.hpp)>|\bzmq::|\bzmq_[a-z0-9_]+\(' "$root/$f"); then
      echo "$f: ZeroMQ outside fabric/:"; echo "$hits" | sed 's/^/  /'; fail=1
    fi
  fi
  if [[ $dir != core ]]; then
    if hits=$(grep -nE '(steady|system|high_resolution)_clock::now|\bclock_gettime\(|\bgettimeofday\(|\btime\((nullptr|NULL|0)\)' "$root/$f"); then
      echo "$f: a clock read outside core/:"; echo "$hits" | sed 's/^/  /'; fail=1
    fi
  fi
done
echo "layering: $checked source files checked"
# An empty tree would pass every rule: the data must be there.
if (( checked < 100 )); then echo "layering: only $checked files found under $root"; exit 1; fi
exit $fail
