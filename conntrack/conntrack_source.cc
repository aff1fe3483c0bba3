#include "conntrack/conntrack_source.h"

#include <cstring>

#include "core/log.h"

namespace bladesync {
namespace {
constexpr Nanos kGatherFor = milliseconds(1);
}  // namespace

ConntrackSource::ConntrackSource(AsioEventLoop& loop, api::Blade& blade, ConntrackOptions opt,
                                 std::vector<IpAddr> own_addresses)
    : loop_(loop), blade_(blade), opt_(opt), sync_(blade, loop, kernel_, opt, std::move(own_addresses)) {}

ConntrackSource::~ConntrackSource() = default;

Status ConntrackSource::Start() {
  if (Status s = events_.Open(opt_.event_buffer); !s.ok()) return s;
  watch_ = std::make_unique<FdWatch>(loop_, events_.fd(), [this] { OnReadable(); });
  gather_ = loop_.CreateTimer([this] { OnReadable(); });
  if (opt_.standby_in_kernel) {
    standby_ = std::make_unique<StandbyKernel>(blade_, loop_, kernel_, opt_,
                                               [this](const SessionKey& k) { return sync_.Ignored(k); });
    sync_.set_standby(standby_.get());
  }
  blade_.OnAdopted([this](const api::Adoption& a) {
    BS_LOG(kInfo, "conntrack") << "promoted: " << a.sessions << " sessions of chassis " << int(a.from_chassis)
                               << " go into the kernel";
    // The traffic waits until they are in.
    auto hold = std::make_shared<api::AdoptionHold>(blade_.HoldAdoption());
    sync_.InstallAdopted(a.sessions, [hold](const InstallStats&) { hold->Release(); });
  });
  if (opt_.resync_interval_s) {
    resync_ = std::make_unique<PeriodicTask>(loop_, seconds(opt_.resync_interval_s), [this] { Resync("resync-interval"); });
  }
  loop_.Post([this] {
    if (standby_) standby_->Start();
    Resync("start");
    watch_->Wait();
  });
  return Status::Ok();
}

void ConntrackSource::OnReadable() {
  // A bounded batch per turn: heartbeats and the fabric share this loop.
  const CtEventSocket::ExpectationHandler expectations = [this](CtEvent k, const KernelExpectation& x) {
    sync_.OnExpectation(k, x);
  };
  // Each batch's keys looked ahead first: the owner's index misses (both
  // directions of every new key) were 8% of its thread's time.
  const CtEventSocket::AheadHandler ahead = [this](const KernelEntry& e) { sync_.LookAhead(e); };
  const CtEventSocket::ReadResult r =
      events_.Read(1024, [this](CtEvent k, const KernelEntry& e) { sync_.OnEvent(k, e); }, &expectations, &ahead);
  if (r.overrun) {
    sync_.counters().overruns.Add();
    const bool grown = events_.Grow(opt_.event_buffer_max);
    BS_LOG(kWarn, "conntrack") << "event overrun: the kernel dropped events; resyncing from a dump"
                               << (grown ? " (event buffer now " + std::to_string(events_.buffer_bytes()) + " bytes)" : "");
    Resync("overrun");
  }
  if (r.error) {
    BS_LOG(kWarn, "conntrack") << "event socket: " << std::strerror(r.error);
  }
  if (r.more) {
    loop_.Post([this, alive = watch_->alive()] {
      if (*alive) OnReadable();
    });
    return;
  }
  // Drained, but events came: while they keep coming, let them gather for
  // 1 ms between reads, so a frame carries hundreds of entries instead of a
  // few (the same bytes and CPU per frame, spread over more) and the loop
  // wakes once a millisecond, not once an event. 1 ms is below the kernel's
  // own event batching noise and far below any session timer. A read that
  // finds none goes back to waiting on the socket.
  if (r.events > 0) {
    watch_->Pause();  // else each event of the burst wakes the loop meanwhile
    gather_->Arm(kGatherFor);
    return;
  }
  watch_->Wait();
}

void ConntrackSource::Resync(const char* why) {
  if (resync_posted_) return;
  resync_posted_ = true;
  // After the current batch of events: the dump is newer than them. One
  // resync at a time; one asked for meanwhile (an overrun) runs after it.
  loop_.Post([this, why, alive = watch_->alive()] {
    if (!*alive) return;
    const bool started = sync_.StartReconcile([this, why, alive](const Status& s) {
      if (!*alive) return;
      if (!s.ok()) BS_LOG(kWarn, "conntrack") << "resync (" << why << "): " << s.message();
      if (resync_again_) {
        resync_again_ = false;
        Resync("again");
      }
    });
    resync_posted_ = false;
    if (!started) resync_again_ = true;
  });
}

}  // namespace bladesync
