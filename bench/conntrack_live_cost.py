#!/usr/bin/env python3
"""CPU and wire bytes per kernel entry of bladesync's live sync, for two (or
more) builds side by side: bench/conntrackd_compare.py's live sync (N
synthetic established entries created in A's kernel in one burst, until B
holds all N; CPU of both daemons together, bytes on M1+M2 both ways), run
R times per build, alternating builds, in one sitting.

  sudo python3 bench/conntrack_live_cost.py [--runs R] [--snat] [--warm] N OLD_DIR NEW_DIR

--snat: the entries are masqueraded (source NAT, as most firewalls have
every entry), else plain.
--warm: the daemons' tables are at their working size first (N entries
installed, synced and flushed), so the measured sync touches no table
memory for the first time (the cost of a firewall that has run a while;
without it, the first N sessions fresh daemons ever hold).

Each DIR holds bazel-bin/cmd/bladesync and bladesyncd (copies of a build);
the entries come from this checkout's bladesync (bazel build //cmd:all).
Prints each run (with each daemon's resident memory growth over the sync,
and any thread that exited meanwhile, whose CPU would be missing) and, per
build, the median, min and max; CPU also by
thread (names without their digits: "page-toucher" and "page-supply" are
the tables' memory faulted in, "blade" the sync threads, "ZMQbg/IO/"
ZeroMQ's I/O).
"""
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import firewall_topology as fw  # noqa: E402
from conntrackd_compare import spread  # noqa: E402


# The entries are made by this checkout's `bladesync conntrack install`
# for every build (it talks to the kernel only), so all get the same ones.
TOOL = os.path.abspath(os.path.join(HERE, "..", "bazel-bin", "cmd", "bladesync"))


def one(tree, n, install_args, warm):
    code = ("import json, sys; sys.path[:0] = [%r, %r]\n"
            "import conntrackd_compare as cc, cluster_harness as h\n"
            "r = cc.scale_run(cc.Bladesync, %r, %d, %r, %r, %r)\n"
            "print(json.dumps(r))\n") % (HERE, os.path.join(HERE, "..", "tests", "integration"),
                                         "%04x" % random.randrange(1 << 16), n, TOOL, tuple(install_args), warm)
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stdout[-2000:] + out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    args = sys.argv[1:]
    runs, install_args, warm = 1, [], False
    while args[:1] in (["--runs"], ["--snat"], ["--warm"]):
        if args[0] == "--runs":
            runs, args = int(args[1]), args[2:]
        elif args[0] == "--warm":
            warm, args = True, args[1:]
        else:
            install_args, args = ["snat"], args[1:]
    n, trees = int(args[0]), args[1:]
    got = {t: [] for t in trees}
    with fw.conntrack_max_at_least(2 * n + 100000):
        for run in range(runs):
            for t in trees:
                r = one(t, n, install_args, warm)
                got[t].append(r)
                print("run", run + 1, t, {k: r[k] for k in ("entries_per_s", "cpu_us_per_entry", "bytes_per_entry",
                                                             "rss_anon_growth_kb", "threads_gone")},
                      r["cpu_us_per_entry_by_thread"], flush=True)
    summary = {t: {k: spread([r[k] for r in rs]) for k in ("entries_per_s", "cpu_us_per_entry", "bytes_per_entry")}
               for t, rs in got.items()}
    for t, rs in got.items():
        names = sorted({k for r in rs for k in r["cpu_us_per_entry_by_thread"]})
        summary[t]["cpu_us_per_entry_by_thread"] = {
            k: spread([r["cpu_us_per_entry_by_thread"].get(k, 0.0) for r in rs]) for k in names}
    print(json.dumps({"n": n, "runs": runs, "install": install_args, "warm": warm, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
