// Engine: build from ONNX, load/save engine files, describe.
#include "kiln/engine.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "onnx/importer.h"
#include "runtime/backend.h"
#include "runtime/engine_access.h"
#include "runtime/format/engine_file.h"
#include "runtime/profiles.h"

namespace kiln {

std::string TensorDesc::to_string() const {
  std::string s = name + ": ";
  if (kind == ValueKind::kSequence) return s + "sequence<" + dtype_name(dtype) + ">";
  if (kind == ValueKind::kOptional) return s + "optional<" + dtype_name(dtype) + ">";
  s += dtype_name(dtype);
  if (!rank_known) return s + "[*]";
  s += "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += dims[i] >= 0 ? std::to_string(dims[i]) : (dim_names[i].empty() ? "?" : dim_names[i]);
  }
  return s + "]";
}

namespace {

TensorDesc desc_of(const ValueInfo& vi) {
  TensorDesc d;
  d.name = vi.name;
  d.kind = vi.type.kind == ValueKind::kUnknown ? ValueKind::kTensor : vi.type.kind;
  const TypeInfo* t = &vi.type;
  if (t->kind != ValueKind::kTensor && t->elem) t = t->elem.get();
  if (t->kind == ValueKind::kSequence && t->elem) t = t->elem.get();
  d.dtype = t->dtype;
  d.rank_known = t->shape.rank_known;
  for (const Dim& dim : t->shape.dims) {
    d.dims.push_back(dim.value);
    d.dim_names.push_back(dim.symbol);
  }
  return d;
}

}  // namespace

Engine::Engine(std::shared_ptr<const Graph> graph, EngineInfo info, std::vector<OptimizationProfile> profiles)
    : graph_(std::move(graph)), info_(std::move(info)), profiles_(std::move(profiles)) {
  for (const auto& vi : graph_->inputs) inputs_.push_back(desc_of(vi));
  for (const auto& vi : graph_->outputs) outputs_.push_back(desc_of(vi));
}

Engine::~Engine() = default;

Status Engine::check_compatible() const {
  const Backend* b = find_backend(info_.backend);
  if (!b)
    return failed_precondition("engine needs backend '" + info_.backend + "', this Kiln has: " +
                               backend_names_string() + "; rebuild the engine with this Kiln");
  return b->check_compatible(*this);
}

std::shared_ptr<void> Engine::backend_state(Status* status) const {
  std::lock_guard<std::mutex> lock(state_mu_);
  if (!backend_state_ && backend_state_status_.ok()) {
    const Backend* b = find_backend(info_.backend);
    if (b) {
      auto st = b->create_engine_state(*this);
      if (st.ok()) backend_state_ = *st;
      else backend_state_status_ = st.status();
    }
  }
  *status = backend_state_status_;
  return backend_state_;
}

Result<std::string> Engine::serialize() const {
  return encode_engine(*graph_, info_, profiles_, EngineAccess::plans(*this));
}

Status Engine::save(const std::string& path) const {
  KILN_ASSIGN_OR_RETURN(std::string bytes, serialize());
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return not_found("cannot write engine file '" + path + "'");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) return internal_error("failed writing '" + path + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return internal_error("cannot rename '" + tmp + "' to '" + path + "'");
  return ok_status();
}

namespace {
std::shared_ptr<Engine> engine_from_contents(EngineContents c) {
  auto e = std::make_shared<Engine>(c.graph, std::move(c.info), std::move(c.profiles));
  EngineAccess::set_plans(*e, std::move(c.plans));
  return e;
}

struct Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr && addr != MAP_FAILED) munmap(addr, size);
  }
};
}  // namespace

Result<std::shared_ptr<Engine>> Engine::load_unchecked(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return not_found(path + ": cannot open engine file");
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return not_found(path + ": not a regular file");
  }
  auto m = std::make_shared<Mapping>();
  m->size = static_cast<size_t>(st.st_size);
  if (m->size == 0) {
    ::close(fd);
    return invalid_argument(path + ": empty file, not a Kiln engine");
  }
  m->addr = mmap(nullptr, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m->addr == MAP_FAILED) return internal_error(path + ": mmap failed");
  KILN_ASSIGN_OR_RETURN(EngineContents c, decode_engine(static_cast<const char*>(m->addr), m->size, m, path));
  return engine_from_contents(std::move(c));
}

Result<std::shared_ptr<Engine>> Engine::from_bytes(const std::string& bytes, const std::string& origin) {
  size_t n = bytes.size();
  void* p = std::aligned_alloc(64, ((n + 63) / 64) * 64 + 64);
  if (!p) return resource_exhausted(origin + ": out of memory");
  std::shared_ptr<void> holder(p, [](void* q) { std::free(q); });
  if (n) std::memcpy(p, bytes.data(), n);
  KILN_ASSIGN_OR_RETURN(EngineContents c, decode_engine(static_cast<const char*>(p), n, holder, origin));
  return engine_from_contents(std::move(c));
}

Result<std::shared_ptr<Engine>> Engine::load_or_build(const std::string& path, const BuildOptions& options) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found(path + ": no such file");
  std::string head(8, '\0');
  f.read(head.data(), 8);
  head.resize(static_cast<size_t>(f.gcount()));
  if (looks_like_engine(head)) {
    // --gpu N picks the device of a GPU engine file too; without --device cuda or --gpu the first compatible GPU.
    LoadOptions lo;
    lo.gpu = options.device == "cuda" || options.gpu > 0 ? options.gpu : -1;
    return load(path, lo);
  }
  return build_from_onnx(path, options);
}

size_t Engine::weight_bytes() const {
  size_t n = 0;
  for (const auto& [name, t] : graph_->initializers) n += t.nbytes();
  return n;
}

std::unique_ptr<ExecutionContext> Engine::create_context() const { return std::make_unique<ExecutionContext>(*this); }

Result<std::shared_ptr<Engine>> Engine::load(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> e, load_unchecked(path));
  Status st = e->check_compatible();
  if (!st.ok()) return Status(st.code(), path + ": " + st.message());
  return e;
}

Result<std::shared_ptr<Engine>> Engine::load(const std::string& path, const LoadOptions& options) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> e, load_unchecked(path));
  const Backend* b = find_backend(e->info().backend);
  if (b && b->device() != "cpu" && options.gpu >= 0) EngineAccess::set_device(*e, options.gpu);
  Status st = e->check_compatible();
  if (!st.ok()) return Status(st.code(), path + ": " + st.message());
  return e;
}

std::string CudaDeviceDescription::compat_key() const {
  std::string k;
  for (const auto& [name, value] : compat) k += name + "=" + value + ";";
  return k;
}


}  // namespace kiln
