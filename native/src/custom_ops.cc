// Kernels ATen lacks, with their own autograd. Declared in native/ops.table.mjs like any op.
//
// masked_rows / rows_to_masked: the gather/scatter pair behind SparK's sparse normalisation. The
// reference computes BatchNorm/LayerNorm statistics over visible positions only by
//   rows = x.permute(0,2,3,1)[mask]            (K, C)   K = visible positions, NHWC order
//   out  = zeros_like(x_nhwc); out[mask] = norm(rows); out.permute(0,3,1,2)
// Each of these is the other's backward. Doing them as one index_select/index_copy on a flat index
// avoids the boolean-mask indexing machinery (nonzero + advanced indexing) twice per layer.
#include "glue.h"
#include <torch/csrc/autograd/custom_function.h>

namespace sparkts {
namespace custom {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// mask (N,1,H,W) of bool/uint8 -> int64 flat indices of visible (n,h,w) positions, in NHWC order
at::Tensor visibleIndex(const at::Tensor& mask, const at::Tensor& like) {
  TORCH_CHECK(mask.dim() == 4 && mask.size(1) == 1, "mask must have shape (N,1,H,W), got ", mask.sizes());
  TORCH_CHECK(like.size(0) == mask.size(0) && like.size(2) == mask.size(2) && like.size(3) == mask.size(3),
              "mask ", mask.sizes(), " does not match the feature map ", like.sizes());
  return mask.reshape({-1}).to(like.device()).nonzero().squeeze(1);
}

at::Tensor gatherRows(const at::Tensor& x, const at::Tensor& idx) {
  return x.permute({0, 2, 3, 1}).reshape({-1, x.size(1)}).index_select(0, idx);
}

at::Tensor scatterRows(const at::Tensor& rows, const at::Tensor& idx, at::IntArrayRef nchw) {
  at::Tensor flat = at::zeros({nchw[0] * nchw[2] * nchw[3], nchw[1]}, rows.options());
  flat.index_copy_(0, idx, rows);
  return flat.view({nchw[0], nchw[2], nchw[3], nchw[1]}).permute({0, 3, 1, 2});
}

struct MaskedRows : public torch::autograd::Function<MaskedRows> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& mask) {
    at::Tensor idx = visibleIndex(mask, x);
    ctx->save_for_backward({idx});
    ctx->saved_data["shape"] = x.sizes().vec();
    return gatherRows(x, idx);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    at::Tensor idx = ctx->get_saved_variables()[0];
    auto shape = ctx->saved_data["shape"].toIntVector();
    return {scatterRows(grads[0], idx, shape), at::Tensor()};
  }
};

struct RowsToMasked : public torch::autograd::Function<RowsToMasked> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& rows, const at::Tensor& mask) {
    TORCH_CHECK(rows.dim() == 2, "rows must be (K, C), got ", rows.sizes());
    TORCH_CHECK(mask.dim() == 4 && mask.size(1) == 1, "mask must have shape (N,1,H,W), got ", mask.sizes());
    at::Tensor idx = mask.reshape({-1}).to(rows.device()).nonzero().squeeze(1);
    TORCH_CHECK(idx.size(0) == rows.size(0), "mask has ", idx.size(0), " visible positions but rows has ", rows.size(0));
    ctx->save_for_backward({idx});
    return scatterRows(rows, idx, {mask.size(0), rows.size(1), mask.size(2), mask.size(3)});
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    at::Tensor idx = ctx->get_saved_variables()[0];
    return {gatherRows(grads[0], idx), at::Tensor()};
  }
};

}  // namespace

at::Tensor masked_rows(const at::Tensor& x, const at::Tensor& mask) { return MaskedRows::apply(x, mask); }
at::Tensor rows_to_masked(const at::Tensor& rows, const at::Tensor& mask) { return RowsToMasked::apply(rows, mask); }

}  // namespace custom
}  // namespace sparkts
