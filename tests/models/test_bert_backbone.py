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
    # The GELU runs in float32 inside the bfloat16 model.
    x = tf.constant([[-1.0, 0.5]], tf.bfloat16)
    act = mixed.bert.bert.encoder.layer[0].intermediate.intermediate_act_fn(x)
    assert act.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(out, tf.float32).numpy(), full(ids, mask).numpy(), atol=0.1)
