"""Runs models with an installed kws and prints the scores as JSON (tests/test_wheel.py).

Usage: python wheel_probe.py REQUEST.json
REQUEST: {"models": {name: model.kws path}, "wavs": [WAV paths], "hop_ms": 20,
          "stream_models": [names]}
For each model: whole-clip scores of the first WAV; for those in stream_models, also the
scores of a stream over all the WAVs back to back. Needs numpy and kws only; each stage is written to stderr so that a
crash (an illegal instruction under an emulated CPU) shows how far it got.
"""

from __future__ import annotations

import json
import sys
import time

START = time.monotonic()


def stage(name: str) -> None:
    print(f"[probe] {time.monotonic() - START:7.2f} s {name}", file=sys.stderr, flush=True)


def main() -> None:
    with open(sys.argv[1]) as f:
        request = json.load(f)
    stage("python started")
    import numpy as np

    np.dot(np.ones((64, 64)), np.ones((64, 64)))
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as cpu_features
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_features__ as cpu_features
    stage("numpy ok")
    import kws

    stage("kws imported")
    info = kws.build_info()
    clips = []
    for path in request["wavs"]:
        samples, rate = kws.read_wav(path)
        if rate != 16000:
            raise ValueError(f"{path}: expected 16 kHz, got {rate}")
        clips.append(np.pad(samples, (0, max(0, 16000 - len(samples))))[:16000])
    audio = np.concatenate(clips).astype(np.float32)
    stage("wavs read")
    results = {}
    for name, path in sorted(request["models"].items()):
        model = kws.Model.load(path)
        results[name] = {"predict": model.predict(audio[:model.clip_samples]).tolist()}
        if name in request["stream_models"]:
            stream = model.create_stream(hop_ms=request["hop_ms"])
            windows = stream.accept_waveform(audio)
            results[name]["stream_starts"] = [int(start) for start, _ in windows]
            results[name]["stream"] = [scores.tolist() for _, scores in windows]
        stage(f"{name} scored")
    print(json.dumps({"kws_file": kws.__file__, "prefix": sys.prefix, "build_info": info,
                      "cpu_features": cpu_features, "results": results}))


if __name__ == "__main__":
    main()
