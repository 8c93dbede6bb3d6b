"""kws.train.augment: shapes, seed determinism, that each op changes audio the way it claims, and
that augmented training runs through the pipeline and `kws train`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf

import kws
from kws.train import augment as A
from kws.train.data import DatasetIndex

RATE = 16000


@pytest.fixture(scope="module")
def speech(speech_dir) -> np.ndarray:
    """Four real one-second clips [4, 16000] float32."""
    clips = [kws.read_wav(sorted((speech_dir / w).glob("*.wav"))[0])[0]
             for w in ("yes", "stop", "left", "go")]
    return np.stack([np.asarray(c, np.float32).reshape(-1)[:RATE] for c in clips])


def _band_energy(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    spec = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    f = np.fft.rfftfreq(x.shape[-1], 1 / RATE)
    return spec[:, (f >= lo) & (f < hi)].sum(axis=-1)


@pytest.mark.parametrize("op", [A.reverb, A.random_eq, A.compress, A.speed, A.vtlp])
def test_samples_ops_shape_determinism_finite(op, speech):
    x = tf.constant(speech)
    a = op(x, [1, 2]).numpy()
    b = op(x, [1, 2]).numpy()
    c = op(x, [3, 4]).numpy()
    assert a.shape == speech.shape and a.dtype == np.float32
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a, speech)


def test_probability_zero_is_identity(speech):
    x = tf.constant(speech)
    for op in (A.reverb, A.random_eq, A.compress, A.speed, A.vtlp):
        np.testing.assert_array_equal(op(x, [5, 6], probability=0.0).numpy(), speech)


def test_rir_decays_at_rt60_and_has_direct_path():
    rt60 = tf.constant([0.2, 0.6])
    rir = A.simulated_rir([7, 8], 2, rt60, length=8000).numpy()
    assert rir.shape == (2, 8000)
    assert rir[:, 0] == pytest.approx([1.0, 1.0], abs=1e-6)
    # Tail energy in 10 ms windows: falls about 60 dB per RT60.
    for row, t60 in zip(rir, (0.2, 0.6)):
        e = (row[160:160 + 30 * 160].reshape(30, 160) ** 2).sum(axis=1)
        slope_db_per_s = np.polyfit(np.arange(len(e)) * 0.01, 10 * np.log10(e + 1e-30), 1)[0]
        assert slope_db_per_s == pytest.approx(-60 / t60, rel=0.25)


def test_reverb_spreads_energy_in_time():
    impulse = np.zeros((2, RATE), np.float32)
    impulse[:, 1000] = 0.5
    out = A.reverb(tf.constant(impulse), [1, 1], rt60_range=(0.5, 0.6),
                   direct_to_reverb_db=(0.0, 0.1)).numpy()
    assert np.abs(out).max() == pytest.approx(0.5, rel=1e-4)  # peak level kept
    assert np.abs(out[:, :1000]).max() < 1e-4  # causal
    late = (out[:, 1160:5000] ** 2).sum(axis=1)
    assert (late > 0.01 * (out ** 2).sum(axis=1)).all()  # a real tail 10-250 ms later


def test_eq_band_limits_cut_low_and_high_bands():
    noise = np.random.default_rng(0).standard_normal((8, RATE)).astype(np.float32) * 0.1
    out = A.random_eq(tf.constant(noise), [2, 3], gain_db=0.0, highpass_hz=(300.0, 301.0),
                      lowpass_hz=(3000.0, 3001.0)).numpy()
    mid_in, mid_out = _band_energy(noise, 800, 2000), _band_energy(out, 800, 2000)
    for lo, hi in ((0, 80), (6000, 8000)):
        ratio = (_band_energy(out, lo, hi) / mid_out) / (_band_energy(noise, lo, hi) / mid_in)
        assert (ratio < 0.05).all(), (lo, hi, ratio)


def test_speed_changes_pitch_by_the_factor():
    t = np.arange(RATE) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None, :]
    out = A.speed(tf.constant(tone), [1, 1], speed_range=(1.1, 1.1000001)).numpy()[0]
    mid = out[4000:12000]
    f = np.fft.rfftfreq(len(mid), 1 / RATE)[np.argmax(np.abs(np.fft.rfft(mid)))]
    assert f == pytest.approx(1100, abs=5)


def test_vtlp_moves_frequencies_by_the_factor_keeps_timing():
    t = np.arange(RATE) / RATE
    burst = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    burst[:4000] = 0.0
    burst[12000:] = 0.0  # a 1 kHz tone from 0.25 s to 0.75 s
    x = tf.constant(np.stack([burst, burst]))
    for alpha in (0.9, 1.1):
        out = A.vtlp(x, [1, 1], warp_range=(alpha, alpha + 1e-6)).numpy()
        mid = out[0, 5000:11000]
        f = np.fft.rfftfreq(len(mid), 1 / RATE)[np.argmax(np.abs(np.fft.rfft(mid)))]
        assert f == pytest.approx(1000 * alpha, abs=15)
        assert np.abs(out).max() == pytest.approx(0.5, rel=1e-4)  # peak level kept
        # The timing is unchanged (unlike speed): the tone still starts and ends there.
        env = np.convolve(np.abs(out[0]), np.ones(160) / 160, mode="same")
        on = np.flatnonzero(env > 0.5 * env.max())
        assert abs(on[0] - 4000) < 300 and abs(on[-1] - 12000) < 300


def test_vtlp_warp_is_piecewise_linear_and_keeps_nyquist():
    out_hz = tf.linspace(0.0, 8000.0, 801)[None, :]
    for alpha in (0.88, 1.12):
        src = A.vtlp_source_hz(out_hz, tf.constant([[alpha]])).numpy()[0]
        assert src[0] == pytest.approx(0.0) and src[-1] == pytest.approx(8000.0, abs=1e-2)
        assert src[100] == pytest.approx(1000.0 / alpha, rel=1e-5)  # below the knee
        assert (np.diff(src) > 0).all()  # monotonic: no folded spectrum
        assert np.diff(src).max() < 10.0 * 1.2  # no jump at the knee (10 Hz steps)
        back = A.vtlp_warped_hz(tf.constant(src[None, :]), tf.constant([[alpha]])).numpy()
        np.testing.assert_allclose(back[0], out_hz.numpy()[0], atol=0.05)  # inverse warps


def test_vtlp_preset_keeps_other_draws(speech):
    # room_vtlp_spec adds vtlp with its own key: with vtlp off the room ops draw as before.
    x = tf.constant(speech)
    room = A.PRESETS["room_spec"]
    off = A.AugmentConfig(**{**room.__dict__, "vtlp_probability": 0.0})
    np.testing.assert_array_equal(A.augment_samples(x, [3, 4], room).numpy(),
                                  A.augment_samples(x, [3, 4], off).numpy())
    with_vtlp = A.augment_samples(x, [3, 4], A.PRESETS["room_vtlp_spec"]).numpy()
    assert np.isfinite(with_vtlp).all() and not np.allclose(
        with_vtlp, A.augment_samples(x, [3, 4], room).numpy())


def test_ism_voice_presets_change_only_their_voice_op(speech):
    # ism_vtlp and ism_voice are ism with more voices per speaker: with their one op set
    # back to ism's they are ism; with it they make different audio from the same draws.
    x = tf.constant(speech)
    ism = A.PRESETS["ism"]
    vtlp = A.PRESETS["ism_vtlp"]
    voice = A.PRESETS["ism_voice"]
    assert replace(vtlp, vtlp_probability=0.0, vtlp_range=ism.vtlp_range) == ism
    assert replace(voice, speed_probability=ism.speed_probability,
                   speed_range=ism.speed_range) == ism
    assert voice.speed_range[0] < ism.speed_range[0] and voice.speed_range[1] > ism.speed_range[1]
    # The same ops over a smaller bank of rooms, to keep this quick.
    base = A.augment_samples(x, [5, 6], replace(ism, room_bank=4)).numpy()
    for preset in (vtlp, voice):
        out = A.augment_samples(x, [5, 6], replace(preset, room_bank=4)).numpy()
        assert out.shape == base.shape and np.isfinite(out).all()
        assert not np.allclose(out, base)


def test_compress_raises_quiet_parts_keeps_peak(speech):
    out = A.compress(tf.constant(speech), [1, 1], drive=(5.0, 5.01)).numpy()
    np.testing.assert_allclose(np.abs(out).max(axis=1), np.abs(speech).max(axis=1), rtol=1e-4)
    rms = lambda v: np.sqrt((v ** 2).mean(axis=1))  # noqa: E731
    assert (rms(out) > 1.3 * rms(speech)).all()


def test_random_gain_in_range(speech):
    quiet = speech * 0.01
    out = A.random_gain(tf.constant(quiet), [4, 4], gain_db=(-12.0, 6.0)).numpy()
    ratio_db = 20 * np.log10(np.abs(out).max(axis=1) / np.abs(quiet).max(axis=1))
    assert ((ratio_db >= -12.01) & (ratio_db <= 6.01)).all()
    assert np.ptp(ratio_db) > 0.5


def test_spec_augment_masks_expected_bins():
    feats = tf.random.stateless_normal([16, 98, 40], [0, 1]) + 3.0
    out = A.spec_augment(feats, [9, 9], time_masks=0, freq_masks=1, freq_mask_bins=5).numpy()
    f = feats.numpy()
    for x, y in zip(f, out):
        changed_cols = np.flatnonzero((x != y).any(axis=0))
        assert len(changed_cols) <= 5
        if len(changed_cols):
            assert np.ptp(changed_cols) == len(changed_cols) - 1  # one contiguous band
            np.testing.assert_allclose(y[:, changed_cols], x.mean(), rtol=1e-5)
        assert (x[:, np.setdiff1d(np.arange(40), changed_cols)] ==
                y[:, np.setdiff1d(np.arange(40), changed_cols)]).all()
    out_t = A.spec_augment(feats, [9, 9], time_masks=2, time_mask_frames=10, freq_masks=0).numpy()
    rows = (out_t != f).any(axis=2).sum(axis=1)
    assert rows.max() <= 20 and rows.sum() > 0
    widths = [len(np.flatnonzero((x != y).any(axis=0))) for x, y in zip(f, out)]
    assert sum(widths) > 0


def test_make_hooks_presets_and_determinism(speech):
    s_hook, f_hook = A.make_hooks("room_spec", seed=3)
    assert s_hook is not None and f_hook is not None
    x = tf.constant(speech)
    np.testing.assert_array_equal(s_hook(x).numpy(), s_hook(x).numpy())
    assert np.isfinite(s_hook(x).numpy()).all()
    assert not np.allclose(A.make_hooks("room", seed=4)[0](x).numpy(), s_hook(x).numpy())
    assert A.make_hooks("none") == (None, None)
    assert A.make_hooks("spec")[0] is None
    with pytest.raises(ValueError, match="not one of"):
        A.make_hooks("cathedral")


def test_pipeline_with_hooks_gives_finite_features(sample_dir):
    from kws.train.pipeline import make_dataset
    from kws.train.settings import ModelSettings

    index = DatasetIndex(str(sample_dir), ["yes", "no"], validation_percentage=12,
                         testing_percentage=4)
    settings = ModelSettings(label_count=4, sample_rate=16000, clip_duration_ms=1000,
                             window_size_ms=30, window_stride_ms=10, feature_bin_count=40)
    s_hook, f_hook = A.make_hooks("room_spec", seed=1)
    batches = []
    for seed in (5, 5):
        ds = make_dataset(index, "training", settings, 8, seed=seed,
                          samples_hook=s_hook, features_hook=f_hook)
        batches.append(next(iter(ds))[0].numpy())
    plain = next(iter(make_dataset(index, "training", settings, 8, seed=5)))[0].numpy()
    assert batches[0].shape == (8, 98, 40)
    assert np.isfinite(batches[0]).all()
    np.testing.assert_array_equal(batches[0], batches[1])
    assert not np.allclose(batches[0], plain)


def test_fused_eq_and_reverb_equal_the_two_ops_in_turn(speech):
    # augment_samples runs eq then reverb as one FFT pair; on real speech it must match the
    # two ops applied one after the other with the same seeds, for every mix of picks.
    x = tf.constant(np.tile(speech, (4, 1)))  # 16 clips: all four pick combinations occur
    for seeds in ([1, 2], [7, 9], [11, 3]):
        eq_seed, reverb_seed = A._split(seeds, 2)
        fused = A.eq_then_reverb(x, eq_seed, reverb_seed, eq_probability=0.5,
                                 reverb_probability=0.5).numpy()
        apart = A.reverb(A.random_eq(x, eq_seed, probability=0.5), reverb_seed,
                         probability=0.5).numpy()
        assert np.isfinite(fused).all()
        peak = np.abs(apart).max(axis=1)
        assert np.abs(fused - apart).max(axis=1).max() < 2e-3 * peak.max()
        np.testing.assert_allclose(np.abs(fused).max(axis=1), peak, rtol=1e-5)
        # Energy per band matches to a few percent (the EQ's response is sampled on a
        # different FFT grid).
        for lo, hi in ((0, 500), (500, 2000), (2000, 8000)):
            np.testing.assert_allclose(_band_energy(fused, lo, hi), _band_energy(apart, lo, hi),
                                       rtol=0.03, atol=1e-6)


def test_smooth_fft_size():
    assert A._smooth_fft_size(22400) == 22500
    assert A._smooth_fft_size(32768) == 32768
    assert A._smooth_fft_size(17) == 18
    for n in range(1, 300):
        m = A._smooth_fft_size(n)
        assert m >= n and m < 2 * n + 1
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        assert m == 1


def _rt60_from_decay(h: np.ndarray) -> float:
    """RT60 of an impulse response from its Schroeder decay between -5 and -25 dB (T20)."""
    edc = np.cumsum((h.astype(np.float64) ** 2)[::-1])[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-30)
    i5, i25 = np.argmax(edc_db < -5), np.argmax(edc_db < -25)
    t = np.arange(i5, i25) / RATE
    return -60 / np.polyfit(t, edc_db[i5:i25], 1)[0]


@pytest.mark.parametrize("rt60_range", [(0.2, 0.25), (0.5, 0.55)])
def test_image_source_rooms_ring_for_their_rt60(rt60_range):
    bank = A.image_source_rirs(12, seed=3, rt60_range=rt60_range, length=8000)
    assert bank.shape == (12, 8000) and bank.dtype == np.float32
    assert np.isfinite(bank).all()
    # Each starts at its direct path: the delay filter's peak, scaled to 1.
    lead = 40
    np.testing.assert_allclose(np.abs(bank[:, :2 * lead + 1]).max(axis=1), 1.0, rtol=1e-6)
    assert (np.argmax(np.abs(bank), axis=1) == lead).mean() > 0.8
    # Reflections arrive after it: energy 5-100 ms later.
    assert ((bank[:, 2 * lead + 80:1600] ** 2).sum(axis=1) > 1e-3).all()
    # The measured decay follows the Sabine RT60 the walls were given (the image-source
    # room is not perfectly diffuse, so rooms spread around it).
    measured = np.array([_rt60_from_decay(h) for h in bank])
    assert np.median(measured) == pytest.approx(np.mean(rt60_range), rel=0.2)
    assert ((measured > 0.5 * rt60_range[0]) & (measured < 2 * rt60_range[1])).all()


def test_image_source_rooms_are_deterministic_and_vary():
    a = A.image_source_rirs(6, seed=1, rt60_range=(0.15, 0.3))
    assert a.shape == (6, int(0.3 * RATE / 2))
    np.testing.assert_array_equal(a, A.image_source_rirs(6, seed=1, rt60_range=(0.15, 0.3)))
    b = A.image_source_rirs(6, seed=2, rt60_range=(0.15, 0.3))
    assert not np.allclose(a, b)
    # Different rooms and distances: the direct-to-reverberant ratios spread.
    drr = 10 * np.log10((a[:, :81] ** 2).sum(1) / (a[:, 81:] ** 2).sum(1))
    assert drr.max() - drr.min() > 3


def test_reverb_from_room_bank_convolves_with_a_bank_response(speech):
    bank = A.image_source_rirs(4, rt60_range=(0.15, 0.4))
    impulse = np.zeros((6, RATE), np.float32)
    impulse[:, 1000] = 0.5
    out = A.reverb(tf.constant(impulse), [1, 2], rt60_range=(0.15, 0.4), room_bank=4).numpy()
    assert np.abs(out[:, :1000]).max() < 1e-4  # causal
    assert np.abs(out).max(axis=1) == pytest.approx([0.5] * 6, rel=1e-4)  # peak kept
    # Each clip's response is one of the bank's, up to the peak match.
    seg = out[:, 1000:1000 + bank.shape[1]]
    cos = (seg @ bank.T) / np.outer(np.linalg.norm(seg, axis=1), np.linalg.norm(bank, axis=1))
    assert (cos.max(axis=1) > 0.9999).all()
    # Real speech through the bank: deterministic per seed, unlike the noise-tail model.
    x = tf.constant(speech)
    a = A.reverb(x, [3, 4], room_bank=4).numpy()
    np.testing.assert_array_equal(a, A.reverb(x, [3, 4], room_bank=4).numpy())
    assert np.isfinite(a).all() and not np.allclose(a, A.reverb(x, [3, 4]).numpy())


def test_ism_preset_hooks_use_the_room_bank(speech):
    assert A.PRESETS["ism_spec"].room_bank > 0
    config = A.AugmentConfig(reverb_probability=1.0, eq_probability=0.5, room_bank=4)
    hook, _ = A.make_hooks(config, seed=2)
    x = tf.constant(speech)
    out = hook(x).numpy()
    assert np.isfinite(out).all() and not np.allclose(out, speech)
    np.testing.assert_array_equal(out, hook(x).numpy())
    noise_tail = A.make_hooks(A.AugmentConfig(reverb_probability=1.0, eq_probability=0.5),
                              seed=2)[0]
    assert not np.allclose(out, noise_tail(x).numpy())
