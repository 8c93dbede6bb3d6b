"""MFCC throughput: kws's C++ front end against tf.raw_ops (AudioSpectrogram + Mfcc) and
kaldi-native-fbank's OnlineMfcc (the same frame geometry, mel range and sizes; Kaldi's MFCC,
so other numbers), on one thread, in the same run: 1 s clips one by one, one 60 s signal
and that signal in 10 ms chunks. Reports audio seconds processed per second of wall time
(x real time) and the ratio to kws, and writes the "MFCC front end" section of
BENCHMARKS.md.

    python bench/bench_mfcc.py [--clips 500] [--repeats 5] [--no-write]

Each figure is the best of --repeats runs (the machine may be shared; the best run is the
least disturbed one). Needs TensorFlow, kaldi-native-fbank (pip install
kaldi-native-fbank) and the real sample (KWS_SAMPLE_DIR or
../shared/data/speech_commands_sample).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SECTION = "MFCC front end"
RATE = 16000


def sample_dir() -> Path:
    env = os.environ.get("KWS_SAMPLE_DIR")
    d = Path(env) if env else REPO.parent / "shared" / "data" / "speech_commands_sample"
    if not d.is_dir():
        raise SystemExit(f"real speech sample not found at {d}: set KWS_SAMPLE_DIR")
    return d


def load_clips(n: int) -> list[np.ndarray]:
    """n one-second clips of real speech (padded or cropped to 16000 samples)."""
    import kws

    files = sorted(
        p for p in sample_dir().glob("*/*.wav") if not p.parent.name.startswith("_")
    )
    if not files:
        raise SystemExit("no speech clips in the sample")
    clips = []
    for i in range(n):
        x, rate = kws.read_wav(str(files[i % len(files)]))
        if rate != RATE:
            raise SystemExit(f"{files[i % len(files)]}: rate {rate}, expected {RATE}")
        clip = np.zeros(RATE, np.float32)
        clip[: min(len(x), RATE)] = x[:RATE]
        clips.append(clip)
    return clips


def best_of(repeats: int, fn) -> tuple[float, float]:
    """Best wall time and best process CPU time (all threads) over `repeats` runs."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        best_cpu = min(best_cpu, time.process_time() - c)
        best_wall = min(best_wall, time.perf_counter() - w)
    return best_wall, best_cpu


def knf_options():
    """kaldi-native-fbank MFCC options with kws's defaults where Kaldi has the same knob:
    30 ms Hann frames every 10 ms (whole frames only), 40 mel bins over 20-4000 Hz, 40
    coefficients, no dither, pre-emphasis, DC removal, energy or lifter."""
    import kaldi_native_fbank as knf

    opts = knf.MfccOptions()
    frame = opts.frame_opts
    frame.samp_freq, frame.frame_length_ms, frame.frame_shift_ms = RATE, 30.0, 10.0
    frame.dither, frame.preemph_coeff, frame.remove_dc_offset = 0.0, 0.0, False
    frame.window_type, frame.snip_edges = "hanning", True
    opts.mel_opts.num_bins, opts.mel_opts.low_freq, opts.mel_opts.high_freq = 40, 20.0, 4000.0
    opts.num_ceps, opts.use_energy, opts.cepstral_lifter = 40, False, 0.0
    return opts


def knf_mfcc(opts, x: np.ndarray) -> np.ndarray:
    """Frames x coefficients of `x` by kaldi-native-fbank's OnlineMfcc (one call per
    frame: its Python API returns frames one by one)."""
    import kaldi_native_fbank as knf

    m = knf.OnlineMfcc(opts)
    m.accept_waveform(RATE, x)
    m.input_finished()
    return np.array([m.get_frame(i) for i in range(m.num_frames_ready)], np.float32)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=500, help="1 s clips computed one by one")
    ap.add_argument("--long_seconds", type=int, default=60, help="length of the long signal")
    ap.add_argument("--repeats", type=int, default=5, help="runs per figure (best is kept)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md")
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    try:
        import kaldi_native_fbank as knf
    except ImportError:
        raise SystemExit("kaldi-native-fbank is a peer of this benchmark: "
                         "pip install kaldi-native-fbank") from None
    import kws

    clips = load_clips(args.clips)
    long_signal = np.concatenate(load_clips(args.long_seconds))
    window, stride = 480, 160

    def tf_mfcc(x):
        spectrogram = tf.raw_ops.AudioSpectrogram(
            input=tf.expand_dims(x, -1), window_size=window, stride=stride, magnitude_squared=True
        )
        return tf.raw_ops.Mfcc(
            spectrogram=spectrogram, sample_rate=RATE, upper_frequency_limit=4000.0,
            lower_frequency_limit=20.0, filterbank_channel_count=40, dct_coefficient_count=40,
        )

    tf_graph = tf.function(tf_mfcc, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf_clips = [tf.constant(c) for c in clips]  # conversion is not part of TF's time
    tf_long = tf.constant(long_signal)

    # Same numbers first: a benchmark of different computations would be meaningless.
    for c, t in zip(clips[:20], tf_clips[:20]):
        diff = np.max(np.abs(kws.mfcc(c) - tf_mfcc(t)[0].numpy()))
        assert diff <= 1e-3, f"kws and TensorFlow disagree by {diff}"
    diff_long = np.max(np.abs(kws.mfcc(long_signal) - tf_graph(tf_long)[0].numpy()))
    assert diff_long <= 1e-3, f"kws and TensorFlow disagree by {diff_long} on the long signal"
    # Kaldi computes another MFCC (its own mel scale and log floor): the same amount of it.
    opts = knf_options()
    for x in (clips[0], long_signal):
        shape_kws, shape_knf = kws.mfcc(x).shape, knf_mfcc(opts, x).shape
        assert shape_kws == shape_knf, f"kws {shape_kws} against kaldi-native-fbank {shape_knf}"

    def run_kws_clips():
        for c in clips:
            kws.mfcc(c)

    def run_tf_eager_clips():
        for t in tf_clips:
            tf_mfcc(t).numpy()

    def run_tf_graph_clips():
        for t in tf_clips:
            tf_graph(t).numpy()

    def run_kws_stream():
        stream = kws.MfccStream(kws.MfccOptions())
        for start in range(0, len(long_signal), stride):
            stream.accept_waveform(long_signal[start : start + stride])
            stream.pop_frames()

    def run_knf_clips():
        for c in clips:
            knf_mfcc(opts, c)

    def run_knf_stream():
        m = knf.OnlineMfcc(opts)
        done = 0
        for start in range(0, len(long_signal), stride):
            m.accept_waveform(RATE, long_signal[start : start + stride])
            while done < m.num_frames_ready:
                m.get_frame(done)
                done += 1

    # Warm up every path (tracing, caches, lazy initialisation).
    run_kws_clips(), run_tf_eager_clips(), run_tf_graph_clips()
    kws.mfcc(long_signal), tf_mfcc(tf_long).numpy(), tf_graph(tf_long).numpy()

    clip_seconds = float(len(clips))
    long_seconds = len(long_signal) / RATE
    clips_label = "1 s clips one by one"
    long_label = f"one {long_seconds:g} s signal"
    workloads = [
        (clips_label, "kws.mfcc (C++)", clip_seconds, run_kws_clips),
        (clips_label, "tf.raw_ops, eager", clip_seconds, run_tf_eager_clips),
        (clips_label, "tf.raw_ops in tf.function", clip_seconds, run_tf_graph_clips),
        (clips_label, "kaldi-native-fbank OnlineMfcc", clip_seconds, run_knf_clips),
        (long_label, "kws.mfcc (C++)", long_seconds, lambda: kws.mfcc(long_signal)),
        (long_label, "tf.raw_ops, eager", long_seconds, lambda: tf_mfcc(tf_long).numpy()),
        (long_label, "tf.raw_ops in tf.function", long_seconds, lambda: tf_graph(tf_long).numpy()),
        (long_label, "kaldi-native-fbank OnlineMfcc", long_seconds,
         lambda: knf_mfcc(opts, long_signal)),
        (long_label + ", 10 ms chunks", "kws.MfccStream (C++)", long_seconds, run_kws_stream),
        (long_label + ", 10 ms chunks", "kaldi-native-fbank OnlineMfcc", long_seconds,
         run_knf_stream),
    ]
    rows = [(w, impl, sec, best_of(args.repeats, fn)) for w, impl, sec, fn in workloads]

    kws_cpu = {w: cpu for w, impl, _, (_, cpu) in rows if impl.startswith("kws.")}
    lines = [
        "| workload | implementation | wall ms per audio s | x real time (wall) "
        "| CPU ms per audio s | x real time (CPU) | kws speed-up (CPU) |",
        "|---|---|---|---|---|---|---|",
    ]
    for workload, impl, seconds, (wall, cpu) in rows:
        base = kws_cpu.get(workload)
        ratio = f"{cpu / base:.2f}x" if base and not impl.startswith("kws") else "-"
        lines.append(
            f"| {workload} | {impl} | {wall / seconds * 1e3:.3f} | {seconds / wall:,.0f} "
            f"| {cpu / seconds * 1e3:.3f} | {seconds / cpu:,.0f} | {ratio} |"
        )
    table = "\n".join(lines)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    build = kws.build_info()

    passed = sys.argv[1:] if argv is None else argv
    command = " ".join(["python bench/bench_mfcc.py", *passed])
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if cores and len(cores) < (os.cpu_count() or 0):
        command = f"taskset -c {','.join(map(str, cores))} {command}"
    section = "\n".join([
        f"## {SECTION}",
        "",
        f"Command: `{command}` (from the repository root, kws installed, TensorFlow present).",
        "",
        f"Single thread (TensorFlow intra/inter-op threads = 1; kws is single-threaded), "
        f"default settings (30 ms window, 10 ms stride, 40 mel channels, 40 coefficients), "
        f"real speech clips from the sample, {len(clips)} clips one by one, best of "
        f"{args.repeats} runs. kws and TensorFlow agree within 1e-3 (checked by the script; "
        f"max diff {max(diff_long, 0):.1e} on the long signal); kaldi-native-fbank "
        f"{getattr(knf, '__version__', '?')} computes Kaldi's MFCC with the same frame "
        f"geometry, mel range and sizes (the same number of frames and coefficients, checked; "
        f"other values: its own mel scale and log floor), through its Python API, which "
        f"returns one frame per call. \"x real time\" = audio seconds "
        f"processed per second of wall time or of process CPU time; CPU time is the "
        f"steadier measure on a shared or virtual machine, and the speed-up (how many times "
        f"less CPU kws "
        f"needs than that implementation on the same workload) is computed from it.",
        "",
        table,
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {cpu_name()} "
        f"({os.cpu_count()} cores; load average {load:.1f} at the end), kws "
        f"{build['version']} ({'-march=native' if build['native_arch'] else 'portable'} "
        f"build, kernel set {build['kernel_set']}), Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, numpy {np.__version__}, "
        f"kaldi-native-fbank {getattr(knf, '__version__', '?')}.",
        "",
    ])
    print(section)
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", section)
        print(f"updated {REPO / 'BENCHMARKS.md'}")
    return 0


def write_section(path: Path, section: str) -> None:
    """Replaces this benchmark's `## ` section in BENCHMARKS.md (or appends it)."""
    text = path.read_text() if path.exists() else "# kws benchmarks\n\n"
    pattern = re.compile(rf"^## {re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    sys.exit(main())
