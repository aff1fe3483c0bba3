// Writes the seed corpus: real frames a blade receives from its owner in a
// simulated run (bulk syncs, creates, updates, deletes, recreates, keep-alives,
// NAT and SIP/GTP extensions), each prefixed with the fuzzer's selector byte.
//
//   bazel run //tests/fuzz:make_corpus -- $PWD/tests/fuzz/corpus
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include "blades/packet_path.h"
#include "core/log.h"
#include "tests/support/sim_cluster.h"
#include "traffic/traffic_generator.h"

int main(int argc, char** argv) {
  using namespace bladesync;
  using namespace bladesync::testing;
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus DIR\n");
    return 2;
  }
  SetLogLevel(LogLevel::kError);
  SimBlades c(2, 1, 5, [](BladeConfig& b) {
    b.group_id = 7;
    b.max_batch = 8;  // small frames: good seeds
    b.pickup.multicast_ttl = 60;
  });
  std::set<std::string> seen;
  int written = 0;
  c.net().set_tap([&](NodeId from, NodeId to, Link, std::span<const uint8_t> b) {
    if (!(from == NodeId{1, 1} && to == NodeId{2, 1}) || written >= 200) return;
    std::string s(reinterpret_cast<const char*>(b.data()), b.size());
    if (!seen.insert(s).second) return;
    std::ofstream out(std::string(argv[1]) + "/frame-" + std::to_string(written++), std::ios::binary);
    out.put(0);
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
  });
  c.net().faults().drop = 0.05;  // provoke NACKs and resends
  TrafficOptions t;
  t.rate = 300;
  t.duration_s = 2;
  t.mean_lifetime_ms = 800;
  t.sip_percent = 5;
  t.gtp_percent = 5;
  TrafficGenerator gen(t);
  PacketPath path(c.blade(1, 1));
  std::vector<PacketInfo> pkts;
  for (int ms = 0; ms < 6000; ms += 5) {
    pkts.clear();
    gen.Generate(milliseconds(ms), pkts);
    for (const PacketInfo& p : pkts) path.Process(p);
    c.RunFor(milliseconds(5));
  }
  std::printf("wrote %d frames to %s\n", written, argv[1]);
  return 0;
}
