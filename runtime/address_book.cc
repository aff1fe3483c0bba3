#include "runtime/address_book.h"

#include <fstream>

namespace bladesync {

std::optional<std::string> ConfigAddressBook::Endpoint(NodeId node, Link link) const {
  const ChassisConfig* c = cfg_.FindChassis(node.chassis);
  if (!c) return std::nullopt;
  const int port = c->sync_port + node.slot;
  switch (link) {
    case Link::kM1: return "tcp://" + c->m1 + ":" + std::to_string(port);
    case Link::kM2: return "tcp://" + c->m2 + ":" + std::to_string(port);
    case Link::kBackplane:
      if (c->backplane == "inproc") {
        return "inproc://bladesync-" + std::to_string(cfg_.group_id) + "-" + std::to_string(node.chassis) + "-" +
               std::to_string(node.slot);
      }
      return "tcp://" + c->backplane + ":" + std::to_string(c->sync_port + 100 + node.slot);
  }
  return std::nullopt;
}

Result<CurveKeys> CurveKeysFor(const ClusterConfig& cfg, uint8_t chassis) {
  CurveKeys k;
  if (!cfg.curve) return k;
  const ChassisConfig* c = cfg.FindChassis(chassis);
  if (!c) return NotFound("no chassis " + std::to_string(chassis) + " in " + cfg.source);
  k.enabled = true;
  k.public_key = c->public_key;
  std::string secret = c->private_key;
  if (!secret.empty() && secret[0] == '@') {
    std::ifstream in(secret.substr(1));
    if (!in) return NotFound(cfg.source + ": chassis " + std::to_string(chassis) + ": cannot read private key file " + secret.substr(1));
    in >> secret;
  }
  if (secret.size() != 40) return InvalidArgument(cfg.source + ": chassis " + std::to_string(chassis) + ": private key is not 40 Z85 characters");
  k.secret_key = secret;
  const ClusterConfig* cp = &cfg;
  k.peer_public_key = [cp](uint8_t peer) -> std::optional<std::string> {
    const ChassisConfig* pc = cp->FindChassis(peer);
    if (!pc) return std::nullopt;
    return pc->public_key;
  };
  return k;
}

std::map<std::string, uint8_t> CurvePeerKeys(const ClusterConfig& cfg) {
  std::map<std::string, uint8_t> m;
  for (const ChassisConfig& c : cfg.chassis) m[c.public_key] = c.id;
  return m;
}

}  // namespace bladesync
