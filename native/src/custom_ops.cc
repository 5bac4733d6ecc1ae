// Kernels ATen lacks, with their own autograd. Declared in native/ops.table.mjs like any op.
//
// masked_rows / rows_to_masked: the gather/scatter pair behind SparK's sparse normalisation. The
// reference computes BatchNorm/LayerNorm statistics over visible positions only by
//   rows = x.permute(0,2,3,1)[mask]            (K, C)   K = visible positions, NHWC order
//   out  = zeros_like(x_nhwc); out[mask] = norm(rows); out.permute(0,3,1,2)
// Each of these is the other's backward; both index an (N, HW, C) view of the NCHW map, so neither
// copies the feature map into NHWC first.
#include "glue.h"
#include <torch/csrc/autograd/custom_function.h>
#include <ATen/Parallel.h>
#include <ATen/Dispatch.h>
#include <algorithm>
#include <vector>

namespace sparkts {
namespace custom {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The visible positions of a (N,1,H,W) mask as (sample, flat spatial index) pairs, in NHWC order.
struct Visible {
  at::Tensor n, hw;
};

Visible visiblePositions(const at::Tensor& mask, at::Device device) {
  TORCH_CHECK(mask.dim() == 4 && mask.size(1) == 1, "mask must have shape (N,1,H,W), got ", mask.sizes());
  const int64_t hw = mask.size(2) * mask.size(3);
  at::Tensor flat = mask.reshape({-1}).to(device).nonzero().squeeze(1);
  return {at::div(flat, hw, "floor"), at::remainder(flat, hw)};
}

void checkMatches(const at::Tensor& mask, const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(0) == mask.size(0) && x.size(2) == mask.size(2) && x.size(3) == mask.size(3),
              "mask ", mask.sizes(), " does not match the feature map ", x.sizes());
}

// CPU kernels for the gather and the scatter: one pass over the visible positions, channels innermost
// (rows are written/read contiguously; the map's reads/writes touch C cache lines at a time, which
// neighbouring positions reuse). ATen's index / index_put_ with two index tensors compute offsets per
// element through TensorIterator, several times slower for the same copy. Pure data movement: the
// results are identical to the index path, which CUDA and exotic layouts keep.
bool useCpuKernel(const at::Tensor& t) { return t.device().is_cpu() && (t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble); }

// First row of each sample in the (K, C) rows: visible positions are numbered sample by sample.
std::vector<int64_t> sampleOffsets(const Visible& v, int64_t n) {
  std::vector<int64_t> first(n + 1, 0);
  const int64_t* pn = v.n.data_ptr<int64_t>();
  for (int64_t k = 0; k < v.n.size(0); k++) first[pn[k] + 1]++;
  for (int64_t i = 0; i < n; i++) first[i + 1] += first[i];
  return first;
}

// (N,C,H,W) -> (K,C): x viewed as (N, HW, C) without a copy, then indexed. Works for any strides.
at::Tensor gatherRows(const at::Tensor& x, const Visible& v) {
  if (!useCpuKernel(x) || !v.n.device().is_cpu()) {
    at::Tensor nlc = x.reshape({x.size(0), x.size(1), -1}).transpose(1, 2);
    return at::index(nlc, {v.n, v.hw});
  }
  const int64_t N = x.size(0), C = x.size(1), K = v.n.size(0);
  at::Tensor xc = x.contiguous();
  at::Tensor rows = at::empty({K, C}, x.options());
  const int64_t HW = x.size(2) * x.size(3);
  const std::vector<int64_t> first = sampleOffsets(v, N);
  const int64_t* hw = v.hw.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "masked_rows", [&] {
    const scalar_t* src = xc.data_ptr<scalar_t>();
    scalar_t* dst = rows.data_ptr<scalar_t>();
    at::parallel_for(0, K, 64, [&](int64_t k0, int64_t k1) {
      int64_t n = std::upper_bound(first.begin(), first.end(), k0) - first.begin() - 1;
      for (int64_t k = k0; k < k1; k++) {
        while (k >= first[n + 1]) n++;
        const scalar_t* s = src + n * C * HW + hw[k];
        scalar_t* d = dst + k * C;
        for (int64_t c = 0; c < C; c++) d[c] = s[c * HW];
      }
    });
  });
  return rows;
}

// (K,C) -> contiguous (N,C,H,W), zero at masked positions. The reference builds its output with
// zeros_like of a permuted view, which is contiguous NCHW; matching that layout matters because
// the kernels downstream (conv, batch norm) accumulate in a layout-dependent order.
// The map itself is returned, not a view of it: a custom Function's view output may not be modified
// in place, and the in-place ReLU after a sparse BatchNorm (timm's) does exactly that.
at::Tensor scatterRows(const at::Tensor& rows, const Visible& v, at::IntArrayRef nchw) {
  at::Tensor out = at::zeros({nchw[0], nchw[1], nchw[2], nchw[3]}, rows.options());
  if (!useCpuKernel(rows) || !v.n.device().is_cpu()) {
    out.view({nchw[0], nchw[1], nchw[2] * nchw[3]}).transpose(1, 2).index_put_({v.n, v.hw}, rows);
    return out;
  }
  const int64_t N = nchw[0], C = nchw[1], HW = nchw[2] * nchw[3], K = v.n.size(0);
  at::Tensor rc = rows.contiguous();
  const std::vector<int64_t> first = sampleOffsets(v, N);
  const int64_t* hw = v.hw.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(rows.scalar_type(), "rows_to_masked", [&] {
    const scalar_t* src = rc.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    at::parallel_for(0, K, 64, [&](int64_t k0, int64_t k1) {
      int64_t n = std::upper_bound(first.begin(), first.end(), k0) - first.begin() - 1;
      for (int64_t k = k0; k < k1; k++) {
        while (k >= first[n + 1]) n++;
        const scalar_t* s = src + k * C;
        scalar_t* d = dst + n * C * HW + hw[k];
        for (int64_t c = 0; c < C; c++) d[c * HW] = s[c];
      }
    });
  });
  return out;
}

struct MaskedRows : public torch::autograd::Function<MaskedRows> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& mask) {
    checkMatches(mask, x);
    Visible v = visiblePositions(mask, x.device());
    ctx->save_for_backward({v.n, v.hw});
    ctx->saved_data["shape"] = x.sizes().vec();
    return gatherRows(x, v);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto shape = ctx->saved_data["shape"].toIntVector();
    return {scatterRows(grads[0], {saved[0], saved[1]}, shape), at::Tensor()};
  }
};

struct RowsToMasked : public torch::autograd::Function<RowsToMasked> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& rows, const at::Tensor& mask) {
    TORCH_CHECK(rows.dim() == 2, "rows must be (K, C), got ", rows.sizes());
    Visible v = visiblePositions(mask, rows.device());
    TORCH_CHECK(v.n.size(0) == rows.size(0), "mask has ", v.n.size(0), " visible positions but rows has ", rows.size(0));
    ctx->save_for_backward({v.n, v.hw});
    return scatterRows(rows, v, {mask.size(0), rows.size(1), mask.size(2), mask.size(3)});
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    return {gatherRows(grads[0], {saved[0], saved[1]}), at::Tensor()};
  }
};


}  // namespace

at::Tensor masked_rows(const at::Tensor& x, const at::Tensor& mask) { return MaskedRows::apply(x, mask); }
at::Tensor rows_to_masked(const at::Tensor& rows, const at::Tensor& mask) { return RowsToMasked::apply(rows, mask); }
}  // namespace custom
}  // namespace sparkts
