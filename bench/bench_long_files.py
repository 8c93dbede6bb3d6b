"""Long-file memory benchmark: peak resident set (VmHWM) of `kws gen-stream`,
`kws stream-eval` and `kws listen --wav` on generated streams of increasing length (by
default 1 h, 6 h and 24 h; a 24 h 16-bit WAV is 2.76 GB on disk), each command in a fresh
process. Memory must be flat in the length: the commands read, score and write in
blocks. Writes the "Long files in bounded memory" section of RELIABILITY.md when asked.

    python bench/bench_long_files.py --data_dir ../shared/data/speech_commands_sample \\
        [--hours 1,6,24] [--listen_hours 1] [--write]

`listen --wav` feeds the file through the microphone path in Python (about a minute of
CPU per hour of audio), so it runs on the shorter lengths only (--listen_hours). Wall
times are printed as indications; they are not the point here.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

_PEAK = ("import re, sys\nfrom kws.cli import main\nrc = main(sys.argv[1:])\n"
         "hwm = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)\n"
         "print('peak', rc, hwm)")


def peak_kib(args: list[str]) -> tuple[int, float]:
    """Runs one `kws` command in a fresh interpreter; returns (VmHWM KiB, seconds)."""
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, text=True)
    seconds = time.monotonic() - start
    line = [x for x in r.stdout.splitlines() if x.startswith("peak ")]
    if not line or line[0].split()[1] != "0":
        raise SystemExit(f"kws {' '.join(args[:1])} failed:\n{r.stderr[-3000:]}")
    return int(line[0].split()[2]), seconds


def make_model(out: Path) -> Path:
    from kws.labels import parse_wanted_words, prepare_words_list
    from kws.train import export, models
    from kws.train.settings import ModelSettings

    labels = prepare_words_list(parse_wanted_words("yes,no,up,down,left,right,on,off,stop,go"))
    settings = ModelSettings(label_count=len(labels))
    model = models.build_model("tiny_conv", settings, training_dropout=False)
    rng = np.random.default_rng(0)
    for w in model.weights:
        w.assign(rng.normal(0, 0.05, tuple(w.shape)).astype(np.float32))
    return export.write_model_kws(out / "tiny_conv.kws", model, settings, "tiny_conv", labels)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data_dir", required=True)
    ap.add_argument("--hours", default="1,6,24")
    ap.add_argument("--listen_hours", default="1")
    ap.add_argument("--work_dir", default=None, help="where the long WAVs go (default: a "
                    "temporary folder; needs 2.8 GB per 24 h)")
    ap.add_argument("--write", action="store_true", help="update RELIABILITY.md")
    args = ap.parse_args(argv)
    hours = [float(h) for h in args.hours.split(",")]
    listen_hours = {float(h) for h in args.listen_hours.split(",") if h}
    rows = []
    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        work = Path(tmp)
        model = make_model(work)
        for h in hours:
            wav, truth = work / f"s{h:g}h.wav", work / f"s{h:g}h.txt"
            gen = peak_kib(["gen-stream", "--data_dir", args.data_dir, "--output_wav", str(wav),
                            "--duration_seconds", str(h * 3600)])
            ev = peak_kib(["stream-eval", "--wav", str(wav), "--ground_truth", str(truth),
                           "--model", str(model), "--threads", "1"])
            lis = (peak_kib(["listen", "--model", str(model), "--wav", str(wav),
                             "--block_ms", "1000"]) if h in listen_hours else None)
            size = wav.stat().st_size
            rows.append((h, size, gen, ev, lis))
            print(f"{h:g} h ({size / 1e9:.2f} GB WAV): gen-stream {gen[0] / 1024:.1f} MiB "
                  f"({gen[1]:.0f} s), stream-eval {ev[0] / 1024:.1f} MiB ({ev[1]:.0f} s)"
                  + (f", listen --wav {lis[0] / 1024:.1f} MiB ({lis[1]:.0f} s)" if lis else ""),
                  flush=True)
            wav.unlink()
    if args.write:
        lines = ["| audio | WAV size | gen-stream peak | stream-eval peak | listen --wav peak |",
                 "|---|---|---|---|---|"]
        for h, size, gen, ev, lis in rows:
            lines.append(f"| {h:g} h | {size / 1e9:.2f} GB | {gen[0] / 1024:.1f} MiB | "
                         f"{ev[0] / 1024:.1f} MiB | "
                         + (f"{lis[0] / 1024:.1f} MiB |" if lis else "not run |"))
        table = "\n".join(lines)
        path = ROOT / "RELIABILITY.md"
        text = path.read_text()
        begin, end = "<!-- bench_long_files:begin -->", "<!-- bench_long_files:end -->"
        if begin not in text:
            raise SystemExit("RELIABILITY.md has no bench_long_files markers")
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end),
                      begin + "\n" + table + "\n" + end, text, flags=re.S)
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
