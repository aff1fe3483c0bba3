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
  if (pending4_[slot].size() + pending6_[slot].size() >= batch_) {
    Flush();
  } else if (!flush_posted_) {
    flush_posted_ = true;
    loop_.Post([this] { Flush(); });
  }
}

void IngressBatcher::Flush() {
  flush_posted_ = false;
  for (int s = 1; s <= slots_; ++s) {
    auto& v4 = pending4_[s];
    auto& v6 = pending6_[s];
    if (v4.empty() && v6.empty()) continue;
    fbb_.Clear();
    auto p4 = v4.empty() ? 0 : fbb_.CreateVectorOfStructs(v4.data(), v4.size());
    auto p6 = v6.empty() ? 0 : fbb_.CreateVectorOfStructs(v6.data(), v6.size());
    wire::PacketBatchBuilder b(fbb_);
    b.add_from(&self_);
    if (!p4.IsNull()) b.add_packets4(p4);
    if (!p6.IsNull()) b.add_packets6(p6);
    auto pb = b.Finish();
    fbb_.Finish(wire::CreateFrame(fbb_, wire::Message::PacketBatch, pb.Union()), wire::FrameIdentifier());
    transport_.Send(NodeId{self_.chassis(), static_cast<uint8_t>(s)}, Link::kBackplane,
                    {fbb_.GetBufferPointer(), fbb_.GetSize()});
    v4.clear();
    v6.clear();
  }
}

}  // namespace bladesync
