"""What the REST and gRPC front ends of `tfsearch serve` share: checked calls, batching, the result cache, metrics."""

import asyncio
import concurrent.futures
import dataclasses
import math

import numpy as np

from tfsearch.export.saved_model_export import BATCHABLE_SIGNATURE, DEFAULT_BATCHING_PARAMETERS
from tfsearch.serving.request_batcher import DEFAULT_WAIT_WHEN_IDLE
from tfsearch.utils.arguments import check_integer

MAX_QUERY_CHARACTERS = 1000
MAX_BATCH = 64  # queries in one request
SEARCH_SIGNATURES = ("serving_default", "search")
TEXT_INPUTS = {"serving_default": "queries", "search": "queries", BATCHABLE_SIGNATURE: "queries",
               "encode_query": "queries", "encode_document": "documents"}
SIGNATURES = tuple(TEXT_INPUTS)
# Request batching: the values the export writes to `batching_params.pbtxt`
# (what TensorFlow Serving would use for it; chosen and measured where
# `DEFAULT_BATCHING_PARAMETERS` is defined). No batch wait: a batch takes what
# is queued when a batch thread is free; on a CPU each batch thread has a core
# to itself (one intra-op thread per call, `tfsearch serve`'s default), so
# waiting would leave it idle while the requests that could join are in the
# other batch.
DEFAULT_MAX_BATCH_SIZE = DEFAULT_BATCHING_PARAMETERS["max_batch_size"]
DEFAULT_BATCH_TIMEOUT_MICROS = DEFAULT_BATCHING_PARAMETERS["batch_timeout_micros"]
DEFAULT_NUM_BATCH_THREADS = DEFAULT_BATCHING_PARAMETERS["num_batch_threads"]


class BadRequest(Exception):
    """A request the server refuses: HTTP 400 / gRPC `INVALID_ARGUMENT`, with this message."""


class NotFound(Exception):
    """A model or version the server does not serve: HTTP 404 / gRPC `NOT_FOUND`, with this message."""


class Unavailable(Exception):
    """The service is closed (the server is shutting down): HTTP 503 / gRPC `UNAVAILABLE`; try again elsewhere."""


def shown(value, limit=60):
    """`value` as a message shows what was given: its repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_query(text):
    """`text` if it is a usable query (a non-empty string of valid Unicode, at most 1000 characters)."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(f"a query must be a non-empty string, got {shown(text)}")
    if len(text) > MAX_QUERY_CHARACTERS:
        raise BadRequest(f"a query is limited to {MAX_QUERY_CHARACTERS} characters, got {len(text)}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") from JSON
        raise BadRequest(f"a query must be valid Unicode (no lone surrogates), got {shown(text)}") from None
    return text


def check_queries(texts, name="queries"):
    """`texts` if it is a list of 1 to `MAX_BATCH` usable queries."""
    if not isinstance(texts, list) or not texts or len(texts) > MAX_BATCH:
        raise BadRequest(f"`{name}` must be a list of 1 to {MAX_BATCH} strings, got "
                         + (f"a list of {len(texts)}" if isinstance(texts, list) else shown(texts)))
    return [check_query(t) for t in texts]


def check_k(k, limit):
    """`k` as an int if it is an integer from 1 to `limit`."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= limit:
        raise BadRequest(f"`k` must be an integer from 1 to {limit}, got {shown(k)}")
    return int(k)


def check_diversity(value):
    """`value` as a float if it is a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise BadRequest(f"`diversity` must be a number in [0, 1], got {shown(value)}")
    return float(value)


@dataclasses.dataclass
class PredictCall:
    """A checked call of one signature of one version.

    Attributes:
        loaded: the `LoadedVersion` the request was checked against.
        signature_name: one of `SIGNATURES`.
        texts: list of str, the queries or documents.
        k: int for `search` / `serving_default`; for `search_batchable` a
            list of ints, one per text; None for the encoders.
        diversity: float, a list of floats (`search_batchable`), or None.
    """

    loaded: object
    signature_name: str
    texts: list
    k: object = None
    diversity: object = None

    @classmethod
    def checked(cls, loaded, signature_name, texts, k=None, diversity=None):
        """A `PredictCall` whose inputs are checked; left-out `k` / `diversity` take the version's defaults.

        Raises `BadRequest` naming the first problem.
        """
        if signature_name not in SIGNATURES or not loaded.has_signature(signature_name):
            available = [s for s in SIGNATURES if loaded.has_signature(s)]
            raise BadRequest(f"`signature_name` must be one of {', '.join(available)}, got {shown(signature_name)}")
        texts = check_queries(texts, TEXT_INPUTS[signature_name])
        if signature_name not in SEARCH_SIGNATURES + (BATCHABLE_SIGNATURE,):
            return cls(loaded, signature_name, texts)
        defaults = loaded.request_defaults("search")
        k = defaults["k"] if k is None else k
        diversity = defaults["diversity"] if diversity is None else diversity
        if signature_name == BATCHABLE_SIGNATURE:
            k, diversity = (_per_text(value, len(texts), name) for value, name in ((k, "k"), (diversity, "diversity")))
            return cls(loaded, signature_name, texts, [check_k(v, loaded.max_k) for v in k],
                       [check_diversity(v) for v in diversity])
        return cls(loaded, signature_name, texts, check_k(k, loaded.max_k), check_diversity(diversity))


def _per_text(value, n, name):
    """`value` as a list of `n` (one value is repeated)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        value = list(np.asarray(value).reshape(-1)) if isinstance(value, np.ndarray) else list(value)
        if len(value) != n:
            raise BadRequest(f"`{name}` must hold one value per query ({n}), got {len(value)}")
        return value
    return [value] * n


def batched_signatures(max_batch_size):
    """The signatures whose requests a `SearchService` answers through `search_batchable`, by its `max_batch_size`.

    With request batching on (`max_batch_size` above 1) the searches,
    `SEARCH_SIGNATURES`, of a version that has `search_batchable` are
    answered through it; with batching off, none. A `ModelStore` given
    these (`batched_signatures=`) does not warm them up on their own.

    Example:
    ```python
    batched_signatures(8)  # ("serving_default", "search")
    batched_signatures(0)  # ()
    ```
    """
    return SEARCH_SIGNATURES if max_batch_size > 1 else ()


class SearchService:
    """Runs checked calls for the front ends: searches through request batching and the result cache.

    Searches (`search`, `serving_default`) of a version that has
    `search_batchable` go through a `RequestBatcher`, so concurrent requests
    from any front end become one signature call of up to `max_batch_size`
    queries. With a cache, each query of a search is looked up first and only
    the misses are computed. Every TensorFlow call runs in a worker thread:
    the caller (the REST or the gRPC event loop) only waits.

    Args:
        store: the `ModelStore` serving the versions.
        max_batch_size: int >= 0; 0 or 1 turns request batching off.
        batch_timeout_micros: int >= 0, the longest a batch waits for more.
        num_batch_threads: int >= 1, batches that may run at once.
        wait_when_idle: bool. Whether a batch waits for more requests while
            no other batch runs (`RequestBatcher`; default: run at once).
        cache_size: int >= 0, result-cache entries (one per query, `k` and
            `diversity`); 0: no cache.
        metrics: a `ServingMetrics`, or None (one is made).

    Example:
    ```python
    service = SearchService(ModelStore("saved_models/scifact"), cache_size=10_000)
    call = PredictCall.checked(service.store.current, "search", ["covid vaccines"], k=10, diversity=0.3)
    version, outputs = service.predict_blocking(call)  # outputs["ids"]: bytes [1, 10]
    service.close()
    ```
    """

    def __init__(self, store, max_batch_size=DEFAULT_MAX_BATCH_SIZE, batch_timeout_micros=DEFAULT_BATCH_TIMEOUT_MICROS,
                 num_batch_threads=DEFAULT_NUM_BATCH_THREADS, wait_when_idle=DEFAULT_WAIT_WHEN_IDLE, cache_size=0,
                 metrics=None):
        from tfsearch.serving.result_cache import ResultCache
        from tfsearch.serving.serving_metrics import ServingMetrics

        check_integer(max_batch_size, "max_batch_size", least=0)
        check_integer(cache_size, "cache_size", least=0)
        self.store = store
        self.max_batch_size = max_batch_size
        self.batch_timeout_micros = batch_timeout_micros
        self.num_batch_threads = num_batch_threads
        self.wait_when_idle = wait_when_idle
        self.cache = ResultCache(cache_size) if cache_size else None
        self.metrics = metrics or ServingMetrics(store)
        self.metrics.watch_cache(self.cache)
        self.metrics.watch_queue(lambda: self.batcher.queue_depth if self.batcher is not None else 0)
        self.batcher = None
        self._calls = None
        self.open()

    def open(self):
        """Starts the workers (again, after `close`)."""
        from tfsearch.serving.request_batcher import RequestBatcher

        if self._calls is None:
            self._calls = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="tfsearch-call")
        if batched_signatures(self.max_batch_size) and (self.batcher is None or self.batcher.closed):
            self.batcher = RequestBatcher(self.store, max_batch_size=self.max_batch_size,
                                          batch_timeout_micros=self.batch_timeout_micros,
                                          num_batch_threads=self.num_batch_threads,
                                          wait_when_idle=self.wait_when_idle, on_batch=self.metrics.batch_size.observe)

    def close(self):
        """Finishes the calls under way and stops the workers."""
        if self.batcher is not None:
            self.batcher.close()
        if self._calls is not None:
            self._calls.shutdown(wait=True)
            self._calls = None

    def submit(self, call):
        """Starts `call` (a `PredictCall`); a `concurrent.futures.Future` of `(version, outputs)`.

        `outputs`: the signature's outputs as NumPy arrays (searches: `ids`,
        `scores`, `positions` `[n, k]`; `search_batchable`: `[n, max_k]`).
        `version` is the `LoadedVersion` that answered (a batch runs on the
        version current when it starts). A `k` over a newer version's `max_k`
        fails with `BadRequest`. Raises `Unavailable` once the service is
        closed.
        """
        if self._calls is None:
            raise Unavailable("the server is shutting down; send the request again")
        if call.signature_name in SEARCH_SIGNATURES:
            return self._cached_search(call.loaded, call.signature_name, call.texts, call.k, call.diversity)
        inputs = {TEXT_INPUTS[call.signature_name]: call.texts}
        if call.signature_name == BATCHABLE_SIGNATURE:
            inputs.update(k=np.asarray(call.k, np.int32), diversity=np.asarray(call.diversity, np.float32))
        return self._calls.submit(self._call_signature, call.loaded, call.signature_name, inputs)

    def predict_blocking(self, call):
        """`submit(call)`'s result, waiting in this thread (a caller without an event loop)."""
        return _unwrap(self.submit(call))

    async def predict(self, call):
        """`submit(call)`'s result, awaited without blocking the event loop (the REST and gRPC front ends)."""
        try:
            return await asyncio.wrap_future(self.submit(call))
        except ValueError as e:
            raise BadRequest(str(e)) from None

    # The work.

    def _call_signature(self, loaded, signature_name, inputs):
        if signature_name in SEARCH_SIGNATURES + (BATCHABLE_SIGNATURE,):
            self.metrics.batch_size.observe(len(inputs["queries"]))
        return loaded, loaded.signature(signature_name)(**inputs)

    def _search(self, loaded, signature_name, texts, k, diversity):
        """A future of `(version, outputs)` for one search, through the batcher where the version allows."""
        batcher = self.batcher
        if batcher is not None and loaded.has_signature(BATCHABLE_SIGNATURE):
            try:
                return batcher.submit(texts, k, diversity)
            except RuntimeError:  # closed meanwhile
                raise Unavailable("the server is shutting down; send the request again") from None
        inputs = {"queries": texts, "k": np.int32(k), "diversity": np.float32(diversity)}
        return self._calls.submit(self._call_signature, loaded, signature_name, inputs)

    def _cached_search(self, loaded, signature_name, texts, k, diversity):
        if self.cache is None:
            return self._search(loaded, signature_name, texts, k, diversity)
        rows = [self.cache.get(loaded, text, k, diversity) for text in texts]
        missing = [i for i, row in enumerate(rows) if row is None]
        self.metrics.cache_lookups.labels(result="hit").inc(len(texts) - len(missing))
        self.metrics.cache_lookups.labels(result="miss").inc(len(missing))
        result = concurrent.futures.Future()
        if not missing:
            result.set_result((loaded, _stack(rows)))
            return result

        def fill(done):
            try:
                version, out = done.result()
            except BaseException as error:
                result.set_exception(error)
                return
            for j, i in enumerate(missing):
                rows[i] = {key: value[j] for key, value in out.items()}
                self.cache.put(version, texts[i], k, diversity, rows[i])
            if version is not loaded and len(missing) < len(texts):
                # The misses ran on a newer version than the hits: answer the whole request from it.
                retry = self._search(version, signature_name, texts, k, diversity)
                retry.add_done_callback(lambda again: _copy(again, result))
                return
            result.set_result((version, _stack(rows)))

        self._search(loaded, signature_name, [texts[i] for i in missing], k, diversity).add_done_callback(fill)
        return result


def _stack(rows):
    return {key: np.stack([row[key] for row in rows]) for key in rows[0]}


def _copy(source, target):
    try:
        target.set_result(source.result())
    except BaseException as error:
        target.set_exception(error)


def _unwrap(future):
    try:
        return future.result()
    except ValueError as e:  # the batcher's check against the version its batch ran on
        raise BadRequest(str(e)) from None

