// Wire codec cost: building and verifying+reading full frames of deltas,
// and the CRC32C each end computes over every frame (core/crc32c.h).
//
//   bazel run -c opt //bench:codec_bench
#include <benchmark/benchmark.h>

#include "blades/delta_codec.h"
#include "core/crc32c.h"

namespace bladesync {
namespace {

SessionRecord Rec(uint32_t i) {
  SessionRecord r;
  r.key = SessionKey::V4(0x0a000000 + i, 0xc6336401, static_cast<uint16_t>(1024 + i), 443, kProtoTcp);
  r.version = i;
  r.proto_state = kTcpEstablished;
  r.timeout_s = 3600;
  return r;
}

// Encodes frames of state.range(0) deltas with add(encoder, i), reporting
// deltas per second and wire bytes per delta.
template <typename Add>
void EncodeFrames(benchmark::State& state, Add add) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  DeltaEncoder enc;
  BatchHeader h;
  h.from = wire::Origin(1, 1, 1, 1);
  h.seq_count = n;
  size_t bytes = 0;
  for (auto _ : state) {
    enc.Reset();
    for (uint32_t i = 0; i < n; ++i) add(enc, i);
    bytes = enc.FinishBatch(h).size();
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["bytes_per_delta"] = static_cast<double>(bytes) / n;
}

std::vector<SessionRecord> Records(uint32_t n) {
  std::vector<SessionRecord> recs;
  for (uint32_t i = 0; i < n; ++i) recs.push_back(Rec(i));
  return recs;
}

void BM_EncodeCreates4(benchmark::State& state) {
  const std::vector<SessionRecord> recs = Records(static_cast<uint32_t>(state.range(0)));
  EncodeFrames(state, [&](DeltaEncoder& e, uint32_t i) { e.AddCreate(i, recs[i], nullptr, false); });
}
BENCHMARK(BM_EncodeCreates4)->Arg(64)->Arg(2048);

void BM_EncodeDeletes(benchmark::State& state) {
  EncodeFrames(state, [](DeltaEncoder& e, uint32_t i) { e.AddDelete(i, i, 0); });
}
BENCHMARK(BM_EncodeDeletes)->Arg(2048);

void BM_EncodeUpdates(benchmark::State& state) {
  const std::vector<SessionRecord> recs = Records(static_cast<uint32_t>(state.range(0)));
  EncodeFrames(state, [&](DeltaEncoder& e, uint32_t i) { e.AddUpdate(i, recs[i]); });
}
BENCHMARK(BM_EncodeUpdates)->Arg(2048);

void BM_VerifyAndReadCreates4(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  DeltaEncoder enc;
  enc.Reset();
  for (uint32_t i = 0; i < n; ++i) enc.AddCreate(i, Rec(i), nullptr, false);
  BatchHeader h;
  h.from = wire::Origin(1, 1, 1, 1);
  h.seq_count = n;
  std::span<const uint8_t> f = enc.FinishBatch(h);
  std::vector<uint8_t> bytes(f.begin(), f.end());
  for (auto _ : state) {
    Result<const wire::Frame*> frame = VerifyFrame(bytes, FrameLimits{});
    uint64_t sum = 0;
    for (const wire::Create4* c : *frame.value()->msg_as_DeltaBatch()->creates4()) sum += c->src() ^ c->id();
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_VerifyAndReadCreates4)->Arg(64)->Arg(2048);

// A frame of state.range(0) bytes (a full frame of creates is about 65 KB,
// the bursts of 1024 the benches send about 33 KB).
void BM_Crc32c(benchmark::State& state) {
  std::vector<uint8_t> bytes(static_cast<size_t>(state.range(0)));
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 131 + 7);
  for (auto _ : state) benchmark::DoNotOptimize(Crc32c(bytes));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Crc32c)->Arg(64)->Arg(32 * 1024);

}  // namespace
}  // namespace bladesync

BENCHMARK_MAIN();
