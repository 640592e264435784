"""Fusing rankings: reciprocal-rank fusion and a convex combination of min-max normalised scores.

Runs are `{query_id: {doc_id: score}}` (higher is better), as everywhere in
tfsearch; the fused run has the same form.
"""

import math


def _check_run(run, name):
    if not isinstance(run, dict):
        raise ValueError(f"{name} must be a run {{query_id: {{doc_id: score}}}}, got {type(run).__name__}.")
    for query_id, ranking in run.items():
        if not isinstance(ranking, dict):
            raise ValueError(f"{name}: query {query_id!r} maps to a {type(ranking).__name__}, not {{doc_id: score}}.")
        for doc_id, score in ranking.items():
            if not isinstance(score, (int, float)) or math.isnan(score):
                raise ValueError(f"{name}: query {query_id!r}, document {doc_id!r} has score {score!r}; "
                                 "scores must be numbers (not NaN).")


def ranks(ranking):
    """`{doc_id: rank}`, rank 1 for the highest score; tied scores share the best rank of their group.

    Example:
    ```python
    ranks({"a": 0.9, "b": 0.5, "c": 0.5, "d": 0.1})
    # {"a": 1, "b": 2, "c": 2, "d": 4}  (standard competition ranking)
    ```
    """
    ordered = sorted(ranking.items(), key=lambda item: -item[1])
    result, previous, previous_rank = {}, None, 0
    for position, (doc_id, score) in enumerate(ordered, start=1):
        rank = previous_rank if score == previous else position
        result[doc_id], previous, previous_rank = rank, score, rank
    return result


def reciprocal_rank_fusion(runs, k=60, weights=None, depth=None):
    """Reciprocal-rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009).

    Each document's fused score is `sum over runs r of weight_r / (k + rank_r(d))`,
    with ranks starting at 1 and summed over the runs that returned it (a
    document missing from a run gains nothing from that run). Documents with
    equal scores in a run share the best rank of their group (competition
    ranking), so the fusion does not depend on how a run broke its ties.
    Scores' scales do not matter, only the orders.

    Args:
        runs: sequence of runs `{query_id: {doc_id: score}}`, e.g. `[dense, bm25]`.
        k: float >= 0. The smoothing constant; larger values flatten the
            difference between top and lower ranks. Defaults to 60.
        weights: optional sequence of floats, one per run (default: 1 each).
        depth: int or None. Only each run's top `depth` documents take part.

    Returns:
        The fused run `{query_id: {doc_id: fused score}}` over every query of
        any run (not truncated: cut it with `truncate_run`).

    Example:
    ```python
    reciprocal_rank_fusion([{"q": {"a": 2.0, "b": 1.0}}, {"q": {"b": 9.0}}], k=60)
    # {"q": {"a": 1/61, "b": 1/62 + 1/61}}: b is second in one run and first in the other
    ```
    """
    runs = list(runs)
    if not runs:
        raise ValueError("reciprocal_rank_fusion needs at least one run.")
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not k >= 0:
        raise ValueError(f"`k` must be a number >= 0, got {k!r}.")
    weights = [1.0] * len(runs) if weights is None else [float(w) for w in weights]
    if len(weights) != len(runs):
        raise ValueError(f"{len(runs)} runs but {len(weights)} weights.")
    if depth is not None and (int(depth) != depth or depth < 1):
        raise ValueError(f"`depth` must be a positive integer or None, got {depth!r}.")
    for position, run in enumerate(runs):
        _check_run(run, f"run {position}")
    fused = {}
    for run, weight in zip(runs, weights):
        for query_id, ranking in run.items():
            target = fused.setdefault(query_id, {})
            for doc_id, rank in ranks(ranking).items():
                if depth is None or rank <= depth:
                    target[doc_id] = target.get(doc_id, 0.0) + weight / (k + rank)
    return fused


def min_max_normalise(ranking):
    """`{doc_id: (score - min) / (max - min)}` over one query's documents; all 1.0 when every score is equal.

    Equal scores carry no order, and the documents are still the ones the run
    returned, so each counts as the run's best (1.0) rather than its worst.
    """
    if not ranking:
        return {}
    low, high = min(ranking.values()), max(ranking.values())
    if high == low:
        return {doc_id: 1.0 for doc_id in ranking}
    return {doc_id: (score - low) / (high - low) for doc_id, score in ranking.items()}


def linear_fusion(dense_run, lexical_run, weight=0.5):
    """Convex combination of min-max normalised scores.

    Per query, each run's scores are min-max normalised over the documents
    that run returned (`min_max_normalise`: the lowest becomes 0, the highest
    1; all 1.0 when they are all equal), then

        fused(d) = weight * dense_norm(d) + (1 - weight) * lexical_norm(d)

    where a document missing from a run counts 0 for that run (as its lowest
    returned document does). The normalisation depends on the depth of each
    run: fuse runs of the depth you will use.

    Args:
        dense_run: run `{query_id: {doc_id: score}}` of the dense retriever.
        lexical_run: run of the lexical retriever (BM25).
        weight: float in [0, 1]. The dense score's share (1: dense only,
            0: lexical only). Defaults to 0.5.

    Returns:
        The fused run over every query of either run (not truncated).

    Example:
    ```python
    linear_fusion({"q": {"a": 0.9, "b": 0.5}}, {"q": {"b": 12.0, "c": 4.0}}, weight=0.5)
    # {"q": {"a": 0.5, "b": 0.5, "c": 0.0}}
    # a: dense 1, lexical 0 (missing); b: dense 0 (its lowest), lexical 1; c: 0 and 0
    ```
    """
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
        raise ValueError(f"`weight` must be in [0, 1], got {weight!r}.")
    _check_run(dense_run, "dense_run")
    _check_run(lexical_run, "lexical_run")
    fused = {}
    for query_id in {**dense_run, **lexical_run}:
        dense = min_max_normalise(dense_run.get(query_id, {}))
        lexical = min_max_normalise(lexical_run.get(query_id, {}))
        fused[query_id] = {doc_id: weight * dense.get(doc_id, 0.0) + (1.0 - weight) * lexical.get(doc_id, 0.0)
                           for doc_id in {**dense, **lexical}}
    return fused
