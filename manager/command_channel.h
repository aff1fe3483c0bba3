// CommandChannel: a chassis manager's reliable commands to its blades on
// the backplane (Adopt, Relinquish, SetRole, SetClockOffset).
//
// A command goes to every blade and is sent again every tick until the
// blade's status reports it applied (a frame on a connection being set up
// can be refused); a dead blade's are dropped after a bound. One command in
// flight per blade, the oldest first: a blade applies each id once and
// acknowledges the highest it applied, so a newer command that overtook an
// older one (a refused first send, a resend) would make the blade skip the
// older one, an Adopt among them. Ids carry the manager's epoch in their
// high half: a blade scopes them to this incarnation.
//
//   CommandChannel ch(transport, wire::Origin(cluster, epoch, chassis, 0), slots);
//   ch.Send({wire::CommandKind::Adopt, /*peer=*/2}, is_live);
//   ch.Applied(slot, status.last_command());   // from each BladeStatus
//   ch.Resend(is_live);                        // every tick
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "fabric/transport.h"
#include "schemas/bladesync_generated.h"

namespace bladesync {

class CommandChannel {
 public:
  // What a command says.
  struct Order {
    wire::CommandKind kind;
    uint8_t peer = 0;       // the chassis the command is about
    int64_t offset_ns = 0;  // SetClockOffset
    wire::Role role = wire::Role::Unknown;  // SetRole
  };
  struct Command {
    uint64_t id;
    Order order;
    uint8_t slot;     // the blade it goes to
    int tries;
  };

  // `give_up_after`: sends to a dead blade before its command is dropped.
  CommandChannel(Transport& transport, wire::Origin self, int slots, int give_up_after);

  // Id of the next command Send() makes.
  uint64_t next_id() const { return next_id_; }
  // One command per blade, sent now to those with nothing older waiting.
  // Returns the first blade's request id (IdFor gives each blade's).
  uint64_t Send(const Order& order, const std::function<bool(uint8_t)>& live);
  static uint64_t IdFor(uint64_t first, uint8_t slot) { return first + slot - 1; }
  // The same to one blade only (one that missed what the others were told);
  // returns its request id (0: no such slot).
  uint64_t SendTo(uint8_t slot, const Order& order, const std::function<bool(uint8_t)>& live);
  // The blade in `slot` reports every command up to `last` applied; the
  // next one waiting for it goes now.
  void Applied(uint8_t slot, uint64_t last, const std::function<bool(uint8_t)>& live);
  // Sends the oldest waiting command of each blade again; drops a dead
  // blade's after the bound.
  void Resend(const std::function<bool(uint8_t)>& live);
  const std::vector<Command>& pending() const { return pending_; }

 private:
  Transport& transport_;
  wire::Origin self_;
  int slots_;
  int give_up_after_;
  uint64_t next_id_;
  std::vector<Command> pending_;
  flatbuffers::FlatBufferBuilder fbb_{256};
};

}  // namespace bladesync
