import numpy as np
import pytest

from tests.index.test_scann_index import mixture
from tfsearch.index.scann_tuning import default_scann_params, exact_neighbours, recall_at_k, tune_scann


@pytest.mark.parametrize(
    "n, leaves, searched",
    [
        (5_183, 72, 4),  # SciFact: sqrt -> 72 leaves, 5% -> 4
        (1_000_000, 1000, 50),
        (30_000_000, 5477, 274),
        (50, 7, 2),
        (1, 1, 1),
    ],
)
def test_defaults_scale_with_the_corpus(n, leaves, searched):
    params = default_scann_params(n)
    assert (params.num_leaves, params.num_leaves_to_search) == (leaves, searched)
    assert params.num_reordering_candidates == 100
    assert default_scann_params(n, k=50).num_reordering_candidates == 500
    with pytest.raises(ValueError):
        default_scann_params(0)


def test_exact_neighbours_and_recall():
    embeddings = np.eye(4, dtype=np.float32)
    queries = np.float32([[0.9, 0.5, 0.0, 0.1]])
    # Inner products 0.9, 0.5, 0.0, 0.1 -> positions 0, 1, 3.
    assert exact_neighbours(embeddings, queries, 3).tolist() == [[0, 1, 3]]
    assert recall_at_k([[0, 3, 2]], [[0, 1, 3]]) == pytest.approx(2 / 3)


def test_tuning_reaches_the_target_at_the_fastest_point():
    embeddings = mixture(4000, seed=2)
    queries = mixture(200, seed=3)
    params, report = tune_scann(embeddings, queries, k=10, target_recall=0.9)
    assert report.target_met and report.chosen.recall >= 0.9
    reaching = [p for p in report.points if p.recall >= 0.9]
    assert report.chosen.queries_per_second == max(p.queries_per_second for p in reaching)
    assert params.num_leaves == 63 and params.num_leaves_to_search == report.chosen.num_leaves_to_search
    # Searching every leaf and re-ordering 500 candidates is close to exact.
    widest = max(report.points, key=lambda p: (p.num_leaves_to_search, p.num_reordering_candidates))
    assert widest.num_leaves_to_search == 63 and widest.recall >= 0.99
    assert report.to_dict()["chosen"]["recall"] == report.chosen.recall


def test_unreachable_target_picks_the_most_accurate_point():
    embeddings = mixture(1000, seed=4)
    queries = mixture(50, seed=5)
    _, report = tune_scann(embeddings, queries, k=10, target_recall=1.0, leaves_to_search=[1, 2],
                           reordering=[10])
    if not report.target_met:
        assert report.chosen.recall == max(p.recall for p in report.points)


def test_tuning_report_line():
    from tfsearch.index.scann_tuning import format_tuning_report

    report = {"num_leaves": 72, "k": 10, "target_recall": 0.95,
              "chosen": {"recall": 0.96, "queries_per_second": 12345.4},
              "built": [{"num_leaves_to_search": 4, "num_reordering_candidates": 100, "recall": 0.9},
                        {"num_leaves_to_search": 6, "num_reordering_candidates": 150, "recall": 0.955}]}
    assert format_tuning_report(report) == (
        "ScaNN: 72 leaves, searching 6, re-ordering 150; recall@10 on the tuning queries 0.9550 "
        "(tuning searcher: 0.9600 at 12,345 queries/s batched)")
    report["built"][-1]["recall"] = 0.9
    assert format_tuning_report(report).endswith("queries/s batched); target 0.95 not reached")
