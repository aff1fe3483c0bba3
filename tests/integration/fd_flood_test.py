"""A flood of connections does not take a chassis down (issue 15 point 11):
two bladesyncd started with the usual soft limit of 1024 open files raise it
to the hard limit; 1,500 idle TCP connections to a secondary blade's M1
port and its manager's are closed by the daemon when their handshake does
not come (2 s), no ZeroMQ thread spins (the daemon uses under
30% of a core meanwhile), the control socket answers, and no role moves."""
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402

FLOOD = 1500


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test(make):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard >= 4 * FLOOD, "this test needs a hard limit of at least %d open files" % (4 * FLOOD)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * FLOOD + 1000), hard))
    c = make(n_chassis=2, slots=1, rate=1, duration=0, hb_interval=1, hb_lost=6)
    # The daemons start as a distribution's default would start them: soft limit 1024.
    for ch in (1, 2):
        c.start_chassis(ch, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)))
    c.wait_settled()
    pid = c.procs[2].pid
    with open("/proc/%d/limits" % pid) as f:
        limit = [l for l in f if l.startswith("Max open files")][0].split()[3]
    assert int(limit) == hard, "the soft limit was not raised: %s" % limit
    targets = [(c.addresses[2][0], c.port + 1), (c.addresses[2][0], c.port)]
    socks = []
    for i in range(FLOOD):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(targets[i % 2])
        socks.append(s)
    cpu0, t0 = cpu_seconds(pid), time.time()
    peak = 0
    answered = False
    while time.time() - t0 < 7.0:
        peak = max(peak, open_fds(pid))
        if not answered and time.time() - t0 > 1.0:
            assert c.cli(2, "get", "system", "ha", "status")["role"] == "secondary", "the control socket answers"
            answered = True
        time.sleep(0.25)
    cpu = (cpu_seconds(pid) - cpu0) / (time.time() - t0)
    # Which connections did the daemon close by itself (handshake timeout)?
    closed_by_daemon = 0
    for s in socks:
        try:
            while True:  # past ZeroMQ's greeting, to the end (or to what is still open)
                if s.recv(4096) == b"":
                    closed_by_daemon += 1
                    break
        except (ConnectionResetError, ConnectionRefusedError):
            closed_by_daemon += 1
        except BlockingIOError:
            pass
        s.close()
    st = {ch: c.status(ch) for ch in (1, 2)}
    assert {ch: s["role"] for ch, s in st.items()} == {1: "primary", 2: "secondary"}, "a role moved"
    assert st[1]["failovers"] == 0 and st[2]["failovers"] == 0
    assert all(p["alive"] for p in st[1]["peers"]), "chassis 1 lost its peer during the flood"
    # Accepting into a full descriptor table spins ZeroMQ's I/O thread (a whole
    # core in the report; 56% here with the limit left at 1024); a daemon
    # that keeps up uses a few percent. 30% leaves room for a noisy machine.
    assert cpu < 0.3, "the daemon used %.0f%% of a core during the flood (spinning?)" % (cpu * 100)
    assert closed_by_daemon >= 0.9 * FLOOD, \
        "idle connections were not closed by the daemon: %d of %d" % (closed_by_daemon, FLOOD)
    print("soft limit 1024 raised to %s; %d idle connections: up to %d fds held, %d closed by the daemon; "
          "%.0f%% of a core; no role moved" % (limit, FLOOD, peak, closed_by_daemon, cpu * 100))

if __name__ == "__main__":
    sys.exit(h.main(test))
