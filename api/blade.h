// api::Blade: a data plane's handle on one blade, the embedding API.
//
// A data plane (a chassis vendor's packet path, the Linux kernel's conntrack
// table) reports its sessions here, and bladesync streams every change to
// the blade's mirrors in the peer chassis. The other way round it learns
// what failover does: the sessions this blade adopted from a lost chassis,
// and the chassis's role as its manager decides it.
//
// Every call runs on the blade's own thread (its loop()): from a listener,
// a timer or Post() of loop(), or EmbeddedBlade::Run. Nothing here blocks.
//
//   api::Blade& blade = ...;                       // EmbeddedBlade::Run hands it over
//   api::SessionId id = blade.Create(facts, syn_sent);
//   blade.Update(id, established);                 // a protocol-state change: synced
//   blade.Touch(id);                               // a packet: the timer restarts, nothing is sent
//   blade.Delete(id, kDeleteClosed);
//   blade.OnAdopted([&](const api::Adoption& a) { ... });   // promotion: a.sessions are ours now
//   blade.OnRoleChange([&](api::Role was, api::Role now) { ... });
//
// Order: on a promotion (the primary lost, or stepping down to us) the
// adoption comes first and the role after. An adoption can come without a
// role change (a standalone chassis taking over a peer that stepped down
// after a partition healed: it is told standalone -> primary first, then
// adopts), and in active-active every adoption comes without one.
// Listeners cannot be removed (OnMirrorChange's can be replaced); they live
// as long as the blade. The constants that go with these types (kProto*,
// kTcp* states, kFlag* session flags, kDelete* reasons) come with
// api/session.h, in namespace bladesync.
#pragma once

#include <cstddef>
#include <cstdint>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "api/session.h"
#include "core/event_loop.h"

namespace bladesync {
class BladeAgent;
}

namespace bladesync::api {

// The chassis's role (FGCP's): the primary processes traffic in
// active-passive; standalone is a primary with no peer in sight.
enum class Role : uint8_t { kUnknown = 0, kPrimary = 1, kSecondary = 2, kStandalone = 3 };
const char* RoleName(Role r);  // "unknown", "primary", "secondary", "standalone"

// This blade took over the sessions it mirrored from a lost chassis: they
// are owned now, with kFlagAdopted set (ForEachOwned finds them).
struct Adoption {
  uint8_t from_chassis = 0;
  size_t sessions = 0;
};

// A mirrored session changed: created, updated or gone (`now` empty).
struct MirrorChange {
  uint8_t owner = 0;                   // the chassis that owns it
  const SessionKey& old_key;           // its key before the change (was_live)
  bool was_live = false;
  std::optional<SessionView> now;      // its state after the change, unless gone
};

// Held while adopted sessions are on their way somewhere outside bladesync
// (the kernel's table): the manager moves the traffic only when none is.
class AdoptionHold {
 public:
  AdoptionHold() = default;
  AdoptionHold(AdoptionHold&& o) noexcept : agent_(o.agent_), alive_(std::move(o.alive_)) { o.agent_ = nullptr; }
  AdoptionHold& operator=(AdoptionHold&& o) noexcept;
  AdoptionHold(const AdoptionHold&) = delete;
  AdoptionHold& operator=(const AdoptionHold&) = delete;
  ~AdoptionHold() { Release(); }
  // Once; a hold that outlives its blade (released after Stop) does nothing.
  void Release();

 private:
  friend class Blade;
  explicit AdoptionHold(BladeAgent* agent);
  BladeAgent* agent_ = nullptr;
  std::weak_ptr<const void> alive_;  // the agent's lifetime
};

class Blade {
 public:
  explicit Blade(BladeAgent& agent) : agent_(agent) {}
  Blade(const Blade&) = delete;
  Blade& operator=(const Blade&) = delete;

  uint8_t chassis() const;
  uint8_t slot() const;
  EventLoop& loop();

  // ---- sessions this blade owns: the data plane reports them ----
  // A new session; the pickup policy decides whether it is synced. Returns
  // kNoSession (and counts it) when max-sessions is reached.
  SessionId Create(const SessionFacts& facts, const SessionState& state, const NatInfo* nat = nullptr,
                   const ExtensionList* extensions = nullptr);
  // A protocol-state change: synced.
  void Update(SessionId id, const SessionState& state);
  // Sets (replaces) one extension: synced like a state change, when the
  // session's application (the AppKind in its flags) declares that
  // extension type; the mirrors keep no other.
  void SetExtension(SessionId id, const Extension& extension);
  // A packet: restarts the idle timer, sends nothing.
  void Touch(SessionId id);
  // session-pickup-defer for a data plane of its own: hold a new session's
  // first packet and call `release(true)` once every live mirror has the
  // session, or `release(false)` after `bound` (counted either way).
  void WhenSynced(SessionId id, std::chrono::milliseconds bound, std::function<void(bool acked)> release);
  void Delete(SessionId id, DeleteReason reason);
  // By either direction of the key.
  std::optional<SessionId> Find(const SessionKey& key) const;
  // A hint: starts fetching what a Find of `key` reads first, so that a
  // batch of keys looked ahead is then found without waiting on memory.
  void LookAhead(const SessionKey& key) const;
  // An owned session; nothing when the id is not a live owned session.
  std::optional<SessionView> Get(SessionId id) const;
  // fn(SessionId, const SessionView&) for every live owned session.
  void ForEachOwned(const std::function<void(SessionId, const SessionView&)>& fn) const;
  size_t owned_sessions() const;

  // ---- sessions this blade mirrors for the peer chassis (read-only) ----
  struct Mirrored {
    uint8_t owner;
    SessionView session;
  };
  // By either direction of the key.
  std::optional<Mirrored> FindMirrored(const SessionKey& key) const;
  void ForEachMirrored(const std::function<void(uint8_t owner, const SessionView&)>& fn) const;
  // Told of every change to a mirrored session (one listener; nullptr stops).
  void OnMirrorChange(std::function<void(const MirrorChange&)> fn);

  // ---- what failover does ----
  // Each call adds a listener; it runs right after an adoption.
  void OnAdopted(std::function<void(const Adoption&)> fn);
  // Each call adds a listener; it runs when the manager tells a new role
  // (after the adoption a promotion brought).
  void OnRoleChange(std::function<void(Role was, Role now)> fn);
  Role role() const;
  // Take one in an OnAdopted listener that hands the sessions on
  // asynchronously; traffic moves here once every hold is released.
  AdoptionHold HoldAdoption();

 private:
  BladeAgent& agent_;
};

}  // namespace bladesync::api
