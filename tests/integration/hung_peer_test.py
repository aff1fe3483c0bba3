"""A hung daemon is a dead one: with a split-brain check address configured,
a SIGSTOPped primary still completes TCP handshakes on it (the kernel
accepts from its backlog), but its loop no longer answers, so the secondary
takes over within the usual detection time instead of calling it a
partition (issue 15 point 13). After SIGCONT the cluster settles on one
primary again. Then the primary is killed and someone else answers on its
check address as an unkeyed daemon would: the keyed probe does not count
it, and the survivor takes over."""
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402



def test(make):
    checks = {1: "127.0.0.1:%d" % h.free_port(), 2: "127.0.0.1:%d" % h.free_port()}
    c = make(n_chassis=2, slots=1, rate=500, duration=0, hb_interval=1, hb_lost=5, checks=checks)
    for ch in (1, 2):
        c.start_chassis(ch)
    st = c.wait_settled()
    assert {s["chassis"]: s["role"] for s in st} == {1: "primary", 2: "secondary"}
    c.procs[1].send_signal(signal.SIGSTOP)
    t0 = time.time()
    try:
        # Detection 0.5 s (1 x 100 ms x 5) plus the probe's bound (2 hb-intervals).
        c.wait_for("chassis 2 to take over from the hung primary",
                   lambda: c.status(2)["role"] in ("primary", "standalone"), timeout=5, interval=0.05)
        took = time.time() - t0
        st2 = c.status(2)
        assert st2["split_brains_averted"] == 0, "the hung chassis was taken for a partition"
    finally:
        c.procs[1].send_signal(signal.SIGCONT)
    c.wait_for("one primary again", lambda: sorted(c.status(ch)["role"] for ch in (1, 2)) == ["primary", "secondary"],
               timeout=15)
    # Someone else answers on the dead primary's check address (its IP taken
    # over, a local user on the free port), as an unkeyed daemon would: the
    # keyed probe does not count it, and the survivor takes over.
    primary = [ch for ch in (1, 2) if c.status(ch)["role"] == "primary"][0]
    other = 3 - primary
    c.procs[primary].send_signal(signal.SIGKILL)
    c.procs[primary].wait()
    del c.procs[primary]
    host, port = checks[primary].rsplit(":", 1)
    fake = socket.socket()
    fake.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    fake.bind((host, int(port)))
    fake.listen(16)
    stop = threading.Event()

    def answer():
        fake.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = fake.accept()
            except socket.timeout:
                continue
            conn.sendall(b"bladesync check alive\n")
            conn.close()
    t = threading.Thread(target=answer)
    t.start()
    try:
        c.wait_for("chassis %d to take over despite the fake answer" % other,
                   lambda: c.status(other)["role"] in ("primary", "standalone"), timeout=5, interval=0.05)
        assert c.status(other)["split_brains_averted"] == 0
    finally:
        stop.set()
        t.join()
        fake.close()
    print("the secondary took over %.2f s after the primary hung; a fake answer on a dead primary's check "
          "address did not stop the takeover" % took)


if __name__ == "__main__":
    sys.exit(h.main(test))
