#include "runtime/role_hook.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "core/clock.h"
#include "core/log.h"

extern char** environ;

namespace bladesync {

RoleHook::RoleHook(Options opt, std::map<std::string, std::string> env) : opt_(std::move(opt)), env_(std::move(env)) {
  worker_ = std::thread([this] {
    SetThreadName("notify-script");
    Work();
  });
}

RoleHook::~RoleHook() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  worker_.join();
}

void RoleHook::RoleChanged(const std::string& old_role, const std::string& new_role, uint8_t primary) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    queue_.push_back({old_role, new_role, primary});
  }
  cv_.notify_one();
}

void RoleHook::Work() {
  for (;;) {
    Change c;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      c = queue_.front();
      queue_.pop_front();
    }
    Run(c);
  }
}

void RoleHook::Run(const Change& c) {
  std::map<std::string, std::string> vars = env_;
  vars["BLADESYNC_OLD_ROLE"] = c.old_role;
  vars["BLADESYNC_NEW_ROLE"] = c.new_role;
  vars["BLADESYNC_PRIMARY"] = std::to_string(c.primary);
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq && vars.count(std::string(*e, static_cast<size_t>(eq - *e)))) continue;  // ours win
    env_strings.emplace_back(*e);
  }
  for (const auto& [k, v] : vars) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string path = opt_.path, new_role = c.new_role, old_role = c.old_role;
  char* argv[] = {path.data(), new_role.data(), old_role.data(), nullptr};

  // Its own process group, so a timeout takes whatever it started with it.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);  // not the daemon's blocked SIGTERM/SIGHUP
  pid_t pid = 0;
  const int err = posix_spawn(&pid, path.c_str(), nullptr, &attr, argv, envp.data());
  posix_spawnattr_destroy(&attr);
  runs_.Add();
  const std::string what = "notify-script " + opt_.path + " (" + c.old_role + " -> " + c.new_role + ")";
  if (err != 0) {
    failed_.Add();
    BS_LOG(kError, "runtime") << what << ": cannot run it: " << std::strerror(err);
    return;
  }
  const Nanos started = MonotonicNow();
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping = stopping_;
    }
    if (stopping || MonotonicNow() - started >= opt_.timeout) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      if (!stopping) {
        timed_out_.Add();
        BS_LOG(kError, "runtime") << what << ": still running after " << ToSeconds(opt_.timeout)
                                  << " s (notify-script-timeout): killed";
      }
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    BS_LOG(kInfo, "runtime") << what << ": exit 0";
  } else {
    failed_.Add();
    BS_LOG(kWarn, "runtime") << what << ": "
                             << (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                                   : "killed by signal " + std::to_string(WTERMSIG(status)));
  }
}

}  // namespace bladesync
