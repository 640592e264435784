import numpy as np
import pytest
import tensorflow as tf

from tfsearch.data.pipelines import texts_dataset
from tfsearch.models.batch_encoding import PAD_MULTIPLE, encode_dataset, encode_texts, length_sorted_batches

TEXTS = ["cat", "the cat sat on the mat", "a dog sat", "", "dog " * 30, "hello world", "the mat"]


def test_batches_are_length_sorted_and_tightly_padded(tiny_encoder):
    ids = [f"t{i}" for i in range(len(TEXTS))]
    batches = list(length_sorted_batches(texts_dataset(ids, TEXTS), tiny_encoder.tokenizer, batch_size=3, window_size=7))
    lengths = [int(l) for _, _, _, mask in batches for l in tf.reduce_sum(tf.cast(mask, tf.int32), 1)]
    assert lengths == sorted(lengths, reverse=True)
    for _, _, token_ids, mask in batches:
        longest = int(tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), 1)))
        assert token_ids.shape[1] == min(-(-longest // PAD_MULTIPLE) * PAD_MULTIPLE, 16)
    assert sorted(int(p) for positions, _, _, _ in batches for p in positions) == list(range(len(TEXTS)))


@pytest.mark.parametrize("batch_size, window_size", [(1, 1), (2, 3), (64, 2048)])
def test_encode_dataset_matches_direct_call_in_input_order(tiny_encoder, batch_size, window_size):
    ids = [f"t{i}" for i in range(len(TEXTS))]
    got_ids, got = encode_dataset(tiny_encoder, texts_dataset(ids, TEXTS), batch_size=batch_size,
                                  window_size=window_size, progress=False)
    assert got_ids == ids
    np.testing.assert_allclose(got, tiny_encoder(tf.constant(TEXTS)).numpy(), atol=1e-5)


def test_encode_texts_empty_and_duplicate_ids(tiny_encoder):
    assert encode_texts(tiny_encoder, []).shape == (0, 16)
    with pytest.raises(ValueError, match="share an id"):
        encode_dataset(tiny_encoder, texts_dataset(["a", "a"], ["x", "y"]), progress=False)
