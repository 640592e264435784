"""Leave-last-out evaluation of a recommender's embeddings, with aspect-diversity re-ranking.

Every evaluated user gets a ranking of all items by dot product, its own
training items left out; the held-out items are the relevant ones. Measures
(ir-measures): R@10, R@100, nDCG@10, and alpha-nDCG@10 and coverage@10 with
the items' aspects (genres) as subtopics. The top `candidates` then go through
`DiversityReranker(method="aspects")` with their aspect ids at a few
diversity levels: the relevance/diversity trade-off table.
"""

import numpy as np

from tfsearch.eval.diversity_metrics import aspect_metrics
from tfsearch.eval.metrics import evaluate_run, per_query

MEASURES = ("R@10", "R@100", "nDCG@10")
DEFAULT_DIVERSITIES = (0.0, 0.25, 0.5, 0.75)


def top_candidates(user_embeddings, item_embeddings, exclude, num_candidates=100):
    """Top items per user by dot product, excluded items left out.

    Args:
        user_embeddings: float `[num_users, dim]`, or `[num_users, num_interests,
            dim]` (an item's score is then its best dot product with the user's vectors).
        item_embeddings: float `[num_items, dim]`.
        exclude: list (one per user) of item positions to leave out.
        num_candidates: int.

    Returns:
        `(positions int [num_users, n], scores float [num_users, n])`, best first,
        with `n = min(num_candidates, num_items)`.
    """
    users, items = np.asarray(user_embeddings, np.float32), np.asarray(item_embeddings, np.float32)
    scores = (users @ items.T) if users.ndim == 2 else np.einsum("ukd,id->uki", users, items).max(axis=1)
    for row, positions in enumerate(exclude):
        if len(positions):
            scores[row, list(positions)] = -np.inf
    n = min(num_candidates, scores.shape[1])
    top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    positions = np.take_along_axis(top, order, axis=1)
    return positions, np.take_along_axis(scores, positions, axis=1)


def aspect_weights(item_ids, aspects_of):
    """Multi-hot aspect weights `[num_items, num_aspects]` and the aspect vocabulary (sorted).

    Items without an aspect get a zero row (the re-ranker then treats them as covering nothing).
    """
    vocabulary = sorted({a for values in aspects_of.values() for a in values})
    index = {a: j for j, a in enumerate(vocabulary)}
    weights = np.zeros([len(item_ids), max(1, len(vocabulary))], np.float32)
    for row, item_id in enumerate(item_ids):
        for aspect in aspects_of.get(item_id, ()):
            weights[row, index[aspect]] = 1.0
    return weights, vocabulary


def _run(users, item_ids, positions, valid=None):
    """`{user: {item: score}}` with rank-preserving scores (n, n-1, ...)."""
    run = {}
    for row, user in enumerate(users):
        chosen = [p for p in positions[row] if p >= 0] if valid is None else positions[row][valid[row]]
        run[user] = {item_ids[p]: float(len(chosen) - rank) for rank, p in enumerate(chosen)}
    return run


def rerank_by_aspects(candidate_embeddings, candidate_scores, candidate_aspects, diversity, k=10, batch_size=256,
                      reranker=None):
    """Re-ranks candidates with `DiversityReranker(method="aspects")`, XLA-compiled, in batches.

    Args:
        candidate_embeddings: float `[num_users, n, dim]`.
        candidate_scores: float `[num_users, n]`.
        candidate_aspects: the candidates' aspects: int ids `[num_users, n]` or
            multi-hot weights `[num_users, n, num_aspects]`.
        diversity: float in [0, 1].
        k: results kept.
        reranker: a `DiversityReranker(method="aspects")` (None: one shared per `k`).

    Returns:
        int32 `[num_users, k]` candidate positions (-1 past the valid ones).
    """
    reranker = reranker or _default_reranker(k)
    rerank = _compiled(reranker)
    valid = np.isfinite(candidate_scores)
    scores = np.where(valid, candidate_scores, 0.0).astype(np.float32)

    picked = []
    for begin in range(0, len(scores), batch_size):
        end = begin + batch_size
        picked.append(rerank(np.asarray(candidate_embeddings[begin:end], np.float32), scores[begin:end],
                             valid[begin:end], np.full(len(scores[begin:end]), diversity, np.float32),
                             candidate_aspects[begin:end]).numpy())
    return np.concatenate(picked) if picked else np.zeros([0, reranker.k], np.int32)


_RERANKERS = {}


def _default_reranker(k):
    """One `DiversityReranker(k, "aspects")` per k, so its compiled function is traced once per shape."""
    from tfsearch.layers.diversity_reranker import DiversityReranker

    if k not in _RERANKERS:
        _RERANKERS[k] = DiversityReranker(k=k, method="aspects")
    return _RERANKERS[k]


def _compiled(reranker):
    import tensorflow as tf

    if not hasattr(reranker, "_tfsearch_compiled"):
        @tf.function(jit_compile=True, reduce_retracing=True)
        def rerank(embeddings, relevance, mask, level, aspects):
            return reranker(embeddings, relevance, mask=mask, diversity=level, aspects=aspects)[0]

        reranker._tfsearch_compiled = rerank
    return reranker._tfsearch_compiled


def evaluate_recommender(user_embeddings, item_embeddings, item_ids, split, users=None, aspects_of=None,
                         diversities=DEFAULT_DIVERSITIES, candidates=100, k=10, rare_threshold=5):
    """Leave-last-out metrics of user and item embeddings, and the aspect re-ranking trade-off.

    Args:
        user_embeddings: float `[num_users, dim]` (or `[num_users, num_interests,
            dim]`, see `top_candidates`), rows in `users` order.
        item_embeddings: float `[num_items, dim]`, rows in `item_ids` order.
        item_ids: list of str.
        split: `LeaveLastOutSplit` (held-out items, training items to leave out).
        users: list of user ids (default: `sorted(split.test)`).
        aspects_of: `{item_id: [aspect, ...]}` or None (no alpha-nDCG, no re-ranking).
        diversities: re-ranking balances for the trade-off (with `aspects_of`).
        candidates: items retrieved per user (and re-ranked).
        k: length of the re-ranked list and cut-off of its measures.
        rare_threshold: held-out items with fewer positive training
            interactions than this count as rare (`by_item_frequency`).

    Returns:
        dict: `metrics` (R@10, R@100, nDCG@10, alpha_nDCG@10, coverage@10),
        `per_user` (`{measure: [value per user]}` for R@10, R@100, nDCG@10, in `users` order),
        `by_item_frequency` (R@10, R@100 and nDCG@10 over the held-out items
        that are rare / frequent in training, with their counts), and
        `tradeoff` (one row per diversity: diversity, R@k, nDCG@k,
        alpha_nDCG@k, coverage@k), plus `num_users`.
    """
    users = sorted(split.test) if users is None else list(users)
    item_ids = [str(i) for i in item_ids]
    row_of = {item: row for row, item in enumerate(item_ids)}
    qrels = {u: judged for u, judged in split.qrels().items() if u in set(users)}
    exclude = [[row_of[i] for i in split.seen.get(u, ()) if i in row_of] for u in users]
    positions, scores = top_candidates(user_embeddings, item_embeddings, exclude, candidates)
    valid = np.isfinite(scores)
    run = _run(users, item_ids, positions, valid)
    metrics = evaluate_run(qrels, run, MEASURES)
    result = {"num_users": len(users), "metrics": metrics, "tradeoff": [],
              "by_item_frequency": _by_item_frequency(split, qrels, run, rare_threshold),
              "per_user": {name: [values.get(u, 0.0) for u in users]
                           for name, values in per_query(qrels, run, MEASURES).items()}}
    if aspects_of is None:
        return result
    metrics.update(aspect_metrics(qrels, aspects_of, run, k=k))
    weights, vocabulary = aspect_weights(item_ids, aspects_of)
    candidate_embeddings = np.asarray(item_embeddings, np.float32)[positions]
    candidate_aspects = weights[positions]  # [num_users, n, num_aspects]: the candidates' genre ids, multi-hot
    result["aspects"] = vocabulary
    for diversity in diversities:
        picked = rerank_by_aspects(candidate_embeddings, scores, candidate_aspects, diversity, k=k)
        chosen = np.where(picked >= 0, np.take_along_axis(positions, np.maximum(picked, 0), axis=1), -1)
        reranked = _run(users, item_ids, chosen)
        row = {"diversity": float(diversity), **evaluate_run(qrels, reranked, [f"R@{k}", f"nDCG@{k}"]),
               **aspect_metrics(qrels, aspects_of, reranked, k=k)}
        result["tradeoff"].append(row)
    return result


def _by_item_frequency(split, qrels, run, threshold):
    """Relevance measures over the held-out items seen fewer / at least `threshold` times as training positives."""
    import collections

    counts = collections.Counter(i.item_id for i in split.train if split.is_positive(i))
    groups = {}
    for name, keep in ((f"rare (<{threshold} training positives)", lambda n: n < threshold),
                       (f"frequent (>={threshold})", lambda n: n >= threshold)):
        subset = {u: {i: r for i, r in judged.items() if keep(counts[i])} for u, judged in qrels.items()}
        subset = {u: judged for u, judged in subset.items() if judged}
        groups[name] = {"held_out_items": sum(len(j) for j in subset.values()),
                        **(evaluate_run(subset, run, MEASURES) if subset else {})}
    return groups


def paired_bootstrap(a, b, samples=10000, seed=0):
    """The mean of `a - b` over paired per-user values, with a 95% bootstrap interval.

    Args:
        a, b: sequences of floats, one per user, in the same order.
        samples: bootstrap resamples of the users.
        seed: resampling seed.

    Returns:
        dict: `mean_difference`, `ci95` ([low, high]) and `p_a_not_better`, the
        share of resamples where the mean difference is <= 0.
    """
    differences = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if differences.size == 0:
        raise ValueError("No paired values to compare.")
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, len(differences), size=(samples, len(differences)))].mean(axis=1)
    return {"mean_difference": float(differences.mean()),
            "ci95": [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))],
            "p_a_not_better": float(np.mean(means <= 0.0))}


def format_comparison(results, measures=("R@10", "R@100", "nDCG@10", "alpha_nDCG@10")):
    """A Markdown table: one row per model (`{name: metrics}`), one column per measure."""
    lines = ["| model | " + " | ".join(measures) + " |", "|---|" + "---:|" * len(measures)]
    for name, metrics in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{metrics[m]:.4f}" for m in measures) + " |")
    return "\n".join(lines)


def format_tradeoff(rows):
    """A Markdown table of the re-ranking trade-off rows."""
    names = list(rows[0])
    lines = ["| " + " | ".join(names) + " |", "|" + "---:|" * len(names)]
    for row in rows:
        lines.append("| " + " | ".join(f"{row[n]:g}" if n == "diversity" else f"{row[n]:.4f}" for n in names) + " |")
    return "\n".join(lines)
