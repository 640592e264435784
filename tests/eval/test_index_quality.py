"""`build_scann_within_ndcg`: raise the recall target until held-out judged queries lose <= tolerance nDCG@10."""

import numpy as np
import pytest

from tests.index.test_scann_index import mixture
from tfsearch.eval.index_quality import build_scann_within_ndcg, format_ndcg_guard, split_judged_queries
from tfsearch.index import ScannIndex
from tfsearch.index.scann_tuning import exact_neighbours


@pytest.fixture(scope="module")
def judged():
    """2,000 clustered documents; 80 queries whose relevant documents are their exact top 3 (exact nDCG@10 = 1)."""
    docs = mixture(2000, seed=11)
    ids = [f"d{i}" for i in range(len(docs))]
    queries = mixture(80, seed=12)
    top = exact_neighbours(docs, queries, 3)
    qrels = {f"q{i}": {ids[j]: 1 for j in row} for i, row in enumerate(top)}
    return docs, ids, qrels, {f"q{i}": q for i, q in enumerate(queries)}


def test_split_is_reproducible_and_disjoint():
    tuning, held_out = split_judged_queries([f"q{i}" for i in range(10)], 0.3, seed=1)
    assert len(held_out) == 3 and len(tuning) == 7 and not set(tuning) & set(held_out)
    assert (tuning, held_out) == split_judged_queries([f"q{i}" for i in reversed(range(10))], 0.3, seed=1)
    assert split_judged_queries(["q"], 0.5) == ([], ["q"])


def test_stops_at_the_first_target_within_tolerance(judged):
    docs, ids, qrels, queries = judged
    index, report = build_scann_within_ndcg(docs, ids, qrels, queries, targets=(0.3, 0.99), tolerance=1.0, log=None)
    guard = report["ndcg_guard"]
    assert isinstance(index, ScannIndex) and guard["met"] and [t["target_recall"] for t in guard["tried"]] == [0.3]
    assert guard["num_held_out"] == 40 and guard["exact_ndcg@10"] == pytest.approx(1.0)


def test_raises_the_target_until_ndcg_is_within_tolerance(judged):
    docs, ids, qrels, queries = judged
    lines = []
    _, report = build_scann_within_ndcg(docs, ids, qrels, queries, targets=(0.2, 1.0), tolerance=0.005,
                                        log=lines.append)
    guard = report["ndcg_guard"]
    tried = guard["tried"]
    # Searching 1 leaf of 45 at a target of 0.2 loses relevant documents; recall 1.0 loses none here.
    assert tried[0]["difference"] < -0.005 and len(tried) == 2 and len(lines) == 2
    assert guard["met"] == (tried[-1]["difference"] >= -0.005)
    assert report["target_recall"] == 1.0
    line = format_ndcg_guard(guard)
    assert line.startswith("nDCG@10 check: target recall 1.0 gives") and "40 held-out judged queries" in line


def test_says_when_no_target_is_within_tolerance(judged):
    docs, ids, qrels, queries = judged
    _, report = build_scann_within_ndcg(docs, ids, qrels, queries, targets=(0.5,), tolerance=-1.0, log=None)
    assert not report["ndcg_guard"]["met"]
    assert "use --backend brute_force" in format_ndcg_guard(report["ndcg_guard"])


def test_needs_judged_queries_with_embeddings(judged):
    docs, ids, qrels, _ = judged
    with pytest.raises(ValueError, match="No judged query"):
        build_scann_within_ndcg(docs, ids, qrels, {"other": np.zeros(32, np.float32)}, log=None)
