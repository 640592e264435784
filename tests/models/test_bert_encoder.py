import json

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import make_tiny_encoder
from tests.helpers.layer_contract import (
    assert_config_round_trip,
    assert_saved_model_reloads_in_fresh_process,
    assert_xla_compiles,
)
from tfsearch.models.bert_encoder import BertEncoder
from tfsearch.models.presets import CheckpointNotFoundError

TEXTS = ["the cat sat on the mat", "a dog", ""]


@pytest.mark.parametrize("pooling", ["mean", "cls"])
@pytest.mark.parametrize("projection_dim", [None, 6])
def test_embeddings_are_unit_vectors(pooling, projection_dim):
    encoder = make_tiny_encoder(pooling=pooling, projection_dim=projection_dim)
    embeddings = encoder(tf.constant(TEXTS)).numpy()
    assert embeddings.shape == (3, projection_dim or 16)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_normalize_false_keeps_raw_pooling():
    encoder = make_tiny_encoder(normalize=False)
    assert not np.allclose(np.linalg.norm(encoder(tf.constant(TEXTS)).numpy(), axis=1), 1.0)


def test_mean_pooling_matches_numpy_reference(tiny_encoder):
    tokens = tiny_encoder.tokenizer(tf.constant(["the cat", "the cat sat on the mat"]))
    hidden = tiny_encoder.backbone(tokens["token_ids"], tokens["padding_mask"]).numpy()
    mask = tokens["padding_mask"].numpy().astype(np.float32)[:, :, None]
    expected = (hidden * mask).sum(1) / mask.sum(1)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    got = tiny_encoder(tf.constant(["the cat", "the cat sat on the mat"])).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_batch_padding_does_not_change_an_embedding(tiny_encoder):
    alone = tiny_encoder(tf.constant(["the cat"])).numpy()
    padded = tiny_encoder(tf.constant(["the cat", "the cat sat on the mat and the dog sat"])).numpy()[:1]
    np.testing.assert_allclose(alone, padded, atol=1e-5)


def test_any_unicode_and_long_texts_encode(tiny_encoder):
    texts = ["", " ", "\x00\x01", "東京 😀 ﬁ", "ça va? naïve", "cat " * 5000]
    embeddings = tiny_encoder(tf.constant(texts)).numpy()
    assert embeddings.shape == (len(texts), 16) and np.isfinite(embeddings).all()


def test_an_empty_batch_encodes_to_no_rows(tiny_encoder):
    from tfsearch.models.batch_encoding import encode_in_length_chunks

    none = tf.constant([], tf.string)
    assert tiny_encoder(none).shape == (0, 16)
    graph = tf.function(lambda texts: encode_in_length_chunks(tiny_encoder, texts, chunk_size=2),
                        input_signature=[tf.TensorSpec([None], tf.string)])
    assert graph(none).shape == (0, 16)
    tokens = tiny_encoder.tokenizer(none)
    assert tf.function(tiny_encoder.encode_tokens, jit_compile=True)(
        tokens["token_ids"], tokens["padding_mask"]).shape == (0, 16)


def test_config_round_trip(tiny_encoder):
    clone = assert_config_round_trip(tiny_encoder, call=lambda model: model(tf.constant(TEXTS)))
    assert clone.pooling == "mean" and clone.sequence_length == 16


def test_xla_compiles_encode_tokens(tiny_encoder):
    tokens = tiny_encoder.tokenizer(tf.constant(TEXTS))
    assert_xla_compiles(tiny_encoder.encode_tokens, tokens["token_ids"], tokens["padding_mask"])


def test_save_to_directory_round_trip(tmp_path):
    encoder = make_tiny_encoder(projection_dim=4)
    expected = encoder(tf.constant(TEXTS)).numpy()
    path = encoder.save_to_directory(tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == ["tfsearch_encoder.json", "vocab.txt", "weights"]
    restored = BertEncoder.from_pretrained(str(path))
    np.testing.assert_allclose(restored(tf.constant(TEXTS)).numpy(), expected, atol=1e-6)
    with pytest.raises(FileExistsError):
        encoder.save_to_directory(path)


def test_saved_model_reloads_in_fresh_process(tiny_encoder, tmp_path):
    module = tf.Module()
    module.encoder = tiny_encoder

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def encode(texts):
        return {"embeddings": tiny_encoder(texts)}

    module.encode = encode
    export_dir = tmp_path / "saved"
    tf.saved_model.save(module, str(export_dir), signatures={"encode": encode})
    texts = ["the cat sat", "a dog", ""]
    assert_saved_model_reloads_in_fresh_process(
        module, export_dir, "encode", {"texts": texts}, {"embeddings": tiny_encoder(tf.constant(texts)).numpy()}
    )


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="neither a folder nor a known preset"):
        BertEncoder.from_pretrained(str(tmp_path / "missing"))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CheckpointNotFoundError, match="missing vocab.txt, model.safetensors"):
        BertEncoder.from_pretrained(str(tmp_path))


def test_vocabulary_size_mismatch_is_an_error(tiny_encoder):
    from tfsearch.models.bert_backbone import BertBackbone

    other = BertBackbone(vocabulary_size=10, hidden_dim=8, num_layers=1, num_heads=2, intermediate_dim=16)
    with pytest.raises(ValueError, match="tokens but the backbone"):
        BertEncoder(other, tiny_encoder.tokenizer)


def test_bad_pooling():
    with pytest.raises(ValueError, match="pooling"):
        make_tiny_encoder(pooling="max")


@pytest.mark.parametrize("facts,compute_dtype", [(({"avx2", "fma"}, None, None), "float32"),
                                                 (({"avx512f", "avx512_bf16", "amx_bf16"}, None, None), "bfloat16")])
def test_dtype_auto_follows_the_machine(facts, compute_dtype, tmp_path, monkeypatch):
    from tfsearch.utils import precision

    path = make_tiny_encoder().save_to_directory(tmp_path / "model")
    monkeypatch.setattr(precision, "machine_facts", lambda: facts)
    encoder = BertEncoder.from_pretrained(str(path), dtype="auto")
    assert encoder.backbone.compute_dtype == compute_dtype
    assert encoder(tf.constant(TEXTS)).dtype == tf.float32  # embeddings stay float32


def test_dtype_auto_picking_float32_overrides_a_bfloat16_save(tmp_path, monkeypatch):
    from tfsearch.utils import precision

    path = make_tiny_encoder().save_to_directory(tmp_path / "model")
    fast = BertEncoder.from_pretrained(str(path), dtype="mixed_bfloat16")
    assert fast.backbone.compute_dtype == "bfloat16"
    saved = fast.save_to_directory(tmp_path / "bf16")
    monkeypatch.setattr(precision, "machine_facts", lambda: ({"avx2"}, None, None))
    assert BertEncoder.from_pretrained(str(saved), dtype="auto").backbone.compute_dtype == "float32"
    assert BertEncoder.from_pretrained(str(saved), dtype="float32").backbone.compute_dtype == "float32"
    assert BertEncoder.from_pretrained(str(saved)).backbone.compute_dtype == "bfloat16"  # None: as saved


def test_unknown_dtype_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"`dtype` must be one of 'auto', None, .*got 'bf16'"):
        BertEncoder.from_pretrained(str(tmp_path), dtype="bf16")


def test_inference_copy_stores_a_mixed_precision_encoders_weights_in_bfloat16(tmp_path):
    path = make_tiny_encoder(projection_dim=4).save_to_directory(tmp_path / "model")
    mixed = BertEncoder.from_pretrained(str(path), dtype="mixed_bfloat16")
    copy = mixed.inference_copy()
    assert copy is not mixed
    assert mixed.backbone.variable_dtype == "float32"  # the original is left as it was, for training
    assert (copy.backbone.compute_dtype, copy.backbone.variable_dtype) == ("bfloat16", "bfloat16")
    assert {w.dtype for w in copy.backbone.weights} == {tf.bfloat16}
    assert copy.projection.kernel.dtype == tf.float32  # the head was float32 and stays so
    # Each weight rounded to bfloat16 once, as the mixed encoder rounds it on every call; the layer
    # normalisations then compute in bfloat16 too, so the embeddings agree to bfloat16's precision.
    np.testing.assert_allclose(copy(tf.constant(TEXTS)).numpy(), mixed(tf.constant(TEXTS)).numpy(), atol=0.03)
    assert copy.backbone.dtype_policy.name == "bfloat16"
    config, copy_config = mixed.get_config(), copy.get_config()
    for c in (config, copy_config):
        c["backbone"]["config"].pop("dtype")
    assert copy_config == config  # the same encoder but for the backbone's policy

def test_inference_copy_of_a_float32_encoder_is_the_encoder(tiny_encoder):
    assert tiny_encoder.inference_copy() is tiny_encoder
