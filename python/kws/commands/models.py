"""`kws models`: the bundled models (ready without training) with their labels, size,
FLOPs per hop (measured on the model now) and measured accuracy (from the model card's
figures; docs/models.md has the cards). `kws models NAME` also prints its layers."""

from __future__ import annotations

import json
import sys
from typing import Callable

from kws import RecognizeCommandsOptions, bundled
from kws.commands.flags import Parser

# RecognizeCommandsOptions field -> flag (the classic streaming flag names; kws listen's).
DECODER_FLAGS = {"average_window_duration_ms": "average_window_ms",
                 "detection_threshold": "detection_threshold",
                 "suppression_ms": "suppression_ms", "minimum_count": "minimum_count",
                 "decision_delay_ms": "decision_delay_ms", "allow_repeats": "allow_repeats"}
# What a bundled model's card recommends for the stream (kws models shows it) -> flag.
CARD_DECODER_FLAGS = {"recommended_threshold": "detection_threshold",
                      "recommended_decision_delay_ms": "decision_delay_ms",
                      "recommended_average_window_ms": "average_window_ms",
                      "recommended_allow_repeats": "allow_repeats"}


def model_or_default(value: str | None, prog: str, flag: str = "--model") -> str:
    """`value`, or the default bundled model's name, saying so in one line on stderr."""
    if value:
        return value
    print(f"{prog}: no {flag} given: using the bundled model '{bundled.DEFAULT_MODEL}' "
          "(kws models lists the bundled models)", file=sys.stderr)
    return bundled.DEFAULT_MODEL


def card_decoder(args, argv: list[str], build_parser: Callable[[], Parser],
                 prog: str) -> dict[str, float | bool]:
    """With a bundled model (`args.model` a bundled name, not a path), the decoder options
    its card recommends (--detection_threshold, --decision_delay_ms, --allow_repeats, and
    the --average_window_ms they were chosen with) in place of the defaults of those flags
    that `argv` does not give (`build_parser` parses the command's argv), said in one line
    on stderr; a card that cannot be read is said too, and the defaults stay. Sets them on
    `args` and returns those it set."""
    model = bundled.bundled_name(args.model)
    if model is None:
        return {}
    try:
        stream = bundled.card(model).get("stream", {})
        recommended = {flag: _card_value(key, stream[key])
                       for key, flag in CARD_DECODER_FLAGS.items() if key in stream}
        for key, flag in CARD_DECODER_FLAGS.items():
            ms = recommended.get(flag, 0.0)
            if key.endswith("_ms") and ms != int(ms):
                raise ValueError(f"{key} {ms:g} is not whole ms")
        # The decoder's own bounds (threshold in [0, 1], the delay's and window's ranges).
        field = {flag: f for f, flag in DECODER_FLAGS.items()}
        try:
            RecognizeCommandsOptions(**{field[k]: type(getattr(args, k))(v)
                                        for k, v in recommended.items()}).validate()
        except ValueError as e:
            raise ValueError(f"{bundled.model_path(model).with_suffix('.json')}: {e}") from None
    except (ValueError, TypeError, OverflowError) as e:
        print(f"{prog}: no decoder settings from the card of the bundled model '{model}' "
              f"({e}): the decoder defaults", file=sys.stderr)
        return {}
    unset = build_parser()
    unset.set_defaults(**{flag: None for flag in CARD_DECODER_FLAGS.values()})
    given = unset.parse_args(argv)
    used = {}
    for flag, value in recommended.items():
        if getattr(given, flag) is None:
            used[flag] = type(getattr(args, flag))(value)
            setattr(args, flag, used[flag])
    if used:
        print(f"{prog}: " + " ".join(f"--{flag} {_flag_text(value)}"
                                     for flag, value in used.items())
              + f", as the card of the bundled model '{model}' recommends (kws models)",
              file=sys.stderr)
    return used


def _card_value(key: str, value) -> float | bool:
    """A card's recommended decoder value: true or false for the repeats rule, a number
    otherwise."""
    if key == "recommended_allow_repeats":
        if not isinstance(value, bool):
            raise ValueError(f"{key} {value!r} is not true or false")
        return value
    return float(value)


def _flag_text(value: float | bool) -> str:
    """A decoder value as it is written on a command line."""
    return str(value).lower() if isinstance(value, bool) else f"{value:g}"


def build_parser() -> Parser:
    p = Parser(prog="kws models", description=__doc__)
    p.add_argument("names", nargs="*", help="only these models (default: all)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p


def _mflops(n: int) -> str:
    return f"{n / 1e6:.2f} MFLOPs"


def format_model(info: dict) -> str:
    """The lines `kws models` prints for one model (info from `bundled.describe`)."""
    version = f" version {info['version']}" if info["version"] else ""
    hops = ", ".join(f"{_mflops(f)} per {h} ms hop" for h, f in info["flops_per_hop"].items())
    lines = [
        f"{info['name']}{version}: {info['architecture']}, {len(info['labels'])} labels",
        f"  labels: {', '.join(info['labels'])}",
        f"  size: {info['file_bytes'] / 1024:.0f} KB, {info['parameters']:,} parameters",
        f"  compute: {_mflops(info['flops_per_window'])} per window; {hops}",
    ]
    card = info.get("card")
    if card is None:
        lines.append(f"  accuracy: unknown ({info['card_error']})")
    else:
        sib = card.get("sibling", {})
        if "accuracy" in sib:
            lines.append(f"  accuracy: {100 * sib['accuracy']:.1f}% on {sib['count']} clips of "
                         "real speakers it never heard (its sibling's, trained without them: "
                         "docs/models.md)")
        stream = card.get("stream", {})
        at = stream.get("at_recommended")
        if at:
            delay = stream.get("recommended_decision_delay_ms", 0)
            window = stream.get("recommended_average_window_ms")
            repeats = stream.get("recommended_allow_repeats") is True
            lines.append(
                f"  streaming at threshold {stream['recommended_threshold']:g}"
                + (f", decision delay {delay} ms" if delay else "")
                + (f", average window {window} ms" if window else "")
                + (", words said again reported again" if repeats else "") + ": "
                f"{at['correct_percent']:.1f}% correct, {at['wrong_percent']:.1f}% wrong, "
                f"{at['false_positives_per_hour']:.1f} false alarms per hour "
                f"({stream.get('duration_s', 0) / 60:.0f} min of real speech over real noise)")
    if info["provenance"]:
        lines.append(f"  provenance: {info['provenance']}")
    lines.append(f"  file: {info['file']}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    names = args.names or bundled.names()
    if not names:
        print(f"kws models: no bundled models in {bundled.models_dir()}", file=sys.stderr)
        return 1
    infos = [bundled.describe(n) for n in names]
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    for i, info in enumerate(infos):
        if i:
            print()
        print(format_model(info))
    if args.names:
        for name in args.names:
            print()
            print(bundled.load(name).summary())
    return 0
