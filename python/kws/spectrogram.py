"""Spectrogram pictures of WAV files (the classic wav_to_spectrogram, and MFCC images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def magnitude_spectrogram(samples: np.ndarray, window_size: int = 256, stride: int = 128) -> np.ndarray:
    """Magnitude spectrogram (frames, fft_length // 2 + 1) as TF's AudioSpectrogram computes it
    with magnitude_squared=False: periodic Hann window, FFT of the next power of two."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if window_size <= 0 or stride <= 0:
        raise ValueError(f"window_size and stride must be positive, got {window_size}, {stride}")
    if samples.size < window_size:
        raise ValueError(
            f"audio of {samples.size} samples is shorter than one window of {window_size}"
        )
    fft_length = 1 << (window_size - 1).bit_length()
    n_frames = 1 + (samples.size - window_size) // stride
    idx = np.arange(window_size)[None, :] + stride * np.arange(n_frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(window_size) / window_size)
    frames = samples[idx].astype(np.float64) * window
    return np.abs(np.fft.rfft(frames, n=fft_length, axis=1)).astype(np.float32)


def spectrogram_image(
    samples: np.ndarray,
    *,
    window_size: int = 256,
    stride: int = 128,
    brightness: float = 64.0,
    time_axis: str = "rows",
) -> np.ndarray:
    """Grayscale uint8 image of the magnitude spectrogram scaled by `brightness`, clipped at 255.

    time_axis="rows" is the classic layout (time runs down the rows, frequency across);
    "columns" puts time left to right with low frequencies at the bottom.
    """
    spec = magnitude_spectrogram(samples, window_size, stride)
    image = np.minimum(spec * np.float32(brightness), np.float32(255.0)).astype(np.uint8)
    return _orient(image, time_axis)


def mfcc_image(samples: np.ndarray, sample_rate: int, *, time_axis: str = "rows", **mfcc_kwargs) -> np.ndarray:
    """MFCC features of the audio scaled linearly to 0..255 (per image), as uint8."""
    import kws

    feats = kws.mfcc(np.asarray(samples, dtype=np.float32), sample_rate=sample_rate, **mfcc_kwargs)
    lo, hi = float(feats.min()), float(feats.max())
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    image = np.round((feats - lo) * scale).astype(np.uint8)
    return _orient(image, time_axis)


def _orient(image: np.ndarray, time_axis: str) -> np.ndarray:
    if time_axis == "rows":
        return image
    if time_axis == "columns":
        return np.ascontiguousarray(image.T[::-1])
    raise ValueError(f"time_axis must be 'rows' or 'columns', got '{time_axis}'")


def save_png(image: np.ndarray, path: str | Path) -> None:
    """Writes a 2-D uint8 array as a grayscale PNG (atomically: temp file, then rename)."""
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("writing PNG files needs Pillow: pip install 'kws[train]'") from e
    import io
    import os
    import tempfile

    path = Path(path)
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    # A unique temporary name (two runs never share it), removed whatever happens.
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp",
                                    dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
        os.chmod(tmp_name, 0o666 & ~_umask())  # what a plain open() would have given
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _umask() -> int:
    """The process's umask, read without changing it (Linux), else set and restored."""
    import os

    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
