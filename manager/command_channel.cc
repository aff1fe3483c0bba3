#include "manager/command_channel.h"

#include <algorithm>

namespace bladesync {

CommandChannel::CommandChannel(Transport& transport, wire::Origin self, int slots, int give_up_after)
    : transport_(transport),
      self_(self),
      slots_(slots),
      give_up_after_(give_up_after),
      next_id_((uint64_t{self.epoch()} << 32) + 1) {}

uint64_t CommandChannel::Send(const Order& order, const std::function<bool(uint8_t)>& live) {
  const uint64_t first = next_id_;
  for (int s = 1; s <= slots_; ++s) {
    pending_.push_back(Command{IdFor(first, static_cast<uint8_t>(s)), order, static_cast<uint8_t>(s), 0});
  }
  next_id_ = first + static_cast<uint64_t>(slots_);
  Resend(live);
  return first;
}

uint64_t CommandChannel::SendTo(uint8_t slot, const Order& order, const std::function<bool(uint8_t)>& live) {
  if (slot < 1 || slot > slots_) return 0;
  const uint64_t id = next_id_++;
  pending_.push_back(Command{id, order, slot, 0});
  Resend(live);
  return id;
}

void CommandChannel::Applied(uint8_t slot, uint64_t last, const std::function<bool(uint8_t)>& live) {
  const size_t before = pending_.size();
  std::erase_if(pending_, [&](const Command& c) { return c.slot == slot && c.id <= last; });
  // The blade took its command: the next one for it goes now, not at the next tick.
  if (pending_.size() != before &&
      std::any_of(pending_.begin(), pending_.end(), [&](const Command& c) { return c.slot == slot; })) {
    Resend(live);
  }
}

void CommandChannel::Resend(const std::function<bool(uint8_t)>& live) {
  std::vector<bool> sent(static_cast<size_t>(slots_) + 1, false);
  for (Command& c : pending_) {
    if (sent[c.slot]) continue;
    sent[c.slot] = true;
    ++c.tries;
    fbb_.Clear();
    wire::CommandBuilder b(fbb_);
    b.add_from(&self_);
    b.add_kind(c.order.kind);
    b.add_peer_chassis(c.order.peer);
    b.add_role(c.order.role);
    b.add_request_id(c.id);
    b.add_clock_offset_ns(c.order.offset_ns);
    auto cmd = b.Finish();
    fbb_.Finish(wire::CreateFrame(fbb_, wire::Message::Command, cmd.Union()), wire::FrameIdentifier());
    transport_.Send(NodeId{self_.chassis(), c.slot}, Link::kBackplane, {fbb_.GetBufferPointer(), fbb_.GetSize()});
  }
  std::erase_if(pending_, [&](const Command& c) { return c.tries > give_up_after_ && !live(c.slot); });
}

}  // namespace bladesync
