"""bladesyncd never runs the embedded demo cluster by accident (issue 15,
point 14): without --config it reads /etc/bladesync/bladesync.conf or
refuses to start with exit 2 and says why; --demo asks for the demo."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import find_binary  # noqa: E402

DEFAULT = "/etc/bladesync/bladesync.conf"


class DaemonStart(unittest.TestCase):
    def setUp(self):
        self.bladesyncd = find_binary("bladesyncd")

    def test_no_config_is_refused(self):
        if os.path.exists(DEFAULT):
            print("SKIPPED: %s exists on this machine: the daemon would read it" % DEFAULT)  # run-tests.sh counts it
            self.skipTest(DEFAULT + " exists on this machine: the daemon would read it")
        r = subprocess.run([self.bladesyncd, "--chassis", "1"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(DEFAULT, r.stderr)
        self.assertIn("--demo", r.stderr)

    def test_demo_and_config_exclude_each_other(self):
        r = subprocess.run([self.bladesyncd, "--demo", "--config", "x.conf", "--chassis", "1"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)


if __name__ == "__main__":
    unittest.main()
