import numpy as np
import pytest
import tensorflow as tf

from tfsearch.data.pipelines import texts_dataset
from tfsearch.models.batch_encoding import (PAD_MULTIPLE, encode_dataset, encode_in_length_chunks, encode_texts,
                                           length_sorted_batches)

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


class _RecordingEncoder:
    """The tiny encoder, recording the `[batch, seq]` shape of every `encode_tokens` call."""

    def __init__(self, encoder):
        self.encoder, self.tokenizer, self.embedding_dim = encoder, encoder.tokenizer, encoder.embedding_dim
        self.shapes = []

    def encode_tokens(self, token_ids, padding_mask):
        self.shapes.append(tuple(token_ids.shape))
        return self.encoder.encode_tokens(token_ids, padding_mask)


@pytest.mark.parametrize("chunk_size, shapes", [
    # Token lengths of TEXTS with [CLS] and [SEP]: 3, 8, 5, 2, 16, 4, 4. Sorted: "" 2, "cat" 3, "hello
    # world" 4, "the mat" 4, "a dog sat" 5, 8, 16; in threes: widths 4, 8 and 16 where one batch pads all
    # 7 to 16 (112 token slots against 3*4 + 3*8 + 16 = 52).
    (3, [(3, 4), (3, 8), (1, 16)]),
    (1, [(1, 2), (1, 3), (1, 4), (1, 4), (1, 5), (1, 8), (1, 16)]),
    (7, [(7, 16)]),  # no more texts than a chunk: encoded as they are
    (64, [(7, 16)]),
])
def test_length_chunks_are_tightly_padded_and_come_back_in_input_order(tiny_encoder, chunk_size, shapes):
    recording = _RecordingEncoder(tiny_encoder)
    got = encode_in_length_chunks(recording, tf.constant(TEXTS), chunk_size)  # eager: one call per chunk
    assert recording.shapes == shapes
    np.testing.assert_allclose(got.numpy(), tiny_encoder(tf.constant(TEXTS)).numpy(), atol=1e-5)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 8])
def test_length_chunks_in_a_graph_of_unknown_batch_size(tiny_encoder, chunk_size):
    encode = tf.function(lambda texts: encode_in_length_chunks(tiny_encoder, texts, chunk_size),
                         input_signature=[tf.TensorSpec([None], tf.string)])
    for texts in (TEXTS, TEXTS[:1], TEXTS[::-1] * 2):
        got = encode(tf.constant(texts))
        assert got.shape == (len(texts), tiny_encoder.embedding_dim)
        np.testing.assert_allclose(got.numpy(), tiny_encoder(tf.constant(texts)).numpy(), atol=1e-5)


@pytest.mark.parametrize("chunk_size", [0, -1, 1.5, True])
def test_length_chunk_size_is_checked(tiny_encoder, chunk_size):
    with pytest.raises(ValueError, match="chunk_size"):
        encode_in_length_chunks(tiny_encoder, tf.constant(TEXTS), chunk_size)


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


def test_the_traced_encoder_is_reused_across_calls_and_does_not_keep_the_encoder_alive():
    import gc
    import weakref

    from tests.conftest import make_tiny_encoder
    from tfsearch.models import batch_encoding

    encoder = make_tiny_encoder()
    first = batch_encoding.encode_tokens_function(encoder)
    assert batch_encoding.encode_tokens_function(encoder) is first
    assert batch_encoding.encode_tokens_function(encoder, jit_compile=True) is not first
    encode_texts(encoder, TEXTS)
    encode_texts(encoder, TEXTS[:2], batch_size=1)
    # Two calls with new batch shapes: still the one trace of the first call ([None, None] signature).
    assert first.experimental_get_tracing_count() == 1
    alive = weakref.ref(encoder)
    del encoder, first
    gc.collect()
    assert alive() is None


def test_the_batching_pipeline_runs_without_autotuning(tiny_encoder):
    # With autotuning on, deleting the iterator at the end of a loop waits for the
    # autotuner's sleep (up to 60 s in TensorFlow 2.20): see `without_autotune`.
    batches = length_sorted_batches(texts_dataset(["a"], ["cat"]), tiny_encoder.tokenizer, batch_size=1)
    assert batches.options().autotune.enabled is False


class _Recording:
    """Wraps the traced encoder function: records the Python threads that call it and how many run at once."""

    def __init__(self, encode):
        import threading

        self.encode, self.lock, self.running, self.most_at_once, self.threads = encode, threading.Lock(), 0, 0, set()

    def __call__(self, token_ids, padding_mask):
        import threading
        import time

        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.add(threading.current_thread().name)
        time.sleep(0.05)  # long enough for the other batches to start beside this one
        try:
            return self.encode(token_ids, padding_mask)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.parametrize("num_parallel_batches", [1, 2, 3])
def test_batches_side_by_side_give_the_same_embeddings_in_input_order(tiny_encoder, num_parallel_batches,
                                                                     monkeypatch):
    from tfsearch.models import batch_encoding

    recordings = []
    traced = batch_encoding.encode_tokens_function

    def recording_function(encoder, jit_compile=False):
        recordings.append(_Recording(traced(encoder, jit_compile)))
        return recordings[-1]

    monkeypatch.setattr(batch_encoding, "encode_tokens_function", recording_function)
    texts = TEXTS * 3  # 21 texts, 11 batches of 2
    ids = [f"t{i}" for i in range(len(texts))]
    got_ids, got = encode_dataset(tiny_encoder, texts_dataset(ids, texts), batch_size=2, window_size=8,
                                  progress=False, num_parallel_batches=num_parallel_batches)
    assert got_ids == ids
    np.testing.assert_allclose(got, tiny_encoder(tf.constant(texts)).numpy(), atol=1e-5)
    # One batch at a time runs on the caller's thread (inside its scopes); n > 1 batches run on n worker
    # threads, n at once (11 batches of 50 ms each leave time for all n to overlap).
    (recording,) = recordings
    assert recording.most_at_once == num_parallel_batches
    if num_parallel_batches == 1:
        assert recording.threads == {"MainThread"}
    else:
        assert len(recording.threads) == num_parallel_batches
        assert all(name.startswith("tfsearch-encode") for name in recording.threads)


def test_num_parallel_batches_is_checked(tiny_encoder):
    with pytest.raises(ValueError, match="`num_parallel_batches` must be a positive integer, got 0"):
        encode_dataset(tiny_encoder, texts_dataset(["a"], ["cat"]), progress=False, num_parallel_batches=0)
