#include "conntrack/standby_guard.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

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
  int in[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0) return Unavailable(std::string("pipe: ") + std::strerror(errno));
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return Unavailable(std::string("pipe: ") + std::strerror(errno));
  }
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {in[0], in[1], err[0], err[1]}) close(fd);
    return Unavailable(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(err[1], 2);
    dup2(err[1], 1);
    execlp(nft_.c_str(), nft_.c_str(), "-f", "-", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(err[1]);
  (void)!write(in[1], script.data(), script.size());
  close(in[1]);
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  char buf[512];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{err[0], POLLIN, 0};
    if (poll(&p, 1, 50) > 0) {
      const ssize_t n = read(err[0], buf, sizeof buf);
      if (n <= 0) break;
      if (out.size() < 2000) out.append(buf, static_cast<size_t>(n));
    }
  }
  close(err[0]);
  int status = 0;
  pid_t done = 0;
  while (std::chrono::steady_clock::now() < deadline && (done = waitpid(pid, &status, WNOHANG)) == 0) usleep(2000);
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    errors_.Add();
    return Unavailable(nft_ + " did not finish within 2 s");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    errors_.Add();
    while (!out.empty() && out.back() == '\n') out.pop_back();
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return Unavailable(nft_ + " is not installed (Debian: nftables)");
    return Unavailable(nft_ + " failed: " + out);
  }
  return Status::Ok();
}

}  // namespace bladesync
