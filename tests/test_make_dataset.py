"""`kws make-dataset`: layout, speakers, audio properties, noise, determinism, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import kws
from kws import cli
from kws.train.data import DatasetIndex, which_set
from kws.train.make_dataset import (
    ENGLISH_VOICES,
    FLITE_VOICES,
    SPEECH_COMMANDS_WORDS,
    make_dataset,
    parse_words,
)

WORDS = "yes,no,hey computer"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    make_dataset(out, words=WORDS, clips_per_word=24, speakers=8, seed=7, noise_seconds=3,
                 jobs=2, progress=False)
    return out


def longest_zero_run(x: np.ndarray) -> int:
    z = np.concatenate([[0], (x == 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(z))
    return int((edges[1::2] - edges[::2]).max()) if len(edges) else 0


def test_layout_speakers_and_split(made):
    manifest = json.loads((made / "kws_make_dataset.json").read_text())
    ids = [s["id"] for s in manifest["speakers"]]
    assert len(ids) == len(set(ids)) == 8
    combos = {(s["voice"], s["variant"], s["rate"], s["pitch"], s["pitch_range"])
              for s in manifest["speakers"]}
    assert len(combos) == 8
    assert len({s["voice"] for s in manifest["speakers"]}) >= 3  # several accents
    # The default voices: espeak-ng accents and flite voices of recorded speakers.
    engines = [s["voice"].split("/")[0] for s in manifest["speakers"]]
    assert set(engines) == {"gmw", "flite"}
    assert manifest["voices"][:8] == ENGLISH_VOICES and manifest["voices"][8:] == [
        f"flite/{v}" for v in FLITE_VOICES] * 2
    assert sorted(p.name for p in made.iterdir()) == [
        "_background_noise_", "hey_computer", "kws_make_dataset.json", "no", "yes"]
    for word in ("yes", "no", "hey_computer"):
        names = sorted(p.name for p in (made / word).iterdir())
        assert len(names) == 24
        for n in names:
            m = re.fullmatch(r"([0-9a-f]{8})_nohash_([0-2])\.wav", n)
            assert m and m.group(1) in ids
    # The hash split keeps each speaker's clips (all words) in one partition.
    idx = DatasetIndex(made, ["yes", "no"], validation_percentage=30, testing_percentage=30)
    part_of = {}
    for part, entries in idx.data.items():
        for path, _ in entries:
            if path is not None:
                spk = Path(path).name.split("_nohash_")[0]
                assert part_of.setdefault(spk, part) == part
                assert which_set(path, 30, 30) == part
    assert len(idx.background_noise) == 7


def test_clip_audio(made):
    manifest = json.loads((made / "kws_make_dataset.json").read_text())
    floor_db = {s["id"]: s["floor_db"] for s in manifest["speakers"]}
    peaks, onsets, lengths = [], [], []
    for path in sorted((made / "yes").glob("*.wav")) + sorted((made / "no").glob("*.wav")):
        info = kws.wav_info(path)
        assert (info.sample_rate, info.channels, info.bits_per_sample, info.frames) == (
            16000, 1, 16, 16000)
        x = kws.read_wav(path)[0]
        assert longest_zero_run(x) < 8  # dither: no runs of exact digital zeros
        env = np.convolve(np.abs(x), np.ones(160) / 160, mode="same")
        loud = np.flatnonzero(env > 0.1 * env.max())
        onsets.append(loud[0])
        lengths.append(loud[-1] - loud[0])
        peaks.append(20 * np.log10(np.abs(x).max()))
        floor = np.median(np.abs(x[:800])) if loud[0] > 1600 else np.median(np.abs(x[-800:]))
        # Around the word: only the speaker's microphone floor (drawn +-2 dB per clip; the
        # median of |gaussian| is 3.4 dB under its rms), far under the word's peak.
        spk_floor = floor_db[path.name.split("_nohash_")[0]]
        assert spk_floor - 8 < 20 * np.log10(floor) < spk_floor
        assert 20 * np.log10(floor) < 20 * np.log10(np.abs(x).max()) - 30
        assert 1600 < lengths[-1] < 15500  # a word, not a click or a full second of noise
    peaks = np.array(peaks)
    assert peaks.max() < -1 and peaks.min() > -40
    assert peaks.std() > 3  # varied levels
    assert np.std(onsets) > 1000  # random offsets
    # Repetitions of one speaker differ slightly, other speakers differ more.
    spk = sorted((made / "yes").glob("*_nohash_0.wav"))[0].name.split("_nohash_")[0]
    a = kws.read_wav(made / "yes" / f"{spk}_nohash_0.wav")[0]
    b = kws.read_wav(made / "yes" / f"{spk}_nohash_1.wav")[0]
    assert not np.array_equal(a, b)


def test_noise_files(made):
    noise = made / "_background_noise_"
    names = sorted(p.name for p in noise.iterdir())
    assert names == sorted(f"{k}.wav" for k in ("white", "pink", "brown", "hum_50hz", "hum_60hz",
                                                 "fan", "babble"))
    spectra = {}
    for name in names:
        x = kws.read_wav(noise / name)[0]
        assert len(x) == 3 * 16000
        assert 0.01 < np.sqrt(np.mean(x**2)) < 0.5
        assert longest_zero_run(x) < 8
        f = np.abs(np.fft.rfft(x)) ** 2
        spectra[name] = f
    freqs = np.fft.rfftfreq(3 * 16000, 1 / 16000)

    def band(name, lo, hi):
        s = spectra[name]
        return s[(freqs >= lo) & (freqs < hi)].mean()

    # White is flat, pink falls ~3 dB/octave, brown ~6 dB/octave.
    for name, slope in (("white.wav", 0), ("pink.wav", -3), ("brown.wav", -6)):
        per_octave = 10 * np.log10(band(name, 2000, 4000) / band(name, 250, 500)) / 3
        assert abs(per_octave - slope) < 1.0, (name, per_octave)
    for name, f0 in (("hum_50hz.wav", 50), ("hum_60hz.wav", 60)):
        peak = freqs[np.argmax(spectra[name])]
        assert abs(peak - f0 * round(peak / f0)) < 1.0 and peak < 1000, (name, peak)
        assert band(name, f0 - 2, f0 + 3) > 100 * band(name, f0 + 10, 2 * f0 - 10)
    # Babble is speech: most energy between 100 Hz and 4 kHz.
    s = spectra["babble.wav"]
    assert s[(freqs > 100) & (freqs < 4000)].sum() / s.sum() > 0.8


def test_same_seed_same_bytes_any_jobs(made, tmp_path):
    again = tmp_path / "again"
    make_dataset(again, words=WORDS, clips_per_word=24, speakers=8, seed=7, noise_seconds=3,
                 jobs=1, progress=False)
    files = sorted(p.relative_to(made) for p in made.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (made / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tmp_path / "other"
    make_dataset(other, words="yes", clips_per_word=4, speakers=4, seed=8, noise_seconds=1,
                 noise_kinds=("white",), jobs=1, progress=False)
    assert {p.name for p in (other / "yes").iterdir()} != {p.name for p in (made / "yes").iterdir()}


def test_cli_noise_dir_and_errors(tmp_path, capsys):
    user_noise = tmp_path / "my_noise"
    user_noise.mkdir()
    t = np.arange(3 * 8000) / 8000
    kws.write_wav(user_noise / "fridge.wav", 0.2 * np.sin(2 * np.pi * 120 * t), 8000)
    out = tmp_path / "cli"
    rc = cli.main(["make-dataset", "--out", str(out), "--words", "stop", "--clips-per-word", "3",
                   "--speakers", "3", "--noise_seconds", "1", "--jobs", "1", "--quiet",
                   "--noise_dir", str(user_noise), "--seed", "3"])
    assert rc == 0
    assert "wrote 3 clips (1 words x 3) by 3 speakers and 8 noise files" in capsys.readouterr().out
    copied = kws.read_wav(out / "_background_noise_" / "fridge.wav")[0]
    assert kws.wav_info(out / "_background_noise_" / "fridge.wav").sample_rate == 16000
    assert abs(len(copied) - 48000) < 10
    assert len(list((out / "stop").glob("*_nohash_0.wav"))) == 3
    # Non-empty output folder, bad words, missing noise folder: errors naming the problem.
    rc = cli.main(["make-dataset", "--out", str(out), "--words", "stop", "--quiet"])
    assert rc == 2 and "exists and is not empty" in capsys.readouterr().err
    with pytest.raises(ValueError, match="noise_dir .*nowhere does not exist"):
        make_dataset(tmp_path / "x", words="go", clips_per_word=1, speakers=1,
                     noise_dir=tmp_path / "nowhere", noise_seconds=1, noise_kinds=(),
                     jobs=1, progress=False)
    with pytest.raises(ValueError, match="'_yes' cannot be a folder name"):
        parse_words("_yes")
    with pytest.raises(ValueError, match="--clips_per_word must be positive"):
        make_dataset(tmp_path / "y", words="go", clips_per_word=0, progress=False)


def test_wide_variety_speakers_intonation_and_cli(tmp_path):
    from kws.train.make_dataset import make_clip, make_speakers

    standard = make_speakers(300, seed=5)
    wide = make_speakers(300, seed=5, variety="wide")
    for field, lo, hi in (("rate", 125, 215), ("pitch", 20, 80), ("pitch_range", 15, 85)):
        s = [getattr(v, field) for v in standard]
        w = [getattr(v, field) for v in wide]
        assert lo <= min(s) and max(s) <= hi
        # Wide reaches well outside the standard ranges on both sides.
        assert min(w) < lo - 5 and max(w) > hi + 5, field
    # Repetitions of one speaker vary more (intonation, twice the jitter): the spread of
    # six repetitions' lengths (measured: 723 samples standard, 1,371 wide).
    def length_spread(variety: str) -> int:
        clips = [make_clip("go", standard[0], r, seed=1, variety=variety) for r in range(6)]
        return int(np.ptp([np.ptp(np.flatnonzero(np.abs(c) > 0.1 * np.abs(c).max()))
                           for c in clips]))

    assert length_spread("wide") > max(1000, 1.4 * length_spread("standard"))
    rc = cli.main(["make-dataset", "--out", str(tmp_path / "w"), "--words", "go",
                   "--clips_per_word", "2", "--speakers", "2", "--noise_seconds", "1",
                   "--jobs", "1", "--quiet", "--variety", "wide", "--seed", "3",
                   "--voices", "en-US,en-GB-x-rp"])
    assert rc == 0
    manifest = json.loads((tmp_path / "w" / "kws_make_dataset.json").read_text())
    assert manifest["variety"] == "wide" and len(list((tmp_path / "w" / "go").iterdir())) == 2
    assert manifest["voices"] == ["gmw/en-US", "gmw/en-GB-x-rp"]
    assert {s["voice"] for s in manifest["speakers"]} <= {"gmw/en-US", "gmw/en-GB-x-rp"}
    with pytest.raises(ValueError, match="--variety 'huge' is not one of standard, wide"):
        make_dataset(tmp_path / "z", words="go", clips_per_word=1, variety="huge",
                     progress=False)


def test_voices_pick_and_weight_accents():
    from kws.train.make_dataset import DEFAULT_VOICES, ENGLISH_VOICES, make_speakers, parse_voices

    assert parse_voices("espeak") == ENGLISH_VOICES
    assert parse_voices(None) == parse_voices(DEFAULT_VOICES)
    assert parse_voices("en-US, gmw/en-GB-x-rp,en-US") == ["gmw/en-US", "gmw/en-GB-x-rp",
                                                             "gmw/en-US"]
    # en-US listed 7 times beside the other 7 accents once: about half the speakers.
    weighted = ["en-US"] * 7 + [v[4:] for v in ENGLISH_VOICES if v != "gmw/en-US"]
    speakers = make_speakers(280, seed=2, voices=weighted)
    share = np.mean([s.voice == "gmw/en-US" for s in speakers])
    assert 0.4 < share < 0.6
    assert {s.voice for s in speakers} == set(ENGLISH_VOICES)
    assert np.mean([s.voice == "gmw/en-US" for s in make_speakers(280, seed=2)]) < 0.2
    assert {s.voice for s in make_speakers(20, seed=2, voices="en-029")} == {"gmw/en-029"}
    with pytest.raises(ValueError, match="--voices: 'en-AU' is not one of"):
        parse_voices("en-US,en-AU")
    with pytest.raises(ValueError, match="--voices is empty"):
        parse_voices(" , ")


def test_parse_words():
    assert parse_words(None) == SPEECH_COMMANDS_WORDS and len(SPEECH_COMMANDS_WORDS) == 30
    assert parse_words("speech_commands,Hey  Computer,yes")[-1] == "hey computer"
    assert len(parse_words("speech_commands,hey computer,yes")) == 31


def test_synthetic_plus_real_through_the_pipeline(made, sample_dir):
    from kws.train.pipeline import make_dataset as make_tf_dataset
    from kws.train.settings import ModelSettings

    idx = DatasetIndex([made, sample_dir], ["yes", "no"], validation_percentage=30,
                       testing_percentage=30)
    paths = [p for p, _ in idx.data["training"] if p]
    assert any(str(made) in p for p in paths)
    feats, labels = next(iter(make_tf_dataset(idx, "training", ModelSettings(label_count=4), 64,
                                              seed=1)))
    feats = feats.numpy()
    assert np.isfinite(feats).all()
    # Dithered synthetic clips never hit the 1e-12 log floor (c0 around -247).
    only_synth = DatasetIndex(made, ["yes", "no"], validation_percentage=30, testing_percentage=30,
                              silence_percentage=0)
    f, _ = next(iter(make_tf_dataset(only_synth, "training", ModelSettings(label_count=4), 32,
                                     augment=False, seed=1)))
    assert f.numpy()[..., 0].min() > -60


def test_flite_voices_join_espeak_speakers():
    from kws.train.make_dataset import ENGLISH_VOICES, FLITE_VOICES, make_speakers, parse_voices

    flite = [f"flite/{v}" for v in FLITE_VOICES]
    assert parse_voices("espeak,flite") == ENGLISH_VOICES + flite
    assert parse_voices("flite/slt,en-US") == ["flite/slt", "gmw/en-US"]
    with pytest.raises(ValueError, match="'flite/bogus' is not an installed flite voice"):
        parse_voices("flite/bogus")
    speakers = make_speakers(300, seed=4, voices="espeak,flite")
    on_flite = [s for s in speakers if s.engine == "flite"]
    # 4 flite voices beside 8 accents, each weighing the same: a third of the speakers.
    assert 0.25 < len(on_flite) / len(speakers) < 0.42
    assert {s.voice for s in on_flite} == set(flite)
    assert all(0.88 <= s.warp <= 1.14 and s.variant == "" for s in on_flite)
    assert all(s.warp == 1.0 for s in speakers if s.engine == "espeak")
    assert len({s.id for s in speakers}) == len(speakers)
    # Adding the engine did not change espeak-only speaker draws (same ids as before).
    assert [s.id for s in make_speakers(5, seed=0)] == [
        s.id for s in make_speakers(5, seed=0, voices=None)]


def _centroid_hz(x):
    spec = np.abs(np.fft.rfft(x.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(x), 1 / 16000)
    return float((spec * freqs).sum() / spec.sum())


def test_flite_clips_are_speech_and_warp_moves_the_spectrum():
    from dataclasses import replace

    from kws.train.make_dataset import make_clip, make_speakers, speak

    speaker = make_speakers(1, seed=0, voices="flite/rms")[0]
    clip = make_clip("stop", speaker, 0, seed=1)
    assert clip.dtype == np.int16 and clip.shape == (16000,)
    assert np.array_equal(clip, make_clip("stop", speaker, 0, seed=1))  # same seed, same bytes
    loud = np.abs(clip.astype(np.float64))
    assert loud.max() > 1000 and (loud > 0.1 * loud.max()).mean() > 0.05  # speech, not a click
    low, high = replace(speaker, warp=0.9), replace(speaker, warp=1.12)
    a = speak("seven", low, np.random.default_rng(0), 16000, jitter=False)
    b = speak("seven", high, np.random.default_rng(0), 16000, jitter=False)
    # A shorter vocal tract: the same words faster and every frequency higher.
    assert abs(len(b) / len(a) - 0.9 / 1.12) < 0.03
    assert _centroid_hz(b) > 1.1 * _centroid_hz(a)


def test_flite_missing_program_is_a_clear_error(monkeypatch, tmp_path, capsys):
    from kws.train.make_dataset import Flite, parse_voices

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(Flite, "_instance", None)
    with pytest.raises(RuntimeError, match="flite voices need the `flite` program on PATH"):
        parse_voices("en-US,flite")
    # The command line (default voices include flite): one line naming the fix, no folder.
    assert cli.main(["make-dataset", "--out", str(tmp_path / "d"), "--words", "go",
                     "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "kws make-dataset: error: flite voices need the `flite` program" in err
    assert "--voices espeak" in err and not (tmp_path / "d").exists()


def test_festival_voices_join_the_other_engines():
    from kws.train.make_dataset import FESTIVAL_VOICES, make_speakers, parse_voices

    festival = [f"festival/{v}" for v in FESTIVAL_VOICES]
    assert parse_voices("festival") == festival  # scripts/test.sh installs both voices
    assert parse_voices("flite/slt,festival/kal") == ["flite/slt", "festival/kal"]
    with pytest.raises(ValueError, match="'festival/bogus' is not an installed festival voice"):
        parse_voices("festival/bogus")
    speakers = make_speakers(200, seed=4, voices="espeak,festival,festival")
    on_festival = [s for s in speakers if s.engine == "festival"]
    # 2 voices listed twice beside 8 accents, each weighing the same: a third.
    assert 0.25 < len(on_festival) / len(speakers) < 0.42
    assert {s.voice for s in on_festival} == set(festival)
    assert all(0.88 <= s.warp <= 1.14 and s.variant == "" for s in on_festival)
    assert len({s.id for s in speakers}) == len(speakers)


def test_festival_clips_are_words_the_bundled_model_hears():
    """Each Festival voice (one at 16 kHz, one at 32 kHz) says the ten command words as
    one-second 16 kHz clips, the same bytes for the same seed, and the bundled model
    (trained on real and other synthetic voices) hears most of them as those words."""
    import kws
    from kws.train.make_dataset import COMMAND_WORDS, make_clip, make_speakers

    model = kws.Model.load("speech_commands")
    for voice in ("festival/kal", "festival/slt_hts"):
        speaker = make_speakers(1, seed=2, voices=voice)[0]
        right = 0
        for word in COMMAND_WORDS:
            clip = make_clip(word, speaker, 0, seed=1)
            assert clip.dtype == np.int16 and clip.shape == (16000,)
            loud = np.abs(clip.astype(np.float64))
            assert loud.max() > 300 and (loud > 0.1 * loud.max()).mean() > 0.03, (voice, word)
            right += model.labels[int(np.argmax(model.predict(clip / 32768.0)))] == word
        assert right >= 8, (voice, right)
        assert np.array_equal(make_clip("go", speaker, 3, seed=1),
                              make_clip("go", speaker, 3, seed=1))


def test_festival_missing_program_is_a_clear_error(monkeypatch, tmp_path, capsys):
    from kws.train.make_dataset import Festival, parse_voices

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(Festival, "_instance", None)
    with pytest.raises(RuntimeError, match="Festival voices need the `festival` program on PATH"):
        parse_voices("en-US,festival")
    assert cli.main(["make-dataset", "--out", str(tmp_path / "d"), "--words", "go",
                     "--voices", "espeak,festival", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "kws make-dataset: error: Festival voices need the `festival` program" in err
    assert not (tmp_path / "d").exists()


def test_festival_process_speaks_as_text2wave_does(tmp_path):
    """One `festival --pipe` process serves many clips: its audio equals `text2wave`'s
    (Festival's own one-shot program) for the same voice, text and stretch, through voice
    changes and text that needs quoting; a process that died is replaced."""
    import subprocess
    import wave

    from kws.train.make_dataset import FESTIVAL_VOICES, Festival

    festival = Festival()
    cases = [("yes", "slt_hts", 150), ('say "go"', "kal", 230), ("marvin", "slt_hts", 175),
             ("back\\slash", "kal", 175)]
    for n, (text, voice, rate) in enumerate(cases):
        words, out = tmp_path / f"{n}.txt", tmp_path / f"{n}.wav"
        words.write_text(text + "\n")
        subprocess.run(["text2wave", "-eval", f"(voice_{FESTIVAL_VOICES[voice]})", "-eval",
                        f"(Parameter.set 'Duration_Stretch {175.0 / rate:.4f})",
                        "-otype", "riff", "-o", str(out), str(words)], check=True)
        with wave.open(str(out), "rb") as w:
            expected = np.frombuffer(w.readframes(w.getnframes()), np.int16)
            rate_hz = w.getframerate()
        samples, sr = festival.synth(text, voice, rate)
        assert sr == rate_hz and len(expected) > 1000, (text, voice)
        assert np.array_equal(samples, expected), (text, voice)
        if n == 1:
            festival._proc.kill()
            folder = Path(festival._tmp)
    festival.close()
    assert not folder.exists()


def test_festival_process_that_hangs_or_dies_is_a_clear_error(tmp_path, monkeypatch):
    """A Festival that stops answering is ended after Festival.TIMEOUT, and one that exits
    is reported with what it printed; each error names the voice and the text."""
    from kws.train.make_dataset import Festival

    def fake(name, pipe_body):
        path = tmp_path / name
        path.write_text("#!/bin/sh\nif [ \"$1\" = -b ]; then echo '(kal_diphone)'; exit 0; fi\n"
                        + pipe_body + "\n")
        path.chmod(0o755)
        return str(path)

    monkeypatch.setattr(Festival, "TIMEOUT", 1.0)
    hangs = Festival(fake("hangs", "exec sleep 30"))
    with pytest.raises(RuntimeError, match="Festival voice kal saying 'go': Festival gave no "
                       "answer in 1 s"):
        hangs.synth("go", "kal", 175)
    assert hangs._proc is None
    dies = Festival(fake("dies", "echo 'SIOD ERROR: out of memory' >&2; exit 3"))
    with pytest.raises(RuntimeError, match="saying 'yes': Festival exited: SIOD ERROR: out of "
                       "memory"):
        dies.synth("yes", "kal", 175)
    silent = Festival(fake("silent", "while read line; do case \"$line\" in *done*) "
                           "echo kws-festival-done;; esac; done"))
    with pytest.raises(RuntimeError, match="saying 'no': synthesis failed"):
        silent.synth("no", "kal", 175)
    silent.close()


def test_make_dataset_with_festival_leaves_no_festival_files(tmp_path):
    """Each worker's Festival process ends with its unit of work and takes its temporary
    folder with it: a dataset made on Festival's voices leaves none behind."""
    import tempfile

    def leftovers():
        return set(Path(tempfile.gettempdir()).glob("kws_festival_*"))

    before = leftovers()
    make_dataset(tmp_path / "fe", words="go,stop", clips_per_word=3, speakers=3, seed=5,
                 noise_seconds=1, noise_kinds=["white"], jobs=2, progress=False,
                 voices="festival")
    assert len(list((tmp_path / "fe" / "go").glob("*.wav"))) == 3
    assert leftovers() <= before
