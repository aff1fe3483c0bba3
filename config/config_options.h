// What a config file sets, flattened to one entry per option, and the
// cluster-wide part of it checksummed per section (FortiOS `diagnose sys ha
// checksum`).
//
//   "system ha / hb-interval"             -> "2"
//   "system ha / chassis / 1 / priority"  -> "200"
//
// Options left at their default are absent; `unset` removes one. A reload
// compares two of these to name every option that changed; chassis carry
// the checksums in their heartbeats to notice configs that differ.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/cli_tree.h"

namespace bladesync {

using ConfigOptions = std::map<std::string, std::string>;

ConfigOptions FlattenConfig(const CliBlock& root);

// The sections checksummed, in the order heartbeats carry them. The
// traffic-generator block is left out: only the traffic tool reads it.
inline constexpr std::array<const char*, 10> kChecksumSections = {
    "system interface", "firewall address", "firewall address6", "system ha", "system session-ttl",
    "system global",    "load-balance setting", "load-balance flow-rule", "system conntrack",
    "system link-monitor"};

// What may differ between chassis and stays out of the checksums: each
// chassis's own private key, where its control socket and /metrics are,
// the host name, and the password (a checksum of it could be guessed at
// offline; a different password shows anyway, as a peer never heard), and
// words for people: comments and aliases. Also what names this host's own
// hardware: an interface's Linux device, and a link monitor's ha-priority
// (as in FortiOS, where it is not synchronized either).
bool PerChassisOption(const std::string& path);

// What a reload applies while running: the pickup policy (every blade takes
// it at once, for what it syncs from then on), the traffic generator's
// options (only the traffic tool reads them) and words for people. Any
// other change needs a restart.
bool LiveOption(const std::string& path);

struct ConfigChecksums {
  std::vector<uint64_t> sections;  // kChecksumSections order
  uint64_t all = 0;                // over the sections
};
ConfigChecksums ChecksumConfig(const ConfigOptions& options);
// "all" of a peer's section checksums, as ChecksumConfig computes it.
uint64_t ChecksumOfSections(const std::vector<uint64_t>& sections);
std::string ChecksumHex(uint64_t c);

// The options that differ between a and b (set in one only, or to another value).
std::vector<std::string> ChangedOptions(const ConfigOptions& a, const ConfigOptions& b);

}  // namespace bladesync
