"""`tf.data` pipelines over BEIR folders, streamed from disk."""

import tensorflow as tf

from tfsearch.data.beir import BeirDataset


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
    for ids, texts in corpus_dataset("../shared/data/scifact").batch(64):
        ...
    ```
    """
    if not isinstance(data, BeirDataset):
        data = BeirDataset(data)

    def generate():
        for doc in data.iter_corpus():
            yield doc.id, doc.contents(separator)

    return tf.data.Dataset.from_generator(
        generate,
        output_signature=(tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.string)),
    )


def texts_dataset(ids, texts):
    """A `tf.data.Dataset` of `(id, text)` from in-memory lists."""
    if len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids but {len(texts)} texts.")
    return tf.data.Dataset.from_tensor_slices(
        (tf.constant(list(ids), tf.string, shape=[len(ids)]), tf.constant(list(texts), tf.string, shape=[len(texts)]))
    )
