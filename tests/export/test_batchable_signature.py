"""`search_batchable`: the signature TensorFlow Serving's server-side batching can merge requests of (issue 16)."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import make_tiny_encoder
from tests.export.test_saved_model_export import run_fresh
from tfsearch.export import (
    DEFAULT_BATCHING_PARAMETERS,
    SearchModule,
    batching_parameters_text,
    export_search_model,
    signature_defaults,
)
from tfsearch.index import BruteForceIndex

DOCS = ["the cat sat on the mat", "a dog is eating food", "a piece of bread", "tensor flow search",
        "hello world", "the man is eating bread", "cat and dog", "naive cafe food"]
CORPUS = [f"{a} {b}" for a in DOCS for b in ("cat", "dog", "bread", "world", "search")]  # 40 documents
IDS = [f"x{i}" for i in range(len(CORPUS))]
MAX_K = 25  # re-ranking depths 10, 20, 25


@pytest.fixture(scope="module")
def encoder():
    return make_tiny_encoder()


@pytest.fixture(scope="module")
def index(encoder):
    return BruteForceIndex(k=3).index(encoder(tf.constant(CORPUS)).numpy(), IDS)


@pytest.fixture(scope="module")
def export(encoder, index, tmp_path_factory):
    version_dir, _ = export_search_model(encoder, index, tmp_path_factory.mktemp("batchable") / "m",
                                         num_candidates=30, max_k=MAX_K, warmup_signature="search_batchable")
    return version_dir


@pytest.fixture(scope="module")
def loaded(export):
    return tf.saved_model.load(str(export))


def as_lists(out):
    return {"ids": out["ids"].numpy().astype(str).tolist(), "scores": out["scores"].numpy().tolist(),
            "positions": out["positions"].numpy().tolist()}


# Requests as a client sends them: (queries, k per query, diversity per query).
REQUESTS = [
    (["the cat", "eating bread"], [3, 12], [0.0, 0.7]),
    (["hello"], [25], [0.4]),
    (["tensor search", "a dog", "bread world"], [1, 5, 21], [1.0, 0.0, 0.3]),
]


def test_concatenated_requests_get_each_the_answer_of_their_own_call(loaded):
    """What TensorFlow Serving's batching session does: concatenate along dim 0, run once, split."""
    search = loaded.signatures["search_batchable"]
    own = [as_lists(search(queries=tf.constant(q), k=tf.constant(k), diversity=tf.constant(d)))
           for q, k, d in REQUESTS]
    merged = as_lists(search(queries=tf.constant(sum((q for q, _, _ in REQUESTS), [])),
                             k=tf.constant(sum((k for _, k, _ in REQUESTS), [])),
                             diversity=tf.constant(sum((d for _, _, d in REQUESTS), []))))
    start = 0
    for (queries, _, _), alone in zip(REQUESTS, own):
        rows = slice(start, start + len(queries))
        assert merged["ids"][rows] == alone["ids"] and merged["positions"][rows] == alone["positions"]
        np.testing.assert_allclose(merged["scores"][rows], alone["scores"], atol=1e-5)
        start += len(queries)


def test_each_row_is_the_first_k_of_search_at_its_own_diversity_then_empty(loaded):
    batchable, search = loaded.signatures["search_batchable"], loaded.signatures["search"]
    queries = ["the cat", "eating bread", "hello", "a dog", "bread world", "tensor search"]
    ks = [1, 5, 10, 11, 20, 25]  # every re-ranking depth of `search`, and in between
    for diversities in ([0.0, 0.5, 1.0, 0.3, 0.0, 0.8], [0.6] * 6, [0.0] * 6):
        got = as_lists(batchable(queries=tf.constant(queries), k=tf.constant(ks), diversity=tf.constant(diversities)))
        for row, (query, k, diversity) in enumerate(zip(queries, ks, diversities)):
            alone = as_lists(search(queries=tf.constant([query]), k=tf.constant(k), diversity=tf.constant(diversity)))
            assert got["ids"][row][:k] == alone["ids"][0] and got["positions"][row][:k] == alone["positions"][0]
            np.testing.assert_allclose(got["scores"][row][:k], alone["scores"][0], atol=1e-5)
            assert got["ids"][row][k:] == [""] * (MAX_K - k) and got["positions"][row][k:] == [-1] * (MAX_K - k)
            assert got["scores"][row][k:] == [float("-inf")] * (MAX_K - k)


def test_every_input_and_output_has_an_unknown_first_dimension(export):
    from tests.export.signature_capture import describe_signatures

    signature = describe_signatures(export)["search_batchable"]
    assert signature["inputs"] == {"diversity": {"dtype": "float32", "shape": [None]},
                                   "k": {"dtype": "int32", "shape": [None]},
                                   "queries": {"dtype": "string", "shape": [None]}}
    assert signature["outputs"] == {"ids": {"dtype": "string", "shape": [None, MAX_K]},
                                    "positions": {"dtype": "int32", "shape": [None, MAX_K]},
                                    "scores": {"dtype": "float32", "shape": [None, MAX_K]}}
    # A tensor default of a [None] input is saved as a one-element tensor: what TF Serving fills in.
    assert signature["defaults"] == {"diversity": {"dtype": "float32", "value": 0.0},
                                     "k": {"dtype": "int32", "value": 10}}
    assert signature_defaults(export)["search_batchable"] == {"k": 10, "diversity": 0.0}


def test_left_out_inputs_take_the_one_element_defaults(loaded, export):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((export / "saved_model.pb").read_bytes())
    defaults = proto.meta_graphs[0].signature_def["search_batchable"].defaults
    filled = {name: tf.constant(tf.make_ndarray(value)) for name, value in defaults.items()}  # as TF Serving does
    assert {name: value.shape.as_list() for name, value in filled.items()} == {"k": [1], "diversity": [1]}
    search = loaded.signatures["search_batchable"]
    queries = ["the cat", "eating bread", "hello"]
    one = as_lists(search(queries=tf.constant(queries[:1]), **filled))  # one query: also under batching
    many = as_lists(search(queries=tf.constant(queries), **filled))  # several: without batching only
    explicit = as_lists(search(queries=tf.constant(queries), k=tf.constant([10] * 3), diversity=tf.constant([0.0] * 3)))
    assert many == explicit and one["ids"] == explicit["ids"][:1]
    with pytest.raises(tf.errors.InvalidArgumentError, match="`k` must hold one value per query"):
        search(queries=tf.constant(queries), k=tf.constant([3, 4]), diversity=tf.constant([0.0] * 3))
    with pytest.raises(tf.errors.InvalidArgumentError, match="k must be at most 25"):
        search(queries=tf.constant(queries[:2]), k=tf.constant([3, 26]), diversity=tf.constant([0.0, 0.0]))


def test_an_empty_batch_answers_empty_outputs(loaded):
    # A request of no queries (TensorFlow Serving passes one on; `tfsearch serve` refuses it first) gets
    # outputs of no rows, not an error from inside the encoder.
    none = tf.constant([], tf.string)
    batchable = loaded.signatures["search_batchable"](queries=none, k=tf.constant([], tf.int32),
                                                      diversity=tf.constant([], tf.float32))
    assert {name: value.shape.as_list() for name, value in batchable.items()} == {
        "ids": [0, MAX_K], "scores": [0, MAX_K], "positions": [0, MAX_K]}
    search = loaded.signatures["search"](queries=none, k=tf.constant(3), diversity=tf.constant(0.5))
    assert {name: value.shape.as_list() for name, value in search.items()} == {
        "ids": [0, 3], "scores": [0, 3], "positions": [0, 3]}
    for name in ("encode_query", "encode_document"):
        (embeddings,) = loaded.signatures[name](none).values()
        assert embeddings.shape.as_list() == [0, 16]  # the tiny encoder's width


def test_the_module_in_process(encoder, index):
    module = SearchModule(encoder, encoder, index, num_candidates=6, max_k=4)
    out = module.search_batchable(tf.constant(["the cat", "hello"]), tf.constant([2, 4]), tf.constant([0.5, 0.0]))
    alone = module.search(tf.constant(["hello"]), tf.constant(4), tf.constant(0.0))
    assert out["ids"].numpy()[1].tolist() == alone["ids"].numpy()[0].tolist()
    assert out["positions"].numpy()[0, 2:].tolist() == [-1, -1]


def test_length_chunked_encoding_gives_the_answers_of_one_padded_batch(encoder, index):
    queries = tf.constant(["the cat sat on the mat with a dog", "hello", "a piece of bread", "cat", "tensor flow"])
    k, diversity = tf.constant([3, 4, 2, 4, 1]), tf.constant([0.5, 0.0, 1.0, 0.2, 0.0])
    padded = SearchModule(encoder, encoder, index, num_candidates=6, max_k=4, encoding_chunk_size=None)
    for chunk_size in (1, 2, 4):
        chunked = SearchModule(encoder, encoder, index, num_candidates=6, max_k=4, encoding_chunk_size=chunk_size)
        np.testing.assert_allclose(chunked.encode_query(queries)["embeddings"],
                                   padded.encode_query(queries)["embeddings"], atol=1e-6)
        np.testing.assert_allclose(chunked.encode_document(queries)["embeddings"],
                                   padded.encode_document(queries)["embeddings"], atol=1e-6)
        got, expected = chunked.search_batchable(queries, k, diversity), padded.search_batchable(queries, k, diversity)
        assert got["ids"].numpy().tolist() == expected["ids"].numpy().tolist()
    with pytest.raises(ValueError, match="encoding_chunk_size"):
        SearchModule(encoder, encoder, index, encoding_chunk_size=1.5)


def batching_parameters_message():
    """`tensorflow.serving.BatchingParameters`, built from its .proto definition.

    The installed `tensorflow-serving-api` has no `session_bundle_config_pb2`;
    this mirrors `tensorflow_serving/servables/tensorflow/session_bundle_config.proto`.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(name="batching_parameters_test.proto", package="tensorflow.serving",
                                              syntax="proto3", dependency=["google/protobuf/wrappers.proto"])
    message = file.message_type.add(name="BatchingParameters")
    field = descriptor_pb2.FieldDescriptorProto
    for number, name, type_name in ((1, "max_batch_size", "Int64Value"), (2, "batch_timeout_micros", "Int64Value"),
                                    (3, "max_enqueued_batches", "Int64Value"), (4, "num_batch_threads", "Int64Value"),
                                    (5, "thread_pool_name", "StringValue")):
        message.field.add(name=name, number=number, type=field.TYPE_MESSAGE, label=field.LABEL_OPTIONAL,
                          type_name=f".google.protobuf.{type_name}")
    message.field.add(name="allowed_batch_sizes", number=6, type=field.TYPE_INT64, label=field.LABEL_REPEATED)
    message.field.add(name="pad_variable_length_inputs", number=7, type=field.TYPE_BOOL, label=field.LABEL_OPTIONAL)
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


def test_batching_params_pbtxt_is_in_the_version_folder_and_parses(export):
    from google.protobuf import text_format

    parsed = text_format.Parse((export / "batching_params.pbtxt").read_text(), batching_parameters_message()())
    defaults = DEFAULT_BATCHING_PARAMETERS
    assert parsed.max_batch_size.value == defaults["max_batch_size"]
    assert parsed.batch_timeout_micros.value == defaults["batch_timeout_micros"]
    assert parsed.num_batch_threads.value == defaults["num_batch_threads"]
    assert parsed.max_enqueued_batches.value == defaults["max_enqueued_batches"]
    assert list(parsed.allowed_batch_sizes) == list(defaults["allowed_batch_sizes"])
    assert parsed.allowed_batch_sizes[-1] == parsed.max_batch_size.value  # TF Serving's rule
    custom = text_format.Parse(batching_parameters_text({"max_batch_size": 8, "allowed_batch_sizes": (4, 8)}),
                               batching_parameters_message()())
    assert custom.max_batch_size.value == 8 and list(custom.allowed_batch_sizes) == [4, 8]
    for bad, message in (({"max_batch_size": 0}, "`max_batch_size` must be an integer >= 1"),
                         ({"allowed_batch_sizes": (4, 2, 32)}, "`allowed_batch_sizes` must be increasing"),
                         ({"allowed_batch_sizes": (4, 8), "max_batch_size": 12},
                          r"ending at `max_batch_size` \(12\)"),
                         ({"batch_size": 4}, "`batching_parameters` takes")):
        with pytest.raises(ValueError, match=message):
            batching_parameters_text(bad)


def test_warmup_requests_call_the_chosen_signature(export, encoder, index, tmp_path):
    from tensorflow_serving.apis import prediction_log_pb2

    records = [prediction_log_pb2.PredictionLog.FromString(r.numpy()).predict_log.request
               for r in tf.data.TFRecordDataset(str(export / "assets.extra" / "tf_serving_warmup_requests"))]
    assert [r.model_spec.signature_name for r in records] == ["search_batchable"]
    assert tf.make_ndarray(records[0].inputs["k"]).tolist() == [10]
    with pytest.raises(ValueError, match="`warmup_signature` must be one of"):
        export_search_model(encoder, index, tmp_path / "m", warmup_signature="search")


def test_the_batchable_signature_serves_by_its_signature_def_in_a_fresh_process(export, loaded):
    requests = [(q, k, d) for q, k, d in REQUESTS]
    got = run_fresh(f"""
        assert "tfsearch" not in sys.modules
        search = tf.saved_model.load({str(export)!r}).signatures["search_batchable"]
        out = [search(queries=tf.constant(q), k=tf.constant(k), diversity=tf.constant(d)) for q, k, d in {requests!r}]
        print(json.dumps([o["ids"].numpy().astype(str).tolist() for o in out]))
        """)
    search = loaded.signatures["search_batchable"]
    assert got == [as_lists(search(queries=tf.constant(q), k=tf.constant(k), diversity=tf.constant(d)))["ids"]
                   for q, k, d in requests]
    assert json.loads((export / "tfsearch_export.json").read_text())["signatures"] == [
        "encode_document", "encode_query", "search", "search_batchable", "search_embeddings", "serving_default"]
