// The HA threads run ahead of sync work where the process may raise them
// (core/thread_priority.h): the calling thread to nice -10, a raised
// FabricContext's ZeroMQ I/O threads to -20. Without the right to, nothing
// changes and nothing aborts (ZeroMQ aborts an I/O thread it cannot raise).
#include <dirent.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>
#include <zmq.hpp>

#include <gtest/gtest.h>

#include "core/thread_priority.h"
#include "fabric/fabric_context.h"

namespace bladesync {
namespace {

// thread name -> nice, for every thread of this process.
std::multimap<std::string, int> ThreadNices() {
  std::multimap<std::string, int> out;
  DIR* d = opendir("/proc/self/task");
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string dir = std::string("/proc/self/task/") + e->d_name;
    std::string comm;
    std::getline(std::ifstream(dir + "/comm"), comm);
    out.emplace(comm, getpriority(PRIO_PROCESS, static_cast<id_t>(std::stoi(e->d_name))));
  }
  closedir(d);
  return out;
}

int IoThreadsAt(int nice) {
  int n = 0;
  for (const auto& [name, v] : ThreadNices()) n += name.rfind("ZMQbg/IO", 0) == 0 && v == nice;
  return n;
}

TEST(ThreadPriority, RaisedWhereAllowed) {
  ASSERT_TRUE(CanRaiseThreads()) << "run as root (tags = [\"local\"]: Bazel's sandbox drops CAP_SYS_NICE)";
  FabricContext plain(1), raised(1, /*raised=*/true);
  zmq::socket_t a(plain.get(), zmq::socket_type::dealer), b(raised.get(), zmq::socket_type::dealer);
  a.bind("inproc://a");
  b.bind("tcp://127.0.0.1:*");
  for (int i = 0; i < 100 && IoThreadsAt(-20) + IoThreadsAt(0) < 2; ++i) usleep(10000);  // the threads start
  EXPECT_EQ(IoThreadsAt(-20), 1) << "the raised context's I/O thread";
  EXPECT_EQ(IoThreadsAt(0), 1) << "the plain one's";
  int mine = -1;
  std::thread t([&] {
    EXPECT_TRUE(RaiseThisThread());
    mine = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  });
  t.join();
  EXPECT_EQ(mine, -10);
  EXPECT_EQ(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())), 0) << "only the thread that asked";
}

TEST(ThreadPriority, WithoutTheRightNothingChangesAndNothingAborts) {
  ASSERT_EQ(geteuid(), 0u) << "run as root, to become nobody";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
    if (CanRaiseThreads()) _exit(11);
    FabricContext raised(1, /*raised=*/true);
    zmq::socket_t s(raised.get(), zmq::socket_type::dealer);
    s.bind("tcp://127.0.0.1:*");
    for (int i = 0; i < 100 && IoThreadsAt(0) < 1; ++i) usleep(10000);  // the I/O thread starts
    if (IoThreadsAt(0) != 1) _exit(12);
    if (RaiseThisThread()) _exit(13);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace bladesync
