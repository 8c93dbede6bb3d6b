"""Export a bundled model and write its model card from measured figures.

    python scripts/model_card.py --bundled_train_dir TRAIN --sibling_train_dir SIBLING \\
        --sample_dir SAMPLE [--name speech_commands] [--version 1] [--train_flags FLAGS] \
        [--finetune_flags FINETUNE]

TRAIN is the shipped model's `kws train` folder (every real clip of the sample in its
training data), SIBLING the same recipe and seed trained on the sample's training partition
only (--validation_percentage 12 --testing_percentage 4); FLAGS are flags both trainings
added to the `best` recipe (e.g. "--model_architecture tc_resnet_stream --peers 1"). With
FINETUNE (e.g. "--how_many_training_steps 1000 --learning_rate 0.0005"), TRAIN and SIBLING
are second runs that took those flags from their first run's checkpoint (--init_checkpoint,
which is checked as TRAIN and SIBLING otherwise are). Steps,
each a `kws` command or
the training tier's own evaluation:
  1. `kws export --native_only --model_name NAME --model_version V --provenance ...` of both;
     the shipped one is copied to python/kws/models/NAME.kws.
  2. The sibling's accuracy per class and confusion matrix on the sample's testing
     partition (hash [12, 16) of the 12/4 split: speakers neither model's sibling heard),
     the picture to docs/models/NAME_confusion.png.
  3. Two streams of real words over the sample's real background noise (`kws gen-stream`):
     one of validation voices, one of that testing partition's. `kws stream-eval --sweep`
     of the sibling over thresholds with each decision delay of DECISION_DELAYS_MS, each
     averaging window of AVERAGE_WINDOWS_MS and each repeats rule of ALLOW_REPEATS on both;
     the recommended threshold, delay, window and rule are the validation stream's most
     words correct with at most 1 false positive per hour, and the card reports the
     testing stream's figures with them and its detection-error-tradeoff picture
     (docs/models/NAME_stream.png).
  4. The shipped model's size, parameters and FLOPs (per window and per 20/30 ms hop,
     from the native runtime) and its top-1 accuracy on the committed fixture clips
     (tests/data/speech_commands), with the expectation the tests hold it to.
Writes python/kws/models/NAME.json (what `kws models` and the tests read) and the model's
section of docs/models.md. Rerun it after retraining; it changes nothing else.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "python" / "kws" / "models"
DOCS = REPO / "docs"
FIXTURES = REPO / "tests" / "data" / "speech_commands"

# The exact commands of scripts/train_bundled_models.sh (SYNTH, SAMPLE, TRAIN and SIBLING
# are its folders); the card quotes them and checks the train folders against them.
MAKE_DATASET = ("kws make-dataset --out SYNTH --clips_per_word 500 --speakers 250 --seed 0")
TRAIN = ("kws train --recipe best --data_dir SYNTH,SAMPLE --validation_percentage 0 "
         "--testing_percentage 0 --seed 1 --train_dir TRAIN")
SIBLING = ("kws train --recipe best --data_dir SYNTH,SAMPLE --validation_percentage 12 "
           "--testing_percentage 4 --seed 1 --train_dir SIBLING")
EXPECTED_FLAGS = {"recipe": "best", "seed": 1}
# How the card names an architecture.
ARCHITECTURE_TEXT = {
    "tc_resnet": "TC-ResNet8",
    "tc_resnet_stream": "streaming-first TC-ResNet8 with VALID padding in time and no time "
                        "strides",
    "speech_embedding_tc_resnet": "a pretrained speech embedding's trained head and a "
                                  "TC-ResNet8 on the embedding's log-mel, in one model",
}
# The training flags a card records (those the recipe's description depends on).
CARD_FLAGS = ("recipe", "seed", "model_architecture", "how_many_training_steps", "peers",
              "augment", "folder_balance", "train_embedding_layers", "embedding_rate_scale",
              "validation_percentage", "testing_percentage")
SPLIT = {"validation_percentage": 12.0, "testing_percentage": 4.0}
STREAM_THRESHOLDS = "0.1:0.95:0.05"
# The sample's voices of each stream: gen-stream mixes the testing partition of a
# --validation_percentage/--testing_percentage split. "validation": hash [10, 12), inside
# the 12/4 split's validation partition (the card chooses the decoder settings there);
# "testing": hash [12, 16), the 12/4 split's testing partition (the card reports there).
STREAM_SPLITS = {"validation": ("10", "2"), "testing": ("12", "4")}
# The decoder's decision delays a card sweeps: the classic rule, and deciding the label
# 850 ms after the threshold is passed (chosen on three streams of the validation voices,
# BENCHMARKS.md "Eighteenth round"). Ties go to the shorter delay.
DECISION_DELAYS_MS = (0, 850)
# The decoder's averaging windows a card sweeps with each delay: the classic 500 ms, 250 ms
# (the best with the 850 ms delay) and 750 ms (the best with the classic rule), from three
# streams of the validation voices (BENCHMARKS.md "Twenty-fifth round"). Ties go to the
# window nearest DEFAULT_AVERAGE_WINDOW_MS, then the shorter.
AVERAGE_WINDOWS_MS = (250, 500, 750)
DEFAULT_AVERAGE_WINDOW_MS = 500
# The repeats rules a card sweeps with each window and delay: the classic rule (a word said
# again is reported only after another label or silence), and reporting it again once the
# suppression has passed (--allow_repeats; BENCHMARKS.md "Twenty-seventh round"). Ties go
# to the classic rule.
ALLOW_REPEATS = (False, True)
CARD_HOPS_MS = (20, 30)


def kws_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "kws.cli", *args]


def run(cmd: list[str]) -> str:
    print("+", " ".join(cmd[2:] if cmd[:3] == kws_cmd()[:3] else cmd), flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"command failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return out.stdout


def train_meta(train_dir: Path) -> tuple[dict, int]:
    """The folder's <arch>_model.json and the step of its latest checkpoint."""
    metas = sorted(train_dir.glob("*_model.json"))
    if len(metas) != 1:
        sys.exit(f"{train_dir}: expected one *_model.json (a kws train folder)")
    meta = json.loads(metas[0].read_text())
    from kws.train.checkpoint import latest_step

    step = latest_step(train_dir)
    if step is None:
        sys.exit(f"{train_dir}: no checkpoint in this folder")
    return meta, step


def parse_train_flags(text: str, option: str = "--train_flags") -> dict[str, str]:
    """"--name value --name2 value2" (given as `option`) -> {"name": "value", ...}."""
    words = text.split()
    if len(words) % 2 or any(not w.startswith("--") for w in words[::2]):
        sys.exit(f"{option} '{text}': expected pairs of --flag value")
    return {k[2:]: v for k, v in zip(words[::2], words[1::2])}


def check_runs(train_dir: Path, split: dict, args, extra: dict, finetune: dict
               ) -> tuple[dict, int, int | None]:
    """check_recipe of a card's run; with `finetune` flags, of the fine-tuned run and of
    the run it started from (its --init_checkpoint): (the first run's meta, its step, the
    fine-tuning's step or None)."""
    if not finetune:
        return (*check_recipe(train_dir, split, args.allow_unfinished, args.any_recipe, extra),
                None)
    tuned, tuned_step = check_recipe(train_dir, split, args.allow_unfinished, args.any_recipe,
                                     {**extra, **finetune})
    init = tuned["flags"].get("init_checkpoint")
    if not init:
        sys.exit(f"{train_dir}: --finetune_flags given, but the run has no --init_checkpoint")
    meta, step = check_recipe(Path(init), split, args.allow_unfinished, args.any_recipe, extra)
    return meta, step, tuned_step


def check_recipe(train_dir: Path, split: dict, allow_unfinished: bool,
                 any_recipe: bool = False, extra: dict | None = None) -> tuple[dict, int]:
    meta, step = train_meta(train_dir)
    flags = meta["flags"]
    wanted = {**({} if any_recipe else EXPECTED_FLAGS), **split, **(extra or {})}
    # --train_flags values are text ("1"); the run's JSON holds typed values (1).
    wrong = {k: flags.get(k) for k, v in wanted.items()
             if flags.get(k) != v and str(flags.get(k)) != str(v)}
    if wrong:
        sys.exit(f"{train_dir}: not trained as scripts/train_bundled_models.sh does: {wrong} "
                 f"(expected {wanted})")
    steps = sum(int(s) for s in str(flags["how_many_training_steps"]).split(","))
    if step != steps and not allow_unfinished:
        sys.exit(f"{train_dir}: latest checkpoint is step {step} of {steps}: training has not "
                 "finished (--allow_unfinished to card it anyway)")
    return meta, step


def two_stage(command: str, finetune_flags: str) -> str:
    """A card's training command (its --train_dir last), and with `finetune_flags` the
    second run from its checkpoint (the first's flags that these replace left out), one
    command per line."""
    if not finetune_flags:
        return command
    base, out = command.rsplit(" --train_dir ", 1)
    replaced = parse_train_flags(finetune_flags, "--finetune_flags")
    words, kept = base.split(), []
    while words:
        word = words.pop(0)
        if word.startswith("--") and word[2:] in replaced and words:
            words.pop(0)
        else:
            kept.append(word)
    return (f"{base} --train_dir {out}_BASE\n{' '.join(kept)} --init_checkpoint {out}_BASE "
            f"{finetune_flags} --train_dir {out}")


def git_commit() -> str:
    out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def export(train_dir: Path, out_dir: Path, name: str, version: str, provenance: str) -> Path:
    run(kws_cmd("export", "--start_checkpoint", str(train_dir), "--native_only",
                "--output_dir", str(out_dir), "--model_name", name, "--model_version", version,
                "--provenance", provenance))
    return out_dir / "model.kws"


def sibling_accuracy(sibling_dir: Path, sample_dir: Path, png: Path, name: str) -> dict:
    from kws.train.loop import evaluate_checkpoint
    from kws.train.report import confusion_matrix_png

    r = evaluate_checkpoint(str(sibling_dir), str(sample_dir), "testing", **SPLIT)
    m = np.asarray(r["confusion_matrix"])
    labels = list(r["labels"])
    png.parent.mkdir(parents=True, exist_ok=True)
    png.write_bytes(confusion_matrix_png(
        m, labels, f"{name} sibling: real test speakers ({int(m.sum())} clips)"))
    return {
        "evaluated_on": "the sample's testing partition (hash [12, 16) of the 12/4 split)",
        "accuracy": float(r["accuracy"]),
        "count": int(r["count"]),
        "per_class": {lab: {"accuracy": float(m[i, i] / max(m[i].sum(), 1)),
                            "count": int(m[i].sum())} for i, lab in enumerate(labels)},
        "confusion_matrix": m.tolist(),
        "confusion_png": str(png.relative_to(REPO)),
    }


def recommended(points: list[dict]) -> dict:
    """The sweep point kws stream-eval's rule ranks first (`rule_key`: at most
    QUIET_PER_HOUR false positives per hour, then the most words correct, the fewest wrong,
    the higher threshold)."""
    from kws.commands.stream_eval import rule_key

    return max(points, key=rule_key)


def _stream(sample_dir: Path, work: Path, seconds: float, partition: str
            ) -> tuple[list[str], Path, Path]:
    """`kws gen-stream` of one STREAM_SPLITS partition's voices: its arguments and files."""
    wav, truth = work / f"{partition}_stream.wav", work / f"{partition}_stream.txt"
    validation, testing = STREAM_SPLITS[partition]
    gen = ["gen-stream", "--data_dir", str(sample_dir), "--validation_percentage", validation,
           "--testing_percentage", testing, "--duration_seconds", f"{seconds:g}", "--seed", "0",
           "--output_wav", str(wav), "--output_ground_truth", str(truth)]
    run(kws_cmd(*gen))
    return gen, wav, truth


def _gen_text(gen: list[str], wav: str) -> str:
    return "kws " + " ".join(gen[:2]) + " SAMPLE " + " ".join(gen[3:-4]) + f" --output_wav {wav}"


def _sweeps(model: Path, wav: Path, truth: Path, work: Path
            ) -> tuple[dict[tuple[int, int, bool], list[dict]], dict]:
    """`kws stream-eval --sweep` of `model` on one stream, with each (averaging window,
    decision delay, repeats rule) of AVERAGE_WINDOWS_MS x DECISION_DELAYS_MS x
    ALLOW_REPEATS; and the figures (options, words, duration) of the last."""
    sweeps, figures = {}, {}
    for window, delay, repeats in itertools.product(AVERAGE_WINDOWS_MS, DECISION_DELAYS_MS,
                                                    ALLOW_REPEATS):
        prefix = work / (f"{wav.stem}_sweep_window{window}_delay{delay}"
                         + ("_repeats" if repeats else ""))
        run(kws_cmd("stream-eval", "--model", str(model), "--wav", str(wav),
                    "--ground_truth", str(truth), "--sweep", "--sweep_thresholds",
                    STREAM_THRESHOLDS, "--average_window_ms", str(window),
                    "--decision_delay_ms", str(delay), "--allow_repeats", str(repeats).lower(),
                    "--sweep_output", str(prefix), "--json", f"{prefix}.json"))
        figures = json.loads(Path(f"{prefix}.json").read_text())
        sweeps[window, delay, repeats] = figures["sweep"]
    return sweeps, figures


def _at(points: list[dict], threshold: float) -> dict:
    return next(p for p in points if p["threshold"] == threshold)


def stream_figures(sibling_model: Path, sample_dir: Path, work: Path, seconds: float,
                   png_prefix: Path) -> dict:
    """The sibling's decoder settings chosen on a stream of the validation voices (the
    sweep point, over thresholds, each decision delay of DECISION_DELAYS_MS, each averaging
    window of AVERAGE_WINDOWS_MS and each repeats rule of ALLOW_REPEATS, that `rule_key`
    ranks first; ties to the shorter delay, then the window nearest the default, then the
    shorter window, then the classic rule), and its figures with them on a
    stream of the testing voices, read from that stream's sweeps (the recommended point
    marked in their picture)."""
    from kws.commands.stream_eval import QUIET_PER_HOUR, rule_key, write_sweep

    val_gen, val_wav, val_truth = _stream(sample_dir, work, seconds, "validation")
    val_sweeps, val_figures = _sweeps(sibling_model, val_wav, val_truth, work)
    chosen = {decoder: recommended(points) for decoder, points in val_sweeps.items()}
    window, delay, repeats = max(chosen, key=lambda wdr: (
        rule_key(chosen[wdr])[:-1], -wdr[1], -abs(wdr[0] - DEFAULT_AVERAGE_WINDOW_MS), -wdr[0],
        not wdr[2]))
    threshold = chosen[window, delay, repeats]["threshold"]
    gen, wav, truth = _stream(sample_dir, work, seconds, "testing")
    sweeps, figures = _sweeps(sibling_model, wav, truth, work)
    at = _at(sweeps[window, delay, repeats], threshold)
    png_prefix.parent.mkdir(parents=True, exist_ok=True)
    write_sweep(sweeps[window, delay, repeats], str(png_prefix), at)
    keys = ("matched_percent", "correct_percent", "wrong_percent", "false_positive_percent",
            "false_positives_per_hour", "miss_rate", "ground_truth_words",
            "audio_duration_s")
    point_keys = ("threshold", "correct_percent", "wrong_percent", "false_positive_percent",
                  "false_positives_per_hour", "miss_rate")

    def decoder_row(decoder: tuple[int, int, bool], point: dict) -> dict:
        """A by_decoder row: the (window, delay, repeats rule) and the sweep point's figures."""
        window, delay, repeats = decoder
        return {"average_window_ms": window, "decision_delay_ms": delay,
                "allow_repeats": repeats, **{k: point[k] for k in point_keys}}
    return {
        "commands": [
            _gen_text(gen, "stream.wav"),
            "kws stream-eval --model SIBLING.kws --wav stream.wav --ground_truth stream.txt "
            f"--sweep --sweep_thresholds {STREAM_THRESHOLDS} --average_window_ms W "
            "--decision_delay_ms D --allow_repeats R",
        ],
        "duration_s": float(figures["audio_duration_s"]),
        "words": int(figures["ground_truth_words"]),
        "recommended_threshold": float(threshold),
        "recommended_decision_delay_ms": int(delay),
        "recommended_average_window_ms": int(window),
        "recommended_allow_repeats": bool(repeats),
        "rule": "the validation voices' stream's most words correct with at most "
                f"{QUIET_PER_HOUR:g} false positive per hour (then the fewest wrong)",
        "chosen_on": {
            "command": _gen_text(val_gen, "validation_stream.wav"),
            "voices": "the sample's validation partition (hash [10, 12) of the 12/4 split's "
                      "[0, 12))",
            "words": int(val_figures["ground_truth_words"]),
            "by_decoder": [decoder_row(decoder, chosen[decoder]) for decoder in chosen],
        },
        "at_recommended": {k: at[k] for k in keys},
        "options": {**figures["options"], "detection_threshold": float(f"{threshold:.7g}"),
                    "decision_delay_ms": int(delay), "average_window_ms": int(window),
                    "allow_repeats": bool(repeats)},
        "sweep": [{k: p[k] for k in point_keys} for p in sweeps[window, delay, repeats]],
        # Each (window, delay, rule) at the threshold chosen for it on the validation voices.
        "by_decoder": [decoder_row(decoder, _at(sweeps[decoder], chosen[decoder]["threshold"]))
                       for decoder in chosen],
        "sweep_png": str(png_prefix.with_suffix(".png").relative_to(REPO)),
    }


def fixture_accuracy(model, folder: Path) -> dict:
    """Top-1 accuracy of `model` on the keyword clips of `folder` (one folder per word)."""
    import kws

    right, total = 0, 0
    for word in model.labels[2:]:
        for wav in sorted((folder / word).glob("*.wav")):
            samples, _ = kws.read_wav(str(wav))
            clip = np.zeros(model.clip_samples, np.float32)
            clip[: min(len(samples), len(clip))] = samples[: len(clip)]
            total += 1
            right += int(model.labels[int(np.argmax(model.predict(clip)))] == word)
    return {"accuracy": right / max(total, 1), "count": total}


def model_figures(path: Path) -> dict:
    import kws
    from kws.bundled import flops_per_hop

    model = kws.Model.load(str(path))
    return {
        "name": model.name, "version": model.version, "provenance": model.provenance,
        "architecture": model.architecture, "labels": list(model.labels),
        "file_bytes": path.stat().st_size, "parameters": int(model.num_parameters),
        "flops_per_window": int(model.flops_per_window),
        "flops_per_hop": {str(h): flops_per_hop(model, h) for h in CARD_HOPS_MS},
        "fixtures": fixture_accuracy(model, FIXTURES),
    }


# ---- docs/models.md -------------------------------------------------------------------------

def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _or(values: list[int]) -> str:
    """"250, 500 or 750"."""
    return (", ".join(str(v) for v in values[:-1]) + " or " if len(values) > 1 else "") + str(
        values[-1])


def _from_docs(path: str) -> str:
    """A repository path as a link from docs/models.md."""
    return str(Path(path).relative_to("docs"))


# How the card names an --augment preset.
AUGMENT_TEXT = {
    "ism": "reverberation of 256 image-source rooms, microphone, speed and level",
    "room_spec": "room/mic/speed/level and SpecAugment",
}


def finetune_text(card: dict) -> str:
    """How the card says its runs were fine-tuned (nothing when they were not)."""
    ft = card.get("finetune")
    if not ft:
        return ""
    flags = parse_train_flags(ft["flags"])
    return (f", then trained on from that checkpoint for {flags.get('how_many_training_steps')} "
            f"steps at learning rate {flags.get('learning_rate')} (a fresh Adam, the cosine "
            "rate again; the same data and seed)")


def _indent(command: str) -> str:
    return command.replace("\n", "\n    ")


def recipe_text(flags: dict) -> str:
    """The recipe as the card describes it, from the run's flags."""
    arch = flags.get("model_architecture")
    peers = int(flags.get("peers") or 1)
    trained = (f" trained as {peers} mutually distilled peers, one exported" if peers > 1
               else "")
    layers = int(flags.get("train_embedding_layers") or 0)
    scale = float(flags.get("embedding_rate_scale") or 1.0)
    tuned = (f"; the embedding's last {layers} convolutions fine-tuned at {scale:g} times the "
             "rate, the rest of it frozen" if layers else "")
    augment = flags.get("augment")
    return (f"`{flags.get('recipe')}` ({ARCHITECTURE_TEXT.get(arch, arch)}{trained}{tuned};\n"
            f"Adam, cosine rate, {flags.get('how_many_training_steps')} steps, augmentation "
            f"`{augment}` ({AUGMENT_TEXT.get(augment, augment)}), the real folder oversampled "
            f"by `--folder_balance {flags.get('folder_balance')}`)")


def embedding_text(card: dict) -> str:
    """The card's words on the pretrained speech embedding inside the model, if any."""
    if "embedding" not in str(card["architecture"]):
        return ""
    return """
The model holds a pretrained speech embedding (a mel filterbank and 20 convolutions) whose
weights come from the `pyopen-wakeword` package (PyPI, Apache License 2.0; a copy of the
license is python/kws/models/LICENSE.speech_embedding.txt), some of them fine-tuned by
the recipe below."""


def card_markdown(card: dict) -> str:
    sib = card["sibling"]
    st = card["stream"]
    at = st["at_recommended"]
    per_class = sib["per_class"]
    rows = "\n".join(f"| {lab} | {_pct(v['accuracy'])} | {v['count']} |"
                     for lab, v in per_class.items())
    weakest = sorted(per_class.items(), key=lambda kv: kv[1]["accuracy"])[:3]
    labels = list(per_class)
    m = np.asarray(sib["confusion_matrix"])
    off = m.copy()
    np.fill_diagonal(off, 0)
    confusions = []
    for flat in np.argsort(-off, axis=None)[:3]:
        i, j = divmod(int(flat), len(labels))
        if off[i, j]:
            confusions.append(f"{labels[i]} heard as {labels[j]} ({off[i, j]} of {m[i].sum()})")
    hops = ", ".join(f"{f / 1e6:.2f} M per {h} ms hop" for h, f in card["flops_per_hop"].items())
    sweep_rows = "\n".join(
        f"| {p['threshold']:g} | {p['correct_percent']:.1f}% | {p['wrong_percent']:.1f}% | "
        f"{p['false_positive_percent']:.1f}% | {p['false_positives_per_hour']:.1f} |"
        for p in st["sweep"])
    expect = card["expected"]["fixture_keyword_accuracy_min"]
    delay = st["recommended_decision_delay_ms"]
    window = st["recommended_average_window_ms"]
    chosen_on = st["chosen_on"]
    delays = sorted({p["decision_delay_ms"] for p in st["by_decoder"]})
    windows = sorted({p["average_window_ms"] for p in st["by_decoder"]})
    repeats = st.get("recommended_allow_repeats", False)
    delay_rows = (
        "\n| average window | decision delay | words said again | threshold (validation voices) "
        "| correct there | correct | wrong | false positives | per hour |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        + "\n".join(
            f"| {p['average_window_ms']} ms | {p['decision_delay_ms']} ms | "
            f"{'reported again' if p.get('allow_repeats') else 'classic'} | {p['threshold']:g} | "
            f"{there['correct_percent']:.1f}% | "
            f"{p['correct_percent']:.1f}% | {p['wrong_percent']:.1f}% | "
            f"{p['false_positive_percent']:.1f}% | {p['false_positives_per_hour']:.1f} |"
            for p, there in zip(st["by_decoder"], chosen_on["by_decoder"])) + "\n")
    listen = (f"kws listen --detection_threshold {st['recommended_threshold']:g}"
              + (f" --decision_delay_ms {delay}" if delay else "")
              + f" --average_window_ms {window}" + (" --allow_repeats" if repeats else ""))
    return f"""\
Version {card['version']}, {card['architecture']}, labels: {', '.join(card['labels'])}.
Made with kws {card['kws_version']} (git {card['git_commit']}) by
`scripts/train_bundled_models.sh`; provenance string in the file: "{card['provenance']}".

**Data.** Synthetic speech made by kws (`{card['commands']['make_dataset']}`: espeak-ng and
flite voices, 30 words) plus every clip of the Speech Commands sample
(`{card['sample_name']}`: real speakers of the Speech Commands test set, with its
background-noise recordings). Speech Commands is by Pete Warden (Google), "Speech Commands:
A Dataset for Limited-Vocabulary Speech Recognition", arXiv:1804.03209, licensed under the
Creative Commons Attribution 4.0 International License (CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/); the model's weights are derived from it.{embedding_text(card)}

**Recipe.** {recipe_text(card['training_flags'])}, seed 1, step
{card['step']}{finetune_text(card)}:

    {_indent(card['commands']['train'])}

**Accuracy per class.** The shipped model trained on every real clip there is, so its
accuracy cannot be measured on them. These figures are its **sibling**'s: the same recipe
and seed trained on the sample's training partition only,

    {_indent(card['commands']['sibling'])}

measured on {sib['evaluated_on']}: {sib['count']} clips of speakers it never heard,
**{_pct(sib['accuracy'])}** overall.

| label | accuracy | clips |
|---|---|---|
{rows}

![confusion matrix of the sibling on real test speakers]({_from_docs(sib['confusion_png'])})

**Streaming** (the sibling again): {st['duration_s'] / 60:.0f} minutes made by
`{st['commands'][0]}` from the same testing partition's words (30% unknown words) over the
sample's real background noise, {st['words']} words, evaluated with `kws stream-eval` (hop
{st['options']['clip_stride_ms']} ms, suppression {st['options']['suppression_ms']} ms), each
label's score averaged over {_or(windows)} ms
(`--average_window_ms`) and the label decided when the averaged score passes the threshold
or {', '.join(f"{d} ms" for d in delays if d)} later (`--decision_delay_ms`: the label whose
averaged score peaked highest meanwhile), with the classic rule for a word said again (it is
reported only after another label or silence has been) or reporting it again once the
suppression has passed (`--allow_repeats`). The threshold for each window, delay and rule,
and the window, delay and rule, are chosen on another stream made the same way from
{chosen_on['voices']}, {chosen_on['words']} words (`{chosen_on['command']}`), whose voices the
sibling did not train on either; the figures are on the testing voices' stream.
{delay_rows}
Recommended: threshold **{st['recommended_threshold']:g}**, decision delay
**{delay} ms**, average window **{window} ms**, words said again
{'**reported again**' if repeats else '**by the classic rule**'} ({st['rule']}); `kws listen` and `kws
stream-eval` use them with this model by name (`kws models`), as do the C++ and C examples
and the web demo; on the testing voices' stream: {at['correct_percent']:.1f}% correct,
{at['wrong_percent']:.1f}% wrong, {at['false_positive_percent']:.1f}% false positives
({at['false_positives_per_hour']:.1f} per hour), miss rate {_pct(at['miss_rate'])}.
Use it with `{listen}`. The sweep with those settings:

| threshold | correct | wrong | false positives | per hour |
|---|---|---|---|---|
{sweep_rows}

![miss rate against false alarms per hour]({_from_docs(st['sweep_png'])})

**Size and compute.** {card['file_bytes'] / 1024:.0f} KB, {card['parameters']:,} parameters;
{card['flops_per_window'] / 1e6:.2f} MFLOPs per 1 s window; streaming with cached state
{hops} (native runtime, `Stream.last_decode_flops`).

**Checked by the tests** (`tests/test_bundled_models.py`, numpy only): labels and metadata as
above; top-1 on the committed fixture clips (tests/data/speech_commands, which are in the
sample and so in this model's training data: a sanity check, not an accuracy figure)
{_pct(card['fixtures']['accuracy'])} of {card['fixtures']['count']} keyword clips (expected at
least {_pct(expect)}); streaming scores identical to whole-clip scores.

**Known weaknesses.**
- Weakest classes on real speakers: {', '.join(f"{lab} ({_pct(v['accuracy'])})"
                                              for lab, v in weakest)}; most frequent
  confusions: {'; '.join(confusions) or 'none'}.
- The real speakers are few (the sample's speakers of the Speech Commands test set):
  accents, children's voices, far-field microphones and reverberant rooms are thinly
  covered; the synthetic voices are English text-to-speech.
- 12 classes only: any other word should come out as `_unknown_`, but words that sound
  like a command (e.g. "four" for "for", "dog" for "down") trigger it.
- 1 s windows at 16 kHz; other rates are resampled by `kws listen` but the model has not
  heard telephone-band or heavily compressed audio.
"""


def write_docs(card: dict) -> None:
    path = DOCS / "models.md"
    text = path.read_text()
    start = f"<!-- model_card {card['name']} start -->"
    end = f"<!-- model_card {card['name']} end -->"
    body = f"{start}\n{card_markdown(card)}{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + body + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + f"\n\n## {card['name']}\n\n{body}\n"
    path.write_text(text)
    print(f"wrote {path.relative_to(REPO)}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundled_train_dir", required=True, type=Path)
    p.add_argument("--sibling_train_dir", required=True, type=Path)
    p.add_argument("--sample_dir", required=True, type=Path)
    p.add_argument("--name", default="speech_commands")
    p.add_argument("--version", default="1")
    p.add_argument("--train_flags", default="",
                   help="flags both trainings added to the recipe, as in "
                        "scripts/train_bundled_models.sh")
    p.add_argument("--finetune_flags", default="",
                   help="flags of a second run both took from their first run's checkpoint "
                        "(the train folders are then the second runs)")
    p.add_argument("--work_dir", type=Path, default=None,
                   help="exports and the stream (default: build/model_card/NAME)")
    p.add_argument("--stream_seconds", type=float, default=1200.0)
    p.add_argument("--expect_fixture_accuracy", type=float, default=0.9,
                   help="the fixture top-1 accuracy the tests require of the shipped model")
    p.add_argument("--allow_unfinished", action="store_true",
                   help="card train folders whose latest checkpoint is not the last step")
    p.add_argument("--any_recipe", action="store_true",
                   help="card runs of another recipe or seed (trying the script out; the "
                        "card's text still quotes the bundled recipe)")
    p.add_argument("--docs", default="true", choices=("true", "false"),
                   help="also write the model's section of docs/models.md")
    args = p.parse_args()

    import kws

    work = args.work_dir or REPO / "build" / "model_card" / args.name
    work.mkdir(parents=True, exist_ok=True)
    extra = parse_train_flags(args.train_flags)
    finetune = parse_train_flags(args.finetune_flags, "--finetune_flags")
    meta, step, tuned_step = check_runs(args.bundled_train_dir, {"validation_percentage": 0.0,
                                                                 "testing_percentage": 0.0},
                                        args, extra, finetune)
    check_runs(args.sibling_train_dir, SPLIT, args, extra, finetune)
    commit = git_commit()
    flags = meta["flags"]
    with_flags = f" {args.train_flags}" if args.train_flags else ""
    tuned = (f", then {args.finetune_flags} from it, step {tuned_step}" if finetune else "")
    provenance = (f"kws {kws.__version__} (git {commit}): recipe {flags.get('recipe')}"
                  f"{with_flags}, seed {flags.get('seed')}, step {step}{tuned}, "
                  "on kws make-dataset synthetic speech (500 clips/word, 250 speakers, seed 0) "
                  "+ every clip of the Speech Commands sample (CC BY 4.0); "
                  "scripts/train_bundled_models.sh")

    shipped = export(args.bundled_train_dir, work / "bundled", args.name, args.version,
                     provenance)
    sibling = export(args.sibling_train_dir, work / "sibling", f"{args.name}_sibling",
                     args.version, provenance.replace("every clip of", "the training "
                                                      "partition (12/4 split) of"))
    figures = model_figures(shipped)
    if figures["fixtures"]["accuracy"] < args.expect_fixture_accuracy:
        print(f"warning: {figures['fixtures']['accuracy']:.3f} top-1 on the fixture clips, "
              f"below the expected {args.expect_fixture_accuracy}: the tests will fail",
              file=sys.stderr)
    card = {
        **figures,
        "step": step,
        **({"finetune": {"flags": args.finetune_flags, "step": tuned_step}} if finetune else {}),
        "kws_version": kws.__version__,
        "git_commit": commit,
        "sample_name": args.sample_dir.name,
        "commands": {"make_dataset": MAKE_DATASET,
                     "train": two_stage(TRAIN.replace(" --seed", f"{with_flags} --seed"),
                                        args.finetune_flags),
                     "sibling": two_stage(SIBLING.replace(" --seed", f"{with_flags} --seed"),
                                          args.finetune_flags)},
        "training_flags": {k: meta["flags"].get(k) for k in CARD_FLAGS},
        "sibling": sibling_accuracy(args.sibling_train_dir, args.sample_dir,
                                    DOCS / "models" / f"{args.name}_confusion.png", args.name),
        "stream": stream_figures(sibling, args.sample_dir, work, args.stream_seconds,
                                 DOCS / "models" / f"{args.name}_stream"),
        "expected": {"fixture_keyword_accuracy_min": args.expect_fixture_accuracy},
    }
    MODELS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shipped, MODELS / f"{args.name}.kws")
    (MODELS / f"{args.name}.json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"wrote {MODELS / args.name}.kws and .json")
    # The sweep CSV stays in the work folder; only the picture goes into the docs.
    csv = (DOCS / "models" / f"{args.name}_stream").with_suffix(".csv")
    if csv.exists():
        csv.unlink()
    if args.docs == "true":
        write_docs(card)
    return 0


if __name__ == "__main__":
    sys.exit(main())
