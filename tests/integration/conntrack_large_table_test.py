"""A Linux firewall pair with a large conntrack table stays as it is.

The FirewallPair of conntrack_failover_test with standby-in-kernel and a
resync every 3 s; 200,000 established entries are created in A's kernel in
one burst. A's blade reads the burst (its event buffer overruns: a resync
follows), B mirrors every entry into its own kernel, and both dump their
tables again and again. None of that may stop a blade's loop long enough
for its manager to take it for dead (a blade that misses its reports for
blade-hb-lost-threshold intervals), and nothing may move the primary role:
a resync that read the whole dump in one loop turn did both (500k entries:
seconds per dump, a false failover; 300k: the blade taken for dead at
every resync). It runs alone (tag "exclusive"): it loads both cores.

Skipped, with the reason printed, where the kernel has no conntrack.
"""
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402
import firewall_topology as fw  # noqa: E402

ENTRIES = 200000

CONFIG = """
config system conntrack
    set status enable
    set event-buffer-size 67108864
    set event-buffer-size-max 268435456
    set resync-interval 3
    set standby-in-kernel enable
end
"""


def test(make):
    why = fw.conntrack_missing()
    if why:
        print("SKIPPED: conntrack large table test: %s" % why)
        return
    with fw.conntrack_max_at_least(2 * ENTRIES + 100000):
        run(make)


def run(make):
    topo = fw.FirewallPair("%04x" % random.randrange(1 << 16))
    try:
        c = make(n_chassis=2, slots=1, rate=1, duration=0, hb_interval=1, hb_lost=3,
                 addresses=topo.chassis_addresses(), netns={1: topo.ns["a"], 2: topo.ns["b"]}, extra=CONFIG)
        c.start_chassis(1)
        c.start_chassis(2)
        c.wait_settled(timeout=30)
        assert c.status(1)["role"] == "primary", c.status(1)
        r = subprocess.run(topo.exec_args("a", [h.find_binary("bladesync"), "conntrack", "install", str(ENTRIES)]),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        c.wait_for("B's kernel to hold A's %d entries" % ENTRIES, lambda: topo.kernel_count("b", h.find_binary("bladesync")) >= ENTRIES,
                   timeout=120, interval=0.5)
        time.sleep(8)  # a few more resyncs of both full tables
        for chassis in (1, 2):
            log = c.log(chassis)
            dead = [l for l in log.splitlines() if "missed its reports" in l]
            assert not dead, "chassis %d took its blade for dead:\n%s" % (chassis, "\n".join(dead[:5]))
            resyncs = [l for l in log.splitlines() if "conntrack: resync:" in l]
            print("chassis %d: %d resyncs, the last: %s" % (chassis, len(resyncs), resyncs[-1][-60:]))
        assert c.status(1)["role"] == "primary" and c.status(2)["role"] == "secondary", (c.status(1), c.status(2))
        moved = [l for l in c.log(2).splitlines() if "role secondary ->" in l]
        assert not moved, "the primary role moved: %s" % moved
        codes = c.stop_all()
        assert all(v == 0 for v in codes.values()), "daemons did not stop cleanly on SIGTERM: %s" % codes
    finally:
        topo.close()


if __name__ == "__main__":
    sys.exit(h.main(test))
