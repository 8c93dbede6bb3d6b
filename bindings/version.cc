#include "kws/version.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;

namespace kws {
namespace bindings {

void BindVersion(py::module_& m) {
  m.def("version", &kws::Version, "Version of the native core.");
  m.def("_use_kernel_set", &kws::UseKernelSet, py::arg("name"),
        "Switch to kernel set `name` (one of build_info()['supported_sets']) for everything "
        "that runs afterwards; False (and no change) when this CPU cannot run it. For "
        "benchmarks and tests: do not switch while a Stream or evaluation is running.");
  m.def(
      "build_info",
      [] {
        const kws::BuildInfo b = kws::GetBuildInfo();
        py::dict d;
        d["version"] = b.version;
        d["kernel_set"] = b.kernel_set;
        d["compiled_sets"] = b.compiled_sets;
        d["supported_sets"] = b.supported_sets;
        d["requested_set"] = b.requested_set;
        d["native_arch"] = b.native_arch;
        d["compiler"] = b.compiler;
        d["architecture"] = b.architecture;
        return d;
      },
      "How this build runs: dict with 'version', 'kernel_set' (the SIMD kernel set in use: "
      "scalar, avx2, avx512 or neon), 'compiled_sets', 'supported_sets' (compiled sets this "
      "CPU runs), 'requested_set' (KWS_ISA, '' when unset), 'native_arch', 'compiler', "
      "'architecture'.");
}

}  // namespace bindings
}  // namespace kws
