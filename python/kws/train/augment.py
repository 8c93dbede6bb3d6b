"""Realistic-audio augmentation as TensorFlow ops for the `kws.train.pipeline` hooks.

Synthetic (espeak-ng) speech is clean, dry and flat; real recordings have rooms,
microphones, channels, levels and speaking rates. These ops push training audio toward
that variety. Each op is a pure function of its inputs and a stateless seed (shape [2]
int): the same seed gives the same output.

Samples ops take a batch `[batch, samples]` float32:
  - `reverb`: convolve with a simulated room impulse response (a direct path plus an
    exponentially decaying noise tail, RT60 drawn per clip), mixed at a random
    direct-to-reverberant ratio; the peak level is kept. With `room_bank` N > 0 the
    response is instead one of N image-source rooms (`image_source_rirs`, computed once
    with pyroomacoustics): shoebox rooms of random size and RT60 with the talker at a
    random distance, so early reflections and the direct-to-reverberant ratio follow
    from the geometry.
  - `random_eq`: microphone/channel colouration: smooth random gains on a log-frequency
    axis, a random high-pass (band low edge) and low-pass (band high edge).
  - `compress`: light soft-knee compression (tanh) at a random drive.
  - `speed`: speed perturbation (tempo and pitch together, like tape speed) by linear
    interpolation, about the clip centre; the length is kept.
  - `random_gain`: level variety in dB.
  - `vtlp`: vocal-tract-length perturbation: the short-time spectrum's frequency axis
    is warped by a factor per clip (formants and harmonics move, duration does not).
Features op takes `[batch, frames, width]`:
  - `spec_augment`: time and frequency masks filled with each example's mean.

`make_hooks(preset, seed)` returns `(samples_hook, features_hook)` for
`kws.train.pipeline.make_dataset`; the preset names are the keys of `PRESETS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyroomacoustics as pra
import tensorflow as tf

SAMPLE_RATE = 16000
EQ_GRID_BINS = 513  # frequency points the random EQ response is drawn on (then interpolated)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation (probability 0 turns one off)."""

    reverb_probability: float = 0.0
    rt60_range: tuple[float, float] = (0.15, 0.8)  # seconds
    direct_to_reverb_db: tuple[float, float] = (-3.0, 12.0)
    room_bank: int = 0  # > 0: draw responses from this many image-source rooms instead
    eq_probability: float = 0.0
    eq_gain_db: float = 6.0  # std of each random log-frequency bump
    highpass_hz: tuple[float, float] = (40.0, 400.0)
    lowpass_hz: tuple[float, float] = (3000.0, 8000.0)
    compress_probability: float = 0.0
    compress_drive: tuple[float, float] = (1.0, 6.0)
    speed_probability: float = 0.0
    speed_range: tuple[float, float] = (0.88, 1.12)
    gain_db: tuple[float, float] = (0.0, 0.0)
    vtlp_probability: float = 0.0
    vtlp_range: tuple[float, float] = (0.9, 1.1)  # frequency warp factors
    time_masks: int = 0
    time_mask_frames: int = 0  # maximum width of each time mask
    freq_masks: int = 0
    freq_mask_bins: int = 0  # maximum width of each frequency mask

    @property
    def augments_samples(self) -> bool:
        return (self.reverb_probability > 0 or self.eq_probability > 0
                or self.compress_probability > 0 or self.speed_probability > 0
                or self.gain_db != (0.0, 0.0) or self.vtlp_probability > 0)

    @property
    def augments_features(self) -> bool:
        return (self.time_masks > 0 and self.time_mask_frames > 0) or (
            self.freq_masks > 0 and self.freq_mask_bins > 0)


_ROOM = dict(reverb_probability=0.6, eq_probability=0.8, compress_probability=0.3,
             speed_probability=0.6, gain_db=(-12.0, 6.0))
_SPEC = dict(time_masks=2, time_mask_frames=10, freq_masks=2, freq_mask_bins=5)

# Wider voice variety (speed/pitch 0.8-1.25 on most clips) and wider SpecAugment masks.
_VOICE = dict(_ROOM, speed_probability=0.8, speed_range=(0.8, 1.25))
_SPEC_WIDE = dict(time_masks=2, time_mask_frames=15, freq_masks=2, freq_mask_bins=8)

# Named presets for `kws train --augment NAME`.
PRESETS: dict[str, AugmentConfig] = {
    "none": AugmentConfig(),
    "room": AugmentConfig(**_ROOM),
    "spec": AugmentConfig(**_SPEC),
    "room_spec": AugmentConfig(**_ROOM, **_SPEC),
    "voice_spec": AugmentConfig(**_VOICE, **_SPEC_WIDE),
    # room_spec plus vocal-tract-length perturbation (warp 0.88-1.12 on 60% of clips).
    "room_vtlp_spec": AugmentConfig(**_ROOM, **_SPEC, vtlp_probability=0.6,
                                    vtlp_range=(0.88, 1.12)),
    # room_spec with the reverberation of 256 image-source rooms (pyroomacoustics).
    "ism_spec": AugmentConfig(**_ROOM, **_SPEC, room_bank=256),
    # The same rooms without SpecAugment (for inputs that are not log features, such as
    # speech_embedding's power spectrogram).
    "ism": AugmentConfig(**_ROOM, room_bank=256),
    # ism with more voices made from each speaker: vocal-tract-length warp 0.88-1.12 on
    # 60% of clips (ism_vtlp), or speed 0.8-1.25 on 80% of clips (ism_voice).
    "ism_vtlp": AugmentConfig(**_ROOM, room_bank=256, vtlp_probability=0.6,
                              vtlp_range=(0.88, 1.12)),
    "ism_voice": AugmentConfig(**_VOICE, room_bank=256),
}

# Image-source rooms: size ranges (metres), the talker's distance from the microphone,
# and the gap kept between either of them and a wall.
ROOM_SIZE_M = ((3.0, 10.0), (3.0, 8.0), (2.4, 4.0))
TALKER_DISTANCE_M = (0.3, 3.0)
WALL_GAP_M = 0.3
SPEED_OF_SOUND = 343.0


def _split(seed, n: int):
    keys = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=n)
    return tf.unstack(keys, num=n)


def _apply_where(chosen, new, old):
    """Per-example select: `chosen` [batch] bool."""
    return tf.where(chosen[:, None], new, old)


def _peak(x):
    return tf.reduce_max(tf.abs(x), axis=-1, keepdims=True)


def _fft_size(n: int) -> int:
    return 1 << int(math.ceil(math.log2(max(2, n))))


def simulated_rir(seed, batch: int, rt60, *, length: int, sample_rate: int = SAMPLE_RATE,
                  direct_to_reverb_db=None):
    """Room impulse responses [batch, length]: a unit direct path at 0, then a decaying
    Gaussian noise tail (amplitude falls 60 dB in `rt60` seconds, [batch]) starting
    1-5 ms later, scaled to the direct-to-reverberant ratio in dB ([batch], default 0)."""
    k_noise, k_delay = _split(seed, 2)
    t = tf.range(length, dtype=tf.float32) / float(sample_rate)
    decay = tf.exp(-math.log(1000.0) * t[None, :] / tf.reshape(rt60, [-1, 1]))
    noise = tf.random.stateless_normal([batch, length], k_noise)
    delay = tf.random.stateless_uniform([batch, 1], k_delay, minval=0.001, maxval=0.005)
    tail = noise * decay * tf.cast(t[None, :] >= delay, tf.float32)
    energy = tf.reduce_sum(tail * tail, axis=1, keepdims=True)
    drr = tf.zeros([batch]) if direct_to_reverb_db is None else direct_to_reverb_db
    target = tf.pow(10.0, -tf.reshape(drr, [-1, 1]) / 10.0)  # tail energy / direct energy
    tail = tail * tf.sqrt(target / tf.maximum(energy, 1e-12))
    direct = tf.one_hot(tf.zeros([batch], tf.int32), length)
    return direct + tail


def _rir_length(rt60_range, sample_rate: int) -> int:
    return int(rt60_range[1] * sample_rate / 2)  # the longest tail is down 30 dB at the end


_ROOM_BANKS: dict = {}


def image_source_rirs(count: int, *, seed: int = 0, rt60_range=(0.15, 0.8), length=None,
                      sample_rate: int = SAMPLE_RATE):
    """`count` room impulse responses [count, length] float32 by the image-source method
    (pyroomacoustics): shoebox rooms of random size (ROOM_SIZE_M) whose wall absorption
    gives an RT60 drawn from `rt60_range` (Sabine), a microphone anywhere in the room and
    the talker TALKER_DISTANCE_M from it. Each response starts at its direct path and is
    scaled so the direct path's peak is 1. Deterministic in `seed`; cached."""
    length = length or _rir_length(rt60_range, sample_rate)
    key = (count, seed, tuple(rt60_range), length, sample_rate)
    if key in _ROOM_BANKS:
        return _ROOM_BANKS[key]
    rng = np.random.default_rng(seed)
    out = np.zeros([count, length], np.float32)
    # The fractional-delay filter centres each arrival this many samples late.
    lead = pra.constants.get("frac_delay_length") // 2
    gap = np.full(3, WALL_GAP_M)
    # Images farther than the response's length cannot arrive inside it.
    reach = SPEED_OF_SOUND * length / sample_rate
    i = 0
    while i < count:
        dims = np.array([rng.uniform(*r) for r in ROOM_SIZE_M])
        rt60 = rng.uniform(*rt60_range)
        try:
            absorption, order = pra.inverse_sabine(rt60, dims)
        except ValueError:  # this room cannot ring that long or that briefly
            continue
        mic = rng.uniform(gap, dims - gap)
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        talker = mic + direction * rng.uniform(*TALKER_DISTANCE_M)
        if np.any(talker < gap) or np.any(talker > dims - gap):
            continue
        order = min(order, int(math.ceil(reach / dims.min())) + 1)
        room = pra.ShoeBox(dims, fs=sample_rate, materials=pra.Material(absorption),
                           max_order=order)
        room.add_source(talker)
        room.add_microphone(mic)
        room.compute_rir()
        h = np.asarray(room.rir[0][0], np.float64)
        direct = int(round(np.linalg.norm(talker - mic) / SPEED_OF_SOUND * sample_rate))
        # The direct path's delay filter starts at `direct` (its peak is `lead` on).
        h = h[direct:direct + length]
        peak = np.max(np.abs(h[:2 * lead + 1]))
        out[i, :len(h)] = h / peak
        i += 1
    _ROOM_BANKS[key] = out
    return out


def convolve(samples, responses):
    """Linear convolution of each clip [batch, n] with its response [batch, m], cropped to
    n samples (FFT based)."""
    n = samples.shape[-1] or tf.shape(samples)[-1]
    m = responses.shape[-1]
    size = _fft_size(int(n) + int(m))
    spec = tf.signal.rfft(samples, [size]) * tf.signal.rfft(responses, [size])
    return tf.signal.irfft(spec, [size])[:, :n]


def _smooth_fft_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (fast FFT lengths; a power of two can be 1.5x
    longer)."""
    best = _fft_size(n)
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _reverb_draw(seed, batch, *, rt60_range, direct_to_reverb_db, sample_rate: int,
                 room_bank: int = 0):
    """`(pick [batch] uniform, impulse responses [batch, length])` of `reverb`."""
    k_pick, k_rt, k_drr, k_rir = _split(seed, 4)
    length = _rir_length(rt60_range, sample_rate)
    if room_bank > 0:
        # Plain Python: AutoGraph (tracing a tf.data map) would convert pyroomacoustics'
        # code call by call, several times slower than the 256 rooms' 12 s.
        rooms = tf.autograph.experimental.do_not_convert(image_source_rirs)
        bank = tf.constant(rooms(room_bank, rt60_range=rt60_range, length=length,
                                 sample_rate=sample_rate))
        which = tf.random.stateless_uniform([batch], k_rir, 0, room_bank, tf.int32)
        return _pick(k_pick, batch), tf.gather(bank, which)
    rt60 = tf.random.stateless_uniform([batch], k_rt, *rt60_range)
    drr = tf.random.stateless_uniform([batch], k_drr, *direct_to_reverb_db)
    rir = simulated_rir(k_rir, batch, rt60, length=length, sample_rate=sample_rate,
                        direct_to_reverb_db=drr)
    return _pick(k_pick, batch), rir


def _pick(key, batch):
    return tf.random.stateless_uniform([batch], key)


def reverb(samples, seed, *, probability: float = 1.0, rt60_range=(0.15, 0.8),
           direct_to_reverb_db=(-3.0, 12.0), sample_rate: int = SAMPLE_RATE,
           room_bank: int = 0):
    """Room reverberation on a fraction `probability` of the clips; peak level kept.
    `room_bank` > 0 draws the responses from that many image-source rooms."""
    batch = tf.shape(samples)[0]
    pick, rir = _reverb_draw(seed, batch, rt60_range=rt60_range,
                             direct_to_reverb_db=direct_to_reverb_db, sample_rate=sample_rate,
                             room_bank=room_bank)
    wet = convolve(samples, rir)
    wet = wet * _peak(samples) / tf.maximum(_peak(wet), 1e-9)
    return _apply_where(pick < probability, wet, samples)


def eq_response(seed, batch: int, bins: int, *, gain_db: float = 6.0,
                highpass_hz=(40.0, 400.0), lowpass_hz=(3000.0, 8000.0),
                sample_rate: int = SAMPLE_RATE, bumps: int = 4):
    """Random magnitude responses [batch, bins] over 0..Nyquist: `bumps` Gaussian bumps on
    a log-frequency axis (gain std `gain_db`), a 2nd-order-like high-pass and low-pass."""
    k_c, k_g, k_w, k_hp, k_lp = _split(seed, 5)
    f = tf.linspace(0.0, sample_rate / 2.0, bins)
    logf = tf.math.log(tf.maximum(f, 20.0))[None, None, :]
    centres = tf.random.stateless_uniform([batch, bumps, 1], k_c, math.log(100.0),
                                          math.log(sample_rate / 2.0))
    gains = tf.random.stateless_normal([batch, bumps, 1], k_g) * gain_db
    widths = tf.random.stateless_uniform([batch, bumps, 1], k_w, 0.3, 1.0)
    shape_db = tf.reduce_sum(gains * tf.exp(-0.5 * tf.square((logf - centres) / widths)), 1)
    hp = tf.exp(tf.random.stateless_uniform([batch, 1], k_hp, math.log(highpass_hz[0]),
                                            math.log(highpass_hz[1])))
    lp = tf.exp(tf.random.stateless_uniform([batch, 1], k_lp, math.log(lowpass_hz[0]),
                                            math.log(lowpass_hz[1])))
    fr = f[None, :]
    highpass = 1.0 / tf.sqrt(1.0 + tf.pow(hp / tf.maximum(fr, 1e-3), 4.0))
    lowpass = 1.0 / tf.sqrt(1.0 + tf.pow(fr / lp, 8.0))
    return tf.pow(10.0, shape_db / 20.0) * highpass * lowpass


def _eq_draw(seed, batch, bins: int, *, gain_db, highpass_hz, lowpass_hz, sample_rate: int):
    """`(pick [batch] uniform, magnitude response [batch, bins] over 0..Nyquist)` of
    `random_eq`."""
    k_pick, k_eq = _split(seed, 2)
    # The response is smooth: drawn on a coarse grid (cheap) and linearly interpolated
    # to the FFT's bins.
    coarse = eq_response(k_eq, batch, EQ_GRID_BINS, gain_db=gain_db,
                         highpass_hz=highpass_hz, lowpass_hz=lowpass_hz,
                         sample_rate=sample_rate)
    response = tf.image.resize(coarse[:, None, :, None], [1, bins],
                               method="bilinear")[:, 0, :, 0]
    return _pick(k_pick, batch), response


def random_eq(samples, seed, *, probability: float = 1.0, gain_db: float = 6.0,
              highpass_hz=(40.0, 400.0), lowpass_hz=(3000.0, 8000.0),
              sample_rate: int = SAMPLE_RATE):
    """Microphone/channel colouration on a fraction `probability` of the clips; peak kept."""
    batch = tf.shape(samples)[0]
    n = int(samples.shape[-1])
    size = _fft_size(2 * n)
    pick, response = _eq_draw(seed, batch, size // 2 + 1, gain_db=gain_db,
                              highpass_hz=highpass_hz, lowpass_hz=lowpass_hz,
                              sample_rate=sample_rate)
    spec = tf.signal.rfft(samples, [size]) * tf.cast(response, tf.complex64)
    out = tf.signal.irfft(spec, [size])[:, :n]
    out = out * _peak(samples) / tf.maximum(_peak(out), 1e-9)
    return _apply_where(pick < probability, out, samples)


def eq_then_reverb(samples, eq_seed, reverb_seed, *, eq_probability: float = 1.0,
                   reverb_probability: float = 1.0, gain_db: float = 6.0,
                   highpass_hz=(40.0, 400.0), lowpass_hz=(3000.0, 8000.0),
                   rt60_range=(0.15, 0.8), direct_to_reverb_db=(-3.0, 12.0),
                   sample_rate: int = SAMPLE_RATE, room_bank: int = 0):
    """`reverb(random_eq(samples, eq_seed, ...), reverb_seed, ...)` with one FFT pair
    instead of two: both are linear filters and each keeps the peak of its input, so the
    product of their responses, then one peak match, is the same (same draws; equal up to
    rounding and the EQ's response sampled on this FFT's bins)."""
    batch = tf.shape(samples)[0]
    n = int(samples.shape[-1])
    rev_pick, rir = _reverb_draw(reverb_seed, batch, rt60_range=rt60_range,
                                 direct_to_reverb_db=direct_to_reverb_db,
                                 sample_rate=sample_rate, room_bank=room_bank)
    # Linear (not circular) for the room's causal tail and the EQ's short, two-sided
    # impulse response.
    size = _smooth_fft_size(n + int(rir.shape[-1]))
    bins = size // 2 + 1
    eq_pick, eq = _eq_draw(eq_seed, batch, bins, gain_db=gain_db, highpass_hz=highpass_hz,
                           lowpass_hz=lowpass_hz, sample_rate=sample_rate)
    eq = tf.where((eq_pick < eq_probability)[:, None], eq, tf.ones_like(eq))
    room = tf.signal.rfft(rir, [size])
    room = tf.where((rev_pick < reverb_probability)[:, None], room, tf.ones_like(room))
    spec = tf.signal.rfft(samples, [size]) * room * tf.cast(eq, tf.complex64)
    out = tf.signal.irfft(spec, [size])[:, :n]
    out = out * _peak(samples) / tf.maximum(_peak(out), 1e-9)
    either = (eq_pick < eq_probability) | (rev_pick < reverb_probability)
    return _apply_where(either, out, samples)


def compress(samples, seed, *, probability: float = 1.0, drive=(1.0, 6.0)):
    """Soft-knee compression y = tanh(d x / peak) * peak / tanh(d); peak kept."""
    batch = tf.shape(samples)[0]
    k_pick, k_d = _split(seed, 2)
    d = tf.random.stateless_uniform([batch, 1], k_d, *drive)
    peak = tf.maximum(_peak(samples), 1e-9)
    out = tf.tanh(d * samples / peak) * peak / tf.tanh(d)
    chosen = tf.random.stateless_uniform([batch], k_pick) < probability
    return _apply_where(chosen, out, samples)


def speed(samples, seed, *, probability: float = 1.0, speed_range=(0.88, 1.12)):
    """Speed perturbation by factor r (r > 1 faster and higher), about the clip centre,
    by linear interpolation; samples read from outside the clip are 0."""
    batch = tf.shape(samples)[0]
    n = int(samples.shape[-1])
    k_pick, k_r = _split(seed, 2)
    r = tf.random.stateless_uniform([batch, 1], k_r, *speed_range)
    chosen = tf.random.stateless_uniform([batch], k_pick) < probability
    r = tf.where(chosen[:, None], r, tf.ones_like(r))
    centre = (n - 1) / 2.0
    pos = centre + (tf.range(n, dtype=tf.float32)[None, :] - centre) * r
    lo = tf.floor(pos)
    frac = pos - lo
    lo_i = tf.cast(lo, tf.int32)
    padded = tf.pad(samples, [[0, 0], [1, 2]])  # index -1 -> 0, n and n+1 -> 0
    lo_c = tf.clip_by_value(lo_i + 1, 0, n + 2)
    hi_c = tf.clip_by_value(lo_i + 2, 0, n + 2)
    # One flat gather per neighbour (faster than a batched gather on a CPU).
    row = tf.range(batch)[:, None] * (n + 3)
    flat = tf.reshape(padded, [-1])
    a = tf.gather(flat, lo_c + row)
    b = tf.gather(flat, hi_c + row)
    inside = tf.cast((pos >= -1.0) & (pos <= n), tf.float32)
    return ((1.0 - frac) * a + frac * b) * inside


def random_gain(samples, seed, *, gain_db=(-12.0, 6.0)):
    """Level variety: each clip times 10^(g/20), g uniform in `gain_db`; clipped to [-1, 1]."""
    batch = tf.shape(samples)[0]
    g = tf.random.stateless_uniform([batch, 1], tf.cast(seed, tf.int64), *gain_db)
    return tf.clip_by_value(samples * tf.pow(10.0, g / 20.0), -1.0, 1.0)


def _vtlp_knee(alpha, boundary_hz: float):
    """Source and output frequency of the warp's knee."""
    knee = boundary_hz * tf.minimum(alpha, 1.0) / alpha
    return knee, alpha * knee


def vtlp_source_hz(out_hz, alpha, *, boundary_hz: float = 4800.0,
                   sample_rate: int = SAMPLE_RATE):
    """The source frequency that the warp with factor `alpha` moves to `out_hz`.

    The warp is piecewise linear (Jaitly and Hinton's VTLP): f -> alpha f up to
    boundary_hz min(alpha, 1) / alpha, then a straight line to Nyquist -> Nyquist.
    `alpha` [batch, 1] broadcasts against `out_hz` [..., bins]."""
    nyquist = sample_rate / 2.0
    knee, knee_out = _vtlp_knee(alpha, boundary_hz)
    high = knee + (out_hz - knee_out) * (nyquist - knee) / (nyquist - knee_out)
    return tf.where(out_hz <= knee_out, out_hz / alpha, high)


def vtlp_warped_hz(src_hz, alpha, *, boundary_hz: float = 4800.0,
                   sample_rate: int = SAMPLE_RATE):
    """The forward warp: where frequency `src_hz` goes (inverse of `vtlp_source_hz`)."""
    nyquist = sample_rate / 2.0
    knee, knee_out = _vtlp_knee(alpha, boundary_hz)
    high = knee_out + (src_hz - knee) * (nyquist - knee_out) / (nyquist - knee)
    return tf.where(src_hz <= knee, src_hz * alpha, high)


def vtlp(samples, seed, *, probability: float = 1.0, warp_range=(0.9, 1.1),
         boundary_hz: float = 4800.0, frame: int = 512, hop: int = 128,
         sample_rate: int = SAMPLE_RATE):
    """Vocal-tract-length perturbation on a fraction `probability` of the clips: each
    clip's spectrum is warped along frequency by a factor alpha drawn from `warp_range`
    (alpha > 1 moves energy up, like a shorter vocal tract) with a phase vocoder: STFT
    magnitudes resampled at the source frequencies, instantaneous frequencies warped and
    integrated into new phases, overlap-add. Length, timing and peak level are kept."""
    batch = tf.shape(samples)[0]
    n = int(samples.shape[-1])
    k_pick, k_a = _split(seed, 2)
    alpha = tf.random.stateless_uniform([batch, 1], k_a, *warp_range)
    bins = frame // 2 + 1
    window = tf.signal.hann_window
    stft = tf.signal.stft(samples, frame, hop, frame, window_fn=window, pad_end=True)
    mag = tf.abs(stft)  # [batch, frames, bins]
    phase = tf.math.angle(stft)
    # Instantaneous frequency of each bin from its phase advance over one hop.
    k = tf.range(bins, dtype=tf.float32)
    expected = 2.0 * math.pi * k * hop / frame
    advance = phase[:, 1:, :] - phase[:, :-1, :] - expected
    advance = tf.math.floormod(advance + math.pi, 2.0 * math.pi) - math.pi
    inst_bin = k + advance * frame / (2.0 * math.pi * hop)
    inst_bin = tf.concat([tf.broadcast_to(k, tf.shape(mag[:, :1, :])), inst_bin], axis=1)
    inst_hz = inst_bin * (sample_rate / frame)
    # Read each output bin from its (fractional) source bin.
    out_hz = tf.linspace(0.0, sample_rate / 2.0, bins)[None, :]
    src = vtlp_source_hz(out_hz, alpha, boundary_hz=boundary_hz, sample_rate=sample_rate)
    pos = tf.clip_by_value(src * (frame / sample_rate), 0.0, bins - 1.0)  # [batch, bins]
    lo = tf.minimum(tf.cast(tf.floor(pos), tf.int32), bins - 2)
    frac = (pos - tf.cast(lo, tf.float32))[:, None, :]

    def read(v):
        a = tf.gather(v, lo, axis=2, batch_dims=1)
        b = tf.gather(v, lo + 1, axis=2, batch_dims=1)
        return (1.0 - frac) * a + frac * b

    warped_mag = read(mag)
    warped_hz = vtlp_warped_hz(read(inst_hz), alpha[:, :, None], boundary_hz=boundary_hz,
                               sample_rate=sample_rate)
    new_phase = tf.cumsum(2.0 * math.pi * warped_hz * (hop / sample_rate), axis=1)
    out_stft = tf.complex(warped_mag * tf.cos(new_phase), warped_mag * tf.sin(new_phase))
    out = tf.signal.inverse_stft(out_stft, frame, hop, frame,
                                 window_fn=tf.signal.inverse_stft_window_fn(hop, window))
    out = out[:, :n]
    out = out * _peak(samples) / tf.maximum(_peak(out), 1e-9)
    chosen = tf.random.stateless_uniform([batch], k_pick) < probability
    return _apply_where(chosen, out, samples)


def _masks(key, batch, size: int, count: int, max_width: int):
    """[batch, size] bool: union of `count` random intervals of width 0..max_width."""
    k_w, k_s = _split(key, 2)
    width = tf.random.stateless_uniform([batch, count, 1], k_w, 0, max_width + 1, tf.int32)
    start = tf.cast(tf.random.stateless_uniform([batch, count, 1], k_s) *
                    tf.cast(size - width + 1, tf.float32), tf.int32)
    idx = tf.range(size)[None, None, :]
    return tf.reduce_any((idx >= start) & (idx < start + width), axis=1)


def spec_augment(features, seed, *, time_masks: int = 2, time_mask_frames: int = 10,
                 freq_masks: int = 2, freq_mask_bins: int = 5):
    """SpecAugment masks on [batch, frames, width]: masked cells get the example's mean."""
    batch = tf.shape(features)[0]
    frames, width = int(features.shape[1]), int(features.shape[2])
    k_t, k_f = _split(seed, 2)
    masked = tf.zeros([batch, frames, width], tf.bool)
    if time_masks > 0 and time_mask_frames > 0:
        t = _masks(k_t, batch, frames, time_masks, min(time_mask_frames, frames))
        masked = masked | t[:, :, None]
    if freq_masks > 0 and freq_mask_bins > 0:
        f = _masks(k_f, batch, width, freq_masks, min(freq_mask_bins, width))
        masked = masked | f[:, None, :]
    mean = tf.reduce_mean(features, axis=[1, 2], keepdims=True)
    return tf.where(masked, mean * tf.ones_like(features), features)


def augment_samples(samples, seed, config: AugmentConfig):
    """All enabled samples ops of `config` in order: speed, vtlp, eq, reverb, compress,
    gain."""
    k = _split(seed, 5)
    c = config
    x = samples
    if c.speed_probability > 0:
        x = speed(x, k[0], probability=c.speed_probability, speed_range=c.speed_range)
    if c.vtlp_probability > 0:  # its own key, so the other ops draw as without it
        k_vtlp = tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), 6)
        x = vtlp(x, k_vtlp, probability=c.vtlp_probability, warp_range=c.vtlp_range)
    if c.eq_probability > 0 and c.reverb_probability > 0:
        x = eq_then_reverb(x, k[1], k[2], eq_probability=c.eq_probability,
                           reverb_probability=c.reverb_probability, gain_db=c.eq_gain_db,
                           highpass_hz=c.highpass_hz, lowpass_hz=c.lowpass_hz,
                           rt60_range=c.rt60_range, direct_to_reverb_db=c.direct_to_reverb_db,
                           room_bank=c.room_bank)
    elif c.eq_probability > 0:
        x = random_eq(x, k[1], probability=c.eq_probability, gain_db=c.eq_gain_db,
                      highpass_hz=c.highpass_hz, lowpass_hz=c.lowpass_hz)
    elif c.reverb_probability > 0:
        x = reverb(x, k[2], probability=c.reverb_probability, rt60_range=c.rt60_range,
                   direct_to_reverb_db=c.direct_to_reverb_db, room_bank=c.room_bank)
    if c.compress_probability > 0:
        x = compress(x, k[3], probability=c.compress_probability, drive=c.compress_drive)
    if c.gain_db != (0.0, 0.0):
        x = random_gain(x, k[4], gain_db=c.gain_db)
    return x


def _content_key(x, seed: int):
    """A stateless key from the seed and the batch content (the pipeline feeds a seeded
    stream, so the draws are reproducible and differ between batches)."""
    fingerprint = tf.bitcast(tf.reduce_sum(tf.abs(x)), tf.int32)
    return tf.stack([tf.constant(seed, tf.int64), tf.cast(fingerprint, tf.int64)])


def make_hooks(preset: str | AugmentConfig, seed: int = 0):
    """`(samples_hook, features_hook)` for `kws.train.pipeline.make_dataset` (None when the
    preset does not use that stage)."""
    if isinstance(preset, AugmentConfig):
        config = preset
    else:
        name = preset or "none"
        if name not in PRESETS:
            raise ValueError(f"--augment '{preset}' is not one of {', '.join(PRESETS)}")
        config = PRESETS[name]
    seed = int(seed) & 0x7FFFFFFF
    if config.room_bank > 0 and config.reverb_probability > 0:  # built (and cached) now
        image_source_rirs(config.room_bank, rt60_range=config.rt60_range)
    samples_hook = features_hook = None
    if config.augments_samples:
        def samples_hook(samples):
            return augment_samples(samples, _content_key(samples, seed), config)
    if config.augments_features:
        def features_hook(features):
            return spec_augment(features, _content_key(features, seed + 1),
                                time_masks=config.time_masks,
                                time_mask_frames=config.time_mask_frames,
                                freq_masks=config.freq_masks,
                                freq_mask_bins=config.freq_mask_bins)
    return samples_hook, features_hook
