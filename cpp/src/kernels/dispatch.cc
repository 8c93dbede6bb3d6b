// Chooses the kernel set once, when the library loads, from the CPU's features and the
// KWS_ISA environment variable.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels.h"

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define KWS_DISPATCH_X86 1
#endif

namespace kws {
namespace kernels {

#ifndef KWS_HAVE_AVX2_SET
const KernelSet* Avx2Set() { return nullptr; }
#endif
#ifndef KWS_HAVE_AVX512_SET
const KernelSet* Avx512Set() { return nullptr; }
#endif
#ifndef KWS_HAVE_NEON_SET
const KernelSet* NeonSet() { return nullptr; }
#endif
#ifndef KWS_HAVE_WASM_SIMD128_SET
const KernelSet* WasmSimd128Set() { return nullptr; }
#endif

namespace {

struct CpuFeatures {
  bool avx2 = false;    // AVX2 + FMA, with the OS saving the YMM state
  bool avx512 = false;  // AVX-512 F/BW/DQ/VL + FMA, with the OS saving the ZMM state
  bool neon = false;
  bool wasm_simd128 = false;  // a module compiled for SIMD128 only loads where it runs
};

#ifdef KWS_DISPATCH_X86
// XCR0: the register states the operating system saves on a context switch.
unsigned long long Xcr0() {
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}
#endif

CpuFeatures DetectCpu() {
  CpuFeatures f;
#ifdef KWS_DISPATCH_X86
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = Xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;    // SSE + AVX state
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;  // + opmask, ZMM0-15 upper, ZMM16-31
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = (b >> 5) & 1;
  const bool avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1;
  const bool avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
  f.avx2 = avx2 && fma && ymm_state;
  f.avx512 = f.avx2 && avx512f && avx512dq && avx512bw && avx512vl && zmm_state;
#elif defined(__aarch64__)
  f.neon = true;  // Advanced SIMD is part of the aarch64 baseline
#elif defined(__wasm_simd128__)
  f.wasm_simd128 = true;
#endif
  return f;
}

struct Choice {
  const KernelSet* set = nullptr;
  std::string requested;
  std::vector<std::string> compiled;
  std::vector<const KernelSet*> runnable;  // the compiled sets this CPU runs, best last
};

std::vector<std::string> Names(const std::vector<const KernelSet*>& sets) {
  std::vector<std::string> names;
  for (const KernelSet* set : sets) names.push_back(set->name);
  return names;
}

std::string CommaSeparated(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

Choice Choose() {
  Choice ch;
  const CpuFeatures cpu = DetectCpu();
  struct Entry {
    const KernelSet* set;
    bool runs;
  };
  // In order of preference, best last.
  const Entry entries[] = {{ScalarSet(), true},
                           {WasmSimd128Set(), cpu.wasm_simd128},
                           {NeonSet(), cpu.neon},
                           {Avx2Set(), cpu.avx2},
                           {Avx512Set(), cpu.avx512}};
  for (const Entry& e : entries) {
    if (e.set == nullptr) continue;
    ch.compiled.push_back(e.set->name);
    if (e.runs) ch.runnable.push_back(e.set);
  }
  const KernelSet* best = ch.runnable.back();  // the scalar set always runs
  ch.set = best;
  const char* env = std::getenv("KWS_ISA");
  if (env != nullptr && *env != '\0') {
    ch.requested = env;
    const KernelSet* forced = nullptr;
    for (const KernelSet* set : ch.runnable)
      if (ch.requested == set->name) forced = set;
    if (forced != nullptr) {
      ch.set = forced;
    } else {
      std::fprintf(stderr,
                   "kws: KWS_ISA=%s is not a kernel set this build can run on this CPU "
                   "(compiled in: %s; this CPU runs: %s); using %s\n",
                   env, CommaSeparated(ch.compiled).c_str(),
                   CommaSeparated(Names(ch.runnable)).c_str(), best->name);
    }
  }
  return ch;
}

const Choice& TheChoice() {
  static const Choice choice = Choose();
  return choice;
}

std::atomic<const KernelSet*>& ActivePointer() {
  static std::atomic<const KernelSet*> active{TheChoice().set};
  return active;
}

// Choose when the library loads, not at the first inference.
[[maybe_unused]] const bool kChosenAtLoad = ActivePointer().load() != nullptr;

}  // namespace

const KernelSet& Active() { return *ActivePointer().load(std::memory_order_relaxed); }

bool UseSet(const std::string& name) {
  for (const KernelSet* set : TheChoice().runnable)
    if (name == set->name) {
      ActivePointer().store(set);
      return true;
    }
  return false;
}

std::vector<std::string> CompiledSets() { return TheChoice().compiled; }
std::vector<std::string> SupportedSets() { return Names(TheChoice().runnable); }
std::string RequestedSet() { return TheChoice().requested; }

}  // namespace kernels
}  // namespace kws
