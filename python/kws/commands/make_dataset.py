"""`kws make-dataset`: write a synthetic speech dataset (Speech Commands layout) with espeak-ng."""

from __future__ import annotations

import os
import sys

from kws.commands.flags import Parser
from kws.train import make_dataset as md


def main(argv: list[str]) -> int:
    p = Parser(
        prog="kws make-dataset",
        description="Writes <out>/<word>/<speaker>_nohash_<n>.wav clips (16 kHz mono 16-bit, "
        "1 s) spoken by many synthetic English speakers, plus generated noises in "
        "<out>/_background_noise_/. Deterministic for a given --seed.",
    )
    p.add_argument("--out", required=True, help="folder to write (must be empty or new)")
    p.add_argument(
        "--words",
        default="speech_commands",
        help="comma-separated words; 'speech_commands' stands for the dataset's 30 words "
        "(yes..go, zero..nine, bed, bird, ...), e.g. 'speech_commands,hey computer'",
    )
    p.add_argument("--clips_per_word", type=int, default=500, help="clips for each word")
    p.add_argument("--speakers", type=int, default=250,
                   help="distinct speakers (voice, variant, rate, pitch, range); a speaker "
                   "says each word clips_per_word/speakers times")
    p.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    p.add_argument("--variety", default="standard", choices=md.VARIETIES,
                   help="voice variety: standard, or wide (wider rate/pitch/range per "
                   "speaker, more jitter between repetitions, random clause intonation)")
    p.add_argument("--voices", default="",
                   help="voices to use, comma-separated: espeak-ng English accents (gmw/ "
                   "optional), 'espeak' for all 8 of them, flite voices (flite/slt, flite/rms, "
                   "flite/awb, flite/kal16; needs the flite program) or 'flite' for all four, "
                   "Festival voices (festival/kal, festival/slt_hts; need the festival "
                   "program and its voice packages) or 'festival' for those installed; "
                   "repeat one to weight it, e.g. en-US,en-US,en-GB-x-rp (default: "
                   f"{md.DEFAULT_VOICES}, half the speakers on flite)")
    p.add_argument("--noise_dir", default="", help="a folder of your own noise WAVs to copy in")
    p.add_argument("--noise_seconds", type=float, default=60.0,
                   help="length of each generated noise file")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        manifest = md.make_dataset(
            args.out,
            words=args.words,
            clips_per_word=args.clips_per_word,
            speakers=args.speakers,
            seed=args.seed,
            noise_dir=args.noise_dir or None,
            noise_seconds=args.noise_seconds,
            jobs=args.jobs,
            overwrite=args.overwrite,
            progress=not args.quiet,
            variety=args.variety,
            voices=args.voices or None,
        )
    except (ValueError, RuntimeError) as e:  # bad flags; flite or espeak-ng unusable
        print(f"kws make-dataset: error: {e}", file=sys.stderr)
        return 2
    n = len(manifest["words"]) * manifest["clips_per_word"]
    print(
        f"wrote {n} clips ({len(manifest['words'])} words x {manifest['clips_per_word']}) by "
        f"{len(manifest['speakers'])} speakers and {len(manifest['noise'])} noise files to "
        f"{args.out}"
    )
    return 0
