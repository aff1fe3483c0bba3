#include "core/run_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "core/clock.h"

namespace bladesync {

Result<std::string> RunCommand(const std::vector<std::string>& argv, const std::string& input, Nanos timeout) {
  if (argv.empty()) return InvalidArgument("no command");
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return Unavailable(std::string("pipe: ") + std::strerror(errno));
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return Unavailable(std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {in[0], in[1], out[0], out[1]}) close(fd);
    return Unavailable(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  (void)!write(in[1], input.data(), input.size());
  close(in[1]);
  std::string text;
  const Nanos deadline = MonotonicNow() + timeout;
  char buf[4096];
  while (MonotonicNow() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 20) > 0) {
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      if (text.size() < (1 << 20)) text.append(buf, static_cast<size_t>(n));
    }
  }
  close(out[0]);
  int status = 0;
  pid_t done = 0;
  while (MonotonicNow() < deadline && (done = waitpid(pid, &status, WNOHANG)) == 0) usleep(1000);
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return Unavailable(argv[0] + " did not finish within " + std::to_string(ToSeconds(timeout)) + " s");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return Unavailable(argv[0] + " is not installed");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return Unavailable(argv[0] + " failed: " + text);
  }
  return text;
}

}  // namespace bladesync
