import math

import numpy as np
import pytest

from tfsearch.eval.diversity_metrics import aspect_metrics, aspect_qrels, intra_list_diversity, list_diversity

# One query, three relevant documents: d1 covers aspect "1", d2 aspect "2",
# d3 both. d4 is judged not relevant.
QRELS = {"q1": {"d1": 1, "d2": 1, "d3": 2, "d4": 0}}
ASPECTS = {"d1": "1", "d2": "2", "d3": ["1", "2"], "d4": "1"}


def test_aspect_qrels():
    judged = aspect_qrels(QRELS, ASPECTS)
    assert sorted((q.doc_id, q.iteration, q.relevance) for q in judged) == [
        ("d1", "1", 1), ("d2", "2", 1), ("d3", "1", 2), ("d3", "2", 2)
    ]  # d4 is not relevant; d3 counts once per aspect
    assert aspect_qrels({"q1": {"d9": 1}}, ASPECTS) == []  # no aspect known


def test_alpha_ndcg_and_coverage_worked_example():
    run = {"q1": {"d1": 3.0, "d3": 2.0, "d2": 1.0}}
    # alpha = 0.5. Gains: d1 covers "1" for the first time -> 1; d3 covers "1"
    # again (0.5) and "2" for the first time (1) -> 1.5; d2 covers "2" again -> 0.5.
    # DCG@3 = 1/log2(2) + 1.5/log2(3) + 0.5/log2(4) = 1 + 0.94639 + 0.25 = 2.19639.
    # Ideal (greedy, as ndeval): d3 (2), then d1 or d2 (0.5 each):
    # 2 + 0.5/log2(3) + 0.5/log2(4) = 2 + 0.31546 + 0.25 = 2.56546.  Ratio 0.85614.
    metrics = aspect_metrics(QRELS, ASPECTS, run, k=3)
    assert metrics["alpha_nDCG@3"] == pytest.approx(2.19639 / 2.56546, abs=1e-4)
    # @2: (1 + 0.94639) / (2 + 0.31546) = 0.84061.
    assert aspect_metrics(QRELS, ASPECTS, run, k=2)["alpha_nDCG@2"] == pytest.approx(0.84061, abs=1e-4)
    # Coverage: d1 alone covers 1 of the 2 aspects; with d3 both.
    assert aspect_metrics(QRELS, ASPECTS, run, k=1)["coverage@1"] == pytest.approx(0.5)
    assert metrics["coverage@3"] == pytest.approx(1.0)


def test_queries_missing_from_the_run_count_as_zero():
    qrels = {**QRELS, "q2": {"d1": 1}}
    run = {"q1": {"d3": 1.0}}  # q2 not retrieved at all
    # q1: d3 covers both aspects at rank 1, the ideal first pick -> alpha-nDCG@1 = 1. q2: 0.
    assert aspect_metrics(qrels, ASPECTS, run, k=1) == {"alpha_nDCG@1": pytest.approx(0.5),
                                                         "coverage@1": pytest.approx(0.5)}


def test_no_aspects_is_a_clear_error():
    with pytest.raises(ValueError, match="aspect"):
        aspect_metrics(QRELS, {}, {"q1": {"d1": 1.0}})


def test_list_diversity_worked_examples():
    e1, e2 = [1.0, 0.0], [0.0, 1.0]
    assert list_diversity([e1, e2]) == pytest.approx(1.0)  # orthogonal: distance 1
    assert list_diversity([e1, [3.0, 0.0]]) == pytest.approx(0.0)  # same direction
    # e1, e2, -e1: distances 1, 2, 1 -> mean 4/3.
    assert list_diversity([e1, e2, [-1.0, 0.0]]) == pytest.approx(4 / 3)
    assert list_diversity([e1]) is None


def test_intra_list_diversity_cuts_off_and_skips_singletons():
    e1, e2, e3 = [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]
    lists = [np.array([e1, e2, e3]), np.array([e1])]
    assert intra_list_diversity(lists, k=2) == pytest.approx(1.0)  # first list cut to e1, e2; second skipped
    assert intra_list_diversity(lists, k=3) == pytest.approx(4 / 3)
    assert math.isnan(intra_list_diversity([np.array([e1])]))
