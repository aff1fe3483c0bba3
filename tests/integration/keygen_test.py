"""`bladesync keygen --out PREFIX`: the private key is 0600 whatever the
umask, an existing key is never overwritten, a missing directory is an
error (exit 1), and the config line it suggests reads the key from its file
by absolute path (`set private-key-file`: a key in the config is never
mistaken for a file, whatever character it begins with)."""
import os
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_harness as h  # noqa: E402


def test(make):
    cli = h.find_binary("bladesync")
    d = tempfile.mkdtemp(prefix="bladesync-keygen-")
    old = os.umask(0o022)
    try:
        prefix = os.path.join(d, "chassis1")
        r = subprocess.run([cli, "keygen", "--out", prefix], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        assert 'set private-key-file "%s.key"' % os.path.realpath(prefix) in r.stdout, r.stdout
        assert stat.S_IMODE(os.stat(prefix + ".key").st_mode) == 0o600, oct(os.stat(prefix + ".key").st_mode)
        key = open(prefix + ".key").read()
        r = subprocess.run([cli, "keygen", "--out", prefix], capture_output=True, text=True, timeout=10)
        assert r.returncode == 1 and "exists" in r.stderr, (r.returncode, r.stderr)
        assert open(prefix + ".key").read() == key, "an existing key was overwritten"
        r = subprocess.run([cli, "keygen", "--out", os.path.join(d, "no", "such", "dir", "k")], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 1 and "cannot create" in r.stderr, (r.returncode, r.stderr)
        # --force replaces the pair, still 0600.
        r = subprocess.run([cli, "keygen", "--out", prefix, "--force"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        assert open(prefix + ".key").read() != key, "--force kept the old key"
        assert stat.S_IMODE(os.stat(prefix + ".key").st_mode) == 0o600
        # A .pub left alone is not overwritten either, and no half pair stays behind.
        lone = os.path.join(d, "lone")
        open(lone + ".pub", "w").write("old\n")
        r = subprocess.run([cli, "keygen", "--out", lone], capture_output=True, text=True, timeout=10)
        assert r.returncode == 1 and "exists" in r.stderr, (r.returncode, r.stderr)
        assert not os.path.exists(lone + ".key") and open(lone + ".pub").read() == "old\n"
        # An empty prefix is an error, not "print the keys".
        r = subprocess.run([cli, "keygen", "--out", ""], capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    finally:
        os.umask(old)
    print("keygen: 0600 under umask 022, no overwrite, missing directory refused, private-key-file suggested")


if __name__ == "__main__":
    sys.exit(h.main(test))
