#include "traffic/traffic_generator.h"

namespace bladesync {

TrafficGenerator::TrafficGenerator(TrafficOptions options) : opt_(options), rng_(options.seed) {}

bool TrafficGenerator::finished(Nanos now) const {
  return now >= seconds(opt_.duration_s) && active_ == 0;
}

void TrafficGenerator::Emit(const Flow& f, bool reply, uint8_t flags, std::vector<PacketInfo>& out) {
  PacketInfo p;
  p.key = reply ? f.key.Reversed() : f.key;
  p.tcp_flags = flags;
  p.attrs = f.attrs;
  p.srcintf = reply ? 2 : 1;
  p.dstintf = reply ? 1 : 2;
  out.push_back(p);
  ++packets_;
}

void TrafficGenerator::AddFlow(const SessionKey& key, uint16_t attrs, Kind kind, Nanos at, Nanos end) {
  Flow f{};
  f.key = key;
  f.attrs = attrs;
  f.kind = kind;
  f.end = end;
  f.alive = true;
  uint32_t idx;
  if (!free_.empty()) {
    idx = free_.back();
    free_.pop_back();
    flows_[idx] = f;
  } else {
    idx = static_cast<uint32_t>(flows_.size());
    flows_.push_back(f);
  }
  ++active_;
  ++flows_started_;
  due_.push(Due{at, idx});
}

void TrafficGenerator::StartFlow(Nanos now) {
  const uint32_t app_pick = Percent();
  if (app_pick < opt_.sip_percent + opt_.gtp_percent) {
    const bool sip = app_pick < opt_.sip_percent;
    SessionKey k;
    k.src = IpAddr::V4(0x0a800000u | static_cast<uint32_t>(rng_() % 65536));
    k.dst = IpAddr::V4(0xc6336400u | static_cast<uint32_t>(rng_() % 256));
    k.proto = kProtoUdp;
    const Nanos end = now + milliseconds(rng_() % (2 * uint64_t{opt_.mean_lifetime_ms} + 1));
    if (sip) {
      k.sport = static_cast<uint16_t>(5060 + rng_() % 100);
      k.dport = 5060;
      AddFlow(k, WithApp(0, AppKind::kSip), Kind::kUdp, now, end);
      SessionKey rtp = k;
      rtp.sport = static_cast<uint16_t>(20000 + rng_() % 10000);
      rtp.dport = static_cast<uint16_t>(16384 + rng_() % 16384);
      AddFlow(rtp, WithApp(0, AppKind::kSipRtp), Kind::kUdp, now + milliseconds(5), end);
    } else {
      k.sport = k.dport = kGtpControlPort;
      AddFlow(k, WithApp(0, AppKind::kGtpC), Kind::kUdp, now, end);
      SessionKey u = k;
      u.sport = u.dport = kGtpUserPort;
      AddFlow(u, WithApp(0, AppKind::kGtpU), Kind::kUdp, now + milliseconds(5), end);
    }
    return;
  }
  Flow f{};
  const uint32_t proto_pick = Percent();
  if (proto_pick < opt_.tcp_percent) {
    const uint32_t k = Percent();
    f.kind = k < opt_.rst_percent ? Kind::kTcpRst : k < opt_.rst_percent + opt_.idle_percent ? Kind::kTcpIdle : Kind::kTcpClose;
  } else if (proto_pick < opt_.tcp_percent + opt_.udp_percent) {
    f.kind = Kind::kUdp;
  } else {
    f.kind = Kind::kIcmp;
  }
  const bool v6 = Percent() < opt_.ipv6_percent;
  const uint32_t client = static_cast<uint32_t>(rng_() % 65536);
  const uint32_t server = static_cast<uint32_t>(rng_() % 256);
  // Unique client ports keep concurrent flows distinct.
  const uint16_t sport = static_cast<uint16_t>(1024 + (port_counter_++ % 64000));
  static constexpr uint16_t kServices[] = {443, 80, 22, 25, 8080, 5060, 3389, 993};
  uint8_t proto = kProtoTcp;
  uint16_t dport = kServices[rng_() % 8];
  if (f.kind == Kind::kUdp) {
    proto = kProtoUdp;
    static constexpr uint16_t kUdp[] = {53, 123, 443, 4500, 1194, 514};
    dport = kUdp[rng_() % 6];
  } else if (f.kind == Kind::kIcmp) {
    proto = v6 ? kProtoIcmp6 : kProtoIcmp;
    dport = 0;
  }
  if (v6) {
    f.key.src = IpAddr::V6(0x20010db800010000ULL, client);
    f.key.dst = IpAddr::V6(0x20010db800020000ULL, server);
  } else {
    f.key.src = IpAddr::V4(0x0a000000u | client);     // 10.0.x.y
    f.key.dst = IpAddr::V4(0xc6336400u | server);     // 198.51.100.z
  }
  f.key.sport = sport;
  f.key.dport = dport;
  f.key.proto = proto;
  uint16_t attrs = 0;
  if (Percent() < opt_.nat_percent) attrs |= kFlagNat;
  const uint32_t insp = Percent();
  if (insp < opt_.proxy_inspected_percent) {
    attrs |= kFlagProxyInspected;
  } else if (insp < opt_.proxy_inspected_percent + opt_.flow_inspected_percent) {
    attrs |= kFlagFlowInspected;
  }
  if (Percent() < opt_.local_percent) attrs |= kFlagLocal;
  f.attrs = attrs;
  const uint64_t life = opt_.mean_lifetime_ms ? rng_() % (2 * uint64_t{opt_.mean_lifetime_ms}) : 0;
  AddFlow(f.key, f.attrs, f.kind, now, now + milliseconds(life));
}

std::optional<Nanos> TrafficGenerator::Step(Flow& f, Nanos now, std::vector<PacketInfo>& out) {
  const Nanos rtt = milliseconds(1);
  const Nanos gap = milliseconds(opt_.packet_interval_ms);
  const uint8_t s = f.step++;
  switch (f.kind) {
    case Kind::kTcpClose:
    case Kind::kTcpRst:
    case Kind::kTcpIdle:
      if (s == 0) return Emit(f, false, kTcpSyn, out), now + rtt;
      if (s == 1) return Emit(f, true, kTcpSyn | kTcpAck, out), now + rtt;
      if (s == 2) return Emit(f, false, kTcpAck, out), now + gap;
      if (now < f.end) {  // data both ways
        Emit(f, (s & 1) != 0, kTcpAck | kTcpPsh, out);
        f.step = 3 + ((s + 1) & 1);
        return now + gap;
      }
      if (f.kind == Kind::kTcpIdle) return std::nullopt;  // goes quiet: the timer ends it
      if (f.kind == Kind::kTcpRst) return Emit(f, (s & 1) != 0, kTcpRst, out), std::nullopt;
      if (s < 100) {
        f.step = 100;
        return Emit(f, false, kTcpFin | kTcpAck, out), now + rtt;
      }
      if (s == 100) return Emit(f, true, kTcpFin | kTcpAck, out), now + rtt;
      return Emit(f, false, kTcpAck, out), std::nullopt;
    case Kind::kUdp:
    case Kind::kIcmp:
      if (now >= f.end && s >= 2) return std::nullopt;  // idle: the timer ends it
      Emit(f, (s & 1) != 0, 0, out);
      return now + ((s & 1) ? gap : rtt);
  }
  return std::nullopt;
}

void TrafficGenerator::Generate(Nanos now, std::vector<PacketInfo>& out) {
  if (opt_.rate > 0) {
    const Nanos every = Nanos(1'000'000'000LL / opt_.rate);
    while (next_start_ <= now && next_start_ < seconds(opt_.duration_s)) {
      if (active_ < opt_.concurrency) StartFlow(next_start_);
      next_start_ += every;
    }
  }
  while (!due_.empty() && due_.top().at <= now) {
    Due d = due_.top();
    due_.pop();
    Flow& f = flows_[d.flow];
    std::optional<Nanos> next = Step(f, d.at, out);
    if (next) {
      due_.push(Due{*next, d.flow});
    } else {
      f.alive = false;
      --active_;
      free_.push_back(d.flow);
    }
  }
}

}  // namespace bladesync
