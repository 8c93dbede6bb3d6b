"""Streaming benchmark: wall time of the native streaming evaluator (kws stream-eval's
engine, batched) on a long generated WAV, per architecture and clip stride, against the
live cached-state stream and the classic method (TFLite re-running front end + model on
every 1 s window, one thread), same model, same machine, same run. Also: many-file
throughput on all cores, decoder and generator speed. Writes the "Streaming" section of
BENCHMARKS.md.

    python bench/bench_stream.py --data_dir ../shared/data/speech_commands_sample

Models have random weights (speed does not depend on them); the accuracy figures of both
methods on the classic-measured prefix are printed side by side and must agree.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import kws
from kws import _core
from kws.labels import parse_wanted_words, prepare_words_list
from kws.train.settings import ModelSettings

LABELS = prepare_words_list(parse_wanted_words("yes,no,up,down,left,right,on,off,stop,go"))
SETTINGS = ModelSettings(label_count=len(LABELS))


def build_models(architecture: str, out: Path, seed: int) -> tuple[Path, bytes]:
    from kws.train import export, models

    model = models.build_model(architecture, SETTINGS, training_dropout=False)
    models.randomize_weights(model, seed)
    path = export.write_model_kws(out / f"{architecture}.kws", model, SETTINGS, architecture,
                                  LABELS)
    return path, export.tflite_bytes(model, SETTINGS)


def classic_scores(tflite: bytes, samples: np.ndarray, hop: int):
    """The classic method: every window through TFLite (front end inside), one thread.
    Returns window times, scores, wall seconds and process CPU seconds."""
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_content=tflite, num_threads=1)
    runner = interp.get_signature_runner()
    in_name = next(iter(runner.get_input_details()))
    starts = range(0, len(samples) - 16000 + 1, hop)
    scores = []
    runner(**{in_name: samples[:16000][None, :]})  # warm-up (delegate set-up)
    t0, c0 = time.perf_counter(), time.process_time()
    for s in starts:
        out = runner(**{in_name: samples[s:s + 16000][None, :]})
        scores.append(next(iter(out.values()))[0])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    times = np.array([s * 1000 // 16000 for s in starts], np.int64)
    return times, np.array(scores, np.float32), wall, cpu


def timed(fn):
    """(result, wall seconds, process CPU seconds) of fn()."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - t0, time.process_time() - c0


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default=str(Path(__file__).resolve().parents[2] / "shared" /
                                             "data" / "speech_commands_sample"))
    p.add_argument("--duration_seconds", type=float, default=600)
    p.add_argument("--classic_seconds", type=float, default=60,
                   help="audio prefix the (slow) classic method and the live stream are timed on")
    p.add_argument("--architectures", default=",".join(
        ["low_latency_svdf", "conv", "single_fc", "low_latency_conv", "tiny_conv",
         "tiny_embedding_conv", "ds_cnn", "tc_resnet"]))
    p.add_argument("--strides", default="30,20")
    p.add_argument("--many_files", type=int, default=4)
    p.add_argument("--many_architectures", default="low_latency_svdf,tc_resnet")
    p.add_argument("--many_threads", default="",
                   help="thread counts for the many-file run (default: 1 and all cores)")
    p.add_argument("--parts", default="rows,many,extras",
                   help="rows (per-architecture table), many (many files, 1 thread vs all "
                        "cores), extras (decoder, generator, --quick_model)")
    p.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "BENCHMARKS.md"))
    p.add_argument("--quick_model", default="", help="a trained model.kws to record accuracy of")
    args = p.parse_args()

    load_start = load_average()
    work = Path(tempfile.mkdtemp(prefix="bench_stream_"))
    wav, gt = work / "stream.wav", work / "stream.txt"
    _, gen_time, _ = timed(lambda: _core.generate_stream(
        args.data_dir, str(wav), str(gt), duration_seconds=args.duration_seconds, seed=0))
    samples, _ = kws.read_wav(str(wav))
    prefix_n = int(args.classic_seconds * 16000)
    prefix = samples[:prefix_n]
    gt_text = gt.read_text()
    parts = set(args.parts.split(","))
    rows = []
    archs = [a for a in args.architectures.split(",") if a]
    for k, arch in enumerate(archs if "rows" in parts else []):
        model_path, tflite = build_models(arch, work, seed=k)
        for stride in (int(s) for s in args.strides.split(",")):
            ev = _core.StreamingEvaluator(str(model_path), clip_stride_ms=stride)
            result, native_wall, native_cpu = timed(lambda: ev.evaluate(str(wav), str(gt)))
            times, scores, classic_wall, classic_cpu = classic_scores(tflite, prefix, stride * 16)
            (_, live), live_wall, live_cpu = timed(
                lambda: ev.compute_scores(prefix, method="stream"))
            n_times, n_scores = ev.compute_scores(prefix)
            if not np.array_equal(n_scores, live):
                raise SystemExit(f"{arch} {stride} ms: batched scores differ from the live stream")
            # Batching forced (the evaluator batches only where it is expected to pay):
            # how it compares with the live stream on the same prefix.
            os.environ["KWS_EVAL_SCORING"] = "batched"
            forced = _core.StreamingEvaluator(str(model_path), clip_stride_ms=stride)
            os.environ.pop("KWS_EVAL_SCORING")
            (_, b_scores), b_wall, b_cpu = timed(lambda: forced.compute_scores(prefix))
            if not np.array_equal(b_scores, live):
                raise SystemExit(f"{arch} {stride} ms: batched scores differ from the live stream")
            classic_fig = _core.evaluate_window_scores(
                times, scores, LABELS, gt_text, prefix_n / 16.0).accuracy.summary
            native_fig = _core.evaluate_window_scores(
                n_times, n_scores, LABELS, gt_text, prefix_n / 16.0).accuracy.summary
            row = dict(
                arch=arch, stride=stride, batched=ev.batched, native_wall=native_wall,
                native_rt=args.duration_seconds / native_wall,
                native_rt_cpu=args.duration_seconds / native_cpu,
                live_rt=args.classic_seconds / live_wall,
                live_rt_cpu=args.classic_seconds / live_cpu,
                forced_rt_cpu=args.classic_seconds / b_cpu if forced.batched else 0.0,
                classic_rt=args.classic_seconds / classic_wall,
                classic_rt_cpu=args.classic_seconds / classic_cpu,
                native_fig=native_fig, classic_fig=classic_fig,
                full_fig=result.accuracy.summary,
                max_diff=float(np.abs(n_scores - scores).max()))
            row["ratio"] = row["native_rt"] / row["classic_rt"]
            row["ratio_cpu"] = row["native_rt_cpu"] / row["classic_rt_cpu"]
            rows.append(row)
            print(f"{arch} {stride} ms ({'batched' if ev.batched else 'streams'}): native "
                  f"{native_wall:.2f} s wall for {args.duration_seconds:.0f} s "
                  f"({row['native_rt']:.0f}x real time; CPU {row['native_rt_cpu']:.0f}x), live "
                  f"stream {row['live_rt']:.0f}x (CPU {row['live_rt_cpu']:.0f}x, batched "
                  f"{row['forced_rt_cpu']:.0f}x), classic TFLite {row['classic_rt']:.1f}x "
                  f"(CPU {row['classic_rt_cpu']:.1f}x); native/classic {row['ratio']:.1f}x "
                  f"(CPU {row['ratio_cpu']:.1f}x); prefix figures native [{native_fig}] vs "
                  f"classic [{classic_fig}]; max score diff vs TFLite {row['max_diff']:.2g}; "
                  f"load {load_average()}", flush=True)

    # Many files, one shared model: 1 thread, then all cores (a file per thread). The
    # files are copies of the stream (so every thread reads its own file).
    many = []
    many_threads = ([int(t) for t in args.many_threads.split(",") if t] if args.many_threads
                    else sorted({1, os.cpu_count() or 1}))
    wavs, gts = [], []
    if "many" in parts:
        for i in range(args.many_files):
            wavs.append(str(work / f"many_{i}.wav"))
            gts.append(str(gt))
            Path(wavs[-1]).write_bytes(wav.read_bytes())
    for k, arch in enumerate(a for a in args.many_architectures.split(",") if a and
                             "many" in parts):
        model_path = work / f"{arch}.kws"
        if not model_path.exists():
            model_path, _ = build_models(arch, work, seed=k)
        ev = _core.StreamingEvaluator(str(model_path))
        ev.evaluate_many(wavs[:1], gts[:1], threads=1)  # warm-up (page cache, allocator)
        walls = {}
        for threads in many_threads:
            results, wall, _ = timed(lambda: ev.evaluate_many(wavs, gts, threads=threads))
            walls[threads] = wall
        many.append((arch, walls))
        print(f"many files {arch}: " + ", ".join(
            f"{t} thread(s) {w:.2f} s ({args.many_files / w:.2f} files/s, "
            f"{args.many_files * args.duration_seconds / w:.0f}x real time)"
            for t, w in walls.items()) + f"; load {load_average()}", flush=True)

    times, decode = [], 0.0
    quick = ""
    if "extras" in parts:
        # Decoder alone: RecognizeCommands + scoring on precomputed scores.
        first = work / f"{archs[0]}.kws"
        if not first.exists():
            first, _ = build_models(archs[0], work, seed=0)
        ev = _core.StreamingEvaluator(str(first))
        times, scores = ev.compute_scores(samples)
        _, decode, _ = timed(lambda: _core.evaluate_window_scores(
            times, scores, LABELS, gt_text, len(samples) / 16.0))
    if args.quick_model and "extras" in parts:
        r = _core.StreamingEvaluator(args.quick_model).evaluate(
            str(wav), str(gt)).accuracy.to_dict()
        quick = (f"{r['summary']}; {r['false_positives_per_hour']:.0f} false positives per "
                 f"hour, miss rate {100 * r['miss_rate']:.1f}%")
    load_end = load_average()

    cpu = platform.processor() or platform.machine()
    command = " ".join(shlex.quote(a) for a in ["python", "bench/bench_stream.py", *sys.argv[1:]])
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if allowed and len(allowed) < (os.cpu_count() or 0):
        command = f"taskset -c {','.join(str(c) for c in sorted(allowed))} {command}"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "## Streaming (bench/bench_stream.py)",
        "",
        f"Command: `{command}` ({stamp}; {os.cpu_count()} cores, {cpu}; load average "
        f"(1, 5, 15 min) {load_start} at the start and {load_end} at the end, this benchmark "
        "included). "
        f"{args.duration_seconds:.0f} s stream generated from the real sample (seed 0); "
        "random-weight models. **native** = `kws stream-eval`'s engine on one thread on the "
        "whole file (WAV read, scoring and decoding included; batched: MFCC once per frame, "
        "row layers once per frame with each window's edge rows recomputed, dense layers "
        "over many windows; its scores are bit-identical to the live stream's, checked on "
        "every row; architectures marked (streams) are scored by cached streams, where "
        "batching does not pay). **live stream** = the cached-state Stream fed the audio hop "
        "by hop, as a live application runs; **batched / live (CPU)** = batching forced "
        "(KWS_EVAL_SCORING=batched) against the live stream, on the prefix, by process CPU "
        "time. **classic** = TFLite (float, front end inside, 1 "
        "thread) re-run on every 1 s window. Live stream and classic are timed on the "
        f"first {args.classic_seconds:.0f} s, in the same run. x RT = audio seconds per "
        "wall second; the CPU columns divide by process CPU time instead (steadier on a "
        "shared machine).",
        "",
    ]
    if rows:
        lines += [
            "| architecture | stride | native wall for the whole file (s) | native x RT (CPU) | "
            "live stream x RT | batched / live (CPU) | classic TFLite x RT (CPU) | "
            "native / classic (CPU) | figures on the prefix (native; classic) | "
            "max score diff vs TFLite |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
    for r in rows:
        figs = (f"same: {r['native_fig']}" if r["native_fig"] == r["classic_fig"] else
                f"{r['native_fig']}; {r['classic_fig']}")
        lines.append(
            f"| {r['arch']}{'' if r['batched'] else ' (streams)'} | {r['stride']} ms | "
            f"{r['native_wall']:.2f} | {r['native_rt']:.0f}x ({r['native_rt_cpu']:.0f}x) | "
            f"{r['live_rt']:.0f}x | "
            + (f"{r['forced_rt_cpu'] / r['live_rt_cpu']:.2f}" if r["forced_rt_cpu"] else "-")
            + f" | {r['classic_rt']:.1f}x ({r['classic_rt_cpu']:.1f}x) | "
            f"{r['ratio']:.1f}x ({r['ratio_cpu']:.1f}x) | {figs} | {r['max_diff']:.1g} |")
    lines.append("")
    for arch, walls in many:
        audio = args.many_files * args.duration_seconds
        lines.append(
            f"- Many files ({args.many_files} x {args.duration_seconds:.0f} s, {arch}, 30 ms, "
            "`evaluate_many`, one shared model, a file per thread): "
            + ", ".join(f"{t} thread(s) {w:.2f} s = {args.many_files / w:.2f} files/s = "
                        f"{audio / w:.0f}x real time" for t, w in walls.items())
            + (f" ({walls[1] / min(walls.values()):.2f}x from the other core(s))."
               if 1 in walls and len(walls) > 1 else "."))
    if "extras" in parts:
        lines += [
            f"- Decoder + scoring alone: {len(times)} windows in {decode * 1000:.1f} ms "
            f"({len(times) / decode / 1e6:.2f} M windows/s).",
            f"- Generator: {args.duration_seconds:.0f} s stream in {gen_time:.2f} s "
            f"({args.duration_seconds / gen_time:.0f}x real time).",
        ]
    if quick:
        lines.append(f"- Trained model `{args.quick_model}` on this stream: {quick}.")
    section = "\n".join(lines) + "\n"
    print(section)
    out = Path(args.output)
    text = out.read_text() if out.exists() else "# kws benchmarks\n"
    pattern = re.compile(r"## Streaming \(bench/bench_stream\.py\)\n.*?(?=\n## |\n<!-- |\Z)", re.S)
    # The new run goes first; the section's earlier runs stay below it.
    found = pattern.search(text)
    if found:
        earlier = found.group(0).split("\n", 1)[1].strip("\n")
        text = (text[:found.start()] + section + "\nEarlier runs:\n\n" + earlier + "\n"
                + text[found.end():])
    else:
        text = text.rstrip("\n") + "\n\n" + section
    out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
