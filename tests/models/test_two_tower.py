import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO, make_tiny_encoder
from tests.helpers.layer_contract import assert_config_round_trip
from tfsearch.models.bert_encoder import BertEncoder
from tfsearch.models.two_tower import TwoTower, load_towers

FEATURES = {
    "query": tf.constant(["the cat", "a dog", "bread", "hello world"]),
    "document": tf.constant(["cat on the mat", "dog is eating", "piece of bread", "cat on the mat"]),
    "document_id": tf.constant(["d0", "d1", "d2", "d0"]),  # queries 0 and 3 share a positive
}


def numpy_loss(q, c, temperature, ids=None, log_probabilities=None):
    """Sum over queries of the softmax cross-entropy, positive of query i at column i."""
    logits = q @ c.T / temperature
    if log_probabilities is not None:
        logits = logits - log_probabilities[np.newaxis, :]
    if ids is not None:  # accidental hits: other columns holding the positive's id are masked
        for i in range(len(q)):
            for j in range(len(c)):
                if j != i and ids[j] == ids[i]:
                    logits[i, j] = -np.inf
    logits = logits - logits.max(axis=1, keepdims=True)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -sum(log_softmax[i, i] for i in range(len(q)))


@pytest.mark.parametrize("remove_accidental_hits", [False, True])
def test_loss_matches_numpy_reference(remove_accidental_hits):
    model = TwoTower(make_tiny_encoder(), temperature=0.1, remove_accidental_hits=remove_accidental_hits)
    loss = float(model.compute_loss(FEATURES))
    q = model.query_encoder(FEATURES["query"]).numpy().astype(np.float64)
    c = model.query_encoder(FEATURES["document"]).numpy().astype(np.float64)  # shared towers
    ids = [i.decode() for i in FEATURES["document_id"].numpy()] if remove_accidental_hits else None
    np.testing.assert_allclose(loss, numpy_loss(q, c, 0.1, ids), rtol=1e-5)


def test_worked_example_of_the_loss():
    # Two queries, two candidates, temperature 1, identical embeddings: each
    # row's softmax is uniform over 2 columns, so each query costs log 2.
    assert numpy_loss(np.ones([2, 3]), np.ones([2, 3]), 1.0) == pytest.approx(2 * np.log(2))


def test_hard_negatives_and_sampling_correction_are_extra_columns():
    model = TwoTower(make_tiny_encoder(), temperature=0.2, remove_accidental_hits=True)
    features = dict(FEATURES)
    features["hard_negatives"] = tf.constant([["the man"], ["food"], ["tensor flow"], ["dog is eating"]])
    features["hard_negative_ids"] = tf.constant([["n0"], ["n1"], ["n2"], ["d1"]])  # query 1's positive again
    features["candidate_sampling_probability"] = tf.constant([0.5, 0.25, 0.125, 0.5])
    loss = float(model.compute_loss(features))
    encode = lambda texts: model.query_encoder(tf.constant(texts)).numpy().astype(np.float64)  # noqa: E731
    q = encode([t.decode() for t in FEATURES["query"].numpy()])
    documents = [t.decode() for t in FEATURES["document"].numpy()] + ["the man", "food", "tensor flow", "dog is eating"]
    c = encode(documents)
    ids = ["d0", "d1", "d2", "d0", "n0", "n1", "n2", "d1"]
    # Hard negatives are not corrected: probability 1, log 0.
    log_p = np.log([0.5, 0.25, 0.125, 0.5, 1, 1, 1, 1])
    np.testing.assert_allclose(loss, numpy_loss(q, c, 0.2, ids, log_p), rtol=1e-5)


def test_num_hard_negatives_keeps_the_hardest():
    easy = TwoTower(make_tiny_encoder(), temperature=0.1, remove_accidental_hits=False)
    mined = TwoTower(easy.query_encoder, temperature=0.1, remove_accidental_hits=False, num_hard_negatives=1)
    # Dropping negatives can only lower the softmax loss.
    assert float(mined.compute_loss(FEATURES)) < float(easy.compute_loss(FEATURES))


def test_separate_towers_and_config_round_trip(tmp_path):
    model = TwoTower(make_tiny_encoder(seed=1), make_tiny_encoder(seed=2), temperature=0.07, num_hard_negatives=5)
    model.compute_loss(FEATURES)
    assert not model.shared_towers and model.document_tower is model.document_encoder
    clone = assert_config_round_trip(model)
    assert clone.temperature == 0.07 and clone.num_hard_negatives == 5 and not clone.shared_towers
    model.save_towers(tmp_path / "m")
    query_encoder, document_encoder = load_towers(tmp_path / "m")
    texts = tf.constant(["the cat sat"])
    np.testing.assert_allclose(query_encoder(texts), model.query_encoder(texts), atol=1e-6)
    np.testing.assert_allclose(document_encoder(texts), model.document_encoder(texts), atol=1e-6)
    # The top level is a plain encoder folder (what `tfsearch evaluate --model` reads).
    np.testing.assert_allclose(BertEncoder.from_pretrained(tmp_path / "m")(texts), query_encoder(texts), atol=1e-6)


def test_shared_towers_folder_is_one_encoder(tmp_path):
    model = TwoTower(make_tiny_encoder())
    model.save_towers(tmp_path / "m")
    query_encoder, document_encoder = load_towers(tmp_path / "m")
    assert query_encoder is document_encoder
    assert not (tmp_path / "m" / "document_encoder").exists()


def test_bad_arguments():
    with pytest.raises(ValueError, match="temperature"):
        TwoTower(make_tiny_encoder(), temperature=0)
    with pytest.raises(ValueError, match="num_hard_negatives"):
        TwoTower(make_tiny_encoder(), num_hard_negatives=0)
    with pytest.raises(ValueError, match="differ in size"):
        TwoTower(make_tiny_encoder(), make_tiny_encoder(projection_dim=4))


def test_one_fit_step_lowers_the_loss():
    model = TwoTower(make_tiny_encoder(), temperature=0.1)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    dataset = tf.data.Dataset.from_tensors(FEATURES).repeat(8)
    before = float(model.compute_loss(FEATURES))
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert float(model.compute_loss(FEATURES)) < before


def test_global_negatives_across_two_replicas_equal_one_device():
    """Loss and gradients: 2-replica MirroredStrategy (two logical CPUs) vs one device, same global batch; fit."""
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "models" / "replica_equivalence.py")],
                          capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    cases = [r for r in rows if "max_gradient_difference" in r]
    # hard negatives x accidental hits x tfrs mining
    assert len(cases) == 8
    for case in cases:
        assert case["local_sizes"] == [4, 4]
        assert case["mirrored_loss"] == pytest.approx(case["loss"], rel=1e-5), case
        assert case["max_gradient_difference"] <= 1e-5 * max(1.0, case["max_gradient"]), case
    # Per-replica negatives only (tfrs' own behaviour) give another loss: the check can fail.
    (local,) = [r for r in rows if r.get("per_replica_only")]
    assert abs(local["mirrored_loss"] - local["loss"]) > 1e-3
    # model.fit under the strategy: 4 steps, the weights moved, identical on both replicas.
    (fit,) = [r for r in rows if r.get("fit")]
    assert fit["replicas"] == 2 and fit["steps"] == 4 and fit["moved"] > 1e-4
    assert fit["max_replica_difference"] == 0.0


def test_tokenised_features_give_the_same_loss_and_train_under_xla():
    from tfsearch.models.two_tower import tokenize_features

    model = TwoTower(make_tiny_encoder(), temperature=0.1)
    features = dict(FEATURES)
    features["hard_negatives"] = tf.constant([["the man"], ["food"], ["tensor flow"], ["dog is eating"]])
    features["hard_negative_ids"] = tf.constant([["n0"], ["n1"], ["n2"], ["d1"]])
    tokenizer = model.query_encoder.tokenizer
    tokens = tokenize_features(features, tokenizer, tokenizer)
    assert tokens["query_token_ids"].shape == [4, 16] and tokens["hard_negatives_token_ids"].shape == [4, 1, 16]
    assert tokens["document_id_key"].dtype == tf.int64 and "query" not in tokens
    # Padding to the full length changes nothing (masked), and the ids hash the same.
    np.testing.assert_allclose(float(model.compute_loss(tokens)), float(model.compute_loss(features)), rtol=1e-5)
    xla_loss = tf.function(lambda f: model.compute_loss(f), jit_compile=True)(tokens)
    np.testing.assert_allclose(float(xla_loss), float(model.compute_loss(features)), rtol=1e-4)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2), jit_compile=True)
    history = model.fit(tf.data.Dataset.from_tensors(tokens).repeat(3), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and int(model.optimizer.iterations) == 3


def test_mixed_float16_with_loss_scaling():
    from tfsearch.models.bert_backbone import BertBackbone
    from tfsearch.text.wordpiece_tokenizer import WordPieceTokenizer
    from tests.conftest import TINY_VOCAB

    tf.keras.utils.set_random_seed(0)
    backbone = BertBackbone(vocabulary_size=len(TINY_VOCAB), hidden_dim=16, num_layers=1, num_heads=2,
                            intermediate_dim=32, max_sequence_length=64, dtype="mixed_float16")
    encoder = BertEncoder(backbone, WordPieceTokenizer(TINY_VOCAB, sequence_length=16))
    model = TwoTower(encoder, temperature=0.1)
    optimizer = tf.keras.mixed_precision.LossScaleOptimizer(tf.keras.optimizers.Adam(1e-2))
    model.compile(optimizer=optimizer)
    before = float(model.compute_loss(FEATURES))
    history = model.fit(tf.data.Dataset.from_tensors(FEATURES).repeat(4), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert float(model.compute_loss(FEATURES)) < before


def test_several_interests_train_through_the_one_nearest_the_positive():
    from tfsearch.models.two_tower import nearest_interest

    # Example 0: interests [1, 0] and [0, 1], positive [0.2, 0.9]: dot products 0.2 and 0.9 -> the second.
    # Example 1: interests [0, 1] and [0.6, 0.8], positive [1, 0]: 0 and 0.6 -> the second.
    interests = tf.constant([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.6, 0.8]]])
    positives = tf.constant([[0.2, 0.9], [1.0, 0.0]])
    np.testing.assert_allclose(nearest_interest(interests, positives).numpy(), [[0.0, 1.0], [0.6, 0.8]])
    with tf.GradientTape() as tape:
        tape.watch(interests)
        total = tf.reduce_sum(nearest_interest(interests, positives))
    gradient = tape.gradient(total, interests).numpy()
    np.testing.assert_array_equal(gradient, [[[0, 0], [1, 1]], [[0, 0], [1, 1]]])  # only the chosen ones learn

    from tfsearch.models.context_query_tower import ContextQueryTower

    encoder = make_tiny_encoder()
    tower = ContextQueryTower(encoder, max_context=2, num_interests=2)
    model = TwoTower(tower, encoder)
    features = {"query": {"context": tf.constant([["cat", "dog"], ["mat", ""], ["food", "bread"]])},
                "document": tf.constant(["hello world", "tensor flow", "search"]),
                "document_id": tf.constant(["a", "b", "c"])}
    # The loss is the single-vector loss of each example's nearest interest.
    users = tower(features["query"])
    documents = encoder(features["document"])
    routed = nearest_interest(users, documents)
    expected = TwoTower(encoder).task(routed, documents, candidate_ids=tf.constant([1, 2, 3], tf.int64),
                                      compute_metrics=False, compute_batch_metrics=False)
    np.testing.assert_allclose(model.compute_loss(features).numpy(), expected.numpy(), rtol=1e-5)


def test_exported_from_tfsearch_models():
    import tfsearch.models

    assert tfsearch.models.TwoTower is TwoTower
