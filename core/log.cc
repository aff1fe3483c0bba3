#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace bladesync {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_mu;
std::string g_prefix;
const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "?";
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }
void SetLogPrefix(std::string prefix) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_prefix = std::move(prefix);
}

void WriteLogLine(LogLevel level, const char* component, const std::string& text) {
  std::lock_guard<std::mutex> lock(g_mu);
  std::fprintf(stderr, "%s%s[%s] %s: %s\n", g_prefix.c_str(), g_prefix.empty() ? "" : " ",
               LevelName(level), component, text.c_str());
}

}  // namespace bladesync
