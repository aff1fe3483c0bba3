"""Two chassis as two real processes sync every blade over ZeroMQ on loopback.

After traffic stops, every mirror table equals its owner's table (session
count and digest, as each chassis reports them through the CLI), and both
processes stop cleanly on SIGTERM.
"""
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402


def test(make):
    c = make(n_chassis=2, slots=4, rate=2000, duration=3)
    c.start_chassis(1)
    c.start_chassis(2)
    st = c.wait_settled()
    roles = {s["chassis"]: s["role"] for s in st}
    assert roles == {1: "primary", 2: "secondary"}, roles
    out = c.traffic()
    assert "traffic done" in out, out
    rows = c.wait_mirrors_match(timeout=30)
    synced = sum(r[3] for r in rows if r[0] == 1)
    assert synced > 1000, "too few synced sessions: %d" % synced
    # The secondary processed nothing: all sessions are owned on chassis 1.
    st2 = c.status(2)
    assert all(b["owned"] == 0 for b in st2["blades"]), st2
    sync = c.cli(1, "diagnose", "sys", "session", "sync")
    creates = sum(b["counters"]["sent.create.m1"] for b in sync["blades"])
    assert creates >= synced, (creates, synced)
    codes = c.stop_all()
    assert codes == {1: 0, 2: 0}, codes
    print("synced sessions: %d, creates sent on m1: %d" % (synced, creates))


if __name__ == "__main__":
    sys.exit(h.main(test))
