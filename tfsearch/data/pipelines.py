"""`tf.data` pipelines over BEIR folders, streamed from disk."""

import tensorflow as tf

from tfsearch.data.beir import BeirDataset

_CHUNK = 256


def without_autotune(dataset):
    """`dataset` with `tf.data`'s autotuning turned off, for a pipeline a Python loop reads to its end.

    With autotuning on, the iterator's model thread sleeps between
    optimisations for a period that grows up to 60 s. On the length-sorted
    batching pipeline (`tfsearch.models.batch_encoding`), TensorFlow 2.20
    deleted the iterator at the end of the loop only once that sleep ran out:
    17 s of waiting after a 25 s loop, 34 s after a 50 s one (the waiting
    process's stack shows `Model::OptimizeLoop` in a timed wait). A plain
    map/prefetch pipeline did not show it. A pipeline whose buffer sizes and
    parallelism are fixed (no `tf.data.AUTOTUNE`) loses nothing by turning
    autotuning off.

    Args:
        dataset: `tf.data.Dataset`.

    Returns:
        The same elements, with `options().autotune.enabled` False.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def corpus_dataset(data, separator=" "):
    """Streams `(doc_id, text)` string pairs from a BEIR corpus.

    The text is the title and the body joined by `separator` (the BEIR
    convention). The file is read lazily, one document at a time, so a corpus
    larger than memory can be encoded batch by batch.

    Args:
        data: `BeirDataset` or a BEIR folder path.
        separator: str. Between title and text. Defaults to `" "`.

    Returns:
        `tf.data.Dataset` of `(doc_id, text)` scalar string tensors.

    Example:
    ```python
    for ids, texts in corpus_dataset("path/to/scifact").batch(64):
        ...
    ```
    """
    if not isinstance(data, BeirDataset):
        data = BeirDataset(data)

    def generate():
        # Yield chunks: a Python call per document would cost about 1 ms each.
        ids, texts = [], []
        for doc in data.iter_corpus():
            ids.append(doc.id)
            texts.append(doc.contents(separator))
            if len(ids) == _CHUNK:
                yield ids, texts
                ids, texts = [], []
        if ids:
            yield ids, texts

    return tf.data.Dataset.from_generator(
        generate,
        output_signature=(tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string)),
    ).unbatch()


def texts_dataset(ids, texts):
    """A `tf.data.Dataset` of `(id, text)` from in-memory lists."""
    if len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids but {len(texts)} texts.")
    return tf.data.Dataset.from_tensor_slices(
        (tf.constant(list(ids), tf.string, shape=[len(ids)]), tf.constant(list(texts), tf.string, shape=[len(texts)]))
    )
