// The tables of a radix-2 FFT of real signals, for the MFCC front end's frames
// (kernels/mfcc_frames.h; private to kws::core).
#ifndef KWS_SRC_REAL_FFT_H_
#define KWS_SRC_REAL_FFT_H_

#include <vector>

#include "kernels/mfcc_frames.h"

namespace kws {
namespace internal {

// The tables of the power spectrum |X[k]|^2, k = 0..n/2, of real signals of power-of-two
// length n: the n real values are packed as n/2 complex ones, transformed by an iterative
// radix-2 FFT (bit-reversed input order, per-stage twiddle tables) and split into the
// spectrum of the real signal (kernels::MfccFrames).
class RealFft {
 public:
  explicit RealFft(int n);  // n: a power of two >= 2

  int size() const { return n_; }
  int num_bins() const { return n_ / 2 + 1; }
  // Points `args`'s FFT fields at these tables (valid while this RealFft lives).
  void Describe(kernels::MfccFrameArgs* args) const;

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
