import pytest

from tfsearch.eval.retrieval_evaluation import run_from_search
from tfsearch.hybrid import ranked_ids, truncate_run


def test_run_from_search_skips_empty_slots():
    run = run_from_search(["q1", "q2"], [[0.9, float("-inf")], [0.5, 0.4]], [["d1", ""], ["d2", "d3"]])
    assert run == {"q1": {"d1": 0.9}, "q2": {"d2": 0.5, "d3": pytest.approx(0.4)}}
    with pytest.raises(ValueError, match="2 query ids but 1 score rows"):
        run_from_search(["q1", "q2"], [[0.9]], [["d1"]])


def test_truncate_and_ranked_ids():
    run = {"q": {"b": 1.0, "a": 1.0, "c": 2.0}}
    assert list(truncate_run(run, 2)["q"]) == ["c", "a"]  # ties: lower doc id first
    assert ranked_ids(run, ["q", "missing"], 5) == [["c", "a", "b"], []]
    with pytest.raises(ValueError, match="`depth` must be a positive integer"):
        truncate_run(run, 0)
