#include "runtime/session_list.h"

#include <algorithm>

#include <sstream>

#include "blades/extensions.h"
#include "core/json.h"

namespace bladesync {
namespace {

bool ParseNumber(const std::string& s, long long lo, long long hi, long long* v) {
  try {
    size_t pos = 0;
    *v = std::stoll(s, &pos);
    return pos == s.size() && *v >= lo && *v <= hi;
  } catch (...) {
    return false;
  }
}

bool Matches(const SessionFilter& f, const SessionKey& k) {
  if (f.proto && k.proto != *f.proto) return false;
  auto side = [&](const IpAddr& a, uint16_t ap, const IpAddr& b, uint16_t bp) {
    return (!f.src || a == *f.src) && (!f.sport || ap == *f.sport) && (!f.dst || b == *f.dst) && (!f.dport || bp == *f.dport);
  };
  return side(k.src, k.sport, k.dst, k.dport) || side(k.dst, k.dport, k.src, k.sport);
}

std::vector<std::string> FlagNames(uint16_t flags) {
  std::vector<std::string> n;
  if (flags & kFlagNat) n.push_back("nat");
  if (flags & kFlagFlowInspected) n.push_back("flow-inspected");
  if (flags & kFlagProxyInspected) n.push_back("proxy-inspected");
  if (flags & kFlagExpectation) n.push_back("expectation");
  if (flags & kFlagMulticast) n.push_back("multicast");
  if (flags & kFlagLocal) n.push_back("local");
  if (flags & kFlagNoInspectAfterFailover) n.push_back("no-inspect-after-failover");
  if (flags & kFlagAdopted) n.push_back("adopted");
  if (AppOf(flags) != AppKind::kNone) n.push_back(std::string("app=") + AppSpecFor(AppOf(flags)).name);
  return n;
}

std::string StateName(const SessionRecord& r) {
  if (r.key.proto == kProtoTcp) return TcpStateName(r.proto_state);
  return r.proto_state == kReplied ? "REPLIED" : "UNREPLIED";
}

}  // namespace

Result<SessionFilter> ParseSessionFilter(const std::vector<std::string>& w) {
  SessionFilter f;
  for (size_t i = 0; i < w.size(); ++i) {
    const std::string& k = w[i];
    if (k == "owned") { f.standby = false; continue; }
    if (k == "standby") { f.owned = false; continue; }
    if (i + 1 >= w.size()) return InvalidArgument("filter '" + k + "' needs a value");
    const std::string& v = w[++i];
    long long n = 0;
    if (k == "src" || k == "dst") {
      std::optional<IpAddr> a = IpAddr::Parse(v);
      if (!a) return InvalidArgument("'" + v + "' is not an address");
      (k == "src" ? f.src : f.dst) = a;
    } else if (k == "sport" || k == "dport") {
      if (!ParseNumber(v, 0, 65535, &n)) return InvalidArgument("'" + v + "' is not a port");
      (k == "sport" ? f.sport : f.dport) = static_cast<uint16_t>(n);
    } else if (k == "proto") {
      if (v == "tcp") f.proto = kProtoTcp;
      else if (v == "udp") f.proto = kProtoUdp;
      else if (v == "icmp") f.proto = kProtoIcmp;
      else if (ParseNumber(v, 0, 255, &n)) f.proto = static_cast<uint8_t>(n);
      else return InvalidArgument("'" + v + "' is not a protocol");
    } else if (k == "slot") {
      if (!ParseNumber(v, 1, 16, &n)) return InvalidArgument("'" + v + "' is not a slot");
      f.slot = static_cast<uint8_t>(n);
    } else if (k == "worker") {
      if (!ParseNumber(v, 0, 15, &n)) return InvalidArgument("'" + v + "' is not a worker (0-15)");
      f.worker = static_cast<uint8_t>(n);
    } else if (k == "max") {
      if (!ParseNumber(v, 1, 100000, &n)) return InvalidArgument("'" + v + "' is not a count (1-100000)");
      f.max = static_cast<size_t>(n);
    } else {
      return InvalidArgument("unknown filter '" + k + "' (src, dst, sport, dport, proto, slot, worker, owned, standby, max)");
    }
  }
  return f;
}

size_t CollectSessions(const BladeAgent& blade, const WorkerSlots& ws, const SessionFilter& f, size_t room,
                       std::vector<ListedSession>* out) {
  size_t matched = 0;
  const uint32_t now_ds = blade.NowDs();
  auto scan = [&](const SessionStore& st, uint8_t owner, bool owned) {
    for (uint32_t id = 0; id < st.slots(); ++id) {
      if (!st.is_live(id)) continue;
      const SessionRecord& r = st.rec(id);
      if (!Matches(f, r.key)) continue;
      ++matched;
      if (out->size() >= room) continue;
      ListedSession s{ws.BladeOf(blade.config().slot), owner, owned, id, r, std::nullopt,
                      r.expires_ds > now_ds ? (r.expires_ds - now_ds) / 10 : 0};
      if (ws.workers > 1) s.worker = ws.WorkerOf(blade.config().slot);
      if (const NatInfo* n = st.nat(id)) s.nat = *n;
      if (const ExtensionList* xs = st.extensions(id)) {
        for (const Extension& x : *xs) {
          if (auto c = DecodeConntrack(x)) {
            s.helper = c->extra.helper;
            s.expectations = static_cast<int>(c->extra.expectations.size());
          }
        }
      }
      out->push_back(s);
    }
  };
  if (f.owned) scan(blade.owned(), blade.config().chassis, true);
  if (f.standby) {
    for (uint8_t c : blade.config().peers) {
      if (const StandbyTable* so = blade.standby(c)) scan(so->store(), c, false);
    }
  }
  return matched;
}

std::string SessionListJson(uint8_t chassis, const std::vector<ListedSession>& s, size_t matched,
                            const std::vector<uint8_t>& not_here) {
  JsonWriter j;
  j.BeginObject();
  j.Key("chassis").Uint(chassis);
  j.Key("matched").Uint(matched);
  j.Key("shown").Uint(s.size());
  j.Key("slots_in_other_processes").BeginArray();
  for (uint8_t x : not_here) j.Uint(x);
  j.EndArray();
  j.Key("sessions").BeginArray();
  for (const ListedSession& x : s) {
    const SessionRecord& r = x.rec;
    j.BeginObject();
    j.Key("slot").Uint(x.slot);
    j.Key("worker").Uint(static_cast<uint64_t>(std::max(x.worker, 0)));
    j.Key("owner_chassis").Uint(x.owner_chassis);
    j.Key("role").String(x.owned ? "owned" : "standby");
    j.Key("id").Uint(x.id);
    j.Key("proto").Uint(r.key.proto);
    j.Key("proto_state").Uint(r.proto_state);
    j.Key("state").String(StateName(r));
    j.Key("src").String(r.key.src.ToString());
    j.Key("sport").Uint(r.key.sport);
    j.Key("dst").String(r.key.dst.ToString());
    j.Key("dport").Uint(r.key.dport);
    j.Key("zone").Uint(r.key.zone);
    j.Key("timeout").Uint(r.timeout_s);
    j.Key("expire").Uint(x.expire_s);
    j.Key("version").Uint(r.version);
    j.Key("flags").BeginArray();
    for (const std::string& f : FlagNames(r.flags)) j.String(f);
    j.EndArray();
    if (!x.helper.empty()) {  // as the text form: a kernel session with a helper
      j.Key("helper").String(x.helper);
      j.Key("expectations").Uint(static_cast<uint64_t>(x.expectations));
    }
    if (x.nat) {
      j.Key("nat").BeginObject();
      j.Key("snat").String(x.nat->snat_ip.ToString() + ":" + std::to_string(x.nat->snat_port));
      j.Key("dnat").String(x.nat->dnat_ip.ToString() + ":" + std::to_string(x.nat->dnat_port));
      j.EndObject();
    }
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
  return j.str();
}

std::string SessionListText(const std::vector<ListedSession>& s, size_t matched, const std::vector<uint8_t>& not_here) {
  std::ostringstream o;
  for (const ListedSession& x : s) {
    const SessionRecord& r = x.rec;
    char st[8];
    std::snprintf(st, sizeof(st), "%02x", r.proto_state);
    o << "session info: proto=" << int(r.key.proto) << " proto_state=" << st << " (" << StateName(r) << ") expire="
      << x.expire_s << " timeout=" << r.timeout_s << " slot=" << int(x.slot)
      << (x.worker >= 0 ? " worker=" + std::to_string(x.worker) : std::string()) << " owner=chassis" << int(x.owner_chassis)
      << (x.owned ? " (owned)" : " (standby)") << " version=" << r.version << "\n";
    const std::vector<std::string> flags = FlagNames(r.flags);
    if (!flags.empty()) {
      o << "flags:";
      for (const std::string& f : flags) o << " " << f;
      o << "\n";
    }
    o << "orgin->sink: " << r.key.src.ToString() << ":" << r.key.sport << "->" << r.key.dst.ToString() << ":" << r.key.dport;
    if (x.nat) o << " (nat " << x.nat->snat_ip.ToString() << ":" << x.nat->snat_port << ")";
    o << "\n";
    if (!x.helper.empty()) o << "helper=" << x.helper << " expectations=" << x.expectations << "\n";
    o << "\n";
  }
  o << "total session " << matched;
  if (s.size() < matched) o << " (showing " << s.size() << "; add max N)";
  o << "\n";
  if (!not_here.empty()) {
    o << "(slots in other processes, not listed:";
    for (uint8_t x : not_here) o << " " << int(x);
    o << ")\n";
  }
  return o.str();
}

}  // namespace bladesync
