#!/usr/bin/env python3
"""Failover of N established kernel sessions on a Linux firewall pair: from
the peer declared lost to every session usable in the new primary's kernel,
three ways side by side in one run, in the topology of
tests/integration/firewall_topology (A = chassis 1, B = chassis 2, M1/M2
veth links):

  standby-in-kernel   bladesync with `set standby-in-kernel enable`: B's
                      kernel holds the N entries before the loss; promotion
                      installs nothing and lowers the standby guard (the
                      nftables table that keeps mirrored entries from
                      forwarding). Done when both are logged.
  adopt-then-install  bladesync without it: B adopts and installs the N
                      entries into its kernel. Done when B logs the install.
  conntrackd-commit   conntrackd 1.4.7 FTFW with an external cache (as in
                      bench/conntrackd_compare.py): `conntrackd -c` on B,
                      which keepalived's notify runs once it declared the
                      peer lost. Timed from its start to its return.

For bladesync the start is B's "lost peer chassis 1" log line and the end
the lines above (their timestamps have millisecond resolution); detection
itself (hb-interval x hb-lost-threshold) is not in any of the three. Each
run: N synthetic established TCP entries created in A's kernel
(`bladesync conntrack install N`), B holding all N (mirror, or conntrackd's
external cache), kill -9 of A's daemon, then the measurement; B's kernel
count is checked to be N afterwards.

  bazel build //cmd:all && sudo python3 bench/conntrack_failover.py [--runs R] [N ...]

Prints one line per measurement and a JSON summary: median, min and max per
way and N, and each bladesync way's ratio to conntrackd's commit. Needs
root; raises net.netfilter.nf_conntrack_max for the run and puts it back.
"""
import datetime
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)
import cluster_harness as h  # noqa: E402
import firewall_topology as fw  # noqa: E402
from conntrackd_compare import BLADESYNC_CT, Conntrackd, kernel_count, runs_and_sizes, spread  # noqa: E402

WAYS = ("standby-in-kernel", "adopt-then-install", "conntrackd-commit")


def log_time(line):
    """The UTC timestamp a bladesync log line starts with, in seconds."""
    stamp = line.split()[0].rstrip("Z")
    return datetime.datetime.fromisoformat(stamp).replace(tzinfo=datetime.timezone.utc).timestamp()


def last_line(log, pattern):
    lines = [l for l in log.splitlines() if re.search(pattern, l)]
    return lines[-1] if lines else None


def inject(topo, n, bladesync):
    r = subprocess.run(topo.exec_args("a", [bladesync, "conntrack", "install", str(n), "--json"]),
                       capture_output=True, text=True)
    got = json.loads(r.stdout)["installed"]
    if got != n:
        raise RuntimeError("A's kernel took %d of %d entries: %s" % (got, n, r.stdout + r.stderr))


def bladesync_run(topo, n, standby, bladesync):
    extra = BLADESYNC_CT.replace("end", "    set standby-in-kernel enable\nend") if standby else BLADESYNC_CT
    c = h.Cluster(n_chassis=2, slots=1, rate=1, duration=0, hb_interval=1, hb_lost=3,
                  addresses=topo.chassis_addresses(), netns={1: topo.ns["a"], 2: topo.ns["b"]}, extra=extra)
    try:
        c.start_chassis(1)
        c.start_chassis(2)
        c.wait_settled(timeout=30)
        inject(topo, n, bladesync)

        def mirrored():
            st = c.cli(2, "get", "system", "ha", "status", check=False)
            held = sum(s["sessions"] for b in st["blades"] for s in b["standby"] if s["owner"] == 1) if st else 0
            return held >= n and (not standby or kernel_count(topo, "b", bladesync) >= n)
        c.wait_for("B to hold all %d" % n, mirrored, timeout=300, interval=0.2)
        time.sleep(1.0)
        c.procs.pop(1).send_signal(signal.SIGKILL)
        done_pattern = r"standby-in-kernel guard lowered" if standby else r"installed \d+ sessions .* in \d+ us"
        c.wait_for("B's failover", lambda: last_line(c.log(2), done_pattern), timeout=120, interval=0.1)
        if standby:  # and the (empty) install of what was not in the kernel yet
            c.wait_for("B's install", lambda: last_line(c.log(2), r"installed \d+ sessions .* in \d+ us"), timeout=60)
        log = c.log(2)
        t_lost = log_time(last_line(log, r"lost peer chassis 1"))
        t_done = max(log_time(last_line(log, r"installed \d+ sessions .* in \d+ us")),
                     log_time(last_line(log, done_pattern)))
        in_b = kernel_count(topo, "b", bladesync)
        installed = int(re.search(r"installed (\d+) sessions", last_line(log, r"installed \d+ sessions")).group(1))
        return {"failover_s": round(t_done - t_lost, 3), "in_b_kernel": in_b, "installed_at_failover": installed}
    finally:
        c.stop_all()


def conntrackd_run(topo, n, bladesync):
    d = Conntrackd(topo)
    try:
        d.start()
        inject(topo, n, bladesync)
        deadline = time.monotonic() + 300
        while (d.mirrored() or 0) < n and time.monotonic() < deadline:
            time.sleep(0.2)
        held = d.mirrored() or 0
        if held < n:
            raise RuntimeError("conntrackd on B holds %d of %d" % (held, n))
        time.sleep(1.0)
        d.kill_a()
        took, r = d.take_over()
        return {"failover_s": round(took, 3), "in_b_kernel": kernel_count(topo, "b", bladesync),
                "installed_at_failover": n}
    finally:
        d.stop()


def main():
    runs, sizes = runs_and_sizes(sys.argv[1:])
    why = fw.conntrack_missing()
    if why:
        print("cannot run: " + why)
        return 2
    bladesync = h.find_binary("bladesync")
    results = {str(n): {w: [] for w in WAYS} for n in sizes}
    with fw.conntrack_max_at_least(2 * max(sizes) + 100000):
        tag = "%04x" % random.randrange(1 << 16)
        for run in range(runs):
            for n in sizes:
                for way in WAYS:
                    topo = fw.FirewallPair(tag)
                    try:
                        if way == "conntrackd-commit":
                            r = conntrackd_run(topo, n, bladesync)
                        else:
                            r = bladesync_run(topo, n, way == "standby-in-kernel", bladesync)
                    finally:
                        topo.close()
                    if r["in_b_kernel"] < n:
                        raise RuntimeError("%s: B's kernel holds %d of %d after the failover" % (way, r["in_b_kernel"], n))
                    results[str(n)][way].append(r)
                    print("run", run + 1, n, way, r, flush=True)
    summary = {}
    for n, by_way in results.items():
        row = {w: spread([r["failover_s"] for r in rs]) for w, rs in by_way.items()}
        base = row["conntrackd-commit"]["median"]
        row["ratio_to_conntrackd_commit"] = {w: round(row[w]["median"] / max(base, 1e-9), 3)
                                             for w in WAYS[:2]}
        summary[n] = row
    print(json.dumps({"runs": runs, "failover_s": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
