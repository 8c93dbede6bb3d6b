// The OpKernel defaults, the parse helpers every op file uses, and the registry.
#include "ops/op.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "json_value.h"

namespace kws {
namespace ops {

// Each op file defines one of these (the registry lists them explicitly, so a static
// library cannot drop an op the way it would drop self-registering objects).
const OpKernel& Conv2DKernel();
const OpKernel& DepthwiseConv2DKernel();
const OpKernel& DenseKernel();
const OpKernel& ScaleShiftKernel();
const OpKernel& ReluKernel();
const OpKernel& MaxPool2DKernel();
const OpKernel& AvgPool2DKernel();
const OpKernel& GlobalAvgPool2DKernel();
const OpKernel& FlattenKernel();
const OpKernel& ReshapeKernel();
const OpKernel& AddKernel();
const OpKernel& SvdfKernel();
const OpKernel& SiluKernel();
const OpKernel& PadKernel();
const OpKernel& CropKernel();
const OpKernel& LogKernel();
const OpKernel& LeakyReluKernel();

const std::vector<const OpKernel*>& Registry() {
  static const std::vector<const OpKernel*> kAll = {&Conv2DKernel(),    &DepthwiseConv2DKernel(),
                                                    &DenseKernel(),     &ScaleShiftKernel(),
                                                    &ReluKernel(),      &MaxPool2DKernel(),
                                                    &AvgPool2DKernel(), &GlobalAvgPool2DKernel(),
                                                    &FlattenKernel(),   &ReshapeKernel(),
                                                    &AddKernel(),       &SvdfKernel(),
                                                    &SiluKernel(),      &PadKernel(),
                                                    &CropKernel(),      &LogKernel(),
                                                    &LeakyReluKernel()};
  return kAll;
}

const OpKernel* Find(const std::string& type) {
  for (const OpKernel* k : Registry())
    if (type == k->type()) return k;
  return nullptr;
}

// ---- defaults ----------------------------------------------------------------------

void OpKernel::ComputeRows(const Op& op, const float* const*, float*, int, int,
                           const Scratch&) const {
  throw std::logic_error("op '" + op.name + "' (" + type() + ") has no row form");
}

void OpKernel::ComputeAll(const Op& op, const float* const* in, float* out,
                          const Scratch& s) const {
  if (op.row_structured) {
    ComputeRows(op, in, out, 0, op.out_rows(), s);
    return;
  }
  // One window: its rows (or its vectors) by pointer, from the front of the pointer
  // scratch; the rest of the scratch is the windows form's.
  const bool collapse = CollapsesRows(op);
  const int rows = collapse ? op.in_dims[0] : 1;
  const size_t row_floats = collapse ? RowFloats(op.in_dims) : 0;
  WindowInputs w;
  w.rows = rows;
  w.count = 1;
  const float** p = s.pointers;
  for (size_t k = 0; k < op.inputs.size(); ++k) {
    for (int t = 0; t < rows; ++t) p[t] = in[k] + static_cast<size_t>(t) * row_floats;
    w.in[k] = p;
    p += rows;
  }
  Scratch rest = s;
  rest.pointers = p;
  ComputeWindows(op, w, out, 0, rest);
}

void OpKernel::ComputeWindows(const Op& op, const WindowInputs& in, float* out, size_t out_stride,
                              const Scratch& s) const {
  const float* args[2];
  for (int w = 0; w < in.count; ++w) {
    for (size_t k = 0; k < op.inputs.size(); ++k) args[k] = in.in[k][w];
    ComputeAll(op, args, out + static_cast<size_t>(w) * out_stride, s);
  }
}

size_t OpKernel::Parameters(const Op& op) const {
  return static_cast<size_t>(op.packed.k) * op.packed.n + op.weights.size() + op.bias.size() +
         op.scale.size() + op.shift.size();
}

// ---- parse helpers -----------------------------------------------------------------

void ParseContext::Fail(const std::string& msg) const {
  fail_(msg);
  throw std::logic_error(msg);  // fail_ throws; this keeps [[noreturn]] honest
}

int ParseContext::Int(const std::string& key, long long lo, long long hi) const {
  return static_cast<int>(attrs_.Get(key, where_).AsInt(where_ + " " + key, lo, hi));
}

float ParseContext::Float(const std::string& key) const {
  const double v = attrs_.Get(key, where_).AsNumber(where_ + " " + key);
  const float f = static_cast<float>(v);
  if (!std::isfinite(f)) {
    std::ostringstream s;
    s << where_ << " " << key << " = " << v << " is not a finite float32 number";
    Fail(s.str());
  }
  return f;
}

std::pair<int, int> ParseContext::Pair(const std::string& key) const {
  const auto& a = attrs_.Get(key, where_).AsArray(where_ + " " + key);
  if (a.size() != 2) Fail(where_ + " " + key + " must have 2 entries");
  return {static_cast<int>(a[0].AsInt(where_ + " " + key, 1, kMaxDim)),
          static_cast<int>(a[1].AsInt(where_ + " " + key, 1, kMaxDim))};
}

bool ParseContext::SamePadding() const {
  const std::string& p = attrs_.Get("padding", where_).AsString(where_ + " padding");
  if (p == "same") return true;
  if (p == "valid") return false;
  Fail(where_ + " has unknown padding '" + p + "'");
}

Activation ParseContext::ParseActivation() const {
  const json::Value* a = attrs_.Find("activation");
  if (!a) return Activation::kLinear;
  const std::string& s = a->AsString(where_ + " activation");
  if (s == "linear") return Activation::kLinear;
  if (s == "relu") return Activation::kRelu;
  Fail(where_ + " has unsupported activation '" + s + "'");
}

std::vector<int> ParseContext::Dims(const std::string& key) const {
  std::vector<int> out;
  for (const auto& d : attrs_.Get(key, where_).AsArray(where_ + " " + key))
    out.push_back(static_cast<int>(d.AsInt(where_ + " " + key, 1, kMaxDim)));
  return out;
}

std::vector<int> ParseContext::NonNegativeInts(const std::string& key, size_t count) const {
  const auto& a = attrs_.Get(key, where_).AsArray(where_ + " " + key);
  if (a.size() != count)
    Fail(where_ + " " + key + " must have " + std::to_string(count) + " entries");
  std::vector<int> out;
  for (const auto& d : a) out.push_back(static_cast<int>(d.AsInt(where_ + " " + key, 0, kMaxDim)));
  return out;
}

bool ParseContext::Has(const std::string& key) const { return attrs_.Find(key) != nullptr; }

std::string DimsText(const std::vector<int>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

void ParseContext::RequireRank(const Op& op, size_t rank) const {
  if (op.in_dims.size() != rank)
    Fail(where_ + " ('" + op.type_name + "') needs a rank-" + std::to_string(rank) +
         " input, got " + DimsText(op.in_dims));
}

void ParseWindow2D(ParseContext& ctx, Op& op, const std::string& kernel_key) {
  ctx.RequireRank(op, 3);
  std::tie(op.kh, op.kw) = ctx.Pair(kernel_key);
  std::tie(op.sh, op.sw) = ctx.Pair("strides");
  const bool same = ctx.SamePadding();
  const int H = op.in_dims[0], W = op.in_dims[1];
  const int Ho = layers::WindowOutputSize(H, op.kh, op.sh, same);
  const int Wo = layers::WindowOutputSize(W, op.kw, op.sw, same);
  if (Ho <= 0 || Wo <= 0)
    ctx.Fail(ctx.where() + ": window " + std::to_string(op.kh) + "x" + std::to_string(op.kw) +
             " is larger than its input " + DimsText(op.in_dims));
  op.pad_top = layers::WindowPadBefore(H, op.kh, op.sh, same);
  op.pad_left = layers::WindowPadBefore(W, op.kw, op.sw, same);
  op.out_dims = {Ho, Wo, op.in_dims[2]};
  op.row_structured = true;
  op.time_kernel = op.kh;
  op.time_stride = op.sh;
  op.time_pad = op.pad_top;
}

void FoldScaleShiftIntoPacked(Op& self, const Op& ss) {
  layers::PackedMatrix& w = self.packed;
  for (int p = 0; p < w.panels; ++p)
    for (int r = 0; r < w.k; ++r)
      for (int j = 0; j < 16 && p * 16 + j < w.n; ++j)
        w.data[w.index(r, p * 16 + j)] *= ss.scale[p * 16 + j];
  if (self.bias.empty()) self.bias.assign(ss.scale.size(), 0.0f);
  for (size_t c = 0; c < ss.scale.size(); ++c)
    self.bias[c] = self.bias[c] * ss.scale[c] + ss.shift[c];
}

size_t RowFloats(const std::vector<int>& dims) {
  size_t n = 1;
  for (size_t i = 1; i < dims.size(); ++i) n *= static_cast<size_t>(dims[i]);
  return n;
}

size_t NumFloats(const std::vector<int>& dims) {
  size_t n = 1;
  for (int d : dims) n *= static_cast<size_t>(d);
  return n;
}

}  // namespace ops
}  // namespace kws
