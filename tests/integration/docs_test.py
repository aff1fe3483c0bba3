"""The documentation cannot drift from the code: README's option table is
what tools/gen-docs.py makes of docs/options.txt; every option the config
parser reads is described there and nothing else; the man pages made from
it and from the binaries' own --help render without a groff warning and say
what the sources say."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import find_binary, find_data  # noqa: E402


def run(*args):
    return subprocess.run([sys.executable, find_data("tools/gen-docs.py")] + list(args), capture_output=True, text=True)


def main():
    r = run("readme", "--check")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run("parser-check")
    assert r.returncode == 0, r.stdout + r.stderr
    out = tempfile.mkdtemp(prefix="bladesync-man-")
    r = run("man", out, "--bladesync", find_binary("bladesync"), "--bladesyncd", find_binary("bladesyncd"))
    assert r.returncode == 0, r.stdout + r.stderr
    rendered = {}
    for page in ("bladesync.conf.5", "bladesyncd.8", "bladesync.8"):
        path = os.path.join(out, page)
        lint = subprocess.run(["groff", "-man", "-ww", "-z", path], capture_output=True, text=True)
        assert lint.returncode == 0 and not lint.stderr, (page, lint.stderr)
        txt = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", path], capture_output=True, text=True,
                             env=dict(os.environ, MANWIDTH="200"))
        rendered[page] = txt.stdout
    with open(find_data("docs/options.txt")) as f:
        options = [line.split("|")[1].strip() for line in f if "|" in line and not line.startswith("#")]
    assert len(options) > 90, len(options)
    for o in options:
        assert o in rendered["bladesync.conf.5"], "bladesync.conf(5) lacks " + o
    for name, page in (("bladesyncd", "bladesyncd.8"), ("bladesync", "bladesync.8")):
        help_text = subprocess.run([find_binary(name), "--help"], capture_output=True, text=True).stdout
        for line in help_text.splitlines():
            words = line.split()
            if words:
                assert " ".join(words) in " ".join(rendered[page].split()), "%s lacks: %s" % (page, line)
    print("PASS")


if __name__ == "__main__":
    main()
