"""Shared fixtures. The real Speech Commands sample lives in ../shared/data beside the
repository (never copied in); KWS_SAMPLE_DIR points elsewhere if needed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _sample_dir() -> Path:
    env = os.environ.get("KWS_SAMPLE_DIR")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data" / "speech_commands_sample"


SAMPLE_DIR = _sample_dir()


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The real-speech sample. Missing data is an error, not a skip."""
    if not (SAMPLE_DIR / "yes").is_dir():
        raise FileNotFoundError(
            f"real speech sample not found at {SAMPLE_DIR}: set KWS_SAMPLE_DIR to the "
            "speech_commands_sample folder"
        )
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT

