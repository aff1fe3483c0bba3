#include "conntrack/standby_guard.h"

#include <cstdio>

#include "core/log.h"
#include "core/run_command.h"

namespace bladesync {
namespace {
constexpr const char* kTable = "inet bladesync_standby";
}  // namespace

StandbyGuard::StandbyGuard(uint32_t mark, std::string nft) : mark_(mark), nft_(std::move(nft)) {
  worker_ = std::thread([this] { Run(); });
}

StandbyGuard::~StandbyGuard() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void StandbyGuard::Want(bool raised) {
  {
    std::lock_guard<std::mutex> l(mu_);
    want_ = raised;
  }
  cv_.notify_all();
}

bool StandbyGuard::pending() const {
  std::lock_guard<std::mutex> l(mu_);
  return busy_ || want_.has_value();
}

void StandbyGuard::Run() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    cv_.wait(l, [&] { return stop_ || want_.has_value(); });
    if (stop_) return;
    const bool raise = *want_;
    want_.reset();
    busy_ = true;
    l.unlock();
    const Status st = raise ? Raise() : Lower();
    if (st.ok()) {
      BS_LOG(kInfo, "conntrack") << "standby-in-kernel guard " << (raise ? "raised: mirrored sessions do not forward"
                                                                        : "lowered: mirrored sessions forward");
    }
    if (!st.ok() && LogOccurrence(errors_.get())) {
      BS_LOG(kError, "conntrack") << "standby-in-kernel guard: could not " << (raise ? "raise" : "lower") << " it: "
                                  << st.message() << " [" << errors_.get() << " errors so far]; trying again in 1 s";
    }
    l.lock();
    busy_ = false;
    if (!st.ok() && !want_) {
      // Again in a second, unless a newer wish or the end comes first.
      if (!cv_.wait_for(l, std::chrono::seconds(1), [&] { return stop_ || want_.has_value(); })) want_ = raise;
    }
  }
}

std::string StandbyGuard::Ruleset() const {
  char mark[16];
  std::snprintf(mark, sizeof mark, "0x%08x", mark_);
  // "add table" then "delete table": the delete never fails, and the table
  // comes back whole, so raising twice leaves one rule.
  return std::string("add table ") + kTable + "\ndelete table " + kTable + "\ntable " + kTable +
         " {\n  chain forward {\n    type filter hook forward priority -200; policy accept;\n"
         "    ct mark & " + mark + " == " + mark + " counter drop comment \"bladesync: mirrored sessions, not primary\"\n"
         "  }\n}\n";
}

Status StandbyGuard::Raise() {
  Status s = Nft(Ruleset());
  if (s.ok()) raised_ = true;
  return s;
}

Status StandbyGuard::Lower() {
  Status s = Nft(std::string("add table ") + kTable + "\ndelete table " + kTable + "\n");
  if (s.ok()) raised_ = false;
  return s;
}

// nft -f - with the script on stdin, at most 2 s.
Status StandbyGuard::Nft(const std::string& script) {
  std::lock_guard<std::mutex> one(nft_mu_);
  Result<std::string> r = RunCommand({nft_, "-f", "-"}, script, seconds(2));
  if (!r.ok()) {
    errors_.Add();
    return r.status();
  }
  return Status::Ok();
}

}  // namespace bladesync
