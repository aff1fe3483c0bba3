#include "runtime/blade_beat.h"

#include "core/thread_priority.h"
#include "schemas/bladesync_generated.h"

namespace bladesync {

BladeBeat::BladeBeat(FabricContext& blades_ctx, const AddressBook& book, CurveKeys curve, uint32_t group_id,
                     uint8_t chassis, std::vector<Blade> blades, Nanos interval)
    : blades_ctx_(blades_ctx),
      book_(book),
      curve_(std::move(curve)),
      group_id_(group_id),
      chassis_(chassis),
      blades_(std::move(blades)),
      interval_(interval) {}

void BladeBeat::Start() {
  if (started_ || blades_.empty()) return;
  started_ = true;
  thread_.Start();
  thread_.Call([&] {
    RaiseThisThread();  // refused without CAP_SYS_NICE: then as it is
    // Send only (nothing binds): its own PUSH socket to the manager's backplane
    // (a CURVE client there as the blades are, when it is TCP).
    transport_ = std::make_unique<ZmqTransport>(ctx_, thread_.loop(), NodeId{chassis_, 0}, book_, curve_, ZmqOptions{},
                                                &blades_ctx_);
    std::vector<LoopWatchdog::Watched> loops;
    for (const Blade& b : blades_) loops.push_back({b.name, b.loop});
    watchdog_ = std::make_unique<LoopWatchdog>(std::move(loops), kStallBound);
    task_ = std::make_unique<PeriodicTask>(thread_.loop(), interval_, [this] { Beat(); });
  });
}

void BladeBeat::Beat() {
  watchdog_->Probe();
  flatbuffers::FlatBufferBuilder fbb(128);
  for (size_t i = 0; i < blades_.size(); ++i) {
    if (!watchdog_->Turning(i)) continue;  // a stuck loop is not vouched for: its statuses decide
    fbb.Clear();
    const wire::Origin from(group_id_, blades_[i].epoch, chassis_, blades_[i].slot);
    auto alive = wire::CreateBladeAlive(fbb, &from);
    fbb.Finish(wire::CreateFrame(fbb, wire::Message::BladeAlive, alive.Union()), wire::FrameIdentifier());
    // One refused (not connected yet, queue full) is made up for by the next.
    transport_->Send(NodeId{chassis_, 0}, Link::kBackplane, {fbb.GetBufferPointer(), fbb.GetSize()});
  }
}

void BladeBeat::Stop() {
  if (!started_) return;
  started_ = false;
  thread_.Call([&] {
    task_.reset();
    transport_->Close();
  });
  thread_.Stop();
  transport_.reset();
  watchdog_.reset();
}

}  // namespace bladesync
