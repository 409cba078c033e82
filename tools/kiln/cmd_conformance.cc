// kiln conformance DIR...: runs ONNX backend-test-layout cases and prints PASS/FAIL/UNSUPPORTED per case.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "ir/graph.h"
#include "onnx/importer.h"
#include "onnx/tensor_proto.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/commands.h"
#include "tools/kiln/compare.h"

namespace fs = std::filesystem;

namespace kiln::cli {

namespace {

enum class Verdict { kPass, kFail, kUnsupported };

bool uses_random_ops(const Graph& g) {
  for (const Node& n : g.nodes) {
    switch (n.op) {
      case OpKind::kBernoulli: case OpKind::kRandomNormal: case OpKind::kRandomNormalLike: case OpKind::kRandomUniform:
      case OpKind::kRandomUniformLike: case OpKind::kMultinomial:
        return true;
      default: break;
    }
    for (const auto& [an, av] : n.attrs.all()) {
      if (auto* gp = std::get_if<GraphPtr>(&av))
        if (uses_random_ops(**gp)) return true;
    }
  }
  return false;
}

std::vector<fs::path> sorted_files(const fs::path& dir, const std::string& prefix) {
  std::vector<std::pair<int, fs::path>> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind(prefix, 0) == 0 && e.path().extension() == ".pb") {
      try {
        files.emplace_back(std::stoi(n.substr(prefix.size())), e.path());
      } catch (...) {
      }
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<fs::path> out;
  for (auto& f : files) out.push_back(f.second);
  return out;
}

// Whether a model holds quantized ops or Q/DQ (explicit quantization): --precision int8|fp8 builds those as they are.
bool explicitly_quantized(const std::string& path) {
  auto graph = import_onnx_file(path);
  if (!graph.ok()) return false;
  for (const auto& n : (*graph)->nodes)
    if (is_quantization_op(n.op)) return true;
  return false;
}

std::pair<Verdict, std::string> run_case(const fs::path& dir, const BuildOptions& asked, bool via_engine,
                                         const BuildFlags& flags) {
  BuildOptions options = asked;
  std::string note;
  // --precision int8|fp8 without calibration data: a case with quantized ops runs its quantized kernels; any other case
  // has nothing to quantize and runs in fp32 (the line says so).
  if ((options.precision == "int8" || options.precision == "fp8") && options.calib_dir.empty() &&
      options.calib_cache.empty() && !explicitly_quantized((dir / "model.onnx").string())) {
    options.precision = "fp32";
    note = "no quantized ops: fp32";
  }
  auto built = Engine::build_from_onnx((dir / "model.onnx").string(), options);
  if (!built.ok()) {
    Verdict v = built.status().code() == StatusCode::kUnimplemented ? Verdict::kUnsupported : Verdict::kFail;
    return {v, built.status().message()};
  }
  std::shared_ptr<Engine> engine = *built;
  const Budget budget = budget_for_precision(engine->info().precision);  // what the build made of --precision
  if (via_engine) {
    auto bytes = engine->serialize();
    if (!bytes.ok()) return {Verdict::kFail, "serialize: " + bytes.status().message()};
    auto loaded = Engine::from_bytes(*bytes, dir.string());
    if (!loaded.ok()) return {Verdict::kFail, "engine round trip: " + loaded.status().message()};
    engine = *loaded;
  }
  bool random = uses_random_ops(engine->graph());
  std::vector<fs::path> sets;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return {Verdict::kFail, "no test_data_set_* folders"};
  auto ctx = engine->create_context();
  flags.configure(*ctx);
  for (const auto& set : sets) {
    auto in_files = sorted_files(set, "input_");
    auto out_files = sorted_files(set, "output_");
    const auto& in_descs = engine->inputs();
    const auto& out_descs = engine->outputs();
    if (in_files.size() > in_descs.size())
      return {Verdict::kFail, set.filename().string() + ": " + std::to_string(in_files.size()) + " input files for " +
                                  std::to_string(in_descs.size()) + " model inputs"};
    NamedValues inputs;
    for (size_t i = 0; i < in_files.size(); ++i) {
      auto v = load_value_pb(in_files[i].string(), in_descs[i].kind);
      if (!v.ok()) return {Verdict::kFail, v.status().message()};
      inputs.emplace_back(in_descs[i].name, std::move(v).value());
    }
    NamedValues outputs;
    Status st = ctx->run(inputs, &outputs);
    if (!st.ok()) {
      Verdict v = st.code() == StatusCode::kUnimplemented ? Verdict::kUnsupported : Verdict::kFail;
      return {v, st.message()};
    }
    if (out_files.size() != outputs.size())
      return {Verdict::kFail, std::to_string(outputs.size()) + " outputs, expected " + std::to_string(out_files.size())};
    for (size_t i = 0; i < out_files.size(); ++i) {
      auto expected = load_value_pb(out_files[i].string(), out_descs[i].kind);
      if (!expected.ok()) return {Verdict::kFail, expected.status().message()};
      std::string diff = compare_values(*expected, outputs[i].second, random, budget);
      if (!diff.empty()) return {Verdict::kFail, "output '" + out_descs[i].name + "': " + diff};
    }
  }
  std::string why = random ? "random op: dtype and shape checked" : "";
  if (!note.empty()) why += (why.empty() ? "" : "; ") + note;
  return {Verdict::kPass, why};
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return s;
}

}  // namespace

std::function<int()> add_conformance_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("conformance", "Run ONNX backend test cases (model.onnx + test_data_set_N folders)");
  struct Args {
    std::vector<std::string> dirs;
    BuildFlags flags;
    bool via_engine = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("dirs", args->dirs, "Case folders, or folders of case folders")->required();
  cmd->add_flag("--via-engine", args->via_engine, "Serialize and reload each engine before running it");
  args->flags.add_to(cmd, false);
  args->flags.add_runtime_to(cmd);
  return [args]() {
    auto opts = args->flags.to_options();
    if (!opts.ok()) return fail("conformance", opts.status());
    std::vector<fs::path> cases;
    for (const auto& d : args->dirs) {
      fs::path p(d);
      std::error_code ec;
      if (fs::exists(p / "model.onnx", ec)) {
        cases.push_back(p);
        continue;
      }
      if (!fs::is_directory(p, ec)) return fail("conformance", not_found("'" + d + "' is not a test case folder"));
      std::vector<fs::path> sub;
      for (const auto& e : fs::directory_iterator(p, ec))
        if (fs::exists(e.path() / "model.onnx")) sub.push_back(e.path());
      std::sort(sub.begin(), sub.end());
      cases.insert(cases.end(), sub.begin(), sub.end());
    }
    int passed = 0, failed = 0, skipped = 0;
    for (const auto& c : cases) {
      auto [verdict, reason] = run_case(c, *opts, args->via_engine, args->flags);
      const char* tag = verdict == Verdict::kPass ? "PASS" : verdict == Verdict::kFail ? "FAIL" : "UNSUPPORTED";
      (verdict == Verdict::kPass ? passed : verdict == Verdict::kFail ? failed : skipped)++;
      std::cout << tag << " " << c.filename().string() << (reason.empty() ? "" : " " + one_line(reason)) << std::endl;
    }
    std::cout << passed << " passed, " << failed << " failed, " << skipped << " skipped" << std::endl;
    return failed ? 1 : 0;
  };
}

}  // namespace kiln::cli
