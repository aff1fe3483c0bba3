#include "cmd/conntrack_tool.h"

#include <cstdio>
#include <string>

#include "conntrack/netlink_conntrack.h"
#include "core/clock.h"
#include "core/json.h"

namespace bladesync {
namespace {

constexpr const char* kUsage = R"(usage: bladesync conntrack <dump|count|expect|install N [liberal] [snat]|flush> [--json]
  dump         every entry of this namespace's kernel table, as bladesync maps it
  expect       every expectation of the kernel's helpers, with its master
  count        how many entries the table holds
  install N    create N synthetic established TCP entries (10.200/16 -> 10.201/16)
               in batches, and report the rate (a benchmark of the sink);
               snat: masqueraded to 203.0.113.1 (source NAT, as most firewalls)
  flush        remove every entry
)";

// Established TCP entries with distinct tuples, window scaling on.
std::vector<KernelEntry> Synthetic(size_t n, bool snat) {
  std::vector<KernelEntry> v(n);
  for (size_t i = 0; i < n; ++i) {
    KernelEntry& e = v[i];
    const uint32_t src = 0x0ac80000u | static_cast<uint32_t>((i >> 14) & 0xffff);  // 10.200.x.y
    const uint32_t dst = 0x0ac90000u | static_cast<uint32_t>(i & 0xff);            // 10.201.0.z
    e.key = SessionKey::V4(src, dst, static_cast<uint16_t>(1024 + (i & 0x3fff)), 443, kProtoTcp);
    e.reply_src = e.key.dst;
    e.reply_dst = e.key.src;
    e.reply_sport = e.key.dport;
    e.reply_dport = e.key.sport;
    e.status = kIpsSeenReply | kIpsAssured;
    e.timeout_s = 3600;
    e.tcp_state = kCtTcpEstablished;
    e.wscale_orig = e.wscale_repl = 7;
    e.flags_orig = e.flags_repl = kCtTcpWindowScale | kCtTcpSackPerm;
    if (snat) {  // the reply comes back to the masquerading address, a port of its own
      e.reply_dst = IpAddr::V4(0xcb007101);
      e.reply_dport = static_cast<uint16_t>(1024 + (i >> 8) % 64000);  // unique with reply_src up to 16M
      e.status |= kIpsSrcNat | kIpsSrcNatDone;
    }
  }
  return v;
}

// Bits 127..0 as 32 hex digits (conntrack -L's form), "" without labels.
std::string LabelsHex(const ConntrackExtras& x) {
  if (!x.has_labels()) return "";
  std::string out;
  char b[3];
  for (int i = 15; i >= 0; --i) {
    std::snprintf(b, sizeof b, "%02x", x.labels[i]);
    out += b;
  }
  return out;
}

int Expectations(bool json) {
  JsonWriter list;
  list.BeginArray();
  size_t n = 0;
  Status s = DumpExpectations([&](const KernelExpectation& k) {
    ++n;
    const CtExpectation& x = k.exp;
    const std::string src = x.any_src ? "any" : x.src.ToString();
    const std::string sport = x.any_sport ? "any" : std::to_string(x.sport);
    if (json) {
      list.BeginObject()
          .Key("master").String(k.master.ToString())
          .Key("helper").String(k.helper)
          .Key("proto").Uint(x.proto)
          .Key("src").String(src)
          .Key("sport").String(sport)
          .Key("dst").String(x.dst.ToString())
          .Key("dport").Uint(x.dport)
          .Key("timeout").Uint(x.timeout_s)
          .EndObject();
    } else {
      std::printf("proto %u %s:%s > %s:%u timeout %u helper %s master %s\n", x.proto, src.c_str(), sport.c_str(),
                  x.dst.ToString().c_str(), x.dport, x.timeout_s, k.helper.c_str(), k.master.ToString().c_str());
    }
  });
  list.EndArray();
  if (!s.ok()) {
    std::fprintf(stderr, "bladesync conntrack: %s\n", s.message().c_str());
    return 1;
  }
  if (json) {
    JsonWriter o;
    o.BeginObject().Key("count").Uint(n).Key("expectations").Raw(list.str()).EndObject();
    std::printf("%s\n", o.str().c_str());
  }
  return 0;
}

}  // namespace

int ConntrackTool(const std::vector<std::string>& words, bool json) {
  const std::string verb = words.size() > 1 ? words[1] : "";
  if (verb == "dump" || verb == "count") {
    size_t n = 0;
    JsonWriter entries;
    entries.BeginArray();
    Status s = DumpConntrack([&](const KernelEntry& e) {
      ++n;
      if (verb == "count") return;
      if (json) {
        entries.BeginObject()
            .Key("key").String(e.key.ToString())
            .Key("reply_src").String(e.reply_src.ToString())
            .Key("reply_dst").String(e.reply_dst.ToString())
            .Key("reply_sport").Uint(e.reply_sport)
            .Key("reply_dport").Uint(e.reply_dport)
            .Key("status").Uint(e.status)
            .Key("mark").Uint(e.mark)
            .Key("zone").Uint(e.key.zone)
            .Key("timeout").Uint(e.timeout_s)
            .Key("tcp_state").Uint(e.tcp_state)
            .Key("helper").String(e.extra.helper)
            .Key("labels").String(LabelsHex(e.extra))
            .Key("seqadj").Bool(!e.extra.seqadj_orig.empty() || !e.extra.seqadj_repl.empty())
            .EndObject();
      } else {
        std::printf("%s\n", e.ToString().c_str());
      }
    });
    entries.EndArray();
    if (!s.ok()) {
      std::fprintf(stderr, "bladesync conntrack: %s\n", s.message().c_str());
      return 1;
    }
    if (json) {
      JsonWriter o;
      o.BeginObject().Key("count").Uint(n);
      if (verb == "dump") o.Key("entries").Raw(entries.str());
      o.EndObject();
      std::printf("%s\n", o.str().c_str());
    } else if (verb == "count") {
      std::printf("%zu\n", n);
    }
    return 0;
  }
  if (verb == "expect") return Expectations(json);
  if (verb == "install" && words.size() >= 3) {
    const size_t n = std::stoul(words[2]);
    InstallOptions opt;
    bool snat = false;
    for (size_t w = 3; w < words.size(); ++w) {
      if (words[w] == "liberal") {
        opt.liberal = true;
      } else if (words[w] == "snat") {
        snat = true;
      } else {
        std::fprintf(stderr, "bladesync conntrack: install: unknown option %s\n%s", words[w].c_str(), kUsage);
        return 2;
      }
    }
    const std::vector<KernelEntry> v = Synthetic(n, snat);
    // A benchmark of the sink: wall time around the install alone.
    const Nanos t0 = MonotonicNow();
    const InstallStats st = InstallConntrack(v, opt);
    const double secs = ToSeconds(MonotonicNow() - t0);
    if (json) {
      JsonWriter o;
      o.BeginObject()
          .Key("installed").Uint(st.installed)
          .Key("existed").Uint(st.existed)
          .Key("failed").Uint(st.failed)
          .Key("first_error").Int(st.first_error)
          .Key("seconds").Double(secs)
          .Key("per_second").Double(secs > 0 ? static_cast<double>(st.installed) / secs : 0.0)
          .EndObject();
      std::printf("%s\n", o.str().c_str());
    } else {
      std::printf("installed %zu (%zu existed, %zu failed) in %.3f s\n", st.installed, st.existed, st.failed, secs);
    }
    return st.failed ? 1 : 0;
  }
  if (verb == "flush") {
    Status s = FlushConntrack();
    if (!s.ok()) {
      std::fprintf(stderr, "bladesync conntrack: %s\n", s.message().c_str());
      return 1;
    }
    return 0;
  }
  std::fputs(kUsage, stderr);
  return 2;
}

}  // namespace bladesync
