// config.pbtxt parsing and validation; every error names the file and the field.
#include "server/model_config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "server/inference_server.h"

namespace kiln::server {

constexpr const char* kIntraOpThreads = "intra_op_thread_count";

namespace {

class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    if (first_.empty())
      first_ = "line " + std::to_string(line + 1) + " col " + std::to_string(column + 1) + ": " + message;
  }
  void AddWarning(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {}
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

std::string dims_str(const google::protobuf::RepeatedField<int64_t>& dims) {
  std::string s = "[";
  for (int i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string dims_str(const Dims& dims, size_t from) {
  std::string s = "[";
  for (size_t i = from; i < dims.size(); ++i) s += (i > from ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

Status field_error(const std::string& origin, const std::string& field, const std::string& what) {
  return invalid_argument(origin + ": field " + field + ": " + what);
}

// Checks one config tensor (input or output) against the engine's description of it.
template <typename ConfigTensor>
Status check_tensor(ConfigTensor* t, const TensorDesc& d, bool batched, const std::string& origin,
                    const std::string& field) {
  DType want;
  if (!dtype_from_config(t->data_type(), &want))
    return field_error(origin, field + ".data_type", "unsupported data type " + DataType_Name(t->data_type()));
  if (d.dtype != DType::kUndefined && d.dtype != want)
    return field_error(
        origin, field + ".data_type",
        DataType_Name(t->data_type()) + " but the model's '" + d.name + "' is " + datatype_name(d.dtype));
  if (!d.rank_known) return ok_status();
  size_t first = batched ? 1 : 0;
  if (batched && (d.dims.empty() || d.dims[0] >= 0))
    return field_error(
        origin, "max_batch_size",
        "> 0 needs a dynamic first (batch) dim, but the model's '" + d.name + "' has shape " + dims_str(d.dims, 0));
  // The dims the engine sees: the reshape target when one is given, else the config dims.
  const auto& seen = t->has_reshape() ? t->reshape().shape() : t->dims();
  if (static_cast<size_t>(seen.size()) != d.dims.size() - first)
    return field_error(origin, field + (t->has_reshape() ? ".reshape" : ".dims"),
                       dims_str(seen) + " does not match the model's '" + d.name + "' shape " +
                           dims_str(d.dims, first) + (batched ? " (without the batch dim)" : ""));
  for (int i = 0; i < seen.size(); ++i) {
    int64_t e = d.dims[first + i];
    if (seen[i] < -1 || seen[i] == 0 || (e >= 0 && seen[i] >= 0 && e != seen[i]))
      return field_error(
          origin, field + ".dims",
          dims_str(seen) + " does not match the model's '" + d.name + "' shape " + dims_str(d.dims, first));
  }
  return ok_status();
}

}  // namespace

Result<ModelConfig> parse_model_config_text(const std::string& text, const std::string& origin) {
  ModelConfig config;
  google::protobuf::TextFormat::Parser parser;
  FirstErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &config))
    return invalid_argument(origin + ": " + (errors.first().empty() ? "cannot parse" : errors.first()));
  return config;
}

Result<ModelConfig> parse_model_config_json(const std::string& json, const std::string& origin) {
  if (json.size() > (size_t{4} << 20)) return invalid_argument(origin + ": larger than 4 MiB");
  size_t first = json.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || json[first] != '{')
    return invalid_argument(origin + ": must be a JSON object (a model config)");
  ModelConfig config;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(json, &config, options);
  if (!st.ok()) return invalid_argument(origin + ": invalid JSON model config: " + std::string(st.message()));
  std::vector<std::string> ignored = ignored_config_fields(config);
  if (!ignored.empty()) {
    std::string list;
    for (const auto& f : ignored) list += (list.empty() ? "" : ", ") + f;
    log_json("warning", origin + ": accepted but ignored config fields: " + list,
             {{"model", config.name()}, {"fields", list}});
  }
  return config;
}

bool autocomplete_batching(ModelConfig* c, const Engine& engine, int default_max_batch_size) {
  if (c->has_max_batch_size() || default_max_batch_size <= 0) return false;
  auto batchable = [](const std::vector<TensorDesc>& descs, const auto& listed) {
    if (descs.empty()) return false;
    for (const auto& d : descs) {
      if (d.kind != ValueKind::kTensor || !d.rank_known || d.dims.empty() || d.dims[0] >= 0) return false;
      for (const auto& t : listed)  // a listed tensor must describe the dims after the batch dim
        if (t.name() == d.name &&
            static_cast<size_t>(t.has_reshape() ? t.reshape().shape_size() : t.dims_size()) != d.dims.size() - 1)
          return false;
    }
    return true;
  };
  if (!batchable(engine.inputs(), c->input()) || !batchable(engine.outputs(), c->output())) return false;
  c->set_max_batch_size(default_max_batch_size);
  if (!c->has_dynamic_batching()) c->mutable_dynamic_batching();
  return true;
}

Result<ModelConfig> parse_model_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > (size_t{4} << 20)) return invalid_argument(path + ": larger than 4 MiB");
  KILN_ASSIGN_OR_RETURN(ModelConfig config, parse_model_config_text(ss.str(), path));
  std::vector<std::string> ignored = ignored_config_fields(config);
  if (!ignored.empty()) {
    std::string list;
    for (const auto& f : ignored) list += (list.empty() ? "" : ", ") + f;
    log_json("warning", path + ": accepted but ignored config fields: " + list,
             {{"model", config.name()}, {"fields", list}});
  }
  return config;
}

int intra_op_thread_count(const ModelConfig& c) {
  auto it = c.parameters().find(kIntraOpThreads);
  return it == c.parameters().end() ? 0 : std::atoi(it->second.string_value().c_str());
}

bool cuda_graphs_enabled(const ModelConfig& c) {
  return !(c.has_optimization() && c.optimization().has_cuda()) || c.optimization().cuda().graphs();
}

bool pinned_inputs_enabled(const ModelConfig& c) {
  return !(c.has_optimization() && c.optimization().has_input_pinned_memory()) ||
         c.optimization().input_pinned_memory().enable();
}

std::vector<std::string> ignored_config_fields(const ModelConfig& c) {
  std::vector<std::string> out;
  if (!c.platform().empty()) out.push_back("platform");
  if (!c.backend().empty()) out.push_back("backend");
  for (const auto& [key, value] : c.parameters())
    if (key != kIntraOpThreads) out.push_back("parameters." + key);
  if (c.has_model_transaction_policy()) out.push_back("model_transaction_policy");
  if (c.has_response_cache()) out.push_back("response_cache");
  if (c.has_optimization()) {
    const auto& o = c.optimization();
    if (o.has_graph()) out.push_back("optimization.graph");
    if (o.priority() != ModelOptimizationPolicy::PRIORITY_DEFAULT) out.push_back("optimization.priority");
    if (o.cuda().busy_wait_events()) out.push_back("optimization.cuda.busy_wait_events");
    if (o.cuda().output_copy_stream()) out.push_back("optimization.cuda.output_copy_stream");
    if (o.has_execution_accelerators()) out.push_back("optimization.execution_accelerators");
    if (o.has_output_pinned_memory()) out.push_back("optimization.output_pinned_memory");
    if (o.gather_kernel_buffer_threshold()) out.push_back("optimization.gather_kernel_buffer_threshold");
  }
  return out;
}

Status validate_model_config(const ModelConfig& c, const std::string& origin) {
  if (c.max_batch_size() < 0) return field_error(origin, "max_batch_size", "must be >= 0");
  if (auto it = c.parameters().find(kIntraOpThreads); it != c.parameters().end()) {
    const std::string& v = it->second.string_value();
    if (v.empty() || v.size() > 4 || v.find_first_not_of("0123456789") != std::string::npos)
      return field_error(origin, std::string("parameters.") + kIntraOpThreads,
                         "must be a thread count 0..9999 as a string_value, got '" + v + "'");
  }
  if (c.max_batch_size() > (1 << 20)) return field_error(origin, "max_batch_size", "must be <= 1048576");
  std::set<std::string> names;
  for (int i = 0; i < c.input_size(); ++i) {
    const auto& t = c.input(i);
    std::string f = "input[" + std::to_string(i) + "]";
    if (t.name().empty()) return field_error(origin, f + ".name", "is empty");
    if (!names.insert(t.name()).second) return field_error(origin, f + ".name", "'" + t.name() + "' appears twice");
    if (t.data_type() == TYPE_INVALID) return field_error(origin, f + ".data_type", "is missing");
    for (auto d : t.dims())
      if (d < -1 || d == 0) return field_error(origin, f + ".dims", "entries must be -1 or positive");
    if (t.has_reshape()) {
      int64_t a = 1, b = 1;
      bool var = false;
      for (auto d : t.dims()) {
        if (d < 0)
          var = true;
        else
          a *= d;
      }
      for (auto d : t.reshape().shape()) {
        if (d < -1 || d == 0) return field_error(origin, f + ".reshape.shape", "entries must be -1 or positive");
        if (d < 0)
          var = true;
        else
          b *= d;
      }
      if (var) return field_error(origin, f + ".reshape", "is only supported with fixed dims");
      if (a != b) return field_error(origin, f + ".reshape", "element count differs from dims");
    }
  }
  names.clear();
  for (int i = 0; i < c.output_size(); ++i) {
    const auto& t = c.output(i);
    std::string f = "output[" + std::to_string(i) + "]";
    if (t.name().empty()) return field_error(origin, f + ".name", "is empty");
    if (!names.insert(t.name()).second) return field_error(origin, f + ".name", "'" + t.name() + "' appears twice");
    if (t.data_type() == TYPE_INVALID) return field_error(origin, f + ".data_type", "is missing");
    if (t.has_reshape()) return field_error(origin, f + ".reshape", "is not supported on outputs");
  }
  if (c.has_dynamic_batching()) {
    const auto& db = c.dynamic_batching();
    if (c.max_batch_size() == 0) return field_error(origin, "dynamic_batching", "needs max_batch_size > 0");
    for (int p : db.preferred_batch_size())
      if (p <= 0 || p > c.max_batch_size())
        return field_error(origin, "dynamic_batching.preferred_batch_size",
                           std::to_string(p) + " is outside 1.." + std::to_string(c.max_batch_size()));
    if (db.max_queue_delay_microseconds() > 60'000'000)
      return field_error(origin, "dynamic_batching.max_queue_delay_microseconds", "must be <= 60000000");
    if (db.priority_levels() > 1024) return field_error(origin, "dynamic_batching.priority_levels", "must be <= 1024");
    if (db.priority_levels() == 0 && db.default_priority_level() != 0)
      return field_error(origin, "dynamic_batching.default_priority_level", "needs priority_levels");
    if (db.priority_levels() > 0 &&
        (db.default_priority_level() < 1 || db.default_priority_level() > db.priority_levels()))
      return field_error(origin, "dynamic_batching.default_priority_level",
                         "must be in 1.." + std::to_string(db.priority_levels()));
    for (const auto& [level, policy] : db.priority_queue_policy())
      if (level < 1 || level > db.priority_levels())
        return field_error(origin, "dynamic_batching.priority_queue_policy",
                           "level " + std::to_string(level) + " is outside 1.." + std::to_string(db.priority_levels()));
  }
  for (int i = 0; i < c.instance_group_size(); ++i) {
    const auto& g = c.instance_group(i);
    std::string f = "instance_group[" + std::to_string(i) + "]";
    if (g.count() < 0 || g.count() > 64) return field_error(origin, f + ".count", "must be in 0..64");
    if (g.kind() == ModelInstanceGroup::KIND_MODEL)
      return field_error(origin, f + ".kind", "KIND_MODEL is not supported");
    if (g.kind() == ModelInstanceGroup::KIND_CPU && g.gpus_size() > 0)
      return field_error(origin, f + ".gpus", "given with KIND_CPU");
    if (i > 0 && (g.kind() == ModelInstanceGroup::KIND_GPU) != wants_gpu(c))
      return field_error(origin, f + ".kind", "mixing GPU and CPU instance groups is not supported");
  }
  if (c.version_policy().has_latest() && c.version_policy().latest().num_versions() == 0)
    return field_error(origin, "version_policy.latest.num_versions", "must be >= 1");
  for (int i = 0; i < c.model_warmup_size(); ++i) {
    const auto& w = c.model_warmup(i);
    std::string f = "model_warmup[" + std::to_string(i) + "]";
    if (c.max_batch_size() > 0 && (w.batch_size() < 1 || w.batch_size() > static_cast<uint32_t>(c.max_batch_size())))
      return field_error(origin, f + ".batch_size", "must be in 1..max_batch_size");
    if (w.count() > 1000) return field_error(origin, f + ".count", "must be <= 1000");
    for (const auto& [name, in] : w.inputs()) {
      for (auto d : in.dims())
        if (d <= 0) return field_error(origin, f + ".inputs[" + name + "].dims", "entries must be positive");
      const std::string& file = in.input_data_file();
      if (in.input_data_type_case() == ModelWarmup::Input::kInputDataFile &&
          (file.empty() || file.find('/') != std::string::npos || file == "." || file == ".."))
        return field_error(origin, f + ".inputs[" + name + "].input_data_file",
                           "must be a plain file name inside the model's warmup/ folder");
    }
  }
  return ok_status();
}

Status complete_config_from_engine(ModelConfig* c, const Engine& engine, const std::string& origin) {
  bool batched = c->max_batch_size() > 0;
  auto fill = [&](const std::vector<TensorDesc>& descs, auto* list, const char* what) -> Status {
    if (list->size() == 0) {
      for (const auto& d : descs) {
        if (d.kind != ValueKind::kTensor || !d.rank_known)
          return field_error(origin, what,
                             "cannot be completed from the model: '" + d.name + "' is not a ranked tensor");
        DataType dt = config_from_dtype(d.dtype);
        if (dt == TYPE_INVALID)
          return field_error(origin, what, "model tensor '" + d.name + "' has unsupported type " + dtype_name(d.dtype));
        auto* t = list->Add();
        t->set_name(d.name);
        t->set_data_type(dt);
        if (batched && (d.dims.empty() || d.dims[0] >= 0))
          return field_error(origin, "max_batch_size",
                             "> 0 needs a dynamic first (batch) dim, but the model's '" + d.name + "' has shape " +
                                 dims_str(d.dims, 0));
        for (size_t i = batched ? 1 : 0; i < d.dims.size(); ++i) t->add_dims(d.dims[i] < 0 ? -1 : d.dims[i]);
      }
      return ok_status();
    }
    for (int i = 0; i < list->size(); ++i) {
      auto* t = list->Mutable(i);
      const TensorDesc* d = nullptr;
      for (const auto& x : descs)
        if (x.name == t->name()) d = &x;
      std::string f = std::string(what) + "[" + std::to_string(i) + "]";
      if (!d) return field_error(origin, f + ".name", "the model has no " + std::string(what) + " '" + t->name() + "'");
      if (d->kind != ValueKind::kTensor) return field_error(origin, f + ".name", "'" + t->name() + "' is not a tensor");
      KILN_RETURN_IF_ERROR(check_tensor(t, *d, batched, origin, f));
    }
    return ok_status();
  };
  KILN_RETURN_IF_ERROR(fill(engine.inputs(), c->mutable_input(), "input"));
  for (const auto& d : engine.inputs()) {
    bool listed = false;
    for (const auto& t : c->input()) listed |= t.name() == d.name;
    if (!listed) return field_error(origin, "input", "the model's input '" + d.name + "' is not listed");
  }
  KILN_RETURN_IF_ERROR(fill(engine.outputs(), c->mutable_output(), "output"));
  return ok_status();
}

std::vector<int64_t> select_versions(const ModelConfig& config, const std::vector<int64_t>& available) {
  const auto& p = config.version_policy();
  if (p.has_all()) return available;
  if (p.has_specific()) {
    std::vector<int64_t> out;
    for (auto v : available)
      if (std::find(p.specific().versions().begin(), p.specific().versions().end(), v) != p.specific().versions().end())
        out.push_back(v);
    return out;
  }
  size_t n = p.has_latest() ? p.latest().num_versions() : 1;
  n = std::min(n, available.size());
  return std::vector<int64_t>(available.end() - n, available.end());
}

int instance_count(const ModelConfig& config) {
  int n = 0;
  for (const auto& g : config.instance_group()) n += g.count() > 0 ? g.count() : 1;
  return std::max(n, 1);
}

bool wants_gpu(const ModelConfig& config) {
  return config.instance_group_size() > 0 && config.instance_group(0).kind() == ModelInstanceGroup::KIND_GPU;
}

}  // namespace kiln::server
