"""Real kernel connections survive the loss of the firewall they used.

Two Linux firewalls (A = chassis 1, B = chassis 2) in network namespaces,
each running bladesyncd with `config system conntrack`: the blade follows
the kernel's conntrack table, syncs it over M1/M2, and installs it into the
kernel on promotion. A long-lived TCP stream and a UDP flow (server ->
client, so it is "new inbound" for a firewall without the session) run
through A. A's agent is killed (kill -9) and the routes move to B:

  with bladesync: the TCP stream goes on without a reset, every byte arrives
    in order, and the UDP flow goes on;
  control (no bladesync): B drops the stream (strict TCP tracking makes its
    packets invalid) and the UDP flow (new inbound).

A second run does the same with standby-in-kernel and 100,000 established
entries in A's kernel besides the two flows: B's kernel holds all of them
(and the flows) before the failover, and the stream still sees no reset.

Skipped, with the reason printed, where the kernel has no conntrack.
"""
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402
import firewall_topology as fw  # noqa: E402

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flow_probe.py")

CONNTRACK_CONFIG = """
config system conntrack
    set status enable
    set resync-interval 30
end
"""


def start_flows(topo, duration):
    server = subprocess.Popen(topo.exec_args("s", [sys.executable, PROBE, "server", "--max-seconds", str(duration + 40)]),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = server.stderr.readline()  # its first line once both sockets are bound (EOF if it died)
    assert line.strip() == "listening", "the probe server did not start: %r" % line
    client = subprocess.Popen(topo.exec_args("c", [sys.executable, PROBE, "client", "--server", "10.9.0.2",
                                                   "--duration", str(duration), "--drain", "15"]),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return server, client


def finish(server, client, timeout):
    out_c, err_c = client.communicate(timeout=timeout)
    time.sleep(0.5)
    server.send_signal(signal.SIGTERM)
    out_s, err_s = server.communicate(timeout=10)
    if not out_c.strip() or not out_s.strip():
        raise AssertionError("a probe printed nothing: client %r %r server %r %r" % (out_c, err_c, out_s, err_s))
    return json.loads(out_c.strip().splitlines()[-1]), json.loads(out_s.strip().splitlines()[-1])


def after(times, t):
    return sum(1 for x in times if x > t)


def assert_streams_continued(cli, srv, t, udp_margin=1.0):
    """No reset, every TCP byte arrived in order, and both streams went on
    after t (the UDP stream with more than 50 datagrams after t + udp_margin)."""
    assert cli["tcp_error"] is None, "the TCP stream was reset or failed: %s" % cli["tcp_error"]
    assert cli["tcp_unacked"] == 0, "bytes left unacknowledged: %s" % cli["tcp_unacked"]
    assert srv["tcp_pattern_ok"], "bytes arrived out of order or corrupted at offset %s" % srv["tcp_bad_at"]
    assert srv["tcp_bytes"] == cli["tcp_sent"], "sent %d bytes, %d arrived" % (cli["tcp_sent"], srv["tcp_bytes"])
    assert srv["tcp_last_arrival"] and srv["tcp_last_arrival"] > t + 2, "the TCP stream did not continue"
    udp_after = after(cli["udp_times"], t + udp_margin)
    assert udp_after > 50, "the UDP stream did not continue through B (%d datagrams after failover)" % udp_after


def with_bladesync(make, topo, standby=False, preload=0):
    extra = CONNTRACK_CONFIG.replace("end", "    set standby-in-kernel enable\nend") if standby else CONNTRACK_CONFIG
    c = make(n_chassis=2, slots=1, rate=1, duration=0, hb_interval=1, hb_lost=3,
             addresses=topo.chassis_addresses(), netns={1: topo.ns["a"], 2: topo.ns["b"]}, extra=extra)
    c.start_chassis(1)
    c.start_chassis(2)
    c.wait_settled(timeout=30)
    assert c.status(1)["role"] == "primary", c.status(1)
    if preload:
        # Masqueraded, as a firewall's entries mostly are: source NAT only
        # (a Nat4 with the destination side 0.0.0.0 on the wire).
        r = subprocess.run(topo.exec_args("a", [h.find_binary("bladesync"), "conntrack", "install", str(preload), "snat"]),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        c.wait_for("B's kernel to hold A's %d entries" % preload, lambda: topo.kernel_count("b", h.find_binary("bladesync")) >= preload,
                   timeout=60, interval=0.5)
        print("B's kernel holds", topo.kernel_count("b", h.find_binary("bladesync")), "entries")
        dump = json.loads(subprocess.run(topo.exec_args("b", [h.find_binary("bladesync"), "conntrack", "dump", "--json"]),
                                         capture_output=True, text=True, check=True).stdout)["entries"]
        preloaded = [e for e in dump if e["key"].startswith("tcp 10.200.")]
        assert len(preloaded) == preload, "B's kernel has %d of the %d preloaded entries" % (len(preloaded), preload)
        wrong = [e for e in preloaded if e["reply_dst"] != "203.0.113.1" or not e["reply_src"].startswith("10.201.")
                 or e["reply_sport"] != 443 or e["reply_dport"] < 1024]
        assert not wrong, "entries not masqueraded as on A (%d), e.g. %s" % (len(wrong), wrong[:2])
    server, client = start_flows(topo, duration=9)
    try:
        # Both flows are in A's kernel, in A's blade, and mirrored on B.
        def mirrored():
            rows = c.cli(2, "diagnose", "sys", "session", "list", "standby", "src", "10.9.0.1")["sessions"]
            protos = {r["proto"] for r in rows}
            return rows if {6, 17} <= protos else None
        rows = c.wait_for("B to mirror the TCP and UDP sessions", mirrored, timeout=10)
        print("B mirrors:", ["%s %s:%s->%s:%s" % (r["proto"], r["src"], r["sport"], r["dst"], r["dport"]) for r in rows])
        if standby:
            c.wait_for("B's kernel to hold the flows", lambda: len(topo.conntrack_entries("b")) >= 2, timeout=10)
        else:
            assert not topo.conntrack_entries("b"), "B's kernel has the flows before any failover"
        time.sleep(1.0)
        c.procs.pop(1).send_signal(signal.SIGKILL)
        t_fail = topo.fail_over_routes()
        print("killed A's agent and moved the routes to B")
        c.wait_for("B to take over", lambda: c.status(2)["processes_traffic"], timeout=10)
        cli, srv = finish(server, client, timeout=60)
    except Exception:
        server.kill()
        client.kill()
        raise
    print("client:", {k: v for k, v in cli.items() if k != "udp_times"})
    print("server:", srv)
    print("B's kernel after failover:", topo.conntrack_entries("b"))
    assert_streams_continued(cli, srv, t_fail, udp_margin=1.5)
    # B's agent stops cleanly before its namespace goes (which kills what is left in it).
    codes = c.stop_all()
    assert all(v == 0 for v in codes.values()), "daemons did not stop cleanly on SIGTERM: %s" % codes
    return {"tcp_gap_ms": srv["tcp_max_gap_ms"], "udp_gap_ms": cli["udp_max_gap_ms"]}


def control_run(topo):
    server, client = start_flows(topo, duration=6)
    try:
        time.sleep(2.0)
        t_fail = topo.fail_over_routes()
        cli, srv = finish(server, client, timeout=60)
    except Exception:
        server.kill()
        client.kill()
        raise
    print("control client:", {k: v for k, v in cli.items() if k != "udp_times"})
    print("control server:", srv)
    stalled = srv["tcp_last_arrival"] is None or srv["tcp_last_arrival"] < t_fail + 1.0
    assert stalled, "without bladesync B still passed the TCP stream (last byte %.1fs after the move)" % (
        srv["tcp_last_arrival"] - t_fail)
    assert srv["tcp_bytes"] < cli["tcp_sent"], "without bladesync every byte still arrived"
    udp_after = after(cli["udp_times"], t_fail + 1.0)
    assert udp_after == 0, "without bladesync B passed %d UDP datagrams" % udp_after
    print("control: B dropped the TCP stream and the UDP flow, as expected")


def test(make):
    why = fw.conntrack_missing()
    if why:
        print("SKIPPED: conntrack failover test: %s" % why)
        return
    tag = "%04x" % random.randrange(1 << 16)
    topo = fw.FirewallPair(tag)
    try:
        gaps = with_bladesync(make, topo)
        print("with bladesync: gaps %s" % gaps)
    finally:
        topo.close()
    topo = fw.FirewallPair(tag)
    try:
        gaps = with_bladesync(make, topo, standby=True, preload=100000)
        print("with bladesync, standby-in-kernel and 100,000 more entries: gaps %s" % gaps)
    finally:
        topo.close()
    topo = fw.FirewallPair(tag)
    try:
        control_run(topo)
    finally:
        topo.close()


if __name__ == "__main__":
    sys.exit(h.main(test))
