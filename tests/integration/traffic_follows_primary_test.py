"""The traffic follows the primary on real kernels, and nothing else moves it.

Client and server on two Linux bridges, firewalls A (chassis 1) and B
(chassis 2) each with a leg on both (firewall_topology.BridgedPair), strict
TCP tracking and `ct state invalid drop`. The client's gateway is the
cluster address 10.0.1.1, the server's 10.0.3.1: bladesyncd on the primary
holds them (with the virtual MAC), as `config system interface` says. A long
TCP stream and a UDP stream run through A, then one fault (argv[1]):

  machine_dies           all of A's links go down and its bladesyncd is killed (-9)
  daemon_restarts        A's bladesyncd is killed (-9) and started again
  uplink_down            A's monitored uplink (wan) goes down
  monitor_server_silent  the server stops answering A's link monitor's pings
                         (virtual-mac disabled: the gratuitous ARPs move the client)
  control                machine_dies with session-pickup disable: the addresses
                         move, the sessions do not, and B breaks the stream
  active_active          a-a: each firewall holds its own traffic addresses (A
                         10.0.1.1 and 10.0.3.1, B .2); A's machine dies and B,
                         adopting A's sessions, takes A's addresses too

machine_dies and uplink_down run with standby-in-kernel: B's kernel holds
the mirrored streams before the fault, marked, and while B is secondary its
guard drops them: for 0.6 s the server's route to the client points at B's
own address, and not one datagram of the UDP stream gets through B.

Each time both streams continue through B with every byte in order and no
reset, the test moving no route or address; the client's neighbour entry
for its gateway is the virtual MAC (or, without it, B's MAC after the
gratuitous ARPs); A no longer holds the cluster addresses.
"""
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402
import firewall_topology as fw  # noqa: E402
from conntrack_failover_test import after, assert_streams_continued, finish  # noqa: E402

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flow_probe.py")

EXTRA = """
config system interface
    edit "lan"
        set ip 10.0.1.1/24
    next
    edit "wan"
        set ip 10.0.3.1/24
    next
end
config system link-monitor
    edit "upstream"
        set srcintf "wan"
        set server 10.0.3.100
        set interval 100
        set failtime 3
        set recoverytime 3
    next
end
config system conntrack
    set status enable
    set resync-interval 30{standby}
end
"""

EXTRA_AA = """
config system interface
    edit "lan"
    next
    edit "wan"
    next
end
config system conntrack
    set status enable
    set resync-interval 30
end
"""

HA_AA = """    set slots 1
    set monitor "lan" "wan"
    set arps 3
    set arps-interval 1
    set hello-holddown 1
"""

HA = """    set slots 1
    set monitor "lan" "wan"
    set pingserver-monitor-interface "wan"
    set link-failed-signal enable
    set virtual-mac {vmac}
    set arps 3
    set arps-interval 1
    set hello-holddown 1
"""


def start_flows(topo, duration):
    server = subprocess.Popen(topo.exec_args("s", [sys.executable, PROBE, "server", "--max-seconds", str(duration + 40)]),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = server.stderr.readline()
    assert line.strip() == "listening", "the probe server did not start: %r" % line
    client = subprocess.Popen(topo.exec_args("c", [sys.executable, PROBE, "client", "--server", topo.SERVER,
                                                   "--duration", str(duration), "--drain", "15"]),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return server, client


def guard_probe(c, topo):
    """B's kernel holds the mirrored streams (marked) and, secondary, drops
    their packets: the server's route to the client points at B for 0.6 s.
    Returns that window (monotonic seconds)."""
    def in_b_kernel():
        return [l for l in topo.conntrack_entries("b", topo.CLIENT) if "mark=" in l]
    rows = c.wait_for("B's kernel to hold the mirrored streams", lambda: in_b_kernel() or None, timeout=10)
    marks = [l.split("mark=")[1].split()[0] for l in rows]
    assert all(int(m) & 0x80000000 for m in marks), "standby entries without standby-mark: %s" % rows
    assert c.status(2)["standby_guard"] == "raised", c.status(2)["standby_guard"]
    assert "bladesync_standby" in topo.sh(topo.ns["b"], "nft list tables").stdout
    fw.run("ip", "-n", topo.ns["s"], "route", "add", topo.CLIENT + "/32", "via", topo.OWN["b"][1])
    t0 = time.monotonic()
    time.sleep(0.6)
    t1 = time.monotonic()  # before the route goes back: what arrives after may be through A again
    fw.run("ip", "-n", topo.ns["s"], "route", "del", topo.CLIENT + "/32")
    counter = topo.sh(topo.ns["b"], "nft list table inet bladesync_standby").stdout
    print("B's guard while secondary:", " ".join(counter.split("counter")[1].split()[:4]))
    return t0, t1


def held(c, ch, of=1):
    """Chassis ch holds the addresses the client uses (a-p: the cluster
    addresses; a-a: chassis `of`'s traffic addresses)."""
    try:
        st = c.status(ch)
        if st["mode"] == "a-a":
            return any(t["chassis"] == of and t["held"] for t in st["traffic_addresses"])
        return st["cluster_addresses"]["held"]
    except Exception:
        return False


def scenario(make, fault):
    why = fw.conntrack_missing()
    if why:
        print("SKIPPED: traffic follows the primary: %s" % why)
        return
    aa = fault == "active_active"
    vmac = fault not in ("monitor_server_silent", "active_active")
    topo = fw.BridgedPair("%04x" % random.randrange(1 << 16))
    try:
        run_fault(make, fault, topo, aa, vmac)
    finally:
        topo.close()  # also when the run fails before the streams start


def run_fault(make, fault, topo, aa, vmac):
    server = client = None
    try:
        standby = fault in ("machine_dies", "uplink_down")
        extra = EXTRA.replace("{standby}", "\n    set standby-in-kernel enable" if standby else "")
        c = make(n_chassis=2, slots=1, rate=1, duration=0, hb_interval=1, hb_lost=3, mode="a-a" if aa else "a-p",
                 addresses=topo.chassis_addresses(), netns={1: topo.ns["a"], 2: topo.ns["b"]},
                 extra=EXTRA_AA if aa else extra)
        text = open(c.config).read()
        if aa:
            text = text.replace("    set slots 1\n", HA_AA)
            text = text.replace("        edit 1\n", "        edit 1\n            set traffic-address lan 10.0.1.1/24 wan 10.0.3.1/24\n")
            text = text.replace("        edit 2\n", "        edit 2\n            set traffic-address lan 10.0.1.2/24 wan 10.0.3.2/24\n")
        else:
            text = text.replace("    set slots 1\n", HA.format(vmac="enable" if vmac else "disable"))
        if fault == "control":
            text = text.replace("    set session-pickup enable\n", "    set session-pickup disable\n")
            text = text.replace("    set session-pickup-connectionless enable\n", "")
        open(c.config, "w").write(text)
        c.start_chassis(1)
        c.wait_for("A to hold the cluster addresses", lambda: held(c, 1), timeout=20)
        c.start_chassis(2)
        c.wait_settled(timeout=30)
        st = c.status(1)
        assert st["role"] == "primary", st
        # The blades' beats reach a manager in another ZeroMQ context over
        # the in-process backplane these chassis have (once they did not).
        c.wait_for("chassis 1's manager to hear its blades' beats", lambda: c.status(1)["blade_alives"] > 0, timeout=5)
        assert "10.0.1.1" in topo.addresses("a", "lan") and "10.0.1.1" not in topo.addresses("b", "lan")
        group = st["group_id"]
        a_mac = topo.mac("a", "lan")
        if vmac:
            assert a_mac == "00:09:0f:09:%02x:%02x" % (group & 0xff, 9), a_mac  # lan: the first free index, 9
        server, client = start_flows(topo, duration=10)
        if fault != "control":
            def mirrored():
                rows = c.cli(2, "diagnose", "sys", "session", "list", "standby", "src", topo.CLIENT)["sessions"]
                return rows if {6, 17} <= {r["proto"] for r in rows} else None
            c.wait_for("B to mirror the TCP and UDP sessions", mirrored, timeout=10)
        else:
            time.sleep(2.0)
        assert topo.client_neighbour() == a_mac, "the client's gateway entry is not A's MAC: %s" % topo.client_neighbour()
        probe = None
        if standby:
            probe = guard_probe(c, topo)
        time.sleep(1.0)
        st2 = c.status(2)
        assert st2["role"] == "secondary" and not held(c, 2), st2
        assert "10.0.1.1" not in topo.addresses("b", "lan")
        if aa:
            assert held(c, 2, of=2) and "10.0.1.2" in topo.addresses("b", "lan"), "B does not hold its own address"
        b_forwarded = topo.forwarded("b")
        t_fail = time.monotonic()
        if fault in ("machine_dies", "control", "active_active"):
            topo.links_down("a")
            c.procs.pop(1).send_signal(signal.SIGKILL)
        elif fault == "daemon_restarts":
            p = c.procs.pop(1)
            p.send_signal(signal.SIGKILL)
            p.wait()
            # What systemd's ExecStopPost runs after the kill: A's addresses go at once.
            r = subprocess.run(topo.exec_args("a", [c.bladesync, "release", "--config", c.config, "--chassis", "1"]),
                               capture_output=True, text=True, timeout=20)
            assert r.returncode == 0, r.stdout + r.stderr
            assert "10.0.1.1" not in topo.addresses("a", "lan"), "bladesync release left 10.0.1.1 on A"
            assert not topo.mac("a", "lan").startswith("00:09:0f:09"), "bladesync release left the virtual MAC on A"
            c.wait_for("B to take the cluster addresses", lambda: held(c, 2), timeout=10)
            c.start_chassis(1)
        elif fault == "uplink_down":
            topo.links_down("a", ("wan",))
        elif fault == "monitor_server_silent":
            topo.drop_pings_from(topo.OWN["a"][1])
        print("fault %s at t=%.2f" % (fault, t_fail))
        c.wait_for("B to take the cluster addresses", lambda: held(c, 2), timeout=15)
        t_taken = time.monotonic()
        st2 = c.status(2)
        print("B holds the client's gateway address %.2f s after the fault" % (t_taken - t_fail))
        cli, srv = finish(server, client, timeout=60)
        server = client = None
        # B's account of the takeover, for the record.
        for line in c.log(2).splitlines():
            if any(w in line for w in ("lost peer", "role ", "takeover", "link-monitor", "adopted", "installing")):
                print("  B:", line[line.find(" ") + 1:])
    finally:
        for p in (server, client):
            if p:
                p.kill()
    print("client:", {k: v for k, v in cli.items() if k != "udp_times"})
    print("server:", srv)
    neighbour = topo.client_neighbour()
    b_mac = topo.mac("b", "lan")
    print("client's neighbour entry for 10.0.1.1: %s (A's lan %s, B's lan %s)" % (neighbour, a_mac, b_mac))
    if fault == "control":
        stalled = srv["tcp_last_arrival"] is None or srv["tcp_last_arrival"] < t_fail + 1.0
        assert stalled, "without session pickup B still passed the stream (last byte %.1f s after the fault)" % (
            srv["tcp_last_arrival"] - t_fail)
        assert srv["tcp_bytes"] < cli["tcp_sent"], "without session pickup every byte still arrived"
        assert after(cli["udp_times"], t_taken + 0.5) == 0, "without session pickup B passed the UDP stream"
        print("control: the addresses moved to B, the sessions did not, and B dropped both streams")
    else:
        assert_streams_continued(cli, srv, t_taken)
        through_b = topo.forwarded("b") - b_forwarded
        assert through_b > 500, "B forwarded only %d packets of the streams after the fault" % through_b
        if fault == "uplink_down":
            assert "10.99.0.0/16" in fw.run("ip", "-n", topo.ns["a"], "route", "show").stdout, \
                "link-failed-signal cost A its static route"
        assert neighbour == (a_mac if vmac else b_mac), "the client's gateway entry is %s" % neighbour
        if aa:
            assert "10.0.1.2" in topo.addresses("b", "lan"), "B let its own address go"
        st1 = c.status(1) if 1 in c.procs else None
        if st1:
            assert st1["role"] == "secondary" and not held(c, 1), st1
            if fault == "uplink_down":
                # link-failed-signal: A took its other monitored interface (lan) down for a second.
                assert st1["cluster_addresses"]["link_failed_signals"] == 1, st1["cluster_addresses"]
        if fault not in ("machine_dies", "active_active"):  # (a dead machine keeps what it had)
            assert "10.0.1.1" not in topo.addresses("a", "lan"), "A still holds 10.0.1.1"
        if vmac and fault != "machine_dies":
            assert not topo.mac("a", "lan").startswith("00:09:0f:09"), "A kept the virtual MAC"
        print("%s: both streams continued through B: TCP gap %.0f ms, UDP gap %.0f ms, %d bytes in order"
              % (fault, srv["tcp_max_gap_ms"], cli["udp_max_gap_ms"], srv["tcp_bytes"]))
    if aa:
        # A comes back: B lets A's addresses go once A is ready, and A takes them back.
        for d in ("lan", "wan", "m1", "m2"):
            fw.run("ip", "-n", topo.ns["a"], "link", "set", d, "up")
        c.start_chassis(1)
        c.wait_for("A to hold its own addresses again", lambda: held(c, 1, of=1) and not held(c, 2, of=1), timeout=30)
        assert "10.0.1.1" in topo.addresses("a", "lan") and "10.0.1.1" not in topo.addresses("b", "lan")
        assert "10.0.1.2" in topo.addresses("b", "lan") and "10.0.1.2" not in topo.addresses("a", "lan")
        print("A is back: it holds 10.0.1.1 again, B only its own 10.0.1.2")
    if probe:
        t0, t1 = probe
        through_b = sum(1 for x in cli["udp_times"] if t0 + 0.05 < x < t1)
        assert through_b == 0, "B, secondary, forwarded %d datagrams of a session it mirrors" % through_b
        assert c.status(2)["standby_guard"] == "lowered", "B's guard is still up as primary"
        assert "bladesync_standby" not in topo.sh(topo.ns["b"], "nft list tables").stdout
    codes = c.stop_all()
    assert all(v == 0 for v in codes.values()), "daemons did not stop cleanly on SIGTERM: %s" % codes
    assert "10.0.1.1" not in topo.addresses("b", "lan"), "B kept the cluster address after it stopped"


if __name__ == "__main__":
    fault = sys.argv[1]
    sys.exit(h.main(lambda make: scenario(make, fault)))
