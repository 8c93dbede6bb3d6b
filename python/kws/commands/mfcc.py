"""`kws mfcc`: print the MFCC features of a WAV file (a quick look at the front end)."""

from __future__ import annotations

import numpy as np

import kws
from kws.commands.flags import Parser, add_option_flags


def main(argv: list[str]) -> int:
    p = Parser(prog="kws mfcc", description=__doc__)
    p.add_argument("wav", help="a mono WAV file")
    add_option_flags(p, kws.MfccOptions(), {"window_size_ms": "window_size_ms",
                                            "window_stride_ms": "window_stride_ms",
                                            "dct_coefficient_count": "feature_bin_count"})
    p.add_argument("--frames", type=int, default=5, help="how many frames to print")
    args = p.parse_args(argv)

    samples, rate = kws.read_wav(args.wav)
    feats = kws.mfcc(
        samples,
        sample_rate=rate,
        window_size_ms=args.window_size_ms,
        window_stride_ms=args.window_stride_ms,
        feature_bin_count=args.feature_bin_count,
    )
    print(f"{args.wav}: {len(samples)} samples at {rate} Hz -> {feats.shape[0]} frames "
          f"x {feats.shape[1]} coefficients")
    with np.printoptions(precision=3, suppress=True, linewidth=120):
        for i in range(min(args.frames, feats.shape[0])):
            print(f"frame {i}: {feats[i, :8]} ...")
    return 0
