import threading

import numpy as np
import pytest
import tensorflow as tf

from tfsearch.export import export_search_model



def test_status_and_predict_in_tf_serving_shape(served):
    client, _, encoder, index, _ = served
    assert client.get("/v1/models/tiny").json() == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    _, expected = index.search(encoder(tf.constant(["the cat", "bread"])).numpy(), k=3)
    rows = client.post("/v1/models/tiny:predict",
                       json={"instances": [{"queries": "the cat", "k": 3}, {"queries": "bread", "k": 3}]})
    assert rows.status_code == 200
    assert [p["ids"] for p in rows.json()["predictions"]] == expected
    columns = client.post("/v1/models/tiny:predict", json={"inputs": {"queries": ["the cat", "bread"], "k": 3}})
    assert columns.json()["outputs"]["ids"] == expected
    # Left out, k and diversity take the SignatureDef's defaults, as in TensorFlow
    # Serving: k = min(10, max_k = 5) = 5, diversity 0 (the index's order).
    _, top5 = index.search(encoder(tf.constant(["the cat"])).numpy(), k=5)
    bare = client.post("/v1/models/tiny:predict", json={"inputs": {"queries": ["the cat"]}})
    assert bare.json()["outputs"]["ids"] == top5
    assert [r["id"] for r in client.get("/search", params={"q": "the cat"}).json()["results"]] == top5[0]
    encoded = client.post("/v1/models/tiny:predict",
                          json={"signature_name": "encode_query", "instances": ["the cat"]}).json()
    # One output: TensorFlow Serving gives its values without the output's name.
    assert len(encoded["predictions"]) == 1 and len(encoded["predictions"][0]) == 16
    np.testing.assert_allclose(encoded["predictions"][0], encoder(tf.constant(["the cat"])).numpy()[0],
                               rtol=1e-5, atol=1e-6)
    encoded_columns = client.post("/v1/models/tiny:predict", json={"signature_name": "encode_document",
                                                                   "inputs": {"documents": ["a", "b"]}}).json()
    assert list(encoded_columns) == ["outputs"] and np.asarray(encoded_columns["outputs"]).shape == (2, 16)


def test_search_endpoint_and_page(served):
    client, _, encoder, index, _ = served
    body = client.get("/search", params={"q": "the cat", "k": 3, "diversity": 0}).json()
    _, expected = index.search(encoder(tf.constant(["the cat"])).numpy(), k=3)
    assert [r["id"] for r in body["results"]] == expected[0]
    assert body["results"][0]["title"] == f"title of {expected[0][0]}" and body["model_version"] == 1
    diverse = client.get("/search", params={"q": "the cat", "k": 3, "diversity": 1}).json()
    assert [r["id"] for r in diverse["results"]] != expected[0]
    page = client.get("/")
    assert page.status_code == 200 and 'id="diversity"' in page.text and "tiny" in page.text
    assert "/search" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("request_args, message", [
    (("post", "/v1/models/tiny:predict", {"content": b"not json"}), "not JSON"),
    (("post", "/v1/models/tiny:predict", {"json": [1, 2]}), "JSON object"),
    (("post", "/v1/models/tiny:predict", {"json": {"instances": [{"queries": 5}]}}), "non-empty string"),
    (("post", "/v1/models/tiny:predict", {"json": {"instances": [{"queries": ""}]}}), "non-empty string"),
    (("post", "/v1/models/tiny:predict", {"json": {"inputs": {"queries": ["x"], "k": 0}}}), "`k` must be"),
    (("post", "/v1/models/tiny:predict", {"json": {"inputs": {"queries": ["x"], "k": 6}}}), "from 1 to 5"),
    (("post", "/v1/models/tiny:predict", {"json": {"inputs": {"queries": ["x"], "diversity": 1.5}}}), "diversity"),
    (("post", "/v1/models/tiny:predict", {"json": {"instances": ["x"], "inputs": {}}}), "exactly one"),
    (("post", "/v1/models/tiny:classify", {"json": {"instances": ["x"]}}), "unknown method"),
    (("post", "/v1/models/tiny:predict", {"json": {"signature_name": "x", "instances": ["x"]}}), "signature"),
    (("post", "/v1/models/tiny:predict", {"json": {"instances": ["x" * 1001]}}), "1000 characters"),
    (("post", "/v1/models/tiny:predict", {"content": b"{" + b" " * (1 << 20) + b"}"}), "over"),
    (("get", "/search", {"params": {"q": "", "k": 3}}), "non-empty"),
    (("get", "/search", {"params": {"q": "x", "k": "many"}}), "k"),
    (("get", "/search", {"params": {"q": "x", "k": 99}}), "from 1 to 5"),
    (("get", "/search", {"params": {"q": "x", "diversity": "-0.1"}}), "diversity"),
    (("get", "/search", {"params": {"q": "x", "diversity": "nan"}}), "diversity"),
    (("get", "/search", {"params": {}}), "q"),
])
def test_bad_input_is_a_400_with_a_message(served, request_args, message):
    client = served[0]
    method, url, kwargs = request_args
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


@pytest.mark.parametrize("request_args, message", [
    (("post", "/v1/models/other:predict", {"json": {"instances": ["x"]}}), "unknown model"),
    (("get", "/v1/models/other", {}), "unknown model"),
    (("get", "/v1/models/other/metadata", {}), "unknown model"),
    (("get", "/v1/models/tiny/versions/7", {}), "version served is 1"),
    (("get", "/v1/models/tiny/versions/7/metadata", {}), "version served is 1"),
    (("post", "/v1/models/tiny/versions/7:predict", {"json": {"instances": ["x"]}}), "version served is 1"),
])
def test_unknown_models_and_versions_are_a_404_with_a_message(served, request_args, message):
    """As TensorFlow Serving answers them; the message names what is served."""
    client = served[0]
    method, url, kwargs = request_args
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == 404, response.text
    assert message in response.json()["error"]


def test_model_metadata_and_version_routes_in_tf_serving_shape(served):
    from google.protobuf import json_format
    from tensorflow_serving.apis import get_model_metadata_pb2

    from tfsearch.export.saved_model_export import read_signature_defs

    client, _, _, _, base = served
    metadata = client.get("/v1/models/tiny/metadata")
    assert metadata.status_code == 200, metadata.text
    body = metadata.json()
    assert body["model_spec"] == {"name": "tiny", "signature_name": "", "version": "1"}
    signature_defs = body["metadata"]["signature_def"]["signature_def"]
    search = signature_defs["search"]
    assert search["method_name"] == "tensorflow/serving/predict"  # proto field names, as TF Serving answers
    assert search["inputs"]["queries"]["dtype"] == "DT_STRING"
    assert set(search["outputs"]) == {"ids", "scores", "positions"}
    assert list(signature_defs["encode_query"]["outputs"]) == ["embeddings"]
    # Exactly the SavedModel's SignatureDefs: the JSON parses back into them.
    parsed = json_format.ParseDict(body["metadata"]["signature_def"], get_model_metadata_pb2.SignatureDefMap())
    assert dict(parsed.signature_def) == read_signature_defs(base / "1")
    assert client.get("/v1/models/tiny/versions/1/metadata").json() == body
    assert client.get("/v1/models/tiny/versions/1").json() == client.get("/v1/models/tiny").json()
    rows = client.post("/v1/models/tiny/versions/1:predict", json={"instances": [{"queries": "the cat", "k": 2}]})
    assert rows.status_code == 200 and len(rows.json()["predictions"][0]["ids"]) == 2, rows.text
    assert client.post("/v1/models/tiny/versions/x:predict", json={"instances": ["x"]}).status_code == 400
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/models/{model}/metadata", "/v1/models/{model}/versions/{version}",
                 "/v1/models/{model}/versions/{version}:predict", "/v1/models/{model}:predict"):
        assert path in paths, f"{path} is missing from the OpenAPI schema: {sorted(paths)}"


def test_a_new_version_is_picked_up_without_failing_requests(served):
    client, app, encoder, index, base = served
    store = app.state.store
    failures = []

    def hammer():
        for _ in range(20):
            if client.get("/search", params={"q": "the cat", "k": 2}).status_code != 200:
                failures.append(1)

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    export_search_model(encoder, index, base, num_candidates=6, max_k=4)
    assert store.refresh() == 2
    for thread in threads:
        thread.join()
    assert not failures
    assert client.get("/v1/models/tiny").json()["model_version_status"][0]["version"] == "2"
    assert client.get("/search", params={"q": "x", "k": 5}).status_code == 400  # version 2 allows k <= 4
