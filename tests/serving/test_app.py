import threading

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
    assert len(encoded["predictions"][0]["embeddings"]) == 16


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
    (("post", "/v1/models/other:predict", {"json": {"instances": ["x"]}}), "unknown model"),
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


def test_tfsearch_serve_command_answers_over_http(served):
    import json
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.conftest import REPO

    base = served[4]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tfsearch.cli", "serve", "--model-base-path", str(base),
                             "--port", str(port)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/tiny", timeout=2) as response:
                    status = json.load(response)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.5)
        assert status["model_version_status"][0]["state"] == "AVAILABLE"
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/tiny:predict",
                                         data=json.dumps({"inputs": {"queries": ["the cat"], "k": 2}}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert len(json.load(response)["outputs"]["ids"][0]) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)
