"""SIGHUP re-reads the config: a bad file is refused with file, line and
option, and the running cluster keeps its last good config; a file that
changes an option needing a restart is refused whole, naming every such
option, with nothing applied; a good file takes effect for new sessions
(here: session-pickup disable), and clears the refusal from status. Two
chassis whose configs then differ say so (issue 17, points 7 and 8): in
status, in `diagnose sys ha checksum cluster` and in /metrics."""
import os
import re
import signal
import subprocess
import urllib.request
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
    assert "changed system ha / chassis / 1 / sync-port, which needs a restart" in st["config"]["last_error"], st["config"]

    # 2b. Live and restart-only options together: the whole file is refused,
    # every restart-only option named, the live one not applied either.
    with open(c.config, "w") as f:
        f.write(good.replace("set session-pickup enable\n    set session-pickup-connectionless enable",
                             "set session-pickup disable")
                    .replace("set hb-lost-threshold 6", "set hb-lost-threshold 7")
                    .replace("set priority 240", "set priority 100"))
    c.procs[1].send_signal(signal.SIGHUP)
    st = c.wait_for("the third refusal", lambda: (lambda s: s if s["config"]["reload_errors"] == 3 else None)(c.status(1)))
    err = st["config"]["last_error"]
    assert "changed system ha / chassis / 1 / priority, system ha / hb-lost-threshold, which need a restart" in err, err
    assert "session-pickup" not in err, err
    assert st["config"]["session_pickup"] is True, "a refused reload applied session-pickup"
    text = c.cli(1, "get", "system", "ha", "status")
    assert any("the last reload was refused" in p for p in text["problems"]), text["problems"]

    # 3. A good file with session-pickup disabled: new sessions stop syncing.
    with open(c.config, "w") as f:
        f.write(good.replace("set session-pickup enable\n    set session-pickup-connectionless enable",
                             "set session-pickup disable"))
    c.procs[1].send_signal(signal.SIGHUP)
    st = c.wait_for("the reload", lambda: (lambda s: s if s["config"]["reloads"] == 1 else None)(c.status(1)))
    assert st["config"]["session_pickup"] is False and st["config"]["last_error"] == "", st["config"]
    assert not any("reload" in p for p in st["problems"]), st["problems"]
    text = subprocess.run([c.bladesync, "--connect", c.control[1], "get", "system", "ha", "status"],
                          capture_output=True, text=True, timeout=10).stdout
    assert "REFUSED" not in text, text

    # Chassis 1 now runs another config than chassis 2: both notice.
    for ch, other in ((1, 2), (2, 1)):
        st = c.wait_for("chassis %d to see the difference" % ch,
                        lambda: (lambda s: s if any("config differs from chassis %d's in: system ha" % other in p
                                                    for p in s["problems"]) else None)(c.status(ch)))
        assert st["health"] == "warning", st
    sums = c.cli(2, "diagnose", "sys", "ha", "checksum", "cluster")["chassis"]
    by = {x["chassis"]: x for x in sums}
    assert by[1]["sections"]["system ha"] != by[2]["sections"]["system ha"], sums
    assert by[1]["sections"]["system global"] == by[2]["sections"]["system global"], sums
    assert by[1]["all"] != by[2]["all"], sums
    text = subprocess.run([c.bladesync, "--connect", c.control[2], "diagnose", "sys", "ha", "checksum", "cluster"],
                          capture_output=True, text=True, timeout=10).stdout
    assert re.search(r"chassis 2 \(this one\):\n  system interface: [0-9a-f]{16}\n", text), text
    metrics_url = "http://%s/metrics" % c.status(2)["metrics"]
    body = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    assert re.search(r'bladesync_peer_config_sections_differ\{[^}]*peer="1"[^}]*\} 1', body), \
        [l for l in body.splitlines() if "config_sections" in l]
    sync = c.cli(1, "diagnose", "sys", "session", "sync")
    skipped_before = sum(b["counters"]["skipped.pickup_disabled"] for b in sync["blades"])
    c.traffic(duration=2)

    def skipped_now():  # the blades' counters arrive with their next reports
        n = sum(b["counters"]["skipped.pickup_disabled"] for b in c.cli(1, "diagnose", "sys", "session", "sync")["blades"])
        return n if n - skipped_before > 500 else None
    c.wait_for("the new sessions skipped as pickup is disabled", skipped_now, timeout=10)
    assert c.procs[1].poll() is None

    # The same config again: alike, and healthy.
    with open(c.config, "w") as f:
        f.write(good)
    c.procs[1].send_signal(signal.SIGHUP)
    c.wait_for("the configs to be alike again",
               lambda: all(not any("config differs" in p for p in c.status(ch)["problems"]) for ch in (1, 2)))


if __name__ == "__main__":
    sys.exit(h.main(test))
