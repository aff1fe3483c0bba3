"""SIGHUP re-reads the config: a bad file is refused with file, line and
option, and the running cluster keeps its last good config; a good file
takes effect for new sessions (here: session-pickup disable)."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402


def test(make):
    c = make(n_chassis=2, slots=2, rate=1500, duration=2)
    good = open(c.config).read()
    c.start_chassis(1)
    c.start_chassis(2)
    c.wait_settled()

    # 1. A bad file: the option is misspelt.
    with open(c.config, "w") as f:
        f.write(good.replace("set session-pickup enable", "set session-pickupp enable"))
    c.procs[1].send_signal(signal.SIGHUP)
    st = c.wait_for("the refused reload", lambda: (lambda s: s if s["config"]["reload_errors"] == 1 else None)(c.status(1)))
    err = st["config"]["last_error"]
    assert "cluster.conf:" in err and "option 'session-pickupp'" in err and "unknown option" in err, err
    assert st["config"]["session_pickup"] is True, st["config"]
    assert c.procs[1].poll() is None, "the daemon must keep running"
    # The traffic tool reads the file too: put the good one back (no SIGHUP),
    # and show the daemon still syncs on the config it kept.
    with open(c.config, "w") as f:
        f.write(good)
    c.traffic(duration=2)
    rows = c.wait_mirrors_match()
    synced_before = sum(r[3] for r in rows if r[0] == 1)
    assert synced_before > 500, rows

    # 2. A shape change (a chassis moved) needs a restart: refused too.
    with open(c.config, "w") as f:
        f.write(good.replace("set sync-port %d" % c.port, "set sync-port %d" % (c.port + 1), 1))
    c.procs[1].send_signal(signal.SIGHUP)
    st = c.wait_for("the second refusal", lambda: (lambda s: s if s["config"]["reload_errors"] == 2 else None)(c.status(1)))
    assert "needs a restart" in st["config"]["last_error"], st["config"]

    # 3. A good file with session-pickup disabled: new sessions stop syncing.
    with open(c.config, "w") as f:
        f.write(good.replace("set session-pickup enable\n    set session-pickup-connectionless enable",
                             "set session-pickup disable"))
    c.procs[1].send_signal(signal.SIGHUP)
    st = c.wait_for("the reload", lambda: (lambda s: s if s["config"]["reloads"] == 1 else None)(c.status(1)))
    assert st["config"]["session_pickup"] is False and st["config"]["last_error"] == "", st["config"]
    sync = c.cli(1, "diagnose", "sys", "session", "sync")
    skipped_before = sum(b["counters"]["skipped.pickup_disabled"] for b in sync["blades"])
    c.traffic(duration=2)
    time.sleep(1)
    sync = c.cli(1, "diagnose", "sys", "session", "sync")
    skipped_after = sum(b["counters"]["skipped.pickup_disabled"] for b in sync["blades"])
    assert skipped_after - skipped_before > 500, (skipped_before, skipped_after)
    assert c.procs[1].poll() is None


if __name__ == "__main__":
    sys.exit(h.main(test))
