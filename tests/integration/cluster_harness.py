"""Helpers for integration tests that run the real bladesync binaries.

A test writes a cluster config with free ports, starts `bladesyncd` per
chassis, drives traffic with `bladesync traffic`, and reads state through the
operator CLI's JSON output. Every wait is bounded.
"""
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time


def find_binary(name, package="cmd"):
    """The binary from Bazel runfiles, or from bazel-bin when run by hand."""
    for root in (os.environ.get("TEST_SRCDIR", ""), "."):
        for rel in ("bladesync/%s/%s" % (package, name), "bazel-bin/%s/%s" % (package, name), "%s/%s" % (package, name)):
            p = os.path.join(root, rel)
            if os.path.isfile(p) and os.access(p, os.X_OK):
                return os.path.abspath(p)
    raise RuntimeError("cannot find binary " + name)


def find_data(rel):
    """A data file of a test (its path in the workspace), from Bazel runfiles
    or from the clone when run by hand."""
    for root in (os.path.join(os.environ.get("TEST_SRCDIR", ""), "bladesync"), "."):
        p = os.path.join(root, rel)
        if os.path.exists(p):
            return p
    raise RuntimeError("cannot find " + rel)


def read_text(path):
    """A file's text, or "" while it does not exist yet (a process's log)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def free_port():
    """A TCP port on loopback that nothing listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ports_free(addr_ports):
    for addr, port in addr_ports:
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


CONFIG = """
config system ha
    set group-id {group}
    set group-name "integration"
    set mode {mode}
    set hb-interval {hb_interval}
    set hb-lost-threshold {hb_lost}
    set session-pickup enable
    set session-pickup-connectionless enable
    set slots {slots}{auth}
    config chassis
{chassis}    end
end
config traffic-generator
    set rate {rate}
    set duration {duration}
    set lifetime {lifetime}
    set seed {seed}
end
"""

CHASSIS = """        edit {id}
            set priority {priority}{check}
            set m1 {m1}
            set m2 {m2}
            set backplane {bp}
            set sync-port {port}
            set control "{control}"
            set metrics "127.0.0.1:0"
        next
"""


class Cluster:
    def __init__(self, n_chassis=2, slots=4, mode="a-p", rate=2000, duration=3, lifetime=2000,
                 hb_interval=2, hb_lost=6, addresses=None, extra="", netns=None, checks=None,
                 password="integration-secret", workers=1):
        self.dir = tempfile.mkdtemp(prefix="bladesync-it-")
        self.bladesync = find_binary("bladesync")
        self.bladesyncd = find_binary("bladesyncd")
        self.n_chassis = n_chassis
        self.slots = slots
        self.workers = workers  # blade-workers: each blade's workers are fabric nodes of their own
        self.procs = {}
        # netns[c]: the network namespace chassis c runs in (its loopback holds
        # its backplane), or None for this namespace.
        self.netns = netns or {}
        # addresses[c] = (m1, m2, backplane); default: loopback addresses in a
        # block of 127/8 of this cluster's own, so tests running side by side
        # cannot collide on ports.
        rng = random.Random(os.getpid() ^ time.time_ns())
        block = rng.randrange(10, 250)
        self.addresses = addresses or {c: ("127.%d.1.%d" % (block, c), "127.%d.2.%d" % (block, c),
                                           "127.%d.3.%d" % (block, c)) for c in range(1, n_chassis + 1)}
        for _ in range(200):
            port = rng.randrange(20000, 60000, 200)
            needed = []
            for c, (m1, m2, bp) in self.addresses.items():
                for s in range(0, slots * workers + 1):
                    needed += [(m1, port + s), (m2, port + s), (bp, port + 100 + s)]
            if not self.netns and not ports_free(needed):
                continue
            break
        self.port = port
        # The control sockets: Unix sockets in this cluster's own directory.
        self.control = {c: os.path.join(self.dir, "chassis%d.sock" % c) for c in range(1, n_chassis + 1)}
        checks = checks or {}
        chassis = "".join(CHASSIS.format(id=c, priority=250 - 10 * c, m1=m1, m2=m2, bp=bp, port=port,
                                         control=self.control[c],
                                         check=("\n            set check \"%s\"" % checks[c]) if c in checks else "")
                          for c, (m1, m2, bp) in sorted(self.addresses.items()))
        self.config = os.path.join(self.dir, "cluster.conf")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(group=rng.randrange(1, 1000), mode=mode, hb_interval=hb_interval,
                                  hb_lost=hb_lost, slots=slots, chassis=chassis, rate=rate,
                                  duration=duration, lifetime=lifetime, seed=rng.randrange(1, 10**6),
                                  # The default (authenticated, keys from the password); None: no
                                  # password, for tests that key the fabric themselves.
                                  auth=("\n    set password \"%s\"" % password) if password else "")
                    .replace("    set slots %d\n" % slots, "    set slots %d\n" % slots +
                             ("    set blade-workers %d\n" % workers if workers > 1 else "")) + extra)

    # ---- processes -------------------------------------------------------
    def in_ns(self, c, cmd):
        ns = self.netns.get(c)
        return (["ip", "netns", "exec", ns] + cmd) if ns else cmd

    def start_chassis(self, c, extra_args=(), preexec_fn=None, env=None, binary=None):
        """env: variables added to this process's environment for the daemon;
        binary: another bladesyncd (an earlier release) than this build's."""
        cmd = self.in_ns(c, [binary or self.bladesyncd, "--config", self.config, "--chassis", str(c)] + list(extra_args))
        log = open(os.path.join(self.dir, "chassis%d.log" % c), "ab")
        full_env = dict(os.environ, **env) if env else None
        self.procs[c] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec_fn,
                                         env=full_env)
        return self.procs[c]

    def stop_chassis(self, c, sig=15, timeout=10):
        p = self.procs.pop(c, None)
        if p is None:
            return None
        p.send_signal(sig)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("chassis %d did not stop within %ds" % (c, timeout))

    def stop_all(self):
        codes = {}
        for c in list(self.procs):
            codes[c] = self.stop_chassis(c)
        return codes

    def log(self, c):
        try:
            with open(os.path.join(self.dir, "chassis%d.log" % c), "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    # ---- CLI ---------------------------------------------------------------
    def cli(self, c, *words, check=True, timeout=10):
        cmd = self.in_ns(c, [self.bladesync, "--connect", self.control[c], "--json"] + list(words))
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d): %s%s" % (" ".join(words), r.returncode, r.stdout, r.stderr))
        return json.loads(r.stdout) if r.returncode == 0 else None

    def status(self, c):
        return self.cli(c, "get", "system", "ha", "status")

    def counter_totals(self, c, live_only=False):
        """Every blade counter of chassis c (`diagnose sys session sync`), summed over its blades."""
        t = {}
        for b in self.cli(c, "diagnose", "sys", "session", "sync")["blades"]:
            if live_only and not b["live"]:
                continue
            for k, v in b["counters"].items():
                t[k] = t.get(k, 0) + v
        return t

    def wait_adopted_on_every_blade(self, c, timeout=10.0):
        """Once chassis c adopted: every live blade's report shows its
        adoption (one event per blade, so its count is final then); returns
        c's counter totals."""
        def reported():
            blades = [b for b in self.cli(c, "diagnose", "sys", "session", "sync")["blades"] if b["live"]]
            return blades and all(b["counters"]["adopted_sessions"] > 0 for b in blades)
        self.wait_for("every blade of chassis %d to report its adoption" % c, reported, timeout)
        return self.counter_totals(c, live_only=True)

    def traffic(self, duration=None, rate=None, background=False, chassis=1, max_unroutable=None):
        """`bladesync traffic`; max_unroutable: the percentage of packets that may
        find no chassis (a failover's gap) before it exits 1 (default: its own 1%)."""
        cmd = self.in_ns(chassis, [self.bladesync, "traffic", "--config", self.config])
        if max_unroutable is not None:
            cmd += ["--max-unroutable", str(max_unroutable)]
        if duration is not None:
            cmd += ["--duration", str(duration)]
        if rate is not None:
            cmd += ["--rate", str(rate)]
        if background:
            return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    # ---- waits ---------------------------------------------------------------
    def wait_for(self, what, predicate, timeout=30.0, interval=0.2):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except Exception as e:  # a process may still be starting
                last = e
            time.sleep(interval)
        raise AssertionError("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last))

    def wait_flows_synced(self, chassis=(1,), opening_s=2.0, timeout=3.0):
        """Right after traffic(): waits out the traffic source's opening of
        new flows (opening_s, its duration) and then until each chassis
        given has synced what it opened: its blades' synced count no
        longer growing over two reads 0.6 s apart (blades report every
        200 ms; up to 2% more, as flows that just changed wait for their
        next delta; fewer is flows ending), and not 0. A fixed wait was
        right on an idle machine and short on a busy one. opening_s is the
        traffic's duration (2 s in every caller); the timeout keeps the
        return within 5 s of the start, leaving the flows (7 s lifetime in
        the failover tests) the seconds a kill and takeover need.
        Returns the last status of each chassis, by chassis."""
        time.sleep(opening_s)
        last = {}

        def steady():
            now = {c: self.status(c) for c in chassis}
            counts = {c: sum(b["synced"] for b in st["blades"] if b.get("live", True)) for c, st in now.items()}
            before = last.get("counts")
            last["counts"] = counts
            return now if before and all(n > 0 and n - before[c] <= max(5, n // 50)
                                         for c, n in counts.items()) else None
        return self.wait_for("the flows opened to be synced", steady, timeout, interval=0.6)

    def wait_settled(self, chassis=None, timeout=30.0):
        chassis = chassis or list(range(1, self.n_chassis + 1))

        def settled():
            st = [self.status(c) for c in chassis]
            roles = [s["role"] for s in st]
            ok = all(s["live_blades"] == self.slots * self.workers and s["ready"] for s in st)
            decided = all(r in ("primary", "secondary") for r in roles)  # past hello-holddown
            return ok and decided and roles.count("primary") == 1 and st
        return self.wait_for("the cluster to settle", settled, timeout)

    def mirror_report(self, owners=None, mirrors=None):
        """[(owner, mirror, slot, owner_synced, mirror_sessions, match, worker)] from both chassis' status."""
        owners = owners or list(range(1, self.n_chassis + 1))
        mirrors = mirrors or list(range(1, self.n_chassis + 1))
        st = {c: self.status(c) for c in set(owners) | set(mirrors)}
        rows = []
        for o in owners:
            for m in mirrors:
                if m == o:
                    continue
                for b in st[o]["blades"]:
                    mb = next(x for x in st[m]["blades"] if (x["slot"], x.get("worker", 0)) == (b["slot"], b.get("worker", 0)))
                    sb = next((x for x in mb["standby"] if x["owner"] == o), None)
                    match = (sb is not None and sb["in_sync"] and sb["sessions"] == b["synced"]
                             and sb["digest"] == b["synced_digest"])
                    rows.append((o, m, b["slot"], b["synced"], sb["sessions"] if sb else None, match, b.get("worker", 0)))
        return rows

    def wait_mirrors_match(self, timeout=30.0, **kw):
        return self.wait_for("every mirror to match its owner",
                             lambda: (lambda r: r if all(x[5] for x in r) else None)(self.mirror_report(**kw)),
                             timeout)


class MirrorCount:
    """What chassis ch mirrors now (two chassis: all the other's sessions),
    asked of its blades directly rather than from their last reports, and
    how many mirrored sessions had expired there or been deleted by their
    owner so far."""

    def __init__(self, c, ch):
        self.c, self.ch = c, ch
        # Counters first. Taken after the count, a session that expired in
        # between would be in the count and in the baseline both: its expiry
        # never subtracted, the adoption one short of what is expected.
        t = c.counter_totals(ch, live_only=True)
        self.expired_before, self.deleted_before = t["standby_expired"], t["applied.delete"]
        self.mirrored = c.cli(ch, "diagnose", "sys", "session", "list", "standby", "max", "1")["matched"]

    def expect_adopted(self, share=1.0):
        """Once ch adopted: every mirrored session (at least `share` of them)
        but for those whose timers ran out on the mirror meanwhile (closed
        flows in TIME_WAIT, counted as they go) and those a live owner
        deleted meanwhile (its own timers). Returns ch's counters."""
        t = self.c.wait_adopted_on_every_blade(self.ch, timeout=10)
        self.adopted, self.expired = t["adopted_sessions"], t["standby_expired"] - self.expired_before
        deleted = t["applied.delete"] - self.deleted_before
        assert share * (self.mirrored - self.expired - deleted) <= self.adopted <= self.mirrored, (
            self.mirrored, self.expired, deleted, self.adopted)
        return t


class Namespaces:
    """Two chassis namespaces joined by two veth links, M1 and M2, with
    link-local addresses; removed again on close. Needs root and ip netns."""

    def __init__(self, tag, data_link=False):
        self.a, self.b = "bsA%s" % tag, "bsB%s" % tag
        self.links = {"m1": ("m1a" + tag, "m1b" + tag, "169.254.201"), "m2": ("m2a" + tag, "m2b" + tag, "169.254.202")}
        if data_link:  # a third path (data / out-of-band) for the split-brain check
            self.links["data"] = ("dta" + tag, "dtb" + tag, "169.254.203")
        self.created = []
        try:
            for ns in (self.a, self.b):
                self.ip("netns", "add", ns)
                self.created.append(ns)
                self.ip("-n", ns, "link", "set", "lo", "up")
            for name, (ea, eb, net) in self.links.items():
                self.ip("link", "add", ea, "netns", self.a, "type", "veth", "peer", "name", eb, "netns", self.b)
                self.ip("-n", self.a, "addr", "add", net + ".1/24", "dev", ea)
                self.ip("-n", self.b, "addr", "add", net + ".2/24", "dev", eb)
                self.ip("-n", self.a, "link", "set", ea, "up")
                self.ip("-n", self.b, "link", "set", eb, "up")
        except Exception:
            self.close()
            raise

    @staticmethod
    def ip(*args):
        r = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))

    def addresses(self):
        return {1: ("169.254.201.1", "169.254.202.1", "127.0.0.1"), 2: ("169.254.201.2", "169.254.202.2", "127.0.0.1")}


    def set_link(self, name, up):
        ea, eb, _ = self.links[name]
        self.ip("-n", self.a, "link", "set", ea, "up" if up else "down")
        self.ip("-n", self.b, "link", "set", eb, "up" if up else "down")

    def close(self):
        for ns in self.created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.created = []


def main(test_fn):
    """Runs test_fn(cluster_factory), printing a clear PASS/FAIL and cleaning up."""
    clusters = []

    def factory(**kw):
        c = Cluster(**kw)
        clusters.append(c)
        return c
    try:
        test_fn(factory)
        # A daemon that hangs or crashes when it is stopped fails the test too:
        # SIGTERM must end every one of them cleanly (exit 0) within 10 s.
        for c in clusters:
            codes = c.stop_all()
            bad = {k: v for k, v in codes.items() if v != 0}
            assert not bad, "daemons did not stop cleanly on SIGTERM (exit codes): %s" % bad
        print("PASS")
        return 0
    except Exception as e:
        print("FAIL: %s" % e)
        for c in clusters:
            # Every process's log: chassis, and blades run as their own processes.
            for name in sorted(n for n in os.listdir(c.dir) if n.endswith(".log")):
                with open(os.path.join(c.dir, name), "rb") as f:
                    print("---- %s (tail) ----\n%s" % (name, f.read().decode(errors="replace")[-4000:]))
        return 1
    finally:
        for c in clusters:
            try:
                c.stop_all()
            except Exception:
                pass
