// The kiln subcommands: each registers its flags on a CLI11 app and runs from a callback.
#pragma once
#include <CLI/CLI.hpp>

namespace kiln::cli {

// Each returns a function that runs the parsed subcommand and yields the process exit code.
std::function<int()> add_build_command(CLI::App& app);
std::function<int()> add_run_command(CLI::App& app);
std::function<int()> add_bench_command(CLI::App& app);
std::function<int()> add_inspect_command(CLI::App& app);
std::function<int()> add_conformance_command(CLI::App& app);
std::function<int()> add_serve_command(CLI::App& app);
std::function<int()> add_perf_command(CLI::App& app);
std::function<int()> add_health_command(CLI::App& app);     // cmd_health.cc: HEALTHCHECK probe
std::function<int()> add_calibrate_command(CLI::App& app);  // cmd_calibrate.cc: engine into a model repository

}  // namespace kiln::cli
