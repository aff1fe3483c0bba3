"""session-pickup-defer with real processes (issue 20, asymmetric
active-active), through the embedding API: examples/embedded_data_plane
runs blade 1 of each chassis of an active-active pair (bladesyncd runs the
managers). Chassis 1's data plane opens sessions; each one's first packet
"goes out" as a line on a FIFO. Chassis 2's data plane is the reply path:
for each line it looks the session up among its mirrored ones at once,
as a reply arriving there would. With the first packet held until the
mirror has the session (api::Blade::WhenSynced, what session-pickup-defer
does) every reply finds it; the control run without the hold shows the
race it closes (replies that find nothing).
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402

PROBES = 100


def run(make, defer_ms):
    example = h.find_binary("embedded_data_plane", package="examples")
    c = make(n_chassis=2, slots=1, mode="a-a", hb_interval=2, hb_lost=4)
    for ch in (1, 2):
        c.start_chassis(ch, ["--no-blades"])
    fifo = os.path.join(c.dir, "first-packets")
    os.mkfifo(fifo)
    logs = {ch: os.path.join(c.dir, "dataplane%d.log" % ch) for ch in (1, 2)}
    planes = {2: subprocess.Popen([example, "--config", c.config, "--chassis", "2", "--slot", "1", "--exit-after", "60",
                                   "--replies", fifo], stdout=open(logs[2], "w"), stderr=subprocess.STDOUT)}
    cmd = [example, "--config", c.config, "--chassis", "1", "--slot", "1", "--exit-after", "60", "--probe", str(PROBES),
           "--to", fifo]
    if defer_ms:
        cmd += ["--defer-ms", str(defer_ms)]
    planes[1] = subprocess.Popen(cmd, stdout=open(logs[1], "w"), stderr=subprocess.STDOUT)
    try:
        replies = c.wait_for("chassis 2 to see every reply",
                             lambda: (lambda r: r if len(r) == PROBES else None)(
                                 re.findall(r"^reply (\d+) (found|missing)$", h.read_text(logs[2]), re.M)), timeout=40)
    finally:
        for p in planes.values():
            p.terminate()
            p.wait(timeout=10)
    missing = [i for i, what in replies if what == "missing"]
    return missing


def test(make):
    held = run(make, defer_ms=20)
    assert not held, "with the first packet held, %d replies found no session: %s" % (len(held), held[:10])
    unheld = run(make, defer_ms=0)
    assert len(unheld) >= PROBES // 2, "the control run shows no race (%d of %d missing)" % (len(unheld), PROBES)
    print("held until the mirror has it: %d of %d replies found their session; not held: %d found nothing"
          % (PROBES, PROBES, len(unheld)))


if __name__ == "__main__":
    sys.exit(h.main(test))
