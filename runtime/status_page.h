// StatusPage: the metrics port also serves the operator's status page at /
// and its data at /status.json, beside Prometheus's /metrics.
//
// prometheus::Exposer runs CivetWeb; its begin_request callback sees every
// request first, so the page needs no second listener. A process may run
// several chassis (the demo), each on its own port: requests are sent to
// the chassis that registered the port they arrived on.
//
//   exposer = std::make_unique<prometheus::Exposer>(options, StatusPage::Callbacks());
//   StatusPage page(port, [&] { return StatusJson(); });  // until destroyed
#pragma once

#include <functional>
#include <string>

struct CivetCallbacks;

namespace bladesync {

class StatusPage {
 public:
  using Source = std::function<std::string()>;  // /status.json's body
  StatusPage(int port, Source source);
  ~StatusPage();
  StatusPage(const StatusPage&) = delete;
  StatusPage& operator=(const StatusPage&) = delete;

  // For the Exposer: serves / and /status.json, leaves the rest to it.
  static const CivetCallbacks* Callbacks();

 private:
  int port_;
};

}  // namespace bladesync
