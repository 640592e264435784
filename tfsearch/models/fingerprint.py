"""Model fingerprints: a short digest of a model's configuration and weights."""

import hashlib
import json

import numpy as np


def model_fingerprint(model):
    """A hex digest identifying `model` by its config and every weight's bytes.

    Two models give the same fingerprint only if they have the same
    architecture and the same weights, so an index built with one encoder can
    refuse queries embedded by another. Compute settings that keep embeddings
    comparable (bfloat16 compute, the token limit) do not change it.

    Args:
        model: a built `tf.keras` model or layer with `get_config`.

    Returns:
        str, 16 hex digits.

    Example:
    ```python
    fingerprint = model_fingerprint(BertEncoder.from_pretrained())
    ```
    """
    digest = hashlib.sha256()
    try:
        config = model.get_config()
    except NotImplementedError:
        config = {}
    # Left out: layer names (Keras numbers them per process, "encoder_1") and
    # compute settings that keep embeddings comparable (dtype policy, e.g.
    # bfloat16 compute; the tokenizer's length limit).
    digest.update(json.dumps(_without_names(config), sort_keys=True, default=str).encode("utf-8"))
    for weight in model.weights:
        value = np.ascontiguousarray(weight.numpy())
        digest.update(str(value.dtype).encode("ascii") + str(value.shape).encode("ascii"))
        digest.update(value.tobytes())
    return digest.hexdigest()[:16]


_SETTINGS = ("name", "dtype", "sequence_length")


def _without_names(value):
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k not in _SETTINGS}
    if isinstance(value, (list, tuple)):
        return [_without_names(v) for v in value]
    return value
