import numpy as np
import pytest

from tfsearch.hybrid import expand_queries, search_with_feedback
from tfsearch.index import BruteForceIndex


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def setting():
    rng = np.random.default_rng(0)
    documents = unit(rng.normal(size=(20, 8)))
    ids = [f"d{i}" for i in range(20)]
    queries = unit(rng.normal(size=(4, 8)))
    return BruteForceIndex(k=5).index(documents, ids), documents, ids, queries


def test_expansion_uses_the_given_documents_and_skips_unknown_ids(setting):
    index, documents, _, queries = setting
    feedback = [["d3", "d7", "d1"], ["nope", "d2", ""], [], ["d5"]]
    expanded = expand_queries(queries, feedback, index, num_feedback_documents=2, beta=0.4)
    # Query 0: d3, d7 (m = 2); query 1: d2 only ("nope" and "" are skipped); query 2: none -> itself; query 3: d5.
    chosen = [[3, 7], [2], [], [5]]
    for q, rows in enumerate(chosen):
        want = 0.6 * queries[q] + 0.4 * documents[rows].mean(axis=0) if rows else queries[q]
        np.testing.assert_allclose(expanded[q], want / np.linalg.norm(want), atol=1e-6)
    with pytest.raises(ValueError, match="4 queries but 1 feedback lists"):
        expand_queries(queries, feedback[:1], index, 2, 0.4)


def test_search_with_feedback_is_search_expand_search(setting):
    index, documents, ids, queries = setting
    scores, found, expanded = search_with_feedback(index, queries, k=5, num_feedback_documents=3, beta=0.5)
    top3 = np.argsort(-(queries @ documents.T), axis=1, kind="stable")[:, :3]
    want = unit(0.5 * queries + 0.5 * documents[top3].mean(axis=1))
    np.testing.assert_allclose(expanded, want, atol=1e-6)
    order = np.argsort(-(want @ documents.T), axis=1, kind="stable")[:, :5]
    assert found == [[ids[i] for i in row] for row in order]
    np.testing.assert_allclose(scores, np.take_along_axis(want @ documents.T, order, axis=1), atol=1e-5)
