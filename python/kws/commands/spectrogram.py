"""`kws spectrogram`: a WAV file as a picture.

By default a picture to read: the power spectrogram in dB with a colour map, time left to
right in seconds, frequency up in Hz, sized for a screen (`--mfcc` shows kws's MFCC
features instead). `--classic` writes the classic wav_to_spectrogram image: one grayscale
pixel per magnitude (scaled by --brightness, clipped at 255), time running down the rows."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

import kws
from kws.commands.flags import Parser
from kws.files import atomic_write


def magnitude_spectrogram(samples: np.ndarray, window_size: int = 256,
                          stride: int = 128) -> np.ndarray:
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


def mfcc_image(samples: np.ndarray, sample_rate: int, *, time_axis: str = "rows",
               **mfcc_kwargs) -> np.ndarray:
    """MFCC features of the audio scaled linearly to 0..255 (per image), as uint8."""
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
    """Writes a 2-D uint8 array as a grayscale PNG, atomically."""
    buf = io.BytesIO()
    _pil_image().fromarray(np.asarray(image, dtype=np.uint8), mode="L").save(buf, format="PNG")
    atomic_write(path, buf.getvalue())


def _pil_image():
    try:
        from PIL import Image
    except ImportError as e:  # pillow comes with the train extra
        raise ImportError("writing PNG files needs Pillow: pip install 'kws[train]'") from e
    return Image


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:  # matplotlib comes with the train extra
        raise ImportError("drawing pictures needs matplotlib: pip install 'kws[train]' "
                          "(--classic needs Pillow only)") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def picture_png(samples: np.ndarray, sample_rate: int, *, mfcc: bool = False,
                window_size: int = 256, stride: int = 128, title: str = "",
                width_inches: float = 10.0, height_inches: float = 4.0,
                dpi: int = 100) -> bytes:
    """A readable picture as PNG bytes: the power spectrogram in dB (or, with `mfcc`, the
    MFCC features) with a colour map, time in seconds across, frequency in Hz (or the
    coefficient) up, and a colour bar."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(width_inches, height_inches), dpi=dpi)
    duration = len(samples) / sample_rate
    if mfcc:
        values = kws.mfcc(np.asarray(samples, dtype=np.float32), sample_rate=sample_rate)
        image = ax.imshow(values.T, origin="lower", aspect="auto", cmap="magma",
                          extent=(0, duration, 0, values.shape[1]))
        ax.set_ylabel("MFCC coefficient")
        label = "value"
    else:
        power = magnitude_spectrogram(samples, window_size, stride).astype(np.float64) ** 2
        db = 10 * np.log10(np.maximum(power, 1e-10))
        db = np.maximum(db, db.max() - 80)  # an 80 dB range
        image = ax.imshow(db.T, origin="lower", aspect="auto", cmap="magma",
                          extent=(0, duration, 0, sample_rate / 2))
        ax.set_ylabel("frequency (Hz)")
        label = "power (dB)"
    ax.set_xlabel("time (s)")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, label=label)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def build_parser() -> Parser:
    p = Parser(prog="kws spectrogram", description=__doc__)
    p.add_argument("--input_wav", required=True, help="the WAV file to draw")
    p.add_argument("--output_image", required=True, help="where to write the PNG")
    p.add_argument("--window_size", type=int, default=256, help="window in samples")
    p.add_argument("--stride", type=int, default=128, help="stride in samples")
    p.add_argument("--mfcc", action="store_true",
                   help="draw MFCC features (kws's front end) instead of the spectrogram")
    p.add_argument("--classic", action="store_true",
                   help="the classic grayscale image, one pixel per value, no axes")
    p.add_argument("--brightness", type=float, default=64.0,
                   help="--classic: multiplier applied to the magnitudes before clipping "
                        "at 255")
    p.add_argument("--time_axis", choices=["rows", "columns"], default="rows",
                   help="--classic: rows: time runs down (the classic layout); columns: "
                        "time left to right")
    p.add_argument("--size", default="10x4",
                   help="picture size in inches, WIDTHxHEIGHT, at 100 pixels per inch")
    return p


def _parse_size(text: str) -> tuple[float, float]:
    try:
        width, height = (float(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size '{text}': expected WIDTHxHEIGHT in inches, e.g. 10x4") \
            from None
    if not (1 <= width <= 40 and 1 <= height <= 40):
        raise ValueError(f"--size '{text}': each side must be between 1 and 40 inches")
    return width, height


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    samples, rate = kws.read_wav(args.input_wav)
    if args.classic:
        if args.mfcc:
            image = mfcc_image(samples, rate, time_axis=args.time_axis)
        else:
            image = spectrogram_image(samples, window_size=args.window_size, stride=args.stride,
                                      brightness=args.brightness, time_axis=args.time_axis)
        save_png(image, args.output_image)
        print(f"wrote {args.output_image}: {image.shape[1]} x {image.shape[0]} pixels")
        return 0
    width, height = _parse_size(args.size)
    png = picture_png(samples, rate, mfcc=args.mfcc, window_size=args.window_size,
                      stride=args.stride, title=Path(args.input_wav).name,
                      width_inches=width, height_inches=height)
    atomic_write(args.output_image, png)
    print(f"wrote {args.output_image}: {int(width * 100)} x {int(height * 100)} pixels, "
          f"{len(samples) / rate:.2f} s, {'MFCC' if args.mfcc else 'spectrogram'}")
    return 0



