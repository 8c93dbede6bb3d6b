"""kws.read_wav / kws.write_wav against Python's own `wave` module, hand-built files of every
supported encoding, and every malformed-header case."""

from __future__ import annotations

import struct
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import kws

GUID_TAIL = bytes([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00,
                   0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71])


def fmt_body(code: int, channels: int, rate: int, bits: int, block_align: int | None = None
             ) -> bytes:
    align = channels * (bits // 8) if block_align is None else block_align
    return struct.pack("<HHIIHH", code, channels, rate, rate * align, align, bits)


def extensible_body(subformat: int, channels: int, rate: int, bits: int,
                    valid_bits: int | None = None) -> bytes:
    return (fmt_body(0xFFFE, channels, rate, bits)
            + struct.pack("<HHIH", 22, bits if valid_bits is None else valid_bits, 0,
                          subformat) + GUID_TAIL)


def chunk(tag: bytes, body: bytes, declared: int | None = None, pad: bool = True) -> bytes:
    size = len(body) if declared is None else declared
    return tag + struct.pack("<I", size) + body + (b"\0" if pad and len(body) % 2 else b"")


def riff(*chunks: bytes, magic: bytes = b"RIFF", form: bytes = b"WAVE") -> bytes:
    body = form + b"".join(chunks)
    return magic + struct.pack("<I", len(body)) + body


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def stdlib_read(path: Path) -> tuple[np.ndarray, int, int]:
    """Reference decoding of 16-bit PCM with the standard library."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2
        raw = w.readframes(w.getnframes())
        return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768, w.getframerate(), \
            w.getnchannels()


# ---- real sample ----------------------------------------------------------------------

def sample_files(speech_dir: Path) -> list[Path]:
    files = []
    for word in ("yes", "no", "stop", "_silence_"):
        files += sorted((speech_dir / word).glob("*.wav"))[:4]
    files += sorted((speech_dir / "_background_noise_").glob("*.wav"))[:2]
    assert len(files) >= 10  # the fixture clips: 3 + 3 + 2 + 1, and the noise excerpt
    return files


def test_matches_stdlib_wave_on_real_sample(speech_dir):
    for path in sample_files(speech_dir):
        samples, rate = kws.read_wav(path)
        expected, expected_rate, channels = stdlib_read(path)
        assert channels == 1
        assert rate == expected_rate == 16000
        assert samples.dtype == np.float32 and samples.ndim == 1
        np.testing.assert_array_equal(samples, expected)
        assert np.abs(samples).max() > 0  # real audio, not silence from a failed read


def test_mono_false_gives_frames_by_channels_without_copy(speech_dir):
    path = sorted((speech_dir / "yes").glob("*.wav"))[0]
    mono, _ = kws.read_wav(path)
    two_d, rate = kws.read_wav(str(path), mono=False)
    assert two_d.shape == (mono.shape[0], 1) and rate == 16000
    np.testing.assert_array_equal(two_d[:, 0], mono)
    # The decoded buffer is handed to numpy as is (its owner is the base), not copied.
    assert not mono.flags.owndata and mono.base is not None
    assert mono.flags.c_contiguous and mono.flags.writeable


def test_reads_from_threads_agree_with_serial(speech_dir):
    files = sample_files(speech_dir)[:12]
    serial = [kws.read_wav(f)[0] for f in files]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda f: kws.read_wav(f)[0], files * 2))
    for i, got in enumerate(threaded):
        np.testing.assert_array_equal(got, serial[i % len(files)])


# ---- round trips ------------------------------------------------------------------------

def test_pcm16_round_trip_is_exact_and_readable_by_stdlib(tmp_path):
    ints = np.array([-32768, -1234, -1, 0, 1, 999, 32767], dtype=np.int16)
    x = ints.astype(np.float32) / 32768
    path = tmp_path / "pcm16.wav"
    kws.write_wav(path, x, 16000)
    got, rate = kws.read_wav(path)
    np.testing.assert_array_equal(got, x)
    assert rate == 16000
    ref, ref_rate, channels = stdlib_read(path)
    np.testing.assert_array_equal(ref, x)
    assert (ref_rate, channels) == (16000, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pcm16.wav"]  # no temp file left


def test_pcm16_write_clips_and_accepts_column_and_float64(tmp_path):
    path = tmp_path / "clip.wav"
    kws.write_wav(path, np.array([[2.0], [-3.0], [0.5]]), 8000)  # float64, shape (n, 1)
    got, rate = kws.read_wav(path)
    np.testing.assert_array_equal(got, np.array([32767, -32768, 16384]) / 32768)
    assert rate == 8000


def test_float32_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 1000).astype(np.float32)
    path = tmp_path / "f32.wav"
    kws.write_wav(path, x, 44100, float32=True)
    got, rate = kws.read_wav(path)
    np.testing.assert_array_equal(got, x)
    assert rate == 44100
    data = path.read_bytes()
    assert struct.unpack("<H", data[20:22])[0] == 3  # IEEE float format code
    assert b"fact" in data[:64]


def test_write_overwrites_atomically(tmp_path):
    path = tmp_path / "over.wav"
    kws.write_wav(path, np.zeros(100, np.float32), 16000)
    kws.write_wav(path, np.full(10, 0.5, np.float32), 16000)
    got, _ = kws.read_wav(path)
    np.testing.assert_array_equal(got, np.full(10, 0.5, np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["over.wav"]


def test_write_rejects_bad_arguments(tmp_path):
    path = tmp_path / "bad.wav"
    with pytest.raises(ValueError, match=r"got shape \(3, 2\)"):
        kws.write_wav(path, np.zeros((3, 2)), 16000)
    with pytest.raises(ValueError, match="sample rate 0"):
        kws.write_wav(path, np.zeros(3), 0)
    with pytest.raises(ValueError, match="sample 2 is not finite"):
        kws.write_wav(path, np.array([0.0, 0.1, np.nan]), 16000)
    with pytest.raises(ValueError, match="got dtype int16"):
        kws.write_wav(path, np.array([1000, -1000], dtype=np.int16), 16000)
    with pytest.raises(OSError, match="no_such_dir"):
        kws.write_wav(tmp_path / "no_such_dir" / "x.wav", np.zeros(3), 16000)
    assert not path.exists()


# ---- every encoding, written by hand --------------------------------------------------------

def test_pcm_8_24_32_written_by_stdlib_wave(tmp_path):
    rng = np.random.default_rng(1)
    for width, scale in ((1, 128), (3, 2**23), (4, 2**31)):
        for channels in (1, 2, 5):
            frames = 257
            if width == 1:
                ints = rng.integers(0, 256, (frames, channels))
                raw = ints.astype(np.uint8).tobytes()
                expected = (ints - 128) / scale
            elif width == 3:
                ints = rng.integers(-(2**23), 2**23, (frames, channels))
                raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints.ravel())
                expected = ints / scale
            else:
                ints = rng.integers(-(2**31), 2**31, (frames, channels))
                raw = ints.astype("<i4").tobytes()
                expected = ints / scale
            path = tmp_path / f"w{width}c{channels}.wav"
            with wave.open(str(path), "wb") as w:
                w.setnchannels(channels)
                w.setsampwidth(width)
                w.setframerate(22050)
                w.writeframes(raw)
            got, rate = kws.read_wav(path, mono=False)
            assert rate == 22050 and got.shape == (frames, channels)
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7 if width == 4 else 0)
            mixed, _ = kws.read_wav(path)
            np.testing.assert_allclose(mixed, expected.mean(axis=1), rtol=0, atol=1e-6)


def test_float32_stereo_and_clipping(tmp_path):
    x = np.array([[0.5, -0.25], [1.5, -4.0], [0.0, 0.125]], dtype="<f4")
    path = write_bytes(tmp_path / "f.wav",
                       riff(chunk(b"fmt ", fmt_body(3, 2, 16000, 32)), chunk(b"data", x.tobytes())))
    got, _ = kws.read_wav(path, mono=False)
    np.testing.assert_array_equal(got, np.clip(x, -1, 1))
    mixed, _ = kws.read_wav(path)
    np.testing.assert_allclose(mixed, np.clip(x, -1, 1).mean(axis=1), atol=1e-7)


def test_extensible_subformats(tmp_path):
    pcm = np.array([[1000, -1000], [32767, -32768]], dtype="<i2")
    path = write_bytes(tmp_path / "ext16.wav",
                       riff(chunk(b"fmt ", extensible_body(1, 2, 48000, 16)),
                            chunk(b"data", pcm.tobytes())))
    got, rate = kws.read_wav(path, mono=False)
    np.testing.assert_array_equal(got, pcm / 32768)
    assert rate == 48000
    flt = np.array([0.1, -0.7], dtype="<f4")
    path = write_bytes(tmp_path / "extf.wav",
                       riff(chunk(b"fmt ", extensible_body(3, 1, 16000, 32)),
                            chunk(b"data", flt.tobytes())))
    np.testing.assert_array_equal(kws.read_wav(path)[0], flt)
    # 24 valid bits in 32-bit containers.
    ints = np.array([0x40000000, -0x40000000], dtype="<i4")
    path = write_bytes(tmp_path / "ext24in32.wav",
                       riff(chunk(b"fmt ", extensible_body(1, 1, 16000, 32, valid_bits=24)),
                            chunk(b"data", ints.tobytes())))
    np.testing.assert_array_equal(kws.read_wav(path)[0], [0.5, -0.5])


def test_unknown_and_odd_sized_chunks_are_skipped(tmp_path):
    pcm = np.array([5, -5, 7], dtype="<i2")
    path = write_bytes(tmp_path / "chunks.wav",
                       riff(chunk(b"LIST", b"INFOabc"),  # 7 bytes + pad
                            chunk(b"fmt ", fmt_body(1, 1, 16000, 16)),
                            chunk(b"bext", b"x" * 13),
                            chunk(b"data", pcm.tobytes()),
                            chunk(b"id3 ", b"ID3" * 5)))
    np.testing.assert_array_equal(kws.read_wav(path)[0], pcm / 32768)


# ---- malformed files ---------------------------------------------------------------------------

FMT16 = chunk(b"fmt ", fmt_body(1, 1, 16000, 16))
DATA = chunk(b"data", np.arange(4, dtype="<i2").tobytes())

MALFORMED = {
    "empty": (b"", "file is 0 bytes, too short for a RIFF/WAVE header"),
    "short": (b"RIFF\x00\x00", "file is 6 bytes, too short"),
    "not_riff": (b"ID3\x03" + b"\0" * 60, "not a RIFF file"),
    "rifx": (riff(FMT16, DATA, magic=b"RIFX"), "not a RIFF file (starts with 'RIFX'"),
    "not_wave": (riff(FMT16, DATA, form=b"AVI "), "RIFF file is not WAVE (form type 'AVI '"),
    "no_fmt": (riff(DATA), "missing fmt chunk"),
    "no_data": (riff(FMT16, chunk(b"LIST", b"abcd")), "missing data chunk"),
    "two_fmt": (riff(FMT16, FMT16, DATA), "more than one fmt chunk"),
    "truncated_data": (riff(FMT16, DATA)[:-3],
                       "truncated: data chunk declares 8 bytes but only 5 bytes follow"),
    "unpatched_data_size": (riff(FMT16, chunk(b"data", b"\0\0", declared=0xFFFFFFFF)),
                            "data chunk declares 4294967295 bytes but only 2 bytes follow"),
    "chunk_past_end": (riff(chunk(b"LIST", b"abcd", declared=5000), FMT16, DATA),
                       "chunk 'LIST' at offset 12 declares 5000 bytes but only 44 remain"),
    "fmt_past_end": (riff(chunk(b"fmt ", fmt_body(1, 1, 16000, 16), declared=400)),
                     "chunk 'fmt ' at offset 12 declares 400 bytes"),
    "zero_channels": (riff(chunk(b"fmt ", fmt_body(1, 0, 16000, 16, 2)), DATA),
                      "zero channels"),
    "zero_rate": (riff(chunk(b"fmt ", fmt_body(1, 1, 0, 16)), DATA), "sample rate of zero"),
    "absurd_channels": (riff(chunk(b"fmt ", fmt_body(1, 65535, 16000, 16, 2)), DATA),
                        "65535 channels, more than the supported maximum"),
    "absurd_rate": (riff(chunk(b"fmt ", fmt_body(1, 1, 20_000_000, 16, 2)), DATA),
                    "absurd sample rate of 20000000 Hz"),
    "alaw": (riff(chunk(b"fmt ", fmt_body(6, 1, 8000, 8)), DATA),
             "unsupported format code 0x0006 (A-law)"),
    "adpcm_extensible": (riff(chunk(b"fmt ", extensible_body(2, 1, 8000, 16)), DATA),
                         "unsupported WAVE_FORMAT_EXTENSIBLE subformat 0x0002"),
    "bits_12": (riff(chunk(b"fmt ", fmt_body(1, 1, 16000, 12, 2)), DATA),
                "unsupported bits per sample 12 for PCM"),
    "float64": (riff(chunk(b"fmt ", fmt_body(3, 1, 16000, 64)), DATA),
                "unsupported bits per sample 64 for IEEE float"),
    "block_align": (riff(chunk(b"fmt ", fmt_body(1, 2, 16000, 16, 2)), DATA),
                    "block_align 2 does not match channels * bytes per sample = 2 * 2 = 4"),
    "short_fmt": (riff(chunk(b"fmt ", fmt_body(1, 1, 16000, 16)[:12]), DATA),
                  "fmt chunk is 12 bytes, at least 16 are needed"),
    "partial_frame": (riff(chunk(b"fmt ", fmt_body(1, 2, 16000, 16)), chunk(b"data", b"\0" * 6)),
                      "data chunk of 6 bytes is not a whole number of 4-byte frames"),
    "nan_float": (riff(chunk(b"fmt ", fmt_body(3, 1, 16000, 32)),
                       chunk(b"data", np.array([0, np.nan], "<f4").tobytes())),
                  "sample 1 of channel 0 is NaN"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_raises_value_error_naming_file_and_problem(tmp_path, case):
    data, problem = MALFORMED[case]
    path = write_bytes(tmp_path / f"{case}.wav", data)
    with pytest.raises(ValueError) as info:
        kws.read_wav(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert problem in message, message


def test_every_truncation_of_a_valid_file_raises_value_error(tmp_path):
    good = riff(chunk(b"LIST", b"INFO"), FMT16, DATA)
    path = tmp_path / "cut.wav"
    for n in range(len(good)):
        path.write_bytes(good[:n])
        with pytest.raises(ValueError, match="cut.wav: "):
            kws.read_wav(path)
    path.write_bytes(good)
    np.testing.assert_array_equal(kws.read_wav(path)[0], np.arange(4) / 32768)


def test_unreadable_paths_raise_os_error(tmp_path):
    with pytest.raises(OSError, match="missing.wav"):
        kws.read_wav(tmp_path / "missing.wav")
    with pytest.raises(OSError, match="is a directory"):
        kws.read_wav(tmp_path)
