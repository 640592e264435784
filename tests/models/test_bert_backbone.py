import json

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers.layer_contract import assert_config_round_trip, assert_xla_compiles
from tfsearch.models.bert_backbone import BertBackbone

TINY = dict(vocabulary_size=50, hidden_dim=8, num_layers=1, num_heads=2, intermediate_dim=16, max_sequence_length=32)


def test_output_shape_and_padding_invariance():
    backbone = BertBackbone(**TINY)
    ids = tf.constant([[2, 7, 9, 3, 0, 0]])
    mask = tf.constant([[True, True, True, True, False, False]])
    states = backbone(ids, mask)
    assert states.shape == [1, 6, 8]
    # Padding is masked out of attention: the real positions do not change
    # when the padding is removed.
    trimmed = backbone(ids[:, :4], mask[:, :4])
    np.testing.assert_allclose(states[:, :4].numpy(), trimmed.numpy(), atol=1e-5)


def test_config_round_trip():
    backbone = BertBackbone(**TINY, name="backbone")
    ids, mask = tf.constant([[2, 5, 3]]), tf.constant([[True, True, True]])
    assert_config_round_trip(backbone, call=lambda layer: layer(ids, mask))


def test_xla():
    backbone = BertBackbone(**TINY)
    assert_xla_compiles(lambda i, m: backbone(i, m), tf.constant([[2, 5, 3, 0]]), tf.constant([[1, 1, 1, 0]]))


def test_from_checkpoint_config_maps_hugging_face_names(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({
        "model_type": "bert", "vocab_size": 50, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 32,
    }))
    backbone = BertBackbone.from_checkpoint_config(path)
    assert (backbone.vocabulary_size, backbone.hidden_dim, backbone.num_layers) == (50, 8, 1)


def test_rejects_other_architectures(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "roberta"}))
    with pytest.raises(ValueError, match="roberta"):
        BertBackbone.from_checkpoint_config(path)


def test_weights_with_wrong_shapes_are_refused(tmp_path):
    from safetensors.numpy import save_file

    small = BertBackbone(**TINY)
    # A checkpoint for a wider model cannot be loaded into this one.
    wrong = {"embeddings.word_embeddings.weight": np.zeros([50, 12], np.float32)}
    save_file(wrong, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="does not match"):
        small.load_checkpoint_weights(tmp_path / "model.safetensors")


def test_mixed_bfloat16_keeps_float32_variables_and_close_outputs():
    tf.keras.utils.set_random_seed(1)
    full = BertBackbone(**TINY, activation="gelu")
    mixed = BertBackbone(**TINY, activation="gelu", dtype="mixed_bfloat16")
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # restored after building
    mixed.set_weights(full.get_weights())
    assert all(w.dtype == tf.float32 for w in mixed.weights)
    ids, mask = tf.constant([[2, 7, 9, 3]]), tf.constant([[True] * 4])
    out = mixed(ids, mask)
    assert out.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(out, tf.float32).numpy(), full(ids, mask).numpy(), atol=0.1)


def test_mixed_bfloat16_runs_unfused_activations_in_float32():
    # The exact GELU runs inside the feed-forward product; any other activation
    # runs separately, in float32, inside the bfloat16 model.
    mixed = BertBackbone(**TINY, activation="relu", dtype="mixed_bfloat16")
    x = tf.constant([[-1.0, 0.5]], tf.bfloat16)
    act = mixed.bert.bert.encoder.layer[0].intermediate.intermediate_act_fn(x)
    assert act.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(act, tf.float32).numpy(), [[0.0, 0.5]])
    fused = BertBackbone(**TINY, activation="gelu", dtype="mixed_bfloat16")
    intermediate = fused.bert.bert.encoder.layer[0].intermediate
    assert intermediate.intermediate_act_fn(x) is x and intermediate.dense.fused_activation is not None


def _stock_hugging_face_copy(backbone):
    """A plain `transformers.TFBertModel` with `backbone`'s configuration and weights."""
    import transformers

    from tfsearch.models.bert_backbone import _HF_CONFIG_KEYS

    config = transformers.BertConfig(**{theirs: getattr(backbone, ours) for theirs, ours in _HF_CONFIG_KEYS.items()})
    stock = transformers.TFBertModel(config)
    stock.build()
    stock.set_weights(backbone.bert.get_weights())
    return stock


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_fused_kernels_compute_what_hugging_face_computes(activation):
    # tfsearch multiplies token-wise in 2-D (so that oneDNN fuses bias and GELU
    # into the product) and drops the softmax's "+ 1e-9"; the result must be the
    # stock model's, with padding, in outputs and in gradients.
    tf.keras.utils.set_random_seed(3)
    # Weights of standard deviation 0.5, so that activations are of order 1 and the GELU is far from linear.
    backbone = BertBackbone(**dict(TINY, num_layers=2), activation=activation, initializer_range=0.5)
    stock = _stock_hugging_face_copy(backbone)
    ids = tf.constant([[2, 7, 9, 3, 0, 0], [2, 11, 3, 0, 0, 0]])
    mask = tf.constant([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]])
    with tf.GradientTape(persistent=True) as tape:
        ours = backbone(ids, mask)
        theirs = stock(input_ids=ids, attention_mask=mask, token_type_ids=tf.zeros_like(mask)).last_hidden_state
        loss_ours, loss_theirs = tf.reduce_sum(ours * ours), tf.reduce_sum(theirs * theirs)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)
    grads_ours = tape.gradient(loss_ours, backbone.bert.trainable_weights)
    grads_theirs = tape.gradient(loss_theirs, stock.trainable_weights)
    compared = 0
    for mine, reference in zip(grads_ours, grads_theirs):
        if reference is not None:
            np.testing.assert_allclose(tf.convert_to_tensor(mine).numpy(), tf.convert_to_tensor(reference).numpy(),
                                       atol=1e-4)
            compared += 1
    # 2 layers x 16 weights, plus the embeddings' 5 (the pooler is frozen in ours, unused in theirs).
    assert compared == 2 * 16 + 5


def test_fused_attention_hands_unusual_calls_to_hugging_face():
    # Returned attention probabilities are not computed by the fused call; they
    # come from the original one and must equal the stock model's.
    backbone = BertBackbone(**TINY)
    stock = _stock_hugging_face_copy(backbone)
    ids, mask = tf.constant([[2, 7, 9, 3]]), tf.constant([[1, 1, 1, 0]])
    ours = backbone.bert(input_ids=ids, attention_mask=mask, output_attentions=True)
    theirs = stock(input_ids=ids, attention_mask=mask, output_attentions=True)
    np.testing.assert_allclose(ours.attentions[0].numpy(), theirs.attentions[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(ours.last_hidden_state.numpy(), theirs.last_hidden_state.numpy(), atol=1e-5)
