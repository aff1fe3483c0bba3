// diagnose sys session list: the sessions of a chassis's blades, filtered.
//
//   diagnose sys session list [src ADDR] [dst ADDR] [sport N] [dport N]
//                             [proto tcp|udp|icmp|N] [slot N] [worker N] [owned|standby] [max N]
//
// worker N (from 0) picks one worker of each blade (blade-workers).
// Each address/port filter matches either direction of the session.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "blades/blade_agent.h"
#include "core/status.h"

namespace bladesync {

struct SessionFilter {
  std::optional<IpAddr> src, dst;
  std::optional<uint16_t> sport, dport;
  std::optional<uint8_t> proto;
  std::optional<uint8_t> slot;
  std::optional<uint8_t> worker;
  bool owned = true;
  bool standby = true;
  size_t max = 100;
};

Result<SessionFilter> ParseSessionFilter(const std::vector<std::string>& words);

struct ListedSession {
  uint8_t slot;
  uint8_t owner_chassis;
  bool owned;
  uint32_t id;
  SessionRecord rec;
  std::optional<NatInfo> nat;
  uint32_t expire_s;
  // Kernel conntrack sessions: the helper and its pending expectations.
  std::string helper;
  int expectations = -1;  // -1: no conntrack state
  int worker = -1;        // the blade's worker (blade-workers > 1), else -1
};

// Runs on the worker's own thread: appends matches, returns how many matched.
size_t CollectSessions(const BladeAgent& blade, const WorkerSlots& ws, const SessionFilter& f, size_t room,
                       std::vector<ListedSession>* out);

std::string SessionListJson(uint8_t chassis, const std::vector<ListedSession>& s, size_t matched,
                            const std::vector<uint8_t>& not_here);
std::string SessionListText(const std::vector<ListedSession>& s, size_t matched, const std::vector<uint8_t>& not_here);

}  // namespace bladesync
