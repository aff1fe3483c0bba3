#include "api/blade.h"

#include "blades/blade_agent.h"

namespace bladesync::api {
namespace {

SessionView View(const SessionStore& store, uint32_t id) {
  const SessionRecord& r = store.rec(id);
  return SessionView{&r, (r.bits & kHasNat) ? store.nat(id) : nullptr, store.extensions(id)};
}

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kPrimary: return "primary";
    case Role::kSecondary: return "secondary";
    case Role::kStandalone: return "standalone";
    case Role::kUnknown: break;
  }
  return "unknown";
}

AdoptionHold::AdoptionHold(BladeAgent* agent) : agent_(agent), alive_(agent->lifetime()) {
  agent_->AdoptionPending(+1);
}

AdoptionHold& AdoptionHold::operator=(AdoptionHold&& o) noexcept {
  if (this != &o) {
    Release();
    agent_ = o.agent_;
    alive_ = std::move(o.alive_);
    o.agent_ = nullptr;
  }
  return *this;
}

void AdoptionHold::Release() {
  if (agent_ && !alive_.expired()) agent_->AdoptionPending(-1);
  agent_ = nullptr;
}

uint8_t Blade::chassis() const { return agent_.config().chassis; }
uint8_t Blade::slot() const { return agent_.config().slot; }
EventLoop& Blade::loop() { return agent_.loop(); }

SessionId Blade::Create(const SessionFacts& facts, const SessionState& state, const NatInfo* nat,
                        const ExtensionList* extensions) {
  return agent_.CreateSession(facts, state, nat, extensions);
}
void Blade::Update(SessionId id, const SessionState& state) { agent_.ChangeState(id, state); }
void Blade::SetExtension(SessionId id, const Extension& extension) { agent_.SetExtension(id, extension); }
void Blade::Touch(SessionId id) { agent_.Refresh(id); }
void Blade::WhenSynced(SessionId id, std::chrono::milliseconds bound, std::function<void(bool)> release) {
  agent_.DeferUntilSynced(id, bound, std::move(release));
}
void Blade::Delete(SessionId id, DeleteReason reason) { agent_.DeleteSession(id, reason); }
std::optional<SessionId> Blade::Find(const SessionKey& key) const { return agent_.Lookup(key); }

void Blade::LookAhead(const SessionKey& key) const { agent_.LookAhead(key); }
std::optional<SessionView> Blade::Get(SessionId id) const {
  if (!agent_.owned().is_live(id)) return std::nullopt;
  return View(agent_.owned(), id);
}

void Blade::ForEachOwned(const std::function<void(SessionId, const SessionView&)>& fn) const {
  const SessionStore& owned = agent_.owned();
  for (uint32_t id = 0; id < owned.slots(); ++id) {
    if (owned.is_live(id)) fn(id, View(owned, id));
  }
}

size_t Blade::owned_sessions() const { return agent_.owned().live(); }

std::optional<Blade::Mirrored> Blade::FindMirrored(const SessionKey& key) const {
  auto hit = agent_.LookupStandby(key);
  if (!hit) return std::nullopt;
  return Mirrored{hit->owner, View(agent_.standby(hit->owner)->store(), hit->id)};
}

void Blade::ForEachMirrored(const std::function<void(uint8_t owner, const SessionView&)>& fn) const {
  agent_.ForEachStandby([&](uint8_t owner, const SessionStore& store, uint32_t id) { fn(owner, View(store, id)); });
}

void Blade::OnMirrorChange(std::function<void(const MirrorChange&)> fn) {
  if (!fn) return agent_.set_standby_listener(nullptr);
  agent_.set_standby_listener([fn = std::move(fn)](uint8_t owner, const SessionStore& store, uint32_t id,
                                                   const SessionKey& old_key, bool was_live) {
    const bool live = store.is_live(id);  // false too for an id a Clear() took away
    fn(MirrorChange{owner, old_key, was_live, live ? std::optional(View(store, id)) : std::nullopt});
  });
}

void Blade::OnAdopted(std::function<void(const Adoption&)> fn) {
  agent_.add_adopt_listener([fn = std::move(fn)](uint8_t chassis, size_t n) { fn(Adoption{chassis, n}); });
}

void Blade::OnRoleChange(std::function<void(Role was, Role now)> fn) {
  agent_.add_role_listener(
      [fn = std::move(fn)](wire::Role was, wire::Role now) { fn(static_cast<Role>(was), static_cast<Role>(now)); });
}

Role Blade::role() const { return static_cast<Role>(agent_.role()); }

AdoptionHold Blade::HoldAdoption() { return AdoptionHold(&agent_); }

}  // namespace bladesync::api
