"""`kws demo`: the whole workflow on a fresh machine, with no data and no network.

Makes a synthetic speech dataset, trains the quick recipe, exports `model.kws`, generates
streaming tests, evaluates them with the native `kws-stream-eval`, then prints a short
report and writes pictures (confusion matrices, detection curves, a spectrogram) to
`--out`, which keeps everything it made so the README's next steps can use it.

With real recordings in the Speech Commands layout (`--real_data DIR`, or KWS_SAMPLE_DIR;
e.g. the official test set from `kws download --test_set --data_dir DIR`) the streaming
test, the clip accuracy and a few labelled clips are also measured on real voices.
"""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import kws
from kws.commands.flags import Parser
from kws.files import atomic_write
from kws.labels import DEFAULT_WANTED_WORDS
from kws.train.data import DatasetIndex
from kws.train.pipeline import load_clip_samples
from kws.train.report import confusion_matrix, confusion_matrix_png


def real_data_dir(given: str) -> Path | None:
    """The real recordings to try: --real_data, else KWS_SAMPLE_DIR, else none."""
    text = given or os.environ.get("KWS_SAMPLE_DIR", "")
    if not text:
        return None
    folder = Path(text)
    if not (folder / "yes").is_dir():
        raise ValueError(f"--real_data {folder}: not a Speech Commands folder (no yes/ in it)")
    return folder


class StepFailed(RuntimeError):
    """A step's command failed; it has already printed its own error."""


class Demo:
    def __init__(self, args) -> None:
        self.args = args
        self.out = Path(args.out).resolve()
        self.report: list[str] = []
        self.step = 0
        self.total_steps = 7
        self.t0 = time.time()

    # -- helpers

    def header(self, text: str) -> None:
        self.step += 1
        elapsed = time.time() - self.t0
        print(f"\n=== [{self.step}/{self.total_steps}] {text}  (elapsed {elapsed:.0f} s)", flush=True)

    def kws(self, *argv: str) -> str:
        """Runs `kws <argv>`, showing its output live; returns everything it printed."""
        cmd = [sys.executable, "-m", "kws.cli", *argv]
        print("$ kws " + " ".join(argv), flush=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        chunks: list[str] = []
        # stdout and stderr together (training logs go to stderr); pass bytes through as
        # they come so progress bars stay live.
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=env) as proc:
            assert proc.stdout is not None
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            while True:
                data = proc.stdout.read1(4096)
                if not data:
                    break
                text = decoder.decode(data)
                sys.stdout.write(text)
                sys.stdout.flush()
                chunks.append(text)
        if proc.returncode != 0:
            raise StepFailed(f"`kws {argv[0]}` failed with exit code {proc.returncode} "
                             "(its error is above)")
        return "".join(chunks)

    # -- steps

    def make_dataset(self) -> Path:
        data = self.out / "data"
        self.header("Making a synthetic speech dataset with espeak-ng and flite")
        if (data / "yes").is_dir() and (data / "_background_noise_").is_dir():
            print(f"{data} already exists: reusing it")
        else:
            self.kws("make-dataset", "--out", str(data), "--clips_per_word",
                     str(self.args.clips_per_word), "--seed", str(self.args.seed))
        return data

    def train(self, data: Path) -> Path:
        self.header("Training the quick recipe")
        train_dir = self.out / "train"
        argv = ["train", "--recipe", "quick", "--data_dir", str(data), "--data_url", "",
                "--train_dir", str(train_dir), "--summaries_dir", str(self.out / "logs"),
                "--wanted_words", self.args.wanted_words, "--resume"]
        if self.args.steps:
            argv += ["--how_many_training_steps", str(self.args.steps)]
        text = self.kws(*argv)
        for line in text.splitlines():
            if "Final test accuracy" in line:
                final = line[line.index("Final test accuracy"):].strip()
                self.report.append(f"training: {final} (synthetic test partition)")
        return train_dir

    def export(self, train_dir: Path) -> Path:
        self.header("Exporting model.kws for the native runtime")
        self.kws("export", "--start_checkpoint", str(train_dir), "--output_dir", str(self.out))
        return self.out / "model.kws"

    def streams(self, data: Path, sample_dir: Path | None) -> list[tuple[str, Path, Path]]:
        self.header("Generating streaming tests")
        streams = []
        sources = [("synthetic", data)]
        if sample_dir is not None:
            sources.append(("real", sample_dir))
        for name, src in sources:
            wav = self.out / "streams" / f"{name}.wav"
            truth = self.out / "streams" / f"{name}.txt"
            wav.parent.mkdir(parents=True, exist_ok=True)
            self.kws("gen-stream", "--data_dir", str(src), "--output_wav", str(wav),
                     "--output_ground_truth", str(truth), "--wanted_words",
                     self.args.wanted_words, "--duration_seconds", str(self.args.stream_seconds),
                     "--seed", str(self.args.seed))
            streams.append((name, wav, truth))
        return streams

    def stream_eval(self, model: Path, streams) -> None:
        self.header("Evaluating the streams with kws-stream-eval (native runtime)")
        for name, wav, truth in streams:
            js = self.out / "streams" / f"{name}_eval.json"
            sweep = self.out / "streams" / f"{name}_sweep"
            text = self.kws("stream-eval", "--wav", str(wav), "--ground_truth", str(truth),
                            "--model", str(model), "--json", str(js), "--sweep",
                            "--sweep_output", str(sweep))
            summary = [ln for ln in text.splitlines() if "% matched" in ln]
            figures = json.loads(js.read_text()) if js.exists() else {}
            extra = ""
            if figures:
                fph = figures.get("false_positives_per_hour")
                miss = figures.get("miss_rate")
                if fph is not None and miss is not None:
                    extra = f"; {fph:.1f} false positives per hour, miss rate {100 * miss:.1f}%"
            self.report.append(f"stream ({name} voices): {summary[-1] if summary else '?'}{extra}")

    def evaluate_clips(self, model_path: Path, data: Path, sample_dir: Path | None) -> None:
        """Accuracy and confusion matrices of the native model on test partitions, silence
        entries included (made from background noise as in training's evaluation)."""
        self.header("Accuracy of the native model on one-second test clips")
        model = kws.Model.load(str(model_path))
        sources = [("synthetic", data)] + ([("real", sample_dir)] if sample_dir else [])
        for name, src in sources:
            index = DatasetIndex(str(src), self.args.wanted_words)
            clips, truth = load_clip_samples(index, "testing")
            pred = np.asarray(model.predict(clips)).argmax(axis=1)
            acc = float((pred == truth).mean())
            cm = confusion_matrix(truth, pred, len(index.labels))
            self.report.append(
                f"clips ({name} voices, testing partition): {100 * acc:.1f}% of {len(truth)} correct")
            png = confusion_matrix_png(cm, index.labels, f"{name} voices: {100 * acc:.1f}% correct",
                                       size_inches=7, dpi=100)
            atomic_write(self.out / f"confusion_{name}.png", png)
            print(f"{name}: {100 * acc:.1f}% of {len(truth)} clips correct")

    def label_real(self, model_path: Path, sample_dir: Path | None) -> None:
        self.header("Labelling a few real clips with kws label-wav")
        if sample_dir is None:
            print("no --real_data: skipped")
            return
        for word in ("yes", "stop", "left"):
            wav = sorted((sample_dir / word).glob("*.wav"))[0]
            print(f"-- {word}: {wav.name}")
            self.kws("label-wav", "--graph", str(model_path), "--wav", str(wav))
        wav = sorted((sample_dir / "yes").glob("*.wav"))[0]
        self.kws("spectrogram", "--input_wav", str(wav), "--output_image",
                 str(self.out / "spectrogram_yes.png"))

    def run(self) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        sample_dir = real_data_dir(self.args.real_data)
        if sample_dir is None:
            print("no --real_data (or KWS_SAMPLE_DIR): the steps on real voices are skipped; "
                  "`kws download --test_set --data_dir DIR` fetches real recordings")
        data = self.make_dataset()
        train_dir = self.train(data)
        model = self.export(train_dir)
        streams = self.streams(data, sample_dir)
        self.stream_eval(model, streams)
        self.evaluate_clips(model, data, sample_dir)
        self.label_real(model, sample_dir)
        elapsed = time.time() - self.t0
        lines = ["kws demo report", f"output folder: {self.out}", *self.report,
                 f"pictures: {', '.join(sorted(p.name for p in self.out.glob('*.png')))}",
                 f"detection curves: {self.out / 'streams'}",
                 f"total time: {elapsed / 60:.1f} min"]
        text = "\n".join(lines)
        (self.out / "report.txt").write_text(text + "\n")
        print("\n" + text)
        return 0


def main(argv: list[str]) -> int:
    p = Parser(prog="kws demo", description=__doc__)
    p.add_argument("--out", default="kws-demo", help="folder for everything the demo makes")
    p.add_argument("--clips_per_word", type=int, default=150,
                   help="synthetic clips per word")
    p.add_argument("--steps", default="",
                   help="training steps (the quick recipe's own count if empty)")
    p.add_argument("--stream_seconds", type=int, default=300, help="length of each test stream")
    p.add_argument("--wanted_words", default=DEFAULT_WANTED_WORDS)
    p.add_argument("--real_data", "--sample_dir", dest="real_data", default="",
                   help="a folder of real recordings in the Speech Commands layout to try "
                        "the model on (default: KWS_SAMPLE_DIR, else none)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    try:
        return Demo(args).run()
    except StepFailed as e:
        print(f"kws demo: error: {e}", file=sys.stderr)
        return 1
