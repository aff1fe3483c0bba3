"""An FTP data connection the server opens after a failover is let in.

The FirewallPair of conntrack_failover_test (A = chassis 1, B = chassis 2,
nftables `ct state established,related accept` and new inbound dropped), with
the kernel's FTP helper assigned by nftables on both (`ct helper set` for
TCP port 21). The client opens an active-mode control connection through A
and sends PORT: A's FTP helper expects the server's data connection to the
client (an expectation of the control connection). A's bladesyncd is killed
(kill -9), the routes move to B, and then the server opens the data
connection:

  with bladesync: B installed the control connection with its helper and
    the expectation (conntrack -L expect shows it), the data connection is
    RELATED and accepted, and the control connection goes on (QUIT, 221);
  control (no bladesync): B has no expectation and drops the data
    connection as new inbound.

Skipped, with the reason printed, where the kernel has no conntrack.
"""
import os
import random
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402
import firewall_topology as fw  # noqa: E402

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ftp_probe.py")

FTP_HELPER = """
table inet ftphelper {
    ct helper ftp-standard {
        type "ftp" protocol tcp;
    }
    chain prerouting {
        type filter hook prerouting priority 0;
        tcp dport 21 ct helper set "ftp-standard"
    }
}
"""

CONNTRACK_CONFIG = """
config system conntrack
    set status enable
    set resync-interval 30
end
"""


def build(tag):
    topo = fw.FirewallPair(tag)
    for k in ("a", "b"):
        fw.run("ip", "netns", "exec", topo.ns[k], "nft", "-f", "-", input=FTP_HELPER)
    return topo


class Probe:
    def __init__(self, topo, ns, argv):
        self.p = subprocess.Popen(topo.exec_args(ns, [sys.executable, PROBE] + argv), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def line(self):
        got = self.p.stdout.readline().strip()
        if not got:
            raise AssertionError("the FTP probe ended: %s" % self.p.stderr.read())
        return got

    def tell(self, word):
        self.p.stdin.write(word + "\n")
        self.p.stdin.flush()

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def control_connection(topo, data_wait):
    """Server and client with the control connection open and PORT sent."""
    server = Probe(topo, "s", ["server", "--bind", "10.9.0.2", "--timeout", "30"])
    assert server.p.stderr.readline().strip() == "listening", "the FTP server did not start"
    client = Probe(topo, "c", ["client", "--bind", "10.9.0.1", "--server", "10.9.0.2", "--data-wait", str(data_wait)])
    assert client.line() == "port-sent", "the PORT command was not answered"
    assert server.line() == "port 10.9.0.1 50000"
    return server, client


def expectations(topo, fw_key):
    out = topo.sh(topo.ns[fw_key], "conntrack -L expect 2>/dev/null", check=False).stdout
    return [l for l in out.splitlines() if "dport=50000" in l]


def with_bladesync(make, topo):
    c = make(n_chassis=2, slots=1, rate=1, duration=0, hb_interval=1, hb_lost=3,
             addresses=topo.chassis_addresses(), netns={1: topo.ns["a"], 2: topo.ns["b"]}, extra=CONNTRACK_CONFIG)
    c.start_chassis(1)
    c.start_chassis(2)
    c.wait_settled(timeout=30)
    assert c.status(1)["role"] == "primary", c.status(1)
    server, client = control_connection(topo, data_wait=30)
    try:
        assert expectations(topo, "a"), "A's FTP helper expects no data connection"
        # The control connection is mirrored on B with its helper and the
        # expectation riding in it (the session list shows both).
        def mirrored():
            rows = c.cli(2, "diagnose", "sys", "session", "list", "standby", "dport", "21")["sessions"]
            return [r for r in rows if r.get("helper") == "ftp" and r.get("expectations") == 1]
        print("B mirrors:", c.wait_for("B to mirror the control connection and its expectation", mirrored, timeout=10))
        c.procs.pop(1).send_signal(signal.SIGKILL)
        topo.fail_over_routes()
        print("killed A's agent and moved the routes to B")
        c.wait_for("B to take over", lambda: c.status(2)["processes_traffic"], timeout=10)
        c.wait_for("B's kernel to expect the data connection", lambda: expectations(topo, "b"), timeout=10)
        print("B expects:", expectations(topo, "b"))
        server.tell("open")
        assert server.line() == "data-open", "the server could not open the data connection through B"
        assert client.line() == "data the_file", "the client did not get the data connection"
        client.tell("quit")
        server.tell("quit")
        assert client.line() == "quit-ok", "the control connection did not go on through B"
        assert server.line() == "quit-ok"
        print(topo.nft_counters("b"))
    finally:
        server.close()
        client.close()
    codes = c.stop_all()
    assert all(v == 0 for v in codes.values()), "daemons did not stop cleanly on SIGTERM: %s" % codes


def control_run(topo):
    server, client = control_connection(topo, data_wait=8)
    try:
        assert expectations(topo, "a"), "A's FTP helper expects no data connection"
        topo.fail_over_routes()
        assert not expectations(topo, "b")
        server.tell("open")
        got = server.line()
        assert got.startswith("data-failed"), "without bladesync B let the data connection in: %s" % got
        assert client.line() == "data-timeout"
        print("control: B dropped the data connection (%s), as expected" % got)
    finally:
        server.close()
        client.close()


def test(make):
    why = fw.conntrack_missing()
    if why:
        print("SKIPPED: conntrack FTP failover test: %s" % why)
        return
    tag = "%04x" % random.randrange(1 << 16)
    topo = build(tag)
    try:
        with_bladesync(make, topo)
    finally:
        topo.close()
    topo = build(tag)
    try:
        control_run(topo)
    finally:
        topo.close()


if __name__ == "__main__":
    sys.exit(h.main(test))
