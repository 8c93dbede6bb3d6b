// Model internals shared by model.cc and model_stream.cc. Private to kws.
#ifndef KWS_SRC_MODEL_IMPL_H_
#define KWS_SRC_MODEL_IMPL_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kws/mfcc.h"
#include "kws/model.h"
#include "layers.h"
#include "ops/op.h"

namespace kws {

// Buffers for one inference plus kernel scratch. Whole-clip inference borrows one from
// the model's pool and keeps every value's tensor in one arena, where values whose
// lifetimes do not overlap share memory (Model::Impl::window_offsets). A Stream owns one
// with a separate tensor per value (its per-layer caches are these tensors).
struct Workspace {
  std::vector<layers::AlignedFloats> values;  // a Stream's tensors; values[0] = features
  layers::AlignedFloats arena;                // whole-clip inference: every value's tensor
  std::vector<float*> window;                 // value v's tensor in `arena`
  std::vector<const float*> pointers;         // GEMM pointer tables
  layers::AlignedFloats aux;                  // per-op float scratch
  std::vector<float> scores;                  // softmax output
  std::vector<const float*> inputs;           // argument list for one op
};

// How one value's time rows relate to the feature frames; computed once at load and
// shared by the cached Stream and the batched evaluator. A row value's row t of the
// window starting at feature frame F is computed from frames F + t * step + (a fixed
// range). Its "clean" rows [clean_begin, clean_end) read no SAME time padding anywhere
// up the chain, so they are the same in every window that contains them (the Stream
// keeps them from an earlier window; the evaluator reads them from a shared timeline);
// the others are its edge rows, recomputed per window.
struct ValueRows {
  bool rows = false;                   // a row value: axis 0 follows the features' time axis
  int step = 1;                        // feature frames between consecutive rows
  int window_rows = 1;                 // rows in one window (1 for vectors)
  size_t row_floats = 0;               // floats per row (vectors: the whole vector)
  int clean_begin = 0, clean_end = 0;  // empty as [0, 0)
  bool clean(int t) const { return t >= clean_begin && t < clean_end; }
  bool has_edges() const { return clean_begin > 0 || clean_end < window_rows; }
  // With windows every `hop` frames, the windows whose rows lie on the same grid come
  // every period() windows, `shift(hop)` rows apart; phase of a window at frame F:
  // F mod step.
  int period(int hop) const;
  int shift(int hop) const { return period(hop) * hop / step; }
};

struct Model::Impl {
  std::string path;  // for messages
  std::string architecture;
  std::string name, version, provenance;  // optional identity (empty when absent)
  int64_t num_parameters = 0;             // floats in the file's tensors
  std::vector<std::string> labels;
  MfccOptions frontend_options;
  std::shared_ptr<const MfccFrontend> frontend;
  int sample_rate = 0;
  int clip_samples = 0;
  int num_frames = 0;
  int num_coefficients = 0;
  int frame_stride = 0;
  std::vector<int> value_rows;      // time rows per value (1 for vectors)
  std::vector<size_t> value_sizes;  // floats per value
  std::vector<layers::Op> ops;      // op i writes value i + 1
  std::vector<ValueRows> rows;      // per value (see ValueRows)
  layers::AlignedFloats zeros;      // a zero row as long as the longest input row
  size_t max_pointers = 0, max_aux = 0;
  int64_t flops = 0;  // model multiply-adds x 2 per window
  // Whole-clip inference: value v lives at arena + window_offsets[v] (multiples of 16
  // floats); two values share memory only when no op runs while both are live (from the
  // op that writes one to the last op that reads it). window_floats is the arena's size.
  std::vector<size_t> window_offsets;
  size_t window_floats = 0;

  // A whole-clip workspace (the arena) and a Stream's (a tensor per value).
  std::unique_ptr<Workspace> NewWorkspace() const;
  std::unique_ptr<Workspace> NewStreamWorkspace() const;
  void AddScratch(Workspace& ws) const;  // pointers, aux, scores
  ops::Scratch ScratchOf(Workspace& ws) const {
    return ops::Scratch{zeros.data(), ws.pointers.data(), ws.aux.data()};
  }
  // Runs every op on the whole window in `ws.window[0]`; leaves softmax in ws.scores.
  void RunWholeWindow(Workspace& ws) const;
  void Finish(const float* logits, Workspace& ws) const;  // softmax of logits into ws.scores

  // Pool of whole-clip workspaces, so Predict allocates nothing in steady state.
  std::unique_ptr<Workspace> Acquire() const;
  void Release(std::unique_ptr<Workspace> ws) const;
  mutable std::mutex pool_mutex;
  mutable std::vector<std::unique_ptr<Workspace>> pool;
};

std::unique_ptr<Stream> NewCachedStream(std::shared_ptr<const Model> model, int hop_samples);

}  // namespace kws

#endif  // KWS_SRC_MODEL_IMPL_H_
