"""Both binaries are script-safe (issue 17, points 9 to 11): -h/--help and
--version exit 0; every error exits non-zero and names what was typed;
`bladesync traffic` fails when nothing was delivered and reports what was
unroutable; a blade beyond `set slots` is refused, not started; log lines
carry an RFC 3339 timestamp, or a journal priority when stderr is the
journal, and the name of the thread that wrote them."""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402


def run(cmd, env=None, timeout=30):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def check_help_and_version(cli, daemon):
    for binary, name in ((cli, "bladesync"), (daemon, "bladesyncd")):
        for flag in ("-h", "--help"):
            r = run([binary, flag])
            assert r.returncode == 0 and r.stdout.startswith("usage: " + name), (binary, flag, r.returncode, r.stderr)
        r = run([binary, "--version"])
        assert r.returncode == 0 and re.fullmatch(name + r" \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}(-dirty)?|unknown)\)\n", r.stdout), (binary, r.returncode, r.stdout)
    r = run([cli])
    assert r.returncode == 2 and "usage:" in r.stderr, (r.returncode, r.stderr)


def check_errors_exit_non_zero(c):
    cli, daemon = c.bladesync, c.bladesyncd
    cases = [
        ([cli, "bogus"], 2, "unknown command 'bogus'"),
        ([cli, "traffic", "--config", c.config, "--rate", "-5"], 2, "--rate needs a whole number from 0, not '-5'"),
        ([cli, "traffic", "--config", c.config, "--duration", "3x"], 2, "not '3x'"),
        ([cli, "traffic", "--config", c.config, "--max-unroutable", "150"], 2, "not '150'"),
        ([cli, "get", "system", "ha", "status", "--connect", "127.0.0.1:37191"], 2,
         "not '127.0.0.1:37191': the control socket is a Unix socket"),
        ([daemon, "--config", c.config, "--chassis", "1", "--log-level", "verbose"], 2,
         "--log-level is one of debug|info|warn|error, not 'verbose'"),
        ([daemon, "--config", c.config, "--chassis", "1x"], 2, "not '1x'"),
        ([daemon, "--config", c.config, "--chassis", "1", "--slot", "9", "--no-manager"], 2,
         "no slot 9 in %s: 'set slots 2' gives slots 1 to 2" % c.config),
        ([cli, "check-config", c.config, "--chassis", "3"], 1, "no chassis 3"),
    ]
    for cmd, rc, text in cases:
        r = run(cmd)
        assert r.returncode == rc and text in r.stderr, (cmd, r.returncode, r.stderr)


def check_json_and_start_errors(c):
    # --json: a script reading stdout gets JSON also when no chassis answers.
    r = run([c.bladesync, "--connect", c.control[1], "get", "system", "ha", "status", "--json"])
    assert r.returncode == 3 and json.loads(r.stdout).get("error"), (r.returncode, r.stdout, r.stderr)
    # check-config --chassis finds a key file bladesyncd could not read.
    text = open(c.config).read().replace("    set slots 2\n", "    set slots 2\n    set curve enable\n")
    keyed = os.path.join(c.dir, "keyed.conf")
    pub = run([c.bladesync, "keygen"]).stdout.split()[1]
    text = text.replace("        edit 1\n", "        edit 1\n            set public-key \"%s\"\n"
                        "            set private-key-file \"%s/missing.key\"\n" % (pub, c.dir))
    text = text.replace("        edit 2\n", "        edit 2\n            set public-key \"%s\"\n"
                        "            set private-key-file \"%s/missing.key\"\n" % (pub, c.dir))
    text = text.replace('    set password "integration-secret"\n', "")
    open(keyed, "w").write(text)
    os.chmod(keyed, 0o600)
    r = run([c.bladesync, "check-config", keyed])
    assert r.returncode == 0, r.stdout + r.stderr  # the file itself is fine...
    r = run([c.bladesync, "check-config", keyed, "--chassis", "1"])
    assert r.returncode == 1 and "cannot read private-key-file" in r.stderr, (r.returncode, r.stderr)  # ...this host is not
    # check-config --chassis: the interfaces it watches and holds addresses on
    # must be this host's; each one missing is named with its line.
    text = open(c.config).read().replace("    set slots 2\n", "    set slots 2\n    set monitor \"port7\"\n")
    text = ("config system interface\n    edit \"lan\"\n        set device bsnosuch0\n        set ip 10.0.1.1/24\n"
            "    next\nend\n" + text)
    missing = os.path.join(c.dir, "missing-intf.conf")
    open(missing, "w").write(text)
    os.chmod(missing, 0o600)
    assert run([c.bladesync, "check-config", missing]).returncode == 0
    r = run([c.bladesync, "check-config", missing, "--chassis", "1"])
    lines = text.splitlines()
    mon_line = next(i + 1 for i, l in enumerate(lines) if "set monitor" in l)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert ("%s:%d: option 'monitor' in 'config system ha': interface 'port7' (device port7) does not exist on this host"
            % (missing, mon_line)) in r.stderr, r.stderr
    assert ("%s:2: option 'ip' in 'config system interface / edit lan': interface 'lan' (device bsnosuch0) does not "
            "exist on this host" % missing) in r.stderr, r.stderr
    # Start failures go through the log: under the journal with priority <3>.
    with open(os.path.join(c.dir, "start.log"), "wb") as log:
        st = os.fstat(log.fileno())
        env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        p = subprocess.run([c.bladesyncd, "--config", keyed, "--chassis", "1"], stdout=log, stderr=log, env=env, timeout=20)
    out = open(os.path.join(c.dir, "start.log")).read()
    assert p.returncode == 2 and re.search(r"^<3>chassis1 \S+ \[error\] .*cannot read private-key-file", out, re.M), out


def check_traffic_without_cluster(c):
    r = run([c.bladesync, "traffic", "--config", c.config, "--duration", "1"], timeout=60)
    last = r.stdout.strip().splitlines()[-1]
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert re.fullmatch(r"traffic done: \d+ flows, 0 packets delivered, [1-9]\d* unroutable \(100\.00%\)", last), last
    assert "nothing was delivered" in r.stderr, r.stderr


def check_log_lines(c):
    """A running chassis's log lines: timestamp or journal priority, then thread names."""
    log_path = os.path.join(c.dir, "chassis1.log")
    with open(log_path, "ab") as log:
        st = os.fstat(log.fileno())
        journal_env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        for env, pattern in ((None, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z chassis1 (\S+) \[(debug|info|warn|error)\] "),
                             (journal_env, r"<[3467]>chassis1 (\S+) \[(debug|info|warn|error)\] ")):
            log.truncate(0)
            p = subprocess.Popen([c.bladesyncd, "--config", c.config, "--chassis", "1", "--log-level", "debug"],
                                 stdout=log, stderr=log, env=env)
            try:
                c.wait_for("manager and blade log lines",
                           lambda: re.search(r" manager \[", open(log_path).read()) and
                           re.search(r" blade1 \[", open(log_path).read()), timeout=20)
            finally:
                p.terminate()
                assert p.wait(timeout=10) == 0
            lines = [x for x in open(log_path).read().splitlines() if x]
            assert lines, "no log lines"
            for line in lines:
                assert re.match(pattern, line), (env is not None, line)
            threads = {re.match(pattern, x).group(1) for x in lines}
            assert {"manager", "blade1", "blade2"} <= threads, threads


def test(make):
    c = make(n_chassis=2, slots=2, duration=1)
    check_help_and_version(c.bladesync, c.bladesyncd)
    check_errors_exit_non_zero(c)
    check_json_and_start_errors(c)
    check_traffic_without_cluster(c)
    check_log_lines(c)
    print("cli: help and version exit 0, errors exit non-zero and name what was typed, traffic without a cluster "
          "fails, log lines stamped and named by thread")


if __name__ == "__main__":
    sys.exit(h.main(test))
