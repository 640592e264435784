"""`tfsearch serve`: TensorFlow Serving's REST API, a /search endpoint and a search page, on FastAPI."""

import contextlib
import logging
import pathlib
import re
import time
import urllib.parse

import numpy as np

from tfsearch.export.search_module import DEFAULT_K
from tfsearch.serving.request_batcher import DEFAULT_WAIT_WHEN_IDLE
from tfsearch.serving.search_service import (  # noqa: F401  (BadRequest, MAX_*: this module's API since it began)
    BATCHABLE_SIGNATURE,
    DEFAULT_BATCH_TIMEOUT_MICROS,
    DEFAULT_MAX_BATCH_SIZE,
    MAX_BATCH,
    MAX_QUERY_CHARACTERS,
    SEARCH_SIGNATURES,
    SIGNATURES as ALL_SIGNATURES,
    TEXT_INPUTS,
    BadRequest,
    NotFound,
    PredictCall,
    Unavailable,
    check_diversity,
    check_k,
    check_query,
    shown,
)

MAX_REQUEST_BYTES = 1 << 20
# The deepest nesting of JSON arrays and objects a request body may have (a
# predict body needs 3); deeper ones are refused before they are parsed.
MAX_JSON_DEPTH = 32
SIGNATURES = tuple(s for s in ALL_SIGNATURES if s != BATCHABLE_SIGNATURE)  # those REST predicts may name
METRICS_PATH = "/monitoring/prometheus/metrics"  # TensorFlow Serving's
_PAGE = pathlib.Path(__file__).with_name("search_page.html")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
_ERRORS = {"4XX": {"description": "Refused: `error` says why (bad input 400, unknown model, version or path 404, "
                                  "wrong method 405)",
                   "content": {"application/json": {"schema": _ERROR_SCHEMA}}}}

logger = logging.getLogger("tfsearch.serving")


def create_app(base_path, model_name=None, poll_seconds=1.0, store=None, max_batch_size=DEFAULT_MAX_BATCH_SIZE,
               batch_timeout_micros=DEFAULT_BATCH_TIMEOUT_MICROS, cache_size=0, service=None,
               allowed_hosts=None, wait_when_idle=DEFAULT_WAIT_WHEN_IDLE):
    """The FastAPI application serving the newest version under `base_path`.

    Endpoints:
    - `GET /v1/models/{name}` (and `/v1/models/{name}/versions/{v}` for the
      version served): version status, TensorFlow Serving's shape;
    - `GET /v1/models/{name}/metadata` (and `.../versions/{v}/metadata`):
      the version's SignatureDefs, as TensorFlow Serving answers them;
    - `POST /v1/models/{name}:predict` (also `/v1/models/{name}/versions/{v}:predict`
      for the version served): `{"signature_name": ..., "instances": [...]}` (row
      format) or `{"inputs": {...}}` (columnar), answered as TensorFlow Serving
      answers (`predictions` / `outputs`; a signature with one output, like
      `encode_query`, gets its values without the output's name);
    - `GET /search?q=...&k=10&diversity=0.3`: ids, titles and scores as JSON;
    - `GET /`: a search page with a relevance/diversity slider;
    - `GET /openapi.json`: the OpenAPI schema;
    - `GET /monitoring/prometheus/metrics`: Prometheus metrics (TensorFlow
      Serving's path; `ServingMetrics` lists them).

    Searches run through a `SearchService` (shared with the gRPC front end
    when one is given): concurrent searches of a version with
    `search_batchable` become one signature call of up to `max_batch_size`
    queries, after at most `batch_timeout_micros` of waiting while another
    batch runs (also while none does with `wait_when_idle`; defaults: the
    export's `DEFAULT_BATCHING_PARAMETERS`; 0 or 1 turns batching off), and
    with `cache_size` > 0 answers come from an LRU result cache where they
    can. Every TensorFlow call runs in a worker thread, never on the event
    loop.
    Every refusal is a JSON `{"error": message}`: bad input (not JSON, JSON
    nested deeper than `MAX_JSON_DEPTH`, wrong types, empty or over-long
    queries, lone surrogates or a query string that is not UTF-8, `k` out of
    range, `diversity` outside [0, 1], a body over 1 MiB, with or without
    `Content-Length`: a chunked body is read only up to the limit) gets 400;
    an unknown model, version or path 404; a wrong method 405. A client that
    disconnects while sending its body is logged in one line (logger
    `tfsearch.serving`).

    `allowed_hosts` guards against DNS rebinding (a web page whose domain
    resolves to 127.0.0.1 reading a server on the user's machine): when it is
    a list of host names or addresses, a request whose `Host` header names
    another host (compared without the port and IPv6 brackets, ignoring
    case) gets 400; `"*"` in the list allows any. None (the default, for
    library use and tests) checks nothing. `tfsearch serve` bound to a
    loopback address passes `["127.0.0.1", "localhost", "::1", <the bound
    host>]` plus its `--allowed-hosts` values.
    """
    from fastapi import FastAPI, Path, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect

    from tfsearch.serving.model_store import ModelStore
    from tfsearch.serving.search_service import SearchService, batched_signatures

    owns_service = service is None  # a service given is the caller's to close (the gRPC front end shares it)
    if owns_service:
        store = store or ModelStore(base_path, poll_seconds=poll_seconds,
                                    batched_signatures=batched_signatures(max_batch_size))
        service = SearchService(store, max_batch_size=max_batch_size, batch_timeout_micros=batch_timeout_micros,
                                wait_when_idle=wait_when_idle, cache_size=cache_size)
    store, metrics = service.store, service.metrics
    name = model_name or pathlib.Path(base_path).name
    allowed = None if allowed_hosts is None else {_host_of(host) for host in allowed_hosts}
    lifespans = []  # the servers running the app (a test may run two): the service stops with the last

    @contextlib.asynccontextmanager
    async def lifespan(app):
        service.open()
        app.state.batcher = service.batcher
        lifespans.append(1)
        try:
            yield
        finally:
            lifespans.pop()
            if not lifespans and owns_service:
                import asyncio

                await asyncio.to_thread(service.close)

    app = FastAPI(title="tfsearch", version="0.1.0", lifespan=lifespan,
                  description=f"Semantic search with model '{name}' (TensorFlow Serving REST API compatible).")
    app.state.store = store
    app.state.service = service
    app.state.batcher = service.batcher
    app.state.metrics = metrics

    @app.exception_handler(BadRequest)
    async def bad_request(request, error):
        return JSONResponse({"error": str(error)}, status_code=400)

    @app.exception_handler(Unavailable)
    async def unavailable(request, error):  # shutting down: the client may send it again elsewhere
        return JSONResponse({"error": str(error)}, status_code=503)

    @app.exception_handler(NotFound)
    async def not_found(request, error):
        return JSONResponse({"error": str(error)}, status_code=404)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, error):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        return JSONResponse({"error": problems}, status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request, error):
        if error.status_code == 404 and error.detail == "Not Found":  # Starlette's: no route has this path
            message = (f"no such path: {shown(request.url.path)}; this server answers /v1/models/{name} (TensorFlow "
                       f"Serving's REST API), /search and /; /openapi.json lists every route")
        elif error.status_code == 405 and error.detail == "Method Not Allowed":
            message = (f"{request.method} is not allowed on {shown(request.url.path)}; use "
                       f"{(error.headers or {}).get('Allow', 'another method')}")
        else:
            message = str(error.detail)
        return JSONResponse({"error": message}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(ClientDisconnect)
    async def disconnected(request, error):
        client = request.client
        logger.info("client %s disconnected while sending its %s %s body; nothing answered",
                    f"{client.host}:{client.port}" if client else "(unknown)", request.method, request.url.path)
        return Response(status_code=400)  # never sent: the connection is gone

    app.add_middleware(_Guard, metrics=metrics, allowed=allowed)

    @app.get(METRICS_PATH, include_in_schema=False)
    async def prometheus_metrics():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def model_parameter():
        return Path(..., description="the model's name", json_schema_extra={"enum": [name]})

    def version_parameter():
        return Path(..., description="a version number (the one served is answered)",
                    json_schema_extra={"pattern": "^[0-9]+$"})

    def check_name(requested):
        if requested != name:
            raise NotFound(f"unknown model {requested!r}; this server serves {name!r}")

    def served_version(model, version):
        """The `LoadedVersion` served, if it is `version` (a path segment) of `model`."""
        check_name(model)
        loaded = store.current
        if not version.isdigit():
            raise BadRequest(f"a version must be a number, got {shown(version)}")
        if int(version) != loaded.version:
            raise NotFound(f"version {int(version)} of {name!r} is not served; the version served is "
                           f"{loaded.version} (GET /v1/models/{name})")
        return loaded

    def version_status(loaded):
        return {"model_version_status": [{"version": str(loaded.version), "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}

    version_links = {
        f"version_{what}": {"operationId": operation, "parameters": {
            "model": "$request.path.model", "version": "$response.body#/model_version_status/0/version"}}
        for what, operation in (("status", "get_model_version_status"), ("metadata", "get_model_version_metadata"),
                                ("predict", "predict_version"))}

    @app.get("/v1/models/{model}", summary="Model version status (TensorFlow Serving's shape)",
             operation_id="get_model_status", responses={200: {"links": version_links}, **_ERRORS})
    async def status(model: str = model_parameter()):
        if model.partition(":")[2]:  # a GET of /v1/models/NAME:predict
            raise HTTPException(405, f"GET is not allowed on /v1/models/{model}; use POST",
                                headers={"Allow": "POST"})
        check_name(model)
        if not hasattr(store, "status"):  # a store that only has `current` (e.g. a test's)
            return version_status(store.current)
        return {"model_version_status": store.status()}  # the version served first, then one loading

    @app.get("/v1/models/{model}/versions/{version}", summary="The status of a version (the one served)",
             operation_id="get_model_version_status", responses=_ERRORS)
    async def status_of_version(model: str = model_parameter(), version: str = version_parameter()):
        if version.partition(":")[2]:
            raise HTTPException(405, f"GET is not allowed on /v1/models/{model}/versions/{version}; use POST",
                                headers={"Allow": "POST"})
        return version_status(served_version(model, version))

    metadata_cache = []  # [(LoadedVersion, the answer's metadata)]: that of the last version asked about

    def metadata(loaded):
        if not metadata_cache or metadata_cache[0][0] is not loaded:
            metadata_cache[:] = [(loaded, _signature_def_metadata(loaded))]
        return {"model_spec": {"name": name, "signature_name": "", "version": str(loaded.version)},
                "metadata": metadata_cache[0][1]}

    metadata_links = {"predict": {"operationId": "predict_version", "parameters": {
        "model": "$request.path.model", "version": "$response.body#/model_spec/version"}}}

    @app.get("/v1/models/{model}/metadata", summary="Model metadata: the SignatureDefs (TensorFlow Serving's shape)",
             operation_id="get_model_metadata", responses={200: {"links": metadata_links}, **_ERRORS})
    async def model_metadata(model: str = model_parameter()):
        check_name(model)
        return metadata(store.current)

    @app.get("/v1/models/{model}/versions/{version}/metadata", summary="Model metadata of a version (the one served)",
             operation_id="get_model_version_metadata", responses=_ERRORS)
    async def version_metadata(model: str = model_parameter(), version: str = version_parameter()):
        return metadata(served_version(model, version))

    text = {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARACTERS}
    texts = {"anyOf": [text, {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": text}]}
    k = {"type": "integer", "minimum": 1, "description": "results wanted, at most the export's max_k (searches)"}
    diversity = {"type": "number", "minimum": 0, "maximum": 1, "description": "0 = pure relevance (searches)"}
    predict_body = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object",
        "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}],  # exactly one of them
        "properties": {
            "signature_name": {"type": "string", "enum": list(SIGNATURES)},
            "instances": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                          "description": "row format: strings, or objects with queries (encode_document: "
                                         "documents), k, diversity",
                          "items": {"anyOf": [text, {"type": "object", "properties": {
                              "queries": text, "documents": text, "k": k, "diversity": diversity}}]}},
            "inputs": {"description": "columnar format: {queries: [...], k: 10, diversity: 0.3} (encode_document: "
                                      "documents), or the texts alone",
                       "anyOf": [texts, {"type": "object", "properties": {
                           "queries": texts, "documents": texts, "k": k, "diversity": diversity}}]},
        }}}}}}

    async def run_predict(request, loaded):
        body = await _json_body(request)
        call, row_format = _parse_predict(loaded, body)
        _, out = await service.predict(call)
        out = {key: _to_json(value) for key, value in out.items()}
        if len(out) == 1:  # TensorFlow Serving omits the name of a signature's only output
            (values,) = out.values()
            answer = {"predictions": values} if row_format else {"outputs": values}
        elif row_format:
            answer = {"predictions": [{key: out[key][i] for key in out} for i in range(len(call.texts))]}
        else:
            answer = {"outputs": out}
        return JSONResponse(answer)  # plain JSON values already: FastAPI's encoder pass is skipped

    @app.post("/v1/models/{model}:predict", summary="Predict (TensorFlow Serving's REST API)",
              operation_id="predict", openapi_extra=predict_body, responses=_ERRORS)
    async def predict(request: Request, model: str = model_parameter()):
        check_name(model)
        return await run_predict(request, store.current)

    @app.post("/v1/models/{model}/versions/{version}:predict", summary="Predict with a version (the one served)",
              operation_id="predict_version", openapi_extra=predict_body, responses=_ERRORS)
    async def predict_version(request: Request, model: str = model_parameter(), version: str = version_parameter()):
        return await run_predict(request, served_version(model, version))

    def unknown_method(request, spec, predict_path):
        verb = spec.partition(":")[2]
        if ":" not in spec:  # a POST of a status route
            raise HTTPException(405, f"POST is not allowed on {shown(request.url.path)}; GET it for the status, or "
                                     f"POST {predict_path}:predict to predict", headers={"Allow": "GET"})
        raise BadRequest(f"unknown method {shown(verb)}; use {predict_path}:predict")

    @app.post("/v1/models/{spec}", include_in_schema=False)
    async def other_method(request: Request, spec: str):
        unknown_method(request, spec, f"/v1/models/{name}")

    @app.post("/v1/models/{model}/versions/{spec}", include_in_schema=False)
    async def other_method_of_version(request: Request, model: str, spec: str):
        unknown_method(request, spec, f"/v1/models/{name}/versions/{store.current.version}")

    search_links = {"version_status": {"operationId": "get_model_version_status", "parameters": {
        "model": name, "version": "$response.body#/model_version"}}}

    @app.get("/search", summary="Search with a text query", operation_id="search",
             responses={200: {"links": search_links}, **_ERRORS})
    async def search(request: Request, q: str = Query(..., description="the query text"),
               k: int = Query(None, description=f"results wanted (default: {DEFAULT_K}, or the export's max_k if "
                                                "lower)"),
               diversity: float = Query(None, description="0 = pure relevance (default), 1 = most diverse")):
        _check_utf8_query_string(request.scope.get("query_string", b""))
        call = PredictCall.checked(store.current, "search", [q], k, diversity)
        loaded, out = await service.predict(call)
        ids = [i.decode("utf-8") for i in out["ids"][0]]
        results = [{"id": doc_id, "title": loaded.titles.get(doc_id, ""), "score": float(score), "position": int(p)}
                   for doc_id, score, p in zip(ids, out["scores"][0], out["positions"][0]) if doc_id]
        return JSONResponse({"query": q, "k": call.k, "diversity": call.diversity, "model_version": loaded.version,
                             "results": results})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return _PAGE.read_text(encoding="utf-8").replace("{{MODEL}}", name)

    return app


class _Guard:
    """The ASGI layer every HTTP request passes: the `Host` check, the `Content-Length` limit, the request metrics.

    One plain ASGI middleware rather than three `@app.middleware("http")`
    ones: those run each request through extra tasks and streams, a cost the
    event loop pays per request under load.

    Args:
        app: the ASGI application inside.
        metrics: the `ServingMetrics` that count each answer (not those of
            `METRICS_PATH` itself).
        allowed: set of host names a `Host` header may name (`"*"`: any), or
            None for no check.
    """

    def __init__(self, app, metrics, allowed):
        self.app, self.metrics, self.allowed = app, metrics, allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            refusal = self._refusal(dict(scope["headers"]))
            if refusal is None:
                await self.app(scope, receive, send_and_note)
            else:
                from fastapi.responses import JSONResponse

                await JSONResponse({"error": refusal}, status_code=400)(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            self.metrics.observe_request(scope["method"], getattr(route, "path", "unmatched"), status[0],
                                         time.perf_counter() - start)

    def _refusal(self, headers):
        """The message refusing a request with these headers (`{bytes: bytes}`), or None."""
        if self.allowed is not None and "*" not in self.allowed:
            host = _host_of(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.allowed:
                return (f"host {shown(host) if host else '(no Host header)'} not allowed (a guard against DNS "
                        f"rebinding); start with --allowed-hosts {host or 'HOST'} to serve requests naming it "
                        f"(allowed: {', '.join(sorted(self.allowed))})")
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_REQUEST_BYTES):
            return f"request body over {MAX_REQUEST_BYTES} bytes"
        return None


def _host_of(value):
    """The host a `Host` header (or an `allowed_hosts` entry) names: lower case, without port, brackets, final dot."""
    host = value.strip().lower()
    if host.startswith("["):  # [::1]:8501
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:  # localhost:8501 (a bare IPv6 address has more colons)
        host = host.partition(":")[0]
    return host.rstrip(".")


def _check_utf8_query_string(raw):
    """Refuses a query string whose percent-encoded bytes are not UTF-8 (Starlette would make them U+FFFD)."""
    try:
        urllib.parse.unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the query string is not valid UTF-8 (a lone surrogate such as %ED%A0%80, or bytes of "
                         "another encoding); percent-encode the query's UTF-8 bytes") from None


def _signature_def_metadata(loaded):
    """`{"signature_def": {"signature_def": {...}}}`: a version's SignatureDefs as TensorFlow Serving's REST
    metadata answers them (a `SignatureDefMap` in JSON, proto field names)."""
    from google.protobuf import json_format
    from tensorflow_serving.apis import get_model_metadata_pb2

    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for signature_name, signature_def in loaded.signature_defs.items():
        signature_map.signature_def[signature_name].CopyFrom(signature_def)
    return {"signature_def": json_format.MessageToDict(signature_map, preserving_proto_field_name=True)}


async def _read_body(request):
    """The request's body, read as it arrives and refused as soon as it passes `MAX_REQUEST_BYTES`."""
    chunks, size = [], 0
    async with contextlib.aclosing(request.stream()) as stream:
        async for chunk in stream:
            size += len(chunk)
            if size > MAX_REQUEST_BYTES:
                raise BadRequest(f"request body over {MAX_REQUEST_BYTES} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def _nested_too_deeply(raw, limit=MAX_JSON_DEPTH):
    """Whether the JSON text `raw` nests arrays and objects deeper than `limit` (strings' brackets not counted)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    codes = np.frombuffer(_JSON_STRING.sub(b'""', raw), np.uint8)
    steps = (np.isin(codes, (ord("["), ord("{"))).astype(np.int32)
             - np.isin(codes, (ord("]"), ord("}"))).astype(np.int32))
    return bool(np.cumsum(steps).max() > limit)


async def _json_body(request):
    import json

    raw = await _read_body(request)
    if _nested_too_deeply(raw):
        raise BadRequest(f"the body's JSON is nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays and "
                         "objects); a predict body needs 3")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object with `instances` or `inputs`, got {shown(body)}")
    return body


def _parse_predict(loaded, body):
    """`(PredictCall, row_format)`: TensorFlow Serving's REST predict semantics for the signatures REST serves."""
    signature_name = body.get("signature_name", "serving_default")
    if signature_name not in SIGNATURES:
        raise BadRequest(f"`signature_name` must be one of {', '.join(SIGNATURES)}, got {shown(signature_name)}")
    text_input = TEXT_INPUTS[signature_name]
    if ("instances" in body) == ("inputs" in body):
        raise BadRequest("give exactly one of `instances` (row format) or `inputs` (columnar format), got "
                         + ("both" if "instances" in body else "neither"))
    row_format = "instances" in body
    k = diversity = None
    if row_format:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise BadRequest(f"`instances` must be a non-empty list, got {shown(instances)}")
        texts, k_values, diversities = [], set(), set()
        for instance in instances:
            if isinstance(instance, str):
                texts.append(instance)
            elif isinstance(instance, dict) and text_input in instance:
                texts.append(instance[text_input])
                if "k" in instance:
                    k_values.add(check_k(instance["k"], loaded.max_k))
                if "diversity" in instance:
                    diversities.add(check_diversity(instance["diversity"]))
            else:
                raise BadRequest(f"each instance must be a string or an object with `{text_input}`, got "
                                 f"{shown(instance)}")
        if len(k_values) > 1 or len(diversities) > 1:
            raise BadRequest("`k` and `diversity` must be the same for every instance of a request, got "
                             f"{len(k_values)} values of `k` and {len(diversities)} of `diversity`")
        k = k_values.pop() if k_values else None
        diversity = diversities.pop() if diversities else None
    else:
        inputs = body["inputs"]
        if isinstance(inputs, (str, list)):
            inputs = {text_input: inputs}
        if not isinstance(inputs, dict) or text_input not in inputs:
            raise BadRequest(f"`inputs` must be an object with `{text_input}`, got {shown(inputs)}")
        texts = inputs[text_input]
        texts = [texts] if isinstance(texts, str) else texts
        k, diversity = inputs.get("k"), inputs.get("diversity")
    return PredictCall.checked(loaded, signature_name, texts, k, diversity), row_format


def _to_json(array):
    if array.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array).tolist()
    array = np.where(np.isfinite(array), array, None) if array.dtype.kind == "f" else array
    return array.tolist()
