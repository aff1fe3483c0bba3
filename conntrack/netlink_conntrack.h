// The Linux kernel's conntrack table over netlink (libmnl carries the
// messages, libnetfilter_conntrack builds and parses them). Everything acts
// on the network namespace of the calling thread.
//
//   CtEventSocket events;                        // NEW, UPDATE, DESTROY
//   events.Open(16 << 20);
//   events.Read(256, [](CtEvent k, const KernelEntry& e) { ... });
//   DumpConntrack([](const KernelEntry& e) { ... });
//   InstallStats s = InstallConntrack(entries, {.liberal = false});
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "conntrack/kernel_entry.h"
#include "core/event_loop.h"
#include "core/status.h"

struct mnl_socket;

namespace bladesync {

// The conntrack event group socket, non-blocking.
class CtEventSocket {
 public:
  CtEventSocket() = default;
  ~CtEventSocket();
  CtEventSocket(const CtEventSocket&) = delete;
  CtEventSocket& operator=(const CtEventSocket&) = delete;

  // Subscribes to NEW, UPDATE and DESTROY (and expectations' NEW and
  // DESTROY) with a receive buffer of
  // buffer_bytes (forced past rmem_max: we run as root, like conntrackd).
  Status Open(size_t buffer_bytes);
  int fd() const;
  size_t buffer_bytes() const { return buffer_bytes_; }
  // Doubles the buffer up to max_bytes; false when already there.
  bool Grow(size_t max_bytes);

  struct ReadResult {
    size_t events = 0;
    bool overrun = false;   // the kernel dropped events (ENOBUFS): resync
    bool more = false;      // stopped at max_messages with data left
    int error = 0;          // errno of another failure
  };
  using Handler = std::function<void(CtEvent, const KernelEntry&)>;
  // Expectation events (kNew, kDestroy) go to `expectations` when given.
  using ExpectationHandler = std::function<void(CtEvent, const KernelExpectation&)>;
  // Entries are parsed a system call's worth at a time (up to 64), shown
  // to `ahead` in that order (to start fetching what fn will need), then
  // given to fn in the same order; an expectation event waits for the
  // entries before it.
  using AheadHandler = std::function<void(const KernelEntry&)>;
  ReadResult Read(size_t max_messages, const Handler& fn, const ExpectationHandler* expectations = nullptr,
                  const AheadHandler* ahead = nullptr);

 private:
  mnl_socket* nl_ = nullptr;
  size_t buffer_bytes_ = 0;
  std::vector<char> buf_;  // Read's datagram buffers, kept between calls
  std::vector<std::pair<CtEvent, KernelEntry>> parsed_;  // Read's entries, kept between calls
};

// Every entry of the kernel table (all families and zones).
Status DumpConntrack(const std::function<void(const KernelEntry&)>& fn);
// One entry, whole (TCP, UDP or SCTP; nothing if the kernel has none).
std::optional<KernelEntry> GetConntrack(const SessionKey& key);

// The same dump, read a slice at a time, so a caller on an event loop can
// read 500k entries without stopping the loop for seconds.
class CtDumpCursor {
 public:
  CtDumpCursor();
  ~CtDumpCursor();
  CtDumpCursor(const CtDumpCursor&) = delete;
  CtDumpCursor& operator=(const CtDumpCursor&) = delete;
  Status Start();
  // Reads until at least `max` entries went to fn or the dump ended; false
  // once it ended (status() says whether it ended well).
  bool Next(size_t max, const std::function<void(const KernelEntry&)>& fn);
  const Status& status() const { return status_; }

  struct Impl;  // the dump's socket and its read loop (DumpConntrack's too)

 private:
  std::unique_ptr<Impl> impl_;
  Status status_ = Status::Ok();
};
// Every expectation of the kernel's expectation table.
Status DumpExpectations(const std::function<void(const KernelExpectation&)>& fn);

struct InstallOptions {
  // Install TCP entries with IP_CT_TCP_FLAG_BE_LIBERAL (conntrackd's default
  // with TCPWindowTracking off). Off: the kernel picks the windows up from
  // the next packet in each direction and keeps tracking them strictly.
  bool liberal = false;
  size_t batch_bytes = 256 * 1024;   // messages per sendmsg
  // Create only (EEXIST counts as existed), create or update an entry that
  // is there (its timeout, status and TCP state; standby-in-kernel), or
  // delete (ENOENT counts as existed).
  enum class Op { kCreate, kCreateOrUpdate, kDelete };
  Op op = Op::kCreate;
  uint32_t mark_or = 0;  // bits ORed into each entry's mark (standby-in-kernel's)
};

struct InstallStats {
  size_t installed = 0;
  size_t existed = 0;    // EEXIST: the kernel had it (not an error)
  size_t failed = 0;
  std::vector<size_t> failed_entries;  // which (indices into the entries given)
  size_t without_extras = 0;  // refused with their helper or labels (an expectation: NAT function or class), in without them
  // The entries' expectations (KernelEntry::extra), after their masters.
  size_t expectations_installed = 0;
  size_t expectations_existed = 0;
  size_t expectations_failed = 0;
  int first_error = 0;   // errno of the first failure
  Nanos took{0};         // set by the caller, on its own clock
};

// Creates (updates, deletes) the entries in batches, one acknowledgement per
// entry, each batch's expectations after it.
InstallStats InstallConntrack(std::span<const KernelEntry> entries, const InstallOptions& opt);

// Removes every entry (tests and benchmarks only).
Status FlushConntrack();

}  // namespace bladesync
