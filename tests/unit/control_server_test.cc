// The control socket as an attacker and a careless operator would meet it:
// answers one request per connection; cuts off requests that are too long,
// too slow or too many at once without holding up other clients; refuses
// other users; refuses directories others can write.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "runtime/control_server.h"

namespace bladesync {
namespace {

// Polls `done` every 5 ms for up to 5 s: waits on what the server did, not
// on a time it is expected to have taken.
template <typename F>
bool WaitFor(F done) {
  for (int i = 0; i < 1000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

class ControlSocket : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bladesync-control-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/chassis1.sock";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  // A raw client: connects, sends `bytes`, returns the fd (still open).
  int Connect() {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    return fd;
  }
  static std::string ReadAll(int fd) {
    std::string r;
    char b[4096];
    for (ssize_t n; (n = read(fd, b, sizeof b)) > 0;) r.append(b, static_cast<size_t>(n));
    close(fd);
    return r;
  }
  std::string dir_, path_;
};

std::string Echo(const std::string& cmd) { return "{\"echo\":\"" + cmd + "\"}"; }

TEST_F(ControlSocket, AnswersOneRequestAndIsTheOwnersOnly) {
  ControlServer s(path_, Echo);
  ASSERT_TRUE(s.Start().ok());
  Result<std::string> r = ControlRequest(path_, "get system ha status", 2000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value(), R"({"echo":"get system ha status"})");
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Without a newline: the client's shutdown ends the command.
  const int fd = Connect();
  ASSERT_EQ(write(fd, "json x", 6), 6);
  shutdown(fd, SHUT_WR);
  EXPECT_EQ(ReadAll(fd), R"({"echo":"json x"})");
}

TEST_F(ControlSocket, TooLongTooSlowAndTooManyAreCutOffWithoutHoldingUpOthers) {
  ControlLimits lim;
  lim.max_clients = 4;
  lim.read_timeout = milliseconds(300);
  ControlServer s(path_, Echo, lim);
  ASSERT_TRUE(s.Start().ok());
  // Too long: refused after the first 4 KiB, not read whole.
  const int big = Connect();
  const std::string junk(64 * 1024, 'x');
  (void)send(big, junk.data(), junk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  EXPECT_EQ(ReadAll(big), R"({"error":"command too long"})");
  // Slow clients that never finish: cut off after the timeout; meanwhile a
  // well-behaved client is answered at once.
  std::vector<int> slow;
  for (int i = 0; i < 3; ++i) {
    slow.push_back(Connect());
    ASSERT_EQ(write(slow.back(), "get", 3), 3);
  }
  const auto t0 = std::chrono::steady_clock::now();
  Result<std::string> r = ControlRequest(path_, "get system ha status", 2000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250)) << "answered while slow clients wait";
  for (int fd : slow) EXPECT_EQ(ReadAll(fd), R"({"error":"request not complete in time"})");
  // Too many at once: beyond max_clients a connection is closed unanswered.
  std::vector<int> idle;
  for (int i = 0; i < lim.max_clients; ++i) idle.push_back(Connect());
  ASSERT_TRUE(WaitFor([&] { return s.clients() == lim.max_clients; })) << s.clients() << " admitted";
  const uint64_t refused_before = s.refused();
  EXPECT_EQ(ReadAll(Connect()), "");
  EXPECT_EQ(s.refused(), refused_before + 1);
  for (int fd : idle) close(fd);
  EXPECT_GE(s.refused(), 5u) << "the long, the three slow and the one too many";
}

TEST_F(ControlSocket, RefusesOtherUsers) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root to act as another user";
  ControlServer s(path_, Echo);
  ASSERT_TRUE(s.Start().ok());
  chmod(dir_.c_str(), 0755);
  chmod(path_.c_str(), 0666);  // even when the file lets them in, the credentials do not
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    Result<std::string> r = ControlRequest(path_, "execute ha failover set", 1000);
    _exit(r.ok() ? 1 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_NE(WEXITSTATUS(status), 2) << "could not become uid 65534";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "uid 65534 got an answer";
  EXPECT_EQ(s.refused(), 1u);
}

TEST_F(ControlSocket, RefusesDirectoriesOthersCanWriteAndPathsThatAreNotSockets) {
  chmod(dir_.c_str(), 01777);
  Status world = ControlServer(path_, Echo).Start();
  EXPECT_FALSE(world.ok());
  EXPECT_NE(world.message().find("writable by others"), std::string::npos) << world.message();
  chmod(dir_.c_str(), 0700);
  std::ofstream(path_) << "not a socket";
  Status file = ControlServer(path_, Echo).Start();
  EXPECT_FALSE(file.ok());
  EXPECT_NE(file.message().find("is not a socket"), std::string::npos) << file.message();
  unlink(path_.c_str());
  // A missing directory is made, the owner's only.
  const std::string nested = dir_ + "/run/chassis2.sock";
  ControlServer made(nested, Echo);
  ASSERT_TRUE(made.Start().ok());
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_FALSE(ControlServer("relative.sock", Echo).Start().ok());
}

TEST_F(ControlSocket, OneProcessPerSocketAndStaleSocketsAreReplaced) {
  {
    ControlServer first(path_, Echo);
    ASSERT_TRUE(first.Start().ok());
    Status second = ControlServer(path_, Echo).Start();
    EXPECT_FALSE(second.ok());
    EXPECT_NE(second.message().find("another bladesync process answers"), std::string::npos) << second.message();
  }
  // A socket file a killed process left behind.
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  close(fd);
  ControlServer again(path_, Echo);
  ASSERT_TRUE(again.Start().ok());
  EXPECT_TRUE(ControlRequest(path_, "x", 1000).ok());
  Result<std::string> none = ControlRequest(dir_ + "/nobody.sock", "x", 200);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("is it running?"), std::string::npos);
}

TEST_F(ControlSocket, RefusesADirectoryReachedThroughASymlink) {
  const std::string real = dir_ + "/real", link = dir_ + "/link";
  ASSERT_EQ(mkdir(real.c_str(), 0700), 0);
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  Status s = ControlServer(link + "/chassis1.sock", Echo).Start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("through a symlink"), std::string::npos) << s.message();
  struct stat st {};
  EXPECT_NE(stat((real + "/chassis1.sock").c_str(), &st), 0) << "a socket was made behind the link";
}

// A client that sends its request but never reads the reply holds its slot
// no longer than the read timeout; a line over the limit is refused even
// when it ends in a newline.
TEST_F(ControlSocket, UnreadRepliesAndOverlongLinesAreCutOff) {
  ControlLimits lim;
  lim.max_clients = 2;
  lim.read_timeout = milliseconds(300);
  const std::string big(16 << 20, 'x');  // more than the socket buffers hold
  ControlServer s(path_, [&](const std::string& cmd) { return cmd == "big" ? big : Echo(cmd); }, lim);
  ASSERT_TRUE(s.Start().ok());
  const uint64_t refused_before = s.refused();
  std::vector<int> hogs;
  for (int i = 0; i < 2; ++i) {
    hogs.push_back(Connect());
    ASSERT_EQ(write(hogs.back(), "big\n", 4), 4);
  }
  // Neither reads its answer: both are cut off (read_timeout) and their
  // places are free again.
  ASSERT_TRUE(WaitFor([&] { return s.refused() >= refused_before + 2; })) << "the hogs were not cut off";
  ASSERT_TRUE(WaitFor([&] { return s.clients() == 0; })) << s.clients() << " still open";
  Result<std::string> r = ControlRequest(path_, "after", 2000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value(), R"({"echo":"after"})");
  for (int fd : hogs) close(fd);
  const int fd = Connect();
  const std::string line = std::string(5000, 'y') + "\n";
  (void)send(fd, line.data(), line.size(), MSG_NOSIGNAL);
  EXPECT_EQ(ReadAll(fd), R"({"error":"command too long"})");
}

// The client trusts only a server run by root or by itself: a look-alike
// another user put at the path gets no command.
TEST_F(ControlSocket, ClientRefusesAServerOfAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root to act as another user";
  chmod(dir_.c_str(), 0777);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    const int l = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 4) != 0) _exit(3);
    chmod(path_.c_str(), 0777);
    (void)!write(ready[1], "r", 1);
    const int c = accept(l, nullptr, nullptr);
    (void)!write(c, "{\"role\":\"fake\"}", 15);
    sleep(2);
    _exit(0);
  }
  char b;
  ASSERT_EQ(read(ready[0], &b, 1), 1);
  Result<std::string> r = ControlRequest(path_, "execute ha failover set", 1000);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  ASSERT_FALSE(r.ok()) << "talked to another user's server: " << r.value();
  EXPECT_NE(r.status().message().find("neither root nor you"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace bladesync
