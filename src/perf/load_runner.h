// kiln perf's load generation and measurement: closed-loop concurrency or open-loop request rate, measured in
// time windows until three consecutive windows agree (perf_analyzer's stability rule).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "perf/client.h"

namespace kiln::perf {

// The merged measurement of one load step (the last three windows, or all windows when fewer).
struct StepResult {
  LoadMode mode = LoadMode::kConcurrency;
  double load = 0;  // concurrency or request rate
  bool stable = false;
  int windows = 0;
  double seconds = 0;     // measured time
  uint64_t requests = 0;  // completed requests in the measured time
  double throughput = 0;  // inferences/s (requests/s x batch)
  double avg_us = 0, stddev_us = 0;
  double p50_us = 0, p90_us = 0, p95_us = 0, p99_us = 0;
  double pct_us = 0;                // --percentile value when asked
  double send_us = 0, recv_us = 0;  // client-side averages
  uint64_t delayed = 0;             // request-rate mode: sends that started more than 1 ms late
  bool server_ok = false;           // statistics were read
  ServerStats server;               // delta over the measured windows
};

// Runs one load step. `data_sets` is how many prebuilt requests the backend holds (workers cycle through
// them). Fails when a request fails (one line: the first error) or the server's statistics cannot be read.
Result<StepResult> run_step(Backend& backend, const ModelInfo& model, const PerfOptions& options, LoadMode mode,
                            double load, size_t data_sets, bool verbose);

}  // namespace kiln::perf
