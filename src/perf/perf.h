// kiln perf: the perf_analyzer-style load client's entry point.
#pragma once
#include "kiln/status.h"
#include "perf/perf_options.h"

namespace kiln::perf {

// Connects, reads the model's metadata, prepares requests and runs every load step, printing each step's
// report to stdout (ending with "Concurrency: N, throughput: X infer/sec, latency Y usec" or "Request Rate:
// ..."), then writes the CSV file when asked. Any failure is returned as one-line Status.
Status run_perf(const PerfOptions& options, bool verbose);

}  // namespace kiln::perf
