"""Routes `tf.keras` to Keras 2 (`tf-keras`) before TensorFlow resolves it.

tensorflow-recommenders and the TensorFlow models of `transformers` need Keras 2.
TensorFlow 2.20 picks the Keras behind `tf.keras` lazily, the first time an
attribute of `tf.keras` is read, from the environment variable
`TF_USE_LEGACY_KERAS`. Setting the variable here is therefore enough even when
TensorFlow itself was imported first, as long as nothing has touched `tf.keras`.
When Keras 3 has already been bound, nothing can undo it in this process, and we
fail at import time with a message that says what to do.
"""

import os
import sys

_KERAS3_MESSAGE = (
    "tfsearch needs Keras 2 (the `tf-keras` package) behind `tf.keras`, but Keras 3 "
    "is already active in this process: something used `tf.keras` before tfsearch "
    "was imported. Import tfsearch before anything else that uses Keras, or set "
    "the environment variable TF_USE_LEGACY_KERAS=1 before starting Python "
    "(in a notebook: `%env TF_USE_LEGACY_KERAS=1` in the first cell, then restart "
    "the runtime)."
)


class Keras3ActiveError(ImportError):
    """Raised when `tf.keras` is already bound to Keras 3 in this process."""


def _keras_flavour_bound_to_tf():
    """Returns "tf_keras", "keras_3", "keras_2" or None (not resolved yet)."""
    tf_module = sys.modules.get("tensorflow")
    if tf_module is None:
        return None
    keras_attr = tf_module.__dict__.get("keras")
    if keras_attr is None:
        return None
    if type(keras_attr).__name__ == "KerasLazyLoader":
        # Read the loader's own state without triggering its resolution.
        state = keras_attr.__dict__
        if not state.get("_tfll_initialized", False):
            return None
        return state.get("_tfll_keras_version")
    name = getattr(keras_attr, "__name__", "")
    if name.startswith("tf_keras"):
        return "tf_keras"
    if name.startswith("keras"):
        return "keras_3"
    return None


def configure_legacy_keras():
    """Sets `TF_USE_LEGACY_KERAS=1` and checks that Keras 3 is not bound yet.

    Raises:
        Keras3ActiveError: if `tf.keras` already resolved to Keras 3.
    """
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    flavour = _keras_flavour_bound_to_tf()
    if flavour in ("keras_3", "keras_2"):
        raise Keras3ActiveError(_KERAS3_MESSAGE)
