// FakeInterfaces: an InterfaceControl that keeps interfaces in memory and
// records every change in order ("add lan 10.0.1.1/24", "mac lan ...",
// "announce lan 10.0.1.1", "down lan"), stamped with the loop's time.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "netif/interface_control.h"

namespace bladesync::testing {

class FakeInterfaces : public InterfaceControl {
 public:
  struct Device {
    MacAddr mac;
    std::optional<MacAddr> permanent;
    bool up = true;
    std::set<std::string> addresses;
    std::vector<std::string> routes;  // as Linux: gone when the link goes down
  };
  explicit FakeInterfaces(const EventLoop* clock = nullptr) : clock_(clock) {}

  void AddDevice(const std::string& name, MacAddr mac, std::optional<MacAddr> permanent = std::nullopt) {
    devices_[name] = Device{mac, permanent, true, {}};
  }
  // The next call of this kind fails (once): "add", "remove", "mac", "announce", "link".
  void FailNext(const std::string& kind) { fail_.insert(kind); }

  bool Exists(const std::string& dev) override { return devices_.count(dev) > 0; }
  bool IsUp(const std::string& dev) override { return Exists(dev) && devices_[dev].up; }
  Result<MacAddr> Mac(const std::string& dev) override {
    if (!Exists(dev)) return NotFound(dev);
    return devices_[dev].mac;
  }
  std::optional<MacAddr> PermanentMac(const std::string& dev) override {
    return Exists(dev) ? devices_[dev].permanent : std::nullopt;
  }
  Status SetMac(const std::string& dev, const MacAddr& mac) override {
    if (Status s = Check("mac", dev); !s.ok()) return s;
    devices_[dev].mac = mac;
    Log("mac " + dev + " " + mac.ToString());
    return Status::Ok();
  }
  Status SetLinkUp(const std::string& dev, bool up) override {
    if (Status s = Check("link", dev); !s.ok()) return s;
    devices_[dev].up = up;
    if (!up) devices_[dev].routes.clear();
    Log((up ? "up " : "down ") + dev);
    return Status::Ok();
  }
  LinkState SaveLinkState(const std::string& dev) override {
    return Exists(dev) ? LinkState{devices_[dev].routes, ""} : LinkState{};
  }
  Status RestoreLinkState(const std::string& dev, const LinkState& saved) override {
    if (!Exists(dev)) return NotFound(dev);
    devices_[dev].routes = saved.routes;
    return Status::Ok();
  }
  Status AddAddress(const std::string& dev, const AddrPrefix& a) override {
    if (Status s = Check("add", dev); !s.ok()) return s;
    if (devices_[dev].addresses.insert(a.addr.ToString()).second) Log("add " + dev + " " + a.addr.ToString());
    return Status::Ok();
  }
  Status RemoveAddress(const std::string& dev, const AddrPrefix& a) override {
    if (Status s = Check("remove", dev); !s.ok()) return s;
    if (devices_[dev].addresses.erase(a.addr.ToString())) Log("remove " + dev + " " + a.addr.ToString());
    return Status::Ok();
  }
  Status Announce(const std::string& dev, const IpAddr& a, const MacAddr& mac) override {
    if (Status s = Check("announce", dev); !s.ok()) return s;
    Log("announce " + dev + " " + a.ToString() + " " + mac.ToString());
    return Status::Ok();
  }

  Device& device(const std::string& name) { return devices_.at(name); }
  bool Holds(const std::string& dev, const std::string& addr) const {
    auto it = devices_.find(dev);
    return it != devices_.end() && it->second.addresses.count(addr);
  }
  const std::vector<std::string>& log() const { return log_; }
  const std::vector<Nanos>& times() const { return times_; }
  void ClearLog() {
    log_.clear();
    times_.clear();
  }
  // Index in the log of the first entry starting with `prefix` (-1: none).
  int Find(const std::string& prefix, size_t from = 0) const {
    for (size_t i = from; i < log_.size(); ++i) {
      if (log_[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
    }
    return -1;
  }
  // Called after every change: lets a test check an invariant at each step.
  std::function<void(const std::string&)> on_change;

 private:
  Status Check(const std::string& kind, const std::string& dev) {
    if (!Exists(dev)) return NotFound(dev + ": no such interface");
    if (fail_.erase(kind)) return Unavailable("injected failure (" + kind + ")");
    return Status::Ok();
  }
  void Log(const std::string& what) {
    log_.push_back(what);
    times_.push_back(clock_ ? clock_->Now() : Nanos(0));
    if (on_change) on_change(what);
  }
  const EventLoop* clock_;
  std::map<std::string, Device> devices_;
  std::set<std::string> fail_;
  std::vector<std::string> log_;
  std::vector<Nanos> times_;
};

}  // namespace bladesync::testing
