// kiln build MODEL.onnx -o FILE.kiln: compile and write an engine file.
#include <chrono>
#include <iostream>

#include "ir/graph.h"

#include "tools/kiln/cli_util.h"
#include "tools/kiln/commands.h"

namespace kiln::cli {

std::function<int()> add_build_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("build", "Compile an ONNX model into an engine file");
  struct Args {
    std::string model, output, backend;
    BuildFlags flags;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("-o,--output", args->output, "Engine file to write")->required();
  args->flags.add_to(cmd, true);
  args->flags.add_calib_to(cmd, true);
  args->flags.add_guard_to(cmd);
  if (!cmd->get_option_no_throw("--backend"))
    cmd->add_option("--backend", args->backend,
                    "Backend that runs every node it supports, the reference backend the rest (reference: the "
                    "oracle); default: the --device's backends (cpu: cpu, then reference)");
  return [args]() {
    auto opts = args->flags.to_options();
    if (!opts.ok()) return fail("build", opts.status());
    if (!args->backend.empty()) opts->backend = args->backend;
    auto t0 = std::chrono::steady_clock::now();
    auto engine = Engine::build_from_onnx(args->model, *opts);
    if (!engine.ok()) return fail("build", engine.status());
    Status st = (*engine)->save(args->output);
    if (!st.ok()) return fail("build", st);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "Built " << args->output << " from " << args->model << " in " << secs << " s: "
              << (*engine)->graph().nodes.size() << " nodes, " << (*engine)->weight_bytes() << " weight bytes, backend "
              << (*engine)->info().backend << ", precision " << (*engine)->info().precision << "\n";
    if (!(*engine)->info().accuracy_guard.empty())
      std::cout << "Accuracy guard: " << (*engine)->info().accuracy_guard << "\n";
    return 0;
  };
}

std::function<int()> add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Describe an engine (or ONNX model): inputs, outputs, profiles, nodes");
  auto path = std::make_shared<std::string>();
  cmd->add_option("file", *path, "Engine file or ONNX model")->required();
  return [path]() {
    auto engine = open_model(*path, BuildOptions{});
    if (!engine.ok()) return fail("inspect", engine.status());
    std::cout << (*engine)->describe();
    return 0;
  };
}

}  // namespace kiln::cli
