"""`SavedModelSession`: an export loaded as TensorFlow Serving loads it answers as `tf.saved_model.load`'s functions."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import make_tiny_encoder
from tfsearch.export import export_search_model
from tfsearch.index import BruteForceIndex
from tfsearch.serving.saved_model_session import SavedModelSession

DOCS = ["the cat sat on the mat", "a dog is eating food", "a piece of bread", "tensor flow search",
        "hello world", "the man is eating bread", "cat and dog", "naive cafe food"]
IDS = [f"d{i}" for i in range(len(DOCS))]
QUERIES = ["the cat", "bread", "a dog eating", "search"]


@pytest.fixture(scope="module")
def version_dir(tmp_path_factory):
    encoder = make_tiny_encoder()
    index = BruteForceIndex(k=3).index(encoder(tf.constant(DOCS)).numpy(), IDS)
    folder, _ = export_search_model(encoder, index, tmp_path_factory.mktemp("session") / "m", num_candidates=6,
                                    max_k=5)
    return folder


@pytest.fixture(scope="module")
def both(version_dir):
    """The same version loaded twice: in a session (as the model server) and by `tf.saved_model.load`."""
    model = SavedModelSession(version_dir)
    yield model, tf.saved_model.load(str(version_dir))
    model.close()


def test_signatures_are_those_of_tf_saved_model_load(both):
    model, eager = both
    assert sorted(model.signatures) == sorted(eager.signatures)
    # The MetaGraph's own, as TensorFlow Serving's model metadata lists them.
    assert set(model.signature_defs) == set(model.signatures) | {"__saved_model_init_op"}


def test_batchable_search_answers_as_the_eager_function_for_mixed_diversity(both):
    model, eager = both
    k, diversity = np.array([5, 2, 3, 1], np.int32), np.array([0.0, 0.5, 1.0, 0.3], np.float32)
    got = model.signatures["search_batchable"](queries=QUERIES, k=k, diversity=diversity)
    want = eager.signatures["search_batchable"](queries=tf.constant(QUERIES), k=tf.constant(k),
                                                diversity=tf.constant(diversity))
    assert set(got) == set(want) == {"ids", "positions", "scores"}
    for key in got:
        assert isinstance(got[key], np.ndarray) and got[key].shape == (4, 5)
        if key == "scores":
            np.testing.assert_allclose(got[key], want[key].numpy(), rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(got[key], want[key].numpy())
    assert got["ids"][1, 2] == b""  # past the row's k (2): empty, as the export pads


def test_left_out_inputs_get_the_signature_def_defaults_as_tensorflow_serving_fills_them(both):
    model, _ = both
    search = model.signatures["search"]
    defaults = {alias: tf.make_ndarray(proto).item() for alias, proto in search.signature_def.defaults.items()}
    assert defaults == {"k": 5, "diversity": 0.0}  # the export's: k = max_k 5 here, pure relevance
    left_out = search(queries=QUERIES)
    given = search(queries=np.array(QUERIES, object), k=np.int32(5), diversity=np.float32(0.0))
    np.testing.assert_array_equal(left_out["ids"], given["ids"])
    # Eager tensors are fed too (as NumPy).
    np.testing.assert_array_equal(search(queries=tf.constant(QUERIES), k=tf.constant(5))["ids"], given["ids"])


def test_unknown_or_missing_inputs_say_what_the_signature_takes(both):
    model, _ = both
    with pytest.raises(ValueError, match=r"takes inputs \['queries'\].*unknown \['k'\]"):
        model.signatures["encode_query"](queries=["x"], k=3)
    with pytest.raises(ValueError, match=r"missing \['queries'\]"):
        model.signatures["encode_query"]()


def test_what_the_graph_refuses_is_its_own_error(both):
    model, _ = both
    with pytest.raises(tf.errors.InvalidArgumentError):
        model.signatures["search"](queries=QUERIES, k=np.int32(6))  # above the export's max_k (5)


def test_a_scann_export_registers_scanns_ops_and_answers_as_the_eager_function(tmp_path):
    from tests.export.signature_capture import build_exports

    folder = build_exports(tmp_path, flavours=("scann",))["scann"]
    model = SavedModelSession(folder)  # its graph names Scann ops: ScaNN's library is imported first
    got = model.signatures["serving_default"](queries=QUERIES, k=np.int32(3), diversity=np.float32(0.0))
    want = tf.saved_model.load(str(folder)).signatures["serving_default"](
        queries=tf.constant(QUERIES), k=tf.constant(3), diversity=tf.constant(0.0))
    np.testing.assert_array_equal(got["ids"], want["ids"].numpy())
    model.close()


def test_a_missing_meta_graph_tag_fails_to_load(version_dir):
    with pytest.raises(RuntimeError, match="train"):
        SavedModelSession(version_dir, tags=("train",))


OBJECTS = r"""
import gc, json, sys
from tfsearch.serving.saved_model_session import SavedModelSession
import tensorflow as tf
import tensorflow_text  # the tokeniser's ops, before any load
tf.saved_model.load(sys.argv[1])  # TensorFlow's own first-use objects, then the count
gc.collect()
before = len(gc.get_objects())
kept = SavedModelSession(sys.argv[1]) if sys.argv[2] == "session" else tf.saved_model.load(sys.argv[1])
gc.collect()
print(json.dumps(len(gc.get_objects()) - before))
"""


def test_a_loaded_version_holds_few_python_objects(version_dir):
    # What Python's garbage collector walks for each version loaded (and frees when one is dropped):
    # the session keeps the functions in the graph's C++ library, `tf.saved_model.load` builds them in Python.
    def objects(how):
        done = subprocess.run([sys.executable, "-c", OBJECTS, str(version_dir), how], capture_output=True,
                              text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        return json.loads(done.stdout.strip().splitlines()[-1])

    session, eager = objects("session"), objects("eager")
    assert session * 10 < eager, (session, eager)
