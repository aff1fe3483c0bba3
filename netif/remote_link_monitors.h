// RemoteLinkMonitors: FortiOS remote link failover (`config system
// link-monitor` with `pingserver-*` in `config system ha`).
//
// Each monitor pings its servers out of its interface every `interval`. A
// server is down after `failtime` probes in a row went unanswered and up
// again after `recoverytime` answered; a monitor fails when all its servers
// are down. The chassis's score is the sum of the ha-priority of its failed
// monitors on a `pingserver-monitor-interface`; at or above
// `pingserver-failover-threshold` (and above 0) the chassis's remote link
// has failed, which the election ranks right after monitored interfaces.
// Hold-down against flapping: once failed, it counts as failed for
// `pingserver-flip-timeout` even if its servers answer again, so a
// flapping server moves the role at most once per flip timeout.
//
//   RemoteLinkMonitors m(opts, loop, prober, [&] { manager.Reevaluate(); });
//   m.Start();
//   prober replies -> m.OnReply(monitor, server, seq);
//   bool failed = m.failed();
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "blades/session.h"
#include "core/counter.h"
#include "core/event_loop.h"
#include "core/status.h"

namespace bladesync {

struct RemoteLinkMonitorOptions {
  struct Monitor {
    std::string name;
    std::string srcintf;  // interface name
    std::string device;   // its Linux device
    std::vector<IpAddr> servers;
    Nanos interval = milliseconds(500);
    uint32_t failtime = 5;
    uint32_t recoverytime = 5;
    uint32_t ha_priority = 1;
    bool counted = false;  // srcintf is a pingserver-monitor-interface
  };
  std::vector<Monitor> monitors;
  uint32_t failover_threshold = 0;
  Nanos flip_timeout = std::chrono::minutes(60);
};

// Sends ICMP echo requests; replies come back through RemoteLinkMonitors::OnReply.
class Prober {
 public:
  virtual ~Prober() = default;
  virtual Status Send(size_t monitor, const std::string& device, const IpAddr& server, uint16_t seq) = 0;
};

class RemoteLinkMonitors {
 public:
  RemoteLinkMonitors(RemoteLinkMonitorOptions opt, EventLoop& loop, Prober& prober, std::function<void()> changed);
  void Start();
  void Stop();
  // An echo reply from `server` for probe `seq` of monitor `monitor`.
  void OnReply(size_t monitor, const IpAddr& server, uint16_t seq);

  // The remote link has failed, hold-down included (what heartbeats carry).
  bool failed() const { return failed_; }
  // Sum of the ha-priority of the failed counted monitors, right now.
  uint32_t score() const;
  // Until when a recovered remote link still counts as failed (0: no hold-down).
  Nanos hold_down_until() const { return failed_ ? flip_until_ : Nanos(0); }

  struct ServerState {
    IpAddr address;
    bool up = true;
    bool outstanding = false;  // the last probe is unanswered
    uint32_t missed = 0;    // in a row
    uint32_t answered = 0;  // in a row
    uint64_t sent = 0, received = 0;
    Nanos last_rtt{0};
  };
  struct MonitorState {
    std::vector<ServerState> servers;
    bool failed = false;  // every server down
    uint16_t seq = 0;
    Nanos sent_at{0};
  };
  const RemoteLinkMonitorOptions& options() const { return opt_; }
  const std::vector<MonitorState>& states() const { return state_; }
  uint64_t send_errors() const { return send_errors_.get(); }
  uint64_t transitions() const { return transitions_.get(); }

 private:
  void Probe(size_t m);
  void Update();

  RemoteLinkMonitorOptions opt_;
  EventLoop& loop_;
  Prober& prober_;
  std::function<void()> changed_;
  std::vector<MonitorState> state_;
  std::vector<std::unique_ptr<PeriodicTask>> tasks_;
  bool failed_ = false;
  Nanos flip_until_{0};
  std::unique_ptr<Timer> flip_timer_;
  Counter send_errors_, transitions_;
};

}  // namespace bladesync
