"""`kws demo`: the whole workflow on a fresh machine, with no data and no network.

Makes a synthetic speech dataset, trains the quick recipe, exports `model.kws`, generates
streaming tests, evaluates them with the native `kws-stream-eval`, labels a few real clips
(when `../shared/data/speech_commands_sample` or KWS_SAMPLE_DIR is there), then prints a
short report and writes pictures (confusion matrices, detection curve, a spectrogram) to
`--out`, which keeps everything it made so the README's next steps can use it.
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

from kws.flags import Parser
from kws.settings import DEFAULT_WANTED_WORDS


def default_sample_dir() -> Path | None:
    """The real Speech Commands sample, if present: KWS_SAMPLE_DIR, or ../shared/... from
    the current folder or from the package's source checkout."""
    env = os.environ.get("KWS_SAMPLE_DIR")
    candidates = [Path(env)] if env else []
    rel = Path("shared") / "data" / "speech_commands_sample"
    candidates += [Path.cwd().parent / rel, Path(__file__).resolve().parents[3] / rel]
    for c in candidates:
        if (c / "yes").is_dir():
            return c
    return None


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
            raise RuntimeError(f"`kws {argv[0]}` failed with exit code {proc.returncode}")
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
        """Accuracy and confusion matrices of the native model on test partitions."""
        self.header("Accuracy of the native model on one-second test clips")
        import kws
        from kws.data import DatasetIndex

        model = kws.Model.load(str(model_path))
        sources = [("synthetic", data)] + ([("real", sample_dir)] if sample_dir else [])
        for name, src in sources:
            index = DatasetIndex(str(src), self.args.wanted_words)
            entries = [(p, y) for p, y in index.data["testing"] if p is not None]
            clips = np.stack([index.load_clip(p) for p, _ in entries])
            truth = np.array([y for _, y in entries])
            scores = np.asarray(model.predict(clips))
            pred = scores.argmax(axis=1)
            acc = float((pred == truth).mean())
            n = len(index.labels)
            cm = np.zeros((n, n), dtype=int)
            for t, p in zip(truth, pred):
                cm[t, p] += 1
            self.report.append(
                f"clips ({name} voices, testing partition): {100 * acc:.1f}% of {len(truth)} correct")
            self._plot_confusion(cm, index.labels, f"{name} voices: {100 * acc:.1f}% correct",
                                 self.out / f"confusion_{name}.png")
            print(f"{name}: {100 * acc:.1f}% of {len(truth)} clips correct")

    def label_real(self, model_path: Path, sample_dir: Path | None) -> None:
        self.header("Labelling a few real clips with kws label-wav")
        if sample_dir is None:
            print("no real sample found (set KWS_SAMPLE_DIR): skipped")
            return
        for word in ("yes", "stop", "left"):
            wav = sorted((sample_dir / word).glob("*.wav"))[0]
            print(f"-- {word}: {wav.name}")
            self.kws("label-wav", "--graph", str(model_path), "--wav", str(wav))
        wav = sorted((sample_dir / "yes").glob("*.wav"))[0]
        self.kws("spectrogram", "--input_wav", str(wav), "--output_image",
                 str(self.out / "spectrogram_yes.png"), "--time_axis", "columns")

    @staticmethod
    def _plot_confusion(cm: np.ndarray, labels: list[str], title: str, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 6))
        ax.imshow(cm, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("prediction")
        ax.set_ylabel("truth")
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if cm[i, j] > cm.max() / 2 else "black")
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)

    def run(self) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        sample_dir = Path(self.args.sample_dir) if self.args.sample_dir else default_sample_dir()
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
    p.add_argument("--sample_dir", default="", help="real Speech Commands clips to try")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    return Demo(args).run()
