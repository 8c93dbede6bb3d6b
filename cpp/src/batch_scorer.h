// Batched scoring of every window of a long signal, for the streaming evaluator. Private
// to kws.
//
// A live Stream sees audio hop by hop; the evaluator sees the whole file, so the work of
// many hops is shared: the MFCC frames of a run of windows are computed once, each
// row-structured layer (convolutions, pooling, per-row dense, element-wise ops) is
// computed once over a "timeline" of all frames (one timeline per phase for strided
// layers), and only the rows a window's SAME padding changes (its edge rows) are
// recomputed per window, exactly as the Stream does. Collapsing layers read their rows
// straight from the timelines (no copies), and the dense layers after them run over
// many windows at once as one matrix product. Every element is accumulated in the same
// order as in the Stream, so the scores are the Stream's, bit for bit.
#ifndef KWS_SRC_BATCH_SCORER_H_
#define KWS_SRC_BATCH_SCORER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "kws/model.h"

namespace kws {

class BatchScorer {
 public:
  // Plans batched scoring of `model` with windows every `hop_frames` feature frames.
  // Returns null and explains why in `*reason` when the model's graph has a shape this
  // planner does not handle (the caller then uses the cached Stream).
  static std::unique_ptr<const BatchScorer> Create(std::shared_ptr<const Model> model,
                                                   int hop_frames, std::string* reason);
  ~BatchScorer();

  // Softmax scores of windows [first, last) of `samples` (window w covers samples
  // [w * hop, w * hop + clip_samples)), (last - first) x num_labels floats into `scores`.
  // Every window must fit in the n samples. Thread-safe (scratch is per call).
  void Score(const float* samples, size_t n, size_t first, size_t last, float* scores) const;

  // One line saying what is batched, e.g. for --verbose output.
  const std::string& description() const;

  // Whether batching is expected to beat live streams over the same audio (see
  // batch_scorer.cc, "When batching pays"), and the per-window estimate behind it.
  bool pays() const;
  const std::string& estimate() const;

  struct Plan;

 private:
  BatchScorer();
  std::unique_ptr<Plan> plan_;
};

}  // namespace kws

#endif  // KWS_SRC_BATCH_SCORER_H_
