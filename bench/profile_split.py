#!/usr/bin/env python3
"""Splits a perf profile of the blade threads into the parts of the live
conntrack sync, each sample counted once, in the first part (in this
order) its call stack passes through.

  perf script -i FILE --comm blade1 > /tmp/blade.txt
  python3 bench/profile_split.py /tmp/blade.txt

FILE comes from BLADESYNC_PROFILE=FILE with bench/conntrack_live_cost.py.
"""
import collections
import sys

PARTS = [
    ("page faults (table memory touched first on this thread)", "asm_exc_page_fault"),
    ("a slab chunk faulted in on this thread (madvise)", "__x64_sys_madvise"),
    ("reading kernel events (recvmmsg)", "__x64_sys_recvmmsg"),
    ("the digest (SessionStore::RecordHash)", "SessionStore::RecordHash"),
    ("the key index (SessionStore::Find)", "SessionStore::Find"),
    ("the mirror's apply (StandbyTable::ApplyBatch)", "StandbyTable::ApplyBatch"),
    ("the owner's create (BladeAgent::CreateSession)", "BladeAgent::CreateSession"),
    ("the rest of the owner's event handling (KernelSync)", ("KernelSync::OnEvent", "KernelSync::Upsert")),
    ("looking keys ahead (Blade::LookAhead)", "Blade::LookAhead"),
    ("parsing events (OnCtMessage)", "OnCtMessage"),
    ("encoding and sending (StreamSender::Pump)", "StreamSender::Pump"),
    ("the owner's flush (BladeAgent::Flush)", "BladeAgent::Flush"),
    ("frames in (ZmqTransport::Drain)", "ZmqTransport::Drain"),
    ("waiting (epoll_wait)", "epoll_wait"),
    ("timers", "AsioTimer"),
]


def main():
    total, counts, others = 0, collections.Counter(), collections.Counter()
    for sample in open(sys.argv[1]).read().split("\n\n"):
        lines = [l.strip() for l in sample.strip().split("\n") if l.strip()]
        if len(lines) < 2:
            continue
        total += 1
        stack = "\n".join(lines[1:])
        for name, markers in PARTS:
            if any(m in stack for m in ((markers,) if isinstance(markers, str) else markers)):
                counts[name] += 1
                break
        else:
            counts["other"] += 1
            others[lines[1].split(None, 1)[-1].rsplit(" (", 1)[0][:70]] += 1
    print("samples", total)
    for name, n in counts.most_common():
        print("%5.1f%%  %s" % (100.0 * n / max(total, 1), name))
    print("other, by the function sampled:")
    for name, n in others.most_common(10):
        print("  %d  %s" % (n, name))


if __name__ == "__main__":
    main()
