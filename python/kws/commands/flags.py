"""Shared argparse helpers: flags accept dashes as well as underscores."""

from __future__ import annotations

import argparse


class Parser(argparse.ArgumentParser):
    """ArgumentParser where `--foo_bar` and `--foo-bar` are the same flag."""

    def add_argument(self, *names, **kwargs):  # type: ignore[override]
        expanded: list[str] = []
        for n in names:
            expanded.append(n)
            if n.startswith("--"):
                alt = "--" + (n[2:].replace("_", "-") if "_" in n else n[2:].replace("-", "_"))
                if alt != n and alt not in expanded:
                    expanded.append(alt)
        return super().add_argument(*expanded, **kwargs)


def str2bool(value: str) -> bool:
    v = str(value).strip().lower()
    if v in ("1", "true", "yes", "y", "on"):
        return True
    if v in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got '{value}'")


def option_default(options, field: str):
    """A field of a bound options object as a flag default (thresholds, float32 in C++, read
    as the decimal they were written as: 0.7)."""
    return getattr(options, field)


def add_option_flags(parser: argparse.ArgumentParser, options, flags: dict[str, str]) -> None:
    """Adds `--flag` for each `field: flag` of a bound options object (kws.MfccOptions,
    kws.RecognizeCommandsOptions, kws.StreamingOptions): its default and help come from the
    C++ struct, where they are defined once."""
    cls = type(options)
    for field, flag in flags.items():
        default = option_default(options, field)
        doc = (getattr(cls, field).__doc__ or "").strip()
        help_text = f"{doc} (default: {default})" if doc else None
        if isinstance(default, bool):  # --flag alone is true; --flag false|true|0|1
            parser.add_argument(f"--{flag}", type=str2bool, nargs="?", const=True,
                                default=default, metavar="true|false", help=help_text)
        else:
            parser.add_argument(f"--{flag}", type=type(default), default=default,
                                help=help_text)
