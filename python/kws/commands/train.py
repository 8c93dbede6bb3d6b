"""`kws train`: train a keyword-spotting model with the classic flags (kws.train.loop).

The terminal shows a progress bar, the validation accuracy every --eval_step_interval
steps and the final test confusion matrix; <train_dir>/train.log and TensorBoard
(--summaries_dir) hold everything, and --verbose prints the whole log here too."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from kws.commands.flags import Parser, str2bool
from kws.train.checkpoint import TrainingError
from kws.train.config import (
    BOOL_FLAGS,
    FLAG_HELP,
    RECIPE_SUMMARIES,
    RECIPES,
    TrainConfig,
    make_config,
)
from kws.train.loop import train


def build_parser(prog: str = "kws train") -> argparse.ArgumentParser:
    """The flag parser; every default is SUPPRESS so explicit flags can override recipes."""
    recipes = "; ".join(f"{name}: {RECIPE_SUMMARIES[name]}" for name in RECIPES)
    p = Parser(prog=prog, description=__doc__, epilog=f"recipes (--recipe): {recipes}",
               argument_default=argparse.SUPPRESS)
    for f in fields(TrainConfig):
        if f.name in ("steps_list", "rates_list"):
            continue
        help_text = f"{FLAG_HELP.get(f.name, '')} (default: {f.default!r})"
        if f.name in BOOL_FLAGS:
            p.add_argument(f"--{f.name}", type=str2bool, nargs="?", const=True, help=help_text)
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            p.add_argument(f"--{f.name}", type=kind, help=help_text)
    return p


def parse_config(argv: list[str]) -> TrainConfig:
    """Flags -> validated config: classic defaults, then the recipe, then explicit flags."""
    return make_config(**vars(build_parser().parse_args(argv)))


def main(argv: list[str]) -> int:
    """Parse and validate (before any work), then train."""
    try:
        config = parse_config(argv)
    except ValueError as e:
        print(f"kws train: error: {e}", file=sys.stderr)
        return 2
    try:
        result = train(config)
    except (ValueError, TrainingError) as e:
        print(f"kws train: error: {e}", file=sys.stderr)
        return 1
    return 0 if result is not None else 1
