// Python bindings of kws/streaming_evaluator.h.
#include "kws/streaming_evaluator.h"

#include <utility>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "fs_path.h"
#include "kws/error.h"

namespace py = pybind11;

namespace kws {
namespace bindings {
namespace {

py::dict AccuracyDict(const StreamingAccuracy& a) {
  py::dict d;
  d["ground_truth_words"] = a.ground_truth_words;
  d["matched"] = a.matched;
  d["correct"] = a.correct;
  d["wrong"] = a.wrong;
  d["false_positives"] = a.false_positives;
  d["audio_duration_s"] = a.audio_duration_ms / 1000.0;
  d["matched_percent"] = a.matched_percent();
  d["correct_percent"] = a.correct_percent();
  d["wrong_percent"] = a.wrong_percent();
  d["false_positive_percent"] = a.false_positive_percent();
  d["false_positives_per_hour"] = a.false_positives_per_hour();
  d["miss_rate"] = a.miss_rate();
  d["summary"] = a.Summary();
  return d;
}

py::dict EvaluationDict(const StreamEvaluation& e, const std::vector<float>& sweep) {
  py::dict d;
  d["wav"] = PathStr(e.wav_path);
  d["ground_truth"] = PathStr(e.ground_truth_path);
  py::list detections;
  for (const Detection& det : e.detections) {
    py::dict x;
    x["label"] = det.label;
    x["time_ms"] = det.time_ms;
    x["score"] = det.score;
    x["verdict"] = VerdictName(det.verdict);
    detections.append(x);
  }
  d["detections"] = detections;
  d["accuracy"] = AccuracyDict(e.accuracy);
  py::list points;
  for (size_t k = 0; k < e.sweep.size(); ++k) {
    py::dict p = AccuracyDict(e.sweep[k]);
    p["threshold"] = sweep[k];
    points.append(p);
  }
  d["sweep"] = points;
  d["malformed_lines"] = e.malformed_lines;
  d["unknown_words"] = e.unknown_words;
  d["num_windows"] = e.num_windows;
  return d;
}

// Python ints of any size arrive as int64 and are checked against the bounds before they
// are narrowed, so that a huge value gets the bound's message, not a type error.
int CheckedInt(int64_t value, int64_t low, int64_t high, const char* name) {
  if (value < low || value > high)
    throw InvalidArgument("streaming options: " + std::string(name) + " must be in [" +
                          std::to_string(low) + ", " + std::to_string(high) + "], got " +
                          std::to_string(value));
  return static_cast<int>(value);
}

StreamingOptions MakeOptions(int64_t clip_duration_ms, int64_t clip_stride_ms,
                             int64_t average_window_ms, int64_t suppression_ms,
                             float detection_threshold, int64_t time_tolerance_ms,
                             int64_t minimum_count) {
  StreamingOptions o;
  for (auto [value, name] : {std::pair<int64_t, const char*>{clip_duration_ms, "clip_duration_ms"},
                              {clip_stride_ms, "clip_stride_ms"}})
    if (value <= 0 || value > kMaxStreamingClipMs)  // the words of StreamingOptions::Validate
      throw InvalidArgument("streaming options: " + std::string(name) + " must be in (0, " +
                            std::to_string(kMaxStreamingClipMs) + "] ms, got " +
                            std::to_string(value) + " ms");
  o.clip_duration_ms = static_cast<int>(clip_duration_ms);
  o.clip_stride_ms = static_cast<int>(clip_stride_ms);
  o.average_window_ms = average_window_ms;
  o.suppression_ms = suppression_ms;
  o.detection_threshold = detection_threshold;
  o.time_tolerance_ms = time_tolerance_ms;
  o.minimum_count = CheckedInt(minimum_count, 1, kMaxMinimumCount, "minimum_count");
  o.Validate();
  return o;
}

}  // namespace

void BindStreamingEvaluator(py::module_& m) {
  py::class_<StreamingEvaluator>(
      m, "StreamingEvaluator",
      "The streaming accuracy test on long WAVs with one shared model.kws (SPEC.md).")
      .def(py::init([](const FsPath& model_path, std::vector<std::string> labels,
                       int64_t clip_duration_ms, int64_t clip_stride_ms,
                       int64_t average_window_ms, int64_t suppression_ms,
                       float detection_threshold, int64_t time_tolerance_ms,
                       int64_t minimum_count) {
             StreamingOptions o =
                 MakeOptions(clip_duration_ms, clip_stride_ms, average_window_ms,
                             suppression_ms, detection_threshold, time_tolerance_ms,
                             minimum_count);
             std::shared_ptr<const Model> model;
             {
               py::gil_scoped_release release;
               model = Model::Load(model_path);
             }
             return std::make_unique<StreamingEvaluator>(model, o, std::move(labels));
           }),
           py::arg("model_path"), py::arg("labels") = std::vector<std::string>{},
           py::arg("clip_duration_ms") = 1000, py::arg("clip_stride_ms") = 30,
           py::arg("average_window_ms") = 500, py::arg("suppression_ms") = 1500,
           py::arg("detection_threshold") = 0.7f, py::arg("time_tolerance_ms") = 750,
           py::arg("minimum_count") = 3)
      .def_property_readonly("labels", &StreamingEvaluator::labels)
      .def_property_readonly("hop_samples", &StreamingEvaluator::hop_samples)
      .def_property_readonly("sample_rate",
                             [](const StreamingEvaluator& e) { return e.model().sample_rate(); })
      .def(
          "compute_scores",
          [](const StreamingEvaluator& self,
             py::array_t<float, py::array::c_style | py::array::forcecast> samples,
             int threads, const std::string& method) {
            if (samples.ndim() != 1)
              throw InvalidArgument("StreamingEvaluator.compute_scores: samples must be 1-D");
            if (method != "auto" && method != "stream")
              throw InvalidArgument("StreamingEvaluator.compute_scores: method '" + method +
                                    "' is not 'auto' or 'stream'");
            WindowScores w;
            {
              py::gil_scoped_release release;
              const size_t n = static_cast<size_t>(samples.shape(0));
              w = method == "stream" ? self.ComputeScoresWithStream(samples.data(), n, threads)
                                     : self.ComputeScores(samples.data(), n, threads);
            }
            py::array_t<int64_t> times(w.times_ms.size(), w.times_ms.data());
            py::array_t<float> scores({w.times_ms.size(), static_cast<size_t>(w.num_labels)});
            std::copy(w.scores.begin(), w.scores.end(), scores.mutable_data());
            return py::make_tuple(times, scores);
          },
          py::arg("samples"), py::arg("threads") = 1, py::arg("method") = "auto",
          "Scores of every window (start 0, then every hop): (times_ms [n], scores [n, labels]); "
          "threads > 1 splits the windows across threads (identical scores). method 'auto' "
          "batches hops when the model allows (see batched), 'stream' feeds cached-state "
          "streams hop by hop, as a live application does.")
      .def_property_readonly("batched", &StreamingEvaluator::batched,
                             "True when compute_scores batches the work of many hops.")
      .def_property_readonly("scoring_method", &StreamingEvaluator::scoring_method,
                             "How scores are computed for this model (and why not batched).")
      .def(
          "evaluate",
          [](const StreamingEvaluator& self, const FsPath& wav, const FsPath& ground_truth, std::vector<float> sweep, int threads) {
            StreamEvaluation e;
            {
              py::gil_scoped_release release;
              e = self.Evaluate(wav, ground_truth, sweep, threads);
            }
            return EvaluationDict(e, sweep);
          },
          py::arg("wav"), py::arg("ground_truth"), py::arg("sweep") = std::vector<float>{},
          py::arg("threads") = 1,
          "Evaluates one WAV against its ground truth; `sweep` thresholds reuse the scores.")
      .def(
          "evaluate_many",
          [](const StreamingEvaluator& self, const std::vector<FsPath>& wav_paths,
             const std::vector<FsPath>& ground_truth_paths, int threads,
             std::vector<float> sweep) {
            StreamingReport r;
            {
              py::gil_scoped_release release;
              std::vector<std::string> wavs, ground_truths;
              for (const FsPath& p : wav_paths) wavs.push_back(p.value);
              for (const FsPath& p : ground_truth_paths) ground_truths.push_back(p.value);
              r = self.EvaluateMany(wavs, ground_truths, threads, sweep);
            }
            py::dict d;
            py::list files;
            for (const StreamEvaluation& e : r.files) files.append(EvaluationDict(e, sweep));
            d["files"] = files;
            d["total"] = AccuracyDict(r.total);
            py::list points;
            for (size_t k = 0; k < r.sweep_total.size(); ++k) {
              py::dict p = AccuracyDict(r.sweep_total[k]);
              p["threshold"] = sweep[k];
              points.append(p);
            }
            d["sweep"] = points;
            return d;
          },
          py::arg("wavs"), py::arg("ground_truths"), py::arg("threads") = 0,
          py::arg("sweep") = std::vector<float>{},
          "Evaluates WAV/ground-truth pairs in parallel threads (0: all cores) and sums them.");

  m.def(
      "evaluate_window_scores",
      [](py::array_t<int64_t, py::array::c_style | py::array::forcecast> times,
         py::array_t<float, py::array::c_style | py::array::forcecast> scores,
         const std::vector<std::string>& labels, const std::string& ground_truth_text,
         double audio_duration_ms, int64_t average_window_ms, int64_t suppression_ms,
         float detection_threshold, int64_t time_tolerance_ms, int minimum_count,
         std::vector<float> sweep) {
        if (times.ndim() != 1 || scores.ndim() != 2 || scores.shape(0) != times.shape(0))
          throw InvalidArgument("evaluate_window_scores: need times [n] and scores [n, labels]");
        WindowScores w;
        w.num_labels = static_cast<int>(scores.shape(1));
        w.times_ms.assign(times.data(), times.data() + times.shape(0));
        w.scores.assign(scores.data(), scores.data() + scores.size());
        w.audio_duration_ms = audio_duration_ms;
        StreamingOptions o = MakeOptions(1000, 30, average_window_ms, suppression_ms,
                                         detection_threshold, time_tolerance_ms, minimum_count);
        GroundTruth truth = ParseGroundTruth(ground_truth_text, "<ground truth>");
        return EvaluationDict(EvaluateWindowScores(w, labels, truth, o, sweep), sweep);
      },
      py::arg("times_ms"), py::arg("scores"), py::arg("labels"), py::arg("ground_truth_text"),
      py::arg("audio_duration_ms"), py::arg("average_window_ms") = 500,
      py::arg("suppression_ms") = 1500, py::arg("detection_threshold") = 0.7f,
      py::arg("time_tolerance_ms") = 750, py::arg("minimum_count") = 3,
      py::arg("sweep") = std::vector<float>{},
      "Decodes and scores precomputed window scores (no model): the evaluator's core.");
}

}  // namespace bindings
}  // namespace kws
