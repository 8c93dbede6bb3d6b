"""`kws listen`: live keyword spotting from the microphone, printing each command as it is
heard (`1230ms: yes (0.912345)`, the time since listening started). The microphone needs
the listen extra (`pip install 'kws[listen]'`, sounddevice; on Linux also the system
PortAudio library, e.g. `apt-get install libportaudio2`). `--wav FILE` plays a WAV file
through the same callback and processing instead of the microphone (no audio device
needed), `--realtime` at the speed it would arrive from a microphone."""

from __future__ import annotations

import queue
import sys
import threading
import time

from kws.flags import Parser


def build_parser() -> Parser:
    p = Parser(prog="kws listen", description=__doc__)
    p.add_argument("--model", required=False, help="a model.kws file (kws export)")
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
    p.add_argument("--clip_stride_ms", type=float, default=30,
                   help="hop between windows (a whole number of feature frames)")
    p.add_argument("--average_window_ms", type=int, default=1000)
    p.add_argument("--detection_threshold", type=float, default=0.2)
    p.add_argument("--suppression_ms", type=int, default=1500)
    p.add_argument("--minimum_count", type=int, default=3)
    p.add_argument("--resample", choices=("auto", "soxr", "linear"), default="auto",
                   help="resampler when the audio rate differs from the model's "
                        "(auto: soxr if installed, else linear interpolation)")
    return p


def _print_detection(detection) -> None:
    print(detection, flush=True)


def _listener(args, model, input_rate: int):
    from kws.listen import Listener

    return Listener(model, input_rate=input_rate, hop_ms=args.clip_stride_ms,
                    average_window_ms=args.average_window_ms,
                    detection_threshold=args.detection_threshold,
                    suppression_ms=args.suppression_ms, minimum_count=args.minimum_count,
                    resample_method=None if args.resample == "auto" else args.resample)


def _describe(listener, source: str, rate: int, channels: int, block: int) -> str:
    m = listener.model
    how = listener.resample_method
    resample = f", resampled {rate} -> {m.sample_rate} Hz ({how})" if how else ""
    return (f"kws listen: {m.architecture} model, {len(m.labels)} labels; {source}: {rate} Hz, "
            f"{channels} channel(s), blocks of {block} frames{resample}")


def _run_wav(args) -> int:
    import os

    import kws
    from kws import _core
    from kws.listen import consume, feed_blocks, make_callback, wav_file_blocks

    model = kws.Model.load(args.model)
    reader = _core.WavReader(os.fsencode(args.wav))  # header checked; samples read as played
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
    from kws.listen import import_sounddevice

    sd = import_sounddevice()
    try:
        return _listen(args, sd)
    except sd.PortAudioError as e:
        print(f"kws listen: the audio device failed: {e} (see --list_devices; --wav FILE "
              "works without one)", file=sys.stderr)
        return 1


def _listen(args, sd) -> int:
    import kws
    from kws.listen import consume, make_callback

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
            from kws.listen import import_sounddevice

            print(import_sounddevice().query_devices())
            return 0
        if not args.model:
            raise ValueError("--model is required (a model.kws file)")
        if args.block_ms <= 0:
            raise ValueError(f"--block_ms must be positive, got {args.block_ms}")
        if args.wav:
            return _run_wav(args)
        return _run_microphone(args)
    except ImportError as e:
        print(f"kws listen: {e}", file=sys.stderr)
        return 1
