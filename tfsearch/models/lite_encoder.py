"""A `BertEncoder` run by TensorFlow Lite, optionally with dynamic-range int8 weights."""

import threading

import numpy as np
import tensorflow as tf

from tfsearch.utils.atomic import atomic_file
from tfsearch.utils.cpu_threads import available_cores

QUANTIZATIONS = (None, "dynamic_int8")


class LiteEncoder:
    """The token part of a `BertEncoder`, converted to TensorFlow Lite, for fast CPU encoding.

    `encoder.encode_tokens` (token ids and padding mask in, embedding out) is
    converted with `tf.lite.TFLiteConverter`. With `quantization="dynamic_int8"`
    (`optimizations=[tf.lite.Optimize.DEFAULT]`, no representative data) the
    dense layers' weights are stored as int8 and their inputs are quantised
    per batch at run time, so nothing needs calibrating. The WordPiece
    tokenizer stays in TensorFlow: the encoder's own.

    On SciFact (2-core Xeon) dynamic int8 encoded the corpus 1.6x to 2x as
    fast as the TensorFlow float32 encoder, and nDCG@10 on the test queries was
    0.6499 against float32's 0.6451, with embedding cosine at least 0.9966
    (docs/benchmarks.md, "Dynamic-range int8 through TensorFlow Lite").

    It is not a Keras layer and has no SavedModel form: use it to encode
    corpora and queries in Python (`encode_dataset`, `encode_texts`, or
    calling it), and export the float32 `BertEncoder` for serving. Its
    embeddings are close to, not equal to, the float32 encoder's: an index
    of int8 documents searched with float32 queries lost 0.0015 nDCG@10 on
    SciFact. TensorFlow marks
    `tf.lite.Interpreter` as deprecated in favour of LiteRT (`ai-edge-litert`),
    which runs the same `model_content`. Calls from several threads run one
    at a time (the interpreter is not thread-safe); give each thread its own
    `LiteEncoder` to encode in parallel.

    Args:
        encoder: `BertEncoder` to convert (float32; its weights are read once).
        quantization: None (float32) or `"dynamic_int8"`.
        num_threads: int or None. Interpreter threads; None uses every core
            the process may run on (calls run one at a time, so each uses
            them all, whatever TensorFlow's own intra-op setting).

    Call arguments:
        texts: string tensor or list `[batch]`.

    Returns:
        float32 array `[batch, embedding_dim]`.

    Example:
    ```python
    encoder = BertEncoder.from_pretrained()
    fast = LiteEncoder(encoder, quantization="dynamic_int8")
    embeddings = encode_texts(fast, ["A man is eating food."])  # [1, 384]
    ```
    """

    def __init__(self, encoder, quantization="dynamic_int8", num_threads=None):
        if quantization not in QUANTIZATIONS:
            raise ValueError(f"`quantization` must be one of {QUANTIZATIONS}, got {quantization!r}.")
        if num_threads is not None and int(num_threads) <= 0:
            raise ValueError(f"`num_threads` must be positive or None, got {num_threads}.")

        # === Config ===
        self.quantization = quantization
        self.num_threads = int(num_threads) if num_threads is not None else available_cores()
        self.tokenizer = encoder.tokenizer
        self.embedding_dim = encoder.embedding_dim
        self.sequence_length = encoder.sequence_length

        # === Model ===
        self.model_content = _convert(encoder, quantization)
        self._interpreter = tf.lite.Interpreter(model_content=self.model_content, num_threads=self.num_threads)
        inputs = self._interpreter.get_input_details()
        self._ids_index = next(d["index"] for d in inputs if "token_ids" in d["name"])
        self._mask_index = next(d["index"] for d in inputs if "padding_mask" in d["name"])
        self._output_index = self._interpreter.get_output_details()[0]["index"]
        self._shape = None
        self._lock = threading.Lock()

    def encode_token_arrays(self, token_ids, padding_mask):
        """Embeds numpy `token_ids [b, s]` (int32) and `padding_mask [b, s]` (bool) -> float32 `[b, dim]`."""
        token_ids = np.asarray(token_ids, np.int32)
        padding_mask = np.asarray(padding_mask, bool)
        if token_ids.ndim != 2 or token_ids.shape != padding_mask.shape:
            raise ValueError(f"`token_ids` and `padding_mask` must both be [batch, seq], got {token_ids.shape} and "
                             f"{padding_mask.shape}.")
        if token_ids.shape[0] == 0:
            return np.zeros([0, self.embedding_dim], np.float32)
        with self._lock:
            if token_ids.shape != self._shape:  # the interpreter plans its memory per input shape
                self._interpreter.resize_tensor_input(self._ids_index, token_ids.shape)
                self._interpreter.resize_tensor_input(self._mask_index, padding_mask.shape)
                self._interpreter.allocate_tensors()
                self._shape = token_ids.shape
            self._interpreter.set_tensor(self._ids_index, token_ids)
            self._interpreter.set_tensor(self._mask_index, padding_mask)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output_index).copy()

    def encode_tokens(self, token_ids, padding_mask):
        """`encode_token_arrays` as a TensorFlow op (`tf.numpy_function`), for `encode_dataset`.

        Args:
            token_ids: int32 tensor `[batch, seq]`.
            padding_mask: bool tensor `[batch, seq]`.

        Returns:
            float32 tensor `[batch, embedding_dim]`.
        """
        embeddings = tf.numpy_function(self.encode_token_arrays, [token_ids, padding_mask], tf.float32,
                                       stateful=True)
        embeddings.set_shape([None, self.embedding_dim])
        return embeddings

    def __call__(self, texts):
        tokens = self.tokenizer(tf.convert_to_tensor(texts, tf.string))
        return self.encode_token_arrays(tokens["token_ids"].numpy(), tokens["padding_mask"].numpy())

    def save(self, path):
        """Writes the TensorFlow Lite model (`.tflite`) to `path`, atomically."""
        with atomic_file(path, "wb") as f:
            f.write(self.model_content)


def _convert(encoder, quantization):
    """The TensorFlow Lite flatbuffer of `encoder.encode_tokens`, with named inputs."""
    function = tf.function(
        lambda token_ids, padding_mask: encoder.encode_tokens(token_ids, padding_mask),
        input_signature=[tf.TensorSpec([None, None], tf.int32, name="token_ids"),
                         tf.TensorSpec([None, None], tf.bool, name="padding_mask")],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], encoder)
    if quantization == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()
