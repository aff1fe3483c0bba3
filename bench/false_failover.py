#!/usr/bin/env python3
"""False failovers at full sync load with 10 ms heartbeats (issue 22).

Two chassis of two blades, hb-interval-in-milliseconds 10ms, hb-interval 1,
hb-lost-threshold 3 (a peer is lost 33 ms after its last heartbeat, a
blade after 50 ms). Each blade of chassis 1 is an embedded data plane
(examples/embedded_data_plane --churn RATE) that opens SESSIONS sessions
and then, for the whole run, closes its oldest and opens new ones, RATE
per second (two deltas each: close and open): at the default both cores
stay busy with sync. Nothing fails, so every role change and every blade
marked dead is false. Reports them, the sessions opened per second, and
how often a change log overflowed (the load beyond what sync keeps up
with), from the managers' and data planes' logs.

  bazel build //cmd:all //examples:all && python3 bench/false_failover.py [seconds] [sessions per blade] [rate per blade]
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import cluster_harness as h  # noqa: E402


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    sessions = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    rate = int(sys.argv[3]) if len(sys.argv) > 3 else 300000
    example = h.find_binary("embedded_data_plane", package="examples")
    c = h.Cluster(n_chassis=2, slots=2, hb_interval=1, hb_lost=3)
    text = open(c.config).read()
    open(c.config, "w").write(text.replace("    set slots 2\n", "    set slots 2\n    set hb-interval-in-milliseconds 10ms\n"))
    planes = []
    logs = {}
    try:
        for ch in (1, 2):
            c.start_chassis(ch, ["--no-blades"])
            for slot in (1, 2):
                logs[(ch, slot)] = os.path.join(c.dir, "dataplane%d-%d.log" % (ch, slot))
                cmd = [example, "--config", c.config, "--chassis", str(ch), "--slot", str(slot),
                       "--exit-after", str(seconds + 120)]
                if ch == 1:
                    cmd += ["--sessions", str(sessions), "--churn", str(rate)]
                planes.append(subprocess.Popen(cmd, stdout=open(logs[(ch, slot)], "w"), stderr=subprocess.STDOUT))
        c.wait_for("chassis 1 to be primary", lambda: c.status(1)["role"] == "primary", timeout=60, interval=0.2)
        t0 = time.time()
        time.sleep(seconds)
        took = time.time() - t0
        roles, dead = [], []
        for ch in (1, 2):
            for line in h.read_text(os.path.join(c.dir, "chassis%d.log" % ch)).splitlines():
                if ": role " in line and "role unknown ->" not in line:
                    roles.append(line)
                if "marked dead" in line:
                    dead.append(line)
        overflows = sum(h.read_text(p).count("change log full") for p in logs.values())
        opened = 0
        for slot in (1, 2):
            found = re.findall(r"opened (\d+)", h.read_text(logs[(1, slot)]))
            opened += int(found[-1]) if found else 0
        print("%d s at full sync load (chassis 1's two blades replacing sessions, %d open each, %d/s each asked; "
              "%.0f sessions opened per second in all; %d change-log overflows), hb-interval-in-milliseconds 10ms, "
              "hb-interval 1, hb-lost-threshold 3: %d false role changes, %d blades falsely marked dead"
              % (took, sessions * 9 // 10, rate, opened / took, overflows, len(roles), len(dead)))
        for line in (roles + dead)[:20]:
            print("  " + line)
    finally:
        for p in planes:
            p.kill()
            p.wait()
        c.stop_all()


if __name__ == "__main__":
    main()
