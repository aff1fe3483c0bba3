#include "runtime/address_book.h"

#include <fstream>
#include <map>
#include <mutex>


#include "fabric/curve_keys.h"
#include "fabric/ha_password.h"

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

namespace {

// The password's keys, derived once per process (Argon2 is slow on purpose).
Result<HaPasswordKeys> PasswordKeys(const ClusterConfig& cfg) {
  static std::mutex mu;
  static std::map<std::string, HaPasswordKeys> done;
  const std::string id = std::to_string(cfg.group_id) + "/" + cfg.group_name + "/" + cfg.password;
  std::lock_guard<std::mutex> lock(mu);
  auto it = done.find(id);
  if (it != done.end()) return it->second;
  Result<HaPasswordKeys> k = HaPasswordKeys::Derive(cfg.password, cfg.group_id, cfg.group_name);
  if (k.ok()) done.emplace(id, k.value());
  return k;
}

}  // namespace

Result<CurveKeys> CurveKeysFor(const ClusterConfig& cfg, uint8_t chassis) {
  CurveKeys k;
  switch (cfg.fabric_auth()) {
    case ClusterConfig::FabricAuth::kOff:
      return k;
    case ClusterConfig::FabricAuth::kPassword: {
      Result<HaPasswordKeys> pk = PasswordKeys(cfg);
      if (!pk.ok()) return pk.status();
      if (chassis > kMaxKeyedChassis) return InvalidArgument("no password key for chassis " + std::to_string(chassis));
      k.enabled = true;
      k.public_key = pk->public_key(chassis);
      k.secret_key = pk->secret_key(chassis);
      k.peer_public_key = [keys = pk.value()](uint8_t peer) -> std::optional<std::string> {
        if (peer > kMaxKeyedChassis) return std::nullopt;
        return keys.public_key(peer);
      };
      return k;
    }
    case ClusterConfig::FabricAuth::kKeys:
      break;
  }
  const ChassisConfig* c = cfg.FindChassis(chassis);
  if (!c) return NotFound("no chassis " + std::to_string(chassis) + " in " + cfg.source);
  k.enabled = true;
  k.public_key = c->public_key;
  std::string secret = c->private_key;
  if (!c->private_key_file.empty()) {
    std::ifstream in(c->private_key_file);
    if (!in) return NotFound(cfg.source + ": chassis " + std::to_string(chassis) + ": cannot read private-key-file " + c->private_key_file);
    in >> secret;
  }
  if (secret.size() != 40) return InvalidArgument(cfg.source + ": chassis " + std::to_string(chassis) + ": private key is not 40 Z85 characters");
  // A private key that is not the pair of the public key the peers expect
  // would only show as refused handshakes: say so at once.
  const std::optional<std::string> derived = CurvePublicKeyOf(secret);
  if (!derived) {
    return InvalidArgument(cfg.source + ": chassis " + std::to_string(chassis) + ": the private key is not a CURVE key");
  }
  if (c->public_key != *derived) {
    return InvalidArgument(cfg.source + ": chassis " + std::to_string(chassis) +
                           ": the private key does not belong to its public-key (another pair's?)");
  }
  k.secret_key = secret;
  // A copy: the keys outlive any particular config object (reloads).
  std::map<uint8_t, std::string> peers;
  for (const ChassisConfig& pc : cfg.chassis) peers[pc.id] = pc.public_key;
  k.peer_public_key = [peers](uint8_t peer) -> std::optional<std::string> {
    auto it = peers.find(peer);
    if (it == peers.end()) return std::nullopt;
    return it->second;
  };
  return k;
}

Result<CurveKeys> NetworkCurveKeys(const ClusterConfig& cfg) {
  if (cfg.fabric_auth() == ClusterConfig::FabricAuth::kPassword) return CurveKeysFor(cfg, 0);
  if (cfg.fabric_auth() == ClusterConfig::FabricAuth::kOff) return CurveKeys{};
  // Keys per chassis: the network has none of its own; it may use a
  // chassis's pair when it can read that chassis's private key (root on a
  // cluster host, as in the demo and the tests).
  Status last = NotFound(cfg.source + ": no readable private key to reach the backplane with");
  for (const ChassisConfig& c : cfg.chassis) {
    Result<CurveKeys> k = CurveKeysFor(cfg, c.id);
    if (k.ok()) return k;
    last = k.status();
  }
  return last;
}

Result<std::map<std::string, uint8_t>> CurvePeerKeys(const ClusterConfig& cfg) {
  std::map<std::string, uint8_t> m;
  if (cfg.fabric_auth() == ClusterConfig::FabricAuth::kPassword) {
    Result<HaPasswordKeys> pk = PasswordKeys(cfg);
    if (!pk.ok()) return pk.status();
    for (int c = 0; c <= kMaxKeyedChassis; ++c) m[pk->public_key(static_cast<uint8_t>(c))] = static_cast<uint8_t>(c);
    return m;
  }
  for (const ChassisConfig& c : cfg.chassis) m[c.public_key] = c.id;
  return m;
}

}  // namespace bladesync
