// Library version, and how this build runs its kernels.
#ifndef KWS_VERSION_H_
#define KWS_VERSION_H_

#include <string>
#include <vector>

namespace kws {

// The version of the kws native core, e.g. "0.1.0".
const char* Version();

// The kernel set in use: "scalar", "avx2", "avx512", "neon" or "wasm_simd128". Chosen
// once, when the library loads, as the best set this CPU runs; the environment variable
// KWS_ISA=<set> forces one (when this build or CPU cannot run it, a warning goes to
// stderr and the best available set is used instead).
std::string ActiveKernelSet();

// Switches every later computation to kernel set `name` (one of GetBuildInfo()'s
// supported_sets); returns false and changes nothing otherwise. Meant for benchmarks and
// tests that compare sets in one process: a Stream, batched evaluation or inference
// running while the set changes mixes two sets' rounding.
bool UseKernelSet(const std::string& name);

struct BuildInfo {
  std::string version;                      // Version()
  std::string kernel_set;                   // ActiveKernelSet()
  std::vector<std::string> compiled_sets;   // kernel sets in this build
  std::vector<std::string> supported_sets;  // of those, the ones this CPU runs
  std::string requested_set;                // KWS_ISA as read at load ("" when unset)
  bool native_arch = false;                 // built with KWS_NATIVE_ARCH (-march=native)
  std::string compiler;                     // e.g. "GCC 12.2.0"
  std::string architecture;                 // the target: "x86_64", "aarch64", ...
};

// A description of this build and of the kernel set in use.
BuildInfo GetBuildInfo();

}  // namespace kws

#endif  // KWS_VERSION_H_
