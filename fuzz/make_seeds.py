#!/usr/bin/env python3
"""Builds the fuzzing seed corpus: real files plus generated edge cases, one folder per
fuzz target under OUT_DIR (e.g. build/fuzz/seeds/wav_reader). Seeds are generated, never
committed; only small crash/regression inputs live in fuzz/regressions/.

Usage: python fuzz/make_seeds.py OUT_DIR [--targets wav_reader,mfcc,model_loader,ground_truth,c_api_model]
                                         [--sample-dir DIR]
WAV and MFCC seeds need the standard library only; model.kws seeds need kws with its
`train` extra (TensorFlow), as after scripts/test.sh.
"""
from __future__ import annotations

import argparse
import math
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The real clips seeds are cut from: $KWS_SAMPLE_DIR, else the shared sample beside the
# checkout, else the committed fixture clips (enough for the seeds).
SHARED_SAMPLE_DIR = ROOT.parent / "shared" / "data" / "speech_commands_sample"
FIXTURE_SAMPLE_DIR = ROOT / "tests" / "data" / "speech_commands"
DEFAULT_SAMPLE_DIR = SHARED_SAMPLE_DIR if SHARED_SAMPLE_DIR.is_dir() else FIXTURE_SAMPLE_DIR
GUID_TAIL = bytes([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00,
                   0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71])


def chunk(tag: bytes, body: bytes, pad: bool = True) -> bytes:
    out = tag + struct.pack("<I", len(body)) + body
    if pad and len(body) % 2:
        out += b"\x00"
    return out


def riff(chunks: list[bytes], riff_size: int | None = None) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    size = len(body) if riff_size is None else riff_size
    return b"RIFF" + struct.pack("<I", size) + body


def fmt_body(code: int, channels: int, rate: int, bits: int, extra: bytes = b"") -> bytes:
    align = channels * (bits // 8)
    return struct.pack("<HHIIHH", code, channels, rate, rate * align, align, bits) + extra


def extensible_extra(bits: int, subformat: int, mask: int = 0) -> bytes:
    return struct.pack("<HHI", 22, bits, mask) + struct.pack("<H", subformat) + GUID_TAIL


def encode(samples: list[float], bits: int, is_float: bool = False) -> bytes:
    if is_float:
        return struct.pack(f"<{len(samples)}f", *samples)
    if bits == 8:
        return bytes(max(0, min(255, int(round(s * 128)) + 128)) for s in samples)
    scale = 1 << (bits - 1)
    ints = [max(-scale, min(scale - 1, int(round(s * scale)))) for s in samples]
    if bits == 16:
        return struct.pack(f"<{len(ints)}h", *ints)
    if bits == 32:
        return struct.pack(f"<{len(ints)}i", *ints)
    return b"".join(struct.pack("<i", v)[:3] for v in ints)  # 24-bit


def read_pcm16_samples(path: Path, limit: int) -> list[float]:
    """The first `limit` samples of a canonical 16-bit mono WAV (the real sample)."""
    data = path.read_bytes()
    pos = 12
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if tag == b"data":
            body = data[pos + 8:pos + 8 + min(size, 2 * limit)]
            n = len(body) // 2
            return [v / 32768.0 for v in struct.unpack(f"<{n}h", body[:2 * n])]
        pos += 8 + size + (size & 1)
    raise ValueError(f"{path}: no data chunk")


def real_files(sample_dir: Path, count: int) -> list[Path]:
    if not sample_dir.is_dir():
        raise SystemExit(f"make_seeds: sample folder {sample_dir} is missing")
    words = sorted(p for p in sample_dir.iterdir() if p.is_dir() and not p.name.startswith("_"))
    files = []
    for w in words:
        wavs = sorted(w.glob("*.wav"))
        if wavs:
            files.append(wavs[0])
        if len(files) == count:
            break
    if not files:
        raise SystemExit(f"make_seeds: no WAV files under {sample_dir}")
    return files


def wav_seeds(sample_dir: Path) -> dict[str, bytes]:
    seeds: dict[str, bytes] = {}
    reals = real_files(sample_dir, 6)
    for p in reals[:3]:  # real files as they are (16-bit mono, 1 s)
        seeds[f"real_{p.parent.name}_{p.name}"] = p.read_bytes()
    speech = read_pcm16_samples(reals[3], 1200)[200:1000]  # 800 real samples (50 ms)
    stereo = [v for s in speech[:400] for v in (s, -s)]
    six = [v * (c + 1) / 6 for s in speech[:200] for c, v in enumerate([s] * 6)]
    rate = 16000
    for bits in (8, 16, 24, 32):
        seeds[f"pcm{bits}_mono"] = riff([chunk(b"fmt ", fmt_body(1, 1, rate, bits)),
                                         chunk(b"data", encode(speech, bits))])
    seeds["float32_fact"] = riff([
        chunk(b"fmt ", fmt_body(3, 1, rate, 32, struct.pack("<H", 0))),
        chunk(b"fact", struct.pack("<I", len(speech))),
        chunk(b"data", encode(speech, 32, is_float=True))])
    seeds["pcm16_stereo"] = riff([chunk(b"fmt ", fmt_body(1, 2, 44100, 16)),
                                  chunk(b"data", encode(stereo, 16))])
    seeds["pcm24_6ch_extensible"] = riff([
        chunk(b"fmt ", fmt_body(0xFFFE, 6, 48000, 24, extensible_extra(24, 1, 0x3F))),
        chunk(b"data", encode(six, 24))])
    seeds["pcm16_extensible_valid12"] = riff([
        chunk(b"fmt ", fmt_body(0xFFFE, 1, 8000, 16, struct.pack("<HHI", 22, 12, 4) +
                                struct.pack("<H", 1) + GUID_TAIL)),
        chunk(b"data", encode(speech, 16))])
    seeds["float32_extensible_stereo"] = riff([
        chunk(b"fmt ", fmt_body(0xFFFE, 2, rate, 32, extensible_extra(32, 3, 3))),
        chunk(b"data", encode(stereo, 32, is_float=True))])
    pcm16 = encode(speech, 16)
    fmt16 = chunk(b"fmt ", fmt_body(1, 1, rate, 16))
    seeds["list_before_fmt"] = riff([chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00kws!\x00\x00"),
                                     fmt16, chunk(b"data", pcm16)])
    seeds["data_before_fmt"] = riff([chunk(b"data", pcm16), fmt16])
    seeds["odd_junk_padded"] = riff([fmt16, chunk(b"JUNK", b"abc"), chunk(b"data", pcm16)])
    seeds["odd_data_no_pad"] = riff([chunk(b"fmt ", fmt_body(1, 1, rate, 8)),
                                     chunk(b"data", encode(speech[:101], 8), pad=False)])
    seeds["stale_riff_size_zero"] = riff([fmt16, chunk(b"data", pcm16)], riff_size=0)
    seeds["stale_riff_size_max"] = riff([fmt16, chunk(b"data", pcm16)], riff_size=0xFFFFFFFF)
    seeds["empty_data"] = riff([fmt16, chunk(b"data", b"")])
    seeds["one_sample"] = riff([fmt16, chunk(b"data", pcm16[:2])])
    seeds["fmt18_cbsize"] = riff([chunk(b"fmt ", fmt_body(1, 1, rate, 16, b"\x00\x00")),
                                  chunk(b"data", pcm16)])
    # Malformed on purpose: the fuzzer starts from both sides of each check.
    seeds["truncated_data"] = riff([fmt16, chunk(b"data", pcm16)])[:-101]
    seeds["data_size_huge"] = (riff([fmt16]) + b"data" + struct.pack("<I", 0xFFFFFFF0) +
                               pcm16[:64])
    seeds["float_nan"] = riff([chunk(b"fmt ", fmt_body(3, 1, rate, 32)),
                               chunk(b"data", struct.pack("<3f", 0.5, math.nan, math.inf))])
    seeds["mulaw"] = riff([chunk(b"fmt ", fmt_body(7, 1, 8000, 8)), chunk(b"data", pcm16[:64])])
    seeds["zero_channels"] = riff([chunk(b"fmt ", struct.pack("<HHIIHH", 1, 0, rate, 0, 0, 16)),
                                   chunk(b"data", pcm16[:64])])
    seeds["header_only"] = riff([])
    return seeds


def mfcc_seeds(sample_dir: Path) -> dict[str, bytes]:
    """Inputs of fuzz_targets.h FuzzMfcc: mode byte, options, chunking byte, float32s."""
    speech = read_pcm16_samples(real_files(sample_dir, 6)[4], 6000)[4000:4960]
    # Mode 0 options: 16 kHz, 30 ms window, 10 ms stride, 40 channels, 13 coefficients,
    # 20 Hz - 4000 Hz (the classic front end with a shorter DCT).
    classic = bytes([0, 0, 29, 0, 9, 39, 12, 5, 127])
    raw = (b"\x01" + struct.pack("<idd", 16000, 30.0, 10.0) + struct.pack("<ii", 40, 40) +
           struct.pack("<dd", 20.0, 4000.0))

    def floats(values: list[float]) -> bytes:
        return struct.pack(f"<{len(values)}f", *values)

    square = [0.999 if (i // 40) % 2 else -0.999 for i in range(960)]
    spiky = list(speech[:800])
    spiky[100], spiky[400], spiky[401] = math.nan, math.inf, -math.inf
    return {
        "classic_speech": classic + b"\xa0" + floats(speech),
        "classic_silence": classic + b"\x07" + floats([0.0] * 960),
        "classic_clipping": classic + b"\x33" + floats(square),
        "classic_nan_inf": classic + b"\x10" + floats(spiky),
        "classic_huge": classic + b"\x05" + floats([3e38, -3e38] * 240),
        "short_window_8k": bytes([0, 1, 9, 128, 4, 19, 18, 0, 200, 1]) + floats(speech[:900]),
        "stride_over_window": bytes([0, 0, 9, 0, 30, 39, 39, 5, 127, 2]) + floats(speech),
        "raw_classic": raw + b"\x0b" + floats(speech[:1000]),
        "raw_nonsense": b"\x01" + struct.pack("<idd", -1, math.nan, 1e308) + b"\xff" * 24,
    }


def model_seeds() -> dict[str, bytes]:
    """Small model.kws files written by kws's own exporter: classic architectures on a
    short clip plus tiny models that use every op type of the format (needs the
    `train` extra: TensorFlow builds the Keras models)."""
    import tempfile

    import keras
    import numpy as np
    from keras import layers

    from kws.train import export, models
    from kws.train.settings import ModelSettings

    labels = ["_silence_", "_unknown_", "yes"]
    short = ModelSettings(label_count=3, clip_duration_ms=200, feature_bin_count=8,
                          window_stride_ms=20)
    rng = np.random.default_rng(5)

    def randomize(model) -> None:
        for w in model.weights:
            shape = tuple(w.shape)
            if "moving_variance" in w.path or "gamma" in w.path:
                value = rng.uniform(0.5, 1.5, shape)
            else:
                value = rng.normal(0.0, 0.5, shape)
            w.assign(value.astype(np.float32))

    def tiny(name: str, build) -> keras.Model:
        inputs = keras.Input(shape=(short.spectrogram_length, short.fingerprint_width),
                             name="features")
        return keras.Model(inputs, build(inputs), name=name)

    def svdf(x):
        x = models.Svdf(units=4, rank=2, memory_size=short.spectrogram_length - 2)(x)
        x = layers.ReLU()(x)
        return layers.Dense(3)(x)

    def ds(x):
        x = layers.Reshape((short.spectrogram_length, short.fingerprint_width, 1))(x)
        x = layers.Conv2D(3, (3, 2), strides=(2, 2), padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.DepthwiseConv2D((3, 3), padding="same")(x)
        x = layers.AveragePooling2D((2, 1), padding="valid")(x)
        x = layers.Conv2D(3, (1, 1), activation="relu")(x)
        x = layers.GlobalAveragePooling2D()(x)
        return layers.Dense(3)(x)

    def residual(x):
        x = layers.Reshape((short.spectrogram_length, 1, short.fingerprint_width))(x)
        y = layers.Conv2D(4, (3, 1), padding="same", activation="relu")(x)
        y = layers.Conv2D(4, (3, 1), padding="same")(y)
        s = layers.Conv2D(4, (1, 1))(x)
        x = layers.ReLU()(layers.Add()([y, s]))
        x = layers.MaxPooling2D((2, 1), strides=(2, 1), padding="same")(x)
        x = layers.Flatten()(x)
        return layers.Dense(3)(x)

    built = {arch: models.build_model(arch, short, training_dropout=True)
             for arch in ("single_fc", "tiny_conv", "tiny_embedding_conv")}
    built.update({"mini_svdf": tiny("mini_svdf", svdf), "mini_ds": tiny("mini_ds", ds),
                  "mini_residual": tiny("mini_residual", residual)})
    seeds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in built.items():
            randomize(model)
            path = Path(tmp) / f"{name}.kws"
            export.write_model_kws(path, model, short, name, labels)
            seeds[f"{name}.kws"] = path.read_bytes()
    return seeds


def ground_truth_seeds() -> dict[str, bytes]:
    """Ground-truth texts: the classic `word, time_ms` lines as kws gen-stream writes them,
    decimals, CRLF, blank and malformed lines, odd numbers and words."""
    words = ["yes", "no", "_unknown_", "up", "down", "left", "right", "on", "off", "stop"]
    classic = "".join(f"{words[i % len(words)]}, {1000.0 + 3000 * i + (i * 37) % 2000:.3f}\n"
                      for i in range(40))
    return {
        "classic.txt": classic.encode(),
        "crlf.txt": classic.replace("\n", "\r\n").encode(),
        "unsorted.txt": b"no, 5000\nyes, 1000\nyes, 1000\n_unknown_, 0\n",
        "blank.txt": b"\n  \n\t\n",
        "empty.txt": b"",
        "junk_only.txt": b"hello\nfoo;bar\na, b, c\n",
        "mixed.txt": b"yes, 1\njust one field\n , 5\nup, 12abc\nleft, -0\n",
        "numbers.txt": b"a, 1e3\nb, -2.5\nc, 0x10\nd, 8.9e15\ne, 9.1e15\nf, nan\ng, inf\n"
                       b"h, 1e400\ni, .5\nj, 5.\n",
        "words.txt": "caf\u00e9, 10\n\u65e5\u672c, 20\nyes no, 30\n\"q\", 40\n".encode(),
        "no_newline.txt": b"yes, 1000",
    }


def write_seeds(folder: Path, seeds: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        (folder / name).write_bytes(data)
    print(f"make_seeds: {len(seeds)} seeds in {folder} "
          f"({sum(map(len, seeds.values()))} bytes)")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--sample-dir", type=Path,
                    default=Path(os.environ.get("KWS_SAMPLE_DIR", DEFAULT_SAMPLE_DIR)))
    ap.add_argument("--targets", default="wav_reader,mfcc,model_loader,ground_truth,c_api_model",
                    help="comma-separated fuzz targets to build seeds for")
    args = ap.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    builders = {"wav_reader": lambda: wav_seeds(args.sample_dir),
                "mfcc": lambda: mfcc_seeds(args.sample_dir),
                "model_loader": model_seeds,
                "ground_truth": ground_truth_seeds,
                "c_api_model": model_seeds,  # the same bytes, through the C API
                # Atheris draws folder names, file bytes and options from its input:
                # real WAV bytes start it with well-formed clips to cut from.
                "dataset_index": lambda: wav_seeds(args.sample_dir)}
    built: dict[str, dict[str, bytes]] = {}  # model seeds are built once for both targets
    for target in targets:
        if target not in builders:
            raise SystemExit(f"make_seeds: no seeds for unknown target '{target}'")
        key = "model_loader" if target == "c_api_model" else target
        if key not in built:
            built[key] = builders[key]()
        write_seeds(args.out_dir / target, built[key])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
