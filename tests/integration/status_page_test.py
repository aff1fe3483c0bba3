"""The status page in a real browser (headless Chromium through Selenium):
a two-chassis cluster with traffic; chassis 2's page (the secondary's)
shows both chassis with their roles, its two blades in sync and a sync lag;
the primary is killed with -9 and the same page shows chassis 2 as the new
primary, and chassis 1 lost, within 2 s of the kill. A screenshot of each
state is kept as a test output (bazel-testlogs/.../test.outputs)."""
import os
import re
import sys
import time

try:
    import selenium  # noqa: F401  Debian's python3-selenium
except ImportError:  # a python that is not Debian's comes first on PATH
    os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import main  # noqa: E402

OUT = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR", "/tmp")


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1100,900", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def table(d, name):
    """[(data key, [cell texts])] of a table's body, read in one go (the page
    rebuilds its tables every second)."""
    return d.execute_script(
        "return [...document.querySelectorAll('#' + arguments[0] + ' tbody tr')].map(tr => "
        "[tr.dataset.chassis || tr.dataset.slot, [...tr.cells].map(td => td.textContent)]);", name)


def chassis_rows(d):
    """{chassis: role} from the page's chassis table."""
    return {int(k): cells[1] for k, cells in table(d, "chassis")}


def text(d, element_id):
    return d.execute_script("return document.getElementById(arguments[0]).textContent;", element_id)


def wait(what, predicate, timeout):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = predicate()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError("timed out after %.1f s waiting for %s (last: %r)" % (timeout, what, last))


def test(make):
    # 100 ms heartbeats, lost after 3: the page must follow within 2 s.
    c = make(n_chassis=2, slots=2, hb_interval=1, hb_lost=3, lifetime=60000)
    c.start_chassis(1)
    c.start_chassis(2)
    c.wait_settled()
    gen = c.traffic(duration=20, rate=1000, chassis=1, background=True, max_unroutable=100)
    port = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", c.log(2)).group(1)
    d = browser()
    try:
        d.get("http://127.0.0.1:%s/" % port)
        roles = wait("both chassis with their roles", lambda: (lambda r: r if r == {1: "primary", 2: "secondary"}
                                                               else None)(chassis_rows(d)), 10)
        blades = table(d, "blades")
        assert [k for k, _ in blades] == ["1", "2"], blades
        wait("blades up, in sync, with chassis 1's sessions in standby", lambda: all(
            cells[1] == "up" and cells[4] == "yes" and re.search(r"chassis 1: [1-9]", cells[3])
            for _, cells in table(d, "blades")), 10)
        wait("a sync lag", lambda: "ms (mean)" in text(d, "lag-now"), 10)
        assert text(d, "problems").strip() == "none", text(d, "problems")
        d.save_screenshot(os.path.join(OUT, "status-before.png"))

        c.procs.pop(1).kill()  # -9: no goodbye
        killed = time.monotonic()
        wait("chassis 2 as the primary and chassis 1 lost",
             lambda: (lambda r: r if r.get(2) in ("primary", "standalone") and r.get(1) == "lost" else None)(
                 chassis_rows(d)), 2.0)
        took = time.monotonic() - killed
        print("the page showed the new primary %.2f s after the kill" % took)
        wait("the lost peer among the problems", lambda: "chassis 1 is lost" in text(d, "problems"), 3)
        wait("the failover", lambda: "took" in text(d, "failover"), 3)
        wait("chassis 1's sessions adopted on every blade", lambda: all(
            "chassis 1: adopted" in cells[3] and cells[4] == "yes" for _, cells in table(d, "blades")), 3)
        d.save_screenshot(os.path.join(OUT, "status-after-failover.png"))
        print("roles before: %s" % roles)
    finally:
        d.quit()
        gen.kill()
        gen.wait()


if __name__ == "__main__":
    sys.exit(main(test))
