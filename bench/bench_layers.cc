// Per-layer speed of the native runtime under each kernel set this CPU runs: time of
// every op of a whole-window inference (model only, features in), its GFLOP/s, and the
// whole model. Build with -DKWS_BUILD_BENCH=ON; run
//   taskset -c 0 build/cpp/bench_layers model.kws [more.kws ...]
// (export models with bench/bench_runtime.py --export DIR or kws export).
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
      const double whole =
          Best([&] { model->PredictFeatures(features.data(), scores.data()); }, 15, inner);
      std::printf("  [%s] model %.4f ms, %.1f GFLOP/s\n", set.c_str(), whole * 1e3,
                  m.flops / whole / 1e9);
      auto ws = m.NewWorkspace();
      std::copy(features.begin(), features.end(), ws->values[0].begin());
      const double run = Best([&] { m.RunWholeWindow(*ws); }, 15, inner);
      std::printf("  [%s] every op in sequence on one workspace %.4f ms\n", set.c_str(), run * 1e3);
      for (size_t i = 0; i < m.ops.size(); ++i) {
        const kws::layers::Op& op = m.ops[i];
        ws->inputs.clear();
        for (int v : op.inputs) ws->inputs.push_back(ws->values[v].data());
        const double t = Best(
            [&] {
              op.kernel->ComputeAll(op, ws->inputs.data(), ws->values[i + 1].data(),
                                    m.ScratchOf(*ws));
            },
            15, std::max(1, static_cast<int>(2e6 / std::max<int64_t>(op.flops, 1))));
        std::string shape;
        for (int d : op.out_dims) shape += (shape.empty() ? "" : "x") + std::to_string(d);
        std::printf("    %-22s %-16s %-12s %9.4f ms %8.2f MFLOP %7.1f GFLOP/s\n",
                    op.name.substr(0, 22).c_str(), op.type_name.c_str(), shape.c_str(), t * 1e3,
                    op.flops / 1e6, op.flops / t / 1e9);
      }
    }
  }
  return 0;
}
