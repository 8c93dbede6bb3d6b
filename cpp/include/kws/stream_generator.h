// The classic synthetic streaming test: a long WAV of words from the testing partition of
// a dataset over background noise, with its ground truth (SPEC.md, "Synthetic streaming
// test generator"). Also the hash split that picks the testing partition.
#ifndef KWS_STREAM_GENERATOR_H_
#define KWS_STREAM_GENERATOR_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kws/ground_truth.h"

namespace kws {

// SHA-1 of `data`, as 40 lower-case hex digits.
std::string Sha1Hex(const std::string& data);

// Partition of a clip by its file name, as SPEC.md says (base name up to `_nohash_`,
// SHA-1, modulo 2^27): "training", "validation" or "testing".
std::string WhichSet(const std::string& filename, double validation_percentage,
                     double testing_percentage);

// Generator options; defaults are the classic generate_streaming_test_wav ones.
struct StreamGeneratorOptions {
  std::string data_dir;        // dataset folder: one sub-folder of WAV clips per word
  std::string background_dir;  // noise WAVs; empty: <data_dir>/_background_noise_
  std::vector<std::string> wanted_words = {"yes",   "no", "up",  "down", "left",
                                           "right", "on", "off", "stop", "go"};
  int sample_rate = 16000;
  double duration_seconds = 600;
  int clip_duration_ms = 1000;
  int word_gap_ms = 2000;          // a word every clip + gap, at a random offset in the gap
  double unknown_percentage = 30;  // share of words drawn from non-wanted folders
  double word_volume = 1.0;
  int word_ramp_samples = 500;        // linear ramp in and out of each word
  double background_volume = 0.1;     // each noise segment: volume uniform(0, this)
  int background_crossover_ms = 500;  // segments of clip + this, ramps of half of it
  double validation_percentage = 10;
  double testing_percentage = 10;
  uint64_t seed = 0;

  // Throws InvalidArgument naming the first bad field.
  void Validate() const;
  std::string ToString() const;
};

// A generated stream: mono samples and the ground truth of the words mixed in.
struct GeneratedStream {
  std::vector<float> samples;  // empty from GenerateStreamToFiles
  int64_t num_samples = 0;
  int sample_rate = 0;
  std::vector<GroundTruthEntry> truth;  // label (`_unknown_` for unknowns), clip start ms
  std::vector<int64_t> word_offsets;    // start sample of each word (same order as truth)
  std::vector<std::string> word_files;  // clip file used for each word
  size_t testing_clips = 0;             // clips available in the testing partition
};

// Generates the stream. Reproducible: the same options (seed included) and dataset give
// the same samples on every platform (std::mt19937_64 with kws's own uniform mapping).
// Throws InvalidArgument (no testing clips for a wanted word, no unknown clips, no noise
// files, a noise file shorter than one clip, a folder entry that cannot be examined such
// as a symlink loop), WavError/IoError for unreadable files. Every clip of the testing
// partition is checked before any audio is made: a WAV at the stream's rate with at least
// one sample.
GeneratedStream GenerateStream(const StreamGeneratorOptions& opts);

// Generates the stream straight into a WAV file (16-bit PCM) and its ground truth, in
// blocks of 2^20 samples: memory does not grow with the duration (24 h is about 2.8 GB
// of WAV but a few MB of memory). The samples are exactly GenerateStream's; the result
// has no samples (num_samples says how many were written). The WAV is written under a
// temporary name and renamed when complete.
GeneratedStream GenerateStreamToFiles(const StreamGeneratorOptions& opts,
                                      const std::string& wav_path,
                                      const std::string& ground_truth_path);

// Writes the WAV (16-bit PCM) and the ground-truth file (`word, time_ms` lines).
void WriteGeneratedStream(const GeneratedStream& stream, const std::string& wav_path,
                          const std::string& ground_truth_path);

}  // namespace kws

#endif  // KWS_STREAM_GENERATOR_H_
