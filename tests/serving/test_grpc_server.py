"""TensorFlow Serving's gRPC API (`PredictionService`, `ModelService`) through the real stubs over a real channel."""

import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

PREDICT = "/tensorflow.serving.PredictionService/Predict"
SEARCH_INPUTS = {"queries", "k", "diversity"}


@pytest.fixture(scope="module")
def grpc_served(served):
    """`(served, PredictionServiceStub, ModelServiceStub)`: a gRPC server on the REST app's `SearchService`."""
    from tfsearch.serving.grpc_server import start_grpc_server

    server = start_grpc_server(served[1].state.service, "tiny", port=0)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield (served, prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel))
    channel.close()
    server.stop(None)


def predict_request(signature_name=None, model="tiny", version=None, output_filter=(), **inputs):
    """A `PredictRequest`; each input a value for `tf.make_tensor_proto`."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if signature_name is not None:
        request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    request.output_filter.extend(output_filter)
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    return request


def arrays(response):
    return {alias: tf.make_ndarray(proto) for alias, proto in response.outputs.items()}


def decoded(ids):
    return [[i.decode("utf-8") for i in row] for row in ids]


def test_predict_answers_as_the_index_and_the_rest_api(grpc_served):
    (client, app, encoder, index, _), stub, _ = grpc_served
    queries = ["the cat", "bread"]
    _, expected = index.search(encoder(tf.constant(queries)).numpy(), k=3)
    rest = client.post("/v1/models/tiny:predict", json={"inputs": {"queries": queries, "k": 3}}).json()["outputs"]
    for signature_name in ("search", "serving_default", None):
        response = stub.Predict(predict_request(signature_name, queries=queries, k=3, diversity=0.0), timeout=30)
        out = arrays(response)
        assert decoded(out["ids"]) == expected == rest["ids"]
        assert out["scores"].dtype == np.float32 and out["positions"].dtype == np.int32
        assert out["scores"].shape == out["positions"].shape == (2, 3)
        np.testing.assert_allclose(out["scores"], rest["scores"], rtol=1e-5, atol=1e-6)
        assert out["positions"].tolist() == rest["positions"]
        spec = response.model_spec
        assert (spec.name, spec.version.value, spec.signature_name) == ("tiny", 1, signature_name or "serving_default")
    # Left out, k and diversity are the version's defaults (k = min(10, max_k = 5), diversity 0).
    _, top5 = index.search(encoder(tf.constant(["the cat"])).numpy(), k=5)
    assert decoded(arrays(stub.Predict(predict_request(queries=["the cat"]), timeout=30))["ids"]) == top5
    filtered = stub.Predict(predict_request("search", output_filter=["ids"], queries=["the cat"]), timeout=30)
    assert list(filtered.outputs) == ["ids"]
    # search_batchable: k and diversity per query, outputs [batch, max_k].
    batch = arrays(stub.Predict(predict_request("search_batchable", queries=queries, k=np.int32([2, 4]),
                                                diversity=np.float32([0.0, 1.0])), timeout=30))
    assert batch["ids"].shape == (2, 5)
    for i, (k, diversity) in enumerate([(2, 0.0), (4, 1.0)]):
        one = client.get("/search", params={"q": queries[i], "k": k, "diversity": diversity}).json()["results"]
        assert decoded(batch["ids"])[i][:k] == [r["id"] for r in one]
    encoded = arrays(stub.Predict(predict_request("encode_query", queries=["the cat"]), timeout=30))["embeddings"]
    rest_encoded = client.post("/v1/models/tiny:predict", json={"signature_name": "encode_query",
                                                                "inputs": {"queries": ["the cat"]}}).json()["outputs"]
    if isinstance(rest_encoded, dict):  # TF Serving answers a single output's value without its name
        rest_encoded = rest_encoded["embeddings"]
    assert encoded.dtype == np.float32 and encoded.shape == (1, 16)
    np.testing.assert_allclose(encoded, rest_encoded, rtol=1e-5, atol=1e-6)
    documents = arrays(stub.Predict(predict_request("encode_document", documents=["a cat"]), timeout=30))
    assert documents["embeddings"].shape == (1, 16)
    registry = app.state.service.metrics.registry
    assert registry.get_sample_value("tfsearch_requests_total", {"method": "GRPC", "route": PREDICT,
                                                                 "code": "OK"}) >= 8


def test_model_metadata_and_status(grpc_served):
    _, stub, models = grpc_served
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "tiny"
    response = stub.GetModelMetadata(request, timeout=30)
    assert (response.model_spec.name, response.model_spec.version.value) == ("tiny", 1)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signatures)
    defs = signatures.signature_def
    assert {"serving_default", "search", "search_batchable", "encode_query", "encode_document"} <= set(defs)
    assert set(defs["search"].inputs) == set(defs["search_batchable"].inputs) == SEARCH_INPUTS
    assert set(defs["encode_document"].inputs) == {"documents"}
    assert defs["search"].inputs["queries"].dtype == tf.string.as_datatype_enum
    assert set(defs["search"].outputs) == {"ids", "scores", "positions"}

    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "tiny"
    for version in (None, 1):
        if version is not None:
            status_request.model_spec.version.value = version
        (status,) = models.GetModelStatus(status_request, timeout=30).model_version_status
        assert status.version == 1 and status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
        assert status.status.error_code == 0 and status.status.error_message == ""


def metadata_request(fields, model="tiny"):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=fields)
    request.model_spec.name = model
    return request


def status_request(model="tiny", version=None):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    return request


def huge_queries():
    """A string TensorProto claiming 2**62 elements, holding none (refused before anything is allocated)."""
    proto = tf.make_tensor_proto(["x"])
    del proto.string_val[:]
    proto.tensor_shape.dim[0].size = 1 << 62
    return proto


INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
BAD_REQUESTS = [
    ("Predict", predict_request("search", queries=["x"], k=0), INVALID, "`k` must be"),
    ("Predict", predict_request("search", queries=["x"], k=6), INVALID, "from 1 to 5"),
    ("Predict", predict_request("search", queries=["x"], diversity=1.5), INVALID, "diversity"),
    ("Predict", predict_request("search", queries=[1.0]), INVALID, "`queries` must be a string"),
    ("Predict", predict_request("search", k=3), INVALID, "missing input `queries`"),
    ("Predict", predict_request("nope", queries=["x"]), INVALID, "signature"),
    ("Predict", predict_request("search", queries=[b"\xff\xfe"]), INVALID, "UTF-8"),
    ("Predict", predict_request("search", queries=["x"] * 65), INVALID, "at most 64"),
    ("Predict", predict_request("search_batchable", queries=huge_queries()), INVALID, "at most 64"),
    ("Predict", predict_request("search", queries=[""]), INVALID, "non-empty"),
    ("Predict", predict_request("search", queries=["x"], k=np.int64(3)), INVALID, "int32"),
    ("Predict", predict_request("search", queries=["x"], k=np.int32([3])), INVALID, "rank 0"),
    ("Predict", predict_request("search", queries=[["x"]]), INVALID, "rank 1"),
    ("Predict", predict_request("search", queries=["x"], kk=3), INVALID, "alias not found in signature: kk"),
    ("Predict", predict_request("search_batchable", queries=["x", "y"], k=np.int32([2])), INVALID,
     "one value per query"),
    ("Predict", predict_request("search", output_filter=["nope"], queries=["x"]), INVALID, "output tensor alias"),
    ("Predict", predict_request("search", model="other", queries=["x"]), NOT_FOUND, "serves 'tiny'"),
    ("Predict", predict_request("search", version=9, queries=["x"]), NOT_FOUND, "serves version 1"),
    ("GetModelMetadata", metadata_request([]), INVALID, "metadata_field"),
    ("GetModelMetadata", metadata_request(["signature_def", "x"]), INVALID, "not supported"),
    ("GetModelMetadata", metadata_request(["signature_def"], model="other"), NOT_FOUND, "serves 'tiny'"),
    ("GetModelStatus", status_request(model="other"), NOT_FOUND, "serves 'tiny'"),
    ("GetModelStatus", status_request(version=2), NOT_FOUND, "serves version 1"),
]


def test_bad_requests_are_refused_with_their_status_and_the_server_goes_on(grpc_served):
    (_, app, _, _, _), stub, models = grpc_served
    for method, request, code, message in BAD_REQUESTS:
        with pytest.raises(grpc.RpcError) as refused:
            getattr(models if method == "GetModelStatus" else stub, method)(request, timeout=30)
        assert refused.value.code() == code, (method, refused.value.details())
        assert message in refused.value.details(), (method, refused.value.details())
    assert len(arrays(stub.Predict(predict_request("search", queries=["the cat"], k=2), timeout=30))["ids"][0]) == 2
    registry = app.state.service.metrics.registry
    assert registry.get_sample_value("tfsearch_requests_total", {"method": "GRPC", "route": PREDICT,
                                                                 "code": "INVALID_ARGUMENT"}) == 16
    assert not registry.get_sample_value("tfsearch_requests_total", {"method": "GRPC", "route": PREDICT,
                                                                     "code": "INTERNAL"})


def test_a_request_over_the_message_limit_is_refused(served):
    from tfsearch.serving.grpc_server import start_grpc_server

    server = start_grpc_server(served[1].state.service, "tiny", port=0, max_message_bytes=1000)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Predict(predict_request("search", queries=["x" * 2000]), timeout=30)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(OSError, match="could not bind"):
            start_grpc_server(served[1].state.service, "tiny", port=server.port)
    finally:
        server.stop(None)


def test_stop_frees_the_port_and_its_thread_and_a_second_stop_does_nothing(served):
    from tfsearch.serving.grpc_server import start_grpc_server

    def loop_threads():  # other servers' (a module fixture's) may be running too
        return {thread for thread in threading.enumerate() if thread.name == "tfsearch-grpc"}

    before = loop_threads()
    server = start_grpc_server(served[1].state.service, "tiny", port=0)
    assert len(loop_threads() - before) == 1
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=30)  # serving
    server.stop(None)
    assert loop_threads() == before
    server.stop(None)
    again = start_grpc_server(served[1].state.service, "tiny", port=server.port)  # the port is free again
    again.stop(None)


class BrokenVersion:
    """The served version, whose signature calls fail (a bug, not the request's fault)."""

    def __init__(self, loaded):
        self._loaded = loaded

    def __getattr__(self, name):
        return getattr(self._loaded, name)

    def signature(self, name):
        def broken(**inputs):
            raise RuntimeError("boom\nsecond line")

        return broken


def test_an_unexpected_error_is_internal_logged_in_one_line(served, caplog):
    import types

    from tfsearch.serving.grpc_server import start_grpc_server
    from tfsearch.serving.search_service import SearchService

    service = SearchService(types.SimpleNamespace(current=BrokenVersion(served[1].state.store.current)),
                            max_batch_size=0)
    server = start_grpc_server(service, "tiny", port=0)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            with pytest.raises(grpc.RpcError) as failed:
                stub.Predict(predict_request("search", queries=["the cat"]), timeout=30)
    finally:
        server.stop(None)
        service.close()
    assert failed.value.code() == grpc.StatusCode.INTERNAL and "boom" not in failed.value.details()
    assert [r.getMessage() for r in caplog.records if r.name == "tfsearch.serving"] == [
        f"{PREDICT} failed: RuntimeError: boom"]
    assert service.metrics.registry.get_sample_value("tfsearch_requests_total", {
        "method": "GRPC", "route": PREDICT, "code": "INTERNAL"}) == 1


def test_grpc_port_flag():
    from tfsearch.cli import build_parser

    def parsed(*flags):
        return build_parser().parse_args(["serve", "--model-base-path", "m", *flags])

    assert parsed().grpc_port == 8500 and parsed("--grpc-port", "0").grpc_port == 0  # 0: gRPC off
    assert parsed().cache_size == 0 and parsed().allowed_hosts is None
    assert parsed("--cache-size", "9", "--allowed-hosts", "a.org, b.org").allowed_hosts == ["a.org", "b.org"]
    with pytest.raises(SystemExit):
        parsed("--grpc-port", "-1")
    from tfsearch.cli.serve import _allowed_hosts

    assert _allowed_hosts("127.0.0.1", None) == ["127.0.0.1", "localhost", "::1", "127.0.0.1"]
    assert _allowed_hosts("::1", ["a.org"])[-1] == "a.org"
    assert _allowed_hosts("0.0.0.0", None) is None and _allowed_hosts("0.0.0.0", ["a.org"]) == ["0.0.0.0", "a.org"]


def test_concurrent_grpc_and_rest_searches_are_one_batch(served):
    from fastapi.testclient import TestClient

    from tfsearch.serving.app import create_app
    from tfsearch.serving.grpc_server import start_grpc_server
    from tfsearch.serving.search_service import SearchService

    sequential, app, _, _, base = served
    rest = [{"q": "the cat", "k": 3, "diversity": 0.0}, {"q": "bread", "k": 2, "diversity": 1.0}]
    over_grpc = [{"q": "a dog eating", "k": 4, "diversity": 0.5}, {"q": "hello", "k": 1, "diversity": 0.0}]
    expected = [[r["id"] for r in sequential.get("/search", params=p).json()["results"]] for p in rest + over_grpc]
    # The batch is full (4 queries) once the 4 requests are in: it runs then, long before the timeout (and the
    # first request waits for the others although no batch is running: `wait_when_idle`).
    service = SearchService(app.state.store, max_batch_size=4, batch_timeout_micros=60_000_000, wait_when_idle=True)
    server = start_grpc_server(service, "tiny", port=0)
    answers = [None] * 4
    try:
        with TestClient(create_app(base, service=service)) as client, \
                grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

            def ask(i):
                if i < 2:
                    answers[i] = [r["id"] for r in client.get("/search", params=rest[i]).json()["results"]]
                else:
                    p = over_grpc[i - 2]
                    out = arrays(stub.Predict(predict_request("search", queries=[p["q"]], k=p["k"],
                                                              diversity=p["diversity"]), timeout=120))
                    answers[i] = [doc_id for doc_id in decoded(out["ids"])[0] if doc_id]

            threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            server.stop(None)
    finally:
        server.stop(None)
    assert answers == expected
    registry = service.metrics.registry
    assert registry.get_sample_value("tfsearch_batch_size_count") == 1  # one signature call for all 4
    assert registry.get_sample_value("tfsearch_batch_size_sum") == 4
    assert registry.get_sample_value("tfsearch_requests_total", {"method": "GRPC", "route": PREDICT,
                                                                 "code": "OK"}) == 2


def test_tfsearch_serve_command_answers_rest_and_grpc(served):
    import json
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from tests.conftest import REPO

    base = served[4]
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    port, grpc_port = ports
    proc = subprocess.Popen([sys.executable, "-m", "tfsearch.cli", "serve", "--model-base-path", str(base),
                             "--port", str(port), "--grpc-port", str(grpc_port), "--cache-size", "16",
                             "--allowed-hosts", "search.example"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})

    def get(path, host=None):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host} if host else {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                status = get("/v1/models/tiny")
                break
            except urllib.error.HTTPError as e:  # up, but refusing: no use waiting
                pytest.fail(f"{e}: {e.read()!r}")
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail(proc.communicate(timeout=30)[0])
                time.sleep(0.5)
        assert status["model_version_status"][0]["state"] == "AVAILABLE"
        assert get("/v1/models/tiny", host=f"search.example:{port}") == status  # --allowed-hosts
        with pytest.raises(urllib.error.HTTPError, match="400"):
            get("/v1/models/tiny", host="rebound.example")
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for _ in range(2):  # the second from the result cache
                out = arrays(stub.Predict(predict_request("search", queries=["the cat"], k=2), timeout=30))
                assert out["ids"].shape == (1, 2)
            (status,) = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
                status_request(), timeout=30).model_version_status
            assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    finally:
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert f"http://127.0.0.1:{port}/" in output and f"gRPC at 127.0.0.1:{grpc_port}" in output, output
