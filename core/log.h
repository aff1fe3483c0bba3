// Minimal leveled logging to stderr, thread-safe, with a component tag.
//
//   BS_LOG(kWarn, "fabric") << "dropped frame from " << peer << ": " << why;
#pragma once

#include <cstdint>
#include <sstream>
#include <string>

namespace bladesync {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void SetLogPrefix(std::string prefix);  // e.g. "chassis1" in a multi-chassis demo
void WriteLogLine(LogLevel level, const char* component, const std::string& text);

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
