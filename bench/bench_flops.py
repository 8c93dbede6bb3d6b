"""Parameters and FLOPs of every architecture, as the native runtime counts them.

For each architecture (random weights; the counts do not depend on them): trainable
parameters of the Keras model, parameters the native model holds, FLOPs per 1 s window
(model only, front end excluded: multiply-adds x 2 plus one per element-wise op) and the
FLOPs the cached-state stream really spends per 30 ms and 20 ms hop (mean over the hops
of a 3 s signal after the first window: SAME-padded models recompute the rows that touch
a window's edges, strided ones vary with the hop's phase). FLOP counts do not depend on
the machine. Also the memory whole-clip inference holds for layer outputs
(`Model.whole_clip_memory_bytes`: outputs never needed at the same time share it).

Usage: python bench/bench_flops.py [--arch a,b] [--write]
`--write` replaces the table of the "Parameters and FLOPs" section of BENCHMARKS.md and the
paragraph above it (the notes below the table stay).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Parameters and FLOPs"


def measure(arch: str, workdir: Path, preprocess: str = "mfcc") -> dict:
    import kws
    from kws.train import export, models
    from kws.train.settings import ModelSettings

    settings = ModelSettings(preprocess=preprocess)
    if arch.startswith("speech_embedding"):  # its own input: the 98 x 257 power spectrogram
        from kws.train.config import EMBEDDING_INPUT

        settings = ModelSettings(**EMBEDDING_INPUT)
    labels = [f"label{i}" for i in range(settings.label_count)]
    model = models.build_model(arch, settings, training_dropout=False)
    models.randomize_weights(model, seed=0)
    path = export.write_model_kws(workdir / f"{arch}.kws", model, settings, arch, labels)
    native = kws.Model.load(str(path))
    signal = np.random.default_rng(0).normal(0, 0.1, 16000 * 3).astype(np.float32)
    r = {"arch": arch + ("" if preprocess == "mfcc" else f" ({preprocess})"),
         "params": sum(int(np.prod(w.shape)) for w in model.trainable_weights),
         "window": native.flops_per_window, "memory": native.whole_clip_memory_bytes}
    for hop_ms in (30, 20):
        hop = hop_ms * 16
        stream = native.create_stream(hop_samples=hop)
        stream.accept_waveform(signal[:16000])
        flops = []
        for start in range(16000, len(signal) - hop + 1, hop):
            stream.accept_waveform(signal[start:start + hop])
            flops.append(stream.last_decode_flops)
        r[f"hop{hop_ms}"] = float(np.mean(flops))
    return r


def table(rows: list[dict]) -> str:
    out = ["| architecture | trainable parameters | MFLOPs / window | MFLOPs / cached 30 ms hop "
           "| MFLOPs / cached 20 ms hop | 30 ms hop / window | whole-clip layer outputs KiB |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['arch']} | {r['params']:,} | {r['window'] / 1e6:.2f} | "
                   f"{r['hop30'] / 1e6:.3f} | {r['hop20'] / 1e6:.3f} | "
                   f"{r['hop30'] / r['window']:.3f} | {r['memory'] / 1024:,.0f} |")
    return "\n".join(out)


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if any((ROOT / "python" / "kws").glob("_core*")):  # else the installed kws
        sys.path.insert(0, str(ROOT / "python"))
    from kws.train.models import ARCHITECTURES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default=",".join(ARCHITECTURES))
    ap.add_argument("--write", action="store_true", help="replace the BENCHMARKS.md section")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.arch.split(","):
            rows.append(measure(arch, Path(tmp)))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
        # log-mel input: bc_resnet's default, and tc_resnet's measured alternative
        for arch in ("bc_resnet_1", "bc_resnet_1_stream", "bc_resnet_3", "tc_resnet"):
            if arch in args.arch.split(","):
                rows.append(measure(arch, Path(tmp), preprocess="log_mel"))
    text = table(rows)
    print(text)
    if args.write:
        body = (f"{SECTION}\n\n`python bench/bench_flops.py --write` (counts from the native "
                "runtime: `Model.flops_per_window` and the cached stream's "
                "`last_decode_flops`, averaged over the hops of a 3 s signal; 98 x 40 "
                "features, 12 labels, front end excluded; machine-independent). A "
                "dilated depthwise convolution counts its real taps (the runtime runs it "
                "as a kernel with zero rows between them). The log_mel rows add the fixed "
                "40 x 40 inverse DCT in front of the model.\n\n" + text + "\n")
        path = ROOT / "BENCHMARKS.md"
        doc = path.read_text()
        if SECTION in doc:
            # From the heading to the end of the section's first table; the notes after it
            # stay.
            start = doc.index(SECTION)
            table_at = doc.find("\n| ", start)
            end = doc.find("\n\n", table_at) if table_at >= 0 else -1
            nxt = doc.find("\n## ", start + len(SECTION))
            if table_at < 0 or end < 0 or (0 <= nxt < table_at):
                end = nxt if nxt >= 0 else len(doc)
            doc = doc[:start] + body + doc[end + 1:]
        else:
            doc = doc.rstrip("\n") + "\n\n" + body
        path.write_text(doc)


if __name__ == "__main__":
    main()
