// Leveled logging to stderr, thread-safe, with a component tag.
//
//   BS_LOG(kWarn, "fabric") << "dropped frame from " << peer << ": " << why;
//
// On a terminal or a file each line starts with an RFC 3339 timestamp; when
// stderr is the systemd journal (JOURNAL_STREAM names it) each line starts
// with its sd-daemon priority instead ("<4>"), which the journal reads and
// strips, and the journal stamps the time itself. Every line names the
// thread that wrote it (manager, blade3, control...).
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>

namespace bladesync {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// "debug", "info", "warn" or "error"; anything else is nullopt.
std::optional<LogLevel> ParseLogLevel(const std::string& name);
inline constexpr const char kLogLevelNames[] = "debug|info|warn|error";
void SetLogPrefix(std::string prefix);  // e.g. "chassis1" in a multi-chassis demo
// Names the calling thread (at most 15 characters: the kernel's limit); logs,
// top -H and gdb show it.
void SetThreadName(const std::string& name);
void WriteLogLine(LogLevel level, const char* component, const std::string& text);
// The line WriteLogLine writes, without the newline (exposed for tests).
std::string FormatLogLine(LogLevel level, const char* component, const std::string& text);

// True for the 1st, 2nd, 4th, 8th ... occurrence of something a flood can
// repeat: logging those shows it keeps happening without filling the disk.
inline bool LogOccurrence(uint64_t n) { return (n & (n - 1)) == 0; }

class LogLine {
 public:
  LogLine(LogLevel level, const char* component) : level_(level), component_(component) {}
  ~LogLine() { WriteLogLine(level_, component_, stream_.str()); }
  template <typename T>
  LogLine& operator<<(const T& v) {
    stream_ << v;
    return *this;
  }

 private:
  LogLevel level_;
  const char* component_;
  std::ostringstream stream_;
};

}  // namespace bladesync

#define BS_LOG(level, component)                                          \
  if (::bladesync::LogLevel::level < ::bladesync::GetLogLevel()) {         \
  } else                                                                   \
    ::bladesync::LogLine(::bladesync::LogLevel::level, component)
