import pytest

from tfsearch.data.beir import BeirFormatError
from tfsearch.recommend.interactions import InteractionsFormatError
from tfsearch.recommend.movielens import MovieLensFormatError
from tfsearch.utils.format_errors import FileFormatError


def test_the_message_is_path_line_problem():
    assert str(FileFormatError("expected 3 columns, got 2", "qrels/test.tsv", 7)) == \
        "qrels/test.tsv:7: expected 3 columns, got 2"
    assert str(FileFormatError("file not found", "corpus.jsonl")) == "corpus.jsonl: file not found"
    assert str(FileFormatError("no rows")) == "<input>: no rows"
    error = FileFormatError("bad", "a.tsv", 3)
    assert (error.problem, error.path, error.line) == ("bad", "a.tsv", 3)
    assert isinstance(error, ValueError)


def test_beir_errors_add_the_field_and_share_the_base():
    error = BeirFormatError("missing", "corpus.jsonl", 2, "_id")
    assert str(error) == "corpus.jsonl:2: field '_id': missing"
    assert error.field == "_id" and isinstance(error, FileFormatError)
    assert str(BeirFormatError("not a folder", "data")) == "data: not a folder"


@pytest.mark.parametrize("error_class", [InteractionsFormatError, MovieLensFormatError])
def test_interaction_errors_share_the_base(error_class):
    error = error_class("rating 7 is outside 1-5", "u.data", 4)
    assert str(error) == "u.data:4: rating 7 is outside 1-5"
    assert isinstance(error, FileFormatError) and error.line == 4
