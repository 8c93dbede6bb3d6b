"""WAV reading and writing: the one WAV code path, the native core (``kws._core``)."""

from __future__ import annotations

import os

import numpy as np

from kws import _core

PathLike = str | os.PathLike


def read_wav(path: PathLike, mono: bool = True) -> tuple[np.ndarray, int]:
    """Reads a RIFF/WAVE file and returns ``(samples, sample_rate)``.

    Reads PCM 8 (unsigned)/16/24/32-bit, IEEE float 32-bit and WAVE_FORMAT_EXTENSIBLE
    with those subformats, skipping unknown chunks. ``samples`` is float32 in [-1, 1]:
    shape ``(frames,)`` with ``mono=True`` (channels averaged), otherwise
    ``(frames, channels)`` (also for a mono file). Integer samples are scaled by
    2^(bits-1), so 16-bit data gives exactly ``int16 / 32768``.

    Raises ValueError naming the file and the problem for a malformed file, OSError when
    it cannot be opened.
    """
    return _core.read_wav(os.fspath(path), mono)


def wav_info(path: PathLike) -> _core.WavInfo:
    """What a WAV file holds: ``sample_rate``, ``channels``, ``bits_per_sample``,
    ``frames`` (and ``is_pcm16_mono``). The file is checked exactly as ``read_wav`` checks
    it, with the same errors."""
    return _core.wav_info(os.fspath(path))


def read_wav_at(path: PathLike, sample_rate: int) -> np.ndarray:
    """Mono float32 samples of a WAV file at ``sample_rate``: read with ``read_wav`` and,
    when the file has another rate, resampled with soxr (high quality)."""
    samples, rate = read_wav(path)
    if rate == sample_rate:
        return samples
    import soxr  # the train and listen extras; needed only for files at another rate

    return soxr.resample(samples, rate, sample_rate, quality="HQ").astype(np.float32)


def write_wav(path: PathLike, samples: np.ndarray, sample_rate: int,
              float32: bool = False) -> None:
    """Writes mono ``samples`` (shape ``(n,)`` or ``(n, 1)``) as a WAV file.

    16-bit PCM by default (values clipped to [-1, 1], scaled by 32768 so that
    ``read_wav`` gives 16-bit data back exactly), IEEE float32 with ``float32=True``.
    The file is written to a temporary name in the same folder and renamed into place,
    so readers never see a partial file. Raises ValueError for bad arguments (rate,
    shape, non-finite samples, integer samples) and OSError when the file cannot be written.
    """
    dtype = np.asarray(samples).dtype
    if dtype.kind != "f":
        # Integer PCM would be clipped to +-1 and silently destroyed: make scaling explicit.
        raise ValueError(
            f"write_wav('{os.fspath(path)}'): samples must be floating point in [-1, 1], "
            f"got dtype {dtype} (divide int16 data by 32768)")
    _core.write_wav(os.fspath(path), samples, int(sample_rate), float32)
