// Kernel conntrack entries <-> sessions, and KernelSync against a fake
// kernel on the simulator: events, lost events repaired by a dump, and the
// install on promotion giving the new owner's kernel what the old one had.
#include <map>

#include <gtest/gtest.h>

#include "conntrack/ct_mapping.h"
#include "conntrack/kernel_sync.h"
#include "conntrack/standby_kernel.h"
#include "tests/support/kernel_entries.h"
#include "tests/support/sim_cluster.h"

namespace bladesync {
namespace {

using testing::IcmpEcho;
using testing::Tcp;
using testing::Tcp6Dnat;
using testing::UdpSnat;

// What a blade would hold for an entry, turned back into an entry.
KernelEntry RoundTrip(const KernelEntry& e) {
  const MappedSession m = SessionFromKernel(e, 0);
  SessionRecord r;
  r.key = m.facts.key;
  r.set_state(m.state);
  const ExtensionList ext{EncodeConntrack(m.ct)};
  std::optional<KernelEntry> back = KernelFromSession(r, m.nat ? &*m.nat : nullptr, &ext);
  EXPECT_TRUE(back.has_value());
  return back.value_or(KernelEntry{});
}

TEST(ConntrackMapping, EveryFieldSurvivesTheTripThroughASession) {
  for (const KernelEntry& e : {Tcp(1), UdpSnat(), IcmpEcho(), Tcp6Dnat()}) {
    EXPECT_EQ(RoundTrip(e), e) << e.ToString() << "\n vs " << RoundTrip(e).ToString();
  }
}

TEST(ConntrackMapping, StatesNatAndApplicationAsThePickupPolicySeesThem) {
  const MappedSession tcp = SessionFromKernel(Tcp(1), 120);
  EXPECT_EQ(tcp.state.proto_state, kTcpEstablished);
  EXPECT_EQ(AppOf(tcp.facts.flags), AppKind::kLinuxConntrack);
  EXPECT_FALSE(tcp.nat.has_value());
  EXPECT_EQ(tcp.state.timeout_s, 431999u);
  const MappedSession udp = SessionFromKernel(UdpSnat(), 120);
  EXPECT_EQ(udp.state.proto_state, kReplied);
  ASSERT_TRUE(udp.nat.has_value());
  EXPECT_EQ(udp.nat->snat_port, 61000);
  EXPECT_TRUE(udp.facts.flags & kFlagNat);
  EXPECT_EQ(udp.facts.key.zone, 3);
  // The owner keeps a session at least min_timeout_s between resyncs.
  EXPECT_EQ(SessionFromKernel(IcmpEcho(), 120).state.timeout_s, 120u);
}

TEST(ConntrackMapping, ASessionWithoutKernelStateGetsInstallableDefaults) {
  SessionRecord r;
  r.key = SessionKey::V4(1, 2, 3, 4, kProtoTcp);
  r.proto_state = kTcpEstablished;
  r.timeout_s = 3600;
  std::optional<KernelEntry> e = KernelFromSession(r, nullptr, nullptr);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->tcp_state, kCtTcpEstablished);
  EXPECT_EQ(e->timeout_s, 3600u);
  EXPECT_TRUE(e->status & kIpsAssured);
  EXPECT_EQ(e->reply_src, r.key.dst);
  EXPECT_EQ(e->reply_dport, 3);
  r.key.proto = 99;  // a protocol conntrack would not take from us
  EXPECT_FALSE(KernelFromSession(r, nullptr, nullptr).has_value());
}

// Labels, helper, sequence adjustment and expectations (v4, v6 with NAT)
// survive the extension; an entry without them stays version 1, which
// every release reads.
TEST(ConntrackMapping, ExtrasAndExpectationsSurviveTheExtension) {
  ConntrackState c{0x1234, 7, 300, 3, 7, 7, 0x23, 0x22, {}};
  Extension plain = EncodeConntrack(c);
  EXPECT_EQ(plain.version, 1);
  EXPECT_EQ(plain.data.size(), 17u);
  c.extra = testing::FtpControl().extra;
  c.extra.seqadj_repl = {77, 0xfffffffe, 3};
  CtExpectation v6;
  v6.src = IpAddr::V6(0x20010db800000000ull, 2);
  v6.dst = IpAddr::V6(0x20010db800000000ull, 1);
  v6.sport = 5060;
  v6.dport = 16384;
  v6.proto = kProtoUdp;
  v6.any_sport = false;
  v6.klass = 1;
  v6.flags = 1;
  v6.nat = true;
  v6.nat_dir = 1;
  v6.nat_addr = IpAddr::V6(0x20010db800000009ull, 9);
  v6.nat_port = 30000;
  v6.nat_fn = kNatFnSip;
  c.extra.expectations.push_back(v6);
  size_t left_out = 9;
  const Extension e = EncodeConntrack(c, &left_out);
  EXPECT_EQ(e.version, 2);
  EXPECT_EQ(left_out, 0u);
  EXPECT_TRUE(ExtensionValid(e));
  EXPECT_EQ(DecodeConntrack(e), c);
  // More expectations than an extension holds: the rest is counted, what
  // fits still decodes.
  for (int i = 0; i < 10; ++i) c.extra.expectations.push_back(v6);
  const Extension full = EncodeConntrack(c, &left_out);
  EXPECT_GT(left_out, 0u);
  EXPECT_LE(full.data.size(), kMaxExtensionBytes);
  ASSERT_TRUE(DecodeConntrack(full).has_value());
  EXPECT_EQ(DecodeConntrack(full)->extra.expectations.size(), c.extra.expectations.size() - left_out);
}

TEST(ConntrackMapping, AMalformedExtensionIsRefusedAndANewerPartSkipped) {
  ConntrackState c;
  c.extra.helper = "ftp";
  const Extension good = EncodeConntrack(c);
  ASSERT_EQ(good.data.size(), 17u + 2 + 3);
  auto with = [&](std::vector<uint8_t> tail) {
    Extension e = good;
    std::vector<uint8_t> bytes(e.data.begin(), e.data.begin() + 17);
    bytes.insert(bytes.end(), tail.begin(), tail.end());
    e.data.assign(bytes.begin(), bytes.end());
    return e;
  };
  EXPECT_TRUE(DecodeConntrack(with({2, 3, 'f', 't', 'p'})).has_value());
  EXPECT_FALSE(DecodeConntrack(with({2, 3, 'f', ' ', 'p'})).has_value());   // not a name
  EXPECT_FALSE(DecodeConntrack(with({2, 4, 'f', 't', 'p'})).has_value());   // runs past the end
  EXPECT_FALSE(DecodeConntrack(with({1, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})).has_value());  // labels are 16
  EXPECT_FALSE(DecodeConntrack(with({5, 3, 0, 6, 0})).has_value());          // a cut expectation
  EXPECT_FALSE(DecodeConntrack(with({2})).has_value());                      // a part without its length
  // An expectation's NAT function follows it: alone it is malformed; one
  // this release does not know is left out, the expectation kept.
  const std::vector<uint8_t> exp = {5, 20, 0, kProtoTcp, 0, 0, 0x50, 0xc3, 1, 0, 0, 0, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  auto plus = [&](std::vector<uint8_t> tail) {
    std::vector<uint8_t> v = exp;
    v.insert(v.end(), tail.begin(), tail.end());
    return v;
  };
  ASSERT_TRUE(DecodeConntrack(with(exp)).has_value());
  EXPECT_FALSE(DecodeConntrack(with({6, 1, kNatFnFollowMaster})).has_value());            // no expectation before it
  EXPECT_FALSE(DecodeConntrack(with(plus({6, 2, 1, 1}))).has_value());                      // one byte
  EXPECT_FALSE(DecodeConntrack(with(plus({6, 1, 1, 6, 1, 1}))).has_value());                // twice
  std::optional<ConntrackState> fn = DecodeConntrack(with(plus({6, 1, kNatFnFollowMaster})));
  ASSERT_TRUE(fn.has_value());
  EXPECT_EQ(fn->extra.expectations.at(0).nat_fn, kNatFnFollowMaster);
  std::optional<ConntrackState> unknown_fn = DecodeConntrack(with(plus({6, 1, 77})));
  ASSERT_TRUE(unknown_fn.has_value());
  EXPECT_EQ(unknown_fn->extra.expectations.at(0).nat_fn, kNatFnNone);
  std::optional<ConntrackState> newer = DecodeConntrack(with({200, 2, 9, 9, 2, 3, 'f', 't', 'p'}));
  ASSERT_TRUE(newer.has_value());
  EXPECT_EQ(newer->extra.helper, "ftp");
  Extension v1_long = good;
  v1_long.version = 1;  // version 1 is exactly 17 bytes
  EXPECT_FALSE(DecodeConntrack(v1_long).has_value());
  // A mirror refuses it on arrival (counted as bad_extension) and nothing
  // installs made-up state for it.
  const Extension bad = with({2, 3, 'f', ' ', 'p'});
  EXPECT_TRUE(ExtensionValid(good));
  EXPECT_FALSE(ExtensionValid(bad));
  SessionRecord r;
  r.key = Tcp(1).key;
  r.proto_state = kTcpEstablished;
  const ExtensionList xs{bad};
  EXPECT_FALSE(KernelFromSession(r, nullptr, &xs).has_value());
}

// Expectations come from the peer: only those between the master's own
// endpoints go into the kernel (a forged one cannot open this firewall to
// anyone), at most kMaxExpectations, the rest counted.
TEST(ConntrackMapping, AnExpectationNotBetweenTheMastersEndpointsIsLeftOut) {
  const KernelEntry ftp = testing::FtpControl();
  ConntrackState c;
  c.tcp_state = kCtTcpEstablished;
  c.extra = ftp.extra;
  CtExpectation elsewhere = ftp.extra.expectations[0];
  elsewhere.dst = IpAddr::V4(0xc0000263);  // 192.0.2.99: nobody this session knows
  CtExpectation from_anyone_to_elsewhere = elsewhere;
  from_anyone_to_elsewhere.any_src = true;
  CtExpectation icmp = ftp.extra.expectations[0];
  icmp.proto = kProtoIcmp;
  c.extra.expectations = {ftp.extra.expectations[0], elsewhere, from_anyone_to_elsewhere, icmp};
  SessionRecord r;
  r.key = ftp.key;
  r.proto_state = kTcpEstablished;
  ExtensionList ext{EncodeConntrack(c)};
  size_t implausible = 0;
  std::optional<KernelEntry> e = KernelFromSession(r, nullptr, &ext, &implausible);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->extra.expectations, std::vector<CtExpectation>{ftp.extra.expectations[0]});
  EXPECT_EQ(implausible, 3u);
  // Never for ever nor for long, and a helper the kernel has for TCP only.
  c.extra.expectations = {ftp.extra.expectations[0]};
  c.extra.expectations[0].flags = kExpectPermanent | 4;
  c.extra.expectations[0].timeout_s = 0xffffffff;
  ext = {EncodeConntrack(c)};
  e = KernelFromSession(r, nullptr, &ext);
  ASSERT_EQ(e->extra.expectations.size(), 1u);
  EXPECT_EQ(e->extra.expectations[0].flags, 0);
  EXPECT_EQ(e->extra.expectations[0].timeout_s, kMaxExpectationTimeoutS);
  for (const char* helper : {"nfct-evil", "tftp"}) {  // unknown; a UDP helper on a TCP master
    c.extra.helper = helper;
    ext = {EncodeConntrack(c)};
    implausible = 0;
    e = KernelFromSession(r, nullptr, &ext, &implausible);
    ASSERT_TRUE(e.has_value()) << "the entry goes in without the helper";
    EXPECT_EQ(e->extra.helper, "") << helper;
    EXPECT_TRUE(e->extra.expectations.empty()) << "an expectation without a helper on its master";
    EXPECT_EQ(implausible, 2u);
  }
  // A class only SIP's helper has, and a NAT function with nothing to
  // translate to, are refused; SIP's media classes go in.
  {
    c.extra.helper = "ftp";
    CtExpectation classed = ftp.extra.expectations[0];
    classed.klass = 1;
    CtExpectation fn_alone = ftp.extra.expectations[0];
    fn_alone.dport = 50001;
    fn_alone.nat_fn = kNatFnFollowMaster;
    CtExpectation natted = fn_alone;
    natted.dport = 50002;
    natted.nat = true;
    natted.nat_addr = ftp.key.src;
    natted.nat_port = 40000;
    CtExpectation ftp_nat = natted;  // as nf_nat_ftp leaves it: the port only
    ftp_nat.dport = 50003;
    ftp_nat.nat_addr = IpAddr::V4(0);
    CtExpectation sip_fn = ftp_nat;  // SIP's function on an FTP master
    sip_fn.dport = 50004;
    sip_fn.nat_fn = kNatFnSip;
    CtExpectation unset_no_fn = ftp_nat;  // no function: translated to 0.0.0.0
    unset_no_fn.dport = 50005;
    unset_no_fn.nat_fn = kNatFnNone;
    c.extra.expectations = {classed, fn_alone, natted, ftp_nat, sip_fn, unset_no_fn};
    ext = {EncodeConntrack(c)};
    implausible = 0;
    e = KernelFromSession(r, nullptr, &ext, &implausible);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->extra.expectations, (std::vector<CtExpectation>{natted, ftp_nat}));
    EXPECT_EQ(implausible, 4u);
    SessionRecord sip_r;
    sip_r.key = SessionKey::V4(ftp.key.src.v4(), ftp.key.dst.v4(), 5060, 5060, kProtoUdp);
    sip_r.proto_state = kReplied;
    ConntrackState sip;
    sip.extra.helper = "sip";
    CtExpectation audio;
    audio.src = ftp.key.dst;
    audio.dst = ftp.key.src;
    audio.dport = 16384;
    audio.proto = kProtoUdp;
    for (uint8_t k : {1, 2, 3, 4}) {
      audio.klass = k;
      sip.extra.expectations = {audio};
      ext = {EncodeConntrack(sip)};
      e = KernelFromSession(sip_r, nullptr, &ext);
      ASSERT_TRUE(e.has_value());
      EXPECT_EQ(e->extra.expectations.size(), k <= kSipExpectClassMax ? 1u : 0u) << "class " << int(k);
    }
  }
  EXPECT_TRUE(KnownHelper("ftp", kProtoTcp, true));
  EXPECT_FALSE(KnownHelper("irc", kProtoTcp, true)) << "the kernel's IRC helper watches IPv4 only";
  EXPECT_TRUE(KnownHelper("sip", kProtoUdp, false));
  c.extra.helper = "ftp";
  // Plausible but too many.
  c.extra.expectations.assign(kMaxExpectations + 3, ftp.extra.expectations[0]);
  for (size_t i = 0; i < c.extra.expectations.size(); ++i) c.extra.expectations[i].dport = static_cast<uint16_t>(50000 + i);
  ext = {EncodeConntrack(c)};
  implausible = 0;
  e = KernelFromSession(r, nullptr, &ext, &implausible);
  const size_t carried = DecodeConntrack(ext[0])->extra.expectations.size();
  EXPECT_EQ(e->extra.expectations.size(), std::min(carried, kMaxExpectations));
  EXPECT_EQ(implausible, carried - e->extra.expectations.size());
}

// A kernel table in memory.
class FakeKernel : public KernelTable {
 public:
  std::map<std::string, KernelEntry> table;  // entries with their expectations in extra
  size_t install_calls = 0;
  void Put(const KernelEntry& e) { table[e.key.ToString()] = e; }
  Status Dump(const std::function<void(const KernelEntry&)>& fn) override {
    for (auto& [k, e] : table) {
      KernelEntry bare = e;  // an entry's dump has no expectations: they come from their own table
      bare.extra.expectations.clear();
      fn(bare);
    }
    return Status::Ok();
  }
  Status DumpExpectations(const std::function<void(const KernelExpectation&)>& fn) override {
    for (auto& [k, e] : table) {
      for (const CtExpectation& x : e.extra.expectations) fn({e.key, e.extra.helper, x});
    }
    return Status::Ok();
  }
  std::optional<KernelEntry> Get(const SessionKey& key) override {
    auto it = table.find(key.ToString());
    if (it == table.end()) return std::nullopt;
    KernelEntry bare = it->second;
    bare.extra.expectations.clear();
    return bare;
  }
  InstallStats Install(std::span<const KernelEntry> entries, const InstallOptions&) override {
    ++install_calls;
    InstallStats s;
    for (const KernelEntry& e : entries) {
      if (table.count(e.key.ToString())) {
        ++s.existed;
      } else {
        table[e.key.ToString()] = e;
        ++s.installed;
      }
    }
    return s;
  }
};

// A kernel whose dump hands out its entries in slices, with a hook between them.
template <typename Base>
class Sliced : public Base {
 public:
  std::function<void(int)> between;  // before slice k (k >= 1)
  int slices = 0;
  std::unique_ptr<DumpCursor> OpenDump() override {
    class Cursor : public DumpCursor {
     public:
      Cursor(Sliced& k, std::unique_ptr<DumpCursor> inner) : k_(k), inner_(std::move(inner)) {}
      bool Next(size_t max, const std::function<void(const KernelEntry&)>& fn) override {
        if (k_.slices++ > 0 && k_.between) k_.between(k_.slices - 1);
        return inner_->Next(max, fn);
      }
      Status status() const override { return inner_->status(); }

     private:
      Sliced& k_;
      std::unique_ptr<DumpCursor> inner_;
    };
    return std::make_unique<Cursor>(*this, KernelTable::OpenDump());
  }
};
using SlicedKernel = Sliced<FakeKernel>;

struct Pair {
  testing::SimBlades c{2, 1, 11};
  FakeKernel k1, k2;
  ConntrackOptions opt = [] {
    ConntrackOptions o;
    o.enabled = true;
    o.install_chunk = 3;  // several loop turns for a handful of sessions
    return o;
  }();
  const IpAddr m1 = IpAddr::V4(0xa9fec901);
  api::Blade a1{c.blade(1, 1)}, a2{c.blade(2, 1)};  // what conntrack/ sees of each blade
  KernelSync s1{a1, c.blade(1, 1).loop(), k1, opt, {m1}};
  KernelSync s2{a2, c.blade(2, 1).loop(), k2, opt, {IpAddr::V4(0xa9fec902)}};

  // The mirror on chassis 2 equals chassis 1's kernel, session by session.
  ::testing::AssertionResult MirrorEqualsKernel() {
    const StandbyTable* so = c.blade(2, 1).standby(1);
    if (so->store().live() != k1.table.size()) {
      return ::testing::AssertionFailure() << so->store().live() << " mirrored, kernel has " << k1.table.size();
    }
    for (auto& [k, e] : k1.table) {
      auto id = so->store().Find(e.key);
      if (!id) return ::testing::AssertionFailure() << "not mirrored: " << k;
      const SessionRecord& r = so->store().rec(*id);
      std::optional<KernelEntry> back = KernelFromSession(r, so->store().nat(*id), so->store().extensions(*id));
      if (!back) return ::testing::AssertionFailure() << "not installable: " << k;
      back->timeout_s = e.timeout_s;
      if (!(*back == e)) return ::testing::AssertionFailure() << "differs: " << back->ToString() << " vs " << e.ToString();
    }
    return ::testing::AssertionSuccess();
  }
};

// An update event carries only what changed (the kernel sends TCP state,
// labels and sequence adjustment with their own event bits): what it lacks
// is unchanged, not gone. A seqadj event (nf_nat_ftp rewrote PORT) without
// the TCP state, then a TCP state event without the seqadj: the mirror
// holds both, as the kernel does.
TEST(KernelSync, AnUpdateEventLeavesWhatItDidNotCarryAsItWas) {
  Pair p;
  KernelEntry ftp = testing::FtpControl();
  ftp.extra.expectations.clear();
  ftp.extra.seqadj_orig = {};
  p.k1.Put(ftp);
  p.s1.OnEvent(CtEvent::kNew, ftp);
  KernelEntry seqadj_event = ftp;  // as the parser gives it: no protoinfo, no labels
  seqadj_event.parts = KernelEntry::kSeqAdjOrig;
  seqadj_event.tcp_state = 0;
  seqadj_event.wscale_orig = seqadj_event.wscale_repl = seqadj_event.flags_orig = seqadj_event.flags_repl = 0;
  seqadj_event.extra.labels = {};
  seqadj_event.extra.seqadj_orig = {1000, 0, 1};
  ftp.extra.seqadj_orig = {1000, 0, 1};
  p.k1.Put(ftp);
  p.s1.OnEvent(CtEvent::kUpdate, seqadj_event);
  p.c.RunFor(milliseconds(300));
  EXPECT_TRUE(p.MirrorEqualsKernel());
  KernelEntry fin_event = ftp;  // the client closes: protoinfo only
  fin_event.parts = KernelEntry::kProtoInfo;
  fin_event.tcp_state = kCtTcpFinWait;
  fin_event.extra.labels = {};
  fin_event.extra.seqadj_orig = {};
  ftp.tcp_state = kCtTcpFinWait;
  p.k1.Put(ftp);
  p.s1.OnEvent(CtEvent::kUpdate, fin_event);
  p.c.RunFor(milliseconds(300));
  EXPECT_TRUE(p.MirrorEqualsKernel());
}

// Labels all cleared leave no trace in an update event (the kernel sends
// labels only while one is set): the entry is read again, not kept as it was.
TEST(KernelSync, LabelsAllClearedAreNotKept) {
  Pair p;
  KernelEntry ftp = testing::FtpControl();
  ftp.extra.expectations.clear();
  p.k1.Put(ftp);
  p.s1.OnEvent(CtEvent::kNew, ftp);
  // A TCP state change carries its protocol part and no labels: they are
  // unchanged, and nothing is asked of the kernel.
  ftp.tcp_state = kCtTcpFinWait;
  p.k1.Put(ftp);
  KernelEntry state_event = ftp;
  state_event.parts = KernelEntry::kProtoInfo;
  state_event.extra.labels = {};
  state_event.extra.seqadj_orig = {};
  p.s1.OnEvent(CtEvent::kUpdate, state_event);
  EXPECT_EQ(p.s1.counters().reread.get(), 0u);
  p.c.RunFor(milliseconds(300));
  EXPECT_TRUE(p.MirrorEqualsKernel());
  ftp.extra.labels = {};  // conntrack -U --label-del: an event with neither part
  p.k1.Put(ftp);
  KernelEntry label_event = ftp;
  label_event.parts = 0;
  label_event.tcp_state = 0;
  label_event.extra.seqadj_orig = {};
  p.s1.OnEvent(CtEvent::kUpdate, label_event);
  EXPECT_EQ(p.s1.counters().reread.get(), 1u);
  p.c.RunFor(milliseconds(300));
  EXPECT_TRUE(p.MirrorEqualsKernel());
}

// nf_nat_ftp rewrites PORT (a sequence adjustment on the control
// connection) and the kernel sends no event for it, only the expectation's:
// on a NAT helper's expectation the master is read again.
TEST(KernelSync, ANatHelpersExpectationBringsItsMastersSequenceAdjustment) {
  Pair p;
  KernelEntry ftp = testing::FtpControl();
  CtExpectation x = ftp.extra.expectations[0];
  x.nat = true;
  x.nat_dir = 1;
  x.nat_addr = IpAddr::V4(0);
  x.nat_port = 50000;
  x.nat_fn = kNatFnFollowMaster;
  ftp.extra.expectations.clear();
  ftp.extra.seqadj_orig = {};
  p.k1.Put(ftp);
  p.s1.OnEvent(CtEvent::kNew, ftp);
  ftp.extra.seqadj_orig = {1000, 0, 1};  // in the kernel, with no event of its own
  ftp.extra.expectations = {x};
  p.k1.Put(ftp);
  p.s1.OnExpectation(CtEvent::kNew, {ftp.key, "ftp", x});
  EXPECT_EQ(p.s1.counters().reread.get(), 1u);
  p.c.RunFor(milliseconds(300));
  EXPECT_TRUE(p.MirrorEqualsKernel());
}

TEST(KernelSync, EventsReachTheMirrorAsTheKernelHasThem) {
  Pair p;
  for (const KernelEntry& e : {Tcp(1), Tcp(2), UdpSnat(), IcmpEcho(), Tcp6Dnat()}) {
    p.k1.Put(e);
    p.s1.OnEvent(CtEvent::kNew, e);
  }
  KernelEntry syn = Tcp(3);
  syn.tcp_state = kCtTcpSynSent;
  syn.status = kIpsConfirmed;
  p.k1.Put(syn);
  p.s1.OnEvent(CtEvent::kNew, syn);
  p.c.RunFor(milliseconds(300));
  EXPECT_TRUE(p.MirrorEqualsKernel());
  // The handshake completes; a flow ends.
  syn.tcp_state = kCtTcpEstablished;
  syn.status |= kIpsSeenReply | kIpsAssured;
  p.k1.Put(syn);
  p.s1.OnEvent(CtEvent::kUpdate, syn);
  p.k1.table.erase(Tcp(2).key.ToString());
  p.s1.OnEvent(CtEvent::kDestroy, Tcp(2));
  p.c.RunFor(milliseconds(300));
  EXPECT_TRUE(p.MirrorEqualsKernel());
  EXPECT_EQ(p.s1.counters().events_new.get(), 6u);
  EXPECT_EQ(p.s1.counters().events_destroy.get(), 1u);
}

// An FTP control connection's expectation travels in its session: the
// mirror has it, the entry's own events keep it, it is gone when the kernel
// says so, a dump repairs what events missed, and promotion installs it.
TEST(KernelSync, ExpectationsTravelWithTheirMasterAndArePromotedWithIt) {
  Pair p;
  KernelEntry ftp = testing::FtpControl();
  const CtExpectation x = ftp.extra.expectations[0];
  ftp.extra.expectations.clear();
  p.k1.Put(ftp);
  p.s1.OnEvent(CtEvent::kNew, ftp);
  ftp.extra.expectations.push_back(x);  // the client sent PORT
  p.k1.Put(ftp);
  p.s1.OnExpectation(CtEvent::kNew, {ftp.key, "ftp", x});
  KernelEntry update = ftp;
  update.extra.expectations.clear();
  update.timeout_s = 431000;
  p.s1.OnEvent(CtEvent::kUpdate, update);  // an entry's event knows nothing of its expectations
  p.c.RunFor(milliseconds(300));
  EXPECT_TRUE(p.MirrorEqualsKernel());
  EXPECT_EQ(p.s1.counters().expectations_new.get(), 1u);

  // The data connection came: the kernel took the expectation out.
  p.k1.table[ftp.key.ToString()].extra.expectations.clear();
  p.s1.OnExpectation(CtEvent::kDestroy, {ftp.key, "ftp", x});
  p.c.RunFor(milliseconds(300));
  EXPECT_TRUE(p.MirrorEqualsKernel());

  // Another PORT whose event was lost in an overrun: the dump brings it.
  CtExpectation y = x;
  y.dport = 50001;
  p.k1.table[ftp.key.ToString()].extra.expectations.push_back(y);
  // An expectation of nothing we own is counted, not invented.
  p.s1.OnExpectation(CtEvent::kNew, {Tcp(77).key, "ftp", y});
  EXPECT_EQ(p.s1.counters().expectations_unmatched.get(), 1u);
  ASSERT_TRUE(p.s1.Reconcile().ok());
  EXPECT_EQ(p.s1.counters().resync_expectations.get(), 1u);
  p.c.RunFor(milliseconds(300));
  EXPECT_TRUE(p.MirrorEqualsKernel());

  p.c.blade(2, 1).add_adopt_listener([&](uint8_t, size_t n) { p.s2.InstallAdopted(n); });
  p.c.Kill(1, 1);
  EXPECT_EQ(p.c.blade(2, 1).Adopt(1), 1u);
  p.c.RunFor(milliseconds(50));
  ASSERT_TRUE(p.k2.table.count(ftp.key.ToString()));
  const KernelEntry& got = p.k2.table[ftp.key.ToString()];
  EXPECT_EQ(got.extra.helper, "ftp");
  EXPECT_EQ(got.extra.expectations, std::vector<CtExpectation>{y});
}

TEST(KernelSync, FullFramesOfSessionsWithKernelStateArrive) {
  // Every session carries an extension table: a frame holds thousands.
  Pair p;
  for (uint32_t i = 0; i < 20000; ++i) {
    KernelEntry e = Tcp(i % 20000);
    e.key.src = IpAddr::V4(0x0a100000 + i);
    e.reply_dst = e.key.src;
    p.k1.Put(e);
    p.s1.OnEvent(CtEvent::kNew, e);
  }
  p.c.RunFor(seconds(2));
  EXPECT_TRUE(p.MirrorEqualsKernel());
  EXPECT_EQ(p.c.blade(2, 1).counters().dropped[static_cast<int>(DropReason::kMalformed)].get(), 0u);
}

TEST(KernelSync, TheClustersOwnTrafficIsNeverSynced) {
  Pair p;
  KernelEntry sync_link = Tcp(9);
  sync_link.key.src = p.m1;  // a connection on M1
  KernelEntry cli = Tcp(10);
  cli.key.src = cli.key.dst = IpAddr::V4(0x7f000001);
  p.s1.OnEvent(CtEvent::kNew, sync_link);
  p.s1.OnEvent(CtEvent::kNew, cli);
  EXPECT_EQ(p.c.blade(1, 1).owned().live(), 0u);
  EXPECT_EQ(p.s1.counters().ignored.get(), 2u);
}

TEST(KernelSync, LostEventsAreRepairedByTheDumpNotLost) {
  Pair p;
  // Events for three flows arrive; then the socket overruns: one flow's
  // DESTROY and two flows' NEW never arrive.
  for (uint32_t i = 1; i <= 3; ++i) {
    p.k1.Put(Tcp(i));
    p.s1.OnEvent(CtEvent::kNew, Tcp(i));
  }
  p.k1.table.erase(Tcp(1).key.ToString());
  p.k1.Put(Tcp(4));
  p.k1.Put(UdpSnat());
  p.c.RunFor(milliseconds(200));
  EXPECT_FALSE(p.MirrorEqualsKernel());
  ASSERT_TRUE(p.s1.Reconcile().ok());
  p.c.RunFor(milliseconds(300));
  EXPECT_TRUE(p.MirrorEqualsKernel());
  EXPECT_EQ(p.s1.counters().resync_created.get(), 2u);
  EXPECT_EQ(p.s1.counters().resync_deleted.get(), 1u);
  EXPECT_EQ(p.c.blade(1, 1).owned().live(), 4u);
}

// A resync reads a large table a slice per loop turn; the events read
// meanwhile count: a flow that began during the dump is not taken for gone,
// one that ended is not brought back by the dump's older view of it.
TEST(KernelSync, AResyncReadsTheDumpInSlicesAndEventsMeanwhileCount) {
  testing::SimBlades c{2, 1, 11};
  SlicedKernel k;
  ConntrackOptions opt;
  opt.enabled = true;
  api::Blade a{c.blade(1, 1)};
  KernelSync sync{a, c.blade(1, 1).loop(), k, opt, {}};
  auto entry = [](uint32_t i) {
    KernelEntry e = Tcp(i);
    e.key.src = IpAddr::V4(0x0a100000 + i);
    e.reply_dst = e.key.src;
    return e;
  };
  const uint32_t n = 10000;
  for (uint32_t i = 0; i < n; ++i) k.Put(entry(i));
  const KernelEntry late = entry(n + 1), ended = entry(n - 1);  // `ended` is in the dump's last slice
  k.between = [&](int slice) {
    if (slice != 1) return;
    EXPECT_TRUE(sync.reconciling());
    k.Put(late);
    sync.OnEvent(CtEvent::kNew, late);
    k.table.erase(ended.key.ToString());
    sync.OnEvent(CtEvent::kDestroy, ended);
  };
  bool done = false;
  ASSERT_TRUE(sync.StartReconcile([&](const Status& s) {
    EXPECT_TRUE(s.ok());
    done = true;
  }));
  EXPECT_FALSE(sync.StartReconcile(nullptr)) << "one resync at a time";
  c.RunFor(milliseconds(100));
  ASSERT_TRUE(done);
  EXPECT_GE(k.slices, 3) << "the dump was read in one go";
  EXPECT_TRUE(a.Find(late.key).has_value()) << "a flow that began during the dump was taken for gone";
  EXPECT_FALSE(a.Find(ended.key).has_value()) << "the dump brought back a flow that had ended";
  EXPECT_EQ(c.blade(1, 1).owned().live(), n);
  EXPECT_EQ(sync.counters().resync_deleted.get(), 0u);
}

TEST(KernelSync, PromotionInstallsWhatTheLostOwnersKernelHad) {
  Pair p;
  for (const KernelEntry& e : {Tcp(1), Tcp(2), Tcp(3), UdpSnat(), IcmpEcho(), Tcp6Dnat(), Tcp(4)}) {
    p.k1.Put(e);
    p.s1.OnEvent(CtEvent::kNew, e);
  }
  p.c.RunFor(milliseconds(300));
  ASSERT_TRUE(p.MirrorEqualsKernel());
  // B's kernel already has one of them (traffic reached B first): not an error.
  p.k2.Put(Tcp(4));
  bool done = false;
  InstallStats total;
  p.c.blade(2, 1).add_adopt_listener([&](uint8_t, size_t) {
    p.s2.InstallAdopted(7, [&](const InstallStats& s) {
      total = s;
      done = true;
    });
  });
  p.c.Kill(1, 1);
  EXPECT_EQ(p.c.blade(2, 1).Adopt(1), 7u);
  p.c.RunFor(milliseconds(50));
  ASSERT_TRUE(done);
  EXPECT_EQ(total.installed, 6u);
  EXPECT_EQ(total.existed, 1u);
  EXPECT_GE(p.k2.install_calls, 3u);  // in chunks, between which the loop runs
  for (auto& [k, e] : p.k1.table) {
    ASSERT_TRUE(p.k2.table.count(k)) << k;
    KernelEntry got = p.k2.table[k];
    got.timeout_s = e.timeout_s;
    EXPECT_EQ(got, e) << k;
  }
  // The kernel's NEW events for what was installed find the adopted sessions.
  for (auto& [k, e] : p.k2.table) p.s2.OnEvent(CtEvent::kNew, e);
  EXPECT_EQ(p.c.blade(2, 1).owned().live(), 7u);
  EXPECT_EQ(p.s2.counters().refused.get(), 0u);
}


// A kernel table that knows create, create-or-update and delete.
class OpsKernel : public KernelTable {
 public:
  std::map<std::string, KernelEntry> table;
  size_t put_calls = 0, entries_put = 0;
  bool fail_next = false;  // the next call fails every entry (as ENOMEM would)
  Status Dump(const std::function<void(const KernelEntry&)>& fn) override {
    for (auto& [k, e] : table) fn(e);
    return Status::Ok();
  }
  Status DumpExpectations(const std::function<void(const KernelExpectation&)>&) override { return Status::Ok(); }
  std::optional<KernelEntry> Get(const SessionKey&) override { return std::nullopt; }
  InstallStats Install(std::span<const KernelEntry> entries, const InstallOptions& o) override {
    InstallStats s;
    if (fail_next) {
      fail_next = false;
      s.failed = entries.size();
      for (size_t k = 0; k < entries.size(); ++k) s.failed_entries.push_back(k);
      s.first_error = ENOMEM;
      return s;
    }
    for (KernelEntry e : entries) {
      e.mark |= o.mark_or;
      const std::string k = e.key.ToString();
      if (o.op == InstallOptions::Op::kDelete) {
        (table.erase(k) ? s.installed : s.existed)++;
        continue;
      }
      ++entries_put;
      if (table.count(k) && o.op == InstallOptions::Op::kCreate) {
        ++s.existed;
        continue;
      }
      table[k] = e;
      ++s.installed;
    }
    ++put_calls;
    return s;
  }
};

struct StandbyPair : Pair {
  OpsKernel k2ops;
  ConntrackOptions sopt = [this] {
    ConntrackOptions o = opt;
    o.standby_in_kernel = true;
    return o;
  }();
  KernelSync s2k{a2, c.blade(2, 1).loop(), k2ops, sopt, {IpAddr::V4(0xa9fec902)}};
  StandbyKernel sk{a2, c.blade(2, 1).loop(), k2ops, sopt, [this](const SessionKey& k) { return s2k.Ignored(k); }};
  StandbyPair() {
    s2k.set_standby(&sk);
    sk.Start();
  }
  bool InB(const KernelEntry& e) { return k2ops.table.count(e.key.ToString()) > 0; }
};

KernelEntry Numbered(uint32_t i) {
  KernelEntry e = Tcp(i);
  e.key.src = IpAddr::V4(0x0a100000 + i);
  e.reply_dst = e.key.src;
  return e;
}

// A frame whose conntrack extension is malformed: the mirror drops the
// extension (bad_extension) and keeps the session; its kernel must not get
// it with made-up state.
TEST(StandbyKernel, ASessionWhoseStateWasDroppedIsNotInstalledWithDefaults) {
  StandbyPair p;
  ConntrackState c;
  c.extra.helper = "ftp";
  Extension bad = EncodeConntrack(c);
  std::vector<uint8_t> b(bad.data.begin(), bad.data.begin() + 17);
  for (uint8_t x : {uint8_t{2}, uint8_t{3}, uint8_t{'f'}, uint8_t{' '}, uint8_t{'p'}}) b.push_back(x);
  ASSERT_TRUE(bad.data.assign(b.begin(), b.end()));
  const MappedSession m = SessionFromKernel(Tcp(1), 0);
  const ExtensionList xs{bad};
  ASSERT_NE(p.a1.Create(m.facts, m.state, nullptr, &xs), api::kNoSession);
  p.c.RunFor(milliseconds(300));
  ASSERT_TRUE(p.c.blade(2, 1).standby(1)->store().Find(Tcp(1).key));
  EXPECT_GE(p.c.blade(2, 1).counters().dropped[static_cast<int>(DropReason::kBadExtension)].get(), 1u);
  EXPECT_FALSE(p.InB(Tcp(1))) << "installed with made-up state";
}

// The review's case: the owner is lost while the mirror's resync reads its
// dump. The dump skipped the sessions as mirrored; adopted, they must not
// be taken for gone (they were deleted, and their kernel entries with them).
TEST(StandbyKernel, APromotionDuringASlicedResyncKeepsTheAdoptedSessions) {
  StandbyPair p;
  Sliced<OpsKernel> k2;
  ConntrackOptions o = p.sopt;
  o.install_chunk = 0;  // the default slices
  KernelSync s2{p.a2, p.c.blade(2, 1).loop(), k2, o, {IpAddr::V4(0xa9fec902)}};
  StandbyKernel sk{p.a2, p.c.blade(2, 1).loop(), k2, o, [&](const SessionKey& k) { return s2.Ignored(k); }};
  p.s2k.set_standby(nullptr);
  s2.set_standby(&sk);
  sk.Start();
  const uint32_t n = 10000;  // three slices: the adoption comes between the second and the third
  for (uint32_t i = 0; i < n; ++i) {
    p.k1.Put(Numbered(i));
    p.s1.OnEvent(CtEvent::kNew, Numbered(i));
  }
  p.c.RunFor(seconds(2));
  ASSERT_EQ(k2.table.size(), n);
  p.c.blade(2, 1).add_adopt_listener([&](uint8_t, size_t a) { s2.InstallAdopted(a); });
  k2.between = [&](int slice) {
    if (slice != 1) return;
    p.c.blade(2, 1).loop().Post([&] {  // between this slice and the next
      p.c.Kill(1, 1);
      p.c.blade(2, 1).Adopt(1);
    });
  };
  bool done = false;
  ASSERT_TRUE(s2.StartReconcile([&](const Status&) { done = true; }));
  p.c.RunFor(milliseconds(200));
  ASSERT_TRUE(done);
  EXPECT_EQ(s2.counters().resync_deleted.get(), 0u);
  EXPECT_EQ(p.c.blade(2, 1).owned().live(), n);
  k2.between = nullptr;
  ASSERT_TRUE(s2.Reconcile().ok());
  p.c.RunFor(milliseconds(200));
  EXPECT_EQ(k2.table.size(), n) << "adopted sessions' kernel entries were removed";
}

// A dump found an entry of an earlier run, not mirrored then; a bulk sync
// mirrors it before the repair acts: it stays in the kernel.
TEST(StandbyKernel, AStaleVerdictIsCheckedAgainWhenTheRepairActs) {
  StandbyPair p;
  KernelEntry left = Tcp(5);
  left.mark |= 0x80000000u;
  p.k2ops.table[left.key.ToString()] = left;
  StandbyKernel::DumpScan scan = p.sk.BeginScan();
  for (auto& [k, e] : p.k2ops.table) p.sk.Scan(scan, e);
  ASSERT_EQ(scan.stale.size(), 1u);
  p.k1.Put(Tcp(5));
  p.s1.OnEvent(CtEvent::kNew, Tcp(5));
  p.c.RunFor(milliseconds(300));
  p.sk.Repair(std::move(scan));
  p.c.RunFor(milliseconds(300));
  EXPECT_TRUE(p.InB(Tcp(5))) << "a mirrored session's entry was removed as stale";
}

// Three chassis: chassis 2 mirrors 1 and 3. Chassis 1's promotion takes
// only its own pending keys: chassis 3's refused update is still retried.
TEST(StandbyKernel, APromotionLeavesAnotherOwnersPendingKeysQueued) {
  testing::SimBlades c{3, 1, 11};
  FakeKernel k1, k3;
  OpsKernel k2;
  ConntrackOptions opt;
  opt.enabled = true;
  opt.standby_in_kernel = true;
  api::Blade a1{c.blade(1, 1)}, a2{c.blade(2, 1)}, a3{c.blade(3, 1)};
  KernelSync s1{a1, c.blade(1, 1).loop(), k1, opt, {}};
  KernelSync s3{a3, c.blade(3, 1).loop(), k3, opt, {}};
  KernelSync s2{a2, c.blade(2, 1).loop(), k2, opt, {}};
  StandbyKernel sk{a2, c.blade(2, 1).loop(), k2, opt, [&](const SessionKey& k) { return s2.Ignored(k); }};
  s2.set_standby(&sk);
  sk.Start();
  const KernelEntry one = Numbered(1), three = Numbered(3);
  s1.OnEvent(CtEvent::kNew, one);
  s3.OnEvent(CtEvent::kNew, three);
  c.RunFor(milliseconds(300));
  ASSERT_EQ(k2.table.size(), 2u);
  KernelEntry closing = three;
  closing.tcp_state = kCtTcpFinWait;
  k2.fail_next = true;
  s3.OnEvent(CtEvent::kUpdate, closing);
  c.RunFor(milliseconds(300));
  ASSERT_EQ(sk.counters().failed.get(), 1u);
  c.Kill(1, 1);
  ASSERT_EQ(c.blade(2, 1).Adopt(1), 1u);
  s2.InstallAdopted(1);
  c.RunFor(milliseconds(50));
  ASSERT_TRUE(sk.Repair().ok());
  c.RunFor(milliseconds(300));
  EXPECT_EQ(k2.table[three.key.ToString()].tcp_state, kCtTcpFinWait) << "chassis 3's refused update was forgotten";
}

TEST(StandbyKernel, TheMirrorsKernelFollowsTheOwnersDeltas) {
  StandbyPair p;
  const std::vector<KernelEntry> es{Tcp(1), Tcp(2), UdpSnat(), IcmpEcho(), Tcp6Dnat()};
  for (const KernelEntry& e : es) {
    p.k1.Put(e);
    p.s1.OnEvent(CtEvent::kNew, e);
  }
  p.c.RunFor(milliseconds(300));
  ASSERT_EQ(p.k2ops.table.size(), es.size());
  for (const KernelEntry& e : es) {
    ASSERT_TRUE(p.InB(e)) << e.ToString();
    EXPECT_EQ(p.k2ops.table[e.key.ToString()].mark & 0x80000000u, 0x80000000u) << "standby-mark";
  }
  EXPECT_EQ(p.sk.counters().installed.get(), es.size());
  // The owner's kernel changes a state and ends a flow: so does ours.
  KernelEntry t1 = Tcp(1);
  t1.tcp_state = kCtTcpFinWait;
  p.s1.OnEvent(CtEvent::kUpdate, t1);
  p.s1.OnEvent(CtEvent::kDestroy, Tcp(2));
  p.c.RunFor(milliseconds(300));
  EXPECT_FALSE(p.InB(Tcp(2)));
  EXPECT_EQ(p.k2ops.table[Tcp(1).key.ToString()].tcp_state, kCtTcpFinWait);
  EXPECT_EQ(p.sk.counters().deleted.get(), 1u);
  // Our own installs come back as kernel events: not this blade's sessions.
  for (auto& [k, e] : p.k2ops.table) p.s2k.OnEvent(CtEvent::kNew, e);
  EXPECT_EQ(p.c.blade(2, 1).owned().live(), 0u) << "a mirrored session became an owned one";
  EXPECT_EQ(p.s2k.counters().mirrored_events.get(), es.size() - 1);
  // A dump sees them too, and leaves them alone.
  ASSERT_TRUE(p.s2k.Reconcile().ok());
  EXPECT_EQ(p.c.blade(2, 1).owned().live(), 0u);
}

TEST(StandbyKernel, AnEntryTheKernelDropsGoesBackInAndDriftIsRepaired) {
  StandbyPair p;
  for (uint32_t i = 1; i <= 3; ++i) p.s1.OnEvent(CtEvent::kNew, Tcp(i));
  p.c.RunFor(milliseconds(300));
  ASSERT_EQ(p.k2ops.table.size(), 3u);
  // Its timer ran out here, where no packet refreshes it.
  p.k2ops.table.erase(Tcp(1).key.ToString());
  p.s2k.OnEvent(CtEvent::kDestroy, Tcp(1));
  EXPECT_TRUE(p.InB(Tcp(1)));
  EXPECT_EQ(p.sk.counters().reinstalled.get(), 1u);
  // Gone without an event (flushed by hand), and one of ours left over.
  p.k2ops.table.erase(Tcp(2).key.ToString());
  ASSERT_TRUE(p.sk.Repair().ok());
  p.c.RunFor(milliseconds(50));  // through the flush queue
  EXPECT_TRUE(p.InB(Tcp(2)));
  EXPECT_GE(p.sk.counters().repaired.get(), 1u);
}

TEST(StandbyKernel, PromotionInstallsOnlyWhatWasNotInTheKernelYet) {
  StandbyPair p;
  for (uint32_t i = 1; i <= 10; ++i) p.s1.OnEvent(CtEvent::kNew, Tcp(i));
  p.c.RunFor(milliseconds(300));
  ASSERT_EQ(p.k2ops.table.size(), 10u);
  // One session changes and the kernel refuses its update.
  KernelEntry t3 = Tcp(3);
  t3.tcp_state = kCtTcpFinWait;
  p.k2ops.fail_next = true;
  p.s1.OnEvent(CtEvent::kUpdate, t3);
  p.c.RunFor(milliseconds(300));
  ASSERT_EQ(p.sk.counters().failed.get(), 1u);
  const size_t before = p.k2ops.entries_put;
  // The owner is lost: chassis 2 adopts and installs that one alone.
  p.c.Kill(1, 1);
  ASSERT_EQ(p.c.blade(2, 1).Adopt(1), 10u);
  bool done = false;
  p.s2k.InstallAdopted(10, [&](const InstallStats&) { done = true; });
  p.c.RunFor(milliseconds(100));
  EXPECT_TRUE(done);
  EXPECT_EQ(p.k2ops.entries_put, before + 1) << "promotion installed sessions the kernel had, or not the refused one";
  EXPECT_EQ(p.k2ops.table[t3.key.ToString()].tcp_state, kCtTcpFinWait);
  EXPECT_EQ(p.s2k.counters().skipped_in_kernel.get(), 9u);
  EXPECT_EQ(p.sk.in_kernel(), 0u) << "the adopted keys are KernelSync's now";
}

TEST(StandbyKernel, AnInstallThatFailedIsNotTakenForInTheKernel) {
  StandbyPair p;
  p.k2ops.fail_next = true;
  p.s1.OnEvent(CtEvent::kNew, Tcp(1));
  p.c.RunFor(milliseconds(300));
  EXPECT_FALSE(p.InB(Tcp(1)));
  EXPECT_FALSE(p.sk.InKernel(Tcp(1).key));
  EXPECT_EQ(p.sk.counters().failed.get(), 1u);
  // Promotion installs it then.
  p.c.Kill(1, 1);
  ASSERT_EQ(p.c.blade(2, 1).Adopt(1), 1u);
  p.s2k.InstallAdopted(1);
  p.c.RunFor(milliseconds(50));
  EXPECT_TRUE(p.InB(Tcp(1))) << "the adopted session is not in the kernel";
}

TEST(StandbyKernel, ANewIncarnationsTableTakesTheOldEntriesOut) {
  StandbyPair p;
  for (uint32_t i = 1; i <= 4; ++i) p.s1.OnEvent(CtEvent::kNew, Tcp(i));
  p.c.RunFor(milliseconds(300));
  ASSERT_EQ(p.k2ops.table.size(), 4u);
  // The owner restarts with an empty table: the mirror keeps the old one as
  // an orphan for a while, then drops it (nobody adopted it): so do we.
  p.c.Kill(1, 1);
  p.c.Revive(1, 1, 2);
  p.c.RunFor(seconds(6));
  EXPECT_TRUE(p.k2ops.table.empty()) << p.k2ops.table.size() << " entries of a table nobody has any more";
}

TEST(StandbyKernel, EntriesAnEarlierRunLeftAreNotTakenForOwnSessions) {
  StandbyPair p;
  // A restart after kill -9: the kernel still has a standby entry, marked;
  // the mirror has nothing yet.
  KernelEntry left = Tcp(7);
  left.mark = 0x80000000u;
  p.k2ops.table[left.key.ToString()] = left;
  KernelEntry own = Tcp(8);  // a connection of this host's kernel, unmarked
  p.k2ops.table[own.key.ToString()] = own;
  ASSERT_TRUE(p.s2k.Reconcile().ok());
  EXPECT_FALSE(p.c.blade(2, 1).Lookup(left.key).has_value()) << "a leftover standby entry became an owned session";
  EXPECT_TRUE(p.c.blade(2, 1).Lookup(own.key).has_value());
  p.s2k.OnEvent(CtEvent::kUpdate, left);
  EXPECT_FALSE(p.c.blade(2, 1).Lookup(left.key).has_value());
  // Repair takes it out: nobody mirrors it.
  ASSERT_TRUE(p.sk.Repair().ok());
  EXPECT_FALSE(p.InB(left));
  EXPECT_TRUE(p.InB(own));
}
}  // namespace
}  // namespace bladesync
