// Loading and validating model.kws files; whole-clip inference.
#include "kws/model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "json_value.h"
#include "kws/error.h"
#include "model_impl.h"
#include "safetensors_file.h"

namespace kws {

namespace {

constexpr int kFormatVersion = 1;
constexpr int kMaxDim = 1 << 20;
constexpr size_t kMaxNameChars = 64;          // the model's name and version
constexpr size_t kMaxProvenanceChars = 1000;  // the provenance string
constexpr size_t kMaxBundledNameChars = 64;

// A bundled model's name: letters, digits, '_', '-' and '.', not starting with '.', so
// that it can never leave the models folder.
bool IsBundledName(const std::string& name) {
  if (name.empty() || name.size() > kMaxBundledNameChars || name[0] == '.') return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      return false;
  return true;
}

using json::Value;
using layers::Activation;
using layers::Op;
using layers::OpType;

// Loader state: the parsed file and the error prefix.
class Loader {
 public:
  Loader(const std::string& name, const SafetensorsFile& file) : name_(name), file_(file) {}

  [[noreturn]] void Fail(const std::string& msg) const {
    throw ModelError(name_ + ": " + msg);
  }

  void Load(Model::Impl& m) {
    auto it = file_.metadata.find("kws");
    if (it == file_.metadata.end())
      Fail("not a kws model: safetensors metadata has no 'kws' entry");
    Value meta;
    try {
      meta = json::Parse(it->second);
    } catch (const json::JsonError& e) {
      Fail(std::string("metadata 'kws': ") + e.what());
    }
    try {
      LoadMeta(meta, m);
    } catch (const json::JsonError& e) {
      Fail(std::string("metadata: ") + e.what());
    }
    for (const auto& kv : file_.tensors) {
      if (!used_.count(kv.first)) Fail("tensor '" + kv.first + "' is not used by any op");
      m.num_parameters += kv.second.num_elements();
    }
  }

 private:
  // An optional string member of the metadata, at most `max_chars` bytes.
  std::string OptionalString(const Value& meta, const std::string& key, size_t max_chars) const {
    const Value* v = meta.Find(key);
    if (v == nullptr) return std::string();
    const std::string& s = v->AsString(key);
    if (s.size() > max_chars)
      Fail("metadata '" + key + "' is " + std::to_string(s.size()) + " bytes long (at most " +
           std::to_string(max_chars) + ")");
    return s;
  }

  void LoadMeta(const Value& meta, Model::Impl& m) {
    if (!meta.is_object()) Fail("metadata 'kws' is not a JSON object");
    const Value& version = meta.Get("format_version", "metadata");
    if (!version.is_number() || version.AsNumber("format_version") != kFormatVersion)
      Fail("unsupported format_version " +
           (version.is_number() ? std::to_string(version.AsNumber("format_version"))
                                : std::string("(not a number)")) +
           " (this kws reads version " + std::to_string(kFormatVersion) + ")");
    m.architecture = meta.Get("architecture", "metadata").AsString("architecture");
    m.name = OptionalString(meta, "name", kMaxNameChars);
    m.version = OptionalString(meta, "version", kMaxNameChars);
    m.provenance = OptionalString(meta, "provenance", kMaxProvenanceChars);
    for (const auto& l : meta.Get("labels", "metadata").AsArray("labels"))
      m.labels.push_back(l.AsString("label"));
    if (m.labels.empty()) Fail("labels list is empty");
    std::set<std::string> unique(m.labels.begin(), m.labels.end());
    if (unique.size() != m.labels.size()) Fail("labels list a label twice");

    m.sample_rate = static_cast<int>(meta.Get("sample_rate", "metadata")
                                         .AsInt("sample_rate", 1, 1000000));
    m.clip_samples = static_cast<int>(meta.Get("clip_samples", "metadata")
                                          .AsInt("clip_samples", 1, 100000000));
    const Value& fe = meta.Get("frontend", "metadata");
    const std::string fe_type = fe.Get("type", "frontend").AsString("frontend type");
    if (fe_type != "mfcc")
      Fail("front end '" + fe_type + "' is not supported by the native runtime (mfcc only)");
    MfccOptions o;
    o.sample_rate = m.sample_rate;
    o.window_size_ms = fe.Get("window_size_ms", "frontend").AsNumber("window_size_ms");
    o.window_stride_ms = fe.Get("window_stride_ms", "frontend").AsNumber("window_stride_ms");
    o.filterbank_channel_count = static_cast<int>(
        fe.Get("filterbank_channel_count", "frontend").AsInt("filterbank_channel_count", 1, 4096));
    o.lower_frequency_limit =
        fe.Get("lower_frequency_limit", "frontend").AsNumber("lower_frequency_limit");
    o.upper_frequency_limit =
        fe.Get("upper_frequency_limit", "frontend").AsNumber("upper_frequency_limit");
    o.dct_coefficient_count = static_cast<int>(
        fe.Get("dct_coefficient_count", "frontend").AsInt("dct_coefficient_count", 1, 4096));
    try {
      o.Validate();
      m.frontend = std::make_shared<MfccFrontend>(o);
    } catch (const InvalidArgument& e) {
      Fail(std::string("invalid front-end options: ") + e.what());
    }
    m.frontend_options = o;
    m.frame_stride = o.window_stride_samples();
    m.num_frames = o.NumFrames(static_cast<size_t>(m.clip_samples));
    m.num_coefficients = o.dct_coefficient_count;
    if (m.num_frames <= 0)
      Fail("clip of " + std::to_string(m.clip_samples) + " samples is shorter than one window");

    const auto& in_shape = meta.Get("input_shape", "metadata").AsArray("input_shape");
    if (in_shape.size() != 2 || in_shape[0].AsInt("input_shape", 1, kMaxDim) != m.num_frames ||
        in_shape[1].AsInt("input_shape", 1, kMaxDim) != m.num_coefficients)
      Fail("input_shape does not match the front end: expected [" +
           std::to_string(m.num_frames) + ", " + std::to_string(m.num_coefficients) + "]");

    // Values: 0 is the feature window; file op i writes file value i + 1.
    std::vector<std::vector<int>> dims = {{m.num_frames, m.num_coefficients}};
    std::vector<int> file_to_internal = {0};
    const auto& ops = meta.Get("ops", "metadata").AsArray("ops");
    if (ops.empty()) Fail("ops list is empty");
    for (size_t i = 0; i < ops.size(); ++i) {
      const std::string where = "op " + std::to_string(i);
      const Value& spec = ops[i];
      spec.AsObject(where);
      std::vector<int> inputs;
      for (const auto& v : spec.Get("inputs", where).AsArray(where + " inputs")) {
        long long idx = v.AsInt(where + " input", 0, static_cast<long long>(i));
        inputs.push_back(file_to_internal[idx]);
      }
      BuildOp(spec, where, inputs, dims, m);
      file_to_internal.push_back(static_cast<int>(dims.size()) - 1);
      std::vector<int> declared;
      for (const auto& d : spec.Get("output_shape", where).AsArray(where + " output_shape"))
        declared.push_back(static_cast<int>(d.AsInt(where + " output_shape", 0, kMaxDim)));
      if (declared != dims.back())
        Fail(where + " ('" + m.ops.back().name + "'): declared output_shape " +
             DimsString(declared) + " but its input gives " + DimsString(dims.back()));
    }
    FuseOps(m.ops, dims);
    const auto& last = dims.back();
    if (last.size() != 1)
      Fail("the last op's output has shape " + DimsString(last) + ", not a vector of scores");
    if (last[0] != static_cast<int>(m.labels.size()))
      Fail(std::to_string(m.labels.size()) + " labels but the last layer has " +
           std::to_string(last[0]) + " outputs");

    size_t longest_row = 1;
    for (const auto& d : dims) {
      size_t n = 1;
      for (int x : d) n *= static_cast<size_t>(x);
      m.value_sizes.push_back(n);
      m.value_rows.push_back(d.size() >= 2 ? d[0] : 1);
      longest_row = std::max(longest_row, d.size() >= 2 ? n / d[0] : n);
    }
    for (const auto& op : m.ops) longest_row = std::max(longest_row, layers::ZeroFloats(op));
    m.zeros.assign(longest_row, 0.0f);
    for (const auto& op : m.ops) {
      m.max_pointers = std::max(m.max_pointers, layers::ScratchPointers(op));
      m.max_aux = std::max(m.max_aux, layers::AuxFloats(op));
      m.flops += op.flops;
    }
  }

  // Folds inference-time element-wise ops into the op that produces their input, as
  // TFLite does: a scale_shift (folded batch norm) after a linear convolution, depthwise
  // convolution or dense layer becomes its weights and bias; a relu after one of those
  // (or after an add or an SVDF time filter) becomes its activation; a dense layer on a
  // vector after a linear one is merged into it (MergeDense). Only when the producer's
  // output feeds nothing else. Saves a pass over memory per folded op; the model's FLOPs are still counted as
  // the file's layers define them.
  static void FuseOps(std::vector<Op>& ops, std::vector<std::vector<int>>& dims) {
    std::vector<int> uses(dims.size(), 0);
    for (const Op& op : ops)
      for (int v : op.inputs) ++uses[v];
    std::vector<Op> fused;
    std::vector<std::vector<int>> fused_dims = {dims[0]};
    std::vector<int> remap(dims.size(), 0);  // old value -> new value
    std::vector<int> origin = {0};           // new value -> the old value it holds now
    for (size_t i = 0; i < ops.size(); ++i) {
      Op op = std::move(ops[i]);
      for (int& v : op.inputs) v = remap[v];
      const int old_value = static_cast<int>(i) + 1;
      const int src = op.inputs.empty() ? 0 : op.inputs[0];
      Op* producer = src > 0 && op.inputs.size() == 1 ? &fused[src - 1] : nullptr;
      const bool sole_use = producer && uses[origin[src]] == 1;
      const bool weighted = producer && (producer->type == OpType::kConv2D ||
                                         producer->type == OpType::kDepthwiseConv2D ||
                                         producer->type == OpType::kDense);
      const bool linear = producer && producer->activation == Activation::kLinear;
      bool folded = false;
      if (op.type == OpType::kScaleShift && sole_use && weighted && linear) {
        FoldScaleShift(op, *producer);
        folded = true;
      } else if (op.type == OpType::kRelu && sole_use && linear &&
                 (weighted || producer->type == OpType::kAdd ||
                  producer->type == OpType::kSvdfTime)) {
        producer->activation = Activation::kRelu;
        folded = true;
      } else if (op.type == OpType::kDense && !op.row_structured && sole_use && linear &&
                 producer->type == OpType::kDense && !producer->row_structured) {
        MergeDense(op, *producer);
        fused_dims[src] = dims[old_value];
        folded = true;
      }
      if (folded) {
        producer->name += "+" + op.name;
        producer->flops += op.flops;
        remap[old_value] = src;
        origin[src] = old_value;
        continue;
      }
      fused.push_back(std::move(op));
      fused_dims.push_back(dims[old_value]);
      remap[old_value] = static_cast<int>(fused.size());
      origin.push_back(old_value);
    }
    ops = std::move(fused);
    dims = std::move(fused_dims);
  }

  // Two dense layers on a vector with no activation between them, as one:
  // W2 (W1 x + b1) + b2 = (W1 W2)' x + (W2 b1 + b2), products summed in double and
  // rounded once. The function is the same; the rounding differs from running both
  // (about 1e-7 relative), and every path (whole clip, Stream, batched evaluator) runs
  // the merged layer, so they still agree bit for bit.
  static void MergeDense(const Op& second, Op& first) {
    const layers::PackedMatrix& a = first.packed;   // K x N1
    const layers::PackedMatrix& b = second.packed;  // N1 x N2
    const int K = a.k, N1 = a.n, N2 = b.n;
    std::vector<float> w(static_cast<size_t>(K) * N2);
    std::vector<double> row(N2);
    for (int r = 0; r < K; ++r) {
      std::fill(row.begin(), row.end(), 0.0);
      for (int j = 0; j < N1; ++j) {
        const double x = a.at(r, j);
        if (x == 0.0) continue;
        for (int c = 0; c < N2; ++c) row[c] += x * static_cast<double>(b.at(j, c));
      }
      for (int c = 0; c < N2; ++c) w[static_cast<size_t>(r) * N2 + c] = static_cast<float>(row[c]);
    }
    std::vector<float> bias;
    if (!first.bias.empty() || !second.bias.empty()) {
      bias.assign(N2, 0.0f);
      for (int c = 0; c < N2; ++c) {
        double v = second.bias.empty() ? 0.0 : second.bias[c];
        if (!first.bias.empty())
          for (int j = 0; j < N1; ++j) v += static_cast<double>(first.bias[j]) * b.at(j, c);
        bias[c] = static_cast<float>(v);
      }
    }
    first.packed.Pack(w.data(), K, N2);
    first.bias = std::move(bias);
    first.activation = second.activation;
    first.out_dims = second.out_dims;
  }

  // y = (W x + b) * scale + shift as y = (W * scale) x + (b * scale + shift), per output
  // channel (the last axis).
  static void FoldScaleShift(const Op& ss, Op& producer) {
    const size_t channels = ss.scale.size();
    if (producer.type == OpType::kDepthwiseConv2D) {
      for (size_t i = 0; i < producer.weights.size(); ++i)
        producer.weights[i] *= ss.scale[i % channels];
    } else {
      layers::PackedMatrix& w = producer.packed;
      for (int p = 0; p < w.panels; ++p)
        for (int r = 0; r < w.k; ++r)
          for (int j = 0; j < 16 && p * 16 + j < w.n; ++j)
            w.data[(static_cast<size_t>(p) * w.k + r) * 16 + j] *= ss.scale[p * 16 + j];
    }
    if (producer.bias.empty()) producer.bias.assign(channels, 0.0f);
    for (size_t c = 0; c < channels; ++c)
      producer.bias[c] = producer.bias[c] * ss.scale[c] + ss.shift[c];
  }

  static std::string DimsString(const std::vector<int>& d) {
    std::string s = "[";
    for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + "]";
  }

  // Reads tensor `role` of an op: must exist, be F32 and have exactly `shape`.
  std::vector<float> Tensor(const Value& spec, const std::string& where, const std::string& role,
                            const std::vector<int64_t>& shape, bool required = true) {
    const Value* tensors = spec.Find("tensors");
    const Value* ref = tensors ? (tensors->AsObject(where + " tensors"), tensors->Find(role))
                               : nullptr;
    if (!ref) {
      if (required) Fail(where + " lacks its '" + role + "' tensor");
      return {};
    }
    const std::string& tname = ref->AsString(where + " tensor " + role);
    auto it = file_.tensors.find(tname);
    if (it == file_.tensors.end())
      Fail(where + " refers to tensor '" + tname + "' which is not in the file");
    const SafetensorsTensor& t = it->second;
    if (t.dtype != "F32")
      Fail("tensor '" + tname + "' (" + where + " " + role + ") has dtype " + t.dtype +
           ", expected F32");
    if (t.shape != shape) {
      std::vector<int> got(t.shape.begin(), t.shape.end()), want(shape.begin(), shape.end());
      Fail("tensor '" + tname + "' (" + where + " " + role + ") has shape " + DimsString(got) +
           ", expected " + DimsString(want));
    }
    if (used_.count(tname)) Fail("tensor '" + tname + "' is used by two ops");
    used_.insert(tname);
    std::vector<float> out(t.num_bytes / sizeof(float));
    if (!out.empty()) std::memcpy(out.data(), t.data, t.num_bytes);  // little-endian host
    for (float v : out)
      if (!std::isfinite(v)) Fail("tensor '" + tname + "' holds a NaN or infinity");
    return out;
  }

  static Activation ParseActivation(const Value& attrs, const std::string& where, Loader& self) {
    const Value* a = attrs.Find("activation");
    if (!a) return Activation::kLinear;
    const std::string& s = a->AsString(where + " activation");
    if (s == "linear") return Activation::kLinear;
    if (s == "relu") return Activation::kRelu;
    self.Fail(where + " has unsupported activation '" + s + "'");
  }

  std::pair<int, int> Pair(const Value& attrs, const std::string& key, const std::string& where) {
    const auto& a = attrs.Get(key, where).AsArray(where + " " + key);
    if (a.size() != 2) Fail(where + " " + key + " must have 2 entries");
    return {static_cast<int>(a[0].AsInt(where + " " + key, 1, kMaxDim)),
            static_cast<int>(a[1].AsInt(where + " " + key, 1, kMaxDim))};
  }

  bool Padding(const Value& attrs, const std::string& where) {
    const std::string& p = attrs.Get("padding", where).AsString(where + " padding");
    if (p == "same") return true;
    if (p == "valid") return false;
    Fail(where + " has unknown padding '" + p + "'");
  }

  void SpatialAttrs(Op& op, const Value& attrs, const std::string& where, const std::string& k) {
    std::tie(op.kh, op.kw) = Pair(attrs, k, where);
    std::tie(op.sh, op.sw) = Pair(attrs, "strides", where);
    const bool same = Padding(attrs, where);
    const int H = op.in_dims[0], W = op.in_dims[1];
    const int Ho = layers::WindowOutputSize(H, op.kh, op.sh, same);
    const int Wo = layers::WindowOutputSize(W, op.kw, op.sw, same);
    if (Ho <= 0 || Wo <= 0)
      Fail(where + ": window " + std::to_string(op.kh) + "x" + std::to_string(op.kw) +
           " is larger than its input " + DimsString(op.in_dims));
    op.pad_top = layers::WindowPadBefore(H, op.kh, op.sh, same);
    op.pad_left = layers::WindowPadBefore(W, op.kw, op.sw, same);
    op.out_dims = {Ho, Wo, op.in_dims[2]};
    op.row_structured = true;
    op.time_kernel = op.kh;
    op.time_stride = op.sh;
    op.time_pad = op.pad_top;
  }

  void RequireRank(const Op& op, size_t rank, const std::string& where) {
    if (op.in_dims.size() != rank)
      Fail(where + " ('" + op.type_name + "') needs a rank-" + std::to_string(rank) +
           " input, got " + DimsString(op.in_dims));
  }

  void BuildOp(const Value& spec, const std::string& where_base, const std::vector<int>& inputs,
               std::vector<std::vector<int>>& dims, Model::Impl& m) {
    Op op;
    op.name = spec.Get("name", where_base).AsString(where_base + " name");
    const std::string where = where_base + " ('" + op.name + "')";
    const std::string type = spec.Get("type", where).AsString(where + " type");
    op.type_name = type;
    const Value* attrs_ptr = spec.Find("attrs");
    static const Value kEmpty = Value::MakeObject({});
    const Value& attrs = attrs_ptr ? *attrs_ptr : kEmpty;
    attrs.AsObject(where + " attrs");
    const size_t want_inputs = type == "add" ? 2 : 1;
    if (inputs.size() != want_inputs)
      Fail(where + " has " + std::to_string(inputs.size()) + " inputs, expected " +
           std::to_string(want_inputs));
    op.inputs = inputs;
    op.in_dims = dims[inputs[0]];
    const std::vector<int>& in = op.in_dims;
    const bool rows_in = in.size() >= 2;
    size_t in_size = 1;
    for (int d : in) in_size *= d;

    if (type == "conv2d") {
      op.type = OpType::kConv2D;
      RequireRank(op, 3, where);
      SpatialAttrs(op, attrs, where, "kernel_size");
      const int filters = static_cast<int>(attrs.Get("filters", where).AsInt(where + " filters", 1, kMaxDim));
      op.activation = ParseActivation(attrs, where, *this);
      const int cin = in[2];
      auto kernel = Tensor(spec, where, "kernel", {op.kh, op.kw, cin, filters});
      op.packed.Pack(kernel.data(), op.kh * op.kw * cin, filters);
      op.row_partials = op.kh > 1 && op.kw * cin >= layers::kRowPartialsMinSegment;
      op.bias = Tensor(spec, where, "bias", {filters}, false);
      op.out_dims[2] = filters;
      op.flops = 2LL * op.out_dims[0] * op.out_dims[1] * filters * op.kh * op.kw * cin;
    } else if (type == "depthwise_conv2d") {
      op.type = OpType::kDepthwiseConv2D;
      RequireRank(op, 3, where);
      SpatialAttrs(op, attrs, where, "kernel_size");
      op.depth_multiplier = static_cast<int>(
          attrs.Get("depth_multiplier", where).AsInt(where + " depth_multiplier", 1, 4096));
      op.activation = ParseActivation(attrs, where, *this);
      const int co = in[2] * op.depth_multiplier;
      op.weights = Tensor(spec, where, "kernel", {op.kh, op.kw, in[2], op.depth_multiplier});
      op.bias = Tensor(spec, where, "bias", {co}, false);
      op.out_dims[2] = co;
      op.flops = 2LL * op.out_dims[0] * op.out_dims[1] * co * op.kh * op.kw;
    } else if (type == "max_pool2d" || type == "avg_pool2d") {
      op.type = type == "max_pool2d" ? OpType::kMaxPool2D : OpType::kAvgPool2D;
      RequireRank(op, 3, where);
      SpatialAttrs(op, attrs, where, "pool_size");
      op.flops = static_cast<int64_t>(op.out_dims[0]) * op.out_dims[1] * in[2] * op.kh * op.kw;
    } else if (type == "dense") {
      op.type = OpType::kDense;
      const int units = static_cast<int>(attrs.Get("units", where).AsInt(where + " units", 1, kMaxDim));
      op.activation = ParseActivation(attrs, where, *this);
      const int k = in.back();
      auto kernel = Tensor(spec, where, "kernel", {k, units});
      op.packed.Pack(kernel.data(), k, units);
      op.bias = Tensor(spec, where, "bias", {units}, false);
      op.out_dims = in;
      op.out_dims.back() = units;
      op.row_structured = rows_in;
      op.flops = 2LL * static_cast<int64_t>(in_size / k) * k * units;
    } else if (type == "scale_shift") {
      op.type = OpType::kScaleShift;
      const int c = in.back();
      op.scale = Tensor(spec, where, "scale", {c});
      op.shift = Tensor(spec, where, "shift", {c});
      op.out_dims = in;
      op.row_structured = rows_in;
      op.flops = 2LL * static_cast<int64_t>(in_size);
    } else if (type == "relu") {
      op.type = OpType::kRelu;
      op.out_dims = in;
      op.row_structured = rows_in;
    } else if (type == "add") {
      op.type = OpType::kAdd;
      if (dims[inputs[1]] != in)
        Fail(where + " adds shapes " + DimsString(in) + " and " + DimsString(dims[inputs[1]]));
      op.out_dims = in;
      op.row_structured = rows_in;
      op.flops = static_cast<int64_t>(in_size);
    } else if (type == "global_avg_pool2d") {
      op.type = OpType::kGlobalAvgPool2D;
      RequireRank(op, 3, where);
      op.out_dims = {in[2]};
      op.flops = static_cast<int64_t>(in_size);
    } else if (type == "flatten") {
      op.type = OpType::kFlatten;
      op.out_dims = {static_cast<int>(in_size)};
    } else if (type == "reshape") {
      op.type = OpType::kReshape;
      size_t n = 1;
      for (const auto& d : attrs.Get("target_shape", where).AsArray(where + " target_shape")) {
        op.out_dims.push_back(static_cast<int>(d.AsInt(where + " target_shape", 1, kMaxDim)));
        n *= op.out_dims.back();
      }
      if (op.out_dims.empty() || op.out_dims.size() > 3 || n != in_size)
        Fail(where + " cannot reshape " + DimsString(in) + " to " + DimsString(op.out_dims));
      // Keeping the time axis keeps rows intact (row-major): a row-structured copy.
      op.row_structured = rows_in && op.out_dims.size() >= 2 && op.out_dims[0] == in[0];
    } else if (type == "svdf") {
      RequireRank(op, 2, where);
      const int units = static_cast<int>(attrs.Get("units", where).AsInt(where + " units", 1, kMaxDim));
      const int rank = static_cast<int>(attrs.Get("rank", where).AsInt(where + " rank", 1, 1024));
      const int memory = static_cast<int>(
          attrs.Get("memory_size", where).AsInt(where + " memory_size", 1, kMaxDim));
      if (memory > in[0])
        Fail(where + " memory_size " + std::to_string(memory) + " exceeds the " +
             std::to_string(in[0]) + " input frames");
      const int filters = units * rank;
      // Split into the per-frame feature filter (a row-structured dense without bias)
      // and the time filter over the last `memory` rows (collapsing).
      Op feature;
      feature.type = OpType::kDense;
      feature.type_name = "svdf_feature_filter";
      feature.name = op.name + "/feature_filter";
      feature.inputs = inputs;
      feature.in_dims = in;
      auto ff = Tensor(spec, where, "feature_filter", {in[1], filters});
      feature.packed.Pack(ff.data(), in[1], filters);
      feature.out_dims = {in[0], filters};
      feature.row_structured = true;
      feature.flops = 2LL * in[0] * in[1] * filters;
      m.ops.push_back(std::move(feature));
      dims.push_back({in[0], filters});
      op.type = OpType::kSvdfTime;
      op.type_name = "svdf_time_filter";
      op.inputs = {static_cast<int>(dims.size()) - 1};
      op.in_dims = {in[0], filters};
      op.units = units;
      op.rank = rank;
      op.memory_size = memory;
      op.activation = ParseActivation(attrs, where, *this);
      op.weights = Tensor(spec, where, "time_filter", {memory, filters});
      op.bias = Tensor(spec, where, "bias", {units}, false);
      op.out_dims = {units};
      op.flops = 2LL * memory * filters;
    } else {
      Fail(where + " has unknown op type '" + type + "'");
    }
    for (int d : op.out_dims)
      if (d <= 0) Fail(where + " produces an empty tensor " + DimsString(op.out_dims));
    dims.push_back(op.out_dims);
    m.ops.push_back(std::move(op));
  }

  std::string name_;
  const SafetensorsFile& file_;
  std::set<std::string> used_;
};

}  // namespace

std::unique_ptr<Workspace> Model::Impl::NewWorkspace() const {
  auto ws = std::make_unique<Workspace>();
  ws->values.resize(value_sizes.size());
  for (size_t i = 0; i < value_sizes.size(); ++i) ws->values[i].assign(value_sizes[i], 0.0f);
  ws->pointers.assign(std::max<size_t>(max_pointers, 1), nullptr);
  ws->aux.assign(std::max<size_t>(max_aux, 1), 0.0f);
  ws->scores.assign(labels.size(), 0.0f);
  ws->inputs.reserve(4);
  return ws;
}

void Model::Impl::RunWholeWindow(Workspace& ws) const {
  for (size_t i = 0; i < ops.size(); ++i) {
    const layers::Op& op = ops[i];
    ws.inputs.clear();
    for (int v : op.inputs) ws.inputs.push_back(ws.values[v].data());
    layers::ComputeAll(op, ws.inputs, ws.values[i + 1].data(), zeros.data(), ws.pointers.data(),
                       ws.aux.data());
  }
  Finish(ws);
}

void Model::Impl::Finish(Workspace& ws) const {
  const std::vector<float>& logits = ws.values.back();
  std::copy(logits.begin(), logits.end(), ws.scores.begin());
  layers::Softmax(ws.scores.data(), static_cast<int>(ws.scores.size()));
}

std::unique_ptr<Workspace> Model::Impl::Acquire() const {
  {
    std::lock_guard<std::mutex> lock(pool_mutex);
    if (!pool.empty()) {
      auto ws = std::move(pool.back());
      pool.pop_back();
      return ws;
    }
  }
  return NewWorkspace();
}

void Model::Impl::Release(std::unique_ptr<Workspace> ws) const {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (pool.size() < 8) pool.push_back(std::move(ws));
}

Model::Model() : impl_(std::make_unique<Impl>()) {}
Model::~Model() = default;

std::shared_ptr<const Model> Model::LoadFromMemory(const uint8_t* data, size_t size,
                                                   const std::string& name) {
  SafetensorsFile file;
  try {
    file = ParseSafetensors(data, size);
  } catch (const SafetensorsError& e) {
    throw ModelError(name + ": " + e.what());
  }
  std::shared_ptr<Model> model(new Model());
  model->impl_->path = name;
  Loader(name, file).Load(*model->impl_);
  return model;
}

std::shared_ptr<const Model> Model::Load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(path + ": cannot open model file");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw IoError(path + ": read error");
  return LoadFromMemory(bytes.data(), bytes.size(), path);
}

std::string Model::BundledModelsDir(const std::string& models_dir) {
  const char* env = std::getenv("KWS_MODELS_DIR");
  if (env != nullptr && *env != '\0') return env;
  if (!models_dir.empty()) return models_dir;
#ifdef KWS_INSTALLED_MODELS_DIR
  return KWS_INSTALLED_MODELS_DIR;
#else
  return std::string();
#endif
}

std::vector<std::string> Model::BundledModelNames(const std::string& models_dir) {
  const std::string dir = BundledModelsDir(models_dir);
  std::vector<std::string> names;
  std::error_code ec;
  if (dir.empty() || !std::filesystem::is_directory(dir, ec)) return names;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::filesystem::path& p = it->path();
    if (p.extension() == ".kws" && IsBundledName(p.stem().string()) &&
        std::filesystem::is_regular_file(p, ec))
      names.push_back(p.stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::shared_ptr<const Model> Model::LoadBundled(const std::string& name,
                                                const std::string& models_dir) {
  const std::string dir = BundledModelsDir(models_dir);
  if (!IsBundledName(name))
    throw InvalidArgument("'" + name + "' is not a bundled model name (letters, digits, '_', "
                          "'-', '.'; at most " + std::to_string(kMaxBundledNameChars) +
                          " characters)");
  if (dir.empty())
    throw IoError("no bundled model '" + name + "': this kws has no models folder (set "
                  "KWS_MODELS_DIR)");
  const std::string path = (std::filesystem::path(dir) / (name + ".kws")).string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    std::string known;
    for (const auto& n : BundledModelNames(dir)) known += (known.empty() ? "" : ", ") + n;
    throw IoError("no bundled model '" + name + "' in " + dir + " (bundled: " +
                  (known.empty() ? std::string("none") : known) + ")");
  }
  return Load(path);
}

const std::string& Model::architecture() const { return impl_->architecture; }
const std::string& Model::name() const { return impl_->name; }
const std::string& Model::version() const { return impl_->version; }
const std::string& Model::provenance() const { return impl_->provenance; }
int64_t Model::num_parameters() const { return impl_->num_parameters; }
const std::vector<std::string>& Model::labels() const { return impl_->labels; }
int Model::num_labels() const { return static_cast<int>(impl_->labels.size()); }
const MfccOptions& Model::frontend_options() const { return impl_->frontend_options; }
int Model::sample_rate() const { return impl_->sample_rate; }
int Model::clip_samples() const { return impl_->clip_samples; }
int Model::num_frames() const { return impl_->num_frames; }
int Model::num_coefficients() const { return impl_->num_coefficients; }
int Model::frame_stride_samples() const { return impl_->frame_stride; }
int64_t Model::flops_per_window() const { return impl_->flops; }

std::string Model::Summary() const {
  std::ostringstream s;
  if (!impl_->name.empty())
    s << impl_->name << (impl_->version.empty() ? "" : " version " + impl_->version) << ": ";
  s << "kws model '" << impl_->architecture << "' (" << impl_->labels.size() << " labels, "
    << impl_->clip_samples << " samples at " << impl_->sample_rate << " Hz -> "
    << impl_->num_frames << " x " << impl_->num_coefficients << " features)\n";
  size_t params = 0;
  for (const auto& op : impl_->ops) {
    size_t p = static_cast<size_t>(op.packed.k) * op.packed.n + op.weights.size() +
               op.bias.size() + op.scale.size() + op.shift.size();
    params += p;
    s << "  " << op.name << " [" << op.type_name << "] -> (";
    for (size_t i = 0; i < op.out_dims.size(); ++i) s << (i ? ", " : "") << op.out_dims[i];
    s << ")  params " << p << (op.row_structured ? "  (row-cached)" : "") << "\n";
  }
  s << "  parameters " << params << " after folding (" << impl_->num_parameters
    << " in the file), model FLOPs per window " << impl_->flops;
  if (!impl_->provenance.empty()) s << "\n  provenance: " << impl_->provenance;
  return s.str();
}

void Model::PredictFeatures(const float* features, float* scores) const {
  auto ws = impl_->Acquire();
  std::copy(features, features + impl_->value_sizes[0], ws->values[0].begin());
  impl_->RunWholeWindow(*ws);
  std::copy(ws->scores.begin(), ws->scores.end(), scores);
  impl_->Release(std::move(ws));
}

void Model::Predict(const float* samples, size_t n, float* scores) const {
  if (n != static_cast<size_t>(impl_->clip_samples))
    throw InvalidArgument("Model::Predict: got " + std::to_string(n) + " samples, the model '" +
                          impl_->path + "' takes clips of exactly " +
                          std::to_string(impl_->clip_samples));
  auto ws = impl_->Acquire();
  impl_->frontend->Compute(samples, n, ws->values[0].data());
  impl_->RunWholeWindow(*ws);
  std::copy(ws->scores.begin(), ws->scores.end(), scores);
  impl_->Release(std::move(ws));
}

std::vector<float> Model::Predict(const std::vector<float>& samples) const {
  std::vector<float> scores(impl_->labels.size());
  Predict(samples.data(), samples.size(), scores.data());
  return scores;
}

std::unique_ptr<Stream> Model::CreateStream(int hop_samples) const {
  return NewCachedStream(shared_from_this(), hop_samples);
}

}  // namespace kws
