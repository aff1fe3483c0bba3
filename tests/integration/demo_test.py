"""The demo fails over (issue 17, point 13): `bladesync demo` crashes the
primary halfway through the traffic, the secondary takes over, and the demo
ends with the failover line, every synced session picked up, then the mirror
check; it exits 0 only then. With nothing synced (session-pickup disable)
the same run must fail: exit 1, saying so."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402

FAILOVER = re.compile(r"^failover at (\d+\.\d) s took (\d+\.\d\d) s: (\d+) of (\d+) synced sessions picked up, (\d+) lost$",
                      re.M)


def run_demo(c, *extra):
    r = subprocess.run([c.bladesync, "demo", "--config", c.config, "--duration", "4"] + list(extra),
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def test(make):
    c = make(n_chassis=2, slots=2, rate=1500, duration=4, lifetime=3000)
    rc, out, err = run_demo(c)
    assert rc == 0, "demo failed (%d):\n%s\n%s" % (rc, out, err)
    assert re.search(r"chassis 1 \(the primary\) crashes", out), out
    assert re.search(r"chassis 2 took over after \d+\.\d\d s", out), out
    assert re.search(r"chassis 1 restarts \(a new epoch\)", out), out
    m = FAILOVER.search(out)
    assert m, out
    picked, synced, lost = int(m.group(3)), int(m.group(4)), int(m.group(5))
    assert synced > 500 and picked == synced and lost == 0, m.group(0)
    # Detection (6 heartbeats of 200 ms) and adoption, with room for a loaded machine.
    assert float(m.group(2)) < 3.0, m.group(0)
    # The failover line comes first, then the mirror check and its verdict.
    tail = out[m.end():]
    assert "owner  slot  owner synced" in tail and "result: every mirror matches its owner" in tail, tail

    text = open(c.config).read().replace("    set session-pickup-connectionless enable\n", "") \
                                .replace("set session-pickup enable", "set session-pickup disable")
    open(c.config, "w").write(text)
    rc, out, err = run_demo(c)
    assert rc == 1 and "result: FAILED" in out, "a demo that synced nothing passed (%d):\n%s\n%s" % (rc, out, err)
    print("demo: %s; without session-pickup it fails" % m.group(0))


if __name__ == "__main__":
    sys.exit(h.main(test))
