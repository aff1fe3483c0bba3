#!/usr/bin/env python3
"""bladesync and conntrackd side by side on the same machine, one after the
other in one run, in the same topology (tests/integration/firewall_topology:
client, firewalls A and B with nftables and strict TCP tracking, server;
M1/M2 veth links between A and B).

conntrackd runs FTFW over UDP on M1 (Debian's conntrack-tools 1.4.7), its
netlink buffers at 64 MiB growing to 256 MiB so it does not overrun, the
external cache on, committed on failover with `conntrackd -c` right after
the routes move (what keepalived's notify script does, with no detection
delay added). bladesync runs `config system conntrack` with hb-interval 1,
hb-lost-threshold 3 and detects the loss itself.

1. Failover gap: a TCP stream and a server-to-client UDP flow through A; A's
   daemon is killed (kill -9) and the routes move to B; the longest silence
   at the receiver (ms) and whether every byte arrived.
2. Sync and install at N sessions (default 100000 and 500000): N synthetic
   established TCP entries are created in A's kernel in one burst; reported:
   entries/s until B holds all N (sync), CPU seconds per entry of both
   daemons together, bytes per entry on M1+M2 (both directions). Both
   daemons learn the entries from the kernel's event stream, which is
   slower than either's sync, so this compares the kernel more than them.
3. Resync of a restarted peer, same N: B's daemon is killed (kill -9) and
   started again while A holds the N entries; from B's start until B holds
   all N again: entries/s, CPU seconds per entry of both daemons, bytes per
   entry. conntrackd asks for it with `StartupResync On` (FTFW); bladesync's
   mirror asks for a bulk sync when it starts. No kernel events: this is the
   sync machinery and the daemon's start, which is reported apart as the time
   until B first answers its status command (polled the same way for both).
4. Then A's daemon is killed and the time to install the N sessions into B's
   kernel.

  bazel build //cmd:all && sudo python3 bench/conntrackd_compare.py [--runs R] [N ...]

With --runs R the whole comparison repeats R times (each run has both daemons
side by side) and the summary gives the median, min and max of every figure
and the ratio of the medians.
Needs root; raises net.netfilter.nf_conntrack_max for the run and puts it back.
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

PROBE = os.path.join(HERE, "..", "tests", "integration", "flow_probe.py")

CONNTRACKD_CONF = """
Sync {{
    Mode FTFW {{
        ResendQueueSize 262144
        DisableExternalCache Off
        StartupResync On
    }}
    UDP {{
        IPv4_address {local}
        IPv4_Destination_Address {peer}
        Port 3780
        Interface {iface}
        SndSocketBuffer 24985600
        RcvSocketBuffer 24985600
        Checksum on
    }}
}}
General {{
    HashSize 262144
    HashLimit 2097152
    LogFile {dir}/conntrackd-{x}.log
    Syslog off
    LockFile {dir}/conntrackd-{x}.lock
    UNIX {{
        Path {dir}/conntrackd-{x}.ctl
    }}
    NetlinkBufferSize 67108864
    NetlinkBufferSizeMaxGrowth 268435456
    NetlinkOverrunResync On
    Filter From Userspace {{
        Protocol Accept {{
            TCP
            UDP
            ICMP
        }}
        Address Ignore {{
            IPv4_address 127.0.0.1
            IPv4_address 169.254.201.1
            IPv4_address 169.254.201.2
            IPv4_address 169.254.202.1
            IPv4_address 169.254.202.2
        }}
    }}
}}
"""

BLADESYNC_CT = """
config system conntrack
    set status enable
    set event-buffer-size 67108864
    set event-buffer-size-max 268435456
    set resync-interval 60
end
"""


def rss_anon_kb(pid):
    """Resident anonymous memory of pid in KB (0 once it is gone)."""
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_by_thread(pid, tids=None):
    """CPU seconds of each thread of pid alive now, to the nanosecond
    (schedstat's time on CPU), summed by thread name without its trailing
    digits ("blade1" -> "blade", "ZMQbg/IO/0" -> "ZMQbg/IO/"). /proc's
    utime and stime count in ticks of 10 ms: over a 100k-entry sync they
    moved each figure by up to 0.2 us per entry. `tids`: a set that gets
    (pid, tid) of each thread read."""
    out = {}
    try:
        listed = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in listed:
        try:
            ns = int(open("/proc/%d/task/%s/schedstat" % (pid, tid)).read().split()[0])
            name = open("/proc/%d/task/%s/comm" % (pid, tid)).read().strip().rstrip("0123456789")
        except (OSError, ValueError, IndexError):
            continue
        out[name] = out.get(name, 0.0) + ns / 1e9
        if tids is not None:
            tids.add((pid, tid))
    return out


def cpu_seconds(pid):
    return sum(cpu_by_thread(pid).values())


def threads_cpu(pids):
    """cpu_by_thread over every pid, summed by name, and the (pid, tid)
    of every thread read."""
    out, tids = {}, set()
    for p in pids:
        for k, v in cpu_by_thread(p, tids).items():
            out[k] = out.get(k, 0.0) + v
    return out, tids


def link_bytes(topo):
    total = 0
    for side, names in (("a", ("m1a", "m2a")), ("b", ("m1b", "m2b"))):
        for n in names:
            out = topo.sh(topo.ns[side], "cat /sys/class/net/%s%s/statistics/tx_bytes" % (n, topo.tag)).stdout
            total += int(out.strip())
    return total


def kernel_count(topo, side, bladesync):
    return topo.kernel_count(side, bladesync)


class Conntrackd:
    name = "conntrackd"

    def __init__(self, topo):
        self.topo = topo
        self.dir = tempfile.mkdtemp(prefix="bs-ctd-")
        self.conf, self.procs = {}, {}
        for x, local, peer, iface in (("a", "169.254.201.1", "169.254.201.2", "m1a"),
                                      ("b", "169.254.201.2", "169.254.201.1", "m1b")):
            self.conf[x] = os.path.join(self.dir, "conntrackd-%s.conf" % x)
            open(self.conf[x], "w").write(CONNTRACKD_CONF.format(local=local, peer=peer, iface=iface + topo.tag,
                                                                  dir=self.dir, x=x))

    def start(self):
        for x in ("a", "b"):
            self.procs[x] = subprocess.Popen(self.topo.exec_args(x, ["conntrackd", "-C", self.conf[x]]),
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        for x in ("a", "b"):
            if self.procs[x].poll() is not None:
                raise RuntimeError("conntrackd in %s exited: %s" % (x, open(os.path.join(self.dir, "conntrackd-%s.log" % x)).read()[-2000:]))

    def ctl(self, x, *args, timeout=120):
        return subprocess.run(self.topo.exec_args(x, ["conntrackd", "-C", self.conf[x]] + list(args)),
                              capture_output=True, text=True, timeout=timeout)

    def mirrored(self):
        """Entries B holds; None while B does not answer (starting)."""
        try:
            out = self.ctl("b", "-s", "cache", timeout=5).stdout
        except subprocess.TimeoutExpired:
            return None
        m = re.search(r"cache:external\s+active objects:\s+(\d+)", out)
        return int(m.group(1)) if m else None

    def has_flows(self):
        return "10.9.0.1" in self.ctl("b", "-e").stdout

    def pids(self):
        return [p.pid for p in self.procs.values() if p.poll() is None]

    def kill_a(self):
        self.procs["a"].send_signal(signal.SIGKILL)
        self.procs["a"].wait()

    def restart_b(self):
        """kill -9 and start again; B asks A for a resync at startup."""
        self.procs["b"].send_signal(signal.SIGKILL)
        self.procs["b"].wait()
        for f in ("lock", "ctl"):
            try:
                os.unlink(os.path.join(self.dir, "conntrackd-b.%s" % f))
            except OSError:
                pass
        t = time.monotonic()
        self.procs["b"] = subprocess.Popen(self.topo.exec_args("b", ["conntrackd", "-C", self.conf["b"]]),
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return t

    def take_over(self):
        """keepalived's notify on B: commit the external cache into the kernel."""
        t = time.monotonic()
        r = self.ctl("b", "-c")
        return time.monotonic() - t, r

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()


class Bladesync:
    name = "bladesync"

    def __init__(self, topo):
        self.topo = topo
        self.c = h.Cluster(n_chassis=2, slots=1, rate=1, duration=0, hb_interval=1, hb_lost=3,
                           addresses=topo.chassis_addresses(), netns={1: topo.ns["a"], 2: topo.ns["b"]},
                           extra=BLADESYNC_CT)

    def start(self):
        self.c.start_chassis(1)
        self.c.start_chassis(2)
        self.c.wait_settled(timeout=30)

    def mirrored(self):
        """Entries B holds; None while B does not answer (starting)."""
        st = self.c.cli(2, "get", "system", "ha", "status", check=False)
        if not st:
            return None
        return sum(s["sessions"] for b in st["blades"] for s in b["standby"] if s["owner"] == 1)

    def has_flows(self):
        rows = self.c.cli(2, "diagnose", "sys", "session", "list", "standby", "src", "10.9.0.1")["sessions"]
        return {6, 17} <= {r["proto"] for r in rows}

    def pids(self):
        return [p.pid for p in self.c.procs.values() if p.poll() is None]

    def kill_a(self):
        p = self.c.procs.pop(1)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def restart_b(self):
        """kill -9 and start again; B's mirror asks for a bulk sync."""
        self.c.stop_chassis(2, sig=signal.SIGKILL)
        t = time.monotonic()
        self.c.start_chassis(2)
        return t

    def take_over(self):
        """Nothing to run: B detects the loss and installs by itself. Returns
        the install duration B logged."""
        def installed():
            m = re.findall(r"installed (\d+) sessions .* in (\d+) us", self.c.log(2))
            return m[-1] if m else None
        n, us = self.c.wait_for("B to install the sessions", installed, timeout=120, interval=0.05)
        return int(us) / 1e6, None

    def stop(self):
        self.c.stop_all()


def gap_run(system_cls, tag):
    topo = fw.FirewallPair(tag)
    sysm = system_cls(topo)
    try:
        sysm.start()
        server = subprocess.Popen(topo.exec_args("s", [sys.executable, PROBE, "server", "--max-seconds", "60"]),
                                  stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        client = subprocess.Popen(topo.exec_args("c", [sys.executable, PROBE, "client", "--server", "10.9.0.2",
                                                       "--duration", "8", "--drain", "15"]),
                                  stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not sysm.has_flows():
            time.sleep(0.1)
        time.sleep(1.0)
        sysm.kill_a()
        topo.fail_over_routes()
        if system_cls is Conntrackd:
            sysm.take_over()
        out_c = client.communicate(timeout=60)[0]
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        out_s = server.communicate(timeout=10)[0]
        cli, srv = json.loads(out_c.strip().splitlines()[-1]), json.loads(out_s.strip().splitlines()[-1])
        intact = cli["tcp_error"] is None and srv["tcp_pattern_ok"] and srv["tcp_bytes"] == cli["tcp_sent"]
        return {"tcp_gap_ms": srv["tcp_max_gap_ms"], "udp_gap_ms": cli["udp_max_gap_ms"], "tcp_intact": intact}
    finally:
        sysm.stop()
        topo.close()


def wait_mirrored(sysm, n, interval):
    """Polls B until it holds n entries (at most 300 s); (held, when, when
    B first answered at all)."""
    deadline = time.monotonic() + 300
    got, answered = 0, None
    while time.monotonic() < deadline:
        m = sysm.mirrored()
        if m is not None:
            answered = answered or time.monotonic()
            got = m
            if got >= n:
                break
        time.sleep(interval)
    return got, time.monotonic(), answered


def scale_run(system_cls, tag, n, bladesync, install_args=(), warm=False):
    """warm: the daemons' tables are at their working size first (n entries
    installed, synced, flushed and their deletes synced), so the measured
    sync reuses memory, as a firewall that has run for a while does, and
    no table memory is touched for the first time."""
    topo = fw.FirewallPair(tag)
    sysm = system_cls(topo)
    try:
        sysm.start()
        pids = sysm.pids()
        def install():
            return subprocess.run(topo.exec_args("a", [bladesync, "conntrack", "install", str(n), *install_args,
                                                       "--json"]), capture_output=True, text=True)
        if warm:
            install().check_returncode()
            wait_mirrored(sysm, n, 0.05)
            subprocess.run(topo.exec_args("a", [bladesync, "conntrack", "flush"]), capture_output=True, check=True)
            deadline = time.monotonic() + 120
            while sysm.mirrored() != 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)  # the last acks, and the tables' tidying after the deletes
        # BLADESYNC_PROFILE=FILE: perf records both daemons over the live sync only.
        perf = None
        if os.environ.get("BLADESYNC_PROFILE"):
            perf = subprocess.Popen(["perf", "record", "-g", "-F", "1999", "-o", os.environ["BLADESYNC_PROFILE"],
                                     "-p", ",".join(map(str, pids))],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        (threads0, tids0), bytes0 = threads_cpu(pids), link_bytes(topo)
        rss0 = [rss_anon_kb(p) for p in pids]
        t0 = time.monotonic()
        inject = json.loads(install().stdout)
        got, t1, _ = wait_mirrored(sysm, n, 0.05)
        time.sleep(0.5)  # acknowledgements and the last stats
        (threads1, tids1), bytes1 = threads_cpu(pids), link_bytes(topo)
        rss1 = [rss_anon_kb(p) for p in pids]
        # schedstat counts threads alive at each read: one that exited in
        # between took its CPU with it, so the figure would be short.
        gone = len(tids0 - tids1)
        if gone:
            print("warning: %d threads exited during the sync: their CPU is not counted" % gone, file=sys.stderr)
        cpu0, cpu1 = sum(threads0.values()), sum(threads1.values())
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        # Resync of a restarted B (A's CPU from here; B's new process whole).
        a_pid = sysm.pids()[0]
        cpu_a0, rbytes0 = cpu_seconds(a_pid), link_bytes(topo)
        rt0 = sysm.restart_b()
        rgot, rt1, ranswered = wait_mirrored(sysm, n, 0.02)
        time.sleep(0.5)
        b_pid = [p for p in sysm.pids() if p != a_pid][0]
        rcpu = cpu_seconds(a_pid) - cpu_a0 + cpu_seconds(b_pid)
        rbytes = link_bytes(topo) - rbytes0
        sysm.kill_a()
        install_s, _ = sysm.take_over()
        in_b = kernel_count(topo, "b", bladesync)
        return {"n": n, "injected": inject["installed"], "mirrored": got, "sync_s": round(t1 - t0, 3),
                "entries_per_s": round(got / (t1 - t0)), "cpu_us_per_entry": round((cpu1 - cpu0) / max(got, 1) * 1e6, 2),
                "bytes_per_entry": round((bytes1 - bytes0) / max(got, 1), 1),
                "cpu_us_per_entry_by_thread": {k: round((threads1[k] - threads0.get(k, 0.0)) / max(got, 1) * 1e6, 3)
                                               for k in sorted(threads1)},
                "threads_gone": gone,
                "rss_anon_growth_kb": [b - a for a, b in zip(rss0, rss1)],
                "resynced": rgot, "resync_s": round(rt1 - rt0, 3),
                "resync_first_answer_s": round((ranswered or rt1) - rt0, 3), "resync_entries_per_s": round(rgot / (rt1 - rt0)),
                "resync_cpu_us_per_entry": round(rcpu / max(rgot, 1) * 1e6, 2),
                "resync_bytes_per_entry": round(rbytes / max(rgot, 1), 1),
                "install_s": round(install_s, 3), "in_b_kernel": in_b}
    finally:
        sysm.stop()
        topo.close()


def spread(values):
    v = sorted(values)
    return {"median": v[len(v) // 2], "min": v[0], "max": v[-1]}


def summary(runs):
    """Median, min and max over the runs of every figure, and the ratio of
    bladesync's median to conntrackd's (each run had both, side by side)."""
    out = {"gap": {}, "scale": {}}
    for name in ("bladesync", "conntrackd"):
        out["gap"][name] = {k: spread([r["gap"][name][k] for r in runs])
                            for k in ("tcp_gap_ms", "udp_gap_ms")}
        out["gap"][name]["tcp_intact_every_run"] = all(r["gap"][name]["tcp_intact"] for r in runs)
    for n in runs[0]["scale"]:
        row = {}
        for name in ("bladesync", "conntrackd"):
            row[name] = {k: spread([r["scale"][n][name][k] for r in runs])
                         for k in ("entries_per_s", "cpu_us_per_entry", "bytes_per_entry", "resync_first_answer_s",
                                   "resync_entries_per_s",
                                   "resync_cpu_us_per_entry", "resync_bytes_per_entry", "install_s")}
        row["ratio_bladesync_to_conntrackd"] = {
            k: round(row["bladesync"][k]["median"] / max(row["conntrackd"][k]["median"], 1e-9), 3)
            for k in row["bladesync"]}
        out["scale"][n] = row
    return out


def runs_and_sizes(argv):
    """[--runs R] [N ...] of the conntrack benches: (R, the Ns)."""
    runs = 1
    if argv[:1] == ["--runs"]:
        runs, argv = int(argv[1]), argv[2:]
    return runs, [int(a) for a in argv] or [100000, 500000]


def main():
    runs, sizes = runs_and_sizes(sys.argv[1:])
    why = fw.conntrack_missing()
    if why:
        print("cannot run: " + why)
        return 2
    bladesync = h.find_binary("bladesync")
    all_runs = []
    with fw.conntrack_max_at_least(2 * max(sizes) + 100000):
        tag = "%04x" % random.randrange(1 << 16)
        for run in range(runs):
            results = {"gap": {}, "scale": {}}
            for cls in (Bladesync, Conntrackd):
                results["gap"][cls.name] = gap_run(cls, tag)
                print("run", run + 1, cls.name, "failover gap:", results["gap"][cls.name], flush=True)
            for n in sizes:
                for cls in (Bladesync, Conntrackd):
                    r = scale_run(cls, tag, n, bladesync)
                    results["scale"].setdefault(str(n), {})[cls.name] = r
                    print("run", run + 1, cls.name, n, r, flush=True)
            all_runs.append(results)
    print(json.dumps({"runs": len(all_runs), "summary": summary(all_runs)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
