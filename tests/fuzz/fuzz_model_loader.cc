// libFuzzer target: ONNX model bytes -> import_onnx_bytes (parse, convert, verify, infer types).
// Any input must give a graph or an error Status: no crash, no sanitizer report, no huge allocation.
#include <cstddef>
#include <cstdint>
#include <string>

#include "onnx/importer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  // base_dir points at an empty, nonexistent folder: external data references fail cleanly.
  auto g = kiln::import_onnx_bytes(bytes, "/nonexistent-kiln-fuzz-dir", "fuzz.onnx");
  if (g.ok()) {
    volatile size_t n = (*g)->nodes.size();
    (void)n;
  } else {
    volatile size_t n = g.status().message().size();
    (void)n;
  }
  return 0;
}
