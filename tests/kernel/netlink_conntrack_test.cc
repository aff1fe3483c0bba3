// The netlink layer against the real kernel, in a network namespace of the
// test's own (unshare): installs come back from a dump field for field, the
// event socket reports them, and an overrun is reported, not hidden.
// Skipped with a message where the kernel has no conntrack or we are not root.
#include <cstdlib>
#include <map>

#include <gtest/gtest.h>

#include "conntrack/ct_mapping.h"
#include "conntrack/netlink_conntrack.h"
#include "tests/support/kernel_entries.h"
#include "tests/support/kernel_namespace.h"

namespace bladesync {
namespace {

class KernelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { why_not_ = new std::string(testing::EnterConntrackNamespace()); }
  void SetUp() override {
    if (!why_not_->empty()) GTEST_SKIP() << "SKIPPED: " << *why_not_;
    ASSERT_TRUE(FlushConntrack().ok());
  }
  static std::string* why_not_;
};
std::string* KernelTest::why_not_ = nullptr;

std::vector<KernelEntry> Mixed() { return {testing::Tcp(1), testing::UdpSnat(), testing::IcmpEcho(), testing::Tcp6Dnat()}; }

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

// Labels, the helper, the sequence adjustment and the zone (UdpSnat's) come
// back as installed; the expectation lands in the expectation table with
// the entry as its master.
TEST_F(KernelTest, HelperLabelsSeqAdjAndExpectationsComeBackAsInstalled) {
  ASSERT_TRUE(testing::UseConnLabels()) << "nft could not add the rule that keeps conntrack labels";
  const KernelEntry ftp = testing::FtpControl();
  const std::vector<KernelEntry> in = {ftp, testing::UdpSnat()};
  const InstallStats st = InstallConntrack(in, {});
  ASSERT_EQ(st.installed, in.size()) << "first error " << st.first_error;
  EXPECT_EQ(st.expectations_installed, 1u) << "first error " << st.first_error;
  std::map<std::string, KernelEntry> out = DumpAll();
  ASSERT_TRUE(out.count(ftp.key.ToString()));
  const KernelEntry& got = out[ftp.key.ToString()];
  EXPECT_EQ(got.extra.helper, "ftp");
  EXPECT_EQ(got.extra.labels, ftp.extra.labels);
  EXPECT_EQ(got.extra.seqadj_orig, ftp.extra.seqadj_orig);
  EXPECT_TRUE(got.extra.seqadj_repl.empty());
  EXPECT_TRUE(got.status & kIpsSeqAdjust);
  EXPECT_EQ(out[testing::UdpSnat().key.ToString()].key.zone, 3);

  std::vector<KernelExpectation> exps;
  ASSERT_TRUE(DumpExpectations([&](const KernelExpectation& k) { exps.push_back(k); }).ok());
  ASSERT_EQ(exps.size(), 1u);
  EXPECT_EQ(exps[0].master, ftp.key);
  EXPECT_EQ(exps[0].helper, "ftp");
  CtExpectation x = exps[0].exp;
  EXPECT_LE(x.timeout_s, 300u);
  x.timeout_s = 300;
  EXPECT_EQ(x, ftp.extra.expectations[0]);

  // A second install finds the entry and its expectation there.
  const InstallStats again = InstallConntrack(in, {});
  EXPECT_EQ(again.existed, in.size());
  EXPECT_EQ(again.expectations_existed, 1u) << "first error " << again.first_error;
}

// A NAT helper's expectation keeps its NAT function (FTP behind SNAT:
// nat-follow-master), and SIP's media keep their classes (whose limits are
// their own: audio and video of one call both stay).
TEST_F(KernelTest, ExpectationsKeepTheirClassAndNatFunction) {
  // The functions are registered by nf_nat (nat-follow-master) and
  // nf_nat_sip (sip): built in here; loaded where they are modules.
  (void)std::system("modprobe -q nf_nat_ftp 2>/dev/null; modprobe -q nf_nat_sip 2>/dev/null");
  KernelEntry ftp = testing::FtpControl();
  ftp.extra.labels = {};
  CtExpectation& x = ftp.extra.expectations[0];
  x.nat = true;
  x.nat_dir = 1;  // the reply direction: the server's data connection
  x.nat_addr = ftp.key.src;
  x.nat_port = 50000;
  x.nat_fn = kNatFnFollowMaster;
  x.dport = 50001;  // the port nf_nat_ftp announced
  const KernelEntry sip = testing::SipCall();
  const InstallStats st = InstallConntrack(std::vector<KernelEntry>{ftp, sip}, {});
  ASSERT_EQ(st.installed, 2u) << "first error " << st.first_error;
  EXPECT_EQ(st.expectations_installed, 3u) << "first error " << st.first_error;
  std::map<std::string, CtExpectation> got;
  ASSERT_TRUE(DumpExpectations([&](const KernelExpectation& k) {
    CtExpectation e = k.exp;
    e.timeout_s = 0;
    got[k.master.ToString() + " " + std::to_string(e.dport)] = e;
  }).ok());
  ASSERT_EQ(got.size(), 3u);
  auto want = [](CtExpectation e) {
    e.timeout_s = 0;
    return e;
  };
  EXPECT_EQ(got[ftp.key.ToString() + " 50001"], want(x));
  EXPECT_EQ(got[sip.key.ToString() + " 16384"], want(sip.extra.expectations[0]));
  EXPECT_EQ(got[sip.key.ToString() + " 16386"], want(sip.extra.expectations[1]));
}

// An expectation the kernel refuses for its class (FTP's helper has only
// class 0: EINVAL, as for a NAT function whose module is missing) goes in
// again without it, counted.
TEST_F(KernelTest, AnExpectationRefusedForItsClassGoesInWithoutIt) {
  KernelEntry ftp = testing::FtpControl();
  ftp.extra.labels = {};
  ftp.extra.expectations[0].klass = 1;
  const InstallStats st = InstallConntrack(std::vector<KernelEntry>{ftp}, {});
  ASSERT_EQ(st.installed, 1u) << "first error " << st.first_error;
  EXPECT_EQ(st.expectations_installed, 1u) << "first error " << st.first_error;
  EXPECT_EQ(st.expectations_failed, 0u);
  EXPECT_EQ(st.without_extras, 1u);
  size_t n = 0;
  ASSERT_TRUE(DumpExpectations([&](const KernelExpectation& k) { n += k.exp.klass == 0; }).ok());
  EXPECT_EQ(n, 1u);
}

// GetConntrack reads one entry whole, as a dump has it; nothing for one the
// kernel does not have.
TEST_F(KernelTest, GetReadsOneEntryWhole) {
  const KernelEntry ftp = testing::FtpControl();
  ASSERT_EQ(InstallConntrack(std::vector<KernelEntry>{ftp, testing::Tcp(1)}, {}).installed, 2u);
  std::optional<KernelEntry> got = GetConntrack(ftp.key);
  ASSERT_TRUE(got.has_value());
  std::map<std::string, KernelEntry> dump = DumpAll();
  KernelEntry& dumped = dump[ftp.key.ToString()];
  dumped.timeout_s = got->timeout_s;  // (it ticks)
  EXPECT_TRUE(*got == dumped) << got->ToString() << " vs " << dumped.ToString();
  EXPECT_EQ(got->extra.seqadj_orig, ftp.extra.seqadj_orig);
  EXPECT_EQ(got->parts, KernelEntry::kAllParts);
  EXPECT_FALSE(GetConntrack(testing::Tcp(2).key).has_value());
}

// An entry whose helper this kernel lacks is refused whole (EOPNOTSUPP): it
// goes in again without its extras, counted, and only what still fails is
// reported as failed, by index.
TEST_F(KernelTest, AnEntryRefusedForItsHelperGoesInWithoutIt) {
  ASSERT_TRUE(testing::UseConnLabels()) << "nft could not add the rule that keeps conntrack labels";
  KernelEntry odd = testing::FtpControl();
  odd.extra.helper = "no-such-helper";
  const std::vector<KernelEntry> in = {testing::Tcp(1), odd, testing::UdpSnat()};
  const InstallStats st = InstallConntrack(in, {});
  EXPECT_EQ(st.installed, 3u) << "first error " << st.first_error;
  EXPECT_EQ(st.without_extras, 1u);
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(st.first_error, 0) << "nothing failed in the end";
  EXPECT_TRUE(st.failed_entries.empty());
  EXPECT_EQ(st.expectations_failed, 0u) << "an expectation of a master that went in without its helper was sent";
  std::map<std::string, KernelEntry> out = DumpAll();
  ASSERT_TRUE(out.count(odd.key.ToString()));
  EXPECT_EQ(out[odd.key.ToString()].extra.helper, "");
  // Only the helper went: the sequence adjustment and the labels stay.
  EXPECT_EQ(out[odd.key.ToString()].extra.seqadj_orig, odd.extra.seqadj_orig);
  EXPECT_EQ(out[odd.key.ToString()].extra.labels, odd.extra.labels);
  // An entry the kernel refuses outright (a TCP state it does not know) is
  // reported by its index.
  KernelEntry bad = testing::Tcp(2);
  bad.tcp_state = 200;  // no such TCP state
  const std::vector<KernelEntry> two = {testing::Tcp(3), bad};
  const InstallStats st2 = InstallConntrack(two, {});
  EXPECT_EQ(st2.installed, 1u);
  EXPECT_EQ(st2.failed_entries, std::vector<size_t>{1}) << "first error " << st2.first_error;
}

// An entry with NAT that is there already: the kernel refuses NAT
// attributes on an update (its NAT is set at creation), so the update goes
// without them, and the state it carries lands.
TEST_F(KernelTest, AnUpdateOfANatEntryLands) {
  InstallOptions update;
  update.op = InstallOptions::Op::kCreateOrUpdate;
  KernelEntry e = testing::UdpSnat();
  ASSERT_EQ(InstallConntrack(std::span(&e, 1), update).installed, 1u);
  e.mark = 0x77;
  const InstallStats st = InstallConntrack(std::span(&e, 1), update);
  EXPECT_EQ(st.failed, 0u) << "errno " << st.first_error;
  EXPECT_EQ(DumpAll()[e.key.ToString()].mark, 0x77u);
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

// Events come a system call's worth at a time: each batch is looked ahead
// before any of it is handled, every entry in the order the kernel sent
// it, and an expectation only after the entries before it (its master's).
TEST_F(KernelTest, EventsAreLookedAheadInBatchesAndHandledInOrder) {
  CtEventSocket events;
  ASSERT_TRUE(events.Open(4 << 20).ok());
  std::vector<KernelEntry> in;
  for (uint32_t i = 0; i < 300; ++i) in.push_back(testing::Tcp(i));
  KernelEntry ftp = testing::FtpControl();
  ftp.extra.labels = {};
  in.push_back(ftp);
  in.push_back(testing::Tcp(300));
  const InstallStats st = InstallConntrack(in, {});
  ASSERT_EQ(st.installed, in.size()) << "first error " << st.first_error;
  ASSERT_EQ(st.expectations_installed, 1u) << "first error " << st.first_error;
  std::vector<std::pair<char, std::string>> log;  // ('a' ahead | 'e' event | 'x' expectation, key)
  const CtEventSocket::AheadHandler ahead = [&](const KernelEntry& e) { log.emplace_back('a', e.key.ToString()); };
  const CtEventSocket::ExpectationHandler expectations = [&](CtEvent k, const KernelExpectation& x) {
    if (k == CtEvent::kNew) log.emplace_back('x', x.master.ToString());
  };
  for (int i = 0; i < 20; ++i) {
    auto r = events.Read(1000, [&](CtEvent k, const KernelEntry& e) {
      if (k == CtEvent::kNew) log.emplace_back('e', e.key.ToString());
    }, &expectations, &ahead);
    ASSERT_FALSE(r.overrun);
    if (!r.more && r.events == 0) break;
  }
  std::vector<std::string> looked, handled;
  size_t first_event = log.size(), master_at = log.size(), expectation_at = log.size();
  for (size_t i = 0; i < log.size(); ++i) {
    const auto& [what, key] = log[i];
    if (what == 'a') looked.push_back(key);
    if (what == 'e') {
      first_event = std::min(first_event, i);
      handled.push_back(key);
      // Looked ahead before it was handled.
      ASSERT_GE(looked.size(), handled.size()) << key;
      EXPECT_EQ(looked[handled.size() - 1], key);
      if (key == ftp.key.ToString()) master_at = i;
    }
    if (what == 'x' && key == ftp.key.ToString()) expectation_at = i;
  }
  EXPECT_EQ(handled.size(), in.size());
  EXPECT_EQ(looked, handled);
  EXPECT_GT(first_event, 1u) << "the first batch was handled one entry at a time";
  ASSERT_LT(master_at, log.size());
  ASSERT_LT(expectation_at, log.size()) << "no expectation event";
  EXPECT_GT(expectation_at, master_at);
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
