"""kws: keyword spotting. Train small models in TensorFlow, run them fast in native code.

This package is the runtime: it needs numpy and the native core (``kws._core``) only.
Training (``kws.train``) needs the ``train`` extra; ``kws.commands`` holds the ``kws``
command line.
"""

from __future__ import annotations

__version__ = "0.1.0"

from kws import bundled
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
    evaluate_window_scores,
    generate_stream,
    mfcc,
)
from kws.wav_io import read_wav, wav_info, write_wav

# Model.load takes a bundled model's name (`kws models`) or a model.kws path.
Model.load = staticmethod(bundled.load)

__all__ = [
    "__version__",
    "build_info",
    "bundled",
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
    "evaluate_window_scores",
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
