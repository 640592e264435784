"""Dense pseudo-relevance feedback over an index: expand each query with its top documents, search again."""

import numpy as np

from tfsearch.layers.pseudo_relevance_feedback import PseudoRelevanceFeedback

# Queries expanded per call of the layer.
_QUERIES_PER_STEP = 1024


def expand_queries(query_embeddings, feedback_ids, index, num_feedback_documents, beta):
    """Rocchio expansion of query embeddings with the embeddings of given feedback documents.

    Args:
        query_embeddings: float array-like `[num_queries, dim]`.
        feedback_ids: `num_queries` ranked lists of document ids (best first),
            e.g. each query's dense top `m` or its top `m` after fusion with
            BM25; ids the index lacks, or `""`, are skipped (masked).
        index: a tfsearch index holding the documents' rows (`identifiers`,
            `embeddings`), e.g. `BruteForceIndex`.
        num_feedback_documents: int >= 1. `m`, the documents used per query.
        beta: float in [0, 1]. Weight of the feedback centroid.

    Returns:
        float32 numpy `[num_queries, dim]`: `PseudoRelevanceFeedback`'s
        `normalise((1 - beta) * q + beta * mean(top m))`.

    Example:
    ```python
    _, top = index.search(query_embeddings, k=3)
    expanded = expand_queries(query_embeddings, top, index, num_feedback_documents=3, beta=0.5)
    scores, ids = index.search(expanded, k=10)
    ```
    """
    queries = np.asarray(query_embeddings, np.float32)
    if queries.ndim != 2:
        raise ValueError(f"`query_embeddings` must be [num_queries, dim], got shape {queries.shape}.")
    if len(feedback_ids) != len(queries):
        raise ValueError(f"{len(queries)} queries but {len(feedback_ids)} feedback lists.")
    if index.embeddings is None:
        raise ValueError("The index holds no document embeddings; pseudo-relevance feedback needs them.")
    layer = PseudoRelevanceFeedback(num_feedback_documents=num_feedback_documents, beta=beta)
    m = layer.num_feedback_documents
    embeddings = np.asarray(index.embeddings)  # a tensor (exact index) or a memory map (ScaNN)
    row_of = {doc_id: row for row, doc_id in enumerate(index.identifiers)}
    rows = np.zeros([len(queries), m], np.int64)
    mask = np.zeros([len(queries), m], bool)
    for q, ids in enumerate(feedback_ids):
        found = [row_of[d] for d in ids if d in row_of][:m]
        rows[q, :len(found)], mask[q, :len(found)] = found, True
    expanded = [layer(queries[s:s + _QUERIES_PER_STEP], embeddings[rows[s:s + _QUERIES_PER_STEP]],
                      mask=mask[s:s + _QUERIES_PER_STEP]).numpy()
                for s in range(0, len(queries), _QUERIES_PER_STEP)]
    return np.concatenate(expanded) if expanded else np.zeros([0, queries.shape[1]], np.float32)


def search_with_feedback(index, query_embeddings, k, num_feedback_documents, beta):
    """Dense search with pseudo-relevance feedback: search, expand with the top `m`, search again.

    Args:
        index: a tfsearch index with `search` and the documents' rows.
        query_embeddings: float array-like `[num_queries, dim]`.
        k: int. Results per query of the second search.
        num_feedback_documents: int >= 1. `m`.
        beta: float in [0, 1].

    Returns:
        `(scores, ids, expanded)`: the second search's float32 `[num_queries, k]`
        scores (inner products with the expanded queries) and ids, and the
        expanded queries `[num_queries, dim]`.
    """
    _, feedback = index.search(query_embeddings, k=int(num_feedback_documents))
    expanded = expand_queries(query_embeddings, feedback, index, num_feedback_documents, beta)
    scores, ids = index.search(expanded, k=k)
    return scores, ids, expanded
