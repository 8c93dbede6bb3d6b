"""Synthetic speech datasets in the Speech Commands layout, made with espeak-ng, flite and
Festival.

espeak-ng comes from the `espeakng-loader` wheel (library and voice data, no system
package) and is driven through its C API with ctypes. flite (CMU's small synthesizer,
the `flite` program from the system's packages) adds four voices built from recordings
of real speakers; by default half the speakers use it (DEFAULT_VOICES), because models
trained on espeak-ng's formant synthesis alone transfer poorly to real voices. Festival
(the `festival` program from the system's packages, with its voice packages) adds two more, on
request: a diphone voice and a statistical-parametric (HTS) one. Each *speaker* is a
stable combination of voice (accent), voice variant, speaking rate, pitch, pitch range
and (flite, Festival) formant warp; its id (a short hash of the combination) is the
`<speaker>` part of `<speaker>_nohash_<n>.wav`, so the classic hash split keeps a speaker
in one partition.

Clips are 16 kHz mono 16-bit, one second, the word at a random offset and a varied
level, with small variation between a speaker's repetitions, a low noise floor and
dither (no runs of exact digital zeros, which would give extreme log-mel values).
`_background_noise_/` gets generated noises (white, pink, brown, mains hum with
harmonics, fan, babble of overlapping synthetic speech) and optionally the user's own.

Everything is a pure function of the seed: the same seed gives identical bytes,
whatever the number of worker processes.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import json
import multiprocessing
import os
import select
import shutil
import subprocess
import tempfile
import time
import wave
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterable

import espeakng_loader
import numpy as np
import soxr
from tqdm import tqdm

from kws.labels import BACKGROUND_NOISE_DIR_NAME
from kws.wav_io import read_wav_at, wav_info, write_wav

COMMAND_WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
OTHER_WORDS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
]
SPEECH_COMMANDS_WORDS = COMMAND_WORDS + OTHER_WORDS
SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE
# English voices (accents) espeak-ng ships; en-Shaw is a spelling (Shavian), not an accent.
ENGLISH_VOICES = [
    "gmw/en-US", "gmw/en", "gmw/en-029", "gmw/en-GB-scotland", "gmw/en-GB-x-gbclan",
    "gmw/en-GB-x-gbcwmd", "gmw/en-GB-x-rp", "gmw/en-US-nyc",
]
# Flite (CMU's small synthesizer, `flite` on PATH, e.g. Debian's package) voices made from
# recordings of real speakers: slt (US female), rms (US male), awb (Scottish male), kal16
# (US male, diphones). In --voices they are "flite/NAME"; "flite" alone means all four.
FLITE_VOICES = ["slt", "rms", "awb", "kal16"]
# Festival voices (`festival` on PATH; Debian's festvox-kallpc16k and festvox-us-slt-hts):
# kal (US male, diphones) and slt_hts (US female, HTS). In --voices they are
# "festival/NAME"; "festival" alone means those installed. NAME -> Festival's voice.
FESTIVAL_VOICES = {"kal": "kal_diphone", "slt_hts": "cmu_us_slt_arctic_hts"}
# What make-dataset uses when --voices is not given: every espeak-ng accent once and
# the flite voices twice, so half the speakers are flite voices of recorded speakers
# (measured to lift accuracy on real voices by about 8 points, bench/accuracy_notes.md).
DEFAULT_VOICES = "espeak,flite,flite"
# Their typical voicing pitch in Hz (measured), the centre of a speaker's f0 draw.
_FLITE_F0 = {"slt": 170.0, "rms": 100.0, "awb": 135.0, "kal16": 105.0}
# Variants left out: deliberately robotic or distorted voices.
EXCLUDED_VARIANTS = {"demonic", "unirobot", "anikarobot"}
MANIFEST_NAME = "kws_make_dataset.json"
# --variety: "standard" (the original ranges) or "wide" (wider rate, pitch and pitch range
# per speaker, larger per-repetition jitter, and a random clause intonation per clip:
# the word said as a statement, question, exclamation or mid-sentence).
VARIETIES = ("standard", "wide")
_INTONATIONS = ("", ".", "?", "!", ",")
NOISE_KINDS = ("white", "pink", "brown", "hum_50hz", "hum_60hz", "fan", "babble")

# espeak-ng C API constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _OnePerProcess:
    """`get()` returns the process's one instance, made on first use."""

    _instance = None

    @classmethod
    def get(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance


class Espeak(_OnePerProcess):
    """espeak-ng in synchronous mode: `synth(text, ...)` returns int16 samples.

    One instance per process (espeak-ng keeps global state); use `Espeak.get()`.
    """

    _instance: "Espeak | None" = None

    def __init__(self) -> None:
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_path = espeakng_loader.get_data_path()
        lib = self.lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, os.path.dirname(data_path).encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialize with data at {data_path}")
        self.sample_rate = rate
        self._chunks: list[np.ndarray] = []

        def on_audio(wav, n, _events):
            if n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
            return 0

        self._callback = _SYNTH_CALLBACK(on_audio)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self._voice = None

    def _list(self, spec: _EspeakVoice | None) -> list[_EspeakVoice]:
        arr = self.lib.espeak_ListVoices(ctypes.byref(spec) if spec is not None else None)
        out, i = [], 0
        while arr[i]:
            out.append(arr[i].contents)
            i += 1
        return out

    def english_voices(self) -> list[str]:
        """Identifiers of the English accents shipped, in ENGLISH_VOICES order."""
        have = {v.identifier.decode() for v in self._list(None) if v.identifier}
        return [v for v in ENGLISH_VOICES if v in have]

    def variants(self) -> list[str]:
        """Voice variant names (`!v/<name>` files), minus deliberately robotic ones."""
        spec = _EspeakVoice()
        spec.languages = b"variant"
        names = [v.identifier.decode()[3:] for v in self._list(spec) if v.identifier]
        return sorted(
            n for n in names
            if n.lower() not in EXCLUDED_VARIANTS and not n.lower().startswith("robosoft")
        )

    def synth(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int) -> np.ndarray:
        """int16 samples at `self.sample_rate` of `text` spoken by `voice` (`id+variant`)."""
        if voice != self._voice:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice '{voice}'")
            self._voice = voice
        self.lib.espeak_SetParameter(_PARAM_RATE, int(np.clip(rate, 80, 450)), 0)
        self.lib.espeak_SetParameter(_PARAM_PITCH, int(np.clip(pitch, 0, 100)), 0)
        self.lib.espeak_SetParameter(_PARAM_RANGE, int(np.clip(pitch_range, 0, 100)), 0)
        self.lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
        data = text.encode("utf-8") + b"\0"
        self._chunks = []
        err = self.lib.espeak_Synth(data, len(data), 0, 0, 0, _CHARS_UTF8, None, None)
        if err != 0:
            raise RuntimeError(f"espeak-ng failed to synthesize '{text}' (error {err})")
        if not self._chunks:
            return np.zeros(0, np.int16)
        return np.concatenate(self._chunks).astype(np.int16)


def _synthesize(cmd: list[str], path: str, what: str) -> tuple[np.ndarray, int]:
    """Runs a synthesizer command that writes the WAV file `path` and returns its 16-bit
    mono samples and sample rate; `what` names the engine, voice and text in errors."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not os.path.exists(path):
        raise RuntimeError(f"{what}: synthesis failed: {done.stderr.strip()[:200]}")
    return _read_pcm16(path, what)


def _read_pcm16(path: str, what: str) -> tuple[np.ndarray, int]:
    """The 16-bit mono samples and sample rate of the WAV file a synthesizer wrote."""
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise RuntimeError(f"{what}: wrote {w.getnchannels()} channel(s) of "
                               f"{8 * w.getsampwidth()}-bit audio; kws reads 16-bit mono")
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).copy(), w.getframerate()


class Flite(_OnePerProcess):
    """The `flite` command line synthesizer: `synth(...)` returns int16 samples at 16 kHz.

    Each call runs `flite` once (about 30 ms); rate, pitch and pitch range map to its
    duration_stretch, int_f0_target_mean and int_f0_target_stddev features.
    """

    _instance: "Flite | None" = None

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("flite")
        if not self.binary:
            raise RuntimeError(
                "flite voices need the `flite` program on PATH (Debian/Ubuntu: apt-get install "
                "flite; macOS: brew install flite), or leave flite out of --voices "
                "(e.g. --voices espeak)")
        out = subprocess.run([self.binary, "-lv"], capture_output=True, text=True, check=False)
        listed = out.stdout.split(":", 1)[-1].split()
        self.voices = [v for v in FLITE_VOICES if v in listed]
        self.sample_rate = SAMPLE_RATE

    def synth(self, text: str, voice: str, rate: float, f0_mean: float, f0_std: float,
              ) -> np.ndarray:
        """`text` spoken by flite voice `voice` at `rate` words/min (175 is flite's own
        pace) with the given voicing pitch (Hz); int16 at 16 kHz."""
        if voice not in self.voices:
            raise ValueError(f"flite has no voice '{voice}' (it has {', '.join(self.voices)})")
        with tempfile.TemporaryDirectory(prefix="kws_flite_") as tmp:
            path = os.path.join(tmp, "out.wav")
            cmd = [self.binary, "-voice", voice,
                   "--setf", f"duration_stretch={175.0 / max(rate, 40.0):.4f}",
                   "--setf", f"int_f0_target_mean={f0_mean:.2f}",
                   "--setf", f"int_f0_target_stddev={f0_std:.2f}",
                   "-t", text, "-o", path]
            samples, sr = _synthesize(cmd, path, f"flite voice {voice} saying '{text}'")
            if sr != SAMPLE_RATE:
                raise RuntimeError(f"flite voice {voice} wrote {sr} Hz audio; kws needs 16 kHz")
            return samples


class Festival(_OnePerProcess):
    """Festival: `synth(...)` returns int16 samples and their rate.

    One `festival --pipe` process serves every clip of a worker process: each clip is a
    few Scheme expressions on its standard input (select the voice when it changes, set
    Duration_Stretch from the rate, synthesize, save a RIFF file), followed by a marker
    line that the process prints when it is done. The audio is the same as `text2wave`'s
    for the same voice, text and stretch; starting `text2wave` once per clip cost about
    0.4 s, this costs the synthesis alone (tens of ms for the diphone voice). Pitch is the
    voice's own (the speaker's formant warp moves it).
    """

    _instance: "Festival | None" = None
    # Longest wait for one clip (seconds) before the process is taken to be stuck.
    TIMEOUT = 120.0
    _MARKER = "kws-festival-done"

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("festival")
        if not self.binary:
            raise RuntimeError(
                "Festival voices need the `festival` program on PATH (Debian/Ubuntu: "
                "apt-get install festival festvox-kallpc16k festvox-us-slt-hts), or leave "
                "festival out of --voices")
        # Festival's own list of the voices it can load, e.g. "(cmu_us_slt_arctic_hts
        # kal_diphone)".
        out = subprocess.run([self.binary, "-b", "(print (voice.list))"],
                             capture_output=True, text=True, check=False)
        listed = out.stdout.replace("(", " ").replace(")", " ").split()
        self.voices = [n for n, v in FESTIVAL_VOICES.items() if v in listed]
        self._proc: subprocess.Popen | None = None
        self._pid = -1
        self._voice: str | None = None
        self._tmp: str | None = None

    def _start(self) -> None:
        self._tmp = tempfile.mkdtemp(prefix="kws_festival_")
        # Appending: the process writes at the end while this one reads from an offset.
        self._stderr = open(os.path.join(self._tmp, "stderr.txt"), "a+b")
        self._proc = subprocess.Popen([self.binary, "--pipe"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._stderr)
        self._pid, self._voice = os.getpid(), None
        self._errors_seen = 0
        atexit.register(self.close)

    def close(self) -> None:
        """Ends the process (a later `synth` starts another) and removes its files."""
        if self._proc is not None and self._pid == os.getpid():
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._stderr.close()
            shutil.rmtree(self._tmp, ignore_errors=True)
            atexit.unregister(self.close)
        self._proc, self._voice, self._pid = None, None, -1

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to clean up with
            pass

    def _new_errors(self) -> str:
        """What the process printed on its error stream since the last call, on one line."""
        self._stderr.seek(self._errors_seen)
        raw = self._stderr.read()
        self._errors_seen += len(raw)
        return " ".join(raw.decode("utf-8", "replace").split())[:300]

    def _run(self, scheme: str, what: str) -> None:
        """Sends `scheme` and waits for the marker; any failure ends the process."""
        fd = self._proc.stdout.fileno()
        try:
            self._proc.stdin.write(
                f'{scheme}\n(format t "{self._MARKER}\\n")\n(fflush nil)\n'.encode())
            self._proc.stdin.flush()
            got = b""
            deadline = time.monotonic() + self.TIMEOUT
            while self._MARKER.encode() not in got:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    raise RuntimeError(f"{what}: Festival gave no answer in "
                                       f"{self.TIMEOUT:.0f} s")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(f"{what}: Festival exited: {self._new_errors()}")
                got = got[-64:] + chunk
        except OSError as e:  # the process closed its input: it has exited
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            message = f"{what}: Festival exited: {self._new_errors() or e}"
            self.close()
            raise RuntimeError(message) from e
        except RuntimeError:
            self.close()
            raise

    def synth(self, text: str, voice: str, rate: float) -> tuple[np.ndarray, int]:
        """`text` spoken by Festival voice `voice` at `rate` words/min (175 is the
        voices' own pace): (int16 samples, sample rate)."""
        if voice not in self.voices:
            raise ValueError(f"Festival has no voice '{voice}' (installed: "
                             f"{', '.join(self.voices) or 'none'})")
        what = f"Festival voice {voice} saying '{text}'"
        if self._proc is None or self._pid != os.getpid() or self._proc.poll() is not None:
            self.close()  # a process that died, or the parent's after a fork
            self._start()
        path = os.path.join(self._tmp, "out.wav")
        if os.path.exists(path):
            os.remove(path)
        commands = []
        if voice != self._voice:
            commands.append(f"(voice_{FESTIVAL_VOICES[voice]})")
        commands += [
            f"(Parameter.set 'Duration_Stretch {175.0 / max(rate, 40.0):.4f})",
            f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) "
            f"{_scheme_string(path)} 'riff)",
        ]
        self._run("\n".join(commands), what)
        self._voice = voice
        if not os.path.exists(path):
            raise RuntimeError(f"{what}: synthesis failed: {self._new_errors()}")
        return _read_pcm16(path, what)


def _scheme_string(text: str) -> str:
    """`text` as a Scheme string literal on one line."""
    text = "".join(c if c.isprintable() else " " for c in text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# The engines of recorded voices, by their --voices prefix.
_ENGINES = {"flite": Flite, "festival": Festival}

# --------------------------------------------------------------------------- speakers


@dataclass(frozen=True)
class Speaker:
    """A stable voice: accent, variant, rate (words/min), pitch and pitch range (0-100).

    `voice` is an espeak-ng accent (gmw/...), a flite voice (flite/NAME) or a Festival
    voice (festival/NAME); `warp` scales the whole spectrum (formants and pitch together,
    as a shorter or longer vocal tract would; 1 for espeak-ng voices, whose variants
    already differ in formants)."""

    voice: str
    variant: str
    rate: int
    pitch: int
    pitch_range: int
    level_db: float  # typical peak level of this speaker's recordings, dBFS
    floor_db: float  # noise floor of this speaker's "microphone", dBFS
    warp: float = 1.0

    @property
    def engine(self) -> str:
        engine = self.voice.split("/", 1)[0]
        return engine if engine in _ENGINES else "espeak"

    @property
    def espeak_name(self) -> str:
        return f"{self.voice}+{self.variant}" if self.variant else self.voice

    @property
    def id(self) -> str:
        key = f"{self.espeak_name}|{self.rate}|{self.pitch}|{self.pitch_range}"
        if self.warp != 1.0:
            key += f"|{self.warp:.4f}"
        return hashlib.sha1(key.encode()).hexdigest()[:8]


def parse_voices(voices: str | Iterable[str] | None, espeak: Espeak | None = None) -> list[str]:
    """Voices to draw speakers from: None for DEFAULT_VOICES, or a comma list (or
    list) of espeak-ng accents (`gmw/` optional), flite voices ("flite/slt", ...),
    Festival voices ("festival/kal", ...) and the shorthands "espeak" (every espeak-ng
    accent), "flite" (every flite voice) and "festival" (every installed one); a voice
    listed n times gets n times the speakers (e.g. 'en-US,en-US,en-US,en' is 3/4 American;
    'espeak,flite' is 8 espeak-ng accents and 4 flite voices, a third flite)."""
    espeak = espeak or Espeak.get()
    have = espeak.english_voices()
    if voices is None:
        voices = DEFAULT_VOICES
    items = voices.split(",") if isinstance(voices, str) else list(voices)
    out = []
    for v in (x.strip() for x in items):
        if not v:
            continue
        if v == "espeak":
            out.extend(have)
            continue
        engine = v.split("/", 1)[0]
        if engine in _ENGINES:
            installed = _ENGINES[engine].get().voices
            names = installed if v == engine else [v[len(engine) + 1:]]
            if not names:
                raise ValueError(f"--voices: {engine}: none of its voices is installed")
            for n in names:
                if n not in installed:
                    raise ValueError(f"--voices: '{v}' is not an installed {engine} voice "
                                     f"({', '.join(f'{engine}/{x}' for x in installed)})")
                out.append(f"{engine}/{n}")
            continue
        name = v if v.startswith("gmw/") else f"gmw/{v}"
        if name not in have:
            raise ValueError(f"--voices: '{v}' is not one of {', '.join(have)}, "
                             "espeak, flite, flite/NAME, festival or festival/NAME")
        out.append(name)
    if not out:
        raise ValueError("--voices is empty")
    return out


def make_speakers(count: int, seed: int, espeak: Espeak | None = None,
                  variety: str = "standard", voices: str | Iterable[str] | None = None,
                  ) -> list[Speaker]:
    """`count` distinct speakers drawn from the seed: every (accent, variant) pair is
    used before any repeats (then with other rates and pitches). `variety` "wide" draws
    rate 105-270 words/min, pitch 5-95 and range 5-100 (standard: 125-215, 20-80, 15-85).
    `voices` (see parse_voices) picks and weights the accents."""
    if count <= 0:
        raise ValueError(f"--speakers must be positive, got {count}")
    _check_variety(variety)
    rate_range, pitch_range, range_range = (
        ((105, 271), (5, 96), (5, 101)) if variety == "wide" else ((125, 215), (20, 81), (15, 86)))
    espeak = espeak or Espeak.get()
    voices = parse_voices(voices, espeak)
    variants = [""] + espeak.variants()
    # A flite or Festival voice has no variants: it is repeated so that each listed voice,
    # of any engine, weighs the same.
    combos = [(v, var if v.startswith("gmw/") else "") for v in voices for var in variants]
    rng = np.random.default_rng([seed, 1])
    speakers: list[Speaker] = []
    ids: set[str] = set()
    order: list[int] = []
    while len(speakers) < count:
        if not order:
            order = list(rng.permutation(len(combos)))
        voice, variant = combos[order.pop()]
        s = Speaker(
            voice=voice,
            variant=variant,
            rate=int(rng.integers(*rate_range)),
            pitch=int(rng.integers(*pitch_range)),
            pitch_range=int(rng.integers(*range_range)),
            level_db=float(rng.uniform(-30.0, -4.0)),
            floor_db=0.0,
        )
        # Noise floor 38-60 dB under the speech peak level.
        s = replace(s, floor_db=s.level_db - float(rng.uniform(38.0, 60.0)))
        if s.engine != "espeak":  # a few recorded voices: spread them over tract lengths
            s = replace(s, warp=round(float(rng.uniform(0.88, 1.14)), 4))
        if s.id not in ids:
            ids.add(s.id)
            speakers.append(s)
    return speakers


def _check_variety(variety: str) -> None:
    if variety not in VARIETIES:
        raise ValueError(f"--variety '{variety}' is not one of {', '.join(VARIETIES)}")


# --------------------------------------------------------------------------- clips


def _stable_int(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _trim(x: np.ndarray, rate: int) -> np.ndarray:
    """Drops the leading/trailing silence espeak-ng adds (keeps a 10 ms margin)."""
    if len(x) == 0:
        return x
    env = np.abs(x)
    loud = np.flatnonzero(env > 0.005 * env.max())
    if len(loud) == 0:
        return x[:0]
    margin = rate // 100
    return x[max(0, loud[0] - margin) : loud[-1] + margin + 1]


def _to_16k(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return x.astype(np.float32)
    return soxr.resample(x.astype(np.float32), rate, SAMPLE_RATE, quality="MQ").astype(np.float32)


def speak(text: str, speaker: Speaker, rng: np.random.Generator, max_samples: int,
          espeak: Espeak | None = None, jitter: bool | float = True) -> np.ndarray:
    """`text` spoken by `speaker` as float32 at 16 kHz, trimmed, at most `max_samples`
    long (faster speech if needed), with small per-repetition variation of rate, pitch
    and range when `jitter` (a number scales the variation; True is 1)."""
    espeak = espeak or Espeak.get()
    j = float(jitter)
    rate = speaker.rate * (1.0 + (rng.uniform(-0.07 * j, 0.07 * j) if j else 0.0))
    pitch = speaker.pitch + (int(rng.integers(-round(4 * j), round(4 * j) + 1)) if j else 0)
    pitch_range = speaker.pitch_range + (
        int(rng.integers(-round(6 * j), round(6 * j) + 1)) if j else 0)
    for _ in range(8):
        if speaker.engine == "flite":
            flite = Flite.get()
            name = speaker.voice[len("flite/"):]
            f0 = _FLITE_F0.get(name, 120.0) * 2.0 ** ((pitch - 50) / 100)
            raw = flite.synth(text, name, rate, f0, f0 * 0.12 * max(pitch_range, 0) / 50)
            sr = flite.sample_rate
        elif speaker.engine == "festival":
            raw, sr = Festival.get().synth(text, speaker.voice[len("festival/"):], rate)
        else:
            raw = espeak.synth(text, speaker.espeak_name, int(rate), pitch, pitch_range)
            sr = espeak.sample_rate
        x = _trim(raw.astype(np.float32) / 32768.0, sr)
        # Played back `warp` times faster (1 for espeak-ng speakers): formants and pitch
        # move up together.
        x = _to_16k(x, int(round(sr * speaker.warp)))
        if len(x) <= max_samples or rate >= 450:
            break
        rate *= 1.2 * len(x) / max_samples
    return x[:max_samples]


def make_clip(word: str, speaker: Speaker, repetition: int, seed: int,
              espeak: Espeak | None = None, variety: str = "standard") -> np.ndarray:
    """One second of int16 audio: `word` by `speaker` at a random offset and level
    (`variety` "wide": a random clause intonation and twice the repetition jitter)."""
    rng = np.random.default_rng([seed, _stable_int(word), _stable_int(speaker.id), repetition])
    if variety == "wide":
        text = word + _INTONATIONS[int(rng.integers(len(_INTONATIONS)))]
        x = speak(text, speaker, rng, int(0.96 * CLIP_SAMPLES), espeak, jitter=2.0)
    else:
        x = speak(word, speaker, rng, int(0.96 * CLIP_SAMPLES), espeak)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    clip = np.zeros(CLIP_SAMPLES, np.float64)
    if peak > 0:
        level = 10 ** ((speaker.level_db + rng.uniform(-2.5, 2.5)) / 20)
        offset = int(rng.integers(0, CLIP_SAMPLES - len(x) + 1))
        clip[offset : offset + len(x)] = x * (level / peak)
    # Microphone noise floor, then dither: real recordings never hold exact zeros.
    floor = 10 ** ((speaker.floor_db + rng.uniform(-2, 2)) / 20)
    clip += rng.standard_normal(CLIP_SAMPLES, dtype=np.float32) * floor
    tpdf = rng.random(CLIP_SAMPLES, dtype=np.float32) - rng.random(CLIP_SAMPLES, dtype=np.float32)
    clip += tpdf * (3.0 / 32768)  # triangular dither, about -80 dBFS
    return np.clip(np.round(clip * 32767), -32768, 32767).astype(np.int16)


# --------------------------------------------------------------------------- noise


def _normalize(x: np.ndarray, rms_db: float) -> np.ndarray:
    x = x - x.mean()
    rms = float(np.sqrt(np.mean(x**2))) or 1.0
    y = x * (10 ** (rms_db / 20) / rms)
    return np.clip(y, -0.99, 0.99)


def _colored(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.normal(size=n))
    f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    f[0] = f[1]
    spectrum *= np.maximum(f, 10.0) ** (-exponent / 2)  # flatten below 10 Hz (no DC drift)
    return np.fft.irfft(spectrum, n)


def make_noise(kind: str, seconds: float, seed: int, speakers: list[Speaker] | None = None,
               words: list[str] | None = None, espeak: Espeak | None = None) -> np.ndarray:
    """A long generated noise as int16 at 16 kHz: white, pink, brown, hum_50hz,
    hum_60hz, fan or babble (overlapping synthetic speech of `speakers`)."""
    n = int(seconds * SAMPLE_RATE)
    rng = np.random.default_rng([seed, 2, _stable_int(kind)])
    t = np.arange(n) / SAMPLE_RATE
    if kind == "white":
        x = _normalize(rng.normal(size=n), -16)
    elif kind == "pink":
        x = _normalize(_colored(rng, n, 1.0), -16)
    elif kind == "brown":
        x = _normalize(_colored(rng, n, 2.0), -14)
    elif kind in ("hum_50hz", "hum_60hz"):
        f0 = 50.0 if kind == "hum_50hz" else 60.0
        x = np.zeros(n)
        for h in range(1, 16):
            amp = rng.uniform(0.3, 1.0) / h ** (0.8 if h % 2 else 1.4)  # odd harmonics stronger
            drift = 1 + 0.002 * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t)
            x += amp * np.sin(2 * np.pi * f0 * h * t * drift + rng.uniform(0, 2 * np.pi))
        x += 0.02 * _colored(rng, n, 1.0) / np.std(_colored(rng, 4096, 1.0))
        x = _normalize(x, -18)
    elif kind == "fan":
        base = _colored(rng, n, 1.5)
        blade = rng.uniform(18, 35)
        mod = 1 + 0.3 * np.sin(2 * np.pi * blade * t) + 0.1 * np.sin(2 * np.pi * 0.3 * t)
        x = base * mod
        x += 0.3 * np.std(x) * np.sin(2 * np.pi * blade * 4 * t)
        x = _normalize(x, -18)
    elif kind == "babble":
        if not speakers or not words:
            raise ValueError("babble noise needs speakers and words")
        espeak = espeak or Espeak.get()
        vocabulary = list(words) + [
            "the", "and", "we", "could", "maybe", "later", "today", "really", "think",
            "about", "that", "people", "there", "because", "where", "is", "it", "going",
        ]
        x = np.zeros(n)
        for _stream in range(6):
            pos = int(rng.integers(0, SAMPLE_RATE))
            while pos < n:
                spk = speakers[int(rng.integers(len(speakers)))]
                phrase = " ".join(rng.choice(vocabulary, size=int(rng.integers(3, 9))))
                y = speak(phrase, spk, rng, 10 * SAMPLE_RATE, espeak)
                if len(y):
                    y = y / (np.max(np.abs(y)) + 1e-9) * 10 ** (rng.uniform(-12, 0) / 20)
                    end = min(n, pos + len(y))
                    x[pos:end] += y[: end - pos]
                    pos += len(y)
                pos += int(rng.integers(SAMPLE_RATE // 20, SAMPLE_RATE // 2))
        x = _normalize(x, -20)
    else:
        raise ValueError(f"unknown noise kind '{kind}': one of {', '.join(NOISE_KINDS)}")
    x = x + rng.triangular(-1.0, 0.0, 1.0, n) * 2.0 / 32768
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def write_pcm16(path: Path, samples: np.ndarray) -> None:
    """Writes int16 samples at SAMPLE_RATE as a 16-bit WAV file (exactly these values)."""
    write_wav(path, samples.astype(np.float32) / 32768.0, SAMPLE_RATE)


def copy_noise_dir(noise_dir: str | os.PathLike, dest: Path) -> list[str]:
    """Copies the user's noise WAVs into `dest`, converting them to 16 kHz mono 16-bit."""
    src = Path(noise_dir)
    if not src.is_dir():
        raise ValueError(f"--noise_dir {src} does not exist or is not a folder")
    files = sorted(p for p in src.iterdir() if p.suffix.lower() == ".wav" and p.is_file())
    if not files:
        raise ValueError(f"--noise_dir {src} holds no .wav files")
    copied = []
    for p in files:
        info = wav_info(p)
        target = dest / p.name
        if info.is_pcm16_mono and info.sample_rate == SAMPLE_RATE:
            shutil.copyfile(p, target)
        else:
            write_wav(target, read_wav_at(p, SAMPLE_RATE), SAMPLE_RATE)
        if wav_info(target).frames < CLIP_SAMPLES:
            raise ValueError(f"{p}: noise file is shorter than one second")
        copied.append(p.name)
    return copied


# --------------------------------------------------------------------------- the dataset


def parse_words(words: str | Iterable[str] | None) -> list[str]:
    """Comma list (or list) of words; `speech_commands` expands to the dataset's 30."""
    if words is None:
        return list(SPEECH_COMMANDS_WORDS)
    items = words.split(",") if isinstance(words, str) else list(words)
    out: list[str] = []
    for w in items:
        w = " ".join(w.strip().lower().split())
        if not w:
            continue
        for x in SPEECH_COMMANDS_WORDS if w == "speech_commands" else [w]:
            if x not in out:
                out.append(x)
    if not out:
        raise ValueError("--words is empty")
    for w in out:
        if w.startswith("_") or "/" in w or "\\" in w or w in (".", ".."):
            raise ValueError(f"--words: '{w}' cannot be a folder name")
    return out


def word_folder(word: str) -> str:
    return word.replace(" ", "_")


def _run_task(task: tuple) -> int:
    """One unit of work in a fresh worker process: ("clips", speakers, seed, out, [(word,
    k)...], variety) or ("noise", speakers, seed, out, ([kind...], seconds, words), _)."""
    what, speakers, seed, out, payload, variety = task
    espeak = Espeak.get()
    try:
        if what == "clips":
            for word, k in payload:
                speaker = speakers[k % len(speakers)]
                rep = k // len(speakers)
                clip = make_clip(word, speaker, rep, seed, espeak, variety)
                path = Path(out) / word_folder(word) / f"{speaker.id}_nohash_{rep}.wav"
                write_pcm16(path, clip)
            return len(payload)
        kinds, seconds, words = payload
        for kind in kinds:
            noise = make_noise(kind, seconds, seed, speakers, words, espeak)
            write_pcm16(Path(out) / BACKGROUND_NOISE_DIR_NAME / f"{kind}.wav", noise)
        return len(kinds)
    finally:
        # A worker ends without running exit handlers: end its Festival process here.
        if Festival._instance is not None:
            Festival._instance.close()


def make_dataset(
    out: str | os.PathLike,
    words: str | Iterable[str] | None = None,
    clips_per_word: int = 500,
    speakers: int = 250,
    seed: int = 0,
    noise_dir: str | os.PathLike | None = None,
    noise_seconds: float = 60.0,
    noise_kinds: Iterable[str] = NOISE_KINDS,
    jobs: int = 2,
    overwrite: bool = False,
    progress: bool = True,
    variety: str = "standard",
    voices: str | Iterable[str] | None = None,
) -> dict:
    """Writes a synthetic Speech Commands layout folder at `out`; returns its manifest.

    Clip k of a word is spoken by speaker k mod `speakers`, repetition k div `speakers`.
    The manifest (also written as kws_make_dataset.json) lists the speakers.
    `variety` is one of VARIETIES ("wide": wider voices and intonation, see there);
    `voices` picks and weights the English accents (see parse_voices; None: all once).
    """
    out = Path(out)
    word_list = parse_words(words)
    if clips_per_word <= 0:
        raise ValueError(f"--clips_per_word must be positive, got {clips_per_word}")
    if jobs <= 0:
        raise ValueError(f"--jobs must be positive, got {jobs}")
    _check_variety(variety)
    if noise_seconds < 1:
        raise ValueError(f"--noise_seconds must be at least 1, got {noise_seconds}")
    kinds = list(noise_kinds)
    for k in kinds:
        if k not in NOISE_KINDS:
            raise ValueError(f"unknown noise kind '{k}': one of {', '.join(NOISE_KINDS)}")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"--out {out} exists and is not empty (pass --overwrite to write into it)")
    espeak = Espeak.get()
    speaker_list = make_speakers(speakers, seed, espeak, variety, voices)
    for w in word_list:
        (out / word_folder(w)).mkdir(parents=True, exist_ok=True)
    noise_out = out / BACKGROUND_NOISE_DIR_NAME
    noise_out.mkdir(parents=True, exist_ok=True)

    # Speaker-major order: consecutive tasks share a voice (switching voices is costly).
    tasks = [(w, k) for k in range(clips_per_word) for w in word_list]
    chunk = 100
    units = [("clips", speaker_list, seed, str(out), tasks[i : i + chunk], variety)
             for i in range(0, len(tasks), chunk)]
    # Babble (the slowest noise, made of speech) first, the other noises in one unit.
    groups = [[k] for k in kinds if k == "babble"] + [[k for k in kinds if k != "babble"]]
    units = [("noise", speaker_list, seed, str(out), (g, noise_seconds, word_list), variety)
             for g in groups if g] + units
    bar = None
    if progress:
        bar = tqdm(total=len(tasks) + len(kinds), unit="clip", desc=f"kws make-dataset {out}")
    # espeak-ng carries state from one utterance to the next (even across re-initialisation),
    # so each unit of work runs in a fresh process forked from a pristine server: the bytes
    # then depend only on the seed, not on --jobs or scheduling.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["kws.train.make_dataset", "soxr"])
    with ctx.Pool(min(jobs, len(units)), maxtasksperchild=1) as pool:
        for done in pool.imap_unordered(_run_task, units):
            if bar:
                bar.update(done)
    if bar:
        bar.close()
    copied = copy_noise_dir(noise_dir, noise_out) if noise_dir else []
    manifest = {
        "tool": "kws make-dataset",
        "seed": seed,
        "words": word_list,
        "clips_per_word": clips_per_word,
        "variety": variety,
        "voices": parse_voices(voices, espeak),
        "sample_rate": SAMPLE_RATE,
        "noise": [f"{k}.wav" for k in kinds] + copied,
        "speakers": [{"id": s.id, **asdict(s)} for s in speaker_list],
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
