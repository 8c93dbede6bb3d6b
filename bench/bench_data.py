"""Benchmarks of the data path: `kws make-dataset` and the tf.data training pipeline.

  python bench/bench_data.py [--jobs 2] [--batches 60] [--write]

Measures, in one run:
  - make-dataset clips per second with --jobs workers and with 1, against raw espeak-ng
    synthesis of the same words in this process (the reference);
  - augmented training batches (decode + shift + background + clip + MFCC features) per
    second over the synthetic dataset plus the real sample, against the MFCC front end
    alone on the same number of in-memory clips (the reference).
`--write` replaces the "Data pipeline" section of BENCHMARKS.md with the results.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Data pipeline and make-dataset"


def bench_make_dataset(out: Path, jobs: int) -> dict:
    import numpy as np

    from kws.train.make_dataset import COMMAND_WORDS, Espeak, make_dataset, make_speakers, speak

    words = COMMAND_WORDS
    clips_per_word = 200
    res = {"clips": len(words) * clips_per_word}
    for j in sorted({jobs, 1}, reverse=True):
        target = out / f"synth_jobs{j}"
        shutil.rmtree(target, ignore_errors=True)
        t = time.perf_counter()
        make_dataset(target, words=words, clips_per_word=clips_per_word, speakers=100, seed=1,
                     noise_seconds=30, jobs=j, progress=False)
        res[f"jobs{j}_s"] = time.perf_counter() - t
    # Reference: espeak-ng synthesis alone (no resampling, levels, files), one process.
    espeak = Espeak.get()
    speakers = make_speakers(100, 1, espeak, voices="espeak")
    rng = np.random.default_rng(0)
    n = 600
    t = time.perf_counter()
    for k in range(n):
        espeak.synth(words[k % len(words)], speakers[k // 6 % 100].espeak_name, 170, 50, 50)
    res["synth_only_per_s"] = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for k in range(n // 3):
        speak(words[k % len(words)], speakers[k // 6 % 100], rng, 15360, espeak)
    res["speak_per_s"] = (n // 3) / (time.perf_counter() - t)
    return res


def bench_pipeline(data_dirs: list[Path], batches: int, batch_size: int) -> dict:
    import numpy as np
    import tensorflow as tf

    from kws.train.data import DatasetIndex
    from kws.train.features import tf_features
    from kws.train.pipeline import make_dataset
    from kws.train.settings import ModelSettings

    idx = DatasetIndex([str(d) for d in data_dirs], "yes,no,up,down,left,right,on,off,stop,go",
                       validation_percentage=10, testing_percentage=10)
    settings = ModelSettings(label_count=len(idx.labels))
    res = {"training_entries": idx.set_size("training")}
    ds = make_dataset(idx, "training", settings, batch_size, seed=1)
    it = iter(ds)
    for _ in range(5):  # warm-up: tracing, thread pools
        next(it)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    res["pipeline_clips_per_s"] = batches * batch_size / (time.perf_counter() - t)
    # Reference: the front end alone on in-memory batches, same batch size.
    x = tf.constant(np.random.default_rng(0).uniform(-0.3, 0.3, (batch_size, 16000)), tf.float32)
    f = tf.function(lambda s: tf_features(s, settings))
    f(x)
    t = time.perf_counter()
    for _ in range(batches):
        f(x).numpy()
    res["features_only_clips_per_s"] = batches * batch_size / (time.perf_counter() - t)
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--batches", type=int, default=60)
    p.add_argument("--batch_size", type=int, default=100)
    p.add_argument("--sample_dir", default=str(ROOT.parent / "shared/data/speech_commands_sample"))
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = p.parse_args()
    out = ROOT / "bench" / "out" / "data"
    out.mkdir(parents=True, exist_ok=True)

    md = bench_make_dataset(out, args.jobs)
    pl = bench_pipeline([out / f"synth_jobs{args.jobs}", Path(args.sample_dir)], args.batches,
                        args.batch_size)
    jobs_rate = md["clips"] / md[f"jobs{args.jobs}_s"]
    one_rate = md["clips"] / md["jobs1_s"]
    rows = [
        ("make-dataset, 10 words x 200 clips + 7 noises x 30 s",
         f"--jobs {args.jobs}", f"{jobs_rate:.0f} clips/s ({md[f'jobs{args.jobs}_s']:.1f} s)",
         f"{jobs_rate / md['speak_per_s']:.2f}x one-process speak()"),
        ("make-dataset, same", "--jobs 1", f"{one_rate:.0f} clips/s ({md['jobs1_s']:.1f} s)",
         f"{one_rate / md['speak_per_s']:.2f}x one-process speak()"),
        ("reference: espeak-ng synthesis only", "1 process",
         f"{md['synth_only_per_s']:.0f} clips/s", ""),
        ("reference: speak() (synthesis + trim + resample)", "1 process",
         f"{md['speak_per_s']:.0f} clips/s", ""),
        (f"training pipeline (decode, shift, noise, MFCC), batch {args.batch_size}",
         "tf.data AUTOTUNE", f"{pl['pipeline_clips_per_s']:.0f} clips/s",
         f"{pl['pipeline_clips_per_s'] / pl['features_only_clips_per_s']:.2f}x features alone"),
        ("reference: tf_features alone on in-memory clips", "same batch",
         f"{pl['features_only_clips_per_s']:.0f} clips/s", ""),
    ]
    lines = [
        SECTION,
        "",
        f"`python bench/bench_data.py --jobs {args.jobs} --batches {args.batches} --write` "
        f"({platform.machine()}, {os.cpu_count()} cores, load average at the end "
        f"{os.getloadavg()[0]:.1f} (other jobs share the machine), "
        f"Python {platform.python_version()}; "
        f"pipeline over the synthetic set + the real sample, {pl['training_entries']} "
        "training entries)",
        "",
        "| what | setting | throughput | ratio |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        path = ROOT / "BENCHMARKS.md"
        old = path.read_text() if path.exists() else "# kws benchmarks\n\n"
        if SECTION in old:
            old = re.sub(re.escape(SECTION) + r".*?(?=\n## |\Z)", text.rstrip() + "\n", old,
                         flags=re.S)
        else:
            old = old.rstrip() + "\n\n" + text
        path.write_text(old)
    return 0


if __name__ == "__main__":
    sys.exit(main())
