"""CURVE on every fabric socket: three chassis with keys from
`bladesync keygen` sync over encrypted, authenticated M1/M2; a peer with an
unknown key is refused by the ZAP handler and counted; a peer with a real
key that claims to be another chassis is dropped and counted; a client
without CURVE is refused at the handshake, counted, and reaches no blade;
the synced state is not harmed."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402


def keygen(c, name):
    path = os.path.join(c.dir, name)
    r = subprocess.run([c.bladesync, "keygen", "--out", path], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return open(path + ".pub").read().strip(), open(path + ".key").read().strip(), path + ".key"



def test(make):
    c = make(n_chassis=3, slots=1, rate=1000, duration=2, password=None)
    keys = {ch: keygen(c, "chassis%d" % ch) for ch in (1, 2, 3)}
    text = open(c.config).read().replace("    set slots 1\n", "    set slots 1\n    set curve enable\n")
    for ch in (1, 2, 3):
        pub, _, keyfile = keys[ch]
        text = text.replace("        edit %d\n" % ch, "        edit %d\n            set public-key \"%s\"\n"
                            "            set private-key-file \"%s\"\n" % (ch, pub, keyfile))
    with open(c.config, "w") as f:
        f.write(text)
    for ch in (1, 2, 3):
        c.start_chassis(ch)
    st = c.wait_settled()
    assert all(s["fabric"]["curve"] for s in st), st[0]["fabric"]
    assert st[0]["fabric"]["zap_accepted"] > 0
    c.traffic()
    c.wait_mirrors_match()
    before = c.status(1)
    blade = before["blades"][0]
    refused_before = before["fabric"]["zap_refused"]
    intruder = h.find_binary("intruder", "tests/integration")
    endpoint = "tcp://%s:%d" % (c.addresses[1][0], c.port + 1)  # chassis 1, slot 1, M1
    common = ["--endpoint", endpoint, "--server-key", keys[1][0], "--group", "0", "--slot", "1", "--dest", "1"]
    group = [l.split()[-1] for l in open(c.config) if "set group-id" in l][0]
    common[common.index("--group") + 1] = group

    # 1. An unknown key: the handshake is refused, nothing reaches the blade.
    subprocess.run([intruder] + common + ["--random-key", "--origin-chassis", "2"], check=True, timeout=30)
    st = c.wait_for("the refusal to be counted",
                    lambda: (lambda s: s if s["fabric"]["zap_refused"] > refused_before else None)(c.status(1)))
    # 2. A stolen key of chassis 2 claiming to be chassis 3: dropped as unauthenticated.
    subprocess.run([intruder] + common + ["--keys", keys[2][0], keys[2][1], "--origin-chassis", "3"], check=True, timeout=30)
    after = c.wait_for("the forged origin to be dropped",
                       lambda: (lambda x: x if x["dropped.unauthenticated"] > 0 else None)(c.counter_totals(1)))
    # 3. Without CURVE at all: the handshake fails and is counted; nothing
    # reaches a blade (its drop counters stay where they were).
    handshakes_before = c.status(1)["fabric"]["refused_handshakes"]
    drops_before = {k: v for k, v in c.counter_totals(1).items() if k.startswith("dropped.") and k != "dropped.duplicate"}
    subprocess.run([intruder] + common + ["--plain", "--origin-chassis", "2", "--attack", "epoch-lock"], check=True,
                   timeout=30)
    c.wait_for("the plain client's handshake to be refused",
               lambda: c.status(1)["fabric"]["refused_handshakes"] > handshakes_before)
    drops_after = {k: v for k, v in c.counter_totals(1).items() if k.startswith("dropped.") and k != "dropped.duplicate"}
    assert drops_after == drops_before, "a frame without CURVE reached a blade: %s -> %s" % (drops_before, drops_after)
    # 4. The manager's sockets (a ZeroMQ context of their own, with their
    # own ZAP handler): an unknown key is refused there too, and counted.
    refused_before = c.status(1)["fabric"]["zap_refused"]
    manager = common[:]
    manager[manager.index("--endpoint") + 1] = "tcp://%s:%d" % (c.addresses[1][0], c.port)  # chassis 1, slot 0, M1
    manager[manager.index("--dest") + 1] = "0"
    subprocess.run([intruder] + manager + ["--random-key", "--origin-chassis", "2"], check=True, timeout=30)
    c.wait_for("the manager's refusal to be counted",
               lambda: c.status(1)["fabric"]["zap_refused"] > refused_before)
    # Nothing of theirs was applied: chassis 1 still mirrors exactly what 2 and 3 own,
    # and 2 and 3 still mirror chassis 1.
    c.wait_mirrors_match()
    st1 = c.status(1)
    assert st1["blades"][0]["standby"] and all(s["sessions"] == 0 for s in st1["blades"][0]["standby"]), st1["blades"]
    # The epoch-lock attack claims chassis 2 at epoch 0xFFFFFFFF: had any of
    # its frames been applied, chassis 1 would follow that epoch now.
    locked = [s for b in st1["blades"] for s in b["standby"] if s["owner"] == 2 and s["epoch"] == 0xFFFFFFFF]
    assert not locked, "a forged epoch took: %s" % locked
    print("zap refused %d, unauthenticated drops %d, mirrors still match"
          % (st["fabric"]["zap_refused"] - refused_before, after["dropped.unauthenticated"]))


if __name__ == "__main__":
    sys.exit(h.main(test))
