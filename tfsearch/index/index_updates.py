"""Live index updates: add, replace and delete documents without re-encoding the rest.

Exact and int8 indexes (`BruteForceIndex`) are rewritten row by row: a
replaced document keeps its row, deleted rows are removed keeping the order of
the others, new documents are appended, and the int8 codes are quantised again
over all rows (their per-dimension ranges depend on the whole matrix), so that
search equals a fresh build over the updated corpus. ScaNN indexes are updated
through ScaNN's own pybind `upsert` / `delete` on the searcher an index folder
keeps (`scann_searcher/`), and rebalanced (the partitioning retrained from the
current rows) by the rule of `rebalance_decision`.

Example:
```python
from tfsearch.index.index_updates import update_index, update_index_folder

index, report = update_index(index, add_ids=["d9"], add_embeddings=rows, delete_ids=["d1"])
report = update_index_folder("indexes/scifact", "indexes/scifact-v2", add="emb/new", delete="gone.txt")
```
"""

import dataclasses
import datetime
import pathlib
import tempfile

import numpy as np

from tfsearch.index.brute_force_index import BruteForceIndex
from tfsearch.index.index_building import EncoderMismatchError, load_index
from tfsearch.index.scann_index import ScannIndex

REBALANCE_MODES = ("auto", "always", "never")
# `rebalance="auto"` retrains ScaNN's partitioning once the rows upserted or deleted since it was trained exceed
# this fraction of the index's size (recall drift measured in docs/guides/indexes.md#live-updates).
REBALANCE_FRACTION = 0.05
_SHOWN = 5  # ids quoted in an error


def _quote(ids):
    ids = list(ids)
    shown = ", ".join(repr(i) for i in ids[:_SHOWN])
    return shown + (f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else "")


def check_update(index, add_ids=(), add_embeddings=None, delete_ids=(), identifiers=None):
    """Checks an update against `index` before anything changes; returns it normalised.

    Args:
        index: `BruteForceIndex` or `ScannIndex`.
        add_ids: sequence of str `[num_added]`, unique: ids new to the index are
            inserted, ids it holds are replaced.
        add_embeddings: float `[num_added, embedding_dim]`, or None when nothing is added.
        delete_ids: sequence of str, every one held by the index (repeats are ignored).
        identifiers: `index.identifiers` when the caller has them already (decoding them again is slow
            for millions of ids), or None.

    Returns:
        `(add_ids, add_embeddings, delete_ids)`: lists of str and float32 `[num_added, embedding_dim]`.

    Raises:
        ValueError: ids to delete the index does not hold (a few are named), an id both added and
            deleted, repeated ids to add, embeddings of another shape or not finite, or an update
            that would leave the index empty.
    """
    add_ids = [str(i) for i in add_ids]
    delete_ids = list(dict.fromkeys(str(i) for i in delete_ids))
    dim = index.embedding_dim
    if add_embeddings is None:
        add_embeddings = np.zeros([0, dim], np.float32)
    add_embeddings = np.ascontiguousarray(add_embeddings, np.float32)
    if add_embeddings.ndim != 2 or add_embeddings.shape[1] != dim or len(add_embeddings) != len(add_ids):
        raise ValueError(f"The embeddings to add must be [{len(add_ids)}, {dim}] (one row per id, the index's "
                         f"dimension), got shape {add_embeddings.shape}.")
    if not np.isfinite(add_embeddings).all():
        raise ValueError("The embeddings to add hold NaN or infinite values.")
    if len(set(add_ids)) != len(add_ids):
        seen = set()
        repeated = [i for i in add_ids if i in seen or seen.add(i)]
        raise ValueError(f"Ids to add occur more than once: {_quote(dict.fromkeys(repeated))}; give each "
                         "document once.")
    held = set(index.identifiers if identifiers is None else identifiers)
    unknown = [i for i in delete_ids if i not in held]
    if unknown:
        raise ValueError(f"{len(unknown)} id(s) to delete are not in the index: {_quote(unknown)}. Nothing was "
                         "changed; remove them from the delete list.")
    both = set(add_ids) & set(delete_ids)
    if both:
        raise ValueError(f"Ids are both added and deleted: {_quote(sorted(both))}. Nothing was changed; keep each "
                         "id in one of the two lists.")
    if len(held) - len(delete_ids) + len(set(add_ids) - held) == 0:
        raise ValueError("The update would delete every document of the index; build a new index instead.")
    return add_ids, add_embeddings, delete_ids


def rebalance_decision(updates_since_training, num_documents, mode="auto"):
    """Whether to retrain ScaNN's partitioning after an update, and why.

    `"auto"` rebalances when the rows upserted or deleted since the tree was
    trained (`updates_since_training`, counting this update) exceed
    `REBALANCE_FRACTION` of the index's size after the update; `"always"` and
    `"never"` force the choice.

    Returns:
        `(rebalance, reason)`: bool and one line.

    Example:
    ```python
    rebalance_decision(300, 1000)   # (True, "300 rows updated since training > 0.05 x 1,000 documents: rebalanced")
    ```
    """
    if mode not in REBALANCE_MODES:
        raise ValueError(f"`rebalance` must be one of {REBALANCE_MODES}, got {mode!r}.")
    if mode != "auto":
        return mode == "always", f"rebalance {mode} requested"
    limit = REBALANCE_FRACTION * num_documents
    if updates_since_training > limit:
        return True, (f"{updates_since_training:,} rows updated since training > {REBALANCE_FRACTION} x "
                      f"{num_documents:,} documents: rebalanced")
    return False, (f"{updates_since_training:,} rows updated since training <= {REBALANCE_FRACTION} x "
                   f"{num_documents:,} documents: partitions kept")


def _gather_rows(new_ids, old_ids, old_embeddings, add_ids, add_embeddings):
    """The `[len(new_ids), dim]` rows of `new_ids`: the added row where given, else the old one.

    One gather of the old rows by position, then the added rows written over
    their places: linear in the index's size, with Python work only for the
    dictionary of old positions. Old rows given as a numpy array (ScaNN's,
    memory-mapped once saved) give a numpy array; an exact index's variable
    gives a tensor, gathered and updated by TensorFlow, which the new index's
    variable then takes without another copy of the matrix.
    """
    old_position = {i: r for r, i in enumerate(old_ids)}
    source = np.fromiter((old_position.get(i, 0) for i in new_ids), np.int64, count=len(new_ids))
    added = {i: r for r, i in enumerate(add_ids)}
    places = [(r, added[i]) for r, i in enumerate(new_ids) if i in added]
    targets, sources = (np.array(column, np.int64) for column in zip(*places)) if places else (
        np.zeros([0], np.int64), np.zeros([0], np.int64))
    if isinstance(old_embeddings, np.ndarray):
        rows = np.take(old_embeddings, source, axis=0)
        rows[targets] = add_embeddings[sources]
        return rows
    import tensorflow as tf

    return tf.tensor_scatter_nd_update(tf.gather(old_embeddings, source), targets[:, None],
                                       add_embeddings[sources])


def update_index(index, add_ids=(), add_embeddings=None, delete_ids=(), rebalance="auto"):
    """Adds, replaces and deletes documents; returns a new index and a report (`index` is not changed).

    Args:
        index: `BruteForceIndex` (float32 or int8), or `ScannIndex` built in this process or loaded
            from a folder that keeps its searcher (`scann_searcher/`).
        add_ids: sequence of str `[num_added]`, unique. An id the index holds is replaced (new
            vector, same row for exact search), a new one inserted.
        add_embeddings: float `[num_added, embedding_dim]` from the index's encoder, or None.
        delete_ids: sequence of str the index holds.
        rebalance: `"auto"`, `"always"` or `"never"` (ScaNN only; see `rebalance_decision`).

    Returns:
        `(new_index, report)`: an index of the same backend and parameters, and a dict with
        `added`, `replaced`, `deleted`, `num_documents_before`, `num_documents`, `rebalanced`,
        `rebalance_reason` and `updates_since_training`.

    Raises:
        ValueError: what `check_update` refuses, or a ScaNN index without its pybind searcher.

    Example:
    ```python
    index = BruteForceIndex(k=2).index(np.eye(3, dtype="float32"), ["a", "b", "c"])
    new, report = update_index(index, ["b", "d"], np.eye(3, dtype="float32")[[2, 0]], ["a"])
    new.identifiers   # ["b", "c", "d"]; report["replaced"] == report["added"] == report["deleted"] == 1
    ```
    """
    if rebalance not in REBALANCE_MODES:
        raise ValueError(f"`rebalance` must be one of {REBALANCE_MODES}, got {rebalance!r}.")
    old_ids = index.identifiers
    add_ids, add_embeddings, delete_ids = check_update(index, add_ids, add_embeddings, delete_ids, old_ids)
    held = set(old_ids)
    report = {"backend": index.backend, "added": sum(i not in held for i in add_ids),
              "replaced": sum(i in held for i in add_ids), "deleted": len(delete_ids),
              "num_documents_before": len(old_ids)}
    if isinstance(index, ScannIndex):
        new_index = _update_scann(index, add_ids, add_embeddings, delete_ids, rebalance, report)
    else:
        gone, new = set(delete_ids), [i for i in add_ids if i not in held]
        new_ids = [i for i in old_ids if i not in gone] + new
        rows = _gather_rows(new_ids, old_ids, index.embeddings, add_ids, add_embeddings)  # a tensor
        new_index = BruteForceIndex.from_config(index.get_config()).index(rows, new_ids)
        report.update(rebalanced=False, rebalance_reason="exact search has no partitions",
                      updates_since_training=0)
    report["num_documents"] = new_index.num_documents
    return new_index, report


def _update_scann(index, add_ids, add_embeddings, delete_ids, rebalance, report):
    """ScaNN: pybind upsert / delete on a copy of the searcher, serialised, read into a new index."""
    from tfsearch.index.scann_index import load_pybind_searcher, serialize_searcher

    if index.searcher_dir is None:
        raise ValueError(f"{index.folder or 'This ScaNN index'} keeps no pybind searcher (written before "
                         "`scann_searcher/` was saved), so it cannot be updated; rebuild it with "
                         "`tfsearch index build`.")
    old_ids = index.identifiers
    searcher = load_pybind_searcher(index.searcher_dir, old_ids)
    if add_ids:
        searcher.upsert(list(add_ids), add_embeddings, batch_size=min(256, len(add_ids)))
    if delete_ids:
        searcher.delete(list(delete_ids))  # each delete moves the last row into the freed slot
    new_ids = list(searcher.docids)
    updates = index.updates_since_training + len(add_ids) + len(delete_ids)
    rebalanced, reason = rebalance_decision(updates, len(new_ids), rebalance)
    if rebalanced:
        searcher.rebalance()  # a full retrain of the partitioning from the current rows, same config
        updates = 0
    files = tempfile.TemporaryDirectory(prefix="tfsearch-scann-")  # owned by the new index
    serialize_searcher(searcher, files.name)
    del searcher
    rows = _gather_rows(new_ids, old_ids, index.embeddings, add_ids, add_embeddings)  # a tensor
    new_index = ScannIndex(k=index.k, params=dataclasses.replace(index.params))
    new_index.index_from_searcher(files.name, new_ids, rows, owner=files)
    new_index.updates_since_training = updates
    report.update(rebalanced=rebalanced, rebalance_reason=reason, updates_since_training=updates)
    return new_index


def _partition(index_metadata):
    """`(i, n)` of an index built with `--partition I/N` (`metadata.partition`), or None."""
    partition = index_metadata.get("partition")
    return None if not partition else (int(partition["index"]), int(partition["count"]))


def read_additions(source, index_metadata, batch_size=64, progress=False):
    """The documents to add from an embedding shard set or a `corpus.jsonl`, checked against the index's encoder.

    Args:
        source: a shard-set folder or its `manifest.json` (`tfsearch encode`), or a BEIR-style
            `corpus.jsonl`, encoded here with the index's encoder (metadata `model`, `max_length`,
            `precision`).
        index_metadata: the `metadata` of the index's `index.json` (its `encoder_fingerprint`).
        batch_size: int. Texts per forward pass (corpus only).
        progress: bool. Progress bars.

    An index built as one partition of a corpus (`index build --partition I/N`) takes only the
    documents whose id falls in its partition (`partition_of`); the others belong to other
    partitions.

    Returns:
        `(ids, embeddings, kind)`: list of str, float32 `[count, dim]` (None when no document is
        left), and `"manifest"` or `"corpus"`.

    Raises:
        EncoderMismatchError: the shards, or the model the index names, come from another encoder.
        ValueError: the index records no encoder fingerprint.
    """
    from tfsearch.embeddings.embedding_shards import MANIFEST_FILE, partition_of, read_embeddings, read_manifest

    built_with = index_metadata.get("encoder_fingerprint")
    if built_with is None:
        raise ValueError("The index records no encoder fingerprint, so documents to add cannot be checked against "
                         "its encoder; rebuild it with `tfsearch index build`.")
    path = pathlib.Path(source)
    if path.is_dir() or path.name == MANIFEST_FILE or path.suffix == ".json":
        manifest = read_manifest(source)
        if manifest["encoder_fingerprint"] != built_with:
            raise EncoderMismatchError(
                f"{source} holds embeddings of encoder {manifest['encoder_fingerprint']}, but the index was built "
                f"with encoder {built_with}: they are not comparable. Encode the documents with the index's model "
                f"(`tfsearch encode --model {index_metadata.get('model') or '<the index model>'}`), or rebuild the "
                f"index from shards of one encoder (`tfsearch index build --embeddings`).")
        ids, embeddings = read_embeddings(manifest, progress=progress, partition=_partition(index_metadata))
        return ids, embeddings, "manifest"
    if not path.is_file():
        raise FileNotFoundError(f"{source}: no such file or shard set (give a corpus.jsonl or a shard-set folder).")
    from tfsearch.data.beir import iter_corpus
    from tfsearch.data.pipelines import texts_dataset
    from tfsearch.models.batch_encoding import encode_dataset
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.models.fingerprint import model_fingerprint
    from tfsearch.utils.precision import policy_of

    partition = _partition(index_metadata)
    documents = [d for d in iter_corpus(path)  # validated before the model is loaded
                 if partition is None or partition_of(d.id, partition[1]) == partition[0]]
    if not documents:
        return [], None, "corpus"
    encoder = BertEncoder.from_pretrained(index_metadata.get("model"), sequence_length=index_metadata.get(
        "max_length"), dtype=policy_of(index_metadata.get("precision")))
    if model_fingerprint(encoder) != built_with:
        raise EncoderMismatchError(
            f"The index names model {index_metadata.get('model')!r}, which is now encoder "
            f"{model_fingerprint(encoder)}, but the index was built with encoder {built_with}: the model changed "
            "since. Rebuild the index with `tfsearch index build`.")
    ids, embeddings = encode_dataset(encoder, texts_dataset([d.id for d in documents],
                                                            [d.contents() for d in documents]),
                                     batch_size=batch_size, total=len(documents), progress=progress,
                                     description="encoding documents to add")
    return ids, embeddings, "corpus"


def read_delete_ids(path):
    """The ids of a delete file: one per line, blank lines skipped."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def update_index_folder(path, output, add=None, delete=None, rebalance="auto", overwrite=False, batch_size=64,
                        progress=False):
    """Updates the index folder `path` into a new folder `output`, atomically; `path` is never modified.

    Everything is checked (output free, ids to delete held, encoder fingerprints) before anything is
    written. `index.json` of the new folder keeps the metadata of `path` and appends this update to
    `metadata.updates` (counts, sources, rebalance). The next `tfsearch export` of `output` makes the
    next SavedModel version.

    Args:
        path: index folder (`tfsearch index build` or an earlier update).
        output: the new index folder.
        add: shard-set path or `corpus.jsonl` (see `read_additions`), or None.
        delete: file of ids to delete, one per line, or None.
        rebalance: `"auto"`, `"always"` or `"never"` (ScaNN).
        overwrite: replace an existing `output`.
        batch_size: int. Texts per forward pass when `add` is a corpus.
        progress: bool. Progress bars.

    Returns:
        The update's record (the `update_index` report plus sources), as written to `index.json`.
    """
    path, output = pathlib.Path(path), pathlib.Path(output)
    if add is None and delete is None:
        raise ValueError("Nothing to update: give documents to add, ids to delete, or both.")
    if output.resolve() == path.resolve():
        raise ValueError(f"The output {output} is the index being updated; write the update to a new folder.")
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} already exists; choose another path or pass --overwrite.")
    delete_ids = read_delete_ids(delete) if delete is not None else []
    index, metadata = load_index(path)
    partition, skipped = _partition(metadata), 0
    if partition is not None:  # ids of the other partitions are theirs to delete
        from tfsearch.embeddings.embedding_shards import partition_of

        kept = [i for i in delete_ids if partition_of(i, partition[1]) == partition[0]]
        delete_ids, skipped = kept, len(delete_ids) - len(kept)
    add_ids, add_embeddings, kind = (read_additions(add, metadata, batch_size, progress) if add is not None
                                     else ([], None, None))
    new_index, report = update_index(index, add_ids, add_embeddings, delete_ids, rebalance=rebalance)
    if partition is not None:
        report["other_partitions_skipped"] = {"delete": skipped}
    record = {**report, "from_index": str(path), "add": None if add is None else str(add), "add_kind": kind,
              "delete": None if delete is None else str(delete), "rebalance": rebalance,
              "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    new_index.save(output, metadata={**metadata, "updates": [*metadata.get("updates", []), record]},
                   overwrite=overwrite)
    return record
