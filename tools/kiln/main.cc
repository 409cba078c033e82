// kiln: build, run, bench, inspect and conformance-test ONNX models.
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "tools/kiln/commands.h"

namespace {

// Fraction of the machine's CPU time that was busy over `ms` milliseconds (from /proc/stat), or -1 if unknown.
double busy_fraction(int ms) {
  auto sample = [](unsigned long long* busy, unsigned long long* total) {
    FILE* f = std::fopen("/proc/stat", "r");
    if (!f) return false;
    unsigned long long v[10] = {};
    const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                              &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    std::fclose(f);
    if (n < 5) return false;
    *total = 0;
    for (int i = 0; i < 8; ++i) *total += v[i];  // guest time is already inside user time
    *busy = *total - v[3] - v[4];                 // minus idle and iowait
    return true;
  };
  unsigned long long b0, t0, b1, t1;
  if (!sample(&b0, &t0)) return -1;
  usleep(static_cast<useconds_t>(ms) * 1000);
  if (!sample(&b1, &t1) || t1 <= t0) return -1;
  return static_cast<double>(b1 - b0) / static_cast<double>(t1 - t0);
}

// OpenMP (the CPU backend's thread pool) reads its wait policy once, when its runtime loads, before main. Sleeping
// workers cost a wake-up per parallel region (MobileNetV3-small at --threads 2 on an idle 2-core machine: median
// 2.9-3.2 ms passive, 2.0-2.3 ms with a bounded spin of GOMP_SPINCOUNT=10000); spinning workers on cores that other
// processes need make latency bimodal (the same model beside two busy loops: passive 3.7-7.8 ms, spin 2000 8-17 ms,
// libgomp's default 448 ms). So commands that run engines restart once with a policy chosen for the moment:
// `serve` (instances share the cores) always passive; `run`, `bench` and `conformance` spin briefly when the machine
// is idle enough for their threads (sampled over 40 ms: at most half a core busy beyond theirs), else passive.
// KILN_OMP_WAIT=spin|passive forces one; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT, or one thread, is left
// alone (docs/cpu-backend.md).
void choose_openmp_wait(int argc, char** argv) {
  if (argc < 2 || std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  const std::string cmd = argv[1];
  if (cmd != "run" && cmd != "bench" && cmd != "serve" && cmd != "conformance") return;
  const char* env_threads = std::getenv("KILN_NUM_THREADS");
  int threads = env_threads ? std::atoi(env_threads) : 0;
  for (int i = 2; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--threads") threads = std::atoi(argv[i + 1]);
  if (threads == 1) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  const int usable = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  if (threads <= 0 || threads > usable) threads = usable;
  const char* forced = std::getenv("KILN_OMP_WAIT");
  bool spin = false;
  if (forced && std::string(forced) == "spin") {
    spin = true;
  } else if (!(forced && std::string(forced) == "passive") && cmd != "serve") {
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    const double busy = busy_fraction(40);
    // Cores other processes keep busy, against the cores left for our threads.
    spin = busy >= 0 && online > 0 && busy * static_cast<double>(online) + threads <= usable + 0.5;
  }
  if (spin)
    setenv("GOMP_SPINCOUNT", "10000", 1);  // about 10-30 us of spinning, then sleep
  else
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: carry on with the default policy
}

}  // namespace

int main(int argc, char** argv) {
  choose_openmp_wait(argc, argv);
  CLI::App app{"kiln: compile ONNX models into inference engines, run, benchmark and inspect them"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION);
  std::map<std::string, std::function<int()>> runners;
  runners["build"] = kiln::cli::add_build_command(app);
  runners["run"] = kiln::cli::add_run_command(app);
  runners["bench"] = kiln::cli::add_bench_command(app);
  runners["inspect"] = kiln::cli::add_inspect_command(app);
  runners["conformance"] = kiln::cli::add_conformance_command(app);
  runners["serve"] = kiln::cli::add_serve_command(app);
  runners["perf"] = kiln::cli::add_perf_command(app);
  runners["health"] = kiln::cli::add_health_command(app);
  runners["calibrate"] = kiln::cli::add_calibrate_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto* sub : app.get_subcommands()) return runners[sub->get_name()]();
  return 2;
}
