"""The WebAssembly build (web/kws.js + kws.wasm, run in Node) against the native library on
the same CPU: a model's cached stream over the same samples, under every kernel set this
CPU runs natively (switched in-process) and the wasm module's own set.

Each figure is the best of `--repeats` passes over `--seconds` of audio (a pass creates a
stream, feeds every sample and finishes it; front end included), after one warm-up pass.
Pin it to one quiet core: taskset -c 0 python bench/bench_wasm.py. Needs web/kws.js and
web/kws.wasm (bash scripts/build_wasm.sh) and Node.

Usage: python bench/bench_wasm.py [--model PATH] [--seconds 10] [--hop_ms 30] [--repeats 5]
    [--web DIR ...]
(default model: the bundled speech_commands.kws; --web: folders holding a kws.js and
kws.wasm, each timed, web/ by default)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import kws
from kws import _core

ROOT = Path(__file__).resolve().parents[1]


def native_ms(model_path: str, samples: np.ndarray, hop_ms: int, repeats: int) -> float:
    """Best wall ms of one pass of the native cached stream over `samples`."""
    model = kws.Model.load(model_path)
    best = float("inf")
    for r in range(repeats + 1):
        stream = model.create_stream(hop_ms=hop_ms)
        t = time.perf_counter()
        stream.accept_waveform(samples)
        stream.input_finished()
        elapsed = (time.perf_counter() - t) * 1000.0
        if r > 0:  # the first pass warms up
            best = min(best, elapsed)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(kws.bundled.model_path(kws.bundled.DEFAULT_MODEL)))
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--hop_ms", type=int, default=30)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--web", nargs="+", default=[str(ROOT / "web")])
    args = p.parse_args()
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise SystemExit("bench_wasm: Node is missing (apt-get install nodejs)")
    for web in map(Path, args.web):
        if not (web / "kws.js").is_file() or not (web / "kws.wasm").is_file():
            raise SystemExit(f"bench_wasm: {web}/kws.js or kws.wasm is missing "
                             "(bash scripts/build_wasm.sh)")
    node_version = subprocess.check_output([node, "--version"], text=True).strip()

    rng = np.random.default_rng(0)
    samples = (rng.standard_normal(int(args.seconds * 16000)) * 0.05).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "samples.f32"
        samples.tofile(raw)
        for web in args.web:
            run = subprocess.run([node, str(ROOT / "bench" / "wasm_timing.js"), web, args.model,
                                  str(raw), str(args.hop_ms), str(args.repeats)],
                                 capture_output=True, text=True, check=False)
            if run.returncode != 0:
                raise SystemExit(f"bench_wasm: node failed on {web}:\n{run.stderr}")
            got = json.loads(run.stdout)
            kernels = got["buildInfo"].split("; kernels ")[1].split(";")[0]
            rows.append((f"wasm in Node {node_version}", kernels, min(got["ms"])))
    active = kws.build_info()["kernel_set"]
    for name in kws.build_info()["supported_sets"]:
        _core._use_kernel_set(name)
        rows.append(("native (Python kws)", name, native_ms(args.model, samples, args.hop_ms,
                                                             args.repeats)))
    _core._use_kernel_set(active)

    print(f"{Path(args.model).name}, {args.seconds:g} s of audio, {args.hop_ms} ms hops, best of "
          f"{args.repeats}; {platform.processor() or platform.machine()}, load average "
          f"{os.getloadavg()[0]:.2f}")
    print()
    print("| runtime | kernel set | ms per pass | x real time | time / first row's |")
    print("|---|---|---|---|---|")
    wasm = rows[0][2]
    for who, kernels, ms in rows:
        print(f"| {who} | {kernels} | {ms:.1f} | {args.seconds * 1000.0 / ms:.1f} | "
              f"{ms / wasm:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
