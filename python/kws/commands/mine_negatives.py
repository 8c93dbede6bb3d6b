"""`kws mine-negatives`: collect the windows a model fires on wrongly, as training clips.

Runs a model over long WAVs as `kws stream-eval` does (same decoder and flags) and writes
each window that made a false detection as a one-clip WAV into a dataset folder, ready to
be added to `kws train --data_dir` (its folder names are labels):

  <output_dir>/_silence_/  windows over no word at all (noise, room sound) on which the
                           model reported a keyword or `_unknown_`;
  <output_dir>/_unknown_/  windows over a non-keyword word on which it reported a keyword.

With ground truth (`word, time_ms` lines, as `kws gen-stream` writes) a window's words are
known: a window that overlaps a keyword's clip is never taken (it is not a negative). A
WAV without ground truth is taken to hold no keyword: its keyword detections are written
to --unlabelled_as (`_unknown_` by default; `_silence_` for recordings without speech).
Each clip is the window, of the model's clip length, that scored the detected label
highest in the decoder's averaging window before the detection. File names put every clip
in the training partition of --validation_percentage/--testing_percentage (pass the
values you train with); new clips are numbered after those already in the folder, so
mining again adds to it. `mined.csv` in the output folder lists each clip with its source
WAV, window, label and score.
"""

from __future__ import annotations

import csv
import os
import re
import sys
from pathlib import Path

import numpy as np

from kws import StreamingEvaluator, StreamingOptions, bundled, evaluate_window_scores
from kws._core import read_ground_truth, which_set_native
from kws.commands.flags import Parser, add_option_flags
from kws.commands.models import model_or_default
from kws.commands.stream_eval import read_labels
from kws.labels import SILENCE_LABEL, UNKNOWN_WORD_LABEL
from kws.wav_io import read_wav, write_wav

OPTION_FIELDS = ("clip_stride_ms", "average_window_ms", "suppression_ms", "detection_threshold",
                 "time_tolerance_ms", "minimum_count", "decision_delay_ms", "allow_repeats")
MAX_CLIPS = 1_000_000
SPEAKER = "mined"  # clips are <SPEAKER><k>_nohash_<n>.wav; k puts them in training
MANIFEST = "mined.csv"
MANIFEST_FIELDS = ("clip", "wav", "window_ms", "detection_ms", "label", "score", "verdict")


def build_parser() -> Parser:
    p = Parser(prog="kws mine-negatives", description=__doc__)
    p.add_argument("--wav", nargs="+", required=True, help="long mono WAV file(s)")
    p.add_argument("--ground_truth", nargs="+", default=None,
                   help="ground-truth file(s) of `word, time_ms` lines, one per WAV (default: "
                        "none, each WAV holds no keyword)")
    p.add_argument("--output_dir", required=True,
                   help="dataset folder to write _silence_/ and _unknown_/ clips into")
    p.add_argument("--model", default=None,
                   help="a model.kws file or a bundled model's name (default: the bundled "
                        f"'{bundled.DEFAULT_MODEL}')")
    p.add_argument("--labels", default=None,
                   help="labels file, one per line (default: the model's own labels)")
    add_option_flags(p, StreamingOptions(), {f: f for f in OPTION_FIELDS})
    p.add_argument("--unlabelled_as", choices=(UNKNOWN_WORD_LABEL, SILENCE_LABEL),
                   default=UNKNOWN_WORD_LABEL,
                   help="folder of the keyword detections in WAVs without ground truth")
    p.add_argument("--max_clips", type=int, default=10000,
                   help=f"write at most this many clips, the highest-scoring first (1 to "
                        f"{MAX_CLIPS:,}; default: 10000)")
    p.add_argument("--validation_percentage", type=float, default=10.0,
                   help="the split the clips will be trained with (names hash into training)")
    p.add_argument("--testing_percentage", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=0, help="scoring threads (0: all cores)")
    return p


def training_speaker(validation_percentage: float, testing_percentage: float) -> str:
    """The first `mined<k>` speaker name whose clips fall in the training partition."""
    if not (0 <= validation_percentage and 0 <= testing_percentage
            and validation_percentage + testing_percentage < 100):
        raise ValueError("--validation_percentage and --testing_percentage must be >= 0 and "
                         f"leave room for training, got {validation_percentage:g} and "
                         f"{testing_percentage:g}")
    for k in range(100000):
        name = f"{SPEAKER}{k}"
        if which_set_native(f"{name}_nohash_0.wav", validation_percentage,
                            testing_percentage) == "training":
            return name
    raise ValueError(f"no speaker name hashes into training with --validation_percentage "
                     f"{validation_percentage:g} --testing_percentage {testing_percentage:g}")


def _window_words(entries: list[tuple[str, int]], start_ms: int, clip_ms: int) -> list[str]:
    """Labels of the ground-truth words whose clips overlap the window [start, start + clip)."""
    return [label for label, t in entries if t < start_ms + clip_ms and t + clip_ms > start_ms]


def mine(times: np.ndarray, scores: np.ndarray, labels: list[str], detections,
         entries: list[tuple[str, int]] | None, clip_ms: int, average_window_ms: int,
         unlabelled_as: str = UNKNOWN_WORD_LABEL) -> list[dict]:
    """The false detections worth training against, each as {"folder", "window" (index into
    `times`), "detection_ms", "label", "score", "verdict"}. `detections` are scored against
    `entries` (None: no ground truth, no keyword in the audio)."""
    keywords = {lab for lab in labels if lab not in (SILENCE_LABEL, UNKNOWN_WORD_LABEL)}
    found = []
    for d in detections:
        if d.verdict == "Correct":
            continue
        if entries is None:
            if d.label not in keywords:
                continue
            folder = unlabelled_as
        else:
            if d.verdict == "Wrong" and d.word >= 0 and entries[d.word][0] in keywords:
                continue  # a keyword heard as another label: not a negative
            folder = None
        column = labels.index(d.label)
        span = np.flatnonzero((times >= d.time_ms - average_window_ms) & (times <= d.time_ms))
        if span.size == 0:
            span = np.flatnonzero(times <= d.time_ms)[-1:]
        window = int(span[np.argmax(scores[span, column])])
        if folder is None:
            words = _window_words(entries, int(times[window]), clip_ms)
            if any(w in keywords for w in words):
                continue  # part of a keyword under it: not a negative
            if words:
                if d.label not in keywords:
                    continue  # `_unknown_` on a non-keyword word is right
                folder = UNKNOWN_WORD_LABEL
            else:
                folder = SILENCE_LABEL
        found.append({"folder": folder, "window": window, "detection_ms": int(d.time_ms),
                      "label": d.label, "score": float(d.score), "verdict": d.verdict})
    return found


def _next_number(folder: Path, speaker: str) -> int:
    pattern = re.compile(rf"{re.escape(speaker)}_nohash_(\d+)\.wav$")
    numbers = [int(m.group(1)) for n in os.listdir(folder) if (m := pattern.match(n))]
    return max(numbers, default=-1) + 1


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.ground_truth is not None and len(args.ground_truth) != len(args.wav):
        print(f"kws mine-negatives: {len(args.wav)} --wav files but {len(args.ground_truth)} "
              "--ground_truth files: give one ground truth per WAV, or none", file=sys.stderr)
        return 2
    if not 1 <= args.max_clips <= MAX_CLIPS:
        raise ValueError(f"--max_clips {args.max_clips}: expected 1 to {MAX_CLIPS:,}")
    speaker = training_speaker(args.validation_percentage, args.testing_percentage)
    output = Path(args.output_dir)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output_dir {output}: exists and is not a folder")
    # Named before the mining when the folder cannot be made there: the nearest existing
    # folder on its path must be a writable folder.
    nearest = output.absolute()
    while not os.path.lexists(nearest) and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir() or not os.access(nearest, os.W_OK | os.X_OK):
        raise ValueError(f"--output_dir {output}: cannot make the folder: {nearest} is not a "
                         "writable folder")
    model_path = str(bundled.resolve(model_or_default(args.model, "kws mine-negatives")))
    options = StreamingOptions(**{k: getattr(args, k) for k in OPTION_FIELDS})
    evaluator = StreamingEvaluator(
        model_path, labels=read_labels(args.labels) if args.labels else [], options=options)
    rate, clip = evaluator.sample_rate, evaluator.clip_samples
    clip_ms = clip * 1000 // rate
    labels = list(evaluator.labels)

    threads = args.threads or os.cpu_count() or 1
    candidates = []  # (score, wav index, found)
    for i, wav in enumerate(args.wav):
        samples, wav_rate = read_wav(wav)
        if wav_rate != rate:
            raise ValueError(f"{wav}: sample rate {wav_rate} Hz, the model expects {rate} Hz")
        if samples.size < clip:
            raise ValueError(f"{wav}: {samples.size} samples, shorter than the model's clip "
                             f"({clip})")
        entries, truth = None, ""
        if args.ground_truth is not None:
            gt = read_ground_truth(args.ground_truth[i])
            if gt["malformed_lines"]:
                print(f"warning: {args.ground_truth[i]}: skipped {gt['malformed_lines']} "
                      "malformed line(s) (not `word, time_ms`)", file=sys.stderr)
            entries = [(label, int(t)) for label, t in gt["entries"]]
            truth = "".join(f"{label}, {t}\n" for label, t in entries)
        times, scores = evaluator.compute_scores(samples, threads=threads)
        report = evaluate_window_scores(times, scores, labels, truth,
                                        1000.0 * samples.size / rate, options=options)
        found = mine(times, scores, labels, report.detections, entries, clip_ms,
                     args.average_window_ms, args.unlabelled_as)
        for f in found:
            f["window_ms"] = int(times[f["window"]])
            candidates.append((f["score"], i, f))
        print(f"{wav}: {len(found)} false detection(s) to mine ({report.accuracy.summary})")

    candidates.sort(key=lambda c: -c[0])
    kept = candidates[: args.max_clips]
    if len(candidates) > len(kept):
        print(f"kept the {len(kept)} highest-scoring of {len(candidates)} (--max_clips)")
    written = {SILENCE_LABEL: 0, UNKNOWN_WORD_LABEL: 0}
    numbers: dict[str, int] = {}
    source, samples, manifest = None, None, None
    try:
        for _, i, f in sorted(kept, key=lambda c: (c[1], c[2]["window_ms"])):
            if source != i:  # each WAV read again only while its clips are written
                source, samples = i, read_wav(args.wav[i])[0]
            folder = output / f["folder"]
            if f["folder"] not in numbers:
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise ValueError(f"--output_dir {output}: cannot make {folder}: "
                                     f"{e.strerror}") from None
                numbers[f["folder"]] = _next_number(folder, speaker)
            path = folder / f"{speaker}_nohash_{numbers[f['folder']]}.wav"
            numbers[f["folder"]] += 1
            start = f["window_ms"] * rate // 1000
            piece = np.zeros(clip, dtype=np.float32)
            part = samples[start:start + clip]
            piece[: part.size] = part
            write_wav(path, piece, rate)
            written[f["folder"]] += 1
            if manifest is None:  # a row per clip as it is written: an interrupted run's
                new = not (output / MANIFEST).exists()  # clips are all listed
                manifest = open(output / MANIFEST, "a", newline="")
                rows = csv.DictWriter(manifest, fieldnames=MANIFEST_FIELDS)
                if new:
                    rows.writeheader()
            rows.writerow({"clip": str(path.relative_to(output)), "wav": args.wav[i],
                           "window_ms": f["window_ms"], "detection_ms": f["detection_ms"],
                           "label": f["label"], "score": f"{f['score']:.6g}",
                           "verdict": f["verdict"]})
            manifest.flush()
    finally:
        if manifest is not None:
            manifest.close()
    print(f"wrote {written[SILENCE_LABEL]} clip(s) to {output / SILENCE_LABEL} and "
          f"{written[UNKNOWN_WORD_LABEL]} to {output / UNKNOWN_WORD_LABEL}"
          + (f"; listed in {output / MANIFEST}" if manifest else ""))
    return 0
