// Shared plumbing of the RNN/GRU/LSTM reference kernels: input validation, activations, layouts, outputs.
#pragma once
#include <string>
#include <vector>

#include "backends/reference/kernel.h"
#include "ir/rnn_params.h"

namespace kiln {
namespace attn {

// Everything a recurrent kernel needs, read and validated from the node. Arrays are row-major doubles:
// x [seq, batch, input] (layout 0 order, whatever the node's layout), w [dirs, gates*hidden, input],
// r [dirs, gates*hidden, hidden], b [dirs, 2*gates*hidden], h0/c0 [dirs, batch, hidden], p [dirs, 3*hidden].
struct RnnProblem {
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, dirs = 1;
  bool batch_first = false;   // layout == 1
  bool reverse_only = false;  // direction == "reverse"
  std::vector<double> x, w, r, b, h0, c0, p;
  std::vector<int64_t> lens;        // per batch entry
  std::vector<RnnActivation> acts;  // acts_per_dir * dirs, direction-major (from rnn_params)
  bool has_clip = false;
  double clip = 0.0;
  bool linear_before_reset = false;  // GRU
  bool input_forget = false;         // LSTM
  DType dtype = DType::kFloat32;

  // Whether direction `dir` runs backwards in time.
  bool reversed(int64_t dir) const { return dir == 1 || reverse_only; }
  double clipped(double v) const {
    if (!has_clip) return v;
    return v < -clip ? -clip : (v > clip ? clip : v);
  }
  // Activation `k` (0-based within a direction) of direction `dir`, applied to a clipped input.
  double act(int64_t dir, int k, double v) const;
};

// Reads X, W, R, B, sequence_lens, initial_h (and for LSTM initial_c and P) plus the attributes (rnn_params).
Status load_rnn_problem(const KernelContext& ctx, RnnProblem* pb);

// Sets Y (from y [seq, dirs, batch, hidden]), Y_h (from yh [dirs, batch, hidden]) and, when given,
// Y_c, transposing to the batch-first layout when layout == 1.
Status write_rnn_outputs(KernelContext& ctx, const RnnProblem& pb, const std::vector<double>& y,
                         const std::vector<double>& yh, const std::vector<double>* yc);

// dot(row of matrix m [rows, cols] at `row`, vector v[cols]).
inline double row_dot(const double* m, int64_t row, int64_t cols, const double* v) {
  double s = 0.0;
  for (int64_t k = 0; k < cols; ++k) s += m[row * cols + k] * v[k];
  return s;
}

}  // namespace attn
}  // namespace kiln
