"""The Debian package on a fresh Debian 12 (issue 18): tools/fresh-root.sh
made a debootstrap minbase root with the package's dependencies in its apt
cache; here, on a throwaway overlay of it, apt installs the .deb resolving
its Depends, and then:
- bladesyncd --version and bladesync --version name the package's version;
- bladesync check-config passes on the installed /etc/bladesync/bladesync.conf
  (with --chassis 1: its addresses are this host's);
- the conffiles, man pages, bash completion and units are where they belong,
  and systemd-analyze verify finds nothing wrong with the units;
- lintian finds nothing README.md does not explain;
- the installed default config starts (in a network namespace of its own),
  answers on its control socket as a standalone chassis, and stops with 0."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import find_data  # noqa: E402

ROOT = "/var/cache/bladesync/bookworm-root"


def sh(*cmd, ok=True, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=300, **kw)
    if ok and r.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


def unit_commands(root, unit, env_file):
    """ExecStartPre and ExecStart of a unit as argv lists, with the
    EnvironmentFile's variables: ${X} is one word, $X splits on spaces."""
    env = {}
    with open(root + env_file) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v.strip('"')
    cmds = {}
    with open(root + unit) as f:
        for line in f:
            if line.startswith(("ExecStartPre=", "ExecStart=")):
                k, v = line.rstrip("\n").split("=", 1)
                argv = []
                for w in v.split():
                    if w.startswith("${") and w.endswith("}"):
                        argv.append(env.get(w[2:-1], ""))
                    elif w.startswith("$"):
                        argv += env.get(w[1:], "").split()
                    else:
                        argv.append(w)
                cmds[k] = argv
    return cmds["ExecStartPre"], cmds["ExecStart"]


def main():
    deb = find_data("packaging/bladesync.deb")
    marker = os.path.join(ROOT, "var/cache/bladesync-cached-for")
    if not os.path.isfile(marker):
        print("SKIPPED: no fresh Debian 12 root at %s (tools/run-tests.sh makes it with tools/fresh-root.sh, "
              "which needs a Debian mirror)" % ROOT)
        return 0
    depends = sh("dpkg-deb", "-f", deb, "Depends").stdout.strip()
    with open(marker) as f:
        assert f.read().strip() == depends + " + systemd", \
            "the fresh root's apt cache is for another Depends: run tools/fresh-root.sh again"
    version = sh("dpkg-deb", "-f", deb, "Version").stdout.strip()
    # lintian: clean, or each remaining tag explained in README.md.
    with open(find_data("README.md")) as f:
        readme = f.read()
    tags = set()
    for line in sh("lintian", "--tag-display-limit", "0", deb, ok=False).stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in ("E:", "W:", "I:") and parts[1] == "bladesync:":
            tags.add(parts[2])
    unexplained = sorted(t for t in tags if "`%s`" % t not in readme)
    assert not unexplained, "lintian tags README.md does not explain: %s" % unexplained
    work = tempfile.mkdtemp(prefix="bladesync-deb-")
    merged = os.path.join(work, "root")
    for d in ("upper", "work", "root"):
        os.mkdir(os.path.join(work, d))
    mounted = []
    try:
        sh("mount", "-t", "overlay", "overlay", "-o",
           "lowerdir=%s,upperdir=%s/upper,workdir=%s/work" % (ROOT, work, work), merged)
        mounted.append(merged)
        sh("mount", "-t", "proc", "proc", merged + "/proc")
        mounted.append(merged + "/proc")
        shutil.copy(deb, merged + "/tmp/bladesync.deb")
        for old in os.listdir(merged + "/var/cache/apt/archives"):  # a copy from an earlier fresh-root.sh
            if old.startswith("bladesync_"):
                os.remove(os.path.join(merged, "var/cache/apt/archives", old))

        def chroot(*cmd, ok=True, net=True):
            return sh(*([] if net else ["unshare", "--net"]), "chroot", merged, *cmd, ok=ok,
                      env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"})
        # Without a network: what apt needs must be in the fresh root's cache.
        chroot("apt-get", "install", "-y", "/tmp/bladesync.deb", "systemd", net=False)
        release = version.split("+")[0]
        for name, path in (("bladesyncd", "/usr/sbin/bladesyncd"), ("bladesync", "/usr/bin/bladesync")):
            out = chroot(path, "--version").stdout
            assert out.startswith("%s %s (commit " % (name, release)), out
            if "+g" in version:  # the package's commit is the binary's
                assert version.split("+g")[1].split(".")[0] in out, (version, out)
        chroot("bladesync", "check-config", "/etc/bladesync/bladesync.conf")
        chroot("bladesync", "check-config", "/etc/bladesync/bladesync.conf", "--chassis", "1")
        conffiles = chroot("dpkg-query", "-W", "-f=${Conffiles}", "bladesync").stdout
        for c in ("/etc/bladesync/bladesync.conf", "/etc/default/bladesyncd"):
            assert c in conffiles, conffiles
        files = set(chroot("dpkg", "-L", "bladesync").stdout.split())
        for f in ("/usr/share/man/man8/bladesyncd.8.gz", "/usr/share/man/man8/bladesync.8.gz",
                  "/usr/share/man/man5/bladesync.conf.5.gz", "/usr/share/bash-completion/completions/bladesync",
                  "/lib/systemd/system/bladesyncd.service", "/lib/systemd/system/bladesyncd@.service"):
            assert f in files, f
        # A template is verified as an instance of it.
        shutil.copy(merged + "/lib/systemd/system/bladesyncd@.service", merged + "/tmp/bladesyncd@1.service")
        for unit in ("/lib/systemd/system/bladesyncd.service", "/tmp/bladesyncd@1.service"):
            r = chroot("systemd-analyze", "verify", "--man=no", unit, ok=False)
            assert r.returncode == 0 and not r.stderr.strip(), (unit, r.stdout, r.stderr)

        # The installed default starts, alone, in its own network namespace,
        # by the unit's own command lines with /etc/default/bladesyncd's
        # variables expanded as systemd does (no systemd as PID 1 here to run
        # the unit itself; its hardening is checked by systemd-analyze only).
        pre, start = unit_commands(merged, "/lib/systemd/system/bladesyncd.service", "/etc/default/bladesyncd")
        chroot(*pre)
        os.makedirs(merged + "/run/bladesync", exist_ok=True)  # RuntimeDirectory=
        daemon = subprocess.Popen(["unshare", "--net", "sh", "-c", 'ip link set lo up && exec chroot "$0" "$@"',
                                   merged] + start, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 30
            status = None
            while time.monotonic() < deadline:
                r = chroot("bladesync", "--json", "get", "system", "ha", "status", "--chassis", "1", ok=False)
                if r.returncode == 0 and '"role":"standalone"' in r.stdout.replace(" ", ""):
                    status = r.stdout
                    break
                time.sleep(0.3)
            assert status, "the installed default did not come up as a standalone chassis: %s" % r.stdout + r.stderr
        finally:
            daemon.terminate()
            out, _ = daemon.communicate(timeout=20)
        assert daemon.returncode == 0, "bladesyncd exited %d:\n%s" % (daemon.returncode, out)
    finally:
        for m in reversed(mounted):
            subprocess.run(["umount", "-l", m])
        shutil.rmtree(work, ignore_errors=True)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
