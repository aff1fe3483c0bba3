#!/bin/bash
# The layering rules of DESIGN.md, checked on the source tree:
#  - only fabric/ speaks ZeroMQ (everything else holds a FabricContext and
#    a Transport);
#  - only core/ reads a clock (logic reads its EventLoop's, so the simulator
#    replays it; code off any loop calls core's MonotonicNow());
#  - data planes (conntrack/, traffic/, examples/) use bladesync through the
#    embedding API (api/) only: nothing of blades/ directly.
# tests/ and bench/ are outside the rules: they attack and measure ZeroMQ.
# The rules first run on fixtures with known violations (and one without):
# a pattern that stopped matching would otherwise pass every tree.
set -u
zmq_rx='#[[:space:]]*include[[:space:]]*[<"]zmq[a-z_]*\.h(pp)?[>"]|\bzmq::|\bzmq_[a-z0-9_]+\('
blades_rx='#[[:space:]]*include[[:space:]]*[<"]blades/'
clock_rx='\b[A-Za-z_:]*clock[A-Za-z_]*::now\(|\bclock_gettime\(|\bgettimeofday\(|(^|[^.>A-Za-z0-9_])time\([^)]*\)|\bClock::now\('

# check FILE DIR: prints what breaks a rule; returns 1 if something does, 2 on a read error.
check() {
  local f=$1 dir=$2 hits rc=0 status
  [[ -r $f ]] || { echo "$f: cannot read"; return 2; }
  if [[ $dir != fabric ]]; then
    hits=$(grep -nE "$zmq_rx" "$f"); status=$?
    (( status > 1 )) && return 2
    if (( status == 0 )); then echo "$f: ZeroMQ outside fabric/:"; echo "$hits" | sed 's/^/  /'; rc=1; fi
  fi
  if [[ $dir == conntrack || $dir == traffic || $dir == examples ]]; then
    hits=$(grep -nE "$blades_rx" "$f"); status=$?
    (( status > 1 )) && return 2
    if (( status == 0 )); then echo "$f: blades/ used directly by a data plane (use api/):"; echo "$hits" | sed 's/^/  /'; rc=1; fi
  fi
  if [[ $dir != core ]]; then
    hits=$(grep -nE "$clock_rx" "$f" | grep -vE '^\s*[0-9]+:\s*//'); status=${PIPESTATUS[0]}
    (( status > 1 )) && return 2
    if [[ -n $hits ]]; then echo "$f: a clock read outside core/:"; echo "$hits" | sed 's/^/  /'; rc=1; fi
  fi
  return $rc
}

fixtures=${TEST_TMPDIR:-$(mktemp -d)}/layering-fixtures
mkdir -p "$fixtures"
printf '#include <zmq.hpp>\n' > "$fixtures/a.cc"
printf '#include "zmq_addon.hpp"\n' > "$fixtures/b.cc"
printf 'int k = zmq_z85_decode(d, s);\n' > "$fixtures/c.cc"
printf 'auto t = std::chrono::steady_clock::now();\n' > "$fixtures/d.cc"
printf 'using Clock = std::chrono::system_clock;\nauto t = Clock::now();\n' > "$fixtures/e.cc"
printf 'uint32_t s = time(&t);\n' > "$fixtures/f.cc"
printf 'clock_gettime(CLOCK_MONOTONIC, &ts);\n' > "$fixtures/g.cc"
printf '#include "blades/blade_agent.h"\n' > "$fixtures/h.cc"
printf '#  include  "blades/session.h"\n' > "$fixtures/i.cc"
printf '# include <zmq.hpp>\n' > "$fixtures/j.cc"
printf 'Nanos t = loop.Now();  // fine\n// steady_clock::now() in a comment is fine\n' > "$fixtures/ok.cc"
for f in h i; do
  if check "$fixtures/$f.cc" conntrack > /dev/null; then echo "layering: the rules miss blades/ in a data plane ($f.cc)"; exit 1; fi
done
check "$fixtures/h.cc" runtime > /dev/null || { echo "layering: the rules flag blades/ outside a data plane"; exit 1; }
for f in a b c d e f g j; do
  if check "$fixtures/$f.cc" runtime > /dev/null; then echo "layering: the rules miss fixture $f.cc: $(cat "$fixtures/$f.cc")"; exit 1; fi
done
check "$fixtures/ok.cc" runtime > /dev/null || { echo "layering: the rules flag a clean fixture"; exit 1; }
check "$fixtures/a.cc" fabric > /dev/null || { echo "layering: fabric/ may speak ZeroMQ"; exit 1; }

root="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-bladesync}"
fail=0
checked=0
dirs=()
for f in $(cd "$root" && ls */*.cc */*.h */*/*.cc */*/*.h 2>/dev/null); do
  case "$f" in tests/*|bench/*|third_party/*) continue ;; esac
  checked=$((checked + 1))
  dir=${f%%/*}
  [[ " ${dirs[*]} " == *" $dir "* ]] || dirs+=("$dir")
  check "$root/$f" "$dir"
  case $? in 0) ;; 1) fail=1 ;; *) echo "layering: cannot read $f"; exit 2 ;; esac
done
echo "layering: $checked source files checked in ${#dirs[@]} packages: ${dirs[*]}"
# An empty or partial tree would pass every rule: every package must be there.
for want in api blades cmd config conntrack core examples fabric manager monitoring netif runtime sim traffic; do
  [[ " ${dirs[*]} " == *" $want "* ]] || { echo "layering: package $want is missing from the data"; exit 1; }
done
exit $fail
