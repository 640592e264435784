"""The shared core of the front ends: checked calls, the result cache in the search path, a new version's answers."""

import numpy as np
import pytest

from tfsearch.export import export_search_model
from tfsearch.serving.model_store import ModelStore
from tfsearch.serving.search_service import (SEARCH_SIGNATURES, BadRequest, PredictCall, SearchService,
                                             Unavailable, batched_signatures)


@pytest.fixture(scope="module")
def store(served):
    """The module's own export (the `served` fixture is per module); only the last test publishes a version."""
    store = ModelStore(served[4], poll_seconds=None)
    yield store
    store.close()


def search(service, texts, k=3, diversity=0.0):
    call = PredictCall.checked(service.store.current, "search", texts, k, diversity)
    return service.predict_blocking(call)


@pytest.mark.parametrize("max_batch_size, batched", [(0, ()), (1, ()), (2, SEARCH_SIGNATURES), (8, SEARCH_SIGNATURES)])
def test_the_searches_are_batched_exactly_when_the_service_has_a_batcher(store, max_batch_size, batched):
    # A batch of at most one query is no batching: 0 and 1 turn it off, and then nothing is answered through
    # search_batchable, so a ModelStore given batched_signatures(max_batch_size) warms each search up itself.
    service = SearchService(store, max_batch_size=max_batch_size)
    try:
        assert batched_signatures(max_batch_size) == batched
        assert (service.batcher is not None) == bool(batched)
    finally:
        service.close()


def test_cached_answers_equal_computed_ones_and_only_misses_are_computed(store):
    plain = SearchService(store, cache_size=0)
    cached = SearchService(store, cache_size=100)
    try:
        _, expected = search(plain, ["the cat", "bread", "hello"])
        search(cached, ["the cat", "bread"])  # 2 misses, stored
        version, out = search(cached, ["the  cat", "bread", "hello"])  # 2 hits (one after normalising), 1 miss
        assert version is store.current
        for key in ("ids", "positions"):
            np.testing.assert_array_equal(out[key], expected[key])
        np.testing.assert_allclose(out["scores"], expected["scores"], rtol=1e-6)  # other batches, other rounding
        assert (cached.cache.hits, cached.cache.misses) == (2, 3)
        calls = sum(s.value for s in cached.metrics.batch_size.collect()[0].samples if s.name.endswith("_count"))
        assert calls == 2  # the first request, then only the miss ("hello")
        search(cached, ["the cat", "bread", "hello"])  # all hits: no signature call
        assert sum(s.value for s in cached.metrics.batch_size.collect()[0].samples
                   if s.name.endswith("_count")) == 2
        assert cached.cache.hit_rate == pytest.approx(5 / 8)
    finally:
        plain.close()
        cached.close()


@pytest.mark.parametrize("signature, texts, k, diversity, message", [
    ("search", [], 3, 0.0, "list of 1 to 64"),
    ("search", ["x"] * 65, 3, 0.0, "list of 1 to 64"),
    ("search", ["\ud800"], 3, 0.0, "lone surrogates"),
    ("search", ["x"], [3], 0.0, "`k` must be an integer"),
    ("search", ["x"], 3, {"a": 1}, "`diversity` must be a number"),
    ("search_batchable", ["x", "y"], [1, 2, 3], 0.0, "one value per query"),
    ("nope", ["x"], 3, 0.0, "`signature_name` must be one of"),
])
def test_bad_calls_are_refused_before_any_work(store, signature, texts, k, diversity, message):
    with pytest.raises(BadRequest, match=message):
        PredictCall.checked(store.current, signature, texts, k, diversity)


def test_search_batchable_takes_one_k_and_diversity_per_query(store):
    service = SearchService(store, max_batch_size=0)
    try:
        call = PredictCall.checked(store.current, "search_batchable", ["the cat", "bread"], [1, 3], [0.0, 1.0])
        _, out = service.predict_blocking(call)
        _, first = search(service, ["the cat"], k=1, diversity=0.0)
        _, second = search(service, ["bread"], k=3, diversity=1.0)
        assert out["ids"].shape == (2, store.current.max_k)
        assert list(out["ids"][0, :1]) == list(first["ids"][0]) and list(out["ids"][1, :3]) == list(second["ids"][0])
        assert out["ids"][0, 1] == b""  # past its own k: an unfilled slot
    finally:
        service.close()


def test_a_closed_service_refuses_calls_as_unavailable(store, served):
    from fastapi.testclient import TestClient

    from tfsearch.serving.app import create_app

    service = SearchService(store)
    service.close()
    with pytest.raises(Unavailable, match="shutting down"):
        search(service, ["the cat"])
    # Through REST: a 503 with a message (gRPC answers UNAVAILABLE); the app does not own a service it is given.
    app = create_app(served[4], service=service)
    client = TestClient(app)  # no lifespan: the service stays closed
    response = client.get("/search", params={"q": "the cat"})
    assert response.status_code == 503 and "shutting down" in response.json()["error"]


def test_a_new_version_is_answered_by_itself_not_the_cache(store, served):  # last: it publishes version 2
    _, _, encoder, index, _ = served
    service = SearchService(store, cache_size=100)
    try:
        search(service, ["the cat"], k=2)
        export_search_model(encoder, index, store.base_path, num_candidates=6, max_k=4)
        assert store.refresh() == 2
        version, _ = search(service, ["the cat"], k=2)
        assert version.version == 2 and service.cache.hits == 0  # the entry of version 1 was not used
    finally:
        service.close()
