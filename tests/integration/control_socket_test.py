"""The control socket under abuse, with two bladesyncd processes and traffic:
eight clients asking for the largest session list as fast as they can for
five seconds, and one client pipelining 300 such requests on a connection,
do not stop the primary's heartbeats (no failover, roles unchanged); an
unprivileged user cannot use the socket at all (`execute ha failover set`
as uid 65534 fails with exit code 3, and the chassis stays primary); error
replies exit 4 in JSON and text, and JSON stays valid for any bytes."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402

HEAVY = b"json diagnose sys session list max 100000\n"


def ask(path, payload, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(payload)
    chunks = []
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        chunks.append(b)
    s.close()
    return b"".join(chunks)


def test(make):
    c = make(n_chassis=2, slots=2, rate=2000, duration=8, lifetime=8000)
    for ch in (1, 2):
        c.start_chassis(ch)
    st = c.wait_settled()
    assert {s["chassis"]: s["role"] for s in st} == {1: "primary", 2: "secondary"}
    # The flood below also shuts the traffic tool's own "who processes
    # traffic?" queries out of the primary's socket for a while: its packets
    # find no chassis meanwhile (the daemon's heartbeats are what must not suffer).
    traffic = c.traffic(background=True, max_unroutable=20)
    c.wait_for("sessions on the primary", lambda: sum(b["owned"] for b in c.status(1)["blades"]) > 2000)
    path = c.control[1]

    done = [0]
    errors = []
    stop = time.time() + 5.0

    def flood():
        while time.time() < stop:
            try:
                r = ask(path, HEAVY)
                assert r.startswith(b"{"), r[:200]
                done[0] += 1
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(repr(e))
                return

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for t in threads:
        t.start()
    # One connection, 300 requests pipelined: only the first is a request.
    # The server answers the first and closes with the rest unread, which the
    # kernel may signal as a reset before the answer is read.
    try:
        pipelined = ask(path, HEAVY * 300)
        assert pipelined.count(b'"sessions"') <= 1, "more than one answer on one connection"
    except ConnectionResetError:
        pass
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert done[0] > 0
    st = {ch: c.status(ch) for ch in (1, 2)}
    assert {ch: s["role"] for ch, s in st.items()} == {1: "primary", 2: "secondary"}, \
        "a role moved while the control socket was busy"
    assert st[1]["failovers"] == 0 and st[2]["failovers"] == 0, "the peer took over"

    # Another user: refused before a word is read. (A copy of the CLI it can
    # execute: the build tree under /root is not open to it.)
    public = tempfile.mkdtemp(prefix="bladesync-cli-")
    os.chmod(public, 0o755)
    cli = shutil.copy(c.bladesync, os.path.join(public, "bladesync"))
    os.chmod(cli, 0o755)
    r = subprocess.run([cli, "--connect", path, "execute", "ha", "failover", "set"],
                       capture_output=True, text=True, timeout=10,
                       preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert "permission" in r.stderr, r.stderr
    shutil.rmtree(public, ignore_errors=True)
    assert c.status(1)["role"] == "primary" and not c.status(1)["manual_failover"]
    # Exit codes tell scripts the truth: errors exit 4 in JSON and text.
    def rc(*words):
        return subprocess.run([c.bladesync, "--connect", path] + list(words), capture_output=True, text=True,
                              timeout=10)
    for words in (["get", "foo", "--json"], ["get", "foo"], ["diagnose", "sys", "session", "list", "max", "0", "--json"],
                  ["diagnose", "sys", "session", "list", "bogus", "--json"], ["execute", "ha", "failover", "bogus"],
                  ["execute", "ha", "failover", "--json"], ["diagnose", "sys", "ha", "monitor", "port1", "sideways"]):
        r = rc(*words)
        assert r.returncode == 4, (words, r.returncode, r.stdout)
    r = rc("get", "foo")
    assert r.stdout.strip() == "error: unknown command 'get foo'", r.stdout
    r = rc("get", "\udcff\udcfe", "--json")  # bytes that are not UTF-8
    assert r.returncode == 4 and json.loads(r.stdout)["error"].startswith("unknown command"), r.stdout
    assert rc("get", "system", "ha", "status", "--json").returncode == 0
    out, _ = traffic.communicate(timeout=90)
    assert traffic.returncode == 0, out
    print("%d heavy session lists from 8 clients in 5 s and 300 pipelined: no failover; uid 65534 refused (%s)"
          % (done[0], r.stderr.strip()))


if __name__ == "__main__":
    sys.exit(h.main(test))
