"""The embedding API through a real program (README "Embedding bladesync").

examples/embedded_data_plane embeds blade 1 of each chassis through
api::EmbeddedBlade and api::Blade; bladesyncd runs each chassis's manager
(--no-blades). Chassis 1's data plane reports sessions as its chassis
becomes primary; chassis 2's blade mirrors them. Then chassis 1 dies
(kill -9, manager and data plane): chassis 2's data plane must be told the
adoption of every session left open, then its new role (standalone: the
only chassis left), in that order.
"""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402

SESSIONS = 500
OPEN = SESSIONS - SESSIONS // 10  # the example closes every tenth


def last_status(text):
    found = re.findall(r"status: role (\w+), owned (\d+), mirrored (\d+)", text)
    return (found[-1][0], int(found[-1][1]), int(found[-1][2])) if found else None


def test(make):
    example = h.find_binary("embedded_data_plane", package="examples")
    c = make(n_chassis=2, slots=1, hb_interval=2, hb_lost=4)

    # What a mistake gets: exit 2 and a message that names the problem.
    r = subprocess.run([example, "--config", os.path.join(c.dir, "missing.conf"), "--chassis", "1", "--slot", "1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "missing.conf" in r.stderr, (r.returncode, r.stderr)
    r = subprocess.run([example, "--config", c.config, "--chassis", "1", "--slot", "3"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "slot 3" in r.stderr, (r.returncode, r.stderr)
    # One worker per embedded blade: blade-workers is refused, not half run.
    workers_conf = os.path.join(c.dir, "workers.conf")
    with open(workers_conf, "w") as f:
        f.write(open(c.config).read().replace("    set slots 1\n", "    set slots 1\n    set blade-workers 2\n"))
    r = subprocess.run([example, "--config", workers_conf, "--chassis", "1", "--slot", "1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "blade-workers" in r.stderr, (r.returncode, r.stderr)

    for ch in (1, 2):
        c.start_chassis(ch, ["--no-blades"])
    logs = {ch: os.path.join(c.dir, "dataplane%d.log" % ch) for ch in (1, 2)}
    planes = {}
    for ch in (1, 2):
        cmd = [example, "--config", c.config, "--chassis", str(ch), "--slot", "1", "--exit-after", "120"]
        if ch == 1:
            cmd += ["--sessions", str(SESSIONS)]
        planes[ch] = subprocess.Popen(cmd, stdout=open(logs[ch], "w"), stderr=subprocess.STDOUT)

    want = "reported %d sessions, closed %d: %d open" % (SESSIONS, SESSIONS // 10, OPEN)
    c.wait_for("chassis 1's data plane to report its sessions", lambda: want in h.read_text(logs[1]), timeout=30)
    assert "role unknown -> primary" in h.read_text(logs[1]), h.read_text(logs[1])
    c.wait_for("chassis 2's blade to mirror every open session",
               lambda: last_status(h.read_text(logs[2])) == ("secondary", 0, OPEN), timeout=30)
    assert "role unknown -> secondary" in h.read_text(logs[2]), h.read_text(logs[2])
    before = h.read_text(logs[2])
    assert "adopted" not in before, before

    # Chassis 1 dies as a crash would: nothing says goodbye.
    planes.pop(1).kill()
    c.stop_chassis(1, sig=signal.SIGKILL)
    adopted = "adopted %d sessions of chassis 1 (%d owned sessions carry the adopted flag)" % (OPEN, OPEN)
    c.wait_for("chassis 2's data plane to be told the adoption", lambda: adopted in h.read_text(logs[2]), timeout=30)
    c.wait_for("chassis 2's data plane to be told its role",
               lambda: "role secondary -> standalone" in h.read_text(logs[2]), timeout=30)
    text = h.read_text(logs[2])
    assert text.index(adopted) < text.index("role secondary -> standalone"), "the role came before the sessions:\n" + text
    c.wait_for("chassis 2's data plane to own the adopted sessions",
               lambda: last_status(h.read_text(logs[2])) == ("standalone", OPEN, 0), timeout=30)

    planes[2].send_signal(signal.SIGTERM)
    assert planes[2].wait(timeout=15) == 0, h.read_text(logs[2])
    assert h.read_text(logs[2]).rstrip().endswith("stopped"), h.read_text(logs[2])
    print("chassis 2's data plane: adopted %d sessions, then its role became standalone" % OPEN)


if __name__ == "__main__":
    sys.exit(h.main(test))
