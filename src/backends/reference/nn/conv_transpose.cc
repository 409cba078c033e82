// Reference ConvTranspose and Col2Im: scatter-add loops over input positions and kernel taps, in double.
#include "backends/reference/nn/nn_util.h"
#include "ir/window_params.h"

namespace kiln {
namespace {

Status read_positive(const KernelContext& ctx, const char* name, size_t nd, Dims* out) {
  *out = ctx.attrs().get_ints(name, Dims(nd, 1));
  if (out->empty()) *out = Dims(nd, 1);
  if (out->size() != nd)
    return ctx.error(std::string(name) + " has " + std::to_string(out->size()) + " values; expected " + std::to_string(nd));
  for (int64_t v : *out)
    if (v <= 0) return ctx.error(std::string(name) + " " + nn::dims_str(*out) + " must be positive");
  return ok_status();
}

Status conv_transpose_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "X"));
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 1, "W"));
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  if (x.rank() < 3) return ctx.error("input X must have rank >= 3; got shape " + nn::dims_str(x.dims()));
  if (w.rank() != x.rank()) return ctx.error("weight W rank must equal input rank " + std::to_string(x.rank()));
  const size_t nd = x.rank() - 2;
  const int64_t group = ctx.attrs().get_int("group", 1);
  if (group <= 0) return ctx.error("group must be positive");
  const int64_t n = x.dim(0), c = x.dim(1);
  if (w.dim(0) != c)
    return ctx.error("W.shape[0] (" + std::to_string(w.dim(0)) + ") must equal input channels " + std::to_string(c));
  if (c % group != 0) return ctx.error("input channels " + std::to_string(c) + " not divisible by group");
  const int64_t mg = w.dim(1), m = mg * group, cg = c / group;
  Dims in(x.dims().begin() + 2, x.dims().end());
  Dims kernel(w.dims().begin() + 2, w.dims().end());
  Dims ks = ctx.attrs().get_ints("kernel_shape");
  if (!ks.empty() && ks != kernel)
    return ctx.error("kernel_shape " + nn::dims_str(ks) + " does not match W spatial shape " + nn::dims_str(kernel));
  auto attrs = parse_conv_transpose_attrs(ctx.attrs(), nd);
  if (!attrs.ok()) return ctx.error(attrs.status().message());
  auto geometry = conv_transpose_geometry(*attrs, in, kernel);
  if (!geometry.ok()) return ctx.error(geometry.status().message());
  const Dims &strides = attrs->window.strides, &dil = attrs->window.dilations;
  const Dims &pads = geometry->pads, &out = geometry->out;
  Dims od{n, m};
  od.insert(od.end(), out.begin(), out.end());
  std::vector<double> bias;
  if (ctx.has_input(2)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
    const Tensor& b = ctx.input(2);
    if (b.rank() != 1 || b.dim(0) != m)
      return ctx.error("bias B must have shape [" + std::to_string(m) + "]; got " + nn::dims_str(b.dims()));
    bias = nn::read_doubles(b);
  }
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, x.dtype(), od).status());
  const auto xv = nn::read_doubles(x), wv = nn::read_doubles(w);
  const int64_t in_size = dims_numel(in), out_size = dims_numel(out), k_size = dims_numel(kernel);
  const auto out_strides = strides_of(out);
  std::vector<double> y(static_cast<size_t>(n * m * out_size), 0.0);
  for (int64_t ni = 0; ni < n; ++ni) {
    for (int64_t mi = 0; mi < m; ++mi) {
      double* ym = y.data() + (ni * m + mi) * out_size;
      if (!bias.empty())
        for (int64_t k = 0; k < out_size; ++k) ym[k] = bias[mi];
      const int64_t g = mi / mg, mloc = mi % mg;
      for (int64_t ci = 0; ci < cg; ++ci) {
        const int64_t cabs = g * cg + ci;
        const double* xc = xv.data() + (ni * c + cabs) * in_size;
        const double* wc = wv.data() + (cabs * mg + mloc) * k_size;
        nn::for_each_index(in, [&](const std::vector<int64_t>& ip, int64_t ipos) {
          const double xval = xc[ipos];
          nn::for_each_index(kernel, [&](const std::vector<int64_t>& t, int64_t tk) {
            int64_t off = 0;
            for (size_t i = 0; i < nd; ++i) {
              int64_t o = ip[i] * strides[i] - pads[i] + t[i] * dil[i];
              if (o < 0 || o >= out[i]) return;
              off += o * out_strides[i];
            }
            ym[off] += xval * wc[tk];
          });
        });
      }
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor result, nn::make_tensor(x.dtype(), od, y));
  ctx.set_output(0, std::move(result));
  return ok_status();
}

// Col2Im(input [N, C*prod(block), L], image_shape, block_shape) -> [N, C, image...].
Status col2im_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
  const Tensor& x = ctx.input(0);
  if (!is_float(x.dtype()) && !is_integer(x.dtype()))
    return ctx.unsupported(std::string("input dtype ") + dtype_name(x.dtype()) + " is not supported");
  if (x.rank() != 3) return ctx.error("input must have rank 3 [N, C*prod(block_shape), L]; got " + nn::dims_str(x.dims()));
  Dims image = tensor_to_int64s(ctx.input(1)), block = tensor_to_int64s(ctx.input(2));
  const size_t nd = image.size();
  if (nd == 0 || block.size() != nd)
    return ctx.error("image_shape " + nn::dims_str(image) + " and block_shape " + nn::dims_str(block) +
                     " must be non-empty and of equal length");
  for (size_t i = 0; i < nd; ++i)
    if (image[i] <= 0 || block[i] <= 0) return ctx.error("image_shape and block_shape values must be positive");
  Dims strides, dil;
  KILN_RETURN_IF_ERROR(read_positive(ctx, "strides", nd, &strides));
  KILN_RETURN_IF_ERROR(read_positive(ctx, "dilations", nd, &dil));
  Dims pads = ctx.attrs().get_ints("pads", Dims(2 * nd, 0));
  if (pads.empty()) pads = Dims(2 * nd, 0);
  if (pads.size() != 2 * nd) return ctx.error("pads must have " + std::to_string(2 * nd) + " values");
  const int64_t block_size = dims_numel(block);
  if (x.dim(1) % block_size != 0)
    return ctx.error("input dim 1 (" + std::to_string(x.dim(1)) + ") is not a multiple of prod(block_shape) " +
                     std::to_string(block_size));
  const int64_t n = x.dim(0), c = x.dim(1) / block_size;
  Dims blocks(nd);
  for (size_t i = 0; i < nd; ++i) {
    int64_t span = image[i] + pads[i] + pads[nd + i] - ((block[i] - 1) * dil[i] + 1);
    if (span < 0) return ctx.error("block extent exceeds padded image on axis " + std::to_string(i));
    blocks[i] = span / strides[i] + 1;
  }
  if (dims_numel(blocks) != x.dim(2))
    return ctx.error("input dim 2 (L=" + std::to_string(x.dim(2)) + ") must equal the number of blocks " +
                     std::to_string(dims_numel(blocks)) + " " + nn::dims_str(blocks));
  Dims od{n, c};
  od.insert(od.end(), image.begin(), image.end());
  KILN_RETURN_IF_ERROR(nn::alloc(ctx, x.dtype(), od).status());
  const auto xv = nn::read_doubles(x);
  const int64_t img_size = dims_numel(image), l = x.dim(2);
  const auto img_strides = strides_of(image);
  std::vector<double> y(static_cast<size_t>(n * c * img_size), 0.0);
  for (int64_t ni = 0; ni < n; ++ni) {
    for (int64_t ci = 0; ci < c; ++ci) {
      double* yc = y.data() + (ni * c + ci) * img_size;
      nn::for_each_index(block, [&](const std::vector<int64_t>& t, int64_t tk) {
        const double* row = xv.data() + ((ni * c + ci) * block_size + tk) * l;
        nn::for_each_index(blocks, [&](const std::vector<int64_t>& b, int64_t bpos) {
          int64_t off = 0;
          for (size_t i = 0; i < nd; ++i) {
            int64_t p = b[i] * strides[i] - pads[i] + t[i] * dil[i];
            if (p < 0 || p >= image[i]) return;
            off += p * img_strides[i];
          }
          yc[off] += row[bpos];
        });
      });
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor result, nn::make_tensor(x.dtype(), od, y));
  ctx.set_output(0, std::move(result));
  return ok_status();
}

}  // namespace

namespace nn {
Status conv_transpose(KernelContext& ctx) { return conv_transpose_kernel(ctx); }
Status col2im(KernelContext& ctx) { return col2im_kernel(ctx); }
}  // namespace nn

}  // namespace kiln
