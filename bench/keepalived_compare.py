#!/usr/bin/env python3
"""bladesync against keepalived + conntrackd: the interruption at the client
when the primary firewall's machine dies, side by side in one run.

Topology: tests/integration/firewall_topology.BridgedPair (client and server
on two Linux bridges, firewalls A and B with a leg on each, nftables with
`ct state invalid drop`, strict TCP tracking, M1/M2 veth links between A
and B). The client's and the server's gateways are the cluster addresses
10.0.1.1 and 10.0.3.1.

  keepalived + conntrackd: Debian's keepalived (VRRPv3 on the LAN, as it is
      usually deployed: on M1, a veth that loses carrier with A, B would
      go to FAULT and drop the addresses; advert_int 0.1 s:
      the backup takes over about 3 adverts after the last one, like
      bladesync's hb-interval 1 x hb-lost-threshold 3), the virtual
      addresses on lan and wan; conntrackd FTFW over UDP on M1 with the
      external cache, and as notify_master the script conntrackd's
      documentation gives (Debian's /usr/share/doc/conntrackd/examples/sync/
      primary-backup.sh, its config path pointed at ours): commit, flush,
      resync, bulk send.
  bladesync: bladesyncd with `config system conntrack` and the same
      cluster addresses in `config system interface`, hb-interval 1,
      hb-lost-threshold 3, virtual-mac enable, standby-in-kernel enable
      (B's kernel holds what it mirrors: promotion installs nothing).

Each run: N established entries (default 100000) go into A's kernel table
and wait until B holds them; a TCP stream (client -> server, 1000-byte
writes every 5 ms) and a UDP stream (server -> client, every 10 ms) start
through A; once B mirrors them, A's machine dies: all its links go down
and its daemons are killed (-9). Reported: the longest silence of the TCP
stream at the server and of the UDP stream at the client (last datagram
before, first after), and whether every TCP byte arrived in order.

  bazel build //cmd:all && sudo python3 bench/keepalived_compare.py [--runs R] [--fast] [N]

--fast: 10 ms timers on both sides: bladesync `hb-interval-in-milliseconds
10ms` (hb-interval 1 x hb-lost-threshold 3: 33 ms), keepalived
`advert_int 0.01` (3 adverts plus skew: 30-40 ms).

A run in which either system failed over before the fault (a backup that
stopped hearing the primary under the sync's load) measures nothing: it is
counted, reported, and run again (at most 3 x R attempts).

Prints one JSON line per run and a summary: median, min and max of each
figure over the runs, and the ratio of bladesync's median to keepalived +
conntrackd's. Needs root; raises net.netfilter.nf_conntrack_max for the run
and puts it back.
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import cluster_harness as h  # noqa: E402
import firewall_topology as fw  # noqa: E402
from conntrackd_compare import CONNTRACKD_CONF  # noqa: E402

PROBE = os.path.join(HERE, "..", "tests", "integration", "flow_probe.py")
PRIMARY_BACKUP = "/usr/share/doc/conntrackd/examples/sync/primary-backup.sh"

KEEPALIVED_CONF = """
global_defs {{
    router_id fw-{x}
    vrrp_rt_priority 50
    enable_script_security
    script_user root
}}
vrrp_instance cluster {{
    state {state}
    interface lan
    virtual_router_id 51
    priority {priority}
    version 3
    advert_int {advert_int}
    virtual_ipaddress {{
        10.0.1.1/24 dev lan
        10.0.3.1/24 dev wan
    }}
    garp_master_delay 1
    garp_master_repeat 3
    notify_master "{notify} primary"
    notify_backup "{notify} backup"
}}
"""

BLADESYNC_EXTRA = """
config system interface
    edit "lan"
        set ip 10.0.1.1/24
    next
    edit "wan"
        set ip 10.0.3.1/24
    next
end
config system conntrack
    set status enable
    set event-buffer-size 67108864
    set event-buffer-size-max 268435456
    set resync-interval 60
    set standby-in-kernel enable
end
"""


class KeepalivedConntrackd:
    name = "keepalived+conntrackd"

    def __init__(self, topo, fast):
        self.topo = topo
        self.advert_int = "0.01" if fast else "0.1"
        self.dir = tempfile.mkdtemp(prefix="bs-ka-")
        self.procs = {}
        self.ct_conf, self.ka_conf = {}, {}
        for x, local, peer, prio, state in (("a", "169.254.201.1", "169.254.201.2", 200, "MASTER"),
                                            ("b", "169.254.201.2", "169.254.201.1", 100, "BACKUP")):
            self.ct_conf[x] = os.path.join(self.dir, "conntrackd-%s.conf" % x)
            open(self.ct_conf[x], "w").write(
                CONNTRACKD_CONF.format(local=local, peer=peer, iface="m1", dir=self.dir, x=x)
                .replace("IPv4_address 127.0.0.1", "IPv4_address 127.0.0.1\n            IPv4_address 10.0.1.1\n"
                         "            IPv4_address 10.0.3.1"))
            notify = os.path.join(self.dir, "primary-backup-%s.sh" % x)
            script = open(PRIMARY_BACKUP).read()
            script = re.sub(r"^CONNTRACKD_CONFIG=.*$", "CONNTRACKD_CONFIG=" + self.ct_conf[x], script, flags=re.M)
            script = re.sub(r"^CONNTRACKD_LOCK=.*$", "CONNTRACKD_LOCK=%s/conntrackd-%s.lock" % (self.dir, x), script,
                            flags=re.M)
            open(notify, "w").write(script)
            os.chmod(notify, 0o755)
            self.ka_conf[x] = os.path.join(self.dir, "keepalived-%s.conf" % x)
            open(self.ka_conf[x], "w").write(KEEPALIVED_CONF.format(x=x, state=state, priority=prio,
                                                                     notify=notify, advert_int=self.advert_int))

    def start(self):
        for x in ("a", "b"):
            self.procs["ct" + x] = subprocess.Popen(self.topo.exec_args(x, ["conntrackd", "-C", self.ct_conf[x]]),
                                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        for x in ("a", "b"):
            pid = os.path.join(self.dir, "keepalived-%s" % x)
            self.procs["ka" + x] = subprocess.Popen(
                self.topo.exec_args(x, ["keepalived", "--dont-fork", "--log-console", "--vrrp", "-f", self.ka_conf[x],
                                        "-p", pid + ".pid", "-r", pid + "-vrrp.pid"]),
                stdout=open(pid + ".log", "w"), stderr=subprocess.STDOUT)
            if x == "a":
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and "10.0.1.1" not in self.topo.addresses("a", "lan"):
                    time.sleep(0.1)
                if "10.0.1.1" not in self.topo.addresses("a", "lan"):
                    raise RuntimeError("keepalived on A did not take the virtual addresses: " + open(pid + ".log").read()[-2000:])
        time.sleep(1.0)
        for k, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError("%s exited" % k)
        log_b = open(os.path.join(self.dir, "keepalived-b.log")).read()
        if "Entering MASTER" in log_b or "10.0.1.1" in self.topo.addresses("b", "lan"):
            raise RuntimeError("keepalived on B is master as well: it does not hear A\n" + log_b[-1500:])

    def ctl(self, x, *args, timeout=30):
        return subprocess.run(self.topo.exec_args(x, ["conntrackd", "-C", self.ct_conf[x]] + list(args)),
                              capture_output=True, text=True, timeout=timeout)

    def mirrored(self):
        out = self.ctl("b", "-s", "cache").stdout
        m = re.search(r"cache:external\s+active objects:\s+(\d+)", out)
        return int(m.group(1)) if m else 0

    def has_flows(self):
        return self.topo.CLIENT in self.ctl("b", "-e").stdout

    def kill_a(self):
        kill_namespace(self.topo.ns["a"])
        for k in ("kaa", "cta"):
            self.procs[k].wait()

    def b_took_over(self):
        return "10.0.1.1" in self.topo.addresses("b", "lan")

    def b_is_backup(self):
        log_b = open(os.path.join(self.dir, "keepalived-b.log")).read()
        return "Entering MASTER" not in log_b and not self.b_took_over()

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()


class Bladesync:
    name = "bladesync"

    def __init__(self, topo, fast):
        self.topo = topo
        self.c = h.Cluster(n_chassis=2, slots=1, rate=1, duration=0, hb_interval=1, hb_lost=3,
                           addresses=topo.chassis_addresses(), netns={1: topo.ns["a"], 2: topo.ns["b"]},
                           extra=BLADESYNC_EXTRA)
        text = open(self.c.config).read().replace("    set slots 1\n", "    set slots 1\n    set virtual-mac enable\n"
                                                  "    set hello-holddown 1\n" +
                                                  ("    set hb-interval-in-milliseconds 10ms\n" if fast else ""))
        open(self.c.config, "w").write(text)

    def start(self):
        self.c.start_chassis(1)
        self.c.wait_for("A to hold the cluster addresses", lambda: self.c.status(1)["cluster_addresses"]["held"], timeout=20)
        self.c.start_chassis(2)
        self.c.wait_settled(timeout=30)

    def mirrored(self):
        st = self.c.cli(2, "get", "system", "ha", "status", check=False)
        return sum(s["sessions"] for b in st["blades"] for s in b["standby"] if s["owner"] == 1) if st else 0

    def has_flows(self):
        rows = self.c.cli(2, "diagnose", "sys", "session", "list", "standby", "src", self.topo.CLIENT)["sessions"]
        return {6, 17} <= {r["proto"] for r in rows}

    def kill_a(self):
        kill_namespace(self.topo.ns["a"])
        self.c.procs.pop(1).wait()

    def b_took_over(self):
        return "10.0.1.1" in self.topo.addresses("b", "lan")

    def b_is_backup(self):
        return self.c.status(2)["role"] == "secondary" and not self.b_took_over()

    def stop(self):
        self.c.stop_all()


def kill_namespace(ns):
    """kill -9 of every process in the namespace at once, as a machine that
    dies: no process outlives another long enough to say goodbye (keepalived's
    VRRP child, told of its parent's death, would send a priority-0 advert)."""
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
    if pids:
        subprocess.run(["kill", "-9"] + pids, capture_output=True)


def wait(what, cond, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise RuntimeError("timed out waiting for " + what)


def gap_run(system_cls, n, bladesync, fast):
    topo = fw.BridgedPair("%04x" % random.randrange(1 << 16))
    sysm = system_cls(topo, fast)
    server = client = None
    try:
        sysm.start()
        r = subprocess.run(topo.exec_args("a", [bladesync, "conntrack", "install", str(n), "--json"]),
                           capture_output=True, text=True)
        installed = json.loads(r.stdout)["installed"]
        wait("B to hold the %d entries" % n, lambda: sysm.mirrored() >= n, timeout=300, interval=0.2)
        server = subprocess.Popen(topo.exec_args("s", [sys.executable, PROBE, "server", "--max-seconds", "90"]),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert server.stderr.readline().strip() == "listening"
        client = subprocess.Popen(topo.exec_args("c", [sys.executable, PROBE, "client", "--server", topo.SERVER,
                                                       "--duration", "12", "--drain", "20"]),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait("B to mirror the streams", sysm.has_flows, timeout=15)
        time.sleep(1.0)
        if not sysm.b_is_backup():
            # A false failover before the fault (under the sync's load): no
            # measurement, reported as such.
            return {"entries": installed, "false_failover_before_fault": True}
        # As a machine that dies: its processes stop with no last word, and its links go.
        t_fail = time.monotonic()
        sysm.kill_a()
        topo.links_down("a")
        wait("B to take the addresses", sysm.b_took_over, timeout=30, interval=0.01)
        t_taken = time.monotonic()
        out_c = client.communicate(timeout=90)[0]
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        out_s = server.communicate(timeout=10)[0]
        server = client = None
        cli, srv = json.loads(out_c.strip().splitlines()[-1]), json.loads(out_s.strip().splitlines()[-1])
        intact = cli["tcp_error"] is None and srv["tcp_pattern_ok"] and srv["tcp_bytes"] == cli["tcp_sent"]
        return {"entries": installed, "addresses_moved_s": round(t_taken - t_fail, 3),
                "tcp_gap_ms": srv["tcp_max_gap_ms"], "udp_gap_ms": cli["udp_max_gap_ms"], "tcp_intact": intact,
                "tcp_error": cli["tcp_error"], "tcp_lost_bytes": cli["tcp_sent"] - srv["tcp_bytes"]}
    finally:
        for p in (server, client):
            if p:
                p.kill()
        sysm.stop()
        topo.close()


def spread(values):
    v = sorted(values)
    return {"median": v[len(v) // 2], "min": v[0], "max": v[-1]}


def main():
    args = sys.argv[1:]
    runs = 5
    if args[:1] == ["--runs"]:
        runs, args = int(args[1]), args[2:]
    fast = args[:1] == ["--fast"]
    if fast:
        args = args[1:]
    n = int(args[0]) if args else 100000
    why = fw.conntrack_missing()
    if why:
        print("cannot run: " + why)
        return 2
    for tool in ("keepalived", "conntrackd"):
        if subprocess.run(["sh", "-c", "command -v " + tool], capture_output=True).returncode != 0:
            print("cannot run: %s is not installed (bash tools/install-deps.sh)" % tool)
            return 2
    bladesync = h.find_binary("bladesync")
    ct_max_path = "/proc/sys/net/netfilter/nf_conntrack_max"
    old_max = open(ct_max_path).read().strip()
    open(ct_max_path, "w").write(str(max(int(old_max), 3 * n + 100000)))
    results = []
    false_failovers = {"bladesync": 0, "keepalived+conntrackd": 0}
    try:
        attempts = 0
        while len(results) < runs and attempts < 3 * runs:
            attempts += 1
            row = {}
            for cls in (Bladesync, KeepalivedConntrackd):
                row[cls.name] = gap_run(cls, n, bladesync, fast)
                print(json.dumps({"run": attempts, "system": cls.name, **row[cls.name]}), flush=True)
                false_failovers[cls.name] += row[cls.name].get("false_failover_before_fault", False)
            if not any(r.get("false_failover_before_fault") for r in row.values()):
                results.append(row)
    finally:
        open(ct_max_path, "w").write(old_max)
    summary = {}
    for name in ("bladesync", "keepalived+conntrackd"):
        summary[name] = {k: spread([r[name][k] for r in results]) for k in ("addresses_moved_s", "tcp_gap_ms", "udp_gap_ms")}
        summary[name]["tcp_intact_every_run"] = all(r[name]["tcp_intact"] for r in results)
    summary["ratio_bladesync_to_keepalived"] = {
        k: round(summary["bladesync"][k]["median"] / max(summary["keepalived+conntrackd"][k]["median"], 1e-9), 3)
        for k in ("addresses_moved_s", "tcp_gap_ms", "udp_gap_ms")}
    summary["false_failovers_before_the_fault"] = false_failovers
    print(json.dumps({"entries": n, "runs": len(results), "timers": "10 ms" if fast else "100 ms", "summary": summary},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
