"""Diversity metrics: alpha-nDCG@k, aspect coverage@k (subtopic recall), ILD@k.

alpha-nDCG (Clarke et al., SIGIR 2008) and subtopic recall (Zhai, Cohen and
Lafferty, SIGIR 2003) come from `ir-measures` through TREC's `ndeval`
(`pyndeval`); they need judgements per aspect ("subtopic" or "intent"), which
`aspect_qrels` derives from a document metadata field. Intra-list diversity
(Ziegler et al., WWW 2005) needs only the embeddings of the returned lists.
"""

import collections

import ir_measures
import numpy as np
from ir_measures.util import Qrel


def aspect_labels(data, field):
    """`{doc_id: label}` from a document metadata field of a `BeirDataset`.

    Raises:
        ValueError: when no document carries the field.
    """
    labels = {doc_id: doc.metadata[field] for doc_id, doc in data.corpus().items()
              if doc.metadata.get(field) not in (None, "", [])}
    if not labels:
        raise ValueError(f"No document has metadata field {field!r}.")
    return labels


def aspect_qrels(qrels, aspects_of):
    """Judgements per aspect: every relevant document counts for each of its aspects.

    Args:
        qrels: `{query_id: {doc_id: relevance}}`.
        aspects_of: `{doc_id: aspect or list of aspects}` (e.g. a metadata field).
            Relevant documents without an aspect are left out.

    Returns:
        A list of `ir_measures` qrels whose `iteration` is the aspect, the form
        TREC's diversity tasks and `ndeval` use.

    Example:
    ```python
    aspect_qrels({"q1": {"d1": 2, "d2": 0}}, {"d1": "history", "d2": "art"})
    # [Qrel("q1", "d1", 2, "history")]: d2 is not relevant
    ```
    """
    judged = []
    for query_id, docs in qrels.items():
        for doc_id, relevance in docs.items():
            if relevance <= 0 or doc_id not in aspects_of:
                continue
            aspects = aspects_of[doc_id]
            aspects = [aspects] if isinstance(aspects, (str, int)) else list(aspects)
            for aspect in dict.fromkeys(str(a) for a in aspects if a is not None and str(a) != ""):
                judged.append(Qrel(str(query_id), str(doc_id), int(relevance), aspect))
    return judged


def aspect_metrics(qrels, aspects_of, run, k=10, alpha=0.5):
    """alpha-nDCG@k and aspect coverage@k, averaged over the queries with aspects.

    Args:
        qrels: `{query_id: {doc_id: relevance}}`.
        aspects_of: `{doc_id: aspect or list of aspects}`.
        run: `{query_id: {doc_id: score}}` (ranked by score).
        k: int. Cut-off.
        alpha: float in [0, 1). Redundancy penalty of alpha-nDCG.

    Returns:
        `{"alpha_nDCG@k": float, "coverage@k": float}`. Coverage is subtopic
        recall: the fraction of a query's aspects (among its relevant
        documents) that a relevant document in the top k covers.
    """
    judged = aspect_qrels(qrels, aspects_of)
    if not judged:
        raise ValueError("No relevant document carries an aspect; check the aspect field.")
    queries = {q.query_id for q in judged}
    run = {str(q): docs for q, docs in run.items() if str(q) in queries}
    alpha_ndcg = ir_measures.alpha_nDCG(cutoff=k, alpha=alpha)
    coverage = ir_measures.StRecall(cutoff=k)
    totals = collections.Counter()
    for metric in ir_measures.iter_calc([alpha_ndcg, coverage], judged, run):
        totals[metric.measure] += metric.value
    # Queries judged but missing from the run score 0, as in the relevance metrics.
    return {f"alpha_nDCG@{k}": totals[alpha_ndcg] / len(queries), f"coverage@{k}": totals[coverage] / len(queries)}


def list_diversity(embeddings):
    """Intra-list diversity of one result list: mean pairwise cosine distance.

    Args:
        embeddings: `[list_length, embedding_dim]`, in rank order.

    Returns:
        float in [0, 2], or None for a list of fewer than two results.
    """
    embeddings = np.asarray(embeddings, np.float64)
    if len(embeddings) < 2:
        return None
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    unit = np.divide(embeddings, norms, out=np.zeros_like(embeddings), where=norms > 0)
    cosine = unit @ unit.T
    upper = np.triu_indices(len(unit), k=1)
    return float(np.mean(1.0 - cosine[upper]))


def intra_list_diversity(lists, k=10):
    """ILD@k: `list_diversity` of each list's top k, averaged over lists of two or more.

    Args:
        lists: iterable of `[list_length, embedding_dim]` arrays in rank order.
        k: int. Cut-off.

    Returns:
        float, or NaN when no list has two results.
    """
    values = [v for v in (list_diversity(np.asarray(e)[:k]) for e in lists) if v is not None]
    return float(np.mean(values)) if values else float("nan")
