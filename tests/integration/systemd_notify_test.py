"""bladesyncd under systemd's service protocol (Type=notify), spoken to a
datagram socket this test owns as systemd would own it (NOTIFY_SOCKET,
WATCHDOG_USEC):

- READY=1 only once the first bulk sync is done: chassis 2 runs with
  sessions, chassis 1 starts, and its log shows every blade in sync with
  chassis 2 before it says ready; at READY its blades hold them all;
- STATUS= says the role;
- WATCHDOG=1 pings come while every event loop turns and stop when one
  blade's thread is stopped (ptrace stops that one thread, nothing else: the
  fault a hung handler would be), and resume when it runs again;
- RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on SIGTERM."""
import ctypes
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import main  # noqa: E402

WATCHDOG_S = 1.0
PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207
WALL = 0x40000000  # __WALL: wait for a thread, not only a process


class Notifications:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.05)
        self.seen = []  # (monotonic time, {key: value})
        self.cursor = 0  # wait() has looked at seen[:cursor]

    def poll(self, seconds):
        """Reads what arrives for `seconds`; returns those messages."""
        got = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            msg = dict(line.split("=", 1) for line in data.split("\n") if "=" in line)
            got.append((time.monotonic(), msg))
        self.seen += got
        return got

    def skip_seen(self):
        self.cursor = len(self.seen)

    def wait(self, key, value=None, timeout=30.0):
        """The next message, after the one the last wait returned, with key=value."""
        end = time.monotonic() + timeout
        while True:
            while self.cursor < len(self.seen):
                t, msg = self.seen[self.cursor]
                self.cursor += 1
                if key in msg and (value is None or msg[key] == value):
                    return t, msg
            if time.monotonic() >= end:
                break
            self.poll(0.1)
        raise AssertionError("no %s=%s within %.0f s (seen: %r)" % (key, value or "*", timeout,
                                                                   [m for _, m in self.seen][-10:]))


def thread_id(pid, name):
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().strip() == name:
                return int(tid)
    raise AssertionError("no thread %s in process %d" % (name, pid))


def pings(msgs):
    return sum(1 for _, m in msgs if m.get("WATCHDOG") == "1")


def test(make):
    c = make(n_chassis=2, slots=2, lifetime=120000, rate=3000)
    # Chassis 2 alone first, with sessions of its own.
    c.start_chassis(2)
    c.wait_for("chassis 2 alone to hold the role",
               lambda: c.status(2)["role"] in ("standalone", "primary"))
    # The generator would wait for its long flows to end: it is stopped once
    # it has opened enough of them (the sessions stay, as they would).
    gen = c.traffic(duration=30, rate=3000, chassis=2, background=True)

    def owned_now():
        return sum(b["owned"] for b in c.status(2)["blades"])
    c.wait_for("chassis 2's sessions", lambda: owned_now() > 2000)
    gen.kill()
    gen.wait()
    stable = []

    def steady():
        stable.append(owned_now())
        return len(stable) > 2 and stable[-1] == stable[-2] and stable[-1]
    owned = c.wait_for("chassis 2's session count to stay put", steady, interval=0.5)

    sock_path = os.path.join(c.dir, "notify.sock")
    n = Notifications(sock_path)
    # Chassis 2 is stopped while chassis 1 starts and continued half a
    # second later (within the 1.2 s detection time): the bulk sync comes
    # after the first ticks, so a READY that did not wait for it shows.
    c.procs[2].send_signal(signal.SIGSTOP)
    try:
        p = c.start_chassis(1, env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6))})
        early = n.poll(0.5)
        assert not [m for _, m in early if m.get("READY")], "READY=1 before chassis 2 was even heard: %r" % early
    finally:
        c.procs[2].send_signal(signal.SIGCONT)
    _, ready = n.wait("READY", "1")
    # The daemon's own log is in order: every blade's bulk sync from
    # chassis 2 completed before it said ready. (An owner that started
    # before its mirror may send the bulk sync it took then, and the deltas
    # since after it: the mirror is in sync on that base and follows.)
    log = c.log(1)
    ready_at = log.index("ready: ")
    for slot in (1, 2):
        m = re.search(r"slot %d: in sync with chassis 2 \((\d+) sessions\)" % slot, log)
        assert m and m.start() < ready_at, "slot %d was not in sync with chassis 2 before READY:\n%s" % (slot, log)
    # ...and what it follows is all of chassis 2's synced sessions.
    c.wait_mirrors_match(timeout=10)
    assert "STATUS" in ready and "chassis 1" in ready["STATUS"], ready

    # The role in STATUS= once chassis 1 left its hello state: the incumbent
    # keeps the role (no override), so chassis 1 is the secondary.
    n.wait("STATUS", "chassis 1: secondary (primary is chassis 2)", timeout=15)

    # Pings while every loop turns.
    got = n.poll(2 * WATCHDOG_S)
    assert pings(got) >= 4, "%d watchdog pings in %.0f s" % (pings(got), 2 * WATCHDOG_S)

    # One blade's thread stopped: the pings stop within half the watchdog
    # time and a tick, and come back once it runs again.
    tid = thread_id(p.pid, "blade1")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.ptrace.restype = ctypes.c_long
    assert libc.ptrace(PTRACE_SEIZE, tid, None, None) == 0, os.strerror(ctypes.get_errno())
    try:
        assert libc.ptrace(PTRACE_INTERRUPT, tid, None, None) == 0, os.strerror(ctypes.get_errno())
        os.waitpid(tid, WALL)
        n.poll(WATCHDOG_S)  # the loop goes stale meanwhile
        stalled = n.poll(2 * WATCHDOG_S)
        assert pings(stalled) == 0, "%d watchdog pings while blade1's loop was stopped" % pings(stalled)
        assert p.poll() is None, "the daemon died"
    finally:
        libc.ptrace(PTRACE_DETACH, tid, None, None)
    n.skip_seen()
    n.wait("WATCHDOG", "1", timeout=2 * WATCHDOG_S)
    assert "blade1 thread's event loop is stuck" in c.log(1), c.log(1)

    # Reload: RELOADING=1, then READY=1 again.
    n.poll(0.2)
    n.skip_seen()
    p.send_signal(1)
    n.wait("RELOADING", "1", timeout=10)
    n.wait("READY", "1", timeout=10)

    # Stop: STOPPING=1 (main() checks the exit code is 0).
    p.send_signal(15)
    n.wait("STOPPING", "1", timeout=10)


if __name__ == "__main__":
    sys.exit(main(test))
