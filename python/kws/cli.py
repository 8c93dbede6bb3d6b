"""The `kws` command line: `kws <command> [flags]`.

Each command lives in its own module exposing `main(argv) -> int`; modules are imported
only when their command runs, so `kws --help` never pulls in TensorFlow.
"""

from __future__ import annotations

import importlib
import sys

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("kws.commands.demo", "the whole workflow: dataset, train, export, stream test, report"),
    "mfcc": ("kws.commands.mfcc", "print MFCC features of a WAV file"),
    "export": ("kws.commands.export", "checkpoint -> model.kws, SavedModel and TFLite"),
    "label-wav": ("kws.commands.label_wav", "top labels of a WAV clip under a model"),
    "make-dataset": ("kws.commands.make_dataset", "write a synthetic speech dataset (espeak-ng)"),
    "download": ("kws.commands.download", "download and safely extract a dataset archive"),
    "gen-stream": ("kws.commands.gen_stream", "generate a synthetic streaming test WAV"),
    "stream-eval": ("kws.commands.stream_eval", "streaming accuracy of a model on long WAVs"),
    "mine-negatives": ("kws.commands.mine_negatives",
                       "write the windows a model fires on wrongly as training clips"),
    "spectrogram": ("kws.commands.spectrogram", "draw a WAV file's spectrogram as a PNG"),
    "train": ("kws.commands.train", "train a model (classic flags, recipes, resume)"),
    "listen": ("kws.commands.listen", "live recognition from the microphone (or --wav FILE)"),
    "models": ("kws.commands.models", "the bundled models: labels, size, FLOPs, accuracy"),
}


def _usage() -> str:
    lines = ["usage: kws <command> [flags]", "", "commands:"]
    for name, (_, text) in sorted(COMMANDS.items()):
        lines.append(f"  {name:<14} {text}")
    lines.append("")
    lines.append("`kws <command> --help` shows a command's flags.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from kws import __version__, build_info

        info = build_info()
        print(f"kws {__version__} ({info['architecture']}, kernels {info['kernel_set']};"
              f" compiled in: {', '.join(info['compiled_sets'])})")
        return 0
    name = argv[0]
    if name not in COMMANDS:
        print(f"kws: unknown command '{name}'\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[name][0])
    except ImportError as e:
        # Training-tier commands need TensorFlow and the other `train` extras.
        print(f"kws {name}: needs the train extra (pip install 'kws[train]'): {e}",
              file=sys.stderr)
        return 1
    try:
        return int(module.main(argv[1:]) or 0)
    except (ValueError, OSError) as e:
        # Bad input (a malformed WAV or model, a missing file): one clear line, no traceback.
        print(f"kws {name}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"kws {name}: interrupted", file=sys.stderr)
        return 130


def stream_eval_main(argv: list[str] | None = None) -> int:
    """Entry point of the `kws-stream-eval` script (same as `kws stream-eval`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return main(["stream-eval", *argv])


if __name__ == "__main__":
    sys.exit(main())
