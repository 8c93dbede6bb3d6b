"""Dataset index: the classic hash split, labels, silence/unknown draw, and input errors."""

from __future__ import annotations

import hashlib
import math
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest

import kws
from kws.train.data import DatasetIndex, which_set

WANTED = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


def spec_partition(name: str, val: float, test: float) -> str:
    """SPEC.md's formula, written out independently of kws.train.data."""
    base = name.rsplit("/", 1)[-1]
    cut = base.find("_nohash_")
    key = base if cut < 0 else base[:cut]
    p = (int(hashlib.sha1(key.encode()).hexdigest(), 16) % (2**27)) * (100 / (2**27 - 1))
    if p < val:
        return "validation"
    if p < val + test:
        return "testing"
    return "training"


def all_sample_names(sample_dir: Path) -> list[str]:
    return sorted(str(p) for p in sample_dir.glob("*/*.wav"))


def test_which_set_matches_spec_formula_on_real_names(sample_dir):
    names = all_sample_names(sample_dir)
    assert len(names) > 2000
    with_nohash = [n for n in names if "_nohash_" in n]
    without = [n for n in names if "_nohash_" not in n]
    assert with_nohash and without  # `_silence_/1037.wav` style names have no _nohash_
    for val, test in ((10, 10), (5, 20), (0, 0), (33.3, 12.5)):
        for n in names:
            assert which_set(n, val, test) == spec_partition(n, val, test), n
    # The sample's word clips are the canonical Speech Commands v0.02 test set, which the
    # classic tool put in 'testing' with the default 10/10: every one must land there.
    words = [n for n in with_nohash if "/_background_noise_/" not in n]
    assert len(words) > 2000
    assert {which_set(n, 10, 10) for n in words} == {"testing"}


def test_which_set_keeps_speaker_together_and_ignores_folder():
    speakers = [f"{i:08x}" for i in range(0, 4000 * 7919, 7919)]
    for spk in speakers:
        parts = {which_set(f"/a/{w}/{spk}_nohash_{n}.wav", 10, 10) for w in ("yes", "no") for n in range(3)}
        assert len(parts) == 1
        assert which_set(f"{spk}_nohash_0.wav", 10, 10) == spec_partition(spk, 10, 10)
    # Without _nohash_, the whole base name (extension included) is hashed.
    for name in ("1037.wav", "abc.wav", "x_nohas_1.wav"):
        assert which_set(name, 10, 10) == spec_partition(name, 10, 10)
    got = [which_set(f"{s}_nohash_0.wav", 10, 10) for s in speakers]
    # The hash spreads speakers about 10% / 10% / 80%.
    assert 0.07 < got.count("validation") / len(got) < 0.13
    assert 0.07 < got.count("testing") / len(got) < 0.13


def test_sample_index_labels_and_classic_draw(sample_dir):
    # The sample is all test-set speakers (hash percentage in [10, 20)): these
    # percentages spread it over the three partitions.
    split = dict(validation_percentage=13, testing_percentage=4)
    idx = DatasetIndex(str(sample_dir), WANTED, **split)
    assert idx.labels == ["_silence_", "_unknown_", *WANTED]
    noise_files = sorted((sample_dir / "_background_noise_").glob("*.wav"))
    assert len(idx.background_noise) == len(noise_files) >= 1
    assert all(n.dtype == np.float32 and len(n) >= 16000 for n in idx.background_noise)
    total = 0
    for part in ("training", "validation", "testing"):
        entries = idx.data[part]
        assert idx.set_size(part) == len(entries)
        total += len(entries)
        wanted = [e for e in entries if e[1] >= 2]
        generated_silence = [e for e in entries if e[0] is None]
        recorded_silence = [e for e in entries if e[0] is not None and e[1] == 0]
        unknown = [e for e in entries if e[1] == 1]
        quota = math.ceil(len(wanted) * 10 / 100)
        assert len(generated_silence) + len(recorded_silence) == quota
        recorded_available = [
            q for q in (sample_dir / "_silence_").glob("*.wav") if which_set(str(q), 13, 4) == part
        ]
        assert len(recorded_silence) == min((quota + 1) // 2, len(recorded_available)) > 0
        available = [
            q for q in sample_dir.glob("*/*_nohash_*.wav")
            if q.parent.name not in WANTED and which_set(str(q), 13, 4) == part
        ]
        assert len(unknown) == min(quota, len(available)) > 0
        assert all(e[1] == 0 for e in generated_silence)
        for path, label in entries:
            if path is None:
                continue
            assert which_set(path, 13, 4) == part
            folder = Path(path).parent.name
            if label >= 2:
                assert idx.labels[label] == folder
            elif label == 1:
                assert folder not in WANTED and folder != "_silence_"
            else:
                assert folder == "_silence_"
        assert recorded_silence, part
    assert total > 1500
    # A fixed seed: the same index twice; another seed changes the order only.
    again = DatasetIndex(str(sample_dir), WANTED, **split)
    assert again.data == idx.data
    other = DatasetIndex(str(sample_dir), WANTED, seed=1, **split)
    assert other.data["training"] != idx.data["training"]
    for part in ("training", "validation", "testing"):
        assert len(other.data[part]) == len(idx.data[part])
        assert idx.label_counts(part) == other.label_counts(part)


def test_custom_percentages_and_words(sample_dir):
    idx = DatasetIndex(
        sample_dir, "yes,no", silence_percentage=0, unknown_percentage=50,
        validation_percentage=14, testing_percentage=3,
    )
    assert idx.labels == ["_silence_", "_unknown_", "yes", "no"]
    for part in ("training", "validation", "testing"):
        labels = [lab for _, lab in idx.data[part]]
        assert len(labels) > 50
        assert 0 not in labels
        n_wanted = sum(1 for lab in labels if lab >= 2)
        assert labels.count(1) == math.ceil(n_wanted * 0.5)
        for path, _ in idx.data[part]:
            assert which_set(path, 14, 3) == part


# --------------------------------------------------------------------------- errors


def make_layout(root: Path, words: dict[str, int], noise: dict[str, int] | None = None,
                rate: int = 16000) -> Path:
    rng = np.random.default_rng(0)
    for word, n in words.items():
        (root / word).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            kws.write_wav(root / word / f"{i:08x}_nohash_{i % 3}.wav",
                           rng.uniform(-0.5, 0.5, rate).astype(np.float32), rate)
    if noise is not None:
        (root / "_background_noise_").mkdir(parents=True, exist_ok=True)
        for name, length in noise.items():
            kws.write_wav(root / "_background_noise_" / name,
                           rng.uniform(-0.1, 0.1, length).astype(np.float32), 16000)
    return root


def test_error_no_wavs(tmp_path):
    (tmp_path / "yes").mkdir()
    (tmp_path / "yes" / "notes.txt").write_text("no audio here")
    with pytest.raises(ValueError, match=r"no \.wav clips found.*" + re.escape(str(tmp_path))):
        DatasetIndex(str(tmp_path), ["yes"])


def test_error_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        DatasetIndex(str(tmp_path / "nope"), ["yes"])


def test_error_wanted_word_without_clips(tmp_path):
    make_layout(tmp_path, {"yes": 3, "cat": 2})
    (tmp_path / "no").mkdir()
    with pytest.raises(ValueError, match=r"wanted word\(s\) no have no clips.*found: cat, yes"):
        DatasetIndex(str(tmp_path), ["yes", "no"])


def test_error_empty_background_noise(tmp_path):
    make_layout(tmp_path, {"yes": 3}, noise={})
    with pytest.raises(ValueError, match=r"_background_noise_ holds no \.wav noise files"):
        DatasetIndex(str(tmp_path), ["yes"])


def test_error_short_noise_file(tmp_path):
    make_layout(tmp_path, {"yes": 3}, noise={"long.wav": 40000, "short.wav": 8000})
    with pytest.raises(ValueError, match=r"short\.wav: noise file is shorter \(8000 samples\)"):
        DatasetIndex(str(tmp_path), ["yes"])


def test_error_other_sample_rate_and_resample(tmp_path):
    make_layout(tmp_path, {"yes": 4}, noise={"n.wav": 20000})
    odd = tmp_path / "yes" / "deadbeef_nohash_0.wav"
    t = np.arange(8000) / 8000.0
    kws.write_wav(odd, 0.5 * np.sin(2 * np.pi * 440 * t), 8000)
    with pytest.raises(ValueError, match=r"deadbeef_nohash_0\.wav: sample rate 8000 Hz, expected 16000"):
        DatasetIndex(str(tmp_path), ["yes"])
    idx = DatasetIndex(str(tmp_path), ["yes"], resample=True)
    assert idx.converted == {str(odd)}
    clip = idx.load_clip(str(odd))
    assert clip.shape == (16000,)
    # 8 kHz -> 16 kHz keeps the 440 Hz tone: its spectrum peaks at 440 Hz.
    spectrum = np.abs(np.fft.rfft(clip))
    assert abs(np.argmax(spectrum) * 16000 / 16000 - 440) <= 1
    assert 0.45 < np.max(np.abs(clip[100:-100])) < 0.55


def test_error_stereo_clip(tmp_path):
    make_layout(tmp_path, {"yes": 2})
    path = tmp_path / "yes" / "stereo_nohash_0.wav"
    data = np.zeros((16000, 2), dtype="<i2").tobytes()
    hdr = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 2, 16000, 64000, 4, 16) + b"data" + struct.pack("<I", len(data))
    path.write_bytes(hdr + data)
    with pytest.raises(ValueError, match=r"stereo_nohash_0\.wav: 2 channel\(s\), 16-bit"):
        DatasetIndex(str(tmp_path), ["yes"])
    assert kws.wav_info(path).channels == 2
    assert kws.read_wav(path)[0].shape == (16000,)


def test_error_not_a_wav(tmp_path):
    make_layout(tmp_path, {"yes": 2})
    (tmp_path / "yes" / "broken.wav").write_bytes(b"this is not audio at all")
    with pytest.raises(ValueError, match=r"broken\.wav: not a RIFF file"):
        DatasetIndex(str(tmp_path), ["yes"])


def test_bad_percentages(tmp_path):
    make_layout(tmp_path, {"yes": 2})
    with pytest.raises(ValueError, match="validation_percentage"):
        DatasetIndex(str(tmp_path), ["yes"], validation_percentage=70, testing_percentage=40)
    with pytest.raises(ValueError, match="silence_percentage"):
        DatasetIndex(str(tmp_path), ["yes"], silence_percentage=-1)


def test_several_folders_merge_by_label(tmp_path, sample_dir):
    synth = make_layout(tmp_path / "synth", {"YES": 30, "no": 20, "cat": 10}, noise={"hum.wav": 32000})
    both = DatasetIndex(f"{synth},{sample_dir}", ["yes", "no"])
    as_list = DatasetIndex([synth, sample_dir], ["yes", "no"])
    assert both.data == as_list.data
    real = DatasetIndex(sample_dir, ["yes", "no"])
    assert len(both.background_noise) == len(real.background_noise) + 1
    assert both.words["yes"] == real.words["yes"] + 30  # folder names are lower-cased
    merged_paths = {p for part in both.data.values() for p, lab in part if lab == 2}
    assert any(str(synth) in p for p in merged_paths)
    assert any(str(sample_dir) in p for p in merged_paths)


def test_wav_roundtrip(tmp_path):
    x = np.linspace(-1, 1, 1001).astype(np.float32)
    kws.write_wav(tmp_path / "a.wav", x, 16000)
    y = kws.read_wav(tmp_path / "a.wav")[0]
    assert np.max(np.abs(x - y)) < 2 / 32768
    info = kws.wav_info(tmp_path / "a.wav")
    assert (info.sample_rate, info.frames, info.is_pcm16_mono) == (16000, 1001, True)
    assert os.path.getsize(tmp_path / "a.wav") == 44 + 2002


def test_repeated_folder_oversamples_training_only(sample_dir):
    """A real folder listed three times: its training clips three times each, its
    validation and testing clips and noise files once (as when listed once)."""
    split = dict(validation_percentage=12, testing_percentage=4)
    once = DatasetIndex(sample_dir, ["yes", "no"], **split)
    thrice = DatasetIndex(f"{sample_dir},{sample_dir},{sample_dir}", ["yes", "no"], **split)
    for part in ("validation", "testing"):
        assert sorted(map(str, once.data[part])) == sorted(map(str, thrice.data[part]))
    words_once = [p for p, lab in once.data["training"] if lab >= 2]
    words_thrice = [p for p, lab in thrice.data["training"] if lab >= 2]
    assert len(words_once) > 50
    assert sorted(words_thrice) == sorted(words_once * 3)
    assert thrice.words == once.words
    assert len(thrice.background_noise) == len(once.background_noise)


def test_folder_balance_oversamples_the_small_folder(tmp_path, sample_dir):
    """--folder_balance F: the real sample (the smaller folder) is used round(F x the
    synthetic folder's wanted-word training clips / its own) times, as if listed that many
    times; the larger folder once; listing a folder twice changes nothing."""
    split = dict(validation_percentage=12, testing_percentage=4)
    synth = make_layout(tmp_path / "synth", {"yes": 250, "no": 250, "cat": 20})
    wanted = ["yes", "no"]

    def training_words(folder: Path) -> int:
        return sum(1 for p in folder.glob("*/*.wav") if p.parent.name in wanted
                   and spec_partition(str(p), 12, 4) == "training")

    n_synth, n_real = training_words(synth), training_words(sample_dir)
    assert n_synth > 2 * n_real > 100
    k = round(1.5 * n_synth / n_real)
    balanced = DatasetIndex(f"{synth},{sample_dir}", wanted, folder_balance=1.5, **split)
    listed = DatasetIndex(f"{synth}" + f",{sample_dir}" * k, wanted, **split)
    assert balanced.folder_repeats == {str(synth): 1, str(sample_dir): k}
    assert balanced.data == listed.data
    assert f"{sample_dir} x{k}" in balanced.summary()
    twice = DatasetIndex(f"{sample_dir},{synth},{sample_dir}", wanted, folder_balance=1.5,
                         **split)
    assert twice.folder_repeats == balanced.folder_repeats
    plain = DatasetIndex(f"{synth},{sample_dir}", wanted, **split)
    for part in ("validation", "testing"):
        assert sorted(map(str, balanced.data[part])) == sorted(map(str, plain.data[part]))
    real_train = [p for p, lab in balanced.data["training"] if lab >= 2 and p.startswith(
        str(sample_dir))]
    assert len(real_train) == k * n_real
    with pytest.raises(ValueError, match="--folder_balance must be >= 0"):
        DatasetIndex(str(sample_dir), wanted, folder_balance=-1)
