// A blade's counters reach its manager by name: what the blade counted is
// what the manager shows under the same names, whatever their order on the
// wire, and a name this build does not declare is not believed.
#include <gtest/gtest.h>

#include "blades/blade_counters.h"
#include "blades/delta_codec.h"
#include "tests/support/sim_chassis_cluster.h"

namespace bladesync::testing {
namespace {

TEST(BladeStatus, CountersTravelByName) {
  SimChassisCluster c(2, 1, 5);
  c.RunFor(seconds(2));
  BladeAgent& a = *c.blade(1, 1);
  for (uint32_t k = 0; k < 10; ++k) a.CreateSession(TcpFacts(k), SessionState{kTcpEstablished, 0, 3600});
  c.RunFor(seconds(1));
  const BladeView& v = c.manager(1)->blades()[0];
  size_t nonzero = 0;
  for (const auto& [name, value] : CounterList(a.counters())) {
    if (!value) continue;
    ++nonzero;
    auto it = v.counters.find(name);
    ASSERT_NE(it, v.counters.end()) << name;
    // The blade counts on between its status and this read; never backwards.
    EXPECT_LE(it->second, value) << name;
    EXPECT_GT(it->second, 0u) << name;
  }
  EXPECT_GT(nonzero, 5u);
  EXPECT_EQ(v.counters.at("synced_sessions"), 10u);
}

// A status with `named` (name, value) pairs, as blade (1, 1) would send it.
std::vector<uint8_t> StatusWith(const std::vector<std::pair<std::string, uint64_t>>& named) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<wire::NamedCounter>> v;
  for (const auto& [name, value] : named) v.push_back(wire::CreateNamedCounter(fbb, fbb.CreateString(name), value));
  auto nv = fbb.CreateVector(v);
  wire::Origin from(1, 1, 1, 1);
  wire::BladeStatusBuilder b(fbb);
  b.add_from(&from);
  b.add_named_counters(nv);
  auto st = b.Finish();
  fbb.Finish(wire::CreateFrame(fbb, wire::Message::BladeStatus, st.Union()), wire::FrameIdentifier());
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

TEST(BladeStatus, NamesNotOrderCarryTheValuesAndUnknownNamesAreNotBelieved) {
  SimChassisCluster c(1, 1, 6);
  c.RunFor(seconds(1));
  c.blade(1, 1)->Halt();       // its own statuses would overwrite the forged ones
  c.RunFor(milliseconds(10));  // and the last one may still be on its way
  // Reverse of the declared order, and a name no build declares.
  std::vector<std::pair<std::string, uint64_t>> named;
  const std::vector<std::string>& names = CounterNames();
  for (size_t i = 0; i < names.size(); ++i) named.emplace_back(names[names.size() - 1 - i], 1000 + i);
  named.emplace_back("bogus_counter", 9);
  c.net().Inject(NodeId{1, 1}, NodeId{1, 0}, Link::kBackplane, StatusWith(named));
  c.RunFor(milliseconds(10));
  for (int r = 0; r < kDropReasons; ++r) {
    EXPECT_EQ(c.manager(1)->dropped(static_cast<DropReason>(r)), 0u) << DropReasonName(static_cast<DropReason>(r));
  }
  const BladeView& v = c.manager(1)->blades()[0];
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_EQ(v.counters.count(names[names.size() - 1 - i]), 1u);
    EXPECT_EQ(v.counters.at(names[names.size() - 1 - i]), 1000 + i);
  }
  EXPECT_EQ(v.counters.count("bogus_counter"), 0u);
  // A later status without a name: that counter is 0 (absent), not its old value.
  c.net().Inject(NodeId{1, 1}, NodeId{1, 0}, Link::kBackplane, StatusWith({{"frames_sent", 7}}));
  c.RunFor(milliseconds(10));
  EXPECT_EQ(v.counters.at("frames_sent"), 7u);
  EXPECT_EQ(v.counters.count("acks_sent"), 0u);
}

}  // namespace
}  // namespace bladesync::testing
