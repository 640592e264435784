"""Request batching through the app (concurrent requests, one signature call; the event loop stays free) and the
Prometheus endpoint."""

import threading

import pytest

from tfsearch.serving.app import METRICS_PATH

# Different k and diversity per request: each gets its own, from one batch.
REQUESTS = [{"q": "the cat", "k": 3, "diversity": 0.0}, {"q": "bread", "k": 2, "diversity": 1.0},
            {"q": "a dog eating", "k": 4, "diversity": 0.5}, {"q": "hello", "k": 1, "diversity": 0.0}]


def metric_families(client):
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get(METRICS_PATH)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def sample(families, name, suffix="", **labels):
    return sum(s.value for s in families[name].samples
               if s.name == name + suffix and all(s.labels.get(k) == v for k, v in labels.items()))


def results(response):
    assert response.status_code == 200, response.text
    body = response.json()
    return [(r["id"], r["position"]) for r in body["results"]], [r["score"] for r in body["results"]]


def test_concurrent_searches_are_one_batch_with_the_answers_of_sequential_ones(served):
    from fastapi.testclient import TestClient

    from tfsearch.serving.app import create_app

    sequential_client, _, _, _, base = served
    expected = [results(sequential_client.get("/search", params=params)) for params in REQUESTS]
    # The batch is full (4 queries) once the 4 requests are in: it runs then, long before the timeout (and the
    # first request waits for the others although no batch is running: `wait_when_idle`).
    app = create_app(base, poll_seconds=None, max_batch_size=len(REQUESTS), batch_timeout_micros=60_000_000,
                     wait_when_idle=True)
    answers = [None] * len(REQUESTS)
    with TestClient(app) as client:
        def ask(i):
            answers[i] = client.get("/search", params=REQUESTS[i])

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(REQUESTS))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        for (ids, scores), (expected_ids, expected_scores) in zip(map(results, answers), expected):
            assert ids == expected_ids and scores == pytest.approx(expected_scores, rel=1e-5, abs=1e-6)
        assert client.get("/search", params={"q": "x", "k": 99}).status_code == 400
        families = metric_families(client)
    assert app.state.batcher.closed  # stopped with the app
    # One signature call of 4 queries: the batch size histogram's only observation is above 2.
    assert sample(families, "tfsearch_batch_size", "_count") == 1
    assert sample(families, "tfsearch_batch_size", "_sum") == len(REQUESTS)
    assert sample(families, "tfsearch_batch_size", "_bucket", le="2.0") == 0
    assert sample(families, "tfsearch_requests", "_total", route="/search", code="200") == len(REQUESTS)
    assert sample(families, "tfsearch_requests", "_total", route="/search", code="400") == 1
    assert sample(families, "tfsearch_request_duration_seconds", "_count", route="/search") == len(REQUESTS) + 1
    assert sample(families, "tfsearch_model_version") == served[1].state.store.current.version
    assert sample(families, "tfsearch_batch_queue_depth") == 0
    assert not any(s.labels.get("route") == METRICS_PATH for s in families["tfsearch_requests"].samples)


class GatedVersion:
    """The served version, whose `search_batchable` waits for `gate` (a long predict) once it has begun."""

    def __init__(self, loaded):
        self._loaded, self.entered, self.gate = loaded, threading.Event(), threading.Event()

    def __getattr__(self, name):
        return getattr(self._loaded, name)

    def signature(self, name):
        function = self._loaded.signature(name)
        if name != "search_batchable":
            return function

        def gated(**inputs):
            self.entered.set()
            assert self.gate.wait(60), "the test did not open the gate"
            return function(**inputs)

        return gated


def test_status_answers_while_a_batch_is_being_computed(served):
    import types

    from fastapi.testclient import TestClient

    from tfsearch.serving.app import create_app

    version = GatedVersion(served[1].state.store.current)
    app = create_app(served[4], store=types.SimpleNamespace(current=version), max_batch_size=64,
                     batch_timeout_micros=0)
    order, predicted = [], {}
    with TestClient(app) as client:
        def predict():
            predicted["response"] = client.post("/v1/models/tiny:predict",
                                                json={"inputs": {"queries": ["the cat"] * 64, "k": 2}})
            order.append("predict")

        thread = threading.Thread(target=predict)
        thread.start()
        try:
            assert version.entered.wait(60)  # the batch is in the signature call, held there
            status = client.get("/v1/models/tiny")  # answered by the event loop meanwhile
            order.append("status")
            assert status.status_code == 200
            assert client.get(METRICS_PATH).status_code == 200
        finally:
            version.gate.set()
            thread.join(timeout=120)
    assert order == ["status", "predict"]
    assert predicted["response"].status_code == 200
    assert [len(ids) for ids in predicted["response"].json()["outputs"]["ids"]] == [2] * 64


def test_max_batch_size_0_turns_batching_off(served):
    from fastapi.testclient import TestClient

    from tfsearch.serving.app import create_app

    sequential_client, _, _, _, base = served
    app = create_app(base, poll_seconds=None, max_batch_size=0)
    assert app.state.batcher is None
    with TestClient(app) as client:
        for params in REQUESTS[:2]:
            ids, scores = results(client.get("/search", params=params))
            expected_ids, expected_scores = results(sequential_client.get("/search", params=params))
            assert ids == expected_ids and scores == pytest.approx(expected_scores, rel=1e-5, abs=1e-6)
        rows = client.post("/v1/models/tiny:predict", json={"instances": [{"queries": "bread", "k": 2}]}).json()
        assert len(rows["predictions"][0]["ids"]) == 2
        families = metric_families(client)
    assert sample(families, "tfsearch_batch_size", "_count") == 3  # one call per request


class OlderExport(GatedVersion):
    """The served version as an export from before `search_batchable`."""

    def has_signature(self, name):
        return name != "search_batchable" and self._loaded.has_signature(name)

    def signature(self, name):
        assert name != "search_batchable", "an older export has no search_batchable"
        return self._loaded.signature(name)


def test_an_export_without_search_batchable_is_served_by_its_search_signature(served):
    import types

    from fastapi.testclient import TestClient

    from tfsearch.serving.app import create_app

    sequential_client = served[0]
    store = types.SimpleNamespace(current=OlderExport(served[1].state.store.current))
    with TestClient(create_app(served[4], store=store)) as client:
        for params in REQUESTS[:2]:
            assert results(client.get("/search", params=params))[0] == \
                results(sequential_client.get("/search", params=params))[0]
        columns = client.post("/v1/models/tiny:predict", json={"inputs": {"queries": ["the cat", "bread"], "k": 2}})
        assert [len(ids) for ids in columns.json()["outputs"]["ids"]] == [2, 2]
