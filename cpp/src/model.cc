// Loading and validating model.kws files; whole-clip inference.
#include "kws/model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <set>
#include <sstream>

#include "json_value.h"
#include "kws/error.h"
#include "kws/recognize_commands.h"
#include "model_impl.h"
#include "regular_file.h"
#include "safetensors_file.h"

namespace kws {

namespace {

constexpr int kFormatVersion = 1;
using ops::kMaxDim;
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

  [[noreturn]] void Fail(const std::string& msg) const { throw ModelError(name_ + ": " + msg); }

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

    m.sample_rate =
        static_cast<int>(meta.Get("sample_rate", "metadata").AsInt("sample_rate", 1, 1000000));
    m.clip_samples =
        static_cast<int>(meta.Get("clip_samples", "metadata").AsInt("clip_samples", 1, 100000000));
    const Value& fe = meta.Get("frontend", "metadata");
    const std::string fe_type = fe.Get("type", "frontend").AsString("frontend type");
    if (fe_type != "mfcc" && fe_type != "average")
      Fail("front end '" + fe_type +
           "' is not supported by the native runtime (mfcc or average only)");
    MfccOptions o;
    o.sample_rate = m.sample_rate;
    o.window_size_ms = fe.Get("window_size_ms", "frontend").AsNumber("window_size_ms");
    o.window_stride_ms = fe.Get("window_stride_ms", "frontend").AsNumber("window_stride_ms");
    if (fe_type == "average") {
      // The power spectrogram averaged over groups of bins: no filterbank, limits or DCT.
      o.average_window_width = static_cast<int>(
          fe.Get("average_window_width", "frontend").AsInt("average_window_width", 1, kMaxDim));
    } else {
      o.filterbank_channel_count =
          static_cast<int>(fe.Get("filterbank_channel_count", "frontend")
                               .AsInt("filterbank_channel_count", 1, 4096));
      o.lower_frequency_limit =
          fe.Get("lower_frequency_limit", "frontend").AsNumber("lower_frequency_limit");
      o.upper_frequency_limit =
          fe.Get("upper_frequency_limit", "frontend").AsNumber("upper_frequency_limit");
      o.dct_coefficient_count = static_cast<int>(
          fe.Get("dct_coefficient_count", "frontend").AsInt("dct_coefficient_count", 1, 4096));
    }
    try {
      o.Validate();
      m.frontend = std::make_shared<MfccFrontend>(o);
    } catch (const InvalidArgument& e) {
      Fail(std::string("invalid front-end options: ") + e.what());
    }
    m.frontend_options = o;
    m.frame_stride = o.window_stride_samples();
    m.num_frames = o.NumFrames(static_cast<size_t>(m.clip_samples));
    m.num_coefficients = m.frontend->num_coefficients();
    if (m.num_frames <= 0)
      Fail("clip of " + std::to_string(m.clip_samples) + " samples is shorter than one window");

    const auto& in_shape = meta.Get("input_shape", "metadata").AsArray("input_shape");
    if (in_shape.size() != 2 || in_shape[0].AsInt("input_shape", 1, kMaxDim) != m.num_frames ||
        in_shape[1].AsInt("input_shape", 1, kMaxDim) != m.num_coefficients)
      Fail("input_shape does not match the front end: expected [" + std::to_string(m.num_frames) +
           ", " + std::to_string(m.num_coefficients) + "]");

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
    SplitFlattenedDense(m.ops);
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
    for (const auto& op : m.ops) longest_row = std::max(longest_row, op.kernel->ZeroFloats(op));
    m.zeros.assign(longest_row, 0.0f);
    for (const auto& op : m.ops) {
      m.max_pointers = std::max(m.max_pointers, op.kernel->ScratchPointers(op));
      m.max_aux = std::max(m.max_aux, op.kernel->AuxFloats(op));
      m.flops += op.flops;
    }
    AnalyseRows(m);
    PlanWindowMemory(m);
  }

  // Places every value of a whole-window run in one arena: largest first, each at the
  // lowest offset that no value live at the same time occupies. Value 0 (the features) is
  // live from before the first op; value i + 1 from op i, which writes it; each until the
  // last op that reads it, the last value until the end. An op's inputs and output are
  // therefore never in the same memory.
  static void PlanWindowMemory(Model::Impl& m) {
    const size_t n = m.value_sizes.size();
    const int end = static_cast<int>(m.ops.size());
    std::vector<int> first(n), last(n);
    for (size_t v = 0; v < n; ++v) first[v] = last[v] = static_cast<int>(v) - 1;
    last[n - 1] = end;
    for (int i = 0; i < end; ++i)
      for (int v : m.ops[i].inputs) last[v] = std::max(last[v], i);
    auto rounded = [](size_t floats) { return (floats + 15) / 16 * 16; };
    std::vector<size_t> order(n);
    for (size_t v = 0; v < n; ++v) order[v] = v;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return m.value_sizes[a] > m.value_sizes[b]; });
    m.window_offsets.assign(n, 0);
    m.window_floats = 0;
    std::vector<size_t> placed;
    for (size_t v : order) {
      // Ranges of memory taken by placed values live at the same time, by offset.
      std::vector<std::pair<size_t, size_t>> taken;
      for (size_t u : placed)
        if (first[u] <= last[v] && first[v] <= last[u])
          taken.emplace_back(m.window_offsets[u], m.window_offsets[u] + rounded(m.value_sizes[u]));
      std::sort(taken.begin(), taken.end());
      size_t offset = 0;
      const size_t size = rounded(m.value_sizes[v]);
      for (const auto& r : taken) {
        if (offset + size <= r.first) break;
        offset = std::max(offset, r.second);
      }
      m.window_offsets[v] = offset;
      m.window_floats = std::max(m.window_floats, offset + size);
      placed.push_back(v);
    }
  }

  // The row analysis (see ValueRows): which values follow the feature frames row by
  // row, their step, and their clean rows. Output row t of a row-structured op reads
  // input rows [t * stride - pad, t * stride - pad + kernel): it is clean when all of
  // those exist and are clean in every input.
  static void AnalyseRows(Model::Impl& m) {
    m.rows.assign(m.value_sizes.size(), ValueRows());
    ValueRows& v0 = m.rows[0];
    v0.rows = true;
    v0.window_rows = m.num_frames;
    v0.row_floats = static_cast<size_t>(m.num_coefficients);
    v0.clean_end = m.num_frames;
    for (size_t i = 0; i < m.ops.size(); ++i) {
      const Op& op = m.ops[i];
      ValueRows& o = m.rows[i + 1];
      o.window_rows = m.value_rows[i + 1];
      o.row_floats = m.value_sizes[i + 1] / static_cast<size_t>(o.window_rows);
      if (!op.row_structured) continue;
      const ValueRows& first = m.rows[op.inputs[0]];
      bool aligned = true;
      int lo = first.clean_begin, hi = first.clean_end;
      for (int u : op.inputs) {
        const ValueRows& in = m.rows[u];
        aligned = aligned && in.rows && in.step == first.step;
        lo = std::max(lo, in.clean_begin);
        hi = std::min(hi, in.clean_end);
      }
      if (!aligned) continue;
      o.rows = true;
      o.step = first.step * op.time_stride;
      if (hi > lo) {
        o.clean_begin = std::max(0, CeilDiv(lo + op.time_pad, op.time_stride));
        o.clean_end = std::min(o.window_rows,
                               FloorDiv(hi + op.time_pad - op.time_kernel, op.time_stride) + 1);
      }
      if (o.clean_end <= o.clean_begin) o.clean_begin = o.clean_end = 0;
    }
  }
  static int FloorDiv(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
  static int CeilDiv(int a, int b) { return -FloorDiv(-a, b); }

  // Folds inference-time element-wise ops into the op that produces their input, as
  // TFLite does: a scale_shift (folded batch norm) after a linear op that can absorb it
  // (convolution, depthwise convolution, dense) becomes its weights and bias; a relu
  // after an op that takes an activation becomes it; a dense layer on a vector after a
  // linear one is merged into it. Only when the producer's output feeds nothing else.
  // Saves a pass over memory per folded op; the model's FLOPs are still counted as the
  // file's layers define them.
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
      bool folded = false;
      if (producer && uses[origin[src]] == 1) {
        const ops::OpKernel& k = *producer->kernel;
        const bool linear = producer->activation == Activation::kLinear;
        if (op.type == OpType::kScaleShift) {
          // Only a per-channel scale folds into weights (not a per-(column, channel) one).
          folded = linear && op.scale.size() == static_cast<size_t>(op.out_dims.back()) &&
                   k.FoldScaleShift(*producer, op);
        } else if (op.type == OpType::kRelu) {
          folded = linear && k.TakesActivation();
          if (folded) producer->activation = Activation::kRelu;
        } else if (op.kernel == producer->kernel) {
          folded = k.MergeNext(*producer, op);
          if (folded) fused_dims[src] = dims[old_value];
        }
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

  // A dense layer on the flatten (or collapsing reshape) of R > 1 time rows sums its
  // product per row (Op::sum_pieces).
  static void SplitFlattenedDense(std::vector<Op>& ops) {
    for (Op& op : ops) {
      if (op.type != OpType::kDense || op.row_structured || op.inputs.size() != 1 ||
          op.inputs[0] == 0)
        continue;
      const Op& src = ops[op.inputs[0] - 1];
      if ((src.type != OpType::kFlatten && src.type != OpType::kReshape) ||
          !src.kernel->CollapsesRows(src))
        continue;
      const int rows = src.in_dims[0];
      if (rows > 1 && op.packed.k % rows == 0) op.sum_pieces = rows;
    }
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
    const Value* ref =
        tensors ? (tensors->AsObject(where + " tensors"), tensors->Find(role)) : nullptr;
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

  // One op of the file through its kernel (ops/<type>.cc): the kernel parses its
  // attributes and tensors; this checks the inputs and records the output.
  void BuildOp(const Value& spec, const std::string& where_base, const std::vector<int>& inputs,
               std::vector<std::vector<int>>& dims, Model::Impl& m) {
    Op op;
    op.name = spec.Get("name", where_base).AsString(where_base + " name");
    const std::string where = where_base + " ('" + op.name + "')";
    const std::string type = spec.Get("type", where).AsString(where + " type");
    op.type_name = type;
    op.kernel = ops::Find(type);
    if (!op.kernel) Fail(where + " has unknown op type '" + type + "'");
    const Value* attrs_ptr = spec.Find("attrs");
    static const Value kEmpty = Value::MakeObject({});
    const Value& attrs = attrs_ptr ? *attrs_ptr : kEmpty;
    attrs.AsObject(where + " attrs");
    const size_t want_inputs = static_cast<size_t>(op.kernel->num_inputs());
    if (inputs.size() != want_inputs)
      Fail(where + " has " + std::to_string(inputs.size()) + " inputs, expected " +
           std::to_string(want_inputs));
    op.inputs = inputs;
    op.in_dims = dims[inputs[0]];
    std::vector<std::vector<int>> input_dims;
    for (int v : inputs) input_dims.push_back(dims[v]);
    ops::ParseContext ctx(
        attrs, where, std::move(input_dims),
        [&](const std::string& role, const std::vector<int64_t>& shape, bool required) {
          return Tensor(spec, where, role, shape, required);
        },
        [&](Op added) {
          for (int d : added.out_dims)
            if (d <= 0) Fail(where + " produces an empty tensor " + DimsString(added.out_dims));
          dims.push_back(added.out_dims);
          m.ops.push_back(std::move(added));
          return static_cast<int>(dims.size()) - 1;
        },
        [&](const std::string& msg) { Fail(msg); });
    op.kernel->Parse(ctx, op);
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

int ValueRows::period(int hop) const { return step / std::gcd(hop, step); }

std::unique_ptr<Workspace> Model::Impl::NewWorkspace() const {
  auto ws = std::make_unique<Workspace>();
  ws->arena.assign(window_floats, 0.0f);
  ws->window.resize(value_sizes.size());
  for (size_t v = 0; v < value_sizes.size(); ++v)
    ws->window[v] = ws->arena.data() + window_offsets[v];
  AddScratch(*ws);
  return ws;
}

std::unique_ptr<Workspace> Model::Impl::NewStreamWorkspace() const {
  auto ws = std::make_unique<Workspace>();
  ws->values.resize(value_sizes.size());
  for (size_t i = 0; i < value_sizes.size(); ++i) ws->values[i].assign(value_sizes[i], 0.0f);
  AddScratch(*ws);
  return ws;
}

void Model::Impl::AddScratch(Workspace& ws) const {
  ws.pointers.assign(std::max<size_t>(max_pointers, 1), nullptr);
  ws.aux.assign(std::max<size_t>(max_aux, 1), 0.0f);
  ws.scores.assign(labels.size(), 0.0f);
  ws.inputs.reserve(4);
}

void Model::Impl::RunWholeWindow(Workspace& ws) const {
  for (size_t i = 0; i < ops.size(); ++i) {
    const layers::Op& op = ops[i];
    ws.inputs.clear();
    for (int v : op.inputs) ws.inputs.push_back(ws.window[v]);
    op.kernel->ComputeAll(op, ws.inputs.data(), ws.window[i + 1], ScratchOf(ws));
  }
  Finish(ws.window.back(), ws);
}

void Model::Impl::Finish(const float* logits, Workspace& ws) const {
  std::copy(logits, logits + ws.scores.size(), ws.scores.begin());
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

namespace {

// Compares the kws_crc32c metadata entry (8 hex digits), when present, with the content.
void VerifyChecksum(const SafetensorsFile& file, const std::string& name) {
  auto it = file.metadata.find("kws_crc32c");
  if (it == file.metadata.end()) return;  // written before checksums: nothing to compare
  const std::string& text = it->second;
  uint32_t expected = 0;
  bool ok = text.size() == 8;
  for (char c : text) {
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    ok = ok && digit >= 0;
    expected = (expected << 4) | static_cast<uint32_t>(digit & 15);
  }
  if (!ok)
    throw ModelError(name +
                     ": metadata 'kws_crc32c' is not 8 lower-case hex digits: the "
                     "file is corrupt");
  auto meta = file.metadata.find("kws");
  uint32_t crc = 0;
  if (meta != file.metadata.end())
    crc = Crc32c(reinterpret_cast<const uint8_t*>(meta->second.data()), meta->second.size());
  crc = Crc32c(file.buffer, file.buffer_size, crc);
  if (crc != expected) {
    char buffer[120];
    std::snprintf(buffer, sizeof(buffer),
                  ": checksum mismatch (kws_crc32c says %08x, the content gives %08x): the "
                  "file is corrupt",
                  expected, crc);
    throw ModelError(name + buffer);
  }
}

}  // namespace

std::shared_ptr<const Model> Model::LoadFromMemory(const uint8_t* data, size_t size,
                                                   const std::string& name, bool verify_checksum) {
  SafetensorsFile file;
  try {
    file = ParseSafetensors(data, size);
  } catch (const SafetensorsError& e) {
    throw ModelError(name + ": " + e.what());
  }
  if (verify_checksum) VerifyChecksum(file, name);
  std::shared_ptr<Model> model(new Model());
  model->impl_->path = name;
  Loader(name, file).Load(*model->impl_);
  return model;
}

std::shared_ptr<const Model> Model::Load(const std::string& path) {
  const std::vector<uint8_t> bytes = ReadRegularFile(path, "model file", kMaxModelFileBytes);
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

// <dir>/<name><extension>: a bundled model's file (an empty string when there is no models
// folder); InvalidArgument for a name that is not a bundled model's.
static std::string BundledFile(const std::string& dir, const std::string& name,
                               const char* extension) {
  if (!IsBundledName(name))
    throw InvalidArgument("'" + name +
                          "' is not a bundled model name (letters, digits, '_', "
                          "'-', '.'; at most " +
                          std::to_string(kMaxBundledNameChars) + " characters)");
  return dir.empty() ? std::string() : (std::filesystem::path(dir) / (name + extension)).string();
}

std::shared_ptr<const Model> Model::LoadBundled(const std::string& name,
                                                const std::string& models_dir) {
  const std::string dir = BundledModelsDir(models_dir);
  const std::string path = BundledFile(dir, name, ".kws");
  if (path.empty())
    throw IoError("no bundled model '" + name +
                  "': this kws has no models folder (set "
                  "KWS_MODELS_DIR)");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    std::string known;
    for (const auto& n : BundledModelNames(dir)) known += (known.empty() ? "" : ", ") + n;
    throw IoError("no bundled model '" + name + "' in " + dir +
                  " (bundled: " + (known.empty() ? std::string("none") : known) + ")");
  }
  return Load(path);
}

CardDecoderOptions Model::BundledCardDecoder(const std::string& name,
                                             const std::string& models_dir) {
  CardDecoderOptions options;
  const std::string path = BundledFile(BundledModelsDir(models_dir), name, ".json");
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(path, ec)) return options;
  const std::vector<uint8_t> bytes = ReadRegularFile(path, "model card", kMaxModelCardBytes);
  try {
    const json::Value card = json::Parse(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    const json::Value* stream = card.is_object() ? card.Find("stream") : nullptr;
    if (stream == nullptr || !stream->is_object()) return options;
    if (const json::Value* v = stream->Find("recommended_threshold")) {
      const double threshold = v->AsNumber("stream.recommended_threshold");
      if (!(threshold >= 0.0 && threshold <= 1.0)) {
        std::ostringstream got;
        got << threshold;
        throw json::JsonError("stream.recommended_threshold must be in [0, 1], got " + got.str());
      }
      options.detection_threshold = static_cast<float>(threshold);
    }
    if (const json::Value* v = stream->Find("recommended_decision_delay_ms"))
      options.decision_delay_ms =
          v->AsInt("stream.recommended_decision_delay_ms", 0, kMaxDecisionDelayMs);
    if (const json::Value* v = stream->Find("recommended_average_window_ms"))
      options.average_window_duration_ms =
          v->AsInt("stream.recommended_average_window_ms", 1, kMaxAverageWindowMs);
    if (const json::Value* v = stream->Find("recommended_allow_repeats"))
      options.allow_repeats = v->AsBool("stream.recommended_allow_repeats");
  } catch (const json::JsonError& e) {
    throw ModelError(path + ": " + e.what());
  }
  return options;
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

int64_t Model::whole_clip_memory_bytes() const {
  return static_cast<int64_t>(impl_->window_floats * sizeof(float));
}

std::string Model::Summary() const {
  std::ostringstream s;
  if (!impl_->name.empty())
    s << impl_->name << (impl_->version.empty() ? "" : " version " + impl_->version) << ": ";
  s << "kws model '" << impl_->architecture << "' (" << impl_->labels.size() << " labels, "
    << impl_->clip_samples << " samples at " << impl_->sample_rate << " Hz -> " << impl_->num_frames
    << " x " << impl_->num_coefficients << " features)\n";
  size_t params = 0;
  for (const auto& op : impl_->ops) {
    const size_t p = op.kernel->Parameters(op);
    params += p;
    s << "  " << op.name << " [" << op.type_name << "] -> (";
    for (size_t i = 0; i < op.out_dims.size(); ++i) s << (i ? ", " : "") << op.out_dims[i];
    s << ")  params " << p << (op.row_structured ? "  (row-cached)" : "") << "\n";
  }
  s << "  parameters " << params << " after folding (" << impl_->num_parameters
    << " in the file), model FLOPs per window " << impl_->flops << ", whole-clip layer outputs "
    << (whole_clip_memory_bytes() + 1023) / 1024 << " KiB";
  if (!impl_->provenance.empty()) s << "\n  provenance: " << impl_->provenance;
  return s.str();
}

void Model::PredictFeatures(const float* features, float* scores) const {
  auto ws = impl_->Acquire();
  std::copy(features, features + impl_->value_sizes[0], ws->window[0]);
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
  impl_->frontend->Compute(samples, n, ws->window[0]);
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
