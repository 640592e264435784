import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import make_tiny_encoder
from tfsearch.models.batch_encoding import encode_texts
from tfsearch.models.lite_encoder import LiteEncoder

TEXTS = ["the quick brown fox", "a lazy dog", "", "the dog jumps over the quick fox again and again"]


@pytest.fixture(scope="module")
def encoder():
    from tests.conftest import TINY_VOCAB
    from tfsearch.models.bert_backbone import BertBackbone
    from tfsearch.models.bert_encoder import BertEncoder

    # Wide enough that the converter quantises the dense weights (it leaves tensors
    # under 1,024 values in float32): 64 x 64 and 64 x 128 kernels.
    tiny = make_tiny_encoder()
    backbone = BertBackbone(vocabulary_size=len(TINY_VOCAB), hidden_dim=64, num_layers=1, num_heads=2,
                            intermediate_dim=128, max_sequence_length=64, name="backbone")
    return BertEncoder(backbone, tiny.tokenizer)


@pytest.fixture(scope="module")
def float_lite(encoder):
    return LiteEncoder(encoder, quantization=None, num_threads=1)


@pytest.fixture(scope="module")
def int8_lite(encoder):
    return LiteEncoder(encoder, quantization="dynamic_int8", num_threads=1)


def test_float32_conversion_reproduces_the_encoder_through_encode_texts(encoder, float_lite):
    # encode_texts batches by length (several input shapes) and calls encode_tokens in a tf.function.
    expected = encoder(tf.constant(TEXTS)).numpy()
    np.testing.assert_allclose(encode_texts(float_lite, TEXTS, batch_size=2), expected, atol=1e-5)
    np.testing.assert_allclose(float_lite(TEXTS), expected, atol=1e-5)


def test_dynamic_int8_stays_close_and_stores_int8_weights(encoder, float_lite, int8_lite):
    expected = encoder(tf.constant(TEXTS)).numpy()
    got = encode_texts(int8_lite, TEXTS, batch_size=3)
    assert got.shape == (len(TEXTS), encoder.embedding_dim)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # Both are unit vectors: the cosine is the dot product.
    assert (got * expected).sum(axis=1).min() > 0.98
    # The dense weights shrink from 4 bytes to 1 (embeddings and layer norms stay float32).
    assert len(int8_lite.model_content) < 0.6 * len(float_lite.model_content)


def test_changing_shapes_reallocates_and_gives_each_batch_its_own_answer(int8_lite):
    tokens = int8_lite.tokenizer(tf.constant(TEXTS))
    ids, mask = tokens["token_ids"].numpy(), tokens["padding_mask"].numpy()
    whole = int8_lite.encode_token_arrays(ids, mask)
    first = int8_lite.encode_token_arrays(ids[:1, :8], mask[:1, :8])
    again = int8_lite.encode_token_arrays(ids, mask)
    np.testing.assert_allclose(again, whole)
    assert first.shape == (1, int8_lite.embedding_dim)
    assert int8_lite.encode_token_arrays(ids[:0], mask[:0]).shape == (0, int8_lite.embedding_dim)


def test_bad_arguments_are_refused(encoder, int8_lite):
    with pytest.raises(ValueError, match="quantization"):
        LiteEncoder(encoder, quantization="int4")
    with pytest.raises(ValueError, match="num_threads"):
        LiteEncoder(encoder, num_threads=0)
    with pytest.raises(ValueError, match=r"\[batch, seq\]"):
        int8_lite.encode_token_arrays(np.zeros([2, 4], np.int32), np.ones([2, 5], bool))


def test_save_writes_the_model_atomically(int8_lite, tmp_path):
    path = tmp_path / "models" / "encoder.tflite"
    int8_lite.save(path)
    assert path.read_bytes() == int8_lite.model_content
    assert [p.name for p in path.parent.iterdir()] == ["encoder.tflite"]  # no temporary file left
    names = [d["name"] for d in tf.lite.Interpreter(model_path=str(path)).get_input_details()]
    assert sorted("token_ids" in n for n in names) == [False, True] and any("padding_mask" in n for n in names)


def test_calls_from_several_threads_each_get_their_own_answer(int8_lite):
    # The interpreter is shared: without the lock, one thread's resize or inputs would
    # overwrite another's between set_tensor and get_tensor.
    import concurrent.futures

    tokens = int8_lite.tokenizer(tf.constant(TEXTS))
    ids, mask = tokens["token_ids"].numpy(), tokens["padding_mask"].numpy()
    batches = [(ids[i:i + 1, :width], mask[i:i + 1, :width]) for i in range(len(TEXTS)) for width in (6, 16)]
    expected = [int8_lite.encode_token_arrays(*batch) for batch in batches]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda batch: int8_lite.encode_token_arrays(*batch), batches * 5))
    for i, result in enumerate(got):
        np.testing.assert_allclose(result, expected[i % len(batches)])
