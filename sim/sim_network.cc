#include "sim/sim_network.h"

#include <cstring>

namespace bladesync {

SendResult SimTransport::Send(NodeId to, Link link, std::span<const uint8_t> frame) {
  return net_.Deliver(self_, to, link, frame);
}

SimTransport& SimNetwork::AddNode(NodeId id, SimEventLoop& loop) {
  auto& slot = nodes_[{id.chassis, id.slot}];
  slot = std::make_unique<SimTransport>(*this, id, loop);
  // A restarted process starts with empty connections, both ways.
  std::erase_if(queued_, [&](const auto& q) {
    const auto& [fc, fs, tc, ts, l] = q.first;
    return (fc == id.chassis && fs == id.slot) || (tc == id.chassis && ts == id.slot);
  });
  return *slot;
}

void SimNetwork::SetDown(NodeId id, bool down) {
  if (down) {
    down_.insert({id.chassis, id.slot});
  } else {
    down_.erase({id.chassis, id.slot});
  }
}

bool SimNetwork::Chance(double p) {
  if (p <= 0) return false;
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < p;
}

SendResult SimNetwork::Deliver(NodeId from, NodeId to, Link link, std::span<const uint8_t> frame) {
  if (tap_) tap_(from, to, link, frame);
  uint64_t h = (uint64_t{from.chassis} << 24) ^ (uint64_t{to.chassis} << 16) ^ (uint64_t{to.slot} << 8) ^
               static_cast<uint64_t>(link);
  size_t i = 0;
  for (; i + 8 <= frame.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, frame.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
  }
  for (; i < frame.size(); ++i) h = (h ^ frame[i]) * 0x100000001b3ULL;
  sched_.MixTrace(h ^ frame.size());
  if (!nodes_.count({to.chassis, to.slot})) return SendResult::kNoRoute;
  if (down_.count({from.chassis, from.slot})) return SendResult::kClosed;
  const bool fabric = link != Link::kBackplane;
  if (fabric && from.chassis != to.chassis && is_cut(from.chassis, to.chassis, link)) {
    ++dropped_;
    return SendResult::kSent;  // a cut link swallows frames silently, like TCP on a dead veth
  }
  const bool faulty = fabric || faults_.faults_on_backplane;
  if (faulty && Chance(faults_.drop)) {
    ++dropped_;
    return SendResult::kSent;
  }
  std::optional<QueueKey> queued;
  if (fabric && faults_.send_queue > 0) {
    queued = QueueKey{from.chassis, from.slot, to.chassis, to.slot, link};
    if (queued_[*queued] >= faults_.send_queue) return SendResult::kQueueFull;
    ++queued_[*queued];
  }
  auto bytes = std::make_shared<std::vector<uint8_t>>(frame.begin(), frame.end());
  if (rewrite_) rewrite_(from, to, *bytes);
  auto draw_delay = [&] {
    Nanos d = faults_.latency + faults_.link_latency[static_cast<int>(link)];
    if (faults_.jitter.count() > 0) {
      d += Nanos(std::uniform_int_distribution<int64_t>(0, faults_.jitter.count())(rng_));
    }
    if (faulty && Chance(faults_.delay)) {
      d += Nanos(std::uniform_int_distribution<int64_t>(0, faults_.extra_delay.count())(rng_));
    }
    return d;
  };
  Schedule(to, link, bytes, draw_delay(), from.chassis, queued);
  if (faulty && Chance(faults_.duplicate)) {
    ++duplicated_;
    Schedule(to, link, bytes, draw_delay(), from.chassis);
  }
  return SendResult::kSent;
}

void SimNetwork::Schedule(NodeId to, Link link, std::shared_ptr<std::vector<uint8_t>> bytes, Nanos delay,
                          uint8_t from_chassis, std::optional<QueueKey> queued, int key_of) {
  auto it = nodes_.find({to.chassis, to.slot});
  SimTransport* t = it->second.get();
  const std::pair<uint8_t, uint8_t> key{to.chassis, to.slot};
  sched_.ScheduleAt(sched_.now() + delay, &t->loop(), [this, key, link, bytes, from_chassis, queued, key_of] {
    if (queued) {  // off the sender's queue, whatever becomes of it now
      auto q = queued_.find(*queued);
      if (q != queued_.end() && q->second > 0) --q->second;
    }
    auto node = nodes_.find(key);
    if (node == nodes_.end() || down_.count(key) || !node->second->receiver_) {
      ++dropped_;
      return;
    }
    // A frame in flight on a link that was cut meanwhile is lost too.
    if (link != Link::kBackplane && from_chassis != key.first && is_cut(from_chassis, key.first, link)) {
      ++dropped_;
      return;
    }
    ++delivered_;
    node->second->receiver_(FrameMeta{link, key_of}, std::span<const uint8_t>(bytes->data(), bytes->size()));
  });
}

void SimNetwork::Inject(NodeId from, NodeId to, Link link, std::vector<uint8_t> bytes, int key_of) {
  Schedule(to, link, std::make_shared<std::vector<uint8_t>>(std::move(bytes)), faults_.latency, from.chassis,
           std::nullopt, key_of);
}

}  // namespace bladesync
