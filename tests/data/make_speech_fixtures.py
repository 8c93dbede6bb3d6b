"""Writes tests/data/speech_commands/: a few real Speech Commands clips for tests that
need some real speech (a fresh clone has no larger sample).

Run: python tests/data/make_speech_fixtures.py SAMPLE_DIR
SAMPLE_DIR is a Speech Commands folder (the test set, or a sample of it). The clips are
copied byte for byte: the first ones (by name) of each chosen folder, and the first two
seconds of one background-noise recording, with its header sizes adjusted and the chunks
that follow its data kept.
"""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "speech_commands"
CLIPS = {"yes": 3, "no": 3, "up": 2, "down": 2, "left": 2, "right": 2, "on": 2, "off": 2,
         "stop": 2, "go": 2, "bed": 1, "cat": 1, "dog": 1, "_silence_": 1}
NOISE = "doing_the_dishes.wav"
NOISE_SECONDS = 2


def noise_excerpt(data: bytes, seconds: float) -> bytes:
    """The first `seconds` of a 16 kHz 16-bit mono WAV file, keeping the chunks before and
    after its data chunk."""
    pos = 12
    while data[pos:pos + 4] != b"data":
        pos += 8 + struct.unpack("<I", data[pos + 4:pos + 8])[0]
    size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
    keep = int(seconds * 16000) * 2
    after = data[pos + 8 + size + (size & 1):]
    body = data[12:pos] + b"data" + struct.pack("<I", keep) + data[pos + 8:pos + 8 + keep]
    body += after
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def main(sample: Path) -> None:
    for old in OUT.glob("*/"):  # the clip folders; README.md stays
        shutil.rmtree(old)
    for folder, count in CLIPS.items():
        (OUT / folder).mkdir(parents=True)
        for path in sorted((sample / folder).glob("*.wav"))[:count]:
            shutil.copyfile(path, OUT / folder / path.name)
    noise = OUT / "_background_noise_"
    noise.mkdir()
    (noise / NOISE).write_bytes(
        noise_excerpt((sample / "_background_noise_" / NOISE).read_bytes(), NOISE_SECONDS))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
