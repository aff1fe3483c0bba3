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

The same again behind NAT: both firewalls translate the client to
10.99.1.1 (nftables snat), so A's nf_nat_ftp rewrites the PORT command
(one byte longer: a sequence adjustment on the control connection) and
its expectation carries the NAT function that translates the data
connection back to the client (nat-follow-master). After the failover B
translates the data connection to the client, and the control connection
goes on with B adjusting its sequence numbers.

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


NAT_ADDRESS = "10.99.1.1"
SNAT = """
table ip ftpnat {
    chain prerouting {
        type nat hook prerouting priority -100;
    }
    chain postrouting {
        type nat hook postrouting priority 100;
        ip saddr 10.9.0.1 ip daddr 10.9.0.2 snat to %s
    }
}
""" % NAT_ADDRESS


def build(tag, nat=False):
    topo = fw.FirewallPair(tag)
    for k in ("a", "b"):
        fw.run("ip", "netns", "exec", topo.ns[k], "nft", "-f", "-", input=FTP_HELPER)
        if nat:
            fw.run("ip", "netns", "exec", topo.ns[k], "nft", "-f", "-", input=SNAT)
    if nat:  # the server reaches the translated client through A, then B
        fw.run("ip", "-n", topo.ns["s"], "route", "add", NAT_ADDRESS + "/32", "via", "10.0.3.1")
    return topo


def fail_over(topo, nat):
    topo.fail_over_routes()
    if nat:
        fw.run("ip", "-n", topo.ns["s"], "route", "replace", NAT_ADDRESS + "/32", "via", "10.0.4.1")


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


def control_connection(topo, data_wait, nat=False):
    """Server and client with the control connection open and PORT sent."""
    server = Probe(topo, "s", ["server", "--bind", "10.9.0.2", "--timeout", "30"])
    assert server.p.stderr.readline().strip() == "listening", "the FTP server did not start"
    client = Probe(topo, "c", ["client", "--bind", "10.9.0.1", "--server", "10.9.0.2", "--data-wait", str(data_wait)])
    assert client.line() == "port-sent", "the PORT command was not answered"
    # Behind NAT the server sees the translated address: A's nf_nat_ftp rewrote PORT.
    assert server.line() == "port %s 50000" % (NAT_ADDRESS if nat else "10.9.0.1")
    return server, client


def expectations(topo, fw_key):
    out = topo.sh(topo.ns[fw_key], "conntrack -L expect 2>/dev/null", check=False).stdout
    return [l for l in out.splitlines() if "dport=50000" in l]


def control_entry(topo, fw_key):
    """The control connection in fw_key's kernel, as `bladesync conntrack dump` shows it."""
    out = subprocess.run(topo.exec_args(fw_key, [h.find_binary("bladesync"), "conntrack", "dump"]),
                         capture_output=True, text=True).stdout
    return "\n".join(l for l in out.splitlines() if "10.9.0.2:21 " in l)


def with_bladesync(make, topo, nat=False):
    c = make(n_chassis=2, slots=1, rate=1, duration=0, hb_interval=1, hb_lost=3,
             addresses=topo.chassis_addresses(), netns={1: topo.ns["a"], 2: topo.ns["b"]}, extra=CONNTRACK_CONFIG)
    c.start_chassis(1)
    c.start_chassis(2)
    c.wait_settled(timeout=30)
    assert c.status(1)["role"] == "primary", c.status(1)
    server, client = control_connection(topo, data_wait=30, nat=nat)
    try:
        assert expectations(topo, "a"), "A's FTP helper expects no data connection"
        # The control connection is mirrored on B with its helper and the
        # expectation riding in it (the session list shows both).
        def mirrored():
            rows = c.cli(2, "diagnose", "sys", "session", "list", "standby", "dport", "21")["sessions"]
            return [r for r in rows if r.get("helper") == "ftp" and r.get("expectations") == 1]
        print("B mirrors:", c.wait_for("B to mirror the control connection and its expectation", mirrored, timeout=10))
        if nat:  # A rewrote PORT: its kernel adjusts the control connection's sequence numbers
            assert "seqadj" in control_entry(topo, "a"), control_entry(topo, "a")
        c.procs.pop(1).send_signal(signal.SIGKILL)
        fail_over(topo, nat)
        print("killed A's agent and moved the routes to B")
        c.wait_for("B to take over", lambda: c.status(2)["processes_traffic"], timeout=10)
        c.wait_for("B's kernel to expect the data connection", lambda: expectations(topo, "b"), timeout=10)
        print("B expects:", expectations(topo, "b"))
        if nat:  # ... and so does B's, or the QUIT below would reach the server a byte off
            print("B's control connection:", control_entry(topo, "b"))
            assert "seqadj" in control_entry(topo, "b")
        server.tell("open")
        assert server.line() == "data-open", "the server could not open the data connection through B"
        assert client.line() == "data the_file", "the client did not get the data connection"
        client.tell("quit")
        server.tell("quit")
        got = client.line(), server.line()
        assert got == ("quit-ok", "quit-ok"), "the control connection did not go on through B: %s" % (got,)
        print(topo.nft_counters("b"))
    finally:
        server.close()
        client.close()
    codes = c.stop_all()
    assert all(v == 0 for v in codes.values()), "daemons did not stop cleanly on SIGTERM: %s" % codes


def control_run(topo, nat=False):
    server, client = control_connection(topo, data_wait=8, nat=nat)
    try:
        assert expectations(topo, "a"), "A's FTP helper expects no data connection"
        fail_over(topo, nat)
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
    for nat in (False, True):
        print("---- %s ----" % ("behind NAT" if nat else "no NAT"))
        topo = build(tag, nat)
        try:
            with_bladesync(make, topo, nat)
        finally:
            topo.close()
        topo = build(tag, nat)
        try:
            control_run(topo, nat)
        finally:
            topo.close()


if __name__ == "__main__":
    sys.exit(h.main(test))
