// IngressBatcher: packets entering a chassis, batched per blade on their
// way over the backplane. A batch goes when it holds `batch` packets or at
// the end of the loop turn, whichever comes first.
//
//   IngressBatcher in(loop, transport, wire::Origin(cluster, epoch, chassis, 0), slots, 512);
//   in.Add(slot, packet);
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "blades/packet.h"
#include "core/event_loop.h"
#include "fabric/transport.h"

namespace bladesync {

class IngressBatcher {
 public:
  IngressBatcher(EventLoop& loop, Transport& transport, wire::Origin self, int slots, size_t batch);
  void Add(uint8_t slot, const PacketInfo& p);
  // A packet that arrived in its wire form goes on in it, unconverted.
  void Add(uint8_t slot, const wire::Packet4& p);
  void Add(uint8_t slot, const wire::Packet6& p);
  // To a peer chassis's manager over M1 or M2 (active-active: its blade took
  // over our dead blade's sessions).
  void AddToPeer(uint8_t peer, Link link, const wire::Packet4& p);
  void AddToPeer(uint8_t peer, Link link, const wire::Packet6& p);
  // Sends every batch now.
  void Flush();
  // Whether blades may hand back packets they have no session for (the
  // manager then tries the flow's next slot): from now on, batch by batch.
  void set_may_return(bool on) { may_return_ = on; }

 private:
  void Added(size_t pending);
  struct PeerBatch {
    Link link = Link::kM1;
    std::vector<wire::Packet4> p4;
    std::vector<wire::Packet6> p6;
  };
  EventLoop& loop_;
  Transport& transport_;
  wire::Origin self_;
  int slots_;
  size_t batch_;
  std::vector<std::vector<wire::Packet4>> pending4_;  // by slot
  std::vector<std::vector<wire::Packet6>> pending6_;
  std::map<uint8_t, PeerBatch> to_peer_;
  bool flush_posted_ = false;
  bool may_return_ = false;
  flatbuffers::FlatBufferBuilder fbb_{4096};
};

}  // namespace bladesync
