#include "runtime/status_page.h"

#include <CivetServer.h>
#include <civetweb.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "monitoring/status_page/index_html.h"

namespace bladesync {
namespace {

std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}
// Port -> its chassis's source (shared: a request in flight keeps it alive).
std::map<int, std::shared_ptr<StatusPage::Source>>& Registry() {
  static std::map<int, std::shared_ptr<StatusPage::Source>> r;
  return r;
}

void Reply(mg_connection* conn, int code, const char* type, const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'self'; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'\r\nConnection: close\r\n\r\n",
            code, code == 200 ? "OK" : "Service Unavailable", type, body.size());
  mg_write(conn, body.data(), body.size());
}

int BeginRequest(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  if (!info || !info->local_uri || std::strcmp(info->request_method, "GET") != 0) return 0;
  const std::string uri = info->local_uri;
  if (uri == "/" || uri == "/index.html") {
    Reply(conn, 200, "text/html; charset=utf-8", kStatusPageHtml);
    return 200;
  }
  if (uri != "/status.json") return 0;  // /metrics and the rest: the Exposer's
  std::shared_ptr<StatusPage::Source> source;
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    auto it = Registry().find(info->server_port);
    if (it != Registry().end()) source = it->second;
  }
  if (!source) {
    Reply(conn, 503, "application/json", "{\"error\":\"this chassis is not serving its status yet\"}");
    return 503;
  }
  Reply(conn, 200, "application/json", (*source)());
  return 200;
}

}  // namespace

StatusPage::StatusPage(int port, Source source) : port_(port) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry()[port] = std::make_shared<Source>(std::move(source));
}

StatusPage::~StatusPage() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry().erase(port_);
}

const CivetCallbacks* StatusPage::Callbacks() {
  static CivetCallbacks callbacks = [] {
    CivetCallbacks c;  // every other callback unset
    c.begin_request = BeginRequest;
    return c;
  }();
  return &callbacks;
}

}  // namespace bladesync
