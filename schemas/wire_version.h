// The wire schema's version (bladesync.fbs says what each bump means):
// chassis of one major version sync both ways; of two, they refuse each
// other's deltas and acks. Apart from core/version.h (the release), which
// changes with every commit's stamp, so that code reading frames does not.
//   1.0  release 0.2.0 (sent no version)
//   1.1  heartbeats, deltas and acks say their version; extensions of a
//        newer version are carried, not dropped
//   1.2  Linux conntrack creates and updates in a compact form
//        (ConntrackCreate4, ConntrackUpdate), sent to mirrors whose acks
//        say their minor version
//   1.3  BladeAlive on the backplane (a release before it drops them:
//        only its blades' own statuses count)
//   1.4  deltas say the owner's blade-workers when more than one; a
//        mirror of another count drops them (a release before 1.4 has
//        one worker per blade and cannot tell: mix no such release with
//        blade-workers above 1)
//   1.5  NAT with one side untranslated (source NAT only, destination NAT
//        only) of IPv4 sessions in a Nat4, 0.0.0.0 for that side, to
//        mirrors of 1.5 or later (a Nat6 before: 40 bytes instead of 16);
//        such a batch says its minor version, so a mirror reads a Nat4's
//        0.0.0.0 as untranslated only from an owner of 1.5 or later (an
//        address of 0.0.0.0 goes in a Nat6 from then on)
//   1.6  the digest mixes a session's extension bytes eight at a time (a
//        byte at a time before); an owner sends summary keep-alives only
//        to mirrors of 1.6 or later and says its minor version on them, so
//        a mirror compares a summary's digest only with an owner's of the
//        same kind (a release that changes the digest again raises
//        kDigestSchemaMinor to its own minor: its owners then send
//        summaries only to mirrors as new, and its mirrors compare only
//        digests of owners as new)
#pragma once

#include <cstdint>

namespace bladesync {
// The first minor version that reads each addition (what a mirror's acks
// must say before an owner sends it, and what an owner's batch must say
// before a mirror reads it so).
inline constexpr uint16_t kCompactConntrackSchemaMinor = 2;
inline constexpr uint16_t kHalfNat4SchemaMinor = 5;
// The first minor version whose digest (SessionStore::RecordHash) is this one.
inline constexpr uint16_t kDigestSchemaMinor = 6;
inline constexpr uint16_t kWireSchemaMajor = 1;
inline constexpr uint16_t kWireSchemaMinor = 6;
}  // namespace bladesync
