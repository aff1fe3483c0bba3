// IpAddr: which addresses are IPv4 (in ::ffff:0:0/96) and their values, the
// words is_v4 reads checked at the edges of the prefix.
#include <gtest/gtest.h>

#include "blades/session.h"

namespace bladesync {
namespace {

IpAddr P(const char* text) { return *IpAddr::Parse(text); }

TEST(IpAddr, IsV4ExactlyInTheMappedPrefix) {
  EXPECT_TRUE(P("10.1.2.3").is_v4());
  EXPECT_TRUE(P("0.0.0.0").is_v4());
  EXPECT_TRUE(P("::ffff:255.255.255.255").is_v4());
  EXPECT_FALSE(P("::").is_v4());
  EXPECT_FALSE(P("::1").is_v4());
  EXPECT_FALSE(P("::fffe:10.1.2.3").is_v4());  // byte 11 off
  EXPECT_FALSE(P("::feff:10.1.2.3").is_v4());  // byte 10 off
  EXPECT_FALSE(P("::1:ffff:10.1.2.3").is_v4());  // byte 9, the first word's neighbour
  EXPECT_FALSE(P("1::ffff:10.1.2.3").is_v4());  // byte 0
  EXPECT_FALSE(P("0:0:0:1::ffff:10.1.2.3").is_v4());  // byte 7, the first word's last
  EXPECT_FALSE(P("2001:db8::1").is_v4());
}

TEST(IpAddr, V4RoundTripsInHostOrder) {
  const IpAddr a = IpAddr::V4(0x0a010203);
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a.v4(), 0x0a010203u);
  EXPECT_EQ(a, P("10.1.2.3"));
  EXPECT_EQ(a.ToString(), "10.1.2.3");
}

}  // namespace
}  // namespace bladesync
