"""Fuzz target (Atheris) for the training tier's dataset indexer, kws.train.data.DatasetIndex.

Each input is turned into a small dataset folder: word folders (wanted words, unknown
words, `_silence_`, `_background_noise_`, odd names), files with fuzzed names and fuzzed
bytes (WAV-like or not, some of them folders named like clips), and indexer options. The
indexer must either index the folder or raise ValueError or OSError whose message names
the dataset folder or a file in it; any other exception, or an error that names no file,
is a finding.

    python fuzz/dataset_index_fuzzer.py [libFuzzer flags] [corpus folders]
scripts/fuzz.sh runs it beside the C++ targets (Atheris comes from PyPI).
"""

from __future__ import annotations

import atexit
import logging
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["kws"]):
    from kws.train.data import DatasetIndex

FOLDER_NAMES = ["yes", "no", "up", "YES", "_silence_", "_background_noise_", "other", "wav.wav"]
RIFF_HEADER = (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00"
               b"\x00\x7d\x00\x00\x02\x00\x10\x00data")
ROOT = Path(tempfile.mkdtemp(prefix="kws_index_fuzz_", dir="/dev/shm" if Path("/dev/shm").is_dir()
                             else None))


def clean_name(text: str) -> str:
    """A file name from fuzzed text (no separators or NUL; never '.' or '..')."""
    name = "".join(c for c in text if c not in "/\x00")[:40]
    return name if name not in ("", ".", "..") else "x"


def build(fdp: atheris.FuzzedDataProvider, root: Path) -> None:
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        if fdp.ConsumeBool():
            folder = FOLDER_NAMES[fdp.ConsumeIntInRange(0, len(FOLDER_NAMES) - 1)]
        else:
            folder = clean_name(fdp.ConsumeUnicodeNoSurrogates(8))
        d = root / folder
        if d.exists() and not d.is_dir():
            continue
        d.mkdir(exist_ok=True)
        for _ in range(fdp.ConsumeIntInRange(0, 3)):
            name = clean_name(fdp.ConsumeUnicodeNoSurrogates(12))
            if fdp.ConsumeBool():
                name += ".wav" if fdp.ConsumeBool() else ".WAV"
            path = d / name
            if path.exists():
                continue
            kind = fdp.ConsumeIntInRange(0, 3)
            if kind == 0:
                path.mkdir()  # a folder where a clip would be
                continue
            body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
            if kind == 1:  # a 16 kHz PCM16 header over fuzzed data, its length exact or not
                length = len(body) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(0, 1 << 20)
                body = RIFF_HEADER + length.to_bytes(4, "little") + body
            path.write_bytes(body)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    root = ROOT / "d"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    build(fdp, root)
    validation = fdp.ConsumeIntInRange(0, 50)
    options = dict(
        wanted_words="yes,no,up",
        silence_percentage=fdp.ConsumeIntInRange(0, 100),
        unknown_percentage=fdp.ConsumeIntInRange(0, 100),
        validation_percentage=validation,
        testing_percentage=fdp.ConsumeIntInRange(0, 100 - validation),
        resample=fdp.ConsumeBool(),
        folder_balance=fdp.ConsumeIntInRange(0, 3) / 2,
        skip_bad_clips=fdp.ConsumeBool(),
        clip_duration_ms=fdp.ConsumeIntInRange(1, 1000),
    )
    try:
        index = DatasetIndex(str(root), **options)
    except (ValueError, OSError) as e:
        if str(root) not in str(e):
            raise AssertionError(f"the error names no file of the dataset: {e!r}") from e
        return
    for part in ("training", "validation", "testing"):
        for path, label in index.data[part]:
            assert path is None or Path(path).is_file(), path
            assert 0 <= label < len(index.labels), label


def main() -> None:
    logging.getLogger("kws").setLevel(logging.ERROR)  # --skip_bad_clips warns per clip
    atexit.register(shutil.rmtree, ROOT, True)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
