// set notify-script (runtime/role_hook): the script sees the change in its
// arguments and environment, runs one at a time in order, its failures and
// timeouts are counted, and nothing it does holds the caller.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "runtime/role_hook.h"

namespace bladesync {
namespace {

class RoleHookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bladesync-hook-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    chmod(path.c_str(), 0755);
    return path;
  }
  std::string Read(const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string dir_;
};

TEST_F(RoleHookTest, TheScriptSeesTheChangeInOrder) {
  const std::string out = dir_ + "/seen";
  const std::string path =
      Script("notify.sh", "echo \"$1 $2 $BLADESYNC_OLD_ROLE>$BLADESYNC_NEW_ROLE p=$BLADESYNC_PRIMARY c=$BLADESYNC_CHASSIS "
                          "g=$BLADESYNC_GROUP/$BLADESYNC_GROUP_ID\" >> " + out);
  {
    RoleHook hook({path, std::chrono::seconds(5)},
                  {{"BLADESYNC_CHASSIS", "2"}, {"BLADESYNC_GROUP", "east"}, {"BLADESYNC_GROUP_ID", "7"}});
    hook.RoleChanged("unknown", "secondary", 1);
    hook.RoleChanged("secondary", "primary", 2);
    for (int i = 0; i < 500 && hook.runs() + hook.failed() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (int i = 0; i < 500 && Read("seen").find("primary secondary") == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(hook.runs(), 2u);
    EXPECT_EQ(hook.failed(), 0u);
  }
  EXPECT_EQ(Read("seen"),
            "secondary unknown unknown>secondary p=1 c=2 g=east/7\n"
            "primary secondary secondary>primary p=2 c=2 g=east/7\n");
}

TEST_F(RoleHookTest, FailuresAndTimeoutsAreCountedAndNeverHoldTheCaller) {
  const std::string fails = Script("fails.sh", "exit 3");
  const std::string hangs = Script("hangs.sh", "sleep 30 & sleep 30");  // a child too: the group goes
  RoleHook failing({fails, std::chrono::seconds(5)}, {});
  RoleHook hanging({hangs, std::chrono::seconds(2)}, {});
  RoleHook missing({dir_ + "/no-such-script", std::chrono::seconds(5)}, {});
  failing.RoleChanged("secondary", "primary", 1);
  hanging.RoleChanged("secondary", "primary", 1);
  hanging.RoleChanged("primary", "secondary", 2);  // queued behind the hanging one
  missing.RoleChanged("secondary", "primary", 1);
  // The caller (the manager's loop) is back while the first hanging run
  // has seconds to go: it never waits for a script.
  EXPECT_EQ(hanging.timed_out(), 0u);
  for (int i = 0; i < 1000 && (failing.failed() < 1 || hanging.timed_out() < 2 || missing.failed() < 1); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(failing.runs(), 1u);
  EXPECT_EQ(failing.failed(), 1u) << "exit 3";
  EXPECT_EQ(hanging.timed_out(), 2u) << "both changes ran, each killed at its timeout";
  EXPECT_EQ(missing.failed(), 1u) << "a missing script is a failure, counted";
}

}  // namespace
}  // namespace bladesync
