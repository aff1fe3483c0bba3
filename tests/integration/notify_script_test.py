"""set notify-script through the real daemons: each chassis runs it on its
role changes (the new and old role as arguments, the chassis in the
environment), the survivor's script sees it become the primary after a
kill -9, the status counts the runs, and check-config --chassis refuses a
script that is not there."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import main  # noqa: E402


def test(make):
    c = make(n_chassis=2, slots=2)
    script = os.path.join(c.dir, "notify.sh")
    with open(script, "w") as f:
        f.write('#!/bin/sh\necho "$1 $2 primary=$BLADESYNC_PRIMARY" >> "%s/roles-$BLADESYNC_CHASSIS"\n' % c.dir)
    os.chmod(script, 0o755)
    text = open(c.config).read().replace("    set session-pickup-connectionless enable\n",
                                         "    set session-pickup-connectionless enable\n"
                                         "    set notify-script \"%s\"\n    set notify-script-timeout 5\n" % script, 1)
    with open(c.config, "w") as f:
        f.write(text)

    def roles(ch):
        try:
            with open(os.path.join(c.dir, "roles-%d" % ch)) as f:
                return f.read().splitlines()
        except OSError:
            return []

    c.start_chassis(1)
    c.start_chassis(2)
    c.wait_settled()
    c.wait_for("both scripts to have run", lambda: roles(1) and roles(2))
    assert roles(1)[-1] == "primary unknown primary=1", roles(1)
    assert roles(2)[-1] == "secondary unknown primary=1", roles(2)
    c.procs.pop(1).kill()
    c.wait_for("chassis 2's script to see it take the role",
               lambda: any(r.startswith(("primary secondary", "standalone secondary")) for r in roles(2)), timeout=15)
    st = c.status(2)["notify_script"]
    assert st["path"] == script and st["runs"] == len(roles(2)) and st["failed"] == 0 and st["timed_out"] == 0, st
    # check-config --chassis: the script must be there and executable.
    os.chmod(script, 0o644)
    r = subprocess.run([c.bladesync, "check-config", c.config, "--chassis", "1"], capture_output=True, text=True)
    assert r.returncode == 1 and "'notify-script'" in r.stderr and "Permission denied" in r.stderr, (r.returncode, r.stderr)
    print("chassis 2's script saw: %s" % roles(2))


if __name__ == "__main__":
    sys.exit(main(test))
