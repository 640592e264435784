import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import make_tiny_encoder
from tfsearch.data.beir import Document, Query
from tfsearch.training.learning_rate import WarmupLinearDecay
from tfsearch.training.train_config import TrainConfig
from tfsearch.training.training_data import (mine_hard_negatives, read_hard_negatives, split_queries,
                                             training_pairs, write_hard_negatives)

QRELS = {f"q{i}": {f"d{i}": 1, f"d{i + 10}": 0} for i in range(10)}
QUERIES = {f"q{i}": Query(f"q{i}", f"question {i}") for i in range(10)}
CORPUS = {f"d{i}": Document(f"d{i}", "", f"text {i}") for i in range(20)}


def test_split_queries_is_by_query_and_seeded():
    train, validation = split_queries(QRELS, 0.2, seed=1)
    assert len(validation) == 2 and len(train) == 8 and not set(train) & set(validation)
    assert split_queries(QRELS, 0.2, seed=1) == (train, validation)
    assert split_queries(QRELS, 0.2, seed=2)[1] != validation
    assert split_queries(QRELS, 0.0)[1] == {}
    assert len(split_queries({"q": {"d": 1}, "r": {"d": 1}}, 0.01)[1]) == 1  # at least one when asked


def test_training_pairs_keep_positive_judgements_only():
    pairs = training_pairs(QRELS, QUERIES, CORPUS)
    assert len(pairs) == 10  # score-0 judgements are not pairs
    assert pairs.query_ids[0] == "q0" and pairs.document_ids[0] == "d0"
    assert pairs.documents[0] == CORPUS["d0"].contents() and pairs.hard_negatives is None


def test_pairs_with_hard_negatives_cycle_and_skip_queries_without():
    mined = {"q0": ["d5", "d6"], "q1": ["d7"]}
    pairs = training_pairs(QRELS, QUERIES, CORPUS, mined, num_hard_negatives=3)
    assert pairs.query_ids == ["q0", "q1"]
    assert pairs.hard_negative_ids == [["d5", "d6", "d5"], ["d7", "d7", "d7"]]
    batch = next(iter(pairs.dataset(2, shuffle=False)))
    assert batch["hard_negatives"].shape == [2, 3] and batch["query"].shape == [2]


def test_dataset_drops_the_remainder_and_is_seeded():
    pairs = training_pairs(QRELS, QUERIES, CORPUS)
    batches = list(pairs.dataset(4, seed=3))
    assert [int(b["query"].shape[0]) for b in batches] == [4, 4]
    again = list(pairs.dataset(4, seed=3))
    assert all((a["query"].numpy() == b["query"].numpy()).all() for a, b in zip(batches, again))
    with pytest.raises(ValueError, match="fewer than one batch"):
        pairs.dataset(11)


def test_mining_skips_judged_and_the_top_band(tmp_path):
    encoder = make_tiny_encoder()
    doc_ids = sorted(CORPUS)
    # Documents that are copies of the query text rank first.
    texts = {d: CORPUS[d].contents() for d in doc_ids}
    texts["d15"] = texts["d16"] = texts["d17"] = "question 3"
    embeddings = encoder(tf.constant([texts[d] for d in doc_ids])).numpy()
    mined = mine_hard_negatives(encoder, embeddings, doc_ids, {"q3": {"d3": 1, "d15": 1}}, QUERIES,
                                num_negatives=2, skip_top=1, depth=10)
    negatives = mined["q3"]
    assert len(negatives) == 2 and "d3" not in negatives and "d15" not in negatives
    # d16 and d17 tie at the top of the unjudged documents; the first is skipped.
    assert negatives[0] == "d17"
    write_hard_negatives(tmp_path / "n.jsonl", mined)
    assert read_hard_negatives(tmp_path / "n.jsonl") == mined
    (tmp_path / "bad.jsonl").write_text('{"query": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        read_hard_negatives(tmp_path / "bad.jsonl")


def test_warmup_then_linear_decay():
    schedule = WarmupLinearDecay(2e-5, warmup_steps=10, total_steps=110)
    values = [float(schedule(s)) for s in (0, 5, 10, 60, 110, 200)]
    # 0 -> half of peak at step 5 -> peak at 10 -> half at 60 (50 of 100 decay steps) -> 0 at the end.
    np.testing.assert_allclose(values, [0, 1e-5, 2e-5, 1e-5, 0, 0], atol=1e-12)
    assert WarmupLinearDecay.from_config(schedule.get_config()).get_config() == schedule.get_config()
    with pytest.raises(ValueError):
        WarmupLinearDecay(1e-3, 20, 10)


def test_train_config_validation_and_files(tmp_path):
    config = TrainConfig(data="d", output="o", epochs=2)
    (tmp_path / "c.json").write_text('{"data": "d", "output": "o", "epochs": 2, "batch_size": 8}')
    loaded = TrainConfig.from_file(tmp_path / "c.json", batch_size=16, model=None)
    assert loaded.batch_size == 16 and loaded.epochs == 2  # flags override, None does not
    assert config.differences(TrainConfig(data="d", output="elsewhere", epochs=3)) == {"epochs": (2, 3)}
    with pytest.raises(ValueError, match="`batch_size` must be at least 2.*`strategy` must be one of"):
        TrainConfig(data="d", output="o", batch_size=1, strategy="gpu")
    with pytest.raises(ValueError, match="Unknown training settings: epoch"):
        TrainConfig.from_dict({"data": "d", "output": "o", "epoch": 3})
