"""Mixed versions and the rolling upgrade, with real processes: this build
against the previous release (baseline_release.txt names it and its commit),
built by tools/build-release.sh (tools/run-tests.sh does that first).

  old_primary:  chassis 1 runs the release, chassis 2 this build: chassis 1's
                sessions sync to chassis 2, which takes every one over when
                chassis 1 is killed; chassis 1 comes back and mirrors
                chassis 2 (bulk sync and live deltas the other way);
  new_primary:  the same with the releases swapped;
  upgrade:      both run the release with flows running; `bladesync execute
                ha upgrade` restarts chassis 2 on this build, hands over to
                it and restarts chassis 1: no session is lost, no packet of
                an established flow is dropped, and both end on this build.

Flows start only in the first seconds and keep sending for several more, so
a session lost anywhere shows as a dropped packet (strict TCP tracking).
"""
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402

TAG = open(h.find_data("tests/integration/baseline_release.txt")).read().split()[0]  # name, commit
RELEASE = os.path.join(os.environ.get("BLADESYNC_RELEASES", "/var/cache/bladesync/releases"), TAG)
OLD = os.path.join(RELEASE, "bladesyncd")


def owned(st):
    return sum(b["owned"] for b in st["blades"] if b["live"])


def synced(st):
    return sum(b["synced"] for b in st["blades"] if b["live"])


def make_cluster(make, duration=2, lifetime=7000):
    c = make(n_chassis=2, slots=2, rate=800, duration=duration, lifetime=lifetime, hb_interval=2, hb_lost=4)
    text = open(c.config).read().replace("config traffic-generator\n", "config traffic-generator\n"
                                         "    set proxy-inspected-percent 0\n    set local-percent 0\n")
    open(c.config, "w").write(text)
    return c


def release_version():
    out = subprocess.run([OLD, "--version"], capture_output=True, text=True, check=True).stdout
    return out.split()[1]  # "bladesyncd 0.2.0 (commit ...)"


def check_mixed_status(c, new, old):
    """The new chassis sees the release's version and schema 1.0, and says
    the upgrade is unfinished; the schemas are compatible."""
    st = c.status(new)
    peer = next(p for p in st["peers"] if p["chassis"] == old)
    assert peer["version"].startswith(release_version() + "+g"), peer
    assert peer["schema"] == "1.0" and peer["schema_compatible"], peer
    assert any("mixed versions" in p for p in st["problems"]), st["problems"]
    assert not any("incompatible" in p for p in st["problems"]), st["problems"]


def mixed(make, old_chassis):
    c = make_cluster(make)
    new_chassis = 3 - old_chassis
    binary = {old_chassis: OLD, new_chassis: None}
    c.start_chassis(old_chassis, binary=OLD)
    c.start_chassis(new_chassis)
    st = c.wait_settled()
    assert {s["chassis"]: s["role"] for s in st} == {1: "primary", 2: "secondary"}, st
    check_mixed_status(c, new_chassis, old_chassis)
    traffic = c.traffic(background=True, max_unroutable=40)
    before = synced(c.wait_flows_synced()[1])
    assert before > 300, before
    # Chassis 1's deltas, written by one release and read by the other, hold
    # every synced session: chassis 2 takes them all over.
    c.procs[1].send_signal(signal.SIGKILL)
    c.procs[1].wait()
    del c.procs[1]
    time.sleep(0.4)
    held = h.MirrorCount(c, 2)
    c.wait_for("chassis 2 to take over", lambda: c.status(2)["role"] in ("primary", "standalone"), timeout=15)
    t = held.expect_adopted()
    time.sleep(2.0)
    t2 = c.counter_totals(2, live_only=True)
    assert t2["packets"] - t["packets"] > 100, "traffic did not move to chassis 2: %d packets" % (t2["packets"] - t["packets"])
    assert t2["packets_dropped"] == 0, "packets of established flows dropped: %d" % t2["packets_dropped"]
    # The other way: chassis 1 comes back on its release, and chassis 2's
    # bulk sync and live deltas fill its mirror.
    c.start_chassis(1, binary=binary[1])
    out, _ = traffic.communicate(timeout=60)
    assert traffic.returncode == 0, out
    rows = c.wait_mirrors_match(owners=[2], mirrors=[1], timeout=30)
    assert sum(r[3] for r in rows) > 100, rows  # most flows ended by now; what is left is mirrored
    print("%s primary killed: this build's and the release's chassis synced %d sessions, %d adopted, none dropped; "
          "back, chassis 1 mirrors chassis 2's %d" % ("the release" if old_chassis == 1 else "this build", before,
                                                    t["adopted_sessions"], sum(r[3] for r in rows)))


def old_primary(make):
    mixed(make, old_chassis=1)


def new_primary(make):
    mixed(make, old_chassis=2)


class Supervisor:
    """What systemd is to a packaged chassis: the upgrade's restart command
    asks it (a request file) to restart chassis N on this build, and returns
    once the old daemon stopped and the new one started."""

    def __init__(self, c):
        self.c, self.stop, self.restarted, self.errors = c, False, [], []
        self.dropped = {}  # chassis -> its blades' packets_dropped just before its restart
        self.totals = {}   # chassis -> its blades' counters just before its restart
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def command(self):
        d = self.c.dir
        return ("touch %s/restart-{chassis}.req; i=0; while [ ! -e %s/restart-{chassis}.done ]; do "
                "i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done; rm %s/restart-{chassis}.done" % (d, d, d))

    def run(self):
        while not self.stop:
            for ch in (1, 2):
                req = os.path.join(self.c.dir, "restart-%d.req" % ch)
                if not os.path.exists(req):
                    continue
                os.unlink(req)
                try:
                    self.totals[ch] = self.c.counter_totals(ch, live_only=True)
                    self.dropped[ch] = self.totals[ch]["packets_dropped"]
                    code = self.c.stop_chassis(ch)
                    if code != 0:
                        self.errors.append("chassis %d exited %s on SIGTERM" % (ch, code))
                    self.c.start_chassis(ch)
                    self.restarted.append(ch)
                except Exception as e:  # the test reports it
                    self.errors.append(repr(e))
                open(os.path.join(self.c.dir, "restart-%d.done" % ch), "w").close()
            time.sleep(0.05)


def upgrade(make):
    c = make_cluster(make, duration=3, lifetime=12000)
    for ch in (1, 2):
        c.start_chassis(ch, binary=OLD)
    st = c.wait_settled()
    assert {s["chassis"]: s["role"] for s in st} == {1: "primary", 2: "secondary"}, st
    # Script-safe refusals first: usage (2), not on the primary (1), a restart
    # command that fails (1, and chassis 1 stays primary).
    def upgrade_cli(ch, *extra):
        return subprocess.run([c.bladesync, "--connect", c.control[ch], "execute", "ha", "upgrade"] + list(extra),
                              capture_output=True, text=True, timeout=60)
    r = upgrade_cli(1)
    assert r.returncode == 2 and "--restart-command" in r.stderr, (r.returncode, r.stderr)
    r = upgrade_cli(2, "--restart-command", "true")
    assert r.returncode == 1 and "run it on the primary" in r.stderr, (r.returncode, r.stderr)
    r = upgrade_cli(1, "--restart-command", "exit 7", "--timeout", "5")
    assert r.returncode == 1 and "restart command for chassis 2 (exit 7) exited 7" in r.stderr, (r.returncode, r.stderr)
    # One that hangs is killed after --timeout with everything it started.
    r = upgrade_cli(1, "--restart-command", "sleep 4242 | cat", "--timeout", "2")
    assert r.returncode == 1 and "did not finish within 2 s" in r.stderr, (r.returncode, r.stderr)
    time.sleep(0.2)
    left = subprocess.run(["pgrep", "-f", "sleep 4242"], capture_output=True, text=True).stdout.split()
    assert not left, "the hung restart command left processes behind: %s" % left
    assert c.status(1)["role"] == "primary"
    traffic = c.traffic(background=True, max_unroutable=40)
    time.sleep(3.5)  # every flow started and synced; they keep sending for 8 s more
    before = c.status(1)
    assert synced(before) > 500, before
    sup = Supervisor(c)
    t0 = time.monotonic()
    r = subprocess.run([c.bladesync, "--connect", c.control[1], "execute", "ha", "upgrade",
                        "--restart-command", sup.command(), "--timeout", "30"],
                       capture_output=True, text=True, timeout=150)
    took = time.monotonic() - t0
    sup.stop = True
    print(r.stdout)
    assert r.returncode == 0, "upgrade failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr)
    assert not sup.errors, sup.errors
    assert sup.restarted == [2, 1], sup.restarted
    # Chassis 1 held every flow until the handover: none of its packets were
    # dropped up to its restart (its counters go with it).
    assert sup.dropped == {1: 0, 2: 0}, sup.dropped
    # Both on this build now; chassis 2 primary and chassis 1 its in-sync mirror.
    ver = subprocess.run([c.bladesyncd, "--version"], capture_output=True, text=True).stdout.split()[1]
    s1, s2 = c.status(1), c.status(2)
    assert s2["role"] == "primary" and s1["role"] == "secondary", (s1["role"], s2["role"])
    for st, other in ((s1, 2), (s2, 1)):
        assert st["version"].startswith(ver + "+g") or st["version"] == ver, st["version"]
        peer = next(p for p in st["peers"] if p["chassis"] == other)
        assert peer["version"] == st["version"] and peer["schema_compatible"], peer
        assert not any("mixed versions" in p for p in st["problems"]), st["problems"]
    # Chassis 2 took over every session chassis 1 owned at the handover
    # (what chassis 1 relinquished: flows end all along, so the count
    # before the upgrade is only a sanity bound), and no packet of an
    # established flow found none.
    t2 = c.counter_totals(2, live_only=True)
    relinquished = sup.totals[1]["relinquished_sessions"]
    assert relinquished > 0.5 * synced(before), (relinquished, synced(before))
    assert t2["adopted_sessions"] >= relinquished, (t2["adopted_sessions"], relinquished)
    out, _ = traffic.communicate(timeout=60)
    assert traffic.returncode == 0, out
    t2 = c.counter_totals(2, live_only=True)
    assert t2["packets_dropped"] == 0, "packets of established flows dropped on chassis 2: %d" % t2["packets_dropped"]
    c.wait_mirrors_match(owners=[2], mirrors=[1], timeout=15)
    print("rolling upgrade %s -> %s in %.1f s with traffic: chassis 2 adopted %d sessions (chassis 1 relinquished %d; "
          "it had synced %d before the upgrade), none dropped"
          % (release_version(), ver, took, t2["adopted_sessions"], relinquished, synced(before)))


if __name__ == "__main__":
    if not os.access(OLD, os.X_OK):
        print("SKIPPED: no build of release %s at %s (tools/run-tests.sh makes it with tools/build-release.sh %s)"
              % (TAG, RELEASE, TAG))
        sys.exit(0)
    scenario = {"old_primary": old_primary, "new_primary": new_primary, "upgrade": upgrade}[sys.argv[1]]
    sys.exit(h.main(scenario))
