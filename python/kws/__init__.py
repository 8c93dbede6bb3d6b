"""kws: keyword spotting. Train small models in TensorFlow, run them fast in native code.

This package is the runtime: it needs numpy and the native core (``kws._core``) only.
Training (``kws.train``) needs the ``train`` extra; ``kws.commands`` holds the ``kws``
command line.
"""

from __future__ import annotations

__version__ = "0.1.0"

from kws._core import (
    Detection,
    MfccFrontend,
    MfccOptions,
    MfccStream,
    Model,
    RecognizeCommands,
    RecognizeCommandsOptions,
    RecognizeResult,
    Stream,
    StreamEvaluation,
    StreamingAccuracy,
    StreamingEvaluator,
    StreamingOptions,
    StreamingReport,
    WavInfo,
    build_info,
    generate_stream,
    mfcc,
)
from kws.wav_io import read_wav, wav_info, write_wav

__all__ = [
    "__version__",
    "build_info",
    "Model",
    "Stream",
    "RecognizeCommands",
    "RecognizeCommandsOptions",
    "RecognizeResult",
    "StreamingEvaluator",
    "StreamingOptions",
    "StreamingReport",
    "StreamEvaluation",
    "StreamingAccuracy",
    "Detection",
    "generate_stream",
    "mfcc",
    "MfccOptions",
    "MfccFrontend",
    "MfccStream",
    "read_wav",
    "write_wav",
    "wav_info",
    "WavInfo",
]
