"""kws: keyword spotting. Train small models in TensorFlow, run them fast in native code.

The native runtime (``kws._core``) needs numpy only; training needs the ``train`` extra.
"""

from __future__ import annotations

__version__ = "0.1.0"

from kws import _core  # noqa: F401  (native core; built by `pip install .`)
from kws._core import build_info  # noqa: E402  (kernel set in use, sets compiled in)

__all__ = ["__version__", "build_info"]

# Streaming decoder (stream helper).
from kws._core import RecognizeCommands, RecognizeResult  # noqa: E402

__all__ += ["RecognizeCommands", "RecognizeResult"]

# WAV I/O (wav helper).
from kws.wav_io import read_wav, write_wav  # noqa: E402

__all__ += ["read_wav", "write_wav"]

# Native model runtime (runtime helper).
from kws._core import Model, Stream  # noqa: E402

__all__ += ["Model", "Stream"]

# MFCC front end (mfcc helper).
from kws.mfcc_frontend import MfccFrontend, MfccOptions, MfccStream, mfcc  # noqa: E402

__all__ += ["mfcc", "MfccOptions", "MfccFrontend", "MfccStream"]
