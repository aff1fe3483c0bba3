#include "netif/remote_link_monitors.h"

#include "core/log.h"

namespace bladesync {

RemoteLinkMonitors::RemoteLinkMonitors(RemoteLinkMonitorOptions opt, EventLoop& loop, Prober& prober,
                                       std::function<void()> changed)
    : opt_(std::move(opt)), loop_(loop), prober_(prober), changed_(std::move(changed)) {
  state_.resize(opt_.monitors.size());
  for (size_t m = 0; m < opt_.monitors.size(); ++m) {
    for (const IpAddr& a : opt_.monitors[m].servers) state_[m].servers.push_back(ServerState{a});
  }
  flip_timer_ = loop_.CreateTimer([this] { Update(); });
}

void RemoteLinkMonitors::Start() {
  for (size_t m = 0; m < opt_.monitors.size(); ++m) {
    tasks_.push_back(std::make_unique<PeriodicTask>(loop_, opt_.monitors[m].interval, [this, m] { Probe(m); }));
    Probe(m);
  }
}

void RemoteLinkMonitors::Stop() {
  tasks_.clear();
  flip_timer_->Disarm();
}

uint32_t RemoteLinkMonitors::score() const {
  uint32_t s = 0;
  for (size_t m = 0; m < state_.size(); ++m) {
    if (state_[m].failed && opt_.monitors[m].counted) s += opt_.monitors[m].ha_priority;
  }
  return s;
}

// Each round first judges the previous probe (answered or not), then sends the next.
void RemoteLinkMonitors::Probe(size_t m) {
  const RemoteLinkMonitorOptions::Monitor& mon = opt_.monitors[m];
  MonitorState& st = state_[m];
  bool moved = false;
  if (st.seq != 0) {
    for (ServerState& sv : st.servers) {
      if (sv.outstanding) {
        ++sv.missed;
        sv.answered = 0;
        if (sv.up && sv.missed >= mon.failtime) {
          sv.up = false;
          moved = true;
          BS_LOG(kWarn, "link-monitor") << mon.name << ": server " << sv.address.ToString() << " is down ("
                                        << sv.missed << " probes unanswered on " << mon.device << ")";
        }
      }
    }
  }
  ++st.seq;
  if (st.seq == 0) st.seq = 1;  // 0 means "nothing sent yet"
  st.sent_at = loop_.Now();
  for (size_t i = 0; i < st.servers.size(); ++i) {
    st.servers[i].outstanding = true;
    if (Status s = prober_.Send(m, mon.device, st.servers[i].address, st.seq); s.ok()) {
      ++st.servers[i].sent;
    } else {
      send_errors_.Add();
      if (LogOccurrence(send_errors_.get())) {
        BS_LOG(kWarn, "link-monitor") << mon.name << ": cannot ping " << st.servers[i].address.ToString() << " out of "
                                      << mon.device << ": " << s.message() << " [" << send_errors_.get() << " so far]";
      }
    }
  }
  if (moved) Update();
}

void RemoteLinkMonitors::OnReply(size_t m, const IpAddr& server, uint16_t seq) {
  if (m >= state_.size()) return;
  const RemoteLinkMonitorOptions::Monitor& mon = opt_.monitors[m];
  MonitorState& st = state_[m];
  if (seq != st.seq) return;  // late: its round was already judged
  for (ServerState& sv : st.servers) {
    if (!(sv.address == server) || !sv.outstanding) continue;
    sv.outstanding = false;
    ++sv.received;
    sv.last_rtt = loop_.Now() - st.sent_at;
    sv.missed = 0;
    ++sv.answered;
    if (!sv.up && sv.answered >= mon.recoverytime) {
      sv.up = true;
      BS_LOG(kInfo, "link-monitor") << mon.name << ": server " << sv.address.ToString() << " is up again";
      Update();
    }
  }
}

void RemoteLinkMonitors::Update() {
  for (size_t m = 0; m < state_.size(); ++m) {
    MonitorState& st = state_[m];
    bool all_down = !st.servers.empty();
    for (const ServerState& sv : st.servers) all_down = all_down && !sv.up;
    if (all_down != st.failed) {
      st.failed = all_down;
      if (all_down) {
        BS_LOG(kWarn, "link-monitor") << opt_.monitors[m].name << ": failed (no server answers)";
      } else {
        BS_LOG(kInfo, "link-monitor") << opt_.monitors[m].name << ": alive again";
      }
    }
  }
  const uint32_t sc = score();
  const bool now_failed = sc > 0 && sc >= opt_.failover_threshold;
  const Nanos now = loop_.Now();
  bool next = failed_;
  if (now_failed && !failed_) {
    next = true;
    flip_until_ = now + opt_.flip_timeout;
  } else if (!now_failed && failed_) {
    if (now >= flip_until_) {
      next = false;
    } else {
      flip_timer_->Arm(flip_until_ - now);  // pingserver-flip-timeout: look again when it ends
    }
  }
  if (next != failed_) {
    failed_ = next;
    transitions_.Add();
    BS_LOG(kWarn, "link-monitor") << "remote link " << (failed_ ? "failed" : "recovered") << " (score " << sc
                                  << ", pingserver-failover-threshold " << opt_.failover_threshold << ")";
    if (changed_) changed_();
  }
}

}  // namespace bladesync
