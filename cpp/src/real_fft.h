// Power spectrum of real signals by a radix-2 FFT, several frames at once (private to
// kws::core).
#ifndef KWS_SRC_REAL_FFT_H_
#define KWS_SRC_REAL_FFT_H_

#include <vector>

#include "lanes.h"

namespace kws {
namespace internal {

// |X[k]|^2 for k = 0..n/2 of real signals of power-of-two length n, in double precision,
// kLanes signals at a time. The n real values are packed as n/2 complex ones, transformed
// by an iterative radix-2 FFT (bit-reversed input order, two stages per pass over the
// data, per-stage twiddle tables) and split into the spectrum of the real signal. Every
// table is built by the constructor; the transform itself allocates nothing.
class RealFft {
 public:
  explicit RealFft(int n);  // n: a power of two >= 2

  int size() const { return n_; }
  int num_bins() const { return n_ / 2 + 1; }
  // Lanes values of working memory PowerSpectrum needs.
  int work_size() const { return n_; }

  // Writes num_bins() squared magnitudes of the n real values `x` to `power`.
  // `work` holds work_size() values; none of the three may overlap.
  void PowerSpectrum(const Lanes* x, Lanes* power, Lanes* work) const;

 private:
  int n_;
  int half_;                        // n / 2: the complex FFT length
  std::vector<int> bit_reverse_;    // half_ entries
  std::vector<double> twiddle_re_;  // stage with butterfly span h uses entries [h - 1, 2h - 1)
  std::vector<double> twiddle_im_;
  std::vector<double> split_cos_;  // cos(2 pi k / n), k = 0..half_
  std::vector<double> split_sin_;  // sin(2 pi k / n)
};

}  // namespace internal
}  // namespace kws

#endif  // KWS_SRC_REAL_FFT_H_
