"""Plain numpy references for the diversity re-ranking methods, one query at a time.

Written for clarity, not speed, in float64, and independently of the layer's
formulation: MMR recomputes each candidate's maximum similarity to the whole
selected set at every step (the classic formulation); the DPP reference takes
residual variances from a Schur complement solved afresh at every step (no
incremental Cholesky); xQuAD loops over aspects.

Each returns `(positions, adjusted, choices)`: the picks (-1 when no candidate
is left), the reported objective values (-inf for empty slots) and, per step,
`{candidate: value maximised}` so that a test can tell a genuine float near-tie
from a wrong pick.
"""

import numpy as np


def _unit(embeddings):
    embeddings = np.asarray(embeddings, np.float64)
    norms = np.linalg.norm(embeddings, axis=-1, keepdims=True)
    return np.divide(embeddings, norms, out=np.zeros_like(embeddings), where=norms > 1e-12)


def _argmax_lowest(values):
    """The key with the largest value; the lowest key among equals."""
    best = None
    for i in sorted(values):
        if best is None or values[i] > values[best]:
            best = i
    return best


def _greedy(k, candidates, choose, report, on_pick):
    positions, adjusted, choices = [], [], []
    selected = []
    for step in range(k):
        left = [i for i in candidates if i not in selected]
        if not left:
            positions.append(-1)
            adjusted.append(-np.inf)
            choices.append({})
            continue
        values = {i: choose(step, i, selected) for i in left}
        pick = _argmax_lowest(values)
        positions.append(pick)
        adjusted.append(report(step, pick, selected))
        choices.append(values)
        on_pick(pick)
        selected.append(pick)
    return positions, adjusted, choices


def mmr(embeddings, scores, valid, diversity, k):
    e = _unit(embeddings)
    s = np.asarray(scores, np.float64)
    d = float(diversity)

    def value(step, i, selected):
        redundancy = max(e[i] @ e[j] for j in selected) if selected else 0.0
        return (1.0 - d) * s[i] - d * redundancy

    def choose(step, i, selected):
        return s[i] if step == 0 else value(step, i, selected)

    candidates = [i for i in range(len(s)) if valid[i]]
    return _greedy(k, candidates, choose, value, lambda i: None)


def dpp(embeddings, scores, valid, diversity, k, epsilon=1e-4):
    e = _unit(embeddings)
    s = np.asarray(scores, np.float64)
    d = float(diversity)
    kernel = e @ e.T
    np.fill_diagonal(kernel, (np.abs(e) > 0).any(axis=1).astype(np.float64))  # cos(e, e) = 1 exactly
    conditioning = []  # selected candidates that were not redundant when picked

    def residual(i):
        if not conditioning:
            return kernel[i, i]
        y = conditioning
        return kernel[i, i] - kernel[i, y] @ np.linalg.solve(kernel[np.ix_(y, y)], kernel[y, i])

    def gain(step, i, selected):
        return (1.0 - d) * s[i] + d * np.log(max(residual(i), epsilon))

    def on_pick(i):
        if residual(i) > epsilon:
            conditioning.append(i)

    candidates = [i for i in range(len(s)) if valid[i]]
    return _greedy(k, candidates, gain, gain, on_pick)


def xquad(scores, valid, diversity, k, aspect_weights, temperature=0.1):
    """`aspect_weights`: `[n, num_aspects]` (multi-hot or weights)."""
    s = np.asarray(scores, np.float64)
    w = np.asarray(aspect_weights, np.float64)
    d = float(diversity)
    candidates = [i for i in range(len(s)) if valid[i]]
    p = np.zeros_like(s)
    if candidates:
        logits = s[candidates] / temperature
        p[candidates] = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    num_aspects = w.shape[1]
    aspect_mass = [sum(p[i] * w[i, a] for i in candidates) for a in range(num_aspects)]
    total = sum(aspect_mass)
    p_aspect = [m / total if total > 0 else 0.0 for m in aspect_mass]

    def p_item(i, a):
        return p[i] * w[i, a] / aspect_mass[a] if aspect_mass[a] > 0 else 0.0

    def value(step, i, selected):
        coverage = 0.0
        for a in range(num_aspects):
            novelty = np.prod([1.0 - p_item(j, a) for j in selected]) if selected else 1.0
            coverage += p_aspect[a] * p_item(i, a) * novelty
        return (1.0 - d) * p[i] + d * coverage

    return _greedy(k, candidates, value, value, lambda i: None)


def one_hot_aspects(ids):
    """Int ids (negative = none) -> `[n, num_distinct]` multi-hot, any id values."""
    distinct = sorted({int(a) for a in ids if a >= 0})
    column = {a: c for c, a in enumerate(distinct)}
    weights = np.zeros((len(ids), max(len(distinct), 1)))
    for i, a in enumerate(ids):
        if a >= 0:
            weights[i, column[int(a)]] = 1.0
    return weights
