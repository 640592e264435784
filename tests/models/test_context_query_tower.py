"""ContextQueryTower: empty, short and long histories, the user tower, shapes, config and files."""

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import make_tiny_encoder
from tfsearch.models.context_query_tower import ContextQueryTower


@pytest.fixture(scope="module")
def tower():
    tower = ContextQueryTower(make_tiny_encoder(), max_context=3)
    tower._ensure_built()
    # Non-trivial fusion weights, so that tests do not pass by the zero initialisation alone.
    rng = np.random.default_rng(0)
    for weight in (tower.query_projection.kernel, tower.value_projection.kernel, tower.gate.kernel,
                   tower.user_query, tower.recency_bias):
        weight.assign(rng.normal(0, 0.3, weight.shape).astype(np.float32))
    return tower


def test_empty_history_returns_the_query_embedding_unchanged(tower):
    queries = tf.constant(["the cat sat", "dog food"])
    expected = tower.encoder(queries).numpy()
    for context in (tf.ragged.constant([[], []], dtype=tf.string), tf.constant([["", ""], ["", ""]]), None):
        inputs = {"query": queries} if context is None else {"query": queries, "context": context}
        np.testing.assert_allclose(tower(inputs).numpy(), expected, atol=1e-6)
    # A string tensor alone is the queries.
    np.testing.assert_allclose(tower(queries).numpy(), expected, atol=1e-6)


def test_short_history_changes_the_query_and_stays_unit_norm(tower):
    queries = tf.constant(["the cat sat", "dog food"])
    out = tower({"query": queries, "context": tf.ragged.constant([["hello world"], ["man eating bread", "mat"]])})
    assert out.shape == (2, 16)
    np.testing.assert_allclose(tf.norm(out, axis=1).numpy(), 1.0, atol=1e-5)
    assert not np.allclose(out.numpy(), tower.encoder(queries).numpy(), atol=1e-3)


def test_mixed_batch_rows_are_independent(tower):
    # Row 0 has no context: its output is the query embedding even though row 1 has a history.
    out = tower({"query": tf.constant(["the cat sat", "dog food"]),
                 "context": tf.ragged.constant([[], ["man eating bread"]])}).numpy()
    alone = tower({"query": tf.constant(["dog food"]), "context": tf.ragged.constant([["man eating bread"]])}).numpy()
    np.testing.assert_allclose(out[0], tower.encoder(tf.constant(["the cat sat"])).numpy()[0], atol=1e-5)
    np.testing.assert_allclose(out[1], alone[0], atol=1e-5)


def test_long_history_keeps_the_most_recent(tower):
    # max_context = 3: of five texts (oldest first) only the last three count.
    long = ["cat", "dog", "mat", "food", "bread"]
    out_long = tower({"query": tf.constant(["search"]), "context": tf.ragged.constant([long])})
    out_recent = tower({"query": tf.constant(["search"]), "context": tf.ragged.constant([long[-3:]])})
    np.testing.assert_allclose(out_long.numpy(), out_recent.numpy(), atol=1e-6)
    out_oldest = tower({"query": tf.constant(["search"]), "context": tf.ragged.constant([long[:3]])})
    assert not np.allclose(out_long.numpy(), out_oldest.numpy(), atol=1e-4)
    # Padded input gives the same as ragged; padding may sit anywhere.
    padded = tower({"query": tf.constant(["search"]), "context": tf.constant([["cat", "", "dog", "mat", "food",
                                                                                "bread", ""]])})
    np.testing.assert_allclose(padded.numpy(), out_long.numpy(), atol=1e-6)
    np.testing.assert_array_equal(tower.recent_context(tf.ragged.constant([long, ["a"]])).numpy().astype(str),
                                  [["mat", "food", "bread"], ["a", "", ""]])


def test_user_tower_without_query(tower):
    context = tf.ragged.constant([["cat", "mat"], ["dog food"], []])
    users = tower({"context": context}).numpy()
    same = tower({"query": tf.constant(["", "", ""]), "context": context}).numpy()
    np.testing.assert_allclose(users, same, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(users[:2], axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(users[2], 0.0)  # neither query nor context


def test_attention_and_gate_shapes_and_masks(tower):
    q, qm, c, cm = tower.embed_texts(tf.constant(["cat", ""]), tf.constant([["dog", "mat", ""], ["", "", ""]]))
    assert q.shape == (2, 16) and c.shape == (2, 3, 16)
    np.testing.assert_array_equal(qm.numpy(), [True, False])
    np.testing.assert_array_equal(cm.numpy(), [[True, True, False], [False, False, False]])
    out, attention, gate = tower.fuse(q, qm, c, cm, return_details=True)
    assert out.shape == (2, 16) and attention.shape == (2, 3) and gate.shape == (2,)
    np.testing.assert_allclose(attention.numpy()[0].sum(), 1.0, atol=1e-6)
    assert attention.numpy()[0, 2] == 0.0 and np.all(attention.numpy()[1] == 0.0)
    assert 0.0 < gate.numpy()[0] < 1.0
    assert gate.numpy()[1] == 1.0  # no context: all query


def test_user_gate_is_zero_and_recency_bias_counts_from_the_latest(tower):
    context = tf.random.normal([1, 3, 16])
    _, _, gate = tower.fuse(tf.zeros([1, 16]), tf.constant([False]), context, tf.constant([[True, True, True]]),
                            return_details=True)
    assert gate.numpy()[0] == 0.0
    # With equal keys, attention follows the recency bias: slot 2 (latest) gets bias[0].
    equal = tf.tile(tf.random.normal([1, 1, 16]), [1, 3, 1])
    _, attention, _ = tower.fuse(tf.zeros([1, 16]), tf.constant([False]), equal, tf.constant([[True, True, True]]),
                                 return_details=True)
    bias = tower.recency_bias.numpy()
    expected = np.exp(bias[[2, 1, 0]]) / np.exp(bias[[2, 1, 0]]).sum()
    np.testing.assert_allclose(attention.numpy()[0], expected, atol=1e-5)


def test_fuse_compiles_with_xla(tower):
    args = (tf.random.normal([2, 16]), tf.constant([True, False]), tf.random.normal([2, 3, 16]),
            tf.constant([[True, False, False], [True, True, True]]))
    compiled = tf.function(tower.fuse, jit_compile=True)
    np.testing.assert_allclose(compiled(*args).numpy(), tower.fuse(*args).numpy(), atol=1e-5)
    # The embedded inputs take the same path.
    embedded = tower({"query_embedding": args[0], "query_mask": args[1], "context_embeddings": args[2],
                      "context_mask": args[3]})
    np.testing.assert_allclose(embedded.numpy(), tower.fuse(*args).numpy(), atol=1e-6)


def test_gradients_reach_fusion_and_encoder(tower):
    with tf.GradientTape() as tape:
        out = tower({"context": tf.ragged.constant([["cat", "mat"], ["dog"]])}, training=True)
        loss = tf.reduce_sum(out * tf.random.normal(out.shape))
    gradients = tape.gradient(loss, tower.trainable_variables)
    named = {v.name: g for v, g in zip(tower.trainable_variables, gradients)}
    assert named[tower.user_query.name] is not None and named[tower.value_projection.kernel.name] is not None
    assert any(g is not None for name, g in named.items() if "backbone" in name or "bert" in name)


def test_config_round_trip_and_errors(tower):
    config = tower.get_config()
    assert config["max_context"] == 3 and config["attention_dim"] is None and config["gate_bias"] == 0.0
    clone = ContextQueryTower.from_config(config)
    assert clone.max_context == 3 and clone.embedding_dim == 16
    small = ContextQueryTower(make_tiny_encoder(), max_context=2, attention_dim=4, gate_bias=2.0)
    _, _, gate = small.fuse(tf.random.normal([1, 16]), tf.constant([True]), tf.random.normal([1, 2, 16]),
                            tf.constant([[True, True]]), return_details=True)
    np.testing.assert_allclose(gate.numpy(), [1 / (1 + np.exp(-2.0))], atol=1e-6)  # zero kernel: the bias alone
    assert small.key_projection.kernel.shape == (16, 4)
    with pytest.raises(ValueError, match="max_context"):
        ContextQueryTower(make_tiny_encoder(), max_context=0)
    with pytest.raises(ValueError, match="attention_dim"):
        ContextQueryTower(make_tiny_encoder(), attention_dim=-1)
    with pytest.raises(ValueError, match="query"):
        tower({"queries": tf.constant(["x"])})


def test_save_and_load(tower, tmp_path):
    inputs = {"query": tf.constant(["cat", ""]), "context": tf.ragged.constant([["dog", "mat"], ["food"]])}
    expected = tower(inputs).numpy()
    tower.save_to_directory(tmp_path / "tower")
    loaded = ContextQueryTower.from_directory(tmp_path / "tower")
    np.testing.assert_allclose(loaded(inputs).numpy(), expected, atol=1e-6)
    with pytest.raises(FileExistsError):
        tower.save_to_directory(tmp_path / "tower")
    with pytest.raises(FileNotFoundError, match="context tower"):
        ContextQueryTower.from_directory(tmp_path)


def test_several_interests_per_user(tmp_path):
    tower = ContextQueryTower(make_tiny_encoder(), max_context=3, num_interests=3)
    users = tower({"context": tf.ragged.constant([["cat", "dog", "bread"], ["mat"], []])}).numpy()
    assert users.shape == (3, 3, 16) and tower.user_query.shape == (3, 16) and tower.recency_bias.shape == (3, 3)
    np.testing.assert_allclose(np.linalg.norm(users[:2], axis=-1), 1.0, atol=1e-5)
    # Random attention queries: a three-text history is pooled three different ways; one text has one pooling.
    assert not np.allclose(users[0, 0], users[0, 1], atol=1e-3)
    np.testing.assert_allclose(users[1, 0], users[1, 2], atol=1e-5)
    np.testing.assert_array_equal(users[2], 0.0)  # neither query nor context
    # A row with a query and no context: the query embedding, for every interest.
    search = tower({"query": tf.constant(["the cat sat"])}).numpy()
    np.testing.assert_allclose(search[0], np.repeat(tower.encoder(tf.constant(["the cat sat"])).numpy(), 3, 0),
                               atol=1e-6)
    # The per-interest attention and gate, and XLA.
    args = (tf.zeros([2, 16]), tf.constant([False, False]), tf.random.normal([2, 3, 16]),
            tf.constant([[True, True, False], [True, True, True]]))
    out, attention, gate = tower.fuse(*args, return_details=True)
    assert attention.shape == (2, 3, 3) and gate.shape == (2, 3)
    np.testing.assert_allclose(attention.numpy().sum(-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(attention.numpy()[0, :, 2], 0.0)
    np.testing.assert_array_equal(gate.numpy(), 0.0)  # user rows: the pooled context alone
    np.testing.assert_allclose(tf.function(tower.fuse, jit_compile=True)(*args).numpy(), out.numpy(), atol=1e-5)
    # The setting travels with the config and the files.
    assert ContextQueryTower.from_config(tower.get_config()).num_interests == 3
    tower.save_to_directory(tmp_path / "tower")
    loaded = ContextQueryTower.from_directory(tmp_path / "tower")
    assert loaded.num_interests == 3
    np.testing.assert_allclose(loaded({"context": tf.ragged.constant([["cat", "dog", "bread"], ["mat"], []])}).numpy(),
                               users, atol=1e-6)
    with pytest.raises(ValueError, match="num_interests"):
        ContextQueryTower(make_tiny_encoder(), num_interests=0)
