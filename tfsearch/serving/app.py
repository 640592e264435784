"""`tfsearch serve`: TensorFlow Serving's REST API, a /search endpoint and a search page, on FastAPI."""

import asyncio
import contextlib
import math
import pathlib
import time

import numpy as np
import tensorflow as tf

from tfsearch.export.saved_model_export import DEFAULT_BATCHING_PARAMETERS
from tfsearch.export.search_module import DEFAULT_K

MAX_QUERY_CHARACTERS = 1000
MAX_BATCH = 64
MAX_REQUEST_BYTES = 1 << 20
SIGNATURES = ("serving_default", "search", "encode_query", "encode_document")
SEARCH_SIGNATURES = ("serving_default", "search")
METRICS_PATH = "/monitoring/prometheus/metrics"  # TensorFlow Serving's
# Request batching: the export's own `batching_params.pbtxt` values (what
# TensorFlow Serving would use for it).
DEFAULT_MAX_BATCH_SIZE = DEFAULT_BATCHING_PARAMETERS["max_batch_size"]
DEFAULT_BATCH_TIMEOUT_MICROS = DEFAULT_BATCHING_PARAMETERS["batch_timeout_micros"]
_PAGE = pathlib.Path(__file__).with_name("search_page.html")


class BadRequest(Exception):
    """Answered with HTTP 400 and `{"error": message}`."""


def create_app(base_path, model_name=None, poll_seconds=1.0, store=None, max_batch_size=DEFAULT_MAX_BATCH_SIZE,
               batch_timeout_micros=DEFAULT_BATCH_TIMEOUT_MICROS):
    """The FastAPI application serving the newest version under `base_path`.

    Endpoints:
    - `GET /v1/models/{name}`: version status, TensorFlow Serving's shape;
    - `POST /v1/models/{name}:predict` (also `/v1/models/{name}/versions/{v}:predict`
      for the current version): `{"signature_name": ..., "instances": [...]}` (row
      format) or `{"inputs": {...}}` (columnar), answered as TensorFlow Serving
      answers (`predictions` / `outputs`);
    - `GET /search?q=...&k=10&diversity=0.3`: ids, titles and scores as JSON;
    - `GET /`: a search page with a relevance/diversity slider;
    - `GET /openapi.json`: the OpenAPI schema;
    - `GET /monitoring/prometheus/metrics`: Prometheus metrics (TensorFlow
      Serving's path): `tfsearch_requests_total{method, route, code}`,
      `tfsearch_request_duration_seconds{method, route}`,
      `tfsearch_batch_size` (queries per signature call),
      `tfsearch_batch_queue_depth` (requests waiting for a batch),
      `tfsearch_model_version` (the version served).

    Searches (`/search`, predicts to `search` / `serving_default`) of a
    version with `search_batchable` go through a `RequestBatcher`: concurrent
    requests become one signature call of up to `max_batch_size` queries,
    after at most `batch_timeout_micros` of waiting (defaults: the export's
    `DEFAULT_BATCHING_PARAMETERS`). `max_batch_size` 0 or 1 turns batching
    off: each request is its own call. Every TensorFlow call runs in a
    worker thread, never on the event loop.
    Bad input (not JSON, wrong types, empty or over-long queries, `k` out of
    range, `diversity` outside [0, 1], a body over 1 MiB) is answered with 400
    and a message.
    """
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from tfsearch.serving.model_store import ModelStore
    from tfsearch.serving.request_batcher import RequestBatcher

    if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or max_batch_size < 0:
        raise ValueError(f"`max_batch_size` must be an integer >= 0, got {max_batch_size!r}.")
    store = store or ModelStore(base_path, poll_seconds=poll_seconds)
    name = model_name or pathlib.Path(base_path).name
    metrics = _Metrics(store)

    def new_batcher():
        if max_batch_size <= 1:
            return None
        return RequestBatcher(store, max_batch_size=max_batch_size, batch_timeout_micros=batch_timeout_micros,
                              on_batch=metrics.batch_size.observe)

    lifespans = []  # the servers running the app (a test may run two): the batcher stops with the last

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if app.state.batcher is not None and app.state.batcher.closed:
            app.state.batcher = new_batcher()
        lifespans.append(1)
        try:
            yield
        finally:
            lifespans.pop()
            if not lifespans and app.state.batcher is not None:
                await asyncio.to_thread(app.state.batcher.close)

    app = FastAPI(title="tfsearch", version="0.1.0", lifespan=lifespan,
                  description=f"Semantic search with model '{name}' (TensorFlow Serving REST API compatible).")
    app.state.store = store
    app.state.batcher = new_batcher()
    app.state.metrics = metrics
    metrics.queue_depth.set_function(lambda: app.state.batcher.queue_depth if app.state.batcher else 0)

    async def run_search(loaded, signature_name, texts, k, diversity):
        """`(version, outputs)`: through the batcher, or (no batching, an older export) one call in a thread."""
        batcher = app.state.batcher
        if batcher is not None and not batcher.closed and loaded.has_signature("search_batchable"):
            try:
                return await batcher.search(texts, k, diversity)
            except ValueError as e:  # `k` over a newer version's `max_k`
                raise BadRequest(str(e)) from None

        def call():
            metrics.batch_size.observe(len(texts))
            out = loaded.signature(signature_name)(queries=tf.constant(texts), k=tf.constant(k, tf.int32),
                                                   diversity=tf.constant(diversity, tf.float32))
            return loaded, {key: value.numpy() for key, value in out.items()}

        return await asyncio.to_thread(call)

    @app.exception_handler(BadRequest)
    async def bad_request(request, error):
        return JSONResponse({"error": str(error)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, error):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        return JSONResponse({"error": problems}, status_code=400)

    @app.middleware("http")
    async def limit_size(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_REQUEST_BYTES):
            return JSONResponse({"error": f"request body over {MAX_REQUEST_BYTES} bytes"}, status_code=400)
        return await call_next(request)

    @app.middleware("http")  # added last: the outermost, so it sees every answer (the 400s above included)
    async def measure(request: Request, call_next):
        if request.url.path == METRICS_PATH:
            return await call_next(request)
        start, code = time.perf_counter(), 500
        try:
            response = await call_next(request)
            code = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            labels = {"method": request.method, "route": getattr(route, "path", "unmatched")}
            metrics.latency.labels(**labels).observe(time.perf_counter() - start)
            metrics.requests.labels(code=str(code), **labels).inc()

    @app.get(METRICS_PATH, include_in_schema=False)
    async def prometheus_metrics():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def check_name(requested):
        if requested != name:
            raise BadRequest(f"unknown model {requested!r}; this server serves {name!r}")

    @app.get("/v1/models/{model}", summary="Model version status (TensorFlow Serving's shape)")
    async def status(model: str):
        check_name(model)
        return {"model_version_status": [{"version": str(store.current.version), "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}

    predict_body = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object",
        "properties": {
            "signature_name": {"type": "string", "enum": list(SIGNATURES)},
            "instances": {"type": "array", "description": "row format: strings, or objects with queries, k, diversity"},
            "inputs": {"description": "columnar format: {queries: [...], k: 10, diversity: 0.3}"},
        }}}}}}

    @app.post("/v1/models/{spec}", summary="Predict (TensorFlow Serving's REST API): POST /v1/models/NAME:predict",
              openapi_extra=predict_body)
    async def predict(spec: str, request: Request):
        model, _, verb = spec.partition(":")
        if verb != "predict":
            raise BadRequest(f"unknown method {verb!r}; use /v1/models/{name}:predict")
        check_name(model)
        body = await _json_body(request)
        loaded = store.current
        call = _parse_predict(loaded, body)
        if call.signature_name in SEARCH_SIGNATURES:
            _, out = await run_search(loaded, call.signature_name, call.texts, call.k, call.diversity)
        else:
            out = await asyncio.to_thread(
                lambda: {key: value.numpy() for key, value in loaded.signature(call.signature_name)(
                    **{call.text_input: tf.constant(call.texts)}).items()})
        out = {key: _to_json(value) for key, value in out.items()}
        if call.row_format:
            return {"predictions": [{key: out[key][i] for key in out} for i in range(len(call.texts))]}
        return {"outputs": out}

    @app.get("/search", summary="Search with a text query")
    async def search(q: str = Query(..., description="the query text"),
               k: int = Query(None, description=f"results wanted (default: {DEFAULT_K}, or the export's max_k if "
                                                "lower)"),
               diversity: float = Query(None, description="0 = pure relevance (default), 1 = most diverse")):
        loaded = store.current
        defaults = loaded.request_defaults("search")
        query = _check_query(q)
        k = _check_k(defaults["k"] if k is None else k, loaded.max_k)
        diversity = _check_diversity(defaults["diversity"] if diversity is None else diversity)
        loaded, out = await run_search(loaded, "search", [query], k, diversity)
        ids = [i.decode("utf-8") for i in out["ids"][0]]
        results = [{"id": doc_id, "title": loaded.titles.get(doc_id, ""), "score": float(score), "position": int(p)}
                   for doc_id, score, p in zip(ids, out["scores"][0], out["positions"][0]) if doc_id]
        return {"query": query, "k": k, "diversity": diversity, "model_version": loaded.version, "results": results}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return _PAGE.read_text(encoding="utf-8").replace("{{MODEL}}", name)

    return app


async def _json_body(request):
    import json

    raw = await request.body()
    if len(raw) > MAX_REQUEST_BYTES:
        raise BadRequest(f"request body over {MAX_REQUEST_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object with `instances` or `inputs`, got {_shown(body)}")
    return body


def _check_query(text):
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(f"a query must be a non-empty string, got {_shown(text)}")
    if len(text) > MAX_QUERY_CHARACTERS:
        raise BadRequest(f"a query is limited to {MAX_QUERY_CHARACTERS} characters, got {len(text)}")
    return text


def _check_k(k, limit):
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limit:
        raise BadRequest(f"`k` must be an integer from 1 to {limit}, got {_shown(k)}")
    return k


def _check_diversity(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0.0 <= value <= 1.0:
        raise BadRequest(f"`diversity` must be a number in [0, 1], got {_shown(value)}")
    return float(value)


class _Metrics:
    """The app's Prometheus metrics, in a registry of its own (several apps in one process do not clash)."""

    def __init__(self, store):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("tfsearch_requests", "HTTP requests answered, by route and status code",
                                ["method", "route", "code"], registry=self.registry)
        self.latency = Histogram("tfsearch_request_duration_seconds", "HTTP request latency, by route",
                                 ["method", "route"], registry=self.registry)
        self.batch_size = Histogram("tfsearch_batch_size", "queries per search signature call",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=self.registry)
        self.queue_depth = Gauge("tfsearch_batch_queue_depth", "requests waiting for a batch",
                                 registry=self.registry)
        self.model_version = Gauge("tfsearch_model_version", "the model version served", registry=self.registry)
        self.model_version.set_function(lambda: store.current.version)


class _PredictCall:
    """A checked predict request: which signature, on what."""

    def __init__(self, signature_name, text_input, texts, k, diversity, row_format):
        self.signature_name, self.text_input, self.texts = signature_name, text_input, texts
        self.k, self.diversity, self.row_format = k, diversity, row_format


def _parse_predict(loaded, body):
    """TensorFlow Serving's predict semantics for the `search`, `encode_query` and `encode_document` signatures."""
    signature_name = body.get("signature_name", "serving_default")
    if signature_name not in SIGNATURES:
        raise BadRequest(f"`signature_name` must be one of {', '.join(SIGNATURES)}, got {_shown(signature_name)}")
    text_input = "documents" if signature_name == "encode_document" else "queries"
    defaults = loaded.request_defaults(signature_name)
    if ("instances" in body) == ("inputs" in body):
        raise BadRequest("give exactly one of `instances` (row format) or `inputs` (columnar format), got "
                         + ("both" if "instances" in body else "neither"))
    row_format = "instances" in body
    if row_format:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise BadRequest(f"`instances` must be a non-empty list, got {_shown(instances)}")
        texts, k_values, diversities = [], set(), set()
        for instance in instances:
            if isinstance(instance, str):
                texts.append(instance)
            elif isinstance(instance, dict) and text_input in instance:
                texts.append(instance[text_input])
                k_values.add(instance.get("k", defaults["k"]))
                diversities.add(instance.get("diversity", defaults["diversity"]))
            else:
                raise BadRequest(f"each instance must be a string or an object with `{text_input}`, got "
                                 f"{_shown(instance)}")
        if len(k_values) > 1 or len(diversities) > 1:
            raise BadRequest("`k` and `diversity` must be the same for every instance of a request, got "
                             f"{len(k_values)} values of `k` and {len(diversities)} of `diversity`")
        k = k_values.pop() if k_values else defaults["k"]
        diversity = diversities.pop() if diversities else defaults["diversity"]
    else:
        inputs = body["inputs"]
        if isinstance(inputs, (str, list)):
            inputs = {text_input: inputs}
        if not isinstance(inputs, dict) or text_input not in inputs:
            raise BadRequest(f"`inputs` must be an object with `{text_input}`, got {_shown(inputs)}")
        texts = inputs[text_input]
        texts = [texts] if isinstance(texts, str) else texts
        k = inputs.get("k", defaults["k"])
        diversity = inputs.get("diversity", defaults["diversity"])
    if not isinstance(texts, list) or not texts or len(texts) > MAX_BATCH:
        raise BadRequest(f"`{text_input}` must be a list of 1 to {MAX_BATCH} strings, got "
                         + (f"a list of {len(texts)}" if isinstance(texts, list) else _shown(texts)))
    texts = [_check_query(t) for t in texts]
    if signature_name in SEARCH_SIGNATURES:
        k = _check_k(k, loaded.max_k)
        diversity = _check_diversity(diversity)
    return _PredictCall(signature_name, text_input, texts, k, diversity, row_format)


def _shown(value, limit=60):
    """`value` as a message shows what was given: its repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _to_json(array):
    if array.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array).tolist()
    array = np.where(np.isfinite(array), array, None) if array.dtype.kind == "f" else array
    return array.tolist()
