"""Coalesces concurrent search requests into one call of an export's `search_batchable` signature."""

import asyncio
import concurrent.futures
import dataclasses
import math
import queue
import threading
import time

import numpy as np

from tfsearch.export.saved_model_export import BATCHABLE_SIGNATURE, DEFAULT_BATCHING_PARAMETERS
from tfsearch.utils.arguments import check_integer

# Whether a batch waits for company while no other batch is running (TensorFlow Serving's batches do).
DEFAULT_WAIT_WHEN_IDLE = False

_STOP = object()  # one per worker thread, queued by `close()` behind the requests already waiting


@dataclasses.dataclass
class _Request:
    queries: list
    k: int
    diversity: float
    future: concurrent.futures.Future


class RequestBatcher:
    """A queue that runs concurrent search requests as one `search_batchable` call.

    Each submission is one request: a list of queries with its own `k` and
    `diversity`. Worker threads take requests from the queue in submission
    order and join them into a batch until it holds `max_batch_size` queries
    (the next request would not fit) or `batch_timeout_micros` have passed
    since the batch's first request was taken, waiting only while another
    batch is running (unless `wait_when_idle`): an idle batcher runs what is
    queued at once, since no call would end to bring more requests sooner,
    and a lone client pays no batch wait. Then one call of the loaded
    version's `search_batchable` runs the whole batch, with `k` and
    `diversity` given per query, and each request's future gets its own
    rows, cut to its own `k`. The TensorFlow call releases the GIL, so it runs
    in the workers while the caller (an event loop, a gRPC front end) goes on.

    A request with more queries than `max_batch_size` runs alone, as one call
    (it is not split: its rows stay one signature call on one version).

    Versions: a batch takes `store.current` once and runs on that version; a
    version that appears meanwhile is used from the next batch. A version
    without `search_batchable` (an older export) is served by calling its
    `search` signature once per request of the batch.

    Errors: `submit` checks `queries`, `k` (1 to the current version's
    `max_k`) and `diversity` (in [0, 1]) and raises `ValueError` before
    queueing, so a bad request never reaches a batch. A request whose `k` is
    over the `max_k` of the version its batch runs on (a new version with a
    smaller `max_k`) gets a `ValueError` alone. An exception raised by the
    signature call (e.g. `tf.errors.InvalidArgumentError`) is set on every
    future of that batch, and on no other.

    Args:
        store: what serves the versions: an object with `current`, a
            `LoadedVersion` (`ModelStore`).
        max_batch_size: int, the most queries in one signature call
            (default: `DEFAULT_BATCHING_PARAMETERS["max_batch_size"]`, the
            export's `batching_params.pbtxt`).
        batch_timeout_micros: int, the longest a batch waits for more
            requests after its first one, in microseconds (default:
            `DEFAULT_BATCHING_PARAMETERS["batch_timeout_micros"]`).
        num_batch_threads: int, worker threads, so many batches may run at
            once (default: `DEFAULT_BATCHING_PARAMETERS["num_batch_threads"]`).
        on_batch: optional callable `on_batch(num_queries)`, called once per
            signature call (metrics).
        wait_when_idle: bool. Wait up to `batch_timeout_micros` for more
            requests even when no other batch is running, as TensorFlow
            Serving's batching does (default False: `bench/serve.py` measured
            the wait costing one client about 3 ms of p50 with nothing gained).

    Shapes:
        A submission: `queries` a list of `n` strings, `k` an int,
        `diversity` a float. Its result: `(version, outputs)`, the
        `LoadedVersion` it ran on and `{"ids": bytes [n, k], "scores":
        float32 [n, k], "positions": int32 [n, k]}` as NumPy arrays; slots
        past the results found hold `b""`, `-inf` and `-1`.

    Example:

    ```python
    batcher = RequestBatcher(ModelStore("saved_models/scifact"), max_batch_size=16,
                             batch_timeout_micros=2000)
    version, out = batcher.submit(["covid vaccines", "bread"], k=3, diversity=0.3).result()
    out["ids"].shape  # (2, 3)
    # From a coroutine (FastAPI): the event loop waits, the workers compute.
    version, out = await batcher.search(["covid vaccines"], k=10, diversity=0.0)
    batcher.close()
    ```
    """

    def __init__(self, store, max_batch_size=DEFAULT_BATCHING_PARAMETERS["max_batch_size"],
                 batch_timeout_micros=DEFAULT_BATCHING_PARAMETERS["batch_timeout_micros"],
                 num_batch_threads=DEFAULT_BATCHING_PARAMETERS["num_batch_threads"], on_batch=None,
                 wait_when_idle=DEFAULT_WAIT_WHEN_IDLE):
        check_integer(max_batch_size, "max_batch_size")
        check_integer(batch_timeout_micros, "batch_timeout_micros", least=0)
        check_integer(num_batch_threads, "num_batch_threads")
        self.store = store
        self.max_batch_size = max_batch_size
        self.batch_timeout_micros = batch_timeout_micros
        self.wait_when_idle = bool(wait_when_idle)
        self._on_batch = on_batch
        self._running = 0  # batches in a signature call now
        self._running_lock = threading.Lock()
        self._queue = queue.Queue()
        self._held = None  # a request taken that did not fit its batch: the next batch starts with it
        self._collecting = threading.Lock()  # one worker forms a batch at a time
        self._closing = threading.Lock()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"tfsearch-batcher-{i}", daemon=True)
                         for i in range(num_batch_threads)]
        for thread in self._threads:
            thread.start()

    @property
    def closed(self):
        """Whether `close()` was called (new requests are refused)."""
        return self._closed

    @property
    def queue_depth(self):
        """Requests waiting for a batch."""
        return self._queue.qsize() + (self._held is not None)

    def submit(self, queries, k, diversity):
        """Queues one request; returns a `concurrent.futures.Future` of `(version, outputs)` (see Shapes).

        Raises `ValueError` for a bad request (nothing is queued) and
        `RuntimeError` once the batcher is closed.
        """
        if not isinstance(queries, (list, tuple)) or not queries \
                or not all(isinstance(q, str) and q for q in queries):
            raise ValueError(f"`queries` must be a non-empty list of non-empty strings, got {queries!r:.60}")
        max_k = self.store.current.max_k
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= max_k:
            raise ValueError(f"`k` must be an integer from 1 to {max_k}, got {k!r}")
        if isinstance(diversity, bool) or not isinstance(diversity, (int, float, np.floating)) \
                or not math.isfinite(diversity) or not 0.0 <= diversity <= 1.0:
            raise ValueError(f"`diversity` must be a number in [0, 1], got {diversity!r}")
        future = concurrent.futures.Future()
        with self._closing:
            if self._closed:
                raise RuntimeError("the RequestBatcher is closed")
            self._queue.put(_Request(list(queries), int(k), float(diversity), future))
        return future

    async def search(self, queries, k, diversity):
        """`submit` for a coroutine: awaits the result without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(queries, k, diversity))

    def close(self, timeout=30):
        """Refuses new requests, lets the workers finish those queued, and stops them."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=timeout)

    # The workers.

    def _work(self):
        while True:
            batch, stop = self._collect()
            if batch:
                self._run(batch)
            if stop:
                return

    def _collect(self):
        """The next batch, in submission order, and whether this worker was told to stop."""
        with self._collecting:
            first, self._held = (self._held, None) if self._held is not None else (self._queue.get(), None)
            if first is _STOP:
                return [], True
            batch, size = [first], len(first.queries)
            deadline = time.monotonic() + self.batch_timeout_micros / 1e6
            while size < self.max_batch_size:
                # Idle (no other batch running): take only what is queued already.
                remaining = deadline - time.monotonic() if self.wait_when_idle or self._running else 0
                try:
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    return batch, True
                if size + len(item.queries) > self.max_batch_size:
                    self._held = item
                    break
                batch.append(item)
                size += len(item.queries)
            return batch, False

    def _run(self, batch):
        with self._running_lock:
            self._running += 1
        try:
            self._run_batch(batch)
        finally:
            with self._running_lock:
                self._running -= 1

    def _run_batch(self, batch):
        batch = [r for r in batch if r.future.set_running_or_notify_cancel()]  # drops those cancelled
        if not batch:
            return
        version = self.store.current  # once per batch: the whole batch runs on one version
        runnable = []
        for request in batch:
            if request.k > version.max_k:
                request.future.set_exception(ValueError(
                    f"`k` must be an integer from 1 to {version.max_k}, got {request.k}"))
            else:
                runnable.append(request)
        if not runnable:
            return
        try:
            if version.has_signature(BATCHABLE_SIGNATURE):
                results = self._call_batchable(version, runnable)
            else:
                results = [self._call_search(version, r) for r in runnable]
        except BaseException as error:  # every request of the batch gets the error, no other batch does
            for request in runnable:
                request.future.set_exception(error)
            return
        for request, outputs in zip(runnable, results):
            request.future.set_result((version, outputs))

    def _call_batchable(self, version, requests):
        queries = np.array([q for r in requests for q in r.queries], object)
        k = np.concatenate([np.full(len(r.queries), r.k, np.int32) for r in requests])
        diversity = np.concatenate([np.full(len(r.queries), r.diversity, np.float32) for r in requests])
        if self._on_batch is not None:
            self._on_batch(len(queries))
        out = version.signature(BATCHABLE_SIGNATURE)(queries=queries, k=k, diversity=diversity)
        results, start = [], 0
        for request in requests:
            stop = start + len(request.queries)
            results.append({key: value[start:stop, :request.k] for key, value in out.items()})
            start = stop
        return results

    def _call_search(self, version, request):
        if self._on_batch is not None:
            self._on_batch(len(request.queries))
        return version.signature("search")(queries=np.array(request.queries, object), k=np.int32(request.k),
                                           diversity=np.float32(request.diversity))
