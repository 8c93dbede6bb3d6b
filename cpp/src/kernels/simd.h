// One SIMD register of floats for the kernel set being compiled (private to kws::core).
//
// Each kernel-set translation unit defines exactly one of KWS_KERNELS_SCALAR,
// KWS_KERNELS_AVX2, KWS_KERNELS_AVX512, KWS_KERNELS_NEON or KWS_KERNELS_WASM_SIMD128 before
// including this header and is compiled with that instruction set's flags; everything here
// has internal linkage, so no instruction of one set can leak into another set's code.
//
// Arithmetic of each set: the x86 and NEON sets multiply-add with one rounding (FMA, in
// vector and scalar tails alike); the scalar set multiplies then adds (two roundings,
// compiled with -ffp-contract=off), which every CPU runs at full speed; the WebAssembly
// SIMD128 set, whose instruction set has no fused multiply-add, rounds as the scalar set
// does. Within one set every kernel computes an element by the same sequence of operations
// whatever the blocking.
#ifndef KWS_SRC_KERNELS_SIMD_H_
#define KWS_SRC_KERNELS_SIMD_H_

#if defined(KWS_KERNELS_AVX2) || defined(KWS_KERNELS_AVX512)
#include <immintrin.h>
#elif defined(KWS_KERNELS_NEON)
#include <arm_neon.h>
#elif defined(KWS_KERNELS_WASM_SIMD128)
#include <wasm_simd128.h>
#elif !defined(KWS_KERNELS_SCALAR)
#error "define the kernel set being compiled"
#endif

namespace kws {
namespace kernels {
namespace {

// a * b + c of single floats with this set's rounding.
static inline float MulAddScalar(float a, float b, float c) {
#if defined(KWS_KERNELS_SCALAR) || defined(KWS_KERNELS_WASM_SIMD128)
  return a * b + c;
#else
  return __builtin_fmaf(a, b, c);
#endif
}

#if defined(KWS_KERNELS_AVX512)
constexpr int kWidth = 16;
typedef __m512 Vec;
static inline Vec Zero() { return _mm512_setzero_ps(); }
static inline Vec Load(const float* p) { return _mm512_loadu_ps(p); }
static inline void Store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
static inline Vec Splat(float x) { return _mm512_set1_ps(x); }
static inline Vec MulAdd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline Vec Add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
static inline Vec Max(Vec a, Vec b) { return _mm512_max_ps(a, b); }
#elif defined(KWS_KERNELS_AVX2)
constexpr int kWidth = 8;
typedef __m256 Vec;
static inline Vec Zero() { return _mm256_setzero_ps(); }
static inline Vec Load(const float* p) { return _mm256_loadu_ps(p); }
static inline void Store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
static inline Vec Splat(float x) { return _mm256_set1_ps(x); }
static inline Vec MulAdd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline Vec Add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
static inline Vec Max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
#elif defined(KWS_KERNELS_NEON)
constexpr int kWidth = 4;
typedef float32x4_t Vec;
static inline Vec Zero() { return vdupq_n_f32(0.0f); }
static inline Vec Load(const float* p) { return vld1q_f32(p); }
static inline void Store(float* p, Vec v) { vst1q_f32(p, v); }
static inline Vec Splat(float x) { return vdupq_n_f32(x); }
static inline Vec MulAdd(Vec a, Vec b, Vec c) { return vfmaq_f32(c, a, b); }
static inline Vec Add(Vec a, Vec b) { return vaddq_f32(a, b); }
static inline Vec Max(Vec a, Vec b) { return vmaxnmq_f32(a, b); }  // a NaN operand yields the other
#elif defined(KWS_KERNELS_WASM_SIMD128)
constexpr int kWidth = 4;
typedef v128_t Vec;
static inline Vec Zero() { return wasm_f32x4_const_splat(0.0f); }
static inline Vec Load(const float* p) { return wasm_v128_load(p); }
static inline void Store(float* p, Vec v) { wasm_v128_store(p, v); }
static inline Vec Splat(float x) { return wasm_f32x4_splat(x); }
static inline Vec MulAdd(Vec a, Vec b, Vec c) { return wasm_f32x4_add(wasm_f32x4_mul(a, b), c); }
static inline Vec Add(Vec a, Vec b) { return wasm_f32x4_add(a, b); }
// pmax(b, a) is b < a ? a : b, the scalar set's a > b ? a : b (NaN a -> b).
static inline Vec Max(Vec a, Vec b) { return wasm_f32x4_pmax(b, a); }
#else
constexpr int kWidth = 1;
typedef float Vec;
static inline Vec Zero() { return 0.0f; }
static inline Vec Load(const float* p) { return *p; }
static inline void Store(float* p, Vec v) { *p = v; }
static inline Vec Splat(float x) { return x; }
static inline Vec MulAdd(Vec a, Vec b, Vec c) { return a * b + c; }
static inline Vec Add(Vec a, Vec b) { return a + b; }
// max(a, 0) as the scalar code writes it: a > 0 ? a : 0 (NaN -> 0, like maxps(a, 0)).
static inline Vec Max(Vec a, Vec b) { return a > b ? a : b; }
#endif

// A load kept in a register for the uses that follow: x86 compilers otherwise fold the load
// into each multiply-add that reads it, and a value used by several multiply-adds is then
// loaded once per use.
static inline Vec LoadOnce(const float* p) {
  Vec v = Load(p);
#if defined(KWS_KERNELS_AVX2) || defined(KWS_KERNELS_AVX512)
  __asm__("" : "+v"(v));
#endif
  return v;
}

static inline int MinInt(int a, int b) { return a < b ? a : b; }
static inline int MaxInt(int a, int b) { return a > b ? a : b; }

}  // namespace
}  // namespace kernels
}  // namespace kws

#endif  // KWS_SRC_KERNELS_SIMD_H_
