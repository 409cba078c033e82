// Prometheus text exposition: Triton's metric names with a kiln_ prefix, a batch-size histogram, GPU gauges.
#include <iterator>
#include <sstream>

#include "server/gpu_monitor.h"
#include "server/server_impl.h"

namespace kiln::server {

namespace {

std::string escape(const std::string& v) {
  std::string o;
  for (char c : v) {
    if (c == '\\' || c == '"') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o;
}

struct Family {
  const char* name;
  const char* type;
  const char* help;
};

}  // namespace

std::string ServerImpl::prometheus() const {
  std::vector<std::shared_ptr<LoadedVersion>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [n, m] : models_)
      for (const auto& [v, lv] : m.versions) all.push_back(lv);
  }
  struct Row {
    std::string labels;
    ModelStats s;
    const StatsCollector* c;
    std::vector<DeviceExecStats> devices;
  };
  std::vector<Row> rows;
  for (const auto& lv : all) {
    ModelStats s = lv->stats->snapshot();
    s.pending_requests = lv->scheduler->pending();
    rows.push_back({"model=\"" + escape(s.name) + "\",version=\"" + escape(s.version) + "\"", std::move(s),
                    lv->stats.get(), lv->scheduler->device_stats()});
  }
  std::ostringstream o;
  auto header = [&](const Family& f) {
    o << "# HELP " << f.name << ' ' << f.help << "\n# TYPE " << f.name << ' ' << f.type << '\n';
  };
  auto each = [&](const Family& f, auto value) {
    header(f);
    for (const auto& r : rows) o << f.name << '{' << r.labels << "} " << value(r.s) << '\n';
  };
  each({"kiln_inference_request_success", "counter", "Number of successful inference requests, all batch sizes"},
       [](const ModelStats& s) { return s.success.count; });
  header({"kiln_inference_request_failure", "counter",
          "Number of failed inference requests, all batch sizes, by reason (REJECTED, CANCELED, BACKEND, OTHER)"});
  for (const auto& r : rows)
    for (const char* reason : {"REJECTED", "CANCELED", "BACKEND", "OTHER"}) {
      auto it = r.s.failures_by_reason.find(reason);
      o << "kiln_inference_request_failure{" << r.labels << ",reason=\"" << reason << "\"} "
        << (it == r.s.failures_by_reason.end() ? 0 : it->second) << '\n';
    }
  // Failures before a model version was chosen (malformed request, unknown model or region, ...): counted per
  // protocol and reason, never per model name (a client could otherwise create series at will).
  header({"kiln_server_request_failure", "counter",
          "Number of inference requests that failed before a model version was chosen, by protocol and reason"});
  for (size_t p = 0; p < std::size(kRejectProtocols); ++p)
    for (size_t r = 0; r < std::size(kRejectReasons); ++r)
      o << "kiln_server_request_failure{protocol=\"" << kRejectProtocols[p] << "\",reason=\"" << kRejectReasons[r]
        << "\"} " << rejected(p, r) << '\n';
  each({"kiln_inference_count", "counter", "Number of inferences performed (a batch of n counts n)"},
       [](const ModelStats& s) { return s.inference_count; });
  each({"kiln_inference_exec_count", "counter", "Number of model executions performed (batches)"},
       [](const ModelStats& s) { return s.execution_count; });
  each({"kiln_inference_request_duration_us", "counter", "Cumulative inference request duration in microseconds"},
       [](const ModelStats& s) { return (s.success.ns + s.fail.ns) / 1000; });
  each({"kiln_inference_queue_duration_us", "counter", "Cumulative inference queuing duration in microseconds"},
       [](const ModelStats& s) { return s.queue.ns / 1000; });
  each({"kiln_inference_compute_input_duration_us", "counter",
        "Cumulative compute input duration in microseconds (assembling batch inputs)"},
       [](const ModelStats& s) { return s.compute_input.ns / 1000; });
  each({"kiln_inference_compute_infer_duration_us", "counter", "Cumulative compute inference duration in microseconds"},
       [](const ModelStats& s) { return s.compute_infer.ns / 1000; });
  each({"kiln_inference_compute_output_duration_us", "counter",
        "Cumulative compute output duration in microseconds (splitting batch outputs)"},
       [](const ModelStats& s) { return s.compute_output.ns / 1000; });
  each({"kiln_inference_pending_request_count", "gauge", "Instantaneous number of requests queued or executing"},
       [](const ModelStats& s) { return s.pending_requests; });
  header({"kiln_inference_batch_size", "histogram", "Batch sizes (rows) of model executions"});
  const auto& buckets = StatsCollector::batch_buckets();
  for (const auto& r : rows) {
    std::vector<uint64_t> cum;
    uint64_t sum = 0, count = 0;
    r.c->batch_histogram(&cum, &sum, &count);
    for (size_t i = 0; i < buckets.size(); ++i)
      o << "kiln_inference_batch_size_bucket{" << r.labels << ",le=\"" << buckets[i] << "\"} " << cum[i] << '\n';
    o << "kiln_inference_batch_size_bucket{" << r.labels << ",le=\"+Inf\"} " << count << '\n';
    o << "kiln_inference_batch_size_sum{" << r.labels << "} " << sum << '\n';
    o << "kiln_inference_batch_size_count{" << r.labels << "} " << count << '\n';
  }
  // Per device: where each model version's instances run and how many batches each device executed.
  auto device_each = [&](const Family& f, auto value) {
    header(f);
    for (const auto& r : rows)
      for (const auto& d : r.devices)
        o << f.name << '{' << r.labels << ",device=\"" << escape(d.device) << "\"} " << value(d) << '\n';
  };
  device_each(
      {"kiln_device_instance_count", "gauge", "Execution contexts (model instances) of the version on the device"},
      [](const DeviceExecStats& d) { return d.instances; });
  device_each({"kiln_device_exec_count", "counter",
               "Model executions (batches) performed by the version's instances on the device"},
              [](const DeviceExecStats& d) { return d.executions; });
  device_each({"kiln_device_inference_count", "counter",
               "Inferences (batch rows) performed by the version's instances on the device"},
              [](const DeviceExecStats& d) { return d.inferences; });
  // CUDA device index -> UUID, to join device="gpuN" with the NVML gauges below (their order can differ).
  if (int n = cuda_device_count(); n > 0) {
    header({"kiln_device_info", "gauge", "CUDA devices visible to the server: device label, UUID and name (value 1)"});
    for (int i = 0; i < n; ++i) {
      auto d = cuda_device(i);
      if (!d.ok()) continue;
      o << "kiln_device_info{device=\"gpu" << i << "\",gpu_uuid=\"" << escape(d->uuid) << "\",name=\""
        << escape(d->name) << "\"} 1\n";
    }
  }
  auto gpus = sample_gpus();
  if (!gpus.empty()) {
    auto gpu_each = [&](const Family& f, auto value) {
      header(f);
      for (const auto& g : gpus)
        o << f.name << "{gpu_uuid=\"" << escape(g.uuid) << "\",gpu=\"" << g.index << "\"} " << value(g) << '\n';
    };
    gpu_each({"kiln_gpu_utilization", "gauge", "GPU utilization rate [0.0 - 1.0)"},
             [](const GpuSample& g) { return g.utilization; });
    gpu_each({"kiln_gpu_memory_total_bytes", "gauge", "GPU total memory, in bytes"},
             [](const GpuSample& g) { return g.memory_total_bytes; });
    gpu_each({"kiln_gpu_memory_used_bytes", "gauge", "GPU used memory, in bytes"},
             [](const GpuSample& g) { return g.memory_used_bytes; });
  }
  return o.str();
}

}  // namespace kiln::server
