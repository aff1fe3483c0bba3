#!/usr/bin/env python3
"""The sync counters of one live conntrack sync (conntrackd_compare.py's:
N entries created in A's kernel in one burst, until B holds them), per
build: what each chassis's blades counted meanwhile (creates sent,
frames, NACKs, resends, duplicates dropped), so a clean run's extra
traffic shows.

  sudo python3 bench/conntrack_sync_counters.py N DIR [DIR...]

Each DIR holds bazel-bin/cmd/bladesync and bladesyncd (copies of a build);
the entries come from this checkout's bladesync (bazel build //cmd:all).
"""
import json
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
TOOL = os.path.abspath(os.path.join(HERE, "..", "bazel-bin", "cmd", "bladesync"))


def one(n):
    """In a build's directory (its binaries): the counters' growth over the sync."""
    import conntrackd_compare as cc
    import firewall_topology as fw
    topo = fw.FirewallPair("%04x" % random.randrange(1 << 16))
    s = cc.Bladesync(topo)
    try:
        s.start()
        before = [s.c.counter_totals(c) for c in (1, 2)]
        subprocess.run(topo.exec_args("a", [TOOL, "conntrack", "install", str(n), "--json"]), capture_output=True, check=True)
        got, _, _ = cc.wait_mirrored(s, n, 0.05)
        time.sleep(0.5)  # the last acks
        after = [s.c.counter_totals(c) for c in (1, 2)]
        grown = [{k: v - b.get(k, 0) for k, v in a.items() if v != b.get(k, 0)} for b, a in zip(before, after)]
        return {"mirrored": got, "a": grown[0], "b": grown[1]}
    finally:
        s.stop()
        topo.close()


def main():
    if sys.argv[1] == "--one":
        sys.path.insert(0, HERE)
        print(json.dumps(one(int(sys.argv[2]))))
        return
    n, trees = int(sys.argv[1]), sys.argv[2:]
    for t in trees:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", str(n)], cwd=t,
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stdout[-2000:] + out.stderr[-2000:])
        print(t, out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
