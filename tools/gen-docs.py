#!/usr/bin/env python3
"""The documentation that must not drift, made from one source each.

  gen-docs.py readme [--check]     the option table in README.md, from docs/options.txt
  gen-docs.py parser-check         every option config/cluster_config.cc reads is in docs/options.txt, and back
  gen-docs.py man OUTDIR --bladesync BIN --bladesyncd BIN
                                   bladesync.conf(5) from docs/options.txt; bladesync(8) and
                                   bladesyncd(8) from the binaries' own --help and --version

--check and parser-check exit 1 naming what differs."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN = "<!-- option table: made by tools/gen-docs.py from docs/options.txt; edit that file -->"
END = "<!-- end of option table -->"


def load_options(root=ROOT):
    """[(block, option, values, text)] in file order."""
    rows = []
    with open(os.path.join(root, "docs", "options.txt")) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split("|")]
            if len(parts) != 4 or not all(parts[:2]) or not parts[3]:
                sys.exit("docs/options.txt:%d: expected 'block | option | values | what it does'" % n)
            rows.append(tuple(parts))
    return rows


def blocks_in_order(rows):
    order = []
    for b, *_ in rows:
        if b not in order:
            order.append(b)
    return order


def readme_table(rows):
    out = [BEGIN, "", "| block | options |", "|---|---|"]
    for b in blocks_in_order(rows):
        opts = []
        for blk, opt, values, _ in rows:
            if blk != b:
                continue
            v = values.replace("|", "\\|")
            opts.append("`%s` (%s)" % (opt, v) if v else "`%s`" % opt)
        out.append("| `%s` | %s |" % (b, ", ".join(opts)))
    out += ["", END]
    return "\n".join(out)


def readme(check):
    path = os.path.join(ROOT, "README.md")
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit("README.md: the option table's markers are missing")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + readme_table(load_options()) + text[end:]
    if check:
        if new != text:
            print("README.md's option table differs from docs/options.txt: run python3 tools/gen-docs.py readme")
            return 1
        return 0
    with open(path, "w") as f:
        f.write(new)
    return 0


def parser_options(root=ROOT):
    """Every option name config/cluster_config.cc hands to a BlockReader."""
    with open(os.path.join(root, "config", "cluster_config.cc")) as f:
        src = f.read()
    names = set()
    for m in re.finditer(r"\b\w+\.On\(([^,]*),", src):
        names.update(re.findall(r'"([^"]+)"', m.group(1)))
    return names


def parser_check():
    documented = {opt for _, opt, _, _ in load_options()}
    known = parser_options()
    bad = 0
    for o in sorted(known - documented):
        print("config/cluster_config.cc reads '%s', which docs/options.txt does not describe" % o)
        bad = 1
    for o in sorted(documented - known):
        print("docs/options.txt describes '%s', which config/cluster_config.cc does not read" % o)
        bad = 1
    return bad


def roff(s):
    s = s.replace("\\", "\\e")
    s = re.sub(r"`([^`]*)`", r"\\fB\1\\fR", s)
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in s.split("\n"))


def man_conf(version):
    rows = load_options()
    out = ['.TH BLADESYNC.CONF 5 "" "bladesync %s" "File Formats"' % version,
           ".SH NAME", "bladesync.conf \\- bladesync cluster configuration",
           ".SH SYNOPSIS", "/etc/bladesync/bladesync.conf",
           ".SH DESCRIPTION",
           "The file is in FortiOS CLI style: \\fBconfig\\fR blocks hold \\fBset\\fR options and "
           "\\fBedit\\fR entries, each closed by \\fBend\\fR or \\fBnext\\fR. "
           "\\fBunset\\fR restores an option's default. Every chassis of a cluster reads the same file "
           "and is told which one it is (\\fBbladesyncd --chassis N\\fR). Errors name the file, the line "
           "and the option; \\fBbladesync check-config\\fR checks a file without running it.",
           ".SH OPTIONS"]
    for b in blocks_in_order(rows):
        out.append(".SS %s" % roff(b))
        for blk, opt, values, text in rows:
            if blk != b:
                continue
            out.append(".TP")
            out.append("\\fB%s\\fR%s" % (roff(opt), (" \\fI" + roff(values) + "\\fR") if values else ""))
            out.append(roff(text))
    out += [".SH FILES", "/etc/bladesync/bladesync.conf",
            ".SH SEE ALSO", "bladesyncd(8), bladesync(8)"]
    return "\n".join(out) + "\n"


DAEMON_SERVICE = """.SH SERVICE
Under systemd (\\fBbladesyncd.service\\fR, \\fBbladesyncd@N.service\\fR, \\fIType=notify\\fR) the daemon
sends \\fBREADY=1\\fR once its control socket is up and every blade finished its first bulk sync from every
peer it heard (or the detection time passed without one), \\fBSTATUS=\\fR with its role,
\\fBRELOADING=1\\fR around a reload (SIGHUP) and \\fBSTOPPING=1\\fR. With \\fIWatchdogSec=\\fR it pings
only while the manager's and every blade's event loop turn, so a hung thread gets the service restarted.
Logs go to the journal with their priorities: \\fBjournalctl -u bladesyncd\\fR.
.SH STATUS PAGE
The chassis's metrics address (\\fBset metrics\\fR) serves \\fB/metrics\\fR for Prometheus, a status page at
\\fB/\\fR and its data at \\fB/status.json\\fR.
"""


def man_binary(name, section_title, binary, summary, version):
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    out = ['.TH %s 8 "" "bladesync %s" "%s"' % (name.upper(), version, section_title),
           ".SH NAME", "%s \\- %s" % (name, summary), ".SH SYNOPSIS AND OPTIONS",
           "The program's own \\fB--help\\fR, word for word:", ".PP", ".nf", roff(help_text.rstrip("\n")), ".fi"]
    if name == "bladesyncd":
        out.append(DAEMON_SERVICE.rstrip("\n"))
    out += [".SH FILES", "/etc/bladesync/bladesync.conf (see bladesync.conf(5))",
            ".SH SEE ALSO", "bladesync.conf(5), %s" % ("bladesync(8)" if name == "bladesyncd" else "bladesyncd(8)")]
    return "\n".join(out) + "\n"


def man(outdir, bladesync, bladesyncd):
    version = subprocess.run([bladesyncd, "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    os.makedirs(outdir, exist_ok=True)
    pages = {"bladesync.conf.5": man_conf(version),
             "bladesyncd.8": man_binary("bladesyncd", "System Administration", bladesyncd,
                                        "the bladesync chassis daemon (session sync for HA clusters)", version),
             "bladesync.8": man_binary("bladesync", "System Administration", bladesync,
                                       "the bladesync operator CLI", version)}
    for name, text in pages.items():
        with open(os.path.join(outdir, name), "w") as f:
            f.write(text)
    return 0


def main(argv):
    if len(argv) >= 1 and argv[0] == "readme":
        return readme("--check" in argv[1:])
    if argv == ["parser-check"]:
        return parser_check()
    if len(argv) == 6 and argv[0] == "man" and argv[2] == "--bladesync" and argv[4] == "--bladesyncd":
        return man(argv[1], argv[3], argv[5])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
