// The netlink layer against the real kernel, in a network namespace of the
// test's own (unshare): installs come back from a dump field for field, the
// event socket reports them, and an overrun is reported, not hidden.
// Skipped with a message where the kernel has no conntrack or we are not root.
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "conntrack/ct_mapping.h"
#include "conntrack/netlink_conntrack.h"

namespace bladesync {
namespace {

std::string WhyNot() {
  if (geteuid() != 0) return "needs root";
  if (unshare(CLONE_NEWNET) != 0) return "cannot create a network namespace";
  std::system("modprobe nf_conntrack 2>/dev/null");
  if (!std::ifstream("/proc/sys/net/netfilter/nf_conntrack_max")) return "the kernel has no nf_conntrack";
  return "";
}

class KernelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { why_not_ = new std::string(WhyNot()); }
  void SetUp() override {
    if (!why_not_->empty()) GTEST_SKIP() << "SKIPPED: " << *why_not_;
    ASSERT_TRUE(FlushConntrack().ok());
  }
  static std::string* why_not_;
};
std::string* KernelTest::why_not_ = nullptr;

std::vector<KernelEntry> Mixed() {
  std::vector<KernelEntry> v;
  KernelEntry t;
  t.key = SessionKey::V4(0x0a090001, 0x0a090002, 40001, 5001, kProtoTcp);
  t.reply_src = t.key.dst;
  t.reply_dst = t.key.src;
  t.reply_sport = 5001;
  t.reply_dport = 40001;
  t.status = kIpsSeenReply | kIpsAssured;
  t.mark = 0x42;
  t.timeout_s = 3000;
  t.tcp_state = kCtTcpEstablished;
  t.wscale_orig = 7;
  t.wscale_repl = 9;
  t.flags_orig = t.flags_repl = kCtTcpWindowScale | kCtTcpSackPerm;
  v.push_back(t);
  KernelEntry u;  // UDP with source NAT, in zone 3
  u.key = SessionKey::V4(0xc0a80105, 0x08080808, 5353, 53, kProtoUdp, 3);
  u.reply_src = u.key.dst;
  u.reply_dst = IpAddr::V4(0xcb007101);
  u.reply_sport = 53;
  u.reply_dport = 61000;
  u.status = kIpsSeenReply | kIpsSrcNat;
  u.timeout_s = 100;
  v.push_back(u);
  KernelEntry i;  // ICMP echo
  i.key = SessionKey::V4(0x0a090001, 0x0a090002, 777, 8 << 8, kProtoIcmp);
  i.reply_src = i.key.dst;
  i.reply_dst = i.key.src;
  i.reply_sport = 777;
  i.reply_dport = 0;
  i.status = kIpsSeenReply;
  i.timeout_s = 25;
  v.push_back(i);
  KernelEntry s;  // IPv6 TCP with destination NAT, closing
  s.key.src = IpAddr::V6(0x20010db800000000ull, 1);
  s.key.dst = IpAddr::V6(0x20010db800000000ull, 2);
  s.key.sport = 50000;
  s.key.dport = 80;
  s.key.proto = kProtoTcp;
  s.reply_src = IpAddr::V6(0x20010db800000001ull, 0x80);
  s.reply_dst = s.key.src;
  s.reply_sport = 8080;
  s.reply_dport = 50000;
  s.status = kIpsSeenReply | kIpsAssured | kIpsDstNat;
  s.timeout_s = 60;
  s.tcp_state = kCtTcpFinWait;
  s.flags_orig = kCtTcpSackPerm | kCtTcpCloseInit;
  s.flags_repl = kCtTcpSackPerm;
  v.push_back(s);
  return v;
}

std::map<std::string, KernelEntry> DumpAll() {
  std::map<std::string, KernelEntry> m;
  EXPECT_TRUE(DumpConntrack([&](const KernelEntry& e) { m[e.key.ToString()] = e; }).ok());
  return m;
}

TEST_F(KernelTest, InstalledEntriesComeBackFromADumpAsTheyWere) {
  const std::vector<KernelEntry> in = Mixed();
  const InstallStats st = InstallConntrack(in, {});
  EXPECT_EQ(st.installed, in.size()) << "first error " << st.first_error;
  EXPECT_EQ(st.failed, 0u);
  std::map<std::string, KernelEntry> out = DumpAll();
  ASSERT_EQ(out.size(), in.size());
  for (const KernelEntry& e : in) {
    ASSERT_TRUE(out.count(e.key.ToString())) << e.ToString();
    KernelEntry got = out[e.key.ToString()];
    EXPECT_LE(got.timeout_s, e.timeout_s);
    EXPECT_GE(got.timeout_s + 5, e.timeout_s);
    EXPECT_EQ(got.status & kInstallableStatus, e.status & kInstallableStatus) << got.ToString();
    got.timeout_s = e.timeout_s;
    got.status = e.status;
    EXPECT_EQ(got, e) << "\n got  " << got.ToString() << "\n want " << e.ToString();
  }
  // A second install finds them all there: not an error.
  const InstallStats again = InstallConntrack(in, {});
  EXPECT_EQ(again.existed, in.size());
  EXPECT_EQ(again.failed, 0u);
}

TEST_F(KernelTest, TheEventSocketReportsNewEntriesAndDestroys) {
  CtEventSocket events;
  ASSERT_TRUE(events.Open(1 << 20).ok());
  const std::vector<KernelEntry> in = Mixed();
  ASSERT_EQ(InstallConntrack(in, {}).installed, in.size());
  std::map<std::string, int> seen;
  auto r = events.Read(100, [&](CtEvent k, const KernelEntry& e) {
    if (k == CtEvent::kNew) seen[e.key.ToString()]++;
  });
  EXPECT_FALSE(r.overrun);
  EXPECT_EQ(seen.size(), in.size());
  ASSERT_TRUE(FlushConntrack().ok());
  size_t destroyed = 0;
  events.Read(100, [&](CtEvent k, const KernelEntry&) { destroyed += k == CtEvent::kDestroy; });
  EXPECT_EQ(destroyed, in.size());
}

TEST_F(KernelTest, AnOverrunIsReportedSoTheCallerResyncs) {
  CtEventSocket events;
  ASSERT_TRUE(events.Open(64 * 1024).ok());  // far too small for what follows
  std::vector<KernelEntry> many;
  for (uint32_t i = 0; i < 20000; ++i) {
    KernelEntry e = Mixed()[0];
    e.key.sport = static_cast<uint16_t>(1024 + (i % 60000));
    e.key.src = IpAddr::V4(0x0a100000 + i / 60000 * 65536 + i);
    e.reply_dst = e.key.src;
    e.reply_dport = e.key.sport;
    many.push_back(e);
  }
  ASSERT_EQ(InstallConntrack(many, {}).installed, many.size());
  size_t n = 0;
  bool overrun = false;
  for (int i = 0; i < 100; ++i) {
    auto r = events.Read(1000, [&](CtEvent, const KernelEntry&) { ++n; });
    overrun |= r.overrun;
    if (!r.more) break;
  }
  EXPECT_TRUE(overrun);
  EXPECT_LT(n, many.size());
  EXPECT_TRUE(events.Grow(1 << 20));
  EXPECT_EQ(events.buffer_bytes(), 128u * 1024);
}

}  // namespace
}  // namespace bladesync
