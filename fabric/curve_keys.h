// CURVE key helpers for what sits above the fabric (config checks, the
// peer check's shared secret), so only fabric/ speaks to ZeroMQ.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace bladesync {

// The Z85 public key of a Z85 CURVE secret key; nullopt if it is not one.
std::optional<std::string> CurvePublicKeyOf(const std::string& secret_z85);
// The 32 bytes of a 40-character Z85 key; nullopt if it is not one.
std::optional<std::array<uint8_t, 32>> DecodeCurveKey(const std::string& z85);

}  // namespace bladesync
