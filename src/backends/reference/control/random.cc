// Reference kernels for the random generators: RandomNormal/Uniform(+Like), Bernoulli and Multinomial.
// Outputs are seeded by the 'seed' attribute (a fresh nondeterministic seed when absent).
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/reference/common.h"
#include "backends/reference/control/control_util.h"

namespace kiln {

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 28;  // generated values are staged as doubles

std::mt19937_64 make_engine(const KernelContext& ctx) {
  if (ctx.attrs().has("seed")) {
    const float seed = ctx.attrs().get_float("seed");
    uint32_t bits = 0;
    std::memcpy(&bits, &seed, sizeof(bits));
    return std::mt19937_64(bits);
  }
  std::random_device rd;
  return std::mt19937_64((static_cast<uint64_t>(rd()) << 32) | rd());
}

// Reads the 'dtype' attribute; `def` when absent. Errors for codes outside the allowed `float_only` set.
Status output_dtype(const KernelContext& ctx, DType def, bool float_only, DType* out) {
  *out = def;
  if (!ctx.attrs().has("dtype")) return ok_status();
  const int64_t code = ctx.attrs().get_int("dtype");
  if (!dtype_from_int(code, out) || *out == DType::kUndefined || *out == DType::kString)
    return ctx.error("attribute 'dtype' = " + std::to_string(code) + " is not a valid numeric element type");
  if (float_only && !is_float(*out))
    return ctx.unsupported(std::string("output dtype ") + dtype_name(*out) + " (only floating-point types)");
  return ok_status();
}

// A tensor of `dtype` holding `values` (converted; narrow floats round from float32).
Result<Tensor> numeric_tensor(DType dtype, const Dims& dims, const std::vector<double>& values) {
  if (is_narrow_float(dtype)) {
    Tensor f(DType::kFloat32, dims);
    for (size_t i = 0; i < values.size(); ++i) f.data<float>()[i] = static_cast<float>(values[i]);
    return from_float32(f, dtype);
  }
  Tensor out(dtype, dims);
  Status st = dispatch_dtype(dtype, {true, true, true}, [&]<typename T>() {
    using S = std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>;
    for (size_t i = 0; i < values.size(); ++i) out.data<S>()[i] = static_cast<S>(values[i]);
  });
  if (!st.ok()) return st;
  return out;
}

Status check_float_input(const KernelContext& ctx, size_t i) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  if (!is_float(ctx.input(i).dtype()))
    return ctx.error("input " + std::to_string(i) + " must be a floating-point tensor, got " +
                     control::describe_tensor(ctx.input(i)));
  return ok_status();
}

// Shared body of RandomNormal/RandomUniform and their *Like forms.
Status random_fill(KernelContext& ctx, bool normal, bool like) {
  Dims dims;
  DType dt = DType::kFloat32;
  if (like) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
    dims = ctx.input(0).dims();
    KILN_RETURN_IF_ERROR(output_dtype(ctx, ctx.input(0).dtype(), true, &dt));
    if (!is_float(dt)) return ctx.unsupported(std::string("output dtype ") + dtype_name(dt) + " (floating point only)");
  } else {
    if (!ctx.attrs().has("shape")) return ctx.error("attribute 'shape' is required");
    dims = ctx.attrs().get_ints("shape");
    for (int64_t d : dims)
      if (d < 0) return ctx.error("attribute 'shape' has a negative dimension " + std::to_string(d));
    KILN_RETURN_IF_ERROR(output_dtype(ctx, DType::kFloat32, true, &dt));
  }
  const int64_t n = dims_numel(dims);
  if (n < 0 || n > kMaxElements) return ctx.error("output shape " + dims_to_string(dims) + " is too large");
  auto eng = make_engine(ctx);
  std::vector<double> v(n);
  if (normal) {
    std::normal_distribution<double> dist(ctx.attrs().get_float("mean", 0.f), ctx.attrs().get_float("scale", 1.f));
    for (auto& x : v) x = dist(eng);
  } else {
    const double low = ctx.attrs().get_float("low", 0.f), high = ctx.attrs().get_float("high", 1.f);
    if (!(high >= low)) return ctx.error("attribute 'high' must be >= 'low'");
    std::uniform_real_distribution<double> dist(low, high);
    for (auto& x : v) x = dist(eng);
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, numeric_tensor(dt, dims, v));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace

Status random_normal_kernel(KernelContext& ctx) { return random_fill(ctx, true, false); }
Status random_uniform_kernel(KernelContext& ctx) { return random_fill(ctx, false, false); }
Status random_normal_like_kernel(KernelContext& ctx) { return random_fill(ctx, true, true); }
Status random_uniform_like_kernel(KernelContext& ctx) { return random_fill(ctx, false, true); }

Status bernoulli_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(check_float_input(ctx, 0));
  const Tensor& p = ctx.input(0);
  DType dt;
  KILN_RETURN_IF_ERROR(output_dtype(ctx, p.dtype(), false, &dt));
  auto eng = make_engine(ctx);
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  std::vector<double> v(p.numel());
  for (int64_t i = 0; i < p.numel(); ++i) {
    const double prob = p.as_double(i);
    if (!(prob >= 0.0 && prob <= 1.0))
      return ctx.error("input 0 holds " + std::to_string(prob) + " at index " + std::to_string(i) +
                       "; probabilities must lie in [0, 1]");
    v[i] = dist(eng) < prob ? 1.0 : 0.0;
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, numeric_tensor(dt, p.dims(), v));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

Status multinomial_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(check_float_input(ctx, 0));
  const Tensor& x = ctx.input(0);
  if (x.rank() != 2) return ctx.error("input 0 must be 2-D [batch_size, class_size], got " + control::describe_tensor(x));
  DType dt;
  KILN_RETURN_IF_ERROR(output_dtype(ctx, DType::kInt32, false, &dt));
  if (dt != DType::kInt32 && dt != DType::kInt64)
    return ctx.error(std::string("attribute 'dtype' must be int32 or int64, got ") + dtype_name(dt));
  const int64_t samples = ctx.attrs().get_int("sample_size", 1);
  if (samples < 0) return ctx.error("attribute 'sample_size' must be >= 0");
  const int64_t batch = x.dim(0), classes = x.dim(1);
  if (classes == 0 && samples > 0) return ctx.error("input 0 has no classes to sample from");
  if (batch > 0 && samples > kMaxElements / batch)
    return ctx.error("output of " + std::to_string(batch) + " x " + std::to_string(samples) + " samples is too large");
  auto eng = make_engine(ctx);
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  std::vector<double> v(batch * samples);
  std::vector<double> cdf(classes);
  for (int64_t b = 0; b < batch; ++b) {
    double mx = -INFINITY;
    for (int64_t c = 0; c < classes; ++c) mx = std::max(mx, x.as_double(b * classes + c));
    double total = 0;
    for (int64_t c = 0; c < classes; ++c) {
      total += std::exp(x.as_double(b * classes + c) - mx);
      cdf[c] = total;
    }
    for (int64_t s = 0; s < samples; ++s) {
      const double u = dist(eng) * total;
      int64_t c = 0;
      while (c + 1 < classes && cdf[c] <= u) ++c;
      v[b * samples + s] = static_cast<double>(c);
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, numeric_tensor(dt, {batch, samples}, v));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace kiln
