#include "blades/extensions.h"

#include <array>

namespace bladesync {
namespace {

constexpr std::array<AppSpec, 10> kApps = {{
    {AppKind::kNone, "none", SyncPolicy::kSynced, false, AppSkip::kNone, ExtensionType::kNone, 0, 0},
    {AppKind::kSip, "sip", SyncPolicy::kSynced, true, AppSkip::kActivePassiveOnly, ExtensionType::kSipCall, 1, 16},
    {AppKind::kSipRtp, "sip-rtp", SyncPolicy::kSynced, true, AppSkip::kActivePassiveOnly, ExtensionType::kNone, 0, 0},
    {AppKind::kGtpC, "gtp-c", SyncPolicy::kSynced, false, AppSkip::kNone, ExtensionType::kGtpTunnel, 1, 16},
    {AppKind::kGtpU, "gtp-u", SyncPolicy::kNotFailedOver, false, AppSkip::kUserPlane, ExtensionType::kNone, 0, 0},
    {AppKind::kSccp, "sccp", SyncPolicy::kNotFailedOver, false, AppSkip::kNotSynced, ExtensionType::kNone, 0, 0},
    {AppKind::kSimple, "simple", SyncPolicy::kNotFailedOver, false, AppSkip::kNotSynced, ExtensionType::kNone, 0, 0},
    {AppKind::kSslOffload, "ssl-offload", SyncPolicy::kNotFailedOver, false, AppSkip::kNotSynced, ExtensionType::kNone, 0, 0},
    {AppKind::kHttpMux, "http-multiplex", SyncPolicy::kNotFailedOver, false, AppSkip::kNotSynced, ExtensionType::kNone, 0, 0},
    {AppKind::kLinuxConntrack, "linux-conntrack", SyncPolicy::kSynced, false, AppSkip::kNone, ExtensionType::kConntrack, 2, 255},
}};

void Put32(ExtensionBytes& v, uint32_t x) {
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}
uint32_t Get32(const ExtensionBytes& v, size_t at) {
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i) x |= uint32_t{v[at + i]} << (8 * i);
  return x;
}

// The decoders read version 1 of their type at its exact size, nothing else.
bool IsV1(const Extension& e, ExtensionType type, size_t size) {
  return e.type == static_cast<uint16_t>(type) && e.version == 1 && e.data.size() == size;
}

}  // namespace

const AppSpec& AppSpecFor(AppKind app) {
  for (const AppSpec& s : kApps)
    if (s.app == app) return s;
  return kApps[0];
}

const AppSpec* AppSpecForExtension(uint16_t type) {
  if (type == 0) return nullptr;
  for (const AppSpec& s : kApps)
    if (static_cast<uint16_t>(s.extension) == type) return &s;
  return nullptr;
}

bool ExtensionValid(const Extension& e) {
  const AppSpec* s = AppSpecForExtension(e.type);
  if (!s || e.version < 1 || e.data.size() > s->max_bytes) return false;
  // Conntrack state goes into a kernel: every part must parse, not just fit
  // (a newer version keeps version 2's framing, and what it adds is skipped).
  if (e.type == static_cast<uint16_t>(ExtensionType::kConntrack)) return DecodeConntrack(e).has_value();
  // Any other version newer than ours is carried as it is: during a rolling
  // upgrade the session still fails over, and a newer mirror gets it whole.
  return true;
}

Extension EncodeSipCall(const SipCall& c) {
  Extension e{static_cast<uint16_t>(ExtensionType::kSipCall), 1, {}};
  e.data.push_back(c.state);
  Put32(e.data, c.call_id_hash);
  e.data.push_back(static_cast<uint8_t>(c.rtp_port));
  e.data.push_back(static_cast<uint8_t>(c.rtp_port >> 8));
  return e;
}

std::optional<SipCall> DecodeSipCall(const Extension& e) {
  if (!IsV1(e, ExtensionType::kSipCall, 7)) return std::nullopt;
  SipCall c;
  c.state = e.data[0];
  c.call_id_hash = Get32(e.data, 1);
  c.rtp_port = static_cast<uint16_t>(e.data[5] | (e.data[6] << 8));
  return c;
}

Extension EncodeGtpTunnel(const GtpTunnel& t) {
  Extension e{static_cast<uint16_t>(ExtensionType::kGtpTunnel), 1, {}};
  Put32(e.data, t.teid_c);
  Put32(e.data, t.teid_u_up);
  Put32(e.data, t.teid_u_down);
  e.data.push_back(t.policy_srcintf);
  return e;
}

std::optional<GtpTunnel> DecodeGtpTunnel(const Extension& e) {
  if (!IsV1(e, ExtensionType::kGtpTunnel, 13)) return std::nullopt;
  GtpTunnel t;
  t.teid_c = Get32(e.data, 0);
  t.teid_u_up = Get32(e.data, 4);
  t.teid_u_down = Get32(e.data, 8);
  t.policy_srcintf = e.data[12];
  return t;
}

namespace {

// Version 2's tagged parts after the 17 bytes of version 1: tag, length,
// value. A reader skips tags it does not know (a newer writer's).
// kTagExpectNatFn (one byte, CtNatFn) follows the expectation it belongs to
// (a part of its own: a release that does not know it still reads the
// expectation, as before).
enum ConntrackTag : uint8_t {
  kTagLabels = 1, kTagHelper = 2, kTagSeqAdjOrig = 3, kTagSeqAdjRepl = 4, kTagExpectation = 5, kTagExpectNatFn = 6,
};
constexpr size_t kHelperMax = 15;
// Expectation bits (the part's first byte).
constexpr uint8_t kExpV6 = 1, kExpAnySrc = 2, kExpAnySport = 4, kExpNat = 8;

void PutAddr(std::vector<uint8_t>& v, const IpAddr& a, bool v6) {
  if (v6) v.insert(v.end(), a.b.begin(), a.b.end());
  else for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(a.v4() >> (24 - 8 * i)));
}

std::vector<uint8_t> ExpectationBytes(const CtExpectation& x) {
  const bool v6 = !x.dst.is_v4();  // the family is the destination's (an open source is 0.0.0.0 or ::)
  std::vector<uint8_t> v;
  v.push_back(static_cast<uint8_t>((v6 ? kExpV6 : 0) | (x.any_src ? kExpAnySrc : 0) | (x.any_sport ? kExpAnySport : 0) |
                                   (x.nat ? kExpNat : 0)));
  v.push_back(x.proto);
  for (uint16_t p : {x.sport, x.dport}) {
    v.push_back(static_cast<uint8_t>(p));
    v.push_back(static_cast<uint8_t>(p >> 8));
  }
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(x.timeout_s >> (8 * i)));
  v.push_back(x.flags);
  v.push_back(x.klass);
  PutAddr(v, x.src, v6);
  PutAddr(v, x.dst, v6);
  if (x.nat) {
    v.push_back(x.nat_dir);
    PutAddr(v, x.nat_addr, v6);
    v.push_back(static_cast<uint8_t>(x.nat_port));
    v.push_back(static_cast<uint8_t>(x.nat_port >> 8));
  }
  return v;
}

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool ok() const { return ok_; }
  bool done() const { return at_ >= n_; }
  uint8_t U8() { return Need(1) ? p_[at_++] : 0; }
  uint16_t U16() {
    const uint16_t lo = U8();
    return static_cast<uint16_t>(lo | U8() << 8);
  }
  uint32_t U32() {
    uint32_t x = 0;
    for (int i = 0; i < 4; ++i) x |= uint32_t{U8()} << (8 * i);
    return x;
  }
  IpAddr Addr(bool v6) {
    IpAddr a;
    if (v6) {
      if (Need(16)) std::copy(p_ + at_, p_ + at_ + 16, a.b.begin()), at_ += 16;
      return a;
    }
    uint32_t x = 0;
    for (int i = 0; i < 4; ++i) x = x << 8 | U8();
    return IpAddr::V4(x);
  }

 private:
  bool Need(size_t k) {
    if (at_ + k > n_) ok_ = false;
    return ok_;
  }
  const uint8_t* p_;
  size_t n_;
  size_t at_ = 0;
  bool ok_ = true;
};

std::optional<CtExpectation> ParseExpectation(const uint8_t* p, size_t n) {
  Reader r(p, n);
  CtExpectation x;
  const uint8_t bits = r.U8();
  const bool v6 = bits & kExpV6;
  x.any_src = bits & kExpAnySrc;
  x.any_sport = bits & kExpAnySport;
  x.nat = bits & kExpNat;
  x.proto = r.U8();
  x.sport = r.U16();
  x.dport = r.U16();
  x.timeout_s = r.U32();
  x.flags = r.U8();
  x.klass = r.U8();
  x.src = r.Addr(v6);
  x.dst = r.Addr(v6);
  if (x.nat) {
    x.nat_dir = r.U8();
    x.nat_addr = r.Addr(v6);
    x.nat_port = r.U16();
  }
  if (!r.ok() || !r.done() || x.nat_dir > 1) return std::nullopt;
  return x;
}

bool PutPart(Extension& e, uint8_t tag, const std::vector<uint8_t>& v) {
  if (e.data.size() + 2 + v.size() > kMaxExtensionBytes) return false;
  e.data.push_back(tag);
  e.data.push_back(static_cast<uint8_t>(v.size()));
  for (uint8_t b : v) e.data.push_back(b);
  return true;
}

std::vector<uint8_t> SeqAdjBytes(const CtSeqAdj& a) {
  std::vector<uint8_t> v;
  for (uint32_t x : {a.correction_pos, a.offset_before, a.offset_after})
    for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
  return v;
}

}  // namespace

uint16_t ConntrackSessionFlags(uint32_t status) {
  constexpr uint32_t kExpected = 1u << 0, kSrcNat = 1u << 4, kDstNat = 1u << 5;  // IPS_*
  uint16_t flags = WithApp(0, AppKind::kLinuxConntrack);
  if (status & kExpected) flags |= kFlagExpectation;
  if (status & (kSrcNat | kDstNat)) flags |= kFlagNat;
  return flags;
}

Extension EncodeConntrack(const ConntrackState& c, size_t* left_out) {
  Extension e{static_cast<uint16_t>(ExtensionType::kConntrack), 1, {}};
  std::array<uint8_t, 17> v1;  // written at once: every kernel event builds one
  for (int i = 0; i < 4; ++i) {
    v1[i] = static_cast<uint8_t>(c.status >> (8 * i));
    v1[4 + i] = static_cast<uint8_t>(c.mark >> (8 * i));
    v1[8 + i] = static_cast<uint8_t>(c.timeout_s >> (8 * i));
  }
  v1[12] = c.tcp_state;
  v1[13] = c.wscale_orig;
  v1[14] = c.wscale_repl;
  v1[15] = c.flags_orig;
  v1[16] = c.flags_repl;
  e.data.assign(v1.data(), v1.size());
  const ConntrackExtras& x = c.extra;
  if (x.empty()) return e;
  e.version = 2;
  if (x.has_labels()) PutPart(e, kTagLabels, {x.labels.begin(), x.labels.end()});
  if (!x.helper.empty()) {
    PutPart(e, kTagHelper, {x.helper.begin(), x.helper.begin() + std::min(x.helper.size(), kHelperMax)});
  }
  if (!x.seqadj_orig.empty()) PutPart(e, kTagSeqAdjOrig, SeqAdjBytes(x.seqadj_orig));
  if (!x.seqadj_repl.empty()) PutPart(e, kTagSeqAdjRepl, SeqAdjBytes(x.seqadj_repl));
  size_t out = 0;
  for (const CtExpectation& xp : x.expectations) {
    // Both parts or neither: an expectation without its NAT function would
    // not be translated.
    const std::vector<uint8_t> bytes = ExpectationBytes(xp);
    if (e.data.size() + 2 + bytes.size() + (xp.nat_fn ? 3 : 0) > kMaxExtensionBytes) {
      ++out;
      continue;
    }
    PutPart(e, kTagExpectation, bytes);
    if (xp.nat_fn) PutPart(e, kTagExpectNatFn, {xp.nat_fn});
  }
  if (left_out) *left_out = out;
  return e;
}

std::optional<ConntrackState> DecodeConntrack(const Extension& e) {
  if (e.type != static_cast<uint16_t>(ExtensionType::kConntrack)) return std::nullopt;
  // Version 2 and every later one: the 17 bytes of version 1, then tagged
  // parts; a part this release does not know is skipped.
  if (!(e.version == 1 && e.data.size() == 17) && !(e.version >= 2 && e.data.size() >= 17)) return std::nullopt;
  ConntrackState c;
  c.status = Get32(e.data, 0);
  c.mark = Get32(e.data, 4);
  c.timeout_s = Get32(e.data, 8);
  c.tcp_state = e.data[12];
  c.wscale_orig = e.data[13];
  c.wscale_repl = e.data[14];
  c.flags_orig = e.data[15];
  c.flags_repl = e.data[16];
  const uint8_t* p = e.data.data();
  for (size_t at = 17; at < e.data.size();) {
    if (at + 2 > e.data.size()) return std::nullopt;
    const uint8_t tag = p[at], len = p[at + 1];
    const uint8_t* v = p + at + 2;
    at += 2 + len;
    if (at > e.data.size()) return std::nullopt;
    switch (tag) {
      case kTagLabels:
        if (len != 16) return std::nullopt;
        std::copy(v, v + 16, c.extra.labels.begin());
        break;
      case kTagHelper:
        if (len == 0 || len > kHelperMax) return std::nullopt;
        for (size_t i = 0; i < len; ++i)
          if (v[i] < 0x21 || v[i] > 0x7e) return std::nullopt;  // a name, not bytes to print
        c.extra.helper.assign(v, v + len);
        break;
      case kTagSeqAdjOrig:
      case kTagSeqAdjRepl: {
        if (len != 12) return std::nullopt;
        Reader r(v, len);
        CtSeqAdj a{r.U32(), r.U32(), r.U32()};
        (tag == kTagSeqAdjOrig ? c.extra.seqadj_orig : c.extra.seqadj_repl) = a;
        break;
      }
      case kTagExpectation: {
        std::optional<CtExpectation> x = ParseExpectation(v, len);
        if (!x) return std::nullopt;
        c.extra.expectations.push_back(*x);
        break;
      }
      case kTagExpectNatFn:
        if (len != 1 || c.extra.expectations.empty() || c.extra.expectations.back().nat_fn) return std::nullopt;
        // A function this release does not know (a newer writer's) is left out.
        if (v[0] <= kNatFnLast) c.extra.expectations.back().nat_fn = v[0];
        break;
      default: break;  // a newer writer's part
    }
  }
  return c;
}

}  // namespace bladesync
