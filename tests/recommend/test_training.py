"""The user tower and the ID baseline train on tiny data; the cached encoder matches the encoder."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import make_tiny_encoder
from tfsearch.data.beir import Document
from tfsearch.recommend.cached_text_encoder import CachedTextEncoder
from tfsearch.recommend.id_baseline import IdBaselineConfig, IdRetrievalModel, id_embeddings, train_id_baseline
from tfsearch.recommend.interactions import Interaction
from tfsearch.recommend.leave_last_out import leave_last_out
from tfsearch.recommend.user_tower_training import UserTowerConfig, train_user_tower

WORDS = ["cat", "dog", "mat", "food", "bread", "man", "search", "tensor", "flow", "hello", "world", "cafe"]


@pytest.fixture(scope="module")
def tiny_data():
    rng = np.random.default_rng(0)
    items = {f"i{n}": Document(f"i{n}", f"{WORDS[n % 12]} {WORDS[(n * 5) % 12]}", f"genre {n % 3}",
                               {"genre": [f"g{n % 3}"]}) for n in range(24)}
    interactions = []
    for user in range(12):
        liked = rng.choice(24, size=6, replace=False)
        for t, item in enumerate(liked):
            interactions.append(Interaction(f"u{user}", f"i{item}", t, float(rng.choice([2, 4, 5]))))
    return items, leave_last_out(interactions)


def test_cached_text_encoder_matches_the_encoder_and_falls_back():
    encoder = make_tiny_encoder()
    texts = ["the cat", "a dog", "the cat"]
    cached = CachedTextEncoder(texts, encoder(tf.constant(texts)).numpy(), encoder=encoder)
    query = tf.constant(["a dog", "", "hello world", "the cat"])
    out = cached(query).numpy()
    np.testing.assert_allclose(out[[0, 3]], encoder(tf.constant(["a dog", "the cat"])).numpy(), atol=1e-5)
    np.testing.assert_array_equal(out[1], 0.0)
    np.testing.assert_allclose(out[2], encoder(tf.constant(["hello world"])).numpy()[0], atol=1e-5)
    assert cached.trainable_weights == [] and cached.embedding_dim == 16
    strict = CachedTextEncoder(texts, np.zeros([3, 16]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="not in the cache"):
        strict(tf.constant(["unknown"]))
    with pytest.raises(ValueError, match="`embeddings` must be"):
        CachedTextEncoder(texts, np.zeros([2, 16]))


def test_bag_of_words_starts_at_zero_and_sums_hashed_words():
    texts = ["Café Noir (1951)", "noir", ""]
    rng = np.random.default_rng(0)
    cached = CachedTextEncoder(texts, rng.normal(size=[3, 8]), projection_dim=4, word_buckets=64)
    head_only = CachedTextEncoder(texts, cached.cached.numpy()[[0, 1]].tolist() + [[0.0] * 8], projection_dim=4)
    head_only.projection.set_weights(cached.projection.get_weights())
    # Zero-initialised table: the output is the head's alone, and "" stays all zeros.
    np.testing.assert_allclose(cached(tf.constant(texts)).numpy(), head_only(tf.constant(texts)).numpy(), atol=1e-6)
    np.testing.assert_array_equal(cached(tf.constant([""])).numpy(), 0.0)
    assert [w.name.split("/")[-1].split(":")[0] for w in cached.trainable_weights][-1] == "word_embeddings"

    # Row r of the table holds r in every column: the term of a text is the sum of its words'
    # bucket numbers over sqrt(word count). "Café Noir (1951)" -> ["café", "noir", "1951"].
    cached.word_embeddings.assign(np.tile(np.arange(64, dtype=np.float32)[:, None], [1, 4]))
    buckets = tf.strings.to_hash_bucket_fast(tf.constant(["café", "noir", "1951"]), 64).numpy()
    expected = buckets.sum() / np.sqrt(3)  # e.g. buckets [b1, b2, b3] -> (b1 + b2 + b3) / 1.732
    term = cached.bag_of_words(tf.constant(["Café Noir (1951)", "NOIR!", ""])).numpy()
    np.testing.assert_allclose(term[0], [expected] * 4, rtol=1e-6)
    np.testing.assert_allclose(term[1], [buckets[1]] * 4)  # one word: case and punctuation ignored
    np.testing.assert_array_equal(term[2], 0.0)
    with pytest.raises(ValueError, match="needs `projection_dim`"):
        CachedTextEncoder(texts, np.zeros([3, 8]), word_buckets=64)
    with pytest.raises(ValueError, match="positive integer"):
        CachedTextEncoder(texts, np.zeros([3, 8]), projection_dim=4, word_buckets=0)
    with pytest.raises(ValueError, match="word_buckets needs projection_dim"):
        UserTowerConfig(word_buckets=64)


def test_user_tower_trains_its_bag_of_words(tiny_data):
    items, split = tiny_data
    config = UserTowerConfig(max_context=3, epochs=2, batch_size=8, learning_rate=1e-2, projection_dim=8,
                             word_buckets=128)
    result = train_user_tower(make_tiny_encoder(), split, items, config, progress=False)
    assert np.all(np.isfinite(result.report["loss"]))
    assert (result.item_encoder.word_embeddings.numpy() != 0).any()  # the table learned
    users = result.tower({"context": tf.ragged.constant([["cat dog genre 0"], []])}).numpy()
    assert users.shape == (2, 8)
    np.testing.assert_allclose(np.linalg.norm(users[0]), 1.0, atol=1e-5)


@pytest.mark.parametrize("train_encoder", [False, True])
def test_user_tower_trains(tiny_data, train_encoder):
    items, split = tiny_data
    encoder = make_tiny_encoder()
    before = [w.numpy().copy() for w in encoder.weights]
    config = UserTowerConfig(max_context=3, epochs=2, batch_size=8, learning_rate=1e-2, train_encoder=train_encoder)
    result = train_user_tower(encoder, split, items, config, progress=False)
    assert result.report["steps"] >= 2 and np.all(np.isfinite(result.report["loss"]))
    users = result.tower({"context": tf.ragged.constant([["cat dog genre 0"], []])}).numpy()
    assert users.shape == (2, 16)
    changed = any(not np.array_equal(b, w.numpy()) for b, w in zip(before, encoder.weights))
    assert changed == train_encoder  # frozen encoder: item embeddings cached, only the fusion trains
    assert (result.tower.user_query.numpy() != 0).any()


def test_user_tower_needs_examples(tiny_data):
    items, split = tiny_data
    split = dataclasses.replace(split, train=split.train[:1])
    with pytest.raises(ValueError, match="training example"):
        train_user_tower(make_tiny_encoder(), split, items, UserTowerConfig(epochs=1), progress=False)


def test_id_baseline_trains_on_tiny_data(tiny_data):
    items, split = tiny_data
    model, report = train_id_baseline(split, list(items), IdBaselineConfig(embedding_dim=8, epochs=3, batch_size=8),
                                      progress=False)
    assert report["steps"] > 0 and report["loss"][-1] < report["loss"][0]
    users, item_vectors = id_embeddings(model, sorted(split.test), list(items))
    assert users.shape == (len(split.test), 8) and item_vectors.shape == (24, 8)
    # The tutorial's FactorizedTopK metrics work at evaluation.
    metrics = model.evaluate(tf.data.Dataset.from_tensor_slices(
        {"user_id": ["u0", "u1"], "item_id": ["i0", "i1"]}).batch(2), return_dict=True, verbose=0)
    assert "factorized_top_k/top_100_categorical_accuracy" in metrics
    clone = IdRetrievalModel.from_config(model.get_config())
    assert clone.embedding_dim == 8 and clone.item_ids == list(items)
    with pytest.raises(ValueError, match="ID baseline"):
        IdBaselineConfig(embedding_dim=0)
