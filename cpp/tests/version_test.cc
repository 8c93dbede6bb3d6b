#include <algorithm>
#include <cstdlib>
#include <string>

#include "kws/version.h"
#include "test_util.h"

KWS_TEST(VersionIsSemantic) {
  std::string v = kws::Version();
  KWS_CHECK(!v.empty());
  KWS_CHECK(v.find('.') != std::string::npos);
}

KWS_TEST(BuildInfoNamesTheActiveKernelSet) {
  const kws::BuildInfo b = kws::GetBuildInfo();
  KWS_CHECK(b.version == kws::Version());
  KWS_CHECK(b.kernel_set == kws::ActiveKernelSet());
  // The scalar set is always compiled in and always runs; the active set is one the CPU
  // runs, and each supported set is compiled in.
  KWS_CHECK(!b.compiled_sets.empty() && b.compiled_sets.front() == "scalar");
  KWS_CHECK(!b.supported_sets.empty() && b.supported_sets.front() == "scalar");
  KWS_CHECK(std::find(b.supported_sets.begin(), b.supported_sets.end(), b.kernel_set) !=
            b.supported_sets.end());
  for (const std::string& s : b.supported_sets)
    KWS_CHECK(std::find(b.compiled_sets.begin(), b.compiled_sets.end(), s) !=
              b.compiled_sets.end());
  const char* env = std::getenv("KWS_ISA");
  const std::string requested = env ? env : "";
  KWS_CHECK(b.requested_set == requested);
  const bool runnable = std::find(b.supported_sets.begin(), b.supported_sets.end(),
                                  requested) != b.supported_sets.end();
  // A runnable request is honoured; otherwise (unset or not runnable) the best set runs.
  KWS_CHECK(b.kernel_set == (runnable ? requested : b.supported_sets.back()));
#if defined(__x86_64__)
  KWS_CHECK(b.architecture == "x86_64");
#elif defined(__aarch64__)
  KWS_CHECK(b.architecture == "aarch64");
  KWS_CHECK(std::find(b.supported_sets.begin(), b.supported_sets.end(), "neon") !=
            b.supported_sets.end());
#endif
}

KWS_TEST_MAIN()
