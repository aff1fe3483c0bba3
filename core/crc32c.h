// CRC32C (Castagnoli): the integrity check each fabric frame carries, so a
// frame corrupted in transit (a bit flip TCP's 16-bit sum let through, bad
// memory on a NIC) is dropped instead of acted on. SSE4.2's crc32
// instruction where the CPU has it, a table otherwise.
//
//   uint32_t c = Crc32c(bytes);
#pragma once

#include <cstdint>
#include <span>

namespace bladesync {

uint32_t Crc32c(std::span<const uint8_t> bytes);

}  // namespace bladesync
