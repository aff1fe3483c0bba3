// diagnose sys session list, below the CLI: the filter's words (each error
// names what was typed) and what a blade's tables yield for a filter, owned
// and standby, either direction, bounded by max.
#include <gtest/gtest.h>

#include "runtime/session_list.h"
#include "tests/support/sim_cluster.h"

namespace bladesync::testing {
namespace {

TEST(SessionFilterWords, EachWordIsParsedOrNamedInTheError) {
  Result<SessionFilter> f = ParseSessionFilter({"src", "10.0.0.1", "dport", "443", "proto", "udp", "slot", "2",
                                                "standby", "max", "5"});
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->src, IpAddr::Parse("10.0.0.1"));
  EXPECT_EQ(f->dport, 443);
  EXPECT_EQ(f->proto, kProtoUdp);
  EXPECT_EQ(f->slot, 2);
  EXPECT_FALSE(f->owned);
  EXPECT_TRUE(f->standby);
  EXPECT_EQ(f->max, 5u);
  EXPECT_FALSE(f->worker);
  EXPECT_EQ(ParseSessionFilter({"worker", "3"})->worker, 3);
  EXPECT_EQ(ParseSessionFilter({"worker", "16"}).status().message(), "'16' is not a worker (0-15)");
  EXPECT_EQ(ParseSessionFilter({"sport", "70000"}).status().message(), "'70000' is not a port");
  EXPECT_EQ(ParseSessionFilter({"proto", "bogus"}).status().message(), "'bogus' is not a protocol");
  EXPECT_EQ(ParseSessionFilter({"src", "300.1.1.1"}).status().message(), "'300.1.1.1' is not an address");
  EXPECT_EQ(ParseSessionFilter({"max", "0"}).status().message(), "'0' is not a count (1-100000)");
  EXPECT_EQ(ParseSessionFilter({"dst"}).status().message(), "filter 'dst' needs a value");
  EXPECT_NE(ParseSessionFilter({"colour", "red"}).status().message().find("unknown filter 'colour'"), std::string::npos);
}

SessionFacts Tcp(uint32_t src, uint16_t sport) {
  SessionFacts f;
  f.key = SessionKey::V4(src, 0xc6336401, sport, 443, kProtoTcp);
  return f;
}

TEST(CollectSessions, OwnedAndStandbyEitherDirectionUpToTheRoom) {
  SimBlades c(2, 1, 5);
  for (uint16_t i = 0; i < 10; ++i) c.blade(1, 1).CreateSession(Tcp(0x0a000001 + i, 1000 + i), SessionState{kTcpEstablished, 0, 3600});
  c.RunFor(milliseconds(500));
  std::vector<ListedSession> out;
  SessionFilter all;
  EXPECT_EQ(CollectSessions(c.blade(1, 1), WorkerSlots{}, all, 100, &out), 10u);
  EXPECT_EQ(out.size(), 10u);
  EXPECT_TRUE(out[0].owned);
  out.clear();
  EXPECT_EQ(CollectSessions(c.blade(2, 1), WorkerSlots{}, all, 100, &out), 10u) << "the mirror lists its standby copies";
  ASSERT_FALSE(out.empty());
  EXPECT_FALSE(out[0].owned);
  EXPECT_EQ(out[0].owner_chassis, 1);
  // A filter on the destination matches the reply direction's source too.
  Result<SessionFilter> by_server = ParseSessionFilter({"src", "198.51.100.1"});
  ASSERT_TRUE(by_server.ok());
  out.clear();
  EXPECT_EQ(CollectSessions(c.blade(1, 1), WorkerSlots{}, by_server.value(), 100, &out), 10u);
  Result<SessionFilter> one = ParseSessionFilter({"sport", "1003", "owned"});
  ASSERT_TRUE(one.ok());
  out.clear();
  EXPECT_EQ(CollectSessions(c.blade(1, 1), WorkerSlots{}, one.value(), 100, &out), 1u);
  out.clear();
  EXPECT_EQ(CollectSessions(c.blade(2, 1), WorkerSlots{}, one.value(), 100, &out), 0u) << "owned only: the mirror has none";
  out.clear();
  EXPECT_EQ(CollectSessions(c.blade(1, 1), WorkerSlots{}, all, 3, &out), 10u) << "every match counted";
  EXPECT_EQ(out.size(), 3u) << "only as many listed as there is room";
}

}  // namespace
}  // namespace bladesync::testing
