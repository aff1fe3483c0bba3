// get system ha status tells the truth (issue 17 point 1): "OK" only when
// nothing is wrong, each problem named, and a lost peer's role unknown.
#include <gtest/gtest.h>

#include <algorithm>

#include "runtime/status_report.h"
#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

bool Has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

TEST(StatusReport, HealthNamesEveryProblem) {
  SimChassisCluster c(2, 2, 5);
  c.RunFor(seconds(3));
  ConfigState cs;
  ClusterConfig cfg;
  EXPECT_EQ(HealthProblems(*c.manager(1), cs), std::vector<std::string>{});
  EXPECT_NE(HaStatusText(*c.manager(1), cfg, cs).find("HA Health Status: OK\n"), std::string::npos);
  EXPECT_NE(HaStatusJson(*c.manager(1), cfg, cs).find(R"("health":"ok","problems":[])"), std::string::npos);

  c.KillBlade(1, 2);
  cs.monitored_down = {"port7"};
  cs.last_error = "bad.conf:3: option 'x' in 'config system ha': unknown option";
  c.KillChassis(2);
  c.RunFor(seconds(2));
  const std::vector<std::string> p = HealthProblems(*c.manager(1), cs);
  EXPECT_TRUE(Has(p, "blade in slot 2 is down"));
  EXPECT_TRUE(Has(p, "peer chassis 2 is lost"));
  EXPECT_TRUE(Has(p, "monitored interface port7 is down"));
  EXPECT_TRUE(Has(p, "the last reload was refused: " + cs.last_error));
  const std::string text = HaStatusText(*c.manager(1), cfg, cs);
  EXPECT_NE(text.find("HA Health Status: WARNING\n  - "), std::string::npos) << text;
  EXPECT_NE(text.find("LOST, role unknown"), std::string::npos) << text;
  const std::string json = HaStatusJson(*c.manager(1), cfg, cs);
  EXPECT_NE(json.find(R"("health":"warning")"), std::string::npos);
  EXPECT_NE(json.find(R"("alive":false,"partitioned":false,"role":"unknown")"), std::string::npos) << json;
}

TEST(StatusReport, APeerOnAnotherReleaseIsNamed) {
  SimChassisCluster c(2, 1, 7, SimClusterOptions{{}, [](ManagerConfig& m) {
                        m.software_version = m.chassis == 1 ? "0.2.0+gaaaaaaa" : "0.3.0+gbbbbbbb";
                      }});
  c.RunFor(seconds(3));
  const std::vector<std::string> p = HealthProblems(*c.manager(1), ConfigState{});
  EXPECT_TRUE(Has(p, "peer chassis 2 runs 0.3.0+gbbbbbbb, this chassis 0.2.0+gaaaaaaa (mixed versions: finish the upgrade)"))
      << ::testing::PrintToString(p);
  EXPECT_NE(HaStatusJson(*c.manager(1), ClusterConfig{}, ConfigState{}).find(R"("version":"0.3.0+gbbbbbbb")"), std::string::npos);
}

TEST(StatusReport, AMirrorOfALivePeerNotInSyncIsAProblem) {
  SimChassisCluster c(2, 1, 6, SimClusterOptions{[](BladeConfig& b) { b.max_batch = 16; }, {}});
  c.RunFor(seconds(3));
  for (uint32_t i = 0; i < 3000; ++i) {
    c.blade(1, 1)->CreateSession(SessionFacts{SessionKey::V4(0x0a000000 + i, 2, 3, 4, kProtoTcp)},
                                 SessionState{kTcpEstablished, 0, 600});
  }
  c.RunFor(seconds(2));
  // Chassis 2 restarts: its mirror of chassis 1 (alive all along) takes a
  // bulk sync of 3000 sessions, and is not in sync until it has it.
  c.RestartChassis(2);
  bool flagged = false;
  for (int i = 0; i < 400 && !flagged; ++i) {
    c.RunFor(milliseconds(5));
    for (const std::string& x : HealthProblems(*c.manager(2), ConfigState{})) {
      flagged |= x == "slot 1: the mirror of chassis 1 is not in sync";
    }
  }
  EXPECT_TRUE(flagged) << "a mirror taking its bulk sync was never named";
  c.RunFor(seconds(5));
  EXPECT_EQ(HealthProblems(*c.manager(2), ConfigState{}), std::vector<std::string>{});
}

}  // namespace
}  // namespace bladesync::testing
