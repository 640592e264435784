"""`tfsearch serve`: TensorFlow Serving's REST API, a /search endpoint and a search page, on FastAPI."""

import math
import pathlib

import numpy as np
import tensorflow as tf

from tfsearch.export.search_module import DEFAULT_K

MAX_QUERY_CHARACTERS = 1000
MAX_BATCH = 64
MAX_REQUEST_BYTES = 1 << 20
SIGNATURES = ("serving_default", "search", "encode_query", "encode_document")
_PAGE = pathlib.Path(__file__).with_name("search_page.html")


class BadRequest(Exception):
    """Answered with HTTP 400 and `{"error": message}`."""


def create_app(base_path, model_name=None, poll_seconds=1.0, store=None):
    """The FastAPI application serving the newest version under `base_path`.

    Endpoints:
    - `GET /v1/models/{name}`: version status, TensorFlow Serving's shape;
    - `POST /v1/models/{name}:predict` (also `/v1/models/{name}/versions/{v}:predict`
      for the current version): `{"signature_name": ..., "instances": [...]}` (row
      format) or `{"inputs": {...}}` (columnar), answered as TensorFlow Serving
      answers (`predictions` / `outputs`);
    - `GET /search?q=...&k=10&diversity=0.3`: ids, titles and scores as JSON;
    - `GET /`: a search page with a relevance/diversity slider;
    - `GET /openapi.json`: the OpenAPI schema.
    Bad input (not JSON, wrong types, empty or over-long queries, `k` out of
    range, `diversity` outside [0, 1], a body over 1 MiB) is answered with 400
    and a message.
    """
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse

    from tfsearch.serving.model_store import ModelStore

    store = store or ModelStore(base_path, poll_seconds=poll_seconds)
    name = model_name or pathlib.Path(base_path).name
    app = FastAPI(title="tfsearch", version="0.1.0",
                  description=f"Semantic search with model '{name}' (TensorFlow Serving REST API compatible).")
    app.state.store = store

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

    def check_name(requested):
        if requested != name:
            raise BadRequest(f"unknown model {requested!r}; this server serves {name!r}")

    @app.get("/v1/models/{model}", summary="Model version status (TensorFlow Serving's shape)")
    def status(model: str):
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
        return _predict(loaded, body)

    @app.get("/search", summary="Search with a text query")
    def search(q: str = Query(..., description="the query text"),
               k: int = Query(None, description=f"results wanted (default: {DEFAULT_K}, or the export's max_k if "
                                                "lower)"),
               diversity: float = Query(None, description="0 = pure relevance (default), 1 = most diverse")):
        loaded = store.current
        defaults = loaded.request_defaults("search")
        query = _check_query(q)
        k = _check_k(defaults["k"] if k is None else k, loaded.max_k)
        diversity = _check_diversity(defaults["diversity"] if diversity is None else diversity)
        out = loaded.signature("search")(queries=tf.constant([query]), k=tf.constant(k, tf.int32),
                                         diversity=tf.constant(diversity, tf.float32))
        ids = [i.decode("utf-8") for i in out["ids"].numpy()[0]]
        results = [{"id": doc_id, "title": loaded.titles.get(doc_id, ""), "score": float(score), "position": int(p)}
                   for doc_id, score, p in zip(ids, out["scores"].numpy()[0], out["positions"].numpy()[0]) if doc_id]
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


def _predict(loaded, body):
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
    if signature_name in ("encode_query", "encode_document"):
        out = loaded.signature(signature_name)(**{text_input: tf.constant(texts)})
    else:
        k = _check_k(k, loaded.max_k)
        diversity = _check_diversity(diversity)
        out = loaded.signature(signature_name)(queries=tf.constant(texts), k=tf.constant(k, tf.int32),
                                               diversity=tf.constant(diversity, tf.float32))
    out = {key: _to_json(value.numpy()) for key, value in out.items()}
    if row_format:
        return {"predictions": [{key: out[key][i] for key in out} for i in range(len(texts))]}
    return {"outputs": out}


def _shown(value, limit=60):
    """`value` as a message shows what was given: its repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _to_json(array):
    if array.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array).tolist()
    array = np.where(np.isfinite(array), array, None) if array.dtype.kind == "f" else array
    return array.tolist()
