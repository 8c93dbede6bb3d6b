"""Live keyword spotting: audio chunks in (as a microphone delivers them), detections out.

`Listener.process` is the one processing function: it takes a chunk of any size, at any
sample rate and channel count fixed at construction, averages the channels, resamples to
the model's rate, feeds the model's `Stream` and runs `RecognizeCommands` on every window.
`kws listen` hands it microphone buffers (through `sounddevice`, the `listen` extra) or
the blocks of a WAV file, through the same callback and queue.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

import kws


@dataclass(frozen=True)
class Detection:
    """A new command: the start time of the window that triggered it, its label and its
    averaged score."""

    time_ms: int
    label: str
    score: float

    def __str__(self) -> str:
        return f"{self.time_ms}ms: {self.label} ({self.score:.6f})"


class StreamResampler:
    """Converts mono audio from `from_rate` to `to_rate` chunk by chunk; the output does not
    depend on how the input is cut. Uses soxr's streaming resampler when soxr is installed
    (`method="soxr"`, high quality); otherwise (`method="linear"`) linear interpolation in
    numpy, exact positions, but without an anti-aliasing filter: fine for speech from a 44.1
    or 48 kHz microphone, not for critical listening."""

    def __init__(self, from_rate: int, to_rate: int, method: str | None = None) -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
        self.from_rate, self.to_rate = int(from_rate), int(to_rate)
        if method is None:
            try:
                import soxr  # noqa: F401

                method = "soxr"
            except ImportError:
                method = "linear"
        if method not in ("soxr", "linear"):
            raise ValueError(f"resampling method must be 'soxr' or 'linear', got '{method}'")
        self.method = method
        self._soxr = None
        if method == "soxr" and self.from_rate != self.to_rate:
            import soxr

            self._soxr = soxr.ResampleStream(self.from_rate, self.to_rate, 1, dtype="float32",
                                             quality="HQ")
        # Linear state: absolute index of the next output sample and of _pending[0].
        self._next_out = 0
        self._pending_start = 0
        self._pending = np.zeros(0, np.float32)

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """Resamples the next chunk; with `last=True`, also flushes what is held back."""
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if self.from_rate == self.to_rate:
            return samples
        if self._soxr is not None:
            return self._soxr.resample_chunk(samples, last=last)
        return self._linear(samples, last)

    def _linear(self, samples: np.ndarray, last: bool) -> np.ndarray:
        buf = np.concatenate([self._pending, samples])
        end = self._pending_start + len(buf)  # absolute index one past the last input
        # Output k sits at input position k * from / to; it needs inputs floor(pos) and
        # floor(pos) + 1 (only floor(pos) when it falls exactly on a sample, or at the end).
        usable = end if last else end - 1
        if usable <= 0:
            self._pending = buf
            return np.zeros(0, np.float32)
        # Largest k with k * from < usable * to (strictly inside) ...
        stop = -(-usable * self.to_rate // self.from_rate)
        if last:
            stop = -(-end * self.to_rate // self.from_rate)
        k = np.arange(self._next_out, max(self._next_out, stop), dtype=np.int64)
        num = k * self.from_rate
        left = num // self.to_rate
        frac = (num % self.to_rate).astype(np.float64) / self.to_rate
        i0 = left - self._pending_start
        i1 = np.minimum(i0 + 1, len(buf) - 1)
        out = (buf[i0] * (1.0 - frac) + buf[i1] * frac).astype(np.float32)
        self._next_out = int(k[-1]) + 1 if len(k) else self._next_out
        # Keep inputs from the next output's left neighbour on.
        keep_from = (self._next_out * self.from_rate) // self.to_rate
        drop = max(0, min(len(buf), keep_from - self._pending_start))
        self._pending = buf[drop:]
        self._pending_start += drop
        return out


class Listener:
    """Keyword spotting on live audio with one immutable `kws.Model`: `process(chunk)` for
    each block of audio as it arrives, `finish()` at the end. Not thread-safe: call it from
    one thread (the `kws listen` consumer loop)."""

    def __init__(self, model: kws.Model, *, input_rate: int | None = None,
                 hop_ms: float = 30, average_window_ms: int = 1000,
                 detection_threshold: float = 0.2, suppression_ms: int = 1500,
                 minimum_count: int = 3, resample_method: str | None = None) -> None:
        self.model = model
        self.input_rate = int(input_rate or model.sample_rate)
        self._stream = model.create_stream(hop_ms=hop_ms)
        self._decoder = kws.RecognizeCommands(
            list(model.labels), average_window_duration_ms=average_window_ms,
            detection_threshold=detection_threshold, suppression_ms=suppression_ms,
            minimum_count=minimum_count)
        self._resampler = StreamResampler(self.input_rate, model.sample_rate, resample_method)
        self.samples_in = 0  # input frames received so far (at input_rate)

    @property
    def resample_method(self) -> str | None:
        """How input is resampled (None when the input rate is the model's)."""
        if self.input_rate == self.model.sample_rate:
            return None
        return self._resampler.method

    def process(self, chunk: np.ndarray) -> list[Detection]:
        """Feeds one block of audio: shape (frames,) or (frames, channels), float in [-1, 1]
        or int16. Returns the new commands (other than `_silence_`) it completed."""
        return self._feed(chunk, last=False)

    def finish(self) -> list[Detection]:
        """No more audio: flushes the resampler and returns the last commands."""
        return self._feed(np.zeros(0, np.float32), last=True)

    def _feed(self, chunk: np.ndarray, last: bool) -> list[Detection]:
        chunk = np.asarray(chunk)
        if chunk.dtype == np.int16:
            chunk = chunk.astype(np.float32) / 32768.0
        if chunk.ndim == 2:
            chunk = chunk.mean(axis=1, dtype=np.float32) if chunk.shape[1] > 1 else chunk[:, 0]
        elif chunk.ndim != 1:
            raise ValueError(f"audio chunks must be (frames,) or (frames, channels), got "
                             f"shape {chunk.shape}")
        self.samples_in += len(chunk)
        samples = self._resampler.process(chunk, last=last)
        found = []
        for start, scores in self._stream.accept_waveform(samples):
            time_ms = start * 1000 // self.model.sample_rate
            result = self._decoder.process(scores, time_ms)
            if result.is_new and result.label != "_silence_":
                found.append(Detection(time_ms, result.label, float(result.score)))
        return found


# ---- the callback path shared by the microphone and `--wav` ----------------------------

_END = None  # queue sentinel: no more audio


def make_callback(chunks: queue.Queue, dropped: list[int]) -> Callable[..., None]:
    """The audio callback (sounddevice's InputStream signature): copies each block into
    `chunks`; it never blocks on an unbounded queue (the microphone's), and waits for
    room on a bounded one (a file played faster than real time). Status flags (input
    overflow) are counted in `dropped`."""

    def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status:
            dropped[0] += 1
        chunks.put(np.array(indata[:frames], copy=True))

    return callback


def consume(chunks: queue.Queue, listener: Listener,
            on_detection: Callable[[Detection], None],
            stop: threading.Event | None = None) -> int:
    """Takes blocks from `chunks` and runs them through `listener.process` until the end
    sentinel (or `stop` is set); reports each detection as it happens. Returns the count."""
    count = 0
    while stop is None or not stop.is_set():
        try:
            chunk = chunks.get(timeout=0.1)
        except queue.Empty:
            continue
        if chunk is _END:
            break
        for detection in listener.process(chunk):
            on_detection(detection)
            count += 1
    for detection in listener.finish():
        on_detection(detection)
        count += 1
    return count


def feed_blocks(blocks: Iterable[np.ndarray], callback: Callable[..., None],
                chunks: queue.Queue, rate: int, realtime: bool) -> None:
    """Plays blocks into `callback` as an audio device would (in real time if asked), then
    queues the end sentinel."""
    start = time.monotonic()
    played = 0
    for block in blocks:
        if realtime:
            delay = start + played / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        callback(block, len(block), None, None)
        played += len(block)
    chunks.put(_END)


def wav_blocks(samples: np.ndarray, block_frames: int) -> Iterable[np.ndarray]:
    """Cuts (frames, channels) audio into callback-sized blocks (the last may be short)."""
    for offset in range(0, len(samples), block_frames):
        yield samples[offset:offset + block_frames]


def wav_file_blocks(reader: Any, block_frames: int) -> Iterable[np.ndarray]:
    """Reads (frames, channels) blocks from a `kws._core.WavReader` as they are needed,
    so a long file is never held in memory (the last block may be short)."""
    while True:
        block = reader.read(block_frames)
        if len(block) == 0:
            return
        yield block


# ---- microphone (sounddevice) ----------------------------------------------------------

PORTAUDIO_HELP = ("the microphone needs the system PortAudio library, which the sounddevice "
                  "wheel does not include on Linux: install it with `sudo apt-get install "
                  "libportaudio2` (Debian/Ubuntu), `sudo dnf install portaudio` (Fedora) or "
                  "`sudo pacman -S portaudio` (Arch); --wav FILE works without it")


def import_sounddevice():
    """sounddevice, or an ImportError that says what to install."""
    try:
        import sounddevice
    except ImportError:
        raise ImportError("the microphone needs the listen extra: pip install 'kws[listen]' "
                          "(--wav FILE works without it)") from None
    except OSError as e:  # sounddevice raises OSError when libportaudio is missing
        raise ImportError(f"{e}: {PORTAUDIO_HELP}") from None
    return sounddevice
