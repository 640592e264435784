"""Approximate retrieval with ScaNN, through tensorflow-recommenders' ScaNN layer."""

import dataclasses
import pathlib
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from tfsearch.index.brute_force_index import check_num_candidates
from tfsearch.index.index_files import read_identifiers, read_index_meta, write_index_files
from tfsearch.index.scann_tuning import ScannParams, default_scann_params, release_freed_memory
from tfsearch.utils.atomic import atomic_directory

INDEX_FORMAT = "tfsearch.scann.v1"
# The pybind searcher's own files inside an index folder: what `tfsearch index update` updates.
SEARCHER_DIR = "scann_searcher"
SCANN_NAMESPACE = "Scann"
_SCANN_MISSING = (
    "This index uses ScaNN's TensorFlow ops, which need the `scann` package: pip install scann==1.4.2 "
    "(Linux x86-64; its ops must be registered by `import scann` before the index is loaded). "
    "Stock TensorFlow Serving cannot load it either: export with the brute_force backend for that."
)


def _import_scann():
    try:
        import scann  # noqa: F401  (registers the Scann ops)
        import tensorflow_recommenders as tfrs
    except ImportError as e:
        raise ImportError(f"{_SCANN_MISSING} ({e})") from None
    return tfrs


_LAYER_CLASS = []


def _scann_layer_class():
    """tfrs' ScaNN layer, re-ordering at least `k` candidates whatever `k` a call asks for.

    The stock layer searches with the re-ordering size fixed at build time, so
    a call for more results than that size returned fewer than asked; and it
    passes on ScaNN's padding (document 0, score NaN) when the leaves searched
    hold fewer than `k` documents. Here such slots have id "" and score -inf.
    """
    if _LAYER_CLASS:
        return _LAYER_CLASS[0]
    tfrs = _import_scann()
    from scann.scann_ops.py import scann_ops

    class ScannLayer(tfrs.layers.factorized_top_k.ScaNN):
        def index_from_state(self, state, identifiers):
            """Indexes a searcher already built and serialised (a `scann_ops.ScannState`).

            tfrs' `index` builds the searcher from a tensor of the candidates;
            here it is handed over instead (see `read_scann_state`), and the
            rest of `index` (identifiers, caches) runs unchanged. The candidates
            tensor is then only read for its shape.
            """
            self._build_searcher = lambda candidates: _Prebuilt(state)
            return self.index(tf.zeros([len(identifiers), 0]), identifiers)

        @property
        def identifiers_tensor(self):
            """The indexed ids, a string `[num_documents]` variable in row order."""
            return self._identifiers

        def call(self, queries, k=None, leaves_to_search=None, num_reordering_candidates=None):
            k = self._k if k is None else k
            searcher = scann_ops.searcher_from_module(self._serialized_searcher)
            reorder = num_reordering_candidates or self._num_reordering_candidates
            pre_reorder = None if reorder is None else tf.maximum(k, reorder)
            result = searcher.search_batched_parallel(queries, final_num_neighbors=k,
                                                      pre_reorder_num_neighbors=pre_reorder,
                                                      leaves_to_search=leaves_to_search)
            # When the leaves searched hold fewer than k documents, ScaNN pads
            # with document 0 and a NaN score: mark those slots instead.
            found = tf.math.is_finite(result.distances)
            scores = tf.where(found, result.distances, float("-inf"))
            return scores, tf.where(found, tf.gather(self._identifiers, result.indices), "")

    _LAYER_CLASS.append(ScannLayer)
    return ScannLayer


class _Prebuilt:
    def __init__(self, state):
        self.state = state

    def serialize_to_module(self):
        return self.state


# Files of a searcher serialised by ScaNN's pybind API, in the order of the
# tensors of `scann_ops.ScannState` (None: assets this configuration has not).
_STATE_FILES = ("scann_config.pb", "serialized_partitioner.pb", "datapoint_to_token.npy", "ah_codebook.pb",
                "hashed_dataset.npy", None, None, None, "dataset.npy")
_ABSENT = (tf.string, tf.string, tf.int32, tf.string, tf.uint8, tf.int8, tf.float32, tf.float32, tf.float32)


def _read_npy_tensor(path):
    """A tensor of a .npy file, read once into 64-byte-aligned memory that the tensor then shares."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(f)
        if fortran_order:
            raise ValueError(f"{path}: Fortran-ordered array")
        nbytes = int(np.prod(shape)) * dtype.itemsize
        if nbytes < (1 << 20):
            data = f.read(nbytes)
            if len(data) != nbytes:
                raise ValueError(f"{path} is truncated")
            return tf.constant(np.frombuffer(data, dtype).reshape(shape))
        # TensorFlow shares (does not copy) the memory of a 64-byte-aligned array
        # passed through DLPack; tf.constant would hold two extra copies.
        raw = np.empty(nbytes + 64, np.uint8)
        offset = -raw.ctypes.data % 64
        array = raw[offset : offset + nbytes].view(dtype).reshape(shape)
        if f.readinto(memoryview(array.reshape(-1).view(np.uint8))) != nbytes:
            raise ValueError(f"{path} is truncated")
    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())


def build_pybind_searcher(embeddings, params, k, identifiers):
    """A ScaNN searcher built by ScaNN's pybind API, with `identifiers` as its docids (so it can be updated).

    Args:
        embeddings: float32 C-contiguous numpy `[num_documents, dim]` (no TensorFlow copy is made).
        params: `ScannParams`.
        k: int. The searcher's default number of neighbours.
        identifiers: list of str `[num_documents]`, in row order.

    Returns:
        `scann.scann_ops_pybind.ScannSearcher`.
    """
    import scann

    builder = (scann.scann_ops_pybind.builder(embeddings, k, "dot_product")
               .tree(num_leaves=params.num_leaves, num_leaves_to_search=params.num_leaves_to_search,
                     training_iterations=params.training_iterations)
               .score_ah(params.dimensions_per_block))
    if params.num_reordering_candidates is not None:
        builder = builder.reorder(params.num_reordering_candidates)
    return builder.build(docids=list(identifiers))


def serialize_searcher(searcher, folder):
    """Writes a pybind searcher's files into `folder` with relative asset paths (the folder can move).

    The docids are not written (ScaNN would pickle them): an index folder
    keeps them in `ids.txt`, in the searcher's row order.
    """
    pathlib.Path(folder).mkdir(parents=True, exist_ok=True)
    searcher.searcher.serialize(str(folder), True)
    return pathlib.Path(folder)


def load_pybind_searcher(folder, identifiers):
    """The pybind searcher serialised in `folder` (`serialize_searcher`), with `identifiers` as its docids.

    Nothing is unpickled: the ids come from the caller (an index folder's `ids.txt`).

    Raises:
        ValueError: the searcher holds another number of rows than `identifiers`.
    """
    _import_scann()
    from scann.scann_ops.py import scann_ops_pybind

    loaded = scann_ops_pybind.load_searcher(str(folder), assets_backcompat_shim=False)
    searcher = scann_ops_pybind.ScannSearcher(loaded.searcher, docids=list(identifiers))
    if searcher.size() != len(identifiers):
        raise ValueError(f"{folder} holds a searcher of {searcher.size()} rows but {len(identifiers)} ids were "
                         "given; rebuild the index with `tfsearch index build`.")
    return searcher


def read_scann_state(folder):
    """A searcher serialised by ScaNN's pybind API in `folder`, read into a `scann_ops.ScannState`.

    The `.npy` files are read once into memory that the tensors share.
    """
    from scann.scann_ops.py import scann_ops

    tensors = []
    for name, dtype in zip(_STATE_FILES, _ABSENT):
        path = pathlib.Path(folder) / name if name else None
        if path is None or not path.exists():
            tensors.append(tf.zeros([], dtype))
        elif name.endswith(".npy"):
            tensors.append(_read_npy_tensor(path))
        else:
            tensors.append(tf.constant([path.read_bytes()]))
    state = scann_ops.ScannState(tensors)
    del tensors
    return state


def _build_scann_state(embeddings, params, k, identifiers, folder, check_queries=None):
    """Builds a ScaNN searcher, serialises it into `folder` and returns it as a `scann_ops.ScannState`.

    Built with ScaNN's pybind API from the numpy matrix (no TensorFlow copy of
    the input), serialised, freed, and read back into variables: peak memory
    stays near twice the embeddings, where tfrs' own `index` (TF op,
    `scann_to_tensors`, variables, and a searcher resource that is never
    freed) went over three times. The files stay in `folder`: `save` keeps
    them, and `tfsearch.index.index_updates` updates them.

    With `check_queries`, returns `(state, positions)`: the top `k` document
    positions of those queries from the same searcher before it is freed (the
    TF op restores it bit for bit), so a recall check needs no second,
    TensorFlow-side searcher in memory.
    """
    searcher = build_pybind_searcher(embeddings, params, k, identifiers)
    positions = None
    if check_queries is not None:
        reorder = params.num_reordering_candidates
        positions, _ = searcher.searcher.search_batched(
            np.ascontiguousarray(check_queries, np.float32), k, -1 if reorder is None else max(k, reorder),
            params.num_leaves_to_search, True, 256)
    serialize_searcher(searcher, folder)
    del searcher
    release_freed_memory()
    state = read_scann_state(folder)
    return state if check_queries is None else (state, positions)


class ScannIndex(tf.Module):
    """ScaNN approximate maximum-inner-product search behind the tfsearch index interface.

    Wraps `tfrs.layers.factorized_top_k.ScaNN` (tree partitioning, asymmetric
    hashing, exact re-ordering; subclassed so that a call for more results than
    the re-ordering size still re-orders `k`); `layer` is that Keras layer, for
    use inside a model or SavedModel (save with
    `tf.saved_model.SaveOptions(namespace_whitelist=["Scann"])`). In an
    export's graph the index answers through `candidates` (the interface
    every backend shares) and `identifiers_tensor`; it is a `tf.Module`, so
    what they use is saved with the module holding it.

    Args:
        k: int. Default number of results.
        params: `ScannParams`, or None for `default_scann_params(num_documents)`
            chosen when `index()` is called.

    Example:
    ```python
    index = ScannIndex(k=10).index(document_embeddings, document_ids)
    scores, ids = index.search(query_embeddings)   # [num_queries, 10] each
    ```
    """

    backend = "scann"

    def __init__(self, k=10, params=None):
        super().__init__(name="scann_index")
        self.k = int(k)
        self.params = params
        self.layer = None
        self.folder = None  # where `load` read it from
        self._restored = None  # the saved `search` signature of a loaded index, read on first search
        self._saved_model_path = None
        self._identifiers = None
        self._embeddings = None
        self._embeddings_path = None
        self._position_of = None  # id -> row, for `candidates`
        self._document_embeddings = None  # the rows as a variable, for `candidates`
        self.check_positions = None
        self.num_documents = 0
        self.embedding_dim = None
        # The pybind searcher's serialised files (`SEARCHER_DIR` of a folder, or a temporary folder this
        # index owns), and the rows upserted or deleted since its tree was trained (`index_updates`).
        self.searcher_dir = None
        self._searcher_files = None
        self.updates_since_training = 0

    @property
    def identifiers(self):
        """The indexed ids, a list of str in row order."""
        return list(self._identifiers or [])

    @property
    def identifiers_tensor(self):
        """The indexed ids as a string `[num_documents]` variable (for graphs: `tf.gather` it by position).

        That of the Keras layer, so it is saved once; None on a loaded index
        (see `exportable`).
        """
        return None if self.layer is None else self.layer.identifiers_tensor

    @property
    def embeddings(self):
        """The indexed `[num_documents, dim]` float32 rows (memory-mapped once saved), or None.

        ScaNN keeps its own copy inside the searcher; this one feeds the
        re-ranking layer of an export and ILD in evaluations.
        """
        if self._embeddings is None and self._embeddings_path is not None and self._embeddings_path.is_file():
            self._embeddings = np.load(self._embeddings_path, mmap_mode="r")
        return self._embeddings

    def index(self, embeddings, identifiers, check_queries=None):
        """Builds the searcher over `[num_documents, dim]` embeddings with their string ids.

        With `check_queries` (`[num_queries, dim]`), `self.check_positions`
        holds their top-k document positions as this index returns them
        (measured on the build-time searcher; used by `build_index`).
        """
        layer_class = _scann_layer_class()
        embeddings = np.ascontiguousarray(embeddings, np.float32)
        identifiers = [str(i) for i in identifiers]
        if embeddings.ndim != 2 or len(embeddings) == 0:
            raise ValueError(f"`embeddings` must be a non-empty [num_documents, dim] matrix, got {embeddings.shape}.")
        if len(identifiers) != len(embeddings):
            raise ValueError(f"`identifiers` must hold one id per row of `embeddings`, got {len(embeddings)} "
                             f"embeddings but {len(identifiers)} identifiers.")
        if len(set(identifiers)) != len(identifiers):
            raise ValueError(f"`identifiers` must be unique, got {len(identifiers)} ids of which "
                             f"{len(set(identifiers))} are distinct.")
        params = self.params or default_scann_params(len(embeddings), self.k)
        params = dataclasses.replace(params, num_leaves=min(params.num_leaves, len(embeddings)),
                                     num_leaves_to_search=min(params.num_leaves_to_search, params.num_leaves))
        self.params = params
        self.layer = layer_class(
            k=self.k,
            num_leaves=params.num_leaves,
            num_leaves_to_search=params.num_leaves_to_search,
            training_iterations=params.training_iterations,
            dimensions_per_block=params.dimensions_per_block,
            num_reordering_candidates=params.num_reordering_candidates,
        )
        files = tempfile.TemporaryDirectory(prefix="tfsearch-scann-")  # removed with this index
        built = _build_scann_state(embeddings, params, self.k, identifiers, files.name, check_queries)
        state, self.check_positions = built if check_queries is not None else (built, None)
        self._index_state(state, identifiers, embeddings, pathlib.Path(files.name), files)
        self.updates_since_training = 0
        return self

    def index_from_searcher(self, folder, identifiers, embeddings, owner=None):
        """Indexes a searcher already serialised by ScaNN's pybind API in `folder`, without training.

        Used for a loaded index's `exportable()` and by `tfsearch.index.index_updates`.

        Args:
            folder: path. The files of `serialize_searcher` (a folder's `SEARCHER_DIR`).
            identifiers: list of str `[num_documents]`, in the searcher's row order.
            embeddings: float32 `[num_documents, dim]` in the same order (may be memory-mapped).
            owner: an object that must live as long as the files (a `tempfile.TemporaryDirectory`), or None.

        Returns:
            self.
        """
        self.params = self.params or default_scann_params(len(identifiers), self.k)
        self.layer = _scann_layer_class()(
            k=self.k,
            num_leaves=self.params.num_leaves,
            num_leaves_to_search=self.params.num_leaves_to_search,
            training_iterations=self.params.training_iterations,
            dimensions_per_block=self.params.dimensions_per_block,
            num_reordering_candidates=self.params.num_reordering_candidates,
        )
        self._index_state(read_scann_state(folder), [str(i) for i in identifiers], embeddings,
                          pathlib.Path(folder), owner)
        return self

    def _index_state(self, state, identifiers, embeddings, folder, owner):
        self.layer.index_from_state(state, tf.constant(identifiers))
        self._identifiers = identifiers
        self._embeddings = embeddings
        self._position_of = self._document_embeddings = None  # made again, from these rows, when first needed
        self.num_documents, self.embedding_dim = embeddings.shape
        self.searcher_dir, self._searcher_files = folder, owner

    def __call__(self, queries, k=None, leaves_to_search=None, num_reordering_candidates=None):
        """`(scores, ids)` tensors `[num_queries, k]`; ids are strings.

        `leaves_to_search` and `num_reordering_candidates` override the built
        values for this call (speed against recall), on an index built here.
        """
        k = self.k if k is None else int(k)
        queries = tf.convert_to_tensor(queries, tf.float32)
        if self.layer is not None:
            return self.layer(queries, k=k, leaves_to_search=leaves_to_search,
                              num_reordering_candidates=num_reordering_candidates)
        if leaves_to_search is not None or num_reordering_candidates is not None:
            raise ValueError("`leaves_to_search` and `num_reordering_candidates` apply to an index built here (a "
                             "loaded ScaNN index searches with the parameters it was built with), got "
                             f"leaves_to_search={leaves_to_search!r}, "
                             f"num_reordering_candidates={num_reordering_candidates!r}.")
        if self._restored is None and self._saved_model_path is not None:
            # Read when first searched: updating or exporting a loaded index never needs it.
            self._restored = tf.saved_model.load(str(self._saved_model_path)).signatures["search"]
        if self._restored is not None:
            out = self._restored(queries=queries, k=tf.constant(k, tf.int32))
            return out["scores"], out["ids"]
        raise ValueError("The index is empty; call `index(embeddings, identifiers)` first.")

    def candidates(self, query_embeddings, n):
        """The top `n` documents of each query with their rows: the in-graph retrieval of an export.

        The interface every index backend shares (`BruteForceIndex.candidates`),
        so that an export's graph (`tfsearch.export.SearchModule`) retrieves
        and re-ranks without knowing the backend. Needs the Keras layer: an
        index built here, or `exportable()` of a loaded one. The first call
        makes a lookup table from ids to rows and a non-trainable variable of
        the document embeddings (tracked by this module, so they are saved
        with it).

        Args:
            query_embeddings: float tensor `[batch_size, embedding_dim]`.
            n: int. Candidates per query, a Python int (it fixes the static
                shapes: ScaNN's op leaves the candidate axis unknown).

        Returns:
            `(scores, positions, embeddings)`: float32 `[batch_size, n]` inner
            products, best first; int32 `[batch_size, n]` rows of the index
            (ids: `tf.gather(index.identifiers_tensor, positions)`), -1 for a
            slot ScaNN could not fill (the leaves searched held fewer than
            `n` documents), whose score is -inf; float32 `[batch_size, n,
            embedding_dim]` the documents' embeddings (row 0's where -1: mask
            them with `positions >= 0`).

        Example:
        ```python
        index = ScannIndex(k=10).index(document_embeddings, document_ids)
        scores, positions, embeddings = index.candidates(tf.constant(query_embeddings), 100)
        # [num_queries, 100], [num_queries, 100], [num_queries, 100, dim]
        ```

        Raises:
            ValueError: `n` is not a positive int, or the index is empty or
                loaded (no Keras layer).
        """
        n = check_num_candidates(n)
        if self.layer is None and self._saved_model_path is None:
            raise ValueError("The index is empty; call `index(embeddings, identifiers)` first.")
        if self.layer is None:
            raise ValueError("A loaded ScaNN index answers through its own SavedModel, which has no in-graph "
                             "`candidates`: use `exportable()` (or `tfsearch.index.exportable_index`) first.")
        position_of, rows = self._candidate_state()
        scores, ids = self.layer(tf.convert_to_tensor(query_embeddings, tf.float32), k=n)
        # When the leaves searched hold fewer than `n` documents, the op returns fewer columns.
        missing = n - tf.shape(ids)[1]
        scores = tf.pad(scores, [[0, 0], [0, missing]], constant_values=float("-inf"))
        ids = tf.pad(ids, [[0, 0], [0, missing]], constant_values="")
        # The op leaves the candidate axis unknown; re-ranking needs it static.
        scores, ids = tf.ensure_shape(scores, [None, n]), tf.ensure_shape(ids, [None, n])
        positions = position_of.lookup(ids)  # -1 where ScaNN could not fill a slot (id "")
        return scores, positions, tf.gather(rows, tf.maximum(positions, 0))

    def _candidate_state(self):
        """The id -> row table and the rows' variable of `candidates`, made once, outside any graph being traced."""
        if self._position_of is None:
            with tf.init_scope():
                self._position_of = tf.lookup.StaticHashTable(
                    tf.lookup.KeyValueTensorInitializer(tf.constant(self.identifiers),
                                                        tf.range(self.num_documents, dtype=tf.int32)),
                    default_value=-1)
                self._document_embeddings = tf.Variable(np.asarray(self.embeddings, np.float32), trainable=False,
                                                        name="document_embeddings")
        return self._position_of, self._document_embeddings

    def exportable(self):
        """An index whose `candidates` works in an export (see `tfsearch.index.exportable_index`).

        This one when it was built here. For a loaded one, which answers
        through its own SavedModel: the searcher the folder keeps in
        `SEARCHER_DIR` (no retraining: the export serves exactly this index,
        updates included); a folder written before it kept one is rebuilt
        from its embeddings with the parameters it was tuned to (ScaNN's
        k-means is randomised: the tree differs).

        Returns:
            `ScannIndex` with a Keras layer.

        Raises:
            ValueError: a loaded index without its embeddings (a folder
                written before they were saved).
        """
        if self.layer is not None:
            return self
        if self.embeddings is None:
            raise ValueError(f"{self.folder or 'This index'} holds no document embeddings to rebuild the searcher "
                             "from (built before they were saved); rebuild it with `tfsearch index build`.")
        index = ScannIndex(k=self.k, params=self.params)
        if self.searcher_dir is not None:
            index.index_from_searcher(self.searcher_dir, self.identifiers, self.embeddings)
            index.updates_since_training = self.updates_since_training
            return index
        return index.index(np.asarray(self.embeddings), self.identifiers)

    def search(self, queries, k=None, **overrides):
        """Like `BruteForceIndex.search`: `(scores [num_queries, k] numpy, ids list of lists of str)`.

        A list is shorter than `k` when the leaves searched hold fewer than `k`
        documents (its missing scores are -inf).
        """
        queries = np.asarray(queries, np.float32)
        if queries.ndim != 2 or (self.embedding_dim is not None and queries.shape[1] != self.embedding_dim):
            raise ValueError(f"`queries` must be [num_queries, {self.embedding_dim}], got shape {queries.shape}.")
        k = min(self.k if k is None else int(k), self.num_documents)
        if len(queries) == 0:
            return np.zeros([0, k], np.float32), []
        scores, ids = self(queries, k, **overrides)
        # Slots ScaNN could not fill (id "", score -inf) are left out of the lists.
        return scores.numpy(), [[i.decode("utf-8") for i in row if i] for row in ids.numpy()]

    def save(self, path, metadata=None, overwrite=False):
        """Writes the index folder atomically.

        It holds a SavedModel (signature `search`: queries, k -> scores, ids),
        the pybind searcher's files (`SEARCHER_DIR`, what `tfsearch index
        update` updates), `embeddings.npy`, `ids.txt` and `index.json`
        (`updates_since_training` included).
        """
        if self.layer is None:
            raise ValueError("Nothing to save: build the index with `index()` first.")
        module = _SearchModule(self.layer, self.embedding_dim)
        with atomic_directory(path, overwrite=overwrite) as tmp:
            tf.saved_model.save(module, str(tmp / "saved_model"), signatures={"search": module.search},
                                options=tf.saved_model.SaveOptions(namespace_whitelist=[SCANN_NAMESPACE]))
            meta = {
                "format": INDEX_FORMAT,
                "backend": "scann",
                "k": self.k,
                "params": dataclasses.asdict(self.params),
                "num_documents": self.num_documents,
                "embedding_dim": self.embedding_dim,
                "updates_since_training": self.updates_since_training,
                "metadata": metadata or {},
            }
            if self.searcher_dir is not None:
                shutil.copytree(self.searcher_dir, tmp / SEARCHER_DIR)
                meta["searcher"] = SEARCHER_DIR
            if self.embeddings is not None:
                np.save(tmp / "embeddings.npy", np.asarray(self.embeddings, np.float32))
            write_index_files(tmp, self._identifiers, meta)
        return pathlib.Path(path)

    @classmethod
    def load(cls, path):
        """Reads a folder written by `save`; returns `(index, metadata)`. Needs `scann` importable."""
        path = pathlib.Path(path)
        meta = read_index_meta(path, INDEX_FORMAT)
        _import_scann()
        index = cls(k=meta["k"], params=ScannParams(**meta["params"]))
        index._saved_model_path = path / "saved_model"
        index._identifiers = read_identifiers(path, meta["num_documents"])
        index.num_documents, index.embedding_dim = meta["num_documents"], meta["embedding_dim"]
        index._embeddings_path = path / "embeddings.npy"
        index.searcher_dir = path / SEARCHER_DIR if (path / SEARCHER_DIR).is_dir() else None
        index.updates_since_training = int(meta.get("updates_since_training", 0))
        index.folder = path
        return index, meta["metadata"]


class _SearchModule(tf.Module):
    def __init__(self, layer, embedding_dim):
        super().__init__()
        self.layer = layer
        self.search = tf.function(
            self._search,
            input_signature=[tf.TensorSpec([None, embedding_dim], tf.float32, name="queries"),
                             tf.TensorSpec([], tf.int32, name="k")],
        )

    def _search(self, queries, k):
        scores, ids = self.layer(queries, k=k)
        return {"scores": scores, "ids": ids}
