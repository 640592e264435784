"""DocumentEncoderHandler: length-sorted forward passes in the batch's order, batching settings, both model kinds."""

import pickle

import numpy as np
import pytest

from tests.conftest import make_tiny_encoder
from tfsearch.embeddings.document_encoder_handler import DocumentEncoderHandler, resolve_encoder_dtype

TEXTS = ["the cat sat on the mat", "a", "dog eating food near the man", "bread", "hello world", "the man"]


class RecordingModel:
    """A fake model: the embedding of a text is [its length, its first character]; records each forward pass."""

    def __init__(self):
        self.passes = []

    def __call__(self, texts):
        self.passes.append(list(texts))
        return np.array([[len(t), ord(t[0])] for t in texts], np.float32)


def test_order_is_restored_after_the_length_sort():
    model = RecordingModel()
    rows = DocumentEncoderHandler(batch_size=2).run_inference(TEXTS, model)
    np.testing.assert_array_equal(np.stack(rows), [[len(t), ord(t[0])] for t in TEXTS])
    # Longest first, two texts per forward pass, every text once.
    assert [len(p) for p in model.passes] == [2, 2, 2]
    lengths = [len(t) for p in model.passes for t in p]
    assert lengths == sorted(lengths, reverse=True)
    assert sorted(t for p in model.passes for t in p) == sorted(TEXTS)
    assert DocumentEncoderHandler().run_inference([], model) == []


def test_batching_settings():
    handler = DocumentEncoderHandler()
    assert handler.batch_elements_kwargs() == {"min_batch_size": 64, "max_batch_size": 512}
    assert DocumentEncoderHandler(batch_size=8, max_batch_size=8).batch_elements_kwargs() == {
        "min_batch_size": 8, "max_batch_size": 8}
    assert handler.share_model_across_processes() is False
    assert handler.model_copies() == 1
    # Pickled to the workers: settings only.
    clone = pickle.loads(pickle.dumps(DocumentEncoderHandler(model="m", batch_size=4, max_length=32)))
    assert (clone.model, clone.batch_size, clone.max_length) == ("m", 4, 32)


@pytest.mark.parametrize("kwargs, message", [
    ({"model": "m", "export": "e"}, "not both"),
    ({"export": "e", "max_length": 32}, "token limit is fixed"),
    ({"batch_size": 0}, "`batch_size` must be a positive integer"),
    ({"min_batch_size": 9, "max_batch_size": 8}, "min_batch_size <= max_batch_size"),
])
def test_refuses_conflicting_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DocumentEncoderHandler(**kwargs)


def test_precision_values():
    assert resolve_encoder_dtype("float32") == "float32"
    assert resolve_encoder_dtype("bfloat16") == "mixed_bfloat16"
    assert resolve_encoder_dtype("auto") in ("float32", "mixed_bfloat16", "mixed_float16")
    with pytest.raises(ValueError, match="`precision` must be one of"):
        resolve_encoder_dtype("int8")


def cosines(a, b):
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_loads_an_encoder_folder_and_an_export_signature(tmp_path):
    import tensorflow as tf

    encoder = make_tiny_encoder(sequence_length=24)
    folder = encoder.save_to_directory(tmp_path / "tiny")
    expected = encoder(tf.constant(TEXTS)).numpy()

    handler = DocumentEncoderHandler(model=str(folder), batch_size=4, dtype="float32")
    rows = np.stack(handler.run_inference(TEXTS, handler.load_model()))
    assert rows.dtype == np.float32 and rows.shape == expected.shape
    assert cosines(rows, expected).min() > 0.9999

    # An export's `encode_document` signature, as `tfsearch export` writes it (strings in, embeddings out).
    module = tf.Module()
    module.encoder = encoder
    module.encode_document = tf.function(lambda documents: {"embeddings": encoder(documents)},
                                         input_signature=[tf.TensorSpec([None], tf.string, name="documents")])
    tf.saved_model.save(module, str(tmp_path / "export" / "1"), signatures={"encode_document": module.encode_document})
    handler = DocumentEncoderHandler(export=str(tmp_path / "export" / "1"), batch_size=4)
    rows = np.stack(handler.run_inference(TEXTS, handler.load_model()))
    assert cosines(rows, expected).min() > 0.9999


def test_an_export_without_encode_document_is_refused(tmp_path):
    import tensorflow as tf

    module = tf.Module()
    module.f = tf.function(lambda x: {"y": x}, input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    tf.saved_model.save(module, str(tmp_path / "other"), signatures={"serving_default": module.f})
    with pytest.raises(ValueError, match="no `encode_document` signature"):
        DocumentEncoderHandler(export=str(tmp_path / "other")).load_model()
