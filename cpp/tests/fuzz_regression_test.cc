// Replays every committed fuzz input (fuzz/regressions/<target>/*) through the same
// harness the libFuzzer target runs (fuzz/fuzz_targets.h): each must be accepted or
// rejected with a kws::Error, never crash, never break an invariant. Under
// scripts/sanitize.sh this also checks them with ASan + UBSan.
#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../../fuzz/fuzz_targets.h"
#include "test_support.h"

namespace {

std::string RegressionDir() {
  const char* d = std::getenv("KWS_FUZZ_REGRESSION_DIR");
  return d ? d : "fuzz/regressions";
}

std::vector<std::string> ListFiles(const std::string& dir) {
  std::vector<std::string> files;
  DIR* d = opendir(dir.c_str());
  if (!d) throw std::runtime_error("cannot open regression folder " + dir);
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != ".." && name != "README.md") files.push_back(dir + "/" + name);
  }
  closedir(d);
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Runs `harness` on every file of one target's folder; returns {accepted, rejected}.
template <typename Harness>
std::pair<int, int> Replay(const std::string& target, Harness harness) {
  const std::string dir = RegressionDir() + "/" + target;
  const std::vector<std::string> files = ListFiles(dir);
  if (files.empty()) throw std::runtime_error("no regression inputs in " + dir);
  int accepted = 0, rejected = 0;
  for (const std::string& f : files) {
    const std::vector<uint8_t> bytes = ReadBytes(f);
    try {
      if (harness(bytes.data(), bytes.size()) == kws_fuzz::Outcome::kAccepted) {
        ++accepted;
      } else {
        ++rejected;
      }
    } catch (const std::exception& e) {
      throw std::runtime_error(f + ": " + e.what());
    }
  }
  std::cout << target << ": " << files.size() << " inputs, " << accepted << " accepted, "
            << rejected << " rejected\n";
  return {accepted, rejected};
}

}  // namespace

TEST(FuzzRegression, WavReaderRegressionInputsNeverCrash) {
  const auto [accepted, rejected] = Replay("wav_reader", kws_fuzz::FuzzWavReader);
  // The committed set holds both sides of the parser's checks.
  ASSERT_GT(accepted, 0);
  ASSERT_GT(rejected, 0);
}

TEST(FuzzRegression, MfccRegressionInputsNeverCrash) {
  const auto [accepted, rejected] = Replay("mfcc", kws_fuzz::FuzzMfcc);
  ASSERT_GT(accepted, 0);
  ASSERT_GT(rejected, 0);
}

TEST(FuzzRegression, ModelLoaderRegressionInputsNeverCrash) {
  const auto [accepted, rejected] = Replay("model_loader", kws_fuzz::FuzzModelLoader);
  ASSERT_GE(accepted, 4);  // the seed_*.kws exports load and run
  ASSERT_GT(rejected, 0);
}

TEST(FuzzRegression, CApiModelRegressionInputsNeverCrash) {
  // The model loader's inputs and the C API target's own, through the C API.
  const auto [accepted, rejected] = Replay("model_loader", kws_fuzz::FuzzCApiModel);
  ASSERT_GE(accepted, 4);
  ASSERT_GT(rejected, 0);
  const auto [own_accepted, own_rejected] = Replay("c_api_model", kws_fuzz::FuzzCApiModel);
  ASSERT_GT(own_accepted + own_rejected, 0);
}

TEST(FuzzRegression, GroundTruthRegressionInputsNeverCrash) {
  const auto [accepted, rejected] = Replay("ground_truth", kws_fuzz::FuzzGroundTruth);
  ASSERT_GT(accepted, 0);
  ASSERT_GT(rejected, 0);  // junk_only.txt: no valid line
}
