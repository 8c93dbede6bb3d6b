#include "kws/version.h"

#include "kernels/kernels.h"

namespace kws {

const char* Version() { return "0.1.0"; }

std::string ActiveKernelSet() { return kernels::Active().name; }

bool UseKernelSet(const std::string& name) { return kernels::UseSet(name); }

BuildInfo GetBuildInfo() {
  BuildInfo info;
  info.version = Version();
  info.kernel_set = ActiveKernelSet();
  info.compiled_sets = kernels::CompiledSets();
  info.supported_sets = kernels::SupportedSets();
  info.requested_set = kernels::RequestedSet();
#ifdef KWS_BUILT_NATIVE
  info.native_arch = true;
#endif
#if defined(__clang__)
  info.compiler = "Clang " __clang_version__;
#elif defined(__GNUC__)
  info.compiler = "GCC " __VERSION__;
#elif defined(_MSC_VER)
  info.compiler = "MSVC";
#endif
#if defined(__x86_64__) || defined(_M_X64)
  info.architecture = "x86_64";
#elif defined(__aarch64__) || defined(_M_ARM64)
  info.architecture = "aarch64";
#elif defined(__arm__)
  info.architecture = "arm";
#else
  info.architecture = "other";
#endif
  return info;
}

}  // namespace kws
