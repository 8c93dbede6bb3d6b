"""Native runtime vs the TFLite interpreter, per architecture, on one core.

For each architecture (random weights: speed does not depend on training):
- FLOPs per window, counted from the layer shapes (multiply-adds x 2, front end
  excluded), and the FLOPs the cached stream really spent per 30 ms hop;
- whole-clip latency (front end + model on a 1 s clip): native `Model.predict` vs the
  TFLite interpreter (1 thread, XNNPACK) running the exported float model, front end inside;
- streaming cost per hop over a 20 s signal: the native cached-state stream (30 ms and
  20 ms hops) vs recomputing the whole 1 s window at every hop, as the classic streaming
  tester does, in the native runtime and in TFLite.

Peers (`--peers`): model only (MFCC features in, softmax out) and with the front end
(1 s of audio in), batch 1, one thread, the same random weights: kws under every kernel
set this CPU runs (switched in-process, interleaved with the peers) against TFLite
(ai-edge-litert, XNNPACK) and ONNX Runtime (the Keras model converted with tf2onnx);
and the cached stream's cost per 30 and 20 ms hop under every set against each peer
re-running the whole window at every hop (TFLite with its front end inside, ONNX Runtime
after kws.mfcc). The peers are benchmark-only dependencies: pip install ai-edge-litert onnxruntime tf2onnx
(tf2onnx with --no-deps when its pins clash with TensorFlow's).

Usage: python bench/bench_runtime.py [--arch conv,...] [--seconds 20] [--peers] [--write]
`--write` replaces the "Native runtime" section of BENCHMARKS.md; with `--peers`, this
CPU's "Peer table: <CPU>" subsection of "Native runtime vs TFLite and ONNX Runtime" (other
CPUs' tables and the hand-written subsections stay).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Native runtime"
PEERS_SECTION = "## Native runtime vs TFLite and ONNX Runtime"
PEER_ARCHS = ["conv", "ds_cnn", "tc_resnet", "tiny_conv", "low_latency_svdf"]
ARCHS = ["single_fc", "conv", "low_latency_conv", "low_latency_svdf", "tiny_conv",
         "tiny_embedding_conv", "ds_cnn", "tc_resnet"]


def best_times(fns, repeats: int, inner: int = 1, before=None) -> list[float]:
    """Best (minimum) time per call of each function, measured interleaved so that load
    from other processes hits every candidate alike. `before`, when given, runs untimed
    before each timed call."""
    for fn in fns:
        fn()  # warm up (allocations, caches)
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            if before is not None:
                before()
            t = time.perf_counter()
            for _ in range(inner):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t) / inner)
    return best


COLD_BYTES = 64 << 20
_cold_buffer = None


def evict_caches() -> None:
    """Writes COLD_BYTES, one byte per cache line: afterwards no cache holds the data a
    benchmark touched before."""
    global _cold_buffer
    if _cold_buffer is None:
        _cold_buffer = np.zeros(COLD_BYTES, np.uint8)
    _cold_buffer[::64] += 1


def median_time(fn, repeats: int, inner: int = 1) -> float:
    return best_times([fn], repeats, inner)[0]


def stream_cost(native, signal: np.ndarray, hop: int) -> tuple[float, int]:
    """The cached stream over `signal` after its first (full) window, best of 3 passes:
    seconds per hop and the median FLOPs per hop."""
    window = native.clip_samples
    best, flops = float("inf"), []
    for _ in range(3):
        stream = native.create_stream(hop_samples=hop)
        stream.accept_waveform(signal[:window])
        n = 0
        t = time.perf_counter()
        for start in range(window, len(signal) - hop + 1, hop):
            n += len(stream.accept_waveform(signal[start:start + hop]))
            flops.append(stream.last_decode_flops)
        best = min(best, (time.perf_counter() - t) / n)
    return best, int(statistics.median(flops))


def bench_arch(arch: str, signal: np.ndarray, workdir: Path) -> dict:
    import keras
    import tensorflow as tf

    import kws
    from kws.train import export, models
    from kws.train.settings import ModelSettings

    settings = ModelSettings()
    labels = [f"label{i}" for i in range(settings.label_count)]
    keras.utils.set_random_seed(0)
    model = models.build_model(arch, settings, training_dropout=False)
    path = export.write_model_kws(workdir / f"{arch}.kws", model, settings, arch, labels)
    native = kws.Model.load(str(path))
    tfl = tf.lite.Interpreter(model_content=export.tflite_bytes(model, settings), num_threads=1)
    tfl.allocate_tensors()
    inp = tfl.get_input_details()[0]["index"]
    out = tfl.get_output_details()[0]["index"]

    clip = signal[:16000].copy()
    heavy = arch == "conv"
    reps = 5 if heavy else 20
    inner = 2 if heavy else 20

    def run_tflite(x=clip):
        tfl.set_tensor(inp, x[None])
        tfl.invoke()
        return tfl.get_tensor(out)

    r = {"arch": arch, "flops": native.flops_per_window}
    r["native_clip_s"], r["tflite_clip_s"] = best_times(
        [lambda: native.predict(clip), run_tflite], reps, inner)
    diff = np.abs(native.predict(clip) - run_tflite()[0]).max()
    r["max_diff"] = float(diff)

    r["stream30_s"], r["stream30_flops"] = stream_cost(native, signal, 480)
    r["stream20_s"], r["stream20_flops"] = stream_cost(native, signal, 320)
    # Recompute the whole window at every 30 ms hop (the classic streaming tester),
    # native and TFLite interleaved window by window; best of 3 passes.
    starts = list(range(0, len(signal) - 16000 + 1, 480))
    if heavy:
        starts = starts[:40]
    windows = [signal[s:s + 16000].copy() for s in starts]
    nat, tfl_t = float("inf"), float("inf")
    for _ in range(3):
        t_n = t_t = 0.0
        for w in windows:
            t = time.perf_counter()
            native.predict(w)
            t_n += time.perf_counter() - t
            t = time.perf_counter()
            run_tflite(w)
            t_t += time.perf_counter() - t
        nat, tfl_t = min(nat, t_n / len(windows)), min(tfl_t, t_t / len(windows))
    r["native_window_s"], r["tflite_window_s"] = nat, tfl_t
    return r


def _keras_softmax_model(model, settings):
    import keras

    x = keras.Input((settings.spectrogram_length, settings.feature_bin_count), batch_size=1,
                    name="features")
    return keras.Model(x, keras.layers.Softmax()(model(x, training=False)))


def bench_peers(arch: str, workdir: Path, reps: int) -> dict:
    """kws (each kernel set) vs TFLite and ONNX Runtime, model only and with the front
    end, one clip, interleaved."""
    import keras
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx
    from ai_edge_litert.interpreter import Interpreter

    import kws
    from kws.train import export, models
    from kws.train.settings import ModelSettings

    settings = ModelSettings()
    labels = [f"label{i}" for i in range(settings.label_count)]
    keras.utils.set_random_seed(0)
    model = models.build_model(arch, settings, training_dropout=False)
    native = kws.Model.load(str(export.write_model_kws(workdir / f"{arch}.kws", model, settings,
                                                       arch, labels)))
    full = _keras_softmax_model(model, settings)
    conv = tf.lite.TFLiteConverter.from_keras_model(full)
    tfl = Interpreter(model_content=conv.convert(), num_threads=1)
    tfl.allocate_tensors()
    t_in, t_out = tfl.get_input_details()[0]["index"], tfl.get_output_details()[0]["index"]
    tfl_audio = Interpreter(model_content=export.tflite_bytes(model, settings), num_threads=1)
    tfl_audio.allocate_tensors()
    a_in = tfl_audio.get_input_details()[0]["index"]
    a_out = tfl_audio.get_output_details()[0]["index"]
    shape = (1, settings.spectrogram_length, settings.feature_bin_count)
    proto, _ = tf2onnx.convert.from_keras(
        full, input_signature=[tf.TensorSpec(shape, tf.float32, name="features")], opset=17)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(proto.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    o_name = sess.get_inputs()[0].name

    rng = np.random.default_rng(1)
    clip = (0.1 * rng.standard_normal(settings.desired_samples)).astype(np.float32)
    feats = np.ascontiguousarray(kws.mfcc(clip).reshape(shape), np.float32)
    sets = kws.build_info()["supported_sets"]
    default_set = kws.build_info()["kernel_set"]

    def kws_model(s):
        def run():
            kws._core._use_kernel_set(s)
            return native.predict_features(feats[0])
        return run

    def kws_clip(s):
        def run():
            kws._core._use_kernel_set(s)
            return native.predict(clip)
        return run

    def run_tfl():
        tfl.set_tensor(t_in, feats)
        tfl.invoke()
        return tfl.get_tensor(t_out)

    def run_tfl_audio():
        tfl_audio.set_tensor(a_in, clip[None])
        tfl_audio.invoke()
        return tfl_audio.get_tensor(a_out)

    def run_ort():
        return sess.run(None, {o_name: feats})[0]

    def run_ort_audio():
        # ONNX Runtime with the front end a user would pair it with: kws.mfcc.
        x = np.ascontiguousarray(kws.mfcc(clip).reshape(shape), np.float32)
        return sess.run(None, {o_name: x})[0]

    signal = (0.1 * rng.standard_normal(settings.desired_samples * 11)).astype(np.float32)

    def kws_hop(s, hop):
        kws._core._use_kernel_set(s)
        return stream_cost(native, signal, hop)[0]

    inner = max(1, int(2e7 / max(native.flops_per_window, 1)))
    r = {"arch": arch, "flops": native.flops_per_window, "sets": sets}
    times = best_times([kws_model(s) for s in sets] + [run_tfl, run_ort], reps, inner)
    r["model"] = dict(zip(sets, times[:len(sets)]))
    r["tflite_model"], r["ort_model"] = times[len(sets)], times[len(sets) + 1]
    # The same with every cache cold: COLD_BYTES written before each call, as when other
    # work runs between a detector's hops. Best set only.
    times = best_times([kws_model(sets[-1]), run_tfl, run_ort], reps, 1, before=evict_caches)
    r["cold"] = dict(zip(["kws", "tflite", "ort"], times))
    times = best_times([kws_clip(s) for s in sets] + [run_tfl_audio, run_ort_audio], reps, inner)
    r["clip"] = dict(zip(sets, times[:len(sets)]))
    r["tflite_clip"], r["ort_clip"] = times[len(sets)], times[len(sets) + 1]
    # The cached stream per 30 and 20 ms hop (front end included), best of 3 passes over
    # 10 s per set, against the peers re-running the whole window (the two columns above).
    r["hop"] = {hop_ms: {s: kws_hop(s, hop_ms * 16) for s in sets} for hop_ms in (30, 20)}
    ref = run_tfl()[0]
    r["max_diff"] = {}
    for s in sets:
        kws._core._use_kernel_set(s)
        r["max_diff"][s] = float(np.abs(native.predict_features(feats[0]) - ref).max())
    r["max_diff_ort"] = float(np.abs(run_ort()[0] - ref).max())
    kws._core._use_kernel_set(default_set)
    return r


def peers_table(results: list[dict]) -> str:
    ms = lambda s: f"{s * 1e3:.3f}"  # noqa: E731
    sets = results[0]["sets"]
    best = sets[-1]
    head = ("| architecture | MFLOPs | " + " | ".join(f"kws {s} ms" for s in sets) +
            " | TFLite ms | ONNX Runtime ms | kws " + best + " vs the faster peer | caches "
            "cold: kws " + best + " ms | TFLite ms | ONNX Runtime ms | vs the faster peer |")
    lines = ["Model only (MFCC features in, softmax out). The last four columns time each "
             f"call after {COLD_BYTES >> 20} MB have been written, so that no cache holds the "
             "model's weights or buffers (as when other work runs between hops):", "", head,
             "|" + "---|" * (len(sets) + 9)]
    for r in results:
        peer = min(r["tflite_model"], r["ort_model"])
        cold = r["cold"]
        lines.append(f"| {r['arch']} | {r['flops'] / 1e6:.2f} | " +
                     " | ".join(ms(r["model"][s]) for s in sets) +
                     f" | {ms(r['tflite_model'])} | {ms(r['ort_model'])} | "
                     f"{peer / r['model'][best]:.2f}x | {ms(cold['kws'])} | "
                     f"{ms(cold['tflite'])} | {ms(cold['ort'])} | "
                     f"{min(cold['tflite'], cold['ort']) / cold['kws']:.2f}x |")
    lines += ["", "With the front end (1 s of audio in; TFLite runs the whole graph, its "
              "AudioSpectrogram and Mfcc ops included; ONNX Runtime has no converter for those "
              "ops, so it runs the model after kws.mfcc):", "",
              "| architecture | " + " | ".join(f"kws {s} ms" for s in sets) +
              " | TFLite ms | kws.mfcc + ONNX Runtime ms | kws " + best + " vs TFLite |",
              "|" + "---|" * (len(sets) + 4)]
    for r in results:
        lines.append(f"| {r['arch']} | " + " | ".join(ms(r["clip"][s]) for s in sets) +
                     f" | {ms(r['tflite_clip'])} | {ms(r['ort_clip'])} | "
                     f"{r['tflite_clip'] / r['clip'][best]:.2f}x |")
    lines += ["", "Cached stream per hop (front end included) against each peer re-running "
              "the whole window at every hop, as the classic streaming method does (TFLite "
              "with its front end inside; ONNX Runtime after kws.mfcc):", "",
              "| architecture | " + " | ".join(f"kws {s} 30 ms hop ms" for s in sets) +
              f" | kws {best} 20 ms hop ms | TFLite window ms | ONNX Runtime window ms | "
              "30 ms hop vs TFLite | vs ONNX Runtime | 20 ms hop vs TFLite | vs ONNX Runtime |",
              "|" + "---|" * (len(sets) + 8)]
    for r in results:
        h30, h20 = r["hop"][30][best], r["hop"][20][best]
        lines.append(f"| {r['arch']} | " + " | ".join(ms(r["hop"][30][s]) for s in sets) +
                     f" | {ms(h20)} | {ms(r['tflite_clip'])} | {ms(r['ort_clip'])} | "
                     f"{r['tflite_clip'] / h30:.1f}x | {r['ort_clip'] / h30:.1f}x | "
                     f"{r['tflite_clip'] / h20:.1f}x | {r['ort_clip'] / h20:.1f}x |")
    worst = max(max(r["max_diff"].values()) for r in results)
    lines += ["", f"Max |kws - TFLite| softmax difference over all sets and architectures: "
              f"{worst:.1e} (ONNX Runtime vs TFLite: "
              f"{max(r['max_diff_ort'] for r in results):.1e})."]
    return "\n".join(lines)


def bench_frontend(signal: np.ndarray) -> dict:
    import tensorflow as tf

    import kws
    from kws.train.features import tf_features
    from kws.train.settings import ModelSettings

    clip = signal[:16000].copy()
    fn = tf.function(lambda x: tf_features(x, ModelSettings()))
    native, tf_eager = best_times([lambda: kws.mfcc(clip), lambda: fn(clip)], 10, 10)
    return {"native_mfcc_s": native, "tf_mfcc_s": tf_eager}


def table(results: list[dict], fe: dict) -> str:
    ms = lambda s: f"{s * 1e3:.3f}"  # noqa: E731
    lines = [
        "| architecture | MFLOPs / window | MFLOPs / cached 30 ms hop | MFLOPs / cached 20 ms hop | "
        "whole clip: native ms | "
        "TFLite ms | native speed-up | per hop, native cached 30 ms | cached 20 ms | "
        "native recompute | TFLite recompute | cached vs TFLite | real-time factor (cached 30 ms) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['arch']} | {r['flops'] / 1e6:.2f} | {r['stream30_flops'] / 1e6:.2f} | "
            f"{r['stream20_flops'] / 1e6:.2f} | "
            f"{ms(r['native_clip_s'])} | {ms(r['tflite_clip_s'])} | "
            f"{r['tflite_clip_s'] / r['native_clip_s']:.2f}x | {ms(r['stream30_s'])} | "
            f"{ms(r['stream20_s'])} | {ms(r['native_window_s'])} | {ms(r['tflite_window_s'])} | "
            f"{r['tflite_window_s'] / r['stream30_s']:.1f}x | "
            f"{0.030 / r['stream30_s']:.0f}x |")
    lines.append("")
    lines.append(f"Front end alone on a 1 s clip: native `kws.mfcc` {ms(fe['native_mfcc_s'])} ms, "
                 f"TensorFlow (tf.function) {ms(fe['tf_mfcc_s'])} ms. "
                 "All times include the front end; per-hop columns are milliseconds per "
                 "30 ms (or 20 ms) hop; \"cached vs TFLite\" is TFLite's per-window cost over "
                 "the native cached hop. Max |native - TFLite| softmax difference over the "
                 f"benchmark clip: {max(r['max_diff'] for r in results):.1e}.")
    worst = min(results, key=lambda r: r["tflite_clip_s"] / r["native_clip_s"])
    lines.append("")
    lines.append(f"Whole clip, slowest native ratio: {worst['arch']} at "
                 f"{worst['tflite_clip_s'] / worst['native_clip_s']:.2f}x TFLite's speed.")
    for r in results:
        if r["arch"] == "low_latency_svdf":
            lines.append(f"low_latency_svdf: a native cached 30 ms hop costs "
                         f"1/{r['tflite_window_s'] / r['stream30_s']:.1f} of TFLite's per-window "
                         f"recompute (the issue asks for at most 1/10).")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default=",".join(ARCHS))
    p.add_argument("--seconds", type=float, default=20.0, help="length of the stream")
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    p.add_argument("--peers", action="store_true",
                   help="kws (every kernel set) vs TFLite and ONNX Runtime instead")
    p.add_argument("--reps", type=int, default=30, help="interleaved repetitions (--peers)")
    args = p.parse_args()
    if args.peers and args.arch == ",".join(ARCHS):
        args.arch = ",".join(PEER_ARCHS)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if args.peers:
        return run_peers(args, load_before)
    rng = np.random.default_rng(0)
    n = int(args.seconds * 16000)
    signal = (0.1 * rng.standard_normal(n)).astype(np.float32)
    results = []
    with tempfile.TemporaryDirectory() as d:
        for arch in args.arch.split(","):
            r = bench_arch(arch, signal, Path(d))
            results.append(r)
            print(f"{arch}: native {r['native_clip_s'] * 1e3:.3f} ms, TFLite "
                  f"{r['tflite_clip_s'] * 1e3:.3f} ms, cached hop {r['stream30_s'] * 1e3:.3f} ms",
                  file=sys.stderr)
    fe = bench_frontend(signal)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = table(results, fe)
    text += (f"\n\nLoad average during the run: {load_before:.1f} -> {load_after:.1f} (on "
             f"{os.cpu_count()} cores). Times are the best of interleaved repetitions, so "
             "native and TFLite see the same load; absolute times on a busy machine are "
             "inflated, the ratios are the comparison.")
    print(text)
    if args.write:
        cmd = f"python bench/bench_runtime.py --seconds {args.seconds:g} --write"
        if args.arch != ",".join(ARCHS):
            cmd += f" --arch {args.arch}"
        body = (f"{SECTION}\n\n`{cmd}` ({platform.machine()}, pinned to one core, "
                f"Python {platform.python_version()}, TensorFlow {tf.__version__}; random "
                f"weights, {args.seconds:.0f} s noise stream, 98 x 40 MFCC, 12 labels)\n\n"
                f"{text}\n")
        _write_section(SECTION, body)
    return 0


def _write_section(section: str, body: str) -> None:
    md = ROOT / "BENCHMARKS.md"
    old = md.read_text() if md.exists() else "# kws benchmarks\n"
    pattern = re.compile(re.escape(section) + r"\n.*?(?=\n## |\Z)", re.S)
    new = pattern.sub(lambda _: body.rstrip("\n") + "\n", old) if pattern.search(old) else (
        old.rstrip("\n") + "\n\n" + body)
    md.write_text(new if new.endswith("\n") else new + "\n")


def run_peers(args, load_before: float) -> int:
    import tensorflow as tf

    import kws

    info = kws.build_info()
    results = []
    with tempfile.TemporaryDirectory() as d:
        for arch in args.arch.split(","):
            r = bench_peers(arch, Path(d), args.reps)
            results.append(r)
            print(f"{arch}: " + ", ".join(f"kws {s} {t * 1e3:.3f} ms" for s, t in r["model"].items())
                  + f", TFLite {r['tflite_model'] * 1e3:.3f} ms, ONNX Runtime "
                  f"{r['ort_model'] * 1e3:.3f} ms", file=sys.stderr)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = peers_table(results)
    text += (f"\n\nLoad average during the run: {load_before:.1f} -> {load_after:.1f} (on "
             f"{os.cpu_count()} cores). Best of {args.reps} interleaved repetitions per "
             "candidate, so every candidate sees the same load.")
    print(text)
    if args.write:
        import ai_edge_litert
        import onnxruntime

        cmd = f"taskset -c 0 python bench/bench_runtime.py --peers --reps {args.reps} --write"
        if args.arch != ",".join(PEER_ARCHS):
            cmd += f" --arch {args.arch}"
        cpu = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        heading = f"### Peer table: {cpu}"
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        body = (f"{heading}\n\n{stamp}. `{cmd}` ({cpu}, one core; kws {info['version']} "
                f"kernel sets {', '.join(info['supported_sets'])}; TFLite = ai-edge-litert "
                f"{getattr(ai_edge_litert, '__version__', '?')} with XNNPACK, ONNX Runtime "
                f"{onnxruntime.__version__}, TensorFlow {tf.__version__}; random weights, "
                f"98 x 40 MFCC, 12 labels, batch 1, one thread)\n\n{text}\n")
        _write_subsection(PEERS_SECTION, heading, body)
    return 0


def _write_subsection(section: str, heading: str, body: str) -> None:
    """Replaces the subsection `heading` of `section` in BENCHMARKS.md (up to the next
    subsection or section), or adds it at the end of the section: each CPU keeps its own
    peer table, and hand-written subsections are left alone."""
    md = ROOT / "BENCHMARKS.md"
    old = md.read_text() if md.exists() else "# kws benchmarks\n"
    block = body.rstrip("\n") + "\n"
    sec = re.search(re.escape(section) + r"\n.*?(?=\n## |\Z)", old, re.S)
    if sec is None:
        new = old.rstrip("\n") + f"\n\n{section}\n\n{block}"
    else:
        text = sec.group(0)
        sub = re.compile(r"^" + re.escape(heading) + r"\n.*?(?=\n### |\Z)", re.S | re.M)
        if sub.search(text):
            text = sub.sub(lambda _: block.rstrip("\n") + "\n", text, count=1)
        else:
            text = text.rstrip("\n") + "\n\n" + block
        new = old[:sec.start()] + text + old[sec.end():]
    md.write_text(new if new.endswith("\n") else new + "\n")


if __name__ == "__main__":
    sys.exit(main())
