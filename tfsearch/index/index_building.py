"""One entry point over the index backends: build, save with provenance, load with checks."""

import dataclasses
import math
import pathlib

import numpy as np

from tfsearch.index.brute_force_index import INDEX_FORMAT as BRUTE_FORCE_FORMAT
from tfsearch.index.brute_force_index import BruteForceIndex
from tfsearch.index.index_files import read_index_meta
from tfsearch.index.scann_index import INDEX_FORMAT as SCANN_FORMAT
from tfsearch.index.scann_index import ScannIndex

BACKENDS = ("auto", "brute_force", "scann")
_MAX_REBUILDS = 3

# `backend="auto"` picks ScaNN from this many documents, exact search below:
# the smallest measured corpus size where tuned ScaNN serves 64-query batches at
# least twice as fast as exact float32 search (`python bench/backend_crossover.py`,
# bench/results/backend_crossover.json; docs/guides/indexes.md).
AUTO_SCANN_MIN_DOCUMENTS = 30_000


class EncoderMismatchError(ValueError):
    """Raised when an index is used with an encoder other than the one that built it."""


def choose_backend(num_documents, backend="auto", quantization=None):
    """Resolves `backend` (`"auto"`, `"brute_force"` or `"scann"`) for a corpus of `num_documents`.

    `"auto"` is exact search (`brute_force`) below `AUTO_SCANN_MIN_DOCUMENTS`,
    where it is fast enough and loses nothing, and ScaNN at and above it.
    `quantization="int8"` is a flavour of exact search: with `"auto"` it is an
    error where ScaNN is chosen (ScaNN quantises by itself).

    Returns:
        dict: `backend` (the one to build), `requested`, `num_documents`,
        `threshold` and `reason` (one line, printed by `tfsearch index build`).

    Example:
    ```python
    choose_backend(5183)["reason"]
    # "5,183 documents < 30,000 (crossover measured in bench/results/backend_crossover.json): exact search"
    ```
    """
    if backend not in BACKENDS:
        raise ValueError(f"`backend` must be one of {BACKENDS}, got {backend!r}.")
    threshold = AUTO_SCANN_MIN_DOCUMENTS
    where = "crossover measured in bench/results/backend_crossover.json"
    if backend != "auto":
        chosen, reason = backend, f"{backend} requested"
    elif num_documents < threshold:
        chosen, reason = "brute_force", f"{num_documents:,} documents < {threshold:,} ({where}): exact search"
    else:
        chosen, reason = "scann", f"{num_documents:,} documents >= {threshold:,} ({where}): ScaNN"
    if quantization is not None and chosen != "brute_force":
        raise ValueError(f"`quantization` applies to the brute_force backend (ScaNN quantises by itself), got "
                         f"{quantization!r} with backend {chosen!r}"
                         + (f" ({reason}); request backend brute_force for int8." if backend == "auto" else "."))
    return {"backend": chosen, "requested": backend, "num_documents": int(num_documents), "threshold": threshold,
            "reason": reason}


def build_index(embeddings, identifiers, backend="brute_force", k=10, target_recall=None, tuning_queries=None,
                progress=False, quantization=None):
    """Builds an index of `backend` over `[num_documents, dim]` embeddings.

    `backend="auto"` chooses by corpus size (`choose_backend`): exact search
    below `AUTO_SCANN_MIN_DOCUMENTS`, ScaNN at and above.

    `quantization="int8"` selects `brute_force`'s int8 scan with exact
    re-scoring (ScaNN quantises by itself, with asymmetric hashing).

    For `scann`, parameters are tuned on `tuning_queries` (`[num_queries, dim]`)
    to reach `target_recall` recall@k against exact search at the highest
    throughput (`tune_scann`); None is `DEFAULT_TARGET_RECALL`, the target
    measured to keep SciFact's nDCG@10 within 0.005 of exact search
    (bench/results/scann_target.json). Without tuning queries, up to 500
    documents serve as queries.

    Returns:
        `(index, report)`: the index and a JSON-serialisable dict of what was
        chosen: None for `brute_force` requested by name; with `"auto"`, the
        dict has `choice` (`choose_backend`'s) and, for ScaNN, the tuning.
    """
    from tfsearch.index.scann_tuning import DEFAULT_TARGET_RECALL

    choice = choose_backend(len(embeddings), backend, quantization)
    target_recall = DEFAULT_TARGET_RECALL if target_recall is None else target_recall
    embeddings = np.ascontiguousarray(embeddings, np.float32)
    if choice["backend"] == "brute_force":
        index = BruteForceIndex(k=k, quantization=quantization).index(embeddings, identifiers)
        return index, ({"choice": choice} if backend == "auto" else None)

    from tfsearch.index.scann_tuning import exact_neighbours, recall_at_k, release_freed_memory, tune_scann

    if tuning_queries is None or len(tuning_queries) == 0:
        rows = np.random.default_rng(0).choice(len(embeddings), size=min(500, len(embeddings)), replace=False)
        tuning_queries = embeddings[rows]
    tuning_queries = np.asarray(tuning_queries, np.float32)
    exact = exact_neighbours(embeddings, tuning_queries, min(k, len(embeddings)))  # once, for tuning and checks
    params, report = tune_scann(embeddings, tuning_queries, k=k, target_recall=target_recall, progress=progress,
                                exact=exact)
    report = report.to_dict()
    # The layer trains its own tree (k-means is randomised): measure what was
    # built, and search wider while it falls short of the target.
    report["built"] = []
    index = None
    for attempt in range(_MAX_REBUILDS + 1):
        del index  # the previous attempt's searcher, before building the next (memory)
        release_freed_memory()
        index = ScannIndex(k=k, params=params).index(embeddings, identifiers, check_queries=tuning_queries)
        # Measured on the build-time searcher (the layer restores it exactly),
        # so no TensorFlow-side searcher is created while building.
        recall = recall_at_k(index.check_positions, exact)
        report["built"].append({"num_leaves_to_search": params.num_leaves_to_search,
                                "num_reordering_candidates": params.num_reordering_candidates, "recall": recall})
        if recall >= target_recall or attempt == _MAX_REBUILDS:
            break
        params = dataclasses.replace(
            params,
            num_leaves_to_search=min(params.num_leaves, int(math.ceil(params.num_leaves_to_search * 1.5))),
            num_reordering_candidates=min(len(embeddings), int(math.ceil(params.num_reordering_candidates * 1.5))),
        )
    report["built_recall"] = recall
    if backend == "auto":
        report["choice"] = choice
    return index, report


def load_index(path, encoder_fingerprint=None):
    """Loads an index folder of any backend; returns `(index, metadata)`.

    Args:
        path: a folder written by an index's `save`.
        encoder_fingerprint: the fingerprint of the encoder that will embed the
            queries (`tfsearch.models.fingerprint.model_fingerprint`), or None
            to skip the check.

    Raises:
        FileNotFoundError: not an index folder.
        EncoderMismatchError: the index was built with another encoder.
        ImportError: a ScaNN index where `scann` cannot be imported (with the fix).
    """
    path = pathlib.Path(path)
    meta = read_index_meta(path)
    index_format = meta.get("format")
    loaders = {BRUTE_FORCE_FORMAT: BruteForceIndex.load, SCANN_FORMAT: ScannIndex.load}
    if index_format not in loaders:
        raise ValueError(f"{path} holds an index of unknown format {index_format!r}; known: {sorted(loaders)}.")
    built_with = meta.get("metadata", {}).get("encoder_fingerprint")
    if encoder_fingerprint is not None and built_with is not None and built_with != encoder_fingerprint:
        raise EncoderMismatchError(
            f"{path} was built with encoder {built_with}, but the queries would be embedded by encoder "
            f"{encoder_fingerprint}: their embeddings are not comparable. Use the model the index was built with "
            "(see index.json) or rebuild the index with `tfsearch index build`."
        )
    return loaders[index_format](path)


def exportable_index(index):
    """An index whose in-graph `candidates` works in an export, from one as `load_index` returns it.

    A built index is returned as it is. A loaded ScaNN index answers through
    its own SavedModel, but an export needs the Keras layer: it is made from
    the pybind searcher the folder keeps (`scann_searcher/`, updates included,
    no retraining); a folder written before it kept one is rebuilt from the
    saved embeddings with the parameters the index was tuned to (ScaNN's
    k-means is randomised: the tree differs). Each backend decides through
    its `exportable()` method.

    Args:
        index: a `BruteForceIndex` or `ScannIndex`, built or loaded.

    Returns:
        An index of the same backend, ready for `tfsearch.export.export_search_model`.

    Raises:
        ValueError: the index holds no document embeddings (a folder written
            before they were saved).

    Example:
    ```python
    index, metadata = load_index("indexes/scifact-scann")
    export_search_model(encoder, exportable_index(index), "saved_models/scifact")
    ```
    """
    if index.embeddings is None:
        raise ValueError(f"{index.folder or 'This index'} holds no document embeddings (built before they were "
                         "saved); rebuild it with `tfsearch index build`.")
    return index.exportable()
