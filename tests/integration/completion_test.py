"""Bash completion (packaging/bash-completion/bladesync) completes what the
binaries take: bladesync's commands level by level, their options, log
levels for bladesyncd, and chassis numbers from the config a command line
names. Every command word it offers is one bladesync's --help lists."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import find_binary, find_data  # noqa: E402


SCRIPT = find_data("packaging/bash-completion/bladesync")
CONFIG = find_data("examples/demo.conf")


def complete(*words):
    """What completing the last word of `words` offers."""
    quoted = " ".join("'%s'" % w for w in words)
    r = subprocess.run(["bash", "-c", 'source "$0"; COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
                        '_${COMP_WORDS[0]}; printf "%%s\\n" "${COMPREPLY[@]}"' % quoted, SCRIPT],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return sorted(x for x in r.stdout.split("\n") if x)


def main():
    top = complete("bladesync", "")
    assert {"demo", "traffic", "get", "diagnose", "execute", "keygen", "check-config", "conntrack"} <= set(top), top
    help_text = subprocess.run([find_binary("bladesync"), "--help"], capture_output=True, text=True).stdout
    for w in top:
        assert w in help_text, "completion offers '%s', which bladesync --help does not list" % w
    assert complete("bladesync", "diagnose", "sys", "ha", "c") == ["checksum"]
    assert complete("bladesync", "diagnose", "sys", "ha", "checksum", "") == sorted(
        ["show", "cluster", "--chassis", "--config", "--connect", "--json"])
    assert complete("bladesync", "execute", "ha", "failover", "u") == ["unset"]
    assert complete("bladesync", "diagnose", "sys", "ha", "r") == ["reset-uptime"]
    assert complete("bladesync", "diagnose", "sys", "link-monitor", "s") == ["status"]
    assert complete("bladesync", "rel") == ["release"]
    # Chassis numbers come from the config on the command line, before or after the command.
    assert complete("bladesync", "--config", CONFIG, "get", "system", "ha", "status", "--chassis", "") == ["1", "2"]
    assert complete("bladesync", "get", "--config", CONFIG, "system", "") == ["--chassis", "--config", "--connect",
                                                                            "--json", "ha"]
    assert complete("bladesyncd", "--config", CONFIG, "--chassis", "") == ["1", "2"]
    assert complete("bladesyncd", "--log-level", "") == ["debug", "error", "info", "warn"]
    daemon_help = subprocess.run([find_binary("bladesyncd"), "--help"], capture_output=True, text=True).stdout
    for opt in complete("bladesyncd", "--"):
        assert opt in daemon_help, "completion offers %s, which bladesyncd --help does not list" % opt
    print("PASS")


if __name__ == "__main__":
    main()
