"""Sharded document embeddings: TFRecord shards with their ids, described by a manifest written last.

A shard set is a folder (local, or any file system TensorFlow's `tf.io.gfile`
reads, such as `gs://`) holding

- `manifest.json`: `format` (`"tfsearch.embeddings.v1"`), `count`,
  `embedding_dim`, `dtype`, `encoder_fingerprint`, the encoder settings
  (`model`, `max_length`, `precision`), `source` and `shards`: one
  `{"path": ..., "bytes": ...}` per shard, the path relative to the folder;
- the shards: TFRecord files of `tf.train.Example`s with the features `id`
  (bytes, UTF-8) and `embedding` (`embedding_dim` floats, unit length).

The manifest is what makes the set: it is written after every shard is
complete, and a reader opens only the shards it lists, checking their sizes
and, while reading, the count. `tfsearch encode` writes sets with Apache Beam
(`tfsearch.embeddings.beam_encoding`); `write_embedding_shards` writes one
from an in-memory matrix.

Example:
```python
write_embedding_shards("emb/scifact", ids, embeddings, encoder_fingerprint="0123456789abcdef")
manifest = read_manifest("emb/scifact")
ids, matrix = read_embeddings(manifest)          # list of str, [count, dim] float32
for batch_ids, batch in iter_embedding_batches(manifest, batch_size=4096):
    ...                                          # streamed, shard after shard
part_ids, part = read_embeddings(manifest, partition=(1, 4))  # the ids with partition_of(id, 4) == 1
```
"""

import datetime
import hashlib
import json
import posixpath

import numpy as np

MANIFEST_FILE = "manifest.json"
SHARDS_FORMAT = "tfsearch.embeddings.v1"
SHARD_SUFFIX = ".tfrecord"
PARTITION_HASH = "blake2b-64 mod n"  # how `partition_of` assigns an id; recorded in a partition's index.json


class ShardSetError(ValueError):
    """A shard set that cannot be read as its manifest describes it (missing, truncated, inconsistent)."""


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def manifest_path(path):
    """The manifest file of `path`: a shard-set folder or its `manifest.json`."""
    path = str(path)
    return path if path.endswith(".json") else posixpath.join(path.rstrip("/"), MANIFEST_FILE)


def shard_name(shard, num_shards, prefix="embeddings"):
    """`embeddings-00001-of-00004.tfrecord`: the name Beam's `WriteToTFRecord` gives shard 1 of 4."""
    return f"{prefix}-{shard:05d}-of-{num_shards:05d}{SHARD_SUFFIX}"


def serialize_embedding(identifier, vector):
    """One record: a serialised `tf.train.Example` with `id` (bytes) and `embedding` (floats)."""
    import tensorflow as tf

    features = {
        "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(identifier).encode("utf-8")])),
        "embedding": tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(vector, np.float32).ravel())),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def make_manifest(count, embedding_dim, shards, encoder_fingerprint, **settings):
    """The manifest dict of a shard set.

    Args:
        count: int. Embeddings in all shards together.
        embedding_dim: int. Floats per embedding.
        shards: list of `{"path": relative path, "bytes": size}`.
        encoder_fingerprint: str. `tfsearch.models.fingerprint.model_fingerprint` of the document encoder.
        **settings: recorded as they are: `model`, `max_length`, `precision`, `source`, `pipeline`, ...
    """
    return {
        "format": SHARDS_FORMAT,
        "count": int(count),
        "embedding_dim": int(embedding_dim),
        "dtype": "float32",
        "encoder_fingerprint": encoder_fingerprint,
        **settings,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "shards": list(shards),
    }


def describe_shards(folder, names):
    """`[{"path": name, "bytes": size}]` for shard files `names` inside `folder`."""
    gfile = _gfile()
    return [{"path": name, "bytes": int(gfile.stat(posixpath.join(str(folder), name)).length)} for name in names]


def write_manifest(folder, manifest):
    """Writes `folder/manifest.json` (through a temporary name and a rename, on any `tf.io.gfile` file system)."""
    gfile = _gfile()
    final = manifest_path(folder)
    tmp = final + ".tmp"
    with gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(manifest, indent=2) + "\n")
    gfile.rename(tmp, final, overwrite=True)
    return final


def read_manifest(path):
    """Reads and checks the manifest of a shard set; returns it with `folder` (where its shards are) added.

    Args:
        path: a shard-set folder or its `manifest.json`.

    Raises:
        FileNotFoundError: no manifest there (an interrupted `tfsearch encode` leaves none), or a listed
            shard is missing.
        ShardSetError: not a tfsearch shard set, or a shard's size differs from the manifest's.
    """
    gfile = _gfile()
    path = manifest_path(path)
    folder = posixpath.dirname(path)
    if not gfile.exists(path):
        raise FileNotFoundError(f"{folder} holds no {MANIFEST_FILE}: not a complete tfsearch shard set (an "
                                "interrupted `tfsearch encode` leaves none; run it again).")
    try:
        with gfile.GFile(path, "r") as f:
            manifest = json.loads(f.read())
    except json.JSONDecodeError as e:
        raise ShardSetError(f"{path}: not valid JSON ({e}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != SHARDS_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ShardSetError(f"{path} is not a {SHARDS_FORMAT!r} manifest (format {found!r}).")
    for key in ("count", "embedding_dim", "shards", "encoder_fingerprint"):
        if key not in manifest:
            raise ShardSetError(f"{path} lacks {key!r}.")
    for shard in manifest["shards"]:
        shard_path = posixpath.join(folder, shard["path"])
        if not gfile.exists(shard_path):
            raise FileNotFoundError(f"{shard_path} is listed in {path} but missing.")
        size = gfile.stat(shard_path).length
        if size != shard["bytes"]:
            raise ShardSetError(f"{shard_path} has {size} bytes, the manifest says {shard['bytes']}: the shard "
                                "set was changed after it was written; encode again.")
    return {**manifest, "folder": folder}


def _as_manifest(manifest):
    return manifest if isinstance(manifest, dict) else read_manifest(manifest)


def iter_embedding_batches(manifest, batch_size=8192):
    """Streams a shard set: `(ids, embeddings)` batches, shard after shard, in the order the manifest lists.

    Memory stays at one batch (plus TensorFlow's read buffers). The count of
    the records read is checked against the manifest's at the end.

    Args:
        manifest: dict (`read_manifest`'s) or a shard-set path.
        batch_size: int. Records per batch.

    Yields:
        `(ids, embeddings)`: list of str `[b]` and float32 `[b, embedding_dim]`.

    Raises:
        ShardSetError: a record of another dimension, or a count that differs from the manifest's.
    """
    import tensorflow as tf

    from tfsearch.data.pipelines import without_autotune

    manifest = _as_manifest(manifest)
    dim = manifest["embedding_dim"]
    files = [posixpath.join(manifest["folder"], shard["path"]) for shard in manifest["shards"]]
    spec = {"id": tf.io.FixedLenFeature([], tf.string), "embedding": tf.io.VarLenFeature(tf.float32)}

    def parse(records):
        parsed = tf.io.parse_example(records, spec)
        return parsed["id"], parsed["embedding"].values, parsed["embedding"].dense_shape[1]

    seen = 0
    if files:
        dataset = without_autotune(tf.data.TFRecordDataset(files).batch(batch_size).map(parse).prefetch(1))
        for ids, values, width in dataset.as_numpy_iterator():
            if width != dim or len(values) != len(ids) * dim:
                raise ShardSetError(f"{manifest['folder']}: a record holds an embedding of another length than "
                                    f"the manifest's embedding_dim {dim}.")
            seen += len(ids)
            yield [i.decode("utf-8") for i in ids], values.reshape(len(ids), dim)
    if seen != manifest["count"]:
        raise ShardSetError(f"{manifest['folder']}: the shards hold {seen} embeddings, the manifest says "
                            f"{manifest['count']}.")


def read_embeddings(manifest, batch_size=8192, progress=False, partition=None):
    """All embeddings of a shard set (or of one partition) in one preallocated matrix, filled while streaming.

    Peak memory is the matrix plus one batch. Ids must be unique.

    With `partition=(i, n)` only the documents with `partition_of(id, n) == i`
    are kept, in the order of the shards. Their number is known only once
    every id has been seen, so the set is read twice: a first pass parses
    only the `id` feature (no floats are decoded), hashes each id, and keeps
    the partition's ids and a one-byte-per-record mask of the set; then the
    `[partition count, dim]` matrix is allocated, the only large allocation,
    and a second pass fills it with the masked rows of each batch. Reading
    twice costs a second read of the shards' bytes, but no copy of the matrix
    (growing it in chunks would hold two copies while concatenating). An id
    hashes to a single partition, so ids unique within each partition are
    unique in the set.

    Args:
        manifest: dict (`read_manifest`'s) or a shard-set path.
        batch_size: int. Records per batch.
        progress: bool. Show a progress bar (one per pass with `partition`).
        partition: None (every document) or `(i, n)`: partition `i` of `n`,
            `0 <= i < n`.

    Returns:
        `(ids, embeddings)`: list of str `[count]` and float32 `[count, embedding_dim]`, where `count` is the
        manifest's, or the partition's.

    Raises:
        ShardSetError: a duplicated id, shards that changed between the two passes, or the problems
            `iter_embedding_batches` finds.
        ValueError: a `partition` that is not `(i, n)` with `0 <= i < n`.
    """
    manifest = _as_manifest(manifest)
    if partition is not None:
        return _read_partition(manifest, batch_size, progress, check_partition(partition))
    count = manifest["count"]
    matrix = np.empty((count, manifest["embedding_dim"]), np.float32)
    ids = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=count, desc="reading embeddings", unit="doc")
    for batch_ids, batch in iter_embedding_batches(manifest, batch_size):
        start = len(ids)
        if start + len(batch_ids) > count:
            raise ShardSetError(f"{manifest['folder']}: the shards hold more than the manifest's {count} "
                                "embeddings.")
        matrix[start:start + len(batch_ids)] = batch
        ids.extend(batch_ids)
        if bar is not None:
            bar.update(len(batch_ids))
    if bar is not None:
        bar.close()
    _check_unique(ids, manifest)
    return ids, matrix


def _check_unique(ids, manifest):
    if len(set(ids)) != len(ids):
        seen, duplicate = set(), None
        for i in ids:
            if i in seen:
                duplicate = i
                break
            seen.add(i)
        raise ShardSetError(f"{manifest['folder']}: document id {duplicate!r} occurs more than once in the shards.")


def partition_of(identifier, num_partitions):
    """The index partition, in `[0, num_partitions)`, of the document `identifier`.

    `int.from_bytes(blake2b(id as UTF-8, digest_size=8).digest(), "little") % num_partitions`:
    stable across processes, machines and Python versions (unlike `hash()`, which is salted per
    process), so that `tfsearch index build --partition`, a client and any other tool agree on
    where a document lives. Spreads ids evenly for any `num_partitions`.

    Args:
        identifier: str (hashed as UTF-8) or bytes (hashed as they are: the `id` feature of a shard).
        num_partitions: int >= 1.

    Example:
    ```python
    partition_of("d0", 4)  # 2: blake2b(b"d0", digest_size=8) is the bytes 8a142bb16719e161, read
                           # little-endian 0x61e11967b12b148a = 7052946424583623818, and that mod 4 is 2
    ```
    """
    if isinstance(num_partitions, bool) or not isinstance(num_partitions, (int, np.integer)) or num_partitions < 1:
        raise ValueError(f"`num_partitions` must be an integer >= 1, got {num_partitions!r}.")
    data = identifier if isinstance(identifier, bytes) else str(identifier).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") % int(num_partitions)


def check_partition(partition):
    """`(i, n)` as ints, checked: `n >= 1` and `0 <= i < n`; a ValueError that says which otherwise."""
    try:
        index, count = partition
    except (TypeError, ValueError):
        raise ValueError(f"`partition` must be a pair (i, n), got {partition!r}.") from None
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in (index, count)):
        raise ValueError(f"`partition` must be a pair of integers (i, n), got {partition!r}.")
    if count < 1:
        raise ValueError(f"`partition` (i, n) needs n >= 1 partitions, got n = {count}.")
    if not 0 <= index < count:
        raise ValueError(f"`partition` (i, n) needs 0 <= i < n, got i = {index} with n = {count}.")
    return int(index), int(count)


def _iter_raw_ids(manifest, batch_size):
    """The shard set's ids only, as numpy arrays of UTF-8 bytes, in manifest order (the floats are not decoded)."""
    import tensorflow as tf

    from tfsearch.data.pipelines import without_autotune

    files = [posixpath.join(manifest["folder"], shard["path"]) for shard in manifest["shards"]]
    spec = {"id": tf.io.FixedLenFeature([], tf.string)}
    seen = 0
    if files:
        dataset = tf.data.TFRecordDataset(files).batch(batch_size).map(lambda r: tf.io.parse_example(r, spec)["id"])
        for ids in without_autotune(dataset.prefetch(1)).as_numpy_iterator():
            seen += len(ids)
            if seen > manifest["count"]:
                raise ShardSetError(f"{manifest['folder']}: the shards hold more than the manifest's "
                                    f"{manifest['count']} embeddings.")
            yield ids
    if seen != manifest["count"]:
        raise ShardSetError(f"{manifest['folder']}: the shards hold {seen} embeddings, the manifest says "
                            f"{manifest['count']}.")


def _progress_bar(progress, total, description):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="doc")


def _read_partition(manifest, batch_size, progress, partition):
    """`read_embeddings` of partition `(i, n)`: ids and mask in a first pass, then the matrix (see there)."""
    index, num_partitions = partition
    count = manifest["count"]
    member = np.zeros(count, bool)  # record r of the set (manifest order) is in the partition
    ids, seen = [], 0
    bar = _progress_bar(progress, count, f"partition {index}/{num_partitions}: reading ids")
    for raw in _iter_raw_ids(manifest, batch_size):
        keep = [partition_of(i, num_partitions) == index for i in raw]
        member[seen:seen + len(raw)] = keep
        ids.extend(i.decode("utf-8") for i, kept in zip(raw, keep) if kept)
        seen += len(raw)
        if bar is not None:
            bar.update(len(raw))
    if bar is not None:
        bar.close()
    _check_unique(ids, manifest)
    matrix = np.empty((len(ids), manifest["embedding_dim"]), np.float32)
    filled, seen = 0, 0
    bar = _progress_bar(progress, count, f"partition {index}/{num_partitions}: reading embeddings")
    for batch_ids, batch in iter_embedding_batches(manifest, batch_size):
        if seen + len(batch_ids) > count:
            raise ShardSetError(f"{manifest['folder']}: the shards hold more than the manifest's {count} "
                                "embeddings.")
        rows = member[seen:seen + len(batch_ids)]
        chosen = [i for i, kept in zip(batch_ids, rows) if kept]
        if chosen != ids[filled:filled + len(chosen)]:
            raise ShardSetError(f"{manifest['folder']}: the shards changed while partition {index}/{num_partitions} "
                                "was read; read it again.")
        matrix[filled:filled + len(chosen)] = batch[rows]
        filled += len(chosen)
        seen += len(batch_ids)
        if bar is not None:
            bar.update(len(batch_ids))
    if bar is not None:
        bar.close()
    return ids, matrix


def write_embedding_shards(path, identifiers, embeddings, encoder_fingerprint, num_shards=1, overwrite=False,
                           **settings):
    """Writes a shard set from in-memory embeddings, atomically (local paths).

    Args:
        path: the folder to create.
        identifiers: sequence of str `[count]`.
        embeddings: float32 `[count, dim]`.
        encoder_fingerprint: str. Of the encoder that made `embeddings`.
        num_shards: int. Rows are split in order into this many shards.
        overwrite: bool. Replace an existing folder.
        **settings: recorded in the manifest (`model`, `max_length`, `source`, ...).

    Returns:
        The manifest, as `read_manifest` returns it.
    """
    import tensorflow as tf

    from tfsearch.utils.atomic import atomic_directory

    embeddings = np.asarray(embeddings, np.float32)
    identifiers = [str(i) for i in identifiers]
    if embeddings.ndim != 2 or len(identifiers) != len(embeddings):
        raise ValueError(f"`embeddings` must be [count, dim] with one id per row, got {embeddings.shape} and "
                         f"{len(identifiers)} ids.")
    if num_shards < 1:
        raise ValueError(f"`num_shards` must be at least 1, got {num_shards}.")
    bounds = np.linspace(0, len(identifiers), num_shards + 1).astype(int)
    with atomic_directory(path, overwrite=overwrite) as tmp:
        names = []
        for shard in range(num_shards):
            names.append(shard_name(shard, num_shards))
            with tf.io.TFRecordWriter(str(tmp / names[-1])) as writer:
                for row in range(bounds[shard], bounds[shard + 1]):
                    writer.write(serialize_embedding(identifiers[row], embeddings[row]))
        manifest = make_manifest(len(identifiers), embeddings.shape[1], describe_shards(tmp, names),
                                 encoder_fingerprint, **settings)
        write_manifest(tmp, manifest)
    return read_manifest(path)
