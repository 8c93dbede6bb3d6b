#include "kws/ground_truth.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "kws/error.h"
#include "regular_file.h"

namespace kws {

namespace {

std::string Trim(const std::string& s) {
  const char* ws = " \t\r\n\f\v";
  const size_t begin = s.find_first_not_of(ws);
  if (begin == std::string::npos) return "";
  const size_t end = s.find_last_not_of(ws);
  return s.substr(begin, end - begin + 1);
}

// Parses a whole trimmed string as a finite double.
bool ParseNumber(const std::string& s, double* value) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v)) return false;
  *value = v;
  return true;
}

double Percent(int64_t part, int64_t whole) {
  return whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

}  // namespace

GroundTruth ParseGroundTruth(const std::string& text, const std::string& name) {
  GroundTruth truth;
  truth.source = name;
  std::istringstream in(text);
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (Trim(line).empty()) continue;
    const size_t comma = line.find(',');
    double time = 0;
    bool ok = comma != std::string::npos && line.find(',', comma + 1) == std::string::npos;
    std::string word;
    if (ok) {
      word = Trim(line.substr(0, comma));
      ok = !word.empty() && ParseNumber(Trim(line.substr(comma + 1)), &time) &&
           std::fabs(time) < 9.0e15;
    }
    if (!ok) {
      ++truth.malformed_lines;
      if (truth.malformed_line_numbers.size() < 20)
        truth.malformed_line_numbers.push_back(line_number);
      continue;
    }
    truth.entries.push_back({word, static_cast<int64_t>(time)});  // truncates, as classic
  }
  if (truth.entries.empty() && truth.malformed_lines > 0)
    throw InputError(
        name + ": no valid `word, time_ms` line (" + std::to_string(truth.malformed_lines) +
        " malformed line" + (truth.malformed_lines == 1 ? "" : "s") + ", the first is line " +
        std::to_string(truth.malformed_line_numbers.front()) + "): not a ground-truth file?");
  std::stable_sort(
      truth.entries.begin(), truth.entries.end(),
      [](const GroundTruthEntry& a, const GroundTruthEntry& b) { return a.time_ms < b.time_ms; });
  return truth;
}

GroundTruth ReadGroundTruth(const std::string& path) {
  const std::vector<uint8_t> bytes =
      ReadRegularFile(path, "ground-truth file", kMaxGroundTruthFileBytes);
  return ParseGroundTruth(std::string(bytes.begin(), bytes.end()), path);
}

void WriteGroundTruth(const std::string& path, const std::vector<GroundTruthEntry>& entries) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw IoError("cannot write ground-truth file '" + path + "'");
  char buffer[64];
  for (const GroundTruthEntry& e : entries) {
    std::snprintf(buffer, sizeof(buffer), "%.3f", static_cast<double>(e.time_ms));
    file << e.label << ", " << buffer << "\n";
  }
  file.close();
  if (!file) throw IoError("cannot write ground-truth file '" + path + "'");
}

std::vector<std::string> UnknownGroundTruthWords(const GroundTruth& truth,
                                                 const std::vector<std::string>& labels) {
  const std::set<std::string> known(labels.begin(), labels.end());
  std::set<std::string> unknown;
  for (const GroundTruthEntry& e : truth.entries)
    if (known.count(e.label) == 0) unknown.insert(e.label);
  return std::vector<std::string>(unknown.begin(), unknown.end());
}

const char* VerdictName(DetectionVerdict verdict) {
  switch (verdict) {
    case DetectionVerdict::kCorrect:
      return "Correct";
    case DetectionVerdict::kWrong:
      return "Wrong";
    case DetectionVerdict::kFalsePositive:
      return "False Positive";
  }
  return "?";
}

double StreamingAccuracy::matched_percent() const { return Percent(matched, ground_truth_words); }
double StreamingAccuracy::correct_percent() const { return Percent(correct, ground_truth_words); }
double StreamingAccuracy::wrong_percent() const { return Percent(wrong, ground_truth_words); }
double StreamingAccuracy::false_positive_percent() const {
  return Percent(false_positives, ground_truth_words);
}

double StreamingAccuracy::false_positives_per_hour() const {
  return audio_duration_ms > 0 ? false_positives * 3600000.0 / audio_duration_ms : 0.0;
}

double StreamingAccuracy::miss_rate() const {
  return ground_truth_words > 0
             ? 1.0 - static_cast<double>(correct) / static_cast<double>(ground_truth_words)
             : 0.0;
}

std::string StreamingAccuracy::Summary() const {
  char buffer[160];
  if (ground_truth_words == 0) {
    std::snprintf(buffer, sizeof(buffer), "No ground truth, %lld false positives",
                  static_cast<long long>(false_positives));
  } else {
    std::snprintf(buffer, sizeof(buffer),
                  "%.1f%% matched, %.1f%% correctly, %.1f%% wrongly, %.1f%% false positives",
                  matched_percent(), correct_percent(), wrong_percent(), false_positive_percent());
  }
  return buffer;
}

StreamingAccuracy& StreamingAccuracy::operator+=(const StreamingAccuracy& other) {
  ground_truth_words += other.ground_truth_words;
  matched += other.matched;
  correct += other.correct;
  wrong += other.wrong;
  false_positives += other.false_positives;
  audio_duration_ms += other.audio_duration_ms;
  return *this;
}

StreamingAccuracy ScoreDetections(const std::vector<GroundTruthEntry>& truth,
                                  std::vector<Detection>* detections, int64_t tolerance_ms,
                                  double audio_duration_ms) {
  if (tolerance_ms < 0)
    throw InvalidArgument("ScoreDetections: time tolerance must be >= 0 ms, got " +
                          std::to_string(tolerance_ms));
  for (size_t i = 1; i < truth.size(); ++i)
    if (truth[i].time_ms < truth[i - 1].time_ms)
      throw InvalidArgument("ScoreDetections: ground truth must be sorted by time");
  StreamingAccuracy stats;
  stats.ground_truth_words = static_cast<int64_t>(truth.size());
  stats.audio_duration_ms = audio_duration_ms;
  std::vector<char> matched(truth.size(), 0);
  int64_t previous_time = 0;
  for (size_t d = 0; d < detections->size(); ++d) {
    Detection& det = (*detections)[d];
    if (d > 0 && det.time_ms < previous_time)
      throw InvalidArgument("ScoreDetections: detections must be in time order (" +
                            std::to_string(det.time_ms) + " ms after " +
                            std::to_string(previous_time) + " ms)");
    previous_time = det.time_ms;
    const int64_t earliest = det.time_ms - tolerance_ms;
    const int64_t latest = det.time_ms + tolerance_ms;
    auto first =
        std::lower_bound(truth.begin(), truth.end(), earliest,
                         [](const GroundTruthEntry& e, int64_t t) { return e.time_ms < t; });
    size_t begin = static_cast<size_t>(first - truth.begin());
    size_t end = begin;
    while (end < truth.size() && truth[end].time_ms <= latest) ++end;
    det.word = -1;
    if (begin == end) {
      det.verdict = DetectionVerdict::kFalsePositive;
      ++stats.false_positives;
      continue;
    }
    size_t claimed = end;
    for (size_t i = begin; i < end; ++i) {
      if (!matched[i] && truth[i].label == det.label) {
        claimed = i;
        break;
      }
    }
    if (claimed != end) {
      det.verdict = DetectionVerdict::kCorrect;
      ++stats.correct;
    } else {
      det.verdict = DetectionVerdict::kWrong;
      ++stats.wrong;
      for (size_t i = begin; i < end; ++i) {
        if (!matched[i]) {
          claimed = i;
          break;
        }
      }
    }
    if (claimed != end) {
      matched[claimed] = 1;
      det.word = static_cast<int64_t>(claimed);
      ++stats.matched;
    }
  }
  return stats;
}

}  // namespace kws
