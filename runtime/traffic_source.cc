#include "runtime/traffic_source.h"

#include "blades/delta_codec.h"
#include "core/log.h"

namespace bladesync {

TrafficSource::TrafficSource(const ClusterConfig& cfg, FabricContext& ctx, Targets targets)
    : cfg_(cfg), ctx_(ctx), targets_(std::move(targets)), book_(cfg), p4_(256), p6_(256) {}

TrafficSource::~TrafficSource() { Stop(); }

Status TrafficSource::Start() {
  // Chassis 0 has no endpoints: the source only connects, it never binds.
  // It plays the network and has no retransmits of its own: queue frames
  // while a connection is being set up rather than lose them.
  ZmqOptions zo;
  zo.immediate = false;
  zo.send_hwm = 4096;
  Result<CurveKeys> keys = NetworkCurveKeys(cfg_);
  if (!keys.ok()) return keys.status();
  transport_ = std::make_unique<ZmqTransport>(ctx_, thread_.loop(), NodeId{0, 0}, book_, keys.value(), zo);
  for (const ChassisConfig& c : cfg_.chassis) transport_->Prepare(NodeId{c.id, 0}, Link::kBackplane);
  gen_ = std::make_unique<TrafficGenerator>(cfg_.traffic);
  thread_.loop().Post([this] {
    start_ = thread_.loop().Now();
    tick_ = std::make_unique<PeriodicTask>(thread_.loop(), milliseconds(1), [this] { Tick(); });
  });
  targets_latest_ = targets_();
  poller_ = std::thread([this] {
    SetThreadName("traffic-poll");
    std::unique_lock<std::mutex> lock(targets_mu_);
    while (!stopping_) {
      lock.unlock();
      std::vector<uint8_t> t = targets_();
      lock.lock();
      targets_latest_ = std::move(t);
      targets_cv_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stopping_; });
    }
  });
  thread_.Start();
  started_ = true;
  return Status::Ok();
}

void TrafficSource::Stop() {
  if (!started_) return;
  started_ = false;
  {
    std::lock_guard<std::mutex> lock(targets_mu_);
    stopping_ = true;
  }
  targets_cv_.notify_all();
  poller_.join();
  thread_.Call([&] {
    tick_.reset();
    transport_->Close();
  });
  thread_.Stop();
}

namespace {
uint64_t Rendezvous(const SessionKey& k, uint8_t chassis) {
  // Direction-independent flow hash, mixed with the chassis id.
  uint64_t h = k.FlowHash() + chassis * 0x9e3779b97f4a7c15ULL;
  h ^= h >> 31;
  h *= 0xd6e8feb86659fd93ULL;
  return h ^ (h >> 32);
}
}  // namespace

void TrafficSource::Tick() {
  const Nanos now = thread_.loop().Now();
  {
    std::lock_guard<std::mutex> lock(targets_mu_);
    targets_cache_ = targets_latest_;
  }
  scratch_.clear();
  gen_->Generate(now - start_, scratch_);
  flows_.store(gen_->flows_started());
  if (gen_->finished(now - start_)) finished_.store(true);
  for (const PacketInfo& p : scratch_) {
    if (targets_cache_.empty()) {
      unroutable_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    uint8_t target = targets_cache_[0];
    if (cfg_.mode == HaMode::kActiveActive && targets_cache_.size() > 1) {
      uint64_t best = 0;
      for (uint8_t c : targets_cache_) {
        const uint64_t h = Rendezvous(p.key, c);
        if (h >= best) best = h, target = c;
      }
    }
    if (p.key.is_v4()) {
      p4_[target].push_back(ToWire4(p));
    } else {
      p6_[target].push_back(ToWire6(p));
    }
  }
  for (uint8_t c : targets_cache_) {
    auto& v4 = p4_[c];
    auto& v6 = p6_[c];
    if (v4.empty() && v6.empty()) continue;
    const wire::Origin from(cfg_.group_id, 0, 0, 0);
    if (transport_->Send(NodeId{c, 0}, Link::kBackplane, BuildPacketBatch(fbb_, from, v4, v6)) == SendResult::kSent) {
      sent_.fetch_add(v4.size() + v6.size(), std::memory_order_relaxed);
    } else {
      unroutable_.fetch_add(v4.size() + v6.size(), std::memory_order_relaxed);
    }
    v4.clear();
    v6.clear();
  }
}

}  // namespace bladesync
