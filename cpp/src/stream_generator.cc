#include "kws/stream_generator.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <sstream>

#include "kws/error.h"
#include "kws/wav_io.h"

namespace kws {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------- SHA-1

namespace {

uint32_t RotateLeft(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

// Processes one 64-byte block into the five-word state (FIPS 180-4, section 6.1.2).
void Sha1Block(const uint8_t* block, uint32_t state[5]) {
  uint32_t w[80];
  for (int t = 0; t < 16; ++t) {
    w[t] = (uint32_t(block[4 * t]) << 24) | (uint32_t(block[4 * t + 1]) << 16) |
           (uint32_t(block[4 * t + 2]) << 8) | uint32_t(block[4 * t + 3]);
  }
  for (int t = 16; t < 80; ++t) w[t] = RotateLeft(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
  for (int t = 0; t < 80; ++t) {
    uint32_t f, k;
    if (t < 20) {
      f = (b & c) | (~b & d);
      k = 0x5A827999u;
    } else if (t < 40) {
      f = b ^ c ^ d;
      k = 0x6ED9EBA1u;
    } else if (t < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8F1BBCDCu;
    } else {
      f = b ^ c ^ d;
      k = 0xCA62C1D6u;
    }
    const uint32_t temp = RotateLeft(a, 5) + f + e + k + w[t];
    e = d;
    d = c;
    c = RotateLeft(b, 30);
    b = a;
    a = temp;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
}

}  // namespace

std::string Sha1Hex(const std::string& data) {
  uint32_t state[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  // Message + 0x80 + zero padding + 64-bit big-endian bit length, to a multiple of 64.
  std::vector<uint8_t> message(data.begin(), data.end());
  const uint64_t bit_length = static_cast<uint64_t>(data.size()) * 8;
  message.push_back(0x80);
  while (message.size() % 64 != 56) message.push_back(0);
  for (int i = 7; i >= 0; --i) message.push_back(static_cast<uint8_t>(bit_length >> (8 * i)));
  for (size_t offset = 0; offset < message.size(); offset += 64)
    Sha1Block(message.data() + offset, state);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(40);
  for (uint32_t word : state)
    for (int shift = 28; shift >= 0; shift -= 4) hex.push_back(kHex[(word >> shift) & 0xF]);
  return hex;
}

std::string WhichSet(const std::string& filename, double validation_percentage,
                     double testing_percentage) {
  std::string base = fs::path(filename).filename().string();
  const size_t nohash = base.find("_nohash_");
  if (nohash != std::string::npos) base.resize(nohash);
  const std::string hex = Sha1Hex(base);
  // int(hex, 16) % 2^27: the low 27 bits of the digest, i.e. of its last 8 hex digits.
  const uint32_t low = static_cast<uint32_t>(std::stoul(hex.substr(32), nullptr, 16));
  const uint32_t max_wavs = (1u << 27) - 1;
  const double percentage = static_cast<double>(low & max_wavs) * (100.0 / max_wavs);
  if (percentage < validation_percentage) return "validation";
  if (percentage < testing_percentage + validation_percentage) return "testing";
  return "training";
}

// ----------------------------------------------------------------------- generator

namespace {

// Uniform draws with a mapping of our own, so streams are identical across standard
// libraries (std distributions are implementation-defined).
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  // Uniform integer in [0, n), n > 0, without modulo bias.
  uint64_t Below(uint64_t n) {
    const uint64_t limit =
        std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
    uint64_t x;
    do {
      x = engine_();
    } while (x >= limit);
    return x % n;
  }
  // Uniform double in [0, 1) with 53 random bits.
  double Unit() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }
  double Uniform(double low, double high) { return low + (high - low) * Unit(); }

 private:
  std::mt19937_64 engine_;
};

bool IsWavFile(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".wav";
}

// A folder entry that cannot be examined (a symlink loop, a dangling link, no
// permission) is an error naming it, not an escaping filesystem exception.
[[noreturn]] void CannotExamine(const fs::path& p, const std::error_code& ec) {
  throw InvalidArgument("stream generator: cannot examine '" + p.string() + "': " + ec.message());
}

std::vector<std::string> SortedWavFiles(const fs::path& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) CannotExamine(dir, ec);
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) CannotExamine(dir, ec);
    if (!IsWavFile(it->path())) continue;
    const bool regular = it->is_regular_file(ec);
    if (ec) CannotExamine(it->path(), ec);
    if (!regular)
      throw InvalidArgument("stream generator: '" + it->path().string() +
                            "' is not a regular file");
    files.push_back(it->path().string());
  }
  if (ec) CannotExamine(dir, ec);
  std::sort(files.begin(), files.end());
  return files;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Adds `volume * envelope(i) * source[i]` to the track sample offset + i, for
// i < min(duration, source length, room in the track of `total` samples); the envelope
// ramps up over `ramp_in` samples and down over the last `ramp_out` of `duration`. Only
// the part inside the block [block_start, block_start + block_size) is written.
void MixIn(float* block, int64_t block_start, int64_t block_size, int64_t total, int64_t offset,
           const float* source, size_t source_size, int64_t duration, double volume,
           int64_t ramp_in, int64_t ramp_out) {
  const int64_t room = total - offset;
  const int64_t count = std::min<int64_t>({duration, static_cast<int64_t>(source_size), room});
  const int64_t ramp_out_start = duration - ramp_out;
  const int64_t first = std::max<int64_t>(0, block_start - offset);
  const int64_t last = std::min<int64_t>(count, block_start + block_size - offset);
  for (int64_t i = first; i < last; ++i) {
    double envelope = 1.0;
    if (i < ramp_in)
      envelope = static_cast<double>(i) / ramp_in;
    else if (i > ramp_out_start)
      envelope = static_cast<double>(duration - i) / ramp_out;
    block[offset + i - block_start] += static_cast<float>(source[i] * envelope * volume);
  }
}

// What GenerateStream draws before any audio is made.
struct NoiseSegment {
  size_t noise = 0;
  int64_t noise_offset = 0;
  double volume = 0;
};

struct Plan {
  int64_t total = 0;
  int64_t clip_samples = 0;
  int64_t segment = 0;
  int64_t ramp = 0;
  std::vector<WavData> noises;
  std::vector<NoiseSegment> segments;  // segment i starts at i * clip_samples
};

// Clips read while rendering: a word's clip is kept while blocks overlap it.
class ClipCache {
 public:
  ClipCache(int sample_rate) : sample_rate_(sample_rate) {}
  const WavData& Get(const std::string& file) {
    auto it = clips_.find(file);
    if (it != clips_.end()) return it->second;
    if (clips_.size() >= 64) clips_.clear();
    WavData clip = ReadWav(file, /*mono=*/true);
    if (clip.sample_rate != sample_rate_)
      throw WavError("stream generator: clip '" + file + "' has sample rate " +
                     std::to_string(clip.sample_rate) + ", expected " +
                     std::to_string(sample_rate_));
    return clips_.emplace(file, std::move(clip)).first->second;
  }

 private:
  int sample_rate_;
  std::map<std::string, WavData> clips_;
};

// A clip must open as a WAV at the stream's rate and hold samples (its data is checked
// when it is mixed in).
void CheckClip(const std::string& file, int sample_rate) {
  WavReader reader(file);
  if (reader.sample_rate() != sample_rate)
    throw WavError("stream generator: clip '" + file + "' has sample rate " +
                   std::to_string(reader.sample_rate()) + ", expected " +
                   std::to_string(sample_rate));
  if (reader.frames() == 0) throw WavError("stream generator: clip '" + file + "' has no samples");
}

// Samples rendered at a time (4 MiB of floats).
constexpr int64_t kRenderBlock = int64_t{1} << 20;

}  // namespace

void StreamGeneratorOptions::Validate() const {
  auto bad = [](const std::string& what) { throw InvalidArgument("stream generator: " + what); };
  if (data_dir.empty()) bad("data_dir is empty");
  if (wanted_words.empty()) bad("wanted_words is empty");
  if (sample_rate <= 0) bad("sample_rate must be > 0");
  if (!(duration_seconds > 0) || duration_seconds > 24 * 3600.0)
    bad("duration_seconds must be in (0, 86400]");
  if (clip_duration_ms <= 0) bad("clip_duration_ms must be > 0");
  if (word_gap_ms <= 0) bad("word_gap_ms must be > 0");
  if (!(unknown_percentage >= 0 && unknown_percentage <= 100))
    bad("unknown_percentage must be in [0, 100]");
  if (!(word_volume >= 0)) bad("word_volume must be >= 0");
  if (word_ramp_samples < 1) bad("word_ramp_samples must be >= 1");
  if (!(background_volume >= 0)) bad("background_volume must be >= 0");
  if (background_crossover_ms < 2) bad("background_crossover_ms must be >= 2");
  if (!(validation_percentage >= 0 && testing_percentage > 0 &&
        validation_percentage + testing_percentage <= 100))
    bad("validation_percentage + testing_percentage must be in (0, 100], testing > 0");
}

std::string StreamGeneratorOptions::ToString() const {
  std::ostringstream os;
  os << "StreamGeneratorOptions(data_dir=" << data_dir << ", background_dir=" << background_dir
     << ", wanted_words=";
  for (size_t i = 0; i < wanted_words.size(); ++i) os << (i ? "," : "") << wanted_words[i];
  os << ", sample_rate=" << sample_rate << ", duration_seconds=" << duration_seconds
     << ", clip_duration_ms=" << clip_duration_ms << ", word_gap_ms=" << word_gap_ms
     << ", unknown_percentage=" << unknown_percentage << ", word_volume=" << word_volume
     << ", word_ramp_samples=" << word_ramp_samples << ", background_volume=" << background_volume
     << ", background_crossover_ms=" << background_crossover_ms
     << ", validation_percentage=" << validation_percentage
     << ", testing_percentage=" << testing_percentage << ", seed=" << seed << ")";
  return os.str();
}

namespace {

// Indexes the dataset and draws every random choice (noise segments, then words, as the
// classic generator does), reading only the noise files and the clip headers. Each clip
// of the testing partition is checked while indexing: readable, mono-able, at the rate,
// not empty.
Plan MakePlan(const StreamGeneratorOptions& opts, GeneratedStream* out_stream) {
  opts.Validate();
  GeneratedStream& out = *out_stream;
  const fs::path data_dir(opts.data_dir);
  if (!fs::is_directory(data_dir))
    throw InvalidArgument("stream generator: dataset folder '" + opts.data_dir +
                          "' does not exist");

  // Index the testing partition: wanted words by label, every other word as unknown.
  std::map<std::string, size_t> wanted_index;
  for (const std::string& w : opts.wanted_words)
    wanted_index.emplace(Lower(w), wanted_index.size());
  std::vector<std::vector<std::string>> wanted_clips(wanted_index.size());
  std::vector<std::string> unknown_clips;
  std::vector<fs::path> word_dirs;
  std::error_code ec;
  fs::directory_iterator entries(data_dir, ec);
  if (ec) CannotExamine(data_dir, ec);
  for (; entries != fs::directory_iterator(); entries.increment(ec)) {
    if (ec) CannotExamine(data_dir, ec);
    // Noise recordings and recorded silence are not words; every other folder is (the
    // official test set keeps its unknown words in `_unknown_/`).
    const std::string name = entries->path().filename().string();
    if (name == "_background_noise_" || name == "_silence_") continue;
    const bool is_dir = entries->is_directory(ec);
    if (ec) CannotExamine(entries->path(), ec);
    if (is_dir) word_dirs.push_back(entries->path());
  }
  if (ec) CannotExamine(data_dir, ec);
  std::sort(word_dirs.begin(), word_dirs.end());
  for (const fs::path& dir : word_dirs) {
    const std::string word = Lower(dir.filename().string());
    auto it = wanted_index.find(word);
    for (const std::string& file : SortedWavFiles(dir)) {
      if (WhichSet(file, opts.validation_percentage, opts.testing_percentage) != "testing")
        continue;
      ++out.testing_clips;
      CheckClip(file, opts.sample_rate);
      if (it != wanted_index.end())
        wanted_clips[it->second].push_back(file);
      else
        unknown_clips.push_back(file);
    }
  }
  // At unknown_percentage 100 no wanted word is drawn, so a folder of other words alone
  // (speech that must not trigger) makes a stream.
  std::vector<std::string> wanted_labels(wanted_index.size());
  for (const auto& [word, index] : wanted_index) {
    wanted_labels[index] = word;
    if (wanted_clips[index].empty() && opts.unknown_percentage < 100)
      throw InvalidArgument("stream generator: no clips of wanted word '" + word +
                            "' in the testing partition of '" + opts.data_dir + "'");
  }
  if (opts.unknown_percentage > 0 && unknown_clips.empty())
    throw InvalidArgument(
        "stream generator: no unknown-word clips (folders other than the "
        "wanted words) in the testing partition of '" +
        opts.data_dir + "'; use unknown_percentage 0");

  Plan plan;
  plan.total = static_cast<int64_t>(std::llround(opts.duration_seconds * opts.sample_rate));
  plan.clip_samples = int64_t{opts.clip_duration_ms} * opts.sample_rate / 1000;
  out.sample_rate = opts.sample_rate;
  out.num_samples = plan.total;
  Random random(opts.seed);

  // Background: segments of clip + crossover every clip, ramps of half the crossover.
  if (opts.background_volume > 0) {
    const std::string noise_dir = opts.background_dir.empty()
                                      ? (data_dir / "_background_noise_").string()
                                      : opts.background_dir;
    if (!fs::is_directory(noise_dir))
      throw InvalidArgument("stream generator: background noise folder '" + noise_dir +
                            "' does not exist (use background_volume 0 for none)");
    std::vector<std::string> noise_files = SortedWavFiles(noise_dir);
    if (noise_files.empty())
      throw InvalidArgument("stream generator: no WAV files in background noise folder '" +
                            noise_dir + "'");
    for (const std::string& file : noise_files) {
      plan.noises.push_back(ReadWav(file, /*mono=*/true));
      if (plan.noises.back().sample_rate != opts.sample_rate)
        throw WavError("stream generator: noise file '" + file + "' has sample rate " +
                       std::to_string(plan.noises.back().sample_rate) + ", expected " +
                       std::to_string(opts.sample_rate));
      if (static_cast<int64_t>(plan.noises.back().samples.size()) <= plan.clip_samples)
        throw InvalidArgument("stream generator: noise file '" + file +
                              "' is not longer than one clip");
    }
    plan.segment =
        int64_t{opts.clip_duration_ms + opts.background_crossover_ms} * opts.sample_rate / 1000;
    plan.ramp = int64_t{opts.background_crossover_ms} * opts.sample_rate / 2000;
    const int64_t how_many = (plan.total + plan.clip_samples - 1) / plan.clip_samples;
    plan.segments.reserve(static_cast<size_t>(how_many));
    for (int64_t i = 0; i < how_many; ++i) {
      NoiseSegment seg;
      seg.noise = static_cast<size_t>(random.Below(plan.noises.size()));
      const WavData& noise = plan.noises[seg.noise];
      seg.noise_offset =
          static_cast<int64_t>(random.Below(noise.samples.size() - plan.clip_samples));
      seg.volume = random.Uniform(0.0, opts.background_volume);
      plan.segments.push_back(seg);
    }
  }

  // Words: one every clip + gap, at a random offset inside the gap.
  const int64_t gap_samples = int64_t{opts.word_gap_ms} * opts.sample_rate / 1000;
  const int64_t word_stride = plan.clip_samples + gap_samples;
  const int64_t how_many_words = plan.total / word_stride;
  for (int64_t i = 0; i < how_many_words; ++i) {
    const int64_t offset = i * word_stride + static_cast<int64_t>(random.Below(gap_samples));
    const bool is_unknown = random.Unit() * 100.0 < opts.unknown_percentage;
    std::string label;
    const std::vector<std::string>* pool;
    if (is_unknown) {
      label = "_unknown_";
      pool = &unknown_clips;
    } else {
      const size_t w = random.Below(wanted_labels.size());
      label = wanted_labels[w];
      pool = &wanted_clips[w];
    }
    const std::string& file = (*pool)[random.Below(pool->size())];
    out.truth.push_back({label, offset * 1000 / opts.sample_rate});
    out.word_offsets.push_back(offset);
    out.word_files.push_back(file);
  }
  return plan;
}

// Renders samples [start, start + size) of the stream into `block` (zeroed first). The
// additions happen in the order of the whole-track generator (noise segments, then
// words, each in order), so every sample is the same bit for bit.
void RenderBlock(const StreamGeneratorOptions& opts, const Plan& plan,
                 const GeneratedStream& stream, ClipCache* clips, int64_t start, int64_t size,
                 float* block) {
  std::fill(block, block + size, 0.0f);
  const int64_t end = start + size;
  if (!plan.segments.empty()) {
    // Segment i covers [i * clip, i * clip + segment).
    const int64_t first = std::max<int64_t>(0, (start - plan.segment) / plan.clip_samples);
    for (int64_t i = first; i < static_cast<int64_t>(plan.segments.size()); ++i) {
      const int64_t offset = i * plan.clip_samples;
      if (offset >= end) break;
      if (offset + plan.segment <= start) continue;
      const NoiseSegment& seg = plan.segments[static_cast<size_t>(i)];
      const WavData& noise = plan.noises[seg.noise];
      MixIn(block, start, size, plan.total, offset, noise.samples.data() + seg.noise_offset,
            noise.samples.size() - seg.noise_offset, plan.segment, seg.volume, plan.ramp,
            plan.ramp);
    }
  }
  const std::vector<int64_t>& offsets = stream.word_offsets;
  auto it = std::lower_bound(offsets.begin(), offsets.end(), start - plan.clip_samples);
  for (size_t i = static_cast<size_t>(it - offsets.begin()); i < offsets.size(); ++i) {
    const int64_t offset = offsets[i];
    if (offset >= end) break;
    if (offset + plan.clip_samples <= start) continue;
    const WavData& clip = clips->Get(stream.word_files[i]);
    MixIn(block, start, size, plan.total, offset, clip.samples.data(), clip.samples.size(),
          plan.clip_samples, opts.word_volume, opts.word_ramp_samples, opts.word_ramp_samples);
  }
}

}  // namespace

GeneratedStream GenerateStream(const StreamGeneratorOptions& opts) {
  GeneratedStream out;
  const Plan plan = MakePlan(opts, &out);
  out.samples.resize(static_cast<size_t>(plan.total));
  ClipCache clips(opts.sample_rate);
  for (int64_t start = 0; start < plan.total; start += kRenderBlock)
    RenderBlock(opts, plan, out, &clips, start, std::min(kRenderBlock, plan.total - start),
                out.samples.data() + start);
  return out;
}

GeneratedStream GenerateStreamToFiles(const StreamGeneratorOptions& opts,
                                      const std::string& wav_path,
                                      const std::string& ground_truth_path) {
  GeneratedStream out;
  const Plan plan = MakePlan(opts, &out);
  WavWriter writer(wav_path, opts.sample_rate, static_cast<uint64_t>(plan.total));
  ClipCache clips(opts.sample_rate);
  std::vector<float> block(static_cast<size_t>(std::min(kRenderBlock, plan.total)));
  for (int64_t start = 0; start < plan.total; start += kRenderBlock) {
    const int64_t size = std::min(kRenderBlock, plan.total - start);
    RenderBlock(opts, plan, out, &clips, start, size, block.data());
    writer.Write(block.data(), static_cast<size_t>(size));
  }
  writer.Commit();
  WriteGroundTruth(ground_truth_path, out.truth);
  return out;
}

void WriteGeneratedStream(const GeneratedStream& stream, const std::string& wav_path,
                          const std::string& ground_truth_path) {
  WriteWav(wav_path, stream.samples.data(), stream.samples.size(), stream.sample_rate,
           WavSampleFormat::kPcm16);
  WriteGroundTruth(ground_truth_path, stream.truth);
}

}  // namespace kws
