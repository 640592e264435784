"""Set-up shared by the benchmark scripts."""

import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent


def import_tensorflow(threads):
    """Imports tfsearch (Keras 2 routing) and TensorFlow limited to `threads` CPU threads; returns `tf`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(REPO))
    import tfsearch  # noqa: F401  (before anything touches tf.keras)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    return tf
