#include "blades/blade_agent.h"

#include <algorithm>

#include "blades/packet.h"
#include "core/log.h"
#include "schemas/wire_version.h"

namespace bladesync {

namespace {
size_t PowerOfTwoAtLeast(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}
wire::Origin MakeOrigin(const BladeConfig& c) { return wire::Origin(c.group_id, c.epoch, c.chassis, c.slot); }

StreamOptions StreamOptionsOf(const BladeConfig& c) {
  StreamOptions o;
  o.epoch = c.epoch;
  o.window = c.window;
  o.max_seq_count = c.max_batch * 4;
  o.retransmit_timeout = c.retransmit_timeout;
  // Three keep-alives in a row may be missed before a link is lost (the
  // window is hb-lost-threshold heartbeats; the fourth arrives with an
  // interval to spare), and an idle chassis does not pay for six.
  o.keepalive_interval = std::max<Nanos>(c.hb_interval, (c.link_lost_after() - c.hb_interval) / 3);
  // A blade pair streams both ways over one link monitor: each side's
  // keep-alives tell the other its links, so idle acks would only repeat them.
  o.idle_acks = false;
  o.link_lost_after = c.link_lost_after();
  o.ack_delay = c.ack_delay;
  o.ack_every = c.ack_every;
  o.reorder_frames = c.reorder_frames;
  o.reorder_bytes = c.reorder_bytes;
  o.reset_timeout = c.bulk_sync_timeout;
  o.reset_retries = c.bulk_sync_retries;
  return o;
}
}  // namespace

BladeAgent::Peer::Peer(const OutboundStream::Parts& out_parts, const StandbyTable::Parts& in_parts,
                       const BladeSeams& seams, uint8_t chassis, uint8_t bit, Nanos lost_after, Nanos now)
    : links(lost_after, now),
      out(out_parts, chassis, bit, links, seams.make_sender),
      standby(seams.make_standby ? seams.make_standby(in_parts, chassis, links, seams.make_receiver)
                                 : std::make_unique<StandbyTable>(in_parts, chassis, links, seams.make_receiver)) {}

void BladeAgent::Peer::Tick(Nanos now) {
  if (links.Update(now)) out.OnLinkSwitch();
  out.OnTick(now);
  standby->OnTick(now);
}

BladeAgent::BladeAgent(BladeConfig cfg, EventLoop& loop, Transport& transport, BladeSeams seams)
    : cfg_(std::move(cfg)),
      loop_(loop),
      transport_(transport),
      log_(PowerOfTwoAtLeast(cfg_.change_log_capacity)),
      self_(MakeOrigin(cfg_)),
      clock_{&loop_, loop_.CoarseNow()},
      stream_opts_(StreamOptionsOf(cfg_)) {
  if (cfg_.table_reserve) owned_.Reserve(cfg_.table_reserve);
  encoder_.set_blade_workers(cfg_.workers);
  peer_index_.fill(-1);
  const OutboundStream::Parts out_parts{cfg_, stream_opts_, loop_, transport_, counters_, owned_, log_, encoder_, self_};
  const StandbyTable::Parts in_parts{cfg_, stream_opts_, loop_, transport_, counters_, scratch_fbb_, self_, clock_};
  uint8_t bit = 0;
  for (uint8_t chassis : cfg_.peers) {
    if (chassis == cfg_.chassis || peer_index_[chassis] >= 0) continue;
    peer_index_[chassis] = static_cast<int8_t>(peers_.size());
    peers_.push_back(
        std::make_unique<Peer>(out_parts, in_parts, seams, chassis, bit++, cfg_.link_lost_after(), loop_.Now()));
  }
}

BladeAgent::~BladeAgent() = default;

void BladeAgent::Start() {
  transport_.SetReceiver([this](const FrameMeta& m, std::span<const uint8_t> b) { OnFrame(m, b); });
  busy_tick_ = std::max<Nanos>(std::min<Nanos>(cfg_.ack_delay, cfg_.hb_interval / 4), milliseconds(1));
  tick_ = loop_.CreateTimer([this] { Tick(); });
  const Nanos now = loop_.Now();
  sweep_due_ = now + cfg_.sweep_interval;
  status_due_ = now + cfg_.status_interval();
  ArmTick(now, kLongAgo);
  for (auto& p : peers_) {
    transport_.Prepare(NodeId{p->out.peer(), cfg_.slot}, Link::kM1);
    transport_.Prepare(NodeId{p->out.peer(), cfg_.slot}, Link::kM2);
  }
  transport_.Prepare(NodeId{cfg_.chassis, 0}, Link::kBackplane);
  for (auto& p : peers_) p->out.Pump();  // an (empty) bulk sync opens every stream
}

BladeAgent::Peer* BladeAgent::FindPeer(uint8_t chassis) {
  const int8_t i = peer_index_[chassis];
  return i < 0 ? nullptr : peers_[i].get();
}

const StandbyTable* BladeAgent::standby(uint8_t chassis) const {
  const int8_t i = peer_index_[chassis];
  return i < 0 ? nullptr : peers_[i]->standby.get();
}

void BladeAgent::set_apply_observer(std::function<void(uint8_t, uint64_t, uint32_t, bool)> f) {
  for (auto& p : peers_) {
    const uint8_t owner = p->standby->owner();
    if (!f) {
      p->standby->set_apply_observer(nullptr);
      continue;
    }
    p->standby->set_apply_observer([f, owner](uint64_t first, uint32_t n, bool begin) { f(owner, first, n, begin); });
  }
}

const OutboundStream* BladeAgent::outbound(uint8_t chassis) const {
  const int8_t i = peer_index_[chassis];
  return i < 0 ? nullptr : &peers_[i]->out;
}

uint32_t BladeAgent::TimeoutFor(uint8_t proto, uint8_t st) const {
  const SessionTimers& t = cfg_.timers;
  if (proto == kProtoTcp) {
    switch (st) {
      case kTcpSynSent:
      case kTcpSynRecv: return t.tcp_halfopen_s;
      case kTcpEstablished: return t.session_ttl_s;
      case kTcpTimeWait:
      case kTcpClose: return t.tcp_timewait_s;
      default: return t.tcp_halfclose_s;
    }
  }
  if (proto == kProtoIcmp || proto == kProtoIcmp6) return t.icmp_idle_s;
  if (proto == kProtoSctp) return t.session_ttl_s;
  return t.udp_idle_s;
}

// ---------------------------------------------------------------- owner side

uint32_t BladeAgent::CreateSession(const SessionFacts& facts, const SessionState& state, const NatInfo* nat,
                                   const ExtensionList* extensions) {
  if (owned_.live() >= cfg_.max_sessions) {
    counters_.sessions_refused.Add();
    return kNoSession;
  }
  const PickupDecision d = Decide(cfg_.pickup, facts);
  if (!d.sync) counters_.skipped[static_cast<int>(d.reason)].Add();
  const uint32_t id = owned_.Allocate();
  const uint32_t now_ds = clock_.NowDs();
  const uint64_t v = NextVersion();
  owned_.Mutate(id, [&](SessionRecord& r) {
    r.key = facts.key;
    r.version = v;
    r.set_state(state);
    r.flags = facts.flags;
    r.expires_ds = now_ds + state.timeout_s * 10;
    r.born_ds = now_ds + 1;  // the decisecond it was born in does not count: the delay never ends early
    r.bits = static_cast<uint8_t>(kUsed | kLive | (d.sync ? kEligible : 0));
    if (nat) {
      owned_.set_nat(id, *nat);
      r.bits |= kHasNat;
      r.flags |= kFlagNat;
    } else {
      owned_.clear_nat(id);
    }
    owned_.clear_extensions(id);
    if (extensions) {
      for (const Extension& e : *extensions) owned_.set_extension(id, e);
    }
  });
  if (d.sync) {
    MarkDirty(id);
  } else if (owned_.live() == 1) {
    WakeIfDue();  // the first session to sweep: asleep, the blade had no sweep planned
  }
  return id;
}

void BladeAgent::SetExtension(uint32_t id, const Extension& e) {
  if (!owned_.is_live(id)) return;
  const uint64_t v = NextVersion();
  owned_.Mutate(id, [&](SessionRecord& r) {
    owned_.set_extension(id, e);
    r.version = v;
  });
  if (owned_.rec(id).bits & kEligible) MarkDirty(id);
}

void BladeAgent::ChangeState(uint32_t id, const SessionState& state) {
  if (!owned_.is_live(id)) return;
  const uint64_t v = NextVersion();
  const uint32_t now_ds = clock_.NowDs();
  owned_.Mutate(id, [&](SessionRecord& r) {
    r.set_state(state);
    r.version = v;
    r.expires_ds = now_ds + state.timeout_s * 10;
  });
  if (owned_.rec(id).bits & kEligible) MarkDirty(id);
}

void BladeAgent::Refresh(uint32_t id) {
  if (!owned_.is_live(id)) return;
  // Not synced: mirrors run the same timers, and QUERY when theirs expire.
  owned_.Mutate(id, [&](SessionRecord& r) { r.expires_ds = clock_.NowDs() + r.timeout_s * 10; });
}

void BladeAgent::DeleteSession(uint32_t id, uint8_t reason) {
  if (!owned_.is_live(id)) return;
  const uint64_t v = NextVersion();
  owned_.Mutate(id, [&](SessionRecord& r) {
    r.version = v;
    r.bits = static_cast<uint8_t>(r.bits & ~(kLive | kDirty));
  });
  deleted_.emplace_back(id, reason);
  if (!flush_posted_) {
    flush_posted_ = true;
    PostFlush();
  }
}

// At the end of this loop turn, unless a Flush() ran before then (a
// PacketBatch flushes at its end, a tick before its keep-alives): one
// flush per frame, not two.
void BladeAgent::PostFlush() {
  loop_.Post([this] {
    if (flush_posted_) Flush();
  });
}

std::optional<uint32_t> BladeAgent::Lookup(const SessionKey& key) const {
  if (auto id = owned_.Find(key)) return id;
  return owned_.Find(key.Reversed());
}

void BladeAgent::MarkDirty(uint32_t id) {
  if (owned_.rec(id).bits & kDirty) return;  // coalesced: the flush reads the latest state
  owned_.SetBookkeeping(id, kDirty, 0);
  dirty_.push_back(id);
  if (dirty_.size() >= cfg_.max_batch * 4) {
    Flush();
  } else if (!flush_posted_) {
    flush_posted_ = true;
    PostFlush();
  }
}

// The log is full: streams that still need the oldest entry give up their
// place and resync from a bulk sync; the others are not held back by them.
void BladeAgent::MakeLogRoom() {
  ReleaseLog();
  if (log_.full()) {
    for (auto& p : peers_) {
      if (p->out.retain_from() <= log_.begin()) p->out.GiveUpLogPlace();
    }
    ReleaseLog();
  }
}

void BladeAgent::ReleaseLog() {
  uint64_t from = log_.end();
  for (auto& p : peers_) from = std::min(from, p->out.retain_from());
  log_.ReleaseUpTo(from);
}

void BladeAgent::Flush() {
  flush_posted_ = false;
  const uint32_t now_ds = clock_.NowDs();
  for (uint32_t id : dirty_) {
    owned_.SetBookkeeping(id, 0, kDirty);
    const SessionRecord& r = owned_.rec(id);
    if (!(r.bits & kLive) || !(r.bits & kEligible)) continue;
    if (DelayApplies(cfg_.pickup, r.key.proto) && !(r.bits & kSynced) &&
        now_ds < r.born_ds + cfg_.pickup.delay_s * 10) {
      continue;  // session-pickup-delay: the sweep brings it back when old enough
    }
    const bool was_synced = r.bits & kSynced;
    if (!was_synced) {
      owned_.SetDigestBits(id, kSynced, 0);
      counters_.synced_sessions.Add();
    }
    Append(ChangeEntry{r.version, id, static_cast<uint8_t>(was_synced ? kOpUpdate : kOpCreate), kAllPeers, 0});
  }
  dirty_.clear();
  if (deferrals_pending_) IndexDeferrals();
  for (auto [id, reason] : deleted_) {
    const SessionRecord& r = owned_.rec(id);
    if (r.bits & kSynced) {
      Append(ChangeEntry{r.version, id, kOpDelete, kAllPeers, reason});
      owned_.SetDigestBits(id, 0, kSynced);
    }
    owned_.clear_nat(id);
    owned_.clear_extensions(id);
    owned_.Release(id);  // reusable now: its delete is ahead of any reuse in the log
  }
  deleted_.clear();
  for (auto& p : peers_) p->out.Pump();
  ReleaseLog();
  WakeIfDue();
}

// ---------------------------------------------------------------- mirror side

std::optional<BladeAgent::StandbyHit> BladeAgent::LookupStandby(const SessionKey& key) const {
  for (const auto& p : peers_) {
    const SessionStore& st = p->standby->store();
    if (auto id = st.Find(key)) return StandbyHit{p->standby->owner(), *id, false, &st.rec(*id)};
    if (auto id = st.Find(key.Reversed())) return StandbyHit{p->standby->owner(), *id, true, &st.rec(*id)};
  }
  return std::nullopt;
}

void BladeAgent::set_standby_listener(StandbyListener f) {
  standby_listener_ = std::move(f);
  static constexpr SessionStore::ChangeHook kHook = [](void* ctx, const SessionStore& store, uint32_t id,
                                                        const SessionKey& old_key, bool was_live) {
    const auto* c = static_cast<const Peer::ChangeContext*>(ctx);
    c->agent->standby_listener_(c->owner, store, id, old_key, was_live);
  };
  for (auto& p : peers_) {
    p->change_context = {this, p->standby->owner()};
    p->standby->set_change_hook(standby_listener_ ? kHook : nullptr, &p->change_context);
  }
}

void BladeAgent::ForwardToOwner(uint8_t owner, const wire::Packet4* p4, const wire::Packet6* p6) {
  Peer* peer = FindPeer(owner);
  if (!peer) return;
  transport_.Send(NodeId{owner, cfg_.slot}, peer->links.active(),
                  BuildPacketBatch(scratch_fbb_, self_, p4 ? std::span(p4, 1) : std::span<const wire::Packet4>(),
                                   p6 ? std::span(p6, 1) : std::span<const wire::Packet6>()));
  counters_.packets_forwarded.Add();
}

void BladeAgent::ReturnToManager(const PacketInfo& p) {
  if (p.key.is_v4()) {
    returned4_.push_back(ToWire4(p));
  } else {
    returned6_.push_back(ToWire6(p));
  }
  counters_.packets_returned.Add();
}

void BladeAgent::FlushReturned() {
  if (returned4_.empty() && returned6_.empty()) return;
  transport_.Send(NodeId{cfg_.chassis, 0}, Link::kBackplane, BuildPacketBatch(scratch_fbb_, self_, returned4_, returned6_));
  returned4_.clear();
  returned6_.clear();
}

void BladeAgent::DeferUntilSynced(uint32_t id, Nanos bound, std::function<void(bool)> release) {
  bound = std::clamp<Nanos>(bound, milliseconds(1), seconds(1));  // as session-pickup-defer-timeout
  const SessionRecord* r = owned_.is_live(id) ? &owned_.rec(id) : nullptr;
  // Nothing a mirror will ever acknowledge: not ours, not synced by the
  // pickup policy, or waiting for session-pickup-delay.
  if (!r || !(r->bits & kEligible) || (DelayApplies(cfg_.pickup, r->key.proto) && !(r->bits & kSynced))) {
    counters_.deferred_unsynced.Add();
    release(false);
    return;
  }
  if (deferrals_.size() >= kMaxDeferred) {
    counters_.deferred_full.Add();
    release(false);
    return;
  }
  counters_.packets_deferred.Add();
  // Its change is in the log already (flushed), or goes with the next flush
  // (still dirty): acknowledged once every mirror is past the log's end then.
  const bool pending = r->bits & kDirty;
  deferrals_.push_back(Deferral{pending ? kNoIndex : log_.end(), loop_.Now() + bound, std::move(release)});
  deferrals_pending_ += pending;
  next_deferral_due_ = std::min(next_deferral_due_, deferrals_.back().deadline);
  WakeIfDue();
}

// After a flush: the changes of the sessions held so far are all below the
// log's end. The pending ones are the newest, at the back.
void BladeAgent::IndexDeferrals() {
  for (auto it = deferrals_.rbegin(); it != deferrals_.rend() && deferrals_pending_; ++it) {
    if (it->watermark != kNoIndex) continue;
    it->watermark = log_.end();
    --deferrals_pending_;
  }
  ReleaseDeferrals();
}

// Acknowledged in order (acks are cumulative): the acknowledged front goes.
// Each mirror with a link up counts; one taking a bulk sync holds them
// until their bound. A held packet past its bound goes wherever it is.
void BladeAgent::ReleaseDeferrals() {
  const Nanos now = loop_.Now();
  auto acked = [&](const Deferral& d) {
    if (d.watermark == kNoIndex) return false;  // not flushed yet
    for (const auto& p : peers_) {
      if (!p->links.alive(Link::kM1, now) && !p->links.alive(Link::kM2, now)) continue;  // no mirror to wait for
      if (!p->out.bulk_sync_done() || p->out.retain_from() < d.watermark) return false;
    }
    return true;
  };
  std::vector<std::function<void(bool)>> released;
  while (!deferrals_.empty() && acked(deferrals_.front())) {
    counters_.deferred_acked.Add();
    released.push_back(std::move(deferrals_.front().release));
    deferrals_.pop_front();
  }
  std::vector<std::function<void(bool)>> timed_out;
  if (now >= next_deferral_due_) {
    next_deferral_due_ = kNever;
    for (auto it = deferrals_.begin(); it != deferrals_.end();) {
      if (it->deadline <= now) {
        if (it->watermark == kNoIndex) --deferrals_pending_;
        counters_.deferred_timed_out.Add();
        timed_out.push_back(std::move(it->release));
        it = deferrals_.erase(it);
      } else {
        next_deferral_due_ = std::min(next_deferral_due_, it->deadline);
        ++it;
      }
    }
  }
  // Last: a release may create sessions and hold their packets in turn.
  for (auto& r : released) r(true);
  for (auto& r : timed_out) r(false);
}

bool BladeAgent::ready() const {
  return std::all_of(peers_.begin(), peers_.end(), [](const std::unique_ptr<Peer>& p) { return p->standby->settled(); });
}

bool BladeAgent::quiet() const {
  return dirty_.empty() && deleted_.empty() && deferrals_.empty() &&
         std::all_of(peers_.begin(), peers_.end(), [](const std::unique_ptr<Peer>& p) { return p->out.idle(); });
}

size_t BladeAgent::Adopt(uint8_t chassis) {
  Peer* p = FindPeer(chassis);
  if (!p) return 0;
  relinquish_by_.reset();  // what we own now is not to give up
  const uint32_t now_ds = clock_.NowDs();
  const uint32_t multicast_ttl = cfg_.pickup.multicast_ttl;
  const bool full_timer = cfg_.pickup.update_all_session_timer;
  // What promotion does to each session, whichever path takes it.
  auto promote = [&](SessionRecord& r) {
    r.flags = static_cast<uint16_t>(r.flags | kFlagAdopted);
    // Flow-inspected sessions continue uninspected after a failover.
    if (r.flags & kFlagFlowInspected) r.flags |= kFlagNoInspectAfterFailover;
    // update-all-session-timer: every picked-up session restarts its timer
    // at the full timeout; otherwise it keeps what was left on the mirror.
    if (full_timer) r.expires_ds = now_ds + r.timeout_s * 10;
    // multicast-ttl: how long synced multicast state lives on the new owner.
    if (multicast_ttl && ((r.flags & kFlagMulticast) || IsMulticast(r.key.dst))) r.expires_ds = now_ds + multicast_ttl * 10;
    r.born_ds = 0;  // already past any pickup delay
    // Versions stay Lamport: above everything seen, so reconciling by version works.
    version_ = std::max(version_, r.version & kVersionMask);
    r.version = NextVersion();
    // NAT stays: the mirror's side table moves with the store.
    r.bits = static_cast<uint8_t>(kUsed | kLive | kEligible | kSynced | (r.bits & kHasNat));
  };
  size_t n = 0;
  if (owned_.live() == 0 && dirty_.empty() && deleted_.empty()) {
    // Fast path (the usual active-passive promotion): the standby table
    // becomes the owned table as it is, ids and key index included.
    n = p->standby->adoptable().live();
    p->standby->MoveInto(owned_, promote);
  } else {
    owned_.Reserve(owned_.live() + p->standby->adoptable().live());
    p->standby->DrainLive([&](const SessionRecord& src, const NatInfo* nat, const ExtensionList* ext) {
      if (auto existing = owned_.Find(src.key)) {
        if (owned_.rec(*existing).version >= src.version) return;  // ours is newer
        DeleteSession(*existing, kDeleteReplaced);
      }
      const uint32_t id = owned_.Allocate();
      owned_.Mutate(id, [&](SessionRecord& r) {
        r = src;
        promote(r);
        if (nat) owned_.set_nat(id, *nat); else owned_.clear_nat(id);
        if (nat) r.bits |= kHasNat;
        owned_.clear_extensions(id);
        if (ext) for (const Extension& e : *ext) owned_.set_extension(id, e);
      });
      ++n;
    });
  }
  counters_.adopted_sessions.Add(n);
  counters_.synced_sessions.Add(n);
  BS_LOG(kInfo, "blade") << "slot " << int(cfg_.slot) << ": adopted " << n << " sessions of chassis " << int(chassis);
  // One bulk sync per mirror instead of a create per session; the chassis
  // we adopted from gets one too, since it may be alive and now mirrors us.
  // It streams from the next loop turn on: promotion itself is done here.
  for (auto& peer : peers_) peer->out.StartBulkSync("adopted sessions");
  if (!flush_posted_) {
    flush_posted_ = true;
    PostFlush();
  }
  for (const auto& listener : adopt_listeners_) listener(chassis, n);
  return n;
}

size_t BladeAgent::Relinquish() {
  const Nanos now = loop_.Now();
  if (!relinquish_by_) relinquish_by_ = now + 2 * cfg_.link_lost_after();
  const bool acked = std::all_of(peers_.begin(), peers_.end(), [](const std::unique_ptr<Peer>& p) { return p->out.idle(); });
  if (!acked && now < *relinquish_by_) return 0;  // Tick tries again
  relinquish_by_.reset();
  return RelinquishNow();
}

size_t BladeAgent::RelinquishNow() {
  const size_t n = owned_.live();
  for (uint32_t id = 0; id < owned_.slots(); ++id) {
    if (!owned_.is_live(id)) continue;
    owned_.Mutate(id, [](SessionRecord& r) { r.bits = kUsed; });  // neither live nor synced: no DELETE goes out
    owned_.clear_nat(id);
    owned_.clear_extensions(id);
    owned_.Release(id);
  }
  dirty_.clear();
  deleted_.clear();
  counters_.relinquished_sessions.Add(n);
  // After a grace period (the new primary adopts from our stream as it is
  // now), tell the mirrors we own nothing: a bulk sync of the empty table.
  // Until then our stream stays as it was, so the adoption cannot lose it.
  SetSummaries(false);
  if (!relinquish_timer_) {
    relinquish_timer_ = loop_.CreateTimer([this] {
      SetSummaries(true);
      for (auto& p : peers_) p->out.StartBulkSync("ownership given up");
      Flush();
    });
  }
  relinquish_timer_->Arm(std::max<Nanos>(seconds(1), cfg_.link_lost_after() * 2));
  BS_LOG(kInfo, "blade") << "slot " << int(cfg_.slot) << ": relinquished " << n << " sessions (no longer primary)";
  return n;
}

// ---------------------------------------------------------------- fabric

void BladeAgent::SetSummaries(bool on) {
  for (auto& p : peers_) p->out.set_summaries(on);
}

void BladeAgent::DropFrame(DropReason r, const char* what) {
  auto& c = counters_.dropped[static_cast<int>(r)];
  c.Add();
  const uint64_t n = c.get();
  if (LogOccurrence(n)) {
    BS_LOG(kWarn, "fabric") << "slot " << int(cfg_.slot) << ": dropped frame (" << DropReasonName(r) << "): " << what
                            << " [" << n << " so far]";
  }
}

void BladeAgent::Halt() {
  halted_ = true;
  tick_.reset();
}

void BladeAgent::OnFrame(const FrameMeta& meta, std::span<const uint8_t> bytes) {
  if (halted_) return;
  HandleFrame(meta, bytes);
  WakeIfDue();
}

void BladeAgent::HandleFrame(const FrameMeta& meta, std::span<const uint8_t> bytes) {
  counters_.frames_received.Add();
  counters_.bytes_received.Add(bytes.size());
  FrameLimits limits;
  limits.max_frame_bytes = std::max<size_t>(cfg_.max_frame_bytes * 4, 64 * 1024);
  limits.max_deltas = cfg_.max_batch * 4;
  Result<const wire::Frame*> frame = VerifyFrame(bytes, limits);
  if (!frame.ok()) return DropFrame(DropReason::kMalformed, frame.status().message().c_str());
  const wire::Frame* f = frame.value();
  auto check_origin = [&](const wire::Origin* o, bool from_peer) -> bool {
    if (!o) return DropFrame(DropReason::kMalformed, "no sender"), false;
    if (o->group_id() != cfg_.group_id) return DropFrame(DropReason::kWrongCluster, "group id"), false;
    if (!from_peer) return true;
    if (o->slot() != cfg_.slot) return DropFrame(DropReason::kWrongSlot, "slot"), false;
    if (!FindPeer(o->chassis())) return DropFrame(DropReason::kWrongChassis, "unknown chassis"), false;
    if (meta.authenticated_chassis >= 0 && meta.authenticated_chassis != o->chassis()) {
      return DropFrame(DropReason::kUnauthenticated, "sender is not the authenticated peer"), false;
    }
    return true;
  };
  // Provenance: deltas and acks travel between peer blades on M1/M2;
  // commands and packets come from this chassis's manager on the backplane,
  // and packets also from a peer's blade of this slot that hands over a
  // packet of a session we own (active-active).
  const bool fabric = meta.link != Link::kBackplane;
  auto from_own_manager = [&](const wire::Origin* o) -> bool {
    if (!check_origin(o, false)) return false;
    if (fabric) return DropFrame(DropReason::kWrongLink, "manager frame on m1/m2"), false;
    if (o->chassis() != cfg_.chassis || o->slot() != 0) {
      return DropFrame(DropReason::kWrongSender, "not from this chassis's manager"), false;
    }
    if (meta.authenticated_chassis >= 0 && meta.authenticated_chassis != cfg_.chassis) {
      return DropFrame(DropReason::kUnauthenticated, "manager frame under another chassis's key"), false;
    }
    return true;
  };
  switch (f->msg_type()) {
    case wire::Message::DeltaBatch: {
      const wire::DeltaBatch* b = f->msg_as_DeltaBatch();
      if (!fabric) return DropFrame(DropReason::kWrongLink, "delta batch on the backplane");
      if (!check_origin(b->from(), true)) return;
      if (b->dest_chassis() != cfg_.chassis) return DropFrame(DropReason::kWrongChassis, "for another chassis");
      if (b->schema_major() != kWireSchemaMajor) return DropFrame(DropReason::kIncompatibleSchema, "deltas of another wire schema major version");
      if (b->blade_workers() != cfg_.workers) {
        return DropFrame(DropReason::kWrongSlot,
                         "deltas of a blade with another number of workers: set blade-workers alike on every chassis");
      }
      FindPeer(b->from()->chassis())->standby->OnBatch(*b, meta.link, bytes);
      return;
    }
    case wire::Message::Ack: {
      const wire::Ack* a = f->msg_as_Ack();
      if (!fabric) return DropFrame(DropReason::kWrongLink, "ack on the backplane");
      if (!check_origin(a->from(), true)) return;
      if (a->owner_chassis() != cfg_.chassis) return DropFrame(DropReason::kWrongChassis, "ack for another chassis");
      if (a->schema_major() != kWireSchemaMajor) return DropFrame(DropReason::kIncompatibleSchema, "ack of another wire schema major version");
      Peer* p = FindPeer(a->from()->chassis());
      HandleQueries(*p, *a, meta.link);
      p->out.OnAck(*a, meta.link);
      if (!deferrals_.empty()) ReleaseDeferrals();
      return;
    }
    case wire::Message::PacketBatch: {
      const wire::PacketBatch* pb = f->msg_as_PacketBatch();
      if (fabric) {
        if (cfg_.pickup.mode != HaMode::kActiveActive) return DropFrame(DropReason::kWrongLink, "packets on m1/m2");
        if (!check_origin(pb->from(), true)) return;
      } else if (!from_own_manager(pb->from())) {
        return;
      }
      if (packet_handler_) packet_handler_(*pb, fabric);
      Flush();
      return;
    }
    case wire::Message::Command: {
      const wire::Command* c = f->msg_as_Command();
      if (!from_own_manager(c->from())) return;
      // Request ids are scoped to the manager's incarnation (its epoch in the
      // high half): a restarted manager starts afresh, and no id can claim
      // to be newer than every command its manager will ever send.
      const uint32_t manager_epoch = c->from()->epoch();
      if (manager_epoch < manager_epoch_) return DropFrame(DropReason::kOldEpoch, "command from an earlier manager");
      if (c->request_id() >> 32 != manager_epoch) {
        return DropFrame(DropReason::kImplausible, "command request id outside its manager's incarnation");
      }
      if (manager_epoch > manager_epoch_) {
        manager_epoch_ = manager_epoch;
        last_command_ = 0;
      }
      // Commands are resent until the status reports them: apply each once.
      if (c->request_id() <= last_command_) return;
      if (c->kind() == wire::CommandKind::Adopt) Adopt(c->peer_chassis());
      if (c->kind() == wire::CommandKind::Relinquish) Relinquish();
      if (c->kind() == wire::CommandKind::SetRole && c->role() != role_) {
        const wire::Role was = role_;
        role_ = c->role();
        BS_LOG(kInfo, "blade") << "slot " << int(cfg_.slot) << ": chassis role " << wire::EnumNameRole(was) << " -> "
                               << wire::EnumNameRole(role_);
        // Everything sent as owner goes before the fence: the new primary's
        // blades adopt once they hold it (ChassisManager::HandOver).
        Flush();
        if (role_ == wire::Role::Primary || role_ == wire::Role::Standalone) relinquish_by_.reset();  // ours again
        const bool fence = role_ == wire::Role::Secondary && cfg_.pickup.mode != HaMode::kActiveActive;
        for (auto& p : peers_) p->out.Fence(fence);
        for (const auto& listener : role_listeners_) listener(was, role_);
      }
      if (c->kind() == wire::CommandKind::SetClockOffset) {
        if (Peer* p = FindPeer(c->peer_chassis())) p->standby->set_clock_offset(Nanos(c->clock_offset_ns()));
      }
      last_command_ = c->request_id();
      SendStatus();
      return;
    }
    default:
      return DropFrame(DropReason::kMalformed, "unexpected message kind");
  }
}

void BladeAgent::HandleQueries(Peer& peer, const wire::Ack& ack, Link link) {
  if (!ack.queries() || ack.owner_epoch() != cfg_.epoch) return;
  const int li = static_cast<int>(link);
  for (const wire::Query* q : *ack.queries()) {
    counters_.received[static_cast<int>(SyncOp::kQuery)][li].Add();
    const uint32_t id = q->id();
    if (!owned_.is_live(id) || !(owned_.rec(id).bits & kSynced)) continue;  // its DELETE is on the stream
    AnswerQuery(peer, id, link);
  }
}

void BladeAgent::AnswerQuery(Peer& peer, uint32_t id, Link) {
  Append(ChangeEntry{owned_.rec(id).version, id, kOpRecreate, static_cast<uint8_t>(1u << peer.out.bit()), 0});
}

void BladeAgent::Tick() {
  const Nanos now = loop_.Now();
  if (now >= sweep_due_) {
    sweep_due_ = now + cfg_.sweep_interval;
    Sweep();
  }
  // A keep-alive may summarize the table (count and digest): changes made
  // this turn must be in the change log first, or an expiry the sweep just
  // made reads as a session the mirror holds and the owner does not, with
  // no DELETE on the stream to explain it (found by the soak: three copies
  // of one such summary, M1, M2 and a duplicate, put a mirror in doubt).
  if (flush_posted_) Flush();
  if (relinquish_by_) Relinquish();
  for (auto& p : peers_) p->Tick(now);
  if (!deferrals_.empty()) ReleaseDeferrals();
  ReleaseLog();
  // Asleep, a tick woken for a keep-alive sends the status up to half an
  // interval early: the two then share their wake-ups.
  if (now + (asleep_ ? cfg_.status_interval() / 2 : Nanos(0)) >= status_due_ || EarlyStatusDue(now)) {
    status_due_ = now + cfg_.status_interval();
    SendStatus();
  }
  ArmTick(now, NextDue(now));
}

// An idle blade sleeps until its next keep-alive, status, sweep or link
// deadline instead of ticking every ack-delay: ticks were most of what an
// idle chassis cost. Anything outstanding (frames in flight, acks owed, a
// reset) brings back the ack-delay tick.
Nanos BladeAgent::NextDue(Nanos now) const {
  if (flush_posted_) return kLongAgo;
  // The cap: a deadline nobody reported costs at most one heartbeat.
  Nanos due = std::min(status_due_, now + cfg_.hb_interval);
  if (relinquish_by_) due = std::min(due, *relinquish_by_);
  if (!deferrals_.empty()) due = std::min(due, next_deferral_due_);
  if (StatusStale()) due = std::min(due, last_status_ + EarlyStatusGap());
  if (HoldsSessions()) due = std::min(due, sweep_due_);
  for (const auto& p : peers_) {
    due = std::min({due, p->out.next_due(now), p->standby->next_due(), p->links.next_change(now)});
  }
  return due;
}

bool BladeAgent::HoldsSessions() const {
  if (owned_.live()) return true;
  for (const auto& p : peers_) {
    if (p->standby->store().live() || p->standby->adoptable().live()) return true;
  }
  return false;
}

// Never sooner than ack-delay: acks and resends wait that long anyway.
void BladeAgent::ArmTick(Nanos now, Nanos due) {
  asleep_ = due > now + busy_tick_;
  next_tick_ = std::max(due, now + busy_tick_);
  tick_->Arm(next_tick_ - now);
}

// A frame or a local change may need the tick before the idle schedule
// planned it (an ack owed, a frame in flight).
void BladeAgent::WakeIfDue() {
  if (!tick_) return;
  const Nanos now = loop_.Now();
  if (next_tick_ - now <= busy_tick_) return;
  const Nanos due = NextDue(now);
  if (due < next_tick_) ArmTick(now, due);
}

void BladeAgent::Sweep() {
  const uint32_t now_ds = clock_.NowDs();
  // Owner timers: an expired session is deleted (DELETE goes out first), and
  // sessions waiting for session-pickup-delay are picked up when old enough.
  scratch_ids_.clear();
  const uint32_t budget = owned_.slots() / 10 + 256;
  const bool delay = cfg_.pickup.delay;
  owned_.Scan(budget, [&](uint32_t id) {
    const SessionRecord& r = owned_.rec(id);
    if (r.expires_ds <= now_ds) {
      scratch_ids_.push_back(id);
    } else if (delay && (r.bits & kEligible) && !(r.bits & kSynced) &&
               now_ds >= r.born_ds + cfg_.pickup.delay_s * 10) {
      MarkDirty(id);
    }
  });
  for (uint32_t id : scratch_ids_) DeleteSession(id, kDeleteExpired);
  for (auto& p : peers_) p->standby->Sweep();
}

void BladeAgent::AdoptionPending(int delta) {
  const bool before = adoption_pending_ > 0;
  adoption_pending_ = std::max(0, adoption_pending_ + delta);
  if (before && adoption_pending_ == 0) SendStatus();  // the manager waits for this
}

// What the manager acts on at once (readiness, a passed fence) differs from
// the last status. Forged frames can flip both: the early status is spaced.
bool BladeAgent::StatusStale() const {
  if (ready() != status_ready_) return true;
  return std::any_of(peers_.begin(), peers_.end(),
                     [](const std::unique_ptr<Peer>& p) { return p->standby->fence_passed() != p->fence_reported; });
}

bool BladeAgent::EarlyStatusDue(Nanos now) const { return now >= last_status_ + EarlyStatusGap() && StatusStale(); }

void BladeAgent::SendStatus() {
  last_status_ = loop_.Now();
  flatbuffers::FlatBufferBuilder& fbb = scratch_fbb_;
  fbb.Clear();
  std::vector<wire::StandbySummary> sums;
  for (auto& p : peers_) {
    const StandbyTable& s = *p->standby;
    sums.emplace_back(s.store().live(), s.store().digest(), s.next_seq(), s.epoch(), s.owner(), s.in_sync(),
                      s.released());
  }
  auto sv = fbb.CreateVectorOfStructs(sums.data(), sums.size());
  std::vector<uint8_t> fenced;
  for (auto& p : peers_) {
    p->fence_reported = p->standby->fence_passed();
    if (p->fence_reported) fenced.push_back(p->standby->owner());
  }
  auto fv = fbb.CreateVector(fenced);
  std::vector<flatbuffers::Offset<wire::NamedCounter>> named;
  const std::vector<std::string>& names = CounterNames();
  const std::vector<uint64_t> values = CounterValues(counters_);
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i]) named.push_back(wire::CreateNamedCounter(fbb, fbb.CreateString(names[i]), values[i]));
  }
  auto cv = fbb.CreateVector(named);
  wire::Origin self = self_;
  wire::BladeStatusBuilder b(fbb);
  b.add_from(&self);
  status_ready_ = ready();
  b.add_ready(status_ready_);
  b.add_owned_sessions(owned_.live());
  b.add_synced_sessions(owned_.counted());
  b.add_synced_digest(owned_.digest());
  b.add_standby(sv);
  b.add_send_time_ns(static_cast<uint64_t>(loop_.WallNow().count()));
  b.add_named_counters(cv);
  b.add_memory_bytes(MemoryBytes());
  b.add_last_command(last_command_);
  b.add_adoption_pending(adoption_pending_ > 0);
  b.add_role(role_);
  b.add_fenced_owners(fv);
  auto st = b.Finish();
  fbb.Finish(wire::CreateFrame(fbb, wire::Message::BladeStatus, st.Union()), wire::FrameIdentifier());
  transport_.Send(NodeId{cfg_.chassis, 0}, Link::kBackplane, {fbb.GetBufferPointer(), fbb.GetSize()});
}

size_t BladeAgent::MemoryBytes() const {
  size_t n = owned_.MemoryBytes() + log_.capacity() * sizeof(ChangeEntry);
  for (auto& p : peers_) n += p->standby->store().MemoryBytes();
  return n;
}

}  // namespace bladesync
