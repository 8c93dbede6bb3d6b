"""Log-mel features from the MFCC front end, without a second front end.

The MFCC front end computes, per frame, the log mel filterbank `m` (log of the channel
energies, floored at 1e-12) and then its DCT-II: c[i] = sqrt(2 / N) * sum_j m[j] *
cos(pi * i * (j + 0.5) / N) for i < K, with N mel channels and K coefficients. When
K == N the transform is square and invertible, so m = inverse(D) @ c exactly (up to
float rounding). `--preprocess log_mel` trains on those N log-mel bins; the native
runtime computes the same 40 MFCC coefficients and applies the inverse as the model's
first (fixed) op.
"""

from __future__ import annotations

import numpy as np


def dct_matrix(channels: int, coefficients: int) -> np.ndarray:
    """D (coefficients, channels) in float64: mfcc = D @ log_mel."""
    i = np.arange(coefficients, dtype=np.float64)[:, None]
    j = np.arange(channels, dtype=np.float64)[None, :]
    return np.sqrt(2.0 / channels) * np.cos(np.pi * i * (j + 0.5) / channels)


def mfcc_to_log_mel_matrix(channels: int) -> np.ndarray:
    """M (channels, channels) float64 with log_mel = mfcc @ M (row vectors), for an MFCC
    front end with as many coefficients as mel channels."""
    if channels <= 0:
        raise ValueError(f"log_mel needs a positive channel count, got {channels}")
    return np.linalg.inv(dct_matrix(channels, channels)).T
