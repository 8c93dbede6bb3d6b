"""`kws download`: fetch and safely extract a dataset archive (Speech Commands v0.02 by default)."""

from __future__ import annotations

import sys

from kws import download as dl
from kws.commands.flags import Parser


def main(argv: list[str]) -> int:
    p = Parser(prog="kws download", description=dl.__doc__.split("\n\n")[0])
    p.add_argument("--data_url", default=dl.DEFAULT_DATA_URL,
                   help="archive URL (http, https or file); empty means no download")
    p.add_argument("--test_set", action="store_true",
                   help=f"the official test set instead ({dl.TEST_SET_URL})")
    p.add_argument("--data_dir", required=True, help="folder to extract into")
    p.add_argument("--checksum", default="", help="expected sha256 of the archive")
    p.add_argument("--keep_archive", type=int, default=1, help="1 keeps the .tar.gz afterwards")
    p.add_argument("--keep_layout", action="store_true",
                   help="keep the test set's _unknown_/<word>_<clip>.wav names (by default "
                        "they move to <word>/<clip>.wav, the full dataset's layout, so that "
                        "the partition hash puts them in testing)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.test_set:
        args.data_url = dl.TEST_SET_URL
    if not args.data_url:
        print(f"--data_url is empty: nothing to download; using {args.data_dir} as it is")
        return 0
    already = dl.is_extracted(args.data_url, args.data_dir)
    try:
        dl.maybe_download_and_extract(args.data_url, args.data_dir,
                                      checksum=args.checksum or None,
                                      keep_archive=bool(args.keep_archive),
                                      unfold=not args.keep_layout,
                                      progress=not args.quiet)
    except (ValueError, dl.DownloadError) as e:
        print(f"kws download: error: {e}", file=sys.stderr)
        return 2
    print(f"{args.data_dir}: {'already there' if already else 'downloaded and extracted'} "
          f"({args.data_url})")
    return 0
