"""kws.train: everything that needs TensorFlow (the `train` extra).

  kws.train.settings      ModelSettings: the front end's and the model's input sizes
  kws.train.data          DatasetIndex: labels, the classic hash split, clip checks
  kws.train.pipeline      tf.data pipelines with the classic augmentation
  kws.train.features      the TensorFlow front end (the reference of the native one)
  kws.train.augment       realistic-audio augmentation presets
  kws.train.models        the architectures
  kws.train.config        TrainConfig: `kws train`'s flags, recipes and checks
  kws.train.checkpoint    checkpoints and the model files beside them
  kws.train.loop          the training loop, evaluation of checkpoints
  kws.train.report        confusion matrices as text and pictures
  kws.train.export        model.kws, SavedModel and TFLite export
  kws.train.make_dataset  synthetic speech datasets (espeak-ng, flite)
"""

import os
import sys
import tempfile


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow and Keras with their C++ start-up lines (oneDNN notices, CPU
    feature hints, absl's pre-init warning) kept off the terminal; they are shown if the
    import fails, and always when TF_CPP_MIN_LOG_LEVEL is set to 0 by the user."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


_import_tensorflow_quietly()
