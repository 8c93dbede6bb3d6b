// Per-layer speed of the native runtime under each kernel set this CPU runs: time of
// every op of a whole-window inference (model only, features in), its GFLOP/s, and the
// whole model; beside each, the physical limit: the op's FLOPs over this core's peak
// multiply-add rate for the set (measured here on independent FMA chains; x86-64 only,
// elsewhere the limit column is left out). Build with -DKWS_BUILD_BENCH=ON; run
//   taskset -c 0 build/cpp/bench_layers model.kws [more.kws ...]
// (models: `kws export` of a checkpoint, or kws.train.export.write_model_kws of a Keras
// model built by kws.train.models.build_model).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kws/model.h"
#include "kws/version.h"
#include "layers.h"
#include "model_impl.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KWS_BENCH_PEAK 1
#endif

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best time of `fn` over `reps` repetitions of `inner` calls.
template <typename Fn>
double Best(Fn fn, int reps, int inner) {
  fn();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t = Now();
    for (int i = 0; i < inner; ++i) fn();
    best = std::min(best, (Now() - t) / inner);
  }
  return best;
}

// Calls of `fn` that take about `seconds` (at least 1), from the time of one call after a
// warm-up: ops of few or no FLOPs (reshape, flatten, pooling) are timed over as many calls
// as a convolution, not over millions.
template <typename Fn>
int CallsFor(double seconds, Fn fn) {
  fn();
  const double t = Now();
  fn();
  const double one = std::max(Now() - t, 1e-8);
  return static_cast<int>(std::min(1e6, std::max(1.0, seconds / one)));
}

#ifdef KWS_BENCH_PEAK
// FLOP/s of `n` rounds of 12 independent chains of vector FMAs (2 FLOPs per lane): more
// chains than an FMA's latency times the FMA ports, so the ports stay busy.
__attribute__((target("avx512f"), noinline)) float FmaChains512(long n, float x) {
  __m512 a[12];
  const __m512 b = _mm512_set1_ps(x), c = _mm512_set1_ps(1e-3f);
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
  for (long r = 0; r < n; ++r) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], b, c);
  }
  float s = 0.0f;
  for (int i = 0; i < 12; ++i) s += _mm512_reduce_add_ps(a[i]);
  return s;
}

__attribute__((target("avx2,fma"), noinline)) float FmaChains256(long n, float x) {
  __m256 a[12];
  const __m256 b = _mm256_set1_ps(x), c = _mm256_set1_ps(1e-3f);
  for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(static_cast<float>(i));
  for (long r = 0; r < n; ++r) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], b, c);
  }
  float out[8], s = 0.0f;
  for (int i = 0; i < 12; ++i) {
    _mm256_storeu_ps(out, a[i]);
    s += out[0];
  }
  return s;
}
#endif

// Peak multiply-add rate (FLOP/s) of one core for kernel set `set`, or 0 when not measured.
double PeakFlops(const std::string& set) {
#ifdef KWS_BENCH_PEAK
  constexpr long kRounds = 4000000;
  volatile float sink = 0.0f, factor = 0.999f;
  if (set == "avx512") {
    const double t = Best([&] { sink = sink + FmaChains512(kRounds, factor); }, 5, 1);
    return kRounds * 12.0 * 16 * 2 / t;
  }
  if (set == "avx2") {
    const double t = Best([&] { sink = sink + FmaChains256(kRounds, factor); }, 5, 1);
    return kRounds * 12.0 * 8 * 2 / t;
  }
#endif
  (void)set;
  return 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: bench_layers model.kws [model.kws ...]"
                 " (KWS_BENCH_SET=<set>: that set only)\n");
    return 2;
  }
  const kws::BuildInfo info = kws::GetBuildInfo();
  // KWS_BENCH_SET=<set> measures that kernel set only.
  const char* only = std::getenv("KWS_BENCH_SET");
  for (int a = 1; a < argc; ++a) {
    auto model = kws::Model::Load(argv[a]);
    const kws::Model::Impl& m = model->impl();
    std::vector<float> features(static_cast<size_t>(m.num_frames) * m.num_coefficients);
    std::mt19937 rng(0);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (float& f : features) f = nd(rng);
    std::vector<float> scores(m.labels.size());
    std::printf("%s (%.2f MFLOP per window)\n", m.architecture.c_str(), m.flops / 1e6);
    const int inner = std::max(1, static_cast<int>(2e7 / std::max<int64_t>(m.flops, 1)));
    for (const std::string& set : info.supported_sets) {
      if (only != nullptr && set != only) continue;
      kws::UseKernelSet(set);
      const double peak = PeakFlops(set);
      if (peak > 0)
        std::printf("  [%s] peak multiply-add rate %.1f GFLOP/s\n", set.c_str(), peak / 1e9);
      const double whole =
          Best([&] { model->PredictFeatures(features.data(), scores.data()); }, 15, inner);
      std::printf("  [%s] model %.4f ms, %.1f GFLOP/s", set.c_str(), whole * 1e3,
                  m.flops / whole / 1e9);
      if (peak > 0) std::printf(", limit %.4f ms", m.flops / peak * 1e3);
      std::printf("\n");
      auto whole_ws = m.NewWorkspace();
      std::copy(features.begin(), features.end(), whole_ws->window[0]);
      const double run = Best([&] { m.RunWholeWindow(*whole_ws); }, 15, inner);
      std::printf("  [%s] every op in sequence on one workspace %.4f ms\n", set.c_str(), run * 1e3);
      // Each op alone, on a tensor per value (as a Stream holds them).
      auto ws = m.NewStreamWorkspace();
      std::copy(features.begin(), features.end(), ws->values[0].begin());
      for (size_t i = 0; i < m.ops.size(); ++i) {
        std::vector<const float*> in;
        for (int v : m.ops[i].inputs) in.push_back(ws->values[v].data());
        m.ops[i].kernel->ComputeAll(m.ops[i], in.data(), ws->values[i + 1].data(),
                                    m.ScratchOf(*ws));
      }
      for (size_t i = 0; i < m.ops.size(); ++i) {
        const kws::layers::Op& op = m.ops[i];
        ws->inputs.clear();
        for (int v : op.inputs) ws->inputs.push_back(ws->values[v].data());
        auto compute = [&] {
          op.kernel->ComputeAll(op, ws->inputs.data(), ws->values[i + 1].data(), m.ScratchOf(*ws));
        };
        const double t = Best(compute, 15, CallsFor(2e-3, compute));
        std::string shape;
        for (int d : op.out_dims) shape += (shape.empty() ? "" : "x") + std::to_string(d);
        std::printf("    %-22s %-16s %-12s %9.4f ms %8.2f MFLOP %7.1f GFLOP/s",
                    op.name.substr(0, 22).c_str(), op.type_name.c_str(), shape.c_str(), t * 1e3,
                    op.flops / 1e6, op.flops / t / 1e9);
        if (peak > 0) std::printf("  limit %.4f ms", op.flops / peak * 1e3);
        std::printf("\n");
      }
    }
  }
  return 0;
}
