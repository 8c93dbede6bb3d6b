#include "kws/version.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "test_support.h"

TEST(Version, VersionIsSemantic) {
  std::string v = kws::Version();
  ASSERT_TRUE(!v.empty());
  ASSERT_NE(v.find('.'), std::string::npos);
}

TEST(Version, BuildInfoNamesTheActiveKernelSet) {
  const kws::BuildInfo b = kws::GetBuildInfo();
  ASSERT_EQ(b.version, kws::Version());
  ASSERT_EQ(b.kernel_set, kws::ActiveKernelSet());
  // The scalar set is always compiled in and always runs; the active set is one the CPU
  // runs, and each supported set is compiled in.
  ASSERT_TRUE(!b.compiled_sets.empty() && b.compiled_sets.front() == "scalar");
  ASSERT_TRUE(!b.supported_sets.empty() && b.supported_sets.front() == "scalar");
  ASSERT_TRUE(std::find(b.supported_sets.begin(), b.supported_sets.end(), b.kernel_set) !=
              b.supported_sets.end());
  for (const std::string& s : b.supported_sets)
    ASSERT_TRUE(std::find(b.compiled_sets.begin(), b.compiled_sets.end(), s) !=
                b.compiled_sets.end());
  const char* env = std::getenv("KWS_ISA");
  const std::string requested = env ? env : "";
  ASSERT_EQ(b.requested_set, requested);
  const bool runnable = std::find(b.supported_sets.begin(), b.supported_sets.end(), requested) !=
                        b.supported_sets.end();
  // A runnable request is honoured; otherwise (unset or not runnable) the best set runs.
  ASSERT_EQ(b.kernel_set, (runnable ? requested : b.supported_sets.back()));
#if defined(__x86_64__)
  ASSERT_EQ(b.architecture, "x86_64");
#elif defined(__aarch64__)
  ASSERT_EQ(b.architecture, "aarch64");
  ASSERT_TRUE(std::find(b.supported_sets.begin(), b.supported_sets.end(), "neon") !=
              b.supported_sets.end());
#endif
}
