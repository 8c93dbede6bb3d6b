"""`kws listen`: live keyword spotting from the microphone, printing each command as it is
heard (`1230ms: yes (0.912345)`, the time since listening started); only the wanted words
unless --all_labels. The microphone needs the listen extra (`pip install 'kws[listen]'`,
sounddevice; on Linux also the system PortAudio library, e.g. `apt-get install
libportaudio2`). `--wav FILE` plays a WAV file through the same callback and processing
instead of the microphone (no audio device needed), `--realtime` at the speed it would
arrive from a microphone. A bundled model listens with the threshold and decision delay its
model card recommends, for the flags not given.

`Listener.process` is the one processing function: it takes a chunk of any size, at any
sample rate and channel count fixed at construction, averages the channels, resamples to
the model's rate, feeds the model's `Stream` and runs `RecognizeCommands` on every window.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

import kws
from kws.commands.flags import Parser, add_option_flags
from kws.commands.models import DECODER_FLAGS, card_decoder, model_or_default
from kws.labels import SILENCE_LABEL, UNKNOWN_WORD_LABEL


@dataclass(frozen=True)
class Detection:
    """A new command: the start time of the window that triggered it (whose averaged score
    passed the threshold), its label and its averaged score."""

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
                 hop_ms: float = kws.StreamingOptions().clip_stride_ms,
                 options: kws.RecognizeCommandsOptions | None = None,
                 resample_method: str | None = None, wanted_only: bool = True) -> None:
        self.model = model
        # The classic app showed neither silence nor unknown words; wanted_only=False
        # reports them too.
        self.hidden = {SILENCE_LABEL, UNKNOWN_WORD_LABEL} if wanted_only else set()
        self.input_rate = int(input_rate or model.sample_rate)
        self._stream = model.create_stream(hop_ms=hop_ms)
        self._decoder = kws.RecognizeCommands(list(model.labels), options)
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
        or int16. Returns the new commands it completed (wanted words only, unless the
        listener was made with wanted_only=False)."""
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
        results = [self._decoder.process(scores, start * 1000 // self.model.sample_rate)
                   for start, scores in self._stream.accept_waveform(samples)]
        if last:  # a command still being decided (decision_delay_ms)
            results.append(self._decoder.finish())
        return [Detection(r.time_ms, r.label, float(r.score)) for r in results
                if r.is_new and r.label not in self.hidden]


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


# ---- the command ----------------------------------------------------------------------


def build_parser() -> Parser:
    p = Parser(prog="kws listen", description=__doc__)
    p.add_argument("--model", default=None,
                   help="a model.kws file (kws export) or a bundled model's name (kws models; "
                        f"default: the bundled '{kws.bundled.DEFAULT_MODEL}')")
    p.add_argument("--wav", default=None,
                   help="play this WAV file through the microphone path instead")
    p.add_argument("--realtime", action="store_true",
                   help="with --wav: deliver the blocks at the speed of the audio")
    p.add_argument("--device", default=None,
                   help="input device, a number or part of a name (see --list_devices)")
    p.add_argument("--list_devices", action="store_true", help="list audio devices and exit")
    p.add_argument("--device_rate", type=int, default=0,
                   help="open the microphone at this sample rate and resample (default: the "
                        "model's rate when the device takes it, else the device's own rate)")
    p.add_argument("--block_ms", type=float, default=100,
                   help="audio per callback block, as a microphone buffer (default 100)")
    p.add_argument("--duration", type=float, default=0,
                   help="stop listening after this many seconds (0: until Ctrl-C)")
    hop = kws.StreamingOptions().clip_stride_ms
    p.add_argument("--clip_stride_ms", type=float, default=hop,
                   help=f"hop between windows, a whole number of feature frames (default: {hop})")
    add_option_flags(p, kws.RecognizeCommandsOptions(), DECODER_FLAGS)
    p.add_argument("--all_labels", action="store_true",
                   help="also show _unknown_ and _silence_ detections (default: only the "
                        "wanted words)")
    p.add_argument("--resample", choices=("auto", "soxr", "linear"), default="auto",
                   help="resampler when the audio rate differs from the model's "
                        "(auto: soxr if installed, else linear interpolation)")
    return p


def _print_detection(detection) -> None:
    print(detection, flush=True)


def _listener(args, model, input_rate: int):
    options = kws.RecognizeCommandsOptions(
        **{field: getattr(args, flag) for field, flag in DECODER_FLAGS.items()})
    return Listener(model, input_rate=input_rate, hop_ms=args.clip_stride_ms, options=options,
                    resample_method=None if args.resample == "auto" else args.resample,
                    wanted_only=not args.all_labels)


def _describe(listener, source: str, rate: int, channels: int, block: int) -> str:
    m = listener.model
    how = listener.resample_method
    resample = f", resampled {rate} -> {m.sample_rate} Hz ({how})" if how else ""
    what = f"{m.name} ({m.architecture})" if m.name else m.architecture
    return (f"kws listen: {what} model, {len(m.labels)} labels; {source}: {rate} Hz, "
            f"{channels} channel(s), blocks of {block} frames{resample}")


def _run_wav(args) -> int:
    model = kws.Model.load(args.model)
    reader = kws._core.WavReader(args.wav)  # header checked now; samples read as played
    rate = reader.sample_rate
    listener = _listener(args, model, rate)
    block = max(1, int(round(args.block_ms * rate / 1000)))
    print(_describe(listener, args.wav, rate, reader.channels, block), file=sys.stderr)
    # A bounded queue: the player waits for the consumer, so memory stays flat however
    # long the file is.
    chunks: queue.Queue = queue.Queue(maxsize=64)
    dropped = [0]
    callback = make_callback(chunks, dropped)
    errors: list[BaseException] = []

    def play() -> None:
        try:
            feed_blocks(wav_file_blocks(reader, block), callback, chunks, rate, args.realtime)
        except BaseException as e:  # a bad sample part-way: reported after the consumer ends
            errors.append(e)
            chunks.put(None)

    player = threading.Thread(target=play, daemon=True)
    player.start()
    count = consume(chunks, listener, _print_detection)
    player.join()
    if errors:
        raise errors[0]
    print(f"kws listen: {count} commands in {reader.frames / rate:.2f} s of audio",
          file=sys.stderr)
    return 0


def _device(text: str | None):
    if text is None:
        return None
    return int(text) if text.isdigit() else text


def _run_microphone(args) -> int:
    sd = import_sounddevice()
    try:
        return _listen(args, sd)
    except sd.PortAudioError as e:
        print(f"kws listen: the audio device failed: {e} (see --list_devices; --wav FILE "
              "works without one)", file=sys.stderr)
        return 1


def _listen(args, sd) -> int:
    model = kws.Model.load(args.model)
    device = _device(args.device)
    info = sd.query_devices(device, "input")
    # Ask for the model's rate and one channel (ALSA/PulseAudio convert); if the device
    # refuses, take its own rate and channels and let the Listener convert.
    device_rate = int(info["default_samplerate"])
    rates = [args.device_rate] if args.device_rate > 0 else [model.sample_rate, device_rate]
    for rate, channels in [*((r, 1) for r in rates),
                           (rates[-1], int(info["max_input_channels"]))]:
        try:
            sd.check_input_settings(device=device, samplerate=rate, channels=channels,
                                    dtype="float32")
            break
        except Exception:
            continue
    listener = _listener(args, model, rate)
    block = max(1, int(round(args.block_ms * rate / 1000)))
    print(_describe(listener, f"microphone '{info['name']}'", rate, channels, block),
          file=sys.stderr)
    chunks: queue.Queue = queue.Queue()
    dropped = [0]
    stop = threading.Event()
    if args.duration > 0:
        timer = threading.Timer(args.duration, stop.set)
        timer.daemon = True
        timer.start()
    print("kws listen: listening (Ctrl-C to stop)", file=sys.stderr, flush=True)
    started = time.monotonic()
    with sd.InputStream(device=device, channels=channels, samplerate=rate, blocksize=block,
                        dtype="float32", callback=make_callback(chunks, dropped)):
        count = consume(chunks, listener, _print_detection, stop=stop)
    note = f", {dropped[0]} blocks with overflow" if dropped[0] else ""
    print(f"kws listen: {count} commands in {time.monotonic() - started:.1f} s "
          f"({listener.samples_in / rate:.1f} s of audio received{note})", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.list_devices:
            print(import_sounddevice().query_devices())
            return 0
        args.model = model_or_default(args.model, "kws listen")
        card_decoder(args, argv, build_parser, "kws listen")
        if args.block_ms <= 0:
            raise ValueError(f"--block_ms must be positive, got {args.block_ms}")
        if args.wav:
            return _run_wav(args)
        return _run_microphone(args)
    except ImportError as e:
        print(f"kws listen: {e}", file=sys.stderr)
        return 1
