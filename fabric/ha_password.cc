#include "fabric/ha_password.h"

#include <sodium.h>
#include <zmq.h>

namespace bladesync {

Result<HaPasswordKeys> HaPasswordKeys::Derive(const std::string& password, uint32_t group_id,
                                              const std::string& group_name) {
  if (password.empty()) return InvalidArgument("the HA password is empty");
  if (sodium_init() < 0) return Unavailable("libsodium failed to initialise");
  // Salt: the cluster's identity, so two clusters with one password still differ.
  const std::string salt_input = "bladesync-ha/" + std::to_string(group_id) + "/" + group_name;
  unsigned char salt[crypto_pwhash_SALTBYTES];
  crypto_generichash(salt, sizeof salt, reinterpret_cast<const unsigned char*>(salt_input.data()), salt_input.size(),
                     nullptr, 0);
  unsigned char master[crypto_kdf_KEYBYTES];
  if (crypto_pwhash(master, sizeof master, password.data(), password.size(), salt, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                    crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Unavailable("deriving keys from the HA password ran out of memory");
  }
  HaPasswordKeys k;
  for (int c = 0; c <= kMaxKeyedChassis; ++c) {
    unsigned char sec[crypto_scalarmult_BYTES], pub[crypto_scalarmult_BYTES];
    crypto_kdf_derive_from_key(sec, sizeof sec, static_cast<uint64_t>(c), "bsyncha1", master);
    crypto_scalarmult_base(pub, sec);
    char z85_sec[41] = {0}, z85_pub[41] = {0};
    zmq_z85_encode(z85_sec, sec, sizeof sec);
    zmq_z85_encode(z85_pub, pub, sizeof pub);
    k.secret_[c] = z85_sec;
    k.public_[c] = z85_pub;
    sodium_memzero(sec, sizeof sec);
  }
  sodium_memzero(master, sizeof master);
  return k;
}

}  // namespace bladesync
