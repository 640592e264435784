"""Exact top-k retrieval with core TensorFlow ops only, in float32 or int8 with exact re-scoring."""

import pathlib

import numpy as np
import tensorflow as tf

from tfsearch.index.index_files import read_identifiers, read_index_meta, write_index_files
from tfsearch.utils.atomic import atomic_directory

INDEX_FORMAT = "tfsearch.brute_force.v1"
QUANTIZATIONS = (None, "int8")
# Upper bound on the scores matrix computed at once by `search`, in floats.
_MAX_SCORES_PER_STEP = 1 << 26
# The arithmetic of the int8 scan: "auto" (bfloat16 where this machine computes it natively -- CPUs with
# AVX512-BF16 or AMX-BF16, TPUs, GPUs of compute capability 8.0+ -- else float32), "bfloat16" or "float32".
# Decided when the scan is traced, on the machine that runs it; an index's files do not record it.
INT8_SCAN_DTYPE = "auto"
INT8_SCAN_DTYPES = ("auto", "bfloat16", "float32")


@tf.keras.utils.register_keras_serializable(package="tfsearch")
class BruteForceIndex(tf.keras.layers.Layer):
    """Exact maximum-inner-product search over a matrix of document embeddings.

    Scores every document against every query (a matrix product) and keeps the
    top `k`. It is the reference that approximate backends are measured
    against, and it is made of core TensorFlow ops only, so it runs inside a
    SavedModel served by stock TensorFlow Serving. With L2-normalised
    embeddings the score is the cosine similarity.

    With `quantization="int8"` the documents are also stored as int8 codes
    (per dimension: `x ~ offset + scale * code`, codes in [-127, 127]); every
    query scans the codes (a quarter of the bytes of float32) for a shortlist
    of `num_reordering_candidates`, then re-scores the shortlist exactly with
    the float32 rows. Results are exact whenever the true top `k` is in the
    shortlist, and the returned scores are always the exact float32 ones.
    The scan multiplies in bfloat16 where the machine computes it natively
    and in float32 elsewhere (`int8_scan_dtype`): both represent the codes
    exactly; float32 also keeps the scaled query exact to 24 bits instead of 8.

    Args:
        k: int. Default number of results. Defaults to `10`.
        quantization: None (float32 scan) or `"int8"`.
        num_reordering_candidates: int or None. int8 only: shortlist size,
            at least `k`; None is `max(100, 10 * k)`.
        **kwargs: standard `tf.keras.layers.Layer` arguments.

    In an export's graph the index answers through `candidates` (the
    interface every backend shares) and `identifiers_tensor`.

    Call arguments:
        queries: float tensor `[num_queries, embedding_dim]`.
        k: optional int or int32 scalar tensor; defaults to the constructor's.
            Identifiers are strings, which XLA cannot handle: compile
            `top_k_positions` instead.

    Returns:
        `(scores, identifiers)`: float32 `[num_queries, min(k, num_documents)]`
        and string `[num_queries, min(k, num_documents)]`, best first. Ties keep
        the lower document position first.

    Example:
    ```python
    index = BruteForceIndex(k=2)
    index.index(tf.constant([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]), ["a", "b", "c"])
    scores, ids = index(tf.constant([[1.0, 0.0]]))
    # ids == [[b"a", b"c"]], scores == [[1.0, 0.6]]
    ```
    """

    backend = "brute_force"

    def __init__(self, k=10, quantization=None, num_reordering_candidates=None, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if int(k) <= 0:
            raise ValueError(f"`k` must be positive, got {k}.")
        if quantization not in QUANTIZATIONS:
            raise ValueError(f"`quantization` must be one of {QUANTIZATIONS}, got {quantization!r}.")
        if num_reordering_candidates is not None and int(num_reordering_candidates) <= 0:
            raise ValueError(f"`num_reordering_candidates` must be positive, got {num_reordering_candidates}.")

        # === Config ===
        self.k = int(k)
        self.quantization = quantization
        self.num_reordering_candidates = None if num_reordering_candidates is None else int(num_reordering_candidates)
        self.folder = None  # where `load` read it from

        # === State ===
        self._embeddings = None
        self._identifiers = None
        self._codes = None
        self._code_scale = None

    @property
    def num_documents(self):
        return 0 if self._embeddings is None else int(self._embeddings.shape[0])

    @property
    def embedding_dim(self):
        return None if self._embeddings is None else int(self._embeddings.shape[1])

    @property
    def embeddings(self):
        """The indexed `[num_documents, embedding_dim]` float32 tensor, or None."""
        return None if self._embeddings is None else tf.convert_to_tensor(self._embeddings)

    @property
    def identifiers(self):
        """The indexed ids, a list of str in row order."""
        if self._identifiers is None:
            return []
        return [i.decode("utf-8") for i in self._identifiers.numpy()]

    @property
    def identifiers_tensor(self):
        """The indexed ids as a string `[num_documents]` variable (for graphs: `tf.gather` it by position), or None."""
        return self._identifiers

    def index(self, embeddings, identifiers):
        """Replaces the indexed documents.

        Args:
            embeddings: float array-like `[num_documents, embedding_dim]`.
            identifiers: sequence of str `[num_documents]`, unique.

        Returns:
            self.
        """
        # A float32 tensor is checked through a numpy view and becomes the variable without a copy of the matrix.
        tensor = embeddings if tf.is_tensor(embeddings) and embeddings.dtype == tf.float32 else None
        embeddings = np.asarray(embeddings, dtype=np.float32)
        identifiers = [str(i) for i in identifiers]
        if embeddings.ndim != 2 or embeddings.shape[0] == 0:
            raise ValueError(f"`embeddings` must be a non-empty [num_documents, dim] matrix, got shape {embeddings.shape}.")
        if len(identifiers) != embeddings.shape[0]:
            raise ValueError(f"`identifiers` must hold one id per row of `embeddings`, got {embeddings.shape[0]} "
                             f"embeddings but {len(identifiers)} identifiers.")
        if len(set(identifiers)) != len(identifiers):
            raise ValueError(f"`identifiers` must be unique, got {len(identifiers)} ids of which "
                             f"{len(set(identifiers))} are distinct.")
        if not np.isfinite(embeddings).all():
            raise ValueError(f"`embeddings` must be finite, got NaN or infinite values in "
                             f"{int((~np.isfinite(embeddings)).any(axis=1).sum())} rows.")
        self._embeddings = tf.Variable(embeddings if tensor is None else tensor, trainable=False, name="embeddings")
        self._identifiers = tf.Variable(tf.constant(identifiers, tf.string), trainable=False, name="identifiers")
        if self.quantization == "int8":
            codes, scale = quantize_int8(embeddings)
            self._codes = tf.Variable(codes, trainable=False, name="codes")
            self._code_scale = tf.Variable(scale, trainable=False, name="code_scale")
        return self

    def top_k_positions(self, queries, k=None):
        """Numeric part of `call`: `(scores, positions)`, both `[num_queries, k]`.

        Positions index the rows passed to `index()`. This part has no string
        ops, so it compiles with XLA when `k` is a Python int.
        """
        if self._embeddings is None:
            raise ValueError("The index is empty; call `index(embeddings, identifiers)` first.")
        queries = tf.convert_to_tensor(queries, tf.float32)
        k = self.k if k is None else k
        if isinstance(k, int):
            # A Python int stays a compile-time constant (needed by XLA).
            k = min(k, self.num_documents)
        else:
            k = tf.minimum(tf.cast(k, tf.int32), tf.shape(self._embeddings)[0])
        if self.quantization is None:
            scores = tf.linalg.matmul(queries, self._embeddings, transpose_b=True)
            return tf.math.top_k(scores, k=k, sorted=True)
        return self._int8_top_k(queries, k)

    def _int8_top_k(self, queries, k):
        shortlist_size = self.num_reordering_candidates or max(100, 10 * self.k)
        if isinstance(k, int):
            shortlist_size = min(max(shortlist_size, k), self.num_documents)
        else:
            shortlist_size = tf.minimum(tf.maximum(shortlist_size, k), tf.shape(self._embeddings)[0])
        # q . x ~ q . offset + (q * scale) . code; the first term is the same
        # for every document of a query, so the codes alone rank them.
        scan_dtype = int8_scan_dtype()
        approximate = tf.linalg.matmul(tf.cast(queries * self._code_scale, scan_dtype),
                                       tf.cast(self._codes, scan_dtype), transpose_b=True)
        _, shortlist = tf.math.top_k(approximate, k=shortlist_size, sorted=False)
        # Ascending positions, so that exact ties keep the lower position first.
        shortlist = tf.sort(shortlist, axis=1)
        rows = tf.gather(self._embeddings, shortlist)  # [num_queries, shortlist, dim]
        exact = tf.einsum("qd,qsd->qs", queries, rows)
        scores, order = tf.math.top_k(exact, k=k, sorted=True)
        return scores, tf.gather(shortlist, order, batch_dims=1)

    def candidates(self, query_embeddings, n):
        """The top `n` documents of each query with their rows: the in-graph retrieval of an export.

        The interface every index backend shares (`ScannIndex.candidates`),
        so that an export's graph (`tfsearch.export.SearchModule`) retrieves
        and re-ranks without knowing the backend. Core TensorFlow ops only.

        Args:
            query_embeddings: float tensor `[batch_size, embedding_dim]`.
            n: int. Candidates per query, a Python int (it fixes the static
                shapes).

        Returns:
            `(scores, positions, embeddings)`: float32 `[batch_size, n]` inner
            products, best first; int32 `[batch_size, n]` rows of the index
            (ids: `tf.gather(index.identifiers_tensor, positions)`), -1 for a
            slot the index could not fill (here only when `n >
            num_documents`), whose score is -inf; float32 `[batch_size, n,
            embedding_dim]` the documents' embeddings (zeros where -1).

        Example:
        ```python
        index = BruteForceIndex().index(tf.constant([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]), ["a", "b", "c"])
        scores, positions, embeddings = index.candidates(tf.constant([[1.0, 0.0]]), 2)
        # scores == [[1.0, 0.6]], positions == [[0, 2]], embeddings == [[[1.0, 0.0], [0.6, 0.8]]]
        ```

        Raises:
            ValueError: `n` is not a positive int, or the index is empty.
        """
        n = check_num_candidates(n)
        scores, positions = self.top_k_positions(query_embeddings, n)
        positions = tf.cast(positions, tf.int32)
        # Gathered from the variable's value, not the variable: a sparse read
        # of a resource variable (ResourceGather) puts it in copy-on-read
        # mode, and every read after that (the scoring matmul's) copies all
        # of it (0.7 ms a call for SciFact's 8 MB).
        embeddings = tf.gather(tf.convert_to_tensor(self._embeddings), positions)
        missing = n - self.num_documents
        if missing > 0:
            scores = tf.pad(scores, [[0, 0], [0, missing]], constant_values=float("-inf"))
            positions = tf.pad(positions, [[0, 0], [0, missing]], constant_values=-1)
            embeddings = tf.pad(embeddings, [[0, 0], [0, missing], [0, 0]])
        return scores, positions, embeddings

    def exportable(self):
        """An index whose `candidates` works in an export: this one (see `tfsearch.index.exportable_index`)."""
        return self

    def call(self, queries, k=None):
        top_scores, top_positions = self.top_k_positions(queries, k)
        return top_scores, tf.gather(self._identifiers, top_positions)

    def search(self, queries, k=None):
        """Searches a large batch of queries in steps of bounded memory.

        Args:
            queries: float array-like `[num_queries, embedding_dim]`.
            k: int or None.

        Returns:
            `(scores, ids)`: float32 numpy `[num_queries, k]` and a list of lists of str.
        """
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim != 2 or (self.embedding_dim is not None and queries.shape[1] != self.embedding_dim):
            raise ValueError(
                f"`queries` must be [num_queries, {self.embedding_dim}], got shape {queries.shape}."
            )
        k = self.k if k is None else int(k)
        step = max(1, _MAX_SCORES_PER_STEP // max(self.num_documents, 1))
        all_scores, all_ids = [], []
        for start in range(0, len(queries), step):
            scores, ids = self(queries[start : start + step], k)
            all_scores.append(scores.numpy())
            all_ids.extend([i.decode("utf-8") for i in row] for row in ids.numpy())
        if not all_scores:
            return np.zeros([0, min(k, self.num_documents)], np.float32), []
        return np.concatenate(all_scores), all_ids

    def save(self, path, metadata=None, overwrite=False):
        """Writes the index to a folder atomically (embeddings, ids, metadata).

        Args:
            path: the folder to create.
            metadata: optional JSON-serialisable dict stored beside the data,
                e.g. the encoder's fingerprint.
            overwrite: replace an existing folder.
        """
        if self._embeddings is None:
            raise ValueError("Nothing to save: the index is empty.")
        with atomic_directory(path, overwrite=overwrite) as tmp:
            np.save(tmp / "embeddings.npy", self._embeddings.numpy())
            meta = {
                "format": INDEX_FORMAT,
                "backend": "brute_force",
                "config": self.get_config(),
                "num_documents": self.num_documents,
                "embedding_dim": self.embedding_dim,
                "metadata": metadata or {},
            }
            write_index_files(tmp, self.identifiers, meta)
        return pathlib.Path(path)

    @classmethod
    def load(cls, path):
        """Reads a folder written by `save`; returns `(index, metadata)`."""
        path = pathlib.Path(path)
        meta = read_index_meta(path, INDEX_FORMAT)
        ids = read_identifiers(path, meta["num_documents"])
        index = cls.from_config(meta["config"])
        index.index(np.load(path / "embeddings.npy"), ids)
        index.folder = path
        return index, meta["metadata"]

    def get_config(self):
        config = super().get_config()
        config.update({
            "k": self.k,
            "quantization": self.quantization,
            "num_reordering_candidates": self.num_reordering_candidates,
        })
        return config


def int8_scan_dtype(choice=None):
    """The dtype the int8 scan multiplies in: `tf.bfloat16` where native on this machine, else `tf.float32`.

    Args:
        choice: None (the module's `INT8_SCAN_DTYPE`, normally "auto"), "auto",
            "bfloat16" or "float32".

    Without native bfloat16 (e.g. AMD Zen 3, Intel Skylake) TensorFlow emulates
    it and the scan is slower than in float32. The codes (integers in
    [-127, 127]) are exact in both; the scaled query is rounded to 8
    significant bits in bfloat16 and kept to 24 in float32, and the products
    are summed in float32 on both paths. The scan only picks the shortlist,
    re-scored exactly in float32 afterwards, so no limit on the dimension
    follows from it. The choice is made when the scan is traced (a
    `tf.function`, an export's graph keeps it).
    """
    choice = INT8_SCAN_DTYPE if choice is None else choice
    if choice not in INT8_SCAN_DTYPES:
        raise ValueError(f"`INT8_SCAN_DTYPE` must be one of {INT8_SCAN_DTYPES}, got {choice!r}.")
    if choice == "auto":
        from tfsearch.utils.precision import native_bfloat16

        choice = "bfloat16" if native_bfloat16() else "float32"
    return tf.bfloat16 if choice == "bfloat16" else tf.float32


def check_num_candidates(n):
    """`n` of `candidates` as an int, or a ValueError: it must be a positive Python int."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"`n` must be a positive Python int (it fixes the candidate axis), got {n!r}.")
    return int(n)


def quantize_int8(embeddings):
    """Per-dimension int8 codes of a float matrix: `x ~ offset + scale * code`.

    Args:
        embeddings: float array `[num_documents, dim]`.

    Returns:
        `(codes, scale)`: int8 `[num_documents, dim]` in [-127, 127] and float32
        `[dim]` (the offset, the middle of each dimension's range, is not
        needed to rank documents).

    Example:
    ```python
    codes, scale = quantize_int8(np.array([[0.0, 1.0], [1.0, -1.0]]))
    # codes == [[-127, 127], [127, -127]], scale == [1/254, 2/254]
    ```
    """
    embeddings = np.asarray(embeddings, np.float32)
    low, high = embeddings.min(axis=0), embeddings.max(axis=0)
    scale = (high - low) / 254.0
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    offset = (high + low) / 2.0
    codes = np.empty(embeddings.shape, np.int8)
    for start in range(0, len(embeddings), 65536):  # bounded temporaries
        block = (embeddings[start : start + 65536] - offset) / scale
        codes[start : start + 65536] = np.clip(np.rint(block), -127, 127)
    return codes, scale
