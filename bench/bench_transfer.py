"""How far a pretrained speech embedding carries kws's data: a measurement, not a recipe.

    python bench/bench_transfer.py --models DIR embed NAME --data_dir DIRS [--batches N] [--seed S]
    python bench/bench_transfer.py --models DIR head NAME [--seed S] [--hidden H --tag T]
    python bench/bench_transfer.py --models DIR stream NAME [--seed S] [--partition P] [--tag T]
    python bench/bench_transfer.py --models DIR combine NAME RUN [--seed S] [--tag T]
    python bench/bench_transfer.py --models DIR distill NAME --data_dir DIRS --teacher HEAD
        [--with_run RUN] [--weight W] [--recipe R] [--steps N] [--learning_rate L]
        [--init TRAIN_DIR] [--seed S]

DIR (--models) holds `melspectrogram.onnx` and `embedding_model.onnx`, the 32-bin log-mel front end
and the 96-dimensional speech embedding (76 mel frames in, one vector per 80 ms) that the
`openwakeword` 0.4.0 wheel on PyPI carries under openwakeword/resources/models
(`pip download --no-deps openwakeword==0.4.0`, then unzip those two files). The
embedding network was trained by its authors on a large body of real speech; kws's own
models learn from the synthetic set and the small real sample alone.

`--models kws:FLOOR` runs the same network in kws's own layers instead
(kws.train.speech_embedding, the weights of the pyopen-wakeword package) on kws's power
spectrogram, with the log-mel floored at 80 dB under the loudest value of each input
(FLOOR `clip`, the ONNX front end's rule), of each frame (`frame`), at a fixed value V
of the log-mel (`abs:V`, which a stream can apply; speech_embedding's own is `abs:4`)
or only at 1e-10 of 16-bit power (`none`).

`embed` draws N augmented training batches of 100 clips from DIRS (kws's own pipeline:
time shift, background noise, the `ism_spec` rooms) and embeds them, and embeds the
sample's validation, testing and [16, 20) partitions (12/4 split, as bench_accuracy);
a 1 s clip gives 3 embeddings (frames 0, 8 and 16 of its 97). `head` trains a small
classifier (288 -> 128 -> 12) on the training embeddings and reports accuracy on the
real partitions, appending a record to bench/out/transfer/results.jsonl. `stream` runs
the head every 80 ms (one new embedding) over bench_accuracy's 20-minute stream of the
validation, [16, 20) or testing voices and decodes it with kws's evaluator (the same
options and threshold sweep as `bench_accuracy.py stream`). `combine` averages the head's
probabilities with those of bench_accuracy's run RUN of the same seed (its model.kws),
on the clips and the streams. `distill` trains the recipe's model on the recipe's batches
with the teacher's probabilities as a second target (see cmd_distill). The real clips'
and the streams' embeddings are cached in bench/out/transfer: delete them after changing
DIR.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from bench_accuracy import (  # noqa: E402
    SAMPLE,
    SOURCE_TREE,
    USE_SOURCE,
    _export_native,
    _load,
    _run_dir,
    _runs,
    decode_stream,
    stream_wav,
)

if USE_SOURCE:
    sys.path.insert(0, str(SOURCE_TREE))
OUT = REPO / "bench" / "out" / "transfer"
WORDS = "yes,no,up,down,left,right,on,off,stop,go"
WINDOW, STEP = 76, 8  # mel frames per embedding and between embeddings
FFT, HOP = 512, 160  # the log-mel front end's frame length and hop (samples)
CLIP_FRAMES = (16000 - FFT) // HOP + 1  # 97 frames in a 1 s clip (no padding)
# Real partitions of the 12/4 split; "heldout" ([16, 20)) is held out only from runs
# trained on synthetic speech alone.
REAL = {"validation": "validation", "testing": "testing", "heldout": "training"}


class Embedder:
    tag = ""  # names its cached stream embeddings

    def __init__(self, models: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        paths = [models / "melspectrogram.onnx", models / "embedding_model.onnx"]
        for p in paths:
            if not p.is_file():
                raise SystemExit(f"{p}: missing (see this script's docstring)")
        self.mel, self.emb = (ort.InferenceSession(str(p), options) for p in paths)

    def log_mel(self, samples: np.ndarray) -> np.ndarray:
        """[n, samples] float in [-1, 1] -> [n, frames, 32] (25 ms frames every 10 ms)."""
        pcm = np.clip(samples * 32767.0, -32768, 32767).astype(np.float32)
        return self.mel.run(None, {"input": pcm})[0][:, 0] / 10.0 + 2.0

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """[n, 16000] float samples in [-1, 1] -> [n, windows, 96]."""
        return self.embed_mel(self.log_mel(samples))

    def embed_mel(self, mel: np.ndarray) -> np.ndarray:
        """[n, frames, 32] -> [n, windows, 96]: one embedding per STEP frames."""
        starts = range(0, mel.shape[1] - WINDOW + 1, STEP)
        windows = np.stack([mel[:, s:s + WINDOW] for s in starts], axis=1)
        n, w = windows.shape[:2]
        e = self.emb.run(None, {"input_1": windows.reshape(n * w, WINDOW, 32, 1)})[0]
        return e.reshape(n, w, -1)


class KwsEmbedder(Embedder):
    """The same network in kws's own layers (kws.train.speech_embedding, weights from the
    pyopen-wakeword package), on kws's power spectrogram; `floor` is how the log-mel is
    floored below: `clip` at 80 dB under the loudest value of each input (the ONNX front
    end's rule), `frame` under the loudest of each frame, `abs:V` at V (log-mel units: the
    sample's clips peak at 10-12.7), `none` at 1e-10 of 16-bit power only."""

    def __init__(self, floor: str):
        from kws.train import speech_embedding as se
        from kws.train.config import EMBEDDING_INPUT
        from kws.train.settings import ModelSettings

        self.fixed = None
        if floor.startswith("abs:"):
            try:
                self.fixed = float(floor[4:])
            except ValueError:
                raise SystemExit(f"--models kws:{floor}: abs:V needs a number V") from None
        elif floor not in ("clip", "frame", "none"):
            raise SystemExit(f"--models kws:{floor}: the floor is clip, frame, abs:V or none")
        self.floor, self.se, self.tag = floor, se, f"-kws-{floor}"
        self.settings = ModelSettings(**EMBEDDING_INPUT)
        self.mel_matrix = se.mel_matrix(se.model_dir())
        self.model = se.embedding_model()
        # Below every floor measured: each FLOOR says its own.
        self.log = se.LogFloor(se.LOG_SCALE, se.LOG_SHIFT, 1e-10 / 32768.0 ** 2)

    def log_mel(self, samples: np.ndarray) -> np.ndarray:
        from kws.train.features import tf_features

        settings = dataclasses.replace(self.settings,  # any length: 10 s stream pieces
                                       clip_duration_ms=samples.shape[1] * 1000 / 16000)
        power = tf_features(samples.astype(np.float32), settings).numpy()
        mel = self.log(power @ self.mel_matrix).numpy()
        if self.floor == "clip":
            mel = np.maximum(mel, mel.max(axis=(1, 2), keepdims=True) - 8.0)
        elif self.floor == "frame":
            mel = np.maximum(mel, mel.max(axis=2, keepdims=True) - 8.0)
        elif self.fixed is not None:
            mel = np.maximum(mel, self.fixed)
        return mel.astype(np.float32)

    def embed_mel(self, mel: np.ndarray) -> np.ndarray:
        return self.model.predict(mel, batch_size=100, verbose=0)


def make_embedder(models: str) -> Embedder:
    """--models DIR (the ONNX files) or kws:FLOOR (KwsEmbedder)."""
    return KwsEmbedder(models[4:]) if models.startswith("kws:") else Embedder(Path(models))


def _real_cache(models: str) -> Path:
    """The real partitions' embeddings for --models (one file per embedder)."""
    return OUT / ("real.npz" if not models.startswith("kws:") else f"real-{models[4:]}.npz")


def _embed_all(embed: Embedder, samples: np.ndarray, batch: int = 100) -> np.ndarray:
    return np.concatenate([embed(samples[i:i + batch]) for i in range(0, len(samples), batch)])


def cmd_embed(args) -> None:
    from kws.train.augment import make_hooks
    from kws.train.data import DatasetIndex
    from kws.train.pipeline import load_clip_samples, make_samples_dataset

    embed = make_embedder(args.models)
    OUT.mkdir(parents=True, exist_ok=True)
    real = _real_cache(args.models)
    if not real.is_file():
        index = _real_index()
        arrays = {}
        for key, partition in REAL.items():
            x, y = load_clip_samples(index, partition)
            arrays[f"{key}_x"], arrays[f"{key}_y"] = _embed_all(embed, x), y
            print(f"real {key}: {len(y)} clips")
        np.savez(real, **arrays)
    index = DatasetIndex(args.data_dir, WORDS, validation_percentage=12, testing_percentage=4,
                         folder_balance=args.folder_balance)
    samples_hook, _ = make_hooks("ism_spec", args.seed)
    data = make_samples_dataset(index, "training", 100, seed=args.seed,
                                samples_hook=samples_hook)
    xs, ys = [], []
    start = time.process_time()
    for i, (x, y) in enumerate(data.take(args.batches)):
        xs.append(embed(x.numpy()))
        ys.append(y.numpy())
        if (i + 1) % 100 == 0:
            print(f"{i + 1} batches, {time.process_time() - start:.0f} CPU-s", flush=True)
    np.savez(OUT / f"{args.name}-s{args.seed}.npz", x=np.concatenate(xs), y=np.concatenate(ys),
             cpu_seconds=time.process_time() - start, data_dir=args.data_dir)


def cmd_head(args) -> None:
    import tensorflow as tf

    train = np.load(OUT / f"{args.name}-s{args.seed}.npz")
    real = np.load(_real_cache(args.models))
    tf.keras.utils.set_random_seed(args.seed)
    x = train["x"].reshape(len(train["x"]), -1)
    model = tf.keras.Sequential([
        tf.keras.Input((x.shape[1],)),
        tf.keras.layers.Dense(args.hidden, activation="relu"),
        tf.keras.layers.Dropout(0.5),
        tf.keras.layers.Dense(12),
    ])
    model.compile(tf.keras.optimizers.Adam(1e-3),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    start = time.process_time()
    model.fit(x, train["y"], batch_size=100, epochs=args.epochs, verbose=0)
    fit_cpu = time.process_time() - start
    model.save(OUT / f"{args.name}{args.tag}-s{args.seed}.keras")
    record = {"name": args.name + args.tag, "seed": args.seed, "examples": len(x),
              "hidden": args.hidden,
              "embed_cpu_seconds": float(train["cpu_seconds"]), "data_dir": str(train["data_dir"]),
              "epochs": args.epochs, "head_cpu_seconds": round(fit_cpu, 1)}
    for key in REAL:
        rx = real[f"{key}_x"].reshape(len(real[f"{key}_x"]), -1)
        pred = model.predict(rx, verbose=0).argmax(1)
        record[key] = float((pred == real[f"{key}_y"]).mean())
    with open(OUT / "results.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    print({k: (round(v * 100, 1) if isinstance(v, float) and v <= 1 else v)
           for k, v in record.items()})


def _head_stream_scores(embed: Embedder, head, partition: str):
    """(window start times in ms, softmax scores, samples, duration in ms) of `head` run
    every STEP frames over `partition`'s stream."""
    import kws

    wav = stream_wav(partition)
    samples, rate = kws.read_wav(wav)
    cache = OUT / f"{partition}_stream_embeddings{embed.tag}.npy"
    if cache.is_file():
        emb = np.load(cache)
    else:  # log-mel in 10 s pieces of 1,000 whole frames each, then every STEP frames
        frames = 1000
        pieces = [embed.log_mel(samples[None, i:i + frames * HOP + FFT - HOP])[0]
                  for i in range(0, len(samples) - (FFT - HOP), frames * HOP)]
        mel = np.concatenate(pieces)
        emb = embed.embed_mel(mel[None])[0]
        np.save(cache, emb)
    per_clip = (CLIP_FRAMES - WINDOW) // STEP + 1  # embeddings of one 1 s clip
    x = np.stack([emb[i:i + per_clip].reshape(-1) for i in range(len(emb) - per_clip + 1)])
    scores = _softmax(head.predict(x, batch_size=1000, verbose=0))
    times = np.arange(len(x), dtype=np.int64) * STEP * 10  # clip start, ms
    return times, scores, samples, 1000.0 * len(samples) / rate


def _labels() -> list[str]:
    """The 12 labels in model output order."""
    from kws.labels import parse_wanted_words, prepare_words_list

    return prepare_words_list(parse_wanted_words(WORDS))


def _load_head(name: str, seed: int):
    import tensorflow as tf

    return tf.keras.models.load_model(OUT / f"{name}-s{seed}.keras")


def cmd_stream(args) -> None:
    embed = make_embedder(args.models)
    head = _load_head(args.name + args.tag, args.seed)
    times, scores, _, duration_ms = _head_stream_scores(embed, head, args.partition)
    record = decode_stream(args.name + args.tag, args.seed, args.partition, times, scores,
                           _labels(), duration_ms)
    with open(OUT / "stream.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def cmd_combine(args) -> None:
    """The mean of the head's and a bench_accuracy run's probabilities (the same seed), on
    the real clips and the streams; the run's model.kws is decoded every STEP frames too.
    [16, 20) only when neither heard the sample."""
    import kws
    from kws.train.pipeline import load_clip_samples

    name = f"{args.run} + {args.name}{args.tag}"
    head = _load_head(args.name + args.tag, args.seed)
    trained = np.load(OUT / f"{args.name}-s{args.seed}.npz")
    record = next((r for r in _runs(_load(), args.run) if r["seed"] == args.seed), None)
    if record is None:
        raise SystemExit(f"no run of '{args.run}' with seed {args.seed}")
    model_path = _export_native(_run_dir(args.run, record))
    model = kws.Model.load(str(model_path))
    heard_sample = str(SAMPLE) in record["command"] or str(SAMPLE) in str(trained["data_dir"])
    partitions = [k for k in REAL if not (heard_sample and k == "heldout")]
    real = np.load(_real_cache(args.models))
    index = _real_index()
    out = {"name": name, "seed": args.seed}
    for key in partitions:
        x, y = load_clip_samples(index, REAL[key])
        if not np.array_equal(y, real[f"{key}_y"]):
            raise SystemExit(f"{_real_cache(args.models)}: made from other clips; delete it")
        p = (_softmax(head.predict(real[f"{key}_x"].reshape(len(y), -1), verbose=0))
             + model.predict(x))
        out[key] = float(np.mean(p.argmax(1) == y))
        print(f"{name} seed {args.seed}, real {key}: {out[key] * 100:.1f}% of {len(y)}")
    embed = make_embedder(args.models)
    evaluator = kws.StreamingEvaluator(str(model_path), clip_stride_ms=STEP * 10)
    for key in partitions:
        times, scores, samples, duration_ms = _head_stream_scores(embed, head, key)
        run_times, run_scores = evaluator.compute_scores(samples)
        n = min(len(times), len(run_times))
        if not np.array_equal(times[:n], run_times[:n]):
            raise SystemExit("the run's windows and the head's do not start together")
        out[f"{key}_stream"] = decode_stream(name, args.seed, key, times[:n],
                                             (scores[:n] + run_scores[:n]) / 2, _labels(),
                                             duration_ms)
    with open(OUT / "combined.jsonl", "a") as f:
        f.write(json.dumps(out) + "\n")


def cmd_distill(args) -> None:
    """Trains the recipe's model (TC-ResNet8) from the recipe's augmented batches with the
    cross entropy plus --weight x KL(teacher || student), where the teacher is the head
    --teacher on the same batch's embeddings, averaged with bench_accuracy's run --with_run
    of the same seed when given; --weight 0 is the same loop without a teacher. The
    student is written as model.kws and scored like `combine` (clips and streams)."""
    import tensorflow as tf

    import kws
    from kws.train.augment import make_hooks
    from kws.train.checkpoint import load_checkpoint
    from kws.train.config import learning_rate_at, make_config
    from kws.train.export import write_model_kws
    from kws.train.features import tf_features
    from kws.train.loop import make_index, make_loss
    from kws.train.models import build_model
    from kws.train.pipeline import load_clip_samples, make_samples_dataset

    name = f"{args.name}-s{args.seed}"
    flags = {"learning_rate": args.learning_rate} if args.learning_rate else {}
    if args.steps:
        flags["how_many_training_steps"] = str(args.steps)
    config = make_config(recipe=args.recipe, data_dir=args.data_dir, wanted_words=WORDS,
                         validation_percentage=12, testing_percentage=4, seed=args.seed,
                         **flags)
    index = make_index(config)
    settings = config.model_settings(len(index.labels))
    tf.keras.utils.set_random_seed(args.seed)
    if args.init:  # fine-tune a trained run of the same architecture and features
        model, init_settings, architecture, labels = load_checkpoint(
            args.init, training_dropout=True)
        if (init_settings, architecture, labels) != (settings, config.model_architecture,
                                                     index.labels):
            raise SystemExit(f"{args.init}: not the recipe's model, features or labels")
    else:
        model = build_model(config.model_architecture, settings)
    optimizer = tf.keras.optimizers.Adam(config.rates_list[0])
    loss_fn = make_loss()
    samples_hook, features_hook = make_hooks(config.augment, args.seed)
    data = make_samples_dataset(index, "training", config.batch_size, seed=args.seed,
                                background_frequency=config.background_frequency,
                                background_volume=config.background_volume,
                                time_shift_ms=config.time_shift_ms,
                                samples_hook=samples_hook)
    embed = head = run_model = None
    if args.weight > 0:
        if not args.teacher:
            raise SystemExit("distill: --weight > 0 needs --teacher (a head's NAME)")
        embed, head = make_embedder(args.models), _load_head(args.teacher, args.seed)
        if args.with_run:
            record = next((r for r in _runs(_load(), args.with_run)
                           if r["seed"] == args.seed), None)
            if record is None:
                raise SystemExit(f"no run of '{args.with_run}' with seed {args.seed}")
            run_model = kws.Model.load(str(_export_native(_run_dir(args.with_run, record))))

    @tf.function
    def step(features, labels, target, weight):
        with tf.GradientTape() as tape:
            logits = model(features, training=True)
            kl = tf.reduce_sum(target * (tf.math.log(tf.maximum(target, 1e-12))
                                         - tf.nn.log_softmax(logits)), axis=-1)
            loss = tf.reduce_mean(loss_fn(labels, logits) + weight * kl)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    steps = config.total_steps
    start = time.process_time()
    for i, (samples, labels) in enumerate(data.take(steps)):
        optimizer.learning_rate.assign(learning_rate_at(i + 1, config))
        target = np.zeros((len(labels), settings.label_count), np.float32)
        if args.weight > 0:
            x = samples.numpy()
            target = _softmax(head.predict(embed(x).reshape(len(x), -1), verbose=0))
            if run_model is not None:
                target = (target + run_model.predict(x)) / 2
        features = tf_features(samples, settings)
        if features_hook is not None:
            features = features_hook(features)
        loss = step(features, labels, tf.constant(target, tf.float32),
                    tf.constant(args.weight, tf.float32))
        if (i + 1) % 100 == 0:
            print(f"step {i + 1}: loss {float(loss):.3f}, "
                  f"{time.process_time() - start:.0f} CPU-s", flush=True)
    cpu = time.process_time() - start
    path = write_model_kws(OUT / f"{name}.kws", model, settings, config.model_architecture,
                           index.labels)
    student = kws.Model.load(str(path))
    out = {"name": args.name, "seed": args.seed, "steps": steps, "weight": args.weight,
           "teacher": args.teacher if args.weight > 0 else None,
           "with_run": args.with_run if args.weight > 0 else None,
           "data_dir": args.data_dir, "init": args.init or None,
           "learning_rate": config.rates_list[0], "cpu_seconds": round(cpu, 1)}
    heard_sample = str(SAMPLE) in args.data_dir
    partitions = [k for k in REAL if not (heard_sample and k == "heldout")]
    real_index = _real_index()
    for key in partitions:
        x, y = load_clip_samples(real_index, REAL[key])
        out[key] = float(np.mean(student.predict(x).argmax(1) == y))
        print(f"{args.name} seed {args.seed}, real {key}: {out[key] * 100:.1f}% of {len(y)}")
    evaluator = kws.StreamingEvaluator(str(path))
    for key in partitions:
        samples, rate = kws.read_wav(stream_wav(key))
        times, scores = evaluator.compute_scores(samples)
        out[f"{key}_stream"] = decode_stream(args.name, args.seed, key, times, scores,
                                             _labels(), 1000.0 * len(samples) / rate)
    with open(OUT / "distilled.jsonl", "a") as f:
        f.write(json.dumps(out) + "\n")


def _real_index():
    """The sample's 12/4 split, as bench_accuracy evaluates."""
    from kws.train.data import DatasetIndex

    return DatasetIndex(str(SAMPLE), WORDS, validation_percentage=12, testing_percentage=4)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", required=True, help="folder with the two ONNX files")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("embed")
    e.add_argument("name")
    e.add_argument("--data_dir", required=True)
    e.add_argument("--batches", type=int, default=600)
    e.add_argument("--folder_balance", type=float, default=0.0)
    e.add_argument("--seed", type=int, default=1)
    h = sub.add_parser("head")
    h.add_argument("name")
    h.add_argument("--seed", type=int, default=1)
    h.add_argument("--epochs", type=int, default=20)
    h.add_argument("--hidden", type=int, default=128, help="units of the hidden layer")
    h.add_argument("--tag", default="", help="appended to NAME for this head's files")
    st = sub.add_parser("stream")
    st.add_argument("name")
    st.add_argument("--seed", type=int, default=1)
    st.add_argument("--tag", default="", help="the head's --tag")
    st.add_argument("--partition", choices=("validation", "heldout", "testing"),
                    default="validation")
    c = sub.add_parser("combine")
    c.add_argument("name")
    c.add_argument("run", help="a bench_accuracy lever whose run of the same seed joins in")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--tag", default="", help="the head's --tag")
    d = sub.add_parser("distill")
    d.add_argument("name")
    d.add_argument("--data_dir", required=True)
    d.add_argument("--recipe", default="quick_tc_resnet")
    d.add_argument("--teacher", default="", help="a head NAME (its seed is --seed)")
    d.add_argument("--with_run", default="", help="bench_accuracy lever averaged in")
    d.add_argument("--weight", type=float, default=1.0)
    d.add_argument("--steps", type=int, default=0, help="0: the recipe's")
    d.add_argument("--learning_rate", default="", help="'': the recipe's")
    d.add_argument("--init", default="", help="a train_dir to fine-tune instead of a new model")
    d.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    {"embed": cmd_embed, "head": cmd_head, "stream": cmd_stream,
     "combine": cmd_combine, "distill": cmd_distill}[args.command](args)


if __name__ == "__main__":
    main()
