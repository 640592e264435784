"""Runs (`{query_id: {doc_id: score}}`) from search results, and cut to a depth."""

import math


def run_from_results(query_ids, scores, ids):
    """Builds a run from `search` results, leaving out empty slots (id `""` or score `-inf`).

    Args:
        query_ids: sequence of str `[num_queries]`.
        scores: float array-like `[num_queries, k]`.
        ids: `[num_queries, k]` document ids (str), best first.

    Returns:
        `{query_id: {doc_id: score}}`.

    Example:
    ```python
    run_from_results(["q1"], [[0.9, float("-inf")]], [["d1", ""]])
    # {"q1": {"d1": 0.9}}
    ```
    """
    query_ids = list(query_ids)
    if len(query_ids) != len(scores) or len(query_ids) != len(ids):
        raise ValueError(f"{len(query_ids)} query ids but {len(scores)} score rows and {len(ids)} id rows.")
    return {query_id: {doc_id: float(score) for doc_id, score in zip(row_ids, row_scores)
                       if doc_id and not math.isinf(float(score))}
            for query_id, row_ids, row_scores in zip(query_ids, ids, scores)}


def truncate_run(run, depth):
    """Each query's top `depth` documents (ties: the lower doc id first, as TREC files are written)."""
    if int(depth) != depth or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")
    return {query_id: dict(sorted(ranking.items(), key=lambda item: (-item[1], item[0]))[:depth])
            for query_id, ranking in run.items()}


def ranked_ids(run, query_ids, depth):
    """`[num_queries]` lists of each query's top `depth` document ids (fewer when the run has fewer)."""
    truncated = truncate_run({q: run.get(q, {}) for q in query_ids}, depth)
    return [list(truncated[q]) for q in query_ids]
