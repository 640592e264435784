import json

import numpy as np
import pytest

from tfsearch.hybrid import BM25Retriever

IDS = ["d1", "d2", "d3", "d4", "d5"]
DOCS = ["The cat sat on the mat", "Dogs are eating food in the kitchen", "A piece of fresh bread",
        "Searching documents with TensorFlow", "The dog and the cat share a piece of bread"]


@pytest.fixture(scope="module")
def retriever():
    return BM25Retriever().index(IDS, DOCS)


def test_exact_term_match_ranks_first(retriever):
    scores, ids = retriever.search(["tensorflow", "fresh bread", "kitchen"], k=3)
    assert ids[0] == ["d4", "", ""]  # only d4 has the word; the rest share no term: "" / -inf
    assert np.isinf(scores[0, 1:]).all() and scores[0, 0] > 0
    assert ids[1][:2] == ["d3", "d5"]  # both words in d3, one in d5
    assert ids[2][0] == "d2"


def test_stemming_and_stopwords(retriever):
    _, ids = retriever.search(["searches", "cats"], k=2)
    assert ids[0][0] == "d4"  # "searches" and "Searching" share the stem "search"
    assert set(ids[1]) == {"d1", "d5"}  # "cats" -> "cat"
    scores, ids = retriever.search(["the of and"], k=2)  # stopwords only: nothing matches
    assert ids == [["", ""]] and np.isinf(scores).all()
    _, ids = retriever.search(["zebra"], k=2)  # a word no document has
    assert ids == [["", ""]]


def test_k_is_capped_by_the_corpus_and_ties_keep_the_lower_position():
    retriever = BM25Retriever(k=2).index(["x", "y", "z"], ["same words here", "same words here", "other"])
    scores, ids = retriever.search(["same words"], k=10)
    assert scores.shape == (1, 3) and ids == [["x", "y", ""]]
    assert scores[0, 0] == scores[0, 1]
    assert retriever.search(["same"])[0].shape == (1, 2)  # the constructor's k


def test_save_load_round_trip(retriever, tmp_path):
    path = retriever.save(tmp_path / "bm25", metadata={"data": "tiny"})
    assert json.loads((path / "bm25.json").read_text())["format"] == "tfsearch.bm25.v1"
    loaded, metadata = BM25Retriever.load(path)
    assert metadata == {"data": "tiny"} and loaded.get_config() == retriever.get_config()
    assert loaded.identifiers == IDS
    queries = ["fresh bread", "cats on mats", "dog food"]
    for got, want in zip(loaded.search(queries, k=5), retriever.search(queries, k=5)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    with pytest.raises(FileExistsError):
        retriever.save(path)
    retriever.save(path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bm25"]  # no temporary folder left behind


def test_settings_round_trip_and_change_results(tmp_path):
    plain = BM25Retriever(k1=0.9, b=0.4, stopwords=None, stemmer_language=None).index(IDS, DOCS)
    _, ids = plain.search(["cats"], k=2)
    assert ids == [["", ""]]  # no stemming: "cats" is not "cat"
    _, ids = plain.search(["the"], k=1)
    assert ids[0][0] != ""  # no stopwords: "the" is a term
    loaded, _ = BM25Retriever.load(plain.save(tmp_path / "plain"))
    assert loaded.get_config() == plain.get_config()
    assert loaded.search(["the"], k=3)[1] == plain.search(["the"], k=3)[1]


@pytest.mark.parametrize("ids, texts, message", [
    ([], [], "empty corpus"),
    (["a", "b"], ["text"], "2 identifiers but 1 texts"),
    (["a", "a"], ["x y", "y z"], "must be unique"),
    (["a"], [None], "`texts` must be strings"),
    (["a", "b"], ["the of", "and"], "no document has a word left"),
])
def test_bad_corpus_is_a_clear_error(ids, texts, message):
    with pytest.raises(ValueError, match=message):
        BM25Retriever().index(ids, texts)


def test_bad_queries_and_settings_are_clear_errors(retriever, tmp_path):
    with pytest.raises(ValueError, match="Query 1 is empty"):
        retriever.search(["bread", "   "])
    with pytest.raises(ValueError, match="not a single string"):
        retriever.search("bread")
    with pytest.raises(ValueError, match="`k` must be a positive integer"):
        retriever.search(["bread"], k=0)
    with pytest.raises(ValueError, match="call `index"):
        BM25Retriever().search(["bread"])
    with pytest.raises(ValueError, match="`b` must be in"):
        BM25Retriever(b=2.0)
    with pytest.raises(ValueError, match="no stemmer for 'klingon'"):
        BM25Retriever(stemmer_language="klingon")
    with pytest.raises(FileNotFoundError, match="not a tfsearch BM25 folder"):
        BM25Retriever.load(tmp_path)
