// StreamingEvaluator: the model-driven half of the streaming test (kept apart from the
// decoding/scoring core so that the core links without the model runtime).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <functional>
#include <thread>
#include <utility>

#include "batch_scorer.h"
#include "kws/error.h"
#include "kws/streaming_evaluator.h"
#include "kws/wav_io.h"
#include "sweep_decoder.h"

namespace kws {

StreamingEvaluator::StreamingEvaluator(std::shared_ptr<const Model> model,
                                       const StreamingOptions& opts,
                                       std::vector<std::string> labels)
    : model_(std::move(model)), opts_(opts), labels_(std::move(labels)) {
  if (!model_) throw InvalidArgument("StreamingEvaluator: no model");
  opts_.Validate();
  const int rate = model_->sample_rate();
  const int64_t model_clip_ms = int64_t{model_->clip_samples()} * 1000 / rate;
  if (opts_.clip_duration_ms != model_clip_ms)
    throw InvalidArgument("StreamingEvaluator: clip_duration_ms " +
                          std::to_string(opts_.clip_duration_ms) + " differs from the model's " +
                          std::to_string(model_clip_ms) + " ms clips");
  hop_samples_ = static_cast<int>(int64_t{opts_.clip_stride_ms} * rate / 1000);
  const int frame = model_->frame_stride_samples();
  if (hop_samples_ <= 0 || frame <= 0 || hop_samples_ % frame != 0)
    throw InvalidArgument(
        "StreamingEvaluator: clip_stride_ms " + std::to_string(opts_.clip_stride_ms) + " (" +
        std::to_string(hop_samples_) + " samples) is not a whole number of feature frames of " +
        std::to_string(frame) + " samples");
  if (labels_.empty()) {
    labels_ = model_->labels();
  } else if (labels_.size() != model_->labels().size()) {
    throw InvalidArgument("StreamingEvaluator: " + std::to_string(labels_.size()) +
                          " labels given, the model has " +
                          std::to_string(model_->labels().size()));
  }
  // KWS_EVAL_SCORING picks how ComputeScores works: auto (batched where batching is
  // expected to beat live streams), batched (whenever the graph can be batched) or
  // stream. The scores are the same bits every way.
  const char* env = std::getenv("KWS_EVAL_SCORING");
  const std::string mode = env && *env ? env : "auto";
  if (mode != "auto" && mode != "batched" && mode != "stream")
    throw InvalidArgument("KWS_EVAL_SCORING is '" + mode + "'; it must be auto, batched or stream");
  std::string reason = "KWS_EVAL_SCORING=stream";
  if (mode != "stream") batch_ = BatchScorer::Create(model_, hop_samples_ / frame, &reason);
  if (batch_ && mode == "auto" && !batch_->pays()) {
    reason = "live streams are expected to be faster for this model: " + batch_->estimate();
    batch_.reset();
  }
  scoring_method_ = batch_ ? batch_->description() + " (" + batch_->estimate() + ")"
                           : "cached streams, hop by hop (not batched: " + reason + ")";
}

namespace {

// Runs work(0) .. work(parts - 1), parts after the first on their own threads, and rethrows
// the first part's exception (in part order) once all have finished.
void RunParts(size_t parts, const std::function<void(size_t)>& work) {
  std::vector<std::exception_ptr> errors(parts);
  auto run = [&](size_t p) {
    try {
      work(p);
    } catch (...) {
      errors[p] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (size_t p = 1; p < parts; ++p) pool.emplace_back(run, p);
  run(0);
  for (std::thread& t : pool) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

// Appends the scores of windows [first, last) to `times`/`scores`, computed by one fresh
// stream fed from the first window's start.
void ScoreWindowRange(const Model& model, int hop, const float* samples, size_t first, size_t last,
                      std::vector<int64_t>* times, std::vector<float>* scores) {
  const int rate = model.sample_rate();
  const size_t clip = static_cast<size_t>(model.clip_samples());
  const size_t begin = first * static_cast<size_t>(hop);
  const size_t end = (last - 1) * static_cast<size_t>(hop) + clip;
  std::unique_ptr<Stream> stream = model.CreateStream(hop);
  size_t produced = 0;
  auto drain = [&]() {
    while (stream->IsReady() && produced < last - first) {
      stream->Decode();
      const StreamResult& r = stream->GetResult();
      times->push_back((static_cast<int64_t>(begin) + r.start_sample) * 1000 / rate);
      scores->insert(scores->end(), r.scores.begin(), r.scores.end());
      ++produced;
    }
  };
  // Feed one second at a time so the stream's buffers stay small.
  const size_t chunk = static_cast<size_t>(rate);
  for (size_t offset = begin; offset < end; offset += chunk) {
    stream->AcceptWaveform(samples + offset, std::min(chunk, end - offset));
    drain();
  }
  stream->InputFinished();
  drain();
  if (produced != last - first)
    throw Error("StreamingEvaluator: the model's stream produced " + std::to_string(produced) +
                " windows, expected " + std::to_string(last - first));
}

}  // namespace

WindowScores StreamingEvaluator::ComputeScores(const float* samples, size_t n, int threads) const {
  if (!batch_) return ComputeScoresWithStream(samples, n, threads);
  const size_t clip = static_cast<size_t>(model_->clip_samples());
  const size_t num_labels = static_cast<size_t>(model_->num_labels());
  WindowScores out;
  out.num_labels = static_cast<int>(num_labels);
  out.audio_duration_ms = static_cast<double>(n) * 1000.0 / model_->sample_rate();
  const size_t windows = n >= clip ? (n - clip) / hop_samples_ + 1 : 0;
  if (windows == 0) return out;
  out.times_ms.resize(windows);
  for (size_t w = 0; w < windows; ++w)
    out.times_ms[w] = static_cast<int64_t>(w) * hop_samples_ * 1000 / model_->sample_rate();
  out.scores.resize(windows * num_labels);
  // Each part recomputes one clip of frames at its start, as every chunk does.
  const size_t min_windows_per_part = 2 * clip / hop_samples_ + 1;
  size_t parts = std::max(1, threads);
  parts = std::min(parts, std::max<size_t>(1, windows / min_windows_per_part));
  RunParts(parts, [&](size_t p) {
    const size_t first = windows * p / parts, last = windows * (p + 1) / parts;
    batch_->Score(samples, n, first, last, out.scores.data() + first * num_labels);
  });
  return out;
}

WindowScores StreamingEvaluator::ComputeScoresWithStream(const float* samples, size_t n,
                                                         int threads) const {
  const size_t clip = static_cast<size_t>(model_->clip_samples());
  const size_t num_labels = static_cast<size_t>(model_->num_labels());
  WindowScores out;
  out.num_labels = static_cast<int>(num_labels);
  out.audio_duration_ms = static_cast<double>(n) * 1000.0 / model_->sample_rate();
  const size_t windows = n >= clip ? (n - clip) / hop_samples_ + 1 : 0;
  if (windows == 0) return out;
  // Each part re-fills a clip of history first: only split when parts stay long.
  const size_t min_windows_per_part = 4 * clip / hop_samples_ + 64;
  size_t parts = std::max(1, threads);
  parts = std::min(parts, std::max<size_t>(1, windows / min_windows_per_part));
  std::vector<std::vector<int64_t>> times(parts);
  std::vector<std::vector<float>> scores(parts);
  RunParts(parts, [&](size_t p) {
    const size_t first = windows * p / parts, last = windows * (p + 1) / parts;
    times[p].reserve(last - first);
    scores[p].reserve((last - first) * num_labels);
    ScoreWindowRange(*model_, hop_samples_, samples, first, last, &times[p], &scores[p]);
  });
  out.times_ms.reserve(windows);
  out.scores.reserve(windows * num_labels);
  for (size_t p = 0; p < parts; ++p) {
    out.times_ms.insert(out.times_ms.end(), times[p].begin(), times[p].end());
    out.scores.insert(out.scores.end(), scores[p].begin(), scores[p].end());
  }
  return out;
}

namespace {

// Samples held at a time by Evaluate (plus one clip): 8 MiB of floats.
constexpr size_t kBlockSamples = size_t{1} << 21;

// Reads and discards `frames` frames (they are still checked: a NaN there is an error,
// as it is for ReadWav).
void SkipFrames(WavReader* reader, uint64_t frames) {
  std::vector<float> scratch(static_cast<size_t>(std::min<uint64_t>(frames, 1 << 16)));
  while (frames > 0) {
    const size_t got = reader->Read(
        scratch.data(), static_cast<size_t>(std::min<uint64_t>(frames, scratch.size())));
    if (got == 0) break;
    frames -= got;
  }
}

}  // namespace

StreamEvaluation StreamingEvaluator::Evaluate(const std::string& wav_path,
                                              const std::string& ground_truth_path,
                                              const std::vector<float>& sweep_thresholds,
                                              int threads) const {
  CheckSweepThresholds(sweep_thresholds);
  GroundTruth truth = ReadGroundTruth(ground_truth_path);
  WavReader reader(wav_path);
  if (reader.channels() != 1)
    throw WavError("'" + wav_path + "' has " + std::to_string(reader.channels()) +
                   " channels; the streaming test takes mono WAV files");
  if (reader.sample_rate() != model_->sample_rate())
    throw WavError("'" + wav_path + "' has sample rate " + std::to_string(reader.sample_rate()) +
                   " Hz; the model takes " + std::to_string(model_->sample_rate()) + " Hz");
  const uint64_t n = reader.frames();
  const int rate = model_->sample_rate();
  const uint64_t clip = static_cast<uint64_t>(model_->clip_samples());
  const uint64_t hop = static_cast<uint64_t>(hop_samples_);
  const size_t num_labels = labels_.size();
  const uint64_t windows = n >= clip ? (n - clip) / hop + 1 : 0;

  std::vector<float> thresholds = {opts_.detection_threshold};
  thresholds.insert(thresholds.end(), sweep_thresholds.begin(), sweep_thresholds.end());
  SweepDecoder decoder(labels_, opts_.DecoderOptions(), thresholds);

  // Blocks of windows; `buffer` holds samples [buffer_start, buffer_start + size).
  const uint64_t block_windows = std::max<uint64_t>(1, kBlockSamples / hop);
  std::vector<float> buffer;
  uint64_t buffer_start = 0;
  for (uint64_t first = 0; first < windows; first += block_windows) {
    const uint64_t last = std::min(windows, first + block_windows);
    const uint64_t begin = first * hop, end = (last - 1) * hop + clip;
    if (begin - buffer_start <= buffer.size()) {
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<size_t>(begin - buffer_start));
    } else {  // a hop longer than the clip: samples between windows are not needed
      SkipFrames(&reader, begin - buffer_start - buffer.size());
      buffer.clear();
    }
    buffer_start = begin;
    const size_t have = buffer.size();
    buffer.resize(static_cast<size_t>(end - begin));
    const size_t got = reader.Read(buffer.data() + have, buffer.size() - have);
    if (got != buffer.size() - have)
      throw IoError("cannot read WAV file '" + wav_path + "': the file shrank while reading");
    const WindowScores scores = ComputeScores(buffer.data(), buffer.size(), threads);
    if (scores.num_windows() != last - first)
      throw Error("StreamingEvaluator: a block gave " + std::to_string(scores.num_windows()) +
                  " windows, expected " + std::to_string(last - first));
    for (uint64_t w = first; w < last; ++w)
      decoder.Add(scores.scores.data() + (w - first) * num_labels,
                  static_cast<int64_t>(w * hop * 1000 / static_cast<uint64_t>(rate)));
  }
  SkipFrames(&reader, n - reader.frames_read());  // the tail is checked too
  StreamEvaluation result =
      ScoreSweep(&decoder, labels_, truth, opts_, static_cast<size_t>(windows),
                 static_cast<double>(n) * 1000.0 / rate);
  result.wav_path = wav_path;
  return result;
}

StreamingReport StreamingEvaluator::EvaluateMany(const std::vector<std::string>& wav_paths,
                                                 const std::vector<std::string>& ground_truth_paths,
                                                 int threads,
                                                 const std::vector<float>& sweep_thresholds) const {
  if (wav_paths.size() != ground_truth_paths.size())
    throw InvalidArgument("StreamingEvaluator: " + std::to_string(wav_paths.size()) +
                          " WAV files but " + std::to_string(ground_truth_paths.size()) +
                          " ground-truth files (give one per WAV)");
  if (wav_paths.empty()) throw InvalidArgument("StreamingEvaluator: no WAV files given");
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Spare threads (fewer files than threads) split each file's windows.
  const int threads_per_file =
      std::max(1, threads / static_cast<int>(std::min<size_t>(threads, wav_paths.size())));
  threads = static_cast<int>(std::min<size_t>(threads, wav_paths.size()));

  StreamingReport report;
  report.files.resize(wav_paths.size());
  report.sweep_thresholds = sweep_thresholds;
  std::vector<std::exception_ptr> errors(wav_paths.size());
  std::atomic<size_t> next{0};
  auto worker = [&]() {
    for (size_t i = next++; i < wav_paths.size(); i = next++) {
      try {
        report.files[i] =
            Evaluate(wav_paths[i], ground_truth_paths[i], sweep_thresholds, threads_per_file);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  if (threads == 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (std::thread& t : pool) t.join();
  }
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
  report.sweep_total.assign(sweep_thresholds.size(), StreamingAccuracy());
  for (const StreamEvaluation& f : report.files) {
    report.total += f.accuracy;
    for (size_t k = 0; k < f.sweep.size(); ++k) report.sweep_total[k] += f.sweep[k];
  }
  return report;
}

}  // namespace kws
