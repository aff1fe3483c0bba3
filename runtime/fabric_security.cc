#include "runtime/fabric_security.h"

#include <sys/stat.h>

#include "core/log.h"
#include "runtime/address_book.h"

namespace bladesync {

std::vector<std::string> FabricWarnings(const ClusterConfig& cfg) {
  std::vector<std::string> w;
  struct stat st {};
  const bool others_read = stat(cfg.source.c_str(), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH));
  bool inline_key = false;
  for (const ChassisConfig& c : cfg.chassis) inline_key |= !c.private_key.empty();
  if (inline_key && others_read) {
    w.push_back(cfg.source + " holds a private key and others can read it: chmod 600 " + cfg.source +
                " (or keep the key in its own file: set private-key-file)");
  }
  if (cfg.password.empty()) return w;
  if (cfg.password.size() < 12) {
    w.push_back(cfg.source + ": the HA password has " + std::to_string(cfg.password.size()) +
                " characters: whoever captures a handshake can try short ones offline; use 12 or more");
  }
  if (others_read) w.push_back(cfg.source + " holds the HA password and others can read it: chmod 600 " + cfg.source);
  return w;
}

Result<std::unique_ptr<ZapHandler>> StartFabricSecurity(const ClusterConfig& cfg, FabricContext& ctx,
                                                        AsioEventLoop& loop, bool warn) {
  if (warn) {
    for (const std::string& w : FabricWarnings(cfg)) BS_LOG(kWarn, "fabric") << w;
  }
  if (cfg.fabric_auth() == ClusterConfig::FabricAuth::kOff) {
    if (!cfg.authentication) {
      BS_LOG(kWarn, "fabric") << cfg.source << ": 'set authentication disable': the fabric is unauthenticated; "
                              << "anyone who reaches M1, M2 or the backplane can forge sessions, commands and roles";
    } else {
      BS_LOG(kWarn, "fabric") << cfg.source << ": no 'set password': the fabric is unauthenticated (allowed because "
                              << "every address is loopback; any local user can still forge frames)";
    }
    return std::unique_ptr<ZapHandler>();
  }
  Result<std::map<std::string, uint8_t>> keys = CurvePeerKeys(cfg);
  if (!keys.ok()) return keys.status();
  auto zap = std::make_unique<ZapHandler>(ctx, loop, std::move(keys).value());
  if (Status s = zap->Start(); !s.ok()) return s;
  return zap;
}

const char* FabricAuthName(ClusterConfig::FabricAuth auth) {
  switch (auth) {
    case ClusterConfig::FabricAuth::kPassword: return "password";
    case ClusterConfig::FabricAuth::kKeys: return "keys";
    case ClusterConfig::FabricAuth::kOff: break;
  }
  return "off";
}

}  // namespace bladesync
