// Input conversion (wrap, strided copy, CUDA views or staging, strings) and output hand-off (capsule-owned arrays).
#include "tensors.h"

#include <cstring>
#include <memory>

#include <nanobind/ndarray.h>

#include "dtypes.h"
#include "errors.h"
#include "gpu_copy.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace kiln::py {
namespace {

using AnyArray = nb::ndarray<nb::ro>;

constexpr int kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3, kDLCUDAManaged = 13;

std::string py_type_name(nb::handle obj) { return nb::cast<std::string>(nb::str(obj.type().attr("__name__"))); }

Dims array_dims(const AnyArray& a) {
  Dims d(a.ndim());
  for (size_t i = 0; i < a.ndim(); ++i) d[i] = static_cast<int64_t>(a.shape(i));
  return d;
}

bool c_contiguous(const AnyArray& a) {
  int64_t expect = 1;
  for (size_t i = a.ndim(); i-- > 0;) {
    if (a.shape(i) != 1 && a.stride(i) != expect) return false;
    expect *= static_cast<int64_t>(a.shape(i));
  }
  return true;
}

// Element-by-element copy of a strided host array into dense row-major `dst` (elem bytes each).
void copy_strided(const AnyArray& a, size_t elem, char* dst) {
  const size_t nd = a.ndim();
  std::vector<size_t> idx(nd, 0);
  const char* base = static_cast<const char*>(a.data());
  const size_t n = a.size();
  for (size_t k = 0; k < n; ++k) {
    int64_t off = 0;
    for (size_t i = 0; i < nd; ++i) off += static_cast<int64_t>(idx[i]) * a.stride(i);
    std::memcpy(dst + k * elem, base + off * static_cast<int64_t>(elem), elem);
    for (size_t i = nd; i-- > 0;) {
      if (++idx[i] < a.shape(i)) break;
      idx[i] = 0;
    }
  }
}

// numpy arrays of str / bytes / object (each element str or bytes) -> a kString tensor.
Value strings_to_value(const std::string& name, nb::handle obj) {
  nb::object shape = obj.attr("shape");
  Dims dims;
  for (nb::handle d : shape) dims.push_back(nb::cast<int64_t>(d));
  nb::list items = nb::list(obj.attr("reshape")(-1).attr("tolist")());
  Tensor t(DType::kString, dims);
  for (size_t i = 0; i < items.size(); ++i) {
    nb::handle it = items[i];
    if (nb::isinstance<nb::str>(it)) {
      t.strings()[i] = nb::cast<std::string>(it);
    } else if (nb::isinstance<nb::bytes>(it)) {
      nb::bytes b = nb::borrow<nb::bytes>(it);
      t.strings()[i] = std::string(b.c_str(), b.size());
    } else {
      fail(StatusCode::kInvalidArgument, "input '" + name + "': element " + std::to_string(i) + " of a string array is a " +
                                             py_type_name(it) + ", not str or bytes");
    }
  }
  return Value::of(std::move(t));
}

// `obj` as an array (DLPack or buffer protocol) in *a. False for numpy str/bytes/object arrays (string tensors:
// strings_to_value); a KilnError for anything else.
bool import_array(const std::string& name, nb::handle obj, AnyArray* a) {
  if (nb::try_cast(obj, *a, false)) return true;
  if (nb::hasattr(obj, "dtype") && nb::hasattr(obj, "shape") && nb::hasattr(obj, "tolist")) {
    std::string kind = nb::cast<std::string>(obj.attr("dtype").attr("kind"));
    if (kind == "U" || kind == "S" || kind == "O") return false;
    fail(StatusCode::kInvalidArgument, "input '" + name + "': numpy dtype " +
                                           nb::cast<std::string>(nb::str(obj.attr("dtype"))) + " is not supported");
  }
  fail(StatusCode::kInvalidArgument,
       "input '" + name + "': expected a numpy array or a DLPack tensor, got " + py_type_name(obj));
}

DType array_dtype(const std::string& name, const AnyArray& a) {
  DType dtype;
  if (!dtype_from_dlpack(a.dtype(), &dtype))
    fail(StatusCode::kInvalidArgument,
         "input '" + name + "': element type " + dlpack_dtype_name(a.dtype()) + " is not supported");
  return dtype;
}

// The checks every CUDA input passes, whichever route it takes; records its device in `seen`.
void check_cuda_array(const std::string& name, const AnyArray& a, Placement* seen) {
  if (!c_contiguous(a))
    fail(StatusCode::kInvalidArgument, "input '" + name + "': a CUDA tensor must be contiguous (call .contiguous())");
  if (seen->cuda_device >= 0 && seen->cuda_device != a.device_id())
    fail(StatusCode::kInvalidArgument, "input '" + name + "': on cuda:" + std::to_string(a.device_id()) +
                                           " while another input is on cuda:" + std::to_string(seen->cuda_device));
  seen->cuda_device = a.device_id();
}

// Shared ownership of an imported array; the last owner drops it with the GIL (taken if not held).
std::shared_ptr<void> keep_alive(const AnyArray& a) {
  return std::shared_ptr<void>(new AnyArray(a), [](void* p) {
    nb::gil_scoped_acquire gil;
    delete static_cast<AnyArray*>(p);
  });
}

// A checked CUDA array copied to a new host tensor (a CPU engine's input, or one staged for check_finite).
Value cuda_to_host(const std::string& name, const AnyArray& a, DType dtype) {
  auto t = Tensor::allocate(dtype, array_dims(a));
  if (!t.ok()) throw_status(t.status().with_context("input '" + name + "'"));
  check(copy_device_to_host(t->raw(), a.data(), t->nbytes(), a.device_id(), "input '" + name + "'"));
  return Value::of(std::move(*t));
}

// A host (CPU, CUDA-pinned or managed) array: wrapped when C-contiguous, else copied into a dense tensor.
Value host_to_value(const std::string& name, const AnyArray& a, DType dtype) {
  const int dev = a.device_type();
  if (dev != kDLCPU && dev != kDLCUDAHost && dev != kDLCUDAManaged)
    fail(StatusCode::kInvalidArgument,
         "input '" + name + "': tensors on DLPack device type " + std::to_string(dev) + " are not supported");
  const Dims dims = array_dims(a);
  // No copy: the Tensor borrows the array's memory; the array lives as long as any Tensor handle to it.
  if (c_contiguous(a)) return Value::of(Tensor::wrap(dtype, dims, const_cast<void*>(a.data()), keep_alive(a)));
  auto t = Tensor::allocate(dtype, dims);
  if (!t.ok()) throw_status(t.status().with_context("input '" + name + "'"));
  copy_strided(a, dtype_size(dtype), static_cast<char*>(t->raw()));
  return Value::of(std::move(*t));
}

}  // namespace

Route add_input(const std::string& name, nb::handle obj, int direct_device, Placement* seen, RunInputs* in) {
  AnyArray a;
  if (!import_array(name, obj, &a)) {
    in->host.emplace_back(name, strings_to_value(name, obj));
    return Route::kHost;
  }
  const DType dtype = array_dtype(name, a);
  if (a.device_type() != kDLCUDA) {
    in->host.emplace_back(name, host_to_value(name, a, dtype));
    return Route::kHost;
  }
  check_cuda_array(name, a, seen);
  if (direct_device < 0 || a.device_id() != direct_device) {
    in->host.emplace_back(name, cuda_to_host(name, a, dtype));
    return Route::kHost;
  }
  in->device.emplace_back(name, DeviceTensorView{dtype, array_dims(a), a.data()});
  in->arrays.push_back(keep_alive(a));
  return Route::kDevice;
}

Value input_to_value(const std::string& name, nb::handle obj, Placement* seen) {
  RunInputs in;
  add_input(name, obj, -1, seen, &in);
  return std::move(in.host.front().second);
}

ByteRanges value_ranges(const Value& v) {
  ByteRanges r;
  auto add = [&](const Tensor& t) {
    if (t.defined() && t.raw() && t.nbytes())
      r.emplace_back(static_cast<const char*>(t.raw()), static_cast<const char*>(t.raw()) + t.nbytes());
  };
  add(v.tensor);
  for (const Tensor& t : v.sequence) add(t);
  return r;
}

namespace {

bool overlaps(const Tensor& t, const ByteRanges& shared) {
  const char* b = static_cast<const char*>(t.raw());
  const char* e = b + t.nbytes();
  for (const auto& [sb, se] : shared)
    if (b < se && sb < e) return true;
  return false;
}

nb::object strings_to_python(const Tensor& t) {
  nb::list items;
  for (int64_t i = 0; i < t.numel(); ++i) items.append(nb::str(t.strings()[i].data(), t.strings()[i].size()));
  nb::module_ np = nb::module_::import_("numpy");
  nb::tuple shape = nb::steal<nb::tuple>(PyTuple_New(static_cast<Py_ssize_t>(t.rank())));
  for (size_t i = 0; i < t.rank(); ++i) PyTuple_SetItem(shape.ptr(), i, PyLong_FromLongLong(t.dim(i)));
  return np.attr("array")(items, "dtype"_a = "object").attr("reshape")(shape);
}

// The data address of arrays without elements (a null pointer is not a valid array address).
alignas(64) char empty_data[64];

std::vector<size_t> array_shape(const Dims& dims) {
  std::vector<size_t> shape(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) shape[i] = static_cast<size_t>(dims[i]);
  return shape;
}

// A DLPack-capable array on CUDA device `device` over `mem`, which it owns from here on: its capsule frees the memory
// when the array and every consumer of it (torch.from_dlpack ...) are gone. Host-sourced and device-sourced CUDA
// outputs both end here.
nb::object device_array(DeviceMemory mem, const Dims& dims, nb::dlpack::dtype dl, int device) {
  const std::vector<size_t> shape = array_shape(dims);
  void* dptr = mem.get();
  nb::capsule owner(dptr, [](void* p) noexcept { free_device(p); });
  mem.release();  // the capsule owns it now (a null pointer: none, nothing to free)
  return nb::ndarray<>(dptr ? dptr : empty_data, dims.size(), shape.data(), owner, nullptr, dl, kDLCUDA, device).cast();
}

nb::object tensor_to_python(const Tensor& t_in, const Placement& to, const ByteRanges& shared) {
  if (t_in.dtype() == DType::kString) {
    if (to.cuda_device >= 0) fail(StatusCode::kInvalidArgument, "string outputs cannot be placed on a CUDA device");
    return strings_to_python(t_in);
  }
  nb::dlpack::dtype dl;
  bool widen = false;
  if (!dtype_to_dlpack(t_in.dtype(), &dl, &widen))
    fail(StatusCode::kUnimplemented, std::string("outputs of type ") + dtype_name(t_in.dtype()) + " are not supported");
  Tensor t = t_in;
  if (widen) {
    Tensor f(DType::kFloat32, t_in.dims());
    for (int64_t i = 0; i < t_in.numel(); ++i) f.data<float>()[i] = static_cast<float>(t_in.as_double(i));
    t = f;
  } else if (t.numel() > 0 && overlaps(t, shared)) {
    t = t.clone();
  }
  if (to.cuda_device >= 0) {
    void* dptr = nullptr;
    check(copy_host_to_new_device(t.raw(), t.nbytes(), to.cuda_device, &dptr));
    return device_array(DeviceMemory(dptr), t.dims(), dl, to.cuda_device);
  }
  // No copy: the array owns a Tensor handle (shared ownership of the engine's output bytes).
  const std::vector<size_t> shape = array_shape(t.dims());
  auto* holder = new Tensor(t);
  nb::capsule owner(holder, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  void* data = holder->raw() ? holder->raw() : empty_data;
  return nb::ndarray<nb::numpy>(data, t.rank(), shape.data(), owner, nullptr, dl).cast();
}

}  // namespace

bool device_output_dtype_ok(DType dtype) {
  nb::dlpack::dtype dl;
  bool widen = false;
  return dtype != DType::kString && dtype_to_dlpack(dtype, &dl, &widen) && !widen;
}

Status copy_device_output(const DeviceTensorView& view, int device, DeviceOutput* out) {
  if (!device_output_dtype_ok(view.dtype))
    return invalid_argument(std::string("outputs of type ") + dtype_name(view.dtype) + " are not handed out from the GPU");
  for (int64_t d : view.dims)
    if (d < 0) return internal_error("device output with negative dim in " + dims_to_string(view.dims));
  // The bytes of the tensor as fetch_outputs would copy them to the host (same dtype, dims, element size).
  const size_t bytes = static_cast<size_t>(dims_numel(view.dims)) * dtype_size(view.dtype);
  void* dptr = nullptr;
  KILN_RETURN_IF_ERROR(copy_device_to_new_device(view.data, bytes, device, &dptr));
  out->dtype = view.dtype;
  out->dims = view.dims;
  out->device = device;
  out->data = DeviceMemory(dptr);
  return ok_status();
}

nb::object device_output_to_python(DeviceOutput&& out) {
  nb::dlpack::dtype dl;
  bool widen = false;
  if (!dtype_to_dlpack(out.dtype, &dl, &widen) || widen)
    fail(StatusCode::kInternal, std::string("device output of type ") + dtype_name(out.dtype));
  return device_array(std::move(out.data), out.dims, dl, out.device);
}

nb::object value_to_python(const Value& v, const Placement& to, const ByteRanges& shared) {
  auto seq = [&](const std::vector<Tensor>& items) {
    nb::list l;
    for (const Tensor& t : items) l.append(tensor_to_python(t, to, shared));
    return nb::object(l);
  };
  switch (v.kind) {
    case ValueKind::kTensor: return tensor_to_python(v.tensor, to, shared);
    case ValueKind::kSequence: return seq(v.sequence);
    case ValueKind::kOptional:
      if (!v.has_value) return nb::none();
      return v.optional_of == ValueKind::kSequence ? seq(v.sequence) : tensor_to_python(v.tensor, to, shared);
    case ValueKind::kUnknown: break;
  }
  fail(StatusCode::kInternal, "output of unknown kind");
}

}  // namespace kiln::py
