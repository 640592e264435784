"""`DocumentEncoderHandler`: Apache Beam's `RunInference` with a tfsearch document encoder.

The handler holds only paths and settings (it is pickled and sent to every
worker); the model is loaded on the worker by `load_model`: either an
encoder folder or preset through `BertEncoder.from_pretrained`, or the
`encode_document` signature of a SavedModel version written by
`tfsearch export` (after `import tensorflow_text`, so that the in-graph
tokeniser's ops exist; for a ScaNN export also ScaNN's op library).
"""

import json
import logging
import pathlib

import numpy as np
from apache_beam.ml.inference.base import ModelHandler

# `precision` values: the command line's and Keras policy names.
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "mixed_bfloat16": "mixed_bfloat16",
             "mixed_float16": "mixed_float16"}
ENCODE_DOCUMENT_SIGNATURE = "encode_document"


def _not_beam_memory_notice(record):
    # Beam 2.77's RunInference looks for torch to read memory use and logs this at every model load without it.
    return not record.getMessage().startswith("Resource module is not available for current platform")


logging.getLogger().addFilter(_not_beam_memory_notice)


def resolve_encoder_dtype(precision="auto"):
    """The `dtype` for `BertEncoder.from_pretrained` of a precision setting, decided on this machine.

    Args:
        precision: `"auto"` (bfloat16 where it is native, see
            `tfsearch.utils.precision`), `"float32"`, `"bfloat16"`, or a Keras
            policy name (`"mixed_bfloat16"`, `"mixed_float16"`).

    Returns:
        `"float32"`, `"mixed_bfloat16"` or `"mixed_float16"`.

    Raises:
        ValueError: any other value.
    """
    if precision == "auto":
        from tfsearch.utils.precision import resolve_precision

        policy, _ = resolve_precision("auto", argument="precision")
        return policy or "float32"
    if precision not in _POLICIES:
        raise ValueError(f"`precision` must be one of 'auto', {', '.join(repr(p) for p in _POLICIES)}, "
                         f"got {precision!r}.")
    return _POLICIES[precision]


class _LoadedExport:
    """An export's `encode_document` signature as `texts [b] -> float32 [b, dim]` (keeps the SavedModel alive)."""

    def __init__(self, path):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the tokeniser's ops before loading)

        info_path = pathlib.Path(path) / "tfsearch_export.json"
        if info_path.is_file() and json.loads(info_path.read_text()).get("flavour") == "scann":
            from scann.scann_ops.py import scann_ops  # noqa: F401  (the export's graph holds ScaNN's ops)
        self.saved_model = tf.saved_model.load(str(path))
        if ENCODE_DOCUMENT_SIGNATURE not in self.saved_model.signatures:
            raise ValueError(f"{path} has no `{ENCODE_DOCUMENT_SIGNATURE}` signature (it has "
                             f"{sorted(self.saved_model.signatures)}); pass a version folder written by "
                             "`tfsearch export`, or the encoder with --model.")
        self._signature = self.saved_model.signatures[ENCODE_DOCUMENT_SIGNATURE]

    def __call__(self, texts):
        import tensorflow as tf

        return self._signature(documents=tf.constant(texts, tf.string))["embeddings"].numpy()


class _LoadedEncoder:
    """A `BertEncoder` as `texts [b] -> float32 [b, dim]`, through one `tf.function` (no retracing per shape)."""

    def __init__(self, model, max_length, dtype):
        import tensorflow as tf

        from tfsearch.models.bert_encoder import BertEncoder

        self.encoder = BertEncoder.from_pretrained(model, sequence_length=max_length, dtype=dtype)
        self._encode = tf.function(lambda texts: tf.cast(self.encoder(texts), tf.float32),
                                   input_signature=[tf.TensorSpec([None], tf.string)])

    def __call__(self, texts):
        import tensorflow as tf

        return self._encode(tf.constant(texts, tf.string)).numpy()


class DocumentEncoderHandler(ModelHandler):
    """A Beam `ModelHandler` that embeds document texts with a tfsearch encoder or an export.

    `RunInference` gives it batches of up to `max_batch_size` texts (Beam's
    `BatchElements`, adaptive between `min_batch_size` and
    `max_batch_size`). Each batch is sorted by text length, cut into forward
    passes of `batch_size` texts (the in-graph tokeniser pads each only to
    its own longest text; `tfsearch.models.batch_encoding` sorts by token
    length in-process, here the characters stand in for it, so that an
    export, which takes strings, is batched the same way), and the
    embeddings are returned in the batch's order. Wrap it in Beam's `KeyedModelHandler`
    for `(id, text)` elements; `tfsearch.embeddings.EncodeDocuments` does.

    The handler is pickled to the workers and holds only settings; each
    worker process loads its own model copy (`share_model_across_processes`
    is False: the models are small, and a copy per process avoids a shared
    server process's round trips).

    Args:
        model: str or None. An encoder folder (`save_to_directory`, a
            `tfsearch train` output, a Hugging Face BERT folder) or a preset
            name; None is the default preset (all-MiniLM-L6-v2). Exclusive
            with `export`.
        export: str or None. A SavedModel version folder written by
            `tfsearch export` (e.g. `saved_models/NAME/1`); its
            `encode_document` signature embeds the texts, with its own token
            limit and precision.
        batch_size: int. Texts per forward pass. Defaults to 64 (the
            `--batch-size` of every encoding command).
        max_length: int or None. Tokens per text for `model` (None: the
            checkpoint's own). Not allowed with `export`.
        dtype: str or None. The encoder's compute policy for `model`
            (`"float32"`, `"mixed_bfloat16"`, `"mixed_float16"`; see
            `resolve_encoder_dtype`); None keeps the checkpoint's own.
        min_batch_size: int or None. Defaults to `batch_size`.
        max_batch_size: int or None. Texts sorted by length together.
            Defaults to 8 * `batch_size`.

    Call (by `RunInference`): `run_inference(batch, model)` with `batch` a
    sequence of str `[b]` returns float32 numpy vectors `[dim]`, one per text,
    in the batch's order (unit length for normalising encoders).

    Raises:
        ValueError: both `model` and `export`, `max_length` with `export`,
            or batch sizes below 1.

    Example:
    ```python
    import apache_beam as beam
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

    handler = KeyedModelHandler(DocumentEncoderHandler(model="models/scifact", batch_size=64))
    with beam.Pipeline() as p:
        (p | beam.Create([("d1", "Dips in starlight reveal planets."), ("d2", "Sourdough needs a starter.")])
           | RunInference(handler)
           | beam.Map(print))  # ("d1", array([...], dtype=float32)), ...: 384 floats each
    ```
    """

    def __init__(self, model=None, export=None, batch_size=64, max_length=None, dtype=None, min_batch_size=None,
                 max_batch_size=None):
        if model is not None and export is not None:
            raise ValueError("Give `model` (an encoder) or `export` (a SavedModel version folder), not both.")
        if export is not None and max_length is not None:
            raise ValueError("`max_length` applies to `model`; an export's token limit is fixed when it is "
                             "exported. Leave it out, or pass the encoder with `model`.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
        max_batch_size = 8 * batch_size if max_batch_size is None else max_batch_size
        min_batch_size = min(batch_size, max_batch_size) if min_batch_size is None else min_batch_size
        if not 1 <= min_batch_size <= max_batch_size:
            raise ValueError(f"`min_batch_size` ({min_batch_size}) and `max_batch_size` ({max_batch_size}) must "
                             "satisfy 1 <= min_batch_size <= max_batch_size.")
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size)
        self.model = None if model is None else str(model)
        self.export = None if export is None else str(export)
        self.batch_size = batch_size
        self.max_length = max_length
        self.dtype = dtype

    def load_model(self):
        """Loads the encoder or the export's `encode_document` on this worker: a callable `texts -> [b, dim]`."""
        import tfsearch  # noqa: F401  (Keras 2 behind tf.keras, before TensorFlow is used on the worker)

        if self.export is not None:
            return _LoadedExport(self.export)
        return _LoadedEncoder(self.model, self.max_length, self.dtype)

    def run_inference(self, batch, model, inference_args=None):
        """Embeds `batch` (str `[b]`) in length-sorted forward passes; returns float32 `[dim]` arrays in order."""
        texts = list(batch)
        if not texts:
            return []
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        rows = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            positions = order[start:start + self.batch_size]
            embeddings = np.asarray(model([texts[i] for i in positions]), np.float32)
            for position, row in zip(positions, embeddings):
                rows[position] = row
        return rows

    def get_num_bytes(self, batch):
        return sum(len(text.encode("utf-8")) for text in batch)

    def get_metrics_namespace(self):
        return "tfsearch_encode"

    def share_model_across_processes(self):
        return False
