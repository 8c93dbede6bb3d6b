// Minimal test helpers for the C++ unit tests (each test file is one ctest executable).
#ifndef KWS_TESTS_TEST_UTIL_H_
#define KWS_TESTS_TEST_UTIL_H_

#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace kws_test {

struct TestCase {
  const char* name;
  std::function<void()> fn;
};

inline std::vector<TestCase>& Registry() {
  static std::vector<TestCase> tests;
  return tests;
}

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { Registry().push_back({name, fn}); }
};

struct Failure {
  std::string message;
};

inline int RunAll() {
  int failed = 0;
  for (const auto& t : Registry()) {
    try {
      t.fn();
      std::cout << "[ OK ] " << t.name << "\n";
    } catch (const Failure& f) {
      ++failed;
      std::cout << "[FAIL] " << t.name << ": " << f.message << "\n";
    } catch (const std::exception& e) {
      ++failed;
      std::cout << "[FAIL] " << t.name << ": unexpected exception: " << e.what() << "\n";
    }
  }
  std::cout << Registry().size() - failed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}

// Directory of the real Speech Commands sample (set by CMake for ctest).
inline std::string SampleDir() {
  const char* d = std::getenv("KWS_SAMPLE_DIR");
  return d ? d : "tests/data/speech_commands";
}

}  // namespace kws_test

#define KWS_TEST(name)                                                   \
  static void name();                                                    \
  static ::kws_test::Registrar registrar_##name(#name, name);            \
  static void name()

#define KWS_CHECK(cond)                                                             \
  do {                                                                              \
    if (!(cond))                                                                    \
      throw ::kws_test::Failure{std::string(__FILE__) + ":" + std::to_string(__LINE__) + \
                                ": check failed: " #cond};                          \
  } while (0)

#define KWS_CHECK_NEAR(a, b, tol)                                                           \
  do {                                                                                      \
    double va_ = (a), vb_ = (b);                                                            \
    if (!(std::fabs(va_ - vb_) <= (tol)))                                                   \
      throw ::kws_test::Failure{std::string(__FILE__) + ":" + std::to_string(__LINE__) +   \
                                ": " #a " = " + std::to_string(va_) + " vs " #b " = " +      \
                                std::to_string(vb_)};                                       \
  } while (0)

// Checks that `stmt` throws exception type `type` whose message contains `substr`.
#define KWS_CHECK_THROWS(stmt, type, substr)                                               \
  do {                                                                                     \
    bool thrown_ = false;                                                                  \
    try {                                                                                  \
      stmt;                                                                                \
    } catch (const type& e_) {                                                             \
      thrown_ = true;                                                                      \
      if (std::string(e_.what()).find(substr) == std::string::npos)                        \
        throw ::kws_test::Failure{std::string(__FILE__) + ":" + std::to_string(__LINE__) + \
                                  ": message '" + e_.what() + "' lacks '" + (substr) + "'"}; \
    }                                                                                      \
    if (!thrown_)                                                                          \
      throw ::kws_test::Failure{std::string(__FILE__) + ":" + std::to_string(__LINE__) +   \
                                ": expected " #type " from " #stmt};                       \
  } while (0)

#define KWS_TEST_MAIN() \
  int main() { return ::kws_test::RunAll(); }

#endif  // KWS_TESTS_TEST_UTIL_H_
