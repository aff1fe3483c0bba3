// Keys from the HA password: the same on every chassis, different per
// chassis, per password and per cluster, and pairs ZeroMQ's CURVE accepts.
#include <gtest/gtest.h>
#include <zmq.h>

#include <set>

#include "fabric/ha_password.h"

namespace bladesync {
namespace {

TEST(HaPassword, EveryChassisDerivesTheSameKeys) {
  Result<HaPasswordKeys> a = HaPasswordKeys::Derive("s3cret", 7, "prod");
  Result<HaPasswordKeys> b = HaPasswordKeys::Derive("s3cret", 7, "prod");
  ASSERT_TRUE(a.ok() && b.ok());
  std::set<std::string> publics;
  for (uint8_t c = 0; c <= kMaxKeyedChassis; ++c) {
    EXPECT_EQ(a->public_key(c), b->public_key(c));
    EXPECT_EQ(a->secret_key(c), b->secret_key(c));
    EXPECT_EQ(a->public_key(c).size(), 40u);
    EXPECT_EQ(a->secret_key(c).size(), 40u);
    // The public key is the secret's: what zmq_curve_public computes.
    char pub[41] = {0};
    ASSERT_EQ(zmq_curve_public(pub, a->secret_key(c).c_str()), 0);
    EXPECT_EQ(a->public_key(c), pub);
    publics.insert(a->public_key(c));
  }
  EXPECT_EQ(publics.size(), static_cast<size_t>(kMaxKeyedChassis + 1)) << "one pair per chassis";
}

TEST(HaPassword, OtherPasswordOrClusterGivesOtherKeys) {
  Result<HaPasswordKeys> a = HaPasswordKeys::Derive("s3cret", 7, "prod");
  Result<HaPasswordKeys> pw = HaPasswordKeys::Derive("s3cret!", 7, "prod");
  Result<HaPasswordKeys> id = HaPasswordKeys::Derive("s3cret", 8, "prod");
  Result<HaPasswordKeys> name = HaPasswordKeys::Derive("s3cret", 7, "prod2");
  ASSERT_TRUE(a.ok() && pw.ok() && id.ok() && name.ok());
  for (const HaPasswordKeys* o : {&pw.value(), &id.value(), &name.value()}) {
    EXPECT_NE(a->public_key(1), o->public_key(1));
    EXPECT_NE(a->secret_key(1), o->secret_key(1));
  }
  EXPECT_FALSE(HaPasswordKeys::Derive("", 7, "prod").ok());
}

}  // namespace
}  // namespace bladesync
