// Python bindings of kws/streaming_evaluator.h (and the result types of kws/ground_truth.h):
// StreamingOptions with its C++ defaults, the evaluator, and its results as classes with
// to_dict() for JSON.
#include "kws/streaming_evaluator.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>
#include <utility>

#include "fs_path.h"
#include "kws/error.h"
#include "options.h"

namespace py = pybind11;

namespace kws {
namespace bindings {
namespace {

// A stream's result together with the sweep thresholds its sweep figures belong to.
struct PyStreamEvaluation : StreamEvaluation {
  PyStreamEvaluation() = default;
  PyStreamEvaluation(StreamEvaluation e, std::vector<float> thresholds)
      : StreamEvaluation(std::move(e)), sweep_thresholds(std::move(thresholds)) {}
  std::vector<float> sweep_thresholds;
};

// Many streams: each file's result and the sums.
struct PyStreamingReport {
  std::vector<PyStreamEvaluation> files;
  StreamingAccuracy total;
  std::vector<float> sweep_thresholds;
  std::vector<StreamingAccuracy> sweep_total;
};

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

py::dict DetectionDict(const Detection& det) {
  py::dict x;
  x["label"] = det.label;
  x["time_ms"] = det.time_ms;
  x["score"] = det.score;
  x["verdict"] = VerdictName(det.verdict);
  x["word"] = det.word;
  return x;
}

py::list ShortestFloats(const std::vector<float>& values) {
  py::list out;
  for (float v : values) out.append(ShortestFloat(v));
  return out;
}

py::list SweepList(const std::vector<StreamingAccuracy>& points,
                   const std::vector<float>& thresholds) {
  py::list out;
  for (size_t k = 0; k < points.size(); ++k) {
    py::dict p = AccuracyDict(points[k]);
    p["threshold"] = ShortestFloat(k < thresholds.size() ? thresholds[k] : 0.0f);
    out.append(p);
  }
  return out;
}

py::dict EvaluationDict(const PyStreamEvaluation& e) {
  py::dict d;
  d["wav"] = PathStr(e.wav_path);
  d["ground_truth"] = PathStr(e.ground_truth_path);
  py::list detections;
  for (const Detection& det : e.detections) detections.append(DetectionDict(det));
  d["detections"] = detections;
  d["accuracy"] = AccuracyDict(e.accuracy);
  d["sweep"] = SweepList(e.sweep, e.sweep_thresholds);
  d["malformed_lines"] = e.malformed_lines;
  d["unknown_words"] = e.unknown_words;
  d["num_windows"] = e.num_windows;
  return d;
}

py::dict ReportDict(const PyStreamingReport& r) {
  py::dict d;
  py::list files;
  for (const PyStreamEvaluation& e : r.files) files.append(EvaluationDict(e));
  d["files"] = files;
  d["total"] = AccuracyDict(r.total);
  d["sweep"] = SweepList(r.sweep_total, r.sweep_thresholds);
  return d;
}

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

// Python ints of any size arrive as int64; one that does not fit the int field gets the
// bound's message (the words of StreamingOptions::Validate) instead of a type error. Other
// values are stored and checked by validate(), as every field is.
int ClipMs(int64_t value, const char* name) {
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max())
    throw InvalidArgument("streaming options: " + std::string(name) + " must be in (0, " +
                          std::to_string(kMaxStreamingClipMs) + "] ms, got " +
                          std::to_string(value) + " ms");
  return static_cast<int>(value);
}

int MinimumCount(int64_t value) {
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max())
    throw InvalidArgument("streaming options: minimum_count must be in [1, " +
                          std::to_string(kMaxMinimumCount) + "] results, got " +
                          std::to_string(value));
  return static_cast<int>(value);
}

}  // namespace

void BindStreamingEvaluator(py::module_& m) {
  const StreamingOptions d;  // the C++ defaults, shown and used by Python
  py::class_<StreamingOptions>(
      m, "StreamingOptions",
      "Options of the streaming accuracy test; defaults are the classic "
      "test_streaming_accuracy ones. Checked by validate() and when an evaluator is made.")
      .def(py::init([](int64_t clip_duration_ms, int64_t clip_stride_ms, int64_t average_window_ms,
                       int64_t suppression_ms, float detection_threshold, int64_t time_tolerance_ms,
                       int64_t minimum_count, int64_t decision_delay_ms, bool allow_repeats) {
             StreamingOptions o;
             o.clip_duration_ms = ClipMs(clip_duration_ms, "clip_duration_ms");
             o.clip_stride_ms = ClipMs(clip_stride_ms, "clip_stride_ms");
             o.average_window_ms = average_window_ms;
             o.suppression_ms = suppression_ms;
             o.detection_threshold = detection_threshold;
             o.time_tolerance_ms = time_tolerance_ms;
             o.minimum_count = MinimumCount(minimum_count);
             o.decision_delay_ms = decision_delay_ms;
             o.allow_repeats = allow_repeats;
             return o;
           }),
           py::arg("clip_duration_ms") = d.clip_duration_ms,
           py::arg("clip_stride_ms") = d.clip_stride_ms,
           py::arg("average_window_ms") = d.average_window_ms,
           py::arg("suppression_ms") = d.suppression_ms,
           py::arg("detection_threshold") = ShortestFloat(d.detection_threshold),
           py::arg("time_tolerance_ms") = d.time_tolerance_ms,
           py::arg("minimum_count") = d.minimum_count,
           py::arg("decision_delay_ms") = d.decision_delay_ms,
           py::arg("allow_repeats") = d.allow_repeats)
      .def_property(
          "clip_duration_ms", [](const StreamingOptions& o) { return o.clip_duration_ms; },
          [](StreamingOptions& o, int64_t v) {
            o.clip_duration_ms = ClipMs(v, "clip_duration_ms");
          },
          "length of the model's clip (ms); must match the model")
      .def_property(
          "clip_stride_ms", [](const StreamingOptions& o) { return o.clip_stride_ms; },
          [](StreamingOptions& o, int64_t v) { o.clip_stride_ms = ClipMs(v, "clip_stride_ms"); },
          "hop between windows (ms), a whole number of feature frames")
      .def_readwrite("average_window_ms", &StreamingOptions::average_window_ms,
                     "scores are averaged over this window (ms)")
      .def_readwrite("suppression_ms", &StreamingOptions::suppression_ms,
                     "no new command this soon after the last one (ms)")
      .def_property(
          "detection_threshold",
          [](const StreamingOptions& o) { return ShortestFloat(o.detection_threshold); },
          [](StreamingOptions& o, float v) { o.detection_threshold = v; },
          "the averaged score must exceed this to detect a command")
      .def_readwrite("time_tolerance_ms", &StreamingOptions::time_tolerance_ms,
                     "a detection this close to a ground-truth word matches it (ms)")
      .def_property(
          "minimum_count", [](const StreamingOptions& o) { return o.minimum_count; },
          [](StreamingOptions& o, int64_t v) { o.minimum_count = MinimumCount(v); },
          "fewer results in the averaging window: no decision")
      .def_readwrite("decision_delay_ms", &StreamingOptions::decision_delay_ms,
                     "0: report a command when its averaged score passes the threshold; else "
                     "the label whose averaged score peaks highest within this many ms after "
                     "that (ms)")
      .def_readwrite("allow_repeats", &StreamingOptions::allow_repeats,
                     "True: the same label may be reported again once suppression_ms has "
                     "passed since it last was (the classic rule, False, waits for another "
                     "label or silence between)")
      .def("validate", &StreamingOptions::Validate, "Raises ValueError naming the first bad field.")
      .def(
          "decoder_options", [](const StreamingOptions& o) { return o.DecoderOptions(); },
          "The RecognizeCommandsOptions these options decode with.")
      .def("__repr__", &StreamingOptions::ToString);

  py::class_<Detection>(m, "Detection", "A command found in a stream, with its verdict.")
      .def_readonly("label", &Detection::label, "the label detected")
      .def_readonly("time_ms", &Detection::time_ms, "start time of the window (ms)")
      .def_readonly("score", &Detection::score, "its averaged score")
      .def_property_readonly(
          "verdict", [](const Detection& x) { return std::string(VerdictName(x.verdict)); },
          "'Correct', 'Wrong' or 'False Positive'")
      .def_readonly("word", &Detection::word,
                    "index of the ground-truth word it matched (in time order), or -1")
      .def("to_dict", &DetectionDict, "The fields as a dict (for JSON).")
      .def("__repr__", [](const Detection& x) {
        return "Detection(label=" + Quoted(x.label) + ", time_ms=" + std::to_string(x.time_ms) +
               ", score=" + std::to_string(x.score) +
               ", verdict=" + Quoted(VerdictName(x.verdict)) + ")";
      });

  py::class_<StreamingAccuracy>(m, "StreamingAccuracy",
                                "The streaming test's counts and figures (one stream or many).")
      .def_readonly("ground_truth_words", &StreamingAccuracy::ground_truth_words)
      .def_readonly("matched", &StreamingAccuracy::matched,
                    "ground-truth words claimed by some detection")
      .def_readonly("correct", &StreamingAccuracy::correct, "detections with the right label")
      .def_readonly("wrong", &StreamingAccuracy::wrong,
                    "detections near a word, with the wrong label")
      .def_readonly("false_positives", &StreamingAccuracy::false_positives,
                    "detections with no ground-truth word within tolerance")
      .def_property_readonly(
          "audio_duration_s", [](const StreamingAccuracy& a) { return a.audio_duration_ms / 1000; },
          "length of the audio scored (s)")
      .def_property_readonly("matched_percent", &StreamingAccuracy::matched_percent)
      .def_property_readonly("correct_percent", &StreamingAccuracy::correct_percent)
      .def_property_readonly("wrong_percent", &StreamingAccuracy::wrong_percent)
      .def_property_readonly("false_positive_percent", &StreamingAccuracy::false_positive_percent)
      .def_property_readonly("false_positives_per_hour",
                             &StreamingAccuracy::false_positives_per_hour)
      .def_property_readonly("miss_rate", &StreamingAccuracy::miss_rate,
                             "1 - correct / ground-truth words")
      .def_property_readonly("summary", &StreamingAccuracy::Summary,
                             "`M% matched, C% correctly, W% wrongly, F% false positives`")
      .def("to_dict", &AccuracyDict, "The counts and figures as a dict (for JSON).")
      .def("__repr__", [](const StreamingAccuracy& a) {
        return "StreamingAccuracy(" + a.Summary() + ", " + std::to_string(a.ground_truth_words) +
               " words)";
      });

  py::class_<PyStreamEvaluation>(m, "StreamEvaluation", "The result of one stream.")
      .def_property_readonly("wav", [](const PyStreamEvaluation& e) { return PathStr(e.wav_path); })
      .def_property_readonly(
          "ground_truth", [](const PyStreamEvaluation& e) { return PathStr(e.ground_truth_path); })
      .def_readonly("detections", &PyStreamEvaluation::detections,
                    "at the main threshold, with verdicts")
      .def_readonly("accuracy", &PyStreamEvaluation::accuracy, "at the main threshold")
      .def_readonly("sweep", &PyStreamEvaluation::sweep, "one StreamingAccuracy per threshold")
      .def_property_readonly(
          "sweep_thresholds",
          [](const PyStreamEvaluation& e) { return ShortestFloats(e.sweep_thresholds); })
      .def_readonly("malformed_lines", &PyStreamEvaluation::malformed_lines,
                    "ground-truth lines skipped")
      .def_readonly("unknown_words", &PyStreamEvaluation::unknown_words,
                    "ground-truth words that are not labels")
      .def_readonly("num_windows", &PyStreamEvaluation::num_windows)
      .def("to_dict", &EvaluationDict, "Everything as a dict (for JSON).")
      .def("__repr__", [](const PyStreamEvaluation& e) {
        return "StreamEvaluation(" + Quoted(e.wav_path) + ": " + e.accuracy.Summary() + ")";
      });

  py::class_<PyStreamingReport>(m, "StreamingReport", "The results of many streams, summed.")
      .def_readonly("files", &PyStreamingReport::files, "one StreamEvaluation per file")
      .def_readonly("total", &PyStreamingReport::total, "summed over the files")
      .def_property_readonly(
          "sweep_thresholds",
          [](const PyStreamingReport& e) { return ShortestFloats(e.sweep_thresholds); })
      .def_readonly("sweep_total", &PyStreamingReport::sweep_total,
                    "summed over the files, one per threshold")
      .def("to_dict", &ReportDict, "Everything as a dict (for JSON).")
      .def("__repr__", [](const PyStreamingReport& r) {
        return "StreamingReport(" + std::to_string(r.files.size()) +
               " files: " + r.total.Summary() + ")";
      });

  py::class_<StreamingEvaluator>(
      m, "StreamingEvaluator",
      "The streaming accuracy test on long WAVs with one shared model.kws (SPEC.md).")
      .def(py::init([](const FsPath& model_path, std::vector<std::string> labels,
                       const py::object& options_or_none, const py::kwargs& overrides) {
             const StreamingOptions options = OptionsWithOverrides<StreamingOptions>(
                 options_or_none, overrides, "StreamingEvaluator");
             options.Validate();
             std::shared_ptr<const Model> model;
             {
               py::gil_scoped_release release;
               model = Model::Load(model_path);
             }
             return std::make_unique<StreamingEvaluator>(model, options, std::move(labels));
           }),
           py::arg("model_path"), py::arg("labels") = std::vector<std::string>{},
           py::arg("options") = py::none(),
           "Loads model.kws; `labels` (same count) rename the model's labels. `options` is a "
           "StreamingOptions (default: its defaults); keywords set single fields of it.")
      .def_property_readonly("labels", &StreamingEvaluator::labels)
      .def_property_readonly("options", &StreamingEvaluator::options, "A copy of the options.")
      .def_property_readonly("hop_samples", &StreamingEvaluator::hop_samples)
      .def_property_readonly("sample_rate",
                             [](const StreamingEvaluator& e) { return e.model().sample_rate(); })
      .def_property_readonly(
          "clip_samples", [](const StreamingEvaluator& e) { return e.model().clip_samples(); },
          "Samples in one window (the model's clip).")
      .def(
          "compute_scores",
          [](const StreamingEvaluator& self,
             py::array_t<float, py::array::c_style | py::array::forcecast> samples, int threads,
             const std::string& method) {
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
          [](const StreamingEvaluator& self, const FsPath& wav, const FsPath& ground_truth,
             std::vector<float> sweep, int threads) {
            StreamEvaluation e;
            {
              py::gil_scoped_release release;
              e = self.Evaluate(wav, ground_truth, sweep, threads);
            }
            return PyStreamEvaluation(std::move(e), std::move(sweep));
          },
          py::arg("wav"), py::arg("ground_truth"), py::arg("sweep") = std::vector<float>{},
          py::arg("threads") = 1,
          "Evaluates one WAV against its ground truth: a StreamEvaluation; `sweep` thresholds "
          "reuse the scores.")
      .def(
          "evaluate_many",
          [](const StreamingEvaluator& self, const std::vector<FsPath>& wav_paths,
             const std::vector<FsPath>& ground_truth_paths, int threads, std::vector<float> sweep) {
            std::vector<std::string> wavs, ground_truths;
            for (const FsPath& p : wav_paths) wavs.push_back(p.value);
            for (const FsPath& p : ground_truth_paths) ground_truths.push_back(p.value);
            StreamingReport r;
            {
              py::gil_scoped_release release;
              r = self.EvaluateMany(wavs, ground_truths, threads, sweep);
            }
            PyStreamingReport out;
            for (StreamEvaluation& e : r.files) out.files.emplace_back(std::move(e), sweep);
            out.total = r.total;
            out.sweep_thresholds = sweep;
            out.sweep_total = std::move(r.sweep_total);
            return out;
          },
          py::arg("wavs"), py::arg("ground_truths"), py::arg("threads") = 0,
          py::arg("sweep") = std::vector<float>{},
          "Evaluates WAV/ground-truth pairs in parallel threads (0: all cores): a "
          "StreamingReport of each file and the sums.");

  m.def(
      "evaluate_window_scores",
      [](py::array_t<int64_t, py::array::c_style | py::array::forcecast> times,
         py::array_t<float, py::array::c_style | py::array::forcecast> scores,
         const std::vector<std::string>& labels, const std::string& ground_truth_text,
         double audio_duration_ms, const py::object& options_or_none, std::vector<float> sweep,
         const py::kwargs& overrides) {
        if (times.ndim() != 1 || scores.ndim() != 2 || scores.shape(0) != times.shape(0))
          throw InvalidArgument("evaluate_window_scores: need times [n] and scores [n, labels]");
        const StreamingOptions options = OptionsWithOverrides<StreamingOptions>(
            options_or_none, overrides, "evaluate_window_scores");
        options.Validate();
        WindowScores w;
        w.num_labels = static_cast<int>(scores.shape(1));
        w.times_ms.assign(times.data(), times.data() + times.shape(0));
        w.scores.assign(scores.data(), scores.data() + scores.size());
        w.audio_duration_ms = audio_duration_ms;
        GroundTruth truth = ParseGroundTruth(ground_truth_text, "<ground truth>");
        return PyStreamEvaluation(EvaluateWindowScores(w, labels, truth, options, sweep), sweep);
      },
      py::arg("times_ms"), py::arg("scores"), py::arg("labels"), py::arg("ground_truth_text"),
      py::arg("audio_duration_ms"), py::arg("options") = py::none(),
      py::arg("sweep") = std::vector<float>{},
      "Decodes and scores precomputed window scores (no model): the evaluator's core, as a "
      "StreamEvaluation.");
}

}  // namespace bindings
}  // namespace kws
