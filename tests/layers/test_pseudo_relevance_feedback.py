import numpy as np
import pytest
import tensorflow as tf

from tests.helpers.layer_contract import (
    assert_config_round_trip,
    assert_saved_model_reloads_in_fresh_process,
    assert_xla_compiles,
)
from tfsearch.layers import PseudoRelevanceFeedback


def numpy_prf(queries, documents, mask, m, beta):
    """Plain reference: normalise((1 - beta) q + beta mean(valid docs among the first m)); q's direction if none."""
    out = []
    for q, docs, valid in zip(queries.astype(np.float64), documents.astype(np.float64), mask):
        chosen = docs[:m][valid[:m]]
        expanded = (1 - beta) * q + beta * chosen.mean(axis=0) if len(chosen) else q
        out.append(expanded / np.linalg.norm(expanded))
    return np.array(out)


def random_inputs(seed, batch=6, n=7, dim=5):
    rng = np.random.default_rng(seed)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    queries = unit(rng.normal(size=(batch, dim))).astype(np.float32)
    documents = unit(rng.normal(size=(batch, n, dim))).astype(np.float32)
    mask = rng.random((batch, n)) < 0.7
    mask[0] = False  # a query without any valid feedback document
    mask[1] = True
    return queries, documents, mask


@pytest.mark.parametrize("m", [1, 3, 7])
@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("with_mask", [False, True])
def test_matches_the_numpy_reference(m, beta, with_mask):
    queries, documents, mask = random_inputs(seed=m)
    if not with_mask:
        mask = np.ones_like(mask)
    layer = PseudoRelevanceFeedback(num_feedback_documents=m, beta=beta)
    got = layer(queries, documents, mask=mask if with_mask else None).numpy()
    np.testing.assert_allclose(got, numpy_prf(queries, documents, mask, m, beta), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_hand_worked_example():
    layer = PseudoRelevanceFeedback(num_feedback_documents=2, beta=0.5)
    queries = tf.constant([[1.0, 0.0], [1.0, 0.0]])
    documents = tf.constant([[[0.0, 1.0], [0.0, 1.0], [-1.0, 0.0]],
                             [[0.0, 1.0], [float("nan"), 0.0], [-1.0, 0.0]]])
    mask = tf.constant([[True, True, True], [True, False, True]])
    # Query 1: the third document is past m = 2: normalise(0.5 [1, 0] + 0.5 [0, 1]) = [0.7071, 0.7071].
    # Query 2: only the first document counts (the second is masked, NaN and all): the same.
    np.testing.assert_allclose(layer(queries, documents, mask=mask).numpy(), [[0.5**0.5, 0.5**0.5]] * 2, atol=1e-6)


def test_beta_zero_keeps_unit_queries_and_padding_never_leaks():
    queries, documents, mask = random_inputs(seed=3)
    documents[~mask] = np.nan
    out = PseudoRelevanceFeedback(num_feedback_documents=4, beta=0.0)(queries, documents, mask=mask).numpy()
    np.testing.assert_allclose(out, queries, atol=1e-6)
    out = PseudoRelevanceFeedback(num_feedback_documents=4, beta=0.7)(queries, documents, mask=mask).numpy()
    assert np.isfinite(out).all()


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="`num_feedback_documents` must be a positive integer"):
        PseudoRelevanceFeedback(num_feedback_documents=0)
    with pytest.raises(ValueError, match="`num_feedback_documents` must be a positive integer"):
        PseudoRelevanceFeedback(num_feedback_documents=2.5)
    with pytest.raises(ValueError, match=r"`beta` must be in \[0, 1\]"):
        PseudoRelevanceFeedback(beta=1.5)
    layer = PseudoRelevanceFeedback(num_feedback_documents=5)
    with pytest.raises(ValueError, match="hold 3 documents per query but `num_feedback_documents` is 5"):
        layer(tf.zeros([2, 4]), tf.zeros([2, 3, 4]))
    with pytest.raises(ValueError, match="must be \\[batch, dim\\]"):
        layer(tf.zeros([4]), tf.zeros([2, 3, 4]))


def test_config_round_trip():
    queries, documents, mask = random_inputs(seed=5)
    layer = PseudoRelevanceFeedback(num_feedback_documents=3, beta=0.25, name="prf")
    clone = assert_config_round_trip(layer, call=lambda l: l(queries, documents, mask=mask))
    assert clone.num_feedback_documents == 3 and clone.beta == 0.25


def test_compiles_with_xla():
    queries, documents, mask = random_inputs(seed=6)
    layer = PseudoRelevanceFeedback(num_feedback_documents=4, beta=0.4)
    compiled = assert_xla_compiles(lambda q, d, k: layer(q, d, mask=k), tf.constant(queries), tf.constant(documents),
                                   tf.constant(mask))
    np.testing.assert_allclose(compiled.numpy(), numpy_prf(queries, documents, mask, 4, 0.4), atol=1e-5)


def test_inside_a_saved_model_signature_in_a_fresh_process(tmp_path):
    queries, documents, mask = random_inputs(seed=7)
    layer = PseudoRelevanceFeedback(num_feedback_documents=3, beta=0.6)
    module = tf.Module()
    module.layer = layer
    module.expand = tf.function(
        lambda q, d, k: {"expanded": layer(q, d, mask=k)},
        input_signature=[tf.TensorSpec([None, 5], tf.float32, name="q"),
                         tf.TensorSpec([None, None, 5], tf.float32, name="d"),
                         tf.TensorSpec([None, None], tf.bool, name="k")])
    export_dir = tmp_path / "prf"
    tf.saved_model.save(module, str(export_dir), signatures={"expand": module.expand})
    assert_saved_model_reloads_in_fresh_process(
        module, export_dir, "expand", {"q": queries, "d": documents, "k": mask},
        {"expanded": numpy_prf(queries, documents, mask, 3, 0.6)})


def test_registered_as_a_keras_serializable():
    layer = PseudoRelevanceFeedback(num_feedback_documents=2, beta=0.25, name="prf")
    config = tf.keras.layers.serialize(layer)
    assert config["registered_name"] == "tfsearch>PseudoRelevanceFeedback"
    assert tf.keras.utils.get_registered_object("tfsearch>PseudoRelevanceFeedback") is PseudoRelevanceFeedback
    clone = tf.keras.layers.deserialize(config)
    assert type(clone) is PseudoRelevanceFeedback and clone.get_config() == layer.get_config()
