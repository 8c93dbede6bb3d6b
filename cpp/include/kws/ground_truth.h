// Ground truth of a streaming test (`word, time_ms` lines) and the classic streaming
// accuracy scoring of detections against it (SPEC.md, "Streaming accuracy test").
#ifndef KWS_GROUND_TRUTH_H_
#define KWS_GROUND_TRUTH_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kws {

// One spoken word: its label and the time (ms) its clip starts in the stream.
struct GroundTruthEntry {
  std::string label;
  int64_t time_ms = 0;
};

// A parsed ground-truth file.
struct GroundTruth {
  std::string source;                       // file name (or the name given), for messages
  std::vector<GroundTruthEntry> entries;    // sorted by time (stable for equal times)
  int malformed_lines = 0;                  // non-blank lines skipped: not `word, number`
  std::vector<int> malformed_line_numbers;  // 1-based, the first 20 of them
};

// The largest ground-truth file ReadGroundTruth opens (about 10 million lines).
constexpr uint64_t kMaxGroundTruthFileBytes = uint64_t{256} << 20;  // 256 MiB

// Parses `word, time_ms` lines (time may have decimals; it is truncated to whole ms as
// the classic reader does). Blank lines are ignored; other lines that are not exactly two
// comma-separated fields with a non-empty word and a finite number are skipped and
// counted. A text with no valid line but some malformed ones throws InputError (it is
// not a ground-truth file); an empty or blank text is a stream with no words. `name`
// appears in messages.
GroundTruth ParseGroundTruth(const std::string& text, const std::string& name);

// Reads and parses a ground-truth file (a regular file of at most
// kMaxGroundTruthFileBytes); throws IoError naming the file, with the OS's reason, if it
// cannot be opened, InputError as ParseGroundTruth does.
GroundTruth ReadGroundTruth(const std::string& path);

// Writes entries as `word, time_ms` lines (time with three decimals); throws IoError.
void WriteGroundTruth(const std::string& path, const std::vector<GroundTruthEntry>& entries);

// Distinct words of the ground truth that are not among `labels`, sorted.
std::vector<std::string> UnknownGroundTruthWords(const GroundTruth& truth,
                                                 const std::vector<std::string>& labels);

// How a detection was judged against the ground truth.
enum class DetectionVerdict { kCorrect, kWrong, kFalsePositive };

// "Correct", "Wrong" or "False Positive".
const char* VerdictName(DetectionVerdict verdict);

// A new non-silence command reported by the decoder.
struct Detection {
  std::string label;
  int64_t time_ms = 0;
  float score = 0.0f;
  DetectionVerdict verdict = DetectionVerdict::kFalsePositive;  // set by ScoreDetections
  // Index of the ground-truth entry this detection matched (set by ScoreDetections), or -1:
  // a false positive, or a wrong detection whose candidates were all matched already.
  int64_t word = -1;
};

// The streaming accuracy figures. Percentages are relative to the ground-truth count.
struct StreamingAccuracy {
  int64_t ground_truth_words = 0;
  int64_t matched = 0;           // ground-truth words claimed by some detection
  int64_t correct = 0;           // detections with the right label
  int64_t wrong = 0;             // detections near a word, with the wrong label
  int64_t false_positives = 0;   // detections with no ground-truth word within tolerance
  double audio_duration_ms = 0;  // length of the audio scored

  double matched_percent() const;
  double correct_percent() const;
  double wrong_percent() const;
  double false_positive_percent() const;
  // False positives per hour of audio (0 when the duration is 0).
  double false_positives_per_hour() const;
  // Share of ground-truth words not detected correctly: 1 - correct / words (0 if none).
  double miss_rate() const;
  // `M% matched, C% correctly, W% wrongly, F% false positives` (one decimal), or
  // `No ground truth, N false positives` when there is none.
  std::string Summary() const;
  // Sums counts and durations (for many files).
  StreamingAccuracy& operator+=(const StreamingAccuracy& other);
};

// Scores detections (in time order) against ground truth sorted by time: for each
// detection, the ground-truth entries within +- tolerance_ms are candidates; the first
// candidate with the same label not yet matched makes it Correct; otherwise, if there is
// any candidate, it is Wrong (and the first not-yet-matched candidate, if any, counts as
// matched); with no candidate it is a False Positive. Each entry is matched at most once.
// Sets each detection's verdict and the entry it matched (`word`). Throws InvalidArgument if
// detections are not in order.
StreamingAccuracy ScoreDetections(const std::vector<GroundTruthEntry>& truth,
                                  std::vector<Detection>* detections, int64_t tolerance_ms,
                                  double audio_duration_ms);

}  // namespace kws

#endif  // KWS_GROUND_TRUTH_H_
