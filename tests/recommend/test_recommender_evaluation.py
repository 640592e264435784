"""Leave-last-out metrics and the aspect re-ranking: candidates carry their genre ids into the re-ranker."""

import numpy as np
import pytest

from tfsearch.recommend import recommender_evaluation
from tfsearch.recommend.interactions import Interaction
from tfsearch.recommend.leave_last_out import leave_last_out
from tfsearch.recommend.recommender_evaluation import (aspect_weights, evaluate_recommender, format_comparison,
                                                       format_tradeoff, paired_bootstrap, rerank_by_aspects,
                                                       top_candidates)

ITEMS = ["a1", "a2", "a3", "b1", "c1"]
GENRES = {"a1": ["A"], "a2": ["A"], "a3": ["A"], "b1": ["B"], "c1": ["C", "A"]}


def _split():
    # u1 liked a3 then b1 (held out); u2 liked a1 then a2 (held out), and disliked c1 before a2.
    return leave_last_out([
        Interaction("u1", "a3", 1, 5.0), Interaction("u1", "b1", 2, 5.0),
        Interaction("u2", "a1", 1, 5.0), Interaction("u2", "c1", 2, 1.0), Interaction("u2", "a2", 3, 4.0),
    ])


def test_top_candidates_excludes_seen_items():
    scores_users = np.eye(2, dtype=np.float32)
    items = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], np.float32)
    positions, scores = top_candidates(scores_users, items, exclude=[[0], []], num_candidates=2)
    np.testing.assert_array_equal(positions, [[1, 2], [2, 1]])
    np.testing.assert_allclose(scores, [[0.9, 0.0], [1.0, 0.1]])


def test_top_candidates_scores_several_interests_by_the_best():
    # User 0 has two interests, [1, 0] and [0, 1]: item scores are max(x, y):
    # [1, 0] -> 1.0, [0.6, 0.6] -> 0.6, [0, 0.9] -> 0.9, [-1, -1] -> -1.
    users = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)
    items = np.array([[1.0, 0.0], [0.6, 0.6], [0.0, 0.9], [-1.0, -1.0]], np.float32)
    positions, scores = top_candidates(users, items, exclude=[[0]], num_candidates=3)
    np.testing.assert_array_equal(positions, [[2, 1, 3]])
    np.testing.assert_allclose(scores, [[0.9, 0.6, -1.0]])


def test_metrics_on_a_worked_example():
    split = _split()
    # One dimension per genre: users and items placed by hand.
    items = np.array([[1, 0, 0], [0.9, 0, 0], [0.8, 0, 0], [0, 1, 0], [0.5, 0, 1]], np.float32)
    users = np.array([[1, 0.5, 0], [1, 0, 0]], np.float32)  # sorted(split.test) = [u1, u2]
    result = evaluate_recommender(users, items, ITEMS, split, aspects_of=GENRES, diversities=(0.0,), candidates=5,
                                  k=2)
    # u1 saw a3: ranking a1 (1.0), a2 (0.9), b1 (0.5), c1 (0.5): b1 (relevant) at rank 3
    # -> R@10 = 1, nDCG@10 = 1/log2(4) = 0.5.
    # u2 saw a1 and c1: ranking a2 (0.9, relevant), a3, b1 -> nDCG@10 = 1.
    assert result["num_users"] == 2
    assert result["metrics"]["R@10"] == 1.0 and result["metrics"]["R@100"] == 1.0
    assert result["metrics"]["nDCG@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert "alpha_nDCG@2" in result["metrics"] and "alpha_nDCG@2" in result["tradeoff"][0]
    assert result["aspects"] == ["A", "B", "C"]
    assert result["per_user"]["nDCG@10"] == pytest.approx([0.5, 1.0])  # u1, u2


def test_candidates_carry_their_genre_ids_into_the_reranker(monkeypatch):
    seen = {}
    original = recommender_evaluation.rerank_by_aspects

    def spy(candidate_embeddings, candidate_scores, candidate_aspects, diversity, k=10, **kwargs):
        seen[diversity] = np.array(candidate_aspects)
        return original(candidate_embeddings, candidate_scores, candidate_aspects, diversity, k=k, **kwargs)

    monkeypatch.setattr(recommender_evaluation, "rerank_by_aspects", spy)
    split = _split()
    items = np.array([[1, 0, 0], [0.9, 0, 0], [0.8, 0, 0], [0, 1, 0], [0.5, 0, 1]], np.float32)
    users = np.array([[1, 0.5, 0], [1, 0, 0]], np.float32)
    evaluate_recommender(users, items, ITEMS, split, aspects_of=GENRES, diversities=(0.0, 0.9), candidates=3, k=2)
    positions, _ = top_candidates(users, items, [[2], [0, 4]], 3)
    weights, vocabulary = aspect_weights(ITEMS, GENRES)
    assert vocabulary == ["A", "B", "C"]
    np.testing.assert_array_equal(weights[4], [1, 0, 1])  # c1: genres C and A, multi-hot
    for aspects in seen.values():
        assert aspects.shape == (2, 3, 3)
        for user in range(2):
            for slot in range(3):
                expected = {vocabulary[j] for j in np.flatnonzero(aspects[user, slot])}
                assert expected == set(GENRES[ITEMS[positions[user, slot]]])
    assert sorted(seen) == [0.0, 0.9]


def test_aspect_reranking_diversifies_genres():
    # Three candidates: two of genre 0 score highest, one of genre 1. k=2.
    embeddings = np.eye(3, dtype=np.float32)[np.newaxis]
    scores = np.array([[0.9, 0.88, 0.85]], np.float32)
    ids = np.array([[0, 0, 1]], np.int32)  # aspect ids, one per candidate
    np.testing.assert_array_equal(rerank_by_aspects(embeddings, scores, ids, 0.0, k=2), [[0, 1]])
    np.testing.assert_array_equal(rerank_by_aspects(embeddings, scores, ids, 0.9, k=2), [[0, 2]])
    # Invalid candidates (-inf: excluded) are never picked.
    scores = np.array([[0.9, -np.inf, 0.5]], np.float32)
    np.testing.assert_array_equal(rerank_by_aspects(embeddings, scores, ids, 0.0, k=3), [[0, 2, -1]])


def test_tables():
    table = format_comparison({"text": {"R@10": 0.5, "R@100": 0.9, "nDCG@10": 0.3, "alpha_nDCG@10": 0.25}})
    assert "| text | 0.5000 | 0.9000 | 0.3000 | 0.2500 |" in table
    assert "| 0.5 | 0.1000 |" in format_tradeoff([{"diversity": 0.5, "R@10": 0.1}])


def test_paired_bootstrap():
    # Differences 1, 0, 0, 1: mean 0.5; every resample's mean lies in [0, 1].
    result = paired_bootstrap([1, 1, 0, 1], [0, 1, 0, 0], samples=2000)
    assert result["mean_difference"] == 0.5
    assert 0.0 <= result["ci95"][0] <= 0.5 <= result["ci95"][1] <= 1.0
    assert 0.0 <= result["p_a_not_better"] < 0.1  # only the all-zero-difference resamples (1/16 of picks each)
    with pytest.raises(ValueError, match="No paired"):
        paired_bootstrap([], [])
