// kiln run MODEL --input NAME=FILE ... --output-dir DIR: one inference with inputs from .pb/.npy files.
#include <filesystem>
#include <iostream>

#include "core/npy.h"
#include "onnx/tensor_proto.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/commands.h"

namespace kiln::cli {

namespace {

// Output names may contain '/' or ':' (PyTorch exports): make a safe file name.
std::string file_name_for(const std::string& name) {
  std::string s;
  for (char c : name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.') ? c : '_';
  if (s.empty() || s[0] == '.') s = "_" + s;
  return s;
}

std::string preview(const Tensor& t) {
  std::string s;
  int64_t n = std::min<int64_t>(t.numel(), 6);
  for (int64_t i = 0; i < n; ++i) {
    if (i) s += ", ";
    if (t.dtype() == DType::kString) s += "\"" + t.strings()[i] + "\"";
    else if (is_float(t.dtype())) s += std::to_string(t.as_double(i));
    else s += std::to_string(t.as_int64(i));
  }
  if (t.numel() > n) s += ", ...";
  return "[" + s + "]";
}

}  // namespace

std::function<int()> add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run one inference; inputs and outputs as TensorProto .pb or .npy files");
  struct Args {
    std::string model, output_dir, output_format = "pb";
    std::vector<std::string> inputs;
    bool allow_nonfinite = false;
    BuildFlags flags;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("model", args->model, "Engine file or ONNX model")->required();
  cmd->add_option("--input,-i", args->inputs, "NAME=FILE.pb or NAME=FILE.npy (repeat per input)");
  cmd->add_option("--output-dir", args->output_dir, "Folder to write outputs to (one file per output)");
  cmd->add_option("--output-format", args->output_format, "pb or npy")->check(CLI::IsMember({"pb", "npy"}));
  cmd->add_flag("--allow-nonfinite", args->allow_nonfinite, "Accept NaN/Inf in float inputs");
  args->flags.add_to(cmd, false);
  args->flags.add_runtime_to(cmd);
  return [args]() {
    auto opts = args->flags.to_options();
    if (!opts.ok()) return fail("run", opts.status());
    auto engine = open_model(args->model, *opts);
    if (!engine.ok()) return fail("run", engine.status());
    auto loaded = load_input_files(**engine, args->inputs);
    if (!loaded.ok()) return fail("run", loaded.status());
    NamedValues inputs = std::move(loaded).value();
    auto ctx = (*engine)->create_context();
    args->flags.configure(*ctx);
    NamedValues outputs;
    RunOptions ropts;
    ropts.check_finite = !args->allow_nonfinite;
    Status st = ctx->run(inputs, &outputs, ropts);
    if (!st.ok()) return fail("run", st);
    if (!args->output_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(args->output_dir, ec);
      if (ec) return fail("run", not_found("cannot create output folder '" + args->output_dir + "'"));
    }
    for (const auto& [name, v] : outputs) {
      if (v.kind == ValueKind::kTensor)
        std::cout << name << ": " << dtype_name(v.tensor.dtype()) << "[" << dims_to_string(v.tensor.dims()) << "] "
                  << preview(v.tensor) << "\n";
      else
        std::cout << name << ": " << (v.kind == ValueKind::kSequence ? "sequence of " + std::to_string(v.sequence.size())
                                                                    : std::string(v.has_value ? "optional" : "optional (empty)"))
                  << "\n";
      if (args->output_dir.empty()) continue;
      std::string base = (std::filesystem::path(args->output_dir) / file_name_for(name)).string();
      Status ws = args->output_format == "npy" && v.kind == ValueKind::kTensor ? save_npy(base + ".npy", v.tensor)
                                                                                : save_value_pb(base + ".pb", v, name);
      if (!ws.ok()) return fail("run", ws);
    }
    return 0;
  };
}

}  // namespace kiln::cli
