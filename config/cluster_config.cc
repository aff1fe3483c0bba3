#include "config/cluster_config.h"


#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "config/cli_tree.h"

namespace bladesync {
namespace {

// Reads one block's settings against a table of known options.
class BlockReader {
 public:
  BlockReader(const std::string& file, const std::string& where) : file_(file), where_(where) {}

  using Handler = std::function<Status(const CliSetting&)>;
  void On(const std::string& key, Handler h) { handlers_[key] = std::move(h); }

  // Nested `config` blocks this block may hold (read by the caller); any
  // other is an error, never silently skipped with all it holds.
  void AllowBlocks(std::set<std::string> names) { blocks_ = std::move(names); }

  Status Read(const CliBlock& b) {
    for (const CliBlock& sub : b.blocks) {
      if (!blocks_.count(sub.name)) {
        return InvalidArgument(file_ + ":" + std::to_string(sub.line) + ": unknown block 'config " + sub.name + "' in '" +
                               where_ + "'");
      }
    }
    // The last statement about an option decides it: a later `set`
    // replaces an earlier one, and `unset` puts the default back.
    std::map<std::string, const CliSetting*> last;
    for (const CliSetting& s : b.settings) {
      if (!handlers_.count(s.key)) return Err(s, "unknown option");
      last[s.key] = &s;
    }
    for (const CliSetting& s : b.settings) {
      if (last[s.key] != &s || s.unset) continue;
      if (Status st = handlers_.at(s.key)(s); !st.ok()) return st;
    }
    return Status::Ok();
  }
  Status Err(const CliSetting& s, const std::string& what) const {
    return InvalidArgument(file_ + ":" + std::to_string(s.line) + ": option '" + s.key + "' in '" + where_ + "': " + what);
  }

  // Typed helpers.
  Handler Bool(bool* out) {
    return [this, out](const CliSetting& s) -> Status {
      if (s.values.size() != 1) return Err(s, "expects enable or disable");
      if (s.values[0] == "enable") *out = true;
      else if (s.values[0] == "disable") *out = false;
      else return Err(s, "expects enable or disable, not '" + s.values[0] + "'");
      return Status::Ok();
    };
  }
  template <typename T>
  Handler Int(T* out, long long lo, long long hi) {
    return [this, out, lo, hi](const CliSetting& s) -> Status {
      if (s.values.size() != 1) return Err(s, "expects one number");
      long long v = 0;
      if (!ParseInt(s.values[0], &v)) return Err(s, "'" + s.values[0] + "' is not a number");
      if (v < lo || v > hi) return Err(s, "value " + s.values[0] + " is out of range " + std::to_string(lo) + "-" + std::to_string(hi));
      *out = static_cast<T>(v);
      return Status::Ok();
    };
  }
  Handler String(std::string* out) {
    return [this, out](const CliSetting& s) -> Status {
      if (s.values.size() != 1) return Err(s, "expects one value");
      *out = s.values[0];
      return Status::Ok();
    };
  }
  static bool ParseInt(const std::string& t, long long* v) {
    if (t.empty()) return false;
    size_t pos = 0;
    try {
      *v = std::stoll(t, &pos, 10);
    } catch (...) {
      return false;
    }
    return pos == t.size();
  }

 private:
  std::set<std::string> blocks_;
  std::string file_;
  std::string where_;
  std::map<std::string, Handler> handlers_;
};

// "10.0.0.0 255.0.0.0", "10.0.0.0/8", "2001:db8::/32", or a single address.
std::optional<AddrPrefix> ParsePrefix(const std::vector<std::string>& v, size_t at, size_t* used) {
  if (at >= v.size()) return std::nullopt;
  std::string text = v[at];
  int len = -1;
  *used = 1;
  if (auto slash = text.find('/'); slash != std::string::npos) {
    long long l = 0;
    if (!BlockReader::ParseInt(text.substr(slash + 1), &l)) return std::nullopt;
    len = static_cast<int>(l);
    text = text.substr(0, slash);
  }
  std::optional<IpAddr> a = IpAddr::Parse(text);
  if (!a) return std::nullopt;
  if (a->is_v4()) {
    if (len < 0 && at + 1 < v.size()) {
      if (std::optional<IpAddr> mask = IpAddr::Parse(v[at + 1]); mask && mask->is_v4()) {
        uint32_t m = mask->v4();
        len = 0;
        while (m & 0x80000000u) { ++len; m <<= 1; }
        if (m != 0) return std::nullopt;  // not a contiguous netmask
        *used = 2;
      }
    }
    if (len < 0) len = 32;
    if (len > 32) return std::nullopt;
    return AddrPrefix{*a, 96 + len};
  }
  if (len < 0) len = 128;
  if (len > 128) return std::nullopt;
  return AddrPrefix{*a, len};
}

std::optional<PortRange> ParsePortRange(const std::string& s) {
  long long lo = 0, hi = 0;
  auto dash = s.find('-');
  if (dash == std::string::npos) {
    if (!BlockReader::ParseInt(s, &lo)) return std::nullopt;
    hi = lo;
  } else if (!BlockReader::ParseInt(s.substr(0, dash), &lo) || !BlockReader::ParseInt(s.substr(dash + 1), &hi)) {
    return std::nullopt;
  }
  if (lo < 0 || hi > 65535 || lo > hi) return std::nullopt;
  // FortiOS writes "0-0" for "any".
  if (lo == 0 && hi == 0) return PortRange{0, 65535};
  return PortRange{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)};
}

// A port-range option ("80-80", "1024-65535"; "0-0" is any).
BlockReader::Handler PortsHandler(BlockReader& r, PortRange* out) {
  return [&r, out](const CliSetting& s) -> Status {
    std::optional<PortRange> pr = s.values.size() == 1 ? ParsePortRange(s.values[0]) : std::nullopt;
    if (!pr) return r.Err(s, "expects a port range like 80-80");
    *out = *pr;
    return Status::Ok();
  };
}

std::optional<uint8_t> ParseProtocol(const std::string& s) {
  if (s == "any") return 0;
  if (s == "tcp") return kProtoTcp;
  if (s == "udp") return kProtoUdp;
  if (s == "icmp") return kProtoIcmp;
  if (s == "icmpv6") return kProtoIcmp6;
  if (s == "sctp") return kProtoSctp;
  long long v = 0;
  if (BlockReader::ParseInt(s, &v) && v >= 0 && v <= 255) return static_cast<uint8_t>(v);
  return std::nullopt;
}

const CliBlock* FindBlock(const std::vector<CliBlock>& blocks, const std::string& name) {
  for (const CliBlock& b : blocks)
    if (b.name == name) return &b;
  return nullptr;
}

// The setting that decides `key` in `b` (the last one), or nullptr.
const CliSetting* SettingOf(const CliBlock& b, const std::string& key) {
  const CliSetting* found = nullptr;
  for (const CliSetting& s : b.settings)
    if (s.key == key) found = &s;
  return found;
}

// "a.b.c.d:port" with an IPv4 literal and a port 0-65535.
bool SplitHostPort(const std::string& v, std::string* host, int* port) {
  const size_t colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == v.size()) return false;
  long long p = 0;
  if (!BlockReader::ParseInt(v.substr(colon + 1), &p) || p < 0 || p > 65535) return false;
  *host = v.substr(0, colon);
  *port = static_cast<int>(p);
  return true;
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "inproc" || host == "localhost") return true;
  std::optional<IpAddr> a = IpAddr::Parse(host);
  if (!a) return false;
  return a->is_loopback();
}

bool IsIpv4Literal(const std::string& host) {
  std::optional<IpAddr> a = IpAddr::Parse(host);
  return a && a->is_v4();
}

// One TCP endpoint a chassis listens on, for the duplicate check.
struct Listener {
  std::string host;
  int port;
  uint8_t chassis;
  std::string what;  // "m1 (slot 2)", "metrics"...
  int line;
};

struct Loader {
  const std::string& file;
  ClusterConfig cfg;
  std::map<std::string, std::pair<AddrPrefix, bool>> addresses;  // name -> (prefix, is_v6)

  Status Err(int line, const std::string& what) { return InvalidArgument(file + ":" + std::to_string(line) + ": " + what); }
  // Where a slot was named, for the checks against 'set slots' at the end.
  std::map<uint32_t, int> forward_slot_lines;  // flow-rule id -> its forward-slot line
  int master_slot_line = 0;

  // A table holds `edit` entries only: a `set` or `config` beside them would
  // be skipped with all it says.
  Status TableOnly(const CliBlock& b) {
    if (!b.settings.empty()) {
      return Err(b.settings.front().line, "option '" + b.settings.front().key + "' in 'config " + b.name +
                                              "' needs an 'edit <name>' first");
    }
    if (!b.blocks.empty()) {
      return Err(b.blocks.front().line, "unknown block 'config " + b.blocks.front().name + "' in 'config " + b.name + "'");
    }
    return Status::Ok();
  }

  Status Interfaces(const CliBlock& b) {
    if (Status s = TableOnly(b); !s.ok()) return s;
    std::map<std::string, std::string> address_owner;  // an address on two interfaces is an error
    for (const CliBlock& e : b.entries) {
      long long index = 0;
      BlockReader r(file, "config system interface / edit " + e.name);
      InterfaceConfig ic;
      ic.name = e.name;
      ic.line = e.line;
      r.On("index", r.Int(&index, 1, 255));
      r.On("device", [&](const CliSetting& s) -> Status {
        if (s.values.size() != 1 || s.values[0].empty() || s.values[0].size() > 15 ||
            s.values[0].find_first_of("/ \t:") != std::string::npos || s.values[0] == "." || s.values[0] == "..") {
          return r.Err(s, "expects a Linux interface name (at most 15 characters, no '/', ':' or spaces)");
        }
        ic.device = s.values[0];
        return Status::Ok();
      });
      std::string ignored;
      r.On("vdom", r.String(&ignored));
      r.On("alias", r.String(&ignored));
      r.On("type", r.String(&ignored));
      // set ip 10.0.1.1/24 (or 10.0.1.1 255.255.255.0), set ip6 2001:db8::1/64: one or more.
      auto addresses = [&](bool v6) {
        return [&, v6](const CliSetting& s) -> Status {
          if (s.values.empty()) return r.Err(s, "expects one or more addresses with their prefix length");
          for (size_t i = 0; i < s.values.size();) {
            size_t used = 0;
            std::optional<AddrPrefix> p = ParsePrefix(s.values, i, &used);
            if (!p || p->addr.is_v4() == v6) {
              return r.Err(s, "'" + s.values[i] + "' is not a valid " + (v6 ? "IPv6 address/prefix-length" : "IPv4 address/prefix-length (or address and netmask)"));
            }
            const bool has_len = s.values[i].find('/') != std::string::npos || used == 2;
            if (!has_len) {
              return r.Err(s, "'" + s.values[i] + "' needs its prefix length (" + s.values[i] + (v6 ? "/64" : "/24") +
                                  ") or netmask: the kernel routes the subnet by it");
            }
            const IpAddr& a = p->addr;
            if (!v6 && p->length() <= 30) {
              const uint32_t host_bits = (1u << (32 - p->length())) - 1;
              if ((a.v4() & host_bits) == 0 || (a.v4() & host_bits) == host_bits) {
                return r.Err(s, "'" + a.ToString() + "' is the network or broadcast address of its /" +
                                    std::to_string(p->length()));
              }
            }
            const bool unusable = v6 ? (a.hi() == 0 && (a.lo() == 0 || a.lo() == 1)) || (a.hi() >> 56) == 0xff
                                     : a.v4() == 0 || (a.v4() >> 24) == 127 || (a.v4() >> 28) >= 14;
            if (unusable) return r.Err(s, "'" + a.ToString() + "' cannot be a cluster address (unspecified, loopback, multicast or reserved)");
            ic.addresses.push_back(*p);
            i += used;
          }
          return Status::Ok();
        };
      };
      r.On("ip", addresses(false));
      r.On("ip6", addresses(true));
      if (Status s = r.Read(e); !s.ok()) return s;
      auto known = cfg.interfaces.find(e.name);
      if (index == 0 && known != cfg.interfaces.end()) index = known->second;  // port1..port8, mgmt
      if (index == 0) {
        // Like FortiOS, an interface needs no index from the operator: the
        // next free one from 9, in file order (the same on every chassis).
        std::set<uint8_t> used;
        for (const auto& [n, i] : cfg.interfaces) used.insert(i);
        for (int i = 9; i <= 255 && index == 0; ++i) if (!used.count(static_cast<uint8_t>(i))) index = i;
        if (index == 0) return Err(e.line, "interface '" + e.name + "': no free index left (1-255)");
      }
      for (const auto& [n, i] : cfg.interfaces) {
        if (n != e.name && i == index) {
          return Err(e.line, "interface '" + e.name + "' has index " + std::to_string(index) + ", as '" + n + "' does");
        }
      }
      for (const AddrPrefix& p : ic.addresses) {
        const std::string a = p.addr.ToString();
        auto [it, fresh] = address_owner.emplace(a, e.name);
        if (!fresh) {
          const CliSetting* at = nullptr;
          for (const CliSetting& s : e.settings) {
            if (s.key != "ip" && s.key != "ip6") continue;
            for (const std::string& v : s.values) {
              if (v.substr(0, v.find('/')) == a && !at) at = &s;
            }
          }
          if (!at) at = SettingOf(e, p.addr.is_v4() ? "ip" : "ip6");
          return r.Err(*at, a + " is already a cluster address of interface '" + it->second + "'");
        }
      }
      if (ic.device.empty()) ic.device = e.name;
      ic.index = static_cast<uint8_t>(index);
      cfg.interfaces[e.name] = ic.index;
      cfg.interface_config[e.name] = std::move(ic);
    }
    // A Linux device is one interface: two names for it would fight over its addresses.
    std::map<std::string, std::string> device_of;
    for (const auto& [name, ic] : cfg.interface_config) {
      auto [it, fresh] = device_of.emplace(ic.device, name);
      if (!fresh) return Err(ic.line, "interfaces '" + it->second + "' and '" + name + "' are both device '" + ic.device + "'");
    }
    return Status::Ok();
  }

  Status LinkMonitors(const CliBlock& b) {
    if (Status s = TableOnly(b); !s.ok()) return s;
    for (const CliBlock& e : b.entries) {
      BlockReader r(file, "config system link-monitor / edit " + e.name);
      LinkMonitorConfig m;
      m.name = e.name;
      m.line = e.line;
      r.On("srcintf", [&](const CliSetting& s) -> Status {
        if (s.values.size() != 1) return r.Err(s, "expects one interface");
        if (!cfg.interfaces.count(s.values[0])) return r.Err(s, "unknown interface '" + s.values[0] + "'");
        m.srcintf = s.values[0];
        return Status::Ok();
      });
      r.On("server", [&](const CliSetting& s) -> Status {
        if (s.values.empty()) return r.Err(s, "expects one or more IPv4 addresses");
        for (const std::string& v : s.values) {
          std::optional<IpAddr> a = IpAddr::Parse(v);
          if (!a || !a->is_v4() || a->v4() == 0 || (a->v4() >> 28) >= 14) {
            return r.Err(s, "'" + v + "' is not an IPv4 unicast address (ping monitors IPv4 servers)");
          }
          m.servers.push_back(*a);
        }
        return Status::Ok();
      });
      r.On("protocol", [&](const CliSetting& s) -> Status {
        if (s.values.size() != 1 || s.values[0] != "ping") return r.Err(s, "only 'ping' is supported");
        return Status::Ok();
      });
      r.On("interval", r.Int(&m.interval_ms, 20, 3600 * 1000));
      r.On("failtime", r.Int(&m.failtime, 1, 3600));
      r.On("recoverytime", r.Int(&m.recoverytime, 1, 3600));
      r.On("ha-priority", r.Int(&m.ha_priority, 1, 50));
      std::string ignored;
      r.On("status", r.String(&ignored));
      r.On("update-cascade-interface", r.String(&ignored));
      r.On("update-static-route", r.String(&ignored));
      r.On("update-policy-route", r.String(&ignored));
      if (Status s = r.Read(e); !s.ok()) return s;
      if (m.srcintf.empty()) return Err(e.line, "link monitor '" + e.name + "' needs 'set srcintf <interface>'");
      if (m.servers.empty()) return Err(e.line, "link monitor '" + e.name + "' needs 'set server <address>'");
      cfg.link_monitors.push_back(std::move(m));
    }
    return Status::Ok();
  }

  Status Addresses(const CliBlock& b, bool v6) {
    if (Status s = TableOnly(b); !s.ok()) return s;
    for (const CliBlock& e : b.entries) {
      BlockReader r(file, std::string(v6 ? "config firewall address6" : "config firewall address") + " / edit " + e.name);
      std::optional<AddrPrefix> p;
      auto h = [&](const CliSetting& s) -> Status {
        size_t used = 0;
        p = ParsePrefix(s.values, 0, &used);
        if (!p || used != s.values.size() || p->addr.is_v4() == v6) return r.Err(s, "not a valid " + std::string(v6 ? "IPv6" : "IPv4") + " prefix");
        return Status::Ok();
      };
      r.On(v6 ? "ip6" : "subnet", h);
      std::string ignored;
      r.On("comment", r.String(&ignored));
      if (Status s = r.Read(e); !s.ok()) return s;
      if (!p) return Err(e.line, "address '" + e.name + "' needs '" + (v6 ? "set ip6" : "set subnet") + "'");
      addresses[e.name] = {*p, v6};
    }
    return Status::Ok();
  }

  Result<uint8_t> InterfaceIndex(BlockReader& r, const CliSetting& s, const std::string& name) {
    auto it = cfg.interfaces.find(name);
    if (it == cfg.interfaces.end()) return r.Err(s, "unknown interface '" + name + "'");
    return it->second;
  }

  // An option naming interfaces: their indexes go to `out`.
  BlockReader::Handler InterfacesHandler(BlockReader& r, std::vector<uint8_t>* out) {
    return [this, &r, out](const CliSetting& s) -> Status {
      for (const std::string& n : s.values) {
        Result<uint8_t> i = InterfaceIndex(r, s, n);
        if (!i.ok()) return i.status();
        out->push_back(i.value());
      }
      return Status::Ok();
    };
  }

  // An option naming interfaces: their names go to `out`, the option's line to `line`.
  BlockReader::Handler InterfaceNamesHandler(BlockReader& r, std::vector<std::string>* out, int* line) {
    return [this, &r, out, line](const CliSetting& s) -> Status {
      *line = s.line;
      for (const std::string& n : s.values) {
        if (!cfg.interfaces.count(n)) return r.Err(s, "unknown interface '" + n + "'");
        out->push_back(n);
      }
      return Status::Ok();
    };
  }

  // Literal prefixes or names of address objects.
  Status AddrList(BlockReader& r, const CliSetting& s, bool v6, std::vector<AddrPrefix>* out) {
    for (size_t i = 0; i < s.values.size();) {
      size_t used = 0;
      if (std::optional<AddrPrefix> p = ParsePrefix(s.values, i, &used)) {
        if (p->addr.is_v4() == v6) return r.Err(s, std::string("expects ") + (v6 ? "IPv6" : "IPv4") + " addresses");
        out->push_back(*p);
        i += used;
        continue;
      }
      auto it = addresses.find(s.values[i]);
      if (it == addresses.end()) return r.Err(s, "unknown address object '" + s.values[i] + "'");
      if (it->second.second != v6) return r.Err(s, "address object '" + s.values[i] + "' is of the wrong family");
      out->push_back(it->second.first);
      ++i;
    }
    return Status::Ok();
  }

  Status ReadSyncFilter(const CliBlock& b) {
    bladesync::SyncFilter& f = cfg.pickup.filter;
    BlockReader r(file, "config session-sync-filter");
    r.AllowBlocks({"custom-service"});
    r.On("srcintf", InterfacesHandler(r, &f.srcintf));
    r.On("dstintf", InterfacesHandler(r, &f.dstintf));
    r.On("srcaddr", [&](const CliSetting& s) { return AddrList(r, s, false, &f.srcaddr); });
    r.On("dstaddr", [&](const CliSetting& s) { return AddrList(r, s, false, &f.dstaddr); });
    r.On("srcaddr6", [&](const CliSetting& s) { return AddrList(r, s, true, &f.srcaddr6); });
    r.On("dstaddr6", [&](const CliSetting& s) { return AddrList(r, s, true, &f.dstaddr6); });
    if (Status s = r.Read(b); !s.ok()) return s;
    for (const CliBlock& sub : b.blocks) {
      if (sub.name != "custom-service") return Err(sub.line, "unknown block 'config " + sub.name + "' in 'config session-sync-filter'");
      if (Status s = TableOnly(sub); !s.ok()) return s;
      for (const CliBlock& e : sub.entries) {
        CustomService cs;
        BlockReader cr(file, "config custom-service / edit " + e.name);
        cr.On("src-port-range", PortsHandler(cr, &cs.src));
        cr.On("dst-port-range", PortsHandler(cr, &cs.dst));
        if (Status s = cr.Read(e); !s.ok()) return s;
        f.custom_service.push_back(cs);
      }
    }
    return Status::Ok();
  }

  // No two listeners of the cluster share an address and port, and no two
  // chassis share a control socket: the second would fail to start, or
  // worse, two chassis would answer as one.
  const std::string& FindM1(uint8_t id) const {
    for (const ChassisConfig& c : cfg.chassis)
      if (c.id == id) return c.m1;
    return cfg.chassis.front().m1;
  }

  Status DistinctEndpoints(const CliBlock& table) {
    auto line_of = [&](uint8_t id, const std::string& key) {
      for (const CliBlock& e : table.entries) {
        if (e.name != std::to_string(id)) continue;
        const CliSetting* s = SettingOf(e, key);
        return s ? s->line : e.line;
      }
      return table.line;
    };
    std::vector<Listener> all;
    for (const ChassisConfig& c : cfg.chassis) {
      for (int slot = 0; slot <= cfg.worker_slot_count(); ++slot) {
        const std::string node =
            slot == 0 ? " (manager)" : " (" + cfg.worker_slots().Name(static_cast<uint8_t>(slot)) + ")";
        all.push_back({c.m1, c.sync_port + slot, c.id, "m1" + node, line_of(c.id, "m1")});
        all.push_back({c.m2, c.sync_port + slot, c.id, "m2" + node, line_of(c.id, "m2")});
        if (c.backplane != "inproc") {
          all.push_back({c.backplane, c.sync_port + 100 + slot, c.id, "backplane" + node, line_of(c.id, "backplane")});
        }
      }
      for (const char* key : {"metrics", "check"}) {
        const std::string& v = std::string(key) == "metrics" ? c.metrics : c.check;
        std::string host;
        int port = 0;
        if (!v.empty() && SplitHostPort(v, &host, &port) && port != 0) all.push_back({host, port, c.id, key, line_of(c.id, key)});
      }
    }
    for (size_t i = 0; i < all.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        const Listener& a = all[j];
        const Listener& b = all[i];
        if (a.port != b.port || (a.host != b.host && a.host != "0.0.0.0" && b.host != "0.0.0.0")) continue;
        // A loopback address is each machine's own: chassis on machines of
        // their own (their M1 beyond loopback) may all use 127.0.0.1.
        const bool local = IsLoopbackHost(a.host) || IsLoopbackHost(b.host);
        if (local && a.chassis != b.chassis && (!IsLoopbackHost(FindM1(a.chassis)) || !IsLoopbackHost(FindM1(b.chassis)))) continue;
        return Err(b.line, "chassis " + std::to_string(b.chassis) + " " + b.what + " listens on " + b.host + ":" +
                               std::to_string(b.port) + ", which chassis " + std::to_string(a.chassis) + " " + a.what +
                               " (line " + std::to_string(a.line) + ") already uses: give each chassis its own " +
                               "addresses or sync-port");
      }
    }
    for (size_t i = 0; i < cfg.chassis.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (cfg.chassis[i].control == cfg.chassis[j].control) {
          return Err(line_of(cfg.chassis[i].id, "control"),
                     "chassis " + std::to_string(cfg.chassis[i].id) + " control socket " + cfg.chassis[i].control +
                         " is chassis " + std::to_string(cfg.chassis[j].id) + "'s too: each chassis needs its own");
        }
      }
    }
    return Status::Ok();
  }

  Status Chassis(const CliBlock& b) {
    std::set<int> seen;
    if (Status s = TableOnly(b); !s.ok()) return s;
    for (const CliBlock& e : b.entries) {
      long long id = 0;
      if (!BlockReader::ParseInt(e.name, &id) || id < 1 || id > 4) return Err(e.line, "chassis id '" + e.name + "' must be 1 to 4");
      if (!seen.insert(static_cast<int>(id)).second) return Err(e.line, "chassis " + e.name + " is defined twice");
      ChassisConfig c;
      c.id = static_cast<uint8_t>(id);
      c.line = e.line;
      c.priority = default_priority;
      BlockReader r(file, "config chassis / edit " + e.name);
      r.On("priority", r.Int(&c.priority, 0, 255));
      r.On("serial", r.String(&c.serial));
      r.On("m1", r.String(&c.m1));
      r.On("m2", r.String(&c.m2));
      r.On("backplane", r.String(&c.backplane));
      r.On("sync-port", r.Int(&c.sync_port, 1024, 65000));
      r.On("control", r.String(&c.control));
      r.On("metrics", r.String(&c.metrics));
      r.On("check", r.String(&c.check));
      r.On("public-key", r.String(&c.public_key));
      r.On("private-key", r.String(&c.private_key));
      r.On("private-key-file", r.String(&c.private_key_file));
      r.On("traffic-address", [&](const CliSetting& s) -> Status {
        if (cfg.mode != HaMode::kActiveActive) {
          return r.Err(s, "is for 'set mode a-a'; in a-p the primary holds 'set ip' of config system interface");
        }
        if (s.values.size() < 2) return r.Err(s, "expects <interface> <address/prefix-length>, one or more");
        for (size_t i = 0; i < s.values.size();) {
          const std::string& intf = s.values[i];
          if (!cfg.interfaces.count(intf)) return r.Err(s, "unknown interface '" + intf + "'");
          size_t used = 0;
          std::optional<AddrPrefix> p = ParsePrefix(s.values, i + 1, &used);
          if (!p) return r.Err(s, "'" + (i + 1 < s.values.size() ? s.values[i + 1] : std::string()) +
                                      "' after '" + intf + "' is not an address/prefix-length");
          c.traffic_addresses.emplace_back(intf, *p);
          i += 1 + used;
        }
        return Status::Ok();
      });
      if (Status s = r.Read(e); !s.ok()) return s;
      for (const auto& [intf, p] : c.traffic_addresses) {
        for (const auto& [name, ic] : cfg.interface_config) {
          for (const AddrPrefix& q : ic.addresses) {
            if (q.addr == p.addr) return r.Err(*SettingOf(e, "traffic-address"), p.addr.ToString() + " is also a cluster address of '" + name + "'");
          }
        }
        for (const ChassisConfig& other : cfg.chassis) {
          for (const auto& [oi, q] : other.traffic_addresses) {
            if (q.addr == p.addr) {
              return r.Err(*SettingOf(e, "traffic-address"), p.addr.ToString() + " is chassis " + std::to_string(other.id) + "'s too");
            }
          }
        }
      }
      if (c.m1.empty() || c.m2.empty()) return Err(e.line, "chassis " + e.name + " needs 'set m1' and 'set m2' addresses");
      // Addresses are checked here, not when a socket fails to bind at start.
      for (const char* key : {"m1", "m2", "backplane"}) {
        const CliSetting* s = SettingOf(e, key);
        if (!s || s->unset) continue;
        const std::string& v = s->values[0];
        if (std::string(key) == "backplane" && v == "inproc") continue;
        if (!IsIpv4Literal(v)) {
          return r.Err(*s, "'" + v + "' is not an IPv4 address" +
                               (std::string(key) == "backplane" ? std::string(" (or inproc)") : std::string()) +
                               (IpAddr::Parse(v) ? ": IPv6 sync links are not supported yet" : ""));
        }
      }
      // A key is its 40 characters and a file is private-key-file: no value
      // can be read as either (Z85 keys may begin with '@').
      if (const CliSetting* s = SettingOf(e, "private-key"); s && !s->unset && c.private_key.size() != 40) {
        return r.Err(*s, "expects the key itself (40 Z85 characters); to read it from a file: set private-key-file " +
                             std::string(c.private_key.rfind("@", 0) == 0 ? c.private_key.substr(1) : "/etc/bladesync/chassis" + e.name + ".key"));
      }
      if (const CliSetting* s = SettingOf(e, "private-key-file"); s && !s->unset) {
        if (!c.private_key.empty()) return r.Err(*s, "and 'set private-key' are two ways to give one key: keep one");
        if (c.private_key_file.empty() || c.private_key_file[0] != '/') return r.Err(*s, "expects an absolute path");
      }
      for (const char* key : {"metrics", "check"}) {
        const CliSetting* s = SettingOf(e, key);
        if (!s || s->unset) continue;
        std::string host;
        int port = 0;
        if (!SplitHostPort(s->values[0], &host, &port) || !IsIpv4Literal(host)) {
          return r.Err(*s, "'" + s->values[0] + "' is not IPv4-address:port (port 0 to 65535)");
        }
      }
      if (c.serial.empty()) c.serial = "BSYNC-CH" + e.name;
      if (c.control.empty()) c.control = "/run/bladesync/chassis" + e.name + ".sock";
      if (c.control[0] != '/') {
        for (const CliSetting& s : e.settings) {
          if (s.key == "control") {
            return r.Err(s, "expects the path of a Unix socket (e.g. /run/bladesync/chassis" + e.name +
                                ".sock); the control socket is not offered on TCP: use ssh to reach it");
          }
        }
      }
      if (c.backplane.empty()) c.backplane = "inproc";
      cfg.chassis.push_back(c);
    }
    return Status::Ok();
  }

  uint8_t default_priority = 128;

  Status Ha(const CliBlock& b) {
    BlockReader r(file, "config system ha");
    r.AllowBlocks({"session-sync-filter", "chassis"});
    cfg.ha_line = b.line;
    PickupOptions& p = cfg.pickup;
    r.On("group-id", r.Int(&cfg.group_id, 0, 1023));
    r.On("group-name", r.String(&cfg.group_name));
    r.On("mode", [&](const CliSetting& s) -> Status {
      if (s.values.size() == 1 && s.values[0] == "a-p") cfg.mode = HaMode::kActivePassive;
      else if (s.values.size() == 1 && s.values[0] == "a-a") cfg.mode = HaMode::kActiveActive;
      else return r.Err(s, "expects a-p or a-a");
      return Status::Ok();
    });
    r.On("hb-interval", r.Int(&cfg.hb_interval, 1, 20));
    // FortiOS 7: the unit hb-interval counts in (10ms: 1..20 is 10-200 ms).
    r.On("hb-interval-in-milliseconds", [&](const CliSetting& s) -> Status {
      if (s.values.size() == 1 && s.values[0] == "100ms") cfg.hb_unit_ms = 100;
      else if (s.values.size() == 1 && s.values[0] == "10ms") cfg.hb_unit_ms = 10;
      else return r.Err(s, "expects 100ms or 10ms");
      return Status::Ok();
    });
    r.On("hb-lost-threshold", r.Int(&cfg.hb_lost_threshold, 1, 60));
    r.On("override", r.Bool(&cfg.override_));
    r.On("priority", r.Int(&default_priority, 0, 255));
    r.On("monitor", InterfaceNamesHandler(r, &cfg.monitor, &cfg.monitor_line));
    r.On("session-pickup", r.Bool(&p.session_pickup));
    r.On("session-pickup-connectionless", r.Bool(&p.connectionless));
    r.On("session-pickup-delay", r.Bool(&p.delay));
    r.On("session-pickup-delay-time", r.Int(&p.delay_s, 1, 3600));
    r.On("session-pickup-defer", r.Bool(&p.defer));
    r.On("session-pickup-defer-timeout", r.Int(&p.defer_timeout_ms, 1, 1000));
    r.On("session-pickup-expectation", r.Bool(&p.expectation));
    r.On("session-pickup-nat", r.Bool(&p.nat));
    r.On("multicast-ttl", r.Int(&p.multicast_ttl, 5, 3600));
    r.On("update-all-session-timer", r.Bool(&p.update_all_session_timer));
    r.On("slots", r.Int(&cfg.slots, 1, 16));
    r.On("blade-workers", [&](const CliSetting& st) -> Status {
      cfg.blade_workers_line = st.line;
      return r.Int(&cfg.blade_workers, 1, 16)(st);
    });
    r.On("curve", r.Bool(&cfg.curve));
    r.On("password", r.String(&cfg.password));
    r.On("authentication", r.Bool(&cfg.authentication));
    r.On("hello-holddown", r.Int(&cfg.hello_holddown_s, 1, 300));
    r.On("ha-uptime-diff-margin", r.Int(&cfg.ha_uptime_diff_margin_s, 1, 65535));
    r.On("blade-hb-lost-threshold", r.Int(&cfg.blade_hb_lost_threshold, 1, 60));
    r.On("sync-resend-queue", r.Int(&cfg.change_log_capacity, 1024, 1 << 26));
    r.On("sync-max-batch", r.Int(&cfg.max_batch, 1, 16384));
    r.On("max-sessions", r.Int(&cfg.max_sessions, 1024, 1 << 28));
    r.On("session-table-reserve", r.Int(&cfg.table_reserve, 0, 1 << 28));
    r.On("bulk-sync-timeout", r.Int(&cfg.bulk_sync_timeout_s, 1, 3600));
    r.On("bulk-sync-retries", r.Int(&cfg.bulk_sync_retries, 0, 100));
    r.On("notify-script", [&](const CliSetting& s) -> Status {
      if (s.values.size() != 1 || s.values[0].empty() || s.values[0][0] != '/') {
        return r.Err(s, "expects the script's absolute path");
      }
      cfg.notify_script = s.values[0];
      cfg.notify_script_line = s.line;
      return Status::Ok();
    });
    r.On("notify-script-timeout", r.Int(&cfg.notify_script_timeout_s, 1, 300));
    r.On("virtual-mac", r.Bool(&cfg.virtual_mac));
    r.On("gratuitous-arps", r.Bool(&cfg.gratuitous_arps));
    r.On("arps", r.Int(&cfg.arps, 1, 60));
    r.On("arps-interval", r.Int(&cfg.arps_interval_s, 1, 20));
    r.On("link-failed-signal", r.Bool(&cfg.link_failed_signal));
    r.On("pingserver-monitor-interface", InterfaceNamesHandler(r, &cfg.pingserver_monitor_interface, &cfg.pingserver_line));
    r.On("pingserver-failover-threshold", r.Int(&cfg.pingserver_failover_threshold, 0, 50));
    r.On("pingserver-flip-timeout", r.Int(&cfg.pingserver_flip_timeout_min, 6, 2147483647));
    if (Status s = r.Read(b); !s.ok()) return s;
    // Cross-field checks, reported at the line that breaks them.
    for (const CliSetting& s : b.settings) {
      if (s.unset) continue;
      if (s.key == "session-pickup-connectionless" && p.connectionless && !p.session_pickup) {
        return r.Err(s, "requires 'set session-pickup enable'");
      }
      if ((s.key == "session-pickup-delay" || s.key == "session-pickup-expectation" || s.key == "session-pickup-nat" ||
           s.key == "session-pickup-defer") &&
          s.values[0] == "enable" && !p.session_pickup) {
        return r.Err(s, "requires 'set session-pickup enable'");
      }
      // Only active-active sends a reply through another chassis.
      if (s.key == "session-pickup-defer" && p.defer && cfg.mode != HaMode::kActiveActive) {
        return r.Err(s, "requires 'set mode a-a' (in active-passive every packet goes through the primary)");
      }
      if (s.key == "password" && cfg.password.rfind("REPLACE-WITH", 0) == 0) {
        return r.Err(s, "is the example's placeholder: choose a secret of your own");
      }
      if (s.key == "password" && cfg.curve) {
        return r.Err(s, "and 'set curve enable' are two ways to key the fabric: keep one");
      }
      if ((s.key == "password" || s.key == "curve") && !cfg.authentication && (cfg.curve || !cfg.password.empty())) {
        return r.Err(s, "contradicts 'set authentication disable'");
      }
      if (s.key == "session-table-reserve" && cfg.table_reserve > cfg.max_sessions) {
        return r.Err(s, "exceeds max-sessions (" + std::to_string(cfg.max_sessions) + ")");
      }
    }
    const CliBlock* chassis = nullptr;
    for (const CliBlock& sub : b.blocks) {
      if (sub.name == "session-sync-filter") {
        if (Status s = ReadSyncFilter(sub); !s.ok()) return s;
      } else if (sub.name == "chassis") {
        chassis = &sub;
      } else {
        return Err(sub.line, "unknown block 'config " + sub.name + "' in 'config system ha'");
      }
    }
    if (chassis) {
      if (Status s = Chassis(*chassis); !s.ok()) return s;
      if (Status s = DistinctEndpoints(*chassis); !s.ok()) return s;
    }
    p.mode = cfg.mode;
    return Status::Ok();
  }

  Status SessionTtl(const CliBlock& b) {
    BlockReader r(file, "config system session-ttl");
    r.On("default", r.Int(&cfg.timers.session_ttl_s, 1, 604800));
    return r.Read(b);
  }

  Status Global(const CliBlock& b) {
    BlockReader r(file, "config system global");
    r.On("tcp-halfclose-timer", r.Int(&cfg.timers.tcp_halfclose_s, 1, 86400));
    r.On("tcp-halfopen-timer", r.Int(&cfg.timers.tcp_halfopen_s, 1, 86400));
    r.On("tcp-timewait-timer", r.Int(&cfg.timers.tcp_timewait_s, 0, 300));
    r.On("udp-idle-timer", r.Int(&cfg.timers.udp_idle_s, 1, 86400));
    r.On("icmp-idle-timer", r.Int(&cfg.timers.icmp_idle_s, 1, 86400));
    std::string ignored;
    r.On("hostname", r.String(&ignored));
    return r.Read(b);
  }

  Status LoadBalanceSetting(const CliBlock& b) {
    BlockReader r(file, "config load-balance setting");
    auto method = [&](DistributionMethod* out, bool icmp) {
      return [&, out, icmp](const CliSetting& s) -> Status {
        std::optional<DistributionMethod> m = s.values.size() == 1 ? ParseDistributionMethod(s.values[0]) : std::nullopt;
        if (!m || (*m == DistributionMethod::kDerived && !icmp) ||
            (icmp && (*m == DistributionMethod::kSrcIpSport || *m == DistributionMethod::kDstIpDport ||
                      *m == DistributionMethod::kSrcDstIpSportDport))) {
          return r.Err(s, icmp ? "expects to-master, src-ip, dst-ip, src-dst-ip or derived"
                               : "expects to-master, src-ip, dst-ip, src-dst-ip, src-ip-sport, dst-ip-dport or src-dst-ip-sport-dport");
        }
        *out = *m;
        return Status::Ok();
      };
    };
    r.On("dp-load-distribution-method", method(&cfg.distribution.method, false));
    r.On("dp-icmp-distribution-method", method(&cfg.distribution.icmp_method, true));
    r.On("master-slot", [&, set = r.Int(&cfg.distribution.master_slot, 1, 16)](const CliSetting& s) -> Status {
      master_slot_line = s.line;
      return set(s);
    });
    return r.Read(b);
  }

  Status FlowRules(const CliBlock& b) {
    if (Status s = TableOnly(b); !s.ok()) return s;
    for (const CliBlock& e : b.entries) {
      FlowRule fr;
      long long id = 0;
      if (!BlockReader::ParseInt(e.name, &id) || id < 1) return Err(e.line, "flow-rule id '" + e.name + "' must be a positive number");
      fr.id = static_cast<uint32_t>(id);
      BlockReader r(file, "config load-balance flow-rule / edit " + e.name);
      r.On("status", r.Bool(&fr.enabled));
      r.On("priority", r.Int(&fr.priority, 1, 100));
      r.On("src-interface", InterfacesHandler(r, &fr.src_interface));
      r.On("protocol", [&](const CliSetting& s) -> Status {
        std::optional<uint8_t> p = s.values.size() == 1 ? ParseProtocol(s.values[0]) : std::nullopt;
        if (!p) return r.Err(s, "expects any, tcp, udp, icmp, icmpv6, sctp or a number");
        fr.protocol = *p;
        return Status::Ok();
      });
      auto addr = [&](std::optional<AddrPrefix>* out, bool v6) {
        return [&, out, v6](const CliSetting& s) -> Status {
          size_t used = 0;
          std::optional<AddrPrefix> p = ParsePrefix(s.values, 0, &used);
          if (!p || used != s.values.size() || p->addr.is_v4() == v6) return r.Err(s, "not a valid prefix");
          *out = p;
          return Status::Ok();
        };
      };
      r.On("src-addr-ipv4", addr(&fr.src_addr, false));
      r.On("dst-addr-ipv4", addr(&fr.dst_addr, false));
      r.On("src-addr-ipv6", addr(&fr.src_addr, true));
      r.On("dst-addr-ipv6", addr(&fr.dst_addr, true));
      r.On("src-l4port", PortsHandler(r, &fr.src_port));
      r.On("dst-l4port", PortsHandler(r, &fr.dst_port));
      r.On("action", [&](const CliSetting& s) -> Status {
        if (s.values.size() == 1 && s.values[0] == "forward") fr.action = FlowRule::Action::kForward;
        else if (s.values.size() == 1 && s.values[0] == "drop") fr.action = FlowRule::Action::kDrop;
        else return r.Err(s, "expects forward or drop");
        return Status::Ok();
      });
      r.On("forward-slot", [&](const CliSetting& s) -> Status {
        const std::string v = s.values.size() == 1 ? s.values[0] : "";
        long long n = 0;
        if (v == "master") fr.target = FlowRule::Target::kMaster;
        else if (v == "load-balance") fr.target = FlowRule::Target::kLoadBalance;
        else if ((v.rfind("FPC", 0) == 0 && BlockReader::ParseInt(v.substr(3), &n)) || BlockReader::ParseInt(v, &n)) {
          if (n < 1 || n > 16) return r.Err(s, "slot out of range 1-16");
          forward_slot_lines[fr.id] = s.line;
          fr.target = FlowRule::Target::kSlot;
          fr.slot = static_cast<uint8_t>(n);
        } else {
          return r.Err(s, "expects master, load-balance or a slot (FPC<n>)");
        }
        return Status::Ok();
      });
      std::string ignored;
      r.On("comment", r.String(&ignored));
      if (Status s = r.Read(e); !s.ok()) return s;
      cfg.distribution.flow_rules.push_back(fr);
    }
    return Status::Ok();
  }

  Status Traffic(const CliBlock& b) {
    BlockReader r(file, "config traffic-generator");
    TrafficOptions& t = cfg.traffic;
    r.On("rate", r.Int(&t.rate, 0, 10'000'000));
    r.On("concurrency", r.Int(&t.concurrency, 1, 50'000'000));
    r.On("duration", r.Int(&t.duration_s, 0, 86400));
    r.On("tcp-percent", r.Int(&t.tcp_percent, 0, 100));
    r.On("udp-percent", r.Int(&t.udp_percent, 0, 100));
    r.On("ipv6-percent", r.Int(&t.ipv6_percent, 0, 100));
    r.On("lifetime", r.Int(&t.mean_lifetime_ms, 0, 86'400'000));
    r.On("packet-interval", r.Int(&t.packet_interval_ms, 1, 60'000));
    r.On("idle-percent", r.Int(&t.idle_percent, 0, 100));
    r.On("rst-percent", r.Int(&t.rst_percent, 0, 100));
    r.On("nat-percent", r.Int(&t.nat_percent, 0, 100));
    r.On("flow-inspected-percent", r.Int(&t.flow_inspected_percent, 0, 100));
    r.On("proxy-inspected-percent", r.Int(&t.proxy_inspected_percent, 0, 100));
    r.On("local-percent", r.Int(&t.local_percent, 0, 100));
    r.On("sip-percent", r.Int(&t.sip_percent, 0, 100));
    r.On("gtp-percent", r.Int(&t.gtp_percent, 0, 100));
    r.On("seed", r.Int(&t.seed, 0, (1LL << 62)));
    if (Status s = r.Read(b); !s.ok()) return s;
    if (t.tcp_percent + t.udp_percent > 100) return Err(b.line, "tcp-percent + udp-percent is over 100 in 'config traffic-generator'");
    return Status::Ok();
  }

  Status Conntrack(const CliBlock& b) {
    BlockReader r(file, "config system conntrack");
    ConntrackOptions& c = cfg.conntrack;
    long long buf = static_cast<long long>(c.event_buffer), buf_max = static_cast<long long>(c.event_buffer_max);
    r.On("status", r.Bool(&c.enabled));
    r.On("event-buffer-size", r.Int(&buf, 65536, 1LL << 31));
    r.On("event-buffer-size-max", r.Int(&buf_max, 65536, 1LL << 31));
    r.On("resync-interval", r.Int(&c.resync_interval_s, 0, 86400));
    r.On("tcp-window-tracking", r.Bool(&c.tcp_window_tracking));
    r.On("install-batch", r.Int(&c.install_chunk, 1, 10'000'000));
    r.On("standby-in-kernel", r.Bool(&c.standby_in_kernel));
    r.On("standby-mark", [&](const CliSetting& s) -> Status {
      unsigned long long v = 0;
      size_t pos = 0;
      try {
        v = std::stoull(s.values.size() == 1 ? s.values[0] : std::string(), &pos, 0);
      } catch (...) {
        pos = 0;
      }
      if (s.values.size() != 1 || pos != s.values[0].size() || v > 0xffffffffull) {
        return r.Err(s, "expects a 32-bit mark (e.g. 0x80000000)");
      }
      c.standby_mark = static_cast<uint32_t>(v);
      return Status::Ok();
    });
    r.On("ignore-address", [&](const CliSetting& s) {
      for (size_t i = 0; i < s.values.size();) {
        size_t used = 0;
        std::optional<AddrPrefix> p = ParsePrefix(s.values, i, &used);
        if (!p) return r.Err(s, "'" + s.values[i] + "' is not an address or prefix");
        c.ignore.push_back(*p);
        i += used;
      }
      return Status::Ok();
    });
    if (Status s = r.Read(b); !s.ok()) return s;
    if (buf_max < buf) return Err(b.line, "event-buffer-size-max is below event-buffer-size in 'config system conntrack'");
    c.event_buffer = static_cast<size_t>(buf);
    c.event_buffer_max = static_cast<size_t>(buf_max);
    return Status::Ok();
  }
};

}  // namespace

Result<ClusterConfig> LoadClusterConfig(const std::string& text, const std::string& file) {
  Result<CliBlock> tree = ParseCli(text, file);
  if (!tree.ok()) return tree.status();
  Loader L{file, {}, {}};
  L.cfg.source = file;
  for (int i = 1; i <= 8; ++i) L.cfg.interfaces["port" + std::to_string(i)] = static_cast<uint8_t>(i);
  L.cfg.interfaces["mgmt"] = 100;
  const std::vector<CliBlock>& top = tree.value().blocks;
  std::set<std::string> known = {"system interface", "firewall address", "firewall address6", "system ha",
                                 "system session-ttl", "system global", "load-balance setting",
                                 "load-balance flow-rule", "traffic-generator", "system conntrack",
                                 "system link-monitor"};
  for (const CliBlock& b : top) {
    if (!known.count(b.name)) return L.Err(b.line, "unknown block 'config " + b.name + "'");
  }
  // Order matters: names (interfaces, addresses) before what refers to them.
  if (const CliBlock* b = FindBlock(top, "system interface")) if (Status s = L.Interfaces(*b); !s.ok()) return s;
  if (const CliBlock* b = FindBlock(top, "system link-monitor")) if (Status s = L.LinkMonitors(*b); !s.ok()) return s;
  if (const CliBlock* b = FindBlock(top, "firewall address")) if (Status s = L.Addresses(*b, false); !s.ok()) return s;
  if (const CliBlock* b = FindBlock(top, "firewall address6")) if (Status s = L.Addresses(*b, true); !s.ok()) return s;
  if (const CliBlock* b = FindBlock(top, "system session-ttl")) if (Status s = L.SessionTtl(*b); !s.ok()) return s;
  if (const CliBlock* b = FindBlock(top, "system global")) if (Status s = L.Global(*b); !s.ok()) return s;
  if (const CliBlock* b = FindBlock(top, "load-balance setting")) if (Status s = L.LoadBalanceSetting(*b); !s.ok()) return s;
  if (const CliBlock* b = FindBlock(top, "load-balance flow-rule")) if (Status s = L.FlowRules(*b); !s.ok()) return s;
  if (const CliBlock* b = FindBlock(top, "traffic-generator")) if (Status s = L.Traffic(*b); !s.ok()) return s;
  if (const CliBlock* b = FindBlock(top, "system conntrack")) if (Status s = L.Conntrack(*b); !s.ok()) return s;
  const CliBlock* ha = FindBlock(top, "system ha");
  if (!ha) return InvalidArgument(file + ": no 'config system ha' block");
  if (Status s = L.Ha(*ha); !s.ok()) return s;
  ClusterConfig& c = L.cfg;
  // A cluster or traffic address that is also a chassis's own M1, M2,
  // backplane or check address would be taken from it when released.
  for (const ChassisConfig& ch : c.chassis) {
    for (const std::string& own : {ch.m1, ch.m2, ch.backplane, ch.check.substr(0, ch.check.rfind(':'))}) {
      std::optional<IpAddr> ip = IpAddr::Parse(own);
      if (!ip) continue;
      for (const auto& [name, ic] : c.interface_config) {
        for (const AddrPrefix& p : ic.addresses) {
          if (p.addr == *ip) {
            return L.Err(ic.line, "interface '" + name + "': cluster address " + own + " is chassis " +
                                      std::to_string(ch.id) + "'s own M1/M2/backplane/check address");
          }
        }
      }
      for (const ChassisConfig& other : c.chassis) {
        for (const auto& [intf, p] : other.traffic_addresses) {
          if (p.addr == *ip) {
            return L.Err(other.line, "chassis " + std::to_string(other.id) + ": traffic-address " + own + " is chassis " +
                                         std::to_string(ch.id) + "'s own M1/M2/backplane/check address");
          }
        }
      }
    }
  }
  // One chassis is a cluster of one (standalone): the packaged default, and
  // where a cluster starts before its peers are added.
  if (c.chassis.empty()) return L.Err(ha->line, "'config system ha' needs 'config chassis' with 1 to 4 chassis");
  for (const FlowRule& fr : c.distribution.flow_rules) {
    if (fr.target == FlowRule::Target::kSlot && fr.slot > c.slots) {
      return L.Err(L.forward_slot_lines[fr.id], "option 'forward-slot' in 'config load-balance flow-rule / edit " +
                                                    std::to_string(fr.id) + "': slot " + std::to_string(fr.slot) +
                                                    " is beyond 'set slots' (" + std::to_string(c.slots) +
                                                    "): its flows would never have their own slot");
    }
  }
  if (c.worker_slot_count() > kMaxWorkerSlots) {
    return L.Err(c.blade_workers_line, "option 'blade-workers' in 'config system ha': " + std::to_string(c.slots) +
                                           " slots x " + std::to_string(c.blade_workers) + " workers is more than " +
                                           std::to_string(kMaxWorkerSlots) + " workers per chassis");
  }
  if (c.blade_workers > 1 && c.conntrack.enabled) {
    return L.Err(c.blade_workers_line, "option 'blade-workers' in 'config system ha': the kernel's conntrack table "
                                       "(config system conntrack) is synced by one worker per blade: set blade-workers 1");
  }
  if (c.distribution.master_slot > c.slots) {
    return L.Err(L.master_slot_line, "option 'master-slot' in 'config load-balance setting': slot " +
                                         std::to_string(c.distribution.master_slot) + " is beyond 'set slots' (" +
                                         std::to_string(c.slots) + ")");
  }
  if (c.curve) {
    for (const ChassisConfig& ch : c.chassis) {
      if (ch.public_key.size() != 40 || (ch.private_key.empty() && ch.private_key_file.empty())) {
        return L.Err(ch.line, "with 'set curve enable' chassis " + std::to_string(ch.id) +
                                  " needs 'set public-key' (40 Z85 characters) and 'set private-key' or 'set private-key-file'");
      }
    }
  }
  // Secure by default: beyond this host the fabric is authenticated unless
  // the operator says otherwise in so many words.
  if (c.authentication && c.fabric_auth() == ClusterConfig::FabricAuth::kOff && !c.loopback_only()) {
    return L.Err(c.ha_line, "M1, M2 and the backplane use addresses beyond this host, so the fabric must be "
                            "authenticated: add 'set password <secret>' (the same on every chassis), or keys with "
                            "'set curve enable', or 'set authentication disable' to run unauthenticated");
  }
  c.options = FlattenConfig(tree.value());
  c.checksums = ChecksumConfig(c.options);
  return std::move(L.cfg);
}

std::vector<std::string> ConfigWarnings(const ClusterConfig& cfg) {
  std::vector<std::string> w;
  const auto& pmi = cfg.pingserver_monitor_interface;
  for (const std::string& intf : pmi) {
    const bool used = std::any_of(cfg.link_monitors.begin(), cfg.link_monitors.end(),
                                  [&](const LinkMonitorConfig& m) { return m.srcintf == intf; });
    if (!used) {
      w.push_back(cfg.source + ":" + std::to_string(cfg.pingserver_line) + ": option 'pingserver-monitor-interface' in "
                  "'config system ha': no link monitor on '" + intf + "' (config system link-monitor): it counts nothing");
    }
  }
  for (const LinkMonitorConfig& m : cfg.link_monitors) {
    if (std::find(pmi.begin(), pmi.end(), m.srcintf) == pmi.end()) {
      w.push_back(cfg.source + ":" + std::to_string(m.line) + ": link monitor '" + m.name + "' on '" + m.srcintf +
                  "' does not count in the election: add '" + m.srcintf + "' to pingserver-monitor-interface");
    }
  }
  if (cfg.virtual_mac && cfg.ClusterInterfaces().empty()) {
    w.push_back(cfg.source + ":" + std::to_string(cfg.ha_line) +
                ": 'set virtual-mac enable' has no cluster interface to apply to (config system interface / set ip)");
  }
  return w;
}

bool ClusterConfig::loopback_only() const {
  for (const ChassisConfig& c : chassis) {
    if (!IsLoopbackHost(c.m1) || !IsLoopbackHost(c.m2) || !IsLoopbackHost(c.backplane)) return false;
  }
  return true;
}

Result<ClusterConfig> LoadClusterConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read config file " + path);
  // A config is a few kilobytes; anything past 4 MiB (/dev/zero, a log
  // file given by mistake) is refused before it is read whole.
  constexpr size_t kMaxBytes = 4 << 20;
  std::string text(kMaxBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxBytes) return InvalidArgument(path + ": larger than 4 MiB: not a config file");
  return LoadClusterConfig(text, path);
}

const ChassisConfig* ClusterConfig::FindChassis(uint8_t id) const {
  for (const ChassisConfig& c : chassis)
    if (c.id == id) return &c;
  return nullptr;
}

std::string ClusterConfig::DeviceOf(const std::string& name) const {
  auto it = interface_config.find(name);
  return it == interface_config.end() ? name : it->second.device;
}

std::vector<const InterfaceConfig*> ClusterConfig::ClusterInterfaces() const {
  std::vector<const InterfaceConfig*> out;
  for (const auto& [name, ic] : interface_config) {
    if (!ic.addresses.empty()) out.push_back(&ic);
  }
  return out;
}

std::optional<std::string> ClusterConfig::InterfaceName(uint8_t index) const {
  for (const auto& [name, i] : interfaces)
    if (i == index) return name;
  return std::nullopt;
}

BladeConfig ClusterConfig::ForBlade(uint8_t chassis_id, uint8_t slot, uint32_t epoch) const {
  BladeConfig b;
  b.group_id = group_id;
  b.chassis = chassis_id;
  b.slot = slot;
  b.workers = static_cast<uint8_t>(blade_workers);
  b.epoch = epoch;
  const uint32_t w = static_cast<uint32_t>(blade_workers);
  for (const ChassisConfig& c : chassis) b.peers.push_back(c.id);
  b.pickup = pickup;
  b.timers = timers;
  b.hb_interval = hb_interval_ns();
  b.hb_lost_threshold = hb_lost_threshold;
  b.blade_hb_lost_threshold = static_cast<int>(blade_hb_lost_threshold);
  b.change_log_capacity = change_log_capacity;
  b.max_batch = max_batch;
  b.max_sessions = (max_sessions + w - 1) / w;
  b.table_reserve = (table_reserve + w - 1) / w;
  b.bulk_sync_timeout = seconds(bulk_sync_timeout_s);
  b.bulk_sync_retries = static_cast<int>(bulk_sync_retries);
  return b;
}

}  // namespace bladesync
