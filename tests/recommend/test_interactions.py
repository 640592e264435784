"""The interactions format: TSV and JSON lines, validated with file and line in every error."""

import pytest

from tfsearch.recommend.interactions import (Interaction, InteractionsFormatError, read_interactions,
                                             write_interactions)


def test_round_trip_tsv_and_jsonl(tmp_path):
    rated = [Interaction("u1", "i1", 10, 4.0), Interaction("u2", "i2", 5, 2.5)]
    unrated = [Interaction("u1", "i1", 10), Interaction("u1", "i2", 11)]
    for name in ("a.tsv", "a.jsonl"):
        for interactions in (rated, unrated):
            write_interactions(tmp_path / name, interactions)
            assert read_interactions(tmp_path / name) == interactions
    assert (tmp_path / "a.tsv").read_text().splitlines()[0] == "user_id\titem_id\ttimestamp"


@pytest.mark.parametrize("content, message", [
    ("user_id\titem_id\ttimestamp\trating\nu1\ti1\n", r"a.tsv:2: expected 3 or 4 tab-separated columns"),
    ("u1\ti1\tyesterday\n", r"a.tsv:1: timestamp 'yesterday' is not an integer"),
    ("u1\ti1\t1\tgood\n", r"a.tsv:1: rating 'good' is not a number"),
    ("u1\t\t1\n", r"a.tsv:1: empty item_id"),
    ("u1\ti1\t1\t4\nu1\ti2\t2\n", r"a.tsv:2: ratings must be on every line or on none"),
    ("u1\tnope\t1\n", r"a.tsv:1: item_id 'nope' is not in the item corpus"),
    ("", r"a.tsv: no interactions"),
])
def test_tsv_errors(tmp_path, content, message):
    (tmp_path / "a.tsv").write_text(content, encoding="utf-8")
    with pytest.raises(InteractionsFormatError, match=message):
        read_interactions(tmp_path / "a.tsv", item_ids={"i1", "i2"})


@pytest.mark.parametrize("content, message", [
    ('{"user_id": "u1", "item_id": "i1", "timestamp": 1}\n{"user_id": "u1"\n', r"a.jsonl:2: malformed JSON"),
    ('{"user_id": "u1", "item_id": "i1"}\n', r"a.jsonl:1: missing timestamp"),
    ('[1, 2]\n', r"a.jsonl:1: expected a JSON object"),
    ('{"user_id": true, "item_id": "i1", "timestamp": 1}\n', r"a.jsonl:1: user_id must be a string"),
])
def test_jsonl_errors(tmp_path, content, message):
    (tmp_path / "a.jsonl").write_text(content, encoding="utf-8")
    with pytest.raises(InteractionsFormatError, match=message):
        read_interactions(tmp_path / "a.jsonl")


def test_missing_file(tmp_path):
    with pytest.raises(InteractionsFormatError, match="file not found"):
        read_interactions(tmp_path / "none.tsv")
