import pytest

from tfsearch.eval.trec import read_trec_run, write_trec_run


def test_round_trip_and_format(tmp_path):
    run = {"q2": {"d1": 0.5}, "q1": {"a": 0.1, "b": 0.9, "c": 0.9}}
    path = tmp_path / "run.trec"
    write_trec_run(run, path, tag="exact")
    lines = path.read_text().splitlines()
    # Sorted by query, then by descending score, ties by doc id.
    assert lines[:3] == ["q1 Q0 b 1 0.900000 exact", "q1 Q0 c 2 0.900000 exact", "q1 Q0 a 3 0.100000 exact"]
    assert read_trec_run(path) == {"q1": {"b": 0.9, "c": 0.9, "a": 0.1}, "q2": {"d1": 0.5}}


def test_bad_tag(tmp_path):
    with pytest.raises(ValueError, match="tag"):
        write_trec_run({}, tmp_path / "r", tag="two words")
    assert not (tmp_path / "r").exists()
