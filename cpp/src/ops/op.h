// One definition per op type. Private to kws.
//
// Every op type written in model.kws (conv2d, dense, svdf, ...) is one OpKernel, defined
// in cpp/src/ops/<op>.cc and listed in the registry (registry.cc) under the type name
// the file uses. The kernel is the op's only definition: how it parses and validates its
// tensors and attributes, its output shape and FLOPs, which input rows each output row
// needs, and its compute forms. Model loading, whole-clip inference, the cached Stream
// and the batched evaluator all call these, so the modes agree bit for bit because they
// run the same code, not copies kept in step.
//
// Compute forms (all accumulate each output element in the same order):
//  - ComputeRows: output rows [r0, r1) of a row-structured op (convolutions, pooling,
//    per-row dense, element-wise ops on time rows): what cached streaming recomputes;
//  - ComputeAll: the whole output from the whole inputs (one window);
//  - ComputeWindows: many windows at once, for ops on vectors and for the collapsing ops
//    (flatten, global pooling, the SVDF time filter) that read a window's rows by pointer.
#ifndef KWS_SRC_OPS_OP_H_
#define KWS_SRC_OPS_OP_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "layers.h"

namespace kws {
namespace json {
class Value;
}  // namespace json

namespace ops {

using layers::Activation;
using layers::Op;
using layers::OpType;

// Largest tensor dimension a model file may declare.
constexpr int kMaxDim = 1 << 20;

// Scratch for one op call: a zero row at least ZeroFloats(op) long, ScratchPointers(op)
// pointers and AuxFloats(op) floats.
struct Scratch {
  const float* zeros = nullptr;
  const float** pointers = nullptr;
  float* aux = nullptr;
};

// What a batch of windows hands to ComputeWindows: input k of window w, row t
// (t < rows), is at in[k][w * rows + t]. Inputs that are vectors have rows = 1.
struct WindowInputs {
  const float* const* in[2] = {nullptr, nullptr};
  int rows = 1;
  int count = 0;
};

// The names an op type reads from model.kws (listed by kws._core.op_types()).
struct OpSignature {
  std::vector<std::string> attrs;             // attribute keys (required or optional)
  std::vector<std::string> tensors;           // tensor roles, required ones
  std::vector<std::string> optional_tensors;  // tensor roles that may be absent
};

// The loader's side of parsing one op: its attributes, its tensors, errors that name the
// file and the op, and (for ops that are two kernels at run time, the SVDF) a way to add
// an op in front of the one being parsed.
class ParseContext {
 public:
  using TensorFn = std::function<std::vector<float>(
      const std::string& role, const std::vector<int64_t>& shape, bool required)>;
  using AddOpFn = std::function<int(Op op)>;                   // returns the new op's output value
  using FailFn = std::function<void(const std::string& msg)>;  // must throw

  ParseContext(const json::Value& attrs, std::string where,
               std::vector<std::vector<int>> input_dims, TensorFn tensor, AddOpFn add_op,
               FailFn fail)
      : attrs_(attrs),
        where_(std::move(where)),
        input_dims_(std::move(input_dims)),
        tensor_(std::move(tensor)),
        add_op_(std::move(add_op)),
        fail_(std::move(fail)) {}

  const std::string& where() const { return where_; }
  // Shape of input k.
  const std::vector<int>& InputDims(size_t k) const { return input_dims_.at(k); }
  [[noreturn]] void Fail(const std::string& msg) const;
  // Tensor `role` of this op: F32 of exactly `shape` (empty when optional and absent).
  std::vector<float> Tensor(const std::string& role, const std::vector<int64_t>& shape,
                            bool required = true) const {
    return tensor_(role, shape, required);
  }
  // Integer attribute in [lo, hi] (required).
  int Int(const std::string& key, long long lo, long long hi) const;
  // Number attribute (required), as float32: it must be finite once rounded to float32.
  float Float(const std::string& key) const;
  // Two positive integers (kernel_size, strides, pool_size).
  std::pair<int, int> Pair(const std::string& key) const;
  // "same" -> true, "valid" -> false.
  bool SamePadding() const;
  // Optional "activation": linear (default) or relu.
  Activation ParseActivation() const;
  // A list of positive integers (reshape's target_shape).
  std::vector<int> Dims(const std::string& key) const;
  // A list of exactly `count` integers in [0, kMaxDim] (pad columns, crop rows).
  std::vector<int> NonNegativeInts(const std::string& key, size_t count) const;
  // Whether the optional attribute `key` is present.
  bool Has(const std::string& key) const;
  void RequireRank(const Op& op, size_t rank) const;
  int AddOp(Op op) const { return add_op_(std::move(op)); }

 private:
  const json::Value& attrs_;
  std::string where_;
  std::vector<std::vector<int>> input_dims_;
  TensorFn tensor_;
  AddOpFn add_op_;
  FailFn fail_;
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;

  // The type name in model.kws ("conv2d", ...), and what the file gives it.
  virtual const char* type() const = 0;
  virtual OpSignature signature() const = 0;
  virtual int num_inputs() const { return 1; }

  // Reads attributes and tensors; `op` arrives with name, inputs and in_dims set and
  // leaves with type, out_dims, flops, weights and (row-structured ops) its row
  // dependencies set. Errors go through ctx.Fail.
  virtual void Parse(ParseContext& ctx, Op& op) const = 0;

  // Output rows [r0, r1) from the whole inputs (row-structured ops only).
  virtual void ComputeRows(const Op& op, const float* const* in, float* out, int r0, int r1,
                           const Scratch& s) const;
  // The whole output from the whole inputs. Default: every row (row-structured ops), or
  // a batch of one window (collapsing and vector ops).
  virtual void ComputeAll(const Op& op, const float* const* in, float* out, const Scratch& s) const;
  // `in.count` windows; window w's output at out + w * out_stride. Default: the whole
  // form per window, on vectors (rows = 1).
  virtual void ComputeWindows(const Op& op, const WindowInputs& in, float* out, size_t out_stride,
                              const Scratch& s) const;
  // Rows [first, last) of a window of `rows` input rows that a collapsing op reads.
  virtual std::pair<int, int> CollapsedRows(const Op& op, int rows) const { return {0, rows}; }
  // Whether `op` collapses a window of time rows into a vector (its ComputeWindows then
  // takes each window's rows by pointer).
  virtual bool CollapsesRows(const Op& op) const { return false; }

  // Scratch the compute forms need (ComputeAll included).
  virtual size_t ScratchPointers(const Op& op) const { return 0; }
  virtual size_t ZeroFloats(const Op& op) const { return 0; }
  virtual size_t AuxFloats(const Op& op) const { return 0; }

  // Folding at load (model.cc): a relu after this op becomes its activation; a
  // scale_shift after it is folded into its weights (returns false when it cannot be);
  // a following op of the same type is merged into it.
  virtual bool TakesActivation() const { return false; }
  virtual bool FoldScaleShift(Op& self, const Op& scale_shift) const { return false; }
  virtual bool MergeNext(Op& self, const Op& next) const { return false; }

  // Parameters held (for Summary()).
  virtual size_t Parameters(const Op& op) const;
};

size_t RowFloats(const std::vector<int>& dims);  // floats per time row (rank >= 2)
size_t NumFloats(const std::vector<int>& dims);

// An element-wise op of one input (relu, silu, log, ...): Derived::ApplyOp(op, in, out,
// begin, end) maps floats [begin, end); every compute form is that map over the floats it
// covers. Ops without parameters define only Derived::Apply(in, out, begin, end); ops with
// parameters (held in the Op) define their own ApplyOp.
template <typename Derived>
class ElementwiseKernel : public OpKernel {
 public:
  OpSignature signature() const override { return {}; }
  void ComputeRows(const Op& op, const float* const* in, float* out, int r0, int r1,
                   const Scratch&) const override {
    const size_t row = RowFloats(op.out_dims);
    Derived::ApplyOp(op, in[0], out, r0 * row, r1 * row);
  }
  void ComputeAll(const Op& op, const float* const* in, float* out, const Scratch&) const override {
    Derived::ApplyOp(op, in[0], out, 0, NumFloats(op.out_dims));
  }
  void ComputeWindows(const Op& op, const WindowInputs& in, float* out, size_t out_stride,
                      const Scratch&) const override {
    const size_t n = NumFloats(op.out_dims);
    for (int w = 0; w < in.count; ++w)
      Derived::ApplyOp(op, in.in[0][w], out + static_cast<size_t>(w) * out_stride, 0, n);
  }
  static void ApplyOp(const Op&, const float* in, float* out, size_t begin, size_t end) {
    Derived::Apply(in, out, begin, end);
  }

 protected:
  // Output shape = input shape; row-structured when the input has a time axis.
  static void SameShape(Op& op, OpType type) {
    op.type = type;
    op.out_dims = op.in_dims;
    op.row_structured = op.in_dims.size() >= 2;
  }
};

// The registered op types, in a fixed order, and lookup by type name (null if unknown).
const std::vector<const OpKernel*>& Registry();
const OpKernel* Find(const std::string& type);

// Per-op helpers shared by several op files.
// Sets op's 2-D window attributes (kernel key `kernel_key`, strides, padding) from a
// rank-3 input and the resulting out_dims (channels unchanged) and row dependencies.
void ParseWindow2D(ParseContext& ctx, Op& op, const std::string& kernel_key);
// "[a, b, c]", for messages.
std::string DimsText(const std::vector<int>& dims);
inline float Activate(float v, Activation a) {
  return a == Activation::kRelu ? (v > 0.0f ? v : 0.0f) : v;
}
// y = (W x + b) * scale + shift as (W * scale) x + (b * scale + shift), per output
// channel, for an op whose weights are `packed` (conv2d, dense).
void FoldScaleShiftIntoPacked(Op& self, const Op& scale_shift);

// The SVDF time filter of a batch of windows (svdf.cc): window w's memory rows are
// rows[w * rows_per_window + k], k < memory_size; writes op.units outputs per window to
// out + w * out_stride. `acc` holds count * filters floats.
void SvdfTimeWindows(const Op& op, const float* const* rows, int rows_per_window, int count,
                     float* acc, float* out, size_t out_stride);
// The same for 16 filters of every window, from a strip of feature-filter rows: window
// w's memory row k is strip + (first_row + w * hop + k) * width; `tf16` holds those 16
// filters' time filter (memory_size rows of 16). Writes units [unit0, unit0 + 16 / rank)
// of each window; `acc` holds count * 16 floats.
void SvdfTimeStrip(const Op& op, const float* tf16, const float* strip, int width, int first_row,
                   int hop, int count, int unit0, float* acc, float* out, size_t out_stride);

}  // namespace ops
}  // namespace kws

#endif  // KWS_SRC_OPS_OP_H_
