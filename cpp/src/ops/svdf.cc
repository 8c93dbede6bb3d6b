// svdf: (T, F) -> (units). At run time two ops: the feature filter, a per-row dense layer
// without bias (row-structured, so streaming computes one new row per frame), and the
// time filter over the last memory_size rows (this kernel), which collapses the window.
// Each of the units * rank filters is accumulated over its memory in time order, then
// each unit sums its rank filters in order, adds its bias and applies the activation.
#include "ops/op.h"

namespace kws {
namespace ops {

const OpKernel& DenseKernel();

namespace {

// Each window's filters (F accumulators per window) -> its units.
void SvdfUnits(const Op& op, const float* acc, int count, int acc_stride, int unit0, int units,
               float* out, size_t out_stride) {
  for (int w = 0; w < count; ++w) {
    const float* a = acc + static_cast<size_t>(w) * acc_stride;
    float* o = out + static_cast<size_t>(w) * out_stride;
    for (int j = 0; j < units; ++j) {
      float sum = 0.0f;
      for (int r = 0; r < op.rank; ++r) sum += a[j * op.rank + r];
      const int u = unit0 + j;
      o[u] = Activate(op.bias.empty() ? sum : sum + op.bias[u], op.activation);
    }
  }
}

class Svdf : public OpKernel {
 public:
  const char* type() const override { return "svdf"; }
  OpSignature signature() const override {
    return {{"units", "rank", "memory_size", "activation"},
            {"feature_filter", "time_filter"},
            {"bias"}};
  }

  void Parse(ParseContext& ctx, Op& op) const override {
    ctx.RequireRank(op, 2);
    const int T = op.in_dims[0], width = op.in_dims[1];
    const int units = ctx.Int("units", 1, kMaxDim);
    const int rank = ctx.Int("rank", 1, 1024);
    const int memory = ctx.Int("memory_size", 1, kMaxDim);
    if (memory > T)
      ctx.Fail(ctx.where() + " memory_size " + std::to_string(memory) + " exceeds the " +
               std::to_string(T) + " input frames");
    const int filters = units * rank;
    Op feature;
    feature.kernel = &DenseKernel();
    feature.type = OpType::kDense;
    feature.type_name = "svdf_feature_filter";
    feature.name = op.name + "/feature_filter";
    feature.inputs = op.inputs;
    feature.in_dims = op.in_dims;
    auto ff = ctx.Tensor("feature_filter", {width, filters});
    feature.packed.Pack(ff.data(), width, filters);
    feature.out_dims = {T, filters};
    feature.row_structured = true;
    feature.flops = 2LL * T * width * filters;
    op.inputs = {ctx.AddOp(std::move(feature))};
    op.type = OpType::kSvdfTime;
    op.type_name = "svdf_time_filter";
    op.in_dims = {T, filters};
    op.units = units;
    op.rank = rank;
    op.memory_size = memory;
    op.activation = ctx.ParseActivation();
    {
      const std::vector<float> w = ctx.Tensor("time_filter", {memory, filters});
      op.weights.assign(w.begin(), w.end());
    }
    op.bias = ctx.Tensor("bias", {units}, false);
    op.out_dims = {units};
    op.flops = 2LL * memory * filters;
  }

  bool CollapsesRows(const Op&) const override { return true; }
  std::pair<int, int> CollapsedRows(const Op& op, int rows) const override {
    return {rows - op.memory_size, rows};
  }

  void ComputeWindows(const Op& op, const WindowInputs& in, float* out, size_t out_stride,
                      const Scratch& s) const override {
    SvdfTimeWindows(op, in.in[0] + (in.rows - op.memory_size), in.rows, in.count, s.aux, out,
                    out_stride);
  }

  size_t ScratchPointers(const Op& op) const override { return op.in_dims[0]; }
  size_t AuxFloats(const Op& op) const override { return op.in_dims[1]; }
  bool TakesActivation() const override { return true; }
};

}  // namespace

void SvdfTimeWindows(const Op& op, const float* const* rows, int rows_per_window, int count,
                     float* acc, float* out, size_t out_stride) {
  const int F = op.in_dims[1];
  layers::TimeFilterRows(op.weights.data(), op.memory_size, F, rows, rows_per_window, count, acc);
  SvdfUnits(op, acc, count, F, 0, op.units, out, out_stride);
}

void SvdfTimeStrip(const Op& op, const float* tf16, const float* strip, int width, int first_row,
                   int hop, int count, int unit0, float* acc, float* out, size_t out_stride) {
  layers::TimeFilterStrip(tf16, op.memory_size, strip, width, first_row, hop, count, acc);
  SvdfUnits(op, acc, count, 16, unit0, 16 / op.rank, out, out_stride);
}

const OpKernel& SvdfKernel() {
  static const Svdf k;
  return k;
}

}  // namespace ops
}  // namespace kws
