// HA password -> CURVE keys: FortiOS's `set password` for the fabric.
//
// Every chassis of a cluster derives the same master key from the password
// (Argon2id, salted with the group id and name), and from it one CURVE key
// pair per chassis: chassis N's secret key is KDF(master, N). So each
// chassis knows every peer's public key without a key exchange, the
// operator types one secret per cluster, and a chassis that holds another
// password is refused at the CURVE handshake. Chassis 0 is the network in
// front of the cluster (the traffic source of the demo and the tests).
//
//   Result<HaPasswordKeys> k = DeriveHaPasswordKeys("s3cret", 7, "prod");
//   k->pair(2).public_key  // chassis 2's public key, Z85
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace bladesync {

struct CurveKeyPair;

inline constexpr int kMaxKeyedChassis = 4;  // chassis ids 1..4, and 0 for the network

class HaPasswordKeys {
 public:
  // Slow on purpose (Argon2id, interactive limits: about 0.1 s and 64 MiB),
  // so a captured handshake does not make the password cheap to guess.
  static Result<HaPasswordKeys> Derive(const std::string& password, uint32_t group_id, const std::string& group_name);
  // Z85 public and secret key of `chassis` (0..kMaxKeyedChassis).
  const std::string& public_key(uint8_t chassis) const { return public_[chassis]; }
  const std::string& secret_key(uint8_t chassis) const { return secret_[chassis]; }

 private:
  std::array<std::string, kMaxKeyedChassis + 1> public_, secret_;
};

}  // namespace bladesync
