// Decoding one stream's window scores at several detection thresholds at once. Private to
// kws. The averaging does not depend on the threshold, so one RecognizeCommands queue
// serves every threshold and each keeps only its own previous command: the detections
// are those of one RecognizeCommands per threshold, with one queue's memory.
#ifndef KWS_SRC_SWEEP_DECODER_H_
#define KWS_SRC_SWEEP_DECODER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "kws/ground_truth.h"
#include "kws/recognize_commands.h"

namespace kws {

class SweepDecoder {
 public:
  // `options` gives the window, suppression and minimum count; its threshold is unused.
  SweepDecoder(const std::vector<std::string>& labels, const RecognizeCommandsOptions& options,
               std::vector<float> thresholds);

  // Feeds one window's scores (labels().size() of them) at `time_ms` (non-decreasing).
  void Add(const float* scores, int64_t time_ms);
  // End of the stream: commands still being decided (decision_delay_ms) are reported.
  // ScoreSweep calls it.
  void Finish();

  // New commands other than `_silence_`, in time order, per threshold (verdicts unset).
  const std::vector<std::vector<Detection>>& detections() const { return detections_; }
  std::vector<std::vector<Detection>>& detections() { return detections_; }

 private:
  std::vector<std::string> labels_;
  RecognizeCommands averager_;
  std::vector<float> thresholds_;
  std::vector<CommandRule> rules_;  // one per threshold
  std::vector<std::vector<Detection>> detections_;
};

// Throws InvalidArgument for more than kMaxSweepThresholds thresholds or one outside [0, 1].
void CheckSweepThresholds(const std::vector<float>& thresholds);

struct StreamEvaluation;
struct StreamingOptions;
struct GroundTruth;

// Finishes the decoder and scores its detections (threshold 0 is the main one, the rest
// the sweep) against the ground truth; moves the detections out of the decoder.
StreamEvaluation ScoreSweep(SweepDecoder* decoder, const std::vector<std::string>& labels,
                            const GroundTruth& truth, const StreamingOptions& opts,
                            size_t num_windows, double audio_duration_ms);

}  // namespace kws

#endif  // KWS_SRC_SWEEP_DECODER_H_
