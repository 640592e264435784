"""ServingMetrics on its own: what each observation adds to the registry, worked out by hand."""

import math
import types

import prometheus_client

from tfsearch.serving.serving_metrics import ServingMetrics


def _version(version, load_seconds=None, warmup_seconds=None):
    """What the metrics read of a `LoadedVersion`."""
    return types.SimpleNamespace(version=version, load_seconds=load_seconds, warmup_seconds=warmup_seconds)


def _store(version):
    return types.SimpleNamespace(current=_version(version))


def test_requests_are_counted_by_method_route_and_code_with_their_latency():
    metrics = ServingMetrics(_store(3))
    metrics.observe_request("GET", "/search", 200, 0.010)
    metrics.observe_request("GET", "/search", 200, 0.030)
    metrics.observe_request("POST", "/v1/models/m:predict", 400, 0.002)
    metrics.observe_request("GRPC", "/tensorflow.serving.PredictionService/Predict", "INVALID_ARGUMENT", 0.001)
    value = metrics.registry.get_sample_value
    # Two 200s on GET /search, one 400 on the predict route; codes are stored as strings.
    assert value("tfsearch_requests_total", {"method": "GET", "route": "/search", "code": "200"}) == 2
    assert value("tfsearch_requests_total", {"method": "POST", "route": "/v1/models/m:predict", "code": "400"}) == 1
    assert value("tfsearch_requests_total", {"method": "GRPC", "route": "/tensorflow.serving.PredictionService/Predict",
                                             "code": "INVALID_ARGUMENT"}) == 1
    # The latency histogram of GET /search: 2 observations summing to 0.010 + 0.030 = 0.040 s;
    # both are under the 0.05 s bucket, one under 0.01 s (buckets are upper bounds, inclusive).
    labels = {"method": "GET", "route": "/search"}
    assert value("tfsearch_request_duration_seconds_count", labels) == 2
    assert abs(value("tfsearch_request_duration_seconds_sum", labels) - 0.040) < 1e-12
    assert value("tfsearch_request_duration_seconds_bucket", {**labels, "le": "0.01"}) == 1
    assert value("tfsearch_request_duration_seconds_bucket", {**labels, "le": "0.05"}) == 2


def test_version_cache_and_queue_are_read_when_scraped():
    store = _store(1)
    metrics = ServingMetrics(store)
    value = metrics.registry.get_sample_value
    # No cache watched yet, or watching None: ratio and entries read 0.
    metrics.watch_cache(None)
    assert value("tfsearch_cache_hit_ratio") == 0.0 and value("tfsearch_cache_entries") == 0
    cache = type("Cache", (), {"hit_rate": 0.25, "__len__": lambda self: 7})()
    metrics.watch_cache(cache)
    depth = [0]
    metrics.watch_queue(lambda: depth[0])
    assert (value("tfsearch_cache_hit_ratio"), value("tfsearch_cache_entries")) == (0.25, 7)
    # A version whose load and warm-up were not timed reads NaN for both.
    assert math.isnan(value("tfsearch_model_load_seconds")) and math.isnan(value("tfsearch_model_warmup_seconds"))
    # Gauges follow their sources at scrape time: a version switch and a filling queue.
    store.current = _version(2, load_seconds=1.5, warmup_seconds=4.25)
    depth[0] = 5
    assert value("tfsearch_model_version") == 2 and value("tfsearch_batch_queue_depth") == 5
    assert (value("tfsearch_model_load_seconds"), value("tfsearch_model_warmup_seconds")) == (1.5, 4.25)


def test_batch_sizes_and_cache_lookups():
    metrics = ServingMetrics(_store(1))
    for size in (1, 3, 16):
        metrics.batch_size.observe(size)
    metrics.cache_lookups.labels(result="hit").inc()
    metrics.cache_lookups.labels(result="miss").inc(2)
    value = metrics.registry.get_sample_value
    # Buckets 1, 2, 4, 8, 16, ... (cumulative counts): 1 falls in le=1, 3 in le=4, 16 in le=16.
    assert [value("tfsearch_batch_size_bucket", {"le": le}) for le in ("1.0", "2.0", "4.0", "16.0")] == [1, 1, 2, 3]
    assert value("tfsearch_batch_size_sum") == 20
    assert value("tfsearch_cache_lookups_total", {"result": "hit"}) == 1
    assert value("tfsearch_cache_lookups_total", {"result": "miss"}) == 2


def test_two_servers_in_one_process_keep_separate_registries():
    first, second = ServingMetrics(_store(1)), ServingMetrics(_store(9))
    first.observe_request("GET", "/search", 200, 0.01)
    labels = {"method": "GET", "route": "/search", "code": "200"}
    assert first.registry.get_sample_value("tfsearch_requests_total", labels) == 1
    assert second.registry.get_sample_value("tfsearch_requests_total", labels) is None
    text = prometheus_client.generate_latest(second.registry).decode()
    assert "tfsearch_model_version 9.0" in text and "tfsearch_requests_total{" not in text
