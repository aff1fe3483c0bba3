// StandbyTable: what a mirror blade holds of one owner (the blade in the
// same slot of one peer chassis): the payload of a fabric StreamReceiver.
//
// The stream (fabric/stream_receiver.h) hands over the owner's frames
// strictly in sequence order, each exactly once. Per session the record
// keeps the newest version seen, also after a delete (the tombstone), so
//   - a create/update/recreate at or below the held version is dropped,
//   - a RECREATE at or below a DELETE's version is dropped and counted:
// together with the single ordered stream this makes the expiry race of the
// FortiOS session-sync protocol impossible (a deleted session never returns).
// When the mirror's own timer expires a session it deletes it locally and
// QUERYs the owner, which answers RECREATE on the same stream if it still
// has the session.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "blades/blade_config.h"
#include "blades/blade_counters.h"
#include "blades/delta_codec.h"
#include "blades/session_clock.h"
#include "blades/session_store.h"
#include "core/histogram.h"
#include "fabric/link_monitor.h"
#include "fabric/stream_receiver.h"

namespace bladesync {

// QUERYs a mirror waits on: oldest first (the bound gives those up), and
// found by session id in O(1) (every applied delta resolves its session's).
class PendingQueries {
 public:
  struct Query {
    uint32_t id;
    uint64_t version;
    Nanos sent_at;
    int tries;
  };
  void Add(uint32_t id, uint64_t version) {
    Resolve(id);
    by_id_[id] = next_;
    by_age_.emplace(next_++, Query{id, version, Nanos(0), 0});
  }
  void Resolve(uint32_t id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    by_age_.erase(it->second);
    by_id_.erase(it);
  }
  size_t DropOldest(size_t n) {
    size_t dropped = 0;
    while (dropped < n && !by_age_.empty()) {
      by_id_.erase(by_age_.begin()->second.id);
      by_age_.erase(by_age_.begin());
      ++dropped;
    }
    return dropped;
  }
  template <typename P>
  size_t EraseIf(P pred) {
    size_t n = 0;
    for (auto it = by_age_.begin(); it != by_age_.end();) {
      if (pred(it->second)) {
        by_id_.erase(it->second.id);
        it = by_age_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }
  template <typename F>
  void ForEach(F fn) {
    for (auto& [order, q] : by_age_) {
      if (!fn(q)) break;
    }
  }
  size_t size() const { return by_age_.size(); }
  bool empty() const { return by_age_.empty(); }
  void Clear() {
    by_age_.clear();
    by_id_.clear();
  }

 private:
  std::map<uint64_t, Query> by_age_;
  std::unordered_map<uint32_t, uint64_t> by_id_;
  uint64_t next_ = 0;
};

class StandbyTable : public StreamSink {
 public:
  // What the mirror needs of its blade.
  struct Parts {
    const BladeConfig& cfg;
    const StreamOptions& opts;
    EventLoop& loop;
    Transport& transport;
    BladeCounters& counters;
    flatbuffers::FlatBufferBuilder& scratch_fbb;  // acks are built one at a time
    wire::Origin self;
    SessionClock clock;
  };
  // Makes the receiver; tests substitute a broken one (tests/support/broken_blades.h).
  using MakeReceiver = std::unique_ptr<StreamReceiver> (*)(StreamSink&, const StreamOptions&, EventLoop&, Transport&,
                                                           NodeId, LinkMonitor&, StreamCounters&);

  StandbyTable(const Parts& parts, uint8_t owner_chassis, LinkMonitor& links, MakeReceiver make_receiver = nullptr);

  // `frame` is the verified frame `b` was read from (kept if `b` is early).
  void OnBatch(const wire::DeltaBatch& b, Link link, std::span<const uint8_t> frame);
  // Acks, NACKs, queries and bulk-sync requests; called every tick.
  void OnTick(Nanos now) { in_->OnTick(now); }
  Nanos next_due() const { return in_->next_due(); }
  // Local expiry of standby sessions; called every sweep interval.
  void Sweep();

  // What an adoption takes: the previous incarnation's table when the owner
  // restarted before its loss was declared (the orphan), else this one.
  const SessionStore& adoptable() const { return has_orphan_ ? orphan_ : store_; }

  // Hands the live sessions to fn (adoption after the owner was lost) and
  // forgets this owner until it comes back with a new epoch. An orphan is
  // taken instead when there is one; the new incarnation's stream goes on.
  template <typename F>
  void DrainLive(F&& fn) {
    SessionStore& from = Adoptable();
    for (uint32_t id = 0; id < from.slots(); ++id) {
      if (from.is_live(id)) fn(from.rec(id), from.nat(id), from.extensions(id));
    }
    from.Clear();
    Released();
  }

  // Promotion fast path: moves the whole standby table into `into` (see
  // SessionStore::TakeAll) and forgets this owner, like DrainLive.
  template <typename F>
  void MoveInto(SessionStore& into, F&& fn) {
    into.TakeAll(Adoptable(), std::forward<F>(fn));
    Released();
  }

  uint8_t owner() const { return owner_; }
  bool in_sync() const { return in_->in_step(); }
  // The owner fenced its stream (its chassis stepped down) and everything
  // it sent before that is applied here, or it went quiet: what a graceful
  // takeover waits for.
  bool fence_passed() const { return in_->fence_passed(loop_.Now()); }
  // Waiting for this owner no longer holds the blade back.
  // An owner that restarted before its loss was declared leaves its whole
  // previous table here (the orphan): that is what a takeover needs, so the
  // new incarnation's bulk sync does not hold the blade back meanwhile.
  bool settled() const { return in_->settled() || (has_orphan_ && orphan_complete_); }
  bool gave_up() const { return in_->gave_up(); }
  // Its sessions were adopted (the owner was lost); nothing held until it returns.
  bool released() const { return in_->parked(); }
  uint32_t epoch() const { return in_->epoch(); }
  uint64_t next_seq() const { return in_->next_seq(); }
  const SessionStore& store() const { return store_; }
  // Owner wall-clock send time of the newest applied batch (for lag).
  uint64_t last_applied_send_ns() const { return last_send_ns_; }
  Nanos last_apply_lag() const { return last_lag_; }
  // Cumulative owner-to-apply lag over applied batches (diff two readings
  // for a window's mean).
  uint64_t lag_sum_ns() const { return lag_sum_ns_; }
  uint64_t lag_batches() const { return lag_batches_; }

  // Sync lag per link: apply time minus the owner's send time, corrected by
  // the clock offset (owner minus us) the managers estimate. Observed per
  // applied batch. Read on this blade's thread.
  const FixedHistogram& lag(Link link) const { return lag_[link == Link::kM2 ? 1 : 0]; }
  const FixedHistogram& bulk_sync_durations() const { return bulk_durations_; }
  void set_clock_offset(Nanos owner_minus_us) { clock_offset_ = owner_minus_us; }
  Nanos clock_offset() const { return clock_offset_; }

  // Called for every batch applied: (first_seq, seq_count, bulk_sync_begin).
  // Tests use it to prove in-order, exactly-once application.
  using ApplyObserver = std::function<void(uint64_t, uint32_t, bool)>;
  void set_apply_observer(ApplyObserver f) { observer_ = std::move(f); }
  // Every change to the mirrored sessions (standby-in-kernel): kept across
  // a new incarnation's table.
  void set_change_hook(SessionStore::ChangeHook hook, void* ctx) {
    hook_ = hook;
    hook_ctx_ = ctx;
    store_.set_change_hook(hook, ctx);
  }

  // StreamSink: called by the receiver only.
 private:
  void BeginReset(const StreamFrame& f) override;
  void Forget() override { store_.Clear(); }
  void NewIncarnation(uint32_t new_epoch, bool complete) override;
  void Apply(const StreamFrame& f, std::span<const uint8_t> frame, Link link) override;
  void InStep(Nanos took) override;
  std::string Mismatch(const StreamFrame& f) override;
  bool quiet() const override { return queries_.empty(); }
  std::span<const uint8_t> BuildAck(const StreamAck& ack, Link link) override;
  // Orphans and queries; true when a query is due.
  bool Housekeeping(Nanos now) override;
  Nanos housekeeping_due() const override;
  void Dropped(StreamDrop why, uint64_t n) override;

 protected:
  // A DELETE the checks let through: the session becomes a tombstone (key
  // and version kept, not live). The one step a test's broken mirror
  // replaces (tests/support/broken_blades.h).
  virtual void WriteTombstone(uint32_t id, uint64_t version);
  SessionStore& mutable_store() { return store_; }
  BladeCounters& counters() { return counters_; }
  const SessionClock& clock() const { return clock_; }
  void ResolveQuery(uint32_t id);

 private:
  void ApplyBatch(const wire::DeltaBatch& b, Link link);
  void ApplyDelete(const wire::Delete& d);
  template <typename C>
  void ApplyCreate(const C& c, bool recreate, bool bulk_sync, const Extension* ext = nullptr);
  // The compact form: the Create4 it stands for, and its conntrack extension.
  void ApplyCreate(const wire::ConntrackCreate4& c, bool recreate, bool bulk_sync);
  template <typename V>
  void ApplyCreates(const V& creates, bool bulk_sync);
  template <typename U>
  void ApplyUpdate(const U& u);  // wire::Update or wire::ConntrackUpdate
  SessionStore& Adoptable() { return has_orphan_ ? orphan_ : store_; }
  // After an adoption took the orphan or the table.
  void Released();
  // The owner came back with a new epoch: what its old incarnation owned is
  // kept aside for the chassis manager, which adopts it if the owner was
  // processing traffic (it restarted faster than its loss was detected).
  void KeepOrphan(uint32_t new_epoch, bool complete);
  void DropOrphanIfStale(Nanos now);
  Nanos OrphanKeptFor() const;
  void DropOrphan();
  void BoundQueries();
  void Drop(DropReason r, uint64_t n = 1) { counters_.dropped[static_cast<int>(r)].Add(n); }

  const BladeConfig& cfg_;
  EventLoop& loop_;
  BladeCounters& counters_;
  flatbuffers::FlatBufferBuilder& scratch_fbb_;
  wire::Origin self_;
  SessionClock clock_;
  uint8_t owner_;
  SessionStore store_{kLive};
  SessionStore orphan_{kLive};
  bool has_orphan_ = false;
  bool orphan_complete_ = false;  // the previous incarnation was in sync when it went
  Nanos orphan_since_{0};
  uint64_t last_send_ns_ = 0;
  Nanos last_lag_{0};
  uint64_t lag_sum_ns_ = 0;
  uint64_t lag_batches_ = 0;
  PendingQueries queries_;
  std::vector<wire::Query> query_out_;
  ApplyObserver observer_;
  SessionStore::ChangeHook hook_ = nullptr;
  void* hook_ctx_ = nullptr;
  std::array<FixedHistogram, kFabricLinks> lag_{FixedHistogram(FixedHistogram::LagBounds()),
                                                FixedHistogram(FixedHistogram::LagBounds())};
  FixedHistogram bulk_durations_{FixedHistogram::DurationBounds()};
  Nanos clock_offset_{0};
  std::vector<uint32_t> expired_scratch_;
  std::unique_ptr<StreamReceiver> in_;
};

}  // namespace bladesync
