"""`kws stream-eval` (also `kws-stream-eval`): the classic streaming accuracy test, fast.
Slides the model's clip over long WAVs in native code, decodes the scores with
RecognizeCommands and scores the detections against each WAV's ground truth. Prints
`M% matched, C% correctly, W% wrongly, F% false positives`. A bundled model is decoded
with the threshold and decision delay its model card recommends, for the flags not given.
With --sweep it also names the swept threshold that gets the most words right with at most
--quiet_per_hour false positives per hour.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path

from kws import StreamingEvaluator, StreamingOptions, bundled
from kws._core import read_ground_truth
from kws.commands.flags import Parser, add_option_flags, option_default
from kws.commands.models import card_decoder, model_or_default
from kws.files import atomic_write

OPTION_FIELDS = ("clip_duration_ms", "clip_stride_ms", "average_window_ms", "suppression_ms",
                 "detection_threshold", "time_tolerance_ms", "minimum_count", "decision_delay_ms",
                 "allow_repeats")


def build_parser() -> Parser:
    p = Parser(prog="kws stream-eval", description=__doc__)
    p.add_argument("--wav", nargs="+", required=True, help="long mono WAV file(s)")
    p.add_argument("--ground_truth", nargs="+", required=True,
                   help="ground-truth file(s) of `word, time_ms` lines, one per WAV")
    p.add_argument("--model", "--graph", dest="model", default=None,
                   help="a model.kws file (kws export) or a bundled model's name (kws models; "
                        f"default: the bundled '{bundled.DEFAULT_MODEL}'); --graph is the "
                        "classic name")
    p.add_argument("--labels", default=None,
                   help="labels file, one per line (default: the model's own labels)")
    defaults = StreamingOptions()
    add_option_flags(p, defaults, {f: f for f in OPTION_FIELDS if f != "clip_stride_ms"})
    p.add_argument("--clip_stride_ms", "--sample_stride_ms", dest="clip_stride_ms", type=int,
                   default=defaults.clip_stride_ms,
                   help=f"{StreamingOptions.clip_stride_ms.__doc__} (default: "
                        f"{defaults.clip_stride_ms}; --sample_stride_ms is the classic name)")
    for name, default in (("input_data_name", "decoded_sample_data:0"),
                          ("input_rate_name", "decoded_sample_data:1"),
                          ("output_name", "labels_softmax")):
        p.add_argument(f"--{name}", default=default,
                       help="accepted for the classic flags: model.kws has one input "
                            "(samples) and one output (the softmax)")
    p.add_argument("--threads", type=int, default=0, help="parallel files (0: all cores)")
    p.add_argument("--verbose", action="store_true",
                   help="one line per detection, then what became of the ground truth's "
                        "words, by label: correct, heard as which other label, missed")
    p.add_argument("--json", default=None, help="write the figures to this JSON file")
    p.add_argument("--sweep", action="store_true",
                   help="also evaluate a range of thresholds (scores computed once) and "
                        "write a CSV and a PNG of miss rate against false positives per hour")
    p.add_argument("--sweep_thresholds", default="0.05:0.95:0.05",
                   help="start:stop:step (inclusive) or a comma list")
    p.add_argument("--sweep_output", default="stream_sweep",
                   help="path prefix of the sweep's .csv and .png")
    p.add_argument("--quiet_per_hour", type=float, default=QUIET_PER_HOUR,
                   help="with --sweep: the false positives per hour the best threshold may "
                        f"cost, 0 to {MAX_QUIET_PER_HOUR:g} (default: {QUIET_PER_HOUR:g})")
    return p


QUIET_PER_HOUR = 1.0
MAX_QUIET_PER_HOUR = 3600.0  # one false positive a second


def rule_key(point: dict, quiet_per_hour: float = QUIET_PER_HOUR) -> tuple:
    """Orders sweep points for choosing a threshold: those with at most `quiet_per_hour`
    false positives per hour first (among the others, the fewest first), then the most words
    correct, the fewest wrong, the higher threshold."""
    rate = point["false_positives_per_hour"]
    quiet = rate <= quiet_per_hour
    return (quiet, 0.0 if quiet else -rate, point["correct_percent"], -point["wrong_percent"],
            point["threshold"])


def best_quiet(points: list[dict], quiet_per_hour: float = QUIET_PER_HOUR) -> dict | None:
    """The sweep point `rule_key` ranks first: the most words correct with at most
    `quiet_per_hour` false positives per hour (None when no point is that quiet)."""
    best = max(points, key=lambda p: rule_key(p, quiet_per_hour), default=None)
    return best if best is not None and best["false_positives_per_hour"] <= quiet_per_hour \
        else None


MAX_SWEEP_THRESHOLDS = 1000  # the native evaluator's bound (kMaxSweepThresholds)


def parse_thresholds(text: str) -> list[float]:
    """Thresholds from `start:stop:step` (inclusive) or a comma list: at most
    MAX_SWEEP_THRESHOLDS of them, each a finite number in [0, 1]; counted before any list
    is built."""
    try:
        parts = [float(x) for x in text.split(":")] if ":" in text else None
        values = None if parts else [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--sweep_thresholds: not numbers: '{text}'") from None
    if parts is not None:
        if (len(parts) != 3 or not all(math.isfinite(x) for x in parts) or parts[2] <= 0
                or parts[1] < parts[0]):
            raise ValueError(f"--sweep_thresholds: expected start:stop:step with finite "
                             f"numbers, step > 0 and stop >= start, got '{text}'")
        start, stop, step = parts
        n = math.floor((stop - start) / step + 1e-9) + 1
        if n > MAX_SWEEP_THRESHOLDS:
            raise ValueError(f"--sweep_thresholds '{text}' asks for {n} thresholds, more than "
                             f"the maximum of {MAX_SWEEP_THRESHOLDS}")
        values = [round(start + i * step, 6) for i in range(n)
                  if start + i * step <= stop + 1e-9]
    if not values:
        raise ValueError("--sweep_thresholds is empty")
    if len(values) > MAX_SWEEP_THRESHOLDS:
        raise ValueError(f"--sweep_thresholds has {len(values)} thresholds, more than the "
                         f"maximum of {MAX_SWEEP_THRESHOLDS}")
    bad = [v for v in values if not 0.0 <= v <= 1.0]
    if bad:
        raise ValueError(f"--sweep_thresholds: {bad[0]:g} is not in [0, 1]")
    return values


def word_outcomes(entries: list[tuple[str, int]], detections, into: dict | None = None
                  ) -> dict:
    """What became of each ground-truth word, by its label: {label: {"words": n, "correct":
    n, "heard_as": {other label: n}, "missed": n}}, from the detections' verdicts and the
    word each matched (`entries` in the evaluator's order, as read_ground_truth gives them).
    A word no detection matched is missed; `into` adds to earlier counts."""
    out = {} if into is None else into
    claimed = {d.word: d for d in detections if d.word >= 0}
    for i, (label, _) in enumerate(entries):
        row = _outcome_row(out, label)
        row["words"] += 1
        d = claimed.get(i)
        if d is None:
            row["missed"] += 1
        elif d.verdict == "Correct":
            row["correct"] += 1
        else:
            row["heard_as"][d.label] = row["heard_as"].get(d.label, 0) + 1
    return out


def _outcome_row(outcomes: dict, label: str) -> dict:
    return outcomes.setdefault(label, {"words": 0, "correct": 0, "heard_as": {}, "missed": 0})


def add_outcomes(into: dict, outcomes: dict) -> dict:
    """Adds word_outcomes' counts `outcomes` to `into` (label by label) and returns it."""
    for label, row in outcomes.items():
        total = _outcome_row(into, label)
        for key in ("words", "correct", "missed"):
            total[key] += row[key]
        for other, n in row["heard_as"].items():
            total["heard_as"][other] = total["heard_as"].get(other, 0) + n
    return into


def outcome_lines(outcomes: dict) -> list[str]:
    """One line per ground-truth label: words, correct, heard as which other labels, missed."""
    lines = []
    for label in sorted(outcomes):
        row = outcomes[label]
        heard = sorted(row["heard_as"].items(), key=lambda kv: (-kv[1], kv[0]))
        wrong = sum(n for _, n in heard)
        detail = f" ({', '.join(f'{k} {n}' for k, n in heard)})" if heard else ""
        lines.append(f"{label}: {row['words']} words, {row['correct']} correct, {wrong} heard "
                     f"as another label{detail}, {row['missed']} missed")
    return lines


def read_labels(path: str) -> list[str]:
    labels = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if not labels:
        raise ValueError(f"labels file '{path}' is empty")
    return labels


def write_sweep(points: list[dict], prefix: str, chosen: dict | None = None
                ) -> tuple[Path, Path]:
    """The sweep as a CSV and as a detection-error-tradeoff picture: miss rate against false
    alarms per hour (log axis), one point per threshold, the `chosen` operating point (the
    figures at --detection_threshold) marked."""
    csv_path, png_path = Path(prefix + ".csv"), Path(prefix + ".png")
    fields = ["threshold", "matched_percent", "correct_percent", "wrong_percent",
              "false_positive_percent", "false_positives_per_hour", "miss_rate"]
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(fields)
    for p in points:
        w.writerow([f"{p[k]:.6g}" for k in fields])
    atomic_write(csv_path, text.getvalue())

    import matplotlib  # the train extra: pictures are optional for the runtime

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    rates = [p["false_positives_per_hour"] for p in points]
    # A log axis cannot show 0 false alarms: such points sit at a floor below the others.
    positive = [r for r in rates if r > 0]
    floor = min(positive) / 2 if positive else 0.1
    xs = [max(r, floor) for r in rates]
    ys = [100 * p["miss_rate"] for p in points]
    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    ax.plot(xs, ys, marker="o", markersize=3, label="thresholds")
    for p, x, y in zip(points, xs, ys):
        ax.annotate(f"{p['threshold']:g}", (x, y), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    if chosen is not None:
        x = max(chosen["false_positives_per_hour"], floor)
        ax.plot([x], [100 * chosen["miss_rate"]], marker="*", markersize=14, color="C3",
                linestyle="none", label=f"chosen threshold {chosen['threshold']:g}")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    zero = " (points at 0 drawn at the left edge)" if len(positive) < len(rates) else ""
    ax.set_xlabel(f"false alarms per hour, log scale{zero}")
    ax.set_ylabel("miss rate (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Detection error tradeoff (streaming)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write(png_path, buf.getvalue())
    return csv_path, png_path


def check_output(path: str, flag: str) -> None:
    """Fails now, not after the evaluation, when `path` cannot be written: its folder is
    created if needed and must take a new file; `path` must not be a folder."""
    import tempfile

    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{flag} {path} is a folder, not a file")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target.parent):
            pass
    except OSError as e:
        raise ValueError(f"{flag} {path}: cannot write there: {e.strerror or e}") from None


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.json:
        check_output(args.json, "--json")
    if args.sweep:
        for ext in (".csv", ".png"):
            check_output(args.sweep_output + ext, "--sweep_output")
    if not 0 <= args.quiet_per_hour <= MAX_QUIET_PER_HOUR:  # also refuses nan
        raise ValueError(f"--quiet_per_hour {args.quiet_per_hour:g}: expected 0 to "
                         f"{MAX_QUIET_PER_HOUR:g} false positives per hour")
    if len(args.wav) != len(args.ground_truth):
        print(f"kws stream-eval: {len(args.wav)} --wav files but {len(args.ground_truth)} "
              "--ground_truth files: give one ground truth per WAV", file=sys.stderr)
        return 2
    sweep = parse_thresholds(args.sweep_thresholds) if args.sweep else []
    args.model = model_or_default(args.model, "kws stream-eval")
    card_decoder(args, argv, build_parser, "kws stream-eval")
    args.model = str(bundled.resolve(args.model))
    options = StreamingOptions(**{k: getattr(args, k) for k in OPTION_FIELDS})
    evaluator = StreamingEvaluator(
        args.model, labels=read_labels(args.labels) if args.labels else [], options=options)
    if args.verbose:  # how the windows are scored (batched, or why not)
        print(f"scoring: {evaluator.scoring_method}", file=sys.stderr)
    report = evaluator.evaluate_many(args.wav, args.ground_truth, threads=args.threads,
                                     sweep=sweep)
    many = len(report.files) > 1
    outcomes: dict = {}
    for f in report.files:
        if args.verbose or args.json:  # only these print the words (each file read again)
            word_outcomes(read_ground_truth(f.ground_truth)["entries"], f.detections, outcomes)
        if f.malformed_lines:
            print(f"warning: {f.ground_truth}: skipped {f.malformed_lines} malformed "
                  "line(s) (not `word, time_ms`)", file=sys.stderr)
        if f.unknown_words:
            print(f"warning: {f.ground_truth}: words that are not model labels: "
                  f"{', '.join(f.unknown_words)}", file=sys.stderr)
        if args.verbose:
            for d in f.detections:
                prefix = f"{f.wav}: " if many else ""
                print(f"{prefix}{d.time_ms}ms: {d.label}: {d.score:.6g} ({d.verdict})")
        if many:
            print(f"{f.wav}: {f.accuracy.summary}")
    total = report.total
    print(total.summary)
    print(f"{total.false_positives_per_hour:.1f} false positives per hour, "
          f"miss rate {100 * total.miss_rate:.1f}% "
          f"({total.ground_truth_words} words, {total.audio_duration_s:.0f} s of audio)")
    if args.verbose:
        print("by word:")
        for line in outcome_lines(outcomes):
            print(f"  {line}")
    figures = report.to_dict()
    best = best_quiet(figures["sweep"], args.quiet_per_hour) if sweep else None
    if sweep:
        chosen = {**total.to_dict(), "threshold": option_default(options, "detection_threshold")}
        csv_path, png_path = write_sweep(figures["sweep"], args.sweep_output, chosen)
        print(f"wrote {csv_path} and {png_path}")
        quiet = f"at most {args.quiet_per_hour:g} false positives per hour"
        if best is None:
            print(f"no swept threshold keeps to {quiet}")
        else:
            print(f"best threshold with {quiet}: {best['threshold']:g} "
                  f"({best['correct_percent']:.1f}% correct, {best['wrong_percent']:.1f}% "
                  f"wrong, {best['false_positives_per_hour']:.1f} false positives per hour)")
    if args.json:
        out = {
            "model": args.model,
            "options": {k: option_default(options, k) for k in OPTION_FIELDS},
            "labels": list(evaluator.labels),
            **figures["total"],
            "files": [{k: v for k, v in f.items() if k != "sweep"} for f in figures["files"]],
            "by_word": outcomes,
            "sweep": figures["sweep"],
        }
        if sweep:
            out["quiet_per_hour"] = args.quiet_per_hour
            out["best_quiet"] = best
        atomic_write(args.json, json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    return 0
