"""Split brain: M1 and M2 both cut between two chassis namespaces.

With a check address on a third path (the data network), the secondary sees
that the silent primary still answers there: a partition, so it does not
take over and adopts nothing (counted as split_brains_averted). When M1/M2
return, sync resumes and the tables match. With every path cut, the
secondary takes over (it cannot tell a partition from a dead chassis); when
the paths return, the election leaves one primary, the other demotes
itself, and the tables match again.

Needs root and `ip netns` (tags: local, netns).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402


def test(make):
    ns = h.Namespaces(str(os.getpid() % 10000), data_link=True)
    made = []
    try:
        c = make(n_chassis=2, slots=2, rate=1000, duration=12, lifetime=2000, hb_interval=1, hb_lost=6,
                 addresses=ns.addresses(), netns={1: ns.a, 2: ns.b},
                 checks={1: "169.254.203.1:27399", 2: "169.254.203.2:27399"})
        made.append(c)
        c.start_chassis(1)
        c.start_chassis(2)
        c.wait_settled()
        traffic = c.traffic(background=True)
        time.sleep(2)

        # 1. M1 and M2 cut, the data path up: a partition, not a failure.
        ns.set_link("m1", False)
        ns.set_link("m2", False)
        st2 = c.wait_for("the partition to be recognised",
                         lambda: (lambda s: s if s["split_brains_averted"] >= 1 else None)(c.status(2)), timeout=10)
        time.sleep(1.5)
        st1, st2 = c.status(1), c.status(2)
        assert st1["role"] == "primary" and st2["role"] == "secondary", (st1["role"], st2["role"])
        assert st2["failovers"] == 0 and st2["peers"][0]["partitioned"], st2["peers"]
        assert all(b["owned"] == 0 for b in st2["blades"]), "the secondary must not adopt during a partition"
        ns.set_link("m1", True)
        ns.set_link("m2", True)
        c.wait_for("the peers to see each other again", lambda: c.status(2)["peers"][0]["alive"], timeout=10)

        # 2. Every path cut: the secondary takes over (two primaries for a while).
        ns.set_link("m1", False)
        ns.set_link("m2", False)
        ns.set_link("data", False)
        c.wait_for("chassis 2 to take over", lambda: c.status(2)["role"] in ("primary", "standalone"), timeout=10)
        time.sleep(1)
        ns.set_link("data", True)
        ns.set_link("m1", True)
        ns.set_link("m2", True)
        # 3. Healed: one primary (chassis 1, the higher priority), chassis 2 demotes and owns nothing.
        c.wait_for("a single primary again",
                   lambda: c.status(1)["role"] == "primary" and c.status(2)["role"] == "secondary", timeout=15)
        out, _ = traffic.communicate(timeout=60)
        assert traffic.returncode == 0, out
        c.wait_for("chassis 2 to own nothing", lambda: sum(b["owned"] for b in c.status(2)["blades"]) == 0, timeout=10)
        rows = c.wait_mirrors_match(timeout=30)
        print("after the heal: %d sessions synced, mirrors match" % sum(r[3] for r in rows if r[0] == 1))
        # The daemons go before the namespaces they run in, and must stop cleanly.
        for cluster in made:
            codes = cluster.stop_all()
            assert all(v == 0 for v in codes.values()), "daemons did not stop cleanly on SIGTERM: %s" % codes
    finally:
        for cluster in made:
            cluster.stop_all()
        ns.close()


if __name__ == "__main__":
    sys.exit(h.main(test))
