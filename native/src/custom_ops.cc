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

// (N,C,H,W) -> (K,C): x viewed as (N, HW, C) without a copy, then indexed. Works for any strides.
at::Tensor gatherRows(const at::Tensor& x, const Visible& v) {
  at::Tensor nlc = x.reshape({x.size(0), x.size(1), -1}).transpose(1, 2);
  return at::index(nlc, {v.n, v.hw});
}

// (K,C) -> contiguous (N,C,H,W), zero at masked positions. The reference builds its output with
// zeros_like of a permuted view, which is contiguous NCHW; matching that layout matters because
// the kernels downstream (conv, batch norm) accumulate in a layout-dependent order.
// The map itself is returned, not a view of it: a custom Function's view output may not be modified
// in place, and the in-place ReLU after a sparse BatchNorm (timm's) does exactly that.
at::Tensor scatterRows(const at::Tensor& rows, const Visible& v, at::IntArrayRef nchw) {
  at::Tensor out = at::zeros({nchw[0], nchw[1], nchw[2], nchw[3]}, rows.options());
  out.view({nchw[0], nchw[1], nchw[2] * nchw[3]}).transpose(1, 2).index_put_({v.n, v.hw}, rows);
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
