import tensorflow as tf

from tests.conftest import make_tiny_encoder
from tfsearch.models.fingerprint import model_fingerprint


def built(encoder):
    encoder(tf.constant(["hello world"]))
    return encoder


def test_same_model_same_fingerprint_other_weights_other_fingerprint():
    a, b = built(make_tiny_encoder(seed=0)), built(make_tiny_encoder(seed=0))  # b is named "..._1"
    assert model_fingerprint(a) == model_fingerprint(b)
    assert len(model_fingerprint(a)) == 16
    assert model_fingerprint(built(make_tiny_encoder(seed=1))) != model_fingerprint(a)
    # Architecture counts, the token limit does not (embeddings stay comparable).
    assert model_fingerprint(built(make_tiny_encoder(pooling="cls"))) != model_fingerprint(a)
    assert model_fingerprint(built(make_tiny_encoder(sequence_length=32))) == model_fingerprint(a)


def test_saved_and_reloaded_encoder_keeps_its_fingerprint(tmp_path):
    from tfsearch.models.bert_encoder import BertEncoder

    encoder = built(make_tiny_encoder())
    path = encoder.save_to_directory(tmp_path / "model")
    assert model_fingerprint(built(BertEncoder.from_pretrained(str(path)))) == model_fingerprint(encoder)


def test_the_compute_precision_does_not_change_the_fingerprint(tmp_path):
    # An index built with float32 embeddings stays usable by a bfloat16 encoder of the same weights (and back):
    # the variables stay float32 under mixed policies, and embeddings stay within cosine 0.999.
    from tfsearch.models.bert_encoder import BertEncoder

    encoder = built(make_tiny_encoder())
    path = encoder.save_to_directory(tmp_path / "model")
    fingerprints = {dtype: model_fingerprint(built(BertEncoder.from_pretrained(str(path), dtype=dtype)))
                    for dtype in (None, "float32", "mixed_bfloat16", "mixed_float16", "auto")}
    assert set(fingerprints.values()) == {model_fingerprint(encoder)}
