#include "real_fft.h"

#include <cmath>
#include <string>

#include "kws/error.h"

namespace kws {
namespace internal {

namespace {

constexpr double kPi = 3.14159265358979323846;

// (ar + i ai) * (wr + i wi) for a scalar twiddle.
inline void Rotate(Lanes ar, Lanes ai, double wr, double wi, Lanes* out_r, Lanes* out_i) {
  const Lanes r = Splat(wr), i = Splat(wi);
  *out_r = ar * r - ai * i;
  *out_i = ar * i + ai * r;
}

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

void RealFft::PowerSpectrum(const Lanes* x, Lanes* power, Lanes* work) const {
  const int m = half_;
  Lanes* re = work;
  Lanes* im = work + m;
  const int* rev = bit_reverse_.data();
  // Pack x[2k] + i x[2k+1] into bit-reversed order so the stages run in place.
  for (int k = 0; k < m; ++k) {
    re[rev[k]] = x[2 * k];
    im[rev[k]] = x[2 * k + 1];
  }
  const double* twr = twiddle_re_.data();
  const double* twi = twiddle_im_.data();
  int h = 1;
  // Two radix-2 stages (spans h and 2h) per pass: four values are loaded, go through
  // both stages in registers, and are stored once.
  for (; 4 * h <= m; h *= 4) {
    const double* w1r = twr + (h - 1);
    const double* w1i = twi + (h - 1);
    const double* w2r = twr + (2 * h - 1);
    const double* w2i = twi + (2 * h - 1);
    for (int start = 0; start < m; start += 4 * h) {
      for (int j = 0; j < h; ++j) {
        const int a = start + j, b = a + h, c = a + 2 * h, d = a + 3 * h;
        Lanes tr, ti;
        // Span h: (a, b) and (c, d), twiddle w1[j].
        Rotate(re[b], im[b], w1r[j], w1i[j], &tr, &ti);
        Lanes a1r = re[a] + tr, a1i = im[a] + ti;
        Lanes b1r = re[a] - tr, b1i = im[a] - ti;
        Rotate(re[d], im[d], w1r[j], w1i[j], &tr, &ti);
        Lanes c1r = re[c] + tr, c1i = im[c] + ti;
        Lanes d1r = re[c] - tr, d1i = im[c] - ti;
        // Span 2h: (a, c) with w2[j], (b, d) with w2[j + h].
        Rotate(c1r, c1i, w2r[j], w2i[j], &tr, &ti);
        re[a] = a1r + tr;
        im[a] = a1i + ti;
        re[c] = a1r - tr;
        im[c] = a1i - ti;
        Rotate(d1r, d1i, w2r[j + h], w2i[j + h], &tr, &ti);
        re[b] = b1r + tr;
        im[b] = b1i + ti;
        re[d] = b1r - tr;
        im[d] = b1i - ti;
      }
    }
  }
  if (2 * h <= m) {  // an odd number of stages leaves one radix-2 stage
    const double* wr = twr + (h - 1);
    const double* wi = twi + (h - 1);
    for (int start = 0; start < m; start += 2 * h) {
      for (int j = 0; j < h; ++j) {
        const int a = start + j, b = a + h;
        Lanes tr, ti;
        Rotate(re[b], im[b], wr[j], wi[j], &tr, &ti);
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] = re[a] + tr;
        im[a] = im[a] + ti;
      }
    }
  }
  // Split the half-length transform Z into the real signal's spectrum:
  // X[k] = E[k] + exp(-2 pi i k / n) O[k], E = (Z[k] + conj Z[m-k]) / 2,
  // O = (Z[k] - conj Z[m-k]) / 2i.
  const Lanes dc = re[0] + im[0];
  const Lanes nyquist = re[0] - im[0];
  power[0] = dc * dc;
  power[m] = nyquist * nyquist;
  const Lanes half = Splat(0.5);
  for (int k = 1; k < m; ++k) {
    const Lanes zr = re[k], zi = im[k];
    const Lanes yr = re[m - k], yi = im[m - k];
    const Lanes er = half * (zr + yr), ei = half * (zi - yi);
    const Lanes orr = half * (zi + yi), oi = half * (yr - zr);
    const Lanes c = Splat(split_cos_[k]), s = Splat(split_sin_[k]);
    const Lanes xr = er + c * orr + s * oi;
    const Lanes xi = ei + c * oi - s * orr;
    power[k] = xr * xr + xi * xi;
  }
}

}  // namespace internal
}  // namespace kws
