// kiln: build, run, bench, inspect and conformance-test ONNX models.
#include <cstdio>
#include <map>
#include <string>

#include "tools/kiln/commands.h"

int main(int argc, char** argv) {
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto* sub : app.get_subcommands()) return runners[sub->get_name()]();
  return 2;
}
