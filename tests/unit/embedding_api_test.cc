// The embedding API (api::Blade) on the simulator: what a data plane
// reports reaches the mirrors, and failover tells it the adopted sessions
// first and the chassis's new role after; a blade that missed a role change
// is told when it is heard again; an adoption hold keeps the traffic back.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/blade.h"
#include "tests/support/forged_frames.h"
#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

constexpr int kSessions = 30;

api::SessionFacts FactsOf(int i) {
  api::SessionFacts f;
  f.key = api::SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(3000 + i), 443, kProtoTcp);
  return f;
}

api::Role RoleOf(ChassisManager& m) { return static_cast<api::Role>(m.role()); }

class EmbeddingApi : public ::testing::Test {
 protected:
  EmbeddingApi() : c_(2, 2, 5) {
    c_.RunFor(seconds(2));
    std::vector<uint8_t> t = c_.TrafficChassis();
    EXPECT_EQ(t.size(), 1u);
    primary_ = t.empty() ? 1 : t[0];
    backup_ = primary_ == 1 ? 2 : 1;
  }
  api::Blade& Api(uint8_t chassis, uint8_t slot) {
    auto& a = apis_[{chassis, slot}];
    if (!a) a = std::make_unique<api::Blade>(*c_.blade(chassis, slot));
    return *a;
  }
  // Opens kSessions sessions on the primary's slot 1 through the API and
  // closes every fifth; returns how many are open.
  int Report() {
    api::Blade& b = Api(primary_, 1);
    int open = 0;
    for (int i = 0; i < kSessions; ++i) {
      const api::SessionId id = b.Create(FactsOf(i), api::SessionState{kTcpSynSent, 0, 120});
      EXPECT_NE(id, api::kNoSession);
      b.Update(id, api::SessionState{kTcpEstablished, 0, 3600});
      b.Touch(id);
      if (i % 5 == 4) b.Delete(id, kDeleteClosed);
      else ++open;
    }
    c_.RunFor(seconds(1));
    return open;
  }

  SimChassisCluster c_;
  uint8_t primary_ = 0, backup_ = 0;
  std::map<std::pair<uint8_t, uint8_t>, std::unique_ptr<api::Blade>> apis_;
};

TEST_F(EmbeddingApi, EveryBladeKnowsItsChassissRole) {
  for (uint8_t ch : {primary_, backup_}) {
    for (uint8_t s = 1; s <= 2; ++s) {
      EXPECT_EQ(Api(ch, s).role(), RoleOf(*c_.manager(ch))) << "chassis " << int(ch) << " slot " << int(s);
    }
  }
  EXPECT_EQ(Api(primary_, 1).role(), api::Role::kPrimary);
  EXPECT_EQ(Api(backup_, 1).role(), api::Role::kSecondary);
}

TEST_F(EmbeddingApi, ReportedSessionsReachTheMirrorAsReported) {
  std::vector<std::string> changes;
  Api(backup_, 1).OnMirrorChange([&](const api::MirrorChange& m) {
    if (m.now) EXPECT_EQ(m.owner, primary_);
    changes.push_back(m.now ? "up" : "gone");
  });
  const int open = Report();
  size_t mirrored = 0;
  Api(backup_, 1).ForEachMirrored([&](uint8_t owner, const api::SessionView& s) {
    EXPECT_EQ(owner, primary_);
    EXPECT_EQ(s.record->proto_state, kTcpEstablished);
    ++mirrored;
  });
  EXPECT_EQ(mirrored, static_cast<size_t>(open));
  EXPECT_EQ(Api(primary_, 1).owned_sessions(), static_cast<size_t>(open));
  EXPECT_TRUE(Api(backup_, 1).FindMirrored(FactsOf(0).key));
  EXPECT_TRUE(Api(backup_, 1).FindMirrored(FactsOf(0).key.Reversed())) << "either direction finds it";
  EXPECT_FALSE(Api(backup_, 1).FindMirrored(FactsOf(4).key)) << "a closed session is not mirrored";
  EXPECT_FALSE(changes.empty());
  Api(backup_, 1).OnMirrorChange(nullptr);
  const size_t seen = changes.size();
  Api(primary_, 1).Delete(*Api(primary_, 1).Find(FactsOf(0).key), kDeleteClosed);
  c_.RunFor(seconds(1));
  EXPECT_EQ(changes.size(), seen) << "a listener that was taken away still heard";
}

TEST_F(EmbeddingApi, FailoverTellsTheAdoptionFirstThenTheRole) {
  const int open = Report();
  std::vector<std::string> told;
  api::Blade& b = Api(backup_, 1);
  b.OnAdopted([&](const api::Adoption& a) {
    EXPECT_EQ(a.from_chassis, primary_);
    told.push_back("adopted " + std::to_string(a.sessions));
  });
  b.OnRoleChange([&](api::Role was, api::Role now) {
    told.push_back(std::string("role ") + api::RoleName(was) + " -> " + api::RoleName(now));
  });
  c_.KillChassis(primary_);
  c_.RunFor(seconds(3));
  ASSERT_EQ(told, (std::vector<std::string>{"adopted " + std::to_string(open), "role secondary -> standalone"}));
  size_t adopted = 0;
  b.ForEachOwned([&](api::SessionId id, const api::SessionView& s) {
    EXPECT_EQ(b.Find(s.key()), id);
    adopted += (s.record->flags & kFlagAdopted) != 0;
  });
  EXPECT_EQ(adopted, static_cast<size_t>(open));
}

TEST_F(EmbeddingApi, ABladeThatMissedTheRoleChangeIsToldWhenHeardAgain) {
  // Slot 2 of the backup hears nothing while the primary dies and its
  // manager gives up resending to it.
  c_.net().SetDown(NodeId{backup_, 2}, true);
  c_.KillChassis(primary_);
  c_.RunFor(seconds(30));  // past the resends' bound (10 x blade-hb-lost-threshold)
  ASSERT_EQ(RoleOf(*c_.manager(backup_)), api::Role::kStandalone);
  EXPECT_EQ(Api(backup_, 1).role(), api::Role::kStandalone);
  EXPECT_EQ(Api(backup_, 2).role(), api::Role::kSecondary);
  c_.net().SetDown(NodeId{backup_, 2}, false);
  c_.RunFor(seconds(2));
  EXPECT_EQ(Api(backup_, 2).role(), api::Role::kStandalone);
}

TEST_F(EmbeddingApi, ABladeThatAppliedItsRoleButReportsAnotherIsNotAskedAgain) {
  // A blade of a release without roles: it applies SetRole (its status
  // acknowledges the command) and its status carries no role. Telling it
  // again on every status would make the manager and the blade ping-pong.
  int set_roles = 0;
  c_.net().set_tap([&](NodeId from, NodeId to, Link, std::span<const uint8_t> bytes) {
    if (from != NodeId{backup_, 0} || to != NodeId{backup_, 2}) return;
    const wire::Frame* f = wire::GetFrame(bytes.data());
    if (f->msg_type() == wire::Message::Command && f->msg_as_Command()->kind() == wire::CommandKind::SetRole) ++set_roles;
  });
  const uint64_t applied = c_.manager(backup_)->blades()[1].last_command;
  ASSERT_GT(applied, 0u) << "the blade has applied nothing: the case tests nothing";
  const wire::Origin from(1, c_.blade(backup_, 2)->config().epoch, backup_, 2);
  for (int i = 0; i < 20; ++i) {
    c_.net().Inject(NodeId{backup_, 2}, NodeId{backup_, 0}, Link::kBackplane, ForgedBladeStatus(from, true, applied));
    c_.RunFor(milliseconds(10));
  }
  EXPECT_EQ(set_roles, 0) << "SetRole sent again to a blade that applied it";
}

TEST_F(EmbeddingApi, AnAdoptionHoldKeepsTheTrafficBackUntilReleased) {
  Report();
  std::vector<api::AdoptionHold> holds;
  Api(backup_, 1).OnAdopted([&](const api::Adoption&) { holds.push_back(Api(backup_, 1).HoldAdoption()); });
  c_.KillChassis(primary_);
  c_.RunFor(seconds(3));
  ASSERT_EQ(holds.size(), 1u);
  EXPECT_FALSE(c_.manager(backup_)->TrafficReady()) << "traffic moved while adopted sessions were on their way";
  holds.clear();  // released
  c_.RunFor(milliseconds(500));
  EXPECT_TRUE(c_.manager(backup_)->TrafficReady());
}

TEST_F(EmbeddingApi, AHoldThatOutlivesItsBladeIsHarmless) {
  std::optional<api::AdoptionHold> hold;
  Api(primary_, 1).OnAdopted([](const api::Adoption&) {});
  hold.emplace(Api(primary_, 1).HoldAdoption());
  apis_.clear();
  c_.KillChassis(primary_);  // the agent is destroyed
  hold.reset();              // released after: must not touch it
  SUCCEED();
}

TEST_F(EmbeddingApi, ExtensionsAndKeyChangesReachTheMirrorsListener) {
  struct Seen {
    SessionKey old_key;
    bool was_live;
    bool live;
  };
  std::vector<Seen> seen;
  Api(backup_, 1).OnMirrorChange(
      [&](const api::MirrorChange& m) { seen.push_back({m.old_key, m.was_live, m.now.has_value()}); });
  api::Blade& b = Api(primary_, 1);
  // A SIP session: an extension travels with the application that declares it.
  api::SessionFacts facts = FactsOf(7);
  facts.flags = WithApp(0, AppKind::kSip);
  const api::SessionId id = b.Create(facts, api::SessionState{kTcpEstablished, facts.flags, 3600});
  c_.RunFor(seconds(1));
  ASSERT_FALSE(seen.empty());
  EXPECT_FALSE(seen.front().was_live) << "a create: nothing was there";
  EXPECT_TRUE(seen.back().live);
  SipCall call;
  call.state = SipCall::kEstablished;
  call.call_id_hash = 0x5151;
  b.SetExtension(id, EncodeSipCall(call));
  c_.RunFor(seconds(1));
  auto m = Api(backup_, 1).FindMirrored(FactsOf(7).key);
  ASSERT_TRUE(m);
  ASSERT_NE(m->session.extensions, nullptr) << "the extension did not reach the mirror";
  EXPECT_EQ(m->session.extensions->front(), EncodeSipCall(call));
  seen.clear();
  b.Delete(id, kDeleteClosed);
  c_.RunFor(seconds(1));
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(seen.back().was_live);
  EXPECT_FALSE(seen.back().live);
  EXPECT_EQ(seen.back().old_key, FactsOf(7).key) << "a delete names the key that went";
}

TEST_F(EmbeddingApi, TouchSendsNothing) {
  api::Blade& b = Api(primary_, 1);
  const api::SessionId id = b.Create(FactsOf(8), api::SessionState{kTcpEstablished, 0, 3600});
  c_.RunFor(seconds(1));
  int changes = 0;
  Api(backup_, 1).OnMirrorChange([&](const api::MirrorChange&) { ++changes; });
  for (int i = 0; i < 10; ++i) {
    b.Touch(id);
    c_.RunFor(milliseconds(50));
  }
  EXPECT_EQ(changes, 0) << "a packet (Touch) reached the mirror";
  b.Update(id, api::SessionState{kTcpFinWait, 0, 120});
  c_.RunFor(seconds(1));
  EXPECT_GT(changes, 0) << "a state change did not: the case tests nothing";
}

TEST_F(EmbeddingApi, GetAnswersOnlyForLiveOwnedSessions) {
  api::Blade& b = Api(primary_, 1);
  const api::SessionId id = b.Create(FactsOf(1), api::SessionState{kTcpEstablished, 0, 3600});
  ASSERT_TRUE(b.Get(id));
  EXPECT_EQ(b.Get(id)->key(), FactsOf(1).key);
  EXPECT_FALSE(b.Get(123456789));
  EXPECT_FALSE(b.Get(api::kNoSession));
  b.Delete(id, kDeleteClosed);
  EXPECT_FALSE(b.Get(id));
}

}  // namespace
}  // namespace bladesync::testing
