// ThreadPriority: the HA threads (the chassis manager, the blades' beats,
// and the ZeroMQ I/O threads of their sockets) run ahead of sync work.
// With 10 ms heartbeats a peer is lost 33 ms after its last one, and on
// two cores saturated by sync a thread at the same priority can wait that
// long for a CPU (BENCHMARKS.md, false failovers).
//
// Raising a thread needs CAP_SYS_NICE (the systemd units grant it) or an
// RLIMIT_NICE that allows it; without, threads stay as they are.
//
//   if (RaiseThisThread()) ...;              // nice -10, on the thread itself
//   LowerThisThread();                       // SCHED_IDLE: background work, for good
//   FabricContext ctx(1, CanRaiseThreads()); // ZeroMQ's I/O threads too
#pragma once

namespace bladesync {

// The calling thread to nice -10 (Linux: per thread). False if refused.
bool RaiseThisThread();

// The calling thread to SCHED_IDLE (the least weight: it yields a CPU to
// any other thread that wants it; needs no privilege, and there is no way
// back without CAP_SYS_NICE). For work done ahead of need (the page supply
// faulting in tables), which must not take a core from sync work on a busy
// machine, on a thread that holds no lock another thread may wait for: a
// thread at SCHED_IDLE may wait long for a CPU.
bool LowerThisThread();

// Whether this process may take a thread to nice -20, what ZeroMQ asks
// for its I/O threads (and aborts if refused). Tried on a thread of its own.
bool CanRaiseThreads();

}  // namespace bladesync
