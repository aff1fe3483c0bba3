"""Failover with real processes, in active-passive:

  kill_primary:  kill -9 the primary chassis while flows are running;
  kill_blade:    kill -9 one blade process of the primary (blades in their
                 own processes): the other chassis has more live blades;
  monitor_down:  mark a monitored interface of the primary down; then no
                 failback without override; `execute ha failover set` moves
                 the role back.

New flows start only in the first two seconds, and every flow then keeps
sending for several seconds, so when the fault comes every flow is
established and synced: with strict TCP tracking, a packet of one of those
flows that reaches the new owner without a session would be dropped. The
new owner must drop none and must hold the sessions the old one had.
"""
import datetime
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402



def owned(st):
    return sum(b["owned"] for b in st["blades"] if b["live"])


def synced(st):
    return sum(b["synced"] for b in st["blades"] if b["live"])


def start_cluster(make, split_blades=False, mode="a-p", override=False):
    c = make(n_chassis=2, slots=2, rate=800, duration=2, lifetime=7000, hb_interval=2, hb_lost=4, mode=mode)
    text = open(c.config).read().replace("    set slots 2\n", "    set slots 2\n    set monitor \"port1\" \"port2\"\n"
                                         "    set blade-hb-lost-threshold 4\n" + ("    set override enable\n" if override else "")
                                         # FGSP: NAT sessions sync in active-active only with session-pickup-nat.
                                         + ("    set session-pickup-nat enable\n" if mode == "a-a" else ""))
    # Only sessions that fail over: proxy-inspected and management sessions
    # restart after a failover by design, and would be dropped as they should.
    text = text.replace("config traffic-generator\n", "config traffic-generator\n    set proxy-inspected-percent 0\n"
                        "    set local-percent 0\n")
    open(c.config, "w").write(text)
    if split_blades:
        c.start_chassis(1, extra_args=["--no-blades"])
        for s in (1, 2):
            c.procs["1/%d" % s] = subprocess.Popen(
                [c.bladesyncd, "--config", c.config, "--chassis", "1", "--slot", str(s), "--no-manager"],
                stdout=open(os.path.join(c.dir, "chassis1-slot%d.log" % s), "ab"), stderr=subprocess.STDOUT)
    else:
        c.start_chassis(1)
    c.start_chassis(2)
    st = c.wait_settled()
    assert {s["chassis"]: s["role"] for s in st} == {1: "primary", 2: "secondary"}, st
    return c


def run_traffic_until_established(c):
    # The takeover's gap (hb-lost-threshold x hb-interval) leaves packets without a chassis.
    traffic = c.traffic(background=True, max_unroutable=40)
    before = c.wait_flows_synced()[1]
    assert synced(before) > 500, before
    return traffic, before


def check_new_owner(c, old, new_ch, traffic):
    new = c.wait_for("chassis %d to take over" % new_ch,
                     lambda: (lambda s: s if s["role"] in ("primary", "standalone") and s["failovers"] >= 1 else None)(c.status(new_ch)),
                     timeout=15)
    before_synced = synced(old)
    # Blade counters reach the manager with the next status report; the exact
    # count is checked where the scenario knows it (kill_primary), here that
    # the adoption shows and that no established flow finds no session.
    t = c.wait_adopted_on_every_blade(new_ch, timeout=10)
    adopted = t["adopted_sessions"]
    time.sleep(2.0)  # the flows keep sending to the new owner
    t2 = c.counter_totals(new_ch, live_only=True)
    assert t2["packets"] - t["packets"] > 1000, "traffic did not move to chassis %d" % new_ch
    assert t2["packets_dropped"] == 0, "packets of established flows dropped on the new owner: %d" % t2["packets_dropped"]
    out, _ = traffic.communicate(timeout=60)
    assert traffic.returncode == 0, out
    print("chassis %d took over in %.0f ms: adopted %d of %d synced sessions, %d packets after, none dropped"
          % (new_ch, new["last_failover_ms"], adopted, before_synced, t2["packets"] - t["packets"]))
    return new


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z chassis2 blade\d+ \[info\] blade: slot \d+: adopted (\d+) "
                      r"sessions of chassis 1$", re.M)


def kill_primary(make):
    c = start_cluster(make)
    traffic, before = run_traffic_until_established(c)
    t_kill = time.time()  # the test's clock (wall time, as the daemons' log stamps)
    c.procs[1].send_signal(signal.SIGKILL)
    c.procs[1].wait()
    del c.procs[1]
    # What chassis 2 mirrors of chassis 1 once the last deltas are in (blade
    # reports are 200 ms apart) and before detection (at least 3 intervals).
    time.sleep(0.4)
    held = h.MirrorCount(c, 2)
    assert c.status(2)["failovers"] == 0, "chassis 2 took over within 0.4 s of the kill: too early"
    check_new_owner(c, before, 2, traffic)
    held.expect_adopted()
    # Failover time from outside: from the kill to the last blade's adoption,
    # by the log's timestamps, against the README's bound of hb-interval x
    # (hb-lost-threshold + 1/4) + 20 ms = 870 ms at these timers; 130 ms more
    # for scheduling on a shared machine. Never before hb-lost-threshold - 1
    # heartbeats could have been missed.
    stamps = [t for t, _ in LOG_TIME.findall(c.log(2))]
    assert len(stamps) == 2, c.log(2)
    done = max(datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp()
               for t in stamps)
    took_ms = (done - t_kill) * 1000
    assert (4 - 1) * 200 - 200 <= took_ms <= 870 + 130, "kill to adoption took %.0f ms" % took_ms
    print("from outside: kill to the last adoption %.0f ms (bound 870 ms + 130); adopted %d of %d mirrored (%d expired)"
          % (took_ms, held.adopted, held.mirrored, held.expired))


def kill_blade(make):
    c = start_cluster(make, split_blades=True)
    traffic, before = run_traffic_until_established(c)
    blade = c.procs.pop("1/2")
    blade.send_signal(signal.SIGKILL)
    blade.wait()
    check_new_owner(c, before, 2, traffic)
    st1 = c.wait_for("chassis 1 to step down", lambda: (lambda s: s if s["role"] == "secondary" else None)(c.status(1)))
    assert [b["live"] for b in st1["blades"]] == [True, False], st1["blades"]
    # It hands over once chassis 2 holds its sessions and has the role (adopt before relinquish).
    c.wait_for("the demoted chassis to own nothing", lambda: c.status(1)["blades"][0]["owned"] == 0)
    # The surviving blade of chassis 1 mirrors chassis 2 again.
    rows = c.wait_for("slot 1 of chassis 1 to mirror chassis 2",
                      lambda: (lambda r: r if all(x[5] for x in r if x[2] == 1) else None)(c.mirror_report(owners=[2], mirrors=[1])))
    print("slot 1 mirror rows:", [x for x in rows if x[2] == 1])
    for k in list(c.procs):
        if isinstance(k, str):
            p = c.procs.pop(k)
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)


def force_monitors_up(c):
    """This host has no port1 or port2, so they count as down: the test sets
    their states. Chassis 1's change reaches chassis 2 with its next
    heartbeat: meanwhile chassis 2 may count more interfaces up than it
    and take the role for a moment (as FortiOS would). The test starts only
    once that has settled: chassis 1 primary again and ready for traffic."""
    for ch in (1, 2):
        for intf in ("port1", "port2"):
            c.cli(ch, "diagnose", "sys", "ha", "monitor", intf, "up")

    def settled():
        s1, s2 = c.status(1), c.status(2)
        return (s1["monitored_up"] == 2 and s2["monitored_up"] == 2 and s1["role"] == "primary" and
                s1["traffic_ready"] and s2["role"] == "secondary" and owned(s2) == 0)
    c.wait_for("chassis 1 to hold the traffic with every monitor up", settled, timeout=15)
    time.sleep(1.0)  # two heartbeats more: no late flip
    assert settled(), (c.status(1)["role"], c.status(2)["role"])


def monitor_down(make):
    c = start_cluster(make)
    force_monitors_up(c)
    traffic, before = run_traffic_until_established(c)
    r = c.cli(1, "diagnose", "sys", "ha", "monitor", "port1", "down")
    assert r["monitored_up"] == 1, r
    check_new_owner(c, before, 2, traffic)
    st1 = c.wait_for("chassis 1 to step down", lambda: (lambda s: s if s["role"] == "secondary" else None)(c.status(1)))
    c.wait_for("chassis 1 to own nothing", lambda: owned(c.status(1)) == 0)
    c.wait_mirrors_match(owners=[2], mirrors=[1])
    # The interface comes back: no failback without override.
    c.cli(1, "diagnose", "sys", "ha", "monitor", "port1", "up")
    time.sleep(2.0)
    assert c.status(2)["role"] == "primary" and c.status(1)["role"] == "secondary", "failback without override"
    # A manual failover on chassis 2 moves the role back, and the sessions
    # with it: every one chassis 1 mirrors (the traffic is over, so only
    # timers change the tables now; what expired on the mirror is counted).
    held = h.MirrorCount(c, 1)
    c.cli(2, "execute", "ha", "failover", "set")
    st = c.wait_for("chassis 1 to be primary again", lambda: (lambda s: s if s["role"] == "primary" else None)(c.status(1)))
    c.wait_for("chassis 2 to own nothing", lambda: owned(c.status(2)) == 0)
    held.expect_adopted()
    print("manual failover back: chassis 1 adopted %d of the %d it mirrored (%d expired)" % (held.adopted, held.mirrored, held.expired))


def failback_with_override(make):
    c = start_cluster(make, override=True)
    force_monitors_up(c)
    traffic, before = run_traffic_until_established(c)
    c.cli(1, "diagnose", "sys", "ha", "monitor", "port1", "down")
    check_new_owner(c, before, 2, traffic)
    c.wait_for("chassis 1 to own nothing", lambda: owned(c.status(1)) == 0)
    c.wait_mirrors_match(owners=[2], mirrors=[1])
    held = h.MirrorCount(c, 1)
    # With override, the higher priority takes the role back as soon as it can.
    c.cli(1, "diagnose", "sys", "ha", "monitor", "port1", "up")
    c.wait_for("chassis 1 to fail back", lambda: c.status(1)["role"] == "primary" and c.status(2)["role"] == "secondary")
    c.wait_for("the sessions to move back", lambda: owned(c.status(2)) == 0)
    held.expect_adopted()
    c.wait_mirrors_match(owners=[1], mirrors=[2])
    print("failback under override: chassis 1 adopted %d of the %d it mirrored (%d expired)" % (held.adopted, held.mirrored, held.expired))


def kill_active_active(make):
    c = start_cluster(make, mode="a-a")
    traffic = c.traffic(background=True)
    st = c.wait_flows_synced(chassis=(1, 2))
    st1, st2 = st[1], st[2]
    own1, own2 = owned(st1), owned(st2)
    assert own1 > 200 and own2 > 200, "both chassis process traffic: %d, %d" % (own1, own2)
    c.procs[1].send_signal(signal.SIGKILL)
    c.procs[1].wait()
    del c.procs[1]
    time.sleep(0.4)  # the last deltas in, detection not yet (see kill_primary)
    held = h.MirrorCount(c, 2)
    assert c.status(2)["failovers"] == 0, "chassis 2 took over within 0.4 s of the kill: too early"
    # In active-active the survivor may already own a newer copy of a few of
    # the lost chassis's sessions (flows whose packets the traffic source
    # moved to it before the loss): adoption keeps its own and does not count
    # them. All but those (at most 2%) are adopted; none is dropped below.
    t = held.expect_adopted(share=0.98)
    time.sleep(2.0)
    t2 = c.counter_totals(2, live_only=True)
    assert t2["packets"] - t["packets"] > 1000, "traffic did not move to chassis 2"
    assert t2["packets_dropped"] == 0, "packets of established flows dropped: %d" % t2["packets_dropped"]
    out, _ = traffic.communicate(timeout=60)
    assert traffic.returncode == 0, out
    print("active-active: chassis 2 kept its own %d sessions and adopted %d of chassis 1's %d; none dropped"
          % (own2, t["adopted_sessions"], synced(st1)))


def kill_blade_active_active(make):
    """Active-active, blades in their own processes: kill -9 of chassis 1's
    blade 2 with flows running through both chassis. Blade 2 of chassis 2,
    its mirror, adopts its sessions; chassis 1 hands their packets over
    M1/M2; new flows of slot 2 open on chassis 1's blade 1. No packet of an
    established flow is dropped anywhere, none finds no session."""
    c = start_cluster(make, split_blades=True, mode="a-a")
    traffic = c.traffic(background=True)
    st1 = c.wait_flows_synced(chassis=(1, 2))[1]
    on2 = next(b["owned"] for b in st1["blades"] if b["slot"] == 2)
    assert on2 > 100, st1["blades"]
    blade = c.procs.pop("1/2")
    blade.send_signal(signal.SIGKILL)
    blade.wait()
    s2 = c.wait_for("chassis 2 to take over blade 2's sessions",
                    lambda: (lambda s: s if s["blade_takeovers"] == 1 else None)(c.status(2)), timeout=10)
    c.wait_for("blade 2 of chassis 2 to report its adoption",
               lambda: next(b for b in c.cli(2, "diagnose", "sys", "session", "sync")["blades"] if b["slot"] == 2)
               ["counters"]["adopted_sessions"] > 0, timeout=10)
    time.sleep(2.0)  # the flows keep sending, half of them into chassis 1
    s1, s2 = c.status(1), c.status(2)
    t1, t2 = c.counter_totals(1, live_only=True), c.counter_totals(2, live_only=True)
    adopted = t2["adopted_sessions"]
    # Every session blade 2 owned at the kill but those that ended meanwhile.
    assert 0.8 * on2 <= adopted <= on2 + 50, (adopted, on2)
    assert s1["ingress_to_peer"] > 0 and s2["ingress_from_peer"] > 0, (s1["ingress_to_peer"], s2["ingress_from_peer"])
    for st, t in ((s1, t1), (s2, t2)):
        assert st["ingress_no_session"] == 0 and st["ingress_no_live_slot"] == 0, st
        assert t["packets_dropped"] == 0, "packets dropped on chassis %d: %d" % (st["chassis"], t["packets_dropped"])
    out, _ = traffic.communicate(timeout=60)
    assert traffic.returncode == 0, out
    print("active-active blade kill: chassis 2 adopted %d of blade 2's %d sessions; chassis 1 handed it %d packets, "
          "rerouted %d; none dropped" % (adopted, on2, s1["ingress_to_peer"], s1["ingress_rerouted"]))
    for k in list(c.procs):
        if isinstance(k, str):
            p = c.procs.pop(k)
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)


if __name__ == "__main__":
    scenario = {"kill_primary": kill_primary, "kill_blade": kill_blade, "monitor_down": monitor_down,
                "failback_with_override": failback_with_override, "kill_active_active": kill_active_active,
                "kill_blade_active_active": kill_blade_active_active}[sys.argv[1]]
    sys.exit(h.main(scenario))
