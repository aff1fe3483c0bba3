// ConfigAddressBook: where every node listens, derived from the cluster config.
//
// Blade s of chassis c listens on tcp://<m1>:<sync-port + s> for M1 and the
// same port on the M2 address; the manager uses slot 0. The backplane is
// inproc://bladesync-<group>-<c>-<s> when the chassis runs in one process,
// else tcp://<backplane>:<sync-port + 100 + s>.
#pragma once

#include "config/cluster_config.h"
#include "fabric/zmq_transport.h"

namespace bladesync {

class ConfigAddressBook : public AddressBook {
 public:
  explicit ConfigAddressBook(const ClusterConfig& cfg) : cfg_(cfg) {}
  std::optional<std::string> Endpoint(NodeId node, Link link) const override;

 private:
  const ClusterConfig& cfg_;
};

// CURVE settings of one chassis from the config (keys, peers' public keys):
// from `set password` (derived, see fabric/ha_password.h) or from each
// chassis's public-key and private-key (or private-key-file); disabled when neither is set.
Result<CurveKeys> CurveKeysFor(const ClusterConfig& cfg, uint8_t chassis);
// The keys the network in front of the cluster (the traffic source) sends
// with to a manager's backplane port.
Result<CurveKeys> NetworkCurveKeys(const ClusterConfig& cfg);
// Public key -> chassis, for the ZAP handler (0 = the network, password only).
Result<std::map<std::string, uint8_t>> CurvePeerKeys(const ClusterConfig& cfg);

}  // namespace bladesync
