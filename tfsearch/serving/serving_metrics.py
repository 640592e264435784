"""The Prometheus metrics of `tfsearch serve`, shared by its REST and gRPC front ends."""


class ServingMetrics:
    """The server's metrics, in a registry of their own (several servers in one process do not clash).

    - `tfsearch_requests_total{method, route, code}`: requests answered. REST:
      the HTTP method, the route's path and the status code; gRPC: method
      `GRPC`, the full method name and the status code's name (`OK`,
      `INVALID_ARGUMENT`, ...).
    - `tfsearch_request_duration_seconds{method, route}`: latency histogram.
    - `tfsearch_batch_size`: queries per search signature call.
    - `tfsearch_batch_queue_depth`: requests waiting for a batch.
    - `tfsearch_cache_lookups_total{result}`: result-cache lookups, `hit` or
      `miss` (one per query); `tfsearch_cache_hit_ratio` their ratio and
      `tfsearch_cache_entries` the entries held.
    - `tfsearch_model_version`: the version served;
      `tfsearch_model_load_seconds` and `tfsearch_model_warmup_seconds`
      how long its load and its warm-up took (NaN where unknown).

    Args:
        store: the `ModelStore` (for the version served).

    Example:
    ```python
    metrics = ServingMetrics(store)
    metrics.observe_request("GET", "/search", 200, 0.012)
    prometheus_client.generate_latest(metrics.registry)  # the text exposition
    ```
    """

    def __init__(self, store):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("tfsearch_requests", "requests answered, by route and status code",
                                ["method", "route", "code"], registry=self.registry)
        self.latency = Histogram("tfsearch_request_duration_seconds", "request latency, by route",
                                 ["method", "route"], registry=self.registry)
        self.batch_size = Histogram("tfsearch_batch_size", "queries per search signature call",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=self.registry)
        self.queue_depth = Gauge("tfsearch_batch_queue_depth", "requests waiting for a batch",
                                 registry=self.registry)
        self.cache_lookups = Counter("tfsearch_cache_lookups", "result-cache lookups (one per query)", ["result"],
                                     registry=self.registry)
        self.cache_hit_ratio = Gauge("tfsearch_cache_hit_ratio", "result-cache hits over lookups",
                                     registry=self.registry)
        self.cache_entries = Gauge("tfsearch_cache_entries", "result-cache entries held", registry=self.registry)
        self.model_version = Gauge("tfsearch_model_version", "the model version served", registry=self.registry)
        self.model_version.set_function(lambda: store.current.version)
        self.model_load_seconds = Gauge("tfsearch_model_load_seconds", "seconds the version served took to load",
                                        registry=self.registry)
        self.model_load_seconds.set_function(lambda: _seconds(store.current.load_seconds))
        self.model_warmup_seconds = Gauge("tfsearch_model_warmup_seconds",
                                          "seconds the version served took to warm up", registry=self.registry)
        self.model_warmup_seconds.set_function(lambda: _seconds(store.current.warmup_seconds))

    def observe_request(self, method, route, code, seconds):
        """Counts one answered request and its latency."""
        self.latency.labels(method=method, route=route).observe(seconds)
        self.requests.labels(method=method, route=route, code=str(code)).inc()

    def watch_cache(self, cache):
        """Exposes `cache`'s hit ratio and size (a `ResultCache`, or None for no cache)."""
        self.cache_hit_ratio.set_function(lambda: cache.hit_rate if cache is not None else 0.0)
        self.cache_entries.set_function(lambda: len(cache) if cache is not None else 0)

    def watch_queue(self, depth):
        """Exposes `depth()`, the requests waiting for a batch."""
        self.queue_depth.set_function(depth)


def _seconds(value):
    """A gauge's value: `value`, or NaN where it is unknown (None)."""
    return float("nan") if value is None else float(value)
