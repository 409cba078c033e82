// Conversions between the KServe v2 gRPC messages and the InferenceServer's request/response structs.
#include "server/grpc/grpc_convert.h"

#include <cstring>
#include <limits>
#include <string>

namespace kiln::server::grpc_convert {
namespace {

ServerStatus bad(const std::string& message) { return server_error(ServerCode::kInvalidArgument, message); }

ParamValue param_from_proto(const inference::InferParameter& p) {
  switch (p.parameter_choice_case()) {
    case inference::InferParameter::kBoolParam:
      return p.bool_param();
    case inference::InferParameter::kInt64Param:
      return p.int64_param();
    case inference::InferParameter::kStringParam:
      return p.string_param();
    case inference::InferParameter::kDoubleParam:
      return p.double_param();
    case inference::InferParameter::kUint64Param:
      // Values above INT64_MAX saturate: no recognized parameter (priority, timeout) is meaningful there.
      return static_cast<int64_t>(std::min<uint64_t>(p.uint64_param(), std::numeric_limits<int64_t>::max()));
    default:
      return std::string();
  }
}

void params_from_proto(const google::protobuf::Map<std::string, inference::InferParameter>& in, Parameters* out) {
  for (const auto& [key, value] : in) (*out)[key] = param_from_proto(value);
}

void params_to_proto(const Parameters& in, google::protobuf::Map<std::string, inference::InferParameter>* out) {
  for (const auto& [key, value] : in) {
    inference::InferParameter& p = (*out)[key];
    if (const bool* b = std::get_if<bool>(&value))
      p.set_bool_param(*b);
    else if (const int64_t* i = std::get_if<int64_t>(&value))
      p.set_int64_param(*i);
    else if (const double* d = std::get_if<double>(&value))
      p.set_double_param(*d);
    else
      p.set_string_param(std::get<std::string>(value));
  }
}

// Appends `values` converted to T (range-checked) as little-endian bytes.
template <typename T, typename Src>
ServerStatus append_narrowed(const Src& values, const std::string& name, std::string* out) {
  out->resize(static_cast<size_t>(values.size()) * sizeof(T));
  char* dst = out->data();
  for (const auto v : values) {
    if (v < std::numeric_limits<T>::lowest() || v > std::numeric_limits<T>::max())
      return bad("input '" + name + "': value " + std::to_string(v) + " is out of range for its datatype");
    const T t = static_cast<T>(v);
    std::memcpy(dst, &t, sizeof(T));
    dst += sizeof(T);
  }
  return {};
}

template <typename T, typename Src>
void append_same(const Src& values, std::string* out) {
  out->resize(static_cast<size_t>(values.size()) * sizeof(T));
  if (!values.empty()) std::memcpy(out->data(), values.data(), out->size());
}

// Typed contents -> raw bytes. Returns the number of elements found via *count.
ServerStatus typed_to_raw(const inference::InferTensorContents& c, DType dtype, const std::string& name, int64_t* count,
                          std::string* out) {
  switch (dtype) {
    case DType::kBool: {
      *count = c.bool_contents_size();
      out->resize(static_cast<size_t>(*count));
      for (int i = 0; i < c.bool_contents_size(); ++i) (*out)[i] = c.bool_contents(i) ? 1 : 0;
      return {};
    }
    case DType::kInt8:
      *count = c.int_contents_size();
      return append_narrowed<int8_t>(c.int_contents(), name, out);
    case DType::kInt16:
      *count = c.int_contents_size();
      return append_narrowed<int16_t>(c.int_contents(), name, out);
    case DType::kInt32:
      *count = c.int_contents_size();
      append_same<int32_t>(c.int_contents(), out);
      return {};
    case DType::kInt64:
      *count = c.int64_contents_size();
      append_same<int64_t>(c.int64_contents(), out);
      return {};
    case DType::kUInt8:
      *count = c.uint_contents_size();
      return append_narrowed<uint8_t>(c.uint_contents(), name, out);
    case DType::kUInt16:
      *count = c.uint_contents_size();
      return append_narrowed<uint16_t>(c.uint_contents(), name, out);
    case DType::kUInt32:
      *count = c.uint_contents_size();
      append_same<uint32_t>(c.uint_contents(), out);
      return {};
    case DType::kUInt64:
      *count = c.uint64_contents_size();
      append_same<uint64_t>(c.uint64_contents(), out);
      return {};
    case DType::kFloat32:
      *count = c.fp32_contents_size();
      append_same<float>(c.fp32_contents(), out);
      return {};
    case DType::kFloat64:
      *count = c.fp64_contents_size();
      append_same<double>(c.fp64_contents(), out);
      return {};
    case DType::kString: {
      *count = c.bytes_contents_size();
      size_t total = 0;
      for (const auto& s : c.bytes_contents()) total += 4 + s.size();
      out->reserve(total);
      for (const auto& s : c.bytes_contents()) {
        if (s.size() > std::numeric_limits<uint32_t>::max()) return bad("input '" + name + "': element too large");
        const uint32_t len = static_cast<uint32_t>(s.size());
        char le[4] = {static_cast<char>(len & 0xff), static_cast<char>((len >> 8) & 0xff),
                      static_cast<char>((len >> 16) & 0xff), static_cast<char>((len >> 24) & 0xff)};
        out->append(le, 4);
        out->append(s);
      }
      return {};
    }
    default:
      return bad("input '" + name + "': datatype " + datatype_name(dtype) +
                 " has no typed contents field; send it in raw_input_contents");
  }
}

}  // namespace

grpc::StatusCode grpc_code(ServerCode code) {
  switch (code) {
    case ServerCode::kOk:
      return grpc::StatusCode::OK;
    case ServerCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case ServerCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case ServerCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case ServerCode::kQueueFull:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case ServerCode::kTimeout:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case ServerCode::kCancelled:
      return grpc::StatusCode::CANCELLED;
    case ServerCode::kPayloadTooLarge:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case ServerCode::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case ServerCode::kInternal:
      return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::INTERNAL;
}

grpc::Status to_grpc_status(const ServerStatus& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(grpc_code(status.code), status.message);
}

ServerStatus request_from_proto(inference::ModelInferRequest& in, InferRequest* out) {
  out->model_name = in.model_name();
  out->model_version = in.model_version();
  out->id = in.id();
  params_from_proto(in.parameters(), &out->parameters);
  // Inputs in shared memory carry no contents: raw_input_contents has one entry per other input, in order.
  auto in_shm = [](const inference::ModelInferRequest::InferInputTensor& t) {
    return t.parameters().count("shared_memory_region") > 0;
  };
  int data_inputs = 0;
  for (const auto& t : in.inputs()) data_inputs += in_shm(t) ? 0 : 1;
  const bool raw = in.raw_input_contents_size() > 0;
  if (raw && in.raw_input_contents_size() != data_inputs)
    return bad("raw_input_contents has " + std::to_string(in.raw_input_contents_size()) + " entries for " +
               std::to_string(data_inputs) + " inputs not in shared memory; send one per such input or none");
  int next_raw = 0;
  out->inputs.resize(static_cast<size_t>(in.inputs_size()));
  for (int i = 0; i < in.inputs_size(); ++i) {
    inference::ModelInferRequest::InferInputTensor& t = *in.mutable_inputs(i);
    InferTensor& dst = out->inputs[static_cast<size_t>(i)];
    dst.name = t.name();
    if (!datatype_from_name(t.datatype(), &dst.dtype))
      return bad("input '" + t.name() + "': unknown datatype '" + t.datatype() + "'");
    dst.shape.assign(t.shape().begin(), t.shape().end());
    const int64_t numel = dims_numel(dst.shape);
    if (numel < 0) return bad("input '" + t.name() + "': invalid shape [" + dims_to_string(dst.shape) + "]");
    params_from_proto(t.parameters(), &dst.parameters);
    if (in_shm(t)) {
      if (t.has_contents()) return bad("input '" + t.name() + "' has both contents and shared_memory_region");
      continue;  // InferenceServer::infer resolves the region
    }
    if (raw) {
      if (t.has_contents())
        return bad("input '" + t.name() + "': has both typed contents and raw_input_contents; use one form");
      dst.data.swap(*in.mutable_raw_input_contents(next_raw++));
      continue;
    }
    int64_t count = 0;
    ServerStatus st = typed_to_raw(t.contents(), dst.dtype, t.name(), &count, &dst.data);
    if (!st.ok()) return st;
    if (count != numel)
      return bad("input '" + t.name() + "': contents hold " + std::to_string(count) + " elements, shape [" +
                 dims_to_string(dst.shape) + "] needs " + std::to_string(numel));
  }
  out->outputs.resize(static_cast<size_t>(in.outputs_size()));
  for (int i = 0; i < in.outputs_size(); ++i) {
    out->outputs[static_cast<size_t>(i)].name = in.outputs(i).name();
    params_from_proto(in.outputs(i).parameters(), &out->outputs[static_cast<size_t>(i)].parameters);
  }
  return {};
}

void response_to_proto(InferResponse&& in, inference::ModelInferResponse* out) {
  out->set_model_name(std::move(in.model_name));
  out->set_model_version(std::move(in.model_version));
  out->set_id(std::move(in.id));
  params_to_proto(in.parameters, out->mutable_parameters());
  for (InferTensor& t : in.outputs) {
    inference::ModelInferResponse::InferOutputTensor* o = out->add_outputs();
    o->set_name(std::move(t.name));
    o->set_datatype(datatype_name(t.dtype));
    for (int64_t d : t.shape) o->add_shape(d);
    // An output written to shared memory has its region in the parameters and an empty raw entry (indices of
    // raw_output_contents stay aligned with outputs).
    if (!t.parameters.empty()) params_to_proto(t.parameters, o->mutable_parameters());
    out->add_raw_output_contents()->swap(t.data);
  }
}

void metadata_to_proto(const ModelMetadata& in, inference::ModelMetadataResponse* out) {
  out->set_name(in.name);
  for (const auto& v : in.versions) out->add_versions(v);
  out->set_platform(in.platform);
  auto fill = [](const TensorMetadata& t, inference::ModelMetadataResponse::TensorMetadata* o) {
    o->set_name(t.name);
    o->set_datatype(t.datatype);
    for (int64_t d : t.shape) o->add_shape(d);
  };
  for (const auto& t : in.inputs) fill(t, out->add_inputs());
  for (const auto& t : in.outputs) fill(t, out->add_outputs());
}

void stats_to_proto(const ModelStats& in, inference::ModelStatistics* out) {
  auto dur = [](const StatDuration& d, inference::StatisticDuration* o) {
    o->set_count(d.count);
    o->set_ns(d.ns);
  };
  out->set_name(in.name);
  out->set_version(in.version);
  out->set_last_inference(in.last_inference_ms);
  out->set_inference_count(in.inference_count);
  out->set_execution_count(in.execution_count);
  inference::InferStatistics* s = out->mutable_inference_stats();
  dur(in.success, s->mutable_success());
  dur(in.fail, s->mutable_fail());
  dur(in.queue, s->mutable_queue());
  dur(in.compute_input, s->mutable_compute_input());
  dur(in.compute_infer, s->mutable_compute_infer());
  dur(in.compute_output, s->mutable_compute_output());
  for (const BatchStats& b : in.batch_stats) {
    inference::InferBatchStatistics* o = out->add_batch_stats();
    o->set_batch_size(b.batch_size);
    dur(b.compute_input, o->mutable_compute_input());
    dur(b.compute_infer, o->mutable_compute_infer());
    dur(b.compute_output, o->mutable_compute_output());
  }
}

bool config_to_proto(const ModelConfig& in, inference::ModelConfig* out) {
  std::string bytes;
  if (!in.SerializeToString(&bytes)) return false;
  return out->ParseFromString(bytes);
}

}  // namespace kiln::server::grpc_convert
