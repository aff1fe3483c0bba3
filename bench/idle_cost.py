#!/usr/bin/env python3
"""What an idle chassis costs: CPU time of bladesyncd with no traffic.

Two chassis with S blades each (default 4) on loopback, no sessions, no
traffic: once both are settled, the CPU time (user + system, from
/proc/PID/stat and each thread's /proc/PID/task/TID/stat) each chassis's
process uses over a window (default 60 s) is read, as a share of one core,
and per thread (blades are "blade<slot>" threads, ZeroMQ's I/O threads "ZMQbg/IO/n", the manager and the
control server have their own names).

  bazel build //cmd:all && python3 bench/idle_cost.py [--seconds 60] [--slots 4] [--fast] [--inproc-backplane]

--fast: hb-interval-in-milliseconds 10ms with hb-interval 1 (10 ms
heartbeats), else the defaults (hb-interval 2: 200 ms).
--inproc-backplane: `set backplane inproc` (the packaged config's: manager
and blades in one process talk without TCP), else a TCP backplane on
loopback as the demo's.

Prints one JSON object: per chassis the share of a core, and its threads'
shares grouped by thread name. Compare builds side by side with the same
arguments (bench/compare_commits.sh runs a bench at two commits).
"""
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import cluster_harness as h  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(stat_path):
    """utime + stime of a /proc stat file, and the thread's name."""
    text = open(stat_path).read()
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return name, int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def sample(pid):
    threads = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            threads[tid] = cpu_ticks("/proc/%d/task/%s/stat" % (pid, tid))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return cpu_ticks("/proc/%d/stat" % pid)[1], threads


def main():
    args = sys.argv[1:]
    seconds, slots, fast, inproc = 60, 4, False, False
    while args:
        a = args.pop(0)
        if a == "--seconds":
            seconds = int(args.pop(0))
        elif a == "--slots":
            slots = int(args.pop(0))
        elif a == "--fast":
            fast = True
        elif a == "--inproc-backplane":
            inproc = True
        else:
            print(__doc__)
            return 2
    c = h.Cluster(n_chassis=2, slots=slots, rate=1, duration=0, hb_interval=1 if fast else 2, hb_lost=3 if fast else 6)
    text = open(c.config).read()
    if fast:
        text = text.replace("    set slots %d\n" % slots, "    set slots %d\n    set hb-interval-in-milliseconds 10ms\n" % slots)
    if inproc:
        text = re.sub(r"set backplane \S+", "set backplane inproc", text)
    open(c.config, "w").write(text)
    try:
        for ch in (1, 2):
            c.start_chassis(ch)
        c.wait_settled(timeout=60)
        time.sleep(5)  # past the start-up's bulk syncs
        before = {ch: sample(c.procs[ch].pid) for ch in (1, 2)}
        t0 = time.monotonic()
        time.sleep(seconds)
        after = {ch: sample(c.procs[ch].pid) for ch in (1, 2)}
        wall = time.monotonic() - t0
        out = {"slots": slots, "heartbeat": "10 ms" if fast else "200 ms",
               "backplane": "inproc" if inproc else "tcp", "seconds": round(wall, 1), "chassis": {}}
        for ch in (1, 2):
            total = (after[ch][0] - before[ch][0]) / TICKS / wall
            by_name = {}
            for tid, (name, ticks) in after[ch][1].items():
                start = before[ch][1].get(tid, (name, 0))[1]
                by_name[name] = by_name.get(name, 0.0) + (ticks - start) / TICKS / wall
            out["chassis"][ch] = {"core_share_pct": round(100 * total, 2),
                                  "threads_pct": {k: round(100 * v, 2) for k, v in sorted(by_name.items()) if v > 0}}
        print(json.dumps(out, indent=1))
    finally:
        c.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
