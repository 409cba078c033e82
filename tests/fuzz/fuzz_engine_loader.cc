// libFuzzer target: engine file bytes -> Engine::from_bytes (header, checksum, metadata, graph, weights).
// The checksum rejects almost every mutation, so inputs whose magic matches get their header's size and
// checksum fixed up (when the fuzzer's first byte says so) to reach the decoder behind it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "kiln/engine.h"
#include "runtime/format/engine_file.h"

namespace {

uint64_t fnv1a(const char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint8_t>(p[i]);
    h *= 1099511628211ull;
  }
  return h;
}

void load(const std::string& bytes) {
  auto e = kiln::Engine::from_bytes(bytes, "fuzz.kiln");
  if (e.ok()) {
    volatile size_t n = (*e)->inputs().size() + (*e)->outputs().size() + (*e)->weight_bytes();
    (void)n;
    volatile size_t d = (*e)->describe().size();
    (void)d;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  load(bytes);  // as given: exercises magic/version/size/checksum checks
  if (size >= kiln::kEngineHeaderSize && std::memcmp(bytes.data(), kiln::kEngineMagic, 8) == 0) {
    uint64_t n = bytes.size();
    uint64_t sum = fnv1a(bytes.data() + kiln::kEngineHeaderSize, n - kiln::kEngineHeaderSize);
    std::memcpy(&bytes[16], &n, 8);
    std::memcpy(&bytes[24], &sum, 8);
    load(bytes);  // with a valid size and checksum: exercises the metadata/graph/weights decoder
  }
  return 0;
}
