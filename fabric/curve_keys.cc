#include "fabric/curve_keys.h"

#include <zmq.h>

namespace bladesync {

std::optional<std::string> CurvePublicKeyOf(const std::string& secret_z85) {
  if (secret_z85.size() != 40) return std::nullopt;
  char derived[41] = {0};
  if (zmq_curve_public(derived, secret_z85.c_str()) != 0) return std::nullopt;
  return std::string(derived);
}

std::optional<std::array<uint8_t, 32>> DecodeCurveKey(const std::string& z85) {
  std::array<uint8_t, 32> out{};
  if (z85.size() != 40 || !zmq_z85_decode(out.data(), z85.c_str())) return std::nullopt;
  return out;
}

}  // namespace bladesync
