// layout_stem: rewrites a stride-2 convolution on a few-channel image into a stride-1 convolution over its
// space-to-depth input (2x2 pixel blocks folded into channels), the form tensor-core kernels run fast.
//
// Per spatial axis, with xpad the zero-padded input and k' = ceil(k / 2):
//   out[y] = sum_{i<k} xpad[2y + i] w[i] = sum_{a<k', b<2} xpad[2(y + a) + b] w[2a + b]   (w[i] = 0 for i >= k)
//          = sum_{a<k', b<2} s2d[y + a][b] w'[a][b],   s2d[j][b] = xpad[2j + b],  w'[a][b] = w[2a + b].
// The largest index read is 2(out - 1 + k') - 1, so xpad needs exactly 2(out - 1 + k') rows: the original leading
// pad, then whatever trailing pad (or crop) makes that size. Channels are zero-padded so 4C' is a multiple of 8.
#include "passes/layout_stem.h"

#include <cstring>

#include "passes/pass_util.h"

namespace kiln {

namespace {

constexpr int64_t kMaxStemChannels = 4;  // 4C <= 16 channels after the fold

bool ints_equal(const std::vector<int64_t>& v, std::initializer_list<int64_t> want) {
  return v == std::vector<int64_t>(want);
}

// w [M, C, kH, kW] -> [M, k'h, k'w, 4C'] with channel (by * 2 + bx) * C' + c = w[m, c, 2a + by, 2a2 + bx], zero
// where that tap or channel does not exist. Element-size generic (a byte copy).
Result<Tensor> space_to_depth_weights(const Tensor& w, const StemPlan& p) {
  const int64_t m = w.dims()[0], c = p.channels, cp = p.channels_padded;
  const int64_t kh = p.kernel[0], kw = p.kernel[1], nh = p.new_kernel[0], nw = p.new_kernel[1];
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(w.dtype(), {m, nh, nw, 4 * cp}));
  const size_t es = dtype_size(w.dtype());
  std::memset(out.raw(), 0, out.nbytes());
  const char* src = static_cast<const char*>(w.raw());
  char* dst = static_cast<char*>(out.raw());
  for (int64_t o = 0; o < m; ++o)
    for (int64_t a = 0; a < nh; ++a)
      for (int64_t a2 = 0; a2 < nw; ++a2)
        for (int64_t by = 0; by < 2; ++by)
          for (int64_t bx = 0; bx < 2; ++bx) {
            const int64_t i = 2 * a + by, j = 2 * a2 + bx;
            if (i >= kh || j >= kw) continue;
            for (int64_t ch = 0; ch < c; ++ch) {
              const int64_t s = ((o * c + ch) * kh + i) * kw + j;
              const int64_t d = ((o * nh + a) * nw + a2) * 4 * cp + (by * 2 + bx) * cp + ch;
              std::memcpy(dst + d * es, src + s * es, es);
            }
          }
  return out;
}

Node& append(Graph& g, Node n, int opset) {
  n.opset = opset;
  g.nodes.push_back(std::move(n));
  return g.nodes.back();
}

}  // namespace

std::optional<StemPlan> plan_space_to_depth_stem(const Graph& g, const Node& n) {
  if (n.op != OpKind::kConv && n.op != OpKind::kFusedConv) return std::nullopt;
  if (n.attrs.get_int("group", 1) != 1) return std::nullopt;
  const std::string auto_pad = n.attrs.get_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && !auto_pad.empty()) return std::nullopt;
  if (!ints_equal(n.attrs.get_ints("strides"), {2, 2})) return std::nullopt;
  if (n.attrs.has("dilations") && !ints_equal(n.attrs.get_ints("dilations"), {1, 1})) return std::nullopt;
  const Tensor* w = n.has_input(1) ? constant_value(g, n.inputs[1]) : nullptr;
  if (!w || w->rank() != 4 ||
      (w->dtype() != DType::kFloat32 && w->dtype() != DType::kFloat16 && w->dtype() != DType::kBFloat16))
    return std::nullopt;
  StemPlan p;
  p.channels = w->dims()[1];
  p.kernel[0] = w->dims()[2];
  p.kernel[1] = w->dims()[3];
  if (p.channels < 1 || p.channels > kMaxStemChannels || p.kernel[0] < 2 || p.kernel[1] < 2) return std::nullopt;
  if (n.attrs.has("kernel_shape") && !ints_equal(n.attrs.get_ints("kernel_shape"), {p.kernel[0], p.kernel[1]}))
    return std::nullopt;
  std::vector<int64_t> pads = n.attrs.get_ints("pads", {0, 0, 0, 0});
  if (pads.size() != 4) return std::nullopt;
  for (int64_t v : pads)
    if (v < 0 || v > (int64_t{1} << 20)) return std::nullopt;
  const TypeInfo* t = g.type_of(n.inputs[0]);
  if (!t || !t->is_tensor() || !t->shape.rank_known || t->shape.rank() != 4) return std::nullopt;
  for (size_t d = 1; d < 4; ++d)
    if (!t->shape.dims[d].is_known()) return std::nullopt;
  if (t->shape.dims[1].value != p.channels) return std::nullopt;
  p.channels_padded = p.channels + p.channels % 2;  // 4C' a multiple of 8: 16-byte fp16 channel rows
  for (int ax = 0; ax < 2; ++ax) {
    const int64_t size = t->shape.dims[2 + ax].value, k = p.kernel[ax];
    const int64_t span = size + pads[ax] + pads[2 + ax] - k;
    if (size < 1 || span < 0) return std::nullopt;
    const int64_t out = span / 2 + 1;
    p.new_kernel[ax] = (k + 1) / 2;
    p.padded[ax] = 2 * (out - 1 + p.new_kernel[ax]);
    p.pad_begin[ax] = pads[ax];
    p.pad_end[ax] = p.padded[ax] - size - pads[ax];  // <= pads[2 + ax] + 1; negative crops unread rows
  }
  return p;
}

Status rewrite_space_to_depth_stem(Graph& g, Node& n, const StemPlan& p, std::map<std::string, std::string>* cache) {
  const Tensor* w = constant_value(g, n.inputs[1]);
  KILN_CHECK(w != nullptr);
  Result<Tensor> w2 = space_to_depth_weights(*w, p);
  if (!w2.ok()) return w2.status().with_context(n.describe());
  n.inputs[1] = g.add_constant(n.inputs[1] + "_s2d", std::move(w2).value());

  const int64_t cp = p.channels_padded, h2 = p.padded[0] / 2, w2d = p.padded[1] / 2;
  const std::string key = n.inputs[0] + "|" + std::to_string(cp) + "|" + std::to_string(p.pad_begin[0]) + "," +
                          std::to_string(p.pad_begin[1]) + "," + std::to_string(p.pad_end[0]) + "," +
                          std::to_string(p.pad_end[1]);
  auto it = cache->find(key);
  if (it == cache->end()) {
    const std::string x = n.inputs[0];
    // Pad in NCHW: channels to C', spatial axes to the even padded size (the batch axis untouched).
    std::string pads = g.add_constant(
        n.name + "_s2d_pads", Tensor::from_vector<int64_t>(DType::kInt64, {8},
                                                           {0, 0, p.pad_begin[0], p.pad_begin[1], 0, cp - p.channels,
                                                            p.pad_end[0], p.pad_end[1]}));
    std::string padded = g.fresh_name(x + "_s2d_padded");
    append(g, make_node(g, OpKind::kPad, n.name + "_s2d_pad", {x, pads}, {padded}), 13);
    // [N, C', H'/2, 2, W'/2, 2] -> [N, H'/2, W'/2, 2, 2, C'] -> [N, H'/2, W'/2, 4C']; 0 keeps the (maybe dynamic) N.
    std::string blocks_shape = g.add_constant(n.name + "_s2d_blocks_shape",
                                              Tensor::from_vector<int64_t>(DType::kInt64, {6}, {0, cp, h2, 2, w2d, 2}));
    std::string blocks = g.fresh_name(x + "_s2d_blocks");
    append(g, make_node(g, OpKind::kReshape, n.name + "_s2d_split", {padded, blocks_shape}, {blocks}), 14);
    std::string moved = g.fresh_name(x + "_s2d_moved");
    append(g, make_node(g, OpKind::kTranspose, n.name + "_s2d_transpose", {blocks}, {moved}), 13)
        .attrs.set("perm", std::vector<int64_t>{0, 2, 4, 3, 5, 1});
    std::string out_shape =
        g.add_constant(n.name + "_s2d_shape", Tensor::from_vector<int64_t>(DType::kInt64, {4}, {0, h2, w2d, 4 * cp}));
    std::string s2d = g.fresh_name(x + "_s2d");
    append(g, make_node(g, OpKind::kReshape, n.name + "_s2d_merge", {moved, out_shape}, {s2d}), 14);
    it = cache->emplace(key, s2d).first;
  }
  n.inputs[0] = it->second;
  n.attrs.set("kernel_shape", std::vector<int64_t>{p.new_kernel[0], p.new_kernel[1]});
  n.attrs.set("strides", std::vector<int64_t>{1, 1});
  n.attrs.set("pads", std::vector<int64_t>{0, 0, 0, 0});
  n.attrs.set("dilations", std::vector<int64_t>{1, 1});
  n.attrs.erase("auto_pad");
  return ok_status();
}

}  // namespace kiln
