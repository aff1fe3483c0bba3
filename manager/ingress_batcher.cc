#include "manager/ingress_batcher.h"

namespace bladesync {

IngressBatcher::IngressBatcher(EventLoop& loop, Transport& transport, wire::Origin self, int slots, size_t batch)
    : loop_(loop),
      transport_(transport),
      self_(self),
      slots_(slots),
      batch_(batch),
      pending4_(static_cast<size_t>(slots) + 1),
      pending6_(static_cast<size_t>(slots) + 1) {}

void IngressBatcher::Add(uint8_t slot, const PacketInfo& p) {
  if (p.key.is_v4()) {
    pending4_[slot].push_back(ToWire4(p));
  } else {
    pending6_[slot].push_back(ToWire6(p));
  }
  Added(pending4_[slot].size() + pending6_[slot].size());
}

void IngressBatcher::Add(uint8_t slot, const wire::Packet4& p) {
  pending4_[slot].push_back(p);
  Added(pending4_[slot].size() + pending6_[slot].size());
}

void IngressBatcher::Add(uint8_t slot, const wire::Packet6& p) {
  pending6_[slot].push_back(p);
  Added(pending4_[slot].size() + pending6_[slot].size());
}

void IngressBatcher::AddToPeer(uint8_t peer, Link link, const wire::Packet4& p) {
  PeerBatch& b = to_peer_[peer];
  b.link = link;
  b.p4.push_back(p);
  Added(b.p4.size() + b.p6.size());
}

void IngressBatcher::AddToPeer(uint8_t peer, Link link, const wire::Packet6& p) {
  PeerBatch& b = to_peer_[peer];
  b.link = link;
  b.p6.push_back(p);
  Added(b.p4.size() + b.p6.size());
}

void IngressBatcher::Added(size_t pending) {
  if (pending >= batch_) {
    Flush();
  } else if (!flush_posted_) {
    flush_posted_ = true;
    loop_.Post([this] {
      if (flush_posted_) Flush();  // not sent meanwhile by a full batch
    });
  }
}

void IngressBatcher::Flush() {
  flush_posted_ = false;
  for (int s = 1; s <= slots_; ++s) {
    auto& v4 = pending4_[s];
    auto& v6 = pending6_[s];
    if (v4.empty() && v6.empty()) continue;
    transport_.Send(NodeId{self_.chassis(), static_cast<uint8_t>(s)}, Link::kBackplane,
                    BuildPacketBatch(fbb_, self_, v4, v6, may_return_));
    v4.clear();
    v6.clear();
  }
  for (auto& [peer, b] : to_peer_) {
    if (b.p4.empty() && b.p6.empty()) continue;
    // From the manager (slot 0): the peer's manager takes it as its own ingress.
    transport_.Send(NodeId{peer, 0}, b.link, BuildPacketBatch(fbb_, self_, b.p4, b.p6));
    b.p4.clear();
    b.p6.clear();
  }
}

}  // namespace bladesync
