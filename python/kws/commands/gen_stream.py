"""`kws gen-stream`: the classic synthetic streaming test. Mixes words from the testing
partition of a dataset (30% unknown words by default) over background noise into one long
WAV and writes the ground truth (`word, time_ms` lines) beside it."""

from __future__ import annotations

from pathlib import Path

from kws import _core, download
from kws.commands.flags import Parser
from kws.labels import DEFAULT_WANTED_WORDS, parse_wanted_words


def build_parser() -> Parser:
    p = Parser(prog="kws gen-stream", description=__doc__)
    p.add_argument("--data_dir", required=True, help="dataset folder (one sub-folder per word)")
    p.add_argument("--output_wav", "--output_audio_file", dest="output_wav", required=True,
                   help="the long WAV to write")
    p.add_argument("--output_ground_truth", "--output_labels_file", dest="output_ground_truth",
                   default=None, help="ground-truth file (default: the WAV's name + .txt)")
    p.add_argument("--wanted_words", default=DEFAULT_WANTED_WORDS,
                   help="comma list of command words; other folders give the unknown words")
    p.add_argument("--background_dir", default="",
                   help="noise WAVs (default: <data_dir>/_background_noise_)")
    p.add_argument("--duration_seconds", "--test_duration_seconds", dest="duration_seconds",
                   type=float, default=600.0, help="length of the stream")
    p.add_argument("--clip_duration_ms", type=int, default=1000)
    p.add_argument("--word_gap_ms", type=int, default=2000,
                   help="a word every clip + gap, at a random offset in the gap")
    p.add_argument("--unknown_percentage", type=float, default=30.0,
                   help="share of words that are not wanted words (100: other words only; "
                        "then the folder needs no wanted-word clips)")
    p.add_argument("--word_volume", type=float, default=1.0)
    p.add_argument("--background_volume", type=float, default=0.1,
                   help="each noise segment's volume is uniform(0, this); 0: no noise")
    p.add_argument("--validation_percentage", type=float, default=10.0)
    p.add_argument("--testing_percentage", type=float, default=10.0)
    p.add_argument("--sample_rate", type=int, default=16000)
    p.add_argument("--seed", type=int, default=0, help="same seed, same stream")
    p.add_argument("--data_url", default="",
                   help="download and extract this archive into --data_dir when that folder "
                        "does not exist (kws download; e.g. the test set, "
                        "kws.download.TEST_SET_URL)")
    for name, kind, default in (("background_frequency", float, 0.8),
                                ("silence_percentage", float, 10.0),
                                ("time_shift_ms", float, 100.0),
                                ("window_size_ms", float, 30.0),
                                ("window_stride_ms", float, 10.0),
                                ("feature_bin_count", int, 40)):
        p.add_argument(f"--{name}", type=kind, default=default,
                       help="accepted for the classic flags; the stream does not depend on it")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    # The default ground truth sits beside the WAV: its file name with .txt in place of
    # the extension (a dot in a folder name is not an extension).
    ground_truth = args.output_ground_truth or str(Path(args.output_wav).with_suffix(".txt"))
    if Path(ground_truth).resolve() == Path(args.output_wav).resolve():
        raise ValueError(f"--output_wav {args.output_wav} and the ground truth would be the same "
                         "file: give --output_ground_truth")
    if args.data_url and not Path(args.data_dir).is_dir():
        try:
            download.maybe_download_and_extract(args.data_url, args.data_dir)
        except download.DownloadError as e:
            raise ValueError(f"--data_url {args.data_url}: {e}") from None
    result = _core.generate_stream(
        args.data_dir,
        output_wav=args.output_wav,
        output_ground_truth=ground_truth,
        wanted_words=parse_wanted_words(args.wanted_words),
        background_dir=args.background_dir,
        duration_seconds=args.duration_seconds,
        clip_duration_ms=args.clip_duration_ms,
        word_gap_ms=args.word_gap_ms,
        unknown_percentage=args.unknown_percentage,
        word_volume=args.word_volume,
        background_volume=args.background_volume,
        validation_percentage=args.validation_percentage,
        testing_percentage=args.testing_percentage,
        sample_rate=args.sample_rate,
        seed=args.seed,
    )
    words = result["ground_truth"]
    unknown = sum(1 for w, _ in words if w == "_unknown_")
    print(f"wrote {args.output_wav}: {result['num_samples'] / result['sample_rate']:.1f} s, "
          f"{len(words)} words ({unknown} unknown) from {result['testing_clips']} testing clips")
    print(f"wrote {ground_truth}")
    return 0
