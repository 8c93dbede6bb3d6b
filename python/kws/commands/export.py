"""`kws export`: a trained checkpoint -> model.kws (native runtime), a TensorFlow
SavedModel and TFLite files (float, and int8 calibrated on training clips), all taking
audio samples and returning `labels_softmax` (the front end is inside).

`--output_file FILE` (the classic freeze flag) writes one file instead: FILE.kws is the
native model, FILE.tflite the TFLite model (int8 with --quantize, else float)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from kws.commands.flags import Parser, str2bool
from kws.files import atomic_write
from kws.labels import DEFAULT_WANTED_WORDS
from kws.train import export

_FEATURE_TYPES = {"sample_rate": int, "clip_duration_ms": float, "window_size_ms": float,
                  "window_stride_ms": float, "feature_bin_count": int, "preprocess": str}


def build_parser() -> Parser:
    p = Parser(prog="kws export", description=__doc__)
    p.add_argument("--start_checkpoint", required=True,
                   help="checkpoint prefix (<train_dir>/<arch>.ckpt-<step>) or a train_dir")
    p.add_argument("--model_architecture", default=None,
                   help="architecture (default: from <arch>_model.json beside the checkpoint)")
    for name in export.FEATURE_FLAGS:
        p.add_argument(f"--{name}", type=_FEATURE_TYPES[name], default=None,
                       help="front-end setting (default: the checkpoint's)")
    p.add_argument("--clip_stride_ms", type=int, default=None,
                   help="accepted for the classic freeze flags; the hop is chosen when the "
                        "model runs (kws stream-eval, kws listen)")
    p.add_argument("--wanted_words", default=None,
                   help=f"words of the model (default: the checkpoint's, else {DEFAULT_WANTED_WORDS})")
    p.add_argument("--output_dir", default="export",
                   help="writes model.kws, labels.txt, saved_model/, model_float.tflite, "
                        "model_int8.tflite here")
    p.add_argument("--output_file", default=None,
                   help="write only this file: .kws (native model) or .tflite")
    p.add_argument("--quantize", type=str2bool, nargs="?", const=True, default=False,
                   help="with --output_file X.tflite: the int8 model (calibrated on "
                        "training clips)")
    p.add_argument("--data_dir", default=None,
                   help="dataset for the int8 representative clips (default: the training "
                        "run's --data_dir)")
    p.add_argument("--representative_clips", type=int, default=100,
                   help="training clips used to calibrate the int8 TFLite model")
    p.add_argument("--native_only", action="store_true",
                   help="write model.kws (and labels.txt) only")
    return p


def _calibration_clips(args, labels, settings, meta) -> list | None:
    data_dir = args.data_dir or (meta or {}).get("flags", {}).get("data_dir")
    if data_dir and Path(str(data_dir).split(",")[0]).is_dir():
        return export.representative_clips(data_dir, labels, settings,
                                           args.representative_clips)
    return None


def _write_one_file(args, model, settings, architecture, labels, meta) -> None:
    out = Path(args.output_file)
    if out.suffix == ".kws":
        export.write_model_kws(out, model, settings, architecture, labels)
        print(f"wrote {out} ({architecture}, {len(labels)} labels)")
        return
    if out.suffix != ".tflite":
        raise ValueError(f"--output_file {out}: give a .kws (native model) or .tflite file "
                         "name; --output_dir writes every format")
    clips = None
    if args.quantize:
        clips = _calibration_clips(args, labels, settings, meta)
        if clips is None:
            raise ValueError("--quantize needs training clips to calibrate on: give --data_dir")
    atomic_write(out, export.tflite_bytes(model, settings, clips))
    print(f"wrote {out} ({'int8' if clips else 'float'} TFLite, {len(labels)} labels)")


def _move_into(paths: list[Path], out: Path) -> None:
    """Renames each staged file or folder over its namesake in `out` (same file system);
    a replaced folder is first renamed aside under a unique name, then removed."""
    for path in paths:
        target = out / path.name
        if path.is_dir() and target.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=out))
            target.rename(aside / target.name)
            path.rename(target)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(path, target)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        model, settings, architecture, labels, meta = export.load_for_export(
            args.start_checkpoint, model_architecture=args.model_architecture,
            wanted_words=args.wanted_words,
            **{name: getattr(args, name) for name in export.FEATURE_FLAGS})
        if args.output_file:
            _write_one_file(args, model, settings, architecture, labels, meta)
            return 0
        out = Path(args.output_dir)
        # The new set is built in a temporary folder beside --output_dir and moved in only
        # when complete: a failure (a full disk, a file size limit) leaves the previous
        # export whole. Only the files an export writes are replaced; nothing else in the
        # folder is touched.
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
        try:
            written = [export.write_model_kws(staging / "model.kws", model, settings,
                                              architecture, labels)]
            written.append(atomic_write(staging / "labels.txt", "\n".join(labels) + "\n"))
            kinds = {}
            if not args.native_only:
                clips = _calibration_clips(args, labels, settings, meta)
                if clips is None:
                    print("no --data_dir with training clips: skipping the int8 TFLite model",
                          file=sys.stderr)
                for kind, path in export.write_tensorflow(staging, model, settings,
                                                          clips).items():
                    written.append(path)
                    kinds[path.name] = kind
            _move_into(written, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        print(f"wrote {out / 'model.kws'} ({architecture}, {len(labels)} labels)")
        for name, kind in kinds.items():
            print(f"wrote {out / name} ({kind})")
    except (ValueError, OSError) as e:
        print(f"kws export: {e}", file=sys.stderr)
        return 1
    return 0
