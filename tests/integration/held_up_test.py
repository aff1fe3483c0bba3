"""A chassis whose process is held up is not a chassis whose peer died.

Two chassis with hb-interval-in-milliseconds 10ms (a peer is lost 33 ms
after its last heartbeat). The secondary's whole process is stopped for
200 ms (SIGSTOP, then SIGCONT: what a VM's stolen time or an overloaded
host does to it), five times. Its peer's heartbeats wait in its sockets
meanwhile, unread; its timers fire late when it runs again. Before, the
late silence timer declared the primary lost at once and the secondary
took over: five false failovers (and the primary's sessions owned twice).
Now it judges silence one interval after it runs again, having read what
arrived: no failover, five hold-ups counted.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402


def thread_nices(pid):
    """[(thread name, nice)] of a process."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        name = h.read_text("/proc/%d/task/%s/comm" % (pid, tid)).strip()
        out.append((name, os.getpriority(os.PRIO_PROCESS, int(tid))))
    return out


def test(make):
    c = make(n_chassis=2, slots=2, hb_interval=1, hb_lost=3)
    text = h.read_text(c.config)
    with open(c.config, "w") as f:
        f.write(text.replace("    set slots 2\n", "    set slots 2\n    set hb-interval-in-milliseconds 10ms\n"))
    c.start_chassis(1)
    c.start_chassis(2)
    st = c.wait_settled()
    assert {s["chassis"]: s["role"] for s in st} == {1: "primary", 2: "secondary"}, st
    # The heartbeat threads run ahead of sync work (core/thread_priority.h):
    # the manager and the blades' beat at nice -10, their ZeroMQ I/O
    # threads at -20; the blades and the process's own I/O threads as they were.
    nices = thread_nices(c.procs[2].pid)
    print("threads of chassis 2: %s" % sorted(nices))
    assert ("manager", -10) in nices and ("beat", -10) in nices, nices
    assert sum(1 for n, v in nices if n.startswith("ZMQbg/IO") and v == -20) == 2, nices
    assert sum(1 for n, v in nices if n.startswith("ZMQbg/IO") and v == 0) >= 1, nices
    # Only what the hold-ups did counts: a start-up on a busy machine may
    # have lost the peer once before the cluster settled.
    log_before = len(h.read_text(os.path.join(c.dir, "chassis2.log")))
    failovers_before = c.status(2)["failovers"]
    for _ in range(5):
        c.procs[2].send_signal(signal.SIGSTOP)
        time.sleep(0.2)
        c.procs[2].send_signal(signal.SIGCONT)
        time.sleep(0.5)
    s1, s2 = c.status(1), c.status(2)
    assert s2["failovers"] == failovers_before, "the held-up secondary took over %d times:\n%s" % (
        s2["failovers"] - failovers_before, c.log(2))
    during = h.read_text(os.path.join(c.dir, "chassis2.log"))[log_before:]
    assert "lost peer" not in during, during
    assert (s1["role"], s2["role"]) == ("primary", "secondary"), (s1["role"], s2["role"])
    assert s2["held_up"] >= 5, s2["held_up"]
    print("chassis 2 held up 5 x 200 ms: counted %d hold-ups, no failover, still secondary" % s2["held_up"])


if __name__ == "__main__":
    sys.exit(h.main(test))
