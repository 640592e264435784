import pytest

from tests.data.test_beir import write_beir
from tfsearch.data.pipelines import corpus_dataset, texts_dataset


def test_corpus_dataset_streams_title_and_text(tmp_path):
    root = write_beir(tmp_path / "d")
    pairs = [(i.decode(), t.decode()) for i, t in corpus_dataset(root).as_numpy_iterator()]
    assert pairs == [("d1", "Cats Cats sit on mats."), ("d2", "Dogs bark."), ("3", "Birds Birds fly.")]
    pairs = [t.decode() for _, t in corpus_dataset(root, separator=" | ").as_numpy_iterator()]
    assert pairs[0] == "Cats | Cats sit on mats."


def test_corpus_dataset_surfaces_format_errors(tmp_path):
    root = write_beir(tmp_path / "d", corpus=[{"_id": "d1", "text": "ok"}, "{bad"])
    with pytest.raises(Exception, match="corpus.jsonl:2: malformed JSON"):
        list(corpus_dataset(root).as_numpy_iterator())


def test_texts_dataset_length_mismatch():
    with pytest.raises(ValueError, match="2 ids but 1 texts"):
        texts_dataset(["a", "b"], ["x"])
