#include "conntrack/standby_guard.h"

#include <cstdio>

#include "core/run_command.h"

namespace bladesync {
namespace {
constexpr const char* kTable = "inet bladesync_standby";
}  // namespace

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
  Result<std::string> r = RunCommand({nft_, "-f", "-"}, script, seconds(2));
  if (!r.ok()) {
    errors_.Add();
    return r.status();
  }
  return Status::Ok();
}

}  // namespace bladesync
