// Applications and their per-session extensions: one place per protocol.
//
// Each application a session can belong to (SIP, GTP, SCCP, ...) declares
// its sync policy in the registry below: whether its sessions fail over,
// whether only in active-passive mode, and which typed, versioned extension
// (its ALG / inspection state) travels with the session. Supporting a new
// protocol means adding one AppKind and one AppSpec row, plus an extension
// codec if it has state; the pickup policy, the wire, the mirror and
// failover handle it from there.
//
//   const AppSpec& s = AppSpecFor(AppKind::kGtpC);   // synced, with GtpTunnel
//   Extension e = EncodeGtpTunnel(GtpTunnel{...});
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "blades/session.h"

namespace bladesync {

enum class SyncPolicy : uint8_t {
  kSynced,          // the session and its extension state are synced
  kSessionOnly,     // the session is synced, the extension state is not
  kNotFailedOver,   // the session is never synced (restarts after failover)
};

enum class ExtensionType : uint16_t { kNone = 0, kSipCall = 1, kGtpTunnel = 2, kConntrack = 3 };

// Why a session of this application is not synced (pickup_policy.h SkipReason).
enum class AppSkip : uint8_t { kNone, kNotSynced, kActivePassiveOnly, kUserPlane };

struct AppSpec {
  AppKind app;
  const char* name;
  SyncPolicy policy;
  bool active_passive_only;   // FGCP syncs it only in active-passive clusters
  AppSkip skip;               // reason counted when it is not synced
  ExtensionType extension;    // the state it carries, if any
  uint16_t extension_version; // the newest version this build writes and reads
  uint16_t max_bytes;         // a frame carrying more is malformed
};

const AppSpec& AppSpecFor(AppKind app);
const AppSpec* AppSpecForExtension(uint16_t type);

// An extension's bytes: up to kInlineExtensionBytes inline, so the common
// kinds cost a session no allocation of their own (a mirror in conntrack
// mode holds one per session; as a std::vector it was an allocation per
// session on every apply), and up to kMaxExtensionBytes (AppSpec::max_bytes;
// a frame carrying more is malformed) in one allocation beyond that, for the
// conntrack entries that have labels, a helper or expectations.
inline constexpr size_t kInlineExtensionBytes = 24;
inline constexpr size_t kMaxExtensionBytes = 255;
class ExtensionBytes {
 public:
  ExtensionBytes() = default;
  ExtensionBytes(const ExtensionBytes& o) { assign(o.begin(), o.end()); }
  ExtensionBytes& operator=(const ExtensionBytes& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  ExtensionBytes(ExtensionBytes&& o) noexcept : b_(o.b_), big_(std::move(o.big_)), n_(o.n_) { o.n_ = 0; }
  ExtensionBytes& operator=(ExtensionBytes&& o) noexcept {
    b_ = o.b_;
    big_ = std::move(o.big_);
    n_ = o.n_;
    o.n_ = 0;
    return *this;
  }

  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const uint8_t* data() const { return big_ ? big_.get() : b_.data(); }
  const uint8_t* begin() const { return data(); }
  const uint8_t* end() const { return data() + n_; }
  uint8_t operator[](size_t i) const { return data()[i]; }
  // False, keeping nothing more, past kMaxExtensionBytes.
  bool push_back(uint8_t x) {
    if (n_ >= kMaxExtensionBytes) return false;
    if (!big_ && n_ == kInlineExtensionBytes) {
      big_ = std::make_unique<uint8_t[]>(kMaxExtensionBytes);
      std::copy(b_.begin(), b_.end(), big_.get());
    }
    (big_ ? big_.get() : b_.data())[n_++] = x;
    return true;
  }
  // n bytes at once (the event path's conntrack state).
  bool assign(const uint8_t* p, size_t n) {
    if (n > kInlineExtensionBytes) return assign(p, p + n);
    big_.reset();
    std::copy(p, p + n, b_.begin());
    n_ = static_cast<uint8_t>(n);
    return true;
  }
  template <typename It>
  bool assign(It first, It last) {
    n_ = 0;
    for (; first != last; ++first) {
      if (!push_back(*first)) return false;
    }
    return true;
  }
  bool operator==(const ExtensionBytes& o) const { return n_ == o.n_ && std::equal(begin(), end(), o.begin()); }

 private:
  std::array<uint8_t, kInlineExtensionBytes> b_{};
  std::unique_ptr<uint8_t[]> big_;
  uint8_t n_ = 0;
};

struct Extension {
  uint16_t type = 0;
  uint16_t version = 0;
  ExtensionBytes data;
  bool operator==(const Extension&) const = default;
};

// A session's extensions. A session has one at most in practice (its
// application's), so the first is held inline and any more in one
// allocation: a conntrack table, where every session has one, costs no
// allocation per session (a std::vector here was one malloc per new
// session on both ends, and 88 bytes a session where this is 64).
class ExtensionList {
 public:
  ExtensionList() = default;
  ExtensionList(std::initializer_list<Extension> xs) {
    for (const Extension& e : xs) push_back(e);
  }
  ExtensionList(const ExtensionList& o) { *this = o; }
  ExtensionList& operator=(const ExtensionList& o) {
    if (this == &o) return *this;
    first_ = o.first_;
    n_ = o.n_;
    more_ = o.more_ ? std::make_unique<std::vector<Extension>>(*o.more_) : nullptr;
    return *this;
  }
  // A moved-from list is empty (not a count over moved-out extensions).
  ExtensionList(ExtensionList&& o) noexcept
      : first_(std::move(o.first_)), more_(std::move(o.more_)), n_(std::exchange(o.n_, 0)) {}
  ExtensionList& operator=(ExtensionList&& o) noexcept {
    if (this == &o) return *this;
    first_ = std::move(o.first_);
    more_ = std::move(o.more_);
    n_ = std::exchange(o.n_, 0);
    return *this;
  }

  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const Extension& operator[](size_t i) const { return i == 0 ? first_ : (*more_)[i - 1]; }
  Extension& operator[](size_t i) { return i == 0 ? first_ : (*more_)[i - 1]; }
  const Extension& at(size_t i) const {
    if (i >= n_) throw std::out_of_range("ExtensionList::at");
    return (*this)[i];
  }
  const Extension& front() const { return first_; }
  void push_back(const Extension& e) {
    if (n_ == 0) {
      first_ = e;
    } else {
      if (!more_) more_ = std::make_unique<std::vector<Extension>>();
      more_->push_back(e);
    }
    ++n_;
  }
  // Keeps the allocation of any more, for the next session of this id;
  // the first's bytes go (one over the inline size holds 255 bytes).
  void clear() {
    n_ = 0;
    first_ = Extension{};
    if (more_) more_->clear();
  }
  bool operator==(const ExtensionList& o) const {
    if (n_ != o.n_) return false;
    for (size_t i = 0; i < n_; ++i)
      if (!((*this)[i] == o[i])) return false;
    return true;
  }

  template <typename List, typename Item>
  class Iter {
   public:
    using value_type = Extension;
    using difference_type = std::ptrdiff_t;
    Iter() = default;
    Iter(List* l, size_t i) : l_(l), i_(i) {}
    Item& operator*() const { return (*l_)[i_]; }
    Item* operator->() const { return &(*l_)[i_]; }
    Iter& operator++() {
      ++i_;
      return *this;
    }
    Iter operator++(int) {
      Iter t = *this;
      ++i_;
      return t;
    }
    bool operator==(const Iter& o) const { return i_ == o.i_; }

   private:
    List* l_ = nullptr;
    size_t i_ = 0;
  };
  using iterator = Iter<ExtensionList, Extension>;
  using const_iterator = Iter<const ExtensionList, const Extension>;
  iterator begin() { return {this, 0}; }
  iterator end() { return {this, n_}; }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, n_}; }

 private:
  Extension first_;
  std::unique_ptr<std::vector<Extension>> more_;
  uint32_t n_ = 0;
};

// SIP call state (FGCP: active-passive only).
struct SipCall {
  enum State : uint8_t { kSetup = 0, kEstablished = 1, kTerminating = 2 };
  uint8_t state = kSetup;
  uint32_t call_id_hash = 0;
  uint16_t rtp_port = 0;   // the media flow that rides on the call
};

// GTP tunnel state, kept after failover so GTP-U flows on the tunnel go on.
struct GtpTunnel {
  uint32_t teid_c = 0;
  uint32_t teid_u_up = 0;
  uint32_t teid_u_down = 0;
  uint8_t policy_srcintf = 0;  // the direction a firewall policy accepts
};

// The kernel's functions that set up an expected connection's NAT
// (CTA_EXPECT_FN; their names in conntrack/netlink_conntrack.cc).
enum CtNatFn : uint8_t {
  kNatFnNone = 0,
  kNatFnFollowMaster = 1,    // "nat-follow-master": FTP, IRC, TFTP, ... (nf_nat_helper)
  kNatFnSip = 2,             // "sip": SIP's signalling (nf_nat_sip)
  kNatFnQ931 = 3,            // "Q.931" (nf_nat_h323)
  kNatFnCallForwarding = 4,  // "callforwarding" (nf_nat_h323)
  kNatFnLast = kNatFnCallForwarding,
};

// A kernel expectation (conntrack/'s helpers, FTP and SIP): the connection
// a helper saw announced on its master and will let in as RELATED.
struct CtExpectation {
  IpAddr src, dst;           // the expected connection's original direction
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  bool any_src = false;      // the mask leaves the source address open
  bool any_sport = true;     // ... and the source port (FTP: any)
  uint32_t timeout_s = 0;    // what was left when the kernel last reported it
  uint8_t flags = 0;         // NF_CT_EXPECT_* (permanent, inactive, userspace)
  uint8_t klass = 0;         // the helper's expectation class (SIP: signalling, audio, video)
  // NAT helpers: the expected connection is translated to nat_addr:nat_port
  // in direction nat_dir (nf_nat_ftp, nf_nat_sip), by the function nat_fn.
  bool nat = false;
  uint8_t nat_dir = 0;
  IpAddr nat_addr;
  uint16_t nat_port = 0;
  uint8_t nat_fn = 0;        // CtNatFn
  bool operator==(const CtExpectation&) const = default;
  // The same expectation (the kernel's identity: tuple and mask).
  bool SameTuple(const CtExpectation& o) const {
    return src == o.src && dst == o.dst && sport == o.sport && dport == o.dport && proto == o.proto &&
           any_src == o.any_src && any_sport == o.any_sport;
  }
};

// TCP sequence adjustment of one direction (NAT helpers that rewrite payload).
struct CtSeqAdj {
  uint32_t correction_pos = 0;
  uint32_t offset_before = 0;
  uint32_t offset_after = 0;
  bool operator==(const CtSeqAdj&) const = default;
  bool empty() const { return correction_pos == 0 && offset_before == 0 && offset_after == 0; }
};

// What only some conntrack entries have; each part travels only where set,
// so an entry without them costs the wire and the mirror nothing more.
struct ConntrackExtras {
  std::array<uint8_t, 16> labels{};   // ct label bits 0..127 (bit i: byte i/8, bit i%8)
  std::string helper;                 // the helper assigned ("ftp", "sip"), at most 15 characters
  CtSeqAdj seqadj_orig, seqadj_repl;
  std::vector<CtExpectation> expectations;
  bool operator==(const ConntrackExtras&) const = default;
  bool has_labels() const {
    return std::any_of(labels.begin(), labels.end(), [](uint8_t b) { return b != 0; });
  }
  bool empty() const {
    return !has_labels() && helper.empty() && seqadj_orig.empty() && seqadj_repl.empty() && expectations.empty();
  }
};

// What a Linux conntrack entry has beyond the session key and NAT: enough to
// install it into another kernel as it was (conntrack/ct_mapping.h).
struct ConntrackState {
  uint32_t status = 0;       // IPS_* bits
  uint32_t mark = 0;
  uint32_t timeout_s = 0;    // what was left when the kernel last reported it
  uint8_t tcp_state = 0;     // the kernel's TCP_CONNTRACK_* value
  uint8_t wscale_orig = 0;
  uint8_t wscale_repl = 0;
  uint8_t flags_orig = 0;    // IP_CT_TCP_FLAG_* per direction
  uint8_t flags_repl = 0;
  ConntrackExtras extra;
  bool operator==(const ConntrackState&) const = default;
};

// A kernel entry's session flags follow from its status (what
// conntrack/ct_mapping's SessionFromKernel sets): its application,
// kFlagExpectation from IPS_EXPECTED, kFlagNat from IPS_SRC_NAT or
// IPS_DST_NAT. The compact wire form (ConntrackCreate4) leaves them out.
uint16_t ConntrackSessionFlags(uint32_t status);

Extension EncodeSipCall(const SipCall& c);
std::optional<SipCall> DecodeSipCall(const Extension& e);
Extension EncodeGtpTunnel(const GtpTunnel& t);
std::optional<GtpTunnel> DecodeGtpTunnel(const Extension& e);
// Version 1 (17 bytes) when the extras are empty, which every release
// reads; version 2 adds them as tagged parts. Expectations that do not fit
// in kMaxExtensionBytes are left out and counted in *left_out.
Extension EncodeConntrack(const ConntrackState& c, size_t* left_out = nullptr);
std::optional<ConntrackState> DecodeConntrack(const Extension& e);

// The extension is well formed for its spec (known type, version, size).
bool ExtensionValid(const Extension& e);

}  // namespace bladesync
