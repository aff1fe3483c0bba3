#!/usr/bin/env python3
"""Summarizes bench/compare_commits.sh output: per commit and workload, the
median (min-max) over rounds of each figure a line reports, and the ratio
of the medians (new / old).

    bash bench/compare_commits.sh OLD NEW 5 zmq_throughput_bench 1000000 1 > out.txt
    python3 bench/summarize_compare.py < out.txt
"""
import re
import statistics
import sys
from collections import OrderedDict, defaultdict

# "<rev> round <n>: <workload>: <figures>" (zmq_throughput_bench), or the
# sync lag bench's header line followed by " bladesync  p50 ... p99 ..." lines.
FIGURES = [
    ("deltas/s", re.compile(r"bladesync ([\d.]+) M deltas/s")),
    ("raw M/s", re.compile(r"raw ZeroMQ, same bytes ([\d.]+) M/s")),
    ("CPU us/delta", re.compile(r"CPU ([\d.]+) us/delta")),
    ("p50 ms", re.compile(r"^\s*bladesync\s+p50 ([\d.]+) ms")),
    ("p99 ms", re.compile(r"^\s*bladesync\s+p50 [\d.]+ ms \(.*?\)\s+p99 ([\d.]+) ms")),
]

def main():
    values = defaultdict(list)  # (workload, figure, rev) -> [v]
    revs, workloads = [], OrderedDict()
    context = {}
    for line in sys.stdin:
        m = re.match(r"^(\w+) round \d+: (.*)$", line.rstrip("\n"))
        if not m:
            continue
        rev, rest = m.groups()
        if rev not in revs:
            revs.append(rev)
        if ":" in rest and not rest.lstrip().startswith(("bladesync ", "raw ")):
            workload, _, figures = rest.partition(":")
            if not figures.strip():  # a header line (sync lag): figures follow
                context[rev] = workload.strip()
                continue
        else:
            workload, figures = context.get(rev, "?"), rest
        workload = re.sub(r", \d+ runs?", "", workload.split(", 1000000 deltas")[0]).strip()
        for name, rx in FIGURES:
            f = rx.search(figures)
            if f:
                workloads[workload] = True
                values[(workload, name, rev)].append(float(f.group(1)))
    if len(revs) != 2:
        sys.exit("expected two commits, found %s" % revs)
    old, new = revs
    print("| workload | figure | %s | %s | new/old |" % (old, new))
    print("|---|---|---|---|---|")
    for w in workloads:
        for name, _ in FIGURES:
            a, b = values.get((w, name, old)), values.get((w, name, new))
            if not a or not b:
                continue
            ma, mb = statistics.median(a), statistics.median(b)
            print("| %s | %s | %.3g (%.3g-%.3g) | %.3g (%.3g-%.3g) | %.2f |" %
                  (w, name, ma, min(a), max(a), mb, min(b), max(b), mb / ma if ma else float("nan")))

if __name__ == "__main__":
    main()
