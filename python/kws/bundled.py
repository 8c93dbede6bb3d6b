"""Bundled models: trained models shipped inside the package, ready without training.

Each bundled model is `kws/models/<name>.kws` with its model card's figures beside it in
`kws/models/<name>.json` (written by scripts/model_card.py from measured figures;
docs/models.md quotes them). The environment variable KWS_MODELS_DIR points to another
folder of models instead (the C++ library's `kws::Model::LoadBundled` reads it too).

`kws.Model.load(name_or_path)` loads a bundled model by name or any model.kws by path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from kws import _core

# The model the commands use when none is given.
DEFAULT_MODEL = "speech_commands"
# The models a kws release ships (the tests check that each one is there).
SHIPPED_MODELS = ("speech_commands",)

# Hops (ms) whose FLOPs `kws models` and the model cards report.
CARD_HOPS_MS = (20, 30)

_load_file = _core.Model.load


def models_dir() -> Path:
    """The folder of the bundled models: $KWS_MODELS_DIR, else the package's own."""
    env = os.environ.get("KWS_MODELS_DIR")
    return Path(env) if env else Path(__file__).resolve().parent / "models"


def names() -> list[str]:
    """The bundled models' names, sorted."""
    return list(_core.Model.bundled_model_names(str(models_dir())))


def _names_text() -> str:
    found = names()
    return ", ".join(found) if found else f"none (no *.kws in {models_dir()})"


def model_path(name: str) -> Path:
    """The file of the bundled model `name`; ValueError listing the bundled names if none."""
    if name in names():
        return models_dir() / f"{name}.kws"
    raise ValueError(f"no bundled model '{name}' (bundled models: {_names_text()})")


def _is_name(name_or_path) -> bool:
    """Whether `name_or_path` is a name rather than a path: text that is not an existing
    file, has no folder separator and no .kws suffix."""
    return (isinstance(name_or_path, str) and not os.path.lexists(name_or_path)
            and os.sep not in name_or_path and "/" not in name_or_path
            and not name_or_path.endswith(".kws"))


def bundled_name(name_or_path) -> str | None:
    """The bundled model's name when `name_or_path` names one (as `resolve` reads it),
    otherwise None."""
    return name_or_path if _is_name(name_or_path) and name_or_path in names() else None


def resolve(name_or_path: str | bytes | os.PathLike) -> str | bytes | os.PathLike:
    """What to load for `name_or_path`: a path (anything that exists, a path object, bytes,
    text with a folder separator or a .kws suffix) is itself, and the loader says what is
    wrong with it; a bundled model's name is its file; any other name is a ValueError that
    lists the bundled names."""
    if not _is_name(name_or_path):
        return name_or_path
    if name_or_path in names():
        return str(models_dir() / f"{name_or_path}.kws")
    raise ValueError(f"{name_or_path}: neither a model file nor a bundled model's name "
                     f"(bundled models: {_names_text()})")


def load(name_or_path: str | bytes | os.PathLike) -> _core.Model:
    """Loads a model.kws file, or the bundled model of that name (see `kws models`)."""
    return _load_file(resolve(name_or_path))


def card(name: str) -> dict:
    """The model card figures of the bundled model `name` (its <name>.json)."""
    path = model_path(name).with_suffix(".json")
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise ValueError(f"{path}: cannot read the model card figures ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def flops_per_hop(model: _core.Model, hop_ms: float) -> int:
    """Model FLOPs one hop costs a stream in steady state (cached state included)."""
    stream = model.create_stream(hop_ms=hop_ms)
    hop = stream.hop_samples
    # Enough hops for every cached layer to have a same-phase window (at most 16 phases).
    import numpy as np

    stream.accept_waveform(np.zeros(model.clip_samples + 40 * hop, np.float32))
    return int(stream.last_decode_flops)


def describe(name: str) -> dict:
    """What `kws models` shows of one bundled model: the file's own figures (measured on
    the model now) and the card's measured accuracy, when the card is there."""
    path = model_path(name)
    model = _load_file(str(path))
    info = {
        "name": name,
        "file": str(path),
        "version": model.version,
        "provenance": model.provenance,
        "architecture": model.architecture,
        "labels": list(model.labels),
        "file_bytes": path.stat().st_size,
        "parameters": model.num_parameters,
        "flops_per_window": model.flops_per_window,
        "flops_per_hop": {str(h): flops_per_hop(model, h) for h in CARD_HOPS_MS},
    }
    try:
        info["card"] = card(name)
    except ValueError as e:
        info["card_error"] = str(e)
    return info
