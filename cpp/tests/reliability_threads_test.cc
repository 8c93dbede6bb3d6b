// Thread safety: one immutable Model shared by many threads, each running its own Stream
// (or whole-clip Predict) on different audio, must give exactly the scores of running the
// same work one job at a time. Also MFCC front ends (per-thread workspaces, two front ends
// of different sizes interleaved on each thread) and ReadWav from many threads.
#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kws/error.h"
#include "kws/mfcc.h"
#include "kws/model.h"
#include "kws/wav_io.h"
#include "reliability_models.h"
#include "test_support.h"

namespace {

constexpr int kThreads = 12;
using kws_test::ConvModel;
using kws_test::SvdfModel;

std::vector<std::string> SampleWavs(size_t count) {
  std::vector<std::string> words;
  DIR* d = opendir(kws_test::SampleDir().c_str());
  if (!d) throw std::runtime_error("cannot open the sample folder " + kws_test::SampleDir());
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.' && e->d_name[0] != '_') words.push_back(e->d_name);
  }
  closedir(d);
  std::sort(words.begin(), words.end());
  std::vector<std::string> files;
  for (const std::string& w : words) {
    const std::string dir = kws_test::SampleDir() + "/" + w;
    DIR* wd = opendir(dir.c_str());
    if (!wd) continue;
    std::vector<std::string> wavs;
    while (dirent* e = readdir(wd)) {
      const std::string n = e->d_name;
      if (n.size() > 4 && n.substr(n.size() - 4) == ".wav") wavs.push_back(dir + "/" + n);
    }
    closedir(wd);
    std::sort(wavs.begin(), wavs.end());
    files.insert(files.end(), wavs.begin(), wavs.begin() + std::min<size_t>(2, wavs.size()));
    if (files.size() >= count) break;
  }
  // Fewer clips than asked (the fixture set): reuse them; every thread adds its own noise.
  if (files.empty()) throw std::runtime_error("no clips in " + kws_test::SampleDir());
  for (size_t i = 0; files.size() < count; ++i) files.push_back(files[i]);
  files.resize(count);
  return files;
}

// Thread t's audio: three real clips with a little noise, different for every t.
std::vector<float> ThreadAudio(const std::vector<std::string>& wavs, int t) {
  std::vector<float> audio;
  std::mt19937 gen(100 + t);
  std::normal_distribution<float> noise(0.0f, 0.01f);
  for (int k = 0; k < 3; ++k) {
    const kws::WavData w = kws::ReadWavMono(wavs[(t * 3 + k) % wavs.size()]);
    for (float v : w.samples) audio.push_back(v + noise(gen));
  }
  return audio;
}

// Every window's scores of `audio` through one stream fed in chunks of `chunk` samples.
std::vector<float> StreamScores(const kws::Model& model, const std::vector<float>& audio, int hop,
                                size_t chunk) {
  std::unique_ptr<kws::Stream> stream = model.CreateStream(hop);
  std::vector<float> out;
  for (size_t pos = 0; pos < audio.size(); pos += chunk) {
    stream->AcceptWaveform(audio.data() + pos, std::min(chunk, audio.size() - pos));
    while (stream->IsReady()) {
      stream->Decode();
      const auto& r = stream->GetResult();
      out.insert(out.end(), r.scores.begin(), r.scores.end());
    }
  }
  return out;
}

// Runs fn(t) on kThreads threads released together; returns when all are done.
template <typename Fn>
void RunTogether(Fn fn) {
  std::atomic<int> waiting{kThreads};
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      --waiting;
      while (waiting.load() > 0) std::this_thread::yield();
      try {
        fn(t);
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(errors[t].empty()) << "thread " << t << ": " << errors[t];
  }
}

bool BitIdentical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void CheckSharedModelStreams(const std::shared_ptr<const kws::Model>& model) {
  const auto wavs = SampleWavs(kThreads * 3);
  std::vector<std::vector<float>> audio(kThreads), serial(kThreads), threaded(kThreads);
  for (int t = 0; t < kThreads; ++t) audio[t] = ThreadAudio(wavs, t);
  const int hop = 2 * model->frame_stride_samples();
  // One by one first; every thread feeds a different chunk size.
  for (int t = 0; t < kThreads; ++t) {
    serial[t] = StreamScores(*model, audio[t], hop, 160 + 97 * t);
  }
  RunTogether([&](int t) { threaded[t] = StreamScores(*model, audio[t], hop, 160 + 97 * t); });
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(!serial[t].empty());
    ASSERT_TRUE(BitIdentical(serial[t], threaded[t]));
  }
  // The threads' audio differs, so their scores must too (the check above is not vacuous).
  ASSERT_TRUE(!BitIdentical(serial[0], serial[1]));

  // Whole-clip Predict from every thread on every window of its audio.
  const size_t clip = static_cast<size_t>(model->clip_samples());
  auto predict_all = [&](int t) {
    std::vector<float> out(model->num_labels());
    std::vector<float> all;
    for (size_t s = 0; s + clip <= audio[t].size(); s += 4000) {
      model->Predict(audio[t].data() + s, clip, out.data());
      all.insert(all.end(), out.begin(), out.end());
    }
    return all;
  };
  std::vector<std::vector<float>> predict_serial(kThreads), predict_threaded(kThreads);
  for (int t = 0; t < kThreads; ++t) predict_serial[t] = predict_all(t);
  RunTogether([&](int t) { predict_threaded[t] = predict_all(t); });
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(BitIdentical(predict_serial[t], predict_threaded[t]));
  }
}

}  // namespace

TEST(ReliabilityThreads, SharedConvModelStreamsOnTwelveThreadsMatchSerial) {
  CheckSharedModelStreams(ConvModel());
}

TEST(ReliabilityThreads, SharedSvdfModelStreamsOnTwelveThreadsMatchSerial) {
  CheckSharedModelStreams(SvdfModel());
}

TEST(ReliabilityThreads, MfccFrontendsSharedAcrossThreadsMatchSerial) {
  // Two shared front ends of different FFT sizes, used alternately by every thread: the
  // per-thread workspace must not leak one's values into the other.
  kws::MfccOptions small;
  small.window_size_ms = 25;
  small.dct_coefficient_count = 13;
  kws::MfccOptions large;
  large.window_size_ms = 64;
  large.sample_rate = 16000;
  const kws::MfccFrontend a(small), b(large);
  const auto wavs = SampleWavs(kThreads);
  std::vector<std::vector<float>> audio(kThreads);
  for (int t = 0; t < kThreads; ++t) audio[t] = kws::ReadWavMono(wavs[t]).samples;
  auto work = [&](int t) {
    std::vector<float> out;
    for (int round = 0; round < 3; ++round) {
      const kws::MfccFrontend& f = (round + t) % 2 ? a : b;
      const std::vector<float> m = f.Compute(audio[t].data(), audio[t].size());
      out.insert(out.end(), m.begin(), m.end());
    }
    return out;
  };
  std::vector<std::vector<float>> serial(kThreads), threaded(kThreads);
  for (int t = 0; t < kThreads; ++t) serial[t] = work(t);
  RunTogether([&](int t) { threaded[t] = work(t); });
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(!serial[t].empty());
    ASSERT_TRUE(BitIdentical(serial[t], threaded[t]));
  }
  // And each front end alone on a fresh thread gives the same frames as interleaved.
  std::vector<float> fresh;
  std::thread([&] { fresh = a.Compute(audio[1].data(), audio[1].size()); }).join();
  std::vector<float> interleaved(serial[1].begin(), serial[1].begin() + fresh.size());
  ASSERT_TRUE(BitIdentical(fresh, interleaved));
}

TEST(ReliabilityThreads, ReadWavFromManyThreadsMatchesSerial) {
  const auto wavs = SampleWavs(kThreads * 2);
  std::vector<std::vector<float>> serial(kThreads), threaded(kThreads);
  auto work = [&](int t) {
    std::vector<float> out;
    for (int k = 0; k < 2; ++k) {
      const kws::WavData w = kws::ReadWav(wavs[t * 2 + k]);
      out.insert(out.end(), w.samples.begin(), w.samples.end());
      // A malformed read on the same thread must not disturb the next one.
      const std::vector<uint8_t> junk = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'A', 'V', 'E'};
      KWS_EXPECT_THROW_MSG(kws::ReadWavFromMemory(junk.data(), junk.size(), "junk.wav"),
                           kws::WavError, "missing fmt chunk");
    }
    return out;
  };
  for (int t = 0; t < kThreads; ++t) serial[t] = work(t);
  RunTogether([&](int t) { threaded[t] = work(t); });
  for (int t = 0; t < kThreads; ++t) ASSERT_TRUE(BitIdentical(serial[t], threaded[t]));
}
