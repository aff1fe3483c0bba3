#include "config/config_options.h"

#include <cstdio>
#include <set>
#include <string_view>

#include "core/hash.h"

namespace bladesync {
namespace {

void Flatten(const CliBlock& b, const std::string& prefix, ConfigOptions* out) {
  for (const CliSetting& s : b.settings) {
    const std::string path = prefix + s.key;
    if (s.unset) {
      out->erase(path);
      continue;
    }
    std::string v;
    for (const std::string& w : s.values) v += (v.empty() ? "" : " ") + w;
    (*out)[path] = v;
  }
  // The parser bounds nesting, so this recursion is bounded too.
  for (const CliBlock& sub : b.blocks) Flatten(sub, prefix + sub.name + " / ", out);
  for (const CliBlock& e : b.entries) {
    // An entry with nothing set still exists (e.g. an interface by name).
    (*out)[prefix + e.name] = "(edit)";
    Flatten(e, prefix + e.name + " / ", out);
  }
}

std::string SectionOf(const std::string& path) { return path.substr(0, path.find(" / ")); }

bool EndsWith(const std::string& path, const std::string& tail) {
  return path.size() >= tail.size() && path.compare(path.size() - tail.size(), tail.size(), tail) == 0;
}

// A flow rule's comment, an interface's alias: they change nothing.
bool WordsForPeople(const std::string& path) { return EndsWith(path, " / comment") || EndsWith(path, " / alias"); }

}  // namespace

ConfigOptions FlattenConfig(const CliBlock& root) {
  ConfigOptions out;
  for (const CliBlock& top : root.blocks) Flatten(top, top.name + " / ", &out);
  return out;
}

bool PerChassisOption(const std::string& path) {
  if (path.rfind("system ha / chassis / ", 0) == 0) {
    return EndsWith(path, " / private-key") || EndsWith(path, " / private-key-file") || EndsWith(path, " / control") ||
           EndsWith(path, " / metrics");
  }
  if (path.rfind("system interface / ", 0) == 0 && EndsWith(path, " / device")) return true;
  if (path.rfind("system link-monitor / ", 0) == 0 && EndsWith(path, " / ha-priority")) return true;
  return WordsForPeople(path) || path == "system global / hostname" || path == "system ha / password";
}

bool LiveOption(const std::string& path) {
  static const std::set<std::string> kLive = {
      "system ha / session-pickup",          "system ha / session-pickup-connectionless",
      "system ha / session-pickup-delay",    "system ha / session-pickup-delay-time",
      "system ha / session-pickup-expectation", "system ha / session-pickup-nat",
      "system ha / session-pickup-defer",    "system ha / session-pickup-defer-timeout",
      "system ha / multicast-ttl",           "system ha / update-all-session-timer"};
  return kLive.count(path) || path.rfind("system ha / session-sync-filter / ", 0) == 0 ||
         path.rfind("traffic-generator / ", 0) == 0 || WordsForPeople(path);
}

ConfigChecksums ChecksumConfig(const ConfigOptions& options) {
  ConfigChecksums c;
  c.sections.assign(kChecksumSections.size(), kFnvBasis);
  for (const auto& [path, value] : options) {
    if (PerChassisOption(path)) continue;
    const std::string section = SectionOf(path);
    for (size_t i = 0; i < kChecksumSections.size(); ++i) {
      if (section == kChecksumSections[i]) {
        // Sorted by path (a map): the same options give the same sum in any file order.
        c.sections[i] = Fnv1a(value + '\n', Fnv1a(path + '\0', c.sections[i]));
      }
    }
  }
  c.all = ChecksumOfSections(c.sections);
  return c;
}

uint64_t ChecksumOfSections(const std::vector<uint64_t>& sections) {
  uint64_t h = kFnvBasis;
  for (uint64_t s : sections) {
    char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((s >> (8 * i)) & 0xff);
    h = Fnv1a(std::string_view(bytes, 8), h);
  }
  return h;
}

std::string ChecksumHex(uint64_t c) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(c));
  return buf;
}

std::vector<std::string> ChangedOptions(const ConfigOptions& a, const ConfigOptions& b) {
  std::vector<std::string> out;
  auto ia = a.begin();
  auto ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) {
      out.push_back(ia++->first);
    } else if (ia == a.end() || ib->first < ia->first) {
      out.push_back(ib++->first);
    } else {
      if (ia->second != ib->second) out.push_back(ia->first);
      ++ia, ++ib;
    }
  }
  return out;
}

}  // namespace bladesync
