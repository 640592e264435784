"""A SavedModel loaded as TensorFlow Serving loads it: one session, signatures called by their tensor names."""

import contextlib
import logging

import numpy as np
import tensorflow as tf

SERVING_TAGS = (tf.saved_model.SERVING,)
INTERNAL_SIGNATURE_PREFIX = "__"  # `__saved_model_init_op`: TensorFlow's, not a serving signature
SCANN_OP_NAMESPACE = "Scann>"  # the ops of a `scann` export (`tfsearch.export.op_audit`)


class SessionSignature:
    """One SignatureDef of a `SavedModelSession`, called with keyword inputs.

    Feeds each input's tensor and fetches each output's, by the names the
    SignatureDef gives (what TensorFlow Serving's `Predict` does). An input
    left out is fed its SignatureDef `defaults` value, as TensorFlow Serving
    fills it.

    Args:
        session: `tf.compat.v1.Session` holding the signature's graph.
        signature_def: the `SignatureDef` proto.

    Call arguments:
        **inputs: `{alias: array-like}`, one per input of the SignatureDef:
            NumPy arrays, lists, scalars or eager tensors; strings as `str`
            or `bytes`.

    Returns:
        `{alias: np.ndarray}` of every output (strings as `bytes`).

    Raises:
        ValueError: an input the SignatureDef does not have, or one left
            out that has no default.
        tf.errors.InvalidArgumentError: what the graph refuses (a wrong
            shape, `k` above the export's `max_k`).

    Example:
    ```python
    model = SavedModelSession("saved_models/scifact/1")
    out = model.signatures["search_batchable"](
        queries=["what is a protein"], k=[10], diversity=[0.3])
    out["ids"].shape  # (1, max_k)
    ```
    """

    def __init__(self, session, signature_def):
        self.session = session
        self.signature_def = signature_def
        self._feeds = {alias: info.name for alias, info in signature_def.inputs.items()}
        self._fetches = {alias: info.name for alias, info in signature_def.outputs.items()}
        self._defaults = {alias: tf.make_ndarray(proto) for alias, proto in signature_def.defaults.items()}

    def __call__(self, **inputs):
        unknown = sorted(set(inputs) - set(self._feeds))
        missing = sorted(set(self._feeds) - set(inputs) - set(self._defaults))
        if unknown or missing:
            raise ValueError(f"the signature takes inputs {sorted(self._feeds)} (defaults for "
                             f"{sorted(self._defaults)}); got unknown {unknown}, missing {missing}")
        feed_dict = {name: _feedable(inputs[alias] if alias in inputs else self._defaults[alias])
                     for alias, name in self._feeds.items()}
        return self.session.run(self._fetches, feed_dict)


class SavedModelSession:
    """A SavedModel's serving MetaGraph in one session, as TensorFlow Serving's `SavedModelBundle`.

    `tf.compat.v1.saved_model.load` imports the MetaGraph into a graph of
    its own, restores the variables and runs the init op (the vocabulary
    tables); the graph is then finalised. The op libraries an export needs
    are registered first: TensorFlow Text's (the in-graph tokeniser), and
    ScaNN's when its ops appear. The functions (the encoder, the
    index, the re-ranker) stay in the graph's C++ function library, so a
    loaded version holds a few thousand Python objects where
    `tf.saved_model.load` builds a few hundred thousand: Python's garbage
    collector then walks and frees little when versions come and go, and
    the requests a server answers meanwhile are not held up by it.
    Session runs release the GIL and may run side by side.

    Args:
        export_dir: the SavedModel folder (a version folder).
        tags: the MetaGraph's tags (default `SERVING_TAGS`).
        config: optional `tf.compat.v1.ConfigProto`; `None` is TensorFlow's
            current one (the threads `tf.config.threading` set).

    Attributes:
        signature_defs: `{name: SignatureDef}` of the MetaGraph, TensorFlow's
            `__saved_model_init_op` included (as TensorFlow Serving's model
            metadata lists it).
        signatures: `{name: SessionSignature}` of the serving signatures.

    Raises:
        OSError, RuntimeError, tf.errors.OpError: what loading raises (no
            MetaGraph with `tags`, a missing variables file, ...).

    Example:
    ```python
    model = SavedModelSession("saved_models/scifact/1")
    sorted(model.signatures)
    # ['encode_document', 'encode_query', 'search', 'search_batchable', 'search_embeddings',
    #  'serving_default']
    model.close()
    ```
    """

    def __init__(self, export_dir, tags=SERVING_TAGS, config=None):
        self.export_dir = str(export_dir)
        self.tags = tuple(tags)
        self.config = config
        _register_op_libraries(self.export_dir)
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)
        try:
            with self.graph.as_default(), _quiet_tensorflow_warnings():
                meta_graph = tf.compat.v1.saved_model.load(self.session, list(self.tags), self.export_dir)
        except BaseException:
            self.session.close()
            raise
        self.graph.finalize()
        self.signature_defs = dict(meta_graph.signature_def)
        self.signatures = {name: SessionSignature(self.session, signature_def)
                           for name, signature_def in self.signature_defs.items()
                           if not name.startswith(INTERNAL_SIGNATURE_PREFIX)}

    def close(self):
        """Frees the session's resources (the variables); a later call fails."""
        self.session.close()


def _register_op_libraries(export_dir):
    """Imports the op libraries beyond TensorFlow's that `export_dir`'s graphs use (before its graph is imported)."""
    from tfsearch.export.op_audit import saved_model_ops

    import tensorflow_text  # noqa: F401  (TensorFlow Serving's stock build links it too)

    if any(op.startswith(SCANN_OP_NAMESPACE) for op in saved_model_ops(export_dir)):
        try:
            import scann  # noqa: F401  (registers the Scann ops)
        except ImportError as e:
            raise ImportError(f"{export_dir} is a ScaNN export: serving it needs the `scann` package "
                              f"(pip install scann).") from e


@contextlib.contextmanager
def _quiet_tensorflow_warnings():
    """TensorFlow's logger at ERROR meanwhile: the v1 loader's deprecation note points to `tf.saved_model.load`,
    which builds the Python functions this class means to avoid."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _feedable(value):
    """A feed value as NumPy: an eager tensor's array; text as Python objects (TensorFlow encodes them as UTF-8)."""
    array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    return array.astype(object) if array.dtype.kind == "U" else array
