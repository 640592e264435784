"""An exact index of a whole BEIR corpus: encode every document, index the embeddings."""

import time

from tfsearch.data.beir import BeirDataset
from tfsearch.data.pipelines import corpus_dataset
from tfsearch.index.brute_force_index import BruteForceIndex
from tfsearch.models.batch_encoding import encode_dataset


def encode_corpus_index(encoder, data, k=10, batch_size=64, progress=True, info=None):
    """Encodes a BEIR corpus and returns an exact `BruteForceIndex` over it.

    The opening step of every evaluation that is not given a prebuilt index.

    Args:
        encoder: `BertEncoder` of the documents (the document tower of a
            two-tower model, or the shared encoder).
        data: `BeirDataset` or a BEIR folder.
        k: int. The index's default number of results.
        batch_size: int. Texts per forward pass.
        progress: bool. A progress bar while encoding.
        info: dict or None. When given, `corpus_encoding_seconds` and
            `documents_per_second` are recorded in it.

    Returns:
        `BruteForceIndex` with `num_documents` rows of `encoder.embedding_dim`,
        in corpus order.

    Example:
    ```python
    index = encode_corpus_index(BertEncoder.from_pretrained(), "path/to/scifact", k=100)
    scores, ids = index.search(query_embeddings)   # [b, 100] each
    ```
    """
    data = data if isinstance(data, BeirDataset) else BeirDataset(data)
    start = time.perf_counter()
    doc_ids, doc_embeddings = encode_dataset(encoder, corpus_dataset(data), batch_size=batch_size,
                                             total=data.count_documents(), progress=progress,
                                             description="encoding corpus")
    if info is not None:
        seconds = time.perf_counter() - start
        info["corpus_encoding_seconds"] = round(seconds, 2)
        info["documents_per_second"] = round(len(doc_ids) / max(seconds, 1e-9), 1)
    return BruteForceIndex(k=k).index(doc_embeddings, doc_ids)
