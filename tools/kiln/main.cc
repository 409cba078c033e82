// kiln: build, run, bench, inspect and conformance-test ONNX models.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "tools/kiln/commands.h"

namespace {

// OpenMP (the CPU backend's thread pool) reads its wait policy once, when its runtime loads, before main. Its default
// lets idle threads spin, which makes multi-threaded CPU inference bimodal when the cores are busy with anything else
// (MobileNetV3-small at --threads 2 beside a build: median 6.8 ms, p99 102 ms; passive: 3.8 ms, p99 12 ms). Commands
// that run engines restart once with OMP_WAIT_POLICY=PASSIVE unless the user set a policy, or asked for one thread
// (docs/cpu-backend.md).
void prefer_passive_openmp_wait(int argc, char** argv) {
  if (argc < 2 || std::getenv("OMP_WAIT_POLICY")) return;
  const std::string cmd = argv[1];
  if (cmd != "run" && cmd != "bench" && cmd != "serve" && cmd != "conformance") return;
  const char* env_threads = std::getenv("KILN_NUM_THREADS");
  bool one_thread = env_threads && std::string(env_threads) == "1";
  for (int i = 2; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--threads") one_thread = std::string(argv[i + 1]) == "1";
  if (one_thread) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: carry on with the default policy
}

}  // namespace

int main(int argc, char** argv) {
  prefer_passive_openmp_wait(argc, argv);
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
