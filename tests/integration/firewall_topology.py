"""A Linux firewall pair in network namespaces, for conntrack failover runs.

    client (10.9.0.1) --ca-- A --sa-- server (10.9.0.2)
           \\--cb-- B --sb--/
    A and B: M1 (169.254.201.0/24) and M2 (169.254.202.0/24) veth links.

A and B forward with nftables: `ct state invalid drop`, `ct state
established,related accept`, new connections accepted only from the client
side (a drop policy for new inbound), and strict TCP tracking
(nf_conntrack_tcp_loose=0). Routes on the client and server point through A;
fail_over_routes() moves them to B, as a VRRP address or a routing protocol
would. Needs root; everything is removed again by close().
"""
import contextlib
import os
import subprocess
import time

NFT_RULES = """
table inet fw {{
    chain forward {{
        type filter hook forward priority 0; policy drop;
        ct state invalid counter drop
        ct state established,related counter accept
        iifname "{client_if}" ct state new counter accept
        counter comment "new inbound: dropped by the policy"
    }}
}}
"""


def run(*cmd, check=True, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), (r.stderr or r.stdout).strip()))
    return r


def conntrack_missing():
    """Why this kernel cannot run the scenario, or None."""
    if not os.path.isdir("/proc/sys/net/netfilter") or not os.path.exists("/proc/sys/net/netfilter/nf_conntrack_max"):
        run("modprobe", "nf_conntrack", check=False)
        if not os.path.exists("/proc/sys/net/netfilter/nf_conntrack_max"):
            return "the kernel has no nf_conntrack (no /proc/sys/net/netfilter/nf_conntrack_max)"
    for tool in ("nft", "ip"):
        if run("sh", "-c", "command -v " + tool, check=False).returncode != 0:
            return "%s is not installed" % tool
    if os.geteuid() != 0:
        return "needs root (network namespaces, nftables)"
    return None


@contextlib.contextmanager
def conntrack_max_at_least(n):
    """net.netfilter.nf_conntrack_max raised to n (it counts per namespace
    against one global limit) for the block, and put back after it."""
    path = "/proc/sys/net/netfilter/nf_conntrack_max"
    old = open(path).read().strip()
    open(path, "w").write(str(max(int(old), n)))
    try:
        yield
    finally:
        open(path, "w").write(old)


class _Namespaces:
    """Network namespaces named after a tag, removed again by close()."""
    PREFIX, KEYS = "bs", ()

    def __init__(self, tag):
        self.tag = tag
        self.ns = {k: "%s%s%s" % (self.PREFIX, k, tag) for k in self.KEYS}
        self.created = []
        try:
            self._build()
        except Exception:
            self.close()
            raise

    def _add_namespaces(self):
        for ns in self.ns.values():
            run("ip", "netns", "add", ns)
            self.created.append(ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")

    def _firewall(self, fw, client_if):
        """Forwarding, the nftables rules and strict TCP tracking in fw."""
        self.sh(fw, "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0")
        run("ip", "netns", "exec", fw, "nft", "-f", "-", input=NFT_RULES.format(client_if=client_if))
        # Strict TCP tracking: a mid-stream packet without a session is invalid.
        self.sh(fw, "sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0")
        if self.sh(fw, "cat /proc/sys/net/netfilter/nf_conntrack_tcp_loose").stdout.strip() != "0":
            raise RuntimeError("could not set nf_conntrack_tcp_loose=0 in " + fw)

    def sh(self, ns, command, check=True):
        return run("ip", "netns", "exec", ns, "sh", "-c", command, check=check)

    def exec_args(self, key, argv):
        return ["ip", "netns", "exec", self.ns[key]] + list(argv)

    def chassis_addresses(self):
        """(m1, m2, backplane) per chassis for the bladesync config."""
        return {1: ("169.254.201.1", "169.254.202.1", "inproc"), 2: ("169.254.201.2", "169.254.202.2", "inproc")}

    def kernel_count(self, key, bladesync):
        """Entries in the kernel table of namespace `key` (`bladesync conntrack count`)."""
        out = subprocess.run(self.exec_args(key, [bladesync, "conntrack", "count"]), capture_output=True, text=True)
        return int(out.stdout.strip() or 0)

    def conntrack_entries(self, fw, match):
        out = self.sh(self.ns[fw], "conntrack -L 2>/dev/null", check=False).stdout
        return [l for l in out.splitlines() if match in l]

    def close(self):
        for ns in reversed(self.created):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for p in pids:
                subprocess.run(["kill", "-9", p], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.created = []


class FirewallPair(_Namespaces):
    PREFIX, KEYS = "bsfw", ("c", "a", "b", "s")

    # ---- building ----------------------------------------------------------
    def _veth(self, name_x, ns_x, addr_x, name_y, ns_y, addr_y):
        run("ip", "link", "add", name_x, "netns", ns_x, "type", "veth", "peer", "name", name_y, "netns", ns_y)
        for ns, name, addr in ((ns_x, name_x, addr_x), (ns_y, name_y, addr_y)):
            run("ip", "-n", ns, "addr", "add", addr, "dev", name)
            run("ip", "-n", ns, "link", "set", name, "up")

    def _build(self):
        t = self.tag
        c, a, b, s = (self.ns[k] for k in ("c", "a", "b", "s"))
        self._add_namespaces()
        self.if_names = {"ca": "ca" + t, "ac": "ac" + t, "cb": "cb" + t, "bc": "bc" + t,
                         "sa": "sa" + t, "as": "as" + t, "sb": "sb" + t, "bs": "bs" + t}
        n = self.if_names
        self._veth(n["ca"], c, "10.0.1.2/24", n["ac"], a, "10.0.1.1/24")
        self._veth(n["cb"], c, "10.0.2.2/24", n["bc"], b, "10.0.2.1/24")
        self._veth(n["sa"], s, "10.0.3.2/24", n["as"], a, "10.0.3.1/24")
        self._veth(n["sb"], s, "10.0.4.2/24", n["bs"], b, "10.0.4.1/24")
        self._veth("m1a" + t, a, "169.254.201.1/24", "m1b" + t, b, "169.254.201.2/24")
        self._veth("m2a" + t, a, "169.254.202.1/24", "m2b" + t, b, "169.254.202.2/24")
        run("ip", "-n", c, "addr", "add", "10.9.0.1/32", "dev", "lo")
        run("ip", "-n", s, "addr", "add", "10.9.0.2/32", "dev", "lo")
        run("ip", "-n", a, "route", "add", "10.9.0.1/32", "via", "10.0.1.2")
        run("ip", "-n", a, "route", "add", "10.9.0.2/32", "via", "10.0.3.2")
        run("ip", "-n", b, "route", "add", "10.9.0.1/32", "via", "10.0.2.2")
        run("ip", "-n", b, "route", "add", "10.9.0.2/32", "via", "10.0.4.2")
        run("ip", "-n", c, "route", "add", "10.9.0.2/32", "via", "10.0.1.1", "src", "10.9.0.1")
        run("ip", "-n", s, "route", "add", "10.9.0.1/32", "via", "10.0.3.1", "src", "10.9.0.2")
        for fw, client_if in ((a, n["ac"]), (b, n["bc"])):
            self._firewall(fw, client_if)

    # ---- using -------------------------------------------------------------

    def fail_over_routes(self):
        """Traffic goes through B from now on (client and server routes)."""
        run("ip", "-n", self.ns["c"], "route", "replace", "10.9.0.2/32", "via", "10.0.2.1", "src", "10.9.0.1")
        run("ip", "-n", self.ns["s"], "route", "replace", "10.9.0.1/32", "via", "10.0.4.1", "src", "10.9.0.2")
        return time.monotonic()

    def conntrack_entries(self, fw, match="10.9.0."):
        return super().conntrack_entries(fw, match)

    def nft_counters(self, fw):
        return self.sh(self.ns[fw], "nft list chain inet fw forward").stdout


class BridgedPair(_Namespaces):
    """Two firewalls on two Linux bridges, the way a pair is cabled:

        client 10.0.1.100 --[brc]-- lan: A 10.0.1.11, B 10.0.1.12   (cluster 10.0.1.1)
        server 10.0.3.100 --[brs]-- wan: A 10.0.3.11, B 10.0.3.12   (cluster 10.0.3.1)
        A and B: M1 169.254.201.0/24 and M2 169.254.202.0/24 veth links

    The bridges live in a namespace of their own (the switch). The client's
    gateway and the server's are the cluster addresses, which bladesync
    moves: nothing here moves a route or an address after the start. The
    firewalls forward with the same nftables rules and strict TCP tracking
    as FirewallPair."""

    PREFIX, KEYS = "bsbr", ("c", "a", "b", "s", "w")
    CLIENT, SERVER = "10.0.1.100", "10.0.3.100"
    OWN = {"a": ("10.0.1.11", "10.0.3.11"), "b": ("10.0.1.12", "10.0.3.12")}

    def _leg(self, ns, name, bridge, port, addr):
        run("ip", "link", "add", name, "netns", ns, "type", "veth", "peer", "name", port, "netns", self.ns["w"])
        run("ip", "-n", self.ns["w"], "link", "set", port, "master", bridge)
        run("ip", "-n", self.ns["w"], "link", "set", port, "up")
        if addr:
            run("ip", "-n", ns, "addr", "add", addr, "dev", name)
        run("ip", "-n", ns, "link", "set", name, "up")

    def _build(self):
        t = self.tag
        self._add_namespaces()
        w = self.ns["w"]
        for br in ("brc", "brs"):
            run("ip", "-n", w, "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0")
            run("ip", "-n", w, "link", "set", br, "up")
        self._leg(self.ns["c"], "eth0", "brc", "c" + t, self.CLIENT + "/24")
        self._leg(self.ns["s"], "eth0", "brs", "s" + t, self.SERVER + "/24")
        for k in ("a", "b"):
            lan, wan = self.OWN[k]
            self._leg(self.ns[k], "lan", "brc", k + "l" + t, lan + "/24")
            self._leg(self.ns[k], "wan", "brs", k + "w" + t, wan + "/24")
        a, b = self.ns["a"], self.ns["b"]
        for link, net in (("m1", "201"), ("m2", "202")):
            run("ip", "link", "add", link, "netns", a, "type", "veth", "peer", "name", link, "netns", b)
            for ns, host in ((a, "1"), (b, "2")):
                run("ip", "-n", ns, "addr", "add", "169.254.%s.%s/24" % (net, host), "dev", link)
                run("ip", "-n", ns, "link", "set", link, "up")
        run("ip", "-n", self.ns["c"], "route", "add", "default", "via", "10.0.1.1")
        run("ip", "-n", self.ns["s"], "route", "add", "default", "via", "10.0.3.1")
        for fw_ns in (a, b):  # a static route of the firewall's own, through the LAN
            run("ip", "-n", fw_ns, "route", "add", "10.99.0.0/16", "via", self.CLIENT)
        for fw in (a, b):
            # Cluster addresses are secondary addresses: they stay when another goes.
            self.sh(fw, "sysctl -qw net.ipv4.conf.all.promote_secondaries=1")
            self._firewall(fw, "lan")

    def addresses(self, fw, dev):
        out = run("ip", "-n", self.ns[fw], "-o", "-4", "addr", "show", "dev", dev, check=False).stdout
        return [line.split()[3].split("/")[0] for line in out.splitlines()]

    def mac(self, fw, dev):
        return run("ip", "-n", self.ns[fw], "-o", "link", "show", "dev", dev).stdout.split("link/ether")[1].split()[0]

    def forwarded(self, fw):
        """Packets fw forwarded for established sessions (its nftables counter)."""
        out = self.sh(self.ns[fw], "nft list chain inet fw forward").stdout
        for line in out.splitlines():
            if "established,related" in line and "counter packets" in line:
                return int(line.split("counter packets")[1].split()[0])
        return 0

    def client_neighbour(self, addr="10.0.1.1"):
        out = run("ip", "-n", self.ns["c"], "neigh", "show", addr).stdout.split()
        return out[out.index("lladdr") + 1] if "lladdr" in out else None

    def links_down(self, fw, devs=("lan", "wan", "m1", "m2")):
        for d in devs:
            run("ip", "-n", self.ns[fw], "link", "set", d, "down")

    def drop_pings_from(self, source):
        """The server stops answering pings from `source` (a link monitor's probes)."""
        run("ip", "netns", "exec", self.ns["s"], "nft", "-f", "-", input=(
            "table inet mon {\n    chain input {\n        type filter hook input priority 0; policy accept;\n"
            "        ip saddr %s icmp type echo-request counter drop\n    }\n}\n" % source))

    def conntrack_entries(self, fw, match="10.0."):
        return super().conntrack_entries(fw, match)
