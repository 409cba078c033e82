// kiln perf: its options (perf_analyzer's names) and the parsers for its structured flag values.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::perf {

enum class Protocol { kHttp, kGrpc };
enum class LoadMode { kConcurrency, kRequestRate };
enum class Distribution { kConstant, kPoisson };
// --shared-memory: where requests' tensors live (kNone: in the requests and responses themselves).
enum class ShmKind { kNone, kSystem, kCuda };

// start:end:step, inclusive of end. A single value "N" is N:N:1.
struct Range {
  double start = 1, end = 1, step = 1;
  std::vector<double> values() const;
};

struct PerfOptions {
  std::string model;
  std::string version;  // "" = the server's default version
  std::string url;      // host:port; "" = localhost:8000 (http) or localhost:8001 (grpc)
  Protocol protocol = Protocol::kHttp;
  LoadMode mode = LoadMode::kConcurrency;
  Range concurrency;   // used in kConcurrency
  Range request_rate;  // used in kRequestRate (requests/s)
  Distribution distribution = Distribution::kConstant;
  int max_threads = 16;  // request-rate mode: sending threads
  int64_t batch_size = 1;
  std::map<std::string, Dims> shapes;  // --shape NAME:dims (without the batch dimension)
  std::string input_data = "random";   // random | zero | path to a JSON file
  bool binary_data = false;            // HTTP: binary tensor extension for inputs and outputs
  int64_t measurement_ms = 5000;
  double stability_percent = 10;
  int max_trials = 10;
  int percentile = 0;  // 0: average latency is the stability metric and the reported latency
  std::string csv_path;
  size_t max_message_bytes = size_t{64} << 20;
  // --shared-memory system|cuda: inputs are written once into POSIX shared memory (system) or device memory
  // exported with a CUDA IPC handle (cuda), registered with the server, and outputs are written by the server into
  // it (requests and responses carry no tensor bytes).
  ShmKind shared_memory = ShmKind::kNone;
  uint64_t output_shared_memory_size = 0;  // --output-shared-memory-size (0 = from the model metadata)
  int cuda_device = 0;                     // --cuda-device: the GPU of the --shared-memory cuda buffers
};

// "a:b:s", "a:b" (step 1) or "a". Fails on non-numbers, start <= 0, end < start or step <= 0.
Result<Range> parse_range(const std::string& text, const std::string& flag);
// "NAME:d0,d1,..." split at the LAST ':' (input names may contain ':' and '/'). Dims must be >= 0.
Result<std::pair<std::string, Dims>> parse_shape(const std::string& text);
// "host:port" or "[v6]:port" or "host" (default port); a leading "http://" or "grpc://" is accepted.
Result<std::pair<std::string, int>> parse_url(const std::string& text, int default_port);

}  // namespace kiln::perf
