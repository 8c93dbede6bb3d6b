"""Training benchmarks: steps per second per architecture, and accuracy of the quick recipe.

    python bench/bench_train.py [--parts speed,quick,real] [--steps N] [--synthetic DIR]

Parts:
  speed  training steps per second of every architecture on the default 98 x 40 input,
         batch 100 (model step only: forward, backward, update on precomputed random
         features), and end to end (input pipeline + step) for the quick recipe.
  quick  `--recipe quick` on a synthetic dataset made by `kws make-dataset` (made in a
         temporary folder unless --synthetic is given): accuracy on the synthetic testing
         partition and on real voices (the testing partition of the real sample).
  real   the quick recipe trained on the synthetic dataset plus the training partition of
         ../shared/data/speech_commands_sample; 12-label accuracy on its testing partition.

The real sample holds only speakers of the Speech Commands test set: with the default
10/10 split every clip hashes into the testing partition. Parts quick and real therefore
split it with --validation_percentage 12 --testing_percentage 4 (speakers whose hash
falls in [10, 12) validate, [12, 16) test, [16, 20) train); the synthetic clips get the
same percentages.

Writes each part's rows into the "Training" section of BENCHMARKS.md as soon as that part
finishes (replacing the same part's earlier rows).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]  # kws itself: installed, or PYTHONPATH=python
SAMPLE = Path(os.environ.get("KWS_SAMPLE_DIR", REPO.parent / "shared" / "data" /
                             "speech_commands_sample"))
SPLIT = ["--validation_percentage", "12", "--testing_percentage", "4"]
SECTION_START = "<!-- bench_train start -->"
SECTION_END = "<!-- bench_train end -->"


def write_part(output: str, part: str, command: str, rows: list[str]) -> None:
    """Replace (or add) one part's subsection inside the Training section of BENCHMARKS.md."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    body = "\n".join([f"<!-- part {part} -->", *rows, f"Command: `{command}`. Load average "
                      f"at the end (1, 5, 15 min): {load} on {os.cpu_count()} cores (other "
                      "jobs sharing the cores slow every figure).", f"<!-- end {part} -->"])
    path = Path(output)
    text = path.read_text() if path.exists() else "# kws benchmarks\n"
    if SECTION_START not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION_START}\n## Training\n\n{SECTION_END}\n"
    head, rest = text.split(SECTION_START, 1)
    section, tail = rest.split(SECTION_END, 1)
    start, end = f"<!-- part {part} -->", f"<!-- end {part} -->"
    if start in section and end in section:
        before, after = section.split(start, 1)
        section = before + body + after.split(end, 1)[1]
    else:
        section = section.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(head + SECTION_START + section + SECTION_END + tail)
    print(f"wrote part {part} to {path}", flush=True)


def model_steps_per_second(architecture: str, steps: int) -> float:
    import keras
    import tensorflow as tf

    from kws.train.loop import _make_train_step
    from kws.train.models import build_model
    from kws.train.settings import ModelSettings

    settings = ModelSettings()
    model = build_model(architecture, settings)
    optimizer = keras.optimizers.SGD(0.001)
    step = _make_train_step(model, optimizer, tf.distribute.get_strategy(), 100, False)
    rng = np.random.default_rng(0)
    feats = tf.constant(rng.normal(size=(100, 98, 40)).astype(np.float32))
    labels = tf.constant(rng.integers(0, 12, 100).astype(np.int32))
    for _ in range(3):
        step(feats, labels)
    start = time.perf_counter()
    for _ in range(steps):
        loss, _ = step(feats, labels)
    float(loss)
    return steps / (time.perf_counter() - start)


def run_train(flags: list[str]) -> tuple[float, str]:
    """Runs `kws train` in this process; returns (seconds, log text)."""
    import contextlib
    import io

    from kws.commands import train as train_command

    buf = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(buf):
        code = train_command.main(flags)
    seconds = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"kws train {' '.join(flags)} failed:\n{buf.getvalue()[-3000:]}")
    return seconds, buf.getvalue()


def final_accuracy(log: str) -> str:
    import re

    m = re.search(r"Final test accuracy = ([\d.]+%) \(N=(\d+)\)", log)
    return f"{m[1]} (N={m[2]})" if m else "n/a"


def make_synthetic(out: Path) -> Path:
    from kws.train.make_dataset import make_dataset

    if not (out / "yes").is_dir():
        make_dataset(out, jobs=2, progress=False)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="speed,quick,real")
    p.add_argument("--steps", type=int, default=2000, help="training steps of quick/real")
    p.add_argument("--speed_steps", type=int, default=20)
    p.add_argument("--synthetic", default="", help="an existing synthetic dataset folder")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--output", default=str(REPO / "BENCHMARKS.md"))
    args = p.parse_args()
    parts = set(args.parts.split(","))
    command = "python bench/bench_train.py " + " ".join(sys.argv[1:])
    rows: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="kws-bench-train-"))

    if "speed" in parts:
        from kws.train.models import ARCHITECTURES

        rows += ["### Training speed (2 cores, batch 100, 98 x 40 MFCC input)", "",
                 f"Model step only (forward, backward and SGD update on precomputed random "
                 f"features), {args.speed_steps} timed steps after 3 warm-up steps; "
                 f"parameters include batch norm's moving statistics (the FLOPs table "
                 f"counts trainable ones):", "",
                 "| architecture | parameters | model steps/s | clips/s |", "|---|---|---|---|"]
        from kws.train.models import build_model
        from kws.train.settings import ModelSettings

        for arch in ARCHITECTURES:
            rate = model_steps_per_second(arch, args.speed_steps)
            params = build_model(arch, ModelSettings()).count_params()
            rows.append(f"| {arch} | {params:,} | {rate:.2f} | {rate * 100:.0f} |")
            print(rows[-1], flush=True)
        rows.append("")
        seconds, log = run_train(["--recipe", "quick_tc_resnet", "--data_dir", str(SAMPLE), *SPLIT,
                                  "--how_many_training_steps", "100",
                                  "--eval_step_interval", "1000", "--save_step_interval",
                                  "1000", "--train_dir", str(work / "speed"),
                                  "--summaries_dir", str(work / "speed_logs"),
                                  "--progress", "false"])
        rows.append(f"End to end, `--recipe quick` (tc_resnet, 98 x 40, input pipeline "
                    f"with augmentation + step), 100 steps including start-up and one "
                    f"evaluation: {seconds:.1f} s ({100 / seconds:.2f} steps/s).")
        rows.append("")
        print(rows[-2], flush=True)
        write_part(args.output, "speed", command, rows)
        rows = []

    synthetic = None
    if parts & {"quick", "real"}:
        synthetic = Path(args.synthetic) if args.synthetic else make_synthetic(work / "synth")

    if "quick" in parts:
        train_dir = work / "quick"
        seconds, log = run_train(["--recipe", "quick_tc_resnet", "--data_dir", str(synthetic), *SPLIT,
                                  "--how_many_training_steps", str(args.steps),
                                  "--seed", str(args.seed), "--train_dir", str(train_dir),
                                  "--summaries_dir", str(work / "quick_logs"),
                                  "--progress", "false"])
        from kws.train.loop import evaluate_checkpoint

        real = evaluate_checkpoint(train_dir, str(SAMPLE), "testing",
                                   validation_percentage=12, testing_percentage=4)
        rows += ["### Quick recipe, synthetic data only", "",
                 "| steps | training time | synthetic test accuracy | real-voice test "
                 "accuracy (sample) |", "|---|---|---|---|",
                 f"| {args.steps} | {seconds / 60:.1f} min | {final_accuracy(log)} | "
                 f"{real['accuracy'] * 100:.1f}% (N={real['count']}) |", ""]
        print(rows[-2], flush=True)
        write_part(args.output, "quick", command, rows)
        rows = []

    if "real" in parts:
        train_dir = work / "real"
        seconds, log = run_train(["--recipe", "quick_tc_resnet", "--data_dir", f"{synthetic},{SAMPLE}",
                                  *SPLIT, "--how_many_training_steps", str(args.steps),
                                  "--seed", str(args.seed), "--train_dir", str(train_dir),
                                  "--summaries_dir", str(work / "real_logs"),
                                  "--progress", "false"])
        from kws.train.loop import evaluate_checkpoint

        real = evaluate_checkpoint(train_dir, str(SAMPLE), "testing",
                                   validation_percentage=12, testing_percentage=4)
        matrix = real["confusion_matrix"]
        per_class = ", ".join(
            f"{lab} {matrix[i, i] / max(matrix[i].sum(), 1) * 100:.0f}%"
            for i, lab in enumerate(real["labels"]))
        rows += ["### Quick recipe on synthetic + real (training partition of the sample)", "",
                 "| steps | training time | 12-label accuracy on the sample's testing "
                 "partition |", "|---|---|---|",
                 f"| {args.steps} | {seconds / 60:.1f} min | {real['accuracy'] * 100:.1f}% "
                 f"(N={real['count']}) |", "", f"Per class: {per_class}.", ""]
        print(rows[-4], flush=True)
        write_part(args.output, "real", command, rows)
        rows = []

    return 0


if __name__ == "__main__":
    sys.exit(main())
