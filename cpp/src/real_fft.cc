#include "real_fft.h"

#include <cmath>
#include <string>

#include "kws/error.h"

namespace kws {
namespace internal {

namespace {

constexpr double kPi = 3.14159265358979323846;

}  // namespace

RealFft::RealFft(int n) : n_(n), half_(n / 2) {
  if (n < 2 || (n & (n - 1)) != 0) {
    throw InvalidArgument("RealFft: length must be a power of two >= 2, got " + std::to_string(n));
  }
  int bits = 0;
  while ((1 << bits) < half_) ++bits;
  bit_reverse_.resize(half_);
  for (int i = 0; i < half_; ++i) {
    int r = 0;
    for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
    bit_reverse_[i] = r;
  }
  // The stage with butterfly span h needs exp(-i pi j / h), j < h; spans 1, 2, 4, ...
  // half_/2 are stored one after the other (1 + 2 + ... = half_ - 1 entries).
  twiddle_re_.assign(half_ > 1 ? half_ - 1 : 1, 0.0);
  twiddle_im_.assign(twiddle_re_.size(), 0.0);
  for (int h = 1; h < half_; h <<= 1) {
    for (int j = 0; j < h; ++j) {
      const double angle = kPi * j / h;
      twiddle_re_[h - 1 + j] = std::cos(angle);
      twiddle_im_[h - 1 + j] = -std::sin(angle);
    }
  }
  split_cos_.resize(half_ + 1);
  split_sin_.resize(half_ + 1);
  for (int k = 0; k <= half_; ++k) {
    const double angle = 2.0 * kPi * k / n_;
    split_cos_[k] = std::cos(angle);
    split_sin_[k] = std::sin(angle);
  }
}

void RealFft::Describe(kernels::MfccFrameArgs* args) const {
  args->half = half_;
  args->bit_reverse = bit_reverse_.data();
  args->twiddle_re = twiddle_re_.data();
  args->twiddle_im = twiddle_im_.data();
  args->split_cos = split_cos_.data();
  args->split_sin = split_sin_.data();
}

}  // namespace internal
}  // namespace kws
