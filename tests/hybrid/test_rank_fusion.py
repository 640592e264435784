import math

import pytest

from tfsearch.hybrid import linear_fusion, min_max_normalise, ranks, reciprocal_rank_fusion

# Run A ranks b and c equal (both 2.0); run B lacks a, b and d, and has e, which A lacks.
RUN_A = {"q": {"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0}, "only_a": {"x": 0.1}}
RUN_B = {"q": {"c": 0.9, "e": 0.5}}


def assert_run_close(got, want):
    assert got.keys() == want.keys()
    for query_id in want:
        assert got[query_id].keys() == want[query_id].keys(), query_id
        for doc_id, value in want[query_id].items():
            assert math.isclose(got[query_id][doc_id], value, rel_tol=1e-12), (query_id, doc_id)


def test_ties_share_the_best_rank_of_their_group():
    # Scores 3, 2, 2, 1 -> competition ranks 1, 2, 2, 4.
    assert ranks(RUN_A["q"]) == {"a": 1, "b": 2, "c": 2, "d": 4}
    assert ranks({}) == {}


def test_rrf_by_hand_with_ties_and_missing_documents():
    # k = 10. Ranks in A: a 1, b 2, c 2 (tied with b), d 4; in B: c 1, e 2.
    #   a = 1/(10+1)                 = 1/11
    #   b = 1/(10+2)                 = 1/12   (missing from B: nothing from B)
    #   c = 1/(10+2) + 1/(10+1)      = 1/12 + 1/11
    #   d = 1/(10+4)                 = 1/14
    #   e = 1/(10+2)                 = 1/12   (missing from A)
    # Query "only_a" is in A alone: x = 1/11.
    fused = reciprocal_rank_fusion([RUN_A, RUN_B], k=10)
    assert_run_close(fused, {"q": {"a": 1 / 11, "b": 1 / 12, "c": 1 / 12 + 1 / 11, "d": 1 / 14, "e": 1 / 12},
                             "only_a": {"x": 1 / 11}})
    ordered = sorted(fused["q"], key=lambda d: -fused["q"][d])
    assert ordered[0] == "c" and ordered[1] == "a" and ordered[-1] == "d"


def test_rrf_default_k_is_60_and_scales_do_not_matter():
    # k = 60: a = 1/61; c = 1/62 + 1/61. Multiplying a run's scores by 1000 changes nothing.
    fused = reciprocal_rank_fusion([RUN_A, RUN_B])
    assert math.isclose(fused["q"]["a"], 1 / 61) and math.isclose(fused["q"]["c"], 1 / 62 + 1 / 61)
    scaled = {q: {d: 1000 * s for d, s in r.items()} for q, r in RUN_B.items()}
    assert reciprocal_rank_fusion([RUN_A, scaled]) == fused


def test_rrf_k_zero_weights_and_depth():
    # k = 0, weights 2 (A) and 1 (B): a = 2/1 = 2; b = 2/2 = 1; c = 2/2 + 1/1 = 2; d = 2/4 = 0.5; e = 1/2.
    fused = reciprocal_rank_fusion([RUN_A, RUN_B], k=0, weights=[2, 1])
    assert_run_close(fused, {"q": {"a": 2.0, "b": 1.0, "c": 2.0, "d": 0.5, "e": 0.5}, "only_a": {"x": 2.0}})
    # depth 2: only ranks <= 2 take part; b and c share rank 2 so both stay, d (rank 4) drops out.
    fused = reciprocal_rank_fusion([RUN_A, RUN_B], k=10, depth=2)
    assert set(fused["q"]) == {"a", "b", "c", "e"}


@pytest.mark.parametrize("kwargs, message", [
    ({"runs": []}, "at least one run"),
    ({"runs": [RUN_A], "k": -1}, "`k` must be a number >= 0"),
    ({"runs": [RUN_A, RUN_B], "weights": [1.0]}, "2 runs but 1 weights"),
    ({"runs": [RUN_A], "depth": 0}, "`depth` must be a positive integer"),
    ({"runs": [{"q": {"a": float("nan")}}]}, "scores must be numbers"),
    ({"runs": [{"q": ["a", "b"]}]}, "not {doc_id: score}"),
])
def test_rrf_bad_input_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        reciprocal_rank_fusion(**kwargs)


def test_min_max_normalisation_including_all_equal_scores():
    # (s - min) / (max - min): 0.9 -> 1, 0.7 -> 0.5, 0.5 -> 0.
    assert min_max_normalise({"a": 0.9, "b": 0.7, "c": 0.5}) == pytest.approx({"a": 1.0, "b": 0.5, "c": 0.0})
    # Every score equal (or a single document): each counts as the run's best, 1.0.
    assert min_max_normalise({"x": 3.0, "y": 3.0}) == {"x": 1.0, "y": 1.0}
    assert min_max_normalise({"x": -2.0}) == {"x": 1.0}
    assert min_max_normalise({}) == {}


def test_linear_fusion_by_hand():
    dense = {"q": {"a": 0.9, "b": 0.7, "c": 0.5}, "q2": {"x": 0.8}, "dense_only": {"p": 0.3, "r": 0.1}}
    lexical = {"q": {"b": 10.0, "d": 6.0, "e": 2.0}, "q2": {"x": 3.0, "y": 3.0}}
    # weight 0.25 is the dense share. Query q, normalised: dense a 1, b 0.5, c 0; lexical b 1, d 0.5, e 0.
    #   a = 0.25 * 1                = 0.25   (missing from lexical: 0)
    #   b = 0.25 * 0.5 + 0.75 * 1   = 0.875
    #   c = 0.25 * 0                = 0.0
    #   d = 0.75 * 0.5              = 0.375  (missing from dense)
    #   e = 0.75 * 0                = 0.0
    # Query q2, all-equal scores in each run -> 1.0: x = 0.25 * 1 + 0.75 * 1 = 1.0; y = 0.75 * 1 = 0.75.
    # Query dense_only: p = 0.25 * 1 = 0.25, r = 0.
    fused = linear_fusion(dense, lexical, weight=0.25)
    assert_run_close(fused, {"q": {"a": 0.25, "b": 0.875, "c": 0.0, "d": 0.375, "e": 0.0},
                             "q2": {"x": 1.0, "y": 0.75}, "dense_only": {"p": 0.25, "r": 0.0}})


def test_linear_fusion_extremes_keep_one_runs_order():
    dense = {"q": {"a": 0.9, "b": 0.7, "c": 0.5}}
    lexical = {"q": {"c": 10.0, "b": 6.0, "a": 2.0}}
    only_dense = linear_fusion(dense, lexical, weight=1.0)["q"]
    assert sorted(only_dense, key=lambda d: -only_dense[d]) == ["a", "b", "c"]
    only_lexical = linear_fusion(dense, lexical, weight=0.0)["q"]
    assert sorted(only_lexical, key=lambda d: -only_lexical[d]) == ["c", "b", "a"]


@pytest.mark.parametrize("weight", [-0.1, 1.5, True, "0.5"])
def test_linear_fusion_rejects_a_bad_weight(weight):
    with pytest.raises(ValueError, match=r"`weight` must be in \[0, 1\]"):
        linear_fusion(RUN_A, RUN_B, weight=weight)
