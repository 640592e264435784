import pytest

from tfsearch.eval.metrics import evaluate_run, parse_measures, per_query

QRELS = {"q1": {"d1": 1, "d3": 1}, "q2": {"d2": 2}}
RUN = {
    "q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0},  # relevant at ranks 1 and 3
    "q2": {"d4": 2.0, "d2": 1.0},  # relevant at rank 2
}


def test_hand_worked_values():
    metrics = evaluate_run(QRELS, RUN, ["RR@10", "R@2", "AP@100", "nDCG@10"])
    # RR: q1 = 1, q2 = 1/2 -> 0.75.
    assert metrics["RR@10"] == pytest.approx(0.75)
    # R@2: q1 finds 1 of 2 relevant in its top 2, q2 finds 1 of 1 -> (0.5 + 1) / 2.
    assert metrics["R@2"] == pytest.approx(0.75)
    # AP: q1 = (1/1 + 2/3) / 2 = 0.8333, q2 = 1/2 -> 0.6667.
    assert metrics["AP@100"] == pytest.approx((0.8333333 + 0.5) / 2, abs=1e-6)
    # nDCG@10 with trec_eval's linear gains. q1: DCG = 1 + 1/log2(4) = 1.5,
    # IDCG = 1 + 1/log2(3) = 1.6309 -> 0.9197. q2: DCG = 2/log2(3) = 1.2619,
    # IDCG = 2 -> 0.6309.
    assert metrics["nDCG@10"] == pytest.approx((1.5 / 1.6309298 + 1.2618595 / 2) / 2, abs=1e-5)
    assert list(metrics) == ["RR@10", "R@2", "AP@100", "nDCG@10"]


def test_query_missing_from_run_counts_as_zero():
    metrics = evaluate_run(QRELS, {"q1": RUN["q1"]}, ["RR@10"])
    assert metrics["RR@10"] == pytest.approx(0.5)  # (1 + 0) / 2


def test_per_query():
    table = per_query(QRELS, RUN, ["RR@10"])
    assert table["RR@10"] == pytest.approx({"q1": 1.0, "q2": 0.5})


def test_unknown_measure():
    with pytest.raises(ValueError, match="Unknown measure 'nDCGG@10'"):
        parse_measures(["nDCGG@10"])


def test_no_judgements():
    with pytest.raises(ValueError, match="No judgements"):
        evaluate_run({}, RUN)
