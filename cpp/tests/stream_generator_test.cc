// SHA-1, the hash split, and the synthetic stream generator on the real sample.
#include "kws/stream_generator.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "kws/error.h"
#include "kws/wav_io.h"
#include "test_support.h"

namespace {

TEST(StreamGenerator, Sha1KnownAnswers) {
  // FIPS 180 examples, plus inputs that straddle the 55/56/64-byte padding boundaries.
  ASSERT_EQ(kws::Sha1Hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  ASSERT_EQ(kws::Sha1Hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  ASSERT_TRUE(kws::Sha1Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
              "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  ASSERT_TRUE(kws::Sha1Hex(std::string(1000000, 'a')) ==
              "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  ASSERT_TRUE(kws::Sha1Hex("The quick brown fox jumps over the lazy dog") ==
              "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
}

TEST(StreamGenerator, WhichSetUsesTheNameBeforeNohash) {
  // Same speaker, different words and repetitions: same partition.
  const std::string a = kws::WhichSet("/x/yes/0a7c2a8d_nohash_0.wav", 10, 10);
  ASSERT_EQ(a, kws::WhichSet("/y/no/0a7c2a8d_nohash_3.wav", 10, 10));
  ASSERT_TRUE(a == "training" || a == "validation" || a == "testing");
  // 0% validation and 100% testing: everything is testing.
  ASSERT_EQ(kws::WhichSet("whatever.wav", 0, 100), "testing");
}

kws::StreamGeneratorOptions SampleOptions() {
  kws::StreamGeneratorOptions o;
  o.data_dir = kws_test::SampleDir();
  o.duration_seconds = 60;
  o.seed = 7;
  return o;
}

TEST(StreamGenerator, GeneratesWordsFromTheTestingPartitionAtTheirTimes) {
  kws::StreamGeneratorOptions o = SampleOptions();
  kws::GeneratedStream s = kws::GenerateStream(o);
  ASSERT_EQ(s.sample_rate, 16000);
  ASSERT_EQ(s.samples.size(), 60u * 16000u);
  ASSERT_EQ(s.truth.size(), 20);   // floor(60 s / 3 s)
  ASSERT_GE(s.testing_clips, 20);  // the fixture set's word clips are all testing clips
  std::set<std::string> labels;
  for (size_t i = 0; i < s.truth.size(); ++i) {
    const int64_t t = s.truth[i].time_ms;
    ASSERT_TRUE(t >= int64_t(i) * 3000 && t < int64_t(i) * 3000 + 2000);
    ASSERT_EQ(s.word_offsets[i] * 1000 / 16000, t);
    ASSERT_EQ(kws::WhichSet(s.word_files[i], 10, 10), "testing");
    const std::string folder =
        std::filesystem::path(s.word_files[i]).parent_path().filename().string();
    if (s.truth[i].label == "_unknown_")
      ASSERT_TRUE(o.wanted_words.end() ==
                  std::find(o.wanted_words.begin(), o.wanted_words.end(), folder));
    else
      ASSERT_EQ(folder, s.truth[i].label);
    labels.insert(s.truth[i].label);
  }
  ASSERT_GE(labels.size(), 5);
  for (float v : s.samples) ASSERT_TRUE(std::isfinite(v));
}

double Rms(const std::vector<float>& x, int64_t begin, int64_t end) {
  double sum = 0;
  for (int64_t i = begin; i < end; ++i) sum += double(x[i]) * x[i];
  return std::sqrt(sum / double(end - begin));
}

TEST(StreamGenerator, WithoutNoiseTheAudioIsExactlyTheWords) {
  kws::StreamGeneratorOptions o = SampleOptions();
  o.background_volume = 0;
  kws::GeneratedStream s = kws::GenerateStream(o);
  std::vector<char> inside(s.samples.size(), 0);
  for (size_t i = 0; i < s.truth.size(); ++i) {
    const int64_t begin = s.word_offsets[i];
    for (int64_t k = begin; k < begin + 16000; ++k) inside[k] = 1;
    ASSERT_GT(Rms(s.samples, begin, begin + 16000), 0.003);  // a real word is there
  }
  for (size_t k = 0; k < s.samples.size(); ++k)
    if (!inside[k]) ASSERT_EQ(s.samples[k], 0.0f);
}

TEST(StreamGenerator, NoiseStaysBelowTheWords) {
  kws::GeneratedStream s = kws::GenerateStream(SampleOptions());
  double words = 0, gaps = 0;
  for (size_t i = 0; i < s.truth.size(); ++i) {
    const int64_t begin = s.word_offsets[i];
    words += Rms(s.samples, begin + 2000, begin + 14000);
  }
  // The 1 s right before each word's clip (after the previous clip ends) holds noise only.
  int counted = 0;
  for (size_t i = 1; i < s.truth.size(); ++i) {
    const int64_t end = s.word_offsets[i];
    const int64_t begin = std::max<int64_t>(s.word_offsets[i - 1] + 16000, end - 16000);
    if (end - begin < 1600) continue;
    gaps += Rms(s.samples, begin, end);
    ++counted;
  }
  ASSERT_GT(counted, 5);
  ASSERT_GT(gaps / counted, 0.0);  // there is noise
  ASSERT_GT(words / s.truth.size(), 1.5 * gaps / counted);
}

TEST(StreamGenerator, SeedMakesItReproducible) {
  kws::StreamGeneratorOptions o = SampleOptions();
  o.duration_seconds = 20;
  kws::GeneratedStream a = kws::GenerateStream(o);
  kws::GeneratedStream b = kws::GenerateStream(o);
  ASSERT_TRUE(a.samples == b.samples && a.word_files == b.word_files);
  o.seed = 8;
  kws::GeneratedStream c = kws::GenerateStream(o);
  ASSERT_NE(c.samples, a.samples);
}

TEST(StreamGenerator, WritesWavAndGroundTruth) {
  kws::StreamGeneratorOptions o = SampleOptions();
  o.duration_seconds = 10;
  kws::GeneratedStream s = kws::GenerateStream(o);
  kws::WriteGeneratedStream(s, "stream_generator_test.wav", "stream_generator_test.txt");
  kws::WavData wav = kws::ReadWav("stream_generator_test.wav");
  kws::GroundTruth gt = kws::ReadGroundTruth("stream_generator_test.txt");
  std::remove("stream_generator_test.wav");
  std::remove("stream_generator_test.txt");
  ASSERT_TRUE(wav.sample_rate == 16000 && wav.samples.size() == s.samples.size());
  ASSERT_TRUE(gt.malformed_lines == 0 && gt.entries.size() == s.truth.size());
  for (size_t i = 0; i < gt.entries.size(); ++i) {
    ASSERT_EQ(gt.entries[i].label, s.truth[i].label);
    ASSERT_EQ(gt.entries[i].time_ms, s.truth[i].time_ms);
  }
}

TEST(StreamGenerator, ErrorsNameTheProblem) {
  kws::StreamGeneratorOptions o = SampleOptions();
  o.wanted_words = {"yes", "notaword"};
  KWS_EXPECT_THROW_MSG(kws::GenerateStream(o), kws::InvalidArgument, "'notaword'");
  o = SampleOptions();
  o.data_dir = "/no/such/dataset";
  KWS_EXPECT_THROW_MSG(kws::GenerateStream(o), kws::InvalidArgument, "/no/such/dataset");
  o = SampleOptions();
  o.background_dir = kws_test::SampleDir() + "/bed";  // a clip is shorter than... a clip
  KWS_EXPECT_THROW_MSG(kws::GenerateStream(o), kws::InvalidArgument, "not longer than one clip");
  o = SampleOptions();
  o.unknown_percentage = 101;
  KWS_EXPECT_THROW_MSG(kws::GenerateStream(o), kws::InvalidArgument, "unknown_percentage");
}

TEST(StreamGenerator, BlockRenderingKeepsTheSamplesBitForBit) {
  // 200 s (four render blocks) with noise and unknown words; the SHA-1 of the float
  // samples was taken from the whole-track generator this replaced.
  kws::StreamGeneratorOptions o;
  o.data_dir = kws_test::SampleDir();
  o.duration_seconds = 200;
  o.seed = 5;
  const kws::GeneratedStream s = kws::GenerateStream(o);
  const std::vector<uint8_t> f32 =
      kws::EncodeWav(s.samples.data(), s.samples.size(), 16000, kws::WavSampleFormat::kFloat32);
  ASSERT_TRUE(kws::Sha1Hex(std::string(f32.begin(), f32.end())) ==
              "b1719d42e5adf105f0f4c9093d129c1c04d12546");
  // Straight to files: the same WAV bytes and ground truth as writing the samples.
  const std::string dir = std::filesystem::temp_directory_path() / "kws_gen_files_test";
  std::filesystem::create_directories(dir);
  kws::WriteGeneratedStream(s, dir + "/a.wav", dir + "/a.txt");
  const kws::GeneratedStream f = kws::GenerateStreamToFiles(o, dir + "/b.wav", dir + "/b.txt");
  ASSERT_TRUE(f.samples.empty() && f.num_samples == static_cast<int64_t>(s.samples.size()));
  ASSERT_TRUE(f.word_offsets == s.word_offsets && f.word_files == s.word_files);
  auto bytes = [](const std::string& path) {
    FILE* file = std::fopen(path.c_str(), "rb");
    std::string out;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), file)) > 0) out.append(buf, n);
    std::fclose(file);
    return out;
  };
  ASSERT_EQ(bytes(dir + "/a.wav"), bytes(dir + "/b.wav"));
  ASSERT_EQ(bytes(dir + "/a.txt"), bytes(dir + "/b.txt"));
  std::filesystem::remove_all(dir);
}

// The official Speech Commands test set's layout: wanted words in their folders, every
// other word in `_unknown_/` (as <word>_<speaker>_nohash_<n>.wav), recorded silence in
// `_silence_/`, no noise folder. Its unknown words are drawn; its silence clips are not.
TEST(StreamGenerator, UnknownWordsInTheTestSetsUnknownFolderAreDrawn) {
  namespace fs = std::filesystem;
  const fs::path sample(kws_test::SampleDir());
  const fs::path dir = fs::temp_directory_path() / "kws_gen_test_set_layout_test";
  fs::remove_all(dir);
  fs::create_directories(dir / "_unknown_");
  fs::create_directories(dir / "_silence_");
  size_t unknown_files = 0;
  for (const auto& word : fs::directory_iterator(sample)) {
    const std::string w = word.path().filename().string();
    if (!word.is_directory() || w == "_background_noise_") continue;
    const bool wanted = w == "yes" || w == "no";
    if (wanted) fs::create_directories(dir / w);
    for (const auto& e : fs::directory_iterator(word.path())) {
      if (w == "_silence_")
        fs::create_symlink(e.path(), dir / "_silence_" / e.path().filename());
      else if (wanted)
        fs::create_symlink(e.path(), dir / w / e.path().filename());
      else if (unknown_files++ < 12)
        fs::create_symlink(e.path(), dir / "_unknown_" / (w + "_" + e.path().filename().string()));
    }
  }
  ASSERT_GE(unknown_files, 12u);
  kws::StreamGeneratorOptions o;
  o.data_dir = dir.string();
  o.wanted_words = {"yes", "no"};
  o.validation_percentage = 0;  // the whole test set is testing
  o.testing_percentage = 100;
  o.unknown_percentage = 50;
  o.background_volume = 0;
  o.duration_seconds = 90;
  o.seed = 3;
  const kws::GeneratedStream s = kws::GenerateStream(o);
  int unknown = 0;
  for (size_t i = 0; i < s.truth.size(); ++i) {
    const std::string folder = fs::path(s.word_files[i]).parent_path().filename().string();
    ASSERT_NE(folder, "_silence_");
    if (s.truth[i].label == "_unknown_") {
      ASSERT_EQ(folder, "_unknown_");
      ++unknown;
    } else {
      ASSERT_EQ(folder, s.truth[i].label);
    }
  }
  ASSERT_GT(unknown, 0);
  ASSERT_LT(unknown, int(s.truth.size()));
  fs::remove_all(dir);
}

// A fresh folder `name` in the temporary directory holding links to the sample's clips of
// `words`, one sub-folder per word.
std::filesystem::path LinkedWords(const std::string& name, std::vector<std::string> words) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / name;
  fs::remove_all(dir);
  for (const std::string& word : words) {
    fs::create_directories(dir / word);
    for (const auto& e : fs::directory_iterator(fs::path(kws_test::SampleDir()) / word))
      fs::create_symlink(e.path(), dir / word / e.path().filename());
  }
  return dir;
}

// A folder without the wanted words makes an all-unknown stream at unknown_percentage 100,
// and below that names the missing word.
TEST(StreamGenerator, OnlyUnknownWordsNeedNoWantedClips) {
  namespace fs = std::filesystem;
  const fs::path dir = LinkedWords("kws_gen_unknown_only_test", {"bed", "cat", "dog"});
  kws::StreamGeneratorOptions o;
  o.data_dir = dir.string();
  o.wanted_words = {"yes", "no"};
  o.validation_percentage = 0;
  o.testing_percentage = 100;
  o.unknown_percentage = 100;
  o.background_volume = 0;
  o.duration_seconds = 20;
  const kws::GeneratedStream s = kws::GenerateStream(o);
  ASSERT_GE(s.truth.size(), 5u);
  for (size_t i = 0; i < s.truth.size(); ++i) {
    ASSERT_EQ(s.truth[i].label, "_unknown_");
    const std::string folder = fs::path(s.word_files[i]).parent_path().filename().string();
    ASSERT_TRUE(folder == "bed" || folder == "cat" || folder == "dog") << folder;
  }
  o.unknown_percentage = 99;
  KWS_EXPECT_THROW_MSG(kws::GenerateStream(o), kws::InvalidArgument,
                       "no clips of wanted word 'no'");
  fs::remove_all(dir);
}

TEST(StreamGenerator, BadClipsAndFolderEntriesAreClearErrors) {
  namespace fs = std::filesystem;
  const fs::path dir = LinkedWords("kws_gen_bad_clips_test", {"yes", "no"});
  kws::StreamGeneratorOptions o;
  o.data_dir = dir.string();
  o.wanted_words = {"yes", "no"};
  o.unknown_percentage = 0;
  o.background_volume = 0;
  o.duration_seconds = 10;
  ASSERT_TRUE(!kws::GenerateStream(o).truth.empty());
  // A clip name in the testing partition.
  std::string name;
  for (int i = 0; name.empty(); ++i) {
    const std::string candidate = "bad" + std::to_string(i) + "_nohash_0.wav";
    if (kws::WhichSet(candidate, 10, 10) == "testing") name = candidate;
  }
  const fs::path bad = dir / "yes" / name;
  kws::WriteWav(bad.string(), nullptr, 0, 16000);  // a 0-sample clip
  KWS_EXPECT_THROW_MSG(kws::GenerateStream(o), kws::WavError, bad.string() + "' has no samples");
  const std::vector<float> tone(8000, 0.25f);
  kws::WriteWav(bad.string(), tone.data(), tone.size(), 8000);
  KWS_EXPECT_THROW_MSG(kws::GenerateStream(o), kws::WavError,
                       "has sample rate 8000, expected 16000");
  fs::remove(bad);
  // A symlink loop is named, not an escaping filesystem error.
  const fs::path loop = dir / "no" / "loop.wav";
  fs::create_symlink(loop, loop);
  KWS_EXPECT_THROW_MSG(kws::GenerateStream(o), kws::InvalidArgument,
                       "cannot examine '" + loop.string() + "': Too many levels of symbolic links");
  fs::remove_all(dir);
}

}  // namespace
